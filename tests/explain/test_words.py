from emotune.explain.words import overlapping, without_words, words_of


def test_words_keep_inner_apostrophes_and_hyphens_and_skip_punctuation():
    text = "I don't like my ex-wife's  dog!!"
    words = words_of(text)
    assert [w.text for w in words] == ["I", "don't", "like", "my", "ex-wife's", "dog"]
    assert all(text[w.start:w.end] == w.text for w in words)


def test_without_words_removes_the_word_and_its_space():
    text = "I am so happy today."
    words = words_of(text)
    assert without_words(text, words, [3]) == "I am so today."
    assert without_words(text, words, [0, 4]) == "am so happy ."
    assert without_words(text, words, []) == text


def test_overlapping_finds_the_words_a_span_touches():
    words = words_of("ab cd ef")
    assert overlapping(words, 1, 4) == [0, 1]
    assert overlapping(words, 2, 3) == []
