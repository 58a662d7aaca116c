#!/usr/bin/env python3
"""Stream a Raspberry Pi's (or any machine's) health every minute, with psutil.

    pip install psutil
    python pi_health.py                 # every 60 s until Ctrl-C
    python pi_health.py --once          # one round, then exit (status 0 if delivered)

Streams: cpu_percent, load_1min/5min/15min, memory_* (every field of virtual_memory()),
disk_* (usage of /), net_* (every field of net_io_counters()), cpu_temp where psutil can read
a temperature. The access key comes from $ISS_ACCESS_KEY or ~/isstreamer.ini.
"""

import argparse
import os
import sys
import time
from typing import Optional

import psutil

from isstreamer import Streamer


def cpu_temperature() -> Optional[float]:
    """The first temperature psutil reports (cpu_thermal on a Pi, coretemp on a PC), or None."""
    read = getattr(psutil, "sensors_temperatures", None)  # not on every platform
    if read is None:
        return None
    try:
        sensors = read()
    except (OSError, RuntimeError):
        return None
    for name in ("cpu_thermal", "coretemp", "k10temp", "cpu-thermal", "soc_thermal"):
        if sensors.get(name):
            return float(sensors[name][0].current)
    for entries in sensors.values():
        if entries:
            return float(entries[0].current)
    return None


def one_round(streamer: Streamer) -> None:
    now = time.time()  # one timestamp for the whole round, so the charts line up
    streamer.log("cpu_percent", psutil.cpu_percent(interval=None), now)
    load = dict(zip(("1min", "5min", "15min"), psutil.getloadavg()))
    streamer.log_object(load, key_prefix="load", epoch=now)
    streamer.log_object(psutil.virtual_memory(), key_prefix="memory", epoch=now)  # a namedtuple
    streamer.log_object(psutil.disk_usage(os.path.abspath(os.sep)), key_prefix="disk", epoch=now)
    streamer.log_object(psutil.net_io_counters(), key_prefix="net", epoch=now)
    temperature = cpu_temperature()
    if temperature is not None:
        streamer.log("cpu_temp", round(temperature, 1), now)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rounds")
    parser.add_argument("--bucket-key", default="pi_health")
    args = parser.parse_args()

    streamer = Streamer(bucket_name="Pi Health", bucket_key=args.bucket_key)
    psutil.cpu_percent(interval=None)  # the first reading is meaningless; start the clock
    time.sleep(0.5)
    try:
        while True:
            one_round(streamer)
            if args.once:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    return 0 if streamer.close() else 1


if __name__ == "__main__":
    sys.exit(main())
