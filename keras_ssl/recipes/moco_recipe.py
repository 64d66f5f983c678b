import tensorflow as tf

from keras_ssl import augment
from keras_ssl.recipes.recipe import make_optimizer
from keras_ssl.recipes.representation_recipe import RepresentationRecipe
from keras_ssl.representation.moco import MoCo

AUGMENTATIONS = ("digits", "v1", "v2")


class MoCoRecipe(RepresentationRecipe):
    """`keras-ssl train moco`: MoCo (PCL's base) on digits.

    The settings of the PCL method note's digits experiment, which
    measured +7 points of linear probe over random init with them: the
    narrow small CNN (widths 4-8-16, 16-d features) on 16x16 digits, a
    linear head to 32 dimensions, a queue of 400 keys, EMA momentum 0.99,
    temperature 0.2, SGD lr 0.03 with momentum 0.9 (`sgd_momentum`; the
    `momentum` key is MoCo's EMA momentum), batch 100, 40 epochs.

    Two views per image are made in `tf.data`, each with its own stateless
    seed. `augmentation` picks them:
        - `"digits"` (default): a shift of up to `max_shift` pixels, one
          `erase_size` x `erase_size` square set to zero, Gaussian noise of
          standard deviation `noise` (the note's digits augmentation);
        - `"v1"`: MoCo v1 / PCL v1 for RGB images: random resized crop
          (scale 0.2-1), grayscale with p 0.2, colour jitter 0.4 (all four),
          horizontal flip (official code);
        - `"v2"`: MoCo v2 / PCL v2 (`--aug-plus`): random resized crop,
          colour jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2,
          Gaussian blur (sigma 0.1-2) with p 0.5, flip (official code).

    Every batch has the full global size: the last partial batch of an
    epoch is dropped, as the official loader does (`drop_last=True`), so
    that the queue stays aligned with its size, a multiple of the batch.
    Weight decay (official 1e-4) is not used, as in the note's experiment.

    The learning rate is constant, as in the note's experiment;
    `--set lr_milestones=120,160` multiplies it by `lr_decay` (0.1) at
    those epochs, the official step schedule (MoCo v1 / PCL v1). Its
    epochs count the steps that run (`steps_per_epoch`: full batches
    only).
    """

    name = "moco"
    drop_remainder = True  # full batches only (`train_dataset`)
    method = MoCo
    settings = {
        "projection_dim": 32,
        "queue_size": 400,
        "momentum": 0.99,
        "optimizer": "sgd",
        "learning_rate": 0.03,
        "sgd_momentum": 0.9,
        "lr_milestones": (),
        "lr_decay": 0.1,
        "image_size": 16,
        "width": "narrow",
        "augmentation": "digits",
        "max_shift": 3,
        "noise": 0.1,
        "erase_size": 4,
    }
    epochs = 40
    batch_size = 100

    def compile_arguments(self, config, steps_per_epoch=None):
        optimizer = {**config, "momentum": config["sgd_momentum"]}
        return {"optimizer": make_optimizer(optimizer, steps_per_epoch)}

    def build_model(self, data, config, steps_per_epoch=None):
        if config["augmentation"] not in AUGMENTATIONS:
            raise ValueError(
                f"--set augmentation must be one of {AUGMENTATIONS}; got "
                f"{config['augmentation']!r}"
            )
        channels = data["input_shape"][-1]
        if config["augmentation"] != "digits" and channels != 3:
            raise ValueError(
                f"--set augmentation={config['augmentation']} (colour jitter, "
                f"grayscale) needs RGB images; these have {channels} "
                "channel(s)"
            )
        return super().build_model(data, config, steps_per_epoch)

    def augment(self, batch, seed, config):
        x, index = batch
        first, second = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2)
        )
        return (view(x, first, config), view(x, second, config)), index

    def train_dataset(
        self, data, batch_size, seed, initial_epoch, epochs, config=None
    ):
        dataset, _ = super().train_dataset(
            data, batch_size, seed, initial_epoch, epochs, config
        )
        full = dataset.filter(
            lambda views, index: tf.shape(index)[0] == batch_size
        )
        return full, self.steps_per_epoch(data, batch_size)


def view(x, seed, config):
    """One augmented view of the batch `x` (see `MoCoRecipe`)."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    kind = config["augmentation"]
    if kind == "digits":
        x = augment.random_shift(x, config["max_shift"], seeds[0])
        x = augment.random_erasing(x, config["erase_size"], seeds[1])
        return augment.random_noise(x, config["noise"], seeds[2])
    x = augment.random_resized_crop(x, seeds[0], scale=(0.2, 1.0))
    if kind == "v1":
        x = augment.random_grayscale(x, 0.2, seeds[1])
        x = augment.random_color_jitter(x, 0.4, 0.4, 0.4, 0.4, seeds[2])
    else:
        x = augment.random_color_jitter(
            x, 0.4, 0.4, 0.4, 0.1, seeds[1], probability=0.8
        )
        x = augment.random_grayscale(x, 0.2, seeds[2])
        x = augment.random_gaussian_blur(x, seeds[3], probability=0.5)
    return augment.random_flip(x, seeds[4])
