"""Reliability diagram of a classifier's top-class confidence."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation.calibration import calibration_bins
from keras_ssl.evaluation.calibration import expected_calibration_error


def reliability_diagram(
    probs, labels, num_bins=15, path=None, title=None, strategy="uniform"
):
    """Plots per-bin accuracy against confidence, with a confidence histogram.

    Top panel: one bar per confidence bin whose height is the bin's
    accuracy (fraction of correct top-1 predictions), the diagonal of
    perfect calibration, and the gap between accuracy and mean confidence
    drawn opaque in red where the model is over-confident (confidence
    above accuracy) and in blue where it is under-confident. Bottom panel:
    the number of samples per bin. The title reports the ECE of the same
    bins. The figure is a
    `matplotlib.figure.Figure` that is not registered with `pyplot`, so it
    needs no closing and never changes the active backend.

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        num_bins: number of confidence bins.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title line shown above the ECE.
        strategy: `"uniform"` (equal-width) or `"quantile"` (equal-mass)
            bins, as in `calibration_bins`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: on invalid `probs`, `labels`, `num_bins` or `strategy`.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=200)
    >>> labels = rng.integers(0, 3, size=200)
    >>> figure = reliability_diagram(probs, labels, num_bins=10)
    >>> len(figure.axes)
    2

    Reference:
        Niculescu-Mizil & Caruana, "Predicting Good Probabilities With
        Supervised Learning", ICML 2005; Guo et al., "On Calibration of
        Modern Neural Networks", ICML 2017.
    """
    from matplotlib.figure import Figure

    bins = calibration_bins(probs, labels, num_bins=num_bins, strategy=strategy)
    edges, counts = bins["edges"], bins["counts"]
    nonempty = counts > 0
    ece = expected_calibration_error(probs, labels, num_bins, strategy)
    lefts, widths = edges[:-1], np.diff(edges)

    figure = Figure(figsize=(5.0, 6.0))
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.bar(
        lefts,
        np.where(nonempty, bins["accuracy"], 0.0),
        width=widths,
        align="edge",
        color="lightgray",
        edgecolor="black",
        label="Accuracy",
    )
    # The gap between accuracy and mean confidence, opaque and in two
    # colours that never mix with the bars: red where the model is
    # over-confident, blue where it is under-confident.
    gap_bottom = np.minimum(bins["accuracy"], bins["confidence"])
    gap = np.abs(bins["accuracy"] - bins["confidence"])
    over = nonempty & (bins["confidence"] > bins["accuracy"])
    under = nonempty & (bins["confidence"] < bins["accuracy"])
    for mask, colour, hatch, label in (
        (over, "tab:red", "//", "Over-confident (confidence > accuracy)"),
        (under, "tab:blue", "\\\\", "Under-confident (accuracy > confidence)"),
    ):
        top.bar(
            lefts[mask],
            gap[mask],
            bottom=gap_bottom[mask],
            width=widths[mask],
            align="edge",
            color=colour,
            hatch=hatch,
            edgecolor="white",
            label=label,
            zorder=3,
        )
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="Perfect")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("Accuracy (fraction correct)")
    top.legend(loc="upper left")
    heading = f"ECE = {ece:.4f} ({num_bins} {strategy} bins)"
    top.set_title(heading if title is None else f"{title}\n{heading}")

    bottom.bar(
        lefts,
        counts,
        width=widths,
        align="edge",
        color="gray",
        edgecolor="black",
    )
    bottom.set_xlabel("Confidence (top-class probability)")
    bottom.set_ylabel("Samples")
    return finish_figure(figure, path)
