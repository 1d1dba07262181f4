# %% [markdown]
# # Lesson 03: an autograd engine, broadcasting, and gradients of gradients
#
# Lesson 02 ran the chain rule by hand.  Here we automate it:
#
# 1. a complete reverse-mode engine for scalars in about 40 lines (a `Value`
#    class and a topological sort), checked against scratchgen;
# 2. what scratchgen adds: arrays, an iterative graph walk (no recursion
#    limit), and **broadcasting**, whose backward is a *sum* (`sum_to`);
# 3. gradients that are themselves differentiable (`create_graph=True`),
#    giving second and third derivatives of tanh.

# %%
import math

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen.ops import sum_to

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 03: the autograd engine and broadcasting")
sg.manual_seed(0)

# %% [markdown]
# ## 1. A micro engine
#
# Each `Value` stores its number, its gradient, the values it was computed
# from (`parents`) and a function that maps the gradient of the output to
# the gradients of the parents (the local chain rule of lesson 02).
# `backward` orders the graph so that every value comes after all values
# computed from it (a post-order depth-first search, reversed), then pushes
# gradients down that order, *adding* into each parent: that sum is what
# handles a value used twice.

# %%
class Value:
    """A scalar that remembers how it was computed."""

    def __init__(self, data, parents=(), local_backward=lambda g: ()):
        self.data, self.grad = float(data), 0.0
        self.parents, self.local_backward = parents, local_backward

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), lambda g: (g, g))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other),
                     lambda g: (g * other.data, g * self.data))

    __radd__, __rmul__ = __add__, __mul__

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), lambda g: (g * e,))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), lambda g: (g * (1 - t * t),))

    def backward(self):
        order, seen = [], set()

        def visit(v):  # parents first, then v
            if id(v) not in seen:
                seen.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):  # every consumer of v is done before v
            for p, g in zip(v.parents, v.local_backward(v.grad)):
                p.grad += g


# %% [markdown]
# A tiny neuron with a twist: `w1` is used twice, so its gradient has two terms.
#
#     n = tanh(w1 x1 + w2 x2 + b),     L = n * n + exp(w1)
#
# The same code runs on `Value`s and on scratchgen tensors, because both
# define `+`, `*`, `exp` and `tanh`.

# %%
def loss(w1, w2, b, x1, x2):
    n = (w1 * x1 + w2 * x2 + b).tanh()
    return n * n + w1.exp()


numbers = dict(w1=0.3, w2=-0.4, b=0.1, x1=1.5, x2=0.7)
vals = {k: Value(v) for k, v in numbers.items()}
L_micro = loss(**vals)
L_micro.backward()

tens = {k: sg.tensor(v, dtype="float64", requires_grad=True) for k, v in numbers.items()}
L_sg = loss(**tens)
L_sg.backward()

for k in numbers:
    print(f"dL/d{k:<3} micro {vals[k].grad: .10f}   scratchgen {tens[k].grad.item(): .10f}")
np.testing.assert_allclose([vals[k].grad for k in numbers],
                           [tens[k].grad.item() for k in numbers], rtol=1e-12)
assert math.isclose(L_micro.data, L_sg.item(), rel_tol=1e-12)
print("the micro engine and scratchgen agree")

# %% [markdown]
# ### Why scratchgen walks the graph without recursion
#
# `visit` above calls itself once per level of the graph, and Python stops
# at about 1,000 nested calls.  A recurrent network unrolled over a long
# sequence, or a long loop of small updates, builds deeper graphs than that.
# scratchgen's topological sort keeps its own stack instead
# (`scratchgen/backward.py`, `_topological_order`).

# %%
depth = 3_000 if args.quick else 20_000
v, t = Value(0.5), sg.tensor(0.5, dtype="float64", requires_grad=True)
v_out, t_out = v, t
for _ in range(depth):
    v_out, t_out = v_out * 1.0001, t_out * 1.0001
try:
    v_out.backward()
except RecursionError:
    print(f"micro engine on a chain of {depth} products: RecursionError")
else:
    print(f"micro engine on a chain of {depth} products: fine (this Python allows deep recursion)")
t_out.backward()
print(f"scratchgen on the same chain: d out/dx = {t.grad.item():.6f} "
      f"(exact: 1.0001**{depth} = {1.0001**depth:.6f})")
assert math.isclose(t.grad.item(), 1.0001**depth, rel_tol=1e-9)

