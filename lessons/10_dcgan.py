# %% [markdown]
# # Lesson 10: DCGAN, a GAN that paints with convolutions
#
# The GANs so far were MLPs.  An MLP sees an image as 784 unrelated
# numbers; a convolutional network knows that neighbouring pixels belong
# together and that a stroke looks the same wherever it is.  DCGAN (Radford,
# Metz & Chintala, 2016) made GANs work on images with a handful of rules:
# transposed convolutions to grow the image in G, strided convolutions to
# shrink it in D, BatchNorm, ReLU in G and LeakyReLU in D, tanh output,
# N(0, 0.02) weights, and Adam with beta1 = 0.5.
#
# This lesson
#
# 1. follows a noise vector through the generator, layer by layer, to see
#    transposed convolutions double an image's side;
# 2. trains `scratchgen.models.DCGAN` on the 8x8 digits (the same network
#    as for 28x28 Fashion-MNIST, one size smaller: `scratchgen train dcgan
#    --data fashion` trains that one), with samples from the same noise as
#    training goes on;
# 3. walks in latent space between two samples: a smooth path of images, not
#    a cross-fade of two pictures.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.data import DataLoader
from scratchgen.data.registry import load_dataset
from scratchgen.models import DCGAN
from scratchgen.runs import recipes

from _common import host_values, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 10: DCGAN, a GAN that paints with convolutions")
lesson_start = time.perf_counter()

DATA = "digits"
data = load_dataset(DATA, "train")
print(f"data: {DATA}, {len(data.x)} images of shape {data.shape}")

# %% [markdown]
# ## 1. Growing an image
#
# A transposed convolution with kernel 4, stride 2 and padding 1 maps an
# H x H map to (H - 1) * 2 - 2 + 4 = 2H: each input pixel paints a 4 x 4
# patch of the output, patches two pixels apart, so every output pixel
# receives exactly 2 x 2 contributions (lesson 06 drew the overlaps).  Two of
# them take the generator's 2 x 2 maps to 8 x 8 here (7 -> 14 -> 28 for
# Fashion-MNIST).
# Follow one batch of noise through the layers:

# %%
config = recipes.run_config("dcgan", DATA, data)
sg.manual_seed(0)
model = DCGAN(**config.model_args)
x = sg.randn(16, model.latent_dim)
with sg.no_grad():
    for layer in model.generator:
        x = layer(x)
        print(f"{type(layer).__name__:16s} -> {tuple(x.shape)}")
    for layer in model.discriminator:
        before = tuple(x.shape)
        x = layer(x)
        if type(layer).__name__ in ("Conv2d", "Linear"):
            print(f"D {type(layer).__name__:14s} {before} -> {tuple(x.shape)}")
print(f"generator {sum(p.size for p in model.generator.parameters()):,} parameters, "
      f"discriminator {sum(p.size for p in model.discriminator.parameters()):,}")

# %% [markdown]
# ## 2. Training, with samples as it goes
#
# The recipe of `scratchgen train dcgan --data digits` (Adam 2e-4,
# betas (0.5, 0.999), batch 64).  Each step updates D once on a real and a
# fake batch, then G once through the same fakes.  A fixed set of 8 noise
# vectors is decoded at eight points of training, so each column below is
# the same z as training goes on (`scratchgen train` writes such a grid
# after every epoch into the run's `figures/`).

# %%
epochs = 2 if args.quick else config.epochs
n_train = 256 if args.quick else len(data.x)
sg.manual_seed(config.seed)
model = DCGAN(**config.model_args)
optimizers = model.make_optimizers(config.lr)
loader = DataLoader(data.x[:n_train], config.batch_size, shuffle=True, drop_last=True,
                    seed=config.seed)
fixed_z = sg.tensor(np.random.default_rng(1).standard_normal((8, model.latent_dim)))


def images_from(z):
    model.eval()
    with sg.no_grad():
        images = ((model.generator(z) + 1) / 2).numpy()
    model.train()
    return images


