import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.parametrize("dataset", ["digits", "two_moons"])
def test_softmax_baseline_example_runs(tmp_path, dataset):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "examples", "softmax_baseline.py"),
            "--dataset",
            dataset,
            "--epochs",
            "2",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    start = result.stdout.index("{")
    end = result.stdout.rindex("}") + 1
    metrics = json.loads(result.stdout[start:end])
    assert 0.0 <= metrics["ece"] <= 1.0
    assert set(metrics["ood_auroc"]) == (
        {"far"} if dataset == "two_moons" else {"digits_5_9", "uniform_noise"}
    )
    assert (tmp_path / "plots" / "reliability_diagram.png").exists()
    assert (
        tmp_path / "saved_models" / "softmax" / "1" / "saved_model.pb"
    ).exists()


def run_example(script, *args):
    # PYTHONPATH: the scripts import this checkout's keras_ssl, not the
    # installed one.
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", script), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT),
    )


def printed_json(stdout):
    return json.loads(stdout[stdout.index("{") : stdout.rindex("}") + 1])


def test_nat_example_runs_on_digits(tmp_path):
    result = run_example("nat.py", "--epochs", "2", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert set(metrics) == {
        "linear_probe_accuracy",
        "knn_accuracy",
        "random_init_linear_probe_accuracy",
        "random_init_knn_accuracy",
    }
    assert (tmp_path / "plots" / "embedding_map.png").stat().st_size > 1000
    assert (tmp_path / "saved_models" / "nat" / "1" / "saved_model.pb").exists()


def test_nat_example_explains_a_missing_tfds_dataset(tmp_path):
    result = run_example(
        "nat.py", "--dataset", "mnist", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "mnist" in result.stderr and "Traceback" not in result.stderr


def test_nat_assignment_benchmark_reports_the_assignment_share(tmp_path):
    output = tmp_path / "nat.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "nat_assignment.py"),
        *"--batch-sizes 16 64 --steps 2 --table-samples 5000 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(output.read_text())["results"]
    assert [r["batch_size"] for r in rows] == [16, 64]
    for row in rows:
        assert row["step_on_ms"] > 0 and row["step_off_ms"] > 0
        assert row["assignment_share"] < 1.0
    table = json.loads(output.read_text())["table_rows"]
    assert [r["epoch"] for r in table] == ["reassigning", "not reassigning"]
    assert all(r["update_speedup"] > 0 for r in table)


def test_replica_throughput_benchmark_reports_a_ratio(tmp_path):
    output = tmp_path / "replicas.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "replicas_step.py"),
        *"--methods softmax --repeats 1 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(output.read_text())["results"]
    assert row["method"] == "softmax"
    assert row["replicas_2_vs_device_1"] > 0
