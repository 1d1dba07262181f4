"""The variational autoencoder (Kingma & Welling, 2014) and its family.

A latent z ~ N(0, I) generates x through a decoder p(x|z).  The encoder
q(z|x) = N(mu(x), diag exp(logvar(x))) approximates the posterior.  For any
q,

    log p(x) >= E_q[ log p(x|z) ] - KL( q(z|x) || p(z) )  =  ELBO(x),

a reconstruction term minus a regulariser (closed form for two Gaussians,
``F.gaussian_kl``).  The expectation is estimated with one sample, written as

    z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)

(the reparameterisation trick), so the sample is a differentiable function
of the encoder's outputs and backward reaches the encoder: dz/dmu = 1,
dz/dlogvar = exp(logvar / 2) * eps / 2.

The importance-weighted bound (Burda et al., 2016) with k samples,

    IWAE_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),

equals the ELBO in expectation at k = 1 and rises toward log p(x) as k
grows: the number reported as the model's test log-likelihood.  Everything
is in nats per example.

The family shares this file's :class:`VAEBase`: one ELBO, one IWAE, one
loss; a variant only chooses its parts.

* **The decoder's distribution** (a ``likelihood``, :data:`LIKELIHOODS`):
  ``"bernoulli"`` for images in [0, 1] (one logit per pixel;
  log p(x|z) = -BCE-with-logits summed over pixels), or ``"gaussian"`` for
  continuous data (below).
* **The networks**: ``features`` (x -> a flat vector: a Flatten for
  :class:`VAE`, strided convolutions for ``ConvVAE``), ``encoder`` (features
  -> mu, logvar) and ``decoder`` (z -> the distribution's parameters).
* **Conditioning** (Sohn et al., 2015): with ``n_classes > 0`` a one-hot
  label y is concatenated to the input of every layer that mixes inputs:
  to the features before the encoder's dense layers, to z before the
  decoder, and, in a conv VAE, to the input of every convolution as K
  constant planes (plane k is all ones for class k).  So q(z|x, y) and
  p(x|z, y).  The prior stays N(0, I), and the bounds are bounds on
  log p(x|y).  Since the decoder is told the class, z is free to carry what
  the label does not: the style.  Decoding one image's z with another label
  transfers its style.  Why every layer: the ELBO rewards a decoder that
  reads the class from y rather than from z by at most log K nats (the KL
  of storing the class in z), a faint signal beside some 240 nats of
  reconstruction; told the class only at its first dense layer, the
  Fashion-MNIST decoder had learnt to draw the asked class in 64% of
  samples after 10 epochs, told at every layer in 84% (real test images:
  87% classed right).
* **beta** (Higgins et al., 2017): the training loss is
  ``-(E_q[log p(x|z)] - beta * KL)``.  beta > 1 presses q toward the
  prior, trading reconstruction for latent dimensions that vary one factor
  each (disentangling); beta = 1 is the ELBO.  ``elbo`` and ``iwae`` are
  always the true bounds (beta = 1), so models trained with different beta
  compare in the same nats.

The Gaussian decoder with learned variance: the decoder outputs 2D numbers
per example, a mean m(z) and an unconstrained s(z), and

    p(x|z) = N(x; m(z), diag exp(logvar(z))),
    logvar(z) = LOGVAR_MIN + softplus(s(z) - LOGVAR_MIN).

The softplus is a smooth floor: logvar ~ s above LOGVAR_MIN and never below
it.  Without a floor the likelihood is unbounded (Mattei & Frellsen, 2018):
a decoder that puts one mean exactly on a training point and shrinks its
variance gains without end.  log p(x|z) is ``-F.gaussian_nll``, in nats.
"""
from __future__ import annotations

import math

from .. import functional as F
from .. import backend, nn, optim
from ..autograd import Tensor, no_grad
from ..backend import xp
from ..creation import randn
from ..ops import broadcast_to
from .blocks import mlp, numel

#: floor of the Gaussian decoder's log-variance: std >= exp(-5) ~ 0.0067,
#: below the 0.01 std of the ring8 modes
LOGVAR_MIN = -10.0


def reparameterize(mu, logvar):
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I): a draw of
    N(mu, diag exp(logvar)) that is differentiable in mu and logvar."""
    return mu + (0.5 * logvar).exp() * randn(*mu.shape, dtype=mu.dtype)


def with_label(h, one_hot):
    """h with the one-hot label appended along axis 1 (h alone if None):
    (n, d) -> (n, d + K) for a flat h; (n, c, a, b) -> (n, c + K, a, b) for
    feature maps, K constant planes of which the label's is all ones."""
    if one_hot is None:
        return h
    if h.ndim == 4:
        n, k = one_hot.shape
        one_hot = broadcast_to(one_hot.reshape(n, k, 1, 1), (n, k, *h.shape[2:]))
    return F.concatenate([h, one_hot], axis=1)


