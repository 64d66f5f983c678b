"""benchmarks/leaderboard.py on generated runs: nothing trains here."""

import importlib.util
import json
import os

import pytest

from keras_ssl import run
from tests.evaluation.run_records import uncertainty_metrics
from tests.evaluation.run_records import write_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
UNCERTAINTY = ["belief_matching", "duq", "gram", "sdenet", "softmax"]


def _leaderboard():
    path = os.path.join(ROOT, "benchmarks", "leaderboard.py")
    spec = importlib.util.spec_from_file_location("leaderboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


leaderboard = _leaderboard()


@pytest.fixture
def fake_train(monkeypatch):
    """Records the runs asked for and writes their run.json instantly."""
    calls = []

    def train(method, output_dir, dataset, seed, resume, **kwargs):
        calls.append((method, seed, resume))
        write_run(output_dir, method, seed, uncertainty_metrics(0.9))

    monkeypatch.setattr(run, "train", train)
    return calls


def test_family_methods_come_from_the_catalog():
    assert leaderboard.family_methods("uncertainty", "digits") == UNCERTAINTY
    assert leaderboard.family_methods("uncertainty", "two_moons") == [
        "belief_matching",
        "duq",
        "sdenet",
        "softmax",
    ]
    with pytest.raises(ValueError, match="'nope' has no method"):
        leaderboard.family_methods("nope", "digits")


def test_writes_the_leaderboard_from_finished_runs(tmp_path, fake_train):
    runs, docs = tmp_path / "runs", tmp_path / "docs"
    for seed in (0, 1):
        for i, method in enumerate(UNCERTAINTY):
            write_run(
                leaderboard.run_dir(str(runs), method, seed),
                method,
                seed,
                uncertainty_metrics(0.5 + 0.1 * i + 0.02 * seed),
            )
    args = ["--family", "uncertainty", "--seeds", "0", "1"]
    args += ["--runs-dir", str(runs), "--docs", str(docs)]
    assert leaderboard.main(args) == 0
    assert fake_train == []  # every run was finished: none retrained
    text = (docs / "leaderboard_uncertainty.md").read_text()
    assert "| metric | " + " | ".join(UNCERTAINTY) + " |" in text
    assert "| ood.digits_5_9.auroc | 0.510 [0.500, 0.520] | 0.610 " in text
    assert "python benchmarks/leaderboard.py " + " ".join(args) in text
    assert "CPU cores" in text and "keras_ssl 0.1.0" in text
    figure = docs / "figures" / "leaderboard_uncertainty.png"
    assert figure.stat().st_size > 5000
    assert "figures/leaderboard_uncertainty.png" in text


def test_trains_only_the_missing_runs(tmp_path, fake_train):
    runs = str(tmp_path / "runs")
    write_run(
        leaderboard.run_dir(runs, "softmax", 0),
        "softmax",
        0,
        uncertainty_metrics(0.9),
    )
    interrupted = leaderboard.run_dir(runs, "duq", 0)
    os.makedirs(interrupted)
    with open(os.path.join(interrupted, run.ARGS_FILE), "w") as f:
        json.dump({"method": "duq"}, f)
    found = leaderboard.train_missing(
        runs, ["softmax", "duq"], [0, 1], "digits"
    )
    assert fake_train == [
        ("duq", 0, True),  # interrupted: resumed
        ("softmax", 1, False),
        ("duq", 1, False),
    ]
    assert len(found) == 4
    assert leaderboard.train_missing(runs, ["softmax", "duq"], [0, 1], "x")
    assert len(fake_train) == 3  # the second pass reuses every run


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        leaderboard.main(["--family", "uncertainty", "--methods", "nat"])
    assert stop.value.code == 2
    assert "--methods nat: not uncertainty methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        leaderboard.main(
            ["--family", "uncertainty", "--no-train"]
            + ["--runs-dir", str(tmp_path)]
        )
    assert "no finished run" in capsys.readouterr().err
