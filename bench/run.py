"""Benchmark this project against ISStreamer 2.0.0, side by side, in one run.

    python3 bench/run.py                  # everything: venvs, servers, workloads, report
    python3 bench/run.py --only slow,idle # re-run some workloads, keep the rest of latest.json
    python3 bench/run.py --report-only    # rewrite docs/ from bench/results/latest.json

What it does, and why this way:
- Two virtualenvs (cached as ``bench/.venv-original`` and ``bench/.venv-ours``): the original
  from PyPI, and this repository installed with ``pip install .`` (reinstalled on every run, so
  the figures are for the working tree). Both run the *same* workload scripts
  (``bench/workloads/``), which use only the original's API. A third (``bench/.venv-report``)
  holds matplotlib for the report, so neither library's environment gets extra packages.
- One loopback receiver per protocol (``bench/server.py``: HTTP, and HTTPS with a throwaway
  self-signed certificate made at run time), shared by both libraries; each run has its own
  bucket key, and the server counts events and requests per key.
- Each workload is a fresh process. CPU (user+sys) and peak RSS of the whole process come from
  ``os.wait4``, so threads that outlive the script (the original's) are counted.
- Both clients trust the certificate through ``SSL_CERT_FILE`` (the original's ``http.client``)
  and ``REQUESTS_CA_BUNDLE`` (requests/urllib3); both variables are set for both libraries.

Results go to ``bench/results/`` (JSON, git-ignored); ``bench/report.py`` turns them into
``docs/benchmarks.md`` and ``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKLOADS = BENCH / "workloads"
RESULTS = BENCH / "results"
VENVS = {
    "original": BENCH / ".venv-original",
    "ours": BENCH / ".venv-ours",
    "report": BENCH / ".venv-report",
}
LIBS = ("original", "ours")
ORIGINAL_REQUIREMENT = "ISStreamer==2.0.0"
EVENTS = 100_000
# The original at buffer_size 10 over HTTPS makes a thread and a TLS handshake per 10 events
# (minutes per 100 000 events); it runs on fewer events and is scaled per 100 000.
ORIGINAL_HTTPS_10_EVENTS = 20_000
OUTAGE_EVENTS = 1_000_000
ORIGINAL_OUTAGE_CAP_S = 60.0
ORIGINAL_OUTAGE_CAP_RSS_KB = 2_000_000
ACCESS_KEY = "ist_bench_0000000000000000000000"
BENCH_EXTRA = ("matplotlib>=3.5",)  # the same as the ``bench`` extra in pyproject.toml


# -- small helpers -------------------------------------------------------------------------------
def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def venv_python(name: str) -> Path:
    return VENVS[name] / "bin" / "python"


def pip(name: str, *args: str) -> None:
    subprocess.run([str(venv_python(name)), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *args], check=True, cwd=ROOT)


def has_module(name: str, code: str) -> bool:
    python = venv_python(name)
    if not python.exists():
        return False
    # cwd="/": from the repository root, ``import ISStreamer`` would find our shim module.
    return subprocess.run([str(python), "-c", code], capture_output=True, cwd="/").returncode == 0


def ensure_venvs(reinstall_ours: bool, source: Path = ROOT) -> None:
    """Create (or reuse) the three virtualenvs; reinstall ours from ``source`` (the tree)."""
    for name in VENVS:
        if not venv_python(name).exists():
            say(f"creating virtualenv {VENVS[name].relative_to(ROOT)}")
            subprocess.run([sys.executable, "-m", "venv", str(VENVS[name])], check=True)
    check = "import ISStreamer.version as v, sys; sys.exit(v.__version__ != '2.0.0')"
    if not has_module("original", check):
        say(f"installing {ORIGINAL_REQUIREMENT} from PyPI")
        pip("original", ORIGINAL_REQUIREMENT)
    if reinstall_ours or not has_module("ours", "import isstreamer"):
        say(f"installing this repository (pip install {source})")
        if not has_module("ours", "import requests"):
            pip("ours", str(source))
        pip("ours", "--force-reinstall", "--no-deps", str(source))
    if not has_module("report", "import matplotlib"):
        say("installing the bench-only dependencies (matplotlib)")
        pip("report", *BENCH_EXTRA)


def make_certificate(directory: Path) -> Tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl, else ``cryptography``)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )
        return cert, key
    if not has_module("report", "import cryptography"):
        pip("report", "cryptography>=3.4")
    subprocess.run([str(venv_python("report")), str(BENCH / "make_cert.py"), str(cert), str(key)],
                   check=True)
    return cert, key


class Server:
    """One ``bench/server.py`` process (HTTP or HTTPS) and a way to ask it for counts."""

    def __init__(self, tls: Optional[Tuple[Path, Path]]) -> None:
        command = [sys.executable, str(BENCH / "server.py"), "--port", "0"]
        if tls:
            command += ["--tls", str(tls[0]), str(tls[1])]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("the bench server did not start")
        self.port = int(line[1])
        self.scheme = "https" if tls else "http"
        self.context = ssl.create_default_context(cafile=str(tls[0])) if tls else None

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def query(self, what: str, bucket: str) -> Dict[str, Any]:
        if self.context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self.context, timeout=30)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", f"/{what}?bucket={bucket}")
            answer: Dict[str, Any] = json.loads(conn.getresponse().read())
            return answer
        finally:
            conn.close()

    def stats(self, bucket: str) -> Dict[str, Any]:
        return self.query("_stats", bucket)

    def wait_for(self, bucket: str, events: int, timeout: float) -> Dict[str, Any]:
        """Counts once ``events`` arrived, or when they stop arriving (then short)."""
        deadline = time.monotonic() + timeout
        last_count, still_since = -1, time.monotonic()
        while True:
            stats = self.stats(bucket)
            if stats["events"] >= events or time.monotonic() > deadline:
                return stats
            if stats["events"] != last_count:
                last_count, still_since = stats["events"], time.monotonic()
            elif time.monotonic() - still_since > 10.0:
                return stats
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def closed_port() -> int:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> Dict[str, int]:
    found: Dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM", "Threads"):
                    found[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found


class Bench:
    """Holds the run's servers, ini files and scratch directory; runs workload processes."""

    def __init__(self, scratch: Path, cert: Path, http_server: Server, https_server: Server):
        self.scratch = scratch
        self.cert = cert
        self.servers = {"http": http_server, "https": https_server}
        self.ini = {proto: self._ini(proto, server.base)
                    for proto, server in self.servers.items()}
        self.ini["down"] = self._ini("down", f"http://127.0.0.1:{closed_port()}")
        self._count = 0
        self._lock = threading.Lock()

    def _ini(self, name: str, base: str) -> str:
        path = self.scratch / f"isstreamer-{name}.ini"
        path.write_text(
            "[isstreamer.client_config]\n"
            f"access_key = {ACCESS_KEY}\n"
            "default_bucket = bench\n"
            "offline_mode = false\n"
            "[isstreamer.api_config]\n"
            f"stream_api_base = {base}\n"
        )
        return str(path)

    def env(self, workdir: Path) -> Dict[str, str]:
        """The same environment for both libraries: trust the throwaway CA, no proxies."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ISS_", "PYTHON")) and "proxy" not in k.lower()}
        env.update({
            "SSL_CERT_FILE": str(self.cert),
            "REQUESTS_CA_BUNDLE": str(self.cert),
            "NO_PROXY": "127.0.0.1,localhost",
            "ISS_SPOOL_DIR": str(workdir / "spool"),
            "HOME": str(workdir),
        })
        return env

    def bucket(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def run(
        self,
        lib: str,
        argv: List[str],
        timeout: float,
        rss_cap_kb: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Run one workload process; its RESULT, whole-process CPU/RSS and peak threads."""
        with self._lock:
            self._count += 1
            workdir = self.scratch / f"run{self._count:03d}-{lib}"
        workdir.mkdir()
        out_path, err_path = workdir / "stdout", workdir / "stderr"
        command = [str(venv_python(lib)), *argv]
        with open(out_path, "w") as out, open(err_path, "w") as err:
            t_spawn = time.time()
            proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=workdir,
                                    env=self.env(workdir))
            peak_threads, peak_rss, killed = 0, 0, ""
            started = time.monotonic()
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                info = proc_status(proc.pid)
                peak_threads = max(peak_threads, info.get("Threads", 0))
                peak_rss = max(peak_rss, info.get("VmHWM", 0))
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    killed = f"killed after {elapsed:.0f} s (time cap)"
                elif rss_cap_kb and peak_rss > rss_cap_kb:
                    killed = f"killed at {peak_rss // 1024} MB RSS (memory cap)"
                if killed:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        result: Dict[str, Any] = {}
        # A killed process can leave half a character behind.
        for line in out_path.read_text(errors="replace").splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        stderr = err_path.read_text(errors="replace")
        if proc.returncode != 0 and not killed:
            say(f"  {lib} {Path(argv[0]).name} exited {proc.returncode}: {stderr[-500:]}")
        return {
            "result": result,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "maxrss_kb": max(usage.ru_maxrss, peak_rss),
            "peak_threads": peak_threads,
            "process_wall_s": wall,
            "t_spawn": t_spawn,
            "exit": proc.returncode,
            "killed": killed,
            "stderr_tail": stderr[-300:],
            "workdir": str(workdir),
        }


