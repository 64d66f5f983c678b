"""What every keras_ssl plot does last (private)."""


def finish_figure(figure, path):
    """Tightens the layout and saves `figure` as a PNG when `path` is set."""
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png", dpi=120)
    return figure
