"""``isstreamer log`` and ``isstreamer stream`` against a local receiver."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from fake_api import free_port

from isstreamer.cli import main
from isstreamer.stream_commands import parse_line, parse_value


@pytest.fixture
def receiver_env(isstreamer_receiver, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """The receiver reached the way a user's shell would: environment variables only."""
    monkeypatch.setenv("ISS_STREAM_API_BASE", isstreamer_receiver.base_url)
    monkeypatch.setenv("ISS_ACCESS_KEY", isstreamer_receiver.access_key)
    monkeypatch.setenv("ISS_SPOOL_DIR", str(tmp_path / "spool"))
    return isstreamer_receiver


@pytest.mark.parametrize(
    "text, expected",
    [
        ("42", 42), ("-7", -7), ("0", 0), ("21.5", 21.5), ("-2.5e-3", -0.0025), ("1e3", 1000.0),
        ("true", True), ("False", False), ("TRUE", True),
        ("007", "007"), ("0x1F", "0x1F"), (".5", ".5"), ("nan", "nan"), ("inf", "inf"),
        ("1e999", "1e999"), ("21.5 C", "21.5 C"), ("yes", "yes"), ("", ""),
    ],
)
def test_value_rule(text: str, expected: object) -> None:
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_line_formats() -> None:
    assert parse_line("temp,21.5\n") == ("temp", 21.5, None)
    assert parse_line(" door = open ") == ("door", "open", None)
    assert parse_line("msg=a,b=c") == ("msg", "a,b=c", None)  # split at the first separator
    assert parse_line("msg,a=b") == ("msg", "a=b", None)
    assert parse_line("n=42", as_text=True) == ("n", "42", None)
    assert parse_line('{"key": "k", "value": "42", "epoch": 1700000000}') == (
        "k", "42", 1700000000)
    for bad, message in [
        ("no separator", "expected key,value"),
        ("=5", "key is empty"),
        ("k=", "value for key 'k' is empty"),
        ('{"key": "k"}', "needs both"),
        ('{"key": "k", "value": 1, "vaule": 2}', "unknown field"),
        ('{"key": "k", ', "not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_line(bad)


def test_log_sends_one_event_and_exits_0(receiver_env) -> None:
    status = main(["log", "--bucket-key", "cli", "--bucket-name", "CLI", "temperature", "21.5",
                   "--epoch", "2024-05-01T12:00:00Z"])
    assert status == 0
    (event,) = receiver_env.events("cli")
    assert (event.key, event.value, event.epoch) == ("temperature", 21.5, 1714564800.0)
    assert [b.name for b in receiver_env.buckets()] == ["CLI"]
    assert main(["log", "--bucket-key", "cli", "--text", "code", "007"]) == 0
    assert receiver_env.values("code", bucket_key="cli") == ["007"]


def test_arguments_beat_the_environment_which_beats_the_ini(
    isstreamer_receiver_factory, monkeypatch, tmp_path
) -> None:
    good = isstreamer_receiver_factory(access_keys=["ist_the_right_key"])
    monkeypatch.setenv("ISS_SPOOL_DIR", str(tmp_path / "spool"))
    ini = tmp_path / "home" / "isstreamer.ini"
    ini.write_text("[isstreamer.client_config]\naccess_key = ist_from_the_ini\n"
                   f"[isstreamer.api_config]\nstream_api_base = {good.base_url}\n")
    monkeypatch.setenv("ISS_ACCESS_KEY", "ist_the_right_key")  # beats the ini's key
    assert main(["log", "--bucket-key", "prec", "a", "1"]) == 0
    assert main(["log", "--bucket-key", "prec", "--access-key", "ist_the_right_key",
                 "--api-base", good.base_url, "b", "2"]) == 0
    assert [e.key for e in good.events("prec")] == ["a", "b"]


def test_log_without_a_bucket_key_or_with_a_bad_value_is_a_usage_error(receiver_env, capsys):
    assert main(["log", "temperature", "1"]) == 2
    assert "--bucket-key" in capsys.readouterr().err
    assert main(["log", "--bucket-key", "b", "k", "x" * 2001]) == 2
    assert "2000" in capsys.readouterr().err
    assert receiver_env.events() == []


def test_undelivered_events_exit_1_and_say_where_they_are(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ISS_STREAM_API_BASE", f"http://127.0.0.1:{free_port()}")  # nobody home
    monkeypatch.setenv("ISS_ACCESS_KEY", "ist_some_key_1234")
    monkeypatch.setenv("ISS_SPOOL_DIR", str(tmp_path / "spool"))
    status = main(["log", "--bucket-key", "down", "--timeout", "1", "k", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert "1 of 1 events were not delivered" in err and "spool" in err
    assert os.listdir(tmp_path / "spool")  # kept for the next run


def test_stream_reads_every_format_and_reports_bad_lines(receiver_env, monkeypatch, capsys):
    text = (
        "# a comment, then an empty line\n"
        "\n"
        "temp,21.5\n"
        "door=open\n"
        '{"key": "count", "value": 3, "epoch": 1700000000}\n'
        "what is this\n"
        "flag,TRUE\n"
        '{"key": "bad", "value": null}\n'
        "last=done\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    status = main(["stream", "--bucket-key", "st"])
    err = capsys.readouterr().err
    assert status == 3
    assert "line 6: expected key,value" in err
    assert "line 8:" in err and "None" in err
    assert "2 invalid lines skipped" in err
    events = receiver_env.events("st")
    got = sorted((e.key, e.value) for e in events)
    assert got == [("count", 3), ("door", "open"), ("flag", True), ("last", "done"),
                   ("temp", 21.5)]
    assert [e.epoch for e in events if e.key == "count"] == [1700000000.0]


def test_stream_from_a_real_pipe_exits_0(receiver_env, tmp_path) -> None:
    lines = "".join(f"n,{i}\n" for i in range(120))
    result = subprocess.run(
        [sys.executable, "-m", "isstreamer", "stream", "--bucket-key", "pipe", "-v"],
        input=lines, capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "120 events delivered" in result.stderr
    assert receiver_env.values("n", bucket_key="pipe") == list(range(120))


def test_stream_reads_a_file_argument(receiver_env, tmp_path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("a=1\nb=2\n")
    assert main(["stream", "--bucket-key", "file", str(data)]) == 0
    assert sorted(e.key for e in receiver_env.events("file")) == ["a", "b"]


def test_help_reads_well(capsys) -> None:
    for command in ("log", "stream"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "How VALUE is read" in out and "Exit status" in out and "ISS_ACCESS_KEY" in out
        assert max(len(line) for line in out.splitlines()) <= 100
