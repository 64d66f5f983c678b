"""Finished runs of one split side by side: `keras-ssl compare`."""

import json
import os

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure

RUN_FILE = "run.json"

# What defines the data a run is trained and tested on, besides the seed:
# the dataset, and the recipes' settings that choose its samples
# (`in_classes`: the in-distribution classes, the others forming the OOD
# set; `labels_per_class`: the labeled subset). A setting a run has and
# another lacks differs too (`None`), so runs of families whose recipes
# split differently are refused. `image_size` and `channels` are not
# here: they only resample the same images into the model's inputs (SDE-
# Net's recipe takes 8x8 digits, the other uncertainty recipes 16x16), so
# they are method settings, and a variant when one method's runs differ.
SPLIT_KEYS = ("in_classes", "labels_per_class")

# Identity fields beyond `config` that make a variant of a method.
VARIANT_FIELDS = ("epochs", "global_batch")

WALL_TIME = "wall_seconds"


class RunComparison:
    """Finished runs of one split, grouped by method, metric by metric.

    Reads each run directory's `run.json` (as `keras_ssl.run.train`
    writes it) and refuses runs whose data differ: another `dataset` or
    another split-defining setting (`SPLIT_KEYS`: `in_classes`,
    `labels_per_class`; a setting one run has and another lacks differs
    too), or of another family. The error names the setting and the runs
    on each side. Input settings (`image_size`, `channels`) resample the
    same images and are method settings. Runs of different seeds are what
    is aggregated: they differ in their random split, by design.

    Runs are grouped by method; runs of one method whose config, epochs
    or global batch differ are separate variants, labelled by the
    differing settings (`"duq (length_scale=0.05)"`). Two runs of the
    same group and seed are refused. Every numeric metric of `run.json`
    (nested dicts flattened with dots, `ood.digits_5_9.auroc`) that every
    group reports is compared, with `wall_seconds` last: the run's
    `train_seconds` plus those of the runs its recipe trained inside it
    before (a `run.json` one level down, such as Gram's classifier).
    Controls trained by the evaluation (labeled-only, autoencoder) are not
    added; their own times are metrics of the run.

    Args:
        run_dirs: finished run directories (each holding `run.json`).

    Attributes:
        records: the `run.json` contents, in the order given, each with
            `run_dir` and `wall_seconds` added.
        split: the shared `dataset` and split settings.
        family: the methods' family in `keras_ssl.catalog.CATALOG` (`None`
            for a method not registered there).
        groups: `{label: [record, ...]}`, in order of first appearance.
        metrics: the metric names every group reports, `wall_seconds`
            last.

    Raises:
        ValueError: for no runs, a directory without `run.json`, runs of
            different datasets, splits or families, or two runs of one
            group with the same seed.

    Example:

    ```python
    import json
    import os

    from keras_ssl.evaluation.run_comparison import RunComparison

    for method, seed, accuracy in [("a", 0, 0.9), ("a", 1, 0.8), ("b", 0, 0.7)]:
        os.makedirs(f"runs/{method}{seed}")
        with open(f"runs/{method}{seed}/run.json", "w") as f:
            json.dump({"method": method, "dataset": "digits", "seed": seed,
                       "config": {}, "train_seconds": 2.0,
                       "metrics": {"accuracy": accuracy}}, f)
    comparison = RunComparison(["runs/a0", "runs/a1", "runs/b0"])
    comparison.summary()["accuracy"]["a"]  # (mean, min, max)
    print(comparison.to_text())
    ```
    """

    def __init__(self, run_dirs):
        run_dirs = list(run_dirs)
        if not run_dirs:
            raise ValueError("run_dirs must name at least one run directory")
        self.records = [_load(run_dir) for run_dir in run_dirs]
        self.split = _shared_split(self.records)
        self.family = _shared_family(self.records)
        self.groups = _groups(self.records)
        self.metrics = _shared_metrics(self.groups)

    def summary(self):
        """`{metric: {group: (mean, min, max)}}` over each group's seeds."""
        table = {}
        for metric in self.metrics:
            table[metric] = {}
            for label, records in self.groups.items():
                values = np.array([_value(r, metric) for r in records])
                table[metric][label] = (
                    float(values.mean()),
                    float(values.min()),
                    float(values.max()),
                )
        return table

    def seeds(self):
        """`{group: [seed, ...]}`."""
        return {
            label: [r["seed"] for r in records]
            for label, records in self.groups.items()
        }

    def versions(self):
        """The library versions of the first run (`run.json` `versions`)."""
        return dict(self.records[0].get("versions", {}))

    def rows(self):
        """The table as text cells: a header, then one row per metric."""
        labels = list(self.groups)
        rows = [["metric", *labels]]
        rows.append(
            ["seeds", *(" ".join(map(str, s)) for s in self.seeds().values())]
        )
        for metric, cells in self.summary().items():
            rows.append(
                [metric, *(_cell(metric, *cells[label]) for label in labels)]
            )
        return rows

    def notes(self):
        """Sentences on what differs between groups although allowed.

        Different seed sets (the seed draws the split), and counts
        (`num_*` metrics) that differ, such as Gram's in-distribution test
        set, 90% of the others' (its recipe calibrates on the other 10%):
        the split is the same, the part evaluated is not.
        """
        notes = []
        seeds = {k: tuple(sorted(v)) for k, v in self.seeds().items()}
        if len(set(seeds.values())) > 1:
            # The seed also draws the split: such means are over other
            # draws of the data.
            notes.append(
                "the groups have different seeds, so their means are over "
                "different random splits"
            )
        for metric, cells in self.summary().items():
            if not metric.rsplit(".", 1)[-1].startswith("num_"):
                continue
            means = {label: _number(c[0], metric) for label, c in cells.items()}
            if len(set(means.values())) > 1:
                notes.append(
                    f"{metric} differs: "
                    + ", ".join(f"{k} {v}" for k, v in means.items())
                )
        return notes

    def to_text(self):
        """The table for a terminal, after a line naming the split."""
        rows = self.rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [self._title()]
        for row in rows:
            cells = zip(row, widths, strict=True)
            lines.append("  ".join(cell.ljust(w) for cell, w in cells))
        lines += [f"note: {note}" for note in self.notes()]
        return "\n".join(lines)

    def to_markdown(self):
        """The table as GitHub markdown, after a line naming the split."""
        rows = self.rows()
        lines = [self._title(), ""]
        lines.append("| " + " | ".join(rows[0]) + " |")
        lines.append("|" + "|".join(["---"] * len(rows[0])) + "|")
        for row in rows[1:]:
            lines.append("| " + " | ".join(row) + " |")
        notes = self.notes()
        if notes:
            lines += ["", *(f"Note: {note}." for note in notes)]
        return "\n".join(lines)

    def plot(self, path=None):
        """The family's figure, with each group's seed range as error bars.

        - uncertainty: the AUROC of each OOD set, one bar per group;
        - representation: linear-probe and kNN accuracy, each beside the
          same encoder's at random initialisation;
        - semi_supervised: test accuracy beside the labeled-only control;
        - generative: Frechet distance (classifier features when every
          run has them, else pixels) beside the autoencoder control.

        Args:
            path: optional file path; the figure is saved there as PNG.

        Returns:
            The `matplotlib.figure.Figure`.

        Raises:
            ValueError: if the family is unknown or the runs lack the
                family's metrics.
        """
        from keras_ssl.evaluation._comparison_figure import comparison_figure

        figure = comparison_figure(
            self.family, self.summary(), list(self.groups), self._title()
        )
        return finish_figure(figure, path)

    def _title(self):
        settings = ", ".join(
            f"{key} {_show(value)}"
            for key, value in self.split.items()
            if key != "dataset" and value is not None
        )
        return (
            f"{self.family or 'unregistered'} runs on "
            f"{self.split['dataset']}" + (f" ({settings})" if settings else "")
        )


