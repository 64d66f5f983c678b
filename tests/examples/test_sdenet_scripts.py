import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_sdenet_example_runs_on_two_moons(tmp_path):
    result = run_example(
        "sdenet.py",
        "--dataset",
        "two_moons",
        "--epochs",
        "1",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert set(metrics["ood_auroc"]["diffusion"]) == {"far"}
    assert set(metrics["ood_auroc"]) >= {"ood_score", "ood_score_sigma_50"}
    for plot in ("ood_histograms", "reliability_diagram", "certainty_map"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    saved = tmp_path / "saved_models" / "sdenet" / "1" / "saved_model.pb"
    assert saved.exists()


def test_sdenet_example_explains_missing_mnist(tmp_path):
    result = run_example(
        "sdenet.py", "--dataset", "mnist", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "svhn_cropped" in result.stderr
    assert "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr


def test_sdenet_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "sdenet_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "sdenet_step.py"),
        *"--settings digits_mlp --warmup 1 --steps 2 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs determ." in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [(r["phase"], r["model"]) for r in rows] == [
        ("train", "deterministic"),
        ("inference", "deterministic"),
        ("train", "sdenet"),
        ("inference", "sdenet"),
    ]
    for row in rows:
        base = next(
            r
            for r in rows
            if r["phase"] == row["phase"] and r["model"] == "deterministic"
        )
        assert row["samples_per_s"] > 0
        assert row["vs_deterministic"] == pytest.approx(
            row["samples_per_s"] / base["samples_per_s"], rel=0.01
        )
