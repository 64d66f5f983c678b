import doctest
import importlib

import pytest

MODULES = [
    "brier_score",
    "calibration_bins",
    "calibration_metrics",
    "certainty_map",
    "embedding_map",
    "encoder_features",
    "expected_calibration_error",
    "knn_accuracy",
    "linear_probe",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "ood_histograms",
    "ood_metrics",
    "reliability_diagram",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"keras_ssl.evaluation.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
