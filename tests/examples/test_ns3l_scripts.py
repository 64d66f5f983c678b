import json

from tests.examples.test_examples import printed_json
from tests.examples.test_examples import run_example


def test_ns3l_example_runs_ts_plus_ns3l_on_digits(tmp_path):
    # `--ts`: TS + NS3L (the `ns3l` recipe itself runs in
    # tests/cli/test_ns3l_cli.py); the benchmark's NS3L steps run in
    # tests/examples/test_tsme_scripts.py.
    result = run_example(
        "ns3l.py",
        "--ts",
        "--epochs",
        "1",
        "--labels-per-class",
        "2",
        "--output",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = printed_json(result.stdout)
    assert {"accuracy", "ece", "nll", "labeled_only_accuracy"} <= set(metrics)
    assert "the unlabeled data bought" in result.stdout
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["method"] == "tsme"
    assert run["config"]["negative_sampling_weight"] == 1.0
    assert run["config"]["mutual_exclusivity_weight"] == 0.0
    assert run["config"]["labels_per_class"] == 2
    assert "negative_sampling" in run["final_logs"]
    assert (
        tmp_path / "saved_models" / "ts_ns3l" / "1" / "saved_model.pb"
    ).exists()
