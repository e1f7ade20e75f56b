"""Soak test of `emotune serve`: many clients for a long time; latency, errors and server RSS over time.

    .venv/bin/python benchmarks/bench_soak.py runs/isear-minilm --onnx --int8 [--clients 32] [--seconds 600]
        [--interval 10] [--out-json benchmarks/results/soak.json] [--out-png benchmarks/results/soak.png]

Starts ``emotune serve RUN`` (``--onnx --int8`` passed through) on 127.0.0.1 with a free port,
waits for /readyz, warms up as bench_server.py does, then runs ``--clients`` closed-loop clients
(asyncio tasks sharing one httpx client), each sending single-text ``POST /v1/classify`` requests
with ISEAR texts until ``--seconds`` have passed; requests in flight at the deadline finish (within
``--timeout``), then the server is stopped.

Every ``--interval`` seconds: 2xx responses ("requests"), errors by kind (``HTTP 503``, or the
exception's class name, e.g. ``ReadTimeout``), p50/p99 latency of the 2xx responses completed in
that interval, and the server's RSS (psutil, the process and its children, sampled every second;
the peak is sampled every 50 ms by bench_server.PeakRSS). At the end: overall p50/p99, requests/s
and errors; RSS after warm-up, peak and at the end; RSS growth from the first to the last quarter
of the soak and a least-squares slope in MiB/min, with the verdict "no growth" when the slope is
under ``--growth-threshold``. Writes a JSON (command, machine, date, git commit, per-interval
series, summary), a PNG (latency and RSS over time) and prints Markdown tables.

The load generator runs on the same machine as the server and competes with it for the CPU, as in
bench_server.py: on 2 cores, throughput and latency are those of the pair.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import PeakRSS, closed_loop, free_port, isear_texts  # noqa: E402

from _machine import cpu_model  # benchmarks/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20

# Default --growth-threshold, in MiB/min. Over a 10-minute soak it allows 10 MiB, about 2% of the
# ~466 MiB an ONNX int8 MiniLM server holds (BENCHMARKS.md). At the ~85 req/s that server does with
# 32 clients on 2 cores it is ~200 bytes per request, so a leak that keeps anything per request (the
# text, its scores, a log record: a few hundred bytes at least) goes over it. A one-off step of h MiB
# in the middle of a run of T minutes (an allocator arena, onnxruntime's memory pool growing once)
# moves the least-squares slope by 1.5*h/T: a 6 MiB step in 10 minutes gives 0.9, still under it.
GROWTH_THRESHOLD = 1.0


def tree_rss(proc: psutil.Process) -> int | None:
    # bench_server.PeakRSS keeps only the running maximum (in a private loop); the soak needs each
    # sample, so the same sum over the process and its children is taken here
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:  # a dead server reads as 0 bytes until it is reaped
            return None
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return None


def server_command(args, port: int) -> list[str]:
    cmd = [sys.executable, "-m", "emotune", "serve", str(args.run), "--host", "127.0.0.1", "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
           "--queue-size", str(args.queue_size), "--log-level", "warning"]
    cmd += ["--onnx"] * args.onnx + ["--int8"] * args.int8
    return cmd + (["--threads", str(args.threads)] if args.threads else [])


def log_tail(log, lines: int = 20) -> str:
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def wait_ready(proc: subprocess.Popen, base: str, log, limit_s: float = 300) -> None:
    # bench_server.py does this inline in its main(), so it cannot be imported
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}:\n{log_tail(log)}")
        try:
            if httpx.get(base + "/readyz", timeout=120).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready after {limit_s:g} s:\n{log_tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # uvicorn waits for open connections: not for ever
        proc.kill()
        proc.wait()


def percentile(ms: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(ms, q)), 1) if ms.size else None


def window_stats(records: list[tuple], seconds: float) -> dict:
    """records: (seconds since the start, latency s, error kind or None) of the requests completed."""
    ms = np.array([lat for _, lat, kind in records if kind is None]) * 1000
    kinds = Counter(kind for _, _, kind in records if kind is not None)
    return {"requests": int(ms.size), "errors": sum(kinds.values()), "errors_by_kind": dict(sorted(kinds.items())),
            "req_per_s": round(ms.size / seconds, 1) if seconds > 0 else None,
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99)}


async def soak(url: str, texts: list[str], args, server: psutil.Process, alive) -> dict:
    """Runs the clients until the deadline; returns the intervals, the RSS samples and the records."""
    records: list[tuple] = []
    samples: list[tuple[float, int]] = []  # (seconds since the start, RSS bytes)
    intervals: list[dict] = []
    bounds: list[tuple[int, int]] = []  # each interval's slice of records, for the over-time table
    n_intervals = max(1, math.ceil(args.seconds / args.interval))
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    state = {"sent": 0, "stopped": None}

    def sample():
        rss = tree_rss(server)
        if rss is not None:
            samples.append((time.perf_counter() - t0, rss))

    def close_interval():
        start = intervals[-1]["t_end_s"] if intervals else 0.0
        lo = bounds[-1][1] if bounds else 0
        recs, now = records[lo:], round(time.perf_counter() - t0, 2)
        window = [rss for t, rss in samples if t >= start]
        row = {"index": len(intervals), "t_start_s": round(start, 2), "t_end_s": round(now, 2),
               **window_stats(recs, now - start),
               "rss_mib": round(samples[-1][1] / MiB, 1) if samples else None,
               "rss_max_mib": round(max(window) / MiB, 1) if window else None}
        intervals.append(row)
        bounds.append((lo, lo + len(recs)))
        errs = ", ".join(f"{k} {v}" for k, v in row["errors_by_kind"].items()) or "0"
        print(f"  {now:7.1f} s  {row['requests']:6d} ok  {row['req_per_s']:7.1f} req/s  p50 {row['p50_ms']} ms  "
              f"p99 {row['p99_ms']} ms  errors {errs}  RSS {row['rss_mib']} MiB", file=sys.stderr, flush=True)

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:
        async def worker():
            while time.perf_counter() < deadline and not state["stopped"]:
                text = texts[state["sent"] % len(texts)]
                state["sent"] += 1
                started = time.perf_counter()
                try:
                    r = await client.post(url, json={"texts": [text]})
                    kind = None if r.is_success else f"HTTP {r.status_code}"
                except Exception as exc:  # timeouts, refused or dropped connections: counted, not fatal
                    kind = type(exc).__name__
                done = time.perf_counter()
                records.append((done - t0, done - started, kind))
                if kind is not None and not kind.startswith("HTTP"):
                    await asyncio.sleep(0.05)  # a dead server must not turn the loop into a busy spin

        async def monitor():
            every = min(1.0, args.interval / 2)
            while True:
                await asyncio.sleep(every)
                sample()
                if not alive():
                    state["stopped"] = "the server exited during the soak"
                # the last interval is closed after the deadline, with the requests still in flight then
                elif (len(intervals) < n_intervals - 1
                      and time.perf_counter() - t0 >= (len(intervals) + 1) * args.interval):
                    close_interval()

        sample()  # RSS at the start, after the warm-up
        watcher = asyncio.create_task(monitor())
        await asyncio.gather(*(worker() for _ in range(args.clients)))
        wall = time.perf_counter() - t0
        watcher.cancel()
        sample()
        close_interval()
    return {"intervals": intervals, "bounds": bounds, "samples": samples, "records": records, "wall": wall,
            "stopped": state["stopped"]}


def rss_growth(samples: list[tuple[float, int]], req_per_s: float, threshold: float) -> dict:
    t = np.array([s[0] for s in samples])
    mib = np.array([s[1] for s in samples]) / MiB
    span = float(t[-1] - t[0]) if t.size else 0.0
    if t.size < 4 or span <= 0:
        return {"verdict": "not enough RSS samples"}
    first, last = mib[t <= t[0] + span / 4], mib[t >= t[-1] - span / 4]
    slope, intercept = (float(v) for v in np.polyfit(t / 60, mib, 1))
    late = t >= t[0] + span / 2
    slope_late = float(np.polyfit(t[late] / 60, mib[late], 1)[0]) if late.sum() >= 3 else None
    verdict = "no growth" if slope < threshold else "growth"
    if span < 120:
        verdict += f" (a {span:.0f} s soak: indicative only)"
    return {"rss_q1_mean_mib": round(float(first.mean()), 1), "rss_q4_mean_mib": round(float(last.mean()), 1),
            "growth_q1_q4_mib": round(float(last.mean() - first.mean()), 1),
            "growth_q1_q4_pct": round(float(100 * (last.mean() / first.mean() - 1)), 2),
            "slope_mib_per_min": round(slope, 3), "fit_intercept_mib": round(intercept, 2),
            "slope_second_half_mib_per_min": round(slope_late, 3) if slope_late is not None else None,
            "slope_bytes_per_request": round(slope * MiB / (req_per_s * 60)) if req_per_s else None,
            "growth_threshold_mib_per_min": threshold, "verdict": verdict}


def machine() -> dict:
    # bench_inference.machine() imports torch, transformers and onnxruntime for their versions: too
    # heavy for the load generator's process, which only needs the CPU and the platform
    cpu = cpu_model()
    return {"cpu": cpu, "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cores_total": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_average_start": list(os.getloadavg())}


def git_commit() -> dict:
    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": dirty}


def plot(path: Path, doc: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, s = doc["intervals"], doc["summary"]
    x = [(r["t_start_s"] + r["t_end_s"]) / 120 for r in rows]  # interval midpoints, in minutes
    fig, (lat, mem) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5), constrained_layout=True)
    lat.plot(x, [r["p50_ms"] for r in rows], "o-", ms=3, label="p50")
    lat.plot(x, [r["p99_ms"] for r in rows], "s-", ms=3, label="p99")
    bad = [(xi, r["p99_ms"] or 0) for xi, r in zip(x, rows) if r["errors"]]
    if bad:
        lat.plot(*zip(*bad), "rx", ms=8, label="interval with errors")
    lat.set_ylabel(f"latency per {doc['settings']['interval']:g} s interval (ms)")
    lat.set_ylim(bottom=0)
    lat.grid(alpha=0.3)
    lat.legend(loc="upper right")
    lat.set_title(f"{doc['backend']}, {s['clients']} clients: {s['req_per_s']} req/s, p50 {s['p50_ms']} ms, "
                  f"p99 {s['p99_ms']} ms, {s['errors']} errors", fontsize=10)
    t = np.array([p[0] for p in doc["rss_samples"]]) / 60
    mib = np.array([p[1] for p in doc["rss_samples"]])
    mem.plot(t, mib, "-", lw=1, label="server RSS (1 s samples)")
    if "slope_mib_per_min" in s:
        b, a = s["slope_mib_per_min"], s["fit_intercept_mib"]
        mem.plot(t, a + b * t, "--", color="k", lw=1, label=f"least-squares fit: {b:+.2f} MiB/min")
    mem.axhline(s["rss_peak_mib"], color="grey", lw=0.8, ls=":", label=f"peak {s['rss_peak_mib']} MiB")
    lo, hi = float(mib.min()), max(float(mib.max()), s["rss_peak_mib"])
    mem.set_ylim(lo - max(5, 0.1 * (hi - lo)), hi + max(5, 0.1 * (hi - lo)))
    mem.set_ylabel("server RSS (MiB)")
    mem.set_xlabel("minutes since the start of the soak")
    mem.grid(alpha=0.3)
    mem.legend(loc="lower right")
    mem.set_title(f"RSS {s['rss_start_mib']} MiB after warm-up, {s['rss_end_mib']} MiB at the end: "
                  f"{s.get('verdict', '')}", fontsize=10)
    fig.suptitle(f"emotune serve soak: {doc['run']} ({doc['date_utc']})", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def duration(seconds: float, *, minutes: bool) -> str:
    return f"{seconds / 60:.1f} min" if minutes else f"{seconds:.0f} s"


def signed(x) -> str:
    return "?" if x is None else f"{x:+}"


def markdown(doc: dict, result: dict) -> str:
    s, m, cfg = doc["summary"], doc["machine"], doc["settings"]
    minutes = s["seconds"] >= 120  # else the tables count seconds
    took = duration(s["seconds"], minutes=minutes)
    out = [f"### `emotune serve` soak: {doc['run']} ({doc['backend']}), {s['clients']} clients, "
           f"{took}\n",
           f"Command: `{doc['command']}`. Machine: {m['cpu']}, {m['cores_usable']} usable cores of "
           f"{m['cores_total']}; Python {m['python']}; {doc['date_utc']}; commit {(doc['git']['commit'] or '?')[:10]}"
           f"{' (dirty)' if doc['git']['dirty'] else ''}; load average {m['load_average_start']} at the start. "
           f"Server: --max-batch {cfg['max_batch']} --max-wait-ms {cfg['max_wait_ms']}; mean batch "
           f"{s['mean_batch']}. Latencies: 2xx responses only.\n",
           "| clients | duration | requests | req/s | p50 ms | p99 ms | errors | RSS start / peak / end MiB "
           "| RSS Q1→Q4 MiB | slope MiB/min | verdict |",
           "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
           f"| {s['clients']} | {took} | {s['requests']:,} | {s['req_per_s']} | {s['p50_ms']} | "
           f"{s['p99_ms']} | {s['errors']} | {s['rss_start_mib']} / {s['rss_peak_mib']} / {s['rss_end_mib']} | "
           f"{signed(s.get('growth_q1_q4_mib'))} | {signed(s.get('slope_mib_per_min'))} | {s['verdict']} |"]
    if s["errors_by_kind"]:
        out.append("\nErrors by kind: " + ", ".join(f"{k}: {v}" for k, v in s["errors_by_kind"].items()) + ".")
    # over time, at most 10 rows: groups of consecutive intervals
    rows, bounds = result["intervals"], result["bounds"]
    k = max(1, math.ceil(len(rows) / 10))
    out += ["\n| from–to | requests | req/s | p50 ms | p99 ms | errors | RSS at end MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for i in range(0, len(rows), k):
        group = rows[i:i + k]
        start, end = group[0]["t_start_s"], group[-1]["t_end_s"]
        g = window_stats(result["records"][bounds[i][0]:bounds[i + len(group) - 1][1]], end - start)
        when = f"{start / 60:.1f}–{end / 60:.1f} min" if minutes else f"{start:.0f}–{end:.0f} s"
        out.append(f"| {when} | {g['requests']:,} | {g['req_per_s']} | {g['p50_ms']} | {g['p99_ms']} | "
                   f"{g['errors']} | {group[-1]['rss_mib']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--onnx", action="store_true", help="passed to `emotune serve`")
    ap.add_argument("--int8", action="store_true", help="passed to `emotune serve` (with --onnx)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=600, help="length of the soak, after the warm-up")
    ap.add_argument("--interval", type=float, default=10, help="seconds per reported interval")
    ap.add_argument("--timeout", type=float, default=30, help="client timeout per request (s); a timeout is an error")
    ap.add_argument("--growth-threshold", type=float, default=GROWTH_THRESHOLD,
                    help="RSS slope (MiB/min) under which the verdict is 'no growth' (see GROWTH_THRESHOLD)")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=0, help="the server's --max-wait-ms (its default: 0)")
    ap.add_argument("--queue-size", type=int, default=1024, help="the server's --queue-size (503 above)")
    ap.add_argument("--threads", type=int, default=None, help="the server's --threads (default: its own choice)")
    ap.add_argument("--out-json", type=Path, default=Path("benchmarks/results/soak.json"))
    ap.add_argument("--out-png", type=Path, default=Path("benchmarks/results/soak.png"))
    args = ap.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.interval <= 0:
        ap.error("--clients, --seconds and --interval must be positive")

    command = shlex.join(["python", "benchmarks/bench_soak.py", *(sys.argv[1:] if argv is None else argv)])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = server_command(args, port)
    texts = isear_texts()
    print("starting:", shlex.join(cmd), file=sys.stderr)
    # stderr to a file, not a pipe: nobody reads a pipe during the soak and a full one would block the server
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        with PeakRSS(proc.pid) as peak:
            wait_ready(proc, base, log)
            asyncio.run(closed_loop(base + "/v1/classify", texts, 4, 40, 30, {}))  # warm-up
            info = httpx.get(base + "/v1/models").json()["models"][0]
            mach, date = machine(), datetime.now(timezone.utc)
            log_at_start = os.fstat(log.fileno()).st_size  # not log.tell(): the server shares the offset
            print(f"soak: {args.clients} clients for {args.seconds:g} s against {info['id']} ({info['backend']})",
                  file=sys.stderr)
            result = asyncio.run(soak(base + "/v1/classify", texts[100:], args, psutil.Process(proc.pid),
                                      lambda: proc.poll() is None))
            after = httpx.get(base + "/v1/models").json()["models"][0] if proc.poll() is None else None
    finally:
        stop(proc)
    log.seek(log_at_start)
    server_log = log.read().decode(errors="replace").strip()  # what the server wrote during the soak
    if result["stopped"]:
        print(f"{result['stopped']}:\n{log_tail(log)}", file=sys.stderr)

    before, done = info["batching"], (after or info)["batching"]
    backend = ("ONNX int8" if args.int8 else "ONNX fp32") if args.onnx else info["backend"]
    overall = window_stats(result["records"], result["wall"])
    samples = result["samples"]
    summary = {"clients": args.clients, "seconds": round(result["wall"], 1), **overall,
               "mean_batch": round((done["texts"] - before["texts"]) / max(1, done["batches"] - before["batches"]), 2)
               if after else None,
               "server_rejected": done.get("rejected", 0) - before.get("rejected", 0),
               "rss_start_mib": round(samples[0][1] / MiB, 1), "rss_end_mib": round(samples[-1][1] / MiB, 1),
               "rss_peak_mib": round(peak.peak / MiB, 1),
               **rss_growth(samples, overall["req_per_s"], args.growth_threshold),
               "server_stderr_lines": len(server_log.splitlines()) if server_log else 0,
               "stopped_early": result["stopped"]}
    if result["stopped"]:
        summary["verdict"] = f"not judged: {result['stopped']}"
    doc = {"benchmark": "soak", "command": command, "server_command": shlex.join(cmd), "run": str(args.run),
           "backend": backend,
           "model": {k: info.get(k) for k in ("id", "backend", "base_backend", "model_name", "onnx_file")},
           "settings": {k: getattr(args, k) for k in ("clients", "seconds", "interval", "timeout", "growth_threshold",
                                                       "max_batch", "max_wait_ms", "queue_size", "threads")},
           "machine": {**mach, "load_average_end": list(os.getloadavg())},
           "date_utc": date.strftime("%Y-%m-%d %H:%M:%S UTC"),
           "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
           "git": git_commit(), "intervals": result["intervals"],
           "rss_samples": [[round(t, 2), round(rss / MiB, 1)] for t, rss in samples], "summary": summary}
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(doc, indent=1) + "\n")
    plot(args.out_png, doc)
    if server_log:
        print("server stderr during the soak (last lines):\n" + "\n".join(server_log.splitlines()[-5:]),
              file=sys.stderr)
    print(markdown(doc, result))
    print(f"\nwrote {args.out_json} and {args.out_png}", file=sys.stderr)
    return 2 if result["stopped"] else 0


if __name__ == "__main__":
    sys.exit(main())
