"""Overlaid histograms of OOD scores."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_axes
from keras_ssl.evaluation._validation import check_scores
from keras_ssl.evaluation.ood_metrics import ood_metrics


def ood_histograms(scores_in, scores_out, path=None, title=None, bins=50):
    """Plots density histograms of the OOD score per data set.

    One histogram for the in-distribution scores and one per OOD set, on
    shared bin edges, normalised to densities so that sets of different size
    compare. The legend gives each OOD set's AUROC against the
    in-distribution scores (`ood_metrics`). Scores follow the project
    convention: larger = more OOD. The figure is a
    `matplotlib.figure.Figure` that is not registered with `pyplot`.

    Args:
        scores_in: OOD scores of in-distribution samples (flattened).
        scores_out: dict mapping an OOD set's name to its scores (a single
            array is treated as `{"OOD": scores_out}`).
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title.
        bins: number of shared histogram bins.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if any score set is empty or contains NaN, or
            `scores_out` is an empty dict.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> figure = ood_histograms(
    ...     rng.normal(0, 1, 500), {"shifted": rng.normal(2, 1, 300)}
    ... )
    >>> figure.axes[0].get_xlabel()
    'OOD score (larger = more OOD)'
    """
    from matplotlib.figure import Figure

    scores_in = check_scores(scores_in, "scores_in")
    if not isinstance(scores_out, dict):
        scores_out = {"OOD": scores_out}
    if not scores_out:
        raise ValueError("scores_out must name at least one OOD set")
    scores_out = {
        str(name): check_scores(scores, f"scores_out[{name!r}]")
        for name, scores in scores_out.items()
    }

    everything = np.concatenate([scores_in, *scores_out.values()])
    finite = everything[np.isfinite(everything)]
    if finite.size == 0:
        raise ValueError("the scores must contain finite values to plot")
    low, high = finite.min(), finite.max()
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, int(bins) + 1)

    figure = Figure(figsize=(6.0, 4.0))
    axes = figure.subplots()
    axes.hist(
        np.clip(scores_in, low, high),
        bins=edges,
        density=True,
        alpha=0.5,
        color="black",
        histtype="stepfilled",
        label=f"in-distribution (n={scores_in.size})",
    )
    for name, scores in scores_out.items():
        auroc = ood_metrics(scores_in, scores)["auroc"]
        axes.hist(
            np.clip(scores, low, high),
            bins=edges,
            density=True,
            alpha=0.4,
            histtype="stepfilled",
            label=f"{name} (n={scores.size}, AUROC {auroc:.3f})",
        )
    label_axes(
        axes, "OOD score (larger = more OOD)", "Density", title, legend={}
    )
    return finish_figure(figure, path)
