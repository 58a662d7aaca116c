"""The ``isstreamer`` command line (also ``python -m isstreamer``).

Each feature module contributes its own subcommands through a ``register(subparsers)`` function;
adding a module here is one line in ``COMMAND_MODULES``. A subcommand sets ``handler`` (a
function taking the parsed arguments and returning the exit status) with ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Any, Callable, List, Optional, Sequence

from ._version import __version__
from .errors import ISStreamerError

# One line per module that adds subcommands (each defines ``register(subparsers)``).
COMMAND_MODULES: Sequence[str] = (
    "isstreamer.receiver.commands",  # serve, demo, delete-bucket
    "isstreamer.spool_commands",  # spool list|show|replay|purge, import-missed
    "isstreamer.stream_commands",  # log, stream
)

Handler = Callable[[argparse.Namespace], int]


def add_command(subparsers: Any, name: str, *, help: str, handler: Handler,
                description: Optional[str] = None) -> argparse.ArgumentParser:
    """Add one subcommand with the options every subcommand shares (-v, -q)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (twice: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only errors")
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isstreamer",
        description="isstreamer: stream data to Initial State, or to a local receiver.",
    )
    parser.add_argument("--version", action="version", version=f"isstreamer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Send our loggers to stderr unless the embedding application configured logging."""
    logger = logging.getLogger("isstreamer")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s",
                                               "%H:%M:%S"))
        logger.addHandler(handler)
    if quiet:
        logger.setLevel(logging.ERROR)
    elif verbose >= 2:
        logger.setLevel(logging.DEBUG)
    elif verbose == 1:
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.WARNING)


def main(argv: Optional[List[str]] = None) -> int:
    """Run one subcommand; returns its exit status (2 for usage errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Optional[Handler] = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    _configure_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except ISStreamerError as exc:  # bad configuration or input: say what, not a traceback
        print(f"isstreamer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"isstreamer {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
