import functools
import inspect
import json
import math
import os
import time

import keras
import tensorflow as tf

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number

# The per-epoch logs and fit time of a control (`Recipe.cached_control`).
CONTROL_RECORD = "history.json"


class Recipe:
    """How `keras-ssl train` trains and evaluates one method.

    A recipe ties a method class to the data it is trained on and the
    metrics written to `run.json`. Family recipes (`UncertaintyRecipe`,
    `RepresentationRecipe`) own the data and evaluation of their family; a
    method's recipe says only what the method needs from the data and the
    per-dataset settings. The method's hyperparameters and the sources of
    their defaults live on the method (its `__init__` defaults and
    docstring), never here.

    Class attributes:
        name: command-line name (`keras-ssl train NAME`).
        method: the `keras_ssl.core.Method` subclass.
        datasets: dataset names the recipe accepts.
        family_settings: knobs every recipe of the family has (set by the
            family recipe, e.g. the in-distribution classes).
        settings: the recipe's own knobs (network, image size, optimizer,
            learning rate, augmentation), with their defaults.
        dataset_defaults: per-dataset values that replace entries of
            `defaults` (method hyperparameters or settings), e.g. the
            two-moons settings of a method's paper.
        epochs, batch_size: what `keras-ssl train` uses when `--epochs` /
            `--batch-size` are not given; `dataset_training` may override
            them per dataset as `{dataset: {"epochs": ..., "batch_size":
            ...}}`.
        reports_random_init: the family reports metrics of the method at
            its random initialisation (representation learning).

    Every key of `defaults` can be set with `--set key=value`; a value
    given on the command line is converted to the type of the default.
    """

    name = None
    method = None
    datasets = ("digits",)
    family_settings = {}
    settings = {}
    dataset_defaults = {}
    epochs = 10
    batch_size = 64
    dataset_training = {}
    reports_random_init = False

    @property
    def family(self):
        return self.method.family

    @property
    def paper(self):
        return self.method.paper

    @property
    def defaults(self):
        """The method's hyperparameter defaults, then the settings."""
        return {
            **method_defaults(self.method),
            **self.family_settings,
            **self.settings,
        }

    def resolve_config(self, overrides, dataset=None):
        """Defaults (for `dataset`) updated with `overrides`.

        Unknown keys are an error; string values are converted to the type
        of the default.
        """
        config = {**self.defaults, **self.dataset_defaults.get(dataset, {})}
        unknown = sorted(set(overrides) - set(config))
        if unknown:
            raise ValueError(
                f"unknown --set key(s) for {self.name}: {', '.join(unknown)}."
                f" Known keys: {', '.join(sorted(config)) or 'none'}"
            )
        for key, value in overrides.items():
            config[key] = _convert(key, value, config[key])
        return config

    # What every recipe setting of these names must satisfy; a recipe adds
    # its own in `setting_rules`. A rule is a `check_number` rule
    # ("> 0", ">= 0", "in (0, 1)", "in [0, 1)"), "int >= N", or a tuple
    # of the allowed values.
    common_rules = {
        "learning_rate": "> 0",
        "momentum": "in [0, 1)",
        "lr_decay": "> 0",
        "optimizer": ("sgd", "adam"),
        "image_size": (8, 16, 32),
        "channels": (1, 3),
        "width": ("narrow", "wide"),
    }
    setting_rules = {}

    def check_settings(self, config):
        """A clear error, naming the `--set` key, for a bad setting.

        Every number must be finite; the keys of `common_rules` and
        `setting_rules` must follow their rule. Method hyperparameters are
        checked by the method when it is built, also before any training.
        """
        rules = {**self.common_rules, **self.setting_rules}
        for key, value in config.items():
            rule = rules.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"--set {key}={value}: {key} must be a finite number"
                )
            if rule is None:
                continue
            if isinstance(rule, tuple):
                if value not in rule:
                    raise ValueError(
                        f"--set {key}={value}: {key} must be one of "
                        f"{', '.join(map(str, rule))}"
                    )
            elif rule.startswith("int >= "):
                check_integer(value, int(rule[7:]), f"--set {key}")
            else:
                check_number(value, f"--set {key}", rule)

    def training_defaults(self, dataset):
        """`(epochs, batch_size)` used when the command line omits them."""
        training = self.dataset_training.get(dataset, {})
        return (
            training.get("epochs", self.epochs),
            training.get("batch_size", self.batch_size),
        )

    def check_dataset(self, dataset):
        if dataset not in self.datasets:
            raise ValueError(
                f"{self.name} does not train on dataset {dataset!r}; "
                f"choose one of: {', '.join(self.datasets)}"
            )

    def load_data(self, dataset, config, seed):
        """Returns a dict of NumPy arrays for training and evaluation."""
        raise NotImplementedError

    def prepare(self, data, config, run_dir, dataset, seed, verbose=1):
        """Work that must be done before the method is built (default:
        none); returns the data dict.

        `keras_ssl.run.train` calls it once its arguments are checked and
        the data loaded, outside any strategy scope, right before it
        builds the method. A recipe whose method is built around a model
        trained first (a post-hoc detector's classifier) trains or loads
        that model here, under `run_dir`, and adds what `build_model`
        needs to the data it returns.

        Args:
            data: the data dict (from `load_data`, or the caller's).
            config: the resolved settings and hyperparameters.
            run_dir: the run directory (it may not exist yet).
            dataset: the dataset name.
            seed: the run seed.
            verbose: `fit`'s verbosity.
        """
        return data

    def build_model(self, data, config, steps_per_epoch=None, method=None):
        """The compiled method for `data` and the resolved `config`.

        Every config key that names an argument of the method's
        `__init__` is passed to it; `model_inputs` adds what comes from
        the data (encoder, class count, ...), and `compile_arguments` the
        optimizers. `method` builds another class (a control trained the
        same way) instead of the recipe's method; it gets the named
        optimizers (`x_optimizer`) it takes, so a one-optimizer control
        of a two-optimizer method compiles with `optimizer` alone.
        """
        control = method is not None and method is not self.method
        method = self.method if method is None else method
        arguments = {
            key: config[key] for key in init_parameters(method) if key in config
        }
        model = method(**self.model_inputs(data, config), **arguments)
        optimizers = self.compile_arguments(config, steps_per_epoch)
        if control:
            optimizers = {
                k: v
                for k, v in optimizers.items()
                if not k.endswith("_optimizer") or k in method.optimizer_names
            }
        model.compile(**optimizers)
        return model

    # Steps `fit` runs per call of its compiled function (one trip through
    # Keras's Python loop, its callbacks and its progress bar): a whole
    # epoch of small data, at most this many for large data. Measured in
    # `benchmarks/fit_throughput.py` (see `benchmarks/README.md`).
    max_steps_per_execution = 64
    # True: `train_dataset` keeps full batches only (PyTorch's
    # `drop_last`), and an epoch is `samples // batch_size` steps
    # (`steps_per_epoch`).
    drop_remainder = False
    # The `data["kind"]`s on which `keras-ssl train` compiles the step with
    # XLA (`jit_compile=True`) on one device; none by default. Measured on
    # 2 CPU cores (`benchmarks/fit_throughput.py`, `benchmarks/README.md`;
    # samples/s of `fit` with XLA over without, same steps per execution):
    # every digits CNN loses (softmax 0.51, DUQ 0.88, DUQ without penalty
    # 0.77); on two moons DUQ wins (1.29-1.96; `DUQRecipe`), SDE-Net loses
    # (0.40), softmax (0.57-1.23) and belief matching (0.61-1.23) are
    # within the noise. A method with host-side code in its step
    # (`xla_compatible = False`: NAT's assignment solver) and a recipe with
    # a `jit_compile` setting of its own (FlowGMM) are left as they are.
    xla_kinds = ()

    def execution_options(self, data, steps_per_epoch, replicas=1):
        """`steps_per_execution` and `jit_compile` for `fit` on `data`.

        `steps_per_execution` is the largest divisor of `steps_per_epoch`
        up to `max_steps_per_execution`: Keras 3.15 runs every execution
        to its full length, so a count that does not divide the epoch
        would run the first steps of the next epoch's batches before the
        epoch's callbacks (and shift every later epoch).

        Several steps per execution only on one replica: Keras 3 runs
        them in a `tf.while_loop` whose `tf.cond` breaks the
        `merge_call` of a `MirroredStrategy` step ("You must feed a value
        for placeholder tensor ...while/cond/Placeholder", keras-team/keras
        #19246, reproduced with a plain `keras.Sequential` on 2 logical
        CPUs with Keras 3.15), so R > 1 replicas run one step per call,
        and without XLA.

        Returns:
            `{"steps_per_execution": int, "jit_compile": bool}`;
            `jit_compile=False` means "leave `compile`'s choice".
        """
        if replicas != 1:
            return {"steps_per_execution": 1, "jit_compile": False}
        most = max(1, min(steps_per_epoch, self.max_steps_per_execution))
        spe = max(d for d in range(1, most + 1) if steps_per_epoch % d == 0)
        return {
            "steps_per_execution": spe,
            "jit_compile": data.get("kind") in self.xla_kinds,
        }

    def cached_control(self, run_dir, folder_name, prepare):
        """A control trained once per run, kept in `RUN_DIR/<folder_name>/`.

        On first use, `prepare(args)` gets the run's `args.json` and
        returns `(model, dataset, steps)`: a compiled, built control and
        the batches to fit it on for `args["epochs"]` epochs of `steps`;
        the fit is timed and the model saved beside `history.json`. Later
        calls load both.

        Returns:
            `(model, record)` with `record = {"epochs", "history",
            "train_seconds"}` (the per-epoch logs as floats), or `None`
            without the run's `args.json`.
        """
        from keras_ssl import run as ssl_run

        folder = os.path.join(run_dir, folder_name)
        path = os.path.join(folder, ssl_run.MODEL_FILE)
        record_path = os.path.join(folder, CONTROL_RECORD)
        if os.path.exists(path):
            with open(record_path) as f:
                return keras.saving.load_model(path), json.load(f)
        args_path = os.path.join(run_dir, ssl_run.ARGS_FILE)
        if not os.path.exists(args_path):
            return None
        with open(args_path) as f:
            args = json.load(f)
        model, dataset, steps = prepare(args)
        start = time.perf_counter()
        history = model.fit(
            dataset, epochs=args["epochs"], steps_per_epoch=steps, verbose=0
        )
        seconds = round(time.perf_counter() - start, 2)
        os.makedirs(folder, exist_ok=True)
        model.save(path)
        record = {
            "epochs": list(history.epoch),
            "history": {
                k: [float(v) for v in values]
                for k, values in history.history.items()
            },
            "train_seconds": seconds,
        }
        with open(record_path, "w") as f:
            json.dump(record, f)
        return model, record

    def model_inputs(self, data, config):
        """Method arguments that come from the data (e.g. the encoder)."""
        raise NotImplementedError

    def compile_arguments(self, config, steps_per_epoch=None):
        """`compile` arguments: one optimizer from the config by default."""
        return {"optimizer": make_optimizer(config, steps_per_epoch)}

    def fit_inputs(self, data):
        """The arrays `fit` consumes, as a tuple (e.g. `(x, y)`)."""
        raise NotImplementedError

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        """Returns the family's metrics; writes plots into `run_dir`.

        `initial_model` is the same method at its random initialisation
        (the weights before the first step), for families that report a
        random-init baseline.
        """
        raise NotImplementedError

    def augment(self, batch, seed, config):
        """Augments one training batch inside `tf.data` (default: none).

        Args:
            batch: the tuple of batched tensors `fit_inputs` describes.
            seed: a stateless seed, shape `(2,)`, unique to the run seed,
                the epoch and the step, so a resumed run draws the same
                augmentations (use `keras_ssl.augment`).
            config: the resolved hyperparameters.
        """
        return batch

    def num_train_samples(self, data):
        """How many training samples one epoch holds."""
        if data.get("train_source") is None:
            return len(data["x_train"])
        n = data.get("num_train")
        if n is None:
            n = int(data["train_source"].cardinality())
        if n < 1:
            raise ValueError(
                "a streamed train_source needs num_train (its number of "
                f"elements) when its cardinality is unknown; got {n}"
            )
        return int(n)

    def steps_per_epoch(self, data, batch_size):
        """The training steps of one epoch of `train_dataset`.

        `ceil(samples / batch_size)`: the last, smaller batch is kept;
        `samples // batch_size` when the recipe's `drop_remainder` is
        True (its pipeline keeps full batches only, and its
        `train_dataset` returns this count). `keras_ssl.run.train` builds
        the method (its `lr_milestones` schedule) with this count, so the
        schedule's epochs are the epochs that run.
        """
        if self.drop_remainder:
            return self.num_train_samples(data) // batch_size
        return math.ceil(self.num_train_samples(data) / batch_size)

    def stream_inputs(self, source):
        """Unbatched `fit` inputs from a streamed `train_source`.

        `source` yields what `fit_inputs` gives per sample (e.g. `(x, y)`);
        families whose inputs differ (the sample index of representation
        learning) override this.
        """
        return source

    def sample_inputs(self, data, count=2):
        """A few training inputs as the method's `call` takes them."""
        if data.get("train_source") is None:
            return data["x_train"][:count]
        source = self.stream_inputs(data["train_source"])
        batch = next(iter(source.batch(count)))
        return batch[0] if isinstance(batch, tuple) else batch

    def train_dataset(
        self, data, batch_size, seed, initial_epoch, epochs, config=None
    ):
        """Batches for epochs `initial_epoch .. epochs - 1` and their steps.

        Epoch `e` is shuffled with a seed made of `(seed, e)` and augmented
        with stateless seeds derived from `(seed, e, step)`, so a run
        resumed at epoch `e` sees exactly the batches an uninterrupted run
        sees. Nothing is held per epoch in advance: arrays are gathered
        through a permutation drawn at the start of each epoch (in the
        pipeline); a streamed `data["train_source"]` (a `tf.data.Dataset`,
        e.g. from `keras_ssl.data.load_tfds(..., as_numpy=False)`) is
        shuffled with a buffer of 10,000 elements (or the whole epoch, if
        smaller).

        Arrays of a recipe that does not augment go through one gather per
        batch and the prefetch only: the numbering and augmentation maps
        cost about as much as a two-moons MLP step
        (`benchmarks/fit_throughput.py`, the `cached` way).
        """
        config = dict(self.defaults if config is None else config)
        n = self.num_train_samples(data)
        steps = math.ceil(n / batch_size)
        seed = tf.constant(seed, tf.int64)
        augments = type(self).augment is not Recipe.augment
        if data.get("train_source") is None:
            tensors = tuple(tf.constant(a) for a in self.fit_inputs(data))

            def gather(i):
                batch = tuple(tf.gather(t, i) for t in tensors)
                return batch if augments or len(batch) > 1 else batch[0]

            def epoch_batches(epoch):
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(n, dtype=tf.int64), seed=tf.stack([seed, epoch])
                )
                return (
                    tf.data.Dataset.from_tensor_slices(order)
                    .batch(batch_size)
                    .map(gather)
                )

            if not augments:
                dataset = tf.data.Dataset.range(initial_epoch, epochs)
                dataset = dataset.flat_map(epoch_batches)
                return dataset.prefetch(tf.data.AUTOTUNE), steps

        else:
            elements = self.stream_inputs(data["train_source"])
            buffer = min(n, 10_000)

            def epoch_batches(epoch):
                # `shuffle` takes a Python seed, so streamed epochs are
                # chained in Python rather than mapped over a tensor.
                return elements.shuffle(
                    buffer, seed=int(seed) * 1_000_003 + int(epoch)
                ).batch(batch_size)

        def numbered(epoch):
            return (
                epoch_batches(epoch)
                .enumerate()
                .map(lambda step, batch: (epoch, step, batch))
            )

        def augmented(epoch, step, batch):
            batch = tuple(batch) if isinstance(batch, tuple) else (batch,)
            batch_seed = tf.stack([seed, epoch * steps + step])
            batch = self.augment(batch, batch_seed, config)
            return batch if len(batch) > 1 else batch[0]

        if data.get("train_source") is None:
            dataset = tf.data.Dataset.range(initial_epoch, epochs).flat_map(
                numbered
            )
        else:
            parts = [
                numbered(tf.constant(e, tf.int64))
                for e in range(initial_epoch, epochs)
            ]
            dataset = functools.reduce(lambda a, b: a.concatenate(b), parts)
        dataset = dataset.map(
            augmented, num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
        return dataset, steps


def _convert(key, value, default):
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, (tuple, list)):
            kind = type(default[0]) if default else int
            return tuple(kind(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(
            f"--set {key}={value}: expected {type(default).__name__} "
            f"(the default is {default!r})"
        ) from None
    return value


def init_parameters(method):
    """The names of a method's `__init__` arguments (without `**kwargs`)."""
    return [
        name
        for name, p in inspect.signature(method.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def method_defaults(method):
    """A method's hyperparameters with a plain default (bool, number,
    string or tuple), read from its `__init__` signature."""
    defaults = {}
    for name, p in inspect.signature(method.__init__).parameters.items():
        value = p.default
        if isinstance(value, range):
            value = tuple(value)
        if isinstance(value, bool | int | float | str) or (
            isinstance(value, tuple) and value
        ):
            defaults[name] = value
    return defaults


def make_optimizer(config, steps_per_epoch=None):
    """The optimizer the config names: `optimizer` ("sgd" or "adam"),
    `learning_rate`, `momentum` (SGD), and `lr_milestones` (epochs at
    which the rate is multiplied by `lr_decay`, default 0.2)."""
    rate = config["learning_rate"]
    milestones = tuple(config.get("lr_milestones", ()))
    if milestones:
        if steps_per_epoch is None:
            raise ValueError("lr_milestones need steps_per_epoch")
        decay = config.get("lr_decay", 0.2)
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [m * steps_per_epoch for m in milestones],
            [rate * decay**i for i in range(len(milestones) + 1)],
        )
    name = config.get("optimizer", "adam")
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.get("momentum", 0.0))
    if name == "adam":
        return keras.optimizers.Adam(rate)
    raise ValueError(f"--set optimizer must be 'sgd' or 'adam'; got {name!r}")
