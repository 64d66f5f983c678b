import json

import pytest

from keras_ssl import cli
from keras_ssl import run
from keras_ssl.recipes import get_recipe

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


@pytest.mark.parametrize("name", ["moco", "pcl"])
def test_the_schedule_counts_the_full_batches_the_pipeline_runs(name):
    # 1,257 training digits in batches of 100: the pipeline drops the
    # partial batch, so an epoch is 12 steps, not ceil(1257 / 100) = 13.
    recipe = get_recipe(name)
    config = recipe.resolve_config({"lr_milestones": "2,3"}, "digits")
    data = recipe.load_data("digits", config, seed=0)
    dataset, steps = recipe.train_dataset(data, 100, 0, 0, 1, config)
    batches = sum(1 for _ in dataset)
    assert steps == batches == len(data["x_train"]) // 100 == 12
    assert recipe.steps_per_epoch(data, 100) == batches
    model = recipe.build_model(data, config, steps)
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["boundaries"] == [24, 36]
    assert schedule["values"] == pytest.approx([0.03, 0.003, 0.0003])


def test_a_moco_run_decays_the_rate_after_the_epochs_that_ran(tmp_path):
    # `keras_ssl.run.train` builds the schedule before the pipeline: its
    # epochs must be the pipeline's (12 full batches), or the decay at
    # "epoch 1" comes a step late.
    result = run.train(
        "moco",
        str(tmp_path / "run"),
        epochs=1,
        verbose=0,
        config={"lr_milestones": "1"},
    )
    optimizer = result.model.optimizer
    ran = int(optimizer.iterations)
    assert ran == 12
    schedule = optimizer.get_config()["learning_rate"]["config"]
    assert schedule["boundaries"] == [ran]
    assert tuple(result.record["config"]["lr_milestones"]) == (1,)
