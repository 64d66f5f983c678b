import numpy as np
import pytest

from keras_ssl import cli
from keras_ssl.evaluation.run_comparison import RunComparison
from tests.evaluation.run_records import uncertainty_metrics
from tests.evaluation.run_records import write_run

SOFTMAX_AUROC = [0.9, 0.7, 0.8]


@pytest.fixture
def uncertainty_runs(tmp_path):
    """Softmax over 3 seeds, DUQ over 2 (one with a slower run)."""
    runs = [
        write_run(
            tmp_path / f"softmax{seed}",
            "softmax",
            seed,
            uncertainty_metrics(auroc),
            train_seconds=10.0 + seed,
        )
        for seed, auroc in enumerate(SOFTMAX_AUROC)
    ]
    runs += [
        write_run(
            tmp_path / f"duq{seed}",
            "duq",
            seed,
            {**uncertainty_metrics(0.95), "only_duq": 1.0},
            train_seconds=seconds,
        )
        for seed, seconds in ((0, 30.0), (1, 50.0))
    ]
    return runs


def test_summary_is_mean_min_max_over_seeds(uncertainty_runs):
    comparison = RunComparison(uncertainty_runs)
    assert list(comparison.groups) == ["softmax", "duq"]
    assert comparison.family == "uncertainty"
    assert comparison.seeds() == {"softmax": [0, 1, 2], "duq": [0, 1]}
    summary = comparison.summary()
    auroc = np.array(SOFTMAX_AUROC)
    assert summary["ood.digits_5_9.auroc"]["softmax"] == pytest.approx(
        (auroc.mean(), auroc.min(), auroc.max())
    )
    noise = 1.0 - auroc / 2
    assert summary["ood.uniform_noise.auroc"]["softmax"] == pytest.approx(
        (noise.mean(), noise.min(), noise.max())
    )
    assert summary["ood.digits_5_9.auroc"]["duq"] == pytest.approx(
        (0.95, 0.95, 0.95)
    )
    assert summary["wall_seconds"]["softmax"] == pytest.approx((11, 10, 12))
    assert summary["wall_seconds"]["duq"] == pytest.approx((40, 30, 50))


def test_only_shared_numeric_metrics_are_compared(uncertainty_runs):
    metrics = RunComparison(uncertainty_runs).metrics
    assert metrics == [
        "accuracy",
        "ece",
        "ood.digits_5_9.auroc",
        "ood.digits_5_9.num_in",
        "ood.uniform_noise.auroc",
        "wall_seconds",
    ]  # not DUQ's own metric, not the strings ("positive": "in")


def test_table_cells(uncertainty_runs):
    comparison = RunComparison(uncertainty_runs)
    rows = {row[0]: row[1:] for row in comparison.rows()}
    assert rows["metric"] == ["softmax", "duq"]
    assert rows["seeds"] == ["0 1 2", "0 1"]
    assert rows["ood.digits_5_9.auroc"] == ["0.800 [0.700, 0.900]", "0.950"]
    assert rows["ood.digits_5_9.num_in"] == ["271", "271"]
    assert rows["wall_seconds"] == ["11.0 [10.0, 12.0]", "40.0 [30.0, 50.0]"]
    markdown = comparison.to_markdown()
    assert "| ood.digits_5_9.auroc | 0.800 [0.700, 0.900] | 0.950 |" in (
        markdown
    )
    text = comparison.to_text()
    assert text.splitlines()[0] == (
        "uncertainty runs on digits (in_classes [0, 1, 2, 3, 4])"
    )
    assert "0.800 [0.700, 0.900]" in text


def test_wall_time_adds_the_runs_trained_inside(tmp_path):
    gram = write_run(
        tmp_path / "gram", "gram", 0, uncertainty_metrics(0.9), train_seconds=4
    )
    write_run(
        tmp_path / "gram" / "classifier",
        "softmax",
        0,
        uncertainty_metrics(0.9),
        train_seconds=12.5,
    )
    summary = RunComparison([gram]).summary()
    assert summary["wall_seconds"]["gram"] == (16.5, 16.5, 16.5)


