"""Train, evaluate and export a method by name: what `keras-ssl` runs.

`train("duq", "runs/duq")` does what `keras-ssl train duq --output
runs/duq` does, from Python: it resolves the recipe's settings, loads the
data, builds the method under the right strategy, trains it with `fit`
(resumable with `BackupAndRestore`), evaluates it, and writes the run
directory:

```
RUN_DIR/
  args.json            what the run was started with (checked on resume)
  initial.weights.h5   the weights before the first step
  backup/              BackupAndRestore state while training
  logs/                TensorBoard logs
  model.keras          the trained method
  preprocessing.keras  the in-graph preprocessing of raw inputs, if any
  plots/               the family's plots
  run.json             identity, versions, time and the family's metrics
```

`evaluate(run_dir)` recomputes the metrics, and `export(run_dir, to)`
writes a SavedModel from what the run directory holds.
"""

import contextlib
import json
import os
import platform
import sys
import time

RUN_FILE = "run.json"
ARGS_FILE = "args.json"
MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.keras"
INITIAL_WEIGHTS = "initial.weights.h5"
BACKUP_DIR = "backup"


class Run:
    """A finished run: its directory, its `run.json` record and its model.

    Args:
        run_dir: the run directory.
        record: the contents of `run.json`.
        model: the trained method (loaded on first use if not given).
        history: the `keras.callbacks.History` of `train` (if any).

    Example:

    ```python
    import keras_ssl

    run = keras_ssl.run.train(
        "softmax", "runs/moons", dataset="two_moons", epochs=1, verbose=0
    )
    run.metrics["accuracy"]
    same = keras_ssl.run.Run.load("runs/moons")
    ```
    """

    def __init__(self, run_dir, record, model=None, history=None):
        self.run_dir = run_dir
        self.record = record
        self._model = model
        self.history = history

    @classmethod
    def load(cls, run_dir):
        """The finished run in `run_dir` (`FileNotFoundError` otherwise)."""
        path = os.path.join(run_dir, RUN_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{run_dir} is not a finished keras-ssl run "
                f"({RUN_FILE} missing)"
            )
        with open(path) as f:
            return cls(run_dir, json.load(f))

    @property
    def model(self):
        if self._model is None:
            from keras_ssl.recipes import get_recipe

            get_recipe(self.method)  # registers the method's classes
            self._model = _load_model(os.path.join(self.run_dir, MODEL_FILE))
        return self._model

    @property
    def method(self):
        return self.record["method"]

    @property
    def dataset(self):
        return self.record["dataset"]

    @property
    def config(self):
        return self.record["config"]

    @property
    def metrics(self):
        return self.record["metrics"]

    def __repr__(self):
        return (
            f"Run({self.run_dir!r}, method={self.method!r}, "
            f"dataset={self.dataset!r})"
        )


def train(
    method,
    output_dir,
    dataset="digits",
    epochs=None,
    batch_size=None,
    seed=0,
    config=None,
    replicas=1,
    resume=False,
    verbose=1,
    callbacks=(),
    data=None,
    strategy="mirrored",
    quiet=False,
    steps_per_execution=None,
    jit_compile=None,
):
    """Trains, evaluates and saves one run, as `keras-ssl train` does.

    Every argument is checked, the data loaded and the method built before
    anything is written, so a bad value leaves no trace in `output_dir`
    (a recipe's `prepare` may first train a model the method is built
    around, such as a post-hoc detector's classifier, in a subdirectory).

    Args:
        method: a registered method name (`keras-ssl list`).
        output_dir: the run directory; it must be new or empty unless
            `resume`.
        dataset: a dataset name the recipe knows.
        epochs: default: the recipe's for that dataset.
        batch_size: the global batch; default: the recipe's.
        seed: the run seed (weights, data split, shuffling, augmentation).
        config: `{key: value}` overrides of the recipe's settings and the
            method's hyperparameters (`--set key=value`; strings are
            converted to the default's type).
        replicas: train under `MirroredStrategy` on this many GPUs, or
            logical CPU devices where there are fewer GPUs (with
            `strategy="mirrored"`).
        resume: continue an interrupted run in `output_dir` from its last
            finished epoch.
        verbose: `fit`'s verbosity (0, 1 or 2).
        callbacks: extra Keras callbacks for `fit`.
        data: a data dict in the recipe's format, to train on your own
            arrays instead of `dataset` (e.g. a TFDS set loaded with
            `keras_ssl.data.tfds_split`); `dataset` then only names it.
            Such a run cannot be re-evaluated by `evaluate(run_dir)`.
        strategy: `"mirrored"` (one machine, `replicas` devices) or
            `"multi_worker"`: `MultiWorkerMirroredStrategy` configured by
            the `TF_CONFIG` environment variable, every worker running the
            same call. Only the chief writes `output_dir` (and must be able
            to read it back on resume, like every worker: use storage they
            share); the other workers write into a scratch directory of
            their own and restore from the chief's backup.
        quiet: silence the start-up lines TensorFlow's C++ runtime writes
            to stderr while it loads (the command line sets it).
        steps_per_execution: training steps per call of `fit`'s compiled
            function; it must divide the steps of an epoch, and be 1 on
            more than one replica. Default: the recipe's
            (`Recipe.execution_options`: a whole epoch of small data, up
            to 64 steps, on one device). Progress bars and batch-level
            callbacks update once per call; epoch-level callbacks, the
            `epoch` state, resume and the trained weights do not depend
            on it.
        jit_compile: compile the step with XLA. Default: the recipe's
            choice (measured per data kind, on one device; a recipe with a
            `jit_compile` setting decides by that setting).

    Returns:
        The finished `Run`.

    Raises:
        ValueError: for an unknown method, dataset or config key, a bad
            value, or a batch size not divisible by `replicas`.
        FileExistsError: if `output_dir` is not empty and not `resume`.
        FileNotFoundError: if `resume` and `output_dir` holds no run.
    """
    # What needs no TensorFlow is checked first: a typo costs no import.
    from keras_ssl.catalog import check_names

    check_names(method, dataset if data is None else None)
    for name, value in (
        ("epochs (--epochs)", epochs),
        ("batch_size (--batch-size)", batch_size),
        ("replicas (--replicas)", replicas),
        ("steps_per_execution", steps_per_execution),
    ):
        if value is not None:
            _check_positive(name, value)
    _check_seed(seed)
    if jit_compile not in (None, True, False):
        raise ValueError(
            f"jit_compile must be True, False or None; got {jit_compile!r}"
        )
    if strategy not in ("mirrored", "multi_worker"):
        raise ValueError(
            "strategy (--strategy) must be 'mirrored' or 'multi_worker'; "
            f"got {strategy!r}"
        )
    worker = _worker_task() if strategy == "multi_worker" else None
    if worker is not None and replicas != 1:
        raise ValueError(
            "with strategy multi_worker every worker uses its own devices; "
            f"replicas (--replicas) must be 1, got {replicas}"
        )
    if worker is None and batch_size is not None and batch_size % replicas:
        raise ValueError(
            f"batch_size (--batch-size) {batch_size} must be divisible by "
            f"replicas (--replicas) {replicas}"
        )
    run_dir = output_dir
    if worker is not None and not worker["chief"]:
        output_dir = _scratch_dir(run_dir, worker["index"], resume)
    elif os.path.isdir(output_dir) and os.listdir(output_dir) and not resume:
        raise FileExistsError(
            f"output directory {output_dir} exists and is not empty; pass "
            "--resume (resume=True) to continue that run or choose another "
            "directory"
        )
    if resume and os.path.exists(os.path.join(run_dir, RUN_FILE)):
        raise FileExistsError(
            f"--resume: the run in {run_dir} has finished ({RUN_FILE} is "
            "there); nothing was changed. Train into a new directory to "
            "train again."
        )
    _check_writable(output_dir, "output directory (--output)")
    if verbose and (worker is None or worker["chief"]):
        print(
            f"keras-ssl: {'resuming' if resume else 'training'} {method} on "
            f"{dataset} into {run_dir}",
            flush=True,
        )

    with _native_logs_silenced(quiet):
        from keras_ssl.recipes import get_recipe

        recipe = get_recipe(method)
        distribution = _strategy(replicas, worker)
    config = recipe.resolve_config(dict(config or {}), dataset)
    recipe.check_settings(config)
    default_epochs, default_batch = recipe.training_defaults(dataset)
    epochs = default_epochs if epochs is None else epochs
    batch_size = default_batch if batch_size is None else batch_size
    if batch_size % replicas:
        raise ValueError(
            f"batch_size {batch_size} (the method's default; set "
            f"--batch-size) must be divisible by replicas (--replicas) "
            f"{replicas}"
        )

    replicas = distribution.num_replicas_in_sync
    identity = {
        "method": method,
        "dataset": dataset,
        "config": config,
        "seed": seed,
        "epochs": epochs,
        "replicas": replicas,
        "global_batch": batch_size,
    }
    if worker is not None:
        identity["strategy"] = "multi_worker"
        identity["workers"] = worker["count"]
    if resume and (worker is None or worker["chief"]):
        _check_resumable(output_dir, identity)
    if batch_size % replicas:
        raise ValueError(
            f"batch_size (--batch-size) {batch_size} must be divisible by "
            f"the {replicas} replicas of the {worker['count']} workers"
        )
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if data is None:
        data = recipe.load_data(dataset, config, seed)
    data = recipe.prepare(data, config, output_dir, dataset, seed, verbose)
    num_train = recipe.num_train_samples(data)
    if batch_size > num_train:
        raise ValueError(
            f"batch_size (--batch-size) {batch_size} is larger than the "
            f"{num_train} training samples of {dataset}"
        )
    # The recipe's pipeline decides the steps of an epoch (MoCo's drops
    # the last, partial batch): the schedule (`lr_milestones`) and the
    # steps per execution follow it.
    steps = recipe.steps_per_epoch(data, batch_size)
    with distribution.scope():
        model = recipe.build_model(data, config, steps_per_epoch=steps)
        model(recipe.sample_inputs(data))
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    initial_epoch = _backed_up_epoch(backup_dir) if resume else 0
    dataset_batches, pipeline_steps = recipe.train_dataset(
        data, batch_size, seed, initial_epoch, epochs, config
    )
    if pipeline_steps != steps:
        raise RuntimeError(
            f"recipe {recipe.name!r}: train_dataset runs {pipeline_steps} "
            f"steps per epoch, steps_per_epoch says {steps}; the schedule "
            "would count the wrong epochs (override steps_per_epoch)"
        )
    execution = _execution_options(
        recipe,
        model,
        data,
        config,
        steps,
        replicas,
        worker,
        steps_per_execution,
        jit_compile,
    )
    model.steps_per_execution = execution["steps_per_execution"]
    if execution["jit_compile"] is not None:
        model.jit_compile = execution["jit_compile"]

    os.makedirs(output_dir, exist_ok=True)
    _write_json(os.path.join(output_dir, ARGS_FILE), identity)
    initial_path = os.path.join(output_dir, INITIAL_WEIGHTS)
    if not os.path.exists(initial_path):
        model.save_weights(initial_path)
    if worker is None:
        backup = keras.callbacks.BackupAndRestore(backup_dir)
    else:
        # Each worker reads every batch and keeps its share of it.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        dataset_batches = dataset_batches.with_options(options)
        backup = (
            keras.callbacks.BackupAndRestore(backup_dir)
            if worker["chief"]
            else _chief_backup_reader(backup_dir)
        )
    if verbose and (worker is None or worker["chief"]):
        print(
            f"keras-ssl: {num_train} samples, global batch {batch_size}, "
            f"{replicas} replica(s), epochs {initial_epoch + 1}..{epochs}"
        )
    start = time.perf_counter()
    history = model.fit(
        dataset_batches,
        epochs=epochs,
        steps_per_epoch=steps,
        verbose=verbose,
        shuffle=False,  # each epoch is already shuffled with (seed, epoch)
        callbacks=[
            backup,
            keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
            *callbacks,
        ],
    )
    train_seconds = time.perf_counter() - start
    model.save(os.path.join(output_dir, MODEL_FILE))
    if data.get("preprocessing") is not None:
        data["preprocessing"].save(os.path.join(output_dir, PREPROCESSING_FILE))
    metrics = _evaluate(recipe, model, data, config, output_dir)
    record = {
        **identity,
        "versions": _versions(tf, keras),
        "train_seconds": round(train_seconds, 2),
        "steps_per_execution": model.steps_per_execution,
        "jit_compile": bool(model.jit_compile),
        "epochs_this_session": epochs - initial_epoch,
        "raw_input_shape": _shape(data.get("raw_input_shape")),
        "final_logs": {k: float(v[-1]) for k, v in history.history.items()},
        "metrics": metrics,
    }
    _write_json(os.path.join(output_dir, RUN_FILE), record)
    return Run(output_dir, record, model=model, history=history)


