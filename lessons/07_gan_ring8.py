# %% [markdown]
# # Lesson 07: the GAN game on the ring of 8 Gaussians
#
# A generative adversarial network (Goodfellow et al., 2014) learns to sample
# without ever writing down a density.  Two networks play a game: a
# *generator* G turns noise z ~ N(0, I) into points, a *discriminator* D
# looks at a point and says how likely it is to be real.  D learns to tell
# data from G's output; G learns to fool D.
#
# This lesson derives what the best discriminator is and checks it on a
# 1-D example, shows why the generator is trained with a different loss from
# the one in the game, then trains `scratchgen.models.GAN` on the classic
# test of mode collapse, eight tight Gaussians on a circle, and measures it
# the way the literature does (VEEGAN, PacGAN): how many of the 8 modes the
# samples hit, and what share of them lands close to a mode.

# %%
import math
import tempfile
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from scipy.stats import norm

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn, optim
from scratchgen.data import DataLoader
from scratchgen.data.registry import Dataset, load_dataset
from scratchgen.models import GAN
from scratchgen.runs import recipes, training
from scratchgen.runs.metrics import mode_coverage

from _common import host_values, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 07: the GAN game on the ring of 8 Gaussians")
rng = np.random.default_rng(0)
lesson_start = time.perf_counter()

# %% [markdown]
# ## 1. The game and the optimal discriminator
#
# Write p for the data distribution and q for the distribution of G(z).  D
# outputs a probability D(x) that x is real, and the two players share one
# value function, the log-likelihood of D as a real-vs-fake classifier:
#
#     V(D, G) = E_{x~p}[ log D(x) ] + E_{x~q}[ log(1 - D(x)) ],
#
#     min_G max_D V(D, G).
#
# For a fixed G, the inner maximum can be found point by point: V is the
# integral of  p(x) log D(x) + q(x) log(1 - D(x))  over x, and for each x
# the function  y -> a log y + b log(1 - y)  (a, b >= 0) has derivative
# a/y - b/(1 - y), zero at y = a/(a + b).  So the best discriminator is
#
#     D*(x) = p(x) / (p(x) + q(x)),
#
# the posterior probability that x is real when real and fake are equally
# likely a priori.  Put it back into V:
#
#     V(D*, G) = E_p[ log p/(p+q) ] + E_q[ log q/(p+q) ]
#              = -log 4 + KL(p || m) + KL(q || m),    m = (p + q)/2,
#              = -log 4 + 2 JSD(p || q).
#
# Against a perfect discriminator the generator minimises the Jensen-Shannon
# divergence between data and samples, which is 0 only at q = p (where
# D* = 1/2 everywhere and V = -log 4).
#
# Let us check D* numerically.  Fix p = N(0, 1) ("data") and
# q = N(1.5, 0.5²) ("generator"), train a small MLP discriminator on fresh
# samples of both with the binary cross-entropy (which is -V; Adam with a
# learning rate that falls linearly to 0, so the estimate settles), and compare
# its sigmoid output with p/(p + q).  The formula has a feature worth
# predicting: q has lighter tails than p, so far out on *either* side p
# dominates and D* climbs back to 1.

# %%
P, Q = norm(0.0, 1.0), norm(1.5, 0.5)


def optimal_d(x):
    return P.pdf(x) / (P.pdf(x) + Q.pdf(x))


