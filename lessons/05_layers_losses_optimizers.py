# %% [markdown]
# # Lesson 05: layers, losses and optimizers on real digits
#
# With an autograd engine that we trust (lessons 03 and 04), a neural
# network is three more pieces, and this lesson builds each by hand first,
# then checks that scratchgen's version agrees:
#
# 1. a **layer**: `Linear`, y = x W^T + b, with PyTorch's weight layout and
#    default initialisation;
# 2. a **loss**: cross-entropy, read off `log_softmax`, and why it must be
#    computed that way;
# 3. an **optimizer**: plain SGD, SGD with momentum and Adam train the same
#    network from the same start on the same batches, so their loss curves
#    can be compared fairly;
#
# and finally a small convolutional network that classifies the bundled 8×8
# digits (1,500 training and 297 test images) with more than 95% accuracy in
# a few seconds on a CPU.

# %%
import math
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn, optim
from scratchgen.data import DataLoader, load_digits

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 05: layers, losses and optimizers")
sg.manual_seed(0)

x_train, y_train = load_digits("train", flatten=True)
x_test, y_test = load_digits("test", flatten=True)
print(f"train {x_train.shape} {x_train.dtype}, labels {y_train.shape} {y_train.dtype}; "
      f"test {x_test.shape}; pixel range [{x_train.min()}, {x_train.max()}]")

# %% [markdown]
# ## 1. A Linear layer by hand
#
# A dense layer maps `in` features to `out` features, y = x W^T + b, for a
# batch x of shape (N, in).  PyTorch stores W as (out, in): row o holds the
# weights that produce output o, so `W[o] @ x[n]` is one output.
#
# The default initialisation draws every weight and bias from
# U(-1/sqrt(in), 1/sqrt(in)).  Its variance is (1/in) / 3, so a unit-variance
# input gives outputs of variance about in * 1/(3 in) = 1/3 whatever the
# width: signals do not grow or shrink with the size of the layer (see
# `scratchgen/nn/init.py` for the derivation and the Kaiming and Xavier
# variants).

# %%
rng = np.random.default_rng(0)
n_in, n_out = 64, 128
bound = 1 / math.sqrt(n_in)
W = rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32)
b = rng.uniform(-bound, bound, size=n_out).astype(np.float32)
batch = x_train[:5]
y_numpy = batch @ W.T + b  # (5, 64) @ (64, 128) + (128,) -> (5, 128)

layer = nn.Linear(n_in, n_out)
print(layer, {name: p.shape for name, p in layer.named_parameters()})
w_lib = layer.weight.numpy()
print(f"default init: |w| <= {np.abs(w_lib).max():.4f} (bound 1/sqrt(64) = {bound:.4f}), "
      f"std {w_lib.std():.4f} (theory bound/sqrt(3) = {bound / math.sqrt(3):.4f})")
assert np.abs(w_lib).max() <= bound

layer.load_state_dict({"weight": W, "bias": b})  # our hand-drawn weights
y_library = layer(sg.tensor(batch)).numpy()
print(f"nn.Linear vs x @ W.T + b: largest difference {np.abs(y_library - y_numpy).max():.1e}")
np.testing.assert_allclose(y_library, y_numpy, rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## 2. Cross-entropy from log_softmax
#
# A classifier outputs one *logit* z_k per class; softmax turns them into
# probabilities p_k = exp(z_k) / sum_j exp(z_j), and the loss of an example
# with label y is the negative log-probability of its label:
#
#     CE(z, y) = -log p_y = -z_y + log sum_j exp(z_j) = logsumexp(z) - z_y.
#
# Computing p first and then its log fails in floating point: exp(z)
# overflows to inf for z > 88 in float32 (and inf / inf is nan), and a tiny
# p_y rounds to 0, whose log is -inf.  The right-hand form never builds p.  Subtracting
# m = max_j z_j inside the log-sum-exp changes nothing mathematically,
#
#     logsumexp(z) = m + log sum_j exp(z_j - m),
#
# but now every exponent is <= 0 (no overflow) and one term equals 1 (the
# sum is >= 1, its log finite).  That is `log_softmax(z) = z - logsumexp(z)`,
# and `F.cross_entropy` picks entry y of it.  Its gradient with respect to
# the logits is simply softmax(z) - onehot(y).

# %%
def cross_entropy_naive(z, y):
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(y)), y]).mean()


