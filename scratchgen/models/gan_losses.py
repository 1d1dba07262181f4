"""The losses of the GAN family, each a function of the critic's outputs.

Let ``r = D(x)`` be the discriminator's logit on real data and ``f = D(G(z))``
on fakes; ``sigma`` the logistic function, ``log sigma(t) = -softplus(-t)``.

**Minimax** (Goodfellow et al. 2014).  D maximises
``E log sigma(r) + E log(1 - sigma(f))``; as a loss to minimise,

    L_D = E softplus(-r) + E softplus(f)        (BCE: real -> 1, fake -> 0)

and G *minimises* the same value, ``E log(1 - sigma(f)) = -E softplus(f)``:

    L_G^minimax = -E softplus(f),    dL/df = -sigma(f)

which vanishes when D rejects the fakes confidently (f << 0): early in
training G learns nothing.

**Non-saturating**: G maximises ``E log sigma(f)`` instead,

    L_G^ns = E softplus(-f),    dL/df = sigma(f) - 1

which is about -1 exactly where the minimax gradient is about 0.

**Wasserstein** (Arjovsky et al. 2017).  The Kantorovich-Rubinstein
duality writes the earth-mover distance as
``W(P_r, P_g) = sup_{||D||_L <= 1} E D(x_r) - E D(x_g)``: the critic D
(scores, not logits) maximises the gap, G minimises ``-E D(G(z))``:

    L_D = E f - E r,    L_G = -E f        (gradients: constants +-1/n)

**Gradient penalty** (Gulrajani et al. 2017).  The optimal critic has
gradient norm 1 almost everywhere between the two distributions, so WGAN-GP
keeps D near 1-Lipschitz by penalising, on random interpolates
``x_hat = eps x_r + (1 - eps) x_g`` (eps ~ U[0, 1] per example),

    GP = lambda * E (||grad_x D(x_hat)||_2 - 1)^2

``grad_x D`` is computed with ``create_graph=True``: it is itself a graph,
so the optimizer can differentiate GP with respect to D's weights (a
gradient of a gradient, "double backward", through every layer of D).

All losses average over the batch ('mean'); every one is gradient- and
second-gradient-checked in ``tests/test_gan_losses.py``.
"""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor, enable_grad
from ..backward import grad
from ..creation import ones_like, rand, zeros_like


def minimax_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # L_D = E softplus(-r) + E softplus(f): BCE with real -> 1, fake -> 0
    return (F.binary_cross_entropy_with_logits(real_logits, ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, zeros_like(fake_logits)))


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    # L_G = E log(1 - sigma(f)) = -E softplus(f)   (saturates when f << 0)
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    # L_G = -E log sigma(f) = E softplus(-f) = BCE(f, 1)
    return F.binary_cross_entropy_with_logits(fake_logits, ones_like(fake_logits))


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    # L_D = E D(G(z)) - E D(x): minimising it maximises the estimated W distance
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    # L_G = -E D(G(z))
    return -fake_scores.mean()


def interpolates(real: Tensor, fake: Tensor, eps: Tensor | None = None) -> Tensor:
    """``eps * real + (1 - eps) * fake``, one ``eps ~ U[0, 1]`` per example
    (broadcast over the example's other axes)."""
    if real.shape != fake.shape:
        raise ValueError(f"interpolates: real {real.shape} and fake {fake.shape} must have "
                         "the same shape (as many fakes as real examples)")
    if eps is None:
        eps = rand(real.shape[0], *([1] * (real.ndim - 1)), dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic, real: Tensor, fake: Tensor, weight: float = 10.0,
                     eps: Tensor | None = None) -> Tensor:
    """``weight * E (||grad D(x_hat)||_2 - 1)^2`` on interpolates ``x_hat``
    (``eps`` fixes the interpolation weights, for tests).  Differentiable in
    D's parameters; no gradient reaches G through it."""
    # a fresh leaf: the gradient is taken with respect to x_hat itself
    x_hat = Tensor(interpolates(real.detach(), fake.detach(), eps).data, requires_grad=True)
    with enable_grad():  # the penalty *is* a gradient: needed even under no_grad
        (g,) = grad(critic(x_hat).sum(), x_hat, create_graph=True)
    # ||g||_2 per example; the tiny constant keeps d sqrt finite at g = 0
    norms = ((g * g).reshape(g.shape[0], -1).sum(axis=1) + 1e-12).sqrt()
    return weight * ((norms - 1) ** 2).mean()
