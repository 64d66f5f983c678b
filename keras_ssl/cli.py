"""The `keras-ssl` command line: list, train, evaluate, export.

```
keras-ssl list
keras-ssl train METHOD --dataset digits --epochs N --batch-size B --seed S \
    --output RUN_DIR [--set key=value ...] [--replicas R] [--resume]
keras-ssl evaluate RUN_DIR
keras-ssl export RUN_DIR --to saved_models/NAME [--version V]
```

Every argument is checked before TensorFlow builds anything, so a typo
costs a second, not a training run.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
INITIAL_WEIGHTS = "initial.weights.h5"
BACKUP_DIR = "backup"


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        parser.exit(2, f"keras-ssl {args.name}: error: {error}\n")


# ----------------------------------------------------------------------
# list
# ----------------------------------------------------------------------
def list_methods(args):
    from keras_ssl.recipes import RECIPES

    rows = [("method", "family", "datasets", "paper")]
    rows += [
        (name, r.family, ",".join(r.datasets), r.paper)
        for name, r in sorted(RECIPES.items())
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
        print("  ".join(cells))
    return 0


# ----------------------------------------------------------------------
# train
# ----------------------------------------------------------------------
def train(args, callbacks=()):
    """Trains, evaluates and saves one run (`keras-ssl train`).

    `callbacks` lets Python callers add Keras callbacks to `fit`.
    """
    from keras_ssl.recipes import get_recipe

    recipe = get_recipe(args.method)
    recipe.check_dataset(args.dataset)
    config = recipe.resolve_config(_parse_sets(args.set), args.dataset)
    epochs, batch_size = recipe.training_defaults(args.dataset)
    args.epochs = epochs if args.epochs is None else args.epochs
    args.batch_size = batch_size if args.batch_size is None else args.batch_size
    _check_positive("--epochs", args.epochs)
    _check_positive("--batch-size", args.batch_size)
    _check_positive("--replicas", args.replicas)
    run_dir = args.output
    if os.path.isdir(run_dir) and os.listdir(run_dir) and not args.resume:
        raise FileExistsError(
            f"--output {run_dir} exists and is not empty; pass --resume to "
            "continue that run or choose another directory"
        )
    if args.resume:
        _check_resumable(run_dir, args, config)
    if args.batch_size % args.replicas:
        raise ValueError(
            f"--batch-size {args.batch_size} must be divisible by "
            f"--replicas {args.replicas}"
        )

    strategy = _strategy(args.replicas)
    import keras
    import tensorflow as tf

    os.makedirs(run_dir, exist_ok=True)
    _write_json(os.path.join(run_dir, "args.json"), _run_identity(args, config))
    keras.utils.set_random_seed(args.seed)
    data = recipe.load_data(args.dataset, config, args.seed)
    with strategy.scope():
        model = recipe.build(data, config)
        model(data["x_train"][:2])
    initial_path = os.path.join(run_dir, INITIAL_WEIGHTS)
    if not os.path.exists(initial_path):
        model.save_weights(initial_path)

    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    initial_epoch = _backed_up_epoch(backup_dir)
    dataset, steps = recipe.train_dataset(
        data, args.batch_size, args.seed, initial_epoch, args.epochs, config
    )
    print(
        f"keras-ssl: training {recipe.name} on {args.dataset} "
        f"({len(data['x_train'])} samples, global batch {args.batch_size}, "
        f"{args.replicas} replica(s)) from epoch {initial_epoch}"
    )
    start = time.perf_counter()
    history = model.fit(
        dataset,
        epochs=args.epochs,
        steps_per_epoch=steps,
        verbose=args.verbose,
        shuffle=False,  # each epoch is already shuffled with (seed, epoch)
        callbacks=[
            keras.callbacks.BackupAndRestore(backup_dir),
            keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
            *callbacks,
        ],
    )
    train_seconds = time.perf_counter() - start
    model.save(os.path.join(run_dir, MODEL_FILE))
    metrics = _evaluate(recipe, model, data, config, run_dir)
    run = {
        **_run_identity(args, config),
        "versions": _versions(tf, keras),
        "train_seconds": round(train_seconds, 2),
        "epochs_this_session": args.epochs - initial_epoch,
        "final_logs": {k: float(v[-1]) for k, v in history.history.items()},
        "metrics": metrics,
    }
    _write_json(os.path.join(run_dir, RUN_FILE), run)
    print(json.dumps({"run_dir": run_dir, "metrics": metrics}, indent=2))
    return 0


def _evaluate(recipe, model, data, config, run_dir):
    initial = recipe.build(data, config)
    initial(data["x_train"][:2])
    initial.load_weights(os.path.join(run_dir, INITIAL_WEIGHTS))
    return recipe.evaluate(model, data, run_dir, initial_model=initial)


# ----------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------
def evaluate(args):
    run, recipe, data, model = _load_run(args.run_dir)
    metrics = _evaluate(recipe, model, data, run["config"], args.run_dir)
    path = os.path.join(args.run_dir, "evaluation.json")
    _write_json(path, {"metrics": metrics})
    print(json.dumps(metrics, indent=2))
    print(f"keras-ssl: wrote {path}")
    return 0


# ----------------------------------------------------------------------
# export
# ----------------------------------------------------------------------
def export(args):
    run, recipe, data, model = _load_run(args.run_dir)
    from keras_ssl.export import export_saved_model

    preprocessing, raw_shape = recipe.export_preprocessing(data)
    target = os.path.normpath(args.to)
    path = export_saved_model(
        model,
        base_dir=os.path.dirname(target) or ".",
        name=os.path.basename(target),
        version=args.version,
        preprocessing=preprocessing,
        input_shape=raw_shape,
    )
    print(
        f"keras-ssl: exported {run['method']} to {path} with endpoints "
        f"{', '.join(model.serving_endpoints())} (inputs: raw "
        f"{raw_shape or model.serving_input_shape} float32)"
    )
    return 0


# ----------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------
def _parse_sets(items):
    overrides = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value; got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _check_positive(flag, value):
    if value < 1:
        raise ValueError(f"{flag} must be a positive integer; got {value}")


def _run_identity(args, config):
    return {
        "method": args.method,
        "dataset": args.dataset,
        "config": config,
        "seed": args.seed,
        "epochs": args.epochs,
        "replicas": args.replicas,
        "global_batch": args.batch_size,
    }


def _check_resumable(run_dir, args, config):
    path = os.path.join(run_dir, "args.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"--resume: {run_dir} holds no interrupted keras-ssl run "
            "(args.json missing)"
        )
    with open(path) as f:
        saved = json.load(f)
    mine = json.loads(json.dumps(_run_identity(args, config)))
    changed = sorted(k for k in mine if saved.get(k) != mine[k])
    if changed:
        raise ValueError(
            f"--resume: the run in {run_dir} was started with different "
            f"{', '.join(changed)}: {[saved.get(k) for k in changed]}"
        )


def _backed_up_epoch(backup_dir):
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def _strategy(replicas):
    import tensorflow as tf

    if replicas == 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= replicas:
        devices = [f"/gpu:{i}" for i in range(replicas)]
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
        devices = [f"/cpu:{i}" for i in range(replicas)]
    return tf.distribute.MirroredStrategy(devices)


def _versions(tf, keras):
    import numpy

    import keras_ssl

    return {
        "keras_ssl": keras_ssl.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _load_run(run_dir):
    """A finished run's `run.json`, recipe, data (same seed) and model."""
    run = _read_run(run_dir)
    import keras

    from keras_ssl.recipes import get_recipe

    recipe = get_recipe(run["method"])
    keras.utils.set_random_seed(run["seed"])
    data = recipe.load_data(run["dataset"], run["config"], run["seed"])
    model = keras.saving.load_model(os.path.join(run_dir, MODEL_FILE))
    return run, recipe, data, model


