"""DS3L learns to down-weight unseen-class unlabeled digits, and is safe.

The issue's and the method note's class-mismatch protocol on digits at
mismatch r = 0.5: classes 0-5 seen, 5 labels each; 400 unlabeled digits,
half of them from 6-9; test on the seen classes. DS3L and the
labeled-only control (`Supervised`, the first view of the same labeled
batches) start from the same encoder and head weights and train with the
same optimizer, epochs, batches, augmentation and dropout keys, on seeds
0 and 1.

Gates (mean of the 2 seeds):

- the method note's CI criterion (a): the mean learned weight of the
  unseen-class unlabeled digits is below that of the seen-class ones;
- DS3L's safeness claim against the control: its test accuracy is at
  least the control's.

The issue asks for more, unseen < 0.8 x seen. It holds on seeds 0 and 1
since DS3L scales the cross-entropy as the official code does (its mean
over the concatenated labeled and unlabeled batch, 30 / 94 here): per-
seed ratios 0.72 / 0.66, ratio of the means 0.69, weight AUROC 0.65 /
0.47, accuracy 0.969 / 0.966 against the control's 0.951 / 0.954. But
seeds 2-5 give 0.99 / 0.89 / 0.90 / 0.85 (seed pairs 2-3 and 4-5: 0.93
and 0.87 of the means), so asserting it on seeds 0-1 would be seed-
picking; it stays an expected failure (not strict) until it holds over
seeds. Found by comparing one DS3L step with the official PyTorch code
on the same weights and batch (the same math to float32 precision with
the labeled-mean cross-entropy; the official scale is what differed),
and in the official code on this protocol (2,000 steps, 5 seeds) that
scale moved the ratio from 0.80 to 0.57. At the recipe's 2,100 steps
`DS3L` now gives 0.61 / 0.78 / 0.88 / 0.90 on seeds 0-3 (0.81 of the
means), still above the official code's 0.57-0.64; the rest of the gap
is not found (candidates: the official augmentation inside every forward
pass against the fixed views per step here, and the input scale).

Everything below is from before that fix (the labeled-mean cross-
entropy): the search that did not find it. A 210-step variant of the note's
2,000-step run (30 epochs of 7 steps, the weight network's Adam at 3e-3
instead of the note's 1e-3, the ramp-up over the first 40%), calibrated
once. Measured here (seeds 0 / 1, the official PyTorch initialisation of
the weight network): accuracy DS3L 0.972 / 0.963, control 0.951 / 0.954
(mean margin +1.5 points); mean weights seen 0.404 / 0.321, unseen 0.352
/ 0.242 (per-seed ratios 0.87 / 0.75, ratio of the seed means 0.82: the
0.8x gate misses by 0.007 in the unseen mean); weight AUROC 0.60 / 0.59.
Seeds 2-5, same protocol: ratios 0.91 / 0.90 / 0.95 / 0.87, so 0.82 is
the lucky end. Re-run later on a fresh TF 2.21.0 / Keras 3.15.1 install:
ratios 0.84 / 0.76 (0.81 of the means; seen 0.428 / 0.328, unseen 0.361
/ 0.250), accuracy 0.972 / 0.963 against 0.951 / 0.966 (why the weights
and the seed-1 control moved was not traced). With Keras' Glorot
initialisation (before): 0.88 / 0.84. At 60 and 100 epochs one of the
two seeds gave unseen-class digits the higher mean weight (ratios 0.74 /
0.95 and 1.01 / 0.88), and the full recipe (2,100 steps) gave 0.64 on
seed 0 and 1.07 on seed 1.

Why (checked against the official code, `guolz-ml/DS3L` `train.py` and
`wideresnet.py`; this implementation follows it in the weight network's
input, softmax probabilities of the first pass, not detached; its
architecture and initialisation; one meta step per classifier step from
the first step, no warm-up but the ramp-up of lambda; weights normalised
by their batch sum; a plain-SGD virtual step): the weight network sees a
near one-hot softmax (mean confidence 0.96 on seen-class, 0.73 on
unseen-class digits), so it learns about one weight per predicted class,
and the seen-class digits of the classes the unseen ones fall into lose
weight with them. The per-sample meta-gradient is weak and changes sign
during training (measured with the Glorot initialisation: its
seen/unseen mean difference is 0.3-5 standard errors over 2,560 samples,
and at 15 epochs of seed 0 it pushed the unseen weights *up*). Under
batch-sum normalisation the weights' overall level is not learned (the
loss does not change when all of them scale), so the ratio of the means
drifts with that level. Tried (Glorot initialisation, ratio of the
seed-0/1 means), none reaching 0.8: meta_lr 1e-3 and 1.0 (0.92, 0.93;
the Adam step hides its scale), the weight-network Adam at 1e-3 (0.92),
60 epochs at 1e-3 (0.91), dropout 0.5 (0.95), the official 2x
consistency weight against the mean CE (0.89), labeled batch 10 (0.96),
unlabeled batch 32 (0.91), fresh augmentations for the meta and real
passes as the official CIFAR network (0.89, 0.94), weights measured in
training mode (0.88). Not the official method, for the diagnosis only: a
weight network on `log(p) / 5` instead of `p` lifts the AUROC on all six
seeds (mean 0.60 -> 0.75) but not the ratio reliably (0.72 on seeds 0-1,
0.88 on 2-5).

The method note's own figure (0.156 / 0.301 = 0.52, 3-seed means at
2,000 steps) did not reproduce in an independent reference written from
the note alone (`benchmarks/ds3l_reference.py`: nothing of `DS3L`, its
recipe or its data stream, only the digits split; its table is in
`benchmarks/README.md`). With the note's setting taken literally (the
shift and noise inside every forward pass, the official loss form with
the cross-entropy over the whole 94-image batch, a Glorot weight
network, 2,000 steps) the ratio per seed 0 / 1 / 2 was 1.07 / 0.83 /
0.69, ratio of the means 0.83 (0.91 over seeds 0-1; 0.80 for the
training-mode weights of the last 200 steps), AUROC 0.62, accuracy
0.987; with fixed views per step made outside the model, as our
`tf.data` stream, 0.75 / 0.70 / 0.87 (0.78, AUROC 0.69); with those
views and the mean cross-entropy of the labels, as `DS3L`, 0.91 / 0.66 /
0.73 (0.78, AUROC 0.56). The literal reference on seeds 3 / 4: 0.81 /
0.87 (over seeds 0-4: ratio of the means 0.83, AUROC 0.62). `DS3L`
through the recipe at its 2,100 steps (weight network's Adam at 1e-3,
re-measured): 0.59 / 0.97 / 0.83 (0.81; 0.80 over seeds 0-1), AUROC
0.60, accuracy 0.959. So the reference spreads as widely over seeds as
`DS3L` and lands where it does; no difference between them moved the
ratio beyond that spread, and the note's 0.52 is not what its described
setting gives here. Its accuracies (DS3L 0.922, labels alone 0.920 at r
= 0.5) are also 6 points below the reference's 0.987, so its runs
differed from its text in something it does not say. The official loss
form at the recipe's batches (cross-entropy weighted 30 / 94, that is
`consistency_weight` 31.3 against the mean cross-entropy, not the 2x of
equal batches tried above) at 210 steps: ratios 0.72 / 1.40 / 0.94 /
0.92 / 1.04 / 0.91 on seeds 0-5 (0.96 of the means, AUROC 0.55, accuracy
0.950 against 0.968), worse.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe
from keras_ssl.recipes.ds3l_recipe import weight_metrics

SEEDS = (0, 1)
EPOCHS = 30
WEIGHT_LR = 3e-3
UNLABELED_BATCH = 64
KINDS = ("ds3l", "supervised")


def _accuracy(model, data):
    out = evaluation.predict_in_batches(
        tf.function(model.classify), data["x_test"]
    )
    return float(np.mean(out["prediction"] == data["y_test"]))


def _train(recipe, kind, seed, initial_weights):
    steps_per_epoch = -(-400 // UNLABELED_BATCH)
    settings = {
        "mismatch": 0.5,
        "weight_learning_rate": WEIGHT_LR,
        # Over the first 40% of the steps, as the recipe and the note.
        "ramp_up_steps": int(0.4 * EPOCHS * steps_per_epoch),
    }
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


@pytest.mark.xfail(
    reason=(
        "the issue's 0.8x separation holds on seeds 0-1 (0.69 of the "
        "means) but not over seeds (0.85-0.99 on seeds 2-5, seed pairs "
        "2-3 and 4-5 at 0.93 and 0.87): not asserted until it holds over "
        "seeds (see the module docstring)"
    ),
    strict=False,
)
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
