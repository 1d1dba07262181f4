# %% [markdown]
# # Lesson 17: GAN, VAE and MADE side by side
#
# Three ways to build a generative model, trained here on the same
# binarised 8×8 digits for the same CPU time and judged on the same
# yardsticks:
#
# | family | what it learns | likelihood |
# |---|---|---|
# | GAN (07, 09-11) | a sampler z -> x, trained against a critic | none: no density to evaluate |
# | VAE (08, 12-14) | a latent-variable model p(z) p(x given z) with an encoder | a lower bound (ELBO, IWAE) |
# | autoregressive (15-16) | the conditionals p(x_d given x before d) | exact |
#
# The comparison is `scratchgen.runs.families` (`benchmarks/bench_families.py`
# prints its table, in the README for Fashion-MNIST too); this lesson runs it, looks at the samples, and then at what each
# family lets a user *control*.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.data import load_digits
from scratchgen.data.binary import fixed_binarization
from scratchgen.data.registry import load_dataset
from scratchgen.runs import families, plot

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 17: GAN, VAE and MADE side by side")

# %% [markdown]
# ## 1. Same data, same budget, same yardsticks
#
# The VAE and MADE train on dynamically binarised digits (a fresh Bernoulli
# draw of each pixel in each batch), the GAN on the grey digits (the
# pixels' Bernoulli means: on exact 0/1 images its discriminator spots the
# generator's continuous outputs at once and the generator collapses), all
# for the same number of CPU seconds; every model's samples are drawn as
# 0/1 pixels.
# Then: the test NLL in nats per image on one fixed binarisation (exact for
# MADE, the IWAE bound for the VAE, undefined for the GAN); the Fréchet
# distance and precision/recall of binary samples against the binarised test
# images, in a digit classifier's features (with the floor that real
# training images reach); CPU time per epoch and per 64 samples.

# %%
budget, n, k = (1.0, 100, 5) if args.quick else (30.0, 297, 100)
start = time.perf_counter()
rows, grids = families.compare("digits", budget, n, k)
print(f"(took {time.perf_counter() - start:.0f} s)\n")
for row in families.table(rows, k):
    print(" | ".join(f"{key}: {value}" for key, value in row.items()))

fig = Figure(figsize=(12, 2.8))
for i, (name, images) in enumerate(grids.items()):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(plot.tile(images[:32], ncol=8), cmap="gray", vmin=0, vmax=1)
    row = next(r for r in rows if r["model"] == name)
    nll = "no likelihood" if row["nll_nats"] is None else f"NLL {row['nll_nats']:.1f}"
    ax.set_title(f"{name.upper()}: {nll}, FD {row['frechet_distance']:.1f}", fontsize=9)
    ax.axis("off")
fig.suptitle(f"binary samples after {budget:g} CPU s of training each")
savefig(fig, "17_three_families.png")

# %% [markdown]
# ## 2. Reading the table
#
# * **Likelihood.**  Only MADE's number is the model's NLL; the VAE's is an
#   upper bound on its NLL (the true value is lower, by at most the gap
#   IWAE leaves); the GAN has none, so "how likely is this test image?"
#   cannot be asked of it at all.  Lower is better; the uniform model of 64
#   coin flips scores 64 ln 2 = 44.4 nats.
# * **Sample quality.**  The Fréchet distance compares feature statistics;
#   precision asks whether samples look like data, recall whether the data
#   is covered.  A likelihood model is penalised for every test image it
#   finds unlikely, which pushes it to cover everything (high recall); a GAN
#   is not, and can drop modes.
# * **Speed.**  Training costs are similar per epoch.  Sampling is where the
#   families differ: GAN and VAE draw an image in one pass; MADE needs one
#   pass per pixel (64 here, 784 for Fashion-MNIST), the price of its exact
#   likelihood.
#
# ## 3. Control
#
# A GAN or VAE is steered through its latent code: interpolating codes
# morphs images (lessons 08, 11), conditioning on a label picks a class
# (lessons 10, 13).  An autoregressive model is steered through the
# *prefix*: fix the first pixels (or the first characters: lesson 16's
# "ROMEO:") and sample the rest from p(rest | prefix), exactly.  Here MADE
# (raster order) completes the bottom half of test digits from their top
# half: a conditional distribution that the GAN cannot give at all and the
# VAE only approximately.

# %%
sg.manual_seed(0)
made, made_settings = families.build("made", load_dataset("digits", "train"))
x_train, _ = load_digits("train")
families.train_for(made, made_settings, x_train, budget, seed=0)
x_test, _ = load_digits("test")
tops = fixed_binarization(x_test[:8]).reshape(8, 64)
rows_out = []
rng = np.random.default_rng(0)
for attempt in range(3):
    x = tops.copy()
    x[:, 32:] = 0
    with sg.no_grad():
        for pos in range(32, 64):  # raster order: pixel 32 onwards, given all before it
            p = 1 / (1 + np.exp(-made.logits(sg.tensor(x)).numpy()[:, pos]))
            x[:, pos] = rng.random(8) < p
    rows_out.append(x.reshape(8, 8, 8))
fig = Figure(figsize=(8, 4.4))
panels = [tops.reshape(8, 8, 8)] + rows_out
titles = ["test digit (binarised)"] + [f"completion {i + 1}" for i in range(3)]
for r, (images, title) in enumerate(zip(panels, titles)):
    for c in range(8):
        ax = fig.add_subplot(4, 8, r * 8 + c + 1)
        ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
        ax.axhline(3.5, color="red", lw=0.8)
        ax.axis("off")
        if c == 0:
            ax.set_title(title, fontsize=8, loc="left")
fig.suptitle("MADE completes the bottom half given the top half (above the red line)")
savefig(fig, "17_made_completions.png")

# %% [markdown]
# ## 4. A note on responsible use
#
# The models in these lessons make 8×8 digits and Shakespeare pastiche, but
# the same three families, scaled up, make photographs, voices and prose
# that people take for real.  A few habits carry over from the small case:
#
# * **Say what is generated.**  Label synthetic images and text as such when
#   you publish them; do not present samples as real data or real people's
#   words, and keep generated samples out of data sets that will be read as
#   measurements.
# * **Likelihood is not truth.**  A character model assigns high
#   probability to fluent text, not to correct text: lesson 16's samples
#   read like Shakespeare and mean nothing.  Fluency invites trust that the
#   model has not earned.
# * **Models remember.**  A model trained long on a small set can
#   reproduce its training examples (the GAN's discriminator memorising the
#   1,500 digits was the first sign of it); check samples against their
#   nearest training examples before sharing them, above all when the
#   training data is about people.
# * **Consent and provenance.**  Train on data you may use (the digits are
#   CC BY 4.0, Shakespeare public domain, and the README says so); the
#   same care applies to faces, voices and writing that belong to someone.
