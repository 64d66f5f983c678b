import json

import pytest

from keras_ssl import cli

PROBES = {
    "linear_probe_accuracy",
    "knn_accuracy",
    "random_init_linear_probe_accuracy",
    "random_init_knn_accuracy",
}


def train_args(method, run_dir, *extra, epochs):
    return cli._parser().parse_args(
        [
            "train",
            method,
            "--epochs",
            str(epochs),
            "--output",
            str(run_dir),
            "--verbose",
            "0",
            *extra,
        ]
    )


def test_train_pcl_writes_cluster_metrics_and_plots(tmp_path):
    run_dir = tmp_path / "run"
    args = train_args("pcl", run_dir, "--set", "warmup_epochs=1", epochs=2)
    assert cli.train(args) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "pcl" and run["global_batch"] == 100
    assert run["config"]["num_clusters"] == [120, 160, 240]
    metrics = run["metrics"]
    assert set(metrics) == PROBES | {"proto_accuracy", "cluster_ami"}
    assert set(metrics["cluster_ami"]) == {"120", "160", "240"}
    # Clusters of a barely trained encoder already share labels a bit.
    assert all(0.05 < v < 1 for v in metrics["cluster_ami"].values())
    assert 0 < metrics["proto_accuracy"] <= 1
    assert set(run["final_logs"]) == {
        "loss",
        "info_nce",
        "proto_nce",
        "instance_accuracy",
        "proto_accuracy",
    }
    assert run["final_logs"]["proto_nce"] > 0  # epoch 1 clustered
    for plot in ("embedding_map", "cluster_map", "cluster_label_map"):
        assert (run_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    # Export: the contract tests the embed endpoint in a fresh process.


def test_train_moco_writes_the_representation_metrics(tmp_path):
    run_dir = tmp_path / "moco"
    assert cli.train(train_args("moco", run_dir, epochs=1)) == 0
    run = json.loads((run_dir / "run.json").read_text())
    assert set(run["metrics"]) == PROBES
    assert set(run["final_logs"]) == {"loss", "info_nce", "instance_accuracy"}
    assert run["config"]["queue_size"] == 400
    assert run["config"]["momentum"] == 0.99  # the EMA, not SGD's
    assert (run_dir / "plots" / "embedding_map.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "setting, match",
    [
        ("augmentation=v3", "augmentation must be one of"),
        ("augmentation=v2", "needs RGB images; these have 1 channel"),
    ],
)
def test_a_bad_augmentation_fails_before_anything_is_written(
    tmp_path, setting, match
):
    run_dir = tmp_path / "bad"
    args = train_args("moco", run_dir, "--set", setting, epochs=1)
    with pytest.raises(ValueError, match=match):
        cli.train(args)
    assert not run_dir.exists()