def evaluate(run_dir):
    """Recomputes a run's metrics on its data; writes `evaluation.json`.

    Returns:
        The metrics dict.
    """
    run = Run.load(run_dir)
    import keras

    from keras_ssl.recipes import get_recipe

    recipe = get_recipe(run.method)
    if run.dataset not in recipe.datasets:
        raise ValueError(
            f"{run_dir} was trained on user data ({run.dataset!r}); evaluate "
            "it from Python with the recipe's evaluate()"
        )
    keras.utils.set_random_seed(run.record["seed"])
    data = recipe.load_data(run.dataset, run.config, run.record["seed"])
    metrics = _evaluate(recipe, run.model, data, run.config, run_dir)
    _write_json(os.path.join(run_dir, "evaluation.json"), {"metrics": metrics})
    return metrics


def export(run_dir, to, version=None):
    """Exports a finished run as a SavedModel at `to/<version>`.

    Uses only what the run directory holds (the model, the preprocessing
    and the raw input shape); the data are not rebuilt.

    Returns:
        The path of the written version directory.
    """
    run = Run.load(run_dir)
    from keras_ssl.export import export_saved_model

    target = os.path.normpath(to)
    if version is not None and os.path.exists(
        os.path.join(target, str(version))
    ):
        raise FileExistsError(
            f"{os.path.join(target, str(version))} already exists; exports are "
            "never overwritten: pass another --version, or leave it out for "
            "the next free one"
        )
    _check_writable(target, "export target (--to)")
    preprocessing = None
    path = os.path.join(run_dir, PREPROCESSING_FILE)
    if os.path.exists(path):
        preprocessing = _load_model(path)
    raw_shape = run.record.get("raw_input_shape")
    return export_saved_model(
        run.model,
        base_dir=os.path.dirname(target) or ".",
        name=os.path.basename(target),
        version=version,
        preprocessing=preprocessing,
        input_shape=tuple(raw_shape) if raw_shape else None,
    )


