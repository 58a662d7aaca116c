"""Configuration: argument > environment > ini > default, and the original's ini format."""

from __future__ import annotations

import os
import textwrap

import pytest

from ISStreamer import configutil
from isstreamer import ConfigError, Streamer
from isstreamer.config import offline_path


def write_ini(path, client: str = "", api: str = "") -> str:
    text = ""
    if client:
        text += "[isstreamer.client_config]\n" + textwrap.dedent(client)
    if api:
        text += "\n[isstreamer.api_config]\n" + textwrap.dedent(api)
    path.write_text(text)
    return str(path)


def test_ini_in_cwd_is_used(api, tmp_path) -> None:
    write_ini(
        tmp_path / "work" / "isstreamer.ini",
        client="access_key = ist_from_ini_1111\ndefault_bucket = Ini Bucket\n",
        api=f"stream_api_base = {api.base}\n",
    )
    s = Streamer(bucket_key="ini_key")
    try:
        assert s.AccessKey == "ist_from_ini_1111"
        assert s.BucketName == "Ini Bucket"
        assert s.StreamApiBase == api.base
        assert s.flush(timeout=10)
        assert api.buckets() == {"ini_key": "Ini Bucket"}
    finally:
        s.close()


def test_home_ini_wins_over_cwd_ini(tmp_path) -> None:
    write_ini(tmp_path / "home" / "isstreamer.ini", client="access_key = ist_home\n")
    write_ini(tmp_path / "work" / "isstreamer.ini", client="access_key = ist_cwd\n")
    assert configutil.getConfig()["access_key"] == "ist_home"


def test_api_section_is_read_without_client_section(tmp_path) -> None:
    # 2.0.0 ignored [isstreamer.api_config] unless [isstreamer.client_config] also existed.
    path = write_ini(tmp_path / "only_api.ini", api="stream_api_base = http://127.0.0.1:9\n")
    assert configutil.getConfig(path)["stream_api_base"] == "http://127.0.0.1:9"


def test_getconfig_keeps_the_original_shape(tmp_path) -> None:
    assert configutil.getConfig() == {
        "bucket": "",
        "access_key": "",
        "offline_mode": "false",
        "offline_file": "./isstreamer_out.csv",
        "stream_api_base": "https://groker.init.st",
    }


def test_missing_ini_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Streamer(access_key="k", ini_file_location=str(tmp_path / "nope.ini"))


def test_percent_in_a_value_does_not_crash(api, tmp_path) -> None:
    path = write_ini(tmp_path / "p.ini",
                     client="access_key = ist_50%off\ndefault_bucket = 100% pi\n")
    s = Streamer(ini_file_location=path, stream_api_base=api.base, bucket_key="pct")
    try:
        assert s.AccessKey == "ist_50%off" and s.BucketName == "100% pi"
    finally:
        s.close()


@pytest.mark.parametrize("word, expected", [
    ("false", False), ("False", False), ("0", False), ("no", False), ("off", False),
    ("true", True), ("True", True), ("1", True), ("yes", True),
])
def test_offline_mode_is_a_real_boolean(tmp_path, word, expected) -> None:
    path = write_ini(tmp_path / "o.ini", client=f"access_key = ist_k\noffline_mode = {word}\n"
                     f"offline_file = {tmp_path / 'out'}\n")
    s = Streamer(ini_file_location=path, bucket_key="o", stream_api_base="http://127.0.0.1:9")
    try:
        assert s.Offline is expected
    finally:
        s.close(timeout=0.5)


def test_bad_offline_mode_is_a_clear_error(tmp_path) -> None:
    path = write_ini(tmp_path / "o.ini", client="access_key = k\noffline_mode = maybe\n")
    with pytest.raises(ConfigError, match="offline_mode"):
        Streamer(ini_file_location=path)


@pytest.mark.parametrize("base", ["ftp://example.com", "groker.init.st", "https://"])
def test_api_base_must_be_http_or_https(tmp_path, base) -> None:
    path = write_ini(tmp_path / "b.ini", client="access_key = k\n",
                     api=f"stream_api_base = {base}\n")
    with pytest.raises(ConfigError, match="http:// or https://"):
        Streamer(ini_file_location=path)


