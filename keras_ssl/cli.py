"""The `keras-ssl` command line: list, train, evaluate, export.

```
keras-ssl list
keras-ssl train METHOD --dataset digits --epochs N --batch-size B --seed S \
    --output RUN_DIR [--set key=value ...] [--replicas R] \
    [--strategy mirrored|multi_worker] [--resume]
keras-ssl evaluate RUN_DIR
keras-ssl export RUN_DIR --to saved_models/NAME [--version V]
keras-ssl compare RUN_DIR [RUN_DIR ...] [--plot FILE] [--markdown FILE]
```

The commands call `keras_ssl.run` (`train`, `evaluate`, `export`), the
same API a Python script uses. Every argument is checked before anything
trains or is written, so a typo costs a second, not a training run.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except (ValueError, OSError) as error:
        parser.exit(2, f"keras-ssl {args.name}: error: {error}\n")
    except KeyboardInterrupt:
        resume = " (run the same command with --resume to continue)"
        parser.exit(
            130,
            f"keras-ssl {args.name}: interrupted"
            f"{resume if args.name == 'train' else ''}\n",
        )


# ----------------------------------------------------------------------
# list
# ----------------------------------------------------------------------
def list_methods(args):
    from keras_ssl.catalog import CATALOG

    rows = [("method", "family", "datasets", "paper")]
    rows += [
        (name, family, ",".join(datasets), paper)
        for name, (family, paper, datasets) in sorted(CATALOG.items())
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
    from keras_ssl import run

    result = run.train(
        args.method,
        args.output,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        config=_parse_sets(args.set),
        replicas=args.replicas,
        strategy=args.strategy,
        resume=args.resume,
        verbose=args.verbose,
        callbacks=callbacks,
        quiet=True,
        steps_per_execution=args.steps_per_execution,
        jit_compile={"on": True, "off": False}.get(args.jit_compile),
    )
    if args.json:
        print(
            json.dumps(
                {"run_dir": result.run_dir, "metrics": result.metrics},
                indent=2,
            )
        )
    else:
        print(_summary(result))
    return 0


def _summary(result):
    """What was trained, its key metrics, and where everything is."""
    record, run_dir = result.record, result.run_dir
    lines = [
        f"keras-ssl: trained {record['method']} on {record['dataset']} "
        f"(seed {record['seed']}, {record['epochs']} epochs, "
        f"{record['train_seconds']:.1f} s)"
    ]
    scalars = [
        f"{key} {value:.3f}"
        for key, value in record["metrics"].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if scalars:
        lines.append("  " + " | ".join(scalars[:8]))
    for name, values in record["metrics"].get("ood", {}).items():
        lines.append(f"  OOD {name}: AUROC {values['auroc']:.3f}")
    path = os.path.join
    lines += [
        f"  model     {path(run_dir, 'model.keras')}",
        f"  plots     {path(run_dir, 'plots')}",
        f"  logs      {path(run_dir, 'logs')}",
        f"  run.json  {path(run_dir, 'run.json')} (every metric)",
        f"  export    keras-ssl export {run_dir} --to saved_models/"
        f"{os.path.basename(os.path.normpath(run_dir))}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------
def evaluate(args):
    from keras_ssl import run

    metrics = run.evaluate(args.run_dir)
    print(json.dumps(metrics, indent=2))
    print(f"keras-ssl: wrote {os.path.join(args.run_dir, 'evaluation.json')}")
    return 0


# ----------------------------------------------------------------------
# export
# ----------------------------------------------------------------------
def export(args):
    from keras_ssl import run

    path = run.export(args.run_dir, args.to, version=args.version)
    finished = run.Run.load(args.run_dir)
    raw_shape = finished.record.get("raw_input_shape")
    print(
        f"keras-ssl: exported {finished.method} to {path} with endpoints "
        f"{', '.join(finished.model.serving_endpoints())} (inputs: raw "
        f"{tuple(raw_shape or finished.model.serving_input_shape)} float32)"
    )
    return 0


# ----------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------
def compare(args):
    from keras_ssl import run

    # keras_ssl.evaluation imports TensorFlow: silence its start-up lines.
    with run._native_logs_silenced(True):
        from keras_ssl.evaluation.run_comparison import RunComparison
    comparison = RunComparison(args.run_dirs)
    print(comparison.to_text())
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(comparison.to_markdown() + "\n")
        print(f"keras-ssl: wrote {args.markdown}")
    if args.plot:
        comparison.plot(args.plot)
        print(f"keras-ssl: wrote {args.plot}")
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
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="devices of this machine (MirroredStrategy)",
    )
    p.add_argument(
        "--strategy",
        default="mirrored",
        choices=("mirrored", "multi_worker"),
        help="multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG; "
        "run the same command on every worker",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run"
    )
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.add_argument(
        "--steps-per-execution",
        type=int,
        metavar="N",
        help="training steps per call of fit's compiled function; must "
        "divide an epoch's steps (default: the recipe's, a whole epoch of "
        "small data on one device)",
    )
    p.add_argument(
        "--jit-compile",
        choices=("on", "off"),
        help="compile the step with XLA (default: the recipe's choice)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="end with the run's metrics as JSON instead of a summary",
    )

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

    p = sub.add_parser(
        "compare", help="compare finished runs of one split, metric by metric"
    )
    p.set_defaults(command=compare, name="compare")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--plot", metavar="FILE", help="the family's figure (PNG)")
    p.add_argument("--markdown", metavar="FILE", help="the table as markdown")
    return parser


if __name__ == "__main__":
    sys.exit(main())
