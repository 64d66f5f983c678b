import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.representation import PCL
from keras_ssl.representation.pcl import concentration
from keras_ssl.representation.pcl import faiss_kmeans
from keras_ssl.representation.pcl import proto_nce_logits
from keras_ssl.representation.pcl import sample_negative_prototypes
from keras_ssl.testing import check_method_contract
from tests.representation import moco_replica_models as models


def _mlp_encoder():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(10, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(6)(x))


def _pcl(**kwargs):
    arguments = {
        "num_samples": models.NUM_SAMPLES,
        "num_clusters": (18, 24),
        "num_negative_prototypes": 2,
        "warmup_epochs": 1,
        "projection_dim": 4,
        "queue_size": 32,
        "momentum": 0.9,
        "seed": 0,
        "kmeans_threads": 1,
    }
    model = PCL(_mlp_encoder(), **{**arguments, **kwargs})
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.set_cluster_data(models.images())
    return model


def _cross_entropy(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    return log_z - shifted[np.arange(len(logits)), targets]


class StateAtEpochBegin(keras.callbacks.Callback):
    """Records PCL's state after the E-step of each epoch (user callbacks
    run after the method's)."""

    def __init__(self, query_view=None):
        super().__init__()
        self.query_view = query_view
        self.states = []

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        state = {
            "clustered_epoch": int(model.clustered_epoch),
            "prototypes": [np.asarray(p).copy() for p in model.prototypes],
            "phi": [np.asarray(c).copy() for c in model.concentrations],
            "assignments": [np.asarray(a).copy() for a in model.assignments],
            "features": model.momentum_features(model._cluster_data),
            "step": int(model.optimizer.iterations),
            "seed": np.asarray(model.sampling_seed).copy(),
        }
        if self.query_view is not None:
            state["queries"] = np.asarray(
                model.project(self.query_view, training=True)
            )
        self.states.append(state)


# ----------------------------------------------------------------------
# The concentration phi
# ----------------------------------------------------------------------
def _official_phi(squared, assignments, k, alpha, temperature):
    # A loop like the official run_kmeans, written out independently.
    members = [[] for _ in range(k)]
    for i, c in enumerate(assignments):
        members[c].append(squared[i])
    phi = np.zeros(k)
    for c, distances in enumerate(members):
        if len(distances) > 1:
            root = np.sqrt(np.asarray(distances))
            phi[c] = root.mean() / np.log(len(distances) + alpha)
    largest = phi.max()
    for c, distances in enumerate(members):
        if len(distances) <= 1:
            phi[c] = largest
    low, high = np.percentile(phi, 10), np.percentile(phi, 90)
    phi = np.clip(phi, low, high)
    return temperature * phi / phi.mean()


def test_concentration_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    k = 12
    # Cluster sizes 0 (empty), 1 (singletons) and up to 30.
    sizes = [0, 1, 1, 2, 3, 5, 8, 13, 21, 30, 4, 6]
    assignments = np.repeat(np.arange(k), sizes)
    squared = rng.gamma(2.0, 0.1, size=len(assignments))
    squared[assignments == 3] = 4.0  # a spread-out cluster (clipped high)
    squared[assignments == 8] = 1e-4  # a tight one (clipped low)
    phi = concentration(squared, assignments, k, alpha=10.0, temperature=0.2)
    expected = _official_phi(squared, assignments, k, 10.0, 0.2)
    np.testing.assert_allclose(phi, expected, rtol=1e-12)
    assert phi.mean() == pytest.approx(0.2)
    # Before clipping, the singletons and the empty cluster carry the
    # largest phi of the others, so after clipping they sit at the top.
    assert phi[0] == phi[1] == phi[2] == phi.max()
    assert phi[8] == phi.min() < phi[9]
    # Unsquared distances: the squared ones give another phi.
    squared_phi = _official_phi(squared**2, assignments, k, 10.0, 0.2)
    assert not np.allclose(phi, squared_phi)


def test_concentration_without_spread_falls_back_to_the_temperature():
    phi = concentration(np.zeros(6), np.arange(6), 6, temperature=0.3)
    np.testing.assert_array_equal(phi, np.full(6, 0.3))


# ----------------------------------------------------------------------
# Negative prototypes and ProtoNCE
# ----------------------------------------------------------------------
def test_negative_prototypes_come_from_the_whole_pool_uniformly():
    positives = tf.constant([0, 3, 5, 3])
    drawn = sample_negative_prototypes(positives, 10, 7, tf.constant([1, 2]))
    # The pool is every id in [0, k) outside the batch: the last id
    # (k - 1 = 9) included, which the official code used to miss.
    assert sorted(np.asarray(drawn).tolist()) == [1, 2, 4, 6, 7, 8, 9]
    draw_five = tf.function(
        lambda seed: sample_negative_prototypes(
            tf.constant([0, 1, 2, 3, 4]), 20, 5, seed
        )
    )
    counts = np.zeros(20)
    for draw in range(3000):
        ids = np.asarray(draw_five(tf.constant([7, draw])))
        assert len(set(ids)) == 5 and ids.min() >= 5
        counts[ids] += 1
    assert counts[:5].sum() == 0
    frequencies = counts[5:] / 3000
    # Uniform over the 15 candidates: 1/3 each (binomial sd ~ 0.009).
    np.testing.assert_allclose(frequencies, 1 / 3, atol=0.04)


def test_proto_nce_logits_divide_each_column_by_its_phi():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(3, 4))
    prototypes = rng.normal(size=(9, 4))
    phi = rng.uniform(0.1, 0.4, size=9)
    positives, negatives = np.array([2, 2, 7]), np.array([0, 5])
    logits = np.asarray(
        proto_nce_logits(q, prototypes, phi, positives, negatives)
    )
    selected = [2, 2, 7, 0, 5]
    expected = q @ prototypes[selected].T / phi[selected][None, :]
    np.testing.assert_allclose(logits, expected, rtol=1e-5)


