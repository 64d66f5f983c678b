"""Checks that training on R replicas equals training on one device.

`check_replica_equivalence(build_fn, batch)` starts a fresh Python process
with R logical CPU devices (TensorFlow fixes the device list at start-up,
hence the subprocess), builds the method twice from `build_fn`, gives both
copies the same weights, and trains one on the default strategy and one
under `tf.distribute.MirroredStrategy` on the same global batch. Every
weight (trainable and non-trainable, so method state such as centroids or
assignment tables is included) and every logged metric must agree.

Use plain SGD in `build_fn`: Adam's first step is almost the sign of the
gradient, so it would hide a gradient that is R times too large.

Run as a module it is the worker: `python -m keras_ssl.testing.replica_check
SPEC_JSON`.
"""

import importlib.util
import inspect
import json
import os
import pickle
import subprocess
import sys
import tempfile


def check_replica_equivalence(
    build_fn,
    batch,
    replicas=2,
    fit_kwargs=None,
    sample_inputs=None,
    atol=1e-5,
    timeout=900,
):
    """Trains on 1 device and on `replicas` CPU replicas; compares results.

    Args:
        build_fn: a module-level function (importable from its source file)
            that returns a compiled method. It is called once on the default
            strategy and once inside `MirroredStrategy.scope()`.
        batch: one global batch in the structure the method's `fit` takes
            (NumPy arrays in tuples or dicts). Its leading size must be
            divisible by `replicas`.
        replicas: number of logical CPU devices (at least 2).
        fit_kwargs: extra arguments for both `fit` calls, e.g.
            `{"epochs": 3, "initial_epoch": 2}`; the dataset repeats the
            batch once per epoch.
        sample_inputs: what `model(...)` takes, used to build both copies
            before their weights are aligned. Defaults to the method's
            `inference_inputs(batch)`.
        atol: absolute tolerance on weights and logged metrics.
        timeout: seconds before the worker process is stopped.

    Returns:
        A dict with `max_weight_difference`, `max_log_difference`, the two
        `logs` and the number of `weights` compared.

    Raises:
        AssertionError: if a weight or a logged value differs by more than
            `atol`, with the names of the first differences.
        ValueError: if `replicas` < 2 or `build_fn` is not a module-level
            function.

    Example:

    ```python
    from keras_ssl.testing import check_replica_equivalence

    def build():  # at module level, in an importable file
        ...

    report = check_replica_equivalence(build, (x, y))
    ```
    """
    if int(replicas) < 2:
        raise ValueError(f"replicas must be >= 2; got {replicas}")
    source = inspect.getsourcefile(build_fn)
    if source is None or build_fn.__qualname__ != build_fn.__name__:
        raise ValueError(
            "build_fn must be a module-level function defined in a file; "
            f"got {build_fn!r}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        batch_path = os.path.join(tmp, "batch.pkl")
        with open(batch_path, "wb") as f:
            pickle.dump({"batch": batch, "sample_inputs": sample_inputs}, f)
        spec = {
            "source": os.path.abspath(source),
            "function": build_fn.__name__,
            "batch": batch_path,
            "replicas": int(replicas),
            "fit_kwargs": fit_kwargs or {},
            "output": os.path.join(tmp, "report.json"),
        }
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        process = subprocess.run(
            [sys.executable, "-m", __name__, json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if process.returncode != 0:
            raise RuntimeError(
                "replica check worker failed:\n" + process.stderr[-4000:]
            )
        with open(spec["output"]) as f:
            report = json.load(f)
    problems = [
        f"weight {name}: max |diff| {diff:.3g}"
        for name, diff in report["weight_differences"]
        if diff > atol
    ]
    problems += [
        f"weight {name} differs between replicas: max |diff| {diff:.3g}"
        for name, diff in report["replica_spread"]
        if diff > atol
    ]
    problems += [
        f"logged {name}: {single} on 1 device vs {multi} on {replicas}"
        for name, (single, multi) in report["logs"].items()
        if abs(single - multi) > atol * max(1.0, abs(single))
    ]
    if problems:
        raise AssertionError(
            f"{replicas}-replica training differs from 1 device:\n"
            + "\n".join(problems[:20])
        )
    return {
        "max_weight_difference": max(
            (d for _, d in report["weight_differences"]), default=0.0
        ),
        "max_log_difference": max(
            (abs(a - b) for a, b in report["logs"].values()), default=0.0
        ),
        "logs": report["logs"],
        "weights": len(report["weight_differences"]),
        "mirrored_weights_checked": len(report["replica_spread"]),
    }


def _worker(spec):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * spec["replicas"]
    )
    import numpy as np

    module_spec = importlib.util.spec_from_file_location(
        "_replica_check_build", spec["source"]
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    build_fn = getattr(module, spec["function"])
    with open(spec["batch"], "rb") as f:
        payload = pickle.load(f)
    batch = payload["batch"]
    sample = payload["sample_inputs"]
    fit_kwargs = dict(spec["fit_kwargs"])
    epochs = fit_kwargs.get("epochs", 1) - fit_kwargs.get("initial_epoch", 0)

    def dataset():
        return tf.data.Dataset.from_tensors(batch).repeat(epochs)

    single = build_fn()
    if sample is None:
        sample = single.inference_inputs(batch)
    single(sample)
    strategy = tf.distribute.MirroredStrategy(
        [f"/cpu:{i}" for i in range(spec["replicas"])]
    )
    with strategy.scope():
        multi = build_fn()
        multi(sample)
        multi.set_weights(single.get_weights())
    logs = {}
    for key, model in (("single", single), ("multi", multi)):
        history = model.fit(dataset(), verbose=0, shuffle=False, **fit_kwargs)
        logs[key] = {k: float(v[-1]) for k, v in history.history.items()}
    differences = [
        (
            w.path,
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            if np.size(a)
            else 0.0,
        )
        for w, a, b in zip(
            single.weights,
            single.get_weights(),
            multi.get_weights(),
            strict=True,
        )
    ]
    # Every replica must hold the same copy of every variable (a state
    # update fed from local data silently diverges otherwise).
    spread = [
        (
            variable.path,
            max(
                float(np.max(np.abs(v.numpy() - copies[0].numpy())))
                if np.size(v)
                else 0.0
                for v in copies
            ),
        )
        for variable, copies in (
            (w, getattr(w.value, "values", None)) for w in multi.weights
        )
        if copies is not None
    ]
    report = {
        "weight_differences": differences,
        "replica_spread": spread,
        "logs": {
            k: (logs["single"][k], logs["multi"][k]) for k in logs["single"]
        },
    }
    with open(spec["output"], "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
