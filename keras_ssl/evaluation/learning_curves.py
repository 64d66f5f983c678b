"""Per-epoch training logs of several runs, side by side."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure


def learning_curves(histories, keys, path=None, title=None):
    """Plots one panel per logged value, one line per run, over epochs.

    Panels are laid out two per row.

    Args:
        histories: a dict mapping run names to their per-epoch logs, each
            a dict of lists (a `keras.callbacks.History.history`), or a
            pair `(epochs, logs)` when the first epoch is not 0 (a resumed
            run).
        keys: the logged values to plot, one panel each (a run without a
            value is left out of that panel).
        path: optional file path; the figure is saved there as PNG.
        title: optional title of the figure.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if `histories` or `keys` is empty, or no run logs a
            key.

    Example:

    ```python
    from keras_ssl.evaluation import learning_curves

    figure = learning_curves(
        {"method": {"loss": [2.0, 1.0, 0.5]}, "control": {"loss": [2.1, 1.5]}},
        keys=["loss"],
    )
    ```
    """
    from matplotlib.figure import Figure

    if not histories or not keys:
        raise ValueError(
            "histories and keys must not be empty; got "
            f"{len(histories)} run(s) and keys {list(keys)}"
        )
    runs = {}
    for name, history in histories.items():
        if isinstance(history, tuple):
            epochs, logs = history
        else:
            logs = history
            length = max((len(v) for v in logs.values()), default=0)
            epochs = range(length)
        runs[name] = (np.asarray(list(epochs)), logs)
    for key in keys:
        if not any(key in logs for _, logs in runs.values()):
            raise ValueError(
                f"no run logs {key!r}; runs log "
                f"{sorted({k for _, logs in runs.values() for k in logs})}"
            )
    columns = min(len(keys), 2)
    rows = -(-len(keys) // columns)
    figure = Figure(figsize=(4.6 * columns, 3.4 * rows))
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    for ax, key in zip(axes[: len(keys)], keys, strict=True):
        for name, (epochs, logs) in runs.items():
            if key in logs:
                values = np.asarray(logs[key], dtype="float64")
                ax.plot(epochs[: len(values)] + 1, values, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title is not None:
        figure.suptitle(title)
    return finish_figure(figure, path)