def log_softmax_stable(z):
    m = z.max(axis=1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))


def cross_entropy_stable(z, y):
    return -log_softmax_stable(z)[np.arange(len(y)), y].mean()


logits = rng.standard_normal((4, 10)).astype(np.float32)
labels = np.array([3, 1, 4, 1])
for scale in (1, 100):
    z = logits * scale
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        naive = cross_entropy_naive(z, labels)
    stable = cross_entropy_stable(z, labels)
    library = F.cross_entropy(sg.tensor(z), sg.tensor(labels)).item()
    print(f"logits x{scale:<3d}: naive {naive:10.4f}   stable {stable:10.4f}   "
          f"F.cross_entropy {library:10.4f}")
    np.testing.assert_allclose(library, stable, rtol=1e-5)
assert not np.isfinite(naive), "at scale 100 the naive form should overflow"

z = sg.tensor(logits, requires_grad=True)
F.cross_entropy(z, sg.tensor(labels)).backward()
softmax = np.exp(log_softmax_stable(logits))
expected = (softmax - np.eye(10)[labels]) / len(labels)  # the 1/N of the mean
np.testing.assert_allclose(z.grad.numpy(), expected, atol=1e-6)
print("gradient of the mean cross-entropy = (softmax - onehot) / N: checked")

# %% [markdown]
# ## 3. Three optimizers, one network, one start, the same batches
#
# A multi-layer perceptron 64 -> 128 -> 10 with a ReLU.  For a fair race
# every run starts from the same weights (`sg.manual_seed` before building
# the model) and sees the same mini-batches in the same order (the
# `DataLoader`'s own `seed`), so the optimizer is the only difference:
#
# * SGD:  p <- p - lr g;
# * SGD with momentum 0.9: steps along a running sum of gradients, which on a
#   steady slope is 1/(1 - 0.9) = 10 times the plain step;
# * Adam: divides a running mean of g by the root of a running mean of g^2,
#   so every weight moves about lr per step whatever its gradient's scale.
#
# The update rules are written out in `scratchgen/optim/sgd.py` and
# `adam.py`; they are PyTorch's, term for term.  Adam's are in
# `Adam._update_plain`, line by line; the step runs `Adam._update`, the same
# numbers computed in place (tests/test_plain_and_fast.py checks that).

# %%
epochs = 1 if args.quick else 30
steps_cap = 5 if args.quick else None  # --quick: a few steps, just to run the code
batch_size = 64


def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def accuracy(model, x, y):
    model.eval()
    with sg.no_grad():
        predicted = model(sg.tensor(x)).numpy().argmax(axis=1)
    model.train()
    return (predicted == y).mean()


def train(model, optimizer, x, y, epochs):
    """Mini-batch training; returns the loss of every step."""
    loader = DataLoader((x, y), batch_size=batch_size, shuffle=True, seed=0)
    losses = []
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if steps_cap is not None and len(losses) == steps_cap:
                return losses
    return losses


recipes = {
    "SGD, lr 0.05": lambda params: optim.SGD(params, lr=0.05),
    "SGD + momentum 0.9, lr 0.05": lambda params: optim.SGD(params, lr=0.05, momentum=0.9),
    "Adam, lr 1e-3": lambda params: optim.Adam(params, lr=1e-3),
}
curves, mlp_accuracy = {}, {}
for name, make_optimizer in recipes.items():
    sg.manual_seed(1)  # the same initial weights for every optimizer
    model = mlp()
    start = time.perf_counter()
    curves[name] = train(model, make_optimizer(model.parameters()), x_train, y_train, epochs)
    mlp_accuracy[name] = accuracy(model, x_test, y_test)
    print(f"{name:28s}: final loss {np.mean(curves[name][-10:]):.4f}, "
          f"test accuracy {mlp_accuracy[name]:.1%}  ({time.perf_counter() - start:.1f} s)")

# %%
def moving_average(values, window):
    window = min(window, len(values))
    return np.convolve(values, np.ones(window) / window, mode="valid")