shown = sorted({0, *np.linspace(1, epochs, 7).round().astype(int)})  # epochs with a row
per_epoch, losses = [images_from(fixed_z)], []
start = time.perf_counter()
for epoch in range(1, epochs + 1):
    for batch in loader:
        losses.append(model.train_step(batch, optimizers))
    if epoch in shown:
        per_epoch.append(images_from(fixed_z))
        recent = losses[-len(loader):]
        print(f"epoch {epoch}: D loss {host_values(r['d_loss'] for r in recent).mean():.3f}, "
              f"G loss {host_values(r['g_loss'] for r in recent).mean():.3f}, "
              f"{time.perf_counter() - start:.0f} s so far")

# %%
def image_grid(rows, row_labels, title, name):
    rows = np.asarray(rows)[:, :, 0]             # (rows, columns, h, w)
    n_rows, n_cols = rows.shape[:2]
    fig = Figure(figsize=(1.1 * n_cols + 1.2, 1.1 * n_rows + 0.6))
    axes = np.array(fig.subplots(n_rows, n_cols)).reshape(n_rows, n_cols)
    for r in range(n_rows):
        for c in range(n_cols):
            axes[r, c].imshow(rows[r, c], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    savefig(fig, name)


image_grid(per_epoch, ["init"] + [f"epoch {e}" for e in shown[1:]],
           f"DCGAN on {DATA}: the same 8 noise vectors as training goes on",
           "10_dcgan_samples_per_epoch.png")

# %% [markdown]
# Before training, G paints faint noise (tanh of small values, mid-grey),
# still grey after the first epoch's 23 steps.  By epoch 18 every column is
# a digit; later epochs sharpen the strokes, and a column can change its
# digit while G and D trade (the sixth: 5, then 8, then 3) before it settles.
#
# ## 3. Walking through latent space
#
# A mode-collapsed generator would show the same item for every z, and a
# generator that memorised its training set would jump from one training
# image to the next.  Neither happens if the images change *smoothly* along
# a straight path between two noise vectors.  In 100 dimensions, the noise
# vectors lie near the sphere of radius sqrt(100) = 10, while the midpoint
# of two of them has norm about 10 / sqrt(2): spherical interpolation (slerp;
# White 2016) stays on the sphere, where G was trained.

# %%
def slerp(a, b, t):
    """Spherical interpolation: constant speed along the great circle from a to b."""
    omega = np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


rng = np.random.default_rng(2)
ends = rng.standard_normal((4, 2, model.latent_dim))
ts = np.linspace(0, 1, 9)
paths = np.stack([[slerp(a, b, t) for t in ts] for a, b in ends])       # (4, 9, latent)
rows = images_from(sg.tensor(paths.reshape(-1, model.latent_dim))).reshape(4, 9, *data.shape)
image_grid(rows, [f"path {i + 1}" for i in range(4)],
           "latent interpolation (slerp between two noise vectors, 9 steps)",
           "10_dcgan_interpolation.png")
print(f"norm of z at the ends {np.linalg.norm(ends, axis=-1).mean():.2f}; "
      f"of the linear midpoint {np.linalg.norm(ends.mean(axis=1), axis=-1).mean():.2f}; "
      f"of slerp's {np.linalg.norm(paths[:, 4], axis=-1).mean():.2f}")

# %% [markdown]
# Each row morphs one digit into another through in-between shapes (in the
# full run a 9's loop slides down into a 6, a 7 bends round into a 0, a 9
# opens into a 7), and a row that starts and ends on the same digit (a 5)
# changes only its style: the generator has learnt a continuous map from
# noise to digits, not a lookup table of training images.  `scratchgen eval RUN` measures the same generator with numbers:
# the Fréchet distance of its samples to the test images in the feature
# space of a small classifier, and precision/recall (lesson 08 and
# `benchmarks/bench_dcgan_fashion.py`, which compares it with PyTorch
# epoch by epoch).

# %%
print(f"lesson took {time.perf_counter() - lesson_start:.0f} s")
