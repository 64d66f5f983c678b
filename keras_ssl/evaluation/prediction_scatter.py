"""Predicted against true values, one panel per output."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure


def prediction_scatter(true, predicted, names=None, path=None, title=None):
    """Scatter plots of predicted against true values, one per column.

    For regression heads such as AET's transformation decoder: each
    column of `true` / `predicted` gets a panel with the identity line and
    its mean squared error in the panel title (and the error of
    predicting the column's mean, the trivial predictor). Panels are laid
    out up to four per row.

    Args:
        true: array `(num_samples, d)` (or `(num_samples,)`).
        predicted: array of the same shape.
        names: optional `d` column names.
        path: optional file path; the figure is saved there as PNG.
        title: optional title of the figure.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if the arrays differ in shape, are empty, or `names`
            has the wrong length.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import prediction_scatter

    true = np.random.default_rng(0).uniform(-1, 1, (100, 2))
    figure = prediction_scatter(true, 0.8 * true, names=["cos", "sin"])
    ```
    """
    from matplotlib.figure import Figure

    true = np.asarray(true, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    if true.ndim == 1:
        true, predicted = true[:, None], predicted.reshape(-1, 1)
    if true.shape != predicted.shape or true.ndim != 2 or not true.size:
        raise ValueError(
            "true and predicted must be non-empty arrays of one shape "
            f"(num_samples, d); got {true.shape} and {predicted.shape}"
        )
    columns = true.shape[1]
    names = [f"output {i}" for i in range(columns)] if names is None else names
    if len(names) != columns:
        raise ValueError(
            f"names must give {columns} column names; got {len(names)}"
        )
    per_row = min(columns, 4)
    rows = -(-columns // per_row)
    figure = Figure(figsize=(3.0 * per_row, 3.0 * rows + 0.4))
    axes = np.atleast_1d(figure.subplots(rows, per_row, squeeze=False)).ravel()
    for i, panel in enumerate(axes):
        if i >= columns:
            panel.set_visible(False)
            continue
        t, p = true[:, i], predicted[:, i]
        low, high = min(t.min(), p.min()), max(t.max(), p.max())
        panel.plot([low, high], [low, high], color="0.6", linewidth=1)
        panel.scatter(t, p, s=6, alpha=0.5)
        error = np.mean((p - t) ** 2)
        trivial = np.var(t)
        panel.set_title(
            f"{names[i]}: MSE {error:.3f} (mean {trivial:.3f})",
            fontsize="small",
        )
        panel.set_xlabel("true", fontsize="small")
        panel.set_ylabel("predicted", fontsize="small")
    if title is not None:
        figure.suptitle(title)
    return finish_figure(figure, path)
