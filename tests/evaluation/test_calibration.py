import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from emotune.evaluation.calibration import (
    calibration_summary,
    confidence_and_outcome,
    expected_calibration_error,
    reliability,
)
from tests.fixtures.toy import RUN_ISEAR as ISEAR, RUN_MULTI as MULTI, gold, scores_for


def test_perfectly_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 50_000)
    outcome = (rng.uniform(0, 1, conf.size) < conf).astype(int)
    assert reliability(conf, outcome)["ece"] < 0.01


def test_overconfident_scores_have_the_gap_as_ece():
    conf = np.full(1000, 0.95)
    outcome = np.r_[np.ones(600), np.zeros(400)].astype(int)
    r = reliability(conf, outcome)
    assert r["ece"] == pytest.approx(0.35)
    assert r["counts"] == [1000] and r["mce"] == pytest.approx(0.35)


def test_points_match_sklearn_calibration_curve_and_counts_add_up():
    y = gold(ISEAR, 500)
    s = scores_for(ISEAR, y, 0.5, seed=1)
    conf, outcome = confidence_and_outcome(ISEAR, y, s)
    r = reliability(conf, outcome, n_bins=8)
    pt, pp = calibration_curve(outcome, conf, n_bins=8)
    assert np.allclose(r["prob_true"], pt) and np.allclose(r["prob_pred"], pp)
    assert sum(r["counts"]) == 500 and len(r["counts"]) == len(pt)
    manual = sum(c / 500 * abs(a - b) for c, a, b in zip(r["counts"], pt, pp))
    assert r["ece"] == pytest.approx(manual)


def test_all_right_or_all_wrong_does_not_crash():
    assert reliability(np.array([0.9, 0.8]), np.array([1, 1]))["ece"] == pytest.approx(0.15)
    assert reliability(np.array([0.9, 0.8]), np.array([0, 0]))["ece"] == pytest.approx(0.85)
    assert np.isnan(reliability(np.array([]), np.array([]))["ece"])


def test_multi_label_uses_every_label_probability():
    y = gold(MULTI, 100)
    s = scores_for(MULTI, y, 0.5, seed=2)
    conf, outcome = confidence_and_outcome(MULTI, y, s)
    assert conf.size == y.size
    summary = calibration_summary(MULTI, y, s)
    assert summary["kind"] == "per-label probability"
    assert summary["ece"] == pytest.approx(expected_calibration_error(MULTI, y, s))


def test_scores_outside_unit_interval_are_clipped():
    y = np.array([0, 1])
    s = np.array([[1.2, -0.1, 0, 0, 0, 0, 0], [0.2, 0.7, 0, 0, 0, 0, 0]])
    assert 0 <= expected_calibration_error(ISEAR, y, s) <= 1
