"""Log-likelihood of every candidate label, for constrained prediction with generative models.

A generative classifier (a fine-tuned Flan-T5, a prompted instruction LLM) is never asked to
*generate* free text that is then parsed. Instead each label's token sequence is scored as the
answer, ``log P(label tokens | prompt)``, and the label set is the whole output space: the
prediction is always a valid label and the scores give calibrated-looking probabilities after a
softmax over labels. This is the "rank classification" used by T0/FLAN evaluation and by the
``lm-evaluation-harness`` multiple-choice tasks.

Two model families:

* **encoder-decoder** (:func:`seq2seq_logliks`): the prompts are encoded once per batch, the
  encoder states are repeated for each label, and one decoder forward with the labels as
  targets scores all (prompt, label) pairs.
* **decoder-only** (:func:`causal_logliks`): the prompt is run once and its key/value cache is
  reused for every label (the label continuations are a few tokens; the prompt can be hundreds):
  all labels' tokens follow the prompt side by side in one row, each masked to see only the
  prompt and itself. A prefix shared by *all* prompts (system prompt, few-shot examples,
  instruction) is computed once for the whole call.

:func:`checklist_scores` reads a chain of yes/no answers after each prompt (an E-c checklist:
every emotion's answer after the answers before it), one short cached forward per answer, and
returns each answer's probability.

Every other function returns an ``(n_prompts, n_labels)`` float64 matrix of summed token
log-probabilities; :func:`reduce_scores` turns sums into per-token means.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

#: upper bound on the logits one forward materialises (rows x positions x vocabulary), in floats
LOGIT_BUDGET = 48_000_000
#: upper bound on cached key/value positions in one batch (rows x sequence length)
CACHE_TOKEN_BUDGET = 16_384


def _device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        return torch.device("cpu")


def is_encoder_decoder(model) -> bool:
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def reduce_scores(sums: np.ndarray, n_tokens: Sequence[int] | np.ndarray, mode: str = "sum") -> np.ndarray:
    """``sum`` (the label sequence's log-probability) or ``mean`` (per token, length-normalised)."""
    if mode == "sum":
        return np.asarray(sums, dtype=np.float64)
    if mode == "mean":
        return np.asarray(sums, dtype=np.float64) / np.maximum(np.asarray(n_tokens, dtype=np.float64), 1.0)
    raise ValueError(f"reduce must be 'sum' or 'mean', not {mode!r}")


def check_distinct(label_ids: Sequence[Sequence[int]], labels: Sequence[str]) -> None:
    """Two labels with the same token sequence could never be told apart."""
    seen: dict[tuple[int, ...], str] = {}
    for lab, ids in zip(labels, label_ids):
        key = tuple(ids)
        if not key:
            raise ValueError(f"label {lab!r} tokenizes to nothing")
        if key in seen:
            raise ValueError(f"labels {seen[key]!r} and {lab!r} have the same tokens {list(key)}")
        seen[key] = lab


# -- encoder-decoder --------------------------------------------------------------------------
def seq2seq_label_ids(tokenizer, labels: Sequence[str], max_target_length: int | None = None) -> list[list[int]]:
    """Decoder targets as in training: the label text plus the tokenizer's end-of-sequence token."""
    kw = dict(truncation=True, max_length=max_target_length) if max_target_length else {}
    ids = tokenizer(text_target=list(labels), **kw)["input_ids"]
    return [list(x) for x in ids]


@torch.inference_mode()
def seq2seq_logliks(model, tokenizer, prompts: Sequence[str], label_ids: Sequence[Sequence[int]], *,
                    batch_size: int = 32, max_length: int = 128) -> np.ndarray:
    """``log P(label_j | prompt_i)`` for an encoder-decoder, summed over the label's tokens.

    ``label_ids`` are full decoder targets (usually ending in ``</s>``, see :func:`seq2seq_label_ids`);
    the decoder inputs are derived from them the way the model does in training (shift right).
    """
    n, k = len(prompts), len(label_ids)
    out = np.zeros((n, k), dtype=np.float64)
    if n == 0 or k == 0:
        return out
    was_training = model.training
    model.eval()
    device = _device(model)
    t_max = max(len(x) for x in label_ids)
    targets = torch.full((k, t_max), -100, dtype=torch.long)
    for j, ids in enumerate(label_ids):
        targets[j, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    # one forward covers rows x labels decoder sequences: keep its logits under the budget
    rows = max(1, min(batch_size, LOGIT_BUDGET // max(1, k * t_max * vocab)))
    enc = tokenizer(list(prompts), truncation=True, max_length=max_length)
    order = sorted(range(n), key=lambda i: len(enc["input_ids"][i]))
    encoder = model.get_encoder()
    for start in range(0, n, rows):
        idx = order[start:start + rows]
        batch = tokenizer.pad([{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]}
                               for i in idx], return_tensors="pt")
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        b = len(idx)
        hidden = hidden.repeat_interleave(k, dim=0)
        mask = mask.repeat_interleave(k, dim=0)
        labels = targets.repeat(b, 1).to(device)  # row r = (prompt r // k, label r % k)
        logits = model(encoder_outputs=(hidden,), attention_mask=mask, labels=labels).logits.float()
        tok_lp = -torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100,
                                                   reduction="none")
        sums = tok_lp.sum(dim=1).view(b, k).double().cpu().numpy()
        out[idx] = sums
    if was_training:
        model.train()
    return out


# -- decoder-only -----------------------------------------------------------------------------
def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs):
            return i
    return n


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _cache_arg(model) -> str | None:
    """The name ``forward()`` takes a key/value cache under: ``cache`` (transformers >= 5.2x), the older
    ``past_key_values``, or None when it takes neither (then every pair is scored as a full sequence)."""
    for name in ("cache", "past_key_values"):
        if _accepts(model, name):
            return name
    return None


def _cache_of(output):
    """The key/value cache a forward pass returned, under either of its names."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def sliding_window(model) -> int | None:
    """The attention window of a model with sliding-window layers (Mistral v0.1, Gemma 2/3), else None."""
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    window = getattr(cfg, "sliding_window", None)
    if not isinstance(window, int) or window <= 0 or getattr(cfg, "use_sliding_window", True) is False:
        return None
    layer_types = getattr(cfg, "layer_types", None)
    if layer_types and not any("sliding" in str(t) for t in layer_types):
        return None
    return window


def _pad_id(model) -> int:
    cfg = getattr(model, "config", None)
    for attr in ("pad_token_id", "eos_token_id", "bos_token_id"):
        v = getattr(cfg, attr, None)
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None:
            return int(v)
    return 0


@torch.inference_mode()
def causal_logliks(model, prompt_ids: Sequence[Sequence[int]], label_ids: Sequence[Sequence[int]], *,
                   batch_size: int = 8, share_prefix: bool = True) -> np.ndarray:
    """``log P(label_j | prompt_i)`` for a decoder-only model, summed over the label's tokens.

    ``prompt_ids`` are complete token sequences (special tokens included) and ``label_ids`` the
    continuation tokens to score after every prompt (for a chat model: the answer and the
    end-of-turn token). Prompts run left-padded behind the shared prefix, with explicit
    position ids and attention masks, so padding never changes a score; the label tokens then
    run against each prompt's key/value cache. ``share_prefix=False`` (or a model whose cache
    cannot be copied) scores every (prompt, label) pair as one plain sequence instead.
    """
    n, k = len(prompt_ids), len(label_ids)
    out = np.zeros((n, k), dtype=np.float64)
    if n == 0 or k == 0:
        return out
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt needs at least one token (e.g. BOS)")
    if any(len(x) == 0 for x in label_ids):
        raise ValueError("every label needs at least one token")
    was_training = model.training
    model.eval()
    try:
        window = sliding_window(model)
        longest = max(len(p) for p in prompt_ids) + max(len(x) for x in label_ids)
        # Sliding-window layers mask by cache index, not position id: padding between the shared
        # prefix and a prompt would shift their window, so long prompts take the plain path.
        if window is not None and longest > window:
            share_prefix = False
        if share_prefix and _cache_arg(model) is not None:
            try:
                return _causal_cached(model, prompt_ids, label_ids, batch_size=batch_size)
            except (NotImplementedError, AttributeError, TypeError) as exc:  # exotic cache classes
                log.info("key/value cache reuse failed (%s); scoring full sequences", exc)
        return _causal_full(model, prompt_ids, label_ids, batch_size=batch_size)
    finally:
        if was_training:
            model.train()


@torch.inference_mode()
def _causal_cached(model, prompt_ids, label_ids, *, batch_size: int) -> np.ndarray:
    n, k = len(prompt_ids), len(label_ids)
    device = _device(model)
    pad = _pad_id(model)
    keep_last = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    cache_arg = _cache_arg(model)
    out = np.zeros((n, k), dtype=np.float64)
    first_tok = torch.tensor([ids[0] for ids in label_ids], device=device)
    multi = [j for j in range(k) if len(label_ids[j]) > 1]

    # Prefix shared by every prompt, computed once; each prompt keeps at least its last token,
    # whose logits score the first label token.
    c = common_prefix_length(prompt_ids) if n > 1 else 0
    c = min(c, min(len(p) for p in prompt_ids) - 1)
    prefix_cache = None
    if c > 0:
        prefix = torch.tensor([list(prompt_ids[0][:c])], device=device)
        prefix_cache = _cache_of(model(input_ids=prefix, use_cache=True, **keep_last))

    tree = _custom_masks_ok(model)
    t_tree = sum(len(label_ids[j]) - 1 for j in multi)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    order = sorted(range(n), key=lambda i: -len(prompt_ids[i]))
    start = 0
    while start < n:
        longest = len(prompt_ids[order[start]])
        if tree:  # the cache once per prompt, the label tokens side by side
            per_row = longest + t_tree
            b = max(1, min(batch_size, CACHE_TOKEN_BUDGET // per_row, LOGIT_BUDGET // max(1, t_tree * vocab)))
        else:  # the cache copied once per multi-token label
            per_row = longest * (len(multi) + 1)
            b = max(1, min(batch_size, CACHE_TOKEN_BUDGET // per_row))
        idx = order[start:start + b]
        start += len(idx)
        b = len(idx)
        lens = [len(prompt_ids[i]) - c for i in idx]
        s = max(lens)
        ids = torch.full((b, s), pad, dtype=torch.long)
        mask = torch.zeros((b, c + s), dtype=torch.long)
        pos = torch.zeros((b, s), dtype=torch.long)
        mask[:, :c] = 1
        for r, i in enumerate(idx):
            m = lens[r]
            ids[r, s - m:] = torch.tensor(list(prompt_ids[i][c:]), dtype=torch.long)
            mask[r, c + s - m:] = 1
            pos[r, s - m:] = torch.arange(c, c + m)
        ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(b)
        res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **{cache_arg: cache},
                    **keep_last)
        last = torch.log_softmax(res.logits[:, -1, :].float(), dim=-1)  # left padding: last = real last token
        scores = last[:, first_tok].double()  # (b, k)
        if multi:
            ends = [c + m for m in lens]
            cont = _continuations_tree if tree else _continuations
            scores = scores + cont(model, _cache_of(res), mask, ends, label_ids, multi, device, pad)
        out[idx] = scores.cpu().numpy()
    return out


def _custom_masks_ok(model) -> bool:
    """Whether the attention takes an arbitrary additive 4D mask (SDPA and eager do; flash/flex do not)."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return impl in ("sdpa", "eager")


def _continuations_tree(model, cache, mask, ends, label_ids, multi, device, pad) -> torch.Tensor:
    """Log-probs of label tokens 2..L given the prompts' cache; (b, k) with zeros for 1-token labels.

    All labels' tokens run in *one* row per prompt, side by side after the prompt, under a 4D
    mask in which each label sees the prompt and its own earlier tokens only (a "token tree", as in
    speculative decoding). The prompt's cache is thus never copied once per label: with a long
    few-shot prompt those copies, not the label tokens, would dominate the cost.
    """
    b, k = mask.shape[0], len(label_ids)
    kv_prev = mask.shape[1]
    segments = []  # (label, start, length)
    tokens, targets, offsets = [], [], []
    for j in multi:
        lab = list(label_ids[j])
        segments.append((j, len(tokens), len(lab) - 1))
        tokens += lab[:-1]
        targets += lab[1:]
        offsets += list(range(len(lab) - 1))
    t = len(tokens)
    own = torch.zeros((t, t), dtype=torch.bool)
    for _, start, length in segments:
        own[start:start + length, start:start + length] = torch.ones((length, length), dtype=torch.bool).tril()
    allowed = torch.cat([mask.bool().cpu()[:, None, :].expand(b, t, kv_prev), own.expand(b, t, t)], dim=2)
    dtype = getattr(model, "dtype", torch.float32)
    dtype = dtype if dtype.is_floating_point else torch.float32
    mask4d = torch.zeros((b, 1, t, kv_prev + t), dtype=dtype)
    mask4d.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    pos = torch.tensor(ends)[:, None] + torch.tensor(offsets)[None, :]
    inp = torch.tensor(tokens, dtype=torch.long)[None, :].expand(b, t)
    logits = model(input_ids=inp.to(device), attention_mask=mask4d.to(device), position_ids=pos.to(device),
                   use_cache=True, **{_cache_arg(model): cache}).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    tok_lp = logp.gather(2, torch.tensor(targets, device=device)[None, :, None].expand(b, t, 1))[..., 0].double()
    extra = torch.zeros((b, k), dtype=torch.float64, device=device)
    for j, start, length in segments:
        extra[:, j] = tok_lp[:, start:start + length].sum(dim=1)
    return extra


