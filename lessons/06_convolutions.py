# %% [markdown]
# # Lesson 06: convolutions and transposed convolutions
#
# A convolution layer slides one small filter over every position of an
# image.  This lesson builds it three ways and shows that they agree:
#
# 1. the formula, with its index arithmetic, as seven nested loops;
# 2. **im2col**: copy every patch into a column of a matrix, so the whole
#    convolution becomes one matrix product (how scratchgen, and most
#    libraries on the CPU, compute it), drawn as a figure;
# 3. `F.conv2d`;
#
# then the **transposed convolution**, which is not an inverse but the
# *adjoint* (the transpose of the convolution's matrix): we build that matrix
# explicitly, check the identity <conv(x), y> = <x, conv_transpose(y)>, and
# see why DCGAN generators upsample with kernel 4, stride 2, padding 1, and
# what goes wrong (a checkerboard) with kernel 3.

# %%
import time

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn
from scratchgen.conv import conv2d_plain, im2col_plain

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 06: convolutions and transposed convolutions")
sg.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The formula and the loops
#
# An input x of shape (N, C, H, W), a weight w of shape (O, C, kh, kw) (one
# filter per output channel, PyTorch's layout), stride s, zero padding p.
# Pad x with p zeros on every side, call it xpad; then output pixel (a, b)
# of channel o is the filter laid over the window whose top-left corner is
# at (s a, s b):
#
#     y[n, o, a, b] = sum_{c, i, j} w[o, c, i, j] * xpad[n, c, s*a + i, s*b + j]
#
# This is a *cross-correlation* (a true convolution would flip the filter,
# w[o, c, kh-1-i, kw-1-j]); deep learning calls it convolution anyway, and
# since the filter is learned the flip does not matter.
#
# The window must fit inside xpad: s a + kh - 1 <= H + 2p - 1, so
#
#     oh = floor((H + 2p - kh) / s) + 1      (and the same for the width).

# %%
def output_size(size, k, s=1, p=0):
    return (size + 2 * p - k) // s + 1


def conv2d_loops(x, w, stride=1, padding=0):
    """The formula, loop for loop: clear and very slow."""
    n_, c_, h, w_ = x.shape
    o_, _, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = output_size(h, kh, stride, padding), output_size(w_, kw, stride, padding)
    y = np.zeros((n_, o_, oh, ow), dtype=x.dtype)
    for n, o, a, b in np.ndindex(n_, o_, oh, ow):
        for c, i, j in np.ndindex(c_, kh, kw):
            y[n, o, a, b] += w[o, c, i, j] * xpad[n, c, stride * a + i, stride * b + j]
    return y


x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
w = np.array([[[[1, 0], [0, -1]]]], dtype=np.float32)  # a diagonal difference filter
print("x =\n", x[0, 0], "\nw =\n", w[0, 0])
# x[a, b] - x[a+1, b+1]: x grows by 5 along every diagonal, so -5 everywhere
print("conv2d_loops(x, w) =\n", conv2d_loops(x, w)[0, 0])

# %% [markdown]
# ## 2. im2col: every patch becomes a column
#
# The loops recompute the same index arithmetic for every output channel.
# im2col does it once: it copies the patch under each output pixel into a
# column,
#
#     cols[(c, i, j), (n, a, b)] = xpad[n, c, s*a + i, s*b + j],
#
# a matrix of C kh kw rows and N oh ow columns.  Then every output channel
# is a dot product of its flattened filter with every column:
#
#     Y = w.reshape(O, C kh kw) @ cols       (O, N oh ow)
#
# one matrix product (GEMM), which BLAS runs at close to the machine's peak.
# The price is memory: each input pixel is copied into up to kh kw columns.
#
# The figure uses x = 0..15, so every cell of `cols` shows *which* input
# pixel it holds.

# %%
cols = im2col_plain(sg.tensor(x), kernel_size=2).numpy()  # scratchgen's plain im2col
print("cols =\n", cols.astype(int))

fig = Figure(figsize=(12, 4.2))
grid = fig.add_gridspec(1, 2, width_ratios=[4, 9], wspace=0.2)
ax_x, ax_c = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
palette = colormaps["tab20"]  # 20 distinct colours, one per input pixel


def draw_cells(ax, values):
    """One coloured, labelled square per cell; colour = input pixel index."""
    rows, columns = values.shape
    for r, c in np.ndindex(rows, columns):
        v = int(values[r, c])
        ax.add_patch(Rectangle((c, r), 1, 1, facecolor=palette(v % 20), edgecolor="white", lw=2))
        ax.text(c + 0.5, r + 0.5, str(v), ha="center", va="center", fontsize=13,
                fontweight="bold")
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    for side in ax.spines.values():
        side.set_visible(False)


