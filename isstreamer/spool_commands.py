"""``isstreamer spool list|show|replay|purge`` and ``isstreamer import-missed``.

The spool is plain JSON files, so these commands are a convenience, not a necessity: they find
the directory, say what is in it, send it (to a new bucket if the old one was deleted), and
bring in the ``err_missed_events.txt`` the original ISStreamer wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, List, Tuple

from .cli import add_command
from .config import (
    DEFAULT_API_BASE,
    ENV_ACCESS_KEY,
    ENV_API_BASE,
    check_bucket,
    normalize_api_base,
    read_ini,
)
from .destinations import Bucket, HttpDestination, Stats
from .errors import ConfigError
from .spool import Spool, SpooledBatch, default_spool_dir, key_fingerprint
from .transport import HttpTransport


def register(subparsers: Any) -> None:
    spool = add_command(subparsers, "spool", help="inspect, replay or purge the spool",
                        handler=_usage)
    spool.set_defaults(usage=spool)
    actions = spool.add_subparsers(dest="spool_command", metavar="ACTION")

    def common(parser: argparse.ArgumentParser, connect: bool = False) -> None:
        parser.add_argument("--spool-dir", default=None,
                            help="spool directory (default: $ISS_SPOOL_DIR or the per-user one)")
        parser.add_argument("--access-key", default=None,
                            help=f"access key (default: ${ENV_ACCESS_KEY} or isstreamer.ini)")
        parser.add_argument("--ini", default=None, help="ini file to read settings from")
        if connect:
            parser.add_argument("--api-base", default=None,
                                help=f"API base URL (default: ${ENV_API_BASE}, ini, "
                                f"{DEFAULT_API_BASE})")

    parser = add_command(actions, "list", help="list spooled batches, oldest first",
                         handler=_list)
    common(parser)
    parser = add_command(actions, "show", help="print one spooled batch", handler=_show)
    common(parser)
    parser.add_argument("file", help="a file name from `isstreamer spool list`")
    parser = add_command(
        actions, "replay", handler=_replay,
        help="send spooled batches now (Ctrl-C stops; nothing is lost)",
        description="Send spooled batches now, oldest first, with the current access key.\n"
        "By default only batches saved under this key are sent; --any-key sends all of them\n"
        "(e.g. after fixing a wrong key). --bucket-key sends them to a new bucket (e.g. after\n"
        "the old one was deleted).",
    )
    common(parser, connect=True)
    parser.add_argument("--any-key", action="store_true",
                        help="also send batches saved under another access key")
    parser.add_argument("--bucket-key", default=None, help="send everything to this bucket")
    parser.add_argument("--bucket-name", default="", help="name for --bucket-key's bucket")
    parser.add_argument("--retry-time", type=float, default=10.0,
                        help="seconds to keep retrying a request before stopping (default 10)")
    parser = add_command(actions, "purge", help="delete spooled batches", handler=_purge)
    common(parser)
    parser.add_argument("--yes", action="store_true", help="really delete (required)")
    parser.add_argument("--refused-only", action="store_true",
                        help="delete only batches the API refused for good")

    parser = add_command(
        subparsers, "import-missed", handler=_import_missed,
        help="import ISStreamer 2.0.0's err_missed_events.txt into the spool",
        description="Read the file the original ISStreamer appended failed batches to and save\n"
        "them in the spool for --bucket-key (the original did not record it), to be sent by\n"
        "`isstreamer spool replay` or the next Streamer with the same access key.",
    )
    common(parser)
    parser.add_argument("path", help="err_missed_events.txt")
    parser.add_argument("--bucket-key", required=True, help="bucket the events belong to")
    parser.add_argument("--bucket-name", default="", help="that bucket's name")


def _usage(args: argparse.Namespace) -> int:
    args.usage.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace, need_key: bool) -> Tuple[str, str]:
    """(access key, API base), by the library's precedence: argument > environment > ini."""
    ini = read_ini(args.ini)
    key = args.access_key or os.environ.get(ENV_ACCESS_KEY) or ini.access_key or ""
    if need_key and not key:
        raise ConfigError(f"no access key: pass --access-key, set ${ENV_ACCESS_KEY}, or put "
                          "access_key in isstreamer.ini")
    raw = getattr(args, "api_base", None) or os.environ.get(ENV_API_BASE) or ini.stream_api_base
    return key, normalize_api_base(raw or DEFAULT_API_BASE, "the API base setting")


def _spool(args: argparse.Namespace, key: str) -> Spool:
    return Spool(args.spool_dir or default_spool_dir(), key_fingerprint(key) if key else "-")


def _read_all(spool: Spool) -> List[SpooledBatch]:
    batches = []
    for name in spool.pending(any_key=True, include_refused=True):
        try:
            batches.append(spool.read(name))
        except (OSError, ValueError, KeyError) as exc:
            print(f"{name}: unreadable ({exc})", file=sys.stderr)
    return batches


