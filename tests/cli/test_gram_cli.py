"""`keras-ssl train gram` end to end, and the learning test.

Two full runs with the recipe's defaults (the softmax classifier trained
for its 10 epochs, one pass for the bounds, calibration on 10% of the
test set, the official 10 validation splits), seed 0 from the command
line and seed 1 from `keras_ssl.run.train`. The learning test compares
the detector with its own classifier's maximum softmax probability: the
control is trained the same way (same network, optimizer, epochs and
seed) because it *is* the network the detector reads.
"""

import json
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import cli
from keras_ssl import data
from keras_ssl import run as runs
from keras_ssl.recipes import get_recipe
from keras_ssl.recipes.gram_recipe import _validation_split
from keras_ssl.uncertainty import GramDetector
from tests.cli.test_cli import train_args

SEEDS = (0, 1)


def gram_args(run_dir, *extra):
    args = train_args(run_dir, *extra, dataset="digits")
    args.method = "gram"
    args.epochs = args.batch_size = None  # the recipe's: 1 pass, 128
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("gram")
    assert cli.train(gram_args(base / "seed0")) == 0
    first = runs.Run.load(str(base / "seed0"))
    second = runs.train("gram", str(base / "seed1"), seed=1, verbose=0)
    return dict(zip(SEEDS, (first, second), strict=True))


def _split_auroc(run, score, ood_set):
    return run.metrics["validation_splits"]["mean"][score][ood_set]["auroc"]


@pytest.mark.slow
def test_gram_flags_uniform_noise_better_than_the_softmax(trained):
    gram = np.mean(
        [
            _split_auroc(r, "ood_score", "uniform_noise")
            for r in trained.values()
        ]
    )
    msp = np.mean(
        [
            _split_auroc(r, "msp_score", "uniform_noise")
            for r in trained.values()
        ]
    )
    held_out = {  # reported, not gated
        score: [
            round(_split_auroc(r, score, "digits_5_9"), 3)
            for r in trained.values()
        ]
        for score in ("ood_score", "msp_score")
    }
    print(f"noise AUROC: gram {gram:.3f}, msp {msp:.3f}; 5-9: {held_out}")
    for run in trained.values():
        assert run.metrics["accuracy"] >= 0.95
    assert gram >= msp
    assert gram >= 0.93


def test_training_inputs_have_no_deviation_on_the_trained_classifier(trained):
    run = trained[0]
    x = get_recipe("gram").load_data("digits", run.config, 0)
    model = run.model
    # Scored in batches of 100; the bounds were fitted in batches of 128.
    deviations = keras_ssl.evaluation.predict_in_batches(
        lambda batch: {"d": model.tap_deviations(batch)}, x["x_train"], 100
    )["d"]
    assert deviations.shape == (len(x["x_train"]), 3)
    assert deviations.max() <= 1e-5
    for inputs in (x["x_test"], *x["ood"].values()):
        assert np.asarray(model.score(inputs)).min() >= 0


def test_run_json_has_both_scores_the_split_average_and_plots(trained):
    run = trained[0]
    run_dir = run.run_dir
    assert run.record["final_logs"] == {"classes_seen": 5.0}
    assert (run.record["epochs"], run.record["global_batch"]) == (1, 128)
    classifier = runs.Run.load(f"{run_dir}/classifier")
    assert classifier.method == "softmax"
    assert (classifier.record["epochs"], classifier.record["seed"]) == (10, 0)
    metrics = run.metrics
    assert set(metrics["ood_by_score"]) == {"ood_score", "msp_score"}
    assert metrics["ood"] == metrics["ood_by_score"]["ood_score"]
    for by_set in metrics["ood_by_score"].values():
        assert set(by_set) == {"digits_5_9", "uniform_noise"}
        assert by_set["uniform_noise"]["num_in"] == 244  # 90% of 271
    splits = metrics["validation_splits"]
    assert (splits["splits"], splits["val_fraction"]) == (10, 0.1)
    # Split 1 of the average is the saved detector's own calibration.
    first = metrics["ood"]["digits_5_9"]["auroc"]
    mean = splits["mean"]["ood_score"]["digits_5_9"]["auroc"]
    spread = splits["std"]["ood_score"]["digits_5_9"]["auroc"]
    assert 0 < spread and abs(first - mean) <= 3 * spread
    for plot in (
        "ood_histograms",
        "msp_ood_histograms",
        "tap_deviations",
        "reliability_diagram",
    ):
        with open(f"{run_dir}/plots/{plot}.png", "rb") as f:
            assert len(f.read()) > 1000