draw_cells(ax_x, x[0, 0])
ax_x.set_xticks(np.arange(4) + 0.5, range(4))
ax_x.set_yticks(np.arange(4) + 0.5, range(4))
ax_x.set_xlabel("column")
ax_x.set_ylabel("row")
ax_x.set_title("input x (1, 1, 4, 4)\nnumber = pixel index 4*row + column")

draw_cells(ax_c, cols)
ax_c.set_xticks(np.arange(9) + 0.5, [f"({a},{b})" for a, b in np.ndindex(3, 3)])
ax_c.set_yticks(np.arange(4) + 0.5, [f"({i},{j})" for i, j in np.ndindex(2, 2)])
ax_c.set_ylabel("kernel offset (i, j)")
ax_c.set_xlabel("output pixel (a, b): one column per 2x2 window")
ax_c.set_title("cols = im2col(x, kernel 2, stride 1): shape (4, 9)\n"
               "cols[(i, j), (a, b)] = x[a + i, b + j]")

# outline one window and its column: output pixel (1, 2) reads x[1:3, 2:4]
a, b = 1, 2
ax_x.add_patch(Rectangle((b, a), 2, 2, fill=False, edgecolor="black", lw=3.5))
ax_c.add_patch(Rectangle((3 * a + b, 0), 1, 4, fill=False, edgecolor="black", lw=3.5))
fig.suptitle("im2col: the black 2x2 window of x becomes the black column; "
             "then conv = w.reshape(1, 4) @ cols, reshaped to (3, 3)", y=1.02)
savefig(fig, "06_im2col.png")

# %% [markdown]
# ## 3. Convolution as one GEMM, checked against the loops and F.conv2d
#
# Our own im2col in NumPy is four lines of index arithmetic: the row of
# input pixel (a, i) is s a + i, an outer sum of two ranges, and fancy
# indexing with those index arrays gathers all patches at once.
#
# scratchgen has this layout as `conv.im2col_plain` and `conv.conv2d_plain`
# (tensor ops: pad, one strided slice per kernel offset, stack), the first
# thing in `scratchgen/conv.py`.  `F.conv2d` computes the same numbers with
# the batch index *last* in each column and no padded copy of the image,
# which suits NumPy's loops at DCGAN sizes (the module docstring says why);
# `benchmarks/bench_plain_fast.py` times the two.

# %%
def im2col_numpy(x, kh, kw, stride=1, padding=0):
    """(N, C, H, W) -> (C kh kw, N oh ow), the layout of scratchgen.conv.im2col_plain."""
    n, c, h, w_ = x.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = output_size(h, kh, stride, padding), output_size(w_, kw, stride, padding)
    rows = np.arange(kh)[:, None] + stride * np.arange(oh)[None, :]    # (kh, oh): i + s a
    columns = np.arange(kw)[:, None] + stride * np.arange(ow)[None, :]  # (kw, ow): j + s b
    # broadcast (kh, 1, oh, 1) against (1, kw, 1, ow): patches (N, C, kh, kw, oh, ow)
    patches = xpad[:, :, rows[:, None, :, None], columns[None, :, None, :]]
    return patches.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)


def conv2d_gemm(x, w, stride=1, padding=0):
    n, o, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    oh = output_size(x.shape[2], kh, stride, padding)
    ow = output_size(x.shape[3], kw, stride, padding)
    y = w.reshape(o, -1) @ im2col_numpy(x, kh, kw, stride, padding)  # the one GEMM
    return y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)


np.testing.assert_array_equal(im2col_numpy(x, 2, 2), cols)

xb = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
wb = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
for stride, padding in ((1, 0), (1, 1), (2, 1), (3, 2)):
    loops = conv2d_loops(xb, wb, stride, padding)
    gemm = conv2d_gemm(xb, wb, stride, padding)
    library = F.conv2d(sg.tensor(xb), sg.tensor(wb), stride=stride, padding=padding).numpy()
    plain = conv2d_plain(sg.tensor(xb), sg.tensor(wb), stride=stride, padding=padding).numpy()
    print(f"stride {stride}, padding {padding}: output {library.shape}, "
          f"|gemm - loops| {np.abs(gemm - loops).max():.1e}, "
          f"|F.conv2d - loops| {np.abs(library - loops).max():.1e}")
    np.testing.assert_allclose(gemm, loops, atol=1e-5)
    np.testing.assert_allclose(library, loops, atol=1e-5)
    np.testing.assert_allclose(plain, loops, atol=1e-5)

