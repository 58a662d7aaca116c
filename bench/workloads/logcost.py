"""log() cost in the caller's thread: perf_counter_ns around each of N calls.

The sender (the original's per-batch threads, or our one sender thread) runs as usual against
the loopback server, so the figure includes whatever contention a real script would see.
"""

from __future__ import annotations

import time

from _common import emit, parser, percentile, streamer, timer_overhead_ns


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20000)
    args = p.parse_args()
    n = args.events
    overhead = timer_overhead_ns()
    s = streamer(args)
    values = [20.0 + (i % 1000) * 0.01 for i in range(n)]
    durations = [0] * n
    log = s.log
    pc = time.perf_counter_ns
    for i in range(n):
        value = values[i]
        t0 = pc()
        log("temperature", value)
        t1 = pc()
        durations[i] = t1 - t0
    durations.sort()
    us = [max(0, d - overhead) / 1000.0 for d in durations]
    emit({"median_us": percentile(us, 50), "p99_us": percentile(us, 99),
          "mean_us": sum(us) / n, "events": n, "timer_overhead_ns": overhead})
    s.flush()  # ours: wait until delivered; the original: ship the rest now
    s.close()


if __name__ == "__main__":
    main()
