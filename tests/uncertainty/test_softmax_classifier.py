import keras
import numpy as np
import pytest

from keras_ssl import backbones
from keras_ssl import data
from keras_ssl import evaluation
from keras_ssl.testing import check_method_contract
from keras_ssl.uncertainty import SoftmaxClassifier
from tests.core import replica_models


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = data.digits(image_size=16)
    (x_in, y_in), _ = data.held_out_classes(x, y, (0, 1, 2, 3, 4))
    (x_test_in, y_test_in), x_out = data.held_out_classes(
        x_test, y_test, (0, 1, 2, 3, 4)
    )
    model = SoftmaxClassifier(
        backbones.small_cnn((16, 16, 1), preset="wide"), num_classes=5
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model(x_in[:2])
    untrained = {k: np.asarray(v) for k, v in model.classify(x_test_in).items()}
    untrained["ood_score_out"] = np.asarray(model.classify(x_out)["ood_score"])
    model.fit(x_in, y_in, batch_size=64, epochs=8, verbose=0)
    return model, untrained, x_test_in, y_test_in, x_out


def test_learns_digits_far_above_its_random_init(trained):
    model, untrained, x, y, _ = trained
    out = model.classify(x)
    accuracy = np.mean(np.asarray(out["prediction"]) == y)
    chance = np.mean(untrained["prediction"] == y)
    assert accuracy >= 0.95
    assert accuracy > chance + 0.5


def test_classify_outputs_are_consistent(trained):
    model, _, x, _, _ = trained
    out = {k: np.asarray(v) for k, v in model.classify(x[:32]).items()}
    np.testing.assert_allclose(out["probs"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["certainty"], out["probs"].max(-1))
    np.testing.assert_allclose(out["ood_score"], -out["certainty"])
    np.testing.assert_array_equal(out["prediction"], out["probs"].argmax(-1))


def test_unseen_digits_score_as_more_ood_than_seen_ones(trained):
    model, untrained, x, _, x_out = trained
    scores_in = np.asarray(model.classify(x)["ood_score"])
    scores_out = np.asarray(model.classify(x_out)["ood_score"])
    auroc = evaluation.ood_metrics(scores_in, scores_out)["auroc"]
    random_auroc = evaluation.ood_metrics(
        untrained["ood_score"], untrained["ood_score_out"]
    )["auroc"]
    assert auroc > 0.85
    assert auroc > random_auroc


def test_train_on_batch_and_sample_weights():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = np.arange(8) % 3
    model = SoftmaxClassifier(backbones.mlp((4,), hidden=(5,)), num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] > 0
    before = [np.asarray(w).copy() for w in model.trainable_weights]
    model.train_on_batch(x, y, sample_weight=np.zeros(8))
    for a, b in zip(before, model.trainable_weights, strict=True):
        np.testing.assert_allclose(a, np.asarray(b))


def test_softmax_meets_the_method_contract(tmp_path):
    rng = np.random.default_rng(0)
    batch = (
        rng.normal(size=(16, 6)).astype("float32"),
        rng.integers(0, 3, 16).astype("int32"),
    )
    report = check_method_contract(
        replica_models.build_softmax, batch, tmp_path
    )
    assert report["export"]["endpoints"] == ["classify", "embed"]
