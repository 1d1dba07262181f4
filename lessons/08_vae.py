# %% [markdown]
# # Lesson 08: the VAE and its two loss terms
#
# A variational autoencoder (Kingma & Welling, 2014) is a latent-variable
# model: draw a code z from a prior p(z) = N(0, I), then an image x from a
# decoder p(x|z).  Training maximises a lower bound on log p(x), the ELBO,
# which splits into two terms that pull against each other:
#
# * **reconstruction**: encode x, sample a code, decode it, and score how
#   well the decoder explains x;
# * **KL**: how far the encoder's distribution over codes strays from the
#   prior, the price of using the latent space.
#
# This lesson derives the bound, checks each term against an independent
# computation (the KL against a Monte-Carlo estimate, the gradient of the
# sampling step against a formula), builds a VAE by hand from `nn.Linear`
# layers and shows it equals `scratchgen.models.VAE` number for number, then
# trains one with a 2-D latent space on the bundled 8×8 digits and looks at
# what it learned.

# %%
import math
import time

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.special import xlogy
from scipy.stats import norm

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn, optim
from scratchgen.runs import plot
from scratchgen.data import DataLoader, load_digits
from scratchgen.models import VAE

from _common import FIGURES, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 08: the VAE and its two loss terms")
sg.manual_seed(0)
rng = np.random.default_rng(0)

x_train, y_train = load_digits("train")  # (1500, 1, 8, 8), values in [0, 1]
x_test, y_test = load_digits("test")     # (297, 1, 8, 8)
print(f"train {x_train.shape}, test {x_test.shape}; "
      f"{np.unique(x_train).size} grey levels in [{x_train.min()}, {x_train.max()}]")

# %% [markdown]
# ## 1. The evidence lower bound
#
# The likelihood of one image integrates over every code that could have
# made it, log p(x) = log ∫ p(x|z) p(z) dz, which no one can compute for a
# neural decoder.  Any distribution q(z|x) (the *encoder*) turns the
# integral into an expectation, and since log is concave, Jensen's
# inequality moves it outside:
#
#     log p(x) = log E_q[ p(x|z) p(z) / q(z|x) ]
#             >= E_q[ log p(x|z) + log p(z) - log q(z|x) ]
#              = E_q[ log p(x|z) ]  -  KL( q(z|x) || p(z) )   =  ELBO(x).
#
# The gap is KL( q(z|x) || p(z|x) ) >= 0: the bound is tight where the encoder
# equals the true posterior.  Both networks are trained together to
# maximise the ELBO; the loss is -ELBO = reconstruction + KL.
#
# ## 2. The reconstruction term: a Bernoulli decoder with logits
#
# The decoder outputs one logit l_i per pixel and calls pixel i Bernoulli
# with probability sigma(l_i).  Then
#
#     log p(x|z) = sum_i [ x_i log sigma(l_i) + (1 - x_i) log(1 - sigma(l_i)) ]
#                = -sum_i BCE_with_logits(l_i, x_i),
#
# the binary cross-entropy summed over the 64 pixels (not averaged: the
# ELBO is a log-probability of the whole image, in nats).  With logits the
# loss is softplus(l) - x l, finite for any l (lesson 05's log-sum-exp
# argument), where sigma followed by log would underflow to log 0.  (The
# rule as ops is `_bce_with_logits_plain` in `scratchgen/losses.py`;
# `F.binary_cross_entropy_with_logits` is the same numbers as one Function.)
#
# One caveat.  A Bernoulli wants pixels that are 0 or 1; ours have 17 grey
# levels.  Scoring grey targets with the BCE is the usual practice, but then
# -BCE is a cross-entropy, not a normalised log-probability: even a perfect
# decoder, sigma(l_i) = x_i, pays the targets' own entropy
# H(x) = sum_i H_Bernoulli(x_i).  The nats below compare models trained this
# way with each other, not with published numbers on binarised MNIST.

# %%
def bce_with_logits_numpy(logits, x):
    """-[x log sigma(l) + (1 - x) log(1 - sigma(l))], written the naive way."""
    p = 1 / (1 + np.exp(-logits))
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


x_flat = x_train[:4].reshape(4, 64).astype(np.float64)
logits = rng.standard_normal((4, 64))
naive = bce_with_logits_numpy(logits, x_flat).sum(axis=1)
library = F.binary_cross_entropy_with_logits(sg.tensor(logits, dtype="float64"),
                                             sg.tensor(x_flat, dtype="float64"), reduction="none")
library = library.sum(axis=-1).numpy()
print("-log p(x|z) of 4 images, naive NumPy:", np.round(naive, 4))
print("                F.bce_with_logits sum:", np.round(library, 4))
np.testing.assert_allclose(library, naive, rtol=1e-10)


