"""The figure of `RunComparison.plot`, one layout per family (private)."""

import numpy as np

# family: panels of (title, [(series label, metric, metric of the
# control)]); the uncertainty figure is built from the OOD sets found.
PAIRED_PANELS = {
    "representation": [
        (
            "linear probe accuracy",
            "linear_probe_accuracy",
            "random_init_linear_probe_accuracy",
            "random init",
        ),
        (
            "kNN accuracy",
            "knn_accuracy",
            "random_init_knn_accuracy",
            "random init",
        ),
    ],
    "semi_supervised": [
        ("test accuracy", "accuracy", "labeled_only_accuracy", "labeled only")
    ],
    "generative": [
        (
            "Frechet distance (features, lower is better)",
            "fd_features",
            "autoencoder_fd_features",
            "autoencoder",
        ),
        (
            "Frechet distance (pixels, lower is better)",
            "fd_pixels",
            "autoencoder_fd_pixels",
            "autoencoder",
        ),
    ],
}


def comparison_figure(family, summary, labels, title):
    """Bars of `summary` (`{metric: {label: (mean, min, max)}}`)."""
    from matplotlib.figure import Figure

    if family == "uncertainty":
        panels = _uncertainty_panels(summary, labels)
    elif family in PAIRED_PANELS:
        panels = _paired_panels(family, summary, labels)
    else:
        raise ValueError(
            f"no comparison figure for family {family!r}; known: "
            f"uncertainty, {', '.join(PAIRED_PANELS)}"
        )
    bars = max(len(p[1]) * len(p[2]) for p in panels)
    figure = Figure(figsize=(min(12.0, 4.0 + 0.5 * bars), 3.6 * len(panels)))
    for i, (panel_title, categories, series) in enumerate(panels):
        axis = figure.add_subplot(len(panels), 1, i + 1)
        _bars(axis, categories, series)
        axis.set_title(f"{panel_title}; whiskers: seed min-max", fontsize=10)
    figure.suptitle(title)
    return figure


def _uncertainty_panels(summary, labels):
    sets = [
        metric.split(".")[1]
        for metric in summary
        if metric.startswith("ood.") and metric.endswith(".auroc")
    ]
    if not sets:
        raise ValueError(
            "the runs share no OOD AUROC (metrics ood.<set>.auroc)"
        )
    series = [
        (label, [summary[f"ood.{s}.auroc"][label] for s in sets])
        for label in labels
    ]
    return [("OOD AUROC per OOD set (higher is better)", sets, series)]


def _paired_panels(family, summary, labels):
    panels = []
    for title, metric, control, control_name in PAIRED_PANELS[family]:
        if metric not in summary or control not in summary:
            continue
        series = [
            (
                "trained" if family == "representation" else "method",
                [summary[metric][label] for label in labels],
            ),
            (control_name, [summary[control][label] for label in labels]),
        ]
        panels.append((title, labels, series))
    if not panels:
        wanted = [f"{p[1]} and {p[2]}" for p in PAIRED_PANELS[family]]
        raise ValueError(
            f"the runs share none of the {family} figure's metrics: "
            f"{'; '.join(wanted)}"
        )
    return panels


def _bars(axis, categories, series):
    """Grouped bars at the means, error bars from min to max."""
    width = 0.8 / len(series)
    x = np.arange(len(categories))
    top = 0.0
    for i, (label, cells) in enumerate(series):
        mean, low, high = (np.array(v) for v in zip(*cells, strict=True))
        axis.bar(
            x + (i - (len(series) - 1) / 2) * width,
            mean,
            width,
            yerr=[mean - low, high - mean],
            capsize=3,
            label=label,
        )
        top = max(top, float(high.max()))
    # Room above the bars for the legend.
    axis.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)
    axis.set_xticks(x, categories, rotation=15, fontsize=8)
    axis.legend(fontsize=8, ncol=min(len(series), 5), loc="upper center")
    axis.grid(axis="y", alpha=0.3)
