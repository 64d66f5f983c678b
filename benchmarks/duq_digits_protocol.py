"""DUQ against the softmax on digits 0-4, the protocol of issue 13.

Runs the official-code protocol in the project, side by side with a
softmax classifier trained the same way, over seeds, and prints mean
[min, max] of accuracy, AUROC against digits 5-9 and AUROC against
uniform noise:

- split: classes 0-4, `train_test_split(test_size=0.3, stratify=y,
  random_state=0)` (630 / 271 images; the seed does not move it);
- OOD: all 896 images of classes 5-9, and 1,000 uniform-noise images;
- 16x16 bilinear upsampling (`keras_ssl.data.digits`);
- trunk `keras_ssl.backbones.duq_cnn`: conv3x3 32 -> BN -> ReLU ->
  pool, conv 64 (same), conv 64 (valid, as the FashionMNIST code's last
  conv) -> BN -> ReLU -> pool, flatten, dense 256 -> ReLU; PyTorch's
  default initialisation (uniform with bound 1 / sqrt(fan_in) for
  kernels and biases), BN eps 1e-5 and momentum 0.1 (Keras 0.9);
- DUQ head `W ~ N(0, 0.05)`, N = 12, embedding 256 (`DUQ`'s defaults);
- batch 128 with the last batch dropped, SGD 0.05, momentum 0.9,
  coupled weight decay 1e-4, x0.2 at epochs 10 and 20, 30 epochs.

Each `--variant` changes one thing (see `VARIANTS`), so the effect of
each difference between the project's recipe and the protocol can be
measured. `--validation` splits the 630 training images 75/25
(stratified, `random_state=0`) and reports validation accuracy and
certainty instead of the OOD metrics: the numbers the recipe's defaults
were chosen on.

    python benchmarks/duq_digits_protocol.py --seeds 0 1 2 3
    python benchmarks/duq_digits_protocol.py --variant glorot sigma_0.1
"""

import argparse
import math
import time

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from keras_ssl import backbones
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.core.weight_decay import coupled_weight_decay
from keras_ssl.uncertainty import DUQ
from keras_ssl.uncertainty import SoftmaxClassifier

PROTOCOL = {
    "trunk": "protocol",  # or "small_cnn" (the recipe's wide small CNN)
    "init": "pytorch",  # or "glorot" (Keras defaults, zero bias)
    "bn_epsilon": 1e-5,
    "batch_size": 128,
    "drop_remainder": True,
    "milestones": (10, 20),
    "epochs": 30,
    "learning_rate": 0.05,
    "weight_decay": 1e-4,
    "length_scale": 0.3,
    "gamma": 0.999,
    "gradient_penalty": 0.5,
    "loss": "log_space",  # or "torch" (`TorchLossDUQ`)
}

# One change from PROTOCOL each.
VARIANTS = {
    "protocol": {},
    "sigma_0.1": {"length_scale": 0.1},
    "sigma_0.2": {"length_scale": 0.2},
    "sigma_0.5": {"length_scale": 0.5},
    "sigma_0.1_gamma_0.9": {"length_scale": 0.1, "gamma": 0.9},
    "sigma_0.1_gamma_0.99": {"length_scale": 0.1, "gamma": 0.99},
    "gamma_0.99": {"gamma": 0.99},
    "glorot": {"init": "glorot"},
    "bn_eps_1e-3": {"bn_epsilon": 1e-3},
    "keep_remainder": {"drop_remainder": False},
    "batch_64": {"batch_size": 64, "drop_remainder": False},
    "constant_lr": {"milestones": ()},
    "small_cnn": {"trunk": "small_cnn", "init": "glorot"},
    "torch_bce": {"loss": "torch"},
    "sigma_0.1_torch_bce": {"length_scale": 0.1, "loss": "torch"},
    "sigma_0.1_gamma_0.99_torch_bce": {
        "length_scale": 0.1,
        "gamma": 0.99,
        "loss": "torch",
    },
    "sigma_0.1_gamma_0.9_torch_bce": {
        "length_scale": 0.1,
        "gamma": 0.9,
        "loss": "torch",
    },
    # The recipe before issue 13: small CNN, Glorot, sigma 0.1,
    # gamma 0.99, batch 64 (remainder kept), constant rate.
    "old_recipe": {
        "trunk": "small_cnn",
        "init": "glorot",
        "length_scale": 0.1,
        "gamma": 0.99,
        "batch_size": 64,
        "drop_remainder": False,
        "milestones": (),
    },
}


