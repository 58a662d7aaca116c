"""``isstreamer log`` and ``isstreamer stream``: events from the shell, through a real Streamer.

Both build a ``Streamer`` from the same sources as the library (option > ``ISS_*`` environment
variable > isstreamer.ini), so what works in a script works here, spool included. They exit 0
only when every event was delivered; anything else is said on stderr with a non-zero status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import IO, Any, Iterable, Optional, Tuple

from .cli import add_command
from .config import DEFAULT_API_BASE, ENV_ACCESS_KEY, ENV_API_BASE, ENV_BUCKET_KEY
from .errors import ConfigError, InvalidEventError
from .events import check_key, coerce_epoch, coerce_value

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_BAD_LINES = 3
MAX_REPORTED_LINES = 20

# A number as JSON writes it: no leading zeros (so "007" and ZIP codes stay text), no "nan".
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

VALUE_RULE = """\
How VALUE is read: a number written as JSON writes it becomes a number (42 -> integer,
-2.5 and 1e3 -> float); true and false (any case) become booleans; anything else is text,
as given. So 007, 0x1F, .5, nan and "21.5 C" stay text. --text keeps every value as text.
JSON lines are taken as typed: {"value": "42"} is text, {"value": 42} a number."""

EXIT_CODES = """\
Exit status: 0 every event was delivered; 1 some were not (they are kept in the spool and
sent by the next run or `isstreamer spool replay`); 2 bad options or configuration;
3 (stream) some input lines were invalid and skipped, the rest delivered."""

CONFIG_SOURCES = f"""\
Settings come from the options, else the environment (${ENV_ACCESS_KEY},
${ENV_BUCKET_KEY}, $ISS_BUCKET_NAME, ${ENV_API_BASE}), else isstreamer.ini
(~/isstreamer.ini or ./isstreamer.ini), exactly as for Streamer(...) in a script."""


def parse_value(text: str) -> Any:
    """Numbers become int/float, true/false booleans, the rest stays text (see VALUE_RULE)."""
    match = _NUMBER.fullmatch(text)
    if match:
        if match.group(1) is None and match.group(2) is None:
            return int(text)
        number = float(text)
        if math.isfinite(number):
            return number
        return text
    word = text.lower()
    if word == "true":
        return True
    if word == "false":
        return False
    return text


def parse_line(line: str, as_text: bool = False) -> Tuple[str, Any, Any]:
    """One input line -> (key, value, epoch or None); ValueError says what is wrong with it."""
    text = line.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise ValueError("a JSON line must be an object with \"key\" and \"value\"")
        unknown = sorted(set(data) - {"key", "value", "epoch"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                             "a JSON line has \"key\", \"value\" and optionally \"epoch\"")
        if "key" not in data or "value" not in data:
            raise ValueError("a JSON line needs both \"key\" and \"value\"")
        return data["key"], data["value"], data.get("epoch")
    cut = min((i for i in (text.find(","), text.find("=")) if i >= 0), default=-1)
    if cut < 0:
        raise ValueError("expected key,value or key=value or a JSON object")
    key, raw = text[:cut].strip(), text[cut + 1:].strip()
    if not key:
        raise ValueError("the key is empty")
    if not raw:
        raise ValueError(f"the value for key {key!r} is empty")
    return key, (raw if as_text else parse_value(raw)), None


def check_event(key: Any, value: Any, epoch: Any) -> Tuple[str, Any, Any]:
    """Validate as ``log()`` would, so a bad event is reported with its line number."""
    text = check_key(key)
    value = coerce_value(text, value)
    return text, value, (None if epoch is None else coerce_epoch(text, epoch))


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "log", handler=_log,
        help="send one event (KEY VALUE) and wait until it is delivered",
        description="Send one event to a bucket and wait until it is delivered.\n\n"
        "  isstreamer log --bucket-key garden temperature 21.5\n"
        "  isstreamer log --bucket-key garden door open --epoch 2024-05-01T12:00:00Z\n\n"
        f"{VALUE_RULE}\n\n{CONFIG_SOURCES}\n\n{EXIT_CODES}",
    )
    parser.add_argument("key", metavar="KEY", help="the stream's name, e.g. temperature")
    parser.add_argument("value", metavar="VALUE", help="the value (see 'How VALUE is read')")
    parser.add_argument("--epoch", metavar="E", default=None,
                        help="when it happened: seconds since 1970 (also ms/µs/ns) or ISO 8601 "
                        "(default: now)")
    _common(parser)

    parser = add_command(
        subparsers, "stream", handler=_stream,
        help="send events read line by line from stdin (or a file) until end of input",
        description="Send events read line by line from standard input (or FILE) until the\n"
        "end of the input, then wait until they are delivered. Events are sent while input\n"
        "is still coming (within about a second), so a long-running producer works:\n\n"
        "  some-sensor-loop | isstreamer stream --bucket-key garden\n"
        "  printf 'temperature,21.5\\nhumidity=40\\n' | isstreamer stream --bucket-key garden\n\n"
        "Each line is one of:\n"
        "  key,value          split at the first ',' or '=' (whichever comes first)\n"
        "  key=value\n"
        '  {"key": "temperature", "value": 21.5, "epoch": 1714564800}   (epoch optional)\n'
        "Empty lines and lines starting with # are skipped. Invalid lines are reported with\n"
        "their line numbers and skipped; the rest is still sent.\n\n"
        f"{VALUE_RULE}\n\n{CONFIG_SOURCES}\n\n{EXIT_CODES}",
    )
    parser.add_argument("file", metavar="FILE", nargs="?", default="-",
                        help="read this file instead of standard input")
    _common(parser)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket-key", metavar="K", default=None,
                        help=f"the bucket to append to (default: ${ENV_BUCKET_KEY}); required, so "
                        "that every run goes to the same bucket")
    parser.add_argument("--bucket-name", metavar="N", default=None,
                        help="the bucket's name, shown on the dashboard (default: "
                        "$ISS_BUCKET_NAME, or default_bucket in isstreamer.ini)")
    parser.add_argument("--access-key", metavar="KEY", default=None,
                        help=f"access key (default: ${ENV_ACCESS_KEY}, or isstreamer.ini); "
                        "prefer the variable or the ini: options show up in `ps`")
    parser.add_argument("--api-base", metavar="URL", default=None,
                        help=f"API base URL (default: ${ENV_API_BASE}, ini, {DEFAULT_API_BASE})")
    parser.add_argument("--ini", metavar="PATH", default=None,
                        help="the isstreamer.ini to read (default: $ISS_INI_FILE, "
                        "~/isstreamer.ini, ./isstreamer.ini)")
    parser.add_argument("--text", action="store_true",
                        help="send every value as text (no number/boolean conversion)")
    parser.add_argument("--timeout", metavar="S", type=_seconds, default=30.0,
                        help="seconds to wait for delivery at the end (default 30)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return value


def _make_streamer(args: argparse.Namespace) -> Any:
    from .streamer import Streamer

    bucket_key = args.bucket_key or os.environ.get(ENV_BUCKET_KEY, "")
    if not bucket_key:
        raise ConfigError(
            f"no bucket key: pass --bucket-key KEY or set ${ENV_BUCKET_KEY}, so that every run "
            "appends to the same bucket (without one, each run would create a new bucket)"
        )
    return Streamer(
        bucket_name=args.bucket_name or "",
        bucket_key=bucket_key,
        access_key=args.access_key or "",
        ini_file_location=args.ini,
        stream_api_base=args.api_base,
        retry_time=min(30.0, args.timeout),
        close_timeout=args.timeout,
    )


def _finish(streamer: Any, command: str, timeout: float, verbose: int) -> int:
    """Close within ``timeout``; 0 if everything arrived, else say where the rest is."""
    delivered = streamer.close(timeout=timeout)
    stats = streamer.stats()
    if delivered and stats["spooled"] == 0 and stats["failed"] == 0:
        if verbose:
            print(f"isstreamer {command}: {stats['sent']} events delivered to bucket "
                  f"{streamer.BucketKey!r}", file=sys.stderr)
        return EXIT_OK
    missing = stats["spooled"] + stats["failed"] + stats["dropped"] + stats["pending"]
    where = []
    if stats["spooled"]:
        where.append(f"{stats['spooled']} saved to the spool (see `isstreamer spool list`; the "
                     "next run or `isstreamer spool replay` sends them)")
    if stats["failed"] or stats["dropped"]:
        where.append(f"{stats['failed'] + stats['dropped']} lost")
    print(f"isstreamer {command}: error: {missing} of {missing + stats['sent']} events were not "
          f"delivered{': ' + '; '.join(where) if where else ''}", file=sys.stderr)
    return EXIT_UNDELIVERED


def _log(args: argparse.Namespace) -> int:
    value = args.value if args.text else parse_value(args.value)
    try:
        key, value, epoch = check_event(args.key, value, args.epoch)
    except InvalidEventError as exc:
        raise ConfigError(str(exc)) from None
    streamer = _make_streamer(args)
    streamer.log(key, value, epoch)
    return _finish(streamer, "log", args.timeout, args.verbose)


def _stream(args: argparse.Namespace) -> int:
    streamer = _make_streamer(args)
    bad = 0
    try:
        if args.file == "-":
            bad = _pump(sys.stdin, streamer, args.text)
        else:
            with open(args.file, encoding="utf-8") as handle:
                bad = _pump(handle, streamer, args.text)
    finally:
        status = _finish(streamer, "stream", args.timeout, args.verbose)
    if bad:
        print(f"isstreamer stream: {bad} invalid line{'s' if bad != 1 else ''} skipped",
              file=sys.stderr)
    if status != EXIT_OK:
        return status
    return EXIT_BAD_LINES if bad else EXIT_OK


def _pump(lines: Iterable[str], streamer: Any, as_text: bool,
          errors: Optional[IO[str]] = None) -> int:
    """Log each valid line as it arrives; report invalid ones; return how many were invalid."""
    out = errors or sys.stderr
    bad = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            key, value, epoch = check_event(*parse_line(stripped, as_text))
        except (ValueError, InvalidEventError) as exc:
            bad += 1
            if bad <= MAX_REPORTED_LINES:
                print(f"isstreamer stream: line {number}: {exc}", file=out)
            elif bad == MAX_REPORTED_LINES + 1:
                print("isstreamer stream: more invalid lines follow; only the count is shown",
                      file=out)
            continue
        streamer.log(key, value, epoch)
    return bad
