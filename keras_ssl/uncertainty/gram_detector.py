import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core.distribution import replica_reduce
from keras_ssl.core.distribution import replica_sum
from keras_ssl.core.method import Method
from keras_ssl.evaluation.predict_in_batches import predict_in_batches
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

# Added to the bounds inside `|.|` before dividing (official code).
BOUND_EPSILON = 1e-6
# Added to the mean validation deviation of every tap (official code).
EXPECTED_EPSILON = 1e-7
# The bounds of a class before any input is predicted as it: the extreme
# finite float64 values (what `unsorted_segment_min` / `_max` give an
# empty segment). Finite, so that weights compare and serialize plainly.
NO_BOUND = float(np.finfo("float64").max)

_CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_ACTIVATIONS = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Activation,
)
# Layers an activation may follow and still count as "after a conv":
# normalisation, and the residual sum of a ResNet block.
_PASS_THROUGH = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Add,
)


@keras.saving.register_keras_serializable(package="keras_ssl")
class GramDetector(Method):
    """Gram-matrix OOD detector, fitted post hoc on a trained classifier.

    The detector reads intermediate feature maps ("taps") of a trained
    classifier and records, for every class the classifier *predicts* on
    the training data, the range of their higher-order Gram features. An
    input whose features leave the range of its predicted class is out of
    distribution. No gradients and no OOD data are used. As the official
    notebooks do it (reference commit `e15126c`):

    1. **Features.** For a tap `F` of shape `(H, W, C)`, viewed as `C`
       channels of `HW` values, and each order `p` in `powers`: `G_p =
       (F^p)^T (F^p)` (`C x C`, `F^p` element-wise), **summed over each
       row** (`C` values), then the signed root `sign(g) |g|^(1/p)`. So a
       tap gives `len(powers) x C` features, not `C^2`. The row sums are
       computed as `sum_n F^p[n, c] * sum_d F^p[n, d]`, the same sum in
       `O(HW C)` instead of the `O(HW C^2)` matrix product. (The method
       note says the paper's text describes the matrix entries; this was
       not checked against the paper. The class follows the code.)
    2. **Bounds.** `fit` passes over the training data (no optimizer,
       classifier in inference mode) and keeps, per predicted class, tap,
       order and channel, the minimum and maximum feature. Under
       `tf.distribute.MirroredStrategy` the batch minima, maxima and
       counts are reduced across replicas (`keras_ssl.core.replica_reduce`)
       before they are assigned, so every replica holds the bounds of the
       global batch. Bounds and counts are non-trainable weights: saved,
       restored and mirrored. Several epochs give the same bounds as one.
       A class no input was predicted as yet holds the extreme finite
       float64 values (`NO_BOUND`), not infinities, so that its weights
       compare, save and mirror like any others.
    3. **Deviation.** For an input predicted as class `c`, per tap `l`:
       `delta_l = sum_p sum_j relu(min_j - g_j) / |min_j + 1e-6| +
       relu(g_j - max_j) / |max_j + 1e-6|` with the bounds of class `c`,
       **divided by the input's maximum softmax probability** (the
       official `/test_confs`; `msp_division`).
    4. **Calibration.** `calibrate(x_val)` stores `E_l = mean over x_val of
       delta_l + 1e-7`, from held-out in-distribution inputs (the paper
       uses a random 10% of the in-distribution test set and evaluates on
       the rest). The score is the total deviation `Delta(x) = sum_l
       delta_l(x) / E_l` (`sum_l delta_l` with `normalize=False`). Larger
       = more OOD.

    Features, bounds and deviations are float64, as the method note
    advises: `F^10` overflows float16 and, for un-normalised activations,
    float32 (the official code computes in float32 on the GPU).

    Taps default to every post-activation conv output of the classifier's
    functional graph: each activation layer (`ReLU`, `Activation`, ...)
    whose input comes from a convolution, possibly through normalisation
    layers or a residual `Add`, and each convolution with a built-in
    non-linear activation. For `keras_ssl.backbones.small_cnn` these are
    the `block{i}_relu` layers; for `cifar_resnet` the stem ReLU, the
    inner ReLU and the output of every block. The official ResNet
    notebooks tap more: all 6 of conv1, ReLU(BN1), conv2, BN2, shortcut
    and block output per block (96 taps for ResNet-34); name layers in
    `taps` to do the same. Feature maps are read channels-last.

    An input predicted as a class that no fit input was predicted as has
    no bounds: its deviations are `inf` (the official code would fail).
    `calibrate` raises if a validation input falls in such a class.

    Reference:
        Sastry and Oore, "Detecting Out-of-Distribution Examples with Gram
        Matrices", ICML 2020 (arXiv:1912.12510); official code
        `VectorInstitute/gram-ood-detection`.

    Args:
        classifier: the trained classifier, left unchanged: a functional
            `keras.Model` (or `keras.Sequential`) mapping inputs to logits,
            or a `keras_ssl.uncertainty.SoftmaxClassifier` with a
            functional encoder.
        taps: names of the layers whose outputs are tapped, or `None` for
            every post-activation conv output (the default of issue 16; see
            above for the official ResNet taps).
        powers: the Gram orders `p`, integers >= 1. Default `range(1, 11)`,
            the official notebooks' `POWERS=range(1,11)`.
        msp_division: divide each tap's deviation by the maximum softmax
            probability. Default `True`, the official code (easy to miss:
            it is not in the paper's formula).
        normalize: divide each tap's deviation by its expected deviation
            on validation data (`calibrate`). Default `True`, the official
            `detect(..., normalize=True)`; with `False` the score is the
            plain sum of the tap deviations and `calibrate` is not needed.
        **kwargs: passed to `keras.Model` (`name`, ...).

    `fit` takes the classifier's training inputs (labels, if given, are
    ignored: bounds follow the predicted class). `call` returns the
    classifier's logits. `score(inputs)` returns `Delta`;
    `tap_deviations(inputs)` the un-normalised `delta_l`; `classify(inputs)`
    returns `probs`, `prediction`, `certainty` (the maximum softmax
    probability), `ood_score` (`Delta`), `msp_score` (the softmax
    baseline's score, `-certainty`) and `deviations` (`delta_l / E_l`,
    one column per tap), and is the `classify` endpoint of an exported
    SavedModel, with bounds and calibration baked in. Scoring before `fit`,
    or (with `normalize`) before `calibrate`, raises a `ValueError`. If
    `calibration_inputs` is set to an array (it is not saved), every
    `fit` ends with `calibrate(calibration_inputs)`, as
    `keras-ssl train gram` does. Logged: `classes_seen`, the number of
    classes with at least one fit input.

    Example:

    ```python
    import keras
    import keras_ssl

    keras.utils.set_random_seed(0)
    (x, y), (x_test, _) = keras_ssl.data.digits()
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    classifier = keras_ssl.uncertainty.SoftmaxClassifier(encoder, 10)
    classifier.compile(optimizer="adam")
    # Trained enough that it predicts every class on x (each predicted
    # class needs bounds).
    classifier.fit(x, y, batch_size=64, epochs=5, verbose=0)
    detector = keras_ssl.uncertainty.GramDetector(classifier)
    detector.tap_names  # ('block1_relu', 'block2_relu', 'block3_relu')
    detector.compile()  # no optimizer
    detector.fit(x, batch_size=128, epochs=1, verbose=0)
    detector.calibrate(x_test[:50])
    detector.score(x_test[50:54])  # larger = more OOD
    ```
    """

    family = "uncertainty"
    paper = "Sastry & Oore, ICML 2020 (Gram matrices)"
    tracked_names = ("classes_seen",)
    optimizer_names = ()

    def __init__(
        self,
        classifier,
        taps=None,
        powers=range(1, 11),
        msp_division=True,
        normalize=True,
        **kwargs,
    ):
        super().__init__(None, **kwargs)
        graph = _logits_graph(classifier)
        self.classifier = classifier
        self.taps = None if taps is None else _check_tap_names(taps)
        self.powers = check_integers(powers, 1, "powers")
        self.msp_division = _check_bool(msp_division, "msp_division")
        self.normalize = _check_bool(normalize, "normalize")
        layers = _tap_layers(graph, self.taps)
        self.tap_names = tuple(layer.name for layer in layers)
        self.num_classes = check_integer(
            graph.outputs[0].shape[-1], 2, "the classifier's number of logits"
        )
        # Not tracked: its layers are the classifier's, saved through it.
        object.__setattr__(
            self,
            "_tap_model",
            keras.Model(
                graph.inputs[0],
                [*[layer.output for layer in layers], graph.outputs[0]],
            ),
        )
        self._serving_shape = tuple(graph.inputs[0].shape[1:])
        self.minimum, self.maximum = [], []
        for layer in layers:
            shape = (self.num_classes, len(self.powers), layer.output.shape[-1])
            self.minimum.append(
                self.add_state(
                    f"{layer.name}_minimum", shape, "float64", _no_minimum
                )
            )
            self.maximum.append(
                self.add_state(
                    f"{layer.name}_maximum",
                    shape,
                    "float64",
                    _no_maximum,
                )
            )
        self.class_count = self.add_state(
            "class_count", (self.num_classes,), "float64"
        )
        self.expected_deviation = self.add_state(
            "expected_deviation", (len(layers),), "float64"
        )
        self.calibration_inputs = None

    @property
    def calibration_inputs(self):
        """Inputs every `fit` ends by calibrating on (`None`: no
        calibration); not saved with the model."""
        return self._calibration_inputs

    @calibration_inputs.setter
    def calibration_inputs(self, inputs):
        # A plain attribute, kept out of Keras and SavedModel tracking.
        object.__setattr__(self, "_calibration_inputs", inputs)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=False):
        return self._tap_model(inputs, training=False)[-1]

    # ------------------------------------------------------------------
    # Features
    # ------------------------------------------------------------------
    def _taps_and_probs(self, inputs):
        outputs = self._tap_model(inputs, training=False)
        probs = ops.softmax(ops.cast(outputs[-1], "float32"), axis=-1)
        return outputs[:-1], probs

    def gram_features(self, inputs):
        """Row-summed, signed-root Gram features of every tap.

        Returns:
            A list with one float64 tensor per tap, shape
            `(batch, len(powers), channels)`.
        """
        return self._gram_features(self._taps_and_probs(inputs)[0])

    def _gram_features(self, taps):
        features = []
        for tap in taps:
            tap = ops.cast(tap, "float64")
            flat = ops.reshape(tap, (ops.shape(tap)[0], -1, tap.shape[-1]))
            roots = {}
            for p, powered in _powers(flat, self.powers):
                # Row sums of G = F^T F: sum_n F[n, c] * sum_d F[n, d].
                rows = ops.einsum(
                    "bnc,bn->bc", powered, ops.sum(powered, axis=-1)
                )
                roots[p] = ops.sign(rows) * ops.abs(rows) ** (1.0 / p)
            features.append(ops.stack([roots[p] for p in self.powers], 1))
        return features

    # ------------------------------------------------------------------
    # Fitting the bounds
    # ------------------------------------------------------------------
    def train_step(self, data):
        taps, probs = self._taps_and_probs(self.inference_inputs(data))
        prediction = ops.cast(ops.argmax(probs, axis=-1), "int32")
        ones = ops.ones_like(prediction, dtype="float64")
        counts = tf.math.unsorted_segment_sum(
            ones, prediction, self.num_classes
        )
        present = ops.reshape(counts > 0, (-1, 1, 1))
        for features, low, high in zip(
            self._gram_features(taps), self.minimum, self.maximum, strict=True
        ):
            batch_low = tf.math.unsorted_segment_min(
                features, prediction, self.num_classes
            )
            batch_high = tf.math.unsorted_segment_max(
                features, prediction, self.num_classes
            )
            batch_low = ops.where(present, batch_low, NO_BOUND)
            batch_high = ops.where(present, batch_high, -NO_BOUND)
            low.assign(ops.minimum(low, replica_reduce(batch_low, "min")))
            high.assign(ops.maximum(high, replica_reduce(batch_high, "max")))
        self.class_count.assign(self.class_count + replica_sum(counts))
        seen = ops.sum(ops.cast(self.class_count > 0, "float32"))
        return self.track(values={"classes_seen": seen})

    def method_callbacks(self):
        return [_CalibrateAtEnd(self)]

    # ------------------------------------------------------------------
    # Deviations and calibration
    # ------------------------------------------------------------------
    def tap_deviations(self, inputs):
        """Un-normalised deviations `delta_l` (float64, `(batch, taps)`),
        divided by the maximum softmax probability if `msp_division`."""
        self._check_ready("tap_deviations", calibrated=False)
        return self._deviations(inputs)[0]

    def _deviations(self, inputs):
        taps, probs = self._taps_and_probs(inputs)
        prediction = ops.argmax(probs, axis=-1)
        columns = []
        for features, low, high in zip(
            self._gram_features(taps), self.minimum, self.maximum, strict=True
        ):
            low = ops.take(low, prediction, axis=0)
            high = ops.take(high, prediction, axis=0)
            below = ops.relu(low - features) / ops.abs(low + BOUND_EPSILON)
            above = ops.relu(features - high) / ops.abs(high + BOUND_EPSILON)
            columns.append(ops.sum(below + above, axis=(1, 2)))
        deviations = ops.stack(columns, axis=1)
        seen = ops.take(self.class_count, prediction, axis=0) > 0
        deviations = ops.where(seen[:, None], deviations, np.inf)
        if self.msp_division:
            msp = ops.cast(ops.max(probs, axis=-1), "float64")
            deviations = deviations / msp[:, None]
        return deviations, probs

    def calibrate(self, inputs, batch_size=128):
        """Stores the expected deviation of every tap on `inputs`.

        Args:
            inputs: held-out in-distribution inputs (an array), e.g. 10% of
                the in-distribution test set, as the paper does.
            batch_size: inputs per scoring step.

        Returns:
            The expected deviations `E_l` (a NumPy array, one per tap).

        Raises:
            ValueError: before `fit`, or if an input is predicted as a
                class without bounds.
        """
        self._check_ready("calibrate", calibrated=False)
        batch_size = check_integer(batch_size, 1, "batch_size")
        step = tf.function(
            lambda x: {"d": self._deviations(x)[0]}, reduce_retracing=True
        )
        deviations = predict_in_batches(step, inputs, batch_size)["d"]
        unseen = ~np.all(np.isfinite(deviations), axis=1)
        if unseen.any():
            raise ValueError(
                f"calibrate: {int(unseen.sum())} of {len(deviations)} inputs "
                "are predicted as classes no fit input was predicted as, so "
                "they have no bounds; fit on data that covers every class"
            )
        expected = deviations.mean(axis=0) + EXPECTED_EPSILON
        self.expected_deviation.assign(expected)
        return expected

    # ------------------------------------------------------------------
    # Scores and export
    # ------------------------------------------------------------------
    def score(self, inputs):
        """The total deviation `Delta` (float64, larger = more OOD)."""
        self._check_ready("score")
        return self._scores(inputs)["ood_score"]

    def classify(self, inputs):
        """Probabilities, prediction, certainty, OOD scores, deviations."""
        self._check_ready("classify")
        return self._scores(inputs)

    def _scores(self, inputs):
        deviations, probs = self._deviations(inputs)
        if self.normalize:
            deviations = deviations / self.expected_deviation
        certainty = ops.max(probs, axis=-1)
        return {
            "probs": probs,
            "prediction": ops.argmax(probs, axis=-1),
            "certainty": certainty,
            "ood_score": ops.sum(deviations, axis=-1),
            "msp_score": -certainty,
            "deviations": deviations,
        }

    def serving_endpoints(self):
        return {"classify": self.classify}

    @property
    def serving_input_shape(self):
        return self._serving_shape

    @tf.autograph.experimental.do_not_convert
    def _check_ready(self, what, calibrated=True):
        # Read eagerly, also while a tf.function or an export is traced
        # (AutoGraph would turn the Python `if`s into graph conditionals).
        with tf.init_scope():
            fitted = float(ops.sum(self.class_count)) > 0
            expected = np.asarray(self.expected_deviation)
        if not fitted:
            raise ValueError(
                f"GramDetector.{what} needs the bounds: fit the detector on "
                "the classifier's training inputs first"
            )
        if calibrated and self.normalize and not np.all(expected > 0):
            raise ValueError(
                f"GramDetector.{what} needs the expected deviations: call "
                "calibrate(x_val) on held-out in-distribution inputs first "
                "(or build the detector with normalize=False)"
            )


