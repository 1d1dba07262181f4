"""The convolutional VAE and the conditional VAE.

The MLP VAE flattens an image and so must learn from scratch that nearby
pixels go together; a convolution knows it by construction (weights shared
over positions, small receptive fields), the prior that made CNNs win on
images.  Here:

    encoder  x (c, s, s) -> Conv2d(c, 32, 4, stride 2, pad 1) -> ReLU   (s/2)
                         -> Conv2d(32, 64, 4, stride 2, pad 1) -> ReLU  (s/4)
                         -> Flatten [+ y] -> Linear -> ReLU -> Linear -> (mu, logvar)
    decoder  z [+ y] -> Linear -> ReLU -> Linear -> ReLU -> (64, s/4, s/4)
                         -> ConvTranspose2d(64, 32, 4, 2, 1) -> ReLU   (s/2)
                         -> ConvTranspose2d(32, c, 4, 2, 1)            (s: logits)

A conditional model ([+ y]) also appends the one-hot label to the input of
each convolution, as K constant planes (``vae.with_label``), so each of
them takes K more input channels.  Away from the border, a convolution of a
constant plane is a constant: the layer adds a learnt vector per class to
its output channels, a class-dependent bias at every depth.

A stride-2 convolution with kernel 4 and padding 1 halves the side exactly,
(s + 2 - 4) / 2 + 1 = s / 2, and the transposed one with the same numbers
doubles it back, (s/2 - 1) 2 - 2 + 4 = s: the decoder mirrors the encoder.
So the side must be divisible by 4 (by 2 per convolution): 28 and 8 are.

Everything else (ELBO, IWAE, beta, the decoder's distribution, labels) is
:class:`~scratchgen.models.vae.VAEBase`'s.  The :class:`ConditionalVAE` is
this network with ``n_classes`` = 10: the label enters every layer of
both networks.
"""
from __future__ import annotations

from itertools import pairwise

from .. import nn
from .vae import VAEBase


class ConvVAE(VAEBase):
    """Strided-convolution encoder, transposed-convolution decoder, for
    images ``image_shape = (c, s, s)`` with s divisible by ``2 ** len(channels)``
    (28×28 and 8×8 with the default two layers); Bernoulli decoder on logits.
    ``hidden`` is the width of the dense layer on each side."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim=20, channels=(32, 64), hidden=256,
                 beta=1.0, likelihood="bernoulli", n_classes=0):
        super().__init__(image_shape, latent_dim, beta, likelihood, n_classes)
        self.channels, self.hidden = tuple(channels), hidden
        c, side = self.image_shape[0], self.image_shape[-1]
        factor = 2 ** len(self.channels)
        if len(self.image_shape) != 3 or self.image_shape[1] != side or side % factor:
            raise ValueError(f"ConvVAE needs square images (c, s, s) with s divisible by "
                             f"{factor} (one halving per conv layer); got {self.image_shape}")
        small = side // factor
        flat = self.channels[-1] * small * small
        k = self.n_classes  # the label's planes at each convolution's input
        down = []
        for c_in, c_out in pairwise((c, *self.channels)):
            down += [nn.Conv2d(c_in + k, c_out, 4, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*down, nn.Flatten())
        self.encoder = nn.Sequential(nn.Linear(flat + self.n_classes, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))
        up = [nn.Linear(latent_dim + self.n_classes, hidden), nn.ReLU(),
              nn.Linear(hidden, flat), nn.ReLU(), nn.Unflatten(1, (self.channels[-1], small, small))]
        out_channels = (*reversed(self.channels[:-1]), c * self.likelihood.params_per_dim)
        for i, (c_in, c_out) in enumerate(pairwise((self.channels[-1], *out_channels))):
            up.append(nn.ConvTranspose2d(c_in + k, c_out, 4, stride=2, padding=1))
            if i < len(out_channels) - 1:
                up.append(nn.ReLU())
        self.decoder = nn.Sequential(*up)


class ConditionalVAE(ConvVAE):
    """The conv VAE told the class: q(z|x, y), p(x|z, y).  ``sample(n,
    labels=...)`` draws the classes asked for; ``reconstruct(x, labels,
    as_labels=...)`` swaps them."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim=20, channels=(32, 64), hidden=256,
                 beta=1.0, likelihood="bernoulli", n_classes=10):
        if n_classes < 1:
            raise ValueError(f"a ConditionalVAE needs n_classes >= 1, got {n_classes}; "
                             "use ConvVAE for an unconditional model")
        super().__init__(image_shape, latent_dim, channels, hidden, beta, likelihood, n_classes)