sg.manual_seed(0)
critic = nn.Sequential(nn.Linear(1, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                       nn.LeakyReLU(0.2), nn.Linear(64, 1))
critic_opt = optim.Adam(critic.parameters(), lr=3e-3)
critic_steps = 300 if args.quick else 3000
for step in range(critic_steps):
    critic_opt.param_groups[0]["lr"] = 3e-3 * (1 - step / critic_steps)  # settle at the end
    real = sg.tensor(P.rvs((512, 1), random_state=rng))
    fake = sg.tensor(Q.rvs((512, 1), random_state=rng))
    real_logits, fake_logits = critic(real), critic(fake)
    loss = (F.binary_cross_entropy_with_logits(real_logits, sg.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, sg.zeros_like(fake_logits)))
    critic_opt.zero_grad()
    loss.backward()
    critic_opt.step()

xs = np.linspace(-4, 4.5, 400)
with sg.no_grad():
    d_learned = F.sigmoid(critic(sg.tensor(xs[:, None]))).numpy()[:, 0]
# compare where there are samples to learn from: (p + q)/2 above 1% of its peak
mixture = (P.pdf(xs) + Q.pdf(xs)) / 2
supported = mixture > 0.01 * mixture.max()
worst = np.abs(d_learned - optimal_d(xs))[supported].max()
print(f"after {critic_steps} steps, largest |D(x) - D*(x)| where the data are: {worst:.3f}")

# the value of the game: V(D, G) by Monte Carlo against -log 4 + 2 JSD by quadrature
n_mc = 200_000
with sg.no_grad():
    log_d_real = -F.softplus(-critic(sg.tensor(P.rvs((n_mc, 1), random_state=rng)))).numpy()
    log_1md_fake = -F.softplus(critic(sg.tensor(Q.rvs((n_mc, 1), random_state=rng)))).numpy()
v_learned = log_d_real.mean() + log_1md_fake.mean()
v_se = math.sqrt((log_d_real.var() + log_1md_fake.var()) / n_mc)  # Monte-Carlo standard error
grid = np.linspace(-12, 12, 200_001)
p_x, q_x = P.pdf(grid), Q.pdf(grid)
m_x = (p_x + q_x) / 2


def kl(a, b):
    """KL(a || b) of two densities on ``grid``, by the trapezoidal rule."""
    return np.trapezoid(a * np.log(np.maximum(a, 1e-300) / np.maximum(b, 1e-300)), grid)


jsd = (kl(p_x, m_x) + kl(q_x, m_x)) / 2
print(f"V(D, G) of the trained D: {v_learned:.4f} +- {v_se:.4f};  V(D*, G) = -log 4 + 2 JSD = "
      f"{-math.log(4):.4f} + 2 x {jsd:.4f} = {-math.log(4) + 2 * jsd:.4f}")
if not args.quick:
    assert worst < 0.05, worst
    assert abs(v_learned - (-math.log(4) + 2 * jsd)) < 0.01

# %%
fig = Figure(figsize=(7, 4.2))
ax = fig.add_subplot()
ax.fill_between(xs, P.pdf(xs), color="tab:green", alpha=0.2, label="p = N(0, 1)  (real)")
ax.fill_between(xs, Q.pdf(xs), color="tab:red", alpha=0.2, label="q = N(1.5, 0.5²)  (fake)")
ax.plot(xs, optimal_d(xs), color="black", lw=2.5, label="D*(x) = p / (p + q)")
ax.plot(xs, d_learned, color="tab:blue", lw=1.5, ls="--",
        label=f"sigmoid(MLP logit), {critic_steps} Adam steps")
ax.axhline(0.5, color="gray", lw=0.8, ls=":")
ax.set_xlabel("x")
ax.set_ylabel("D(x)   (densities shaded)")
ax.set_ylim(0, 1.05)
ax.legend(loc="lower left", fontsize=8.5)
ax.set_title("a trained discriminator finds the optimal one")
savefig(fig, "07_optimal_discriminator.png")

# %% [markdown]
# Where both densities are negligible (|x| > 3.5 or so) the network has
# seen almost no samples and its output is whatever the architecture
# extrapolates; D* is only pinned down where there is data.  That is also
# the weakness of the game: if p and q barely overlap (early in training,
# or for data on a thin manifold), D can separate them almost perfectly, and
# then what does G learn from it?
#
# ## 2. Saturating and non-saturating generator losses
#
# D outputs a logit l; D = sigmoid(l).  In the game, G *minimises*
# E_z log(1 - D(G(z))), the **saturating** loss.  By the chain rule every
# gradient G receives passes through dL/dl:
#
#     L_sat = log(1 - sigmoid(l)) = -softplus(l),   dL_sat/dl = -sigmoid(l) = -D.
#
# Early in training G's samples are bad, D rejects them confidently, D ≈ 0,
# and the gradient ≈ D vanishes: the worse G is, the less it learns.  The
# fix from the same paper is to *maximise* log D(G(z)) instead, the
# **non-saturating** loss, which leaves the game's equilibrium (q = p,
# D = 1/2) where it was but has
#
#     L_ns = -log sigmoid(l) = softplus(-l),   dL_ns/dl = -(1 - sigmoid(l)) = -(1 - D),
#
# largest exactly where G is worst.  L_ns is the BCE of fake logits against
# the label "real", which is what `GAN.generator_loss` computes.  Below, the
# gradients come from scratchgen's autograd and are checked against the
# formulas.

# %%
logits = sg.tensor(np.linspace(-10, 10, 401), dtype="float64", requires_grad=True)
saturating = -F.softplus(logits)
non_saturating = F.binary_cross_entropy_with_logits(logits, sg.ones_like(logits), reduction="none")
(g_sat,) = sg.grad(saturating.sum(), [logits])
(g_ns,) = sg.grad(non_saturating.sum(), [logits])
d_fake = F.sigmoid(logits).numpy()
np.testing.assert_allclose(g_sat.numpy(), -d_fake, rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(g_ns.numpy(), -(1 - d_fake), rtol=1e-12, atol=1e-15)
for i in (0, 200, 400):
    print(f"D(G(z)) = {d_fake[i]:.2e}: |dL/dlogit| saturating {abs(g_sat.numpy()[i]):.2e}, "
          f"non-saturating {abs(g_ns.numpy()[i]):.2e}")

# %%
fig = Figure(figsize=(11, 4))
left, right = fig.subplots(1, 2)
left.plot(d_fake, saturating.detach().numpy(), color="tab:red",
          label="saturating:  log(1 - D)")
left.plot(d_fake, non_saturating.detach().numpy(), color="tab:blue",
          label="non-saturating:  -log D")
left.set_xlabel("D(G(z))")
left.set_ylabel("generator loss (minimised)")
left.set_ylim(-5, 5)
left.legend()
left.set_title("both fall as D(G(z)) rises towards 1")
right.loglog(d_fake, np.abs(g_sat.numpy()), color="tab:red", lw=2, label="saturating:  D")
right.loglog(d_fake, np.abs(g_ns.numpy()), color="tab:blue", lw=2,
             label="non-saturating:  1 - D")
right.axvspan(d_fake[0], 0.01, color="gray", alpha=0.15)
right.text(2e-4, 2e-3, "early training:\nD rejects the fakes", fontsize=9)
right.set_xlabel("D(G(z))  =  sigmoid(logit)")
right.set_ylabel("|dL / dlogit|")
right.set_ylim(1e-5, 2)
right.legend(loc="lower right")
right.set_title("the gradient G receives, through the logit")
fig.tight_layout()
savefig(fig, "07_saturating_vs_nonsaturating.png")

# %% [markdown]
# ## 3. The ring of 8 Gaussians and how to score it
#
# Eight Gaussians with standard deviation 0.01 on the unit circle (Metz et
# al., 2017; VEEGAN; PacGAN): tiny islands of data in an empty plane.  A
# generator maps one connected blob of noise to the plane, so it must
# stretch it into eight islands and thin the bridges between them to
# nothing; a GAN that finds it easier to sit on a few islands, or to hop from
# island to island as D chases it, shows **mode collapse**.
#
# The protocol (Srivastava et al., 2017; Lin et al., 2018): draw 2,500
# samples from G; a sample is **high quality** if it lies within 3 standard
# deviations (here 0.03) of its nearest centre; a **mode is captured** if it
# is the nearest centre of at least one high-quality sample.
# `scratchgen.runs.metrics.mode_coverage` computes both, with the reverse KL of
# the mode histogram to the uniform one (0 when the modes are evenly
# covered).  What do perfect and collapsed samplers score?  In 2-D the
# squared distance to the centre in units of std is chi-squared with 2
# degrees of freedom, so even real data is high quality only with
# probability 1 - exp(-9/2) = 0.989.

# %%
data = load_dataset("ring8", "train")         # 50,000 points, as `scratchgen train` uses
test = load_dataset("ring8", "test")
centers, std = data.centers, data.std
real_score = mode_coverage(test.x[:2500], centers, std)
one_mode = centers[0] + std * rng.standard_normal((2500, 2))
collapsed_score = mode_coverage(one_mode, centers, std)
print(f"2,500 real points:      {real_score}  (expected HQ {1 - math.exp(-4.5):.3f})")
print(f"all samples in 1 mode:  {collapsed_score}  (log 8 = {math.log(8):.3f})")
assert real_score.modes == 8 and collapsed_score.modes == 1

# %% [markdown]
# ## 4. Training `scratchgen.models.GAN` on the ring
#
# We train with exactly the settings of `scratchgen train gan`: the model's
# constructor arguments and the training settings come from
# `scratchgen.runs.recipes.RECIPES`, and the loop below does what
# `scratchgen.runs.training.Run.fit` does, written out so every piece is in view:
#
# * the generator is an MLP 2 -> 256 -> 256 -> 256 -> 2 (ReLU), the
#   discriminator 4 -> 256 -> 256 -> 1 (LeakyReLU 0.2), both trained with
#   Adam (betas (0.5, 0.999), the usual GAN choice: less momentum, so each
#   player reacts faster to the other's moves);
# * each step (`GAN.train_step`) takes a batch of 512 real points, makes
#   **two** discriminator updates on its two halves, each against fresh
#   fakes, then one generator update with the non-saturating loss.  A D that
#   is closer to D* gives G a more faithful signal, which helps against
#   collapse;
# * D judges the points in pairs (PacGAN's packing, `pack=2`, Lin et al.,
#   2018), hence its 4 inputs: two real points side by side, or two fakes.
#   A generator that leaves a mode thin and crowds the others makes pairs
#   from the same island more often than the data does, and D can learn to
#   spot them.  Without it, one seed in ten ended this recipe with 7 of the
#   8 modes;
# * the learning rate is constant for the first half of training and then
#   falls linearly to 0 (`lr_decay = 0.5`).  With a constant rate the
#   generator keeps circling the modes, overshooting by a step's worth
#   every time; shrinking the steps lets it settle on them;
# * 300 epochs of the 50,000 points: 29,100 generator steps.  The modes are
#   found in the first few thousand; the rest buys precision.  After 44
#   epochs (the recipe before this one) 3-4% of the samples still lie on
#   the paths between modes, which a generator fed with connected noise has
#   to cross somewhere; long training makes those crossings steep enough
#   that almost no noise lands on them (benchmarks/README.md: 98.6% of
#   samples high quality, median of 10 seeds, against 96.7% after 44 epochs).
#
# Every 5% of the steps we evaluate the protocol on 2,500 samples from a
# *fixed* noise batch, drawn with NumPy rather than with scratchgen's
# generator so that evaluating never changes the training run's random
# numbers (its result is then the same as `scratchgen train gan`'s).

# %%
SEED = 0
model_args = recipes.model_args("gan", "ring8", data)
settings = recipes.training_settings("gan", "ring8", is_image=False)
if args.quick:
    settings["epochs"] = 2  # 2 x 97 steps: a smoke run
print("GAN", model_args)
print("settings", settings)


def lr_factor(step, total, lr_decay):
    """training.Run._set_lr: 1, then a straight line down to 0 at the end."""
    decay_steps = lr_decay * total
    return min(1.0, (total - step) / decay_steps) if decay_steps > 0 else 1.0


def train_gan(x, model_args, settings, evaluate=None, eval_steps=()):
    """Train a fresh GAN on the points ``x`` as `scratchgen train gan` does;
    call ``evaluate(model, step)`` before each step in ``eval_steps`` and at
    the end.  Returns the model and the per-step losses."""
    sg.manual_seed(SEED)
    model = GAN(**model_args)
    optimizers = model.make_optimizers(settings["lr"])
    loader = DataLoader(x, settings["batch_size"], shuffle=True, drop_last=True, seed=SEED)
    total = settings["epochs"] * len(loader)
    history, step = [], 0
    model.train()
    for _ in range(settings["epochs"]):
        for batch in loader:
            if step in eval_steps and evaluate is not None:
                evaluate(model, step)
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = settings["lr"] * lr_factor(step, total, settings["lr_decay"])
            history.append(model.train_step(batch, optimizers))
            step += 1
    if evaluate is not None:
        evaluate(model, step)
    return model.eval(), history


# %% [markdown]
# First, the claim that this loop *is* `scratchgen train`: run both on a
# small slice of the data (20 steps) and compare the losses step by step.

# %%
small = Dataset(data.x[:10 * 512], None, centers, std)
check_settings = {**settings, "epochs": 2}
_, loop_history = train_gan(small.x, model_args, check_settings)
with tempfile.TemporaryDirectory() as run_dir:
    run = training.start(training.RunConfig(model="gan", data="ring8", seed=SEED,
                                            model_args=model_args, **check_settings),
                         run_dir, dataset=small)
    run.fit(progress=False)
for key in ("d_loss", "g_loss"):
    ours = host_values(row[key] for row in loop_history)
    theirs = np.array([row[key] for row in run.history])
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
print(f"{len(run.history)} steps: this loop and training.Run give the same losses")

# %% [markdown]
# Now the real run.  `recorder` makes an `evaluate` that keeps the samples
# and the scores of every evaluation, by step.

# %%
eval_noise = sg.tensor(np.random.default_rng(1).standard_normal((2500, model_args["latent_dim"])))
steps_per_epoch = len(data.x) // settings["batch_size"]
total_steps = settings["epochs"] * steps_per_epoch
at_share = lambda share: round(share * total_steps)
eval_steps = [at_share(k / 20) for k in range(20)]  # the end is evaluated too


def recorder():
    samples, scores = {}, {}

    def evaluate(model, step):
        with sg.no_grad():
            samples[step] = model.generator(eval_noise).numpy()
        scores[step] = mode_coverage(samples[step], centers, std)

    return evaluate, samples, scores


evaluate, samples, scores = recorder()
start = time.perf_counter()
model, history = train_gan(data.x, model_args, settings, evaluate, eval_steps)
print(f"trained {total_steps} steps in {time.perf_counter() - start:.1f} s")
for step, score in scores.items():
    print(f"step {step:5d} (lr x {lr_factor(step, total_steps, settings['lr_decay']):.2f}): "
          f"{score.modes} modes, HQ {score.high_quality:.3f}, reverse KL {score.reverse_kl:.3f}")
final = scores[total_steps]
if not args.quick:
    assert final.modes == 8 and final.high_quality >= 0.95, final

# %%
def snapshot_figure(samples, scores, steps, title, name, zoom_on=None):
    """One column per step: the samples over the ring, and with ``zoom_on``
    (a centre) a second row that zooms in on that mode."""
    rows = [(1.45, None)] + ([(0.12, zoom_on)] if zoom_on is not None else [])
    fig = Figure(figsize=(3.1 * len(steps), 3.1 * len(rows) + 0.5))
    axes = np.array(fig.subplots(len(rows), len(steps))).reshape(len(rows), len(steps))
    for col, step in enumerate(steps):
        points, score = samples[step], scores[step]
        for (half_width, centre), ax in zip(rows, axes[:, col]):
            middle = np.zeros(2) if centre is None else np.asarray(centre)
            ax.scatter(points[:, 0], points[:, 1], s=2 if centre is None else 4,
                       alpha=0.4, color="tab:blue", lw=0)
            for c in centers:  # the high-quality zone: 3 std around each centre
                ax.add_patch(Circle(c, 3 * std, fill=False, color="red", lw=1))
            ax.scatter(centers[:, 0], centers[:, 1], marker="x", s=40 if centre is None else 80,
                       color="red", lw=1.2)
            ax.set_xlim(middle[0] - half_width, middle[0] + half_width)
            ax.set_ylim(middle[1] - half_width, middle[1] + half_width)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=8)
        axes[0, col].set_title(f"step {step} ({step / total_steps:.0%})\n{score.modes} modes, "
                               f"HQ {score.high_quality:.2f}", fontsize=10)
    if zoom_on is not None:
        axes[1, 0].set_ylabel(f"zoom on the mode at ({zoom_on[0]:.0f}, {zoom_on[1]:.0f})")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    savefig(fig, name)


snapshot_figure(samples, scores, [at_share(s) for s in (0, 0.1, 0.5, 0.75, 1)],
                "GAN samples over training (2,500, fixed noise); red: the 8 centres and "
                "their 3-std circles", "07_gan_training_snapshots.png", zoom_on=centers[0])

# %% [markdown]
# The top row shows the generator bending its noise into the ring and then
# pulling it apart into eight islands; the zoom shows what the
# high-quality share measures.  At 10% the mode's samples spill over the
# 3-std circle and stragglers line the paths between modes; by the end
# nearly all of them sit inside the circles, and the paths are almost bare.
#
# The losses.  If G matched the data and D were D*, every D would be 1/2:
# the discriminator loss (BCE on real + BCE on fake) would be 2 log 2 and the
# generator's log 2.  GAN losses do not fall to a minimum the way a
# classifier's do; they hover around this equilibrium while the two players
# trade.

# %%
steps = np.arange(1, len(history) + 1)
window = max(1, len(history) // 50)
decay_start = total_steps * (1 - settings["lr_decay"])
fig = Figure(figsize=(8, 4))
ax = fig.add_subplot()
for key, label, level, name in (("d_loss", "discriminator", 2 * math.log(2), "2 log 2"),
                                ("g_loss", "generator (non-saturating)", math.log(2), "log 2")):
    values = host_values(row[key] for row in history)
    (raw,) = ax.plot(steps, values, alpha=0.2, lw=0.6)
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1:], smooth, color=raw.get_color(), lw=1.8,
            label=f"{label} (mean of {window} steps)")
    ax.axhline(level, color=raw.get_color(), ls=":", lw=1)
    ax.text(1.01 * total_steps, level, name, color=raw.get_color(), va="bottom", fontsize=9)
