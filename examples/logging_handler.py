#!/usr/bin/env python3
"""Send your program's log messages to Initial State with the standard logging module.

Each record becomes an event: the key is "<logger name>.<level>" (here "garden.pump.INFO"),
the value is the message, the time is when it was logged. Records of isstreamer itself and of
urllib3/requests are never streamed, so attaching the handler to the root logger is safe.
"""

import logging
import sys

from isstreamer import Streamer, StreamerHandler

streamer = Streamer(bucket_name="Garden Log", bucket_key="garden_log")

handler = StreamerHandler(streamer, key="{name}.{levelname}", level=logging.INFO)
logging.basicConfig(level=logging.DEBUG)  # the usual console output ...
logging.getLogger().addHandler(handler)  # ... and INFO and above to the stream too

log = logging.getLogger("garden.pump")
log.debug("not streamed: below the handler's level")
log.info("pump started")
log.warning("water level low: %d%%", 12)
try:
    flow = float("n/a")  # a sensor that answered garbage
except ValueError:
    log.exception("flow rate unavailable")  # the traceback is part of the value
log.info("pump stopped")

sys.exit(0 if streamer.close() else 1)
