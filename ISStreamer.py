"""The ``ISStreamer`` import name, so scripts written for the original run unchanged.

This is a module, not a directory: ``ISStreamer/`` beside ``isstreamer/`` would be the same
path on macOS and Windows. Setting ``__path__`` makes it a package whose submodules
(``ISStreamer.Streamer``, ``ISStreamer.version``, ``ISStreamer.configutil``) live in
``isstreamer/_legacy/``.
"""

import os as _os

__path__ = [_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "isstreamer", "_legacy")]
if __spec__ is not None:
    __spec__.submodule_search_locations = __path__
