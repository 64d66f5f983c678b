"""Checks that training on R replicas equals training on one device.

`check_replica_equivalence(build_fn, batch)` starts a fresh Python process
with R logical CPU devices (TensorFlow fixes the device list at start-up,
hence the subprocess), builds the method twice from `build_fn`, gives both
copies the same weights, and trains one on the default strategy and one
under `tf.distribute.MirroredStrategy` on the same global batch. Every
weight (trainable and non-trainable, so method state such as centroids or
assignment tables is included) and every logged metric must agree.

With `workers=2` the same comparison runs across machines: two worker
processes on 127.0.0.1 train under `MultiWorkerMirroredStrategy`
(configured by `TF_CONFIG`, one CPU device each) from the weights of the
1-device run's initial model.

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
import socket
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
    workers=None,
):
    """Trains on 1 device and on `replicas` CPU replicas; compares results.

    Args:
        build_fn: a module-level function (importable from its source file)
            that returns a compiled method. It is called once on the default
            strategy and once inside `MirroredStrategy.scope()` (or, with
            `workers`, inside `MultiWorkerMirroredStrategy.scope()` in each
            worker process).
        batch: one global batch in the structure the method's `fit` takes
            (NumPy arrays in tuples or dicts). Its leading size must be
            divisible by the replica count.
        replicas: number of logical CPU devices (at least 2); ignored with
            `workers`.
        fit_kwargs: extra arguments for both `fit` calls, e.g.
            `{"epochs": 3, "initial_epoch": 2}`; the dataset repeats the
            batch once per epoch.
        sample_inputs: what `model(...)` takes, used to build both copies
            before their weights are aligned. Defaults to the method's
            `inference_inputs(batch)`.
        atol: absolute tolerance on weights and logged metrics.
        timeout: seconds before a worker process is stopped.
        workers: `None` (replicas of one process), or the number of worker
            processes (at least 2) of a multi-worker run on 127.0.0.1.

    Returns:
        A dict with `max_weight_difference`, `max_log_difference`, the two
        `logs` and the number of `weights` compared.

    Raises:
        AssertionError: if a weight or a logged value differs by more than
            `atol`, with the names of the first differences.
        ValueError: if `replicas` or `workers` < 2 or `build_fn` is not a
            module-level function.

    Example:

    ```python
    from keras_ssl.testing import check_replica_equivalence

    def build():  # at module level, in an importable file
        ...

    report = check_replica_equivalence(build, (x, y))
    report = check_replica_equivalence(build, (x, y), workers=2)
    ```
    """
    if workers is not None and int(workers) < 2:
        raise ValueError(f"workers must be >= 2; got {workers}")
    if workers is None and int(replicas) < 2:
        raise ValueError(f"replicas must be >= 2; got {replicas}")
    source = inspect.getsourcefile(build_fn)
    if source is None or build_fn.__qualname__ != build_fn.__name__:
        raise ValueError(
            "build_fn must be a module-level function defined in a file; "
            f"got {build_fn!r}"
        )
    count = int(workers or replicas)
    with tempfile.TemporaryDirectory() as tmp:
        batch_path = os.path.join(tmp, "batch.pkl")
        with open(batch_path, "wb") as f:
            pickle.dump({"batch": batch, "sample_inputs": sample_inputs}, f)
        spec = {
            "source": os.path.abspath(source),
            "function": build_fn.__name__,
            "batch": batch_path,
            "replicas": count,
            "fit_kwargs": fit_kwargs or {},
            "output": os.path.join(tmp, "report.json"),
            "dir": tmp,
        }
        if workers is None:
            _run([{**spec, "role": "mirrored"}], timeout)
        else:
            _run([{**spec, "role": "single"}], timeout)
            ports = _free_ports(count)
            _run(
                [
                    {**spec, "role": "worker", "index": i, "ports": ports}
                    for i in range(count)
                ],
                timeout,
            )
        with open(spec["output"]) as f:
            report = json.load(f)
    name = f"{count}-worker" if workers else f"{count}-replica"
    problems = [
        f"weight {w}: max |diff| {diff:.3g}"
        for w, diff in report["weight_differences"]
        if diff > atol
    ]
    problems += [
        f"weight {w} differs between replicas: max |diff| {diff:.3g}"
        for w, diff in report["replica_spread"]
        if diff > atol
    ]
    problems += [
        f"logged {key}: {single} on 1 device vs {multi} on {count}"
        for key, (single, multi) in report["logs"].items()
        if abs(single - multi) > atol * max(1.0, abs(single))
    ]
    if problems:
        raise AssertionError(
            f"{name} training differs from 1 device:\n"
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


def _run(specs, timeout):
    """Runs one worker process per spec, concurrently; raises on failure."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", __name__, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for spec in specs
    ]
    failures = []
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=timeout)
            if process.returncode != 0:
                failures.append(stderr[-4000:])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    if failures:
        raise RuntimeError(
            "replica check worker failed:\n" + "\n---\n".join(failures)
        )


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _worker(spec):
    import tensorflow as tf

    role = spec["role"]
    if role == "worker":
        os.environ["TF_CONFIG"] = json.dumps(
            {
                "cluster": {
                    "worker": [f"127.0.0.1:{p}" for p in spec["ports"]]
                },
                "task": {"type": "worker", "index": spec["index"]},
            }
        )
    elif role == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * spec["replicas"]
        )

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

    def fit(model):
        dataset = tf.data.Dataset.from_tensors(batch).repeat(epochs)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        history = model.fit(
            dataset.with_options(options), verbose=0, **fit_kwargs
        )
        return {k: float(v[-1]) for k, v in history.history.items()}

    def build():
        model = build_fn()
        model(sample if sample is not None else model.inference_inputs(batch))
        return model

    initial_path = os.path.join(spec["dir"], "initial.pkl")
    single_path = os.path.join(spec["dir"], "single.pkl")
    if role == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        with strategy.scope():
            multi = build()
            with open(initial_path, "rb") as f:
                multi.set_weights(pickle.load(f))
        logs = fit(multi)
        if spec["index"] != 0:
            return
        with open(single_path, "rb") as f:
            single_weights, single_logs = pickle.load(f)
        _write_report(spec, multi, single_weights, single_logs, logs)
        return
    single = build()
    initial = single.get_weights()
    single_logs = fit(single)
    if role == "single":
        with open(initial_path, "wb") as f:
            pickle.dump(initial, f)
        with open(single_path, "wb") as f:
            pickle.dump((single.get_weights(), single_logs), f)
        return
    strategy = tf.distribute.MirroredStrategy(
        [f"/cpu:{i}" for i in range(spec["replicas"])]
    )
    with strategy.scope():
        multi = build()
        multi.set_weights(initial)
    logs = fit(multi)
    _write_report(spec, multi, single.get_weights(), single_logs, logs)


def _write_report(spec, multi, single_weights, single_logs, logs):
    from keras_ssl.testing._compare import max_difference

    differences = [
        (
            w.path,
            max_difference(a, b),
        )
        for w, a, b in zip(
            multi.weights, single_weights, multi.get_weights(), strict=True
        )
    ]
    # Every replica must hold the same copy of every variable (a state
    # update fed from local data silently diverges otherwise).
    spread = [
        (
            variable.path,
            max(max_difference(v.numpy(), copies[0].numpy()) for v in copies),
        )
        for variable, copies in (
            (w, getattr(w.value, "values", None)) for w in multi.weights
        )
        if copies is not None
    ]
    report = {
        "weight_differences": differences,
        "replica_spread": spread,
        "logs": {k: (single_logs[k], logs[k]) for k in single_logs},
    }
    with open(spec["output"], "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
