"""The figures of a generative autoencoder: reconstruction, samples, codes."""

import numpy as np
import tensorflow as tf

from keras_ssl.evaluation.frechet_distance import frechet_distance
from keras_ssl.evaluation.predict_in_batches import predict_in_batches


def generative_metrics(
    model,
    x_train,
    x_test,
    feature_model=None,
    num_samples=None,
    seed=0,
    batch_size=512,
):
    """Reconstruction, sample quality and latent statistics of a model.

    `model` is anything with the generative family's `encode(x)`
    (`{"latent": ...}`), `decode(z)` and `reconstruct(x)` (`{"images":
    ...}`), e.g. `keras_ssl.generative.PGA` or its `Autoencoder` control.

    Args:
        model: the generative model.
        x_train: the training images: the reference set of the Fréchet
            distances and the images whose codes are summarised.
        x_test: held-out images for the reconstruction error.
        feature_model: optional `keras.Model` for the Fréchet distance in
            its features (`fd_features`), e.g. the hidden layer of a
            classifier; the images are passed to it as they are.
        num_samples: generated images per distance; default
            `len(x_train)`.
        seed: the seed of the prior draws and of the ex-post Gaussian.
        batch_size: inference batch.

    Returns:
        A dict of floats:

        - `reconstruction_mse`: the mean over all elements of `(x -
          reconstruct(x))^2` on `x_test`;
        - `fd_pixels`: the Fréchet distance between `num_samples` images
          `decode(z)`, `z ~ N(0, I)`, and `x_train`, on the flattened
          pixels; `fd_features` the same in `feature_model`'s features;
        - `ex_post_fd_pixels`, `ex_post_fd_features`: the same for codes
          drawn from the Gaussian fitted to the training codes (mean and
          covariance; the "ex-post density" of RAE-style models);
        - `latent_mean_norm`: `||mean E(x)||` over `x_train`;
        - `latent_covariance_error`: `||Cov E(x) - I||_F` over `x_train`;
        - `prior_latent_reconstruction`: the mean over all elements of
          `(z - E(D(z)))^2` for the `N(0, I)` draws.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    (x, _), (x_test, _) = keras_ssl.data.digits()
    x, x_test = 2.0 * x - 1.0, 2.0 * x_test - 1.0
    networks = keras_ssl.generative.Autoencoder.mlp_networks(
        x.shape[1:], latent_dim=4, hidden=(16,)
    )
    model = keras_ssl.generative.Autoencoder(**networks)
    metrics = keras_ssl.evaluation.generative_metrics(
        model, x[:200], x_test[:50]
    )
    sorted(metrics)[:2]  # ['ex_post_fd_pixels', 'fd_pixels']
    ```
    """
    x_train = np.asarray(x_train, dtype="float32")
    x_test = np.asarray(x_test, dtype="float32")
    num_samples = len(x_train) if num_samples is None else int(num_samples)
    encode = tf.function(model.encode)
    decode = tf.function(model.decode)

    def run(function, inputs, key):
        return predict_in_batches(function, inputs, batch_size)[key]

    rebuilt = run(tf.function(model.reconstruct), x_test, "images")
    codes = run(encode, x_train, "latent").astype("float64")
    latent_dim = codes.shape[1]
    rng = np.random.default_rng(seed)
    prior = rng.standard_normal((num_samples, latent_dim)).astype("float32")
    mean, covariance = codes.mean(axis=0), np.cov(codes, rowvar=False)
    fitted = rng.multivariate_normal(
        mean, np.atleast_2d(covariance), size=num_samples
    ).astype("float32")
    samples = run(decode, prior, "images")
    ex_post = run(decode, fitted, "images")
    round_trip = run(encode, samples, "latent")
    metrics = {
        "reconstruction_mse": float(np.mean(np.square(x_test - rebuilt))),
        "fd_pixels": frechet_distance(samples, x_train),
        "ex_post_fd_pixels": frechet_distance(ex_post, x_train),
        "latent_mean_norm": float(np.linalg.norm(mean)),
        "latent_covariance_error": float(
            np.linalg.norm(np.atleast_2d(covariance) - np.eye(latent_dim))
        ),
        "prior_latent_reconstruction": float(
            np.mean(np.square(prior - round_trip))
        ),
    }
    if feature_model is not None:
        metrics["fd_features"] = frechet_distance(
            samples, x_train, feature_model, batch_size
        )
        metrics["ex_post_fd_features"] = frechet_distance(
            ex_post, x_train, feature_model, batch_size
        )
    return dict(sorted(metrics.items()))
