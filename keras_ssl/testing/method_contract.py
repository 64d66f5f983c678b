"""The contract every keras_ssl method owes, as one call for its tests.

`check_method_contract(build_fn, batch, work_dir)` runs six checks on a
method built by `build_fn` and trained on `batch`:

- `config`: `from_config(get_config())`, through JSON, rebuilds the same
  config, and with the same weights gives the same outputs;
- `keras`: a `.keras` save/load round trip gives the same class, config,
  weights, state and outputs, restores every named optimizer (class,
  config, iterations, slots), and training continues identically;
- `replicas`: one `fit` on 2 logical CPU replicas equals one on 1 device
  (`keras_ssl.testing.check_replica_equivalence`);
- `resume`: a `fit` interrupted after an epoch and resumed with
  `keras.callbacks.BackupAndRestore` ends with the weights, state and
  optimizer slots of an uninterrupted `fit`;
- `ordering`: no read of a weight in `train_step` is left unordered
  against that weight's update once Grappler has optimised the step
  (`keras_ssl.testing.unordered_weight_reads`); such a read races the
  in-place update and makes runs differ at random;
- `export`: `keras_ssl.export.export_saved_model` writes every declared
  endpoint, and a fresh process that never imports keras_ssl loads it and
  gets the in-process outputs of each endpoint (`serving_default` = the
  first).
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.core.endpoint import Endpoint
from keras_ssl.testing._compare import max_difference
from keras_ssl.testing.fresh_load import run_signatures
from keras_ssl.testing.replica_check import check_replica_equivalence
from keras_ssl.testing.update_ordering import unordered_weight_reads

CONTRACT_CHECKS = (
    "config",
    "keras",
    "replicas",
    "resume",
    "ordering",
    "export",
)


def check_method_contract(
    build_fn,
    batch,
    work_dir,
    checks=CONTRACT_CHECKS,
    sample_inputs=None,
    endpoint_inputs=None,
    steps_per_epoch=2,
    epochs=3,
    replica_fit_kwargs=None,
    atol=1e-6,
    replica_atol=1e-5,
):
    """Runs the method contract; raises `AssertionError` on a breach.

    Args:
        build_fn: a module-level function (importable from its file, for
            the replica check's worker process) returning a compiled
            method. Use plain SGD (see `check_replica_equivalence`).
        batch: one global batch in the structure `fit` takes (NumPy
            arrays in tuples or dicts), divisible by 2. Every epoch runs
            `steps_per_epoch` steps on it.
        work_dir: a directory for saved models and exports.
        checks: which of `CONTRACT_CHECKS` to run.
        sample_inputs: what `call` takes; default: the method's
            `inference_inputs(batch)`.
        endpoint_inputs: inputs for endpoints declared as
            `keras_ssl.core.Endpoint` with inputs other than model inputs,
            as `{endpoint: {input: array}}`.
        steps_per_epoch: steps per epoch in the `keras`, `resume` and
            `export` checks.
        epochs: epochs of the `resume` check (interrupted after the
            first).
        replica_fit_kwargs: `fit` arguments of the replica check, e.g.
            `{"epochs": 2, "initial_epoch": 1}`.
        atol: tolerance of the in-process comparisons.
        replica_atol: tolerance of the replica check.

    Returns:
        A dict with one entry per check run (what was compared).

    Example:

    ```python
    from keras_ssl.testing import check_method_contract

    def build():  # at module level, in an importable file
        ...

    def test_contract(tmp_path):
        check_method_contract(build, (x, y), tmp_path)
    ```
    """
    unknown = sorted(set(checks) - set(CONTRACT_CHECKS))
    if unknown:
        raise ValueError(
            f"checks must be among {CONTRACT_CHECKS}; got {unknown}"
        )
    work_dir = str(work_dir)
    endpoint_inputs = endpoint_inputs or {}
    report = {}
    probe = build_fn()
    if sample_inputs is None:
        sample_inputs = probe.inference_inputs(batch)
    context = _Context(
        build_fn, batch, sample_inputs, endpoint_inputs, steps_per_epoch, probe
    )
    if "config" in checks:
        report["config"] = _check_config(context, atol)
    if "keras" in checks:
        report["keras"] = _check_keras(context, work_dir, atol)
    if "replicas" in checks:
        report["replicas"] = check_replica_equivalence(
            build_fn,
            batch,
            fit_kwargs=replica_fit_kwargs,
            sample_inputs=sample_inputs,
            atol=replica_atol,
        )
    if "resume" in checks:
        report["resume"] = _check_resume(context, work_dir, epochs, atol)
    if "ordering" in checks:
        report["ordering"] = _check_ordering(context)
    if "export" in checks:
        report["export"] = _check_export(context, work_dir, atol)
    return report


class _Context:
    def __init__(self, build_fn, batch, sample, endpoint_inputs, steps, probe):
        self.build_fn = build_fn
        self.batch = batch
        self.sample = sample
        self.endpoint_inputs = endpoint_inputs
        self.steps = steps
        self.probe = probe
        self.fitted_model = None

    def build(self, weights=None):
        model = self.build_fn()
        model(self.sample)
        if weights is not None:
            model.set_weights(weights)
        return model

    def fitted(self):
        """The probe (the first model built), fitted for one epoch.

        Shared by the checks that only read a trained model (`ordering`
        traces its step, `export` exports it): neither changes its
        weights or state, so each sees the same model whichever runs
        first, or alone, and the two cost one build and one `fit`.
        """
        if self.fitted_model is None:
            model = self.probe
            model(self.sample)
            self.fit(model, 1)
            self.fitted_model = model
        return self.fitted_model

    def fit(self, model, epochs, callbacks=()):
        dataset = tf.data.Dataset.from_tensors(self.batch).repeat()
        return model.fit(
            dataset,
            epochs=epochs,
            steps_per_epoch=self.steps,
            verbose=0,
            callbacks=list(callbacks),
        )

    def endpoint_outputs(self, model):
        """`{endpoint: {output: array}}` for every declared endpoint."""
        outputs = {}
        for name, endpoint in model.serving_endpoints().items():
            arguments = self.endpoint_arguments(name, endpoint)
            function = (
                endpoint.function
                if isinstance(endpoint, Endpoint)
                else endpoint
            )
            result = function(*arguments.values())
            outputs[name] = {k: np.asarray(v) for k, v in result.items()}
        return outputs

    def endpoint_arguments(self, name, endpoint):
        declared = (
            endpoint.inputs
            if isinstance(endpoint, Endpoint)
            else {"inputs": None}
        )
        if (
            all(spec is None for spec in declared.values())
            and len(declared) == 1
            and name not in self.endpoint_inputs
        ):
            return {next(iter(declared)): self.sample}
        if name not in self.endpoint_inputs:
            raise ValueError(
                f"endpoint {name!r} takes {list(declared)}: pass its arrays "
                f"as endpoint_inputs={{{name!r}: {{...}}}}"
            )
        given = self.endpoint_inputs[name]
        return {key: given[key] for key in declared}


def _check_config(context, atol):
    model = context.build()
    config = json.loads(json.dumps(model.get_config()))
    clone = type(model).from_config(config)
    clone(context.sample)
    _assert_equal_json(clone.get_config(), model.get_config(), "config")
    clone.set_weights(model.get_weights())
    _assert_outputs_equal(
        context.endpoint_outputs(clone),
        context.endpoint_outputs(model),
        atol,
        "config round trip",
    )
    return {"keys": sorted(config)}


def _check_keras(context, work_dir, atol):
    model = context.build()
    context.fit(model, 1)
    path = os.path.join(work_dir, "contract_round_trip.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    if type(loaded) is not type(model):
        raise AssertionError(
            f"load_model gave {type(loaded).__name__}, not "
            f"{type(model).__name__}"
        )
    _assert_equal_json(loaded.get_config(), model.get_config(), "config")
    _assert_variables_equal(loaded.weights, model.weights, 0.0, "weights")
    optimizers = _assert_optimizers_equal(loaded, model)
    _assert_outputs_equal(
        context.endpoint_outputs(loaded),
        context.endpoint_outputs(model),
        atol,
        ".keras round trip",
    )
    context.fit(model, 1)
    context.fit(loaded, 1)
    _assert_variables_equal(
        loaded.weights, model.weights, atol, "weights after further training"
    )
    return {"weights": len(model.weights), "optimizers": optimizers}


def _check_resume(context, work_dir, epochs, atol):
    if epochs < 2:
        raise ValueError(f"epochs must be >= 2 to interrupt; got {epochs}")
    initial = context.build().get_weights()
    uninterrupted = context.build(initial)
    context.fit(uninterrupted, epochs)
    backup = os.path.join(work_dir, "contract_backup")
    interrupted = context.build(initial)
    try:
        context.fit(
            interrupted,
            epochs,
            callbacks=[
                keras.callbacks.BackupAndRestore(backup),
                _InterruptAfter(0),
            ],
        )
        raise AssertionError("the interrupting callback did not stop fit")
    except _Interrupted:
        pass
    resumed = context.build(initial)
    history = context.fit(
        resumed, epochs, callbacks=[keras.callbacks.BackupAndRestore(backup)]
    )
    if len(history.epoch) != epochs - 1:
        raise AssertionError(
            f"the resumed fit ran epochs {history.epoch}, expected 1.."
            f"{epochs - 1}"
        )
    _assert_variables_equal(
        resumed.weights, uninterrupted.weights, atol, "resumed weights"
    )
    for name, optimizer in uninterrupted.optimizers.items():
        _assert_variables_equal(
            resumed.optimizers[name].variables,
            optimizer.variables,
            atol,
            f"resumed {name} state",
        )
    return {"epochs": epochs, "weights": len(resumed.weights)}


def _check_ordering(context):
    model = context.fitted()
    races = unordered_weight_reads(model, context.batch)
    if races:
        listed = "; ".join(f"{read} / {write}" for read, write in races[:5])
        raise AssertionError(
            f"{len(races)} weight reads of train_step are not ordered "
            f"against the update of that weight after Grappler ({listed}"
            f"): apply the update inside keras_ssl.core.after_forward_pass "
            f"of the step's loss and logged terms"
        )
    return {"races": 0}


def _check_export(context, work_dir, atol):
    from keras_ssl.export import export_saved_model

    model = context.fitted()
    path = export_saved_model(model, os.path.join(work_dir, "exports"), "m")
    expected = context.endpoint_outputs(model)
    inputs = {"inputs": context.sample}
    for name, endpoint in model.serving_endpoints().items():
        if isinstance(endpoint, Endpoint) and name in context.endpoint_inputs:
            inputs[name] = context.endpoint_arguments(name, endpoint)
    first = next(iter(expected))
    if first in inputs:  # serving_default takes the first's inputs
        inputs["serving_default"] = inputs[first]
    out = run_signatures(path, inputs, work_dir)
    if out["keras_ssl_imported"]:
        raise AssertionError("loading the export imported keras_ssl")
    names = set(out["signatures"])
    if names != {*expected, "serving_default"}:
        raise AssertionError(
            f"export signatures {sorted(names)}, expected "
            f"{sorted({*expected, 'serving_default'})}"
        )
    served = {name: out[name] for name in expected}
    _assert_outputs_equal(served, expected, 1e-5, "fresh-process export")
    _assert_outputs_equal(
        {"serving_default": out["serving_default"]},
        {"serving_default": out[first]},
        0.0,
        "serving_default",
    )
    return {"path": path, "endpoints": sorted(expected)}


class _Interrupted(Exception):
    pass


class _InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupted()


def _assert_equal_json(a, b, what):
    a, b = json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
    if a != b:
        raise AssertionError(f"{what} differs:\n{a}\n!=\n{b}")


def _assert_variables_equal(actual, expected, atol, what):
    if len(actual) != len(expected):
        raise AssertionError(
            f"{what}: {len(actual)} variables, expected {len(expected)}"
        )
    problems = []
    for a, b in zip(actual, expected, strict=True):
        a_value, b_value = np.asarray(a), np.asarray(b)
        if a_value.shape != b_value.shape:
            problems.append(
                f"{b.path}: shape {a_value.shape} != {b_value.shape}"
            )
        elif max_difference(a_value, b_value) > atol:
            difference = max_difference(a_value, b_value)
            problems.append(f"{b.path}: max |diff| {difference:.3g}")
    if problems:
        raise AssertionError(f"{what} differ:\n" + "\n".join(problems[:20]))


def _assert_optimizers_equal(loaded, model):
    if set(loaded.optimizers) != set(model.optimizers):
        raise AssertionError(
            f"optimizers {sorted(loaded.optimizers)} after loading, expected "
            f"{sorted(model.optimizers)}"
        )
    summary = {}
    for name, optimizer in model.optimizers.items():
        restored = loaded.optimizers[name]
        _assert_equal_json(
            keras.saving.serialize_keras_object(restored),
            keras.saving.serialize_keras_object(optimizer),
            f"{name} config",
        )
        _assert_variables_equal(
            restored.variables, optimizer.variables, 0.0, f"{name} state"
        )
        summary[name] = int(optimizer.iterations)
    return summary


def _assert_outputs_equal(actual, expected, atol, what):
    if set(actual) != set(expected):
        raise AssertionError(
            f"{what}: endpoints {sorted(actual)}, expected {sorted(expected)}"
        )
    for name, outputs in expected.items():
        if set(actual[name]) != set(outputs):
            raise AssertionError(
                f"{what}: {name} outputs {sorted(actual[name])}, expected "
                f"{sorted(outputs)}"
            )
        for key, value in outputs.items():
            got, value = np.asarray(actual[name][key]), np.asarray(value)
            if max_difference(got, value) > atol:
                raise AssertionError(
                    f"{what}: {name}[{key!r}] differs (max |diff| "
                    f"{max_difference(got, value):.3g})"
                )
