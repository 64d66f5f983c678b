"""Bad input, faults and first contact: every case stops with a clear error
that names what the user typed, before any training step, and changes
nothing a user already has; or it does what the README documents.

The property-based tests (hypothesis) draw command lines and arrays; the
named tests pin each case of the issue that asked for them.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_ssl import cli
from keras_ssl import run
from keras_ssl.backbones import mlp
from keras_ssl.core import NonFiniteLossError
from keras_ssl.uncertainty import DUQ
from keras_ssl.uncertainty import SoftmaxClassifier

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def run_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "keras_ssl.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        **kwargs,
    )


def cli_error(argv):
    """Runs the CLI in-process; returns (exit code, stderr text)."""
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    return stop.value.code


def snapshot(path):
    """Every file under `path` with its bytes (what must not change)."""
    files = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = f.read()
    return files


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished softmax run on two moons and its export."""
    base = tmp_path_factory.mktemp("finished")
    run_dir = str(base / "run")
    run.train("softmax", run_dir, dataset="two_moons", epochs=1, verbose=0)
    export = run.export(run_dir, str(base / "exports" / "moons"))
    return run_dir, export


# ----------------------------------------------------------------------
# Command-line flags (property-based)
# ----------------------------------------------------------------------
BAD_FLAGS = st.one_of(
    st.tuples(st.just("--epochs"), st.integers(-5, 0)),
    st.tuples(st.just("--batch-size"), st.integers(-5, 0)),
    st.tuples(st.just("--replicas"), st.integers(-3, 0)),
    st.tuples(
        st.just("--seed"),
        st.one_of(st.integers(-(2**40), -1), st.integers(2**32, 2**40)),
    ),
)


@FUZZ
@given(flag=BAD_FLAGS)
def test_bad_flags_fail_fast_naming_the_flag(flag, tmp_path, capsys):
    name, value = flag
    target = tmp_path / "run"
    argv = ["train", "softmax", "--dataset", "two_moons", "--output"]
    code = cli_error([*argv, str(target), name, str(value)])
    assert code == 2
    assert name in capsys.readouterr().err
    assert not target.exists()


SET_VALUES = st.one_of(
    st.tuples(
        st.just("learning_rate"),
        st.sampled_from(["nan", "inf", "-inf", "-1", "0", "fast"]),
    ),
    st.tuples(st.just("momentum"), st.sampled_from(["1", "1.5", "-0.1"])),
    st.tuples(st.just("optimizer"), st.sampled_from(["sgdd", "lbfgs", ""])),
    st.tuples(st.just("width"), st.sampled_from(["huge", "tiny"])),
    st.tuples(st.just("image_size"), st.sampled_from(["7", "64", "big"])),
    st.tuples(st.just("channels"), st.sampled_from(["2", "0"])),
    st.tuples(st.just("length_scale"), st.sampled_from(["-1", "0", "nan"])),
    st.tuples(st.just("gamma"), st.sampled_from(["1", "0", "2"])),
    st.tuples(
        st.text("abcdefghij_", min_size=1, max_size=12).filter(
            lambda k: (
                k
                not in {
                    "length_scale",
                    "gamma",
                    "width",
                    "momentum",
                    "optimizer",
                    "channels",
                    "image_size",
                }
            )
        ),
        st.just("1"),
    ),
)


@FUZZ
@given(setting=SET_VALUES)
def test_bad_set_values_fail_before_training(setting, tmp_path, capsys):
    key, value = setting
    target = tmp_path / "run"
    argv = ["train", "duq", "--dataset", "digits", "--output", str(target)]
    code = cli_error([*argv, "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert key in err and "Traceback" not in err
    assert "Epoch 1" not in err
    assert not target.exists() or not os.listdir(target)


# ----------------------------------------------------------------------
# API arrays (property-based)
# ----------------------------------------------------------------------
def _softmax():
    model = SoftmaxClassifier(mlp((2,), hidden=(4,)), num_classes=2)
    model.compile(optimizer="sgd")
    return model


BAD_ARRAYS = st.one_of(
    # NaN or inf somewhere in x
    st.tuples(
        st.just("x"),
        st.tuples(
            st.integers(0, 7),
            st.integers(0, 1),
            st.sampled_from([np.nan, np.inf, -np.inf]),
        ),
    ),
    # labels: fractional, out of range, one-hot, wrong rank
    st.tuples(st.just("fractional"), st.floats(0.01, 0.99)),
    st.tuples(st.just("range"), st.sampled_from([-1, 2, 7])),
    st.tuples(st.just("one_hot"), st.just(None)),
    st.tuples(st.just("rank"), st.just(None)),
    st.tuples(st.just("empty"), st.just(None)),
)


@FUZZ
@given(case=BAD_ARRAYS)
def test_bad_arrays_fail_before_any_step(case):
    kind, detail = case
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2)).astype("float32")
    y = np.array([0, 1] * 4)
    if kind == "x":
        row, column, value = detail
        x[row, column] = value
        match = "x must hold finite values"
    elif kind == "fractional":
        y = y + detail
        match = "integer class ids"
    elif kind == "range":
        y = y.copy()
        y[0] = detail
        match = r"class ids in \[0, num_classes=2\)"
    elif kind == "one_hot":
        y = np.eye(2)[y]
        match = "looks one-hot: pass y.argmax"
    elif kind == "rank":
        y = np.zeros((8, 3, 2))
        match = "shape"
    else:
        x, y = x[:0], y[:0]
        match = "holds no samples"
    model = _softmax()
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert not model.optimizer.built or int(model.optimizer.iterations) == 0