#: the layers a conditional model tells the label, beside the dense nets' inputs
_CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)


def _run(net, h, one_hot):
    """``net(h)``; with a label, each convolution in the Sequential ``net``
    also sees it (:func:`with_label`)."""
    if one_hot is None or not isinstance(net, nn.Sequential):
        return net(h)
    for layer in net:
        h = layer(with_label(h, one_hot) if isinstance(layer, _CONVOLUTIONS) else h)
    return h


class Bernoulli:
    """Each value x_i in [0, 1] is Bernoulli with probability sigmoid(l_i),
    l the decoder's logits: log p(x|z) = -sum_i BCE-with-logits(l_i, x_i)."""

    params_per_dim = 1

    def log_prob(self, out, x_flat):
        return -F.binary_cross_entropy_with_logits(out, x_flat, reduction="none").sum(axis=-1)

    def mean(self, out):
        return F.sigmoid(out)

    def sample(self, out):
        """The pixel probabilities: the usual picture of a VAE sample
        (Bernoulli draws of each pixel would show as speckle)."""
        return self.mean(out)


class Gaussian:
    """N(x; m, diag exp(logvar)) with a floored, learned log-variance (see
    the module docstring); ``out`` is ``[m, s]`` along the last axis."""

    params_per_dim = 2

    def split(self, out):
        d = out.shape[-1] // 2
        # logvar = LOGVAR_MIN + softplus(s - LOGVAR_MIN): smooth floor at LOGVAR_MIN
        return out[:, :d], LOGVAR_MIN + F.softplus(out[:, d:] - LOGVAR_MIN)

    def log_prob(self, out, x_flat):
        mean, logvar = self.split(out)
        return -F.gaussian_nll(x_flat, mean, logvar, reduction="none")

    def mean(self, out):
        return self.split(out)[0]

    def sample(self, out):
        """A draw x ~ p(x|z), the noise included: the points then have the
        model's density, not only its mean curve."""
        return reparameterize(*self.split(out))


LIKELIHOODS = {"bernoulli": Bernoulli(), "gaussian": Gaussian()}


