import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


@pytest.mark.parametrize(
    "dataset, ood_sets",
    [("two_moons", {"far"}), ("digits", {"digits_5_9", "uniform_noise"})],
)
def test_duq_example_runs(tmp_path, dataset, ood_sets):
    result = run_example(
        "duq.py",
        "--dataset",
        dataset,
        "--epochs",
        "1",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert set(metrics["ood_auroc"]) == ood_sets
    assert 0.0 <= metrics["ece"] <= 1.0
    for plot in ("ood_histograms", "reliability_diagram"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (tmp_path / "saved_models" / "duq" / "1" / "saved_model.pb").exists()


def test_duq_example_explains_missing_fashion_mnist(tmp_path):
    result = run_example(
        "duq.py", "--dataset", "fashion_mnist", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "fashion_mnist" in result.stderr
    assert "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr


def test_duq_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "duq_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "duq_step.py"),
        "--settings",
        "two_moons",
        "--warmup",
        "1",
        "--steps",
        "3",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs softmax" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["softmax", "duq_gp", "duq_no_gp"]
    assert rows[0]["vs_softmax"] == 1.0
    for row in rows:
        assert row["samples_per_s"] > 0
        assert row["vs_softmax"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )


def test_duq_digits_protocol_prints_duq_and_softmax_side_by_side():
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "duq_digits_protocol.py"),
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--variant",
        "torch_bce",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["torch_bce", "duq"],
        ["torch_bce", "softmax"],
    ]
    for line in lines:
        for key in ("accuracy", "auroc_digits_5_9", "auroc_noise"):
            assert f"{key} " in line
