import keras
import numpy as np
from keras import ops

# dx of the channel mean; the official code divides by 3 and sums over the
# three colour channels, which is the same as averaging the channels first.
_KERNEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype="float32")


@keras.saving.register_keras_serializable(package="keras_ssl")
class Sobel(keras.layers.Layer):
    """Frozen Sobel front end: horizontal and vertical image gradients.

    The grayscale image (the mean over channels) is convolved with the two
    3x3 Sobel kernels, `[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]` for dx and
    its transpose for dy, with zero padding, so an `(H, W, C)` image becomes
    an `(H, W, 2)` gradient image. The layer has no weights, so it stays
    fixed during training, as in the official NAT code, where the Sobel
    convolution's gradients are zeroed. NAT (and DeepCluster after it) use
    it to stop the network from solving the pretext task with colour.

    Reference:
        Bojanowski and Joulin, "Unsupervised Learning by Predicting Noise",
        ICML 2017 (official code: `facebookresearch/noise-as-targets`,
        `alexnet.lua`).

    Args:
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Example:

    ```python
    import numpy as np
    import keras_ssl

    ramp = np.tile(np.arange(5, dtype="float32"), (5, 1))[None, :, :, None]
    gradients = keras_ssl.layers.Sobel()(ramp)  # shape (1, 5, 5, 2)
    gradients[0, 2, 2]  # dx = 8 (the kernel weights 1 + 2 + 1, twice), dy = 0
    ```
    """

    def call(self, inputs):
        gray = ops.mean(inputs, axis=-1, keepdims=True)
        kernel = np.stack([_KERNEL_X, _KERNEL_X.T], axis=-1)[:, :, None, :]
        return ops.conv(gray, ops.cast(kernel, gray.dtype), padding="same")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)
