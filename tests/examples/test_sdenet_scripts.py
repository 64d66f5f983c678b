"""The SDE-Net example and benchmark, run in this process (`runpy`), which
saves a TensorFlow start-up per script."""

import json
import os
import runpy
import sys

import pytest

from tests.examples.test_examples import ROOT
from tests.examples.test_examples import printed_json


def run_script(monkeypatch, path, *args):
    path = os.path.join(ROOT, path)
    monkeypatch.setattr(sys, "argv", [path, *args])
    monkeypatch.syspath_prepend(os.path.dirname(path))
    runpy.run_path(path, run_name="__main__")


def test_sdenet_example_runs_on_two_moons(tmp_path, monkeypatch, capsys):
    run_script(
        monkeypatch,
        "examples/sdenet.py",
        *("--dataset", "two_moons", "--epochs", "1", "--output"),
        str(tmp_path),
    )
    metrics = printed_json(capsys.readouterr().out)
    assert set(metrics["ood_auroc"]["diffusion"]) == {"far"}
    assert set(metrics["ood_auroc"]) >= {"ood_score", "ood_score_sigma_50"}
    for plot in ("ood_histograms", "reliability_diagram", "certainty_map"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    saved = tmp_path / "saved_models" / "sdenet" / "1" / "saved_model.pb"
    assert saved.exists()


def test_sdenet_example_explains_missing_mnist(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_script(
            monkeypatch,
            "examples/sdenet.py",
            *("--dataset", "mnist", "--data-dir", str(tmp_path)),
        )
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "svhn_cropped" in stderr and "prepared locally" in stderr
    assert not (tmp_path / "runs").exists()


def test_sdenet_step_benchmark_reports_ratios(tmp_path, monkeypatch, capsys):
    output = tmp_path / "sdenet_step.json"
    run_script(
        monkeypatch,
        "benchmarks/sdenet_step.py",
        *"--settings digits_mlp --warmup 1 --steps 2 --output".split(),
        str(output),
    )
    assert "vs determ." in capsys.readouterr().out
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
