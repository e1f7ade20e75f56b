"""Load test of `emotune serve`: latency and throughput at 1, 8 and 32 concurrent clients.

    .venv/bin/python benchmarks/bench_server.py runs/isear-minilm [--onnx] [--requests 400] [--seconds 60]
                                                [--client httpx|wrk]

Starts ``emotune serve RUN`` on 127.0.0.1 (a free port) as a subprocess, waits for /readyz (which
loads the model), warms up, then for each concurrency level runs that many clients in a closed
loop, each sending single-text ``POST /v1/classify`` requests (ISEAR texts) until ``--requests``
requests are done or ``--seconds`` have passed. Reports p50/p99 latency, requests/s, the mean
batch size the server formed, and the server's peak RSS (psutil, sampled every 50 ms).

The load generator shares the machine's cores with the server. ``--client httpx`` (default) is the
Python client above, in this process; ``--client wrk`` is the C load generator wrk
(``apt-get install wrk``; one thread, ``--seconds`` per level, a Lua script that cycles through the
same texts), which needs far less CPU per request, so more of the 2 cores go to the server - closer
to production, where clients are other machines. Every result records which client measured it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeakRSS:
    """Samples the RSS of a process (and its children) in a thread; ``peak`` in bytes."""

    def __init__(self, pid: int, every: float = 0.05):
        self.proc, self.every, self.peak = psutil.Process(pid), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def isear_texts(n: int = 2000) -> list[str]:
    from emotune.data.corpora.isear import load_isear

    texts = load_isear().texts
    return texts[:n]


async def closed_loop(url: str, texts: list[str], clients: int, max_requests: int, max_seconds: float,
                      headers: dict) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as client:
        async def worker(wid: int):
            nonlocal sent, errors
            while sent < max_requests and time.perf_counter() < deadline:
                i = sent
                sent += 1
                t0 = time.perf_counter()
                r = await client.post(url, json={"texts": [texts[i % len(texts)]]})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        return latencies, errors, time.perf_counter() - started


def wrk_script(texts: list[str]) -> str:
    """A wrk Lua script: POST one text per request, cycling through ``texts``; prints a JSON summary."""
    bodies = [json.dumps({"texts": [t]}) for t in texts]  # ASCII-only JSON: safe in a Lua long string
    assert not any("]==]" in b for b in bodies)
    table = ",\n".join(f"[==[{b}]==]" for b in bodies)
    return f"""bodies = {{
{table}
}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/classify", {{["Content-Type"] = "application/json"}}, bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_loop(url: str, texts: list[str], clients: int, max_seconds: float, workdir: Path) -> dict:
    """One closed-loop level with wrk: ``clients`` connections, one thread, ``max_seconds``."""
    script = workdir / "classify.lua"
    script.write_text(wrk_script(texts))
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(max_seconds))}s", "--timeout", "60s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    return {"requests": r["requests"] - r["errors"], "errors": r["errors"], "seconds": r["duration_us"] / 1e6,
            "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level (at most)")
    ap.add_argument("--seconds", type=float, default=60, help="time per concurrency level (at most)")
    ap.add_argument("--onnx", action="store_true")
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--runtime", choices=["onnx", "openvino"], default=None, help="serve the run's export in this runtime")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=0, help="the server's --max-wait-ms (its default: 0)")
    ap.add_argument("--threads", type=int, default=None, help="the server's --threads (default: its own choice)")
    ap.add_argument("--client", choices=["httpx", "wrk"], default="httpx",
                    help="load generator: httpx in this process, or wrk (C, needs `apt-get install wrk`)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: the wrk program is not installed (apt-get install wrk)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "emotune.cli.main", "serve", str(args.run), "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms), "--log-level", "warning",
           "--queue-size", "1024"]
    if args.onnx:
        cmd.append("--onnx")
    if args.runtime:
        cmd += ["--runtime", args.runtime]
    if args.int8:
        cmd.append("--int8")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    texts = isear_texts()
    load_before = os.getloadavg()
    print("starting:", " ".join(cmd), file=sys.stderr)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = []
    try:
        with PeakRSS(proc.pid) as rss:
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None:
                    print(proc.stderr.read().decode(), file=sys.stderr)
                    return 2
                try:
                    if httpx.get(base + "/readyz", timeout=120).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not become ready")
                time.sleep(0.2)
            idle_rss = rss.peak
            asyncio.run(closed_loop(base + "/v1/classify", texts, 4, 40, 30, {}))  # warm-up
            for clients in [int(c) for c in args.concurrency.split(",")]:
                before = httpx.get(base + "/v1/models").json()["models"][0]["batching"]
                cpu_before = sum(psutil.Process(proc.pid).cpu_times()[:2])
                if args.client == "wrk":
                    with tempfile.TemporaryDirectory() as tmp:
                        r = wrk_loop(base + "/v1/classify", texts[100:], clients, args.seconds, Path(tmp))
                else:
                    lat, errors, wall = asyncio.run(closed_loop(base + "/v1/classify", texts[100:], clients,
                                                                args.requests, args.seconds, {}))
                    lat_ms = np.array(lat) * 1000
                    r = {"requests": len(lat), "errors": errors, "seconds": wall,
                         "p50_ms": float(np.percentile(lat_ms, 50)), "p99_ms": float(np.percentile(lat_ms, 99))}
                after = httpx.get(base + "/v1/models").json()["models"][0]["batching"]
                cpu = sum(psutil.Process(proc.pid).cpu_times()[:2]) - cpu_before
                batches = after["batches"] - before["batches"]
                per_req = 1000 / max(1, after["requests"] - before["requests"])
                rows.append({"clients": clients, "client": args.client, "requests": r["requests"],
                             "errors": r["errors"], "seconds": round(r["seconds"], 2),
                             "req_per_s": round(r["requests"] / r["seconds"], 1),
                             "p50_ms": round(r["p50_ms"], 1), "p99_ms": round(r["p99_ms"], 1),
                             "mean_batch": round((after["texts"] - before["texts"]) / max(1, batches), 2),
                             # CPU the server spent per request: all of it, and the model's forward passes
                             "server_cpu_ms_per_request": round(cpu * per_req, 2),
                             "model_cpu_ms_per_request": round((after["cpu_seconds"] - before["cpu_seconds"]) * per_req, 2)})
                print(f"  {rows[-1]}", file=sys.stderr)
            peak = rss.peak
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    load_after = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from emotune.runs import Run

    runtime = {"onnx": "ONNX", "openvino": "OpenVINO"}.get(args.runtime or ("onnx" if args.onnx else ""))
    backend = f"{runtime} {'int8' if args.int8 else 'fp32'}" if runtime else Run.open(args.run).backend
    print(f"\n### `emotune serve` — {args.run} ({backend}), single-text requests\n")
    print(f"Machine: {platform.processor() or platform.machine()}, {cores} cores; Python {platform.python_version()}; "
          f"{date}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min). Server: --max-batch {args.max_batch} --max-wait-ms "
          f"{args.max_wait_ms}; load generator {args.client}; "
          + (f"{args.seconds:g} s per level. " if args.client == "wrk" else
             f"at most {args.requests} requests or {args.seconds:g} s per level. ") +
          f"Server RSS: {idle_rss / 2**20:.0f} MiB ready, {peak / 2**20:.0f} MiB peak.\n")
    print("| clients | requests | req/s | p50 ms | p99 ms | mean batch | errors | server CPU ms/req | model CPU ms/req |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['req_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['mean_batch']} | {r['errors']} | {r['server_cpu_ms_per_request']} | {r['model_cpu_ms_per_request']} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
            "run": str(args.run), "backend": backend, "client": args.client, "rows": rows,
            "rss_ready_bytes": idle_rss, "rss_peak_bytes": peak, "date": date,
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores,
                        "python": platform.python_version()},
            "load_average_before": load_before, "load_average_after": load_after}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