@tf.custom_gradient
def _torch_binary_cross_entropy(kernels, targets):
    """PyTorch's `binary_cross_entropy` (no reduction): logs clamped at
    -100, and its backward `(K - y) / max(K (1 - K), 1e-12)`."""
    loss = -(
        targets * tf.maximum(tf.math.log(kernels), -100.0)
        + (1.0 - targets) * tf.maximum(tf.math.log(1.0 - kernels), -100.0)
    )

    def grad(upstream):
        denominator = tf.maximum(kernels * (1.0 - kernels), 1e-12)
        return upstream * (kernels - targets) / denominator, None

    return loss, grad


class TorchLossDUQ(DUQ):
    """DUQ with the official loss computed as PyTorch does: on `K` itself
    rather than in log space (for the `torch_bce` variants)."""

    def kernel_cross_entropy(self, log_k, one_hot):
        return _torch_binary_cross_entropy(tf.exp(log_k), one_hot)


class CoupledL2Softmax(SoftmaxClassifier):
    """The softmax control with PyTorch-SGD-style (coupled) weight decay."""

    def __init__(self, encoder, num_classes, weight_decay=0.0, **kwargs):
        super().__init__(encoder, num_classes, **kwargs)
        self.weight_decay = weight_decay

    def regularization_loss(self):
        return super().regularization_loss() + coupled_weight_decay(
            self.trainable_weights, self.weight_decay
        )


def protocol_data(validation=False):
    """The protocol's split; `validation` splits the training part."""
    in_classes = [0, 1, 2, 3, 4]
    (x, y), (x_test, y_test) = ssl_data.digits(
        image_size=16, classes=in_classes, test_size=0.3, seed=0
    )
    (x_out, _), (x_out2, _) = ssl_data.digits(
        image_size=16, classes=[5, 6, 7, 8, 9], test_size=0.5, seed=0
    )
    ood = {
        "digits_5_9": np.concatenate([x_out, x_out2]),
        "noise": ssl_data.uniform_noise(1000, x.shape[1:], seed=0),
    }
    if validation:
        x, x_test, y, y_test = train_test_split(
            x, y, test_size=0.25, stratify=y, random_state=0
        )
        ood = {}
    return (x, y), (x_test, y_test), ood


def build(kind, settings, input_shape, num_classes):
    if settings["trunk"] == "protocol":
        encoder = backbones.duq_cnn(
            input_shape,
            initializer=settings["init"],
            batch_norm_epsilon=settings["bn_epsilon"],
        )
    else:
        encoder = backbones.small_cnn(input_shape, preset="wide")
    if kind == "duq":
        duq = TorchLossDUQ if settings["loss"] == "torch" else DUQ
        model = duq(
            encoder,
            num_classes,
            length_scale=settings["length_scale"],
            gamma=settings["gamma"],
            gradient_penalty=settings["gradient_penalty"],
            weight_decay=settings["weight_decay"],
        )
    else:
        model = CoupledL2Softmax(
            encoder, num_classes, weight_decay=settings["weight_decay"]
        )
    return model


def train_and_score(kind, settings, seed, data):
    (x, y), (x_test, y_test), ood = data
    keras.utils.set_random_seed(seed)
    model = build(kind, settings, x.shape[1:], int(y.max()) + 1)
    batch = settings["batch_size"]
    drop = settings["drop_remainder"]
    steps = len(x) // batch if drop else math.ceil(len(x) / batch)
    rate = settings["learning_rate"]
    if settings["milestones"]:
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [m * steps for m in settings["milestones"]],
            [rate * 0.2**i for i in range(len(settings["milestones"]) + 1)],
        )
    model.compile(optimizer=keras.optimizers.SGD(rate, momentum=0.9))
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=drop)
    )
    start = time.perf_counter()
    model.fit(dataset, epochs=settings["epochs"], verbose=0)
    seconds = time.perf_counter() - start
    classify = tf.function(model.classify)
    test = evaluation.predict_in_batches(classify, x_test)
    result = {
        "accuracy": float(np.mean(test["prediction"] == y_test)),
        "certainty": float(np.mean(test["certainty"])),
        "seconds": seconds,
    }
    for name, x_ood in ood.items():
        out = evaluation.predict_in_batches(classify, x_ood)
        result[f"auroc_{name}"] = evaluation.ood_metrics(
            test["ood_score"], out["ood_score"]
        )["auroc"]
    return result