def bernoulli_entropy(x):
    """sum_i H(x_i) in nats per image: the reconstruction term's floor."""
    x = x.reshape(len(x), -1).astype(np.float64)
    return -(xlogy(x, x) + xlogy(1 - x, 1 - x)).sum(axis=1)  # xlogy: 0 log 0 = 0


recon_floor = bernoulli_entropy(x_train).mean()
print(f"floor of the reconstruction term on the training set, H(x): {recon_floor:.2f} nats")

# %% [markdown]
# ## 3. The KL term in closed form
#
# The encoder outputs a mean mu and a log-variance logvar = log sigma^2 for
# each latent dimension: q(z|x) = N(mu, diag sigma^2).  (Predicting the log
# keeps sigma^2 positive without a constraint.)  For one dimension, against
# the prior N(0, 1),
#
#     log q(z) = -1/2 log 2 pi - log sigma - (z - mu)^2 / (2 sigma^2)
#     log p(z) = -1/2 log 2 pi - z^2 / 2
#
# and with E_q[(z - mu)^2] = sigma^2 and E_q[z^2] = mu^2 + sigma^2,
#
#     KL = E_q[ log q(z) - log p(z) ] = -log sigma - 1/2 + (mu^2 + sigma^2) / 2
#        = 1/2 ( mu^2 + sigma^2 - 1 - log sigma^2 ).
#
# The dimensions are independent under both distributions, so the KL of
# the vector is the sum over dimensions: `F.gaussian_kl(mu, logvar)`.  It is
# zero only at mu = 0, sigma = 1, where q *is* the prior.  We check it
# against the definition itself, E_q[log q - log p], estimated in NumPy from
# samples of q, with the Monte-Carlo standard error beside it.

# %%
mu = np.array([[0.0, 0.0], [1.0, -0.5], [2.0, 0.3]])
logvar = np.array([[0.0, 0.0], [-1.0, 0.5], [-3.0, 1.0]])
n_mc = 200_000
z = mu + np.exp(logvar / 2) * rng.standard_normal((n_mc, *mu.shape))  # samples of q
log_q = norm.logpdf(z, loc=mu, scale=np.exp(logvar / 2)).sum(axis=-1)   # (n_mc, 3)
log_p = norm.logpdf(z).sum(axis=-1)
kl_mc = (log_q - log_p).mean(axis=0)
kl_se = (log_q - log_p).std(axis=0) / math.sqrt(n_mc)
kl_closed = F.gaussian_kl(sg.tensor(mu, dtype="float64"), sg.tensor(logvar, dtype="float64"),
                          reduction="none").numpy()
for m, lv, closed, mc, se in zip(mu, logvar, kl_closed, kl_mc, kl_se):
    print(f"mu {m}, logvar {lv}: F.gaussian_kl {closed:.4f}, "
          f"Monte Carlo {mc:.4f} +- {se:.4f}")
np.testing.assert_array_less(np.abs(kl_closed - kl_mc), 4 * kl_se + 1e-12)

# %% [markdown]
# ## 4. The reparameterisation trick
#
# The reconstruction term is an expectation over z ~ q(z|x), estimated with
# a sample.  But a sample drawn by a random-number generator is, to the
# autograd, a constant: the graph has no edge from mu and sigma to it, so the
# gradient of the estimate with respect to the encoder is missing (reported
# as unused), although E_q[f(z)] clearly depends on mu.
#
# The trick is to draw the noise first and make z a function of it:
#
#     z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I).
#
# z has the same distribution, the randomness sits in eps (which needs no
# gradient), and the path from mu and logvar to z is two ordinary ops.  Then
# d/dmu E[f(z)] = E[ d/dmu f(mu + sigma eps) ], and a sample average of the
# inside is an unbiased estimate of the gradient.
#
# A 1-D case with an answer on paper: f(z) = z^2, so E[z^2] = mu^2 + sigma^2,
#
#     d/dmu = 2 mu,    d/dlogvar = d sigma^2 / dlogvar = sigma^2 = e^logvar.

# %%
mu_t = sg.tensor(0.7, dtype="float64", requires_grad=True)
logvar_t = sg.tensor(-0.4, dtype="float64", requires_grad=True)
sigma = math.exp(-0.4 / 2)

z_direct = sg.tensor(rng.normal(mu_t.item(), sigma, size=n_mc), dtype="float64")  # sampled directly
grads = sg.grad((z_direct * z_direct).mean(), [mu_t, logvar_t], allow_unused=True)
print(f"sampling z directly:  d/dmu {grads[0]}, d/dlogvar {grads[1]}  (no path to the sample)")

