import json
import os

import pytest

from keras_ssl.uncertainty.belief_matching import SCORES
from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_belief_matching_example_runs_on_digits(tmp_path):
    result = run_example(
        "belief_matching.py", "--epochs", "1", "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert set(metrics["ood_auroc"]) == {"ood_score", *SCORES[1:]}
    for rows in metrics["ood_auroc"].values():
        assert set(rows) == {"digits_5_9", "uniform_noise"}
    for plot in ("ood_histograms", "reliability_diagram"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    saved = tmp_path / "saved_models" / "belief_matching" / "1"
    assert (saved / "saved_model.pb").exists()


def test_belief_matching_example_explains_missing_cifar10(tmp_path):
    result = run_example(
        "belief_matching.py",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "cifar10" in result.stderr and "svhn_cropped" in result.stderr
    assert "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr


def test_belief_matching_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "belief_matching_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "belief_matching_step.py"),
        *"--settings two_moons --warmup 1 --steps 3 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs softmax" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["softmax", "belief_matching"]
    assert rows[0]["vs_softmax"] == 1.0
    for row in rows:
        assert row["samples_per_s"] > 0
        assert row["vs_softmax"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )
