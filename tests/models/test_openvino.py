"""OpenVINO files behind the classifier protocol: a clear message when the runtime is missing or a
file is cut short, and OpenVINO's raw .bin weights told apart from a pickle."""

import pickle
import shutil
import sys

import pytest

from emotune.errors import ModelError
from emotune.models.weights import refuse_pickles, verify_openvino
from emotune.runs import Run

XML = """<?xml version="1.0"?>
<net name="m" version="11">
	<layers>
		<layer id="2" name="w" type="Const" version="opset1">
			<data element_type="f32" shape="4" offset="0" size="16" />
		</layer>
		<layer id="3" name="b" type="Const" version="opset1">
			<data element_type="f32" shape="2" offset="16" size="8" />
		</layer>
	</layers>
</net>
"""


def _model(folder, bin_bytes: bytes = bytes(24)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.xml").write_text(XML)
    (folder / "model.bin").write_bytes(bin_bytes)
    return folder / "model.xml"


def test_a_whole_model_passes_and_cut_files_are_named(tmp_path):
    xml = _model(tmp_path / "ok")
    verify_openvino(xml)
    refuse_pickles(xml.parent)  # raw weights beside their xml are not a pickle
    cut_bin = _model(tmp_path / "cut-bin", bytes(20))
    with pytest.raises(ModelError, match="model.bin") as e:
        verify_openvino(cut_bin)
    assert "has 20 bytes, the xml needs 24" in e.value.message and "--openvino" in e.value.hint
    cut_xml = _model(tmp_path / "cut-xml")
    cut_xml.write_text(XML[: len(XML) // 2])
    with pytest.raises(ModelError, match="does not end with </net>"):
        verify_openvino(cut_xml)
    no_bin = _model(tmp_path / "no-bin")
    no_bin.with_suffix(".bin").unlink()
    with pytest.raises(ModelError, match="is missing"):
        verify_openvino(no_bin)


def test_a_pickle_named_like_openvino_weights_is_refused(tmp_path):
    xml = _model(tmp_path / "p", pickle.dumps({"w": list(range(10))}))
    with pytest.raises(ModelError, match="model.bin"):
        refuse_pickles(xml.parent)


def test_missing_openvino_is_one_message(tiny_encoder_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_encoder_run / "model", run / "model")
    _model(run / "openvino")
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(ModelError, match="OpenVINO runtime is not installed") as e:
        Run.open(run).load(runtime="openvino")
    assert "emotune[openvino]" in e.value.hint


def test_a_missing_export_says_how_to_make_it(tiny_encoder_run, tfidf_run):
    with pytest.raises(ModelError, match="encoder runs only"):
        Run.open(tfidf_run).load(runtime="openvino")
    with pytest.raises(ModelError, match="Unknown runtime"):
        Run.open(tiny_encoder_run).load(runtime="tensorrt")