eps = rng.standard_normal(n_mc)
z_rep = mu_t + (0.5 * logvar_t).exp() * sg.tensor(eps, dtype="float64")
d_mu, d_logvar = (g.item() for g in sg.grad((z_rep * z_rep).mean(), [mu_t, logvar_t]))
# per-sample gradients, for the Monte-Carlo standard error of each average
z_np = mu_t.item() + sigma * eps
se_mu, se_logvar = ((2 * z_np).std() / math.sqrt(n_mc),
                    (z_np * eps * sigma).std() / math.sqrt(n_mc))
print(f"reparameterised:      d/dmu {d_mu:.4f} +- {se_mu:.4f} (exact 2 mu = {2 * 0.7:.4f}), "
      f"d/dlogvar {d_logvar:.4f} +- {se_logvar:.4f} (exact sigma^2 = {sigma ** 2:.4f})")
assert grads == (None, None)
assert abs(d_mu - 2 * 0.7) < 4 * se_mu and abs(d_logvar - sigma ** 2) < 4 * se_logvar

# %% [markdown]
# ## 5. A VAE by hand
#
# Encoder 64 -> 256 -> 2×2 (a ReLU hidden layer; a linear head whose four
# outputs are mu and logvar of a 2-D code), decoder 2 -> 256 -> 64 (pixel
# logits).  The loss of a batch is the mean over its examples of
# reconstruction + KL, each per example, in nats.

# %%
class HandVAE(nn.Module):
    def __init__(self, data_dim=64, hidden=256, latent_dim=2):
        super().__init__()
        self.latent_dim = latent_dim
        self.enc_hidden = nn.Linear(data_dim, hidden)
        self.enc_out = nn.Linear(hidden, 2 * latent_dim)
        self.dec_hidden = nn.Linear(latent_dim, hidden)
        self.dec_out = nn.Linear(hidden, data_dim)

    def encode(self, x):
        h = self.enc_out(F.relu(self.enc_hidden(x.reshape(x.shape[0], -1))))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decoder_output(self, z):
        return self.dec_out(F.relu(self.dec_hidden(z)))


def loss_terms(model, x):
    """(reconstruction, KL) per example in nats, each of shape (n,), from one
    reparameterised sample of z; any model with encode and decoder_output."""
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * sg.randn(*mu.shape, dtype=mu.dtype)
    recon = F.binary_cross_entropy_with_logits(model.decoder_output(z), x.reshape(x.shape[0], -1),
                                               reduction="none").sum(axis=-1)
    return recon, F.gaussian_kl(mu, logvar, reduction="none")


hand = HandVAE()
library_vae = VAE(image_shape=(1, 8, 8), latent_dim=2, hidden=(256,))
# the library keeps each network in an nn.Sequential: Linear, ReLU, Linear
renamed = {"enc_hidden": "encoder.0", "enc_out": "encoder.2",
           "dec_hidden": "decoder.0", "dec_out": "decoder.2"}


def library_key(key):
    """'enc_hidden.weight' -> 'encoder.0.weight'."""
    layer, tensor_name = key.split(".")
    return f"{renamed[layer]}.{tensor_name}"


library_vae.load_state_dict({library_key(k): v for k, v in hand.state_dict().items()})

batch = sg.tensor(x_train[:32])
sg.manual_seed(5)  # the same eps for both
recon, kl = loss_terms(hand, batch)
hand_loss = (recon + kl).mean()
sg.manual_seed(5)
library_loss = library_vae.loss(batch)
hand_loss.backward()
library_loss.backward()

print(f"hand-built: reconstruction {recon.mean().item():.4f} + KL {kl.mean().item():.4f} "
      f"= loss {hand_loss.item():.6f};  scratchgen.models.VAE: loss {library_loss.item():.6f}")
np.testing.assert_allclose(library_loss.item(), hand_loss.item(), rtol=1e-6)
for mine, theirs in zip(hand.encode(batch), library_vae.encode(batch)):  # mu, then logvar
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
library_params = dict(library_vae.named_parameters())
worst = max(np.abs(p.grad.numpy() - library_params[library_key(k)].grad.numpy()).max()
            for k, p in hand.named_parameters())
print(f"same mu, logvar; largest difference between the two models' gradients: {worst:.1e}")
assert worst < 1e-5

# %% [markdown]
# ## 6. Training on the digits, watching both terms
#
# `scratchgen.models.VAE` with a 2-D latent space (so we can draw it), Adam
# at lr 1e-3, batches of 64, 100 epochs.  Instead of `model.loss` we compute
# the two terms separately with section 5's `loss_terms`, to see how the
# optimiser trades one for the other, and after every epoch evaluate both
# on the test set.

