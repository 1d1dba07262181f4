# %% [markdown]
# # Lesson 12: the convolutional VAE, and what beta does to the latent space
#
# Lesson 08 built a VAE from dense layers: it flattens an image, so it must
# learn from the data alone that neighbouring pixels belong together.  A
# convolution knows it by construction: the same small filter slides over
# every position.  This lesson swaps the dense encoder and decoder for
# strided convolutions and transposed convolutions
# (`scratchgen.models.ConvVAE`), keeps everything else (the ELBO, the IWAE,
# the reparameterisation: one implementation in `models/vae.py` for every
# VAE), and trains it on the bundled 8×8 digits.  Then:
#
# * reconstructions, samples, and a walk through the latent space from one
#   test digit to another;
# * the β-VAE (Higgins et al., 2017): the same model trained with the KL
#   term weighted by β, and a *latent traversal* for each β, one latent
#   dimension varied at a time, to see what each dimension has learned.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.runs import plot
from scratchgen.data import DataLoader, load_digits
from scratchgen.models.conv_vae import ConvVAE
from scratchgen.models.vae import VAE

from _common import FIGURES, host_values, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 12: the convolutional VAE and beta")
x_train, y_train = load_digits("train")   # (1500, 1, 8, 8) in [0, 1]
x_test, y_test = load_digits("test")      # (297, 1, 8, 8)
x_test_t = sg.tensor(x_test)

# %% [markdown]
# ## 1. The shapes through the network
#
# A convolution with kernel 4, stride 2 and padding 1 maps a side s to
# (s + 2·1 − 4) / 2 + 1 = s/2; the transposed convolution with the same
# numbers maps s/2 back to (s/2 − 1)·2 − 2·1 + 4 = s.  Two of each take
# 8×8 to 2×2 and back (28×28 to 7×7 for MNIST-sized images).  Between them
# dense layers map to (mu, logvar) and back from z.  Following one batch
# through the encoder's `features` and the decoder's layers:

# %%
sg.manual_seed(0)
demo = ConvVAE(image_shape=(1, 8, 8), latent_dim=8)
h = sg.tensor(x_test[:4])
print(f"input {h.shape}")
for layer in demo.features:
    h = layer(h)
    print(f"  {type(layer).__name__:<16} -> {h.shape}")
mu, logvar = demo.encode(sg.tensor(x_test[:4]))
print(f"encoder head -> mu {mu.shape}, logvar {logvar.shape}")
h = mu
for layer in demo.decoder:
    h = layer(h)
    print(f"  {type(layer).__name__:<16} -> {h.shape}")
n_conv = sum(p.size for p in demo.parameters())
n_mlp = sum(p.size for p in VAE((1, 8, 8), latent_dim=8, hidden=[256]).parameters())
print(f"parameters: conv VAE {n_conv:,}, MLP VAE 64-256-8 {n_mlp:,}")

# %% [markdown]
# ## 2. Training, and the conv VAE against the MLP VAE
#
# Both with an 8-dimensional latent space, Adam at lr 1e-3, batches of 64,
# the same number of epochs, the same data order.  The models' own
# `train_step` does one step on the loss, the batch mean of
# −(log p(x|z) − β·KL) (β = 1 here: the negative ELBO).

# %%
epochs = 1 if args.quick else 80
steps_cap = 3 if args.quick else None


def train(model, epochs=epochs, lr=1e-3, seed=0):
    """Train ``model`` on the digits; returns the KL of the last epoch's
    batches (nats per example) and the seconds it took."""
    optimizers = model.make_optimizers(lr)
    start, kls = time.perf_counter(), []
    for epoch in range(epochs):
        loader = DataLoader(x_train, 64, shuffle=True, drop_last=True, seed=seed + epoch)
        kls = []
        for step, batch in enumerate(loader):
            kls.append(model.train_step(batch, optimizers)["kl"])
            if steps_cap is not None and step + 1 == steps_cap:
                break
    return float(host_values(kls).mean()), time.perf_counter() - start


def bounds(model, k=100, repeats=10):
    """Test ELBO (mean of ``repeats`` draws) and IWAE_k, nats per example."""
    with sg.no_grad():
        elbo = np.mean([model.elbo(x_test_t).numpy().mean() for _ in range(repeats)])
        return elbo, model.iwae(x_test_t, k).numpy().mean()


k = 5 if args.quick else 100
results = {}
for name, make in [("MLP VAE 64-256-8", lambda: VAE((1, 8, 8), latent_dim=8, hidden=[256])),
                   ("conv VAE", lambda: ConvVAE((1, 8, 8), latent_dim=8))]:
    sg.manual_seed(1)
    model = make()
    kl, seconds = train(model)
    model.eval()
    results[name] = (model, *bounds(model, k))
    print(f"{name:<17} {seconds:6.1f} s   test ELBO {results[name][1]:7.2f}   "
          f"IWAE_{k} {results[name][2]:7.2f} nats   (last epoch's KL {kl:.2f})")
conv_vae = results["conv VAE"][0]
gain = results["conv VAE"][2] - results["MLP VAE 64-256-8"][2]
print(f"conv VAE minus MLP VAE, IWAE_{k}: {gain:+.2f} nats per image")

# %% [markdown]
# On 8×8 images the convolution's prior buys little: a 64-pixel digit is
# small enough for a dense layer to see whole, and the conv VAE spends its
# first epochs ignoring z (the KL stays near 0 while the decoder learns the
# average digit: *posterior collapse*, which deeper networks are more prone
# to), so at equal epochs the two end close (the numbers above).  On
# 28×28 Fashion-MNIST the README compares the two at equal budget
# (`benchmarks/bench_vae.py`).
#
# ## 3. Reconstructions, samples, and a walk between two digits
#
# Reconstructions decode the encoder's mean mu(x).  Samples decode z drawn
# from the prior.  An interpolation decodes the straight line from mu(x_a)
# to mu(x_b): every point on it is a code the decoder turns into an image,
# and since the KL term packs the codes of all digits into one Gaussian
# blob, the path passes through plausible digits instead of a cross-fade.

