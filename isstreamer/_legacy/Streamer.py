"""``from ISStreamer.Streamer import Streamer`` resolves here."""

from isstreamer.streamer import Streamer

__all__ = ["Streamer"]
