"""`isstreamer spool ...` and `isstreamer import-missed` against a real spool and server."""

from __future__ import annotations

import json
import os
import stat

from fake_api import FakeAPI

from isstreamer.cli import main
from isstreamer.spool import Spool, key_fingerprint

KEY = "ist_cli_key_5555"


def seeded(spool_dir: str, files: int = 3, per_file: int = 10, key: str = KEY,
           bucket: str = "cli") -> Spool:
    spool = Spool(spool_dir, key_fingerprint(key))
    for f in range(files):
        spool.save(bucket, "CLI", [("n", f * per_file + i, 1_700_000_000.0 + i)
                                   for i in range(per_file)], "seeded")
    return spool


def cli(*args: str) -> int:
    return main(list(args))


def test_files_and_directory_are_private_and_hold_no_key(tmp_path) -> None:
    spool = seeded(str(tmp_path / "spool"), files=1)
    assert stat.S_IMODE(os.stat(spool.directory).st_mode) == 0o700
    name = spool.pending()[0]
    path = os.path.join(spool.directory, name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert KEY not in text and KEY[-8:] not in text
    data = json.loads(text)
    assert data["bucket_key"] == "cli" and data["key_fingerprint"] == key_fingerprint(KEY)
    assert len(data["events"]) == 10 and data["attempts"] == 1 and data["first_failure"] > 0


def test_list_and_show(tmp_path, capsys) -> None:
    spool = seeded(str(tmp_path / "spool"))
    assert cli("spool", "list", "--spool-dir", spool.directory, "--access-key", KEY) == 0
    out = capsys.readouterr().out
    assert "3 batches, 30 events" in out and "cli" in out
    name = spool.pending()[0]
    assert cli("spool", "show", name, "--spool-dir", spool.directory) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["value"] for e in shown["events"]] == list(range(10))


def test_replay_sends_everything_and_empties_the_spool(api: FakeAPI, tmp_path, capsys) -> None:
    spool = seeded(str(tmp_path / "spool"))
    code = cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", api.base)
    assert code == 0
    assert "replayed 30 events; 0 left" in capsys.readouterr().out
    assert [e["value"] for e in api.events("cli")] == list(range(30))
    assert spool.pending() == []


def test_replay_to_a_new_bucket_after_the_old_one_was_deleted(
    api: FakeAPI, tmp_path, capsys
) -> None:
    spool = seeded(str(tmp_path / "spool"), files=2)
    api.remove_bucket("cli")
    assert cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", api.base) == 1
    assert api.events() == [] and len(spool.pending(include_refused=True)) == 2
    assert spool.pending() == []  # marked refused: only an explicit replay sends them
    assert cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", api.base, "--bucket-key", "cli_v2", "--bucket-name", "CLI 2") == 0
    assert [e["value"] for e in api.events("cli_v2")] == list(range(20))
    assert api.buckets()["cli_v2"] == "CLI 2"


def test_replay_of_another_keys_files_needs_any_key(api: FakeAPI, tmp_path) -> None:
    spool = seeded(str(tmp_path / "spool"), key="ist_old_wrong_key")
    assert cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", api.base) == 0
    assert api.events() == [] and len(spool.pending(any_key=True)) == 3
    assert cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", api.base, "--any-key") == 0
    assert len(api.events("cli")) == 30
    assert all(r.headers["X-IS-AccessKey"] == KEY for r in api.requests)


def test_replay_against_a_down_server_keeps_everything(tmp_path) -> None:
    from fake_api import free_port

    spool = seeded(str(tmp_path / "spool"))
    assert cli("spool", "replay", "--spool-dir", spool.directory, "--access-key", KEY,
               "--api-base", f"http://127.0.0.1:{free_port()}", "--retry-time", "0.5") == 1
    assert sum(len(spool.read(n).events) for n in spool.pending()) == 30


def test_purge_needs_yes(tmp_path, capsys) -> None:
    spool = seeded(str(tmp_path / "spool"))
    assert cli("spool", "purge", "--spool-dir", spool.directory) == 1
    assert len(spool.pending()) == 3
    assert cli("spool", "purge", "--spool-dir", spool.directory, "--yes") == 0
    assert spool.pending() == []
    assert "deleted 3 batches (30 events)" in capsys.readouterr().out


def test_import_missed_events_from_the_original(api: FakeAPI, tmp_path, capsys) -> None:
    # ISStreamer 2.0.0 appended one JSON document per failed request: event arrays, and
    # bucket bodies for failed bucket creations.
    missed = tmp_path / "err_missed_events.txt"
    lines = [
        json.dumps({"bucketKey": "old", "bucketName": "Old"}),
        json.dumps([{"key": "t", "value": i, "epoch": 1_700_000_000 + i} for i in range(10)]),
        json.dumps([{"key": "t", "value": i, "epoch": 1_700_000_000 + i} for i in range(10, 17)]),
    ]
    missed.write_text("\n".join(lines) + "\n")
    spool_dir = str(tmp_path / "spool")
    assert cli("import-missed", str(missed), "--bucket-key", "old", "--bucket-name", "Old",
               "--spool-dir", spool_dir, "--access-key", KEY) == 0
    assert "imported 17 events in 2 batches" in capsys.readouterr().out
    assert cli("spool", "replay", "--spool-dir", spool_dir, "--access-key", KEY,
               "--api-base", api.base) == 0
    events = api.events("old")
    assert [e["value"] for e in events] == list(range(17))
    assert events[3]["epoch"] == 1_700_000_003


def test_import_missed_reports_bad_lines(tmp_path, capsys) -> None:
    missed = tmp_path / "err_missed_events.txt"
    missed.write_text('not json\n[{"key": "t", "value": 1, "epoch": 1700000000}]\n')
    assert cli("import-missed", str(missed), "--bucket-key", "k",
               "--spool-dir", str(tmp_path / "s"), "--access-key", KEY) == 1
    captured = capsys.readouterr()
    assert ":1: skipped" in captured.err and "imported 1 events" in captured.out
