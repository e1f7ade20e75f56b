"""How fast does the ``encoder`` backend fine-tune the packaged MiniLM on ISEAR here?

Trains on the ISEAR train split (the standard emotune split) without a dev set, so the number is
the training loop alone, then times inference on the dev split and scores it. Prints one JSON
object and writes it to ``--out``.

    python benchmarks/bench_train_minilm.py                       # 1 epoch over ISEAR train
    python benchmarks/bench_train_minilm.py --max-steps 60        # a quick sample of steps
    python benchmarks/bench_train_minilm.py --no-group-by-length  # the padding cost of random batches

Peak RSS is the process maximum (``getrusage``), model loading and tokenisation included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dataset", default="isear")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--max-train", type=int, default=None, help="fixed-seed sample of train")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-group-by-length", action="store_true")
    ap.add_argument("--out", default="bench_out/train_minilm.json")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from emotune.data.pipeline import prepare_data
    from emotune.metrics import compute_metrics
    from emotune.models.encoder import EncoderClassifier
    from emotune.config import DataConfig, EncoderModelConfig, TrainingConfig

    t0 = time.perf_counter()
    splits = prepare_data(DataConfig(dataset=args.dataset, max_train=args.max_train))
    train, dev = splits.train, splits.dev
    training = TrainingConfig(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                              max_length=args.max_length, learning_rate=args.learning_rate, threads=args.threads,
                              group_by_length=not args.no_group_by_length, logging_steps=10_000)
    clf = EncoderClassifier(splits.label_set, EncoderModelConfig(name=args.model), training)
    clf.build()
    load_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    history = clf.fit(train, None)
    train_s = time.perf_counter() - t1
    steps_per_epoch = -(-len(train) // args.batch_size)
    steps = args.max_steps if args.max_steps > 0 else int(np.ceil(steps_per_epoch * args.epochs))
    examples = min(steps * args.batch_size, int(np.ceil(len(train) * args.epochs)))

    t2 = time.perf_counter()
    scores = clf.predict_proba(dev.texts, batch_size=64)
    predict_s = time.perf_counter() - t2
    metrics = compute_metrics(splits.label_set, dev.y(), scores)

    result = {
        "model": args.model, "dataset": args.dataset, "train_rows": len(train), "dev_rows": len(dev),
        "epochs": args.epochs, "max_steps": args.max_steps, "steps": steps, "batch_size": args.batch_size,
        "max_length": args.max_length, "group_by_length": not args.no_group_by_length,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_s": round(load_s, 1),
        "train_s": round(train_s, 1), "train_examples_per_s": round(examples / train_s, 1),
        "train_s_per_step": round(train_s / max(steps, 1), 3), "predict_texts_per_s": round(len(dev) / predict_s, 1),
        "dev_accuracy": round(metrics["accuracy"], 4), "dev_f1_macro": round(metrics["f1_macro"], 4),
        "train_loss_last_epoch": history[-1].get("train_loss") if history else None,
        "peak_rss_mib": round(peak_rss_mib(), 1), "python": platform.python_version(), "torch": torch.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return result


if __name__ == "__main__":
    main()
