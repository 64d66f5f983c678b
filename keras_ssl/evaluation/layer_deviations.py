"""Box plots of an OOD score's per-layer parts."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_axes


def layer_deviations(deviations, layer_names, path=None, title=None):
    """Plots, per layer, the distribution of each data set's deviations.

    For detectors whose score is a sum over layers (the Gram detector's
    total deviation is the sum of its taps' normalised deviations): one
    group of box plots per layer, one box per data set, on a symmetric
    log scale (linear below 0.01) so that zeros and deviations many orders
    of magnitude apart share one axis. Whiskers span the 5th to 95th
    percentiles; outliers are not drawn. The figure is a
    `matplotlib.figure.Figure` that is not registered with `pyplot`.

    Args:
        deviations: dict mapping a data set's name to its deviations,
            shape `(num_samples, num_layers)`; non-finite values are
            dropped.
        layer_names: the names of the layers, one per column.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if `deviations` is empty, a set is not 2-D with one
            column per layer name, or a set has no finite value in a
            column.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import layer_deviations

    rng = np.random.default_rng(0)
    figure = layer_deviations(
        {"test": rng.random((50, 2)), "noise": 100 * rng.random((50, 2))},
        ["conv1", "conv2"],
    )
    ```
    """
    from matplotlib.figure import Figure

    layer_names = [str(name) for name in layer_names]
    if not isinstance(deviations, dict) or not deviations:
        raise ValueError(
            "deviations must be a non-empty dict of (samples, layers) arrays"
        )
    columns = {}
    for name, values in deviations.items():
        values = np.asarray(values, dtype="float64")
        if values.ndim != 2 or values.shape[1] != len(layer_names):
            raise ValueError(
                f"deviations[{name!r}] must have shape (samples, "
                f"{len(layer_names)}); got {values.shape}"
            )
        columns[name] = [c[np.isfinite(c)] for c in values.T]
        if any(c.size == 0 for c in columns[name]):
            raise ValueError(
                f"deviations[{name!r}] has a layer without finite values"
            )

    figure = Figure(figsize=(max(6.0, 1.2 * len(layer_names) + 2), 4.0))
    axes = figure.subplots()
    width = 0.8 / len(columns)
    colors = [f"C{i}" for i in range(len(columns))]
    for i, (name, values) in enumerate(columns.items()):
        offset = (i - (len(columns) - 1) / 2) * width
        positions = np.arange(len(layer_names)) + offset
        boxes = axes.boxplot(
            values,
            positions=positions,
            widths=0.9 * width,
            whis=(5, 95),
            showfliers=False,
            patch_artist=True,
        )
        for box in boxes["boxes"]:
            box.set_facecolor(colors[i])
            box.set_alpha(0.6)
        for median in boxes["medians"]:
            median.set_color("black")
        axes.plot([], [], color=colors[i], linewidth=8, alpha=0.6, label=name)
    axes.set_yscale("symlog", linthresh=1e-2)
    axes.set_xticks(np.arange(len(layer_names)))
    axes.set_xticklabels(layer_names)
    axes.set_xlim(-0.6, len(layer_names) - 0.4)
    label_axes(axes, "layer", "deviation", title, legend={})
    return finish_figure(figure, path)