class _CalibrateAtEnd(keras.callbacks.Callback):
    """Calibrates a detector on its `calibration_inputs` after `fit`."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def on_train_end(self, logs=None):
        if self.detector.calibration_inputs is not None:
            self.detector.calibrate(self.detector.calibration_inputs)


def _no_minimum(shape, dtype=None):
    return tf.fill(shape, tf.constant(NO_BOUND, "float64"))


def _no_maximum(shape, dtype=None):
    return tf.fill(shape, tf.constant(-NO_BOUND, "float64"))


def _powers(x, powers):
    """Yields `(p, x ** p)` for the distinct `powers`, in increasing order,
    by repeated multiplication (float64 `pow` is many times slower)."""
    current, exponent = x, 1
    for p in sorted(set(powers)):
        while exponent < p:
            current, exponent = current * x, exponent + 1
        yield p, current


def _check_bool(value, name):
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _check_tap_names(taps):
    names = (taps,) if isinstance(taps, str) else tuple(taps)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"taps must be None or a non-empty list of layer names; got "
            f"{taps!r}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"taps must name distinct layers; got {taps!r}")
    return names


def _logits_graph(classifier):
    """A functional model from the classifier's inputs to its logits."""
    if isinstance(classifier, SoftmaxClassifier):
        encoder = classifier.encoder
        if _is_functional(encoder):
            if not classifier.classifier.built:
                classifier.build((None, *encoder.inputs[0].shape[1:]))
            return keras.Model(
                encoder.inputs[0], classifier.classifier(encoder.outputs[0])
            )
    elif _is_functional(classifier):
        if len(classifier.inputs) == 1 and len(classifier.outputs) == 1:
            return classifier
    raise ValueError(
        "classifier must be a functional keras.Model with one input and one "
        "output (the logits), or a SoftmaxClassifier with a functional "
        f"encoder; got {type(classifier).__name__}"
    )


