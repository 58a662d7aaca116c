"""``ISStreamer.version.__version__``: this package's version."""

from isstreamer._version import __version__

__all__ = ["__version__"]
