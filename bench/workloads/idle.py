"""Idle cost: CPU used by an open Streamer that has delivered one event and then waits."""

from __future__ import annotations

import resource
import time

from _common import emit, parser, proc_status, streamer


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args()
    s = streamer(args)
    s.log("hello", 1)
    time.sleep(3.0)  # let the bucket and the first event go out (the original: its threads end)
    before = cpu()
    t0 = time.monotonic()
    time.sleep(args.seconds)
    used = cpu() - before
    emit({"idle_cpu_s": used, "seconds": time.monotonic() - t0,
          "threads": proc_status("Threads")})
    s.close()


if __name__ == "__main__":
    main()
