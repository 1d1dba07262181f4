# %% [markdown]
# # Lesson 02: the computation graph and the chain rule, by hand
#
# Every expression is a graph: values flow forward through operations, and
# derivatives flow backward through the same graph.  We take one small
# function,
#
#     f(x, y) = tanh(x * y + exp(x))
#
# and differentiate it three ways:
#
# 1. forward by hand in NumPy, keeping every intermediate value;
# 2. backward by hand, node by node: each node multiplies the gradient that
#    arrives from above by its own *local* derivative (the chain rule), and
#    where a value feeds two nodes (x feeds both `*` and `exp`) the two
#    gradients that come back are *added*;
# 3. with scratchgen, whose `backward()` does exactly the same walk, which we
#    then draw by following the graph it recorded (`t.creator`, `f.inputs`).

# %%
import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 02: the computation graph and the chain rule")  # nothing to shorten
x0, y0 = 0.5, -1.2

# %% [markdown]
# ## 1. Forward, keeping every intermediate value
#
# Naming each intermediate result turns the formula into a list of
# elementary steps, each a node of the graph:
#
#     a = x * y      b = exp(x)      c = a + b      f = tanh(c)

# %%
a = x0 * y0
b = np.exp(x0)
c = a + b
f = np.tanh(c)
for name, value in dict(x=x0, y=y0, a=a, b=b, c=c, f=f).items():
    print(f"{name} = {value: .6f}")

# %% [markdown]
# ## 2. Backward, node by node
#
# Write `g_v` for df/dv.  Start from `g_f = 1` and visit the nodes in reverse
# order; each node needs only the gradient of its output and its own local
# derivative:
#
# | node | local derivatives | gradients sent to its inputs |
# |---|---|---|
# | f = tanh(c) | df/dc = 1 - tanh(c)^2 = 1 - f^2 | g_c = g_f (1 - f^2) |
# | c = a + b | dc/da = 1, dc/db = 1 | g_a = g_c, g_b = g_c |
# | b = exp(x) | db/dx = exp(x) = b | g_x += g_b * b |
# | a = x * y | da/dx = y, da/dy = x | g_x += g_a * y, g_y = g_a * x |
#
# x is used twice, so its gradient is the sum of what both uses send back.
# Note that `tanh` and `exp` reuse their forward *outputs* (f and b) in the
# backward step: this is why a graph keeps values alive until backward.

# %%
g_f = 1.0
g_c = g_f * (1 - f**2)
g_a = g_c
g_b = g_c
g_x_from_exp = g_b * b
g_x_from_mul = g_a * y0
g_y = g_a * x0
g_x = g_x_from_mul + g_x_from_exp
print(f"df/dx = {g_x_from_mul:.6f} (through a = x*y) + {g_x_from_exp:.6f} (through b = exp(x))"
      f" = {g_x:.6f}")
print(f"df/dy = {g_y:.6f}")

# Closed form, to be sure the node-by-node walk is the chain rule:
# df/dx = (1 - f^2)(y + e^x),  df/dy = (1 - f^2) x
assert np.isclose(g_x, (1 - f**2) * (y0 + np.exp(x0)))
assert np.isclose(g_y, (1 - f**2) * x0)

# %% [markdown]
# ## 3. The same with scratchgen
#
# Each operation on tensors that require gradients creates a `Function`
# node, stored as the output's `creator`; the function keeps its `inputs`.
# `backward()` sorts these nodes so that each comes after everything that
# depends on it, then calls each node's `backward` with the gradient of its
# output.  (float64, so the comparison with NumPy is exact to ~1e-15.)

# %%
x = sg.tensor(x0, dtype="float64", requires_grad=True)
y = sg.tensor(y0, dtype="float64", requires_grad=True)
a_t = x * y
b_t = x.exp()
c_t = a_t + b_t
f_t = c_t.tanh()
f_t.backward(retain_graph=True)  # keep the graph: we walk and draw it below

print(f"sg: f = {f_t.item():.6f}, df/dx = {x.grad.item():.6f}, df/dy = {y.grad.item():.6f}")
np.testing.assert_allclose([f_t.item(), x.grad.item(), y.grad.item()], [f, g_x, g_y], rtol=1e-12)
print("scratchgen agrees with the hand-written forward and backward")
print("f_t.creator:", f_t.creator.name,
      "<- its input's creator:", f_t.creator.inputs[0].creator.name)

# %% [markdown]
# Only *leaves* (x, y) receive `.grad`, as in PyTorch.  The gradient with
# respect to an intermediate value is still there during the walk;
# `sg.grad(f, [a, b, c])` returns it without touching `.grad`.

# %%
names = {id(x): "x", id(y): "y", id(a_t): "a", id(b_t): "b", id(c_t): "c", id(f_t): "f"}
tensors = [x, y, a_t, b_t, c_t, f_t]
grads = sg.grad(f_t, tensors, retain_graph=True)
grad_of = {id(t): g.item() for t, g in zip(tensors, grads)}
np.testing.assert_allclose([grad_of[id(t)] for t in (a_t, b_t, c_t)], [g_a, g_b, g_c], rtol=1e-12)
print("intermediate gradients agree too: " +
      ", ".join(f"df/d{names[id(t)]} = {grad_of[id(t)]:.4f}" for t in tensors))