def workload(name: str) -> str:
    return str(WORKLOADS / f"{name}.py")


# -- the workloads -------------------------------------------------------------------------------
def run_startup(b: Bench, reps: int = 7) -> Dict[str, Any]:
    """Process start to the first log() returning; also the CPU of that minimal script."""
    out: Dict[str, Any] = {lib: {"startup_s": [], "cpu_s": [], "maxrss_kb": []} for lib in LIBS}
    for rep in range(reps):
        for lib in (LIBS if rep % 2 == 0 else LIBS[::-1]):
            r = b.run(lib, [workload("startup"), b.ini["http"], b.bucket("start")], timeout=60)
            if "first_log_returned" in r["result"]:
                out[lib]["startup_s"].append(r["result"]["first_log_returned"] - r["t_spawn"])
            out[lib]["cpu_s"].append(r["cpu_s"])
            out[lib]["maxrss_kb"].append(r["maxrss_kb"])
    for lib in LIBS:
        out[lib]["startup_median_s"] = statistics.median(out[lib]["startup_s"])
        out[lib]["script_cpu_median_s"] = statistics.median(out[lib]["cpu_s"])
        out[lib]["script_rss_median_kb"] = statistics.median(out[lib]["maxrss_kb"])
        say(f"  startup {lib}: {out[lib]['startup_median_s'] * 1000:.1f} ms")
    return out


