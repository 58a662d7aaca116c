"""The web page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Skips when the browser is not installed locally; under CI (``CI=true``) a missing browser fails
instead, because ``.ci/run`` installs it. ``ISSTREAMER_SAVE_SCREENSHOT=1`` refreshes
docs/receiver.png.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import pytest
from receiver_helpers import create_bucket, send_events

from isstreamer.receiver.demo import BUCKET_KEY, stream_example

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 "--disable-dev-shm-usage"]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _unavailable("Chromium or chromedriver is not installed "
                     "(apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Any, timeout: float = 15) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page swaps its content in place when data changes: an element found a moment ago
    # may be gone; look again until the deadline.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=ignored).until(condition)


def _card(driver: Any, stream: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'article.stream[data-stream="{stream}"]')


def test_page_shows_demo_bucket_streams_and_chart(browser: Any, isstreamer_receiver: Any,
                                                  tmp_path: Any) -> None:
    from selenium.webdriver.common.by import By

    assert stream_example(isstreamer_receiver.base_url, interval=0.02)
    browser.set_window_size(1280, 900)
    browser.get(isstreamer_receiver.url("/"))
    section = _wait(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, f'section.bucket[data-bucket-key="{BUCKET_KEY}"]'))
    assert section.find_element(By.CSS_SELECTOR, ".bucket-name").text == "Python Stream Example"
    streams = [e.get_attribute("data-stream")
               for e in section.find_elements(By.CSS_SELECTOR, "article.stream")]
    assert streams == ["My Booleans", "My Events", "My Messages", "My Numbers"]

    numbers = _card(browser, "My Numbers")
    assert numbers.find_element(By.CSS_SELECTOR, ".latest").text == "19"
    assert numbers.find_element(By.CSS_SELECTOR, ".count").text == "19 events"
    line = numbers.find_element(By.CSS_SELECTOR, "svg.chart polyline")
    assert len(line.get_attribute("points").split()) == 19
    assert line.size["width"] > 150  # drawn, not collapsed
    assert _card(browser, "My Messages").find_element(By.CSS_SELECTOR, ".latest").text \
        == "Stream Done"
    assert not _card(browser, "My Messages").find_elements(By.CSS_SELECTOR, "svg")

    # The stylesheet and the script both loaded: cards are styled, times are localised.
    assert numbers.value_of_css_property("border-top-left-radius") == "8px"
    _wait(browser, lambda d: "UTC" not in numbers.find_element(By.CSS_SELECTOR, "time").text)

    assert _card(browser, "My Messages").find_element(By.CSS_SELECTOR, ".history").text \
        .splitlines() == ["Stream Half Done", "Stream Starting"]

    shot = tmp_path / "receiver.png"
    browser.set_window_size(1200, 540)  # the README's picture: just the bucket
    assert browser.save_screenshot(str(shot))
    browser.set_window_size(1280, 900)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ISSTREAMER_SAVE_SCREENSHOT") == "1":
        shutil.copyfile(str(shot), os.path.join(REPO, "docs", "receiver.png"))


def test_page_updates_itself_when_data_arrives(browser: Any, isstreamer_receiver: Any) -> None:
    from selenium.webdriver.common.by import By

    base = isstreamer_receiver.base_url
    send_events(base, [{"key": "level", "value": 1}], bucket_key="tank")
    browser.get(isstreamer_receiver.url("/"))
    _wait(browser, lambda d: _card(d, "level"))
    browser.execute_script("window.__notReloaded = true;")
    send_events(base, [{"key": "level", "value": 42}, {"key": "valve", "value": "open"}],
                bucket_key="tank")
    _wait(browser, lambda d: _card(d, "level").find_element(By.CSS_SELECTOR, ".latest").text
          == "42")
    assert _card(browser, "valve").find_element(By.CSS_SELECTOR, ".latest").text == "open"
    assert browser.execute_script("return window.__notReloaded === true;")
    assert browser.find_element(By.ID, "live").text == "live"


def test_page_fits_a_phone_screen(browser: Any, isstreamer_receiver: Any) -> None:
    from selenium.webdriver.common.by import By

    assert stream_example(isstreamer_receiver.base_url, interval=0)
    send_events(isstreamer_receiver.base_url,
                [{"key": "a_very_long_stream_name_without_any_spaces_at_all_" * 3,
                  "value": "and_an_equally_long_value_" * 8}], bucket_key=BUCKET_KEY,
                access_key="ist_local_demo_key")
    browser.set_window_size(390, 844)
    try:
        browser.get(isstreamer_receiver.url("/"))
        _wait(browser, lambda d: _card(d, "My Numbers"))
        inner_width = browser.execute_script("return window.innerWidth;")
        assert browser.execute_script("return document.documentElement.scrollWidth;") \
            <= inner_width
        cards = browser.find_elements(By.CSS_SELECTOR, "article.stream")
        lefts = {card.location["x"] for card in cards}
        assert len(lefts) == 1  # one column on a phone
        assert all(card.size["width"] > inner_width * 0.8 for card in cards)
    finally:
        browser.set_window_size(1280, 900)


def test_page_never_runs_what_clients_send(browser: Any, isstreamer_receiver: Any) -> None:
    from selenium.webdriver.common.by import By

    evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    base = isstreamer_receiver.base_url
    create_bucket(base, "evil", evil)
    send_events(base, [{"key": evil, "value": evil}], bucket_key="evil")
    browser.get(isstreamer_receiver.url("/"))
    heading = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".bucket-name"))
    assert heading.text == evil
    send_events(base, [{"key": evil, "value": evil + "!"}], bucket_key="evil")
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "article.stream .latest").text
          == evil + "!")  # re-rendered by the refresh script, still inert
    assert browser.execute_script("return window.__pwned === undefined;")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")