def _continuations(model, cache, mask, ends, label_ids, multi, device, pad) -> torch.Tensor:
    """:func:`_continuations_tree` for attention without custom masks: one cache copy per (prompt, label)."""
    b, k = mask.shape[0], len(label_ids)
    rows = [(r, j) for r in range(b) for j in multi]
    row_idx = torch.tensor([r for r, _ in rows], device=device)
    cache.batch_select_indices(row_idx)  # repeats each prompt's cache once per multi-token label
    t = max(len(label_ids[j]) - 1 for j in multi)
    inp = torch.full((len(rows), t), pad, dtype=torch.long)
    tgt = torch.full((len(rows), t), -100, dtype=torch.long)
    lmask = torch.zeros((len(rows), t), dtype=torch.long)
    pos = torch.zeros((len(rows), t), dtype=torch.long)
    for q, (r, j) in enumerate(rows):
        lab = list(label_ids[j])
        m = len(lab) - 1
        inp[q, :m] = torch.tensor(lab[:-1])
        tgt[q, :m] = torch.tensor(lab[1:])
        lmask[q, :m] = 1
        pos[q, :] = torch.arange(ends[r], ends[r] + t)
    full_mask = torch.cat([mask[row_idx], lmask.to(device)], dim=1)
    logits = model(input_ids=inp.to(device), attention_mask=full_mask, position_ids=pos.to(device),
                   use_cache=True, **{_cache_arg(model): cache}).logits.float()
    tgt = tgt.to(device)
    tok_lp = -torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, ignore_index=-100, reduction="none")
    sums = tok_lp.sum(dim=1).double()
    extra = torch.zeros((b, k), dtype=torch.float64, device=device)
    for q, (r, j) in enumerate(rows):
        extra[r, j] = sums[q]
    return extra


