"""Small generated `run.json` files for the comparison tests (no training)."""

import json
import os

IN_CLASSES = [0, 1, 2, 3, 4]


def write_run(
    directory,
    method,
    seed,
    metrics,
    dataset="digits",
    config=None,
    train_seconds=10.0,
    epochs=10,
):
    """Writes `directory/run.json` as `keras_ssl.run.train` would."""
    os.makedirs(directory, exist_ok=True)
    record = {
        "method": method,
        "dataset": dataset,
        "config": {"in_classes": IN_CLASSES} if config is None else config,
        "seed": seed,
        "epochs": epochs,
        "replicas": 1,
        "global_batch": 64,
        "versions": {"keras_ssl": "0.1.0", "python": "3.11"},
        "train_seconds": train_seconds,
        "metrics": metrics,
    }
    with open(os.path.join(directory, "run.json"), "w") as f:
        json.dump(record, f)
    return str(directory)


def uncertainty_metrics(auroc, accuracy=0.99):
    """The uncertainty family's metrics, with two OOD sets."""
    return {
        "accuracy": accuracy,
        "ece": 0.02,
        "ood": {
            "digits_5_9": {"auroc": auroc, "positive": "in", "num_in": 271},
            "uniform_noise": {"auroc": 1.0 - auroc / 2, "positive": "in"},
        },
    }