def _list(args: argparse.Namespace) -> int:
    key, _ = _settings(args, need_key=False)
    spool = _spool(args, key)
    batches = _read_all(spool)
    print(f"spool: {spool.directory}")
    if not batches:
        print("empty")
        return 0
    print(f"{'file':<62} {'bucket key':<24} {'events':>6} {'age':>8} {'tries':>5}  status")
    for b in batches:
        age = _age(time.time() - b.first_failure)
        mine = "" if b.fingerprint == spool.fingerprint else " (other key)"
        status = f"refused: {b.refused}" if b.refused else b.reason
        print(f"{b.name:<62} {b.bucket_key[:24]:<24} {len(b.events):>6} {age:>8} "
              f"{b.attempts:>5}  {status}{mine}")
    total = sum(len(b.events) for b in batches)
    print(f"{len(batches)} batches, {total} events")
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _show(args: argparse.Namespace) -> int:
    key, _ = _settings(args, need_key=False)
    spool = _spool(args, key)
    name = os.path.basename(args.file)
    try:
        batch = spool.read(name)
    except FileNotFoundError:
        print(f"no spool file {name!r} in {spool.directory}", file=sys.stderr)
        return 1
    json.dump(batch.to_json(), sys.stdout, indent=2)
    print()
    return 0


def _replay(args: argparse.Namespace) -> int:
    key, base = _settings(args, need_key=True)
    spool = _spool(args, key)
    target = None
    if args.bucket_key:
        check_bucket(args.bucket_key, args.bucket_name)
        target = Bucket(args.bucket_key, args.bucket_name)
    stats = Stats()
    destination = HttpDestination(
        HttpTransport(base, key, 10.0), key, args.retry_time, 0.5, stats, _sleep, spool,
        buffer_size=10,
    )
    total = sum(len(b.events) for b in _read_all(spool)
                if args.any_key or b.fingerprint == spool.fingerprint)
    progress = sys.stderr.isatty()
    failures = 0
    try:
        while True:
            outcome = destination.replay_one(any_key=args.any_key, bucket=target)
            if progress:
                print(f"\rreplayed {stats.replayed}/{total} events", end="", file=sys.stderr)
            if outcome == "empty":
                break
            if outcome == "failed":
                failures += 1
                if destination.in_outage or failures >= 3:
                    break
    finally:
        destination.close()
        if progress:
            print(file=sys.stderr)
    remaining = [b for b in _read_all(spool) if args.any_key or b.fingerprint == spool.fingerprint]
    left = sum(len(b.events) for b in remaining)
    refused = sum(len(b.events) for b in remaining if b.refused)
    print(f"replayed {stats.replayed} events; {left} left in {spool.directory}")
    if refused:
        print(f"{refused} of them were refused for good (e.g. a deleted bucket): send them with "
              "--bucket-key NEW, or delete them with `isstreamer spool purge --refused-only`")
    return 0 if left == 0 else 1


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)  # the CLI's retries wait in the foreground; Ctrl-C interrupts
    return True


def _purge(args: argparse.Namespace) -> int:
    key, _ = _settings(args, need_key=False)
    spool = _spool(args, key)
    batches = [b for b in _read_all(spool) if b.refused or not args.refused_only]
    events = sum(len(b.events) for b in batches)
    if not args.yes:
        print(f"would delete {len(batches)} batches ({events} events) from {spool.directory}; "
              "add --yes to do it")
        return 1
    for batch in batches:
        os.unlink(os.path.join(spool.directory, batch.name))
    print(f"deleted {len(batches)} batches ({events} events)")
    return 0


def _import_missed(args: argparse.Namespace) -> int:
    key, _ = _settings(args, need_key=True)
    check_bucket(args.bucket_key, args.bucket_name)
    spool = _spool(args, key)
    batches = events = skipped = 0
    with open(args.path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                parsed = _parse_missed(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{args.path}:{number}: skipped ({exc})", file=sys.stderr)
                skipped += 1
                continue
            if parsed:
                spool.save(args.bucket_key, args.bucket_name, parsed,
                           f"imported from {os.path.basename(args.path)}", attempts=3)
                batches += 1
                events += len(parsed)
    print(f"imported {events} events in {batches} batches into {spool.directory}"
          + (f" ({skipped} lines skipped)" if skipped else "")
          + "; `isstreamer spool replay` sends them now")
    return 0 if not skipped else 1


def _parse_missed(data: Any) -> List[Tuple[str, Any, float]]:
    """A line is a batch of events (a list) or a failed bucket creation (a dict: nothing)."""
    if isinstance(data, dict):
        return []  # a bucket request; the bucket is created again on replay
    if not isinstance(data, list):
        raise ValueError("not a list of events")
    return [(str(e["key"]), e["value"], float(e["epoch"])) for e in data]
