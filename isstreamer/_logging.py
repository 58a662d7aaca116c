"""The ``isstreamer`` logger, and how ``debug_level`` maps onto it.

The original printed to stdout when ``debug_level >= 1``. We log through the standard library
instead, so applications that configure logging get our records like any other library's; the
debug level only decides how much a user who configured nothing gets to see.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("isstreamer")

_LEVELS = {0: logging.WARNING, 1: logging.INFO}
_our_handler: logging.Handler | None = None
_level_we_set: int | None = None


def mask_secret(secret: str) -> str:
    """Show only the last four characters, so a key can be recognised but never leaked."""
    if not secret:
        return "<empty>"
    if len(secret) <= 4:
        return "*" * len(secret)
    return "*" * 4 + secret[-4:]


def apply_debug_level(debug_level: int) -> None:
    """Make ``debug_level`` visible without overriding logging the application configured."""
    global _our_handler, _level_we_set
    level = _LEVELS.get(debug_level, logging.DEBUG) if debug_level > 0 else logging.WARNING
    # Only touch a level nobody else chose: unset, or still the one we set last time.
    if logger.level in (logging.NOTSET, _level_we_set):
        logger.setLevel(level)
        _level_we_set = level
    if debug_level <= 0:
        return
    root_configured = bool(logging.getLogger().handlers)
    if _our_handler is None and not logger.handlers and not root_configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s isstreamer %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        _our_handler = handler