# %%
with sg.no_grad():
    recon = conv_vae.reconstruct(x_test_t).numpy()
plot.reconstructions(x_test, recon, FIGURES / "12_conv_vae_reconstructions.png", n=12,
                     title="conv VAE: test digits (top), decoded mu(x) (bottom)")
sg.manual_seed(3)
plot.sample_grid(conv_vae.sample(100).numpy(), FIGURES / "12_conv_vae_samples.png", nrow=10,
                 title="conv VAE: 100 samples, z ~ N(0, I), decoded")

pairs = [(0, 1), (2, 7), (3, 5), (4, 9)]   # (digit a, digit b): the first test image of each
first = {d: int(np.flatnonzero(y_test == d)[0]) for d in range(10)}
steps = np.linspace(0, 1, 10)[:, None]
rows = []
with sg.no_grad():
    for a, b in pairs:
        mu_ab, _ = conv_vae.encode(sg.tensor(x_test[[first[a], first[b]]]))
        mu_ab = mu_ab.numpy()
        line = (1 - steps) * mu_ab[0] + steps * mu_ab[1]    # z(t) = (1 - t) mu_a + t mu_b
        rows.append(conv_vae.decode(sg.tensor(line)).numpy())
path = plot.interpolation(np.stack(rows), FIGURES / "12_conv_vae_interpolation.png",
                          title="walking from mu(x_a) to mu(x_b) in a straight line, decoded")
print(f"wrote {path}")

# %% [markdown]
# ## 4. β: how much each latent dimension may carry
#
# With β > 1 every nat of information in z costs β nats of reconstruction,
# so the model keeps only the dimensions that pay most, and presses the rest
# onto the prior (their KL drops to 0: *inactive* units).  Higgins et al.
# found that what survives tends to be one factor of variation per
# dimension (here: slant, stroke width, which digit).  β < 1 buys sharper
# reconstructions with a latent space the prior fits worse (so worse
# samples).  We train the conv VAE with a 4-D latent space for four values
# of β, and report for each the KL per latent dimension, averaged over the
# test set: a dimension with KL near 0 nats is unused.

# %%
betas = (0.5, 1.0, 2.0, 4.0)
beta_models = {}
for beta in betas:
    sg.manual_seed(2)
    model = ConvVAE((1, 8, 8), latent_dim=4, beta=beta)
    train(model, epochs=1 if args.quick else 50, lr=2e-3)
    model.eval()
    with sg.no_grad():
        mu, logvar = (t.numpy() for t in model.encode(x_test_t))
    kl_per_dim = (0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar)).mean(axis=0)
    elbo, _ = bounds(model, k=2)
    beta_models[beta] = (model, kl_per_dim)
    print(f"beta {beta:<4}: test ELBO {elbo:7.2f} nats;  KL per dim "
          + "  ".join(f"{v:5.2f}" for v in kl_per_dim)
          + f"   ({(kl_per_dim > 0.1).sum()} active)")

# %% [markdown]
# A latent traversal: take one test digit's code mu(x), then change one
# dimension at a time through -2.5 ... 2.5 (the prior's bulk) and decode.
# One block of rows per β, one row per dimension, ordered by their KL, the
# most used first.  An inactive dimension's row does not change.

# %%
values = np.linspace(-2.5, 2.5, 9)
anchor = x_test[[first[2]]]
fig = Figure(figsize=(3.2 * len(betas), 2.6))
for ax, beta in zip(fig.subplots(1, len(betas)), betas):
    model, kl_per_dim = beta_models[beta]
    order = np.argsort(-kl_per_dim)
    with sg.no_grad():
        base = model.encode(sg.tensor(anchor))[0].numpy()[0]
        codes = np.repeat(base[None, None], len(order), 0).repeat(len(values), 1)
        for row, dim in enumerate(order):
            codes[row, :, dim] = values
        images = model.decode(sg.tensor(codes.reshape(-1, 4))).numpy()[:, 0]
    tiles = images.reshape(len(order), len(values), 8, 8).transpose(0, 2, 1, 3)
    ax.imshow(tiles.reshape(len(order) * 8, len(values) * 8), cmap="gray", vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(order)) * 8 + 3.5,
                  [f"z{d} KL {kl_per_dim[d]:.1f}" for d in order])
    ax.set_xticks([0 * 8 + 3.5, 4 * 8 + 3.5, 8 * 8 + 3.5], ["-2.5", "0", "2.5"])
    ax.set_title(f"beta = {beta}")
fig.suptitle("latent traversals of one test digit: each row changes one z dimension")
fig.tight_layout()
savefig(fig, "12_beta_traversals.png")

# %% [markdown]
# Read the rows from the top: with small β several dimensions carry
# information and a row mixes several changes; as β grows rows go flat
# (inactive units), and the survivors each move one thing.  On these
# grey-level digits β = 4 is already too much: no dimension saves 4 nats of
# reconstruction per nat of KL, every row is flat, and the model draws the
# average digit whatever z says (total posterior collapse).  The test ELBO
# printed above falls as β moves away from 1: the bound (with β = 1) is what
# β ≠ 1 stops optimising.  That is the β-VAE's trade: fewer, more
# interpretable dimensions for likelihood, and too much β leaves none.
