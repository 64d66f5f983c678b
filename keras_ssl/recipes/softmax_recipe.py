from keras_ssl.recipes.uncertainty_recipe import UncertaintyRecipe
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier


class SoftmaxRecipe(UncertaintyRecipe):
    """`keras-ssl train softmax`: the softmax / max-probability baseline.

    Adam with the given learning rate; on digits a wide small CNN on 16x16
    images, on two moons the MLP 2-20-20-20.
    """

    name = "softmax"
    method = SoftmaxClassifier
    settings = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "width": "wide",
    }
