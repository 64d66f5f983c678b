"""Module-level Belief Matching builders for the contract tests
(importable by the harness's worker process)."""

import keras

from keras_ssl.backbones import mlp
from keras_ssl.uncertainty.belief_matching import BeliefMatching


def build_belief_matching_mlp():
    # A large KL weight and a non-uniform prior make the KL term matter to
    # the step, so a wrong replica scaling of it shows up. The KL grows as
    # prior / alpha_k for a small alpha_k: with SGD 0.05 or more, about 1
    # random initialisation in 150 had a first step that sent a logit far
    # below zero and the loss to 1e13, where 1-ulp differences between 1
    # and 2 replicas grow past the tolerance; 0.01 was stable in 150.
    model = BeliefMatching(
        mlp((6,), hidden=(8, 4)), num_classes=3, prior=2.0, kl_weight=0.5
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model
