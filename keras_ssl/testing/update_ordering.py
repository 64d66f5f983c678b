"""Weight reads that Grappler leaves unordered against weight updates."""

import collections

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import rewriter_config_pb2
from tensorflow.python.framework import meta_graph
from tensorflow.python.grappler import tf_optimizer

_WRITES = ("AssignVariableOp", "AssignSubVariableOp", "AssignAddVariableOp")


def unordered_weight_reads(model, batch):
    """`(read, write)` node names of one `train_step` that may race.

    Traces `model.train_step` on `batch`, runs Grappler's dependency
    optimizer on the graph as TF does before executing a `tf.function`,
    and lists every read of a trainable weight that is neither an
    ancestor nor a descendant of an update of that weight: such a read
    may run before or after the in-place update, at random (see
    `keras_ssl.core.after_forward_pass`). Reads of metric variables are
    not checked.

    Uses TF internals (`tf_optimizer.OptimizeGraph`); test code only.

    Args:
        model: a compiled, built method whose optimizers are built (one
            `fit` step does both).
        batch: one batch in the structure `fit` takes.

    Returns:
        A sorted list of `(read_node, write_node)` pairs; empty when the
        step is safe.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl
    from keras_ssl.testing import unordered_weight_reads

    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    y = np.array([0, 1] * 4)
    encoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model = keras_ssl.uncertainty.SoftmaxClassifier(encoder, 2)
    model.compile(optimizer="sgd")
    model.fit(x, y, epochs=1, verbose=0)
    assert unordered_weight_reads(model, (x, y)) == []
    ```
    """
    spec = tf.nest.map_structure(
        lambda a: tf.TensorSpec(a.shape, tf.as_dtype(a.dtype)), batch
    )
    function = tf.function(model.train_step)
    graph = function.get_concrete_function(spec).graph
    weights = _weight_handles(graph, model)
    graph_def = meta_graph.create_meta_graph_def(graph=graph)
    fetch = graph_def.collection_def["train_op"]
    for op in graph.get_operations():
        if op.type in _WRITES:
            fetch.node_list.value.append(op.name)
    for tensor in tf.nest.flatten(graph.structured_outputs):
        fetch.node_list.value.append(tensor.name)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers.append("dependency")
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    optimized = tf_optimizer.OptimizeGraph(config, graph_def)
    return _races(optimized, weights)


def _weight_handles(graph, model):
    """Names of the placeholders that carry the trainable weights."""
    handles = {id(_tf_variable(v).handle) for v in model.trainable_variables}
    return {
        internal.op.name
        for external, internal in graph.captures
        if id(external) in handles
    }


def _tf_variable(variable):
    """The `tf.Variable` behind a Keras variable."""
    return getattr(variable, "value", variable)


def _races(graph_def, weights):
    nodes = {node.name: node for node in graph_def.node}
    parents = {
        name: [i.lstrip("^").split(":")[0] for i in node.input]
        for name, node in nodes.items()
    }
    memo = {}

    def ancestors(name):
        if name not in memo:
            seen, stack = set(), [name]
            while stack:
                for parent in parents.get(stack.pop(), ()):
                    if parent in nodes and parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
            memo[name] = seen
        return memo[name]

    users = collections.defaultdict(lambda: ([], []))
    for node in graph_def.node:
        if not node.input:
            continue
        handle = node.input[0].split(":")[0]
        if handle not in weights:
            continue
        if node.op == "ReadVariableOp":
            users[handle][0].append(node.name)
        elif node.op in _WRITES:
            users[handle][1].append(node.name)
    races = []
    for reads, writes in users.values():
        for read in reads:
            for write in writes:
                if read not in ancestors(write) and write not in ancestors(
                    read
                ):
                    races.append((read, write))
    return sorted(races)
