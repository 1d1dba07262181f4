"""The generative adversarial network (Goodfellow et al., 2014), with MLPs.

A generator G maps noise z ~ N(0, I) to data space; a discriminator D maps
a point to a logit, the log-odds that it is real.  D is trained as a
classifier, real -> 1 and fake -> 0, with binary cross-entropy on logits:

    L_D = softplus(-D(x)) + softplus(D(G(z)))

G is trained with the *non-saturating* loss: instead of minimising
log(1 - sigmoid(D(G(z)))), whose gradient vanishes exactly when D confidently
rejects G's samples (early in training), it maximises log sigmoid(D(G(z))):

    L_G = softplus(-D(G(z)))  =  BCE-with-logits(D(G(z)), 1)

(``g_loss="minimax"`` trains with the game's own loss, for comparison.)

Both are binary cross-entropy on logits, stable for any logit (the losses
of the whole GAN family are derived in :mod:`.gan_losses`).

Packing (PacGAN, Lin et al., 2018): with ``pack = m`` the discriminator
judges m samples at once, concatenated.  A generator that collapses onto a
few modes makes packs with tell-tale repeats, so D can punish collapse; this
is the standard cure on the ring of 8 Gaussians.
"""
from __future__ import annotations

from .. import nn, optim
from ..autograd import no_grad
from ..creation import randn
from .blocks import critic_slices, images_of, mlp, numel, unconditional
from .gan_losses import (minimax_discriminator_loss, minimax_generator_loss,
                         nonsaturating_generator_loss)

#: the generator's loss: the game's own (``"minimax"``, which saturates) or
#: the non-saturating one (the default; see :mod:`.gan_losses`)
G_LOSSES = {"non-saturating": nonsaturating_generator_loss, "minimax": minimax_generator_loss}


class GAN(nn.Module):
    """MLP GAN for points (``data_shape=(2,)``) or small images (``(1, 8, 8)``,
    whose generator ends in a sigmoid so samples lie in [0, 1])."""

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=128, g_depth=2, d_depth=2,
                 pack=1, d_steps=1, d_dropout=0.0, g_loss="non-saturating"):
        super().__init__()
        self.data_shape, self.latent_dim, self.hidden = tuple(data_shape), latent_dim, hidden
        self.g_depth, self.d_depth, self.pack, self.d_steps = g_depth, d_depth, pack, d_steps
        if g_loss not in G_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(G_LOSSES)}; got {g_loss!r}")
        self.g_loss = g_loss
        dim = numel(data_shape)
        is_image = len(self.data_shape) > 1
        self.generator = mlp([latent_dim] + [hidden] * g_depth + [dim], nn.ReLU,
                             output=nn.Sigmoid() if is_image else None)
        # dropout in D keeps it from memorising a small training set (digits)
        self.discriminator = mlp([dim * pack] + [hidden] * d_depth + [1],
                                 lambda: nn.LeakyReLU(0.2), dropout=d_dropout)

    def generate(self, n):
        return self.generator(randn(n, self.latent_dim)).reshape(n, *self.data_shape)

    def judge(self, x):
        """D's logits, one per pack of ``pack`` consecutive examples."""
        return self.discriminator(x.reshape(x.shape[0] // self.pack, -1))

    def discriminator_loss(self, real, fake):
        return minimax_discriminator_loss(self.judge(real), self.judge(fake))

    def generator_loss(self, fake):
        return G_LOSSES[self.g_loss](self.judge(fake))

    def sample(self, n, labels=None):
        unconditional(labels, "GAN")
        with no_grad():
            return self.generate(n)

    # -- training -------------------------------------------------------
    def make_optimizers(self, lr):
        adam = lambda params: optim.Adam(params, lr=lr, betas=(0.5, 0.999))  # noqa: E731
        return {"discriminator": adam(self.discriminator.parameters()),
                "generator": adam(self.generator.parameters())}

    def train_step(self, batch, optimizers):
        """``d_steps`` discriminator updates, each on its own slice of the
        batch and fresh fakes, then one generator update."""
        real = images_of(batch)
        d_opt, g_opt = optimizers["discriminator"], optimizers["generator"]
        for piece in critic_slices(real, self.d_steps, self.pack):
            d_opt.zero_grad()
            with no_grad():  # D's step needs no gradient through G
                fake = self.generate(piece.shape[0])
            d_loss = self.discriminator_loss(piece, fake)
            d_loss.backward()
            d_opt.step()

        g_opt.zero_grad()
        g_loss = self.generator_loss(self.generate(piece.shape[0]))
        g_loss.backward()
        g_opt.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
