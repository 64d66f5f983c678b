from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_sla_example_runs_on_digits(tmp_path):
    result = run_example("sla.py", "--epochs", "1", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"ag", "si", "sd", "baseline"} <= set(metrics)
    assert (tmp_path / "plots" / "learning_curves.png").exists()
    saved = tmp_path / "saved_models" / "sla" / "1" / "saved_model.pb"
    assert saved.exists()


def test_sla_example_explains_missing_cifar10(tmp_path):
    result = run_example(
        "sla.py", "--dataset", "cifar10", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "cifar10" in result.stderr and "prepared locally" in result.stderr
    assert "Traceback" not in result.stderr
