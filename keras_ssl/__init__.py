"""keras_ssl: learning from unlabeled data, and knowing when not to trust.

Subpackages load on first use (`keras_ssl.data`, `keras_ssl.backbones`,
...), so `import keras_ssl` and `keras-ssl --help` stay fast and do not
start TensorFlow. Every saved keras_ssl model still loads with plain
`keras.saving.load_model` after `import keras_ssl`: once Keras and
TensorFlow are imported (before or after keras_ssl, or by a keras_ssl
module, once that module has finished importing), the packages that hold
the serializable classes are imported too, which registers them.
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
    have finished importing (each imports the other, in either order),
    and no keras_ssl module is still being imported.

    The second condition matters when a keras_ssl module is what imports
    TensorFlow (`import keras_ssl.data.two_moons` in a fresh process):
    registering right then would import the serializable packages while
    that module, and the keras_ssl modules that import it, are only
    partly initialised (a circular import). The finder therefore also
    counts the keras_ssl modules being executed and registers when the
    outermost one has finished.
    """

    names = ("keras", "tensorflow")

    def __init__(self):
        self.done = set()
        self.depth = 0  # keras_ssl modules being executed

    def find_spec(self, name, path=None, target=None):
        ours = name.startswith("keras_ssl.")
        if not ours and (name not in self.names or name in self.done):
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
            if ours:
                self.depth += 1
                try:
                    execute(module)
                finally:
                    self.depth -= 1
            else:
                execute(module)
                self.done.add(name)
            self.register_when_ready()

        spec.loader.exec_module = exec_module
        return spec

    def register_when_ready(self):
        if self.done != set(self.names) or self.depth or self not in (
            sys.meta_path
        ):
            return
        sys.meta_path.remove(self)
        try:
            _register_serializables()
        except Exception as error:  # never break the user's import
            warnings.warn(
                "keras_ssl could not register its classes with "
                f"Keras ({error!r}); import keras_ssl.uncertainty "
                "etc. before loading a saved model",
                stacklevel=3,
            )


if "keras" in sys.modules and "tensorflow" in sys.modules:
    _register_serializables()
else:
    sys.meta_path.insert(0, _AfterKerasAndTensorFlow())
