"""keras_ssl: learning from unlabeled data, and knowing when not to trust.

Subpackages load on first use (`keras_ssl.data`, `keras_ssl.backbones`,
...), so `import keras_ssl` and `keras-ssl --help` stay fast and do not
start TensorFlow. Every saved keras_ssl model still loads with plain
`keras.saving.load_model` after `import keras_ssl`: once Keras and
TensorFlow are imported (before or after keras_ssl), the packages that
hold the serializable classes are imported too, which registers them.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

_SUBMODULES = (
    "augment",
    "backbones",
    "core",
    "data",
    "evaluation",
    "export",
    "generative",
    "layers",
    "recipes",
    "run",
    "representation",
    "semi_supervised",
    "supervised",
    "testing",
    "uncertainty",
)
# The packages whose classes are `register_keras_serializable`.
_SERIALIZABLE = (
    "core",
    "layers",
    "generative",
    "representation",
    "semi_supervised",
    "supervised",
    "uncertainty",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_ssl.{name}")
    raise AttributeError(f"module 'keras_ssl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])


def _register_serializables():
    for name in _SERIALIZABLE:
        try:
            importlib.import_module(f"keras_ssl.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"keras_ssl.{name}":  # a family not built yet
                raise


class _AfterKerasAndTensorFlow(importlib.abc.MetaPathFinder):
    """Registers keras_ssl's classes once both `keras` and `tensorflow`
    have finished importing (each imports the other, in either order)."""

    names = ("keras", "tensorflow")

    def __init__(self):
        self.done = set()

    def find_spec(self, name, path=None, target=None):
        if name not in self.names or name in self.done:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            self.done.add(name)
            if self.done == set(self.names):
                sys.meta_path.remove(self)
                try:
                    _register_serializables()
                except Exception as error:  # never break the user's import
                    warnings.warn(
                        "keras_ssl could not register its classes with "
                        f"Keras ({error!r}); import keras_ssl.uncertainty "
                        "etc. before loading a saved model",
                        stacklevel=2,
                    )

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules and "tensorflow" in sys.modules:
    _register_serializables()
else:
    sys.meta_path.insert(0, _AfterKerasAndTensorFlow())
