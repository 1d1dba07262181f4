# %% [markdown]
# # Lesson 15: the chain rule of probability, and MADE's masks
#
# GANs (lessons 07, 09-11) give samples but no likelihood; VAEs (08, 12-14)
# give a lower bound on it.  The third family, *autoregressive* models,
# gives the likelihood exactly, with one identity:
#
#     p(x_1, ..., x_D) = p(x_1) p(x_2 | x_1) p(x_3 | x_1, x_2) ... p(x_D | x_<D).
#
# That is just the chain rule of probability (the definition of a
# conditional, applied D - 1 times); it holds for *every* distribution and
# every ordering of the variables.  Model each factor with a network and the
# product is a normalised distribution by construction: no partition
# function, no bound.  Training maximises
# log p(x) = sum_d log p(x_d | x_<d), a sum of D ordinary classification
# losses.
#
# This lesson checks the identity on a tiny table, builds MADE (Germain et
# al., 2015), which turns one MLP into all D conditionals by cutting
# connections, draws its masks, checks the two properties that make it a
# model (each output ignores the inputs it must not see; the probabilities
# of all 2^9 binary 3×3 images sum to 1), and trains it on binarised digits.

# %%
import itertools
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.runs import plot
from scratchgen.data import DataLoader, load_digits
from scratchgen.data.binary import fixed_binarization
from scratchgen.models.made import MADE, made_degrees, made_masks

from _common import FIGURES, host_values, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 15: the chain rule of probability, and MADE's masks")
sg.manual_seed(0)

# %% [markdown]
# ## 1. The chain rule on a table
#
# Take any joint distribution of three binary pixels (8 probabilities that
# sum to 1), compute its conditionals by counting, and multiply them back:
# the joint comes out again, to the last bit of rounding.

# %%
rng = np.random.default_rng(0)
joint = rng.random((2, 2, 2))
joint /= joint.sum()
p1 = joint.sum(axis=(1, 2))                          # p(x1)
p2_given_1 = joint.sum(axis=2) / p1[:, None]         # p(x2 | x1)
p3_given_12 = joint / joint.sum(axis=2, keepdims=True)  # p(x3 | x1, x2)
rebuilt = p1[:, None, None] * p2_given_1[:, :, None] * p3_given_12
print("chain rule reproduces the joint:", np.allclose(rebuilt, joint),
      f"(largest difference {np.abs(rebuilt - joint).max():.1e})")

# %% [markdown]
# ## 2. Masks from degrees
#
# MADE keeps one MLP and decides, for every weight, whether it may exist.
# Each input d gets a *degree* m(d): its place in the ordering.  Each hidden
# unit k gets a degree m(k) in 1..D-1: the number of first inputs it may
# look at.  A hidden weight from unit k' to unit k survives iff
# m(k) >= m(k'); an output weight from k to output d survives iff
# m(d) > m(k), strictly.  By induction, a hidden unit of degree m sees only
# inputs of degree <= m, so output d sees only inputs before d.
#
# The figure shows the masks of a small MADE (D = 6 inputs, two hidden
# layers of 12, units drawn sorted by degree so the staircases show) and
# their product: the *connectivity* from input j to output d, which must be
# strictly lower-triangular in the ordering.  An input that reaches no
# output (a column of white) is capacity lost to an unlucky draw of
# degrees: one reason to resample masks during training.

# %%
d, hidden = 6, (12, 12)
degrees = made_degrees(d, hidden, np.arange(1, d + 1), np.random.default_rng(3))
masks = made_masks(degrees)
connectivity = masks[2] @ masks[1] @ masks[0]  # paths from input j to output d
print("degrees:", *(m.tolist() for m in degrees), sep="\n  ")
print("output d reaches input j only for j < d:",
      np.all(np.triu(connectivity) == 0), "| paths per pair:\n", connectivity.astype(int))

fig = Figure(figsize=(12, 3.4))
titles = ["input -> hidden 1", "hidden 1 -> hidden 2", "hidden 2 -> output",
          "connectivity: input -> output"]
