"""Every ```python example in a public docstring runs as written."""

import importlib
import inspect
import pkgutil
import re

import pytest

import keras_ssl

# Examples that need data a user prepares (TensorFlow Datasets) or show a
# pattern with placeholders rather than a complete program.
NEEDS_USER_DATA = (
    'load_tfds("mnist"',
    "load_tfds('mnist'",
    'load_dataset("mnist"',
)
PLACEHOLDERS = (
    "keras_ssl.testing.replica_check",
    "keras_ssl.testing.method_contract",
)


def _examples():
    found = []
    for info in pkgutil.walk_packages(keras_ssl.__path__, "keras_ssl."):
        if info.name in PLACEHOLDERS or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != (
                info.name
            ):
                continue
            doc = inspect.getdoc(obj) or ""
            for i, code in enumerate(
                re.findall(r"```python\n(.*?)```", doc, re.S)
            ):
                found.append(pytest.param(code, id=f"{info.name}.{name}[{i}]"))
    return found


@pytest.mark.parametrize("code", _examples())
def test_example_runs(code, tmp_path, monkeypatch):
    if any(marker in code for marker in NEEDS_USER_DATA):
        pytest.skip("needs a TensorFlow Datasets set prepared by the user")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docstring example>", "exec"), {})
