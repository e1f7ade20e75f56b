import numpy as np
import pytest
from sklearn import metrics as skm

from emotune.data.labels import LabelSet, Task
from emotune.metrics import (
    classification_report,
    compute_metrics,
    confused_pairs,
    confusion,
    evaluate_scores,
    grouped_metrics,
    per_label_scores,
    tune_thresholds,
)
from emotune.metrics import _jaccard_samples
from tests.fixtures.toy import RUN_ISEAR as ISEAR, RUN_MULTI as MULTI, RUN_REG as REG, gold, scores_for


def test_single_label_report_matches_sklearn_and_has_accuracy_and_micro():
    y = gold(ISEAR, 400)
    s = scores_for(ISEAR, y, 0.6, seed=1)
    rep = classification_report(ISEAR, y, s)
    pred = s.argmax(axis=1)
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert rep["micro avg"]["f1-score"] == pytest.approx(rep["accuracy"])
    assert rep["macro avg"]["f1-score"] == pytest.approx(compute_metrics(ISEAR, y, s)["f1_macro"])
    f1 = per_label_scores(rep, ISEAR)
    assert list(f1) == list(ISEAR.names)
    assert f1["joy"] == pytest.approx(skm.f1_score(y == 4, pred == 4))
    assert all(isinstance(rep[n]["support"], int) for n in ISEAR.names)


def test_absent_class_still_reported_with_zero_support():
    ls = LabelSet(("a", "b", "c"))
    y = np.array([0, 0, 1, 1])
    s = np.eye(3)[[0, 1, 1, 1]]
    rep = classification_report(ls, y, s)
    assert rep["c"]["support"] == 0 and rep["c"]["f1-score"] == 0.0
    assert confusion(ls, y, s).shape == (3, 3)


