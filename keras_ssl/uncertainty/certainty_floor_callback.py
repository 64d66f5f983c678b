import warnings

import keras

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number

# The mean training certainty (largest kernel value) below which
# `CertaintyFloorCallback` warns: 1e-12 is where PyTorch's
# `binary_cross_entropy` backward loses the true class's gradient. On the
# digits protocol (issue 13) runs that then trained well had 5e-6 or more
# after 2 epochs (length_scale 0.1 and 0.2); a run that never learned had
# 1e-22.
CERTAINTY_FLOOR = 1e-12


@keras.saving.register_keras_serializable(package="keras_ssl")
class CertaintyFloorCallback(keras.callbacks.Callback):
    """Warns when DUQ's mean training certainty stays at its floor.

    The stop before the first step (`DUQ.check_initial_state`) catches
    kernels that start at the -100 log clamp. Kernels can also start
    above it but too small to learn from, or collapse during training.
    At the end of every epoch this callback reads the logged `certainty`
    (the mean over the epoch's training batches of `max_c K_c`); once it
    has been below `floor` for `patience` epochs in a row it issues one
    `UserWarning` naming `length_scale`. `DUQ.method_callbacks` adds it
    to every `fit`.

    Args:
        floor: float > 0, the certainty floor. Default `CERTAINTY_FLOOR`
            (1e-12).
        patience: int >= 1, epochs in a row below `floor` before warning.
            Default 3.
    """

    def __init__(self, floor=CERTAINTY_FLOOR, patience=3):
        super().__init__()
        self.floor = check_number(floor, "floor", "> 0")
        self.patience = check_integer(patience, 1, "patience")
        self.below = 0
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        certainty = (logs or {}).get("certainty")
        if certainty is None or self.warned:
            return
        self.below = self.below + 1 if float(certainty) < self.floor else 0
        if self.below >= self.patience:
            self.warned = True
            warnings.warn(
                f"DUQ's mean training certainty has stayed below "
                f"{self.floor:g} for {self.below} epochs (epoch {epoch + 1}: "
                f"{float(certainty):.3g}, length_scale="
                f"{self.model.length_scale}): the kernels are at their "
                "floor and the model is not learning. Try a larger "
                "length_scale (log K scales as 1 / length_scale**2).",
                stacklevel=2,
            )

    def get_config(self):
        return {"floor": self.floor, "patience": self.patience}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
