import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_gram_example_runs_on_digits(tmp_path):
    # One classifier epoch: every input falls in one class, which is
    # enough to run the whole script.
    result = run_example(
        "gram.py",
        "--classifier-epochs",
        "1",
        "--validation-splits",
        "1",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = printed_json(result.stdout)
    assert set(summary["ood_auroc"]) == {"ood_score", "msp_score"}
    for by_set in summary["ood_auroc_split_average"].values():
        assert set(by_set) == {"digits_5_9", "uniform_noise"}
    for plot in ("ood_histograms", "tap_deviations"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (tmp_path / "classifier" / "run.json").exists()
    export = tmp_path / "saved_models" / "gram" / "1" / "saved_model.pb"
    assert export.exists()


def test_gram_example_explains_missing_cifar10(tmp_path):
    result = run_example(
        "gram.py", "--dataset", "cifar10", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "cifar10" in result.stderr and "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr


def test_gram_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "gram_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "gram_step.py"),
        "--settings",
        "digits",
        "--batch-size",
        "32",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs clf" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["classifier", "gram", "gram_order_1"]
    assert rows[0]["vs_classifier"] == 1.0
    for row in rows:
        assert row["images_per_s"] > 0 and row["taps"] == 3
        assert row["vs_classifier"] == pytest.approx(
            row["images_per_s"] / rows[0]["images_per_s"], rel=0.01
        )
