import json
import os

import pytest

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_ds3l_example_compares_with_the_pi_model(tmp_path):
    result = run_example(
        "ds3l.py",
        "--epochs",
        "1",
        "--mismatch",
        "0.75",
        "--compare",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"accuracy", "mean_weight_seen", "mean_weight_unseen"} <= set(
        metrics
    )
    for name in ("labeled only", "Pi-model", "DS3L"):
        assert f"  {name}" in result.stdout
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["mismatch"] == 0.75
    pi = json.loads((tmp_path / "pi_model" / "run.json").read_text())
    assert pi["method"] == "tsme"
    assert pi["config"]["mutual_exclusivity_weight"] == 0.0
    assert pi["config"]["stop_gradient_target"] is True
    # The same split: the Pi-model is tested on the same seen-class digits.
    assert pi["config"]["ramp_up_steps"] == run["config"]["ramp_up_steps"]
    assert (tmp_path / "plots" / "weight_histograms.png").exists()
    assert (
        tmp_path / "saved_models" / "ds3l" / "1" / "saved_model.pb"
    ).exists()


def test_ds3l_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "ds3l_step.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "ds3l_step.py"),
        *"--warmup 1 --steps 3 --output".split(),
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs pi_model" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["supervised", "pi_model", "ds3l"]
    pi = rows[1]
    assert pi["vs_pi_model"] == 1.0
    for row in rows:
        assert row["batch_size"] == 94  # 30 labeled + 64 unlabeled
        assert row["vs_pi_model"] == pytest.approx(
            row["samples_per_s"] / pi["samples_per_s"], rel=0.01
        )


def test_ds3l_reference_reports_weights_of_both_groups(tmp_path):
    augment = "forward"  # the note's setting (the slower trace of two)
    output = tmp_path / "ds3l_reference.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "ds3l_reference.py"),
        *f"--seeds 0 --steps 4 --last 0.5 --augment {augment}".split(),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["args"]["augment"] == augment
    (run,) = report["results"]
    assert 0.0 <= run["accuracy"] <= 1.0
    for mode in ("inference", "train"):
        seen, unseen = run[f"{mode}_seen"], run[f"{mode}_unseen"]
        assert 0.0 < seen < 1.0 and 0.0 < unseen < 1.0
        assert run[f"{mode}_ratio"] == pytest.approx(unseen / seen)
        assert 0.0 <= run[f"{mode}_auroc"] <= 1.0
    assert report["mean"]["inference_ratio_of_means"] == pytest.approx(
        run["inference_ratio"]
    )