def test_multi_label_report_uses_thresholds():
    y = gold(MULTI, 300)
    s = scores_for(MULTI, y, 0.6, seed=2)
    thr = np.full(len(MULTI), 0.3)
    rep = classification_report(MULTI, y, s, thr)
    pred = (s >= 0.3).astype(int)
    assert rep["macro avg"]["f1-score"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert {"micro avg", "samples avg"} <= set(rep)
    assert rep["fear"]["support"] == int(y[:, 1].sum())


def test_thresholds_tuned_for_jaccard_beat_the_f1_ones_on_jaccard_and_vice_versa():
    """E-c is ranked by sample Jaccard: thresholds chosen for it score at least as well on it (on the
    data they were chosen on) as the per-label F1 ones, which keep the best macro-F1."""
    y = gold(MULTI, 400)
    s = scores_for(MULTI, y, 0.35, seed=4)
    by_f1 = tune_thresholds(y, s, "per_label")
    by_jac = tune_thresholds(y, s, "per_label", metric="jaccard_samples")
    m_f1, m_jac = compute_metrics(MULTI, y, s, by_f1), compute_metrics(MULTI, y, s, by_jac)
    assert m_jac["jaccard_samples"] >= m_f1["jaccard_samples"] and m_f1["f1_macro"] >= m_jac["f1_macro"]
    assert not np.array_equal(by_f1, by_jac)  # the search moved something
    one = tune_thresholds(y, s, "global", metric="jaccard_samples")
    assert len(set(one)) == 1 and compute_metrics(MULTI, y, s, one)["jaccard_samples"] <= m_jac["jaccard_samples"]
    assert tune_thresholds(y, s, "none", metric="jaccard_samples") is None
    with pytest.raises(ValueError, match="f1_macro or jaccard_samples"):
        tune_thresholds(y, s, metric="accuracy")


def test_multi_label_auc_tells_a_model_that_ranks_nothing_from_one_that_ranks():
    """Thresholds chosen on dev can lift a chance-level scorer to the all-labels baseline's macro-F1;
    the per-label AUC does not move with thresholds and stays at 0.5 for it."""
    y = gold(MULTI, 600)
    rng = np.random.default_rng(0)
    noise = rng.random(y.shape)
    assert compute_metrics(MULTI, y, noise)["roc_auc_macro"] == pytest.approx(0.5, abs=0.05)
    assert compute_metrics(MULTI, y, 0.2 + 0.6 * y)["roc_auc_macro"] == pytest.approx(1.0)
    ranked = compute_metrics(MULTI, y, scores_for(MULTI, y, 0.6, seed=3))["roc_auc_macro"]
    assert 0.6 < ranked < 1.0
    y[:, 0] = 0  # a label nobody has: no AUC of its own, the mean is over the others
    expected = np.mean([skm.roc_auc_score(y[:, j], noise[:, j]) for j in range(1, y.shape[1])])
    assert compute_metrics(MULTI, y, noise)["roc_auc_macro"] == pytest.approx(expected)
    broken = np.full(y.shape, np.nan)  # a diverged model: the metrics are computed, no traceback after training
    assert "roc_auc_macro" not in compute_metrics(MULTI, y, broken) and "f1_macro" in compute_metrics(MULTI, y, broken)


def test_fast_jaccard_is_sklearns_including_empty_rows():
    y = gold(MULTI, 300)
    y[:7] = 0  # rows without a label, as E-c has
    pred = scores_for(MULTI, y, 0.5, seed=5) >= 0.5
    pred[:3] = False
    assert _jaccard_samples(y.astype(bool), pred) == pytest.approx(
        skm.jaccard_score(y, pred.astype(int), average="samples", zero_division=1))


def test_regression_report():
    y = gold(REG, 200)
    s = scores_for(REG, y, 0.8, seed=3)
    rep = classification_report(REG, y, s)
    assert set(rep) == {"V", "A"}
    assert rep["V"]["pearson"] == pytest.approx(np.corrcoef(y[:, 0], s[:, 0])[0, 1])
    assert rep["A"]["mae"] == pytest.approx(np.abs(y[:, 1] - s[:, 1]).mean())


def test_grouped_metrics_score_each_group_and_average_them():
    one = LabelSet(("intensity",), Task.REGRESSION)
    rng = np.random.default_rng(0)
    y = rng.random(200)
    s = y + rng.normal(0, 0.3, 200)
    groups = ["anger"] * 100 + ["joy"] * 100
    s[100:] = y[100:] + rng.normal(0, 0.05, 100)  # joy is predicted much better than anger
    out = grouped_metrics(one, y, s, groups, "emotion")
    anger = np.corrcoef(y[:100], s[:100])[0, 1]
    joy = np.corrcoef(y[100:], s[100:])[0, 1]
    assert out["pearson_anger"] == pytest.approx(anger)
    assert out["pearson_joy"] == pytest.approx(joy)
    assert out["pearson_mean_emotion"] == pytest.approx((anger + joy) / 2)
    assert "spearman_joy" in out and joy > anger
    # classification: the primary metric (macro-F1) per group
    y1 = gold(ISEAR, 120)
    s1 = scores_for(ISEAR, y1, 0.7, seed=1)
    g1 = ["a", "b"] * 60
    out1 = grouped_metrics(ISEAR, y1, s1, g1, "src")
    assert set(out1) == {"f1_macro_a", "f1_macro_b", "f1_macro_mean_src"}
    assert out1["f1_macro_a"] == pytest.approx(compute_metrics(ISEAR, y1[::2], s1[::2])["f1_macro"])


def test_confusion_normalised_rows_sum_to_one():
    y = gold(ISEAR, 300)
    s = scores_for(ISEAR, y, 0.5, seed=4)
    cm = confusion(ISEAR, y, s, normalize="true")
    assert np.allclose(cm.sum(axis=1), 1.0)
    counts = confusion(ISEAR, y, s)
    assert counts.sum() == 300


def test_multi_label_confusion_diagonal_is_recall():
    y = gold(MULTI, 300)
    s = scores_for(MULTI, y, 0.6, seed=5)
    cm = confusion(MULTI, y, s, normalize="true")
    recall = skm.recall_score(y, (s >= 0.5).astype(int), average=None, zero_division=0)
    assert np.allclose(np.diag(cm), recall)


def test_confused_pairs_finds_the_planted_confusion():
    y = gold(ISEAR, 600)
    s = scores_for(ISEAR, y, 0.5, seed=6)  # guilt is pushed towards shame
    pairs = confused_pairs(ISEAR, y, s, top=3, examples=2)
    assert pairs[0]["true"] == "guilt" and pairs[0]["pred"] == "shame"
    first = pairs[0]
    assert len(first["examples"]) == 2
    for row in first["examples"]:
        assert y[row] == 3 and s[row].argmax() == 6
    assert first["count"] >= pairs[1]["count"]
    assert 0 < first["rate"] <= 1


def test_confused_pairs_multi_label_counts_only_wrong_labels():
    ls = LabelSet(("a", "b"), Task.MULTI)
    y = np.array([[1, 0], [1, 1], [1, 0]])
    s = np.array([[0.9, 0.9], [0.9, 0.9], [0.9, 0.1]])
    pairs = confused_pairs(ls, y, s)
    assert pairs == [{"true": "a", "pred": "b", "count": 1, "rate": pytest.approx(1 / 3), "examples": [0]}]


def test_perfect_predictions_have_no_confused_pairs():
    y = gold(ISEAR, 50)
    assert confused_pairs(ISEAR, y, np.eye(7)[y]) == []


def test_evaluate_scores_bundle_is_json_ready():
    import json

    y = gold(ISEAR, 100)
    out = evaluate_scores(ISEAR, y, scores_for(ISEAR, y, 0.5, seed=7))
    json.dumps(out)
    assert {"metrics", "report", "confusion_matrix", "calibration", "n"} <= set(out)
    reg = evaluate_scores(REG, gold(REG, 50), scores_for(REG, gold(REG, 50), 0.5, 1))
    assert "confusion_matrix" not in reg and "pearson" in reg["metrics"]


def test_scores_from_logits_softmax_sigmoid_and_values():
    from emotune.metrics import scores_from_logits, sigmoid, softmax

    logits = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 1000.0]])
    probs = scores_from_logits(Task.SINGLE, logits)
    assert probs.dtype == np.float64 and np.allclose(probs.sum(axis=1), 1) and probs[1].argmax() == 2
    assert np.allclose(softmax(logits[0]), probs[0])
    assert np.allclose(scores_from_logits(Task.MULTI, logits), sigmoid(logits))
    assert np.allclose(scores_from_logits(Task.REGRESSION, logits), logits)


