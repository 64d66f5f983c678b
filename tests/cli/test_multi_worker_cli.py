"""`keras-ssl train --strategy multi_worker` on two worker processes."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_ssl import cli
from keras_ssl.testing.replica_check import _free_ports
from tests.cli.test_cli import ENV


def _launch(method, run_dir, epochs, *extra):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "keras_ssl.cli",
                    "train",
                    method,
                    "--dataset",
                    "two_moons",
                    "--epochs",
                    str(epochs),
                    "--strategy",
                    "multi_worker",
                    "--output",
                    str(run_dir),
                    "--verbose",
                    "0",
                    *extra,
                ],
                env=dict(ENV, TF_CONFIG=json.dumps(config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return processes


def _wait(processes, timeout=600):
    for process in processes:
        _, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 0, stderr[-3000:]


def _single_device(method, run_dir, epochs):
    args = cli._parser().parse_args(
        ["train", method, "--dataset", "two_moons", "--epochs", str(epochs)]
        + ["--output", str(run_dir), "--verbose", "0"]
    )
    assert cli.train(args) == 0


def _assert_same_weights(a_dir, b_dir):
    a = keras.saving.load_model(str(a_dir / "model.keras"))
    b = keras.saving.load_model(str(b_dir / "model.keras"))
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(
            wa, wb, rtol=1e-5, atol=1e-5, err_msg=wa.path
        )


@pytest.mark.parametrize("method", ["softmax", "duq"])
def test_two_workers_train_like_one_device(tmp_path, method):
    _single_device(method, tmp_path / "single", epochs=2)
    _wait(_launch(method, tmp_path / "multi", 2))
    _assert_same_weights(tmp_path / "single", tmp_path / "multi")
    run = json.loads((tmp_path / "multi" / "run.json").read_text())
    assert run["strategy"] == "multi_worker"
    assert run["workers"] == 2 and run["replicas"] == 2
    single = json.loads((tmp_path / "single" / "run.json").read_text())
    assert run["metrics"]["accuracy"] == pytest.approx(
        single["metrics"]["accuracy"]
    )
    # Only the chief wrote the run directory.
    assert sorted(os.listdir(tmp_path / "multi")) == sorted(
        os.listdir(tmp_path / "single")
    )


def test_a_killed_worker_resumes_to_the_uninterrupted_weights(tmp_path):
    epochs = 30
    _single_device("softmax", tmp_path / "single", epochs)
    run_dir = tmp_path / "multi"
    processes = _launch("softmax", run_dir, epochs)
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if metadata.exists():
            try:
                if json.loads(metadata.read_text())["epoch"] >= 2:
                    break
            except (ValueError, KeyError):
                pass  # being written
        assert processes[0].poll() is None, processes[0].stderr.read()
        time.sleep(0.02)
    # Worker 1 dies mid-run; the job is restarted on both workers.
    processes[1].send_signal(signal.SIGKILL)
    processes[1].wait()
    try:
        processes[0].wait(timeout=20)
    except subprocess.TimeoutExpired:
        processes[0].kill()
        processes[0].wait()
    assert not (run_dir / "run.json").exists()
    _wait(_launch("softmax", run_dir, epochs, "--resume"))
    run = json.loads((run_dir / "run.json").read_text())
    assert 0 < run["epochs_this_session"] < epochs
    _assert_same_weights(tmp_path / "single", run_dir)
