import json
import os
import subprocess
import sys

import pytest

from tests.examples.test_examples import ROOT
from tests.examples.test_examples import printed_json


def run_script(path, *args):
    # PYTHONPATH: the scripts import this checkout's keras_ssl.
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, path), *args],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.join(ROOT, path)),
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT),
    )


def test_pcl_example_runs_with_the_v2_options(tmp_path):
    # RGB digits, so the v2 augmentation (crop, jitter, grayscale, blur,
    # flip), the MLP head and the cosine schedule all run; warm-up 0 runs
    # an E-step at once.
    result = run_script(
        "examples/pcl.py",
        "--channels",
        "3",
        "--mlp",
        "--aug-plus",
        "--cos",
        "--epochs",
        "1",
        "--warmup-epochs",
        "0",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert set(metrics["cluster_ami"]) == {"120", "160", "240"}
    assert 0 <= metrics["proto_accuracy"] <= 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["augmentation"] == "v2" and run["config"]["mlp_head"]
    assert (tmp_path / "plots" / "cluster_map.png").stat().st_size > 1000
    assert (tmp_path / "saved_models" / "pcl" / "1" / "saved_model.pb").exists()


def test_pcl_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "pcl_step.json"
    result = run_script(
        "benchmarks/pcl_step.py",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs moco" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == [
        "moco",
        "pcl_warmup",
        "pcl",
        "pcl_estep",
    ]
    assert rows[0]["vs_moco"] == 1.0
    for row in rows[:3]:
        assert row["vs_moco"] == pytest.approx(
            row["samples_per_s"] / rows[0]["samples_per_s"], rel=0.01
        )
    assert rows[3]["estep_ms"] > 0


def test_pcl_estep_benchmark_compares_faiss_and_sklearn(tmp_path):
    output = tmp_path / "pcl_estep.json"
    result = run_script(
        "benchmarks/pcl_estep.py",
        "--sizes",
        "600",
        "--k",
        "10",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(output.read_text())["results"]
    assert [r["engine"] for r in rows] == [
        "faiss",
        "faiss_1_thread",
        "sklearn",
        "sklearn_1_thread",
    ]
    assert rows[0]["iterations"] == 100 and 0 < rows[2]["iterations"] <= 100
    assert rows[0]["vs_faiss"] == 1.0
    # Same data, same k: the two engines find clusterings of similar cost.
    assert rows[2]["objective"] == pytest.approx(rows[0]["objective"], rel=0.1)
