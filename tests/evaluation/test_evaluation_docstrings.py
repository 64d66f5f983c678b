import doctest
import importlib

import pytest

# keras_ssl.evaluation.calibration writes its examples as ```python blocks
# with asserts; tests/test_docstring_examples.py runs them.
MODULES = [
    "certainty_map",
    "embedding_map",
    "encoder_features",
    "frechet_distance",
    "image_grids",
    "knn_accuracy",
    "linear_probe",
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
