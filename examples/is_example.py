#!/usr/bin/env python3
"""The classic Initial State example: 47 events into the bucket "Python Stream Example".

The access key is not in this file: isstreamer reads it from $ISS_ACCESS_KEY or from
~/isstreamer.ini ([isstreamer.client_config] access_key = ...), so the script can be shared.
Run it again and it appends to the same bucket (the bucket key is fixed).
"""

import sys
import time

from isstreamer import ConfigError, Streamer

try:
    streamer = Streamer(bucket_name="Python Stream Example", bucket_key="python_example")
except ConfigError as exc:
    sys.exit(f"is_example.py: {exc}")

streamer.log("My Messages", "Stream Starting")
for num in range(1, 20):
    time.sleep(0.1)
    streamer.log("My Numbers", num)
    streamer.log("My Booleans", num % 2 == 1)  # True for odd numbers
    if num % 3 == 0:
        streamer.log("My Events", "pop")
    if num == 10:
        streamer.log("My Messages", "Stream Half Done")
streamer.log("My Messages", "Stream Done")

# close() waits (up to 5 s) until everything has arrived; undelivered events stay in the spool.
delivered = streamer.close()
print("is_example.py: all 47 events delivered" if delivered else
      "is_example.py: not everything was delivered yet; it is kept and sent on the next run")
sys.exit(0 if delivered else 1)
