"""Module-level DUQ builders for the replica-equivalence tests (importable
by the harness's worker process)."""

import keras

from keras_ssl.backbones import mlp
from keras_ssl.backbones import small_cnn
from keras_ssl.uncertainty.duq import DUQ

# Weight decay and a large gradient penalty make both extra loss terms
# matter to the step, so a wrong replica scaling of either shows up.
SETTINGS = {
    "embedding_size": 6,
    "length_scale": 0.5,
    "gamma": 0.9,
    "gradient_penalty": 1.0,
    "weight_decay": 1e-2,
}


def build_duq_mlp():
    model = DUQ(mlp((6,), hidden=(8, 4)), num_classes=3, **SETTINGS)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def build_duq_synchronized_bn():
    encoder = small_cnn(
        (8, 8, 1), preset="narrow", synchronized_batch_norm=True
    )
    model = DUQ(encoder, num_classes=3, **SETTINGS)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


class LocalCentroidDUQ(DUQ):
    """Deliberately wrong: updates the centroids from the local half-batch
    only, so each replica would move them differently."""

    def update_centroids(self, x, y):
        embeddings = self.embeddings(x, training=False)
        one_hot = keras.ops.one_hot(
            keras.ops.cast(y, "int32"), self.num_classes
        )
        counts = keras.ops.sum(one_hot, axis=0)
        sums = keras.ops.einsum("bnc,bc->nc", embeddings, one_hot)
        self.centroid_count.assign(
            self.gamma * self.centroid_count + (1 - self.gamma) * counts
        )
        self.centroid_sum.assign(
            self.gamma * self.centroid_sum + (1 - self.gamma) * sums
        )


def build_local_centroids():
    model = LocalCentroidDUQ(
        mlp((6,), hidden=(8, 4)), num_classes=3, **SETTINGS
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