def test_variants_of_a_method_are_separate_groups(tmp_path):
    runs = [
        write_run(
            tmp_path / f"duq{scale}-{seed}",
            "duq",
            seed,
            uncertainty_metrics(auroc),
            config={"in_classes": [0, 1, 2, 3, 4], "length_scale": scale},
        )
        for scale, seed, auroc in [(0.1, 0, 0.9), (0.1, 1, 0.8), (0.5, 0, 0.6)]
    ]
    comparison = RunComparison(runs)
    assert list(comparison.groups) == [
        "duq (length_scale=0.1)",
        "duq (length_scale=0.5)",
    ]
    summary = comparison.summary()["ood.digits_5_9.auroc"]
    assert summary["duq (length_scale=0.1)"] == pytest.approx((0.85, 0.8, 0.9))


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(dataset="two_moons"), "differ in dataset"),
        (dict(config={"in_classes": [0, 1, 2]}), "differ in in_classes"),
        (
            dict(config={"in_classes": [0, 1, 2, 3, 4], "labels_per_class": 5}),
            "differ in labels_per_class",
        ),
    ],
)
def test_refuses_runs_of_another_split_naming_it(tmp_path, other, message):
    first = write_run(tmp_path / "a", "softmax", 0, uncertainty_metrics(0.9))
    second = write_run(
        tmp_path / "b", "duq", 0, uncertainty_metrics(0.9), **other
    )
    with pytest.raises(ValueError, match=message) as error:
        RunComparison([first, second])
    assert first in str(error.value) and second in str(error.value)


def test_refuses_a_missing_setting_as_a_difference(tmp_path):
    first = write_run(tmp_path / "a", "softmax", 0, uncertainty_metrics(0.9))
    second = write_run(
        tmp_path / "b",
        "softmax",
        1,
        uncertainty_metrics(0.9),
        config={"in_classes": [0, 1, 2, 3, 4], "labels_per_class": 5},
    )
    with pytest.raises(ValueError, match="not set in .*a; 5 in .*b"):
        RunComparison([first, second])


def test_refuses_mixed_families_and_twice_the_same_seed(tmp_path):
    softmax = write_run(tmp_path / "s", "softmax", 0, {"a": 1.0}, config={})
    moco = write_run(tmp_path / "m", "moco", 0, {"a": 1.0}, config={})
    with pytest.raises(ValueError, match="different families"):
        RunComparison([softmax, moco])
    again = write_run(tmp_path / "s2", "softmax", 0, {"a": 1.0}, config={})
    with pytest.raises(ValueError, match="both softmax with seed 0"):
        RunComparison([softmax, again])
    with pytest.raises(ValueError, match="run.json missing"):
        RunComparison([softmax, str(tmp_path / "nothing")])
    with pytest.raises(ValueError, match="at least one"):
        RunComparison([])


def _representation(value):
    return {
        "linear_probe_accuracy": value,
        "random_init_linear_probe_accuracy": value - 0.1,
        "knn_accuracy": value,
        "random_init_knn_accuracy": value - 0.2,
    }


# family: (the two groups as (method, config), the metrics of a value)
FAMILY_RUNS = {
    "uncertainty": (
        [("softmax", None), ("duq", None)],
        uncertainty_metrics,
    ),
    "representation": ([("nat", {}), ("moco", {})], _representation),
    "semi_supervised": (
        [("tsme", {"labels_per_class": 5}), ("ns3l", {"labels_per_class": 5})],
        lambda v: {"accuracy": v, "labeled_only_accuracy": v - 0.1},
    ),
    "generative": (
        [("pga", {"variant": "lpga"}), ("pga", {"variant": "vpga"})],
        lambda v: {"fd_pixels": v, "autoencoder_fd_pixels": 20 * v},
    ),
}


