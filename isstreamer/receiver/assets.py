"""The page's stylesheet and script, shipped as package data and served from memory.

Only the names listed here are served: a request path never reaches the file system, so
``/static/../..`` tricks have nothing to work with.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Dict, Optional, Tuple

_TYPES = {
    "receiver.css": "text/css; charset=utf-8",
    "receiver.js": "text/javascript; charset=utf-8",
}
_cache: Dict[str, bytes] = {}
_lock = threading.Lock()


def static_file(name: str) -> Optional[Tuple[bytes, str]]:
    """(content, content type) for a known static file, or None."""
    content_type = _TYPES.get(name)
    if content_type is None:
        return None
    with _lock:
        content = _cache.get(name)
        if content is None:
            content = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
            _cache[name] = content
    return content, content_type
