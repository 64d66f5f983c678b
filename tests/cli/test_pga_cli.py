import json

import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import cli
from keras_ssl import data
from keras_ssl.generative import PGA
from keras_ssl.recipes import get_recipe
from tests.cli.test_cli import train_args

FIGURES = (
    "reconstruction_mse",
    "fd_pixels",
    "fd_features",
    "ex_post_fd_pixels",
    "ex_post_fd_features",
    "latent_mean_norm",
    "latent_covariance_error",
    "prior_latent_reconstruction",
)


def test_train_pga_writes_both_models_figures_plots_and_exports(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("KERAS_SSL_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    args = train_args(
        run_dir,
        "--set",
        "hidden=16",
        "--set",
        "init_steps=10",
        epochs=2,
        dataset="digits",
    )
    args.method = "pga"
    assert cli.train(args) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["init_steps"] == 10
    assert set(run["final_logs"]) == {
        "loss",
        "reconstruction",
        "latent_reconstruction",
        "nll_encoder",
        "nll_decoder",
    }
    metrics = run["metrics"]
    for figure in FIGURES:
        for key in (figure, f"autoencoder_{figure}"):
            assert np.isfinite(metrics[key]), key
    for key in ("fd_pixels", "fd_features"):
        assert 0 < metrics[f"{key}_floor"] < metrics[key]
    assert metrics["fd_pixels_vs_autoencoder"] == pytest.approx(
        metrics["fd_pixels"] / metrics["autoencoder_fd_pixels"]
    )
    for plot in ("samples", "reconstructions"):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (run_dir / "autoencoder" / "model.keras").exists()
    # `evaluate` reuses the control and the cached classifier.
    again = keras_ssl.run.evaluate(str(run_dir))
    for key in ("fd_features", "autoencoder_fd_features"):
        assert again[key] == pytest.approx(metrics[key], rel=1e-5)

    # The export takes raw 8x8 digits (0..16) for `encode` and
    # `reconstruct`, and codes for `sample`.
    path = keras_ssl.run.export(str(run_dir), str(tmp_path / "export" / "pga"))
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) >= {"sample", "encode", "reconstruct"}
    model = keras_ssl.run.Run.load(str(run_dir)).model
    assert isinstance(model, PGA)
    raw = data.raw_digits()[0][:4]
    images = get_recipe("pga").load_data("digits", {}, 0)["preprocessing"](raw)
    np.testing.assert_allclose(images, 2 * raw / 16 - 1, atol=1e-6)
    out = loaded.signatures["encode"](inputs=tf.constant(raw))
    np.testing.assert_allclose(
        out["latent"], model.encode(images)["latent"], atol=1e-5
    )
    z = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    out = loaded.signatures["sample"](z=tf.constant(z))
    np.testing.assert_allclose(
        out["images"], model.decode(z)["images"], atol=1e-5
    )


def test_vpga_on_the_command_line_has_no_warm_up_unless_given():
    recipe = get_recipe("pga")
    assert recipe.resolve_config({}, "digits")["init_steps"] == 500
    vpga = recipe.resolve_config({"variant": "vpga"}, "digits")
    assert vpga["init_steps"] == 0
    given = recipe.resolve_config(
        {"variant": "vpga", "init_steps": "50"}, "digits"
    )
    assert given["init_steps"] == 50
    with pytest.raises(ValueError, match="network must be 'mlp' or 'conv'"):
        config = recipe.resolve_config({"network": "rnn"}, "digits")
        recipe.model_inputs({"input_shape": (8, 8, 1)}, config)
