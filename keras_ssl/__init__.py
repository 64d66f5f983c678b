"""keras_ssl: learning from unlabeled data, and knowing when not to trust.

Subpackages load on first use (`keras_ssl.data`, `keras_ssl.backbones`,
...), so `import keras_ssl` and `keras-ssl --help` stay fast and do not
start TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "augment",
    "backbones",
    "core",
    "data",
    "evaluation",
    "export",
    "layers",
    "recipes",
    "run",
    "representation",
    "semi_supervised",
    "supervised",
    "testing",
    "uncertainty",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_ssl.{name}")
    raise AttributeError(f"module 'keras_ssl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
