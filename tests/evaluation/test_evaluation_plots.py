import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from keras_ssl.evaluation import certainty_map  # noqa: E402
from keras_ssl.evaluation import embedding_map  # noqa: E402
from keras_ssl.evaluation import expected_calibration_error  # noqa: E402
from keras_ssl.evaluation import ood_histograms  # noqa: E402
from keras_ssl.evaluation import reliability_diagram  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_figure_leak():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


def assert_png(path):
    with open(path, "rb") as file:
        assert file.read(8) == PNG_MAGIC
    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    # Not a blank canvas.
    assert image[..., :3].std() > 0.01


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(3, 0.4), size=400)
    labels = rng.integers(0, 3, size=400)
    agree = rng.random(400) < 0.6
    labels[agree] = probs[agree].argmax(axis=1)
    return probs, labels


def test_reliability_diagram(tmp_path, predictions, no_figure_leak):
    probs, labels = predictions
    path = tmp_path / "reliability.png"
    figure = reliability_diagram(
        probs, labels, num_bins=10, path=path, title="toy"
    )
    assert isinstance(figure, Figure)
    assert_png(path)

    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    expected = []
    for b in range(10):
        low, high = b / 10, (b + 1) / 10
        in_bin = (confidence > low) & (confidence <= high + 1e-12)
        expected.append(correct[in_bin].mean() if in_bin.any() else 0.0)
    top = figure.axes[0]
    bars = top.containers[0]
    heights = [patch.get_height() for patch in bars.patches]
    np.testing.assert_allclose(heights, expected, atol=1e-12)
    lefts = [patch.get_x() for patch in bars.patches]
    np.testing.assert_allclose(lefts, np.arange(10) / 10, atol=1e-12)
    assert top.get_ylabel() == "Accuracy (fraction correct)"
    ece = expected_calibration_error(probs, labels, num_bins=10)
    assert f"ECE = {ece:.4f}" in top.get_title()
    assert top.get_title().startswith("toy\n")
    counts = [patch.get_height() for patch in figure.axes[1].patches]
    assert sum(counts) == len(labels)


def test_ood_histograms(tmp_path, no_figure_leak):
    rng = np.random.default_rng(0)
    scores_in = rng.normal(0, 1, 400)
    scores_out = {"near": rng.normal(0.5, 1, 300), "far": rng.normal(4, 1, 200)}
    path = tmp_path / "ood.png"
    figure = ood_histograms(scores_in, scores_out, path=path, title="scores")
    assert_png(path)
    axes = figure.axes[0]
    assert axes.get_xlabel() == "OOD score (larger = more OOD)"
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend[0].startswith("in-distribution")
    for text, (name, scores) in zip(
        legend[1:], scores_out.items(), strict=True
    ):
        labels = np.r_[np.zeros(400), np.ones(len(scores))]
        auroc = roc_auc_score(labels, np.r_[scores_in, scores])
        assert text == f"{name} (n={len(scores)}, AUROC {auroc:.3f})"
    # One filled density per set, each enclosing an area of one.
    assert len(axes.patches) == 3
    for patch in axes.patches:
        x, y = patch.get_path().vertices.T
        area = 0.5 * abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        assert area == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="scores_out"):
        ood_histograms(scores_in, {"empty": []})


def test_certainty_map(tmp_path, no_figure_leak):
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(-2, 0.5, (30, 2)), rng.normal(2, 0.5, (30, 2))]
    y = np.repeat([0, 1], 30)
    calls = []

    def certainty(points):
        calls.append(points)
        distance = np.linalg.norm(points[:, None] - x[None], axis=-1)
        return np.exp(-distance.min(axis=1))

    path = tmp_path / "certainty.png"
    bounds = (-5.0, 5.0, -4.0, 4.0)
    figure = certainty_map(certainty, x, y, path=path, grid=30, bounds=bounds)
    assert_png(path)
    assert len(calls) == 1 and calls[0].shape == (900, 2)
    np.testing.assert_allclose(calls[0].min(axis=0), [-5, -4])
    np.testing.assert_allclose(calls[0].max(axis=0), [5, 4])
    axes, colorbar_axes = figure.axes
    assert colorbar_axes.get_ylabel() == "certainty"
    assert len(axes.collections) >= 2
    scattered = [
        c for c in axes.collections if c.get_label().startswith("class")
    ]
    assert [len(c.get_offsets()) for c in scattered] == [30, 30]

    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        certainty_map(lambda p: 2 * np.ones(len(p)), x, y, grid=5)
    with pytest.raises(ValueError, match="one certainty per point"):
        certainty_map(lambda p: np.ones(3), x, y, grid=5)
    with pytest.raises(ValueError, match="x_train"):
        certainty_map(certainty, np.zeros((4, 3)), [0, 1, 0, 1])


def test_embedding_map(tmp_path, no_figure_leak):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    features = rng.normal(size=(120, 10)) + 3 * labels[:, None]
    path = tmp_path / "embedding.png"
    figure = embedding_map(features, labels, path=path, title="pca")
    assert_png(path)
    axes = figure.axes[0]
    expected = PCA(n_components=2).fit_transform(features)
    for class_id, collection in enumerate(axes.collections):
        offsets = np.asarray(collection.get_offsets())
        reference = expected[labels == class_id]
        # Principal axes are defined up to sign.
        signs = np.sign(np.sum(offsets * reference, axis=0))
        np.testing.assert_allclose(offsets, reference * signs, atol=1e-8)
    assert axes.get_xlabel().startswith("PC 1 (")
    with pytest.raises(ValueError, match="2 features"):
        embedding_map(np.zeros((5, 1)), np.zeros(5, int))


def test_figures_are_returned_without_path(predictions, no_figure_leak):
    probs, labels = predictions
    figure = reliability_diagram(probs, labels)
    assert isinstance(figure, Figure)
    assert len(figure.axes[0].containers[0].patches) == 15
