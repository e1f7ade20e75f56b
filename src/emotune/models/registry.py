"""Backend name -> implementing class. A new backend is one new file and one line here.

Entries are import strings so that ``emotune data list`` never pays for importing torch.
"""

from __future__ import annotations

import importlib

from emotune.errors import ModelError, did_you_mean

BACKENDS: dict[str, str] = {
    "tfidf": "emotune.models.tfidf:TfidfClassifier",
    "lexicon": "emotune.models.lexicon:LexiconClassifier",
    "embed-head": "emotune.models.embed_head:EmbedHeadClassifier",
    "encoder": "emotune.models.encoder:EncoderClassifier",
    "causal-lm": "emotune.models.causal_lm:CausalLMClassifier",
    "seq2seq": "emotune.models.seq2seq:Seq2SeqClassifier",
    "prompt": "emotune.models.prompt:PromptClassifier",
    "ensemble": "emotune.models.ensemble:EnsembleClassifier",
    "instruct": "emotune.models.instruct:InstructClassifier",
}


def backend_class(name: str):
    if name not in BACKENDS:
        raise ModelError(f"Unknown backend '{name}'", hint=did_you_mean(name, BACKENDS))
    module_name, cls_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)
