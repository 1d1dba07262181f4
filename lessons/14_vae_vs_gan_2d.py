# %% [markdown]
# # Lesson 14: VAE and GAN on the same 2-D data
#
# Lesson 07 trained a GAN on eight tight Gaussians on a circle (ring8); here
# a VAE meets the same data, and the moons, so that the two families can be
# seen side by side where every sample can be drawn.
#
# A VAE on continuous data needs a continuous decoder.  Ours
# (`VAE(likelihood="gaussian")`) outputs a mean m(z) and a log-variance for
# each coordinate:
#
#     p(x|z) = N(x; m(z), diag exp(logvar(z))),
#     logvar(z) = LOGVAR_MIN + softplus(s(z) - LOGVAR_MIN),
#
# a smooth floor (LOGVAR_MIN = -10, std >= 0.0067) because without one the
# likelihood is unbounded: a decoder can put a mean on one training point
# and shrink its variance for ever.  A sample is z ~ N(0, I), then
# x ~ p(x|z), noise included.
#
# What to expect.  The decoder's mean m(z) is a *continuous* map from the
# connected Gaussian blob of z onto the plane, so the set of means is one
# connected sheet: it cannot jump from one mode to the next; it must pass
# between them, and the prior puts mass there too.  Maximum likelihood
# (which the ELBO approximates) punishes a model that misses any data point
# (log 0 = -inf), so the VAE covers every mode and pays for it with density
# in the gaps: *mass-covering*, blurry where the data are sharp.  The GAN
# is not trained on likelihood at all; its generator is continuous too, but
# the discriminator punishes every sample off the data, so it packs its
# samples onto the modes and crosses the gaps quickly: sharp, with at most
# a thin trail between modes, and at risk of dropping modes instead.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.data import DataLoader
from scratchgen.data.registry import load_dataset
from scratchgen.models import GAN
from scratchgen.models.vae import VAE
from scratchgen.runs.metrics import mode_coverage
from scratchgen.runs.recipes import RECIPES

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 14: VAE and GAN on the same 2-D data")
SEED = 0

# %% [markdown]
# ## 1. One training loop for both
#
# Each model knows its own step (`train_step`); the loop feeds batches and,
# as `scratchgen train` does, lets the learning rate fall linearly to 0 over
# the last half of training.  The GAN uses the project's recipe for 2-D
# points (44 epochs; `scratchgen train gan` gives ring8 a longer one, 300
# epochs, to settle every sample inside its mode, and packs D's inputs in
# pairs: lesson 07); the VAE the
# same epochs, batch size and decay, with Adam at lr 1e-3 and a 2-D latent
# space.

# %%
gan_settings = dict(RECIPES["gan"]["settings"]["points"])
vae_settings = {**gan_settings, "lr": 1e-3}
if args.quick:
    gan_settings["epochs"] = vae_settings["epochs"] = 1


def train(model, x, settings, steps_cap=None):
    optimizers = model.make_optimizers(settings["lr"])
    loader = DataLoader(x, settings["batch_size"], shuffle=True, drop_last=True, seed=SEED)
    total = settings["epochs"] * len(loader)
    decay_steps = settings["lr_decay"] * total
    step, start = 0, time.perf_counter()
    model.train()
    for _ in range(settings["epochs"]):
        for batch in loader:
            factor = min(1.0, (total - step) / decay_steps) if decay_steps > 0 else 1.0
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = settings["lr"] * factor
            model.train_step(batch, optimizers)
            step += 1
            if steps_cap is not None and step == steps_cap:
                break
    print(f"  {type(model).__name__}: {step} steps in {time.perf_counter() - start:.0f} s")
    return model.eval()


def vae_log_density(model, points, k):
    """log p(x) of the VAE, estimated by IWAE_k, at each of ``points``."""
    out = []
    with sg.no_grad():
        for start in range(0, len(points), 2000):
            out.append(model.iwae(sg.tensor(points[start:start + 2000]), k).numpy())
    return np.concatenate(out)


# %% [markdown]
# ## 2. Train both on ring8 and on the two moons

# %%
models = {}
for name in ("ring8", "two_moons"):
    data = load_dataset(name, "train")
    print(name)
    sg.manual_seed(SEED)
    gan = train(GAN(**RECIPES["gan"]["args"](data)), data.x, gan_settings,
                steps_cap=5 if args.quick else None)
    sg.manual_seed(SEED)
    vae = train(VAE(image_shape=(2,), latent_dim=2, hidden=[256, 256], likelihood="gaussian"),
                data.x, vae_settings, steps_cap=5 if args.quick else None)
    models[name] = (gan, vae)