def _evaluate(recipe, model, data, config, run_dir):
    initial = None
    if recipe.reports_random_init:
        # Never trained: a schedule needs no real epoch length.
        initial = recipe.build_model(data, config, steps_per_epoch=1)
        initial(recipe.sample_inputs(data))
        initial.load_weights(os.path.join(run_dir, INITIAL_WEIGHTS))
    return recipe.evaluate(model, data, run_dir, initial_model=initial)


def _load_model(path):
    """`keras.saving.load_model`, with an error that names a bad file."""
    import keras

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing")
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # zip, h5py and config errors alike
        raise ValueError(
            f"{path} cannot be loaded; it may be truncated or corrupt "
            f"({type(error).__name__}: {str(error)[:200]})"
        ) from error


def _check_seed(seed):
    if (
        isinstance(seed, bool)
        or not isinstance(seed, int)
        or not (0 <= seed < 2**32)
    ):
        raise ValueError(
            f"seed (--seed) must be an integer in [0, 2**32 - 1]; got {seed!r}"
        )


def _check_writable(path, what):
    """A `PermissionError` now, rather than a traceback after training."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"{what} {path}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{what} {path} cannot be written ({existing} is not writable)"
        )


@contextlib.contextmanager
def _native_logs_silenced(quiet):
    """Sends file descriptor 2 to /dev/null while TensorFlow loads.

    TensorFlow 2.21's C++ runtime prints absl, oneDNN and CUDA start-up
    lines that `TF_CPP_MIN_LOG_LEVEL` no longer silences; Python
    exceptions are raised after stderr is back.
    """
    if not quiet or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        yield
        tf.config.list_logical_devices()  # device start-up (cuInit)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _execution_options(
    recipe, model, data, config, steps, replicas, worker, spe, jit
):
    """`steps_per_execution` and `jit_compile` (None: compile's) of a run."""
    # A multi-worker strategy is distributed even with one worker.
    devices = replicas if worker is None else max(replicas, 2)
    options = recipe.execution_options(data, steps, devices)
    if spe is not None:
        if steps % spe:
            raise ValueError(
                f"steps_per_execution {spe} must divide the {steps} steps "
                "of an epoch (Keras runs every execution to its full "
                "length, into the next epoch's batches)"
            )
        if spe > 1 and devices > 1:
            raise ValueError(
                f"steps_per_execution {spe} needs one replica; Keras "
                "3.15 cannot run several steps per execution under a "
                "MirroredStrategy (keras-team/keras#19246)"
            )
        options["steps_per_execution"] = spe
    xla_compatible = getattr(model, "xla_compatible", True)
    if jit is None:
        # A recipe with a `jit_compile` setting compiled by it.
        own = "jit_compile" in config or not xla_compatible
        jit = True if options["jit_compile"] and not own else None
    elif jit and not xla_compatible:
        raise ValueError(
            f"jit_compile=True: {type(model).__name__} runs host-side code "
            "in its training step and cannot be XLA-compiled"
        )
    options["jit_compile"] = jit
    return options


def _check_resumable(run_dir, identity):
    path = os.path.join(run_dir, ARGS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"--resume: {run_dir} holds no interrupted keras-ssl run "
            f"({ARGS_FILE} missing)"
        )
    with open(path) as f:
        saved = json.load(f)
    mine = json.loads(json.dumps(identity))
    changed = sorted(k for k in mine if saved.get(k) != mine[k])
    if changed:
        raise ValueError(
            f"--resume: the run in {run_dir} was started with different "
            f"{', '.join(changed)}: {[saved.get(k) for k in changed]}"
        )


def _backed_up_epoch(backup_dir):
    """The epoch a resumed run starts from; names a corrupt backup."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    try:
        with open(path) as f:
            epoch = int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"--resume: the backup file {path} is unreadable ({error}); "
            f"remove {backup_dir} to train again from epoch 0"
        ) from None
    weights = os.path.join(backup_dir, "latest.weights.h5")
    try:
        import h5py

        with h5py.File(weights, "r") as f:
            f.visit(lambda name: None)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"--resume: the backup file {weights} is unreadable ({error}); "
            f"remove {backup_dir} to train again from epoch 0"
        ) from None
    return epoch


def _strategy(replicas, worker=None):
    import tensorflow as tf

    if worker is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
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


def _worker_task():
    """This worker's place in the `TF_CONFIG` cluster (no TensorFlow)."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        count = sum(len(cluster.get(k, ())) for k in ("chief", "worker"))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            "strategy multi_worker needs the TF_CONFIG environment variable "
            'as TensorFlow documents it: {"cluster": {"worker": ["host:port",'
            ' ...]}, "task": {"type": "worker", "index": i}}; '
            f"got {os.environ.get('TF_CONFIG')!r} ({error})"
        ) from None
    chief = kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in cluster
    )
    return {"chief": chief, "index": index, "count": count}


def _scratch_dir(run_dir, index, resume):
    """Where a non-chief worker writes: its own directory, off the run's."""
    import hashlib
    import shutil
    import tempfile

    key = hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:12]
    path = os.path.join(
        tempfile.gettempdir(), "keras-ssl-workers", f"{key}-{index}"
    )
    if not resume and os.path.isdir(path):
        shutil.rmtree(path)
    return path


def _chief_backup_reader(backup_dir):
    """`BackupAndRestore` that restores a non-chief worker from the chief's
    backup and never writes it.

    Every worker holds the same weights, so the chief's backup is the
    state of all of them, and reading it keeps the workers on one epoch
    however the run was interrupted.
    """
    import keras

    class ChiefBackupReader(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            pass

        def on_train_end(self, logs=None):
            pass

    return ChiefBackupReader(backup_dir, delete_checkpoint=False)


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


def _shape(shape):
    return None if shape is None else [int(d) for d in shape]


def _write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=float)
        f.write("\n")