# %% [markdown]
# The output sizes follow oh = floor((H + 2p - k) / s) + 1.  Three cases
# worth remembering: k = 3, p = 1, s = 1 keeps the size ("same" padding);
# s = 2 halves it (rounding down); no padding loses k - 1 pixels.

# %%
print(f"{'H':>3} {'k':>2} {'s':>2} {'p':>2}  formula  F.conv2d")
for h, k, s, p in ((8, 3, 1, 1), (8, 3, 2, 1), (7, 3, 2, 1), (28, 4, 2, 1), (8, 3, 1, 0),
                   (5, 5, 1, 0)):
    shape = F.conv2d(sg.zeros(1, 1, h, h), sg.zeros(1, 1, k, k), stride=s, padding=p).shape
    print(f"{h:3d} {k:2d} {s:2d} {p:2d}  {output_size(h, k, s, p):7d}  {shape[2]:8d}")
    assert shape[2] == output_size(h, k, s, p)

# %% [markdown]
# ## 4. Transposed convolution: the adjoint
#
# For fixed w, conv2d is *linear* in x, so it is a matrix M acting on the
# flattened x: conv2d(x) = M @ x.flatten().  Column k of M is the image of
# the k-th basis vector e_k (a single pixel set to 1), so we can build M by
# convolving every basis image.  Here x is 5x5 and w is 3x3 with stride 2
# and padding 1: the output is 3x3, and M is (9, 25).
#
# The transposed convolution is multiplication by M^T, (25, 9): it maps the
# *output* space back to the input space.  It is not an inverse
# (M^T M != I); it is what backward of conv2d does to a gradient, and it
# scatters every input value, weighted by the kernel, over a window of the
# (larger) output.

# %%
h, k, s, p = 5, 3, 2, 1
w_small = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)  # weights 1..9: easy to spot
basis = np.eye(h * h).reshape(h * h, 1, h, h)  # 25 images, one pixel each
M = F.conv2d(sg.tensor(basis, dtype="float64"), sg.tensor(w_small, dtype="float64"),
             stride=s, padding=p).numpy()
M = M.reshape(h * h, -1).T  # row r = output pixel r, column k = input pixel k
print(f"M has shape {M.shape}; each row holds the (cropped) kernel at one window:")
print(M.astype(int))

y_small = rng.standard_normal((1, 1, 3, 3))
transposed = F.conv_transpose2d(sg.tensor(y_small, dtype="float64"),
                                sg.tensor(w_small, dtype="float64"), stride=s, padding=p).numpy()
print(f"conv_transpose2d output shape {transposed.shape}: (3 - 1) * {s} - 2 * {p} + {k} = "
      f"{(3 - 1) * s - 2 * p + k}")
np.testing.assert_allclose(transposed.reshape(-1), M.T @ y_small.reshape(-1), atol=1e-12)
print("conv_transpose2d(y, w) == M^T @ y.flatten(): checked")

# %% [markdown]
# The matrix view makes the adjoint identity obvious:
#
#     <conv2d(x, w), y> = (M x) . y = x . (M^T y) = <x, conv_transpose2d(y, w)>.
#
# It holds for every x and y, with any number of channels, strides and
# padding (scratchgen's tests check it with random shapes); here on random
# tensors, in float64 so both sides agree to about 1e-13.

# %%
xr = sg.tensor(rng.standard_normal((2, 3, 7, 7)), dtype="float64")
wr = sg.tensor(rng.standard_normal((4, 3, 3, 3)), dtype="float64")
yr = sg.tensor(rng.standard_normal((2, 4, 4, 4)), dtype="float64")
left = (F.conv2d(xr, wr, stride=2, padding=1) * yr).sum().item()
right = (xr * F.conv_transpose2d(yr, wr, stride=2, padding=1)).sum().item()
print(f"<conv2d(x, w), y> = {left:.12f}\n<x, conv_transpose2d(y, w)> = {right:.12f}")
assert abs(left - right) < 1e-9 * max(1.0, abs(left))

