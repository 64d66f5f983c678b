import json

from tests.examples.test_examples import printed_json
from tests.examples.test_pcl_scripts import run_script


def test_pga_example_trains_both_models_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_SSL_CACHE", str(tmp_path / "cache"))
    result = run_script(
        "examples/pga.py", "--epochs", "1", "--output", str(tmp_path / "run")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"fd_pixels", "autoencoder_fd_pixels", "fd_features"} <= set(metrics)
    run = tmp_path / "run"
    for plot in ("samples", "reconstructions"):
        assert (run / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (run / "saved_models" / "pga" / "1" / "saved_model.pb").exists()


def test_pga_example_explains_a_missing_tfds_dataset(tmp_path):
    result = run_script(
        "examples/pga.py", "--dataset", "mnist", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr


def test_pga_step_benchmark_reports_ratios(tmp_path):
    output = tmp_path / "pga_step.json"
    result = run_script(
        "benchmarks/pga_step.py",
        "--settings",
        "digits",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vs autoencoder" in result.stdout
    rows = json.loads(output.read_text())["results"]
    assert [r["model"] for r in rows] == ["autoencoder", "lpga", "vpga"]
    assert rows[0]["vs_autoencoder"] == 1.0
    for row in rows:
        assert row["samples_per_s"] > 0
