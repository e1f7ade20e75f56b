"""Text cleaning shared by every loader.

* :func:`clean_text` – what models see: HTML entities decoded, common mojibake repaired, Unicode NFC,
  invisible characters removed, whitespace collapsed. The loaders keep the untouched source text in
  ``text_original``.
* :func:`is_placeholder` – non-answers such as ``[ No response.]`` or ``Doesn't apply.`` (ISEAR has
  ~100 of them); they carry no emotion and are dropped by default (``data.drop_placeholders``).
* :func:`normalize_for_dedup` – the key under which two texts count as "the same" for duplicate
  detection and for the no-leakage guarantee of the splitter.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

try:  # optional: a better mojibake repair when the user has it installed
    import ftfy as _ftfy  # type: ignore
except Exception:  # pragma: no cover - ftfy is not a dependency
    _ftfy = None

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"\s+")
# UTF-8 bytes decoded as cp1252/latin-1: 'â€™' for '’', 'Ã©' for 'é', 'Â ' for a no-break space ...
_MOJIBAKE_HINT = re.compile("(?:[\u00c2-\u00c3][\u0080-\u00bf]|\u00e2\u20ac[\u0080-\u00bf\u2018-\u203a\u0152-\u0178\u02c6\u02dc\u2122]?)")
_MOJIBAKE_MAP = {
    "â€™": "’", "â€˜": "‘", "â€œ": "“", "â€\x9d": "”", "â€": "”", "â€“": "–", "â€”": "—",
    "â€¦": "…", "â€¢": "•", "Ã©": "é", "Ã¨": "è", "Ã¡": "á", "Ã³": "ó", "Ãº": "ú", "Ã±": "ñ",
    "Ã¶": "ö", "Ã¤": "ä", "Ã¼": "ü", "Ã§": "ç", "Ã¥": "å", "Ã¸": "ø", "Ã\xad": "í", "Â ": " ",
}


def _fix_mojibake(text: str) -> str:
    if not _MOJIBAKE_HINT.search(text):
        return text
    if _ftfy is not None:  # pragma: no cover
        return _ftfy.fix_text(text)
    for enc in ("cp1252", "latin-1"):  # the whole string was double-decoded: undo it exactly
        try:
            fixed = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        return fixed
    for bad, good in sorted(_MOJIBAKE_MAP.items(), key=lambda kv: -len(kv[0])):  # mixed text: known pairs
        text = text.replace(bad, good)
    return text


def clean_text(text) -> str:
    """Normalise one text for modelling (never changes its meaning, never lower-cases)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        try:
            if text != text:  # NaN
                return ""
        except Exception:  # pragma: no cover
            pass
        text = str(text)
    if "&" in text:
        text = html.unescape(text)
    text = _fix_mojibake(text)
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


# -- placeholders -------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"""^(?:
        no\ (?:response|reponse|responce|answer|description|reply|comment|idea|such\ (?:situation|experience))
      | not?\ (?:applicable|answered|relevant)
      | n\ ?/?\ ?a
      | does\ ?n[o']?t\ apply | doesnt\ apply | do\ not\ apply | not\ apply
      | (?:i\ )?(?:have\ )?never\ (?:experienced|felt)(?:\ (?:it|this|that|such|this\ emotion))?
      | never | nothing | none | nil | blank | empty | unknown | same | idem | dito | ditto | x+ | \?+ | -+
      | (?:i\ )?(?:do\ not|dont|don't|can\ ?not|cannot|can't|cant)\ (?:know|remember|recall|think\ of\ any(?:thing)?)
      | (?:the\ )?same\ as\ (?:in\ |for\ |with\ |above|before)?\w*
      | see\ (?:above|before|previous)
    )$""",
    re.VERBOSE,
)
_STRIP_FOR_PLACEHOLDER = re.compile(r"[\[\]\(\)\{\}\"“”‘’«».,;:!]+")


@lru_cache(maxsize=65536)
def is_placeholder(text) -> bool:
    """True for a non-answer ("[ No response.]", "NO RESPONSE.", "Doesn't apply.", "Nothing." ...)."""
    if not isinstance(text, str):
        return True
    t = _STRIP_FOR_PLACEHOLDER.sub(" ", text.replace("’", "'")).casefold()
    t = _SPACES.sub(" ", t).strip()
    if not t:
        return True
    if len(t) > 40:
        return False
    return bool(_PLACEHOLDER.match(t))


# -- dedup key ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _punct_table() -> dict[int, str]:
    return {cp: " " for cp in range(0x10000) if unicodedata.category(chr(cp)).startswith("P")}


def normalize_for_dedup(text) -> str:
    """Casefold, drop punctuation and brackets, collapse whitespace: the key for "same text"."""
    if not isinstance(text, str):
        return "" if text is None or text != text else str(text)
    return _normalize_cached(text)


@lru_cache(maxsize=1_000_000)
def _normalize_cached(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold().translate(_punct_table())
    return " ".join(t.split())


def dedup_keys(texts) -> list[str]:
    return [normalize_for_dedup(t) for t in texts]
