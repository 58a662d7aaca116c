"""Memory during an outage: the server refuses connections while N events are logged.

Progress goes to --progress every 10 000 events so that a run the runner has to kill (the
original, past its time or RSS cap) still says how far it got.
"""

from __future__ import annotations

import time

from _common import emit, parser, proc_status, streamer


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--progress", required=True)
    args = p.parse_args()
    s = streamer(args)
    base_kb = proc_status("VmRSS")
    t0 = time.monotonic()
    log = s.log
    error = ""
    done = 0
    try:
        for i in range(args.events):
            log("vibration", i)
            if i % 10_000 == 0:
                with open(args.progress, "w") as handle:
                    handle.write(f"{i} {proc_status('VmHWM')} {base_kb}\n")
        done = args.events
    except Exception as exc:  # the original can fail to start yet another thread
        error = f"{type(exc).__name__}: {exc}"
        done = i
    logged_s = time.monotonic() - t0
    emit({"logged": done, "log_seconds": logged_s, "base_rss_kb": base_kb,
          "peak_rss_kb": proc_status("VmHWM"), "threads": proc_status("Threads"),
          "error": error})
    with open(args.progress, "w") as handle:
        handle.write(f"{done} {proc_status('VmHWM')} {base_kb} done\n")
    s.close()


if __name__ == "__main__":
    main()