def _load(run_dir):
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(path):
        raise ValueError(
            f"{run_dir} is not a finished keras-ssl run ({RUN_FILE} missing)"
        )
    with open(path) as f:
        record = json.load(f)
    for field in ("method", "dataset", "seed", "config", "metrics"):
        if field not in record:
            raise ValueError(f"{path} has no {field!r}: not a keras-ssl run")
    record = dict(record, run_dir=run_dir)
    wall = float(record.get("train_seconds", 0.0))
    for entry in sorted(os.listdir(run_dir)):
        inner = os.path.join(run_dir, entry, RUN_FILE)
        if os.path.isfile(inner):
            with open(inner) as f:
                wall += float(json.load(f).get("train_seconds", 0.0))
    record[WALL_TIME] = wall
    return record


def _split(record):
    split = {"dataset": record["dataset"]}
    for key in SPLIT_KEYS:
        split[key] = record["config"].get(key)
    return split


def _shared_split(records):
    first = _split(records[0])
    for key in first:
        sides = {}
        for record in records:
            raw = _split(record)[key]
            value = "not set" if raw is None else _show(raw)
            sides.setdefault(value, []).append(record["run_dir"])
        if len(sides) > 1:
            described = "; ".join(
                f"{value} in {', '.join(dirs)}" for value, dirs in sides.items()
            )
            raise ValueError(
                f"the runs differ in {key}, so they were not trained and "
                f"tested on the same data: {described}"
            )
    return first