# %%
epochs = 1 if args.quick else 100
steps_cap = 5 if args.quick else None  # --quick: a few steps, just to run the code
batch_size = 64

sg.manual_seed(1)
model = VAE(image_shape=(1, 8, 8), latent_dim=2, hidden=(256,))
optimizer = optim.Adam(model.parameters(), lr=1e-3)
loader = DataLoader(x_train, batch_size=batch_size, shuffle=True, seed=0)
train_log = {"reconstruction": [], "KL": []}
test_log = {"reconstruction": [], "KL": []}
x_test_t = sg.tensor(x_test)

start = time.perf_counter()
for epoch in range(epochs):
    for xb in loader:
        recon, kl = (term.mean() for term in loss_terms(model, xb))
        optimizer.zero_grad()
        (recon + kl).backward()
        optimizer.step()
        train_log["reconstruction"].append(recon.item())
        train_log["KL"].append(kl.item())
        if steps_cap is not None and len(train_log["KL"]) == steps_cap:
            break
    with sg.no_grad():
        for name, term in zip(test_log, loss_terms(model, x_test_t)):
            test_log[name].append(term.mean().item())
    if epoch % 20 == 0 or epoch == epochs - 1:
        last = {name: np.mean(values[-len(loader):]) for name, values in train_log.items()}
        print(f"epoch {epoch + 1:3d}: train reconstruction {last['reconstruction']:6.2f}  "
              f"KL {last['KL']:5.2f};   test reconstruction {test_log['reconstruction'][-1]:6.2f}  "
              f"KL {test_log['KL'][-1]:5.2f}  (nats per example)")
train_seconds = time.perf_counter() - start
print(f"trained {len(train_log['KL'])} steps in {train_seconds:.1f} s")
model.eval()

