"""Replica-correct reductions for hand-written losses and shared state.

Under `tf.distribute.MirroredStrategy` Keras sums gradients over replicas.
A loss written by hand inside `train_step` must therefore be
`sum(per_example) / global_batch`; a plain mean over the local batch gives
gradients `num_replicas` times too large. These helpers are the one place
where that rule lives (see `shared/DESIGN.md`, "Distribution rules").
"""

import tensorflow as tf
from keras import ops


def num_replicas():
    """Number of replicas of the current strategy (1 without a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_mean(per_example):
    """Per-replica loss whose summed gradients equal the global-batch mean.

    Args:
        per_example: tensor of per-example losses, shape `(local_batch,)`
            (any extra axes are averaged first).

    Returns:
        Scalar float32 `sum(per_example) / global_batch`, where the global
        batch is the sum of the local batch sizes over replicas (so an
        uneven last batch, split 29 / 28, is exact too).
    """
    # Losses are reduced in float32, also under a mixed-precision policy.
    per_example = ops.cast(ops.convert_to_tensor(per_example), "float32")
    if len(per_example.shape) > 1:
        per_example = ops.mean(
            ops.reshape(per_example, (ops.shape(per_example)[0], -1)), axis=1
        )
    local = ops.cast(ops.shape(per_example)[0], per_example.dtype)
    return ops.sum(per_example) / replica_reduce(local, "sum")


def all_gather(value, axis=0):
    """Concatenates `value` over replicas (identity without a strategy).

    Differentiable; the result is identical on every replica.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_gather(value, axis=axis)


def replica_rows(local_batch):
    """Where this replica's rows lie in the global batch.

    `MirroredStrategy` hands each replica a consecutive block of the
    global batch. Noise drawn for the whole global batch from a stateless
    seed (the same numbers on every replica), of which each replica keeps
    rows `offset .. offset + local_batch - 1`, gives sample `i` of the
    global batch the same draw on any number of replicas.

    Args:
        local_batch: this replica's batch size (a Python or tensor int).

    Returns:
        `(offset, global_batch)` as int32 tensors; `(0, local_batch)`
        without a strategy.
    """
    local = ops.cast(local_batch, "int32")
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.convert_to_tensor(0, "int32"), local
    sizes = all_gather(ops.reshape(local, (1,)))
    replica = context.replica_id_in_sync_group
    before = ops.arange(context.num_replicas_in_sync) < replica
    offset = ops.sum(ops.where(before, sizes, ops.zeros_like(sizes)))
    return offset, ops.sum(sizes)


def replica_sum(value):
    """Sums `value` over replicas (identity without a strategy)."""
    return replica_reduce(value, "sum")


def replica_reduce(value, reduction="sum"):
    """Reduces `value` element-wise over replicas.

    Args:
        value: a tensor, the same shape on every replica.
        reduction: `"sum"`, `"min"` or `"max"`.

    Returns:
        The reduced tensor, identical on every replica (`value` itself
        without a strategy).
    """
    if reduction not in ("sum", "min", "max"):
        raise ValueError(
            f"reduction must be 'sum', 'min' or 'max'; got {reduction!r}"
        )
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    if reduction == "sum":
        return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
    stacked = context.all_gather(ops.expand_dims(value, 0), axis=0)
    if reduction == "min":
        return ops.min(stacked, axis=0)
    return ops.max(stacked, axis=0)