def run_logcost(b: Bench, events: int = 20_000) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for size in (10, 500):
        for lib in LIBS:
            bucket = b.bucket("cost")
            r = b.run(lib, [workload("logcost"), "--ini", b.ini["http"], "--bucket", bucket,
                            "--buffer", str(size), "--events", str(events)], timeout=180)
            out[f"{lib}/{size}"] = r
            res = r["result"]
            say(f"  log() {lib} buffer {size}: median {res.get('median_us', float('nan')):.2f} "
                f"µs, p99 {res.get('p99_us', float('nan')):.2f} µs")
    return out


def _delivery(b: Bench, lib: str, proto: str, size: int, events: int, threads: int = 1,
              timeout: float = 400) -> Dict[str, Any]:
    bucket = b.bucket(f"tp{threads}")
    server = b.servers[proto]
    r = b.run(lib, [workload("throughput"), "--ini", b.ini[proto], "--bucket", bucket,
                    "--buffer", str(size), "--events", str(events), "--threads", str(threads)],
              timeout=timeout)
    stats = server.wait_for(bucket, events, timeout=30)
    t0 = r["result"].get("t0")
    r.update({
        "protocol": proto, "buffer_size": size, "events": events, "threads": threads,
        "delivered": stats["events"], "requests": stats["requests"],
        "bucket_requests": stats["buckets"],
        "wall_s": (stats["last"] - t0) if (t0 and stats["last"]) else None,
    })
    return r


