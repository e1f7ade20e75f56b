"""Sentence embeddings: mean-pooled encoder outputs, for embeddings + head, EDA and similarity.

We pool by hand over ``AutoModel`` instead of depending on sentence-transformers: the pooling is
five lines, both packaged encoders (MiniLM, MPNet) were trained with mean pooling, and one less
heavy dependency keeps installs offline-friendly and fast.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from emotune.models.zoo import DEFAULT_ENCODER, resolve_model
from emotune.paths import cache_dir


@lru_cache(maxsize=2)
def _load(resolved: str, device: str):
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(resolved)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # our own bar is enough; "Loading weights" would interleave
    try:
        model = AutoModel.from_pretrained(resolved).to(device).eval()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    return tokenizer, model


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _as_text(texts: Sequence) -> list[str]:
    return [t if isinstance(t, str) else str(t) for t in texts]


def _cache_file(model: str, texts: Sequence[str], normalize: bool, max_length: int) -> Path:
    h = hashlib.sha256()
    h.update(f"{model}\0{normalize}\0{max_length}\0".encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[-60:]
    return cache_dir() / "embeddings" / f"{slug}-{h.hexdigest()[:24]}.npy"


def is_cached(texts: Sequence[str], model: str = DEFAULT_ENCODER, normalize: bool = True, *,
              max_length: int = 256) -> bool:
    """Whether ``encode(texts, ..., cache=True)`` would read its result from the on-disk cache (a run that
    does says so in its metrics: its fit time then lacks the encoder's pass)."""
    return _cache_file(resolve_model(model), _as_text(texts), normalize, max_length).is_file()


def encode(texts: Sequence[str], model: str = DEFAULT_ENCODER, batch_size: int = 64, progress: bool = True,
           normalize: bool = True, *, max_length: int = 256, cache: bool = False,
           device: str | None = None) -> np.ndarray:
    """Embed ``texts`` into a float32 ``(n, dim)`` array (L2-normalised unless ``normalize=False``).

    Texts are encoded in length-sorted batches (little padding: ~2x faster on CPU than input
    order) and returned in input order. With ``cache=True`` the result is kept under
    ``cache_dir()/embeddings`` keyed by the model and a sha256 of the texts.
    """
    import torch

    texts = _as_text(texts)
    resolved = resolve_model(model)
    path = _cache_file(resolved, texts, normalize, max_length) if cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)

    tokenizer, enc = _load(resolved, _device(device))
    dim = enc.config.hidden_size
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if texts:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("Embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      disable=not progress, transient=True) as bar, torch.inference_mode():
            task = bar.add_task("embed", total=len(texts))
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                                  return_tensors="pt").to(enc.device)
                hidden = enc(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
                bar.advance(task, len(idx))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out, allow_pickle=False)
        tmp.replace(path)
    return out
