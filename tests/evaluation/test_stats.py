import numpy as np
import pytest
from scipy import stats as sps

from emotune.evaluation import stats
from emotune.metrics import compute_metrics
from tests.fixtures.toy import RUN_ISEAR as ISEAR, RUN_MULTI as MULTI, gold, scores_for


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro", "f1_micro", "f1_weighted"])
def test_fast_single_label_resamples_equal_sklearn(metric):
    y = gold(ISEAR, 250)
    s = scores_for(ISEAR, y, 0.5, seed=1)
    idx = stats.resample_indices(len(y), 40, seed=3)
    fast = stats.resampled_values(y, s, metric, label_set=ISEAR, idx=idx)
    slow = [compute_metrics(ISEAR, y[r], s[r])[metric] for r in idx]
    assert np.allclose(fast, slow, atol=1e-12)


@pytest.mark.parametrize("metric", ["f1_macro", "f1_micro", "f1_weighted", "subset_accuracy", "hamming_loss",
                                    "jaccard_samples"])
def test_fast_multi_label_resamples_equal_sklearn(metric):
    y = gold(MULTI, 200)
    y[:5] = 0  # rows without labels exercise jaccard's zero_division
    s = scores_for(MULTI, y, 0.5, seed=2)
    thr = np.linspace(0.3, 0.6, len(MULTI))
    idx = stats.resample_indices(len(y), 30, seed=4)
    fast = stats.resampled_values(y, s, metric, label_set=MULTI, thresholds=thr, idx=idx)
    slow = [compute_metrics(MULTI, y[r], s[r], thr)[metric] for r in idx]
    assert np.allclose(fast, slow, atol=1e-12)


def test_bootstrap_ci_contains_value_and_narrows_with_more_data():
    y = gold(ISEAR, 200)
    s = scores_for(ISEAR, y, 0.5, seed=5)
    small = stats.bootstrap_ci(y, s, "f1_macro", label_set=ISEAR, n_resamples=500)
    assert small["low"] < small["value"] < small["high"]
    assert small["value"] == pytest.approx(compute_metrics(ISEAR, y, s)["f1_macro"])
    y2 = gold(ISEAR, 3000)
    big = stats.bootstrap_ci(y2, scores_for(ISEAR, y2, 0.5, seed=5), "f1_macro", label_set=ISEAR, n_resamples=500)
    assert big["high"] - big["low"] < small["high"] - small["low"]


def test_bootstrap_ci_is_deterministic_and_accepts_callables():
    y = gold(ISEAR, 120)
    s = scores_for(ISEAR, y, 0.5, seed=6)
    a = stats.bootstrap_ci(y, s, "accuracy", label_set=ISEAR, n_resamples=200, seed=1)
    b = stats.bootstrap_ci(y, s, "accuracy", label_set=ISEAR, n_resamples=200, seed=1)
    assert a == b

    def top1(yt, sc):
        return float((sc.argmax(axis=1) == yt).mean())

    c = stats.bootstrap_ci(y, s, top1, n_resamples=200, seed=1)
    assert c["metric"] == "top1"
    assert (c["value"], c["low"], c["high"]) == pytest.approx((a["value"], a["low"], a["high"]))


def test_named_metric_needs_label_set_and_unknown_names_fail():
    y = gold(ISEAR, 30)
    s = scores_for(ISEAR, y, 0.5, seed=0)
    with pytest.raises(ValueError):
        stats.bootstrap_ci(y, s, "f1_macro")
    from emotune.errors import EmotuneError

    with pytest.raises(EmotuneError, match="Unknown metric 'f1_macr'"):
        stats.bootstrap_ci(y, s, "f1_macr", label_set=ISEAR, n_resamples=5)


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    y = gold(ISEAR, 600)
    good = scores_for(ISEAR, y, 0.8, seed=1)
    bad = scores_for(ISEAR, y, 0.3, seed=2)
    res = stats.paired_bootstrap(y, good, bad, "f1_macro", label_set=ISEAR, n_resamples=500)
    assert res["diff"] > 0 and res["low"] > 0 and res["p_value"] < 0.01
    same = stats.paired_bootstrap(y, good, good, "f1_macro", label_set=ISEAR, n_resamples=200)
    assert same["diff"] == 0 and same["p_value"] == 1.0


def test_paired_bootstrap_rejects_unaligned_scores():
    y = gold(ISEAR, 50)
    with pytest.raises(ValueError):
        stats.paired_bootstrap(y, scores_for(ISEAR, y, 0.5, 1), scores_for(ISEAR, y[:40], 0.5, 1), label_set=ISEAR)


def test_mcnemar_exact_and_chi2():
    a = np.array([1] * 10 + [0] * 2 + [1] * 50)
    b = np.array([0] * 10 + [1] * 2 + [1] * 50)
    exact = stats.mcnemar(a, b)
    assert (exact["b"], exact["c"], exact["method"]) == (10, 2, "exact binomial")
    assert exact["p_value"] == pytest.approx(sps.binomtest(10, 12, 0.5).pvalue)
    a2 = np.array([1] * 40 + [0] * 15 + [1] * 50)
    b2 = np.array([0] * 40 + [1] * 15 + [1] * 50)
    chi = stats.mcnemar(a2, b2)
    assert chi["method"].startswith("chi-squared")
    assert chi["statistic"] == pytest.approx((abs(40 - 15) - 1) ** 2 / 55)
    assert chi["p_value"] == pytest.approx(sps.chi2.sf(chi["statistic"], 1))
    assert stats.mcnemar(a, a)["p_value"] == 1.0


def test_correctness_multi_label_is_exact_match():
    y = np.array([[1, 0, 0, 0, 0], [0, 1, 1, 0, 0]])
    s = np.array([[0.9, 0.1, 0.1, 0.1, 0.1], [0.1, 0.9, 0.1, 0.1, 0.1]])
    assert stats.correctness(MULTI, y, s).tolist() == [1, 0]


def test_mean_std_and_aggregate():
    assert stats.mean_std([0.5, 0.7]) == pytest.approx((0.6, np.std([0.5, 0.7], ddof=1)))
    assert stats.mean_std([0.4]) == (0.4, 0.0)
    agg = stats.aggregate([{"f1": 0.5, "name": "a"}, {"f1": 0.7, "name": "b"}])
    assert set(agg) == {"f1"} and agg["f1"]["n"] == 2 and agg["f1"]["values"] == [0.5, 0.7]
    assert stats.format_mean_std(0.61234, 0.01) == "0.612 ± 0.010"
    assert stats.format_mean_std(float("nan")) == "–"
    assert stats.format_ci(0.1, 0.2) == "[0.100, 0.200]"
