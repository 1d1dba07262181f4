"""The variational autoencoder (Kingma & Welling, 2014), with MLPs.

A latent z ~ N(0, I) generates x through a decoder p(x|z); here each pixel
is Bernoulli with probability sigmoid(decoder logits).  The encoder
q(z|x) = N(mu(x), diag exp(logvar(x))) approximates the posterior.  For any
q,

    log p(x) >= E_q[ log p(x|z) ] - KL( q(z|x) || p(z) )  =  ELBO(x),

a reconstruction term (a binary cross-entropy, summed over pixels) minus a
regulariser (closed form for two Gaussians, ``F.gaussian_kl``).  The
expectation is estimated with one sample, written as

    z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)

(the reparameterisation trick), so the sample is a differentiable function
of the encoder's outputs and backward reaches the encoder.

The importance-weighted bound (Burda et al., 2016) with k samples,

    IWAE_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),

equals the ELBO at k = 1 and rises toward log p(x) as k grows: the number
reported as the model's test log-likelihood.  Everything is in nats per
example.
"""
from __future__ import annotations

import math

import scratchgen as sg

from .. import functional as F
from .. import nn
from .blocks import mlp, numel


class VAE(nn.Module):
    """MLP VAE with a Bernoulli decoder on data in [0, 1].

    ``image_shape`` is the shape of one example, e.g. (1, 8, 8) or (64,);
    ``hidden`` the encoder's hidden widths (the decoder mirrors them)."""

    def __init__(self, image_shape=(1, 8, 8), latent_dim=2, hidden=(256,)):
        super().__init__()
        self.image_shape, self.latent_dim, self.hidden = tuple(image_shape), latent_dim, tuple(hidden)
        data_dim = numel(image_shape)
        # a linear head: mu and logvar are unbounded
        self.encoder = mlp([data_dim, *hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), data_dim])

    def _flat(self, x):
        return x.reshape(x.shape[0], -1)

    def encode(self, x):
        """(mu, logvar) of q(z|x), each of shape (n, latent_dim)."""
        h = self.encoder(self._flat(x))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode_logits(self, z):
        return self.decoder(z)

    def decode(self, z):
        """The decoder's mean: pixel probabilities, shaped like the data."""
        return F.sigmoid(self.decoder(z)).reshape(z.shape[0], *self.image_shape)

    @staticmethod
    def reparameterize(mu, logvar):
        return mu + (0.5 * logvar).exp() * sg.randn(*mu.shape, dtype=mu.dtype)

    def _log_likelihood(self, x_flat, z):
        """log p(x|z), summed over pixels (Bernoulli: minus the BCE)."""
        bce = F.binary_cross_entropy_with_logits(self.decode_logits(z), x_flat, reduction="none")
        return -bce.sum(axis=-1)

    def elbo(self, x):
        """Per-example ELBO in nats (one reparameterised sample)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self._log_likelihood(self._flat(x), z) - F.gaussian_kl(mu, logvar, reduction="none")

    def iwae(self, x, k=50):
        """Per-example importance-weighted bound IWAE_k in nats."""
        x_flat = self._flat(x)
        mu, logvar = self.encode(x)
        log_weights = []
        for _ in range(k):  # k is small; each pass is batched over the examples
            z = self.reparameterize(mu, logvar)
            log_prior = -F.gaussian_nll(z, z * 0, z * 0, reduction="none")
            log_q = -F.gaussian_nll(z, mu, logvar, reduction="none")
            log_weights.append(self._log_likelihood(x_flat, z) + log_prior - log_q)
        return F.logsumexp(F.stack(log_weights, axis=0), axis=0) - math.log(k)

    def loss(self, x):
        return -self.elbo(x).mean()

    def sample(self, n, labels=None):
        with sg.no_grad():
            return self.decode(sg.randn(n, self.latent_dim))

    # -- training -------------------------------------------------------
    def make_optimizers(self, lr):
        return {"model": sg.optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, batch, optimizers):
        x = batch[0] if isinstance(batch, tuple) else batch
        opt = optimizers["model"]
        opt.zero_grad()
        loss = self.loss(x)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}
