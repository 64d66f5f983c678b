import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_flowgmm_example_runs_on_wine(tmp_path):
    result = run_example(
        "flowgmm.py",
        "--dataset",
        "wine",
        "--epochs",
        "1",
        "--labels-per-class",
        "2",
        *("--set", "hidden_units=8", "--set", "num_couplings=1"),
        *("--set", "jit_compile=false"),
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"accuracy", "labeled_only_accuracy", "test_log_likelihood"} <= set(
        metrics
    )
    assert "the unlabeled data bought" in result.stdout
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["dataset"] == "wine" and run["config"]["labels_per_class"] == 2
    assert (tmp_path / "plots" / "test_log_likelihood.png").exists()
    assert (
        tmp_path / "saved_models" / "flowgmm" / "1" / "saved_model.pb"
    ).exists()


def test_flowgmm_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "flowgmm_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "flowgmm_step.py"),
        *"--settings two_moons --hidden 8 --warmup 1 --steps 2".split(),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs density" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["density", "flowgmm", "flowgmm_cons"]
    for row in rows:
        assert row["batch_size"] == 20  # 10 labeled + 10 unlabeled
        assert row["vs_density"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )
