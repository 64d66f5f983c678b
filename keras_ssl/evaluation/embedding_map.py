"""2-D PCA scatter plot of features coloured by label."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_axes
from keras_ssl.evaluation._plotting import scatter_classes
from keras_ssl.evaluation._validation import check_features
from keras_ssl.evaluation._validation import check_labels


def embedding_map(features, labels, path=None, title=None):
    """Plots the first two principal components of `features` by label.

    PCA (scikit-learn, full SVD, so deterministic) projects the features to
    two dimensions; each class is a scatter series with its own colour, and
    the axis labels give the explained-variance ratio of each component.
    The figure is a `matplotlib.figure.Figure` not registered with `pyplot`.

    Args:
        features: array `(num_samples, d)` with `d >= 2` (more axes are
            flattened).
        labels: class ids, shape `(num_samples,)`.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if `features` has fewer than 2 samples or features,
            contains NaN / inf, or `labels` does not match.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1, 2], 30)
    >>> features = rng.normal(size=(90, 16)) + labels[:, None]
    >>> figure = embedding_map(features, labels)
    >>> len(figure.axes[0].collections)
    3

    Reference:
        Pearson, "On Lines and Planes of Closest Fit to Systems of Points in
        Space", 1901; scikit-learn `PCA`.
    """
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    features = check_features(features, "features")
    if features.shape[0] < 2 or features.shape[1] < 2:
        raise ValueError(
            "features must have at least 2 samples and 2 features; got "
            f"shape {features.shape}"
        )
    labels = check_labels(labels, features.shape[0], "labels")
    pca = PCA(n_components=2, svd_solver="full")
    projected = pca.fit_transform(features)
    ratio = pca.explained_variance_ratio_

    figure = Figure(figsize=(6.0, 5.0))
    axes = figure.subplots()
    classes = np.unique(labels)
    colors = dict(zip(classes, _class_colors(len(classes)), strict=True))
    scatter_classes(axes, projected, labels, colors, s=10)
    legend = None  # more than 20 entries would cover the points
    if len(classes) <= 20:
        legend = dict(markerscale=2, fontsize="small")
    label_axes(
        axes,
        f"PC 1 ({100 * ratio[0]:.1f}% variance)",
        f"PC 2 ({100 * ratio[1]:.1f}% variance)",
        title,
        legend,
    )
    return finish_figure(figure, path)


def _class_colors(num_classes):
    from matplotlib import colormaps

    name = "tab10" if num_classes <= 10 else "tab20"
    if num_classes <= 20:
        return colormaps[name](np.arange(num_classes) % 20)
    return colormaps["viridis"](np.linspace(0, 1, num_classes))