def test_a_step_logs_the_proto_nce_of_a_numpy_reference():
    keras.utils.set_random_seed(2)
    (query, key), index = models.batch()
    model = _pcl(num_clusters=(18, 20, 24), num_negative_prototypes=2)
    recorder = StateAtEpochBegin(query_view=query)
    history = model.fit(
        (query, key),
        index,
        batch_size=16,
        epochs=2,
        initial_epoch=1,
        shuffle=False,
        callbacks=[recorder],
    )
    state = recorder.states[0]
    q = state["queries"]
    terms, hits = [], []
    for m, k in enumerate(model.num_clusters):
        positives = state["assignments"][m][index]
        seed = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(
                state["seed"], state["step"]
            ),
            m,
        )
        negatives = np.asarray(
            sample_negative_prototypes(positives, k, 2, seed)
        )
        selected = np.concatenate([positives, negatives])
        logits = q @ state["prototypes"][m][selected].T
        logits /= state["phi"][m][selected][None, :]
        terms.append(_cross_entropy(logits, np.arange(16)))
        hits.append(np.mean(np.argmax(logits, 1) == np.arange(16)))
    expected = np.mean(np.mean(terms, axis=0))
    np.testing.assert_allclose(history.history["proto_nce"][0], expected, 1e-5)
    total = history.history["info_nce"][0] + expected
    np.testing.assert_allclose(history.history["loss"][0], total, 1e-5)
    assert history.history["proto_accuracy"][0] == pytest.approx(np.mean(hits))


# ----------------------------------------------------------------------
# The E-step
# ----------------------------------------------------------------------
def test_e_step_fills_the_state_at_the_warm_up_boundary_and_not_before():
    keras.utils.set_random_seed(3)
    model = _pcl(warmup_epochs=2)
    recorder = StateAtEpochBegin()
    history = model.fit(
        models.batch()[0],
        models.batch()[1],
        batch_size=16,
        epochs=4,
        verbose=0,
        callbacks=[recorder],
    )
    states = recorder.states
    assert [s["clustered_epoch"] for s in states] == [-1, -1, 2, 3]
    for state in states[:2]:
        assert not any(p.any() for p in state["prototypes"])
    assert history.history["proto_nce"][:2] == [0.0, 0.0]
    assert history.history["proto_accuracy"][:2] == [0.0, 0.0]
    assert min(history.history["proto_nce"][2:]) > 0
    for state in states[2:]:
        for m, k in enumerate(model.num_clusters):
            # The E-step's result is faiss k-means on the momentum
            # features of the un-augmented images, then phi.
            centroids, assignments, squared = faiss_kmeans(
                state["features"], k, seed=m, num_threads=1
            )
            np.testing.assert_array_equal(state["assignments"][m], assignments)
            unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
            np.testing.assert_allclose(state["prototypes"][m], unit, atol=1e-5)
            phi = concentration(squared, assignments, k, 10.0, 0.2)
            np.testing.assert_allclose(state["phi"][m], phi, rtol=1e-5)
            assert state["phi"][m].mean() == pytest.approx(0.2, rel=1e-5)
    # Clustered afresh each epoch: the features moved, so did the result.
    assert not np.allclose(states[2]["features"], states[3]["features"])


def test_k_means_uses_the_official_settings_and_is_seeded():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(300, 8)).astype("float32")
    a = faiss_kmeans(features, 20, seed=1, num_threads=1)
    b = faiss_kmeans(features, 20, seed=1, num_threads=1)
    c = faiss_kmeans(features, 20, seed=2, num_threads=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # Every point goes to its nearest centroid; distances are squared.
    distances = ((features[:, None] - a[0][None]) ** 2).sum(-1)
    np.testing.assert_array_equal(a[1], distances.argmin(1))
    np.testing.assert_allclose(a[2], distances.min(1), rtol=1e-4)


def test_the_training_step_holds_no_host_code():
    model = _pcl()
    (query, key), index = models.batch()
    model(query[:1])
    spec = (
        (tf.TensorSpec((None, 8, 8, 1)), tf.TensorSpec((None, 8, 8, 1))),
        tf.TensorSpec((None,), tf.int64),
    )
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    definition = graph.as_graph_def()
    kinds = {node.op for node in definition.node}
    for function in definition.library.function:  # tf.cond branches
        kinds |= {node.op for node in function.node_def}
    assert {"TopKV2", "StatelessRandomUniformV2"} <= kinds  # it looked
    assert not kinds & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}


