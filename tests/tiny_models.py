"""Tiny randomly initialised Hugging Face models, built from configs in code (no downloads).

``build_tiny("bert", tmp_path)`` writes a model directory that ``from_pretrained`` loads like a
real checkpoint: the *base* model (``BertModel``, ``LlamaForCausalLM``, ``T5ForConditionalGeneration``)
plus a small tokenizer trained on the fly with the ``tokenizers`` library, so that the backends
add their own classification heads exactly as they do on real weights.

Sizes: hidden 32, 2 layers, 4 heads, a vocabulary of a few hundred tokens: a training step
takes milliseconds on CPU.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tests.fixtures.toy import TEMPLATES

# Emotion-flavoured words for the tokenizer corpus (with tests.fixtures.toy.TEMPLATES).
LABEL_WORDS = ["joy", "sadness", "anger", "fear", "disgust", "shame", "guilt", "surprise", "love", "neutral",
               "optimism", "pessimism", "trust", "anticipation", "admiration", "amusement", "annoyance",
               "approval", "caring", "confusion", "curiosity", "desire", "disappointment", "disapproval",
               "embarrassment", "excitement", "gratitude", "grief", "nervousness", "pride", "realization",
               "relief", "remorse", "positive", "negative", "happy", "sad", "angry", "afraid", "yes", "no",
               "intensity", "valence", "arousal", "dominance"]

EXTRA_WORDS = ("classify emotion text the a an and or of to in on at for with is was were be been it this that "
               "i me my we our you your he she they them his her their not very so too really feel felt "
               "when then because after before while during today yesterday tomorrow night day morning "
               "label answer question which following one").split()


def _corpus() -> list[str]:
    lines = [s for group in TEMPLATES.values() for s in group]
    lines += [" ".join(LABEL_WORDS), " ".join(EXTRA_WORDS)]
    lines += [f"Classify emotion: {w}" for w in LABEL_WORDS]
    lines += [f"Answer: {w}" for w in LABEL_WORDS]
    return lines * 3


# -- tokenizers -------------------------------------------------------------------------------
def _wordpiece_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return tok, dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                     mask_token="[MASK]")


def _roberta_bpe_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids: pad = 1
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")))
    tok.decoder = decoders.ByteLevel()
    return tok, dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", pad_token="<pad>",
                     unk_token="<unk>", mask_token="<mask>")


def _decoder_bpe_tokenizer(vocab_size: int = 400, *, bos: bool = True, eos: str = "<|eos|>"):
    """Byte-level BPE with ``<|bos|>``/``<|eos|>`` and deliberately NO pad token (like Llama)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<|bos|>", eos]
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B:1",
            special_tokens=[("<|bos|>", tok.token_to_id("<|bos|>"))])
    tok.decoder = decoders.ByteLevel()
    return tok, dict(bos_token="<|bos|>", eos_token=eos)


def _t5_tokenizer(vocab_size: int = 400):
    """Metaspace BPE with T5's special ids (pad 0, eos 1, unk 2) and ``</s>`` appended."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'-_()")
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=alphabet))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B:1 </s>:1",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    tok.decoder = decoders.Metaspace()
    return tok, dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _wrap(tok_and_specials, model_max_length: int = 128, padding_side: str = "right"):
    from transformers import PreTrainedTokenizerFast

    tok, specials = tok_and_specials
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length,
                                   padding_side=padding_side, **specials)


# -- architectures ----------------------------------------------------------------------------
H, LAYERS, HEADS, FFN = 32, 2, 4, 64


def _encoder_config(arch: str, tokenizer):
    from transformers import BertConfig, DistilBertConfig, MPNetConfig, RobertaConfig, XLMRobertaConfig

    v, pad = len(tokenizer), tokenizer.pad_token_id
    common = dict(vocab_size=v, pad_token_id=pad)
    if arch == "bert":
        return BertConfig(hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
                          max_position_embeddings=160, **common)
    if arch in ("roberta", "xlm-roberta"):
        cls = RobertaConfig if arch == "roberta" else XLMRobertaConfig
        return cls(hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
                   max_position_embeddings=160, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id, **common)
    if arch == "distilbert":
        return DistilBertConfig(dim=H, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN, max_position_embeddings=160,
                                **common)
    if arch == "mpnet":
        return MPNetConfig(hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
                           max_position_embeddings=160, **common)
    raise KeyError(arch)


def _decoder_config(arch: str, tokenizer):
    from transformers import Gemma3TextConfig, GemmaConfig, LlamaConfig, MistralConfig, Qwen2Config

    common = dict(vocab_size=len(tokenizer), hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  num_key_value_heads=2, intermediate_size=FFN, max_position_embeddings=256,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=None,
                  tie_word_embeddings=True)
    if arch == "llama":
        return LlamaConfig(**common)
    if arch == "mistral":
        return MistralConfig(sliding_window=None, **common)
    if arch == "qwen2":
        return Qwen2Config(**common)
    if arch == "gemma":
        return GemmaConfig(head_dim=H // HEADS, **common)
    if arch == "gemma3":
        return Gemma3TextConfig(head_dim=H // HEADS, sliding_window=64, query_pre_attn_scalar=H // HEADS, **common)
    raise KeyError(arch)


ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet")
DECODERS = ("llama", "mistral", "gemma", "qwen2", "gemma3")
SEQ2SEQ = ("t5",)
ARCHS = ENCODERS + DECODERS + SEQ2SEQ


@lru_cache(maxsize=None)
def _tokenizer_for(arch: str):
    if arch in ("bert", "distilbert", "mpnet"):
        return _wrap(_wordpiece_tokenizer())
    if arch in ("roberta", "xlm-roberta"):
        return _wrap(_roberta_bpe_tokenizer())
    if arch in DECODERS:
        # AutoTokenizer maps qwen2 to Qwen2Tokenizer, which pads with <|endoftext|>: make it exist
        qwen = arch == "qwen2"
        return _wrap(_decoder_bpe_tokenizer(bos=not qwen, eos="<|endoftext|>" if qwen else "<|eos|>"),
                     model_max_length=256, padding_side="left")
    if arch == "t5":
        return _wrap(_t5_tokenizer())
    raise KeyError(arch)


def build_tiny(arch: str, path: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random ``arch`` model + tokenizer into ``path`` (created); return ``path``.

    Encoders are saved as the bare encoder (``AutoModel``), decoders as ``*ForCausalLM`` and T5 as
    ``T5ForConditionalGeneration``, as real checkpoints are. Decoders have no pad token.
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, T5Config, T5ForConditionalGeneration

    if arch not in ARCHS:
        raise KeyError(f"unknown tiny arch '{arch}'; choose from {ARCHS}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer_for(arch)
    torch.manual_seed(seed)
    if arch in ENCODERS:
        model = AutoModel.from_config(_encoder_config(arch, tokenizer))
    elif arch in DECODERS:
        model = AutoModelForCausalLM.from_config(_decoder_config(arch, tokenizer))
    else:
        config = T5Config(vocab_size=len(tokenizer), d_model=H, d_kv=H // HEADS, d_ff=FFN, num_layers=LAYERS,
                          num_decoder_layers=LAYERS, num_heads=HEADS, relative_attention_num_buckets=8,
                          pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                          decoder_start_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
        model = T5ForConditionalGeneration(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_t5(path: str | Path) -> Path:
    """Tiny T5 (encoder-decoder) whose tokenizer has pad/eos/unk and encodes the label words."""
    return build_tiny("t5", path)
