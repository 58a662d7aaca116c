"""A local Initial State receiver: develop and test against something real, with no account.

    from isstreamer.receiver import Receiver
    with Receiver("/tmp/rcv.db") as receiver:       # a free port on 127.0.0.1
        Streamer(..., stream_api_base=receiver.base_url)

``isstreamer serve`` runs it in the foreground; ``isstreamer demo`` streams the classic example
into it; the ``isstreamer_receiver`` pytest fixture gives each test its own.
"""

from .app import Options, Receiver
from .store import BucketRow, EventRow, Store, StreamRow

__all__ = ["Receiver", "Options", "Store", "BucketRow", "EventRow", "StreamRow"]
