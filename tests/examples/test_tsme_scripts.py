import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_tsme_example_runs_on_digits(tmp_path):
    result = run_example(
        "tsme.py",
        "--epochs",
        "1",
        "--labels-per-class",
        "2",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"accuracy", "ece", "nll", "labeled_only_accuracy"} <= set(metrics)
    assert "the unlabeled data bought" in result.stdout
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["labels_per_class"] == 2
    for plot in ("learning_curves", "confusion_matrix"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (
        tmp_path / "saved_models" / "tsme" / "1" / "saved_model.pb"
    ).exists()


def test_tsme_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "tsme_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "tsme_step.py"),
        *"--models supervised tsme ns3l --warmup 1 --steps 3 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs supervised" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["supervised", "tsme", "ns3l"]
    assert rows[0]["vs_supervised"] == 1.0
    for row in rows:
        assert row["samples_per_step"] == 178  # 50 labeled + 128 unlabeled
        assert row["vs_supervised"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )
