import json
import os

import pytest

from tests.examples.test_pcl_scripts import run_script


def test_sla_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "sla_step.json"
    result = run_script(
        os.path.join("benchmarks", "sla_step.py"),
        *"--settings narrow --batch-size 8 --warmup 1 --steps 2".split(),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs baseline" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["baseline", "sla", "sla_sd"]
    assert rows[0]["vs_baseline"] == 1.0 and rows[0]["batch_size"] == 8
    for row in rows:
        assert row["vs_baseline"] == pytest.approx(
            8 / row["step_ms"] * 1000 / rows[0]["samples_per_s"], rel=0.02
        )