def test_trailing_slash_and_path_prefix_work(api) -> None:
    s = Streamer("b", "slash", "ist_key_1234", stream_api_base=api.base + "/")
    try:
        assert s.StreamApiBase == api.base
        assert s.flush(timeout=10)
    finally:
        s.close()
    s = Streamer("b", "prefixed", "ist_key_1234", stream_api_base=api.base + "/proxy/",
                 retry_time=0)
    try:
        s.flush(timeout=10)
        assert api.requests[-1].path == "/proxy/api/buckets"
    finally:
        s.close(timeout=1)


def test_precedence_argument_over_environment_over_ini(api, tmp_path, monkeypatch) -> None:
    write_ini(
        tmp_path / "work" / "isstreamer.ini",
        client="access_key = ist_ini\ndefault_bucket = ini name\n",
        api="stream_api_base = http://127.0.0.1:1\n",
    )
    monkeypatch.setenv("ISS_ACCESS_KEY", "ist_env")
    monkeypatch.setenv("ISS_BUCKET_NAME", "env name")
    monkeypatch.setenv("ISS_BUCKET_KEY", "env_key")
    monkeypatch.setenv("ISS_STREAM_API_BASE", api.base)
    s = Streamer()
    try:
        assert (s.AccessKey, s.BucketName, s.BucketKey, s.StreamApiBase) == (
            "ist_env", "env name", "env_key", api.base)
    finally:
        s.close()
    s = Streamer("arg name", "arg_key", "ist_arg", stream_api_base=api.base)
    try:
        assert (s.AccessKey, s.BucketName, s.BucketKey) == ("ist_arg", "arg name", "arg_key")
    finally:
        s.close()
    monkeypatch.delenv("ISS_ACCESS_KEY")
    monkeypatch.delenv("ISS_STREAM_API_BASE")
    s = Streamer(bucket_key="x", retry_time=0, close_timeout=0.5)
    try:
        assert s.AccessKey == "ist_ini" and s.StreamApiBase == "http://127.0.0.1:1"
    finally:
        s.close()


def test_empty_access_key_online_names_the_three_places() -> None:
    with pytest.raises(ConfigError) as info:
        Streamer("b", "k")
    message = str(info.value)
    assert "access_key=" in message and "ISS_ACCESS_KEY" in message and "isstreamer.ini" in message


def test_empty_access_key_is_fine_offline(tmp_path) -> None:
    s = Streamer("b", "k", offline=True, offline_file=str(tmp_path / "x"))
    s.close()


@pytest.mark.parametrize("key", ["has:colon", 'has"quote', "has'apos", "x" * 251])
def test_bad_bucket_keys_are_refused_before_sending(key) -> None:
    with pytest.raises(ConfigError, match="bucket_key"):
        Streamer("b", key, "ist_k")


@pytest.mark.parametrize("kwargs, word", [
    ({"flush_interval": 0}, "flush_interval"),
    ({"close_timeout": -1}, "close_timeout"),
    ({"max_buffer": 5}, "max_buffer"),
    ({"overflow": "explode"}, "overflow"),
    ({"request_timeout": 0}, "request_timeout"),
    ({"debug_level": "loud"}, "debug_level"),
])
def test_bad_options_are_clear_errors(kwargs, word) -> None:
    with pytest.raises(ConfigError, match=word):
        Streamer("b", "k", "ist_k", **kwargs)


def test_offline_file_gets_csv_only_when_missing() -> None:
    assert offline_path("./isstreamer_out.csv") == "./isstreamer_out.csv"
    assert offline_path("data/readings") == "data/readings.csv"
    assert offline_path("x.CSV") == "x.CSV"


def test_ini_file_from_environment(api, tmp_path, monkeypatch) -> None:
    path = write_ini(tmp_path / "elsewhere.ini", client="access_key = ist_envini\n")
    monkeypatch.setenv("ISS_INI_FILE", path)
    s = Streamer("b", "k", stream_api_base=api.base)
    try:
        assert s.AccessKey == "ist_envini"
    finally:
        s.close()
    assert os.path.exists(path)
