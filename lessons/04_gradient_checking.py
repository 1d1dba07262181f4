# %% [markdown]
# # Lesson 04: checking gradients with finite differences
#
# A wrong backward rarely crashes: the model still trains, only worse.  The
# defence is to compare every backward with a numerical derivative.  This
# lesson builds that check:
#
# 1. forward differences (f(x+h) - f(x)) / h versus central differences
#    (f(x+h) - f(x-h)) / 2h, and how their error depends on the step h:
#    too large and the Taylor remainder dominates, too small and rounding
#    does, which gives V-shaped error curves;
# 2. why the check runs in float64: in float32 the bottom of the V is too
#    high to tell a small bug from noise;
# 3. a hand-written check of a vector function, then `gradcheck`, which
#    passes on a real op and fails on a deliberately broken `Function`;
# 4. `mode="directional"`: one random direction instead of every element,
#    for inputs too large to check one element at a time.

# %%
import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen import functional as F
from scratchgen.autograd import Function
from scratchgen import GradcheckError, gradcheck, gradgradcheck

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 04: gradient checking")
sg.manual_seed(0)

# %% [markdown]
# ## 1. Two difference quotients and their errors
#
# Taylor's theorem gives, for a step h,
#
#     (f(x+h) - f(x)) / h       = f'(x) + f''(x) h / 2   + ...   error O(h)
#     (f(x+h) - f(x-h)) / (2h)  = f'(x) + f'''(x) h^2 / 6 + ...  error O(h^2)
#
# The even terms cancel in the central difference.  But f is evaluated in
# floating point with unit round-off u (6e-8 in float32, 1.1e-16 in
# float64), so each value of f carries an error of about u |f|, and dividing
# their difference by h makes that about u |f| / h.  Balancing the two terms:
#
#     forward:  best h ~ u^(1/2),  best error ~ u^(1/2)
#     central:  best h ~ u^(1/3),  best error ~ u^(2/3)
#
# We measure it on f(x) = exp(x) tanh(x) at x = 0.7, whose derivative is
# f'(x) = exp(x) (tanh x + 1 - tanh^2 x).

# %%
def f(x):
    return np.exp(x) * np.tanh(x)


x0 = 0.7
exact = np.exp(x0) * (np.tanh(x0) + 1 - np.tanh(x0) ** 2)
steps = np.logspace(-12, 0, 13 if args.quick else 61)

rel_error = {}
for dtype in (np.float32, np.float64):
    x, h = dtype(x0), steps.astype(dtype)  # f evaluated in this precision
    forward = (f(x + h) - f(x)) / h
    central = (f(x + h) - f(x - h)) / (2 * h)
    for scheme, estimate in (("forward", forward), ("central", central)):
        rel_error[scheme, np.dtype(dtype).name] = np.abs(estimate - exact) / abs(exact)

for (scheme, dtype), err in rel_error.items():
    print(f"{scheme:7s} {dtype}: smallest relative error {err.min():.1e} "
          f"at h = {steps[err.argmin()]:.0e}")

# %%
fig = Figure(figsize=(7, 4.5))
ax = fig.add_subplot()
colors = {"float32": "tab:orange", "float64": "tab:blue"}
styles = {"forward": "--", "central": "-"}
for (scheme, dtype), err in rel_error.items():
    ax.loglog(steps, err, styles[scheme], marker=".", color=colors[dtype],
              label=f"{scheme}, {dtype}")
    u = np.finfo(dtype).eps / 2
    best_h = u ** (1 / 2 if scheme == "forward" else 1 / 3)  # the theory's optimum
    ax.axvline(best_h, color=colors[dtype], ls=styles[scheme], lw=0.7, alpha=0.6)
ax.set_xlabel("step h")
ax.set_ylabel("relative error of f'(x) estimate")
ax.set_title("Finite differences: truncation (right) vs rounding (left)\n"
             "thin lines: theoretical best h = u^(1/2) forward, u^(1/3) central")
ax.legend(fontsize=9)
savefig(fig, "04_gradcheck_error_vs_eps.png")

# %% [markdown]
# ## 2. Why float64
#
# On the far left of the float32 curves the error is exactly 1: below about
# h = 3e-8 (half the spacing of float32 numbers near 0.7), x + h rounds back
# to x, the difference is 0, and so is the estimate.
#
# Now read the bottoms of the Vs.  Central differences in float32 reach
# ~1e-6 relative error at best, and only if h is tuned per function; with
# h = 1e-3 and a function of larger magnitude, rounding easily gives
# 1e-4.  A backward with a small bug (a missing term worth 0.1% of the
# gradient) hides in that noise.  In float64 the central difference with
# h = 1e-6 is accurate to ~1e-10, so `gradcheck` copies its inputs to
# float64 and uses `eps=1e-6`, `atol=1e-5`, `rtol=1e-3` (PyTorch's defaults).
#
# ## 3. Checking a vector function by hand, then with gradcheck
#
# For y = g(x) with many inputs and outputs, backward computes a
# vector-Jacobian product J^T u.  So pick a random u, form the scalar
# s(x) = sum(u * g(x)), and compare backward's ds/dx with one central
# difference per element of x.  Here g = log-sum-exp over the rows of a
# (3, 4) matrix.