def test_num_classes_must_be_an_integer():
    with pytest.raises(ValueError, match="num_classes must be an integer"):
        SoftmaxClassifier(mlp((2,), hidden=(4,)), num_classes=2.7)
    with pytest.raises(ValueError, match="num_classes must be an integer"):
        DUQ(mlp((2,), hidden=(4,)), num_classes=2.7)


# ----------------------------------------------------------------------
# Data loss and silent wrong results
# ----------------------------------------------------------------------
def test_resume_of_a_finished_run_changes_nothing(finished):
    run_dir, _ = finished
    before = snapshot(run_dir)
    with pytest.raises(FileExistsError, match="has finished"):
        run.train(
            "softmax",
            run_dir,
            dataset="two_moons",
            epochs=1,
            resume=True,
            verbose=0,
        )
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "length_scale=-1"], "length_scale"),
        (["--seed", "-1"], "--seed"),
        (["--batch-size", "5000"], "larger than the 630 training samples"),
    ],
)
def test_a_failed_check_leaves_nothing_behind(tmp_path, extra, message):
    target = tmp_path / "run"
    result = run_cli(
        "train", "duq", "--dataset", "digits", "--output", str(target), *extra
    )
    assert result.returncode == 2 and message in result.stderr
    assert not target.exists() or not os.listdir(target)


def test_divergence_stops_with_the_epoch_and_step(tmp_path):
    target = str(tmp_path / "run")
    overrides = {"optimizer": "sgd", "learning_rate": 1e9}
    with pytest.raises(NonFiniteLossError) as error:
        run.train(
            "softmax",
            target,
            dataset="two_moons",
            epochs=3,
            config=overrides,
            verbose=0,
        )
    assert "at epoch 1, step" in str(error.value)
    assert "smaller learning rate" in str(error.value)
    assert not os.path.exists(os.path.join(target, "model.keras"))
    assert not os.path.exists(os.path.join(target, "run.json"))


def test_nan_inputs_to_nat_fail_before_the_solver():
    from keras_ssl.representation import NAT

    inputs = keras.Input((4,))
    model = NAT(
        keras.Model(inputs, keras.layers.Dense(3)(inputs)),
        num_samples=8,
        target_dim=2,
    )
    model.compile(optimizer="sgd")
    x = np.zeros((8, 4), "float32")
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x must hold finite values"):
        model.fit(x, np.arange(8), batch_size=4, verbose=0)