def _read_run(run_dir):
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{run_dir} is not a finished keras-ssl run ({RUN_FILE} missing)"
        )
    with open(path) as f:
        return json.load(f)


def _write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=float)
        f.write("\n")


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-ssl",
        description="Train, evaluate and export keras_ssl methods.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the methods")
    p.set_defaults(command=list_methods, name="list")

    p = sub.add_parser("train", help="train, evaluate and save a method")
    p.set_defaults(command=train, name="train")
    p.add_argument("method", help="method name (see `keras-ssl list`)")
    p.add_argument("--dataset", default="digits")
    p.add_argument(
        "--epochs", type=int, help="default: the method's (see README)"
    )
    p.add_argument(
        "--batch-size", type=int, help="default: the method's (see README)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="run directory")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable)",
    )
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run"
    )
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))

    p = sub.add_parser("evaluate", help="recompute a run's metrics")
    p.set_defaults(command=evaluate, name="evaluate")
    p.add_argument("run_dir")

    p = sub.add_parser("export", help="export a run as a SavedModel")
    p.set_defaults(command=export, name="export")
    p.add_argument("run_dir")
    p.add_argument(
        "--to", required=True, help="saved_models/NAME (versions go below)"
    )
    p.add_argument("--version", type=int, default=None)
    return parser


if __name__ == "__main__":
    sys.exit(main())
