"""Generative autoencoders: models you can encode with and sample from.

`Autoencoder` is the family's base and control (reconstruction only);
`PGA` (perceptual generative autoencoders, LPGA and VPGA) adds the terms
that make its latent space match `N(0, I)`. Both share `encode`,
`decode`, `reconstruct`, `sample` and the exported `sample` (from a
batch of codes), `encode` and `reconstruct` endpoints.
"""

from keras_ssl.generative.autoencoder import Autoencoder
from keras_ssl.generative.pga import PGA

__all__ = ["Autoencoder", "PGA"]
