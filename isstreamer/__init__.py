"""isstreamer: a fast, durable, drop-in replacement for Initial State's ISStreamer.

    from isstreamer import Streamer          # or: from ISStreamer.Streamer import Streamer
    with Streamer(bucket_name="Garden", bucket_key="garden", access_key="ist_...") as s:
        s.log("temperature", 21.5)
"""

from ._version import __version__
from .errors import ConfigError, InvalidEventError, ISStreamerError
from .streamer import Streamer

__all__ = ["Streamer", "ConfigError", "InvalidEventError", "ISStreamerError", "__version__"]
