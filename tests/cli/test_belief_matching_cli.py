import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import cli
from keras_ssl import data
from keras_ssl.run import Run
from keras_ssl.uncertainty.belief_matching import SCORES
from tests.cli.test_cli import ENV
from tests.cli.test_cli import train_args

OUTPUTS = (
    "probs",
    "prediction",
    "certainty",
    "entropy",
    "precision",
    "energy",
    "dempster_shafer",
    "mutual_information",
    "ood_score",
)
# Loads the export in a process that imports neither keras_ssl nor TFP.
FRESH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    raw = tf.constant(np.load(sys.argv[2]))
    out = loaded.signatures["classify"](inputs=raw)
    print(json.dumps({
        "outputs": {k: np.asarray(v).tolist() for k, v in out.items()},
        "imported": [m for m in ("keras_ssl", "tensorflow_probability")
                     if m in sys.modules],
    }))
    """
)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bm") / "run"
    args = train_args(run_dir, epochs=2, dataset="digits")
    args.method = "belief_matching"
    assert cli.train(args) == 0
    return run_dir


def test_run_json_has_an_ood_row_for_every_score(digits_run):
    run = json.loads((digits_run / "run.json").read_text())
    assert run["method"] == "belief_matching"
    assert run["config"]["kl_weight"] == 0.01 and run["config"]["prior"] == 1
    assert set(run["final_logs"]) == {"loss", "kl", "expected_nll", "accuracy"}
    logs = run["final_logs"]
    assert logs["loss"] == pytest.approx(
        0.01 * logs["kl"] + logs["expected_nll"], rel=1e-4
    )
    metrics = run["metrics"]
    for key in ("accuracy", "ece", "mce", "nll", "brier"):
        assert np.isfinite(metrics[key]) and metrics[key] >= 0
    by_score = metrics["ood_by_score"]
    assert set(by_score) == {"ood_score", *SCORES[1:]}
    assert metrics["ood"] == by_score["ood_score"]
    for rows in by_score.values():
        assert set(rows) == {"digits_5_9", "uniform_noise"}
        for row in rows.values():
            assert 0.0 <= row["auroc"] <= 1.0
    # Precision-based scores rank alike: energy = -log alpha_0 and
    # Dempster-Shafer = K / (K + alpha_0) give the same AUROC.
    for name in ("digits_5_9", "uniform_noise"):
        assert by_score["energy"][name]["auroc"] == pytest.approx(
            by_score["dempster_shafer"][name]["auroc"], abs=1e-3
        )
    for plot in ("reliability_diagram", "ood_histograms"):
        assert (digits_run / "plots" / f"{plot}.png").stat().st_size > 1000


def test_export_serves_every_score_without_keras_ssl_or_tfp(
    digits_run, tmp_path
):
    args = cli._parser().parse_args(
        ["export", str(digits_run), "--to", str(tmp_path / "bm")]
    )
    assert cli.export(args) == 0
    raw = data.raw_digits()[0][:6]
    np.save(tmp_path / "raw.npy", raw)
    (tmp_path / "fresh.py").write_text(FRESH)
    result = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "fresh.py"),
            str(tmp_path / "bm" / "1"),
            str(tmp_path / "raw.npy"),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["imported"] == []
    assert set(served["outputs"]) == set(OUTPUTS)
    model = Run.load(str(digits_run)).model
    expected = model.classify(data.digits_preprocessing(image_size=16)(raw))
    for key in OUTPUTS:
        np.testing.assert_allclose(
            served["outputs"][key], expected[key], rtol=1e-5, atol=1e-6
        )
    assert tf.saved_model.contains_saved_model(str(tmp_path / "bm" / "1"))


def test_two_moons_with_the_energy_score(tmp_path):
    args = train_args(tmp_path / "run", "--set", "ood_score=energy", epochs=3)
    args.method = "belief_matching"
    assert cli.train(args) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    metrics = run["metrics"]
    assert run["config"]["ood_score"] == "energy"
    assert metrics["ood"] == metrics["ood_by_score"]["energy"]
    assert set(metrics["ood"]) == {"far"}
    plot = tmp_path / "run" / "plots" / "certainty_map.png"
    assert plot.stat().st_size > 1000