# %% [markdown]
# ## 2. Broadcasting forward is summing backward
#
# Adding `a` of shape (3, 1) to `b` of shape (1, 4) gives a (3, 4) result:
# NumPy stretches `a` along the columns and `b` along the rows.  Each
# `a[i, 0]` is used in 4 places (row i), so by the chain rule its gradient
# is the *sum* of the 4 gradients there; each `b[0, j]` is used in 3 places
# (column j).  With L = sum(w * (a + b)) the upstream gradient is `w`:
#
#     dL/da = w.sum(axis=1, keepdims=True)   (3, 1)
#     dL/db = w.sum(axis=0, keepdims=True)   (1, 4)
#
# scratchgen's `sum_to(g, shape)` does exactly this for any broadcast: it
# sums over the axes that broadcasting added (leading axes) or stretched
# (size-1 axes), so every gradient has the shape of its input.

# %%
rng = np.random.default_rng(0)
a_host, b_host = rng.standard_normal((3, 1)), rng.standard_normal((1, 4))
w_host = rng.standard_normal((3, 4))
ga_hand = w_host.sum(axis=1, keepdims=True)
gb_hand = w_host.sum(axis=0, keepdims=True)

a = sg.tensor(a_host, dtype="float64", requires_grad=True)
b = sg.tensor(b_host, dtype="float64", requires_grad=True)
w = sg.tensor(w_host, dtype="float64")
c = a + b
(w * c).sum().backward()
print("shapes: a", a.shape, "+ b", b.shape, "-> c", c.shape)
print("a.grad", a.grad.shape, "b.grad", b.grad.shape)
np.testing.assert_allclose(a.grad.numpy(), ga_hand, rtol=1e-12)
np.testing.assert_allclose(b.grad.numpy(), gb_hand, rtol=1e-12)
np.testing.assert_allclose(sum_to(w, (3, 1)).numpy(), ga_hand, rtol=1e-12)
np.testing.assert_allclose(sum_to(w, (4,)).numpy(), w_host.sum(axis=0), rtol=1e-12)
print("scratchgen's gradients are the hand-written sums; "
      "sum_to(w, (4,)) sums the leading axis away")

# %% [markdown]
# The last line is the everyday case: a bias of shape (4,) added to a batch
# of shape (N, 4) receives the gradient summed over the batch.
#
# ## 3. Gradients of gradients
#
# Each `Function.backward` in scratchgen is written with tensor operations,
# not raw arrays.  With `create_graph=True` the backward pass therefore
# records a graph of its own, and the gradient it returns can be
# differentiated again.  (WGAN-GP's gradient penalty needs exactly this.)
# Where a backward is a hand-fused, speed-tuned form (the matrix product's,
# batch norm's, BCE-with-logits', LeakyReLU's), the plain rule sits first in
# the same file as runnable code (`matmul_grads_plain` in
# `scratchgen/ops/arithmetic.py`, `leaky_relu_plain` in `ops/activations.py`,
# ...), and `tests/test_plain_and_fast.py` checks that the two agree, second
# derivatives included.
#
# For tanh, with t = tanh(x):  t' = 1 - t^2,  t'' = -2 t (1 - t^2),
# t''' = (1 - t^2)(6 t^2 - 2).  Because tanh acts elementwise, the gradient
# of `sum(tanh(x))` with respect to x is the vector of derivatives t'(x_i).

# %%
n_points = 41 if args.quick else 241
x = sg.tensor(np.linspace(-3, 3, n_points), dtype="float64", requires_grad=True)
y = x.tanh()
(d1,) = sg.grad(y.sum(), x, create_graph=True)
(d2,) = sg.grad(d1.sum(), x, create_graph=True)
(d3,) = sg.grad(d2.sum(), x)

xs = x.numpy()
t = np.tanh(xs)
analytic = {"t = tanh(x)": t,
            "t' = 1 - t²": 1 - t**2,
            "t'' = -2t (1 - t²)": -2 * t * (1 - t**2),
            "t''' = (1 - t²)(6t² - 2)": (1 - t**2) * (6 * t**2 - 2)}
computed = dict(zip(analytic, (y, d1, d2, d3)))
for name in analytic:
    np.testing.assert_allclose(computed[name].numpy(), analytic[name], atol=1e-12)
print("sg.grad(create_graph=True) gives tanh's first three derivatives to 1e-12")

# %%
fig = Figure(figsize=(7, 4.5))
ax = fig.add_subplot()
every = max(1, n_points // 30)  # markers sparse enough to see the line beneath
for (name, exact), color in zip(analytic.items(), ("black", "tab:blue", "tab:orange", "tab:green")):
    ax.plot(xs, exact, color=color, lw=1.5, label=name)
    ax.plot(xs[::every], computed[name].numpy()[::every], "o", ms=4, mfc="none", color=color)
ax.plot([], [], "o", mfc="none", color="0.3", label="sg.grad(..., create_graph=True)")
ax.axhline(0, color="0.8", lw=0.8, zorder=0)
ax.set_xlabel("x")
ax.set_ylabel("value")
ax.set_title("tanh and its derivatives: lines analytic, circles from repeated sg.grad")
ax.legend(fontsize=8, loc="lower right")
savefig(fig, "03_higher_order.png")
