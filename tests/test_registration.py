"""keras_ssl registers its serializable classes, whatever is imported first."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL="2",
    PYTHONPATH=os.pathsep.join(
        [ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
    ),
)
REGISTERED = (
    "keras_ssl>DUQ",
    "keras_ssl>CertaintyFloorCallback",
    "keras_ssl>MoCo",
    "keras_ssl>Method",
)


# A keras_ssl module that imports TensorFlow itself used to register the
# classes while it, and its package, were half-imported: a circular
# import ("partially initialized module"), a UserWarning, and no class
# registered. `keras_ssl.uncertainty` and `keras, keras_ssl` are the
# orders that always worked.
@pytest.mark.parametrize(
    "imports",
    [
        "keras_ssl.data.two_moons",
        "keras_ssl.augment.color_permutations",
        "keras_ssl.evaluation",
        "keras_ssl.uncertainty",
        "keras, keras_ssl",
    ],
)
def test_classes_register_after_any_first_import(imports):
    script = (
        f"import {imports}\n"
        "import keras\n"
        f"for name in {REGISTERED!r}:\n"
        "    found = keras.saving.get_registered_object(name)\n"
        "    print(name, found is not None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "could not register" not in result.stderr
    assert result.stdout.split() == [
        word for name in REGISTERED for word in (name, "True")
    ]
