#!/usr/bin/env python3
"""Stream a CSV file whose rows carry their own time, keeping those times.

    python csv_to_stream.py readings.csv --timestamp-column time --bucket-key garden

Every column except the timestamp becomes a stream. Timestamps may be seconds since 1970 (or
milliseconds) or ISO 8601 ("2024-05-01T12:00:00Z"; without a zone it is local time). Cell
values: numbers become numbers, true/false booleans, empty cells are skipped, the rest is text.
"""

import argparse
import csv
import datetime
import re
import sys
from typing import Union

from isstreamer import Streamer

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def parse_value(text: str) -> Union[int, float, bool, str]:
    if NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_time(text: str) -> float:
    """Seconds since 1970 from a number or an ISO 8601 time (naive = local time)."""
    try:
        return float(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("csv_file")
    parser.add_argument("--timestamp-column", default="timestamp")
    parser.add_argument("--bucket-key", default="csv_import")
    parser.add_argument("--bucket-name", default="CSV import")
    args = parser.parse_args()

    streamer = Streamer(bucket_name=args.bucket_name, bucket_key=args.bucket_key)
    rows = bad = 0
    with open(args.csv_file, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if args.timestamp_column not in (reader.fieldnames or []):
            sys.exit(f"csv_to_stream.py: no column {args.timestamp_column!r} in {args.csv_file}")
        for line, row in enumerate(reader, start=2):
            try:
                epoch = parse_time(row.pop(args.timestamp_column))
            except (TypeError, ValueError):
                print(f"line {line}: bad timestamp; row skipped", file=sys.stderr)
                bad += 1
                continue
            for key, text in row.items():
                if key and text not in (None, ""):
                    streamer.log(key, parse_value(text.strip()), epoch)
            rows += 1
    delivered = streamer.close(timeout=30)
    print(f"csv_to_stream.py: {rows} rows streamed, {bad} skipped, "
          f"{'all delivered' if delivered else 'NOT all delivered (kept in the spool)'}")
    return 0 if delivered and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
