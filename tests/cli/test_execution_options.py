"""Several steps per execution change nothing an epoch sees.

`keras_ssl.run.train` runs a whole epoch of small data per call of
`fit`'s compiled function (`Recipe.execution_options`). Epoch-level
callbacks (the `epoch` state, NAT's reassignment epochs, PCL's E-step),
the per-epoch logs, resume with `BackupAndRestore` and the trained
weights must be those of one step per execution.
"""

import json
import re

import keras
import numpy as np
import pytest

from keras_ssl import run
from keras_ssl.recipes.recipe import Recipe
from tests.cli.test_cli import StopAfter


class EpochRecorder(keras.callbacks.Callback):
    """What every epoch-level hook sees, and how many batch-level calls."""

    def __init__(self):
        super().__init__()
        self.epochs = []
        self.batch_calls = 0

    def on_epoch_begin(self, epoch, logs=None):
        # The method's epoch counter runs first: the state is this epoch.
        self.epochs.append(("begin", epoch, int(self.model.epoch.numpy())))

    def on_train_batch_end(self, batch, logs=None):
        self.batch_calls += 1

    def on_epoch_end(self, epoch, logs=None):
        weights = [np.array(w) for w in self.model.weights]
        self.epochs.append(("end", epoch, int(self.model.epoch.numpy())))
        self.epochs.append(("logs", dict(logs), weights))


def test_steps_per_execution_divides_the_epoch_on_one_replica():
    recipe = Recipe()
    tabular, image = {"kind": "tabular"}, {"kind": "image"}
    for steps, spe in [(1, 1), (24, 24), (64, 64), (128, 64), (100, 50)]:
        options = recipe.execution_options(image, steps)
        assert options["steps_per_execution"] == spe
    # A prime count above the bound has no divisor but 1 and itself.
    assert recipe.execution_options(image, 67)["steps_per_execution"] == 1
    two = recipe.execution_options(tabular, 24, replicas=2)
    assert two == {"steps_per_execution": 1, "jit_compile": False}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps_per_execution": 0}, "steps_per_execution must be a positive"),
        ({"steps_per_execution": 5}, "must divide the 24 steps of an epoch"),
        ({"jit_compile": "yes"}, "jit_compile must be True, False or None"),
    ],
)
def test_bad_execution_options_fail_before_anything_is_written(
    tmp_path, kwargs, match
):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        run.train(
            "softmax", str(run_dir), dataset="two_moons", verbose=0, **kwargs
        )
    assert not run_dir.exists()


def test_the_command_line_passes_both_options(tmp_path, capsys):
    from keras_ssl import cli

    run_dir = tmp_path / "run"
    argv = ["train", "softmax", "--dataset", "two_moons", "--epochs", "1"]
    argv += ["--output", str(run_dir), "--verbose", "0", "--json"]
    argv += ["--steps-per-execution", "8", "--jit-compile", "off"]
    assert cli.main(argv) == 0
    written = json.loads((run_dir / "run.json").read_text())
    assert written["steps_per_execution"] == 8
    assert written["jit_compile"] is False
    other = tmp_path / "other"
    argv[argv.index(str(run_dir))] = str(other)
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv[:-4], "--steps-per-execution", "5"])
    assert stop.value.code == 2
    assert "must divide the 24 steps" in capsys.readouterr().err
    assert not other.exists()


def test_jit_compile_is_refused_for_a_host_side_step(tmp_path):
    with pytest.raises(ValueError, match="NAT runs host-side code"):
        run.train("nat", str(tmp_path / "run"), verbose=0, jit_compile=True)
    assert not (tmp_path / "run").exists()


CASES = {
    # 24 steps of batch 64 (two moons); 3 epochs, interrupted after 1.
    "softmax": ("two_moons", {}, 3, 1),
    # 13 steps of batch 100 (digits); epochs 0 and 3 reassign the targets
    # (reassign_every=3), epoch 3 after the resume.
    "nat": ("digits", {}, 4, 2),
    # PCL's E-step clusters at the start of epoch 1 (after the resume).
    "pcl": ("digits", {"warmup_epochs": 1, "num_clusters": (120,)}, 2, 1),
}


@pytest.mark.parametrize("method", list(CASES))
def test_an_epoch_per_execution_and_resume_equal_one_step_per_execution(
    tmp_path, method, capsys
):
    dataset, config, epochs, stop = CASES[method]

    def train(run_dir, callbacks, **kwargs):
        return run.train(
            method,
            str(tmp_path / run_dir),
            dataset=dataset,
            epochs=epochs,
            config=config,
            verbose=2,
            callbacks=callbacks,
            **kwargs,
        )

    one = EpochRecorder()
    straight = train("straight", [one], steps_per_execution=1)
    one_step_output = capsys.readouterr().out
    assert straight.record["steps_per_execution"] == 1

    many = EpochRecorder()
    with pytest.raises(KeyboardInterrupt):
        train("resumed", [many, StopAfter(stop)])
    capsys.readouterr()
    resumed = train("resumed", [many], resume=True)
    output = capsys.readouterr().out
    # A whole epoch per execution (these epochs have at most 64 steps).
    spe = resumed.record["steps_per_execution"]
    assert spe > 1 and resumed.record["epochs_this_session"] == epochs - stop

    # Every epoch hook ran once per epoch, in order, with the epoch state
    # of that epoch, also across the interruption.
    hooks = [e for e in many.epochs if e[0] != "logs"]
    assert hooks == [e for e in one.epochs if e[0] != "logs"]
    assert [e[1] for e in hooks] == [e for i in range(epochs) for e in (i, i)]
    assert all(e[1] == e[2] for e in hooks)
    # The same logs and the same weights (method state included) at the
    # end of every epoch.
    ends = [e for e in many.epochs if e[0] == "logs"]
    for a, b in zip(
        [e for e in one.epochs if e[0] == "logs"], ends, strict=True
    ):
        assert b[1] == pytest.approx(a[1], rel=1e-5)
        for wa, wb in zip(a[2], b[2], strict=True):
            np.testing.assert_allclose(wa, wb, atol=1e-5)
    # Batch-level callbacks are called once per execution: per epoch.
    assert one.batch_calls == epochs * spe
    assert many.batch_calls == epochs
    # The history and the progress lines still hold every epoch's metrics.
    history = resumed.history.history
    assert set(history) == set(straight.history.history)
    for key, values in history.items():
        assert values == pytest.approx(
            straight.history.history[key][stop:], rel=1e-5
        )
    pattern = r"^\d+/\d+ - .*loss: "
    lines = [s for s in output.splitlines() if re.match(pattern, s)]
    assert len(lines) == epochs - stop
    one_lines = [
        s for s in one_step_output.splitlines() if re.match(pattern, s)
    ]
    assert len(one_lines) == epochs
