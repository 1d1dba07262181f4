"""A small classifier whose features judge image samples (FID-style metrics).

Distances between raw pixels are a poor judge of images: shift a digit by
one pixel and it is far from itself, while a grey smear sits close to many
digits at once.  Heusel et al. (2017) compare images in the feature space of
a trained classifier instead (Inception-v3 for FID): a classifier's last
hidden layer keeps what tells the classes apart (strokes, shapes) and drops
what does not (exact positions, noise).  Two metrics then work on the
features (see :mod:`scratchgen.metrics`):

* the **Fréchet distance** between Gaussians fitted to the features of
  generated and of real images (0 for identical first and second moments);
* **precision and recall** (Kynkäänniemi et al. 2019): how many generated
  images land on the manifold of real ones, and how much of it they cover.

Inception knows nothing of 8×8 digits, so each data set gets its own small
CNN, trained here on demand on the *training* split with a fixed seed, its
test accuracy recorded, and cached in the user cache as
``~/.cache/scratchgen/feature_nets/<dataset>.npz`` (or below
``$SCRATCHGEN_CACHE``, or a ``cache_dir`` argument), written atomically by
:func:`scratchgen.save` and read back by :func:`scratchgen.load`, no pickle.
A cache file that cannot be read, or was trained with other settings, is
replaced by a fresh training run, with a warning.

The networks (``conv`` is Conv2d k3 p1 + ReLU + MaxPool 2)::

    8×8:    conv 1→32, conv 32→64,             64·2·2 → 128 → 10
    28×28:  conv 1→32, conv 32→64, conv 64→64, 64·3·3 → 128 → 10

The features are the 128 ReLU outputs before the last layer.  On digits
about half of them never fire, so the feature covariances are singular and
SciPy's ``sqrtm`` warns "Matrix is singular"; the distance is right all
the same (a silent unit adds 0 to it).

Training budget (Adam, batch 64, :data:`BUDGETS`): digits 8 epochs over
its 1,500 training images (seconds; 99.7 % test accuracy); MNIST and
Fashion-MNIST one epoch over all 60,000 training images (about a
minute of one core's time; Fashion-MNIST 87.0 % test accuracy).  Each
net's test accuracy is stored with it and reported by ``scratchgen eval``
as ``feature_net_accuracy``: features of a classifier that cannot tell the
classes apart would judge nothing.
"""
from __future__ import annotations

import os
import warnings
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np  # host side: data sets and features are host arrays

from .. import backend, nn, optim
from ..autograd import no_grad
from ..creation import tensor
from ..data import DataLoader
from ..data.registry import IMAGE_SETS, load_dataset
from ..losses import cross_entropy
from ..serialization import load, save
from .progress import Progress

FEATURE_DIM = 128
N_CLASSES = 10
SEED = 0
ENV_VAR = "SCRATCHGEN_CACHE"


class Budget(NamedTuple):
    """How a feature network is trained (stored with it: a cached net trained
    otherwise is retrained)."""

    epochs: int
    lr: float
    n_train: int | None = None   #: first n training images; None: all
    batch_size: int = 64


BUDGETS = {
    "digits": Budget(epochs=8, lr=3e-3),
    "mnist": Budget(epochs=1, lr=2e-3),
    "fashion": Budget(epochs=1, lr=2e-3),
}
SIDES = {"digits": 8, "mnist": 28, "fashion": 28}


