"""Confusion matrix of a classifier's predictions, as a figure."""

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.metrics import confusion_matrix

from keras_ssl.evaluation._plotting import finish_figure


def confusion_matrix_plot(
    labels, predictions, num_classes=None, path=None, title=None
):
    """Plots the confusion matrix (rows: true class, columns: predicted).

    Counts come from `sklearn.metrics.confusion_matrix` and are drawn by
    `sklearn.metrics.ConfusionMatrixDisplay`; the title gives the
    accuracy. The figure is not registered with `pyplot`.

    Args:
        labels: integer true classes, shape `(num_samples,)`.
        predictions: integer predicted classes, same shape.
        num_classes: the classes are `0 .. num_classes - 1` (default: one
            more than the largest class in either array).
        path: optional file path; the figure is saved there as PNG.
        title: optional title line shown above the accuracy.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if the arrays are not 1-D integer arrays of one length.

    Example:

    ```python
    from keras_ssl.evaluation import confusion_matrix_plot

    figure = confusion_matrix_plot([0, 1, 2, 2], [0, 2, 2, 2])
    ```
    """
    from matplotlib.figure import Figure

    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"{name} must be a 1-D array of integer classes; got shape "
                f"{values.shape} and dtype {values.dtype}"
            )
    if len(labels) != len(predictions) or len(labels) == 0:
        raise ValueError(
            "labels and predictions must have the same non-zero length; got "
            f"{len(labels)} and {len(predictions)}"
        )
    if num_classes is None:
        num_classes = int(max(labels.max(), predictions.max())) + 1
    classes = np.arange(num_classes)
    matrix = confusion_matrix(labels, predictions, labels=classes)
    size = 2.0 + 0.45 * num_classes
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(
        ax=axes, colorbar=True, cmap="Blues"
    )
    accuracy = float(np.mean(labels == predictions))
    heading = f"accuracy = {accuracy:.3f} ({len(labels)} samples)"
    axes.set_title(heading if title is None else f"{title}\n{heading}")
    return finish_figure(figure, path)
