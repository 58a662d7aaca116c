"""Startup: print the wall-clock instant the first log() returns (the runner spawned us).

Deliberately imports nothing but ``sys`` and ``time`` before the library, so the figure is the
interpreter plus the library, as in a user's script: ``startup.py INI BUCKET``.
"""

import sys
import time

from ISStreamer.Streamer import Streamer

s = Streamer(bucket_name="bench", bucket_key=sys.argv[2], ini_file_location=sys.argv[1])
s.log("started", 1)
t = time.time()
sys.stdout.write("RESULT {\"first_log_returned\": %r}\n" % t)
sys.stdout.flush()
s.close()
