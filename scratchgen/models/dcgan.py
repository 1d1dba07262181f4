"""DCGAN (Radford, Metz & Chintala, 2016): a GAN made of convolutions.

The generator *grows* an image: a linear layer turns z (100 numbers) into a
stack of small feature maps, 2c x s/4 x s/4, and two transposed
convolutions with kernel 4, stride 2, padding 1 each double the side,

    H_out = (H - 1) * 2 - 2 * 1 + 4 = 2 H,

so 7 -> 14 -> 28 for Fashion-MNIST and MNIST, 2 -> 4 -> 8 for the 8x8
digits.  The discriminator mirrors it with strided convolutions
(28 -> 14 -> 7) instead of pooling, then one linear layer to a logit.

The paper's rules, all kept here:

* BatchNorm in both networks, except D's first layer (normalising the
  real images' first features would hide their statistics from D) and G's
  output layer;
* ReLU in G, LeakyReLU(0.2) in D; tanh on G's output, so data are scaled
  from [0, 1] to [-1, 1] for D, ``x' = 2x - 1`` (and samples back);
* weights drawn from N(0, 0.02) (BatchNorm scales from N(1, 0.02)), biases 0;
* Adam with lr 2e-4 and betas (0.5, 0.999): beta1 = 0.9 made training
  oscillate; batch 64; z of 100.

The layer builders take ``layers`` (``scratchgen.nn`` or ``torch.nn``: the
class names and state-dict keys are the same), so a PyTorch twin of
exactly this network can be built from the same lines for a comparison
(``benchmarks/``).  Losses: :mod:`.gan_losses` (the non-saturating G loss).
"""
from __future__ import annotations

from .. import nn
from ..autograd import no_grad
from ..creation import randn
from ..optim import Adam
from .blocks import images_of, unconditional
from .gan_losses import minimax_discriminator_loss, nonsaturating_generator_loss


def _base(image_shape) -> int:
    """The side of the smallest feature map (two stride-2 layers: side / 4)."""
    c, h, w = image_shape
    if h != w or h % 4:
        raise ValueError(f"DCGAN needs square images whose side is a multiple of 4 "
                         f"(28x28, 8x8); got {tuple(image_shape)}")
    return h // 4


def generator(latent_dim=100, image_shape=(1, 28, 28), channels=64, layers=nn):
    """z (N, latent_dim) -> images (N, C, s, s) in [-1, 1]."""
    c, base = image_shape[0], _base(image_shape)
    return layers.Sequential(
        layers.Linear(latent_dim, 2 * channels * base * base),
        layers.Unflatten(1, (2 * channels, base, base)),
        layers.BatchNorm2d(2 * channels), layers.ReLU(),
        layers.ConvTranspose2d(2 * channels, channels, 4, 2, 1),        # s/4 -> s/2
        layers.BatchNorm2d(channels), layers.ReLU(),
        layers.ConvTranspose2d(channels, c, 4, 2, 1), layers.Tanh())    # s/2 -> s


def discriminator_body(image_shape=(1, 28, 28), channels=64, batch_norm=True, layers=nn):
    """Images (N, C, s, s) -> features (N, 2c * (s/4)^2); no BatchNorm in the
    first layer, none at all with ``batch_norm=False`` (a WGAN-GP critic:
    BatchNorm makes each example's score depend on the others, and the
    gradient penalty is a per-example quantity)."""
    c = image_shape[0]
    norm = [layers.BatchNorm2d(2 * channels)] if batch_norm else []
    return [layers.Conv2d(c, channels, 4, 2, 1), layers.LeakyReLU(0.2),           # s -> s/2
            layers.Conv2d(channels, 2 * channels, 4, 2, 1), *norm, layers.LeakyReLU(0.2),
            layers.Flatten()]                                                   # s/2 -> s/4


def feature_count(image_shape, channels=64) -> int:
    return 2 * channels * _base(image_shape) ** 2


def discriminator(image_shape=(1, 28, 28), channels=64, batch_norm=True, layers=nn):
    """Images (N, C, s, s) -> one logit (or critic score) each, (N, 1)."""
    return layers.Sequential(*discriminator_body(image_shape, channels, batch_norm, layers),
                             layers.Linear(feature_count(image_shape, channels), 1))


def dcgan_init_(module) -> None:
    """Radford et al.'s initialisation, in place: every convolution and linear
    weight ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), all biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0 if isinstance(m, nn.BatchNorm2d) else 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def to_tanh_range(images):
    """[0, 1] (the data sets' scale) -> [-1, 1] (tanh's)."""
    return images * 2 - 1


def from_tanh_range(images):
    return (images + 1) / 2


def radford_adam(params, lr):
    """Adam with the DCGAN paper's betas (0.5, 0.999)."""
    return Adam(params, lr=lr, betas=(0.5, 0.999))


class DCGAN(nn.Module):
    """The DCGAN of the module docstring.  ``sample`` returns images in [0, 1]."""

    def __init__(self, image_shape=(1, 28, 28), latent_dim=100, channels=64):
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.generator = generator(latent_dim, self.image_shape, channels)
        self.discriminator = discriminator(self.image_shape, channels)
        dcgan_init_(self)

    def sample(self, n, labels=None):
        unconditional(labels, "DCGAN")
        with no_grad():
            return from_tanh_range(self.generator(randn(n, self.latent_dim)))

    def make_optimizers(self, lr):
        return {"discriminator": radford_adam(self.discriminator.parameters(), lr),
                "generator": radford_adam(self.generator.parameters(), lr)}

    def train_step(self, batch, optimizers):
        """One D update (real -> 1, fake -> 0), then one G update on the same
        fakes (non-saturating loss), as in PyTorch's DCGAN example."""
        real = to_tanh_range(images_of(batch))
        fake = self.generator(randn(real.shape[0], self.latent_dim))
        return adversarial_step(self.discriminator, real, fake, optimizers)


def adversarial_step(judge, real, fake, optimizers) -> dict:
    """One discriminator update on ``real`` and ``fake`` (real -> 1, fake -> 0;
    ``fake`` detached, so G is not touched), then one generator update
    through the same fakes with the non-saturating loss.  ``judge(x)`` gives
    D's logits."""
    d_opt, g_opt = optimizers["discriminator"], optimizers["generator"]
    d_opt.zero_grad()
    d_loss = minimax_discriminator_loss(judge(real), judge(fake.detach()))
    d_loss.backward()
    d_opt.step()

    g_opt.zero_grad()
    g_loss = nonsaturating_generator_loss(judge(fake))
    g_loss.backward()
    g_opt.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
