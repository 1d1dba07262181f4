"""WGAN-GP (Gulrajani et al., 2017): the Wasserstein GAN with a gradient penalty.

A GAN's discriminator is a classifier: once it separates real from fake
perfectly, its loss is flat and G gets no signal, and G can win by covering
a few modes well.  The Wasserstein GAN replaces it by a *critic* D that
scores points, trained to estimate the earth-mover distance

    W(P_r, P_g) = sup_{||D||_L <= 1}  E D(x_real) - E D(G(z))

(Kantorovich-Rubinstein duality).  W shrinks smoothly as P_g moves toward
P_r, even when the two do not overlap, and a mode that G misses keeps W
large: the critic points G at it.  The constraint ||D||_L <= 1 is kept by
the gradient penalty ``10 E (||grad D(x_hat)|| - 1)^2`` on random
interpolates between real and fake points (:mod:`.gan_losses`, where the
losses are derived).  Training follows the paper's Algorithm 1:

* ``n_critic = 5`` critic steps per generator step (the critic should be
  near its optimum for its W estimate to mean something), each on its own
  slice of the batch and fresh fakes;
* Adam with lr 1e-4 and betas (0, 0.9): no momentum in the first moment,
  which the paper found more stable for the moving critic target;
* no BatchNorm in the critic (the penalty is per example; BatchNorm would
  couple the examples of a batch).

Two forms, chosen by ``data_shape``: MLPs for 2-D points (``(2,)``), and
for images ``(C, s, s)`` the DCGAN generator with the DCGAN discriminator
minus its BatchNorm as the critic.  Packing (PacGAN) also works here: with
``pack = m`` the critic scores m points at once.
"""
from __future__ import annotations

from .. import nn
from ..autograd import no_grad
from ..creation import randn
from ..optim import Adam
from . import dcgan
from .blocks import critic_slices, images_of, mlp, numel, unconditional
from .gan_losses import gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss


class WGANGP(nn.Module):
    """WGAN-GP for points (MLPs) or images (convolutions; samples in [0, 1])."""

    def __init__(self, data_shape=(2,), latent_dim=2, hidden=256, depth=3, channels=64,
                 n_critic=5, gp_weight=10.0, pack=1):
        super().__init__()
        self.data_shape, self.latent_dim = tuple(data_shape), latent_dim
        self.n_critic, self.gp_weight, self.pack = n_critic, gp_weight, pack
        self.is_image = len(self.data_shape) == 3
        if self.is_image:
            if pack != 1:
                raise ValueError("packing is for the MLP critic of 2-D points; use pack=1 "
                                 "for images")
            self.generator = dcgan.generator(latent_dim, self.data_shape, channels)
            self.critic = dcgan.discriminator(self.data_shape, channels, batch_norm=False)
            dcgan.dcgan_init_(self)
        else:
            dim = numel(self.data_shape)
            self.generator = mlp([latent_dim] + [hidden] * depth + [dim], nn.ReLU)
            self.critic = mlp([dim * pack] + [hidden] * depth + [1], lambda: nn.LeakyReLU(0.2))

    def generate(self, n):
        return self.generator(randn(n, self.latent_dim)).reshape(n, *self.data_shape)

    def score(self, x):
        """The critic's score, one per pack of ``pack`` consecutive examples."""
        return self.critic(x.reshape(x.shape[0] // self.pack, -1) if self.pack > 1 else x)

    def critic_loss(self, real, fake):
        """E D(fake) - E D(real) + gradient penalty (on packs, when packing)."""
        loss = wasserstein_critic_loss(self.score(real), self.score(fake))
        if self.pack > 1:  # interpolate whole packs: the critic's inputs
            real = real.reshape(real.shape[0] // self.pack, -1)
            fake = fake.reshape(fake.shape[0] // self.pack, -1)
        return loss + gradient_penalty(self.critic, real, fake, self.gp_weight)

    def sample(self, n, labels=None):
        unconditional(labels, "WGAN-GP")
        with no_grad():
            x = self.generate(n)
            return dcgan.from_tanh_range(x) if self.is_image else x

    def make_optimizers(self, lr):
        adam = lambda params: Adam(params, lr=lr, betas=(0.0, 0.9))  # noqa: E731
        return {"critic": adam(self.critic.parameters()),
                "generator": adam(self.generator.parameters())}

    def train_step(self, batch, optimizers):
        real = images_of(batch)
        if self.is_image:
            real = dcgan.to_tanh_range(real)
        c_opt, g_opt = optimizers["critic"], optimizers["generator"]
        for piece in critic_slices(real, self.n_critic, self.pack):
            c_opt.zero_grad()
            with no_grad():  # the critic's step needs no gradient through G
                fake = self.generate(piece.shape[0])
            c_loss = self.critic_loss(piece, fake)
            c_loss.backward()
            c_opt.step()

        g_opt.zero_grad()
        g_loss = wasserstein_generator_loss(self.score(self.generate(piece.shape[0])))
        g_loss.backward()
        g_opt.step()
        return {"critic_loss": c_loss.detach(), "g_loss": g_loss.detach()}