class FeatureNet(nn.Module):
    """``body`` maps ``(n, 1, s, s)`` images to 128 features, ``head`` the
    features to 10 class logits.  ``accuracy`` is set once it is tested."""

    def __init__(self, side: int):
        super().__init__()
        self.image_shape = (1, side, side)
        channels = (1, 32, 64) if side < 16 else (1, 32, 64, 64)
        layers = []
        for c_in, c_out in pairwise(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            side //= 2
        self.body = nn.Sequential(*layers, nn.Flatten(),
                                  nn.Linear(channels[-1] * side * side, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, N_CLASSES)
        self.accuracy = float("nan")

    def forward(self, x):
        return self.head(self.body(x))

    def _batches(self, images, batch_size):
        """Eval-mode, no-grad passes of ``images`` (host, backend or Tensor;
        ``(n, 1, s, s)`` or flattened ``(n, s*s)``) through ``body``."""
        x = backend.to_numpy(images)
        x = x.reshape((len(x),) + self.image_shape).astype(backend.DEFAULT_FLOAT, copy=False)
        self.eval()
        with no_grad():
            for start in range(0, len(x), batch_size):
                yield self.body(tensor(x[start:start + batch_size]))

    def embed(self, images, batch_size: int = 500) -> np.ndarray:
        """The ``(n, 128)`` host array of features of ``images``."""
        feats = [f.numpy() for f in self._batches(images, batch_size)]
        return np.concatenate(feats) if feats else np.zeros((0, FEATURE_DIM), np.float32)

    def predict(self, images, batch_size: int = 500) -> np.ndarray:
        """Predicted class of each image, a host integer array."""
        return np.concatenate([self.head(f).numpy().argmax(1)
                               for f in self._batches(images, batch_size)])


def train_feature_net(dataset: str, budget: Budget | None = None, root=None,
                      progress: bool = False) -> FeatureNet:
    """Train the feature network of ``dataset`` from scratch on its training
    split (seeded: the same net on every run of a backend) and measure its
    test accuracy.  The caller's random stream is left as it was, so what
    the caller computes next does not depend on whether a net was trained.
    ``progress``: a progress display on stderr (a minute or more on 28×28)."""
    budget = budget or BUDGETS[dataset]
    train = load_dataset(dataset, "train", root=root)
    x, y = train.x[:budget.n_train], train.y[:budget.n_train]
    saved_rng = backend.get_rng_state()
    try:
        backend.manual_seed(SEED)
        net = FeatureNet(train.shape[-1])
        opt = optim.Adam(net.parameters(), lr=budget.lr)
        loader = DataLoader((x, y), batch_size=budget.batch_size, shuffle=True, seed=SEED)
        with Progress(budget.epochs * len(loader), f"training the {dataset} feature network "
                      "(once; then cached)", enabled=progress) as bar:
            for _ in range(budget.epochs):
                for xb, yb in loader:
                    loss = cross_entropy(net(xb), yb)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    bar.update(1)
    finally:
        backend.set_rng_state(saved_rng)
    test = load_dataset(dataset, "test", root=root)
    net.accuracy = float((net.predict(test.x) == test.y).mean())
    return net


def cache_path(dataset: str, cache_dir=None) -> Path:
    """Where the net of ``dataset`` is cached: ``cache_dir``, else
    ``$SCRATCHGEN_CACHE``, else ``~/.cache/scratchgen``; then
    ``feature_nets/<dataset>.npz``."""
    root = cache_dir or os.environ.get(ENV_VAR) or Path.home() / ".cache" / "scratchgen"
    return Path(root) / "feature_nets" / f"{dataset}.npz"


def _from_cache(path: Path, budget: Budget, side: int) -> FeatureNet | None:
    """The cached net, or None (with a warning saying why) if the file is
    missing, unreadable, or trained with another budget."""
    if not path.exists():
        return None
    try:
        saved = load(path)
        trained_with = Budget(*saved["budget"])
        if trained_with != budget:
            warnings.warn(f"feature net cache {path} was trained with {trained_with}, "
                          f"not {budget}: retraining", stacklevel=3)
            return None
        net = FeatureNet(side)
        net.load_state_dict(saved["state_dict"])
        net.accuracy = float(saved["accuracy"])
        return net
    except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
        warnings.warn(f"feature net cache {path} is unreadable ({type(exc).__name__}: {exc}); "
                      "retraining", stacklevel=3)
        return None


def feature_net(dataset: str, cache_dir=None, budget: Budget | None = None, root=None,
                progress: bool = False) -> FeatureNet:
    """The trained feature network of an image data set: from the cache, or
    trained now (see :data:`BUDGETS` for how long; ``root`` says where the
    data set's files are, ``progress`` shows the training) and cached."""
    if dataset not in SIDES:
        raise ValueError(f"no feature network for data set {dataset!r}; "
                         f"image sets: {', '.join(IMAGE_SETS)}")
    budget = budget or BUDGETS[dataset]
    path = cache_path(dataset, cache_dir)
    net = _from_cache(path, budget, SIDES[dataset])
    if net is None:
        net = train_feature_net(dataset, budget, root, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        save({"state_dict": net.state_dict(), "accuracy": net.accuracy,
              "budget": tuple(budget), "dataset": dataset}, path)
    return net.eval()


def features(images, dataset: str, cache_dir=None) -> np.ndarray:
    """``(n, 128)`` host array: the penultimate-layer features of ``images``
    under the classifier of ``dataset`` (trained and cached on first use)."""
    return feature_net(dataset, cache_dir).embed(images)