# %%
steps_per_epoch = len(loader)
fig = Figure(figsize=(11, 4))
for ax, name in zip(fig.subplots(1, 2), train_log):
    values = np.array(train_log[name])
    step_epochs = (np.arange(len(values)) + 1) / steps_per_epoch
    ax.plot(step_epochs, values, color="tab:blue", alpha=0.25, lw=0.8, label="train, every batch")
    if len(values) >= steps_per_epoch:
        per_epoch = values[:len(values) // steps_per_epoch * steps_per_epoch]
        per_epoch = per_epoch.reshape(-1, steps_per_epoch).mean(axis=1)
        ax.plot(np.arange(1, len(per_epoch) + 1), per_epoch, color="tab:blue", lw=2,
                label="train, epoch mean")
    ax.plot(np.arange(1, len(test_log[name]) + 1), test_log[name], color="tab:orange", lw=2,
            label="test, after each epoch")
    if name == "reconstruction":
        ax.axhline(recon_floor, color="gray", ls="--", lw=1,
                   label=f"floor H(x) = {recon_floor:.1f} (grey targets)")
        ax.set_ylim(recon_floor - 2, max(values[0], test_log[name][0]) + 2)
        ax.set_title("reconstruction:  -E_q[ log p(x|z) ]")
    else:
        ax.set_ylim(0, None)
        ax.set_title("KL( q(z|x) || N(0, I) )")
    ax.set_xlabel(f"epoch ({steps_per_epoch} batches of {batch_size})")
    ax.set_ylabel("nats per example")
    ax.legend()
fig.suptitle("VAE (64-256-2 / 2-256-64) on 8x8 digits: the two terms of -ELBO")
fig.tight_layout()
savefig(fig, "08_vae_loss_terms.png")

# %% [markdown]
# The two terms pull against each other.  In the first epochs the KL falls
# almost to zero: the decoder cannot yet make use of z, so the cheapest move
# is to make q(z|x) the prior for every image and decode an average digit.
# Then the decoder learns to read the code, the reconstruction cost drops,
# and the KL *rises*: every nat of information about x that z carries is
# paid for in KL, and the optimiser buys it as long as it saves more than a
# nat of reconstruction.  Training and test curves lie on top of each other:
# two numbers per image leave little room to memorise 1,500 images.
#
# ## 7. Test log-likelihood: ELBO and IWAE
#
# The ELBO is a lower bound; the importance-weighted bound with k samples
# (Burda et al., 2016)
#
#     IWAE_k(x) = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x),
#
# averages the ratio *inside* the log, so Jensen's inequality costs less:
# IWAE_1 = ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x) (in expectation), and it
# converges to log p(x) as k grows.  Both are estimates (`model.elbo` draws
# one z per image), so we average the ELBO over several draws and give its
# standard error.

# %%
ks = (2, 5) if args.quick else (10, 100)
with sg.no_grad():
    elbo_draws = np.array([model.elbo(x_test_t).numpy().mean()
                           for _ in range(2 if args.quick else 20)])
    iwae = {k: model.iwae(x_test_t, k=k).numpy().mean() for k in ks}
test_elbo = elbo_draws.mean()
elbo_se = elbo_draws.std() / math.sqrt(len(elbo_draws))
print(f"test ELBO      {test_elbo:8.3f} +- {elbo_se:.3f} nats per example "
      f"(mean of {len(elbo_draws)} draws)")
for k, value in iwae.items():
    print(f"test IWAE_{k:<4d} {value:8.3f} nats per example")
print(f"(no bound can exceed -H(x) = {-bernoulli_entropy(x_test).mean():.3f}, "
      "the test targets' own entropy)")
if not args.quick:  # a tolerance for the sampling noise of both estimates
    assert iwae[ks[-1]] >= test_elbo - 0.05, (iwae, test_elbo)
    assert test_elbo > -30, "training failed: the test ELBO should be near -25 nats"

# %% [markdown]
# ## 8. What the model learned
#
# Reconstructions: each test image is encoded to the mean of q(z|x) and
# decoded to pixel probabilities.  Two numbers per image cannot hold every
# detail, so the decoder returns a typical digit of the kind it was given.

# %%
with sg.no_grad():
    mu_test, _ = model.encode(x_test_t)
    recons = model.decode(mu_test).numpy()
path = plot.reconstructions(x_test, recons, FIGURES / "08_vae_reconstructions.png", n=10,
                            title="test digits and their reconstructions\n"
                                  "(decoded mean of q(z|x))")
print(f"wrote {path}")

# %% [markdown]
# The latent space: the test images' encoder means, coloured by their digit
# (labels the VAE never saw).  The prior asks for N(0, I); the KL term keeps
# the codes near the origin, the reconstruction term keeps different digits
# apart.  The dashed square is the area decoded in the next figure.

# %%
mu_np = mu_test.numpy()
edge = norm.ppf(0.95)  # latent_manifold's default quantile 0.05 on each side
colors = colormaps["tab10"]
fig = Figure(figsize=(6.5, 6))
ax = fig.add_subplot()
for digit in range(10):
    points = mu_np[y_test == digit]
    ax.scatter(points[:, 0], points[:, 1], s=14, color=colors(digit), alpha=0.8, label=str(digit))
    if len(points):
        cx, cy = np.median(points, axis=0)
        ax.text(cx, cy, str(digit), fontsize=16, weight="bold", ha="center", va="center",
                color=colors(digit), bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
ax.add_patch(Rectangle((-edge, -edge), 2 * edge, 2 * edge, fill=False, ls="--", color="gray"))
ax.set_aspect("equal")
ax.set_xlabel("z1")
ax.set_ylabel("z2")
ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.02, 0.5))
ax.set_title("encoder means of the 297 test digits\n"
             "(big label: median of each class; dashed: the decoded grid)")
savefig(fig, "08_vae_latent_space.png")

# %% [markdown]
# The manifold: decode a 15×15 grid of codes.  The grid is spaced evenly in
# the prior's probability, not in z (points at the 5%, ..., 95% quantiles of
# N(0, 1) along each axis), so each cell covers the same prior mass.
# Neighbouring codes decode to similar images, and moving across the grid
# morphs one digit into the next: the decoder is a smooth map.

# %%
def decode_host(z):
    with sg.no_grad():
        return model.decode(sg.tensor(z)).numpy()


path = plot.latent_manifold(decode_host, FIGURES / "08_vae_latent_manifold.png",
                            title="decoded 15x15 grid of z (z1 left to right, z2 bottom to top)")
print(f"wrote {path}")

# %% [markdown]
# Samples: z from the prior N(0, I), decoded to pixel probabilities (the
# decoder's mean, the usual way to show a Bernoulli VAE's samples; drawing
# 0/1 pixels from it would only add salt-and-pepper noise).

# %%
sg.manual_seed(3)
samples = model.sample(100).numpy()
path = plot.sample_grid(samples, FIGURES / "08_vae_samples.png", nrow=10,
                        title="100 samples: z ~ N(0, I), decoded")
print(f"wrote {path}")

# %% [markdown]
# With only two latent dimensions the samples are blurry and some fall
# between classes, where the prior has mass but no training digit was
# encoded.  A larger latent space (the `scratchgen train vae --data mnist`
# recipe uses 20) sharpens them, at the price of a latent space we can no
# longer draw.
