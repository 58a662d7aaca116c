"""offline=True: CSV rows appended to the configured file, no HTTP at all."""

from __future__ import annotations

import csv

from isstreamer import Streamer


def test_offline_appends_csv_rows_and_sends_nothing(api, tmp_path) -> None:
    target = tmp_path / "readings"
    for run in range(2):  # a second run appends instead of truncating
        s = Streamer("b", "k", "ist_key", offline=True, offline_file=str(target),
                     stream_api_base=api.base)
        s.log("temp", 21.5 + run, epoch=1_700_000_000 + run)
        s.log("note", "a,b \"quoted\"\nline")
        s.log("flag", True)
        s.close()
    assert api.requests == []
    rows = list(csv.reader(open(tmp_path / "readings.csv", newline="", encoding="utf-8")))
    assert len(rows) == 6
    assert rows[0] == ["1700000000.0", "temp", "21.5"]
    assert rows[1][1:] == ["note", "a,b \"quoted\"\nline"]
    assert rows[2][1:] == ["flag", "True"]
    assert rows[3] == ["1700000001.0", "temp", "22.5"]


def test_offline_default_file_name_is_not_doubled(tmp_path) -> None:
    s = Streamer(offline=True)
    s.log("x", 1)
    s.close()
    assert (tmp_path / "work" / "isstreamer_out.csv").exists()
    assert not (tmp_path / "work" / "isstreamer_out.csv.csv").exists()