steps_per_epoch = math.ceil(len(x_train) / batch_size)
fig = Figure(figsize=(7.5, 4.5))
ax = fig.add_subplot()
for (name, losses), color in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green")):
    ax.plot(losses, color=color, alpha=0.25, lw=0.8)
    smooth = moving_average(losses, steps_per_epoch)
    ax.plot(np.arange(len(smooth)) + len(losses) - len(smooth), smooth, color=color, lw=2,
            label=f"{name}  (test acc. {mlp_accuracy[name]:.1%})")
ax.set_yscale("log")
ax.set_xlabel(f"step (batch of {batch_size}; {steps_per_epoch} steps per epoch)")
ax.set_ylabel("training cross-entropy (nats)")
ax.set_title("MLP 64-128-10 on 8x8 digits: same init, same batches\n"
             "thin: every step; thick: moving average over one epoch")
ax.legend()
savefig(fig, "05_optimizers.png")

# %% [markdown]
# Plain SGD with lr 0.05 is the slowest; momentum multiplies its effective
# step by ten and gets there far sooner.  Adam lies between, at its default
# learning rate and with no tuning at all: its selling point is that lr 1e-3
# works reasonably on almost any network, whereas SGD's rate has to be found
# for each one.  (Plain SGD with a ten times larger rate would catch up with
# momentum here; momentum's other gift, damping the zig-zag across narrow
# valleys, matters more in deeper networks.)
#
# ## 4. A small convolutional network
#
# The MLP sees the 64 pixels as an unordered list.  A convolution slides
# the same small filter over the image (lesson 06 builds it), so a stroke is
# detected wherever it is, with far fewer weights:
#
#     (N, 1, 8, 8) -conv 3x3-> (N, 16, 8, 8) -pool-> (N, 16, 4, 4)
#                  -conv 3x3-> (N, 32, 4, 4) -pool-> (N, 32, 2, 2)
#                  -flatten-> (N, 128) -linear-> (N, 10)
#
# `padding=1` keeps the 3x3 convolutions size-preserving; each 2x2 max-pool
# halves the resolution.

# %%
x_train_img, _ = load_digits("train")  # (1500, 1, 8, 8)
x_test_img, _ = load_digits("test")

sg.manual_seed(2)
cnn = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
)
print(cnn)
print(f"{sum(p.size for p in cnn.parameters())} parameters "
      f"(the MLP has {sum(p.size for p in mlp().parameters())})")

start = time.perf_counter()
cnn_losses = train(cnn, optim.Adam(cnn.parameters(), lr=3e-3), x_train_img, y_train,
                   1 if args.quick else 20)
cnn_accuracy = accuracy(cnn, x_test_img, y_test)
print(f"CNN with Adam: final loss {np.mean(cnn_losses[-10:]):.4f}, "
      f"test accuracy {cnn_accuracy:.1%}  ({time.perf_counter() - start:.1f} s)")

if not args.quick:  # fail loudly if a change to the library breaks learning
    assert min(mlp_accuracy.values()) > 0.90, mlp_accuracy
    assert cnn_accuracy > 0.95, cnn_accuracy

# %%
cnn.eval()
with sg.no_grad():
    probabilities = F.softmax(cnn(sg.tensor(x_test_img)), axis=1).numpy()
predicted = probabilities.argmax(axis=1)
wrong = np.flatnonzero(predicted != y_test)
# the first test images, with every mistake moved to the front so it is seen
shown = np.concatenate([wrong, np.setdiff1d(np.arange(len(y_test)), wrong)])[:24]

fig = Figure(figsize=(9, 4.6))
for k, i in enumerate(shown):
    ax = fig.add_subplot(3, 8, k + 1)
    ax.imshow(x_test_img[i, 0], cmap="gray_r", vmin=0, vmax=1)
    ok = predicted[i] == y_test[i]
    ax.set_title(f"{predicted[i]} ({probabilities[i, predicted[i]]:.0%})"
                 + ("" if ok else f"\ntrue {y_test[i]}"),
                 color="black" if ok else "tab:red", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"CNN on test digits: predicted label (its softmax probability); "
             f"accuracy {cnn_accuracy:.1%}\n"
             f"the {len(wrong)} mistakes out of {len(y_test)} come first, in red, "
             "with the true label")
fig.tight_layout()
savefig(fig, "05_cnn_predictions.png")