ax.axvspan(decay_start, total_steps, color="gray", alpha=0.12, label="lr decays linearly to 0")
ax.set_xlim(0, 1.1 * total_steps)
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_ylim(0.4, 2.0)
ax.legend(loc="upper left", fontsize=9)
ax.set_title("GAN losses on ring8 (dotted: the value at D = 1/2)")
savefig(fig, "07_gan_losses.png")

# %% [markdown]
# While the lr is constant the discriminator loss dips below 2 log 2 again
# and again: each dip is a moment when G has thrown samples off the modes
# and D finds them (the last, near step 20,000, lines up with the dip of the
# high-quality share in the next figure), and G moves again.
# As the steps shrink, G settles on the modes, D can no longer tell the two
# apart, and both losses go to their equilibrium values.
#
# Now the protocol over training.

# %%
at = np.array(list(scores))
fig = Figure(figsize=(8, 4))
hq_ax = fig.add_subplot()
modes_ax = hq_ax.twinx()
hq_ax.plot(at, [s.high_quality for s in scores.values()], "o-", color="tab:blue",
           label="high-quality share")
hq_ax.axhline(1 - math.exp(-4.5), color="tab:blue", ls=":", lw=1,
              label="real data: 1 - exp(-9/2) = 0.989")
hq_ax.axhline(0.956, color="gray", ls="--", lw=1, label="PacGAN2 (published): 0.956")
modes_ax.plot(at, [s.modes for s in scores.values()], "s--", color="tab:red", ms=4,
              label="modes captured")
