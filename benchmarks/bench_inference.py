"""Inference speed and quality of one fine-tuned encoder run on 2,000 ISEAR texts, five ways.

    taskset -c 0 .venv/bin/python benchmarks/bench_inference.py runs/isear-minilm [--n 2000] [--out bench_out/inference.json]

(a) the transformers ``text-classification`` pipeline, batch 32 (what a user would write first);
(b) emotune's torch path (``score_texts``: cleaning, windows, length-sorted batches);
(c) ONNX fp32 and (d) ONNX int8 through onnxruntime (exported first if ``RUN/onnx`` is missing);
(e) OpenVINO int8 (NNCF-calibrated; exported first if ``RUN/openvino`` is missing; skipped with a
note when openvino is not installed).

Throughput is measured on ``--n`` texts: the run's held-out dev+test texts first, topped up with
train texts. Macro-F1 is computed on the held-out texts only (the train texts were seen in
training). One timed pass per path after a short warm-up (``--repeat`` for more, the fastest
kept); prints a Markdown table plus the machine, date and load average. Besides wall time it
records the process CPU time of each pass: on a shared machine, texts per CPU-second say what a
path costs when wall time says mostly how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _machine import cpu_model  # benchmarks/ is the script's folder, so on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def machine() -> dict:
    import onnxruntime
    import torch
    import transformers

    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__, "openvino": _version("openvino"), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def texts_for(run: Path, n: int):
    from emotune.runs import load_splits

    splits = load_splits(run)
    held = [*splits.dev.texts, *splits.test.texts]
    y_held = np.concatenate([splits.dev.y(), splits.test.y()])
    fill = splits.train.texts[: max(0, n - len(held))]
    texts = (held + fill)[:n]
    return texts, y_held[: min(len(held), n)], splits.test.label_set


def timed(fn, texts, warmup: int = 32, repeat: int = 1):
    fn(texts[:warmup])
    best = None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        scores = fn(texts)
        took = (time.perf_counter() - started, time.process_time() - cpu)
        best = took if best is None or took[0] < best[0] else best
    return np.asarray(scores), *best


def pipeline_scores(model_dir: Path, label_names, batch_size: int, max_length: int):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir), top_k=None, device="cpu")
    index = {name: i for i, name in enumerate(label_names)}

    def run(texts):
        out = pipe(list(texts), batch_size=batch_size, truncation=True, max_length=max_length)
        scores = np.zeros((len(texts), len(label_names)))
        for i, row in enumerate(out):
            for item in row:
                scores[i, index[item["label"]]] = item["score"]
        return scores

    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pipeline-batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="timed passes per path (the fastest is kept)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)

    from sklearn.metrics import f1_score

    from emotune.export.onnx import export_onnx
    from emotune.inference.predict import score_texts
    from emotune.runs import Run
    from emotune.serving.registry import set_inference_threads

    run = Run.open(args.run)
    model_dir, meta = run.model_dir, run.meta
    if meta.get("backend") != "encoder":
        print(f"{args.run} is a {meta.get('backend')} run; this benchmark needs a fine-tuned encoder run",
              file=sys.stderr)
        return 2
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    texts, y_held, label_set = texts_for(args.run, args.n)
    n_held = len(y_held)
    clf = run.load()
    set_inference_threads()
    if not (args.run / "onnx" / "model.int8.onnx").is_file():
        print("exporting to ONNX (fp32 + int8) ...", file=sys.stderr)
        export_onnx(args.run, int8=True)

    def emotune_path(c):
        return lambda ts: np.stack([s.scores for s in score_texts(c, ts)])

    paths = [
        ("(a) transformers pipeline, batch 32",
         pipeline_scores(model_dir, label_set.names, args.pipeline_batch_size, clf.max_length)),
        ("(b) emotune torch", emotune_path(clf)),
        ("(c) emotune ONNX fp32", emotune_path(run.load(onnx=True))),
        ("(d) emotune ONNX int8", emotune_path(run.load(onnx=True, int8=True))),
    ]
    try:
        import openvino  # noqa: F401

        if not (args.run / "openvino" / "model.int8.xml").is_file():
            from emotune.export.openvino import export_openvino

            print("exporting to OpenVINO (int8, calibrated on train texts) ...", file=sys.stderr)
            export_openvino(args.run, int8=True)
        paths.append(("(e) emotune OpenVINO int8", emotune_path(run.load(runtime="openvino", int8=True))))
    except ImportError:
        print("openvino is not installed: no OpenVINO row", file=sys.stderr)
    results, reference = [], None
    for name, fn in paths:
        print(f"running {name} ...", file=sys.stderr)
        scores, seconds, cpu = timed(fn, texts, repeat=args.repeat)
        pred = scores.argmax(1)
        if reference is None:
            reference = pred
        row = {"path": name, "texts": len(texts), "seconds": round(seconds, 2),
               "texts_per_s": round(len(texts) / seconds, 1), "cpu_seconds": round(cpu, 2),
               "texts_per_cpu_s": round(len(texts) / cpu, 1),
               "f1_macro": round(float(f1_score(y_held, pred[:n_held], average="macro")), 4),
               "agreement_with_a": round(float((pred == reference).mean()), 4)}
        results.append(row)
        print(f"  {row['texts_per_s']} texts/s, macro-F1 {row['f1_macro']}", file=sys.stderr)

    info = machine()
    print(f"\n### Inference on {len(texts)} ISEAR texts — {args.run}\n")
    print(f"Machine: {info['cpu']}, {info['cores']} cores (torch threads {info['torch_threads']}); "
          f"Python {info['python']}, torch {info['torch']}, transformers {info['transformers']}, "
          f"onnxruntime {info['onnxruntime']}; {info['date']}; load average {info['load_average']}.\n")
    print(f"Macro-F1 on the {n_held} held-out (dev+test) texts; speed over all {len(texts)}; {args.repeat} timed pass(es) each, the fastest kept.\n")
    base, base_cpu = results[0]["texts_per_s"], results[0]["texts_per_cpu_s"]
    for r in results:
        r["x_pipeline"] = round(r["texts_per_s"] / base, 2)
        r["x_pipeline_cpu"] = round(r["texts_per_cpu_s"] / base_cpu, 2)
    print("| path | texts/s | x pipeline | texts/CPU-s | x pipeline (CPU) | macro-F1 | same label as (a) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['path']} | {r['texts_per_s']} | {r['x_pipeline']} | {r['texts_per_cpu_s']} | {r['x_pipeline_cpu']} "
              f"| {r['f1_macro']:.4f} | {r['agreement_with_a']:.1%} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        info["load_average_before"], info["load_average_after"] = load_before, info.pop("load_average")
        args.out.write_text(json.dumps({"command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
                                        "run": str(args.run), "machine": info, "held_out": n_held,
                                        "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