by_degree = [np.argsort(m, kind="stable") for m in degrees] + [np.arange(d)]
for i, (m, title) in enumerate(zip(masks + [connectivity > 0], titles)):
    rows, cols = (by_degree[i + 1], by_degree[i]) if i < 3 else (by_degree[0], by_degree[0])
    ax = fig.add_subplot(1, 4, i + 1)
    ax.imshow(m[np.ix_(rows, cols)], cmap="Greys", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("from (units by degree)")
    ax.set_ylabel("to (units by degree)")
fig.suptitle("MADE's masks: black = connection kept")
savefig(fig, "15_made_masks.png")

# %% [markdown]
# ## 3. The two properties, checked
#
# *Autoregressive*: the gradient of output d with respect to the input is
# zero at every input that is not before d in the ordering, here for a
# random ordering.  *Normalised*: summing p(x) over all 2^9 = 512 binary
# 3×3 images gives 1 (in float64, so the check is tight), for an untrained
# network with random weights: normalisation is a property of the
# architecture, not something training achieves.

# %%
model = MADE((1, 3, 3), hidden=(32, 32), natural_order=False, seed=5)
for p in model.parameters():
    p.data = p.data.astype(np.float64)
order = model.order.numpy()
x = sg.tensor(np.random.default_rng(1).random((1, 9)), dtype="float64", requires_grad=True)
logits = model.logits(x)
jacobian = np.stack([sg.grad(logits[0, k], x, retain_graph=True)[0].numpy()[0]
                     for k in range(9)])
allowed = order[None, :] < order[:, None]   # input j may influence output d iff m(j) < m(d)
print("ordering:", order, "| gradient zero wherever it must be:",
      np.all(jacobian[~allowed] == 0))

images = np.array(list(itertools.product([0, 1], repeat=9)), dtype=np.float64)
with sg.no_grad():
    total = np.exp(model.log_prob(sg.tensor(images.reshape(512, 1, 3, 3),
                                            dtype="float64")).numpy()).sum()
print(f"sum of p(x) over all 512 binary 3x3 images: {total:.15f}")

# %% [markdown]
# ## 4. Training on binarised digits
#
# MADE's pixels are Bernoulli, so the data must be 0/1.  Training uses
# *dynamic* binarisation (each pixel 1 with probability its grey level,
# drawn afresh every time, done inside `MADE.train_step`); the test set is
# binarised once with seed 0 (`fixed_binarization`), so every model of the
# last lesson is scored on the same binary images.  The loss is the exact
# negative log-likelihood in nats per image.

# %%
x_train, _ = load_digits("train")
x_test, _ = load_digits("test")
test = sg.tensor(fixed_binarization(x_test))
epochs = 2 if args.quick else 150
sg.manual_seed(0)
made = MADE((1, 8, 8), hidden=(500,))
optimizers = made.make_optimizers(1e-3)
loader = DataLoader(x_train, batch_size=100, shuffle=True, seed=0)
losses, test_nll = [], []
start = time.perf_counter()
for epoch in range(epochs):
    for xb in loader:
        losses.append(made.train_step(xb, optimizers)["loss"])
    losses[-len(loader):] = host_values(losses[-len(loader):])  # one copy per epoch
    with sg.no_grad():
        test_nll.append(-made.log_prob(test).mean().item())
train_time = time.perf_counter() - start
print(f"{epochs} epochs in {train_time:.1f} s; test NLL {test_nll[-1]:.2f} nats per image "
      f"({test_nll[-1] / 64:.3f} nats per pixel; best {min(test_nll):.2f} at epoch "
      f"{int(np.argmin(test_nll)) + 1})")

fig = Figure(figsize=(6, 3.5))
ax = fig.add_subplot()
steps_per_epoch = len(losses) // epochs
ax.plot(np.arange(len(losses)) / steps_per_epoch, losses, lw=0.5, alpha=0.6,
        label="train (dynamic binarisation)")
ax.plot(np.arange(1, epochs + 1), test_nll, label="test (fixed binarisation)")
ax.set_xlabel("epoch")
ax.set_ylabel("NLL, nats per image")
ax.set_ylim(top=min(60, max(losses)))
ax.legend()
savefig(fig, "15_made_loss.png")

# %% [markdown]
# ## 5. Sampling, pixel by pixel
#
# One forward pass scores an image; drawing one takes D = 64 passes, one per
# pixel in the ordering, each conditioned on the pixels already drawn
# (*ancestral sampling*).  That asymmetry (fast likelihood, slow sampling)
# is the trade the family makes; the last lesson times it against the GAN
# and the VAE, whose samples take one pass.

# %%
sg.manual_seed(1)
start = time.perf_counter()
samples = made.sample(64)
print(f"64 samples in {time.perf_counter() - start:.2f} s (64 passes of the network)")
plot.sample_grid(samples, FIGURES / "15_made_samples.png",
                 title=f"MADE samples (test NLL {test_nll[-1]:.1f} nats)")
