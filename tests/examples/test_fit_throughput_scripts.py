import json
import os

import pytest

from tests.examples.test_examples import run_example


def test_fit_throughput_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "fit_throughput.json"
    result = run_example(
        os.path.join(os.pardir, "benchmarks", "fit_throughput.py"),
        "--cases",
        "moons_softmax",
        "--rounds",
        "1",
        "--epochs",
        "1",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "after_vs_bare" in result.stdout and "load average" in result.stdout
    report = json.loads(output.read_text())
    [row] = report["results"]
    assert row["case"] == "moons_softmax" and row["recipe"] == "softmax"
    # Two moons: 1,500 training points, 24 steps of 64, one execution.
    assert row["steps_per_execution"] == row["steps_per_epoch"] == 24
    rate = {
        k[: -len("_samples_per_s")]: v
        for k, v in row.items()
        if k.endswith("_samples_per_s")
    }
    assert set(rate) == {
        "before",
        "spe",
        "spe_xla",
        "cached",
        "bare",
        "bare_xla",
        "after",
    }
    assert all(v > 0 for v in rate.values())
    # The recipe keeps XLA off for softmax: `after` is the `spe` way.
    assert row["jit_compile"] is False and rate["after"] == rate["spe"]
    for ratio, (a, b) in {
        "after_vs_before": ("after", "before"),
        "after_vs_bare": ("after", "bare"),
        "after_vs_cached": ("after", "cached"),
        "xla_vs_no_xla": ("spe_xla", "spe"),
    }.items():
        assert row[ratio] == pytest.approx(rate[a] / rate[b], rel=0.01)
    assert len(report["load_average_before"]) == 3