class VAEBase(nn.Module):
    """What every VAE shares: the bounds, the loss, sampling, training.

    A subclass calls ``super().__init__(...)`` and then builds three modules:
    ``features`` (x -> flat vector), ``encoder`` (features [+ one-hot label]
    -> 2 * latent_dim: mu, then logvar) and ``decoder`` (z [+ one-hot
    label] -> ``likelihood.params_per_dim`` numbers per data value)."""

    def __init__(self, image_shape, latent_dim, beta=1.0, likelihood="bernoulli", n_classes=0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {likelihood!r}")
        if not beta >= 0:
            raise ValueError(f"beta weighs the KL term and must be >= 0, got {beta}")
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.beta, self.n_classes, self.likelihood_name = float(beta), int(n_classes), likelihood
        self.likelihood = LIKELIHOODS[likelihood]
        self.data_dim = numel(self.image_shape)

    reparameterize = staticmethod(reparameterize)

    # -- labels ---------------------------------------------------------
    def _one_hot(self, labels, n, dtype):
        """The (n, n_classes) one-hot matrix of ``labels`` (a Tensor, array,
        list or one int for all), or None for an unconditional model."""
        name = type(self).__name__
        if not self.n_classes:
            if labels is not None:
                raise ValueError(f"{name} is unconditional (n_classes=0) and takes no labels; "
                                 "build it with n_classes=K to condition on a class")
            return None
        if labels is None:
            raise ValueError(f"{name} is conditional ({self.n_classes} classes): pass labels=, "
                             "one class index per example")
        idx = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
        if idx.ndim == 0:
            idx = xp.full((n,), int(idx))
        if idx.shape != (n,) or idx.dtype.kind not in "iu":
            raise ValueError(f"labels must be {n} integer class indices, got shape "
                             f"{tuple(idx.shape)} of {idx.dtype}")
        checked = not (self.training and backend.ON_DEVICE)  # see nn.Embedding
        if checked and n and (int(idx.min()) < 0 or int(idx.max()) >= self.n_classes):
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1}, got "
                             f"{int(idx.min())}..{int(idx.max())}")
        return Tensor(xp.eye(self.n_classes, dtype=dtype)[idx])

    # -- the two networks -----------------------------------------------
    def encode(self, x, labels=None):
        """(mu, logvar) of q(z|x[, y]), each of shape (n, latent_dim)."""
        one_hot = self._one_hot(labels, x.shape[0], x.dtype)
        h = self.encoder(with_label(_run(self.features, x, one_hot), one_hot))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decoder_output(self, z, labels=None):
        """The decoder's raw outputs, flat (n, params_per_dim * data_dim):
        pixel logits for the Bernoulli decoder, [mean, s] for the Gaussian."""
        one_hot = self._one_hot(labels, z.shape[0], z.dtype)
        return _run(self.decoder, with_label(z, one_hot), one_hot).reshape(z.shape[0], -1)

    def decode(self, z, labels=None):
        """The decoder's mean, shaped like the data (pixel probabilities
        for the Bernoulli decoder)."""
        out = self.likelihood.mean(self.decoder_output(z, labels))
        return out.reshape(z.shape[0], *self.image_shape)

    def reconstruct(self, x, labels=None, as_labels=None):
        """decode(mu(x)): the reconstruction through the posterior mean.  A
        conditional model encodes with ``labels`` and decodes with
        ``as_labels`` (default: the same): label swapping, x's style drawn
        as another class."""
        with no_grad():
            mu, _ = self.encode(x, labels)
            return self.decode(mu, labels if as_labels is None else as_labels)

    # -- the bounds, in nats per example ----------------------------------
    def _flat(self, x):
        return x.reshape(x.shape[0], -1)

    def _elbo_terms(self, x, labels):
        """(log p(x|z) at one reparameterised z ~ q, KL(q || p)), each (n,)."""
        mu, logvar = self.encode(x, labels)
        z = reparameterize(mu, logvar)
        log_px_z = self.likelihood.log_prob(self.decoder_output(z, labels), self._flat(x))
        return log_px_z, F.gaussian_kl(mu, logvar, reduction="none")

    def elbo(self, x, labels=None):
        """Per-example ELBO in nats (one reparameterised sample; beta = 1)."""
        log_px_z, kl = self._elbo_terms(x, labels)
        return log_px_z - kl

    def iwae(self, x, k=50, labels=None):
        """Per-example importance-weighted bound IWAE_k in nats."""
        x_flat = self._flat(x)
        mu, logvar = self.encode(x, labels)
        log_weights = []
        for _ in range(k):  # each pass is batched over the examples
            z = reparameterize(mu, logvar)
            # log w = log p(x|z) + log p(z) - log q(z|x), p(z) = N(0, I)
            log_prior = -F.gaussian_nll(z, z * 0, z * 0, reduction="none")
            log_q = -F.gaussian_nll(z, mu, logvar, reduction="none")
            log_px_z = self.likelihood.log_prob(self.decoder_output(z, labels), x_flat)
            log_weights.append(log_px_z + log_prior - log_q)
        return F.logsumexp(F.stack(log_weights, axis=0), axis=0) - math.log(k)

    def loss(self, x, labels=None):
        """The batch mean of -(log p(x|z) - beta * KL): -ELBO at beta = 1."""
        return self._loss_and_kl(x, labels)[0]

    def _loss_and_kl(self, x, labels):
        log_px_z, kl = self._elbo_terms(x, labels)
        return (self.beta * kl - log_px_z).mean(), kl.mean()

    def sample(self, n, labels=None):
        """n draws from the model: z ~ N(0, I), then the decoder's
        ``likelihood.sample``.  A conditional model draws ``labels`` (one int
        for all, or n of them; default: the classes in turn, 0, 1, ...)."""
        if self.n_classes and labels is None:
            labels = xp.arange(n) % self.n_classes
        with no_grad():
            out = self.decoder_output(randn(n, self.latent_dim), labels)
            return self.likelihood.sample(out).reshape(n, *self.image_shape)

    # -- training -------------------------------------------------------
    def make_optimizers(self, lr):
        return {"model": optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, batch, optimizers):
        """One Adam step on the loss; a conditional model reads the labels
        from ``batch = (x, y)``."""
        x = batch[0] if isinstance(batch, tuple) else batch
        labels = batch[1] if self.n_classes else None
        opt = optimizers["model"]
        opt.zero_grad()
        loss, kl = self._loss_and_kl(x, labels)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "kl": kl.detach()}


class VAE(VAEBase):
    """MLP VAE.  ``image_shape`` is the shape of one example, e.g. (1, 8, 8),
    (784,) or (2,); ``hidden`` the encoder's hidden widths (the decoder
    mirrors them); Bernoulli decoder for data in [0, 1], Gaussian
    (``likelihood="gaussian"``) for continuous data such as 2-D points."""

    def __init__(self, image_shape=(1, 8, 8), latent_dim=2, hidden=(256,), beta=1.0,
                 likelihood="bernoulli", n_classes=0):
        super().__init__(image_shape, latent_dim, beta, likelihood, n_classes)
        self.hidden = tuple(hidden)
        self.features = nn.Flatten()
        # a linear head: mu and logvar are unbounded
        self.encoder = mlp([self.data_dim + self.n_classes, *hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim + self.n_classes, *reversed(self.hidden),
                            self.likelihood.params_per_dim * self.data_dim])
