"""Module-level Belief Matching builders for the contract tests
(importable by the harness's worker process)."""

import keras

from keras_ssl.backbones import mlp
from keras_ssl.uncertainty.belief_matching import BeliefMatching


def build_belief_matching_mlp():
    # A large KL weight and a non-uniform prior make the KL term matter to
    # the step, so a wrong replica scaling of it shows up.
    model = BeliefMatching(
        mlp((6,), hidden=(8, 4)), num_classes=3, prior=2.0, kl_weight=0.5
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
