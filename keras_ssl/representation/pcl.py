import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import assert_sample_index
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number
from keras_ssl.core._checks import check_sample_index
from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import replica_mean
from keras_ssl.evaluation.predict_in_batches import predict_in_batches
from keras_ssl.representation.moco import MoCo
from keras_ssl.representation.moco import _accuracy


@keras.saving.register_keras_serializable(package="keras_ssl")
class PCL(MoCo):
    """Prototypical Contrastive Learning: MoCo plus cluster prototypes.

    PCL alternates, once per epoch, an E-step that clusters the training
    set and an M-step that trains MoCo's InfoNCE loss plus a ProtoNCE
    term pulling every query towards the prototype of its cluster:

    - **E-step** (a Keras callback from `method_callbacks()`, at the start
      of every epoch from `warmup_epochs` on, outside `train_step` and
      outside any export): embed every training image with the momentum
      encoder in inference mode and without augmentation (the images
      given to `set_cluster_data`, in index order); for each `k` in
      `num_clusters` run faiss k-means (niter 20, nredo 5, seed = the
      position of `k` in the list, at most 1000 and at least 10 points
      per centroid: the official settings) and assign every image to its
      nearest centroid. The concentration of cluster `c` with `Z` members
      is `phi_c = sum_z ||v_z - c||_2 / (Z log(Z + alpha))` (unsquared
      distances to the raw centroid); clusters with `Z <= 1` get the
      largest `phi` of the others; `phi` is clipped to its 10th..90th
      percentile over clusters and rescaled to mean `temperature`. The
      assignments, the L2-normalised centroids (the prototypes) and `phi`
      go into non-trainable variables (`assignments_{m}`,
      `prototypes_{m}`, `concentration_{m}`), so they are saved, restored
      and mirrored.
    - **M-step** loss: InfoNCE (as `MoCo`) plus the mean over the `M`
      clusterings of `CE(q . [C_pos; C_neg]^T / phi, target = i)`. `C_pos`
      holds the assigned prototypes of all `B` samples of the batch (row
      `i` is sample `i`'s positive; the other rows are its negatives,
      false ones when two samples share a cluster, as in the official
      code); `C_neg` holds `num_negative_prototypes` prototypes drawn
      uniformly without replacement from those no sample of the batch is
      assigned to. The pool is every id in `[0, k)`: the fixed pool of the
      official code's last commit (it used to miss the last id). Each
      logit is divided by its prototype's `phi`. Before `warmup_epochs`
      the loss is InfoNCE only and `proto_nce`, `proto_accuracy` log 0.

    Logged: `loss`, `info_nce`, `proto_nce`, `instance_accuracy`
    (Acc@Inst) and `proto_accuracy` (Acc@Proto, top-1 of the ProtoNCE
    logits, mean over the clusterings).

    Training data are `((query_view, key_view), index)` batches, `index`
    the sample's row in the cluster data. Call
    `model.set_cluster_data(x_train)` with the un-augmented training
    images before a `fit` whose epochs reach `warmup_epochs` (again after
    `keras.saving.load_model`: the images are data, not model state).
    Every `k` must be at least `num_negative_prototypes` plus the global
    batch size, so that the negatives can always be drawn; `fit` checks
    it before the first step.

    Distribution: every replica draws the same negatives (a stateless
    seed from `seed` and the optimizer step) and contrasts its queries
    with the prototypes of the all-gathered global batch, so R replicas
    train exactly as one device. The official DDP code uses each GPU's
    local batch for `C_pos` and for the excluded pool instead; on one
    device the two agree.

    Defaults and sources (see `shared/methods/pcl.md`; MoCo's in `MoCo`):
        - `num_clusters=(25000, 50000, 100000)`: official code,
          `--num-cluster` (ImageNet). Small data: about 2x..8x the number
          of classes or more, subject to the rule above (`keras-ssl train
          pcl` uses 120, 160, 240 for 10 digit classes at batch 100).
        - `num_negative_prototypes=16384`: official code, `--pcl-r`; the
          official code uses the same `r` as the queue size, here they
          are two arguments.
        - `warmup_epochs=20`: official code, `--warmup-epoch`.
        - `concentration_alpha=10`: official code (`np.log(len(dist) +
          10)`) and the paper.
        - k-means: faiss `Clustering` with niter 20, nredo 5, seed = index
          of `k`, max/min points per centroid 1000/10, exact L2 index
          (official code; CPU `IndexFlatL2` here instead of the GPU one).

    Deviations: faiss runs on CPU. The official code halves embeddings
    whose norm exceeds 1.5 (an artefact of summing `DistributedSampler`
    duplicates); the E-step here embeds each image once, so it has no
    such step. If every cluster is a singleton or has zero spread (all
    `phi` zero), `phi` is set to `temperature` everywhere instead of the
    official division by zero. Global instead of per-GPU batch
    prototypes on several replicas (above).

    Reference:
        Li, Zhou, Xiong and Hoi, "Prototypical Contrastive Learning of
        Unsupervised Representations", ICLR 2021, arXiv:2005.04966 (the
        full title is unverified in the method note). Official code:
        `salesforce/PCL` (`pcl/builder.py`, `main_pcl.py`).

    Args:
        encoder: a functional `keras.Model` mapping images to features.
        num_samples: int, number of training images (one assignment each).
        num_clusters: tuple of ints, the `k` of each clustering.
        num_negative_prototypes: int, negative prototypes per clustering.
        warmup_epochs: int >= 0, epochs of InfoNCE only before the first
            E-step.
        concentration_alpha: float > 0, the smoothing `alpha` of `phi`.
        projection_dim, queue_size, momentum, temperature, mlp_head: as
            in `MoCo`.
        seed: optional int for the negative-prototype draws; `None` draws
            one from the global seed (`keras.utils.set_random_seed`).
        kmeans_threads: optional int, OpenMP threads faiss uses in the
            E-step; `None` keeps faiss's default (every core). On small
            sets and busy machines 1 is much faster (OpenMP spin-waits:
            measured 10x on 2 shared cores for 1,257 points).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl

    (x, _), _ = keras_ssl.data.digits()
    x = x[:128]
    views = (x + 0.05 * np.random.randn(*x.shape), np.roll(x, 1, axis=2))
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    model = keras_ssl.representation.PCL(
        encoder, num_samples=len(x), num_clusters=(48, 64),
        num_negative_prototypes=8, warmup_epochs=0, projection_dim=8,
        queue_size=64, momentum=0.99,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
    model.set_cluster_data(x)  # the E-step clusters these, un-augmented
    model.fit(views, np.arange(len(x)), batch_size=32, epochs=1, verbose=0)
    np.asarray(model.assignments[0]).max() < 48  # True
    ```
    """

    paper = "Li et al., ICLR 2021 (Prototypical Contrastive Learning)"
    tracked_names = (
        "loss",
        "info_nce",
        "proto_nce",
        "instance_accuracy",
        "proto_accuracy",
    )

    def __init__(
        self,
        encoder,
        num_samples,
        num_clusters=(25000, 50000, 100000),
        num_negative_prototypes=16384,
        warmup_epochs=20,
        concentration_alpha=10.0,
        projection_dim=128,
        queue_size=16384,
        momentum=0.999,
        temperature=0.2,
        mlp_head=False,
        seed=None,
        kmeans_threads=None,
        **kwargs,
    ):
        super().__init__(
            encoder,
            projection_dim=projection_dim,
            queue_size=queue_size,
            momentum=momentum,
            temperature=temperature,
            mlp_head=mlp_head,
            **kwargs,
        )
        self.num_samples = check_integer(num_samples, 1, "num_samples")
        self.num_clusters = check_integers(num_clusters, 2, "num_clusters")
        self.num_negative_prototypes = check_integer(
            num_negative_prototypes, 1, "num_negative_prototypes"
        )
        self.warmup_epochs = check_integer(warmup_epochs, 0, "warmup_epochs")
        self.concentration_alpha = check_number(
            concentration_alpha, "concentration_alpha", "> 0"
        )
        if seed is not None:
            seed = check_integer(seed, 0, "seed")
        self.seed = seed
        if kmeans_threads is not None:
            kmeans_threads = check_integer(kmeans_threads, 1, "kmeans_threads")
        self.kmeans_threads = kmeans_threads
        for k in self.num_clusters:
            if k > self.num_samples:
                raise ValueError(
                    f"num_clusters must not exceed num_samples "
                    f"({self.num_samples}): k-means cannot make {k} "
                    "clusters of fewer points"
                )
            if k <= self.num_negative_prototypes:
                raise ValueError(
                    "every k in num_clusters must exceed "
                    f"num_negative_prototypes ({self.num_negative_prototypes})"
                    f" (by at least the global batch size); got k = {k}"
                )
        self.assignments, self.prototypes, self.concentrations = [], [], []
        for m, k in enumerate(self.num_clusters):
            self.assignments.append(
                self.add_state(f"assignments_{m}", (self.num_samples,), "int32")
            )
            self.prototypes.append(
                self.add_state(f"prototypes_{m}", (k, self.projection_dim))
            )
            self.concentrations.append(
                self.add_state(f"concentration_{m}", (k,))
            )
        self.clustered_epoch = self.add_state(
            "clustered_epoch",
            (),
            "int32",
            initializer=keras.initializers.Constant(-1),
        )
        draw = np.random.randint(0, 2**31 - 1) if seed is None else seed
        self.sampling_seed = self.add_state(
            "sampling_seed",
            (2,),
            "int32",
            initializer=keras.initializers.Constant(np.array([draw, 0])),
        )
        self._cluster_data = None
        self._momentum_features = None

    # ------------------------------------------------------------------
    # E-step
    # ------------------------------------------------------------------
    def set_cluster_data(self, x):
        """The un-augmented training images the E-step clusters.

        Args:
            x: array `(num_samples, ...)` of model inputs; row `i` is the
                image with sample index `i`.
        """
        x = np.asarray(x, dtype="float32")
        if len(x) != self.num_samples:
            raise ValueError(
                f"set_cluster_data needs all num_samples="
                f"{self.num_samples} training images (row i = sample index "
                f"i); got {len(x)}"
            )
        self._cluster_data = x

    def method_callbacks(self):
        return [_EStep()]

    def momentum_features(self, x, batch_size=512):
        """Normalised momentum-encoder embeddings of `x` (inference mode)."""
        if self._momentum_features is None:
            self._momentum_features = tf.function(
                lambda images: {
                    "features": self.momentum_project(images, training=False)
                }
            )
        return predict_in_batches(self._momentum_features, x, batch_size)[
            "features"
        ]

    def e_step(self):
        """Clusters the cluster data and writes the prototype state."""
        if self._cluster_data is None:
            raise ValueError(
                "PCL's E-step needs the un-augmented training images: call "
                "model.set_cluster_data(x_train) before fit (also after "
                "loading a saved model)"
            )
        features = self.momentum_features(self._cluster_data)
        for m, k in enumerate(self.num_clusters):
            centroids, assignments, squared = faiss_kmeans(
                features, k, seed=m, num_threads=self.kmeans_threads
            )
            phi = concentration(
                squared,
                assignments,
                k,
                alpha=self.concentration_alpha,
                temperature=self.temperature,
            )
            norms = np.linalg.norm(centroids, axis=1, keepdims=True)
            self.prototypes[m].assign(centroids / np.maximum(norms, 1e-12))
            self.concentrations[m].assign(phi.astype("float32"))
            self.assignments[m].assign(assignments.astype("int32"))
        self.clustered_epoch.assign(self.epoch)

    # ------------------------------------------------------------------
    # M-step
    # ------------------------------------------------------------------
    def contrastive_losses(self, queries, keys, index):
        losses, values = super().contrastive_losses(queries, keys, index)
        index = _check_index(index, self.num_samples)
        global_index = all_gather(index)
        offset = _replica_offset(ops.shape(index)[0])
        step = ops.cast(self.optimizer.iterations, "int32")

        def prototypical():
            return self.proto_nce(queries, global_index, offset, step)

        def warming_up():
            return ops.zeros((ops.shape(queries)[0],)), ops.zeros(())

        per_example, accuracy = tf.cond(
            self.epoch >= self.warmup_epochs, prototypical, warming_up
        )
        proto_nce = replica_mean(per_example)
        losses["proto_nce"] = proto_nce
        losses["loss"] = losses["loss"] + proto_nce
        values["proto_accuracy"] = accuracy
        return losses, values

    def proto_nce(self, queries, global_index, offset, step):
        """Per-example ProtoNCE (mean over clusterings) and Acc@Proto.

        Args:
            queries: `(b, d)` local query embeddings.
            global_index: `(B,)` sample indices of the global batch.
            offset: position of the local batch in the global one.
            step: the optimizer step (seeds the negative draws).
        """
        targets = offset + ops.arange(ops.shape(queries)[0], dtype="int32")
        total, accuracy = 0.0, 0.0
        for m, k in enumerate(self.num_clusters):
            positives = ops.take(self.assignments[m], global_index)
            seed = tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(
                    self.sampling_seed, step
                ),
                m,
            )
            negatives = sample_negative_prototypes(
                positives, k, self.num_negative_prototypes, seed
            )
            logits = proto_nce_logits(
                queries,
                self.prototypes[m],
                self.concentrations[m],
                positives,
                negatives,
            )
            total += keras.losses.sparse_categorical_crossentropy(
                targets, logits, from_logits=True
            )
            accuracy += _accuracy(logits, targets)
        count = len(self.num_clusters)
        return total / count, accuracy / count

    # ------------------------------------------------------------------
    # Checks before training
    # ------------------------------------------------------------------
    def check_batch_size(self, batch_size):
        super().check_batch_size(batch_size)
        needed = self.num_negative_prototypes + batch_size
        small = [k for k in self.num_clusters if k < needed]
        if small:
            raise ValueError(
                f"every k in num_clusters must be at least "
                f"num_negative_prototypes ({self.num_negative_prototypes}) "
                f"plus the global batch size ({batch_size}) = {needed}, so "
                f"the negative prototypes can always be drawn; got k = "
                f"{small}"
            )

    def check_fit_data(self, x, y):
        if isinstance(x, tf.data.Dataset):
            return
        if y is None:
            raise ValueError(
                "PCL trains on ((query_view, key_view), index): pass the "
                "sample indices as y, e.g. model.fit((x1, x2), "
                "np.arange(len(x1)))"
            )
        check_sample_index(y, self.num_samples)

    def _check_fit(self, arguments):
        super()._check_fit(arguments)
        epochs = arguments.get("epochs", 1)
        if self._cluster_data is None and epochs > self.warmup_epochs:
            raise ValueError(
                f"this fit reaches epoch {self.warmup_epochs} "
                "(warmup_epochs), where PCL's E-step clusters the "
                "un-augmented training images: call "
                "model.set_cluster_data(x_train) first (also after loading "
                "a saved model)"
            )


