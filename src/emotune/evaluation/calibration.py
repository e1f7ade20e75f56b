"""Calibration: does a model's confidence match how often it is right?

Single-label models are judged on their top-label confidence (the max softmax probability
against whether the argmax was correct); multi-label models on every (text, label) probability
against whether the label is present. Reliability-diagram points come from scikit-learn's
``calibration_curve``; the expected calibration error (ECE) weighs each bin's gap
``|accuracy - confidence|`` by its share of the predictions (Guo et al., 2017).
"""

from emotune.metrics import (  # they live with the other metrics, which models/ may import
    DEFAULT_BINS, calibration_summary, confidence_and_outcome, expected_calibration_error, reliability,
)

__all__ = ["DEFAULT_BINS", "calibration_summary", "confidence_and_outcome", "expected_calibration_error", "reliability"]