def recipe_runs(seed, overrides=None):
    """`keras-ssl train duq --dataset digits` (the recipe's data, split
    and defaults) and two softmax baselines on the same data: the control
    trained exactly as DUQ (same trunk, optimizer, schedule, L2, batch)
    and `keras-ssl train softmax` (Adam, small CNN)."""
    from keras_ssl.recipes import get_recipe

    results = {}
    duq_recipe = get_recipe("duq")
    config = duq_recipe.resolve_config(overrides or {}, "digits")
    epochs, batch = duq_recipe.training_defaults("digits")
    data = duq_recipe.load_data("digits", config, seed)
    steps = math.ceil(len(data["x_train"]) / batch)
    for kind in ("duq", "softmax_control", "softmax_recipe"):
        keras.utils.set_random_seed(seed)
        if kind == "duq":
            model = duq_recipe.build_model(data, config, steps)
            fit_epochs, fit_batch = epochs, batch
        elif kind == "softmax_control":
            model = CoupledL2Softmax(
                duq_recipe.encoder(data, config),
                data["num_classes"],
                weight_decay=config["weight_decay"],
            )
            model.compile(**duq_recipe.compile_arguments(config, steps))
            fit_epochs, fit_batch = epochs, batch
        else:
            recipe = get_recipe("softmax")
            softmax_config = recipe.resolve_config({}, "digits")
            fit_epochs, fit_batch = recipe.training_defaults("digits")
            model = recipe.build_model(
                data,
                softmax_config,
                math.ceil(len(data["x_train"]) / fit_batch),
            )
        start = time.perf_counter()
        model.fit(
            data["x_train"],
            data["y_train"],
            batch_size=fit_batch,
            epochs=fit_epochs,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        classify = tf.function(model.classify)
        test = evaluation.predict_in_batches(classify, data["x_test"])
        result = {
            "accuracy": float(np.mean(test["prediction"] == data["y_test"])),
            "certainty": float(np.mean(test["certainty"])),
        }
        for name, x_ood in data["ood"].items():
            out = evaluation.predict_in_batches(classify, x_ood)
            result[f"auroc_{name}"] = evaluation.ood_metrics(
                test["ood_score"], out["ood_score"]
            )["auroc"]
        result["seconds"] = seconds
        results[kind] = result
    return results


def summary(values):
    values = np.asarray(values)
    return f"{values.mean():.3f} [{values.min():.3f}, {values.max():.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument(
        "--variant", nargs="+", default=["protocol"], choices=list(VARIANTS)
    )
    parser.add_argument("--validation", action="store_true")
    parser.add_argument("--no-softmax", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--recipe",
        action="store_true",
        help="run the duq recipe's digits defaults and the softmax "
        "baselines on the recipe's data instead of the protocol",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="with --recipe: override recipe settings (as the CLI's --set)",
    )
    args = parser.parse_args()
    if args.recipe:
        overrides = dict(item.split("=", 1) for item in args.set)
        runs = [recipe_runs(seed, overrides) for seed in args.seeds]
        for kind in runs[0]:
            results = [r[kind] for r in runs]
            print_line("recipe", kind, results)
        return
    data = protocol_data(args.validation)
    kinds = ["duq"] if args.no_softmax else ["duq", "softmax"]
    for variant in args.variant:
        settings = {**PROTOCOL, **VARIANTS[variant]}
        if args.epochs is not None:
            settings["epochs"] = args.epochs
        for kind in kinds:
            results = [
                train_and_score(kind, settings, seed, data)
                for seed in args.seeds
            ]
            print_line(variant, kind, results)


def print_line(variant, kind, results):
    keys = [k for k in results[0] if k != "seconds"]
    per_seed = "; ".join(" ".join(f"{r[k]:.3f}" for k in keys) for r in results)
    line = " | ".join(f"{k} {summary([r[k] for r in results])}" for k in keys)
    seconds = np.mean([r["seconds"] for r in results])
    print(
        f"{variant:22s} {kind:7s} {line} | {seconds:.1f} s/run"
        f" | per seed ({' '.join(keys)}): {per_seed}",
        flush=True,
    )


if __name__ == "__main__":
    main()
