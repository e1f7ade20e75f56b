import pytest

from emotune.data.cleaning import clean_text, is_placeholder, normalize_for_dedup


@pytest.mark.parametrize("raw, clean", [
    ("  hello \n\t world  ", "hello world"),
    ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
    ("It\u00e2\u20ac\u2122s fine", "It\u2019s fine"),  # UTF-8 read as cp1252
    ("caf\u00c3\u00a9", "caf\u00e9"),
    ("cafe\u0301", "caf\u00e9"),  # NFC
    ("zero\u200bwidth", "zerowidth"),
    (None, ""),
    (float("nan"), ""),
    ("Keep CASE and emoji \U0001F600", "Keep CASE and emoji \U0001F600"),
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize("text", [
    "[ No response.]", "NO RESPONSE.", "NO RESPONSE", "[ Never experienced.]", "Doesn't apply.", "Does not apply.",
    "[ The same as in shame.]", "The same as in \"shame\".", "Nothing.", "None.", "Not applicable.",
    "[ Not applicable.]", "[ Do not know.]", "[ No description.]", "Can't think of any.", "[ Can not remember.]",
    "Blank.", "", "   ", "n/a", "[ I have never felt this emotion.]",
])
def test_placeholders(text):
    assert is_placeholder(text)


@pytest.mark.parametrize("text", [
    "When my dog died.", "Nothing could stop me from laughing when I passed the exam.",
    "I was never so afraid in my life.", "The same thing happened to my friend and I felt angry.",
    "[ An unfair punishment.]", "No one came to my birthday party.",
])
def test_real_answers_are_not_placeholders(text):
    assert not is_placeholder(text)


def test_normalize_for_dedup():
    assert normalize_for_dedup("[ Hello,  WORLD! ]") == "hello world"
    assert normalize_for_dedup("Hello world") == normalize_for_dedup("hello, world.")
    assert normalize_for_dedup("“Quoted” — text…") == "quoted text"
    assert normalize_for_dedup("I love it 😀") != normalize_for_dedup("I love it 😢")
    assert normalize_for_dedup(None) == ""