# %%
rng = np.random.default_rng(0)
x_host = rng.standard_normal((3, 4))
u_host = rng.standard_normal(3)


def s(x_array):
    """s(x) = <u, logsumexp(x, axis=1)>, through scratchgen, in float64."""
    return (sg.tensor(u_host, dtype="float64") *
            F.logsumexp(sg.tensor(x_array, dtype="float64"), axis=1)).sum()


x = sg.tensor(x_host, dtype="float64", requires_grad=True)
(sg.tensor(u_host, dtype="float64") * F.logsumexp(x, axis=1)).sum().backward()
analytic = x.grad.numpy()

eps = 1e-6
numeric = np.zeros_like(x_host)
for idx in np.ndindex(x_host.shape):  # host-side loop over 12 elements: a check, not a hot path
    e = np.zeros_like(x_host)
    e[idx] = eps
    numeric[idx] = (s(x_host + e).item() - s(x_host - e).item()) / (2 * eps)
print(f"largest |analytic - numeric| = {np.abs(analytic - numeric).max():.1e}")
np.testing.assert_allclose(analytic, numeric, atol=1e-8)

# The exact answer, to be sure: d/dx_ij = u_i softmax(x_i)_j
softmax = np.exp(x_host) / np.exp(x_host).sum(axis=1, keepdims=True)
np.testing.assert_allclose(analytic, u_host[:, None] * softmax, rtol=1e-12)

# %% [markdown]
# `gradcheck(fn, inputs)` is that loop, packaged: it draws u, copies the
# inputs to float64, and raises `GradcheckError` naming the first element
# that disagrees.  `gradgradcheck` does the same for second derivatives
# (the function x -> J^T u, built with `create_graph=True`).

# %%
xs = sg.randn(3, 4, requires_grad=True)
print("gradcheck(logsumexp):", gradcheck(lambda t: F.logsumexp(t, axis=1), [xs]))
print("gradgradcheck(tanh):", gradgradcheck(lambda t: t.tanh(), [xs]))


# %% [markdown]
# Now a `Function` with a classic bug: the backward of x^2 forgets the 2.

# %%
class BrokenSquare(Function):
    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * self.inputs[0]  # should be 2 * gy * x


try:
    gradcheck(lambda t: BrokenSquare()(t), [xs])
    raise AssertionError("gradcheck should have caught the missing factor 2")
except GradcheckError as exc:
    print("GradcheckError:", exc)

# %% [markdown]
# ## 4. Directional checks for large inputs
#
# The full check costs two evaluations of `fn` per input element.  For a
# (256, 256) weight that is 131,072 forward passes.  A directional
# derivative tests all elements at once: for a random direction v,
#
#     <grad s(x), v>  =  (s(x + eps v) - s(x - eps v)) / (2 eps)  + O(eps^2)
#
# costs two evaluations, whatever the size (plus, in both modes, one to
# learn the output's shape and one for backward).  A bug that makes the gradient
# wrong almost surely changes <grad s, v> for a random v; a single
# direction can miss only a bug orthogonal to it, so the tests run it with a
# few seeds.  We count the calls to see the difference.

# %%
class Counted:
    """Wraps a function and counts how often it is called."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def layer(x, w):
    return (x @ w).tanh()


n = 8 if args.quick else 24
x_small, w_small = sg.randn(5, n, requires_grad=True), sg.randn(n, n, requires_grad=True)
full, directional = Counted(layer), Counted(layer)
gradcheck(full, [x_small, w_small])
gradcheck(directional, [x_small, w_small], mode="directional")
print(f"{x_small.size + w_small.size} input elements: full mode called fn {full.calls} times, "
      f"directional mode {directional.calls} times")

big = 64 if args.quick else 256
w_big = sg.randn(big, big, requires_grad=True)
x_big = sg.randn(32, big, requires_grad=True)
print(f"directional check of a ({big}, {big}) layer:",
      gradcheck(lambda a, b: layer(a, b) * 0.1, [x_big, w_big], mode="directional"))
try:
    gradcheck(lambda a: BrokenSquare()(a), [w_big], mode="directional")
    raise AssertionError("the directional check should have caught the bug")
except GradcheckError as exc:
    print("directional check of BrokenSquare:", exc)