@torch.inference_mode()
def _causal_full(model, prompt_ids, label_ids, *, batch_size: int) -> np.ndarray:
    """Reference path: each (prompt, label) pair as one right-padded sequence."""
    n, k = len(prompt_ids), len(label_ids)
    device = _device(model)
    pad = _pad_id(model)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    pairs = [(i, j) for i in range(n) for j in range(k)]
    out = np.zeros((n, k), dtype=np.float64)
    longest = max(len(p) for p in prompt_ids) + max(len(x) for x in label_ids)
    rows = max(1, min(batch_size * k, LOGIT_BUDGET // max(1, longest * vocab)))
    for start in range(0, len(pairs), rows):
        chunk = pairs[start:start + rows]
        seqs = [list(prompt_ids[i]) + list(label_ids[j]) for i, j in chunk]
        t = max(len(x) for x in seqs)
        ids = torch.full((len(chunk), t), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), t), dtype=torch.long)
        tgt = torch.full((len(chunk), t), -100, dtype=torch.long)
        for q, ((i, j), seq) in enumerate(zip(chunk, seqs)):
            ids[q, :len(seq)] = torch.tensor(seq)
            mask[q, :len(seq)] = 1
            p = len(prompt_ids[i])
            tgt[q, p - 1:len(seq) - 1] = torch.tensor(list(label_ids[j]))  # position t predicts token t + 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        tok_lp = -torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt.to(device), ignore_index=-100,
                                                   reduction="none")
        sums = tok_lp.sum(dim=1).double().cpu().numpy()
        for q, (i, j) in enumerate(chunk):
            out[i, j] = sums[q]
    return out