hq_ax.axvspan(decay_start, total_steps, color="gray", alpha=0.12, label="lr decays to 0")
hq_ax.set_ylim(0, 1.02)
modes_ax.set_ylim(0, 8.16)  # 8 modes level with HQ 1
modes_ax.set_yticks(range(9))
hq_ax.set_xlabel("step")
hq_ax.set_ylabel("share within 3 std of a centre", color="tab:blue")
modes_ax.set_ylabel("modes captured (of 8)", color="tab:red")
lines = hq_ax.get_legend_handles_labels(), modes_ax.get_legend_handles_labels()
hq_ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], loc="lower right", fontsize=9)
hq_ax.set_title("the VEEGAN/PacGAN protocol, every 5% of training (2,500 samples)")
savefig(fig, "07_gan_mode_coverage.png")

# %% [markdown]
# The generator finds all eight modes within the first tenth, but with a
# constant learning rate its high-quality share swings up and down (0.58 at
# 35%): a step of Adam at lr 5e-4 can move a mode's samples by more than the
# 0.03 that counts as high quality, and D keeps pushing them around.  Early
# in the decay the steps are still large enough for one such swing (at 70%,
# lr x 0.6: 7 modes, 0.48, recovered by the next evaluation).  In the last
# quarter the steps shrink below the width of a mode and the share climbs
# to the real data's 0.989.
#
# ## 5. For contrast: mode collapse
#
# What do the second discriminator step and the packing buy?  Train the
# same GAN with **one** D step per G step (the whole batch of 512 for each)
# on single points, everything else equal, for the first half of the
# steps, where the recipe too keeps its learning rate constant.

