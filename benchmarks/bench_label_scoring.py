"""Label scoring with and without the shared key/value cache (zero-shot SemEval-2018 E-c, SmolLM2).

    .venv/bin/python benchmarks/bench_label_scoring.py [--n 64] [--threads 2]

The prompting and instruct backends choose labels by label likelihood: ``log P(label | prompt)`` for
every label. ``causal_logliks`` runs each prompt once and scores every label against its key/value
cache; ``share_prefix=False`` (what the code fell back to, silently, while transformers 5's renamed
cache argument went unrecognised) runs every (prompt, label) pair as a full sequence. Same scores
(max |difference| printed), different cost. Uses the first ``--n`` SemEval E-c dev tweets and its
11 labels in the zero-shot prompt of ``configs/isear-smollm2-prompt.yaml``; prints a Markdown row.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="tweets to score")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    import torch

    from emotune.data.registry import load_dataset
    from emotune.models import label_scoring as ls
    from emotune.models.prompt import PromptClassifier
    from emotune.config import RunConfig

    torch.set_num_threads(args.threads)
    cfg = RunConfig.load(ROOT / "configs" / "isear-smollm2-prompt.yaml", ["data.dataset=semeval-ec"])
    dev = load_dataset("semeval-ec").split("dev")
    clf = PromptClassifier(dev.label_set, cfg.model, cfg.training)
    clf.load_model()
    texts = list(dev.texts)[: args.n]
    prompts = [clf._encode(clf.prompt_text(t)) for t in texts]
    answers = clf.answer_ids
    ls.causal_logliks(clf.model, prompts[:2], answers)  # warm-up
    timings, results = {}, {}
    for name, share in (("shared cache", True), ("full sequences", False)):
        t0 = time.perf_counter()
        results[name] = ls.causal_logliks(clf.model, prompts, answers, batch_size=cfg.training.eval_batch_size,
                                          share_prefix=share)
        timings[name] = time.perf_counter() - t0
    diff = float(np.max(np.abs(results["shared cache"] - results["full sequences"])))
    mean_len = np.mean([len(p) for p in prompts])
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.platform()}, {os.cpu_count()} CPUs, "
          f"torch threads {args.threads}; {len(texts)} tweets x {len(answers)} labels, mean prompt {mean_len:.0f} tokens")
    print("| path | seconds | texts/s |\n|---|---:|---:|")
    for name, sec in timings.items():
        print(f"| {name} | {sec:.1f} | {len(texts) / sec:.1f} |")
    print(f"speed-up {timings['full sequences'] / timings['shared cache']:.1f}x; max |score difference| {diff:.1e}")


if __name__ == "__main__":
    main()
