"""The NS3L negative-sampling loss, for any semi-supervised method."""

import math

from keras import ops

from keras_ssl.core._checks import check_number

# The clamp of the official code: `log(clamp(1 - sum_N p, 1e-8, 1))`.
_LOG_FLOOR = math.log(1e-8)


def negative_sampling_loss(target_probs, logits, threshold=0.04):
    """The NS3L loss of each sample (Chen, Shah & Kyrillidis, ICML 2020).

    The classes a detached target pass rates below `threshold` are the
    sample's negative labels `N(x) = {c : target_c < threshold}`; the loss
    is minus the log of the probability the prediction gives to the true
    class being none of them:

    `l(x) = -log clamp(1 - sum_{c in N(x)} p_c(x), 1e-8, 1)`,

    `p = softmax(logits)`, as the official `ns3l.py` computes it. It is 0
    when no class falls below the threshold, pushes down only the mass
    already rated below it, and its gradient flows into `logits` alone:
    `target_probs` is detached (`stop_gradient`), so the negative set is a
    fixed label. A class exactly at the threshold is not a negative (the
    official `<`).

    Computed in log space, `log(1 - sum_N p) = logsumexp_{c not in N} z_c
    - logsumexp_c z_c`, exact also where `sum_N p` rounds to 0 or 1 in
    float32. When every class is a negative (possible only for `threshold
    > 1 / num_classes`) the official clamp gives the constant `-log 1e-8`
    = 18.4 with no gradient; so does this function.

    Add it to a method's loss as `replica_mean(negative_sampling_loss(
    ...))` over the unlabeled samples (the official code masks out the
    labeled rows); `NS3L` does so with the cross-entropy alone,
    `StabilityME(negative_sampling_weight=...)` next to TS+ME.

    Args:
        target_probs: `(batch, classes)` class probabilities of the target
            pass (the official code: the model's softmax on the same
            inputs, detached).
        logits: `(batch, classes)` logits of the pass the gradient flows
            through.
        threshold: a number in (0, 1), `T`. Default 0.04, the official
            `NS3L(threshold=0.04)` (10-class experiments; the code does
            not tie `T` to the number of classes).

    Returns:
        A float32 `(batch,)` tensor, each entry in `[0, 18.42]`.

    Raises:
        ValueError: for a threshold outside (0, 1).

    Example:

    ```python
    import numpy as np
    from keras_ssl.semi_supervised.negative_sampling import (
        negative_sampling_loss,
    )

    target = np.array([[0.9, 0.08, 0.02], [0.4, 0.3, 0.3]], "float32")
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], "float32"))
    loss = negative_sampling_loss(target, logits)
    # Row 0: class 2 is a negative: -log(1 - 0.1) = 0.105; row 1: none: 0.
    np.round(np.asarray(loss), 3)
    ```
    """
    threshold = check_number(threshold, "threshold", "in (0, 1)")
    target = ops.stop_gradient(ops.cast(target_probs, "float32"))
    z = ops.cast(logits, "float32")
    negative = ops.less(target, threshold)
    kept = ops.logical_not(ops.all(negative, axis=-1))
    # Rows whose classes are all negatives keep their logits here, so the
    # logsumexp stays finite (and its gradient defined) before `where`.
    masked = ops.where(
        ops.logical_and(negative, kept[:, None]), -float("inf"), z
    )
    log_rest = ops.logsumexp(masked, axis=-1) - ops.logsumexp(z, axis=-1)
    log_rest = ops.where(kept, log_rest, _LOG_FLOOR)
    return ops.clip(-log_rest, 0.0, -_LOG_FLOOR)
