import tensorflow as tf

from keras_ssl import augment
from keras_ssl import backbones
from keras_ssl.recipes.representation_recipe import RepresentationRecipe
from keras_ssl.representation.nat import NAT


class NATRecipe(RepresentationRecipe):
    """`keras-ssl train nat`: Noise As Targets on digits.

    The settings of the method note's digits experiment, which measured a
    +10 point linear-probe gain over random init with them: a narrow small
    CNN (widths 4-8-16, 16-d features) on 16x16 digits, 32-d targets,
    NAT's default reassignment every 3 epochs, SGD lr 0.05 with momentum
    0.9, batch 100, 150 epochs, and +-2 px shifts plus Gaussian noise as
    augmentation (the note does not give the noise level; 0.05 on [0, 1]
    images is ours). The official ImageNet script uses plain SGD lr 0.01
    and crop + flip; flips make no sense for digits.
    """

    name = "nat"
    method = NAT
    settings = {
        "target_dim": 32,
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.9,
        "image_size": 16,
        "width": "narrow",
        "max_shift": 2,
        "noise": 0.05,
    }
    setting_rules = {"noise": ">= 0", "max_shift": "int >= 0"}
    epochs = 150
    batch_size = 100

    def model_inputs(self, data, config):
        shape = tuple(data["input_shape"])
        if config["sobel"]:
            shape = (*shape[:-1], 2)
        return {
            "encoder": backbones.small_cnn(shape, preset=config["width"]),
            "num_samples": self.num_train_samples(data),
        }

    def augment(self, batch, seed, config):
        x, index = batch
        shift_seed, noise_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2)
        )
        x = augment.random_shift(x, config["max_shift"], shift_seed)
        return augment.random_noise(x, config["noise"], noise_seed), index
