"""DS3L learns to down-weight unseen-class unlabeled digits, and is safe.

The issue's and the method note's class-mismatch protocol on digits at
mismatch r = 0.5: classes 0-5 seen, 5 labels each; 400 unlabeled digits,
half of them from 6-9; test on the seen classes. DS3L through its recipe
(the official MNIST network on centred inputs, dropout 0.5, full
unlabeled batches of 64: 350 epochs of 6 steps, the recipe's 2,100) and
the labeled-only control (`Supervised`, the first view of the same
labeled batches) start from the same encoder and head weights and train
with the same optimizer, epochs, batches, augmentation and dropout keys,
on seeds 0 and 1.

Gates (mean of the 2 seeds):

- the issue's: the mean learned weight of the unseen-class unlabeled
  digits is below 0.8 x that of the seen-class ones (and, the method
  note's CI criterion (a), below it at all);
- DS3L's safeness claim against the control: its test accuracy is at
  least the control's.

Calibration (the recipe's setting, 10 seeds, mean-weight ratio of the
means 0.70, every seed at most 0.79, weight AUROC 0.72, accuracy 0.944;
the official PyTorch code on the same splits and views: 0.65). The
gate's margin on seeds 0-1 is printed with the per-seed numbers (`-s`).
How it was found: before the recipe kept full batches only and used the
official network on centred inputs, the ratio was 0.81 (seeds 0-9) and
the 0.8x gate held on some seed pairs only (the recipe's docstring has
the comparison). Earlier still, the cross-entropy's scale (the official
mean over the concatenated labeled and unlabeled batch) was found by
comparing one step with the official code on the same weights and batch.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe
from keras_ssl.recipes.ds3l_recipe import weight_metrics

SEEDS = (0, 1)
EPOCHS = 350
UNLABELED_BATCH = 64
KINDS = ("ds3l", "supervised")


def _accuracy(model, data):
    out = evaluation.predict_in_batches(
        tf.function(model.classify), data["x_test"]
    )
    return float(np.mean(out["prediction"] == data["y_test"]))


def _train(recipe, kind, seed, initial_weights):
    steps_per_epoch = 400 // UNLABELED_BATCH  # full batches only
    settings = {"mismatch": 0.5}  # the recipe's defaults otherwise
    config = recipe.resolve_config(settings, "digits")
    keras.utils.set_random_seed(seed)
    data = recipe.load_data("digits", config, seed)
    dataset, steps = recipe.train_dataset(
        data,
        UNLABELED_BATCH,
        seed,
        0,
        EPOCHS,
        config,
        views=1 if kind == "supervised" else None,
    )
    assert steps == steps_per_epoch
    build = recipe.build_control if kind == "supervised" else recipe.build_model
    model = build(data, config, steps)
    optimizers = recipe.compile_arguments(config, steps)
    if kind == "supervised":  # one optimizer: the classifier's
        optimizers = {"optimizer": optimizers["optimizer"]}
    model.compile(**optimizers, steps_per_execution=steps)
    model(data["x_train"][:2])
    if initial_weights is None:
        initial_weights = [
            layer.get_weights() for layer in (model.encoder, model.classifier)
        ]
    model.encoder.set_weights(initial_weights[0])
    model.classifier.set_weights(initial_weights[1])
    history = model.fit(
        dataset, epochs=EPOCHS, steps_per_epoch=steps, verbose=0
    )
    result = {"accuracy": _accuracy(model, data), "history": history.history}
    if kind == "ds3l":
        weights = model.sample_weights(data["x_train"]).numpy()
        unseen = np.asarray(data["unlabeled_is_unseen"], bool)
        assert unseen.sum() == 200  # r = 0.5 of the 400
        result.update(weight_metrics(weights[~unseen], weights[unseen]))
    return result, initial_weights


@pytest.fixture(scope="module")
def runs():
    recipe = get_recipe("ds3l")
    results = {kind: [] for kind in KINDS}
    for seed in SEEDS:
        initial = None
        for kind in KINDS:
            result, initial = _train(recipe, kind, seed, initial)
            results[kind].append(result)
    print(
        "by seed:",
        {
            kind: [{k: v for k, v in r.items() if k != "history"} for r in rs]
            for kind, rs in results.items()
        },
    )
    return results


def _mean_weights(runs):
    return (
        np.mean([r["mean_weight_seen"] for r in runs["ds3l"]]),
        np.mean([r["mean_weight_unseen"] for r in runs["ds3l"]]),
    )


def test_unseen_class_samples_get_lower_weights(runs):
    seen, unseen = _mean_weights(runs)
    assert unseen < seen, (seen, unseen)


def test_unseen_class_weights_below_0_8_of_seen(runs):
    seen, unseen = _mean_weights(runs)
    assert unseen < 0.8 * seen, (seen, unseen)


def test_ds3l_is_at_least_as_accurate_as_the_labeled_only_control(runs):
    ds3l = np.mean([r["accuracy"] for r in runs["ds3l"]])
    control = np.mean([r["accuracy"] for r in runs["supervised"]])
    assert ds3l >= control, (ds3l, control)


def test_the_weighted_term_and_the_meta_loss_are_active(runs):
    for run in runs["ds3l"]:
        history = run["history"]
        assert history["ramp_up"][-1] == pytest.approx(1.0)
        assert max(history["weighted_consistency"]) > 1e-3
        # The meta loss (labeled CE at theta') falls as the model learns.
        meta = np.array(history["meta"])
        assert meta[-5:].mean() < 0.5 * meta[:5].mean()
