import json

from tests.examples.test_examples import printed_json
from tests.examples.test_pcl_scripts import run_script


def test_aet_example_writes_the_pretext_and_probe_metrics(tmp_path):
    # One epoch of `keras-ssl train aet` through the example: run.json,
    # the plots and the export with both endpoints.
    result = run_script(
        "examples/aet.py", "--epochs", "1", "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    probes = {
        f"{prefix}{layer}{key}"
        for prefix in ("", "random_init_")
        for layer in ("", "final_")
        for key in ("linear_probe_accuracy", "knn_accuracy")
    }
    assert set(metrics) == probes | {
        "pretext_mse",
        "trivial_mse",
        "pretext_group_mse",
        "trivial_group_mse",
    }
    for key in probes:
        assert 0.1 < metrics[key] <= 1.0, key
    assert 0.35 < metrics["trivial_mse"] < 0.45
    assert set(metrics["pretext_group_mse"]) == {
        "rotation",
        "translation",
        "scale",
        "shear",
    }
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["method"] == "aet" and run["global_batch"] == 100
    assert run["config"]["feature_layer"] == "block2_pool"
    assert set(run["final_logs"]) == {
        "loss",
        "rotation_error",
        "translation_error",
        "scale_error",
        "shear_error",
    }
    for plot in ("embedding_map", "transform_predictions", "transform_pairs"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000
    saved = tmp_path / "saved_models" / "aet" / "1" / "saved_model.pb"
    assert saved.exists()


def test_aet_example_explains_missing_cifar10(tmp_path):
    result = run_script(
        "examples/aet.py", "--dataset", "cifar10", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "cifar10" in result.stderr
    assert "Traceback" not in result.stderr


def test_aet_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "aet_step.json"
    result = run_script(
        "benchmarks/aet_step.py",
        "--settings",
        "narrow",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs softmax" in result.stdout
    report = json.loads(output.read_text())
    rows = report["results"]
    assert [r["model"] for r in rows] == [
        "softmax",
        "aet_affine",
        "aet_projective",
    ]
    assert rows[0]["vs_softmax"] == 1.0
    for row in rows:
        assert row["samples_per_s"] > 0
    assert set(report["pairs_ms"]) == {"affine", "projective"}