def run_throughput(b: Bench) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for proto in ("http", "https"):
        for size in (10, 500):
            for lib in LIBS:
                events = EVENTS
                if lib == "original" and proto == "https" and size == 10:
                    events = ORIGINAL_HTTPS_10_EVENTS
                r = _delivery(b, lib, proto, size, events)
                out[f"{lib}/{proto}/{size}"] = r
                say(f"  {lib} {proto} buffer {size}: {r['delivered']}/{events} delivered, "
                    f"CPU {r['cpu_s']:.2f} s, {r['requests']} requests, wall "
                    f"{r['wall_s'] or float('nan'):.2f} s, peak threads {r['peak_threads']}")
    return out


def run_threads(b: Bench) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for lib in LIBS:
        r = _delivery(b, lib, "http", 10, 200_000, threads=8)
        out[lib] = r
        say(f"  8 threads {lib}: {r['delivered']}/200000 delivered, wall "
            f"{r['wall_s'] or float('nan'):.2f} s, CPU {r['cpu_s']:.2f} s")
    return out


def run_slow_and_idle(b: Bench, duration: float = 30.0) -> Dict[str, Any]:
    """The slow loggers and the idle Streamers of both libraries, all four at once.

    They are almost idle by design, so running them together costs 30 s instead of 120 s and
    does not disturb what they measure (latency of 0.5 s-spaced events, CPU while idle).
    """
    out: Dict[str, Any] = {}
    jobs: List[Tuple[str, str, List[str]]] = []
    buckets: Dict[str, str] = {}
    for lib in LIBS:
        buckets[lib] = bucket = b.bucket("lat")
        jobs.append((f"slow/{lib}", lib, [workload("slow"), "--ini", b.ini["https"], "--bucket",
                                          bucket, "--duration", str(duration)]))
        jobs.append((f"idle/{lib}", lib, [workload("idle"), "--ini", b.ini["https"], "--bucket",
                                          b.bucket("idle"), "--seconds", str(duration)]))

    def run_job(name: str, lib: str, argv: List[str]) -> None:
        out[name] = b.run(lib, argv, timeout=duration + 60)

    threads = [threading.Thread(target=run_job, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server = b.servers["https"]
    for lib in LIBS:
        logged = out[f"slow/{lib}"]["result"].get("logged", 0)
        server.wait_for(buckets[lib], logged, timeout=15)
        lat = sorted(server.query("_latency", buckets[lib])["latencies"])
        slow = out[f"slow/{lib}"]
        slow["latencies"] = lat
        slow["delivered"] = len(lat)
        if lat:
            slow["p50_s"] = lat[len(lat) // 2]
            slow["p99_s"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            slow["max_s"] = lat[-1]
        say(f"  slow logger {lib}: {len(lat)}/{logged} delivered, p50 "
            f"{slow.get('p50_s', float('nan')):.3f} s, p99 {slow.get('p99_s', float('nan')):.3f}"
            f" s; idle CPU {out[f'idle/{lib}']['result'].get('idle_cpu_s', float('nan')):.4f} s")
    return out


def run_outage(b: Bench) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for lib in ("ours", "original"):
        progress = b.scratch / f"outage-{lib}.progress"
        capped = lib == "original"
        r = b.run(lib, [workload("outage"), "--ini", b.ini["down"], "--bucket", b.bucket("down"),
                        "--events", str(OUTAGE_EVENTS), "--progress", str(progress)],
                  timeout=ORIGINAL_OUTAGE_CAP_S if capped else 300,
                  rss_cap_kb=ORIGINAL_OUTAGE_CAP_RSS_KB if capped else None)
        try:
            fields = progress.read_text().split()
            r["progress_events"], r["progress_hwm_kb"], r["base_rss_kb"] = map(int, fields[:3])
        except (OSError, ValueError):
            r["progress_events"], r["base_rss_kb"] = 0, 0
        res = r["result"]
        r["logged"] = res.get("logged", r["progress_events"])
        r["base_rss_kb"] = res.get("base_rss_kb", r["base_rss_kb"])
        r["peak_rss_kb"] = max(res.get("peak_rss_kb", 0), r["maxrss_kb"])
        r["growth_mb"] = (r["peak_rss_kb"] - r["base_rss_kb"]) / 1024
        out[lib] = r
        spool = Path(r["workdir"]) / "spool"
        missed = Path(r["workdir"]) / "err_missed_events.txt"  # where the original puts them
        files = [f for f in spool.rglob("*") if f.is_file()] + [missed] * missed.exists()
        r["spool_bytes"] = sum(f.stat().st_size for f in files)
        say(f"  outage {lib}: logged {r['logged']}, peak RSS {r['peak_rss_kb'] // 1024} MB "
            f"(growth {r['growth_mb']:.1f} MB), peak threads {r['peak_threads']} {r['killed']}")
    return out


STEPS: Dict[str, Callable[[Bench], Dict[str, Any]]] = {
    "startup": run_startup,
    "logcost": run_logcost,
    "throughput": run_throughput,
    "threads": run_threads,
    "slow_idle": run_slow_and_idle,
    "outage": run_outage,
}


def machine_facts() -> Dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    def version(name: str, code: str) -> str:
        done = subprocess.run([str(venv_python(name)), "-c", code], capture_output=True,
                              text=True, cwd="/")
        return done.stdout.strip()
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": version("ours", "import platform; print(platform.python_version())"),
        "openssl": ssl.OPENSSL_VERSION,
        "ours_version": version("ours", "import isstreamer; print(isstreamer.__version__)"),
        "original_version": version("original", "import ISStreamer.version as v; "
                                                "print(v.__version__)"),
        "ours_deps": version("ours", "import requests, urllib3; print(f'requests "
                                     "{requests.__version__}, urllib3 {urllib3.__version__}')"),
    }


def load_latest() -> Dict[str, Any]:
    path = RESULTS / "latest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_report(results_path: Path) -> None:
    subprocess.run([str(venv_python("report")), str(BENCH / "report.py"), str(results_path)],
                   check=True, cwd=ROOT)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated steps ({', '.join(STEPS)}); the "
                                       "others are kept from bench/results/latest.json")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-reinstall", action="store_true",
                        help="reuse the installed copy of this repository")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="the source tree to benchmark as ours (default: this checkout)")
    args = parser.parse_args(argv)
    if sys.platform != "linux":
        print("bench/run.py reads /proc and uses os.wait4: Linux only", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        ensure_venvs(reinstall_ours=False)
        write_report(RESULTS / "latest.json")
        return 0
    steps = list(STEPS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps: {unknown}")
    began = time.monotonic()
    ensure_venvs(reinstall_ours=not args.no_reinstall, source=args.source)
    results = load_latest() if args.only else {}
    results.setdefault("steps", {})
    results["machine"] = machine_facts()
    results["command"] = "python3 bench/run.py" + (f" --only {args.only}" if args.only else "")
    if args.source != ROOT:
        results["command"] += f" --source {args.source}"
    results["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    results["load_before"] = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="isstreamer-bench-"))
    servers: List[Server] = []
    try:
        cert, key = make_certificate(scratch)
        http_server = Server(None)
        servers.append(http_server)
        https_server = Server((cert, key))
        servers.append(https_server)
        b = Bench(scratch, cert, http_server, https_server)
        for step in steps:
            say(f"{step}")
            t = time.monotonic()
            results["steps"][step] = STEPS[step](b)
            results["steps"][step]["_seconds"] = time.monotonic() - t
            results["steps"][step]["_date"] = results["date"]
            # Saved after every step, so a failure later keeps what was measured.
            (RESULTS / "partial.json").write_text(json.dumps(results, indent=1))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    results["seconds"] = time.monotonic() - began
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=1))
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1))
    say(f"results: {path.relative_to(ROOT)} ({results['seconds']:.0f} s)")
    write_report(RESULTS / "latest.json")
    say("wrote docs/benchmarks.md and docs/benchmarks.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