# ----------------------------------------------------------------------
# Errors that should be clear
# ----------------------------------------------------------------------
def test_an_output_path_through_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli(
        "train", "softmax", "--output", str(blocker / "run"), "--verbose", "0"
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "is a file" in result.stderr and "Traceback" not in result.stderr


def test_export_errors_name_the_flags(finished, tmp_path):
    run_dir, export = finished
    target = os.path.dirname(export)
    result = run_cli("export", run_dir, "--to", target, "--version", "1")
    assert result.returncode == 2
    assert "--version" in result.stderr and "never overwritten" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("export", run_dir, "--to", str(blocker / "m"))
    assert result.returncode == 2 and "--to" in result.stderr


def test_a_truncated_model_is_named(finished, tmp_path):
    run_dir, _ = finished
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    model = copy / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    result = run_cli("export", str(copy), "--to", str(tmp_path / "sm"))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "model.keras cannot be loaded" in result.stderr
    assert "truncated" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", ["weights", "metadata"])
def test_a_corrupt_backup_is_named_on_resume(tmp_path, damage):
    target = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run.train(
            "softmax",
            str(target),
            dataset="two_moons",
            epochs=3,
            verbose=0,
            callbacks=[_StopAfterFirstEpoch()],
        )
    backup = target / "backup"
    if damage == "weights":
        path = backup / "latest.weights.h5"
        path.write_bytes(path.read_bytes()[:300])
    else:
        path = backup / "training_metadata.json"
        path.write_text("{not json")
    result = run_cli(
        "train",
        "softmax",
        "--dataset",
        "two_moons",
        "--epochs",
        "3",
        "--output",
        str(target),
        "--resume",
        "--verbose",
        "0",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert path.name in result.stderr and "Traceback" not in result.stderr


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt("simulated")


def test_nat_noise_error_names_the_set_key(tmp_path):
    code = cli_error(
        ["train", "nat", "--output", str(tmp_path / "r"), "--set", "noise=-0.5"]
    )
    assert code == 2


def test_ctrl_c_prints_one_line(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keras_ssl.cli",
            "train",
            "softmax",
            "--dataset",
            "two_moons",
            "--epochs",
            "500",
            "--output",
            str(tmp_path / "run"),
            "--verbose",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    metadata = tmp_path / "run" / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while not metadata.exists() and time.time() < deadline:
        assert process.poll() is None, process.stderr.read()[-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "keras-ssl train: interrupted (run the same command with --resume "
        "to continue)"
    )


# ----------------------------------------------------------------------
# Loading and serving
# ----------------------------------------------------------------------
def test_saved_models_load_after_import_keras_ssl_alone(finished):
    run_dir, _ = finished
    script = (
        "import keras_ssl, keras\n"
        f"m = keras.saving.load_model({os.path.join(run_dir, 'model.keras')!r})"
        "\nprint(type(m).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "SoftmaxClassifier"


def test_serving_checks_shapes_values_and_takes_empty_batches(tmp_path):
    run_dir = str(tmp_path / "run")
    run.train("softmax", run_dir, dataset="digits", epochs=1, verbose=0)
    path = run.export(run_dir, str(tmp_path / "sm" / "d"))
    classify = tf.saved_model.load(path).signatures["classify"]
    empty = classify(inputs=tf.zeros((0, 8, 8, 1)))
    assert empty["probs"].shape == (0, 5)
    assert empty["prediction"].shape == (0,)
    for shape in [(2, 16, 16, 1), (2, 5, 7, 1)]:
        with pytest.raises(tf.errors.InvalidArgumentError):
            classify(inputs=tf.zeros(shape))
    pixels = np.zeros((2, 8, 8, 1), "float32")
    pixels[1, 3, 3, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="finite"):
        classify(inputs=tf.constant(pixels))


# ----------------------------------------------------------------------
# First contact
# ----------------------------------------------------------------------
def test_list_and_name_errors_need_no_tensorflow():
    script = (
        "import sys\n"
        "from keras_ssl import cli\n"
        "cli.main(['list'])\n"
        "try:\n"
        "    cli.main(['train', 'duqq', '--output', '/tmp/x'])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 2\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "unknown method 'duqq'" in result.stderr


def test_train_speaks_first_and_ends_with_a_summary(tmp_path):
    target = tmp_path / "run"
    result = run_cli(
        "train",
        "softmax",
        "--dataset",
        "two_moons",
        "--epochs",
        "1",
        "--output",
        str(target),
        "--verbose",
        "0",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ("oneDNN", "cuInit", "absl::InitializeLog", "cudart"):
        assert noise not in result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("keras-ssl: trained softmax on two_moons")
    assert any("accuracy" in line for line in lines)
    assert lines[-1].startswith(f"  export    keras-ssl export {target}")
    result = run_cli(
        "train",
        "softmax",
        "--dataset",
        "two_moons",
        "--epochs",
        "1",
        "--output",
        str(tmp_path / "json"),
        "--verbose",
        "0",
        "--json",
    )
    assert json.loads(result.stdout)["metrics"]["accuracy"] > 0


def test_reliability_diagram_colours_over_and_under_confidence_apart():
    from keras_ssl.evaluation import reliability_diagram

    # Over-confident in one bin (confidence 0.9, accuracy 0.5) and
    # under-confident in another (confidence 0.55, accuracy 1.0).
    probs = np.array([[0.9, 0.1]] * 10 + [[0.55, 0.45]] * 10)
    labels = np.array([0, 1] * 5 + [0] * 10)
    figure = reliability_diagram(probs, labels, num_bins=10)
    top = figure.axes[0]
    colours = {
        tuple(round(c, 3) for c in patch.get_facecolor()[:3])
        for patch in top.patches
        if patch.get_zorder() == 3
    }
    assert len(colours) == 2
    labels_shown = [t.get_text() for t in top.get_legend().get_texts()]
    assert any("Over-confident" in t for t in labels_shown)
    assert any("Under-confident" in t for t in labels_shown)