# %%
collapse_args = {**model_args, "d_steps": 1, "pack": 1}
collapse_settings = {**settings, "epochs": settings["epochs"] // 2, "lr_decay": 0.0}
half = collapse_settings["epochs"] * steps_per_epoch
evaluate_collapse, collapse_samples, collapse_scores = recorder()
start = time.perf_counter()
train_gan(data.x, collapse_args, collapse_settings, evaluate_collapse, eval_steps[:10])
print(f"one D step per G step: {half} steps in {time.perf_counter() - start:.1f} s")
for step, score in collapse_scores.items():
    centre = collapse_samples[step].mean(axis=0)
    print(f"step {step:5d}: {score.modes} modes, HQ {score.high_quality:.3f}, "
          f"samples' mean ({centre[0]:+.2f}, {centre[1]:+.2f}), "
          f"spread {collapse_samples[step].std(axis=0).mean():.3f}")
if not args.quick:  # collapsed: every evaluation sees fewer than 8 modes
    assert max(s.modes for s in collapse_scores.values()) < 8

snapshot_figure(collapse_samples, collapse_scores, [at_share(s) for s in (0.1, 0.2, 0.3, 0.4, 0.5)],
                "one D step per G step: the generator collapses onto a thin streak that "
                "jumps around the ring", "07_gan_mode_collapse.png")

# %% [markdown]
# This is mode collapse in its classic form.  The generator squeezes all of
# its noise onto one thin streak, aimed at or near a single mode.  D learns
# that this spot is fake, and since all the samples move together, G's
# whole output jumps to another place D currently believes in; D follows,
# and so on around the ring: hardly a sample is ever of high quality.  A discriminator that is only one step behind is a moving target
# that the generator can outrun; with two steps (and the fresh fakes each
# one sees) D stays closer to D* for the current generator, and its
# gradient points G to *all* the data it misses, not just away from where
# G is now.  Packing is the recipe's other remedy: a D that sees two
# samples at once can tell that they are alike more often than two real
# points are.

# %%
print(f"final (recipe): {final.modes} of 8 modes, high quality {final.high_quality:.3f}, "
      f"reverse KL {final.reverse_kl:.3f}; lesson took {time.perf_counter() - lesson_start:.0f} s")
