import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from keras_ssl.evaluation import confusion_matrix_plot  # noqa: E402
from keras_ssl.evaluation import learning_curves  # noqa: E402
from tests.evaluation.test_evaluation_plots import assert_png  # noqa: E402


def test_confusion_matrix_plot_draws_sklearn_counts(tmp_path):
    before = set(plt.get_fignums())
    labels = np.array([0, 0, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 2, 2, 0])
    path = tmp_path / "confusion.png"
    figure = confusion_matrix_plot(
        labels, predictions, num_classes=4, path=path, title="toy"
    )
    assert_png(path)
    assert set(plt.get_fignums()) == before  # not registered with pyplot
    axes = figure.axes[0]
    assert "accuracy = 0.667" in axes.get_title()
    counts = [int(t.get_text()) for t in axes.texts]
    expected = confusion_matrix(labels, predictions, labels=range(4))
    assert counts == expected.ravel().tolist()  # 4 x 4 cells, row-major


@pytest.mark.parametrize(
    "labels, predictions, match",
    [
        ([0.5, 1], [0, 1], "labels"),
        ([0, 1], [[0, 1]], "predictions"),
        ([0, 1], [0], "same non-zero length"),
    ],
)
def test_confusion_matrix_plot_rejects_bad_arrays(labels, predictions, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix_plot(labels, predictions)


def test_learning_curves_one_panel_per_key_one_line_per_run(tmp_path):
    path = tmp_path / "curves.png"
    figure = learning_curves(
        {
            "method": {"loss": [3.0, 2.0, 1.0], "accuracy": [0.1, 0.5, 0.9]},
            "resumed": ([2, 3], {"loss": [1.5, 1.2]}),
        },
        keys=("loss", "accuracy"),
        path=path,
        title="toy",
    )
    assert_png(path)
    loss, accuracy = figure.axes  # one row of two panels
    lines = {line.get_label(): line for line in loss.get_lines()}
    np.testing.assert_array_equal(lines["method"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["resumed"].get_xdata(), [3, 4])
    np.testing.assert_array_equal(lines["resumed"].get_ydata(), [1.5, 1.2])
    assert [line.get_label() for line in accuracy.get_lines()] == ["method"]


def test_learning_curves_errors():
    with pytest.raises(ValueError, match="must not be empty"):
        learning_curves({}, keys=("loss",))
    with pytest.raises(ValueError, match="no run logs 'nope'"):
        learning_curves({"a": {"loss": [1.0]}}, keys=("nope",))


def test_learning_curves_lay_panels_out_two_per_row():
    figure = learning_curves({"a": {k: [1.0, 2.0] for k in "wxy"}}, keys="wxy")
    assert len(figure.axes) == 4
    assert [ax.get_visible() for ax in figure.axes] == [True] * 3 + [False]
