"""MADE: a masked autoencoder that is an exact autoregressive model
(Germain, Gregor, Murray & Larochelle, 2015).

Chain rule of probability: for any ordering of the D pixels,

    p(x) = prod_d p(x_d | x_<d),     log p(x) = sum_d log p(x_d | x_<d),

so a network whose d-th output sees only the pixels before d (in the
ordering) defines a normalised distribution: each factor is a Bernoulli,
``p(x_d = 1 | x_<d) = sigmoid(logit_d)``, and the product sums to 1 over
all 2^D images.  The likelihood is exact, in nats: the sum over pixels of
binary cross-entropies.

MADE gets that property from an ordinary MLP by cutting connections.  Give
every input a *degree* m(d) in 1..D (its place in the ordering), every
hidden unit k a degree m(k) in 1..D-1 (the most inputs it may depend on),
and keep

    hidden weights   W[k, k'] iff m(k) >= m(k')      (from the layer below)
    output weights   V[d, k]  iff m(d) >  m(k)       (strictly: x_d must not see x_d)

Then, by induction over layers, a unit of degree m depends only on inputs of
degree <= m, and output d only on inputs of degree < m(d).  One forward
pass gives all D conditionals at once.

Sampling has to go the slow way, pixel by pixel in the ordering: x_d is drawn
after the pixels it depends on (D network passes: *ancestral sampling*).

Order and connectivity agnostic training: with ``num_masks > 1`` each
training step uses the next of ``num_masks`` seeded mask sets (and, if
``order_agnostic``, a different random ordering per set), so the network
learns an ensemble of models sharing its weights; evaluation averages their
probabilities, ``log (1/K) sum_k p_k(x)``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..backend import xp
from ..creation import tensor
from .blocks import numel


def made_degrees(d: int, hidden, order, rng):
    """The degrees of MADE's units: the inputs' ``order`` (a permutation of
    1..D), then per hidden layer a degree for each unit, uniform between the
    previous layer's smallest degree and D - 1 (a unit of degree D could not
    feed any output)."""
    degrees = [np.asarray(order)]
    for size in hidden:
        low = min(int(degrees[-1].min()), d - 1)
        degrees.append(rng.integers(low, d, size=size))  # integers in [low, D - 1]
    return degrees


def made_masks(degrees):
    """The 0/1 masks (out, in) of each layer, in Linear's weight layout:
    hidden layers ``m_out >= m_in``, the output layer ``m_out > m_in``
    (outputs have the inputs' degrees)."""
    masks = [(out[:, None] >= inp[None, :]) for inp, out in zip(degrees[:-1], degrees[1:])]
    masks.append(degrees[0][:, None] > degrees[-1][None, :])
    return [m.astype(np.float32) for m in masks]


class MADE(nn.Module):
    """MADE over binary images of ``data_shape`` (e.g. (1, 8, 8)): an MLP
    ``D -> hidden... -> D`` of MaskedLinear layers with ReLU, outputting one
    Bernoulli logit per pixel.  ``natural_order``: pixels in raster order
    (else a random ordering); ``num_masks``: mask sets cycled in training
    (1: a fixed MADE); ``order_agnostic``: a new ordering with each set;
    ``seed``: the masks' seed (the masks are buffers, saved with the model)."""

    def __init__(self, data_shape=(1, 8, 8), hidden=(500,), num_masks=1, natural_order=True,
                 order_agnostic=False, seed=0):
        super().__init__()
        self.data_shape, self.hidden = tuple(data_shape), tuple(hidden)
        self.num_masks, self.natural_order = num_masks, natural_order
        self.order_agnostic, self.seed = order_agnostic, seed
        self.d = numel(data_shape)
        sizes = [self.d, *self.hidden, self.d]
        self.layers = nn.ModuleList([nn.MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.register_buffer("order", tensor(np.zeros(self.d, dtype=np.int64)))
        self.mask_index = 0
        self.use_mask_set(0)

    def use_mask_set(self, k: int):
        """Install mask set ``k`` (0 <= k < num_masks): drawn from ``seed`` and
        k alone, so the same k always gives the same masks and ordering."""
        rng = np.random.default_rng([self.seed, k])
        if self.order_agnostic and k > 0:
            order = rng.permutation(self.d) + 1
        elif self.natural_order:
            order = np.arange(1, self.d + 1)
        else:
            order = np.random.default_rng([self.seed]).permutation(self.d) + 1
        for layer, mask in zip(self.layers, made_masks(made_degrees(self.d, self.hidden, order,
                                                                    rng))):
            layer.set_mask(mask)
        self.order.data[...] = backend.asarray(order)
        self.mask_index = k

    def logits(self, x):
        """One Bernoulli logit per pixel, (n, D): logit d sees only the
        pixels before d in the ordering."""
        h = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h

    def _log_prob_one(self, x_flat):
        return -F.binary_cross_entropy_with_logits(self.logits(x_flat), x_flat,
                                                   reduction="none").sum(axis=-1)

    def log_prob(self, x):
        """log p(x) in nats per image, exact; for binary images of any shape
        (n, ...).  With several mask sets: log of their mean probability."""
        x = x if isinstance(x, Tensor) else tensor(x)
        x_flat = x.reshape(x.shape[0], -1)
        if self.num_masks == 1:
            return self._log_prob_one(x_flat)
        current, logps = self.mask_index, []
        for k in range(self.num_masks):
            self.use_mask_set(k)
            logps.append(self._log_prob_one(x_flat))
        self.use_mask_set(current)
        return F.logsumexp(F.stack(logps, axis=0), axis=0) - math.log(self.num_masks)

    def sample(self, n, labels=None):
        """``n`` binary images by ancestral sampling: D passes, pixel ``order
        == 1`` first, each drawn given those before it (mask set 0)."""
        if labels is not None:
            raise ValueError("MADE is not conditional: labels must be None")
        current = self.mask_index
        if self.num_masks > 1:
            self.use_mask_set(0)
        x = xp.zeros((n, self.d), dtype=backend.DEFAULT_FLOAT)
        positions = xp.argsort(self.order.data)  # pixel indices in sampling order
        rng = backend.generator()
        with no_grad():
            for pos in backend.to_numpy(positions):
                logit = self.logits(Tensor(x)).data[:, int(pos)]
                p = 1 / (1 + xp.exp(-logit))
                x[:, int(pos)] = (rng.random(n) < p).astype(x.dtype)
        self.use_mask_set(current)
        return Tensor(x.reshape(n, *self.data_shape))

    # -- training ---------------------------------------------------------
    def loss(self, x):
        """Mean negative log-likelihood in nats per image."""
        return -self._log_prob_one(x.reshape(x.shape[0], -1)).mean()

    def make_optimizers(self, lr):
        return {"model": optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, batch, optimizers):
        """One Adam step on a dynamically binarised batch (each pixel 1 with
        probability its grey level); with several mask sets, the next set."""
        x = batch[0] if isinstance(batch, tuple) else batch
        x = Tensor((backend.generator().random(x.shape) < x.data).astype(x.data.dtype))
        if self.num_masks > 1:
            self.use_mask_set((self.mask_index + 1) % self.num_masks)
        opt = optimizers["model"]
        opt.zero_grad()
        loss = self.loss(x)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}
