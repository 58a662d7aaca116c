"""A slow logger: one event every --interval seconds for --duration seconds, default settings.

Each event's epoch is its log() time (both libraries stamp time.time() at the call), and the
server records arrival minus epoch per event: the delivery latency a dashboard user sees.
"""

from __future__ import annotations

import time

from _common import emit, parser, streamer


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=30.0)
    args = p.parse_args()
    s = streamer(args)
    count = int(args.duration / args.interval)
    start = time.monotonic()
    for i in range(count):
        target = start + i * args.interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s.log("reading", time.time())
    time.sleep(max(0.0, start + count * args.interval - time.monotonic()))
    emit({"logged": count})
    s.close()


if __name__ == "__main__":
    main()
