"""debug_level decides what a user sees; the access key never appears in full."""

from __future__ import annotations

import logging
import textwrap

from conftest import run_python

SECRET = "ist_SuperSecretAccessKey_ABCD"

SCRIPT = textwrap.dedent(
    """
    from isstreamer import Streamer
    s = Streamer("Logs", "logs_bucket", SECRET, debug_level=LEVEL, stream_api_base=BASE,
                 retry_backoff=0.01, retry_time=0.2)
    s.log("temp", 21.5)
    s.log("bad", float("nan")) if LEVEL < 2 else None
    s.flush(timeout=10)
    print(repr(s))
    s.close()
    """
)


def run(api, tmp_path, level: int):
    code = SCRIPT.replace("SECRET", repr(SECRET)).replace("LEVEL", str(level))
    return run_python(code.replace("BASE", repr(api.base)), cwd=str(tmp_path))


def test_level_0_is_quiet_except_real_problems(api, tmp_path) -> None:
    result = run(api, tmp_path, 0)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'bad'" in lines[0] and "NaN" in lines[0]


def test_level_1_shows_info_with_a_masked_key(api, tmp_path) -> None:
    result = run(api, tmp_path, 1)
    assert result.returncode == 0, result.stderr
    assert "INFO" in result.stderr and "streaming to" in result.stderr
    assert "****ABCD" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "DEBUG" not in result.stderr


def test_level_2_shows_debug(api, tmp_path) -> None:
    result = run(api, tmp_path, 2)
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr and "sent 1 events" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_failures_never_print_the_key(api, tmp_path) -> None:
    api.always(401)
    result = run(api, tmp_path, 2)
    assert "refused access key ****ABCD" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_application_logging_config_is_respected(api, make_streamer, caplog) -> None:
    # An application that configured logging gets our records through its own handlers.
    with caplog.at_level(logging.INFO, logger="isstreamer"):
        s = make_streamer(access_key=SECRET)
        assert s.flush(timeout=10)
    assert any("streaming to" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text
    assert SECRET not in repr(s)


def test_plain_http_to_a_remote_host_is_warned_about(caplog) -> None:
    from isstreamer import Streamer

    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        s = Streamer("b", "k", "ist_k", stream_api_base="http://example.invalid",
                     retry_time=0, close_timeout=0.1)
        s.close(timeout=0.1)
    assert any("unencrypted" in r.getMessage() for r in caplog.records)