def _is_functional(model):
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _tap_layers(graph, names):
    layers = {layer.name: layer for layer in graph.layers}
    if names is not None:
        missing = [n for n in names if n not in layers]
        if missing:
            raise ValueError(
                f"taps: the classifier has no layer named {missing}; its "
                f"layers are {list(layers)}"
            )
        chosen = [layers[n] for n in names]
    else:
        chosen = [
            layer for layer in graph.layers if _after_conv_activation(layer)
        ]
        if not chosen:
            raise ValueError(
                "taps: the classifier has no post-activation conv outputs "
                "(an activation after a convolution); name the layers to "
                f"tap, among {list(layers)}"
            )
    for layer in chosen:
        if len(layer._inbound_nodes) != 1 or len(layer.output.shape) < 2:
            raise ValueError(
                f"taps: layer {layer.name!r} must be used once in the "
                "classifier and output (batch, ..., channels) tensors"
            )
    return chosen


def _after_conv_activation(layer):
    if isinstance(layer, _CONVOLUTIONS):
        return _nonlinear(layer.activation)
    if isinstance(layer, _ACTIVATIONS):
        if isinstance(layer, keras.layers.Activation) and not _nonlinear(
            layer.activation
        ):
            return False
        return _reaches_conv(layer)
    return False


def _nonlinear(activation):
    return activation is not None and activation not in (
        keras.activations.linear,
        keras.activations.softmax,
    )


def _reaches_conv(layer):
    """Whether the layer's input comes from a convolution, through
    normalisation layers and residual sums only."""
    for node in layer._inbound_nodes:
        for tensor in node.input_tensors:
            parent = tensor._keras_history.operation
            if isinstance(parent, _CONVOLUTIONS):
                return True
            if isinstance(parent, _PASS_THROUGH) and _reaches_conv(parent):
                return True
    return False
