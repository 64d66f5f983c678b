"""Module-level Gram detector builders for the contract and replica tests
(importable by the harness's worker process).

The contract calls the endpoints of a freshly built model, and a detector
only scores once it is fitted and calibrated, so the builders return a
detector fitted on `FIT_X` and calibrated on `VALIDATION_X`; the contract
then fits it further on `BATCH`, other digits, which extend the bounds.
"""

import keras
import numpy as np

from keras_ssl.data import digits
from keras_ssl.uncertainty.gram_detector import GramDetector

_X = digits(image_size=8)[0][0]
FIT_X = _X[:48]
VALIDATION_X = FIT_X + 0.05 * np.sin(np.arange(FIT_X.size)).reshape(
    FIT_X.shape
).astype("float32")
BATCH = (_X[48:64], np.zeros(16, "int32"))  # labels are ignored
POWERS = (1, 2, 3)


def classifier():
    """A fixed functional classifier: conv-BN-ReLU, conv with ReLU, GAP,
    3 logits (deterministic weights)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1), name="images")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(
        6, 3, padding="same", activation="relu", name="conv2"
    )(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, logits, name="classifier")


_FITTED = {}


def build_gram():
    """The detector fitted on `FIT_X` and calibrated on `VALIDATION_X`
    (fitted once per process; later copies take the same weights)."""
    model = GramDetector(classifier(), powers=POWERS)
    model.compile()
    if "weights" not in _FITTED:
        model.fit(FIT_X, batch_size=16, epochs=1, verbose=0)
        model.calibrate(VALIDATION_X)
        _FITTED["weights"] = model.get_weights()
    else:
        model.set_weights(_FITTED["weights"])
    return model