# ----------------------------------------------------------------------
# Saving, contract
# ----------------------------------------------------------------------
def test_keras_round_trip_keeps_queue_and_prototypes(tmp_path):
    keras.utils.set_random_seed(5)
    model = _pcl()
    (query, key), index = models.batch()
    model.fit((query, key), index, batch_size=16, epochs=3, verbose=0)
    assert int(model.clustered_epoch) == 2
    path = str(tmp_path / "pcl.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    state = [
        model.queue,
        model.queue_pointer,
        model.clustered_epoch,
        model.sampling_seed,
        *model.prototypes,
        *model.concentrations,
        *model.assignments,
    ]
    names = {v.path for v in state}
    restored = {v.path: np.asarray(v) for v in loaded.weights}
    for variable in state:
        np.testing.assert_array_equal(restored[variable.path], variable)
    assert len(names) == len(state) and int(model.queue_pointer) == 16
    assert np.asarray(model.prototypes[1]).any()
    # The cluster images are data, not state: a loaded model asks for them.
    with pytest.raises(ValueError, match="set_cluster_data"):
        loaded.fit((query, key), index, batch_size=16, epochs=2, verbose=0)
    loaded.set_cluster_data(models.images())
    loaded.fit((query, key), index, batch_size=16, epochs=2, verbose=0)


def test_pcl_meets_the_method_contract(tmp_path):
    # warmup_epochs=1: the replica check runs epoch 1, with an E-step on
    # both sides; the resume check interrupts after the warm-up epoch and
    # resumes into two clustering epochs.
    report = check_method_contract(
        models.build_pcl,
        models.batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2, "initial_epoch": 1},
    )
    assert report["export"]["endpoints"] == ["embed"]
    assert report["replicas"]["logs"]["proto_nce"][0] > 0


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_clusters": (40,)}, "must not exceed num_samples"),
        ({"num_clusters": (2,)}, "must exceed num_negative_prototypes"),
        ({"num_clusters": ()}, "num_clusters must be a non-empty tuple"),
        ({"num_negative_prototypes": 0}, "num_negative_prototypes must be"),
        ({"warmup_epochs": -1}, "warmup_epochs must be an integer >= 0"),
        ({"concentration_alpha": 0}, "concentration_alpha must be a number"),
        ({"kmeans_threads": 0}, "kmeans_threads must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _pcl(**kwargs)


def test_a_clustering_too_small_for_negatives_plus_batch_fails_early():
    model = _pcl(num_clusters=(18, 24), num_negative_prototypes=4)
    (query, key), index = models.batch()
    model(query[:1])
    weights = [np.asarray(w).copy() for w in model.weights]
    # k = 18 < 4 negatives + a batch of 16.
    with pytest.raises(ValueError, match=r"at least num_negative_prototypes"):
        model.fit((query, key), index, batch_size=16, epochs=2, verbose=0)
    with pytest.raises(ValueError, match=r"= 20.*got k = \[18\]"):
        model.fit(tf.data.Dataset.from_tensors(((query, key), index)), epochs=2)
    for before, after in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


@pytest.mark.parametrize(
    "index, match",
    [
        (None, r"pass the sample indices as y"),
        (np.arange(16) + 20, r"must lie in \[0, num_samples=32\)"),
        (np.linspace(0, 1, 16), "1-D integer array"),
    ],
)
def test_bad_indices_fail_before_training(index, match):
    model = _pcl()
    (query, key), _ = models.batch()
    with pytest.raises(ValueError, match=match):
        model.fit((query, key), index, batch_size=16, epochs=1, verbose=0)


def test_missing_or_wrong_cluster_data_is_a_clear_error():
    model = PCL(
        _mlp_encoder(),
        num_samples=32,
        num_clusters=(18, 24),
        num_negative_prototypes=2,
        warmup_epochs=1,
        queue_size=32,
    )
    model.compile(optimizer="sgd")
    (query, key), index = models.batch()
    with pytest.raises(ValueError, match="needs all num_samples=32"):
        model.set_cluster_data(models.images()[:20])
    with pytest.raises(ValueError, match=r"reaches epoch 1 \(warmup_epochs\)"):
        model.fit((query, key), index, batch_size=16, epochs=2, verbose=0)
    # Within the warm-up no clustering is needed.
    model.fit((query, key), index, batch_size=16, epochs=1, verbose=0)
