"""The comparison report's "words that drive each emotion"."""

from emotune.reports.words import driving_words, driving_words_section
from emotune.runs import Run
from tests.fixtures.toy import toy_texts


def test_the_words_of_each_predicted_label_are_ranked_by_their_summed_score(tfidf_run):
    texts, _ = toy_texts(3)
    found = driving_words(tfidf_run, texts, top=5)
    assert found["method"] == "linear" and found["n_texts"] == len(texts)
    joy = found["labels"]["joy"]
    assert 0 < len(joy) <= 5 and all(w["score"] > 0 and w["count"] >= 1 for w in joy)
    assert [w["score"] for w in joy] == sorted((w["score"] for w in joy), reverse=True)


def test_a_model_that_cannot_be_loaded_gets_a_note(tmp_path):
    from tests.fixtures.toy import make_run

    run = make_run(tmp_path, "no-model")
    record = Run.open(run)
    section = driving_words_section({"models": [{"name": "m", "runs": [str(run)]}]}, [record], n_texts=5)
    assert set(section) == {"m"} and "note" in section["m"]
    assert driving_words_section({"models": []}, [record], n_texts=0) == {}
