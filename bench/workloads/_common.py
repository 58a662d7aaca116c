"""Shared by the workload scripts: arguments, the Streamer under test, and result output.

Every workload imports ``from ISStreamer.Streamer import Streamer`` and uses only the original's
constructor arguments, so the very same script runs against ISStreamer 2.0.0 and against this
project (whichever the interpreter's virtualenv has installed). A workload prints one line,
``RESULT {json}``, which the runner parses; CPU and peak RSS of the whole process are taken by
the runner from ``os.wait4`` so that threads still running at exit are counted too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Sequence


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every workload takes: where the API is (an ini file) and which bucket."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ini", required=True, help="isstreamer.ini naming stream_api_base")
    p.add_argument("--bucket", required=True, help="bucket key: the server counts per key")
    p.add_argument("--buffer", type=int, default=10, help="buffer_size")
    return p


def streamer(args: argparse.Namespace) -> Any:
    """A Streamer built with the original's positional arguments only."""
    from ISStreamer.Streamer import Streamer

    return Streamer(bucket_name="bench", bucket_key=args.bucket, ini_file_location=args.ini,
                    buffer_size=args.buffer)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return float(sorted_values[rank])


def proc_status(field: str) -> int:
    """A number from /proc/self/status (VmRSS, VmHWM in kB; Threads), 0 where unavailable."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def emit(result: Dict[str, Any]) -> None:
    """Hand the result to the runner (one line on stdout), before any slow shutdown."""
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def now() -> float:
    return time.time()


def timer_overhead_ns(samples: int = 20000) -> int:
    """Median cost of an empty ``perf_counter_ns()`` pair, subtracted from each timed call."""
    pc = time.perf_counter_ns
    diffs: List[int] = [0] * samples
    for i in range(samples):
        t0 = pc()
        t1 = pc()
        diffs[i] = t1 - t0
    diffs.sort()
    return diffs[samples // 2]