class _EStep(keras.callbacks.Callback):
    """Runs PCL's E-step at the start of every epoch from the warm-up on."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.model.warmup_epochs:
            self.model.e_step()


def faiss_kmeans(
    features,
    num_clusters,
    seed=0,
    niter=20,
    nredo=5,
    max_points_per_centroid=1000,
    min_points_per_centroid=10,
    num_threads=None,
):
    """k-means with faiss, configured as PCL's official `run_kmeans`.

    Args:
        features: `(n, d)` float array.
        num_clusters: `k`.
        seed: the faiss seed (official: the index of `k` in the list).
        niter, nredo, max_points_per_centroid, min_points_per_centroid:
            faiss `Clustering` settings (official values as defaults;
            faiss subsamples to `k * max_points_per_centroid` points and
            warns below `k * min_points_per_centroid`).
        num_threads: OpenMP threads for faiss during this call; `None`
            keeps faiss's setting (all cores).

    Returns:
        `(centroids, assignments, squared_distances)`: the `(k, d)` raw
        centroids, each point's nearest centroid and its *squared* L2
        distance to it (as faiss returns it).
    """
    import faiss

    x = np.ascontiguousarray(features, dtype="float32")
    d = x.shape[1]
    clustering = faiss.Clustering(d, int(num_clusters))
    clustering.verbose = False
    clustering.niter = int(niter)
    clustering.nredo = int(nredo)
    clustering.seed = int(seed)
    clustering.max_points_per_centroid = int(max_points_per_centroid)
    clustering.min_points_per_centroid = int(min_points_per_centroid)
    index = faiss.IndexFlatL2(d)
    threads = faiss.omp_get_max_threads()
    if num_threads is not None:
        faiss.omp_set_num_threads(int(num_threads))
    try:
        clustering.train(x, index)
        squared, ids = index.search(x, 1)
    finally:
        faiss.omp_set_num_threads(threads)
    centroids = faiss.vector_to_array(clustering.centroids).reshape(-1, d)
    return centroids, ids[:, 0].astype("int64"), squared[:, 0]


def concentration(
    squared_distances, assignments, num_clusters, alpha=10.0, temperature=0.2
):
    """PCL's per-cluster concentration `phi` (official `run_kmeans`).

    `phi_c = mean_z ||v_z - c|| / log(Z + alpha)` over the `Z` members of
    cluster `c` (square roots of faiss's squared distances); clusters with
    `Z <= 1` get the largest `phi` of the others; then `phi` is clipped to
    its [10th, 90th] percentile and rescaled to mean `temperature`.

    Args:
        squared_distances: `(n,)` squared L2 distance of each point to its
            centroid.
        assignments: `(n,)` cluster id of each point, in `[0, k)`.
        num_clusters: `k`.
        alpha: the smoothing constant (official 10).
        temperature: the mean `phi` after rescaling (the InfoNCE tau).

    Returns:
        `(k,)` float64 array `phi`.
    """
    distances = np.sqrt(np.maximum(np.asarray(squared_distances, "float64"), 0))
    assignments = np.asarray(assignments)
    counts = np.bincount(assignments, minlength=num_clusters)
    sums = np.bincount(assignments, weights=distances, minlength=num_clusters)
    phi = np.zeros(num_clusters)
    several = counts > 1
    phi[several] = sums[several] / (
        counts[several] * np.log(counts[several] + alpha)
    )
    phi[~several] = phi.max()
    phi = np.clip(phi, np.percentile(phi, 10), np.percentile(phi, 90))
    if phi.mean() <= 0:
        return np.full(num_clusters, float(temperature))
    return temperature * phi / phi.mean()


def sample_negative_prototypes(positive_ids, num_clusters, count, seed):
    """Draws `count` prototype ids not in `positive_ids`, uniformly.

    Uniform sampling without replacement from `[0, num_clusters)` minus
    the batch's prototypes (the fixed pool of the official last commit),
    as the top `count` of i.i.d. uniform scores with the excluded ids
    scored -1. Needs `num_clusters - len(set(positive_ids)) >= count`.

    Args:
        positive_ids: int tensor, the prototypes of the batch.
        num_clusters: `k`.
        count: the number of negatives `r`.
        seed: a stateless seed, shape `(2,)`.

    Returns:
        int32 tensor `(count,)` of distinct ids.
    """
    scores = tf.random.stateless_uniform((num_clusters,), seed)
    excluded = ops.expand_dims(ops.cast(positive_ids, "int32"), -1)
    scores = tf.tensor_scatter_nd_update(
        scores, excluded, -ops.ones(ops.shape(excluded)[:1])
    )
    return ops.cast(tf.math.top_k(scores, count).indices, "int32")


def proto_nce_logits(queries, prototypes, concentration, positives, negatives):
    """ProtoNCE logits `q . [C_pos; C_neg]^T / phi` (per-column phi).

    Args:
        queries: `(b, d)` normalised queries.
        prototypes: `(k, d)` normalised prototypes.
        concentration: `(k,)` the `phi` of each prototype.
        positives: `(B,)` the batch's prototype ids (target of query `i`
            is column `offset + i`).
        negatives: `(r,)` sampled negative prototype ids.

    Returns:
        `(b, B + r)` logits.
    """
    selected = ops.concatenate(
        [ops.cast(positives, "int32"), ops.cast(negatives, "int32")]
    )
    chosen = ops.take(prototypes, selected, axis=0)
    phi = ops.take(concentration, selected)
    return ops.matmul(queries, ops.transpose(chosen)) / phi[None, :]


def _replica_offset(local_batch):
    """Row of this replica's first sample in the all-gathered batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.zeros((), "int32")
    sizes = context.all_gather(
        ops.reshape(ops.cast(local_batch, "int32"), (1,)), axis=0
    )
    before = ops.arange(context.num_replicas_in_sync) < (
        context.replica_id_in_sync_group
    )
    return ops.sum(sizes * ops.cast(before, "int32"))


def _check_index(index, num_samples):
    if index is None:
        raise ValueError(
            "PCL trains on ((query_view, key_view), index) batches: the "
            "sample index is missing"
        )
    return assert_sample_index(index, num_samples)
