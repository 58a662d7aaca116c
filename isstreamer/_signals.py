"""SIGTERM (what systemd, Docker and ``kill`` send) becomes a normal exit, so the exit hook runs.

Python's default for SIGTERM is to die on the spot: no ``atexit``, so buffered events would be
lost. We install a handler only where nobody else has one (the disposition is still the
default), only from the main thread, and it raises ``SystemExit(143)`` — the conventional
128 + 15 — which unwinds the program normally; the exit hook then delivers or spools.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Optional

_installed = False


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(128 + signum)


def install_sigterm_handler() -> bool:
    """Install once, if SIGTERM still has its default disposition; True if installed."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return _installed
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or signal.getsignal(sigterm) is not signal.SIG_DFL:
        return False
    signal.signal(sigterm, _on_sigterm)
    _installed = True
    return True