# %% [markdown]
# ## 3. Measured: modes, sharpness, likelihood
#
# On ring8, 2,500 samples each, scored as in lesson 07: modes hit, share of
# *high-quality* samples (within 3 std = 0.03 of a mode centre) and the KL
# of the mode histogram from uniform.  The VAE also has a likelihood: its
# test log-density (IWAE_100, nats per point).  The true density's own
# average is log(1/8) - H(N(0, 0.01² I)) = -2.08 + 6.37 = 4.3 nats per
# point (H = 1 + log(2 pi 0.01²) is the entropy of one mode): the ceiling.

# %%
ring = load_dataset("ring8", "test")
k = 5 if args.quick else 100
for label, model in zip(("GAN", "VAE"), models["ring8"]):
    sg.manual_seed(1)
    coverage = mode_coverage(model.sample(2500).numpy(), ring.centers, ring.std)
    print(f"ring8 {label}: {coverage.modes}/8 modes, {coverage.high_quality:.1%} high quality, "
          f"reverse KL {coverage.reverse_kl:.3f}")
for name in ("ring8", "two_moons"):
    test = load_dataset(name, "test").x[:2000]
    print(f"{name} VAE test log-likelihood (IWAE_{k}): "
          f"{vae_log_density(models[name][1], test, k).mean():.2f} nats per point")

# %% [markdown]
# ## 4. Seen side by side
#
# Columns: the data; 2,500 GAN samples; 2,500 VAE samples, each drawn with
# its decoder noise; the VAE's density, exp(IWAE_k(x)) on a grid, on a log
# colour scale, with the decoder means m(z) of 2,500 prior draws in red: the
# sheet they form runs through every mode and across the gaps.

# %%
fig = Figure(figsize=(16, 8))
axes = fig.subplots(2, 4)
grid_n = 30 if args.quick else 120
for row, name in zip(axes, ("ring8", "two_moons")):
    data = load_dataset(name, "test").x
    gan, vae = models[name]
    lo, hi = data.min(0) - 0.4, data.max(0) + 0.4
    box = [[lo[0], hi[0]], [lo[1], hi[1]]]
    sg.manual_seed(2)
    panels = {"data (test)": data[:2500], "GAN samples": gan.sample(2500).numpy(),
              "VAE samples (with decoder noise)": vae.sample(2500).numpy()}
    for ax, (title, points) in zip(row, panels.items()):
        ax.hist2d(data[:, 0], data[:, 1], bins=120, range=box, cmap="Greys", cmin=1)
        if title != "data (test)":
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue")
        ax.set_title(f"{name}: {title}")
    gx, gy = np.meshgrid(np.linspace(*box[0], grid_n), np.linspace(*box[1], grid_n))
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    log_p = vae_log_density(vae, points, 5 if args.quick else 50).reshape(grid_n, grid_n)
    ax = row[3]
    ax.imshow(np.maximum(log_p, log_p.max() - 12), origin="lower", cmap="viridis",
              extent=(*box[0], *box[1]), aspect="auto")
    with sg.no_grad():
        means = vae.decode(sg.randn(2500, 2)).numpy()
    ax.scatter(means[:, 0], means[:, 1], s=1, color="red", alpha=0.5)
    ax.set_title(f"{name}: VAE log p(x) (12 nats of range), decoder means")
    for ax in row:
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_aspect("equal")
fig.tight_layout()
savefig(fig, "14_vae_vs_gan_2d.png")

# %% [markdown]
# What the figure shows.  On ring8 the GAN's points sit on the modes (over
# 95% within 3 std); the VAE's spread along the circle between them, the
# "bridges" of the density panel, where the red decoder means run from one
# mode to the next: all 8 modes, fewer than half of the samples close to
# one.  The VAE misses no mode: every training point had to be explained.
# The price is probability mass where there are no data, which a
# likelihood never forgives and a discriminator always does.
#
# On the moons the VAE does worse still: its decoder means form a single
# curve from one moon's top to the other's bottom (one latent direction in
# use, the other collapsed onto the prior) and the rest of the shape is
# left to a wide decoder variance: a blurred cloud with the right support.
# A Gaussian decoder can always explain data by noise instead of by z, and
# when that is cheaper in ELBO the optimiser takes it (the same posterior
# collapse as in lesson 12).  The GAN has no such exit: its samples trace
# both moons, with a thin trail where its continuous generator has to jump
# between them.  Models that get both (sharp and covering) came later:
# VAEs with richer priors or decoders, GANs with mode-covering losses, and
# the diffusion models that took over from both.
