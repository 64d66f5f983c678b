"""Data sets and `tf.data` pipelines of keras_ssl.

Everything works offline: scikit-learn's bundled digits are the default
data set, two moons the 2-D toy, wine and breast cancer the tabular sets
(`tabular`); TensorFlow Datasets sets (MNIST, CIFAR-10,
SVHN, ...) load when a user has prepared them. Three loaders, by scope:

- `load_dataset(name)`: a data set by name (`DATASETS` or a TFDS builder)
  as `((x_train, y_train), (x_test, y_test))`;
- `load_tfds(name, split)`: one split of a TFDS set as `(x, y)` (or a
  `tf.data.Dataset`);
- `tfds_split(name)`: a TFDS set's train and test splits as the data dict
  of the recipes (`keras_ssl.run.train(..., data=...)`), which
  `image_data(train, test, ...)` builds from arrays.
"""

from keras_ssl.data.add_shortcut_marker import SHORTCUT_MARKER
from keras_ssl.data.add_shortcut_marker import add_shortcut_marker
from keras_ssl.data.check_semi_supervised_split import (
    check_semi_supervised_split,
)
from keras_ssl.data.digits import digits
from keras_ssl.data.digits_preprocessing import digits_preprocessing
from keras_ssl.data.far_points import far_points
from keras_ssl.data.gaussian_noise import gaussian_noise
from keras_ssl.data.held_out_classes import held_out_classes
from keras_ssl.data.image_data import image_data
from keras_ssl.data.load_dataset import DATASETS
from keras_ssl.data.load_dataset import load_dataset
from keras_ssl.data.load_tfds import load_tfds
from keras_ssl.data.make_dataset import make_dataset
from keras_ssl.data.raw_digits import raw_digits
from keras_ssl.data.semi_supervised_dataset import semi_supervised_dataset
from keras_ssl.data.semi_supervised_split import semi_supervised_split
from keras_ssl.data.shortcut_digits import shortcut_digits
from keras_ssl.data.tabular import TABULAR_DATASETS
from keras_ssl.data.tabular import raw_tabular
from keras_ssl.data.tabular import tabular
from keras_ssl.data.tabular import tabular_preprocessing
from keras_ssl.data.tfds_split import tfds_split
from keras_ssl.data.two_moons import two_moons
from keras_ssl.data.uniform_noise import uniform_noise
from keras_ssl.data.with_index import with_index

__all__ = [
    "DATASETS",
    "SHORTCUT_MARKER",
    "add_shortcut_marker",
    "TABULAR_DATASETS",
    "check_semi_supervised_split",
    "digits",
    "digits_preprocessing",
    "far_points",
    "gaussian_noise",
    "held_out_classes",
    "image_data",
    "load_dataset",
    "load_tfds",
    "make_dataset",
    "raw_digits",
    "raw_tabular",
    "semi_supervised_dataset",
    "semi_supervised_split",
    "shortcut_digits",
    "tabular",
    "tabular_preprocessing",
    "tfds_split",
    "two_moons",
    "uniform_noise",
    "with_index",
]