def _flat(tree, prefix=""):
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {
        key: value
        for name, sub in tree.items()
        for key, value in _flat(sub, f"{prefix}/{name}").items()
    }


def test_evaluate_reproduces_the_metrics(trained):
    again = json.loads(json.dumps(runs.evaluate(trained[1].run_dir)))
    assert _flat(again) == pytest.approx(_flat(trained[1].metrics))


def test_export_classify_has_bounds_and_calibration_baked_in(trained, tmp_path):
    run_dir = trained[0].run_dir
    target = tmp_path / "saved_models" / "gram"
    args = cli._parser().parse_args(["export", run_dir, "--to", str(target)])
    assert cli.export(args) == 0
    loaded = tf.saved_model.load(str(target / "1"))
    raw = data.raw_digits()[0][:6]
    out = loaded.signatures["classify"](inputs=tf.constant(raw))
    assert {"probs", "prediction", "ood_score", "msp_score"} <= set(out)
    model = keras.saving.load_model(f"{run_dir}/model.keras")
    assert isinstance(model, GramDetector)
    expected = model.classify(data.digits_preprocessing(image_size=16)(raw))
    for key in ("probs", "ood_score", "deviations"):
        np.testing.assert_allclose(
            out[key], expected[key], rtol=1e-5, atol=1e-9
        )


def test_a_given_classifier_run_gives_the_same_detector(trained, tmp_path):
    classifier = f"{trained[0].run_dir}/classifier"
    given = (
        "--set",
        f"classifier_run={classifier}",
        "--set",
        "validation_splits=1",
    )
    again = tmp_path / "again"
    assert cli.train(gram_args(again, *given)) == 0
    assert not (again / "classifier").exists()
    second = keras.saving.load_model(str(again / "model.keras"))
    for a, b in zip(trained[0].model.weights, second.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # Another seed would mean another training split: refused up front.
    other = tmp_path / "other"
    with pytest.raises(ValueError, match="seed=0.*seed=1"):
        cli.train(gram_args(other, "--seed", "1", *given))
    gram_run = ("--set", f"classifier_run={again}")
    with pytest.raises(ValueError, match="'gram' run"):
        cli.train(gram_args(other, *gram_run))
    assert not other.exists()


def test_bad_detector_settings_stop_before_the_classifier_trains(tmp_path):
    for bad, message in (
        ("powers=0", "powers must be"),
        ("val_fraction=1.5", "val_fraction"),
        ("validation_splits=-1", "validation_splits"),
    ):
        with pytest.raises(ValueError, match=message):
            cli.train(gram_args(tmp_path / "bad", "--set", bad))
        assert not (tmp_path / "bad").exists()


def test_validation_splits_are_the_official_ones():
    # The notebooks: random.seed(i); random.sample(range(n), int(0.1 * n)).
    random.seed(3)
    expected = random.sample(range(271), 27)
    validation, rest = _validation_split(271, 0.1, 3)
    assert list(validation) == expected
    assert sorted([*validation, *rest]) == list(range(271))
    assert list(rest) == sorted(rest)
    recipe = get_recipe("gram")
    family = {"x_test": np.arange(271.0)[:, None], "y_test": np.arange(271)}
    split = recipe.split(family, recipe.resolve_config({}))
    first, _ = _validation_split(271, 0.1, 1)
    np.testing.assert_array_equal(split["y_val"], first)
    np.testing.assert_array_equal(
        np.sort(np.concatenate([split["y_val"], split["y_test"]])),
        split["y_test_all"],
    )
    with pytest.raises(ValueError, match="empty validation"):
        _validation_split(5, 0.1, 1)
