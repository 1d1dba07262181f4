"""The conditional GAN (Mirza & Osindero 2014): generate the class you ask for.

An unconditional GAN learns p(x) and draws whatever it draws.  A conditional
one learns p(x | y): the label y goes into *both* networks.

* **Generator**: the one-hot label is concatenated to the noise,
  ``G([z, onehot(y)])``.  Its first (linear) layer then adds a learnt
  per-class vector to its pre-activations: the label steers every later
  layer from the start.
* **Discriminator**: a *projection* discriminator (Miyato & Koyama 2018).
  With features ``h = phi(x)`` of the image,

      D(x, y) = w . h + b  +  e_y . h

  where ``e_y`` is a learnt embedding of the class.  The first term asks
  "is this a real image?", the second "is it a real image *of class y*?".
  Miyato & Koyama derive it from the optimal discriminator's log-density
  ratio ``log p(y|x)/q(y|x) + log p(x)/q(x)`` under a log-linear model of
  the class posterior; it trains better than concatenating y to x, because
  the label acts on features rather than on pixels.

Both are the DCGAN networks (:mod:`.dcgan`) otherwise, with the same
losses, initialisation and optimizer.  ``sample(n, labels)`` generates
the classes asked for (default: 0, 1, ..., K-1, 0, 1, ...).
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor, no_grad
from ..backend import asarray, xp
from ..creation import randn
from ..ops import concatenate
from . import dcgan


class ConditionalGAN(nn.Module):
    """Class-conditional DCGAN with a projection discriminator; samples in [0, 1]."""

    def __init__(self, image_shape=(1, 28, 28), n_classes=10, latent_dim=100, channels=64):
        super().__init__()
        self.image_shape, self.n_classes, self.latent_dim = tuple(image_shape), n_classes, latent_dim
        self.generator = dcgan.generator(latent_dim + n_classes, self.image_shape, channels)
        self.features = nn.Sequential(*dcgan.discriminator_body(self.image_shape, channels))
        width = dcgan.feature_count(self.image_shape, channels)
        self.head = nn.Linear(width, 1)
        self.class_embedding = nn.Embedding(n_classes, width)
        dcgan.dcgan_init_(self)
        nn.init.normal_(self.class_embedding.weight, 0.0, 0.02)

    def check_labels(self, labels) -> Tensor:
        """``labels`` as an integer tensor, each one a class this model has."""
        y = asarray(labels.data if isinstance(labels, Tensor) else labels)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"labels must be a 1-D sequence of integers; got {y.dtype} "
                             f"of shape {tuple(y.shape)}")
        if y.size and not (0 <= int(y.min()) and int(y.max()) < self.n_classes):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise ValueError(f"label {bad} is out of range: this model has classes "
                             f"0..{self.n_classes - 1}")
        return Tensor(y)

    def generate(self, labels: Tensor) -> Tensor:
        """Images in [-1, 1], one of each class in ``labels``."""
        onehot = Tensor(xp.eye(self.n_classes, dtype=xp.float32)[labels.data])
        return self.generator(concatenate([randn(labels.shape[0], self.latent_dim), onehot], 1))

    def judge(self, x: Tensor, labels: Tensor) -> Tensor:
        # D(x, y) = w . h + b + e_y . h, with h = phi(x)
        h = self.features(x)
        return self.head(h) + (self.class_embedding(labels) * h).sum(axis=1, keepdims=True)

    def sample(self, n, labels=None):
        if labels is None:
            labels = xp.arange(n) % self.n_classes
        y = self.check_labels(labels)
        if y.shape[0] != n:
            raise ValueError(f"asked for {n} samples but gave {y.shape[0]} labels; "
                             "give one label per sample")
        with no_grad():
            return dcgan.from_tanh_range(self.generate(y))

    def make_optimizers(self, lr):
        d_params = [*self.features.parameters(), *self.head.parameters(),
                    *self.class_embedding.parameters()]
        return {"discriminator": dcgan.radford_adam(d_params, lr),
                "generator": dcgan.radford_adam(self.generator.parameters(), lr)}

    def train_step(self, batch, optimizers):
        """As DCGAN's step; fakes are made for the batch's own labels, so D
        sees each class as often in real and in fake images."""
        if not isinstance(batch, (tuple, list)):
            raise ValueError("the conditional GAN trains on labelled data (images, labels); "
                             "use a data set with labels (digits, mnist, fashion)")
        images, labels = batch
        real = dcgan.to_tanh_range(images)
        return dcgan.adversarial_step(lambda x: self.judge(x, labels), real,
                                      self.generate(labels), optimizers)