def test_top_k_order_and_decide_names():
    from emotune.metrics import decide_names, top_k_order

    assert top_k_order(Task.SINGLE, np.array([0.2, 0.5, 0.2, 0.1])).tolist() == [1, 0, 2, 3]  # ties in label order
    assert top_k_order(Task.MULTI, np.array([0.2, 0.5, 0.9]), k=2).tolist() == [2, 1]
    assert top_k_order(Task.REGRESSION, np.array([0.2, 0.5]), k=1).tolist() == [0, 1]
    ls = LabelSet(("joy", "anger"), Task.MULTI, name="m")
    assert decide_names(ls, np.array([[0.6, 0.2], [0.2, 0.3]]), thresholds=[0.5, 0.25]) == [["joy"], ["anger"]]
    assert decide_names(LabelSet(("joy", "anger"), name="s"), np.array([[0.4, 0.6]])) == ["anger"]


def test_ordinal_classes_get_semevals_pearson_and_the_expected_class():
    """V-oc (-3..3): a model whose probabilities rank valence but whose argmax always falls on "0" scores
    Pearson 0 on its argmax classes and high on the class nearest its expected value."""
    voc = LabelSet(("-3", "-2", "-1", "0", "1", "2", "3"), Task.SINGLE, "semeval-v-oc")
    y = np.array([0, 1, 2, 3, 4, 5, 6, 3, 3, 1, 5])
    values = np.arange(-3, 4, dtype=float)
    # every row puts 0.55 on "0" and 0.45 on its true class: argmax is always "0", the expected value half the truth
    scores = np.zeros((len(y), 7))
    scores[:, 3] = 0.55
    scores[np.arange(len(y)), y] += 0.45
    m = compute_metrics(voc, y, scores)
    assert m["pearson_oc"] == 0.0  # one class answered: it ranks nothing
    assert m["pearson_oc_expected"] > 0.9
    perfect = compute_metrics(voc, y, np.eye(7)[y])
    assert perfect["pearson_oc"] == pytest.approx(1.0) and perfect["pearson_oc_expected"] == pytest.approx(1.0)
    noisy = compute_metrics(voc, y, np.eye(7)[np.clip(y + np.array([1, 0, -1, 0, 1, 0, -1, 1, 0, 0, 1]), 0, 6)])
    assert noisy["pearson_oc"] == pytest.approx(np.corrcoef(values[y], values[np.clip(
        y + np.array([1, 0, -1, 0, 1, 0, -1, 1, 0, 0, 1]), 0, 6)])[0, 1])  # off by one class: Pearson, not F1
    # emotion names, or two classes, are not ordinal
    y_isear = gold(ISEAR, 20)
    assert "pearson_oc" not in compute_metrics(ISEAR, y_isear, scores_for(ISEAR, y_isear, 0.5, 0))
    binary = LabelSet(("0", "1"), Task.SINGLE)
    assert "pearson_oc" not in compute_metrics(binary, np.array([0, 1]), np.eye(2))
