import json

import keras
import numpy as np

from keras_ssl import cli
from keras_ssl import data
from keras_ssl.testing import run_signatures
from tests.cli.test_cli import run_cli


def nat_args(run_dir, *extra, epochs=4):
    return cli._parser().parse_args(
        [
            "train",
            "nat",
            "--epochs",
            str(epochs),
            "--output",
            str(run_dir),
            "--verbose",
            "0",
            *extra,
        ]
    )


def test_train_nat_writes_representation_metrics_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    assert cli.train(nat_args(run_dir, epochs=3)) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "nat" and run["dataset"] == "digits"
    assert run["global_batch"] == 100  # the method's default batch
    assert run["config"]["reassign_every"] == 3
    assert set(run["metrics"]) == {
        "linear_probe_accuracy",
        "knn_accuracy",
        "random_init_linear_probe_accuracy",
        "random_init_knn_accuracy",
    }
    for value in run["metrics"].values():
        assert 0.1 < value <= 1.0
    assert set(run["final_logs"]) == {"loss", "reassigned_fraction"}
    assert (run_dir / "plots" / "embedding_map.png").stat().st_size > 1000

    target = tmp_path / "saved_models" / "nat-digits"
    result = run_cli("export", str(run_dir), "--to", str(target))
    assert result.returncode == 0, result.stderr
    assert "embed" in result.stdout
    raw = data.raw_digits()[0][:3]
    out = run_signatures(str(target / "1"), raw, tmp_path)
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    size = run["config"]["image_size"]
    expected = model.embed(data.digits_preprocessing(size)(raw))["embedding"]
    np.testing.assert_allclose(
        out["embed"]["embedding"], np.asarray(expected), atol=1e-4
    )
