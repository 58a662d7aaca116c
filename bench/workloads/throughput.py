"""Log N events as fast as possible (from T producer threads), then close().

The runner takes CPU (user+sys) and peak RSS of the whole process from os.wait4 and the time
the last event reached the server from the server, so no in-process timing is trusted here
beyond the wall-clock instant of the first log() call.
"""

from __future__ import annotations

import threading
import time
from typing import List

from _common import emit, parser, proc_status, streamer


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    s = streamer(args)
    per_thread = args.events // args.threads
    start = threading.Barrier(args.threads + 1)
    peak_threads: List[int] = [0]

    def produce(tid: int) -> None:
        key = f"t{tid}"
        log = s.log
        start.wait()
        for i in range(per_thread):
            log(key, i)

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(args.threads)]
    if args.threads == 1:
        t0 = time.time()
        log = s.log
        for i in range(per_thread):
            log("t0", i)
        t_logged = time.time()
    else:
        for w in workers:
            w.start()
        t0 = time.time()
        start.wait()
        for w in workers:
            w.join()
        t_logged = time.time()
    peak_threads[0] = proc_status("Threads")
    s.flush()  # ours: wait until delivered; the original: ship the rest now
    s.close()
    stats = getattr(s, "stats", None)  # ours only: the accounting identity, for the report
    emit({"t0": t0, "t_logged": t_logged, "logged": per_thread * args.threads,
          "threads_after_logging": peak_threads[0],
          "stats": stats() if callable(stats) else None})


if __name__ == "__main__":
    main()