@torch.inference_mode()
def checklist_scores(model, prompt_ids: Sequence[Sequence[int]], slots: Sequence[Sequence[int]],
                     choices: tuple[Sequence[int], Sequence[int]], *, batch_size: int = 8) -> np.ndarray:
    """The probability of ``choices[1]`` against ``choices[0]`` at every slot of a chain of binary answers.

    The answer after each prompt is ``slots[0] c0 slots[1] c1 ...``: the slots' token ids are given
    (an E-c checklist's ``"anger:"``, ``"\\nanticipation:"``), each ``cj`` is one of the two ``choices``
    (no, yes), read from the model after the slots and answers before it, and the chain goes on with
    the more likely one, as greedy generation would. The choices are told apart by their first
    tokens (one token each for real tokenizers' " yes" / " no": then the probability is exact). One
    forward per batch of prompts (behind a prefix shared by all, computed once), then one short
    forward per slot against the key/value cache. Returns ``(n_prompts, n_slots)``.
    """
    n, k = len(prompt_ids), len(slots)
    out = np.zeros((n, k), dtype=np.float64)
    if n == 0 or k == 0:
        return out
    cache_arg = _cache_arg(model)
    if cache_arg is None:
        raise NotImplementedError("checklist scoring needs a model whose forward() takes a key/value cache")
    if choices[0][0] == choices[1][0]:
        raise ValueError("the two choices must differ in their first token")
    was_training = model.training
    model.eval()
    try:
        device, pad = _device(model), _pad_id(model)
        keep_last = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
        first = torch.tensor([choices[0][0], choices[1][0]], device=device)
        answer_len = sum(len(s) for s in slots) + k * max(len(c) for c in choices)
        window = sliding_window(model)
        longest = max(len(p) for p in prompt_ids) + answer_len
        # a prefix shared by every prompt, once; not under sliding-window layers whose window the padding would move
        c = common_prefix_length(prompt_ids) if n > 1 and (window is None or longest <= window) else 0
        c = min(c, min(len(p) for p in prompt_ids) - 1)
        prefix_cache = None
        if c > 0:
            prefix_cache = _cache_of(model(input_ids=torch.tensor([list(prompt_ids[0][:c])], device=device),
                                           use_cache=True, **keep_last))
        order = sorted(range(n), key=lambda i: -len(prompt_ids[i]))
        start = 0
        while start < n:
            b = max(1, min(batch_size, CACHE_TOKEN_BUDGET // (len(prompt_ids[order[start]]) + answer_len)))
            idx = order[start:start + b]
            start += len(idx)
            cache = None
            if prefix_cache is not None:
                cache = copy.deepcopy(prefix_cache)
                cache.batch_repeat_interleave(len(idx))
            # the prompts (after the shared prefix) and the first slot, left-padded: every row ends where the answer is read
            steps = [list(prompt_ids[i][c:]) + list(slots[0]) for i in idx]
            mask = torch.ones((len(idx), c), dtype=torch.long, device=device)
            nxt = torch.full((len(idx),), c, dtype=torch.long, device=device)
            for j in range(k):
                width = max(len(x) for x in steps)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                step_mask = torch.zeros((len(idx), width), dtype=torch.long)
                pos = torch.zeros((len(idx), width), dtype=torch.long)
                for r, x in enumerate(steps):
                    ids[r, width - len(x):] = torch.tensor(x, dtype=torch.long)
                    step_mask[r, width - len(x):] = 1
                    pos[r, width - len(x):] = int(nxt[r]) + torch.arange(len(x))
                mask = torch.cat([mask, step_mask.to(device)], dim=1)
                res = model(input_ids=ids.to(device), attention_mask=mask, position_ids=pos.to(device), use_cache=True,
                            **{cache_arg: cache}, **keep_last)
                cache = _cache_of(res)
                nxt = nxt + step_mask.sum(dim=1).to(device)
                p = torch.softmax(res.logits[:, -1, :].float()[:, first], dim=-1)[:, 1]
                out[idx, j] = p.double().cpu().numpy()
                if j + 1 < k:
                    steps = [list(choices[1] if float(v) >= 0.5 else choices[0]) + list(slots[j + 1]) for v in p]
        return out
    finally:
        if was_training:
            model.train()