# %% [markdown]
# ## 4. Drawing the recorded graph
#
# We walk the graph backward from `f` exactly as the engine does: a tensor
# leads to its `creator`, a function to its `inputs`.  Columns are depths
# from the leaves; within a column nodes are ordered by the mean row of the
# nodes they feed (the barycentre heuristic), which untangles the edges.
# Each edge is labelled with what the consuming node's `backward` sends back
# along it, found by calling that `Function.backward` directly: the label on
# an edge into x is one term of df/dx, and the terms add up.

# %%
def collect(output):
    """Tensors and functions reachable from ``output``, and the edges
    (tensor -> function input, function -> output tensor)."""
    nodes, edges, stack, seen = [], [], [output], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        nodes.append(t)
        if t.creator is not None:
            fn = t.creator
            nodes.append(fn)
            edges.append((fn, t))
            for i, inp in enumerate(fn.inputs):
                edges.append((inp, fn, i))
                stack.append(inp)
    return nodes, edges


def layout(nodes, edges):
    """(column, row) per node: column = depth from the leaves; rows ordered by
    the mean row of each node's consumers, processed from the output back."""
    inputs = {id(n): [] for n in nodes}
    for e in edges:
        inputs[id(e[1])].append(e[0])
    depth = {}

    def column(n):
        if id(n) not in depth:
            depth[id(n)] = 1 + max((column(i) for i in inputs[id(n)]), default=-1)
        return depth[id(n)]

    columns = {}
    for n in nodes:
        columns.setdefault(column(n), []).append(n)
    row, position = {}, {}
    for col in sorted(columns, reverse=True):
        consumers = {id(n): [row[id(e[1])] for e in edges if e[0] is n and id(e[1]) in row]
                     for n in columns[col]}
        ordered = sorted(columns[col], key=lambda n: np.mean(consumers[id(n)] or [0]))
        for i, n in enumerate(ordered):
            row[id(n)] = i - (len(ordered) - 1) / 2
            position[id(n)] = (col, -row[id(n)])
    return position


OP_LABELS = {"Mul": "×", "Add": "+", "Exp": "exp", "Tanh": "tanh"}


def draw(output, names, grad_of, path_name):
    nodes, edges = collect(output)
    pos = layout(nodes, edges)
    fig = Figure(figsize=(12, 3.6))
    ax = fig.add_subplot()
    boxes, received = {}, {}
    for n in nodes:
        px, py = pos[id(n)]
        if isinstance(n, sg.Tensor):
            label = f"{names[id(n)]}\nvalue {n.item():.4f}\ngrad {grad_of[id(n)]:.4f}"
            style = dict(boxstyle="round,pad=0.4", fc="#dbe9f6", ec="tab:blue")
        else:
            label = OP_LABELS.get(n.name, n.name)
            style = dict(boxstyle="circle,pad=0.3", fc="#fde2c8", ec="tab:orange")
        boxes[id(n)] = ax.text(px, py, label, ha="center", va="center", fontsize=10,
                               bbox=style, zorder=3)
    with sg.no_grad():  # what each node's backward sends along each input edge
        for e in edges:
            src, dst = boxes[id(e[0])], boxes[id(e[1])]
            ax.annotate("", xy=(0.5, 0.5), xycoords=dst, xytext=(0.5, 0.5), textcoords=src,
                        arrowprops=dict(arrowstyle="-|>", color="0.3", shrinkA=2, shrinkB=2,
                                        patchA=src.get_bbox_patch(), patchB=dst.get_bbox_patch()))
            if len(e) == 3:  # tensor -> function: label with the backward message
                tensor, fn, i = e
                sent = fn.backward(sg.tensor(grad_of[id(fn.output)], dtype="float64"))
                sent = sent[i] if isinstance(sent, tuple) else sent
                received[id(tensor)] = received.get(id(tensor), 0.0) + sent.item()
                (x1, y1), (x2, y2) = pos[id(tensor)], pos[id(fn)]
                t = 0.62  # past the tensor's wide box, along the visible arrow
                ax.text(x1 + t * (x2 - x1), y1 + t * (y2 - y1) + 0.1, f"← {sent.item():.3f}",
                        color="tab:red", ha="center", fontsize=9, zorder=4,
                        bbox=dict(fc="white", ec="none", pad=0.5))
    for key, total in received.items():  # the chain rule's sum over consumers
        assert np.isclose(total, grad_of[key]), (names[key], total, grad_of[key])
    xs, ys = zip(*pos.values())
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.axis("off")
    ax.set_title("f = tanh(x·y + exp(x)): each box holds a forward value and its gradient "
                 "df/d(value)\nred: what each node's backward sends back along that edge "
                 "(the two terms into x add up to its grad)", fontsize=10)
    return savefig(fig, path_name)


draw(f_t, names, grad_of, "02_computation_graph.png")
