"""`decision_regions` and `class_scatter` (the FlowGMM recipe's plots)."""

import numpy as np
import pytest

from keras_ssl.evaluation import class_scatter
from keras_ssl.evaluation import decision_regions


def test_decision_regions_fills_each_predicted_class(tmp_path):
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    calls = []

    def predict(points):
        calls.append(points.shape)
        return (points[:, 0] > 0.5).astype(int)

    path = tmp_path / "regions.png"
    figure = decision_regions(
        predict, x, [0, 1, 0], labeled=(x[:2], [0, 1]), grid=30, path=path
    )
    assert calls == [(900, 2)] and path.stat().st_size > 1000
    assert figure.axes[0].get_legend() is not None
    with pytest.raises(
        ValueError, match=r"x must have shape \(num_samples, 2\)"
    ):
        decision_regions(predict, np.zeros((3, 3)), [0, 1, 0])
    with pytest.raises(ValueError, match="grid"):
        decision_regions(predict, x, [0, 1, 0], grid=1)
    with pytest.raises(ValueError, match="one integer class id per point"):
        decision_regions(lambda p: p[:, 0] + 0.3, x, [0, 1, 0], grid=5)
    with pytest.raises(ValueError, match="bounds"):
        decision_regions(predict, x, [0, 1, 0], bounds=(1, 0, 0, 1))


def test_class_scatter_draws_centres_highlights_and_background(tmp_path):
    rng = np.random.default_rng(0)
    points, labels = rng.normal(size=(20, 2)), np.arange(20) % 2
    path = tmp_path / "latent.png"
    figure = class_scatter(
        points,
        labels,
        centers=np.array([[-1.0, -1.0], [1.0, 1.0]]),
        highlight=(points[:2], labels[:2]),
        background=rng.normal(size=(5, 2)),
        path=path,
    )
    assert path.stat().st_size > 1000
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert {"class 0", "class 1", "class means", "data"} <= set(texts)
    with pytest.raises(ValueError, match="centers"):
        class_scatter(points, labels, centers=np.zeros((2, 3)))
