"""isstreamer: a fast, durable, drop-in replacement for Initial State's ISStreamer.

    from isstreamer import Streamer          # or: from ISStreamer.Streamer import Streamer
    with Streamer(bucket_name="Garden", bucket_key="garden", access_key="ist_...") as s:
        s.log("temperature", 21.5)
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import ConfigError, InvalidEventError, ISStreamerError
from .streamer import Streamer

if TYPE_CHECKING:  # pragma: no cover
    from .dataframe import log_dataframe
    from .handler import StreamerHandler

# Loaded on first use, so `import isstreamer` stays as cheap as the Streamer alone.
_LAZY = {"StreamerHandler": ".handler", "log_dataframe": ".dataframe"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'isstreamer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Streamer",
    "StreamerHandler",
    "log_dataframe",
    "ConfigError",
    "InvalidEventError",
    "ISStreamerError",
    "__version__",
]