# %% [markdown]
# Note that the weight has the same shape in both calls: a ConvTranspose2d
# from 4 to 3 channels stores a (4, 3, kh, kw) weight, the (out, in, ...)
# weight of the Conv2d from 3 to 4 channels it is the adjoint of.  And since
# floor() in the output-size formula maps several input sizes to the same
# output size (7 and 8 both give 4 at stride 2), the transposed convolution
# has to pick one; `output_padding` adds the extra row and column when the
# larger size is wanted.
#
# ## 5. Upsampling in a generator: kernel 4, stride 2, padding 1
#
# A DCGAN generator turns a noise vector into an image by repeated
# upsampling.  The transposed convolution's output size is
#
#     Hout = (H - 1) s - 2p + k,
#
# and with k = 4, s = 2, p = 1 that is 2H - 2 - 2 + 4 = 2H: exact doubling,
# 7 -> 14 -> 28 for MNIST.

# %%
sg.manual_seed(0)
up = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                   nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))
z = sg.randn(1, 64, 7, 7)
print("shapes:", z.shape, "->", up[0](z).shape, "->", up(z).shape)
assert up(z).shape == (1, 1, 28, 28)

# %% [markdown]
# Why 4 and not 3?  Each input pixel paints a k x k window of the output,
# and neighbouring windows start s = 2 pixels apart.  With k = 3 the windows
# overlap on every other row and column only, so some output pixels get
# contributions from one input pixel, some from two, some from four: an
# uneven checkerboard baked into the upsampling, which a generator must
# learn to cancel and often does not (Odena, Dumoulin & Olah, 2016,
# "Deconvolution and checkerboard artifacts").  With k = 4, a multiple of
# the stride, every interior output pixel is covered by exactly
# (k / s)^2 = 4 windows.  Counting the windows is itself a transposed
# convolution: of an all-ones input with an all-ones kernel.

# %%
ones = sg.ones(1, 1, 4, 4)
cases = {"kernel 3, stride 2": (3, 0), "kernel 4, stride 2": (4, 0),
         "kernel 4, stride 2, padding 1\n(DCGAN: 4x4 -> 8x8)": (4, 1)}
overlaps = {name: F.conv_transpose2d(ones, sg.ones(1, 1, kk, kk), stride=2,
                                     padding=pp).numpy()[0, 0]
            for name, (kk, pp) in cases.items()}

fig = Figure(figsize=(13, 4.6))
for idx, (name, counts) in enumerate(overlaps.items()):
    ax = fig.add_subplot(1, 3, idx + 1)
    ax.imshow(counts, cmap="viridis", vmin=0, vmax=4)
    for r, c in np.ndindex(counts.shape):
        ax.text(c, r, f"{counts[r, c]:.0f}", ha="center", va="center", fontsize=10,
                color="white" if counts[r, c] < 2.5 else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{name}\noutput {counts.shape[0]}x{counts.shape[1]}")
fig.suptitle("conv_transpose2d of a 4x4 all-ones input with an all-ones kernel: how many "
             "input pixels reach each output pixel\nkernel 3 gives an uneven 1-2-4 "
             "checkerboard; kernel 4 covers the interior evenly (4 each)", y=1.04)
savefig(fig, "06_transposed_overlap.png")

interior_k3 = overlaps["kernel 3, stride 2"][2:-2, 2:-2]
interior_k4 = overlaps["kernel 4, stride 2"][2:-2, 2:-2]
print("interior counts, kernel 3:", np.unique(interior_k3), " kernel 4:", np.unique(interior_k4))
assert np.unique(interior_k4).tolist() == [4.0] and len(np.unique(interior_k3)) == 3

# %% [markdown]
# ## 6. How much faster is one GEMM?  (a rough timing, not a benchmark)
#
# The loops pay Python's interpreter for every multiply-add; im2col pays it
# a handful of times and hands the arithmetic to BLAS.  Proper side-by-side
# timings, against PyTorch too, live in `benchmarks/`.

# %%
shape_x, shape_w = ((2, 3, 8, 8), (4, 3, 3, 3)) if args.quick else ((8, 3, 16, 16), (8, 3, 3, 3))
xt = rng.standard_normal(shape_x).astype(np.float32)
wt = rng.standard_normal(shape_w).astype(np.float32)
timings = {}
for name, fn in (("naive loops", lambda: conv2d_loops(xt, wt, 1, 1)),
                 ("im2col + GEMM (NumPy)", lambda: conv2d_gemm(xt, wt, 1, 1)),
                 ("F.conv2d", lambda: F.conv2d(sg.tensor(xt), sg.tensor(wt), padding=1))):
    start = time.perf_counter()
    fn()
    timings[name] = time.perf_counter() - start
    print(f"{name:22s} {timings[name] * 1e3:9.2f} ms")
print(f"x {shape_x}, w {shape_w}: im2col is "
      f"{timings['naive loops'] / timings['im2col + GEMM (NumPy)']:.0f}x faster than the loops")
