#!/usr/bin/env python3
"""Offline mode: log to a CSV file with no network, then upload that file later.

    python offline_mode.py record readings.csv     # nothing is sent; rows are appended
    python offline_mode.py upload readings.csv     # stream the rows, with their original times

In a script of your own, offline mode is Streamer(offline=True, offline_file=...) or
offline_mode = true in isstreamer.ini; the rows are "epoch,key,value".
"""

import csv
import sys
import time
from typing import Union

from isstreamer import Streamer


def record(path: str) -> int:
    streamer = Streamer(bucket_name="Field Trip", bucket_key="field_trip", offline=True,
                        offline_file=path)
    for reading in range(5):
        streamer.log("depth_cm", 100 + reading * 2.5)
        streamer.log("status", "ok" if reading < 4 else "done")
        time.sleep(0.01)
    streamer.close()
    print(f"offline_mode.py: 10 events appended to {path}")
    return 0


def upload(path: str) -> int:
    streamer = Streamer(bucket_name="Field Trip", bucket_key="field_trip")
    with open(path, newline="", encoding="utf-8") as handle:
        for epoch, key, text in csv.reader(handle):
            value: Union[float, str]
            try:
                value = float(text)
            except ValueError:
                value = text  # text stays text
            streamer.log(key, value, float(epoch))
    delivered = streamer.close(timeout=30)
    print(f"offline_mode.py: upload {'complete' if delivered else 'incomplete (kept in spool)'}")
    return 0 if delivered else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "upload"):
        sys.exit(__doc__ or "usage: offline_mode.py record|upload FILE")
    sys.exit(record(sys.argv[2]) if sys.argv[1] == "record" else upload(sys.argv[2]))
