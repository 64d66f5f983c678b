"""AET learns its pretext on digits: the learning test the issue asks for.

Each run is `keras-ssl train aet` with its defaults (small CNN 16-32-64
on 16x16 digits, AET-affine with the official ranges, Adam 1e-3, batch
100, 100 epochs), trained, evaluated and saved by `keras_ssl.run.train`;
the runs are shared by the tests below. The control is the trivial
predictor of the target mean on the same held-out pairs. The
representation probes (block 2 and final features, trained and at random
init) are reported, not gated: the method note shows that digits cannot
show AET's representation gain.
"""

import json
import os

import numpy as np
import pytest

import keras_ssl

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return [
        keras_ssl.run.train(
            "aet",
            str(tmp_path_factory.mktemp(f"aet-{seed}")),
            seed=seed,
            verbose=0,
        )
        for seed in SEEDS
    ]


def test_pretext_error_is_below_half_the_trivial_predictors(runs):
    ratios = [r.metrics["pretext_mse"] / r.metrics["trivial_mse"] for r in runs]
    print("pretext / trivial MSE per seed:", np.round(ratios, 3))
    assert np.mean(ratios) < 0.5
    for run in runs:
        # The chance level is the spread of the official 6-d target.
        assert 0.35 < run.metrics["trivial_mse"] < 0.45


def test_the_pixel_parameters_are_learned_best(runs):
    # Translation and scale are read off the pooled features far better
    # than chance; the note finds rotation and shear the hardest.
    for run in runs:
        pretext = run.metrics["pretext_group_mse"]
        trivial = run.metrics["trivial_group_mse"]
        print({g: round(pretext[g] / trivial[g], 3) for g in pretext})
        assert set(pretext) == {"rotation", "translation", "scale", "shear"}
        assert pretext["translation"] < 0.3 * trivial["translation"]
        assert pretext["scale"] < 0.5 * trivial["scale"]


def test_probes_are_reported_at_block_2_and_at_the_final_layer(runs):
    keys = ("linear_probe_accuracy", "knn_accuracy")
    for run in runs:
        m = run.metrics
        row = {
            f"{prefix}{layer}{key}": round(m[f"{prefix}{layer}{key}"], 3)
            for prefix in ("", "random_init_")
            for layer in ("", "final_")
            for key in keys
        }
        print(run.record["seed"], row)
        assert all(0.1 < v <= 1.0 for v in row.values())
    # A reported figure, not a gain: block-2 features stay as good as at
    # random init (the note: a tie).
    trained = np.mean([r.metrics["linear_probe_accuracy"] for r in runs])
    random_init = np.mean(
        [r.metrics["random_init_linear_probe_accuracy"] for r in runs]
    )
    assert trained > random_init - 0.03


def test_the_run_writes_its_metrics_logs_and_plots(runs):
    run = runs[0]
    with open(os.path.join(run.run_dir, "run.json")) as f:
        record = json.load(f)
    assert record["method"] == "aet" and record["global_batch"] == 100
    assert record["config"]["transform"] == "affine"
    assert record["config"]["feature_layer"] == "block2_pool"
    assert set(record["final_logs"]) == {
        "loss",
        "rotation_error",
        "translation_error",
        "scale_error",
        "shear_error",
    }
    for plot in ("embedding_map", "transform_predictions", "transform_pairs"):
        path = os.path.join(run.run_dir, "plots", f"{plot}.png")
        assert os.path.getsize(path) > 1000
    # Block 2 of the 16-32-64 encoder: a 4x4x32 map.
    embedding = run.model.embed(np.zeros((1, 16, 16, 1), "float32"))
    assert embedding["embedding"].shape == (1, 512)