def _shared_family(records):
    from keras_ssl.catalog import CATALOG

    families = {}
    for record in records:
        entry = CATALOG.get(record["method"])
        family = entry[0] if entry else None
        families.setdefault(family, []).append(record["method"])
    if len(families) > 1:
        described = "; ".join(
            f"{family}: {', '.join(sorted(set(methods)))}"
            for family, methods in families.items()
        )
        raise ValueError(
            f"the runs are of different families ({described}); compare "
            "one family at a time"
        )
    return next(iter(families))


def _identity(record):
    identity = {
        key: value
        for key, value in record["config"].items()
        if key not in SPLIT_KEYS
    }
    for field in VARIANT_FIELDS:
        identity[field] = record.get(field)
    return identity


def _groups(records):
    by_method = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    groups = {}
    for method, runs in by_method.items():
        identities = [_identity(r) for r in runs]
        keys = sorted({k for identity in identities for k in identity})
        varying = [
            k
            for k in keys
            if len({_show(identity.get(k)) for identity in identities}) > 1
        ]
        for record, identity in zip(runs, identities, strict=True):
            label = method
            if varying:
                label += (
                    " ("
                    + ", ".join(
                        f"{k}={_show(identity.get(k))}" for k in varying
                    )
                    + ")"
                )
            group = groups.setdefault(label, [])
            if any(r["seed"] == record["seed"] for r in group):
                twin = next(r for r in group if r["seed"] == record["seed"])
                raise ValueError(
                    f"{twin['run_dir']} and {record['run_dir']} are both "
                    f"{label} with seed {record['seed']}; give each seed once"
                )
            group.append(record)
    return groups


def _flatten(metrics, prefix=""):
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _shared_metrics(groups):
    flats = [_flatten(r["metrics"]) for runs in groups.values() for r in runs]
    names = [n for n in flats[0] if all(n in flat for flat in flats)]
    return [*names, WALL_TIME]


def _value(record, metric):
    if metric == WALL_TIME:
        return record[WALL_TIME]
    return _flatten(record["metrics"])[metric]


def _number(value, metric):
    if metric.rsplit(".", 1)[-1].startswith("num_"):
        return f"{value:.0f}"
    if metric.endswith("seconds") or abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _cell(metric, mean, low, high):
    low, high = _number(low, metric), _number(high, metric)
    if low == high:  # one seed, or a range below the printed precision
        return _number(mean, metric)
    return f"{_number(mean, metric)} [{low}, {high}]"


def _show(value):
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
