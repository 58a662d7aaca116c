"""Subcommands of the receiver: ``serve``, ``demo`` and ``delete-bucket``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from .._version import __version__
from ..config import is_loopback_host
from .app import Options, Receiver

log = logging.getLogger("isstreamer.receiver")


def default_db_path() -> str:
    """A per-user data file, so a receiver's data outlives the directory it was started in."""
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        root = os.path.expanduser("~/Library/Application Support")
    else:
        root = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(root, "isstreamer", "receiver.db")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535 (0 picks a free one)")
    return value


def register(subparsers: Any) -> None:
    from ..cli import add_command

    serve = add_command(
        subparsers, "serve", handler=cmd_serve,
        help="run a local Initial State receiver with a live web page",
        description=(
            "Run a local receiver that speaks the Initial State events API and shows what it\n"
            "received on a web page. Point a Streamer at it with\n"
            "  Streamer(..., stream_api_base=\"http://127.0.0.1:8080\")\n"
            "or ISS_STREAM_API_BASE / [isstreamer.api_config] stream_api_base."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; the server has no TLS)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 = any)")
    serve.add_argument("--db", default=None,
                       help=f"SQLite file (default {default_db_path()})")
    serve.add_argument("--access-key", action="append", default=[], metavar="KEY",
                       help="accept only this access key (repeatable; default: any key)")
    serve.add_argument("--rate-limit", type=_positive_int, default=None, metavar="N",
                       help="answer 429 after N requests per access key in a 10 s window")
    serve.add_argument("--enforce-limits", action="store_true",
                       help="emulate the plan limits: 413 over 1 MB, 400 for keys over 250 or "
                            "values over 2000 characters")

    demo = add_command(
        subparsers, "demo", handler=cmd_demo,
        help="stream the classic example into a local receiver (no account needed)",
    )
    demo.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    demo.add_argument("--keep-serving", action="store_true",
                      help="keep the receiver and its page running until Ctrl-C")
    demo.add_argument("--interval", type=float, default=0.1, help=argparse.SUPPRESS)

    delete = add_command(
        subparsers, "delete-bucket", handler=cmd_delete_bucket,
        help="delete a bucket from a receiver's database (its key then answers BUCKET_REMOVED)",
    )
    delete.add_argument("bucket_key", metavar="BUCKET_KEY")
    delete.add_argument("--db", default=None, help=f"SQLite file (default {default_db_path()})")
    delete.add_argument("--access-key", default=None, metavar="KEY",
                        help="the bucket's access key, when several accounts use this key")


def cmd_serve(args: argparse.Namespace) -> int:
    if not args.quiet:
        logging.getLogger("isstreamer.receiver").setLevel(
            logging.DEBUG if args.verbose >= 2 else logging.INFO)
    db = args.db or default_db_path()
    options = Options(access_keys=frozenset(args.access_key), rate_limit=args.rate_limit,
                      enforce_limits=args.enforce_limits)
    receiver = Receiver(db, host=args.host, port=args.port, options=options)
    try:
        receiver.bind()
    except OSError as exc:
        print(f"isstreamer serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. the database file is not SQLite
        print(f"isstreamer serve: cannot open {db}: {exc}", file=sys.stderr)
        return 2
    keys = f"{len(options.access_keys)} accepted" if options.access_keys else "any"
    limits = []
    if options.rate_limit:
        limits.append(f"{options.rate_limit} requests per 10 s")
    if options.enforce_limits:
        limits.append("1 MB bodies, keys <= 250 and values <= 2000 characters")
    print(f"isstreamer receiver {__version__} listening on {receiver.base_url}\n"
          f"  stream_api_base  {receiver.base_url}\n"
          f"  web page         {receiver.url('/')}\n"
          f"  database         {db}\n"
          f"  access keys      {keys}\n"
          f"  limits           {', '.join(limits) or 'none'}\n"
          "Ctrl-C stops it.", flush=True)
    if not is_loopback_host(args.host):
        log.warning("listening on %s: anyone who can reach this address can send data, read it "
                    "and delete buckets, over plain HTTP", args.host)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    finally:
        receiver.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(port=args.port, keep_serving=args.keep_serving, interval=args.interval)


def cmd_delete_bucket(args: argparse.Namespace) -> int:
    from .store import Store

    db = args.db or default_db_path()
    if not os.path.exists(db):
        print(f"isstreamer delete-bucket: no database at {db}", file=sys.stderr)
        return 1
    store = Store(db)
    try:
        ids = store.bucket_ids_for_key(args.bucket_key, args.access_key)
        if not ids:
            print(f"isstreamer delete-bucket: no live bucket with key {args.bucket_key!r}",
                  file=sys.stderr)
            return 1
        if len(ids) > 1:
            print(f"isstreamer delete-bucket: {len(ids)} accounts have a bucket with key "
                  f"{args.bucket_key!r}; say which with --access-key", file=sys.stderr)
            return 1
        store.delete_bucket(ids[0])
    finally:
        store.close()
    print(f"deleted bucket {args.bucket_key!r}; its key now answers 400 BUCKET_REMOVED")
    return 0
