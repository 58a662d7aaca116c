"""Turn a bench/results JSON file into docs/benchmarks.md and docs/benchmarks.png.

    python bench/report.py bench/results/latest.json     (needs matplotlib; run.py calls it)

Every row shows both libraries from the same run, the ratio ours/original, the bar from
design.md ("Performance bars") where there is one, and whether it is met. Hand-written notes
(profiles, before/after figures of optimisations) live in bench/notes.md and are appended.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
NOTES = ROOT / "bench" / "notes.md"
PER = 100_000
FLUSH_INTERVAL = 1.0
LATENCY_SLACK = 0.1  # the request itself, on top of the flush interval
IDLE_CPU_BAR = 0.01
RSS_GROWTH_BAR_MB = 50.0

Row = Tuple[str, str, str, str, str, str, str]


def fmt(value: Optional[float], digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100 or digits == 0:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.{digits}f}"
    return text + unit


def ratio(ours: Optional[float], original: Optional[float]) -> Optional[float]:
    if ours is None or original is None or original == 0:
        return None
    return ours / original


def verdict(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("**pass**" if ok else "**FAIL**")


class Report:
    """Builds the table rows and the figures' data from one results dict."""

    def __init__(self, results: Dict[str, Any]) -> None:
        self.r = results
        self.steps: Dict[str, Any] = results.get("steps", {})
        self.rows: List[Row] = []
        self.plots: Dict[str, Dict[str, Tuple[float, float]]] = {}
        startup = self.steps.get("startup", {})
        # CPU of a process that starts, logs once and closes: not scaled with the event count.
        self.base_cpu = {lib: startup.get(lib, {}).get("script_cpu_median_s", 0.0)
                         for lib in ("original", "ours")}

    def add(self, workload: str, metric: str, original: Optional[float], ours: Optional[float],
            bar: str = "", ok: Optional[bool] = None, digits: int = 2, unit: str = "",
            note_original: str = "", lower_bound: bool = False) -> None:
        rat = None if lower_bound else ratio(ours, original)
        self.rows.append((
            workload, metric, fmt(original, digits, unit) + note_original,
            fmt(ours, digits, unit), "—" if rat is None else f"{rat:.3g}", bar or "—",
            verdict(ok),
        ))

    def plot(self, figure: str, label: str, original: Optional[float],
             ours: Optional[float]) -> None:
        if original is not None and ours is not None:
            self.plots.setdefault(figure, {})[label] = (original, ours)

    # -- rows ----------------------------------------------------------------------------------
    def logcost(self) -> None:
        step = self.steps.get("logcost")
        if not step:
            return
        for size in (10, 500):
            o = step.get(f"original/{size}", {}).get("result", {})
            u = step.get(f"ours/{size}", {}).get("result", {})
            default = size == 10
            self.add(f"log() cost, buffer_size {size}" + (" (default)" if default else ""),
                     "median µs per call", o.get("median_us"), u.get("median_us"),
                     "≤ 1 µs" if default else "",
                     (u.get("median_us", 99) <= 1.0) if default else None)
            self.add("", "p99 µs per call", o.get("p99_us"), u.get("p99_us"))
            self.add("", "mean µs per call", o.get("mean_us"), u.get("mean_us"))
            self.plot("log() median, µs", f"buffer {size}", o.get("median_us"),
                      u.get("median_us"))

    def _scaled(self, run: Dict[str, Any], lib: str) -> Dict[str, Optional[float]]:
        events = run.get("events") or PER
        k = PER / events
        base = self.base_cpu.get(lib, 0.0)
        cpu = run.get("cpu_s")
        wall = run.get("wall_s")
        return {
            "cpu": None if cpu is None else base + (cpu - base) * k,
            "wall": None if wall is None else wall * k,
            "requests": run.get("requests", 0) * k,
            "delivered_share": run.get("delivered", 0) / events,
            "threads": run.get("peak_threads"),
            "events": events,
        }

    def throughput(self) -> None:
        step = self.steps.get("throughput")
        if not step:
            return
        for proto in ("http", "https"):
            for size in (10, 500):
                o_run = step.get(f"original/{proto}/{size}", {})
                u_run = step.get(f"ours/{proto}/{size}", {})
                o, u = self._scaled(o_run, "original"), self._scaled(u_run, "ours")
                scaled = ""
                if o["events"] != PER:
                    scaled = f" (measured on {o['events']:,}, scaled)"
                name = f"100 000 events, {proto.upper()}, buffer_size {size}"
                cpu_bar, cpu_ok, wall_bar, wall_ok = "", None, "", None
                if proto == "https":
                    share = 0.25 if size == 10 else 0.5
                    cpu_bar = f"≤ {'¼' if size == 10 else '½'} of original"
                    rat = ratio(u["cpu"], o["cpu"])
                    cpu_ok = rat is not None and rat <= share
                    if size == 10:
                        wall_bar = "≤ ¼ of original"
                        rat = ratio(u["wall"], o["wall"])
                        wall_ok = rat is not None and rat <= 0.25
                self.add(name, "client CPU s (user+sys, whole process)", o["cpu"], u["cpu"],
                         cpu_bar, cpu_ok, note_original=scaled)
                self.add("", "requests", o["requests"], u["requests"], digits=0,
                         note_original=scaled)
                self.add("", "wall s until all accepted", o["wall"], u["wall"], wall_bar,
                         wall_ok, note_original=scaled)
                self.add("", "share delivered", o["delivered_share"], u["delivered_share"],
                         "all", u["delivered_share"] == 1.0, digits=4)
                one_sender = None
                bar = ""
                if u["threads"] is not None:
                    bar = "≤ 1 sender thread (main + 1)"
                    one_sender = u["threads"] <= 2
                self.add("", "peak threads", o["threads"], u["threads"], bar, one_sender,
                         digits=0)
                label = f"{proto.upper()} {size}"
                self.plot("client CPU s per 100 000 events", label, o["cpu"], u["cpu"])
                self.plot("wall s per 100 000 events", label, o["wall"], u["wall"])

    def threads(self) -> None:
        step = self.steps.get("threads")
        if not step:
            return
        o, u = step.get("original", {}), step.get("ours", {})

        def rate(run: Dict[str, Any]) -> Optional[float]:
            wall = run.get("wall_s")
            return run.get("delivered", 0) / wall if wall else None

        name = "8 producer threads × 25 000 events, HTTP, buffer_size 10"
        self.add(name, "events delivered (of 200 000)", o.get("delivered"), u.get("delivered"),
                 "exactly 200 000", u.get("delivered") == 200_000, digits=0)
        self.add("", "throughput, events/s delivered", rate(o), rate(u), digits=0)
        self.add("", "client CPU s", o.get("cpu_s"), u.get("cpu_s"))
        self.add("", "peak threads", o.get("peak_threads"), u.get("peak_threads"), digits=0)
        stats = (u.get("result") or {}).get("stats") or {}
        if stats:
            on_disk = stats.get("spooled", 0) - stats.get("replayed", 0)
            lost = 200_000 - (u.get("delivered") or 0) - on_disk
            self.add("", "ours: in the spool at exit (overflow past max_buffer 100 000; "
                     "sent at the next start)", None, on_disk, digits=0)
            self.add("", "ours: lost (200 000 − delivered − in the spool)", None, lost, "0",
                     lost == 0, digits=0)
        self.plot("8 threads: events/s (thousands)", "8 × 25 000",
                  (rate(o) or 0) / 1000, (rate(u) or 0) / 1000)

    def slow_idle(self) -> None:
        step = self.steps.get("slow_idle")
        if not step:
            return
        o, u = step.get("slow/original", {}), step.get("slow/ours", {})
        name = "slow logger, 1 event / 0.5 s for 30 s, HTTPS, defaults"
        limit = FLUSH_INTERVAL + LATENCY_SLACK
        self.add(name, "latency p50 s, log() → stored", o.get("p50_s"), u.get("p50_s"))
        self.add("", "latency p99 s", o.get("p99_s"), u.get("p99_s"),
                 f"≤ flush interval ({FLUSH_INTERVAL:g} s) + {LATENCY_SLACK:g} s",
                 u.get("p99_s") is not None and u["p99_s"] <= limit)
        self.add("", "events delivered", o.get("delivered"), u.get("delivered"), digits=0)
        self.plot("slow logger latency, s", "p50", o.get("p50_s"), u.get("p50_s"))
        self.plot("slow logger latency, s", "p99", o.get("p99_s"), u.get("p99_s"))
        oi = step.get("idle/original", {}).get("result", {})
        ui = step.get("idle/ours", {}).get("result", {})
        oc, uc = oi.get("idle_cpu_s"), ui.get("idle_cpu_s")
        self.add("idle, open Streamer for 30 s, HTTPS", "CPU ms used while idle",
                 None if oc is None else oc * 1000, None if uc is None else uc * 1000,
                 f"~0 (≤ {IDLE_CPU_BAR * 1000:g} ms)", uc is not None and uc <= IDLE_CPU_BAR,
                 digits=1)

    def outage(self) -> None:
        step = self.steps.get("outage")
        if not step:
            return
        o, u = step.get("original", {}), step.get("ours", {})
        note = ""
        killed = bool(o.get("killed"))
        if killed:
            note = f" ({o['killed']}, after {o.get('logged', 0):,} events)"
        name = "outage: server refuses connections, 1 000 000 events logged"
        self.add(name, "RSS growth MB (peak − before logging)", o.get("growth_mb"),
                 u.get("growth_mb"), f"≤ {RSS_GROWTH_BAR_MB:g} MB",
                 u.get("growth_mb") is not None and u["growth_mb"] <= RSS_GROWTH_BAR_MB,
                 digits=1, note_original=note, lower_bound=killed)
        self.add("", "events logged (the original: before it was stopped)", o.get("logged"),
                 u.get("logged"), digits=0, lower_bound=killed)
        self.add("", "peak threads", o.get("peak_threads"), u.get("peak_threads"), digits=0)
        self.add("", "missed events on disk, MB (ours: spool; original: err_missed_events.txt)",
                 (o.get("spool_bytes") or 0) / 1e6, (u.get("spool_bytes") or 0) / 1e6, digits=1)
        self.plot("outage: RSS growth, MB", "1M events", o.get("growth_mb"), u.get("growth_mb"))

    def startup(self) -> None:
        step = self.steps.get("startup")
        if not step:
            return
        o, u = step.get("original", {}), step.get("ours", {})
        om, um = o.get("startup_median_s"), u.get("startup_median_s")
        rat = ratio(um, om)
        self.add("startup: process start → first log() returned", "median ms (7 runs)",
                 om and om * 1000, um and um * 1000, "≤ 1.5× original",
                 rat is not None and rat <= 1.5, digits=1)
        self.add("", "whole trivial script: CPU s", o.get("script_cpu_median_s"),
                 u.get("script_cpu_median_s"), digits=3)
        self.add("", "whole trivial script: peak RSS MB",
                 (o.get("script_rss_median_kb") or 0) / 1024,
                 (u.get("script_rss_median_kb") or 0) / 1024, digits=1)
        self.plot("startup, ms", "first log()", om and om * 1000, um and um * 1000)

    # -- output --------------------------------------------------------------------------------
    def markdown(self) -> str:
        r = self.r
        m = r.get("machine", {})
        lines = [
            "# Benchmarks: isstreamer vs ISStreamer 2.0.0",
            "",
            "Generated by `bench/report.py` from one run of the command below; both libraries ran",
            "the same workload scripts (`bench/workloads/`) against the same loopback receiver",
            "(`bench/server.py`) in the same run. Ratio = ours / original (below 1 is better for",
            "times, CPU, memory and requests; above 1 is better for throughput). Bars are from",
            "design.md, \"Performance bars\".",
            "",
            f"- Command: `{r.get('command', 'python3 bench/run.py')}`"
            + ("" if r.get("command", "python3 bench/run.py") == "python3 bench/run.py" else
               " (`--source DIR` benchmarks another tree as ours; the usual command is "
               "`python3 bench/run.py`)"),
            f"- Date: {r.get('date', '?')}; the run took {fmt(r.get('seconds'), 0)} s",
            f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
            f"{m.get('memory_gb', '?')} GB RAM, {m.get('os', '?')}, Python {m.get('python', '?')},"
            f" {m.get('openssl', '?')}",
            f"- Versions: isstreamer {m.get('ours_version', '?')} ({m.get('ours_deps', '?')}); "
            f"ISStreamer {m.get('original_version', '?')} (http.client)",
            f"- Load average (1/5/15 min) before: {self._load('load_before')}; after: "
            f"{self._load('load_after')}. The machine has 2 cores and other engineers ran test "
            "suites on it at the same time, so wall times and tail latencies are noisy; CPU "
            "seconds (per process) and request counts are not. The receiver is a separate "
            "process competing for the same 2 cores.",
            "- Server: HTTP/1.1 keep-alive, parses every body as JSON, answers 201/204; HTTPS "
            "uses a self-signed RSA-2048 certificate made for the run, trusted by both clients "
            "through `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE`.",
            "",
            "| Workload | Metric | ISStreamer 2.0.0 | isstreamer (ours) | ours/original | Bar "
            "| Met |",
            "| --- | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "![Benchmarks](benchmarks.png)", "", "## How each figure is measured", ""]
        lines += HOW.strip().splitlines()
        if NOTES.exists():
            lines += ["", NOTES.read_text().strip()]
        return "\n".join(lines) + "\n"

    def _load(self, key: str) -> str:
        load = self.r.get(key)
        return " / ".join(f"{x:.2f}" for x in load) if load else "?"

    def figure(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = list(self.plots.items())
        if not panels:
            return
        cols = 3
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
        for ax, (title, data) in zip(axes.flat, panels):
            labels = list(data)
            xs = range(len(labels))
            width = 0.38
            orig = [data[k][0] for k in labels]
            ours = [data[k][1] for k in labels]
            ax.bar([x - width / 2 for x in xs], orig, width, label="ISStreamer 2.0.0",
                   color="#b0b0b0")
            ax.bar([x + width / 2 for x in xs], ours, width, label="isstreamer", color="#2a7ab0")
            positive = [v for v in orig + ours if v and v > 0]
            if positive and max(positive) / min(positive) > 50:
                ax.set_yscale("log")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=8)
        fig.suptitle("isstreamer vs ISStreamer 2.0.0 (lower is better, except events/s)",
                     fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


HOW = """
- **log() cost**: `perf_counter_ns()` around each of 20 000 `log()` calls in the caller's
  thread (the median cost of an empty timer pair is subtracted), over HTTP with the sender
  running; the original's figure includes starting a thread every `buffer_size` calls.
- **Client CPU**: user + sys seconds of the whole client process from `os.wait4`, start to exit,
  so the original's shipping threads are counted even when they outlive the script. Where a run
  used fewer events it is scaled per 100 000 as `B + (CPU − B) × 100 000 / N`, with `B` the CPU
  of a trivial script (start, one `log()`, `close()`) from the startup workload.
- **Requests** and **events delivered**: counted by the receiver per bucket key.
- **Wall**: from the first `log()` call (client clock) to the arrival of the last event at the
  receiver (same machine, same clock).
- **Peak threads**: sampled every 50 ms from `/proc/PID/status` by the runner.
- **Slow logger**: 60 events 0.5 s apart, default settings; the receiver records arrival time
  minus the event's epoch (both libraries stamp `time.time()` inside `log()`).
- **Idle**: CPU (`getrusage`) of the process over 30 s after one event was delivered.
- **Outage**: the ini points at a refused port; RSS growth = peak RSS (`VmHWM`) − RSS just before
  the first `log()`. The original starts a thread per 10 events that retries 3 times 1 s apart;
  it is stopped at a time/RSS cap, so its figure is a lower bound (shown with `>`).
- **Startup**: the runner notes the wall clock, spawns the interpreter, and the script prints the
  wall clock when its first `log()` returns; median of 7 runs, the two libraries alternating.
"""


def main(argv: List[str]) -> int:
    results = json.loads(Path(argv[0]).read_text())
    report = Report(results)
    steps: List[Callable[[], None]] = [report.logcost, report.throughput, report.threads,
                                       report.slow_idle, report.outage, report.startup]
    for step in steps:
        step()
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(report.markdown())
    report.figure(PLOT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