@pytest.mark.parametrize("family", sorted(FAMILY_RUNS))
def test_plot_writes_the_family_figure(tmp_path, family):
    (first, second), metrics = FAMILY_RUNS[family]
    runs = [
        write_run(
            tmp_path / f"run{i}",
            method,
            seed,
            metrics(value),
            config=config,
        )
        for i, ((method, config), seed, value) in enumerate(
            [(first, 0, 0.8), (first, 1, 0.9), (second, 0, 0.7)]
        )
    ]
    comparison = RunComparison(runs)
    assert comparison.family == family
    assert len(comparison.groups) == 2
    path = tmp_path / "figure.png"
    figure = comparison.plot(str(path))
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert path.stat().st_size > 5000
    bars = [p for axis in figure.axes for p in axis.patches]
    assert (
        len(bars)
        == {
            "uncertainty": 2 * 2,  # 2 OOD sets x 2 methods
            "representation": 2 * 2 * 2,  # 2 panels x 2 methods x (it, random)
            "semi_supervised": 2 * 2,  # 2 methods x (it, labeled only)
            "generative": 2 * 2,  # pixels only (no fd_features in these runs)
        }[family]
    )
    # The bars stand at the group means: first group (0.8, 0.9) -> 0.85.
    expected = {
        "uncertainty": [0.85, 0.7, 1 - 0.85 / 2, 1 - 0.7 / 2],
        "representation": [0.85, 0.7, 0.75, 0.6, 0.85, 0.7, 0.65, 0.5],
        "semi_supervised": [0.85, 0.7, 0.75, 0.6],
        "generative": [0.85, 0.7, 17.0, 14.0],
    }[family]
    heights = sorted(bar.get_height() for bar in bars)
    assert heights == pytest.approx(sorted(expected))


def test_plot_names_the_missing_metrics(tmp_path):
    run = write_run(tmp_path / "n", "nat", 0, {"loss": 1.0}, config={})
    with pytest.raises(ValueError, match="linear_probe_accuracy"):
        RunComparison([run]).plot()


def test_cli_compare_prints_and_writes(uncertainty_runs, tmp_path, capsys):
    plot, markdown = tmp_path / "c.png", tmp_path / "c.md"
    code = cli.main(
        ["compare", *uncertainty_runs, "--plot", str(plot)]
        + ["--markdown", str(markdown)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "0.800 [0.700, 0.900]" in out
    assert plot.stat().st_size > 5000
    assert "| seeds | 0 1 2 | 0 1 |" in markdown.read_text()


def test_cli_compare_refusal_is_a_clear_error(tmp_path, capsys):
    first = write_run(tmp_path / "a", "softmax", 0, uncertainty_metrics(0.9))
    second = write_run(
        tmp_path / "b", "softmax", 1, uncertainty_metrics(0.9), "two_moons"
    )
    with pytest.raises(SystemExit) as stop:
        cli.main(["compare", first, second])
    assert stop.value.code == 2
    assert "keras-ssl compare: error: the runs differ in dataset" in (
        capsys.readouterr().err
    )


def test_notes_name_test_sets_of_different_sizes(tmp_path):
    softmax = write_run(tmp_path / "s", "softmax", 0, uncertainty_metrics(0.9))
    metrics = uncertainty_metrics(0.9)
    metrics["ood"]["digits_5_9"]["num_in"] = 244
    gram = write_run(tmp_path / "g", "gram", 0, metrics)
    comparison = RunComparison([softmax, gram])
    assert comparison.notes() == [
        "ood.digits_5_9.num_in differs: softmax 271, gram 244"
    ]
    assert "Note: ood.digits_5_9.num_in differs" in comparison.to_markdown()
    assert RunComparison([softmax]).notes() == []


def test_notes_groups_of_different_seeds(uncertainty_runs):
    comparison = RunComparison(uncertainty_runs)  # seeds 0 1 2 and 0 1
    assert comparison.notes() == [
        "the groups have different seeds, so their means are over "
        "different random splits"
    ]
    assert comparison.to_text().endswith("different random splits")


def test_a_range_below_the_printed_precision_shows_the_mean(tmp_path):
    runs = [
        write_run(tmp_path / f"s{seed}", "softmax", seed, {"auroc": value})
        for seed, value in ((0, 0.99991), (1, 0.99994))
    ]
    rows = {row[0]: row[1:] for row in RunComparison(runs).rows()}
    assert rows["auroc"] == ["1.000"]
