"""The JSON report every benchmark writes with `--output` (shared)."""

import json
import os
import platform


def write_report(path, benchmark, results, **settings):
    """Writes `results` with the settings, machine and library versions."""
    import keras
    import tensorflow as tf

    report = {
        "benchmark": benchmark,
        **settings,
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "results": results,
    }
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
