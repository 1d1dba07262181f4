"""Convolution, transposed convolution and pooling, by im2col and one GEMM.

Index arithmetic
----------------
A 2-D convolution (cross-correlation, as in PyTorch) of ``x`` (N, C, H, W)
with ``w`` (O, C, kh, kw), stride s and zero padding p:

    y[n, o, a, b] = sum_{c, i, j} w[o, c, i, j] * xpad[n, c, s*a + i, s*b + j]

with output size ``oh = (H + 2p - kh) // s + 1`` (same for the width).

im2col lays out every input patch as a column:

    cols[(c, i, j), (a, b, n)] = xpad[n, c, s*a + i, s*b + j]

so the whole convolution is one matrix product, ``Y = W @ cols`` with
W = w.reshape(O, C*kh*kw): all the work goes to the BLAS GEMM.  We fill
cols with one block copy per kernel offset (i, j): for fixed (i, j) the
rows a of ``cols[c, i, j, a, b, n]`` read the input rows s*a + i - p, a
strided slice of x.  Entries that would read the zero padding are left
zero, so the padded image is never built.

Worked example: x of shape (1, 1, 3, 3), a 2x2 kernel, s = 1, p = 0: oh =
ow = 2, and cols has 4 rows (kernel offsets (0,0), (0,1), (1,0), (1,1)) and 4
columns (output pixels); the column of output pixel (0, 0) is
``x[0,0,0,0], x[0,0,0,1], x[0,0,1,0], x[0,0,1,1]``.

Why the batch index n comes *last* in a column's index: NumPy copies and
adds along the last axis in one tight loop, and pays a little for every
row of that loop.  Images in a DCGAN are 7x7 or 14x14, so with (n, a, b)
order the loops would run over ``ow`` = 7 strided values at a time; with
(a, b, n) they run over the N = 64 images of the batch, contiguous in x
when it is stored batch-last, (C, H, W, N).  That one reordering makes im2col
about 5x and col2im about 2x faster at those sizes.  The GEMM does not care
about the order of its columns; the output ``(O, oh, ow, N)`` is handed on
as a transposed *view* (N, O, oh, ow), and NumPy's elementwise operations
keep that memory order, so the next layer's im2col finds its input already
batch-last.

The adjoint: col2im
-------------------
im2col is linear, so its gradient is its adjoint, col2im, which *adds* each
column entry back to the pixel it came from.  Pixels appear in several
patches when windows overlap, so the additions must accumulate.  We loop
over the kh*kw kernel offsets only; each step adds one whole strided slice
for all images, channels and output pixels at once.

Transposed convolution is the adjoint of convolution with respect to its
input: ``conv_transpose2d(y, w) = col2im(W^T @ Y)``.  So

    <conv2d(x, w), y> == <x, conv_transpose2d(y, w)>

holds for every x and y (the tests check it), and the backward of each is
the other: both are built from im2col/col2im and matmul, whose backward
passes are already differentiable, so second derivatives work too.
"""
from __future__ import annotations

from .autograd import Function
from .backend import xp
from .ops import AddMM


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _span(i, s, p, size, out):
    """Along one axis, for kernel offset i: the output positions a with
    ``0 <= s*a + i - p < size`` (the others read padding), and the input
    positions they read, as a pair of slices."""
    lo = max(0, -((i - p) // s))  # ceil((p - i) / s)
    hi = max(lo, min(out, (size - 1 + p - i) // s + 1))
    first = s * lo + i - p
    return slice(lo, hi), slice(first, first + s * (hi - lo - 1) + 1 if hi > lo else first, s)


def _offsets(kernel, stride, padding, in_hw, out_hw):
    """For each kernel offset (i, j): the output pixels that see the image
    (not its zero padding) and the input pixels they see, as index tuples
    into (C, kh, kw, oh, ow, N) columns and a (C, H, W, N) image.  im2col
    and col2im loop over these kh*kw offsets only: each step moves one
    whole block, all channels, output pixels and images at once, and the
    padding never exists as an array."""
    spans = [[_span(i, s, p, size, out) for i in range(k)]
             for k, s, p, size, out in zip(kernel, stride, padding, in_hw, out_hw)]
    for i, (ra, rx) in enumerate(spans[0]):
        for j, (rb, ry) in enumerate(spans[1]):
            yield (slice(None), i, j, ra, rb), (slice(None), rx, ry)


class Im2col(Function):
    """(N, C, H, W) -> (C*kh*kw, oh*ow*N): every patch becomes a column."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        oh, ow = _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw)
        x = x.transpose(1, 2, 3, 0)  # (C, H, W, N): a view, often of batch-last memory
        # with padding, the column entries that read it stay zero
        cols = (xp.zeros if ph or pw else xp.empty)((c, kh, kw, oh, ow, n), dtype=x.dtype)
        for to, frm in _offsets(self.kernel, self.stride, self.padding, (h, w), (oh, ow)):
            cols[to] = x[frm]
        return cols.reshape(c * kh * kw, oh * ow * n)

    def backward(self, gcols):
        return Col2im(self.inputs[0].shape, self.kernel, self.stride, self.padding)(gcols)


class Col2im(Function):
    """The adjoint of :class:`Im2col`: add each column entry back onto the
    pixel it was read from (entries that read padding are dropped)."""

    def __init__(self, x_shape, kernel, stride, padding):
        self.x_shape, self.kernel, self.stride, self.padding = x_shape, kernel, stride, padding

    def forward(self, cols):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        oh, ow = _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw)
        cols = cols.reshape(c, kh, kw, oh, ow, n)
        # accumulate as (C, H, W, N) so that each addend cols[:, i, j] lines up
        out = xp.zeros((c, h, w, n), dtype=cols.dtype)
        for frm, to in _offsets(self.kernel, self.stride, self.padding, (h, w), (oh, ow)):
            out[to] += cols[frm]
        return out.transpose(3, 0, 1, 2)

    def backward(self, gx):
        return Im2col(self.kernel, self.stride, self.padding)(gx)


def im2col(x, kernel_size, stride=1, padding=0):
    return Im2col(_pair(kernel_size), _pair(stride), _pair(padding))(x)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    return Col2im(tuple(x_shape), _pair(kernel_size), _pair(stride), _pair(padding))(cols)


def _check_4d(name, x, w, x_channels_axis_of_w):
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{name}: expected 4-D input (N, C, H, W) and 4-D weight, got "
                         f"input {x.shape} and weight {w.shape}")
    if x.shape[1] != w.shape[x_channels_axis_of_w]:
        raise ValueError(f"{name}: input {x.shape} has {x.shape[1]} channels but the weight "
                         f"{w.shape} expects {w.shape[x_channels_axis_of_w]}")


def conv2d(x, w, b=None, stride=1, padding=0):
    """Cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C, kh, kw),
    PyTorch's layout and name."""
    _check_4d("conv2d", x, w, 1)
    (kh, kw), (sh, sw), (ph, pw) = w.shape[2:], _pair(stride), _pair(padding)
    n, o = x.shape[0], w.shape[0]
    oh, ow = _out_size(x.shape[2], kh, sh, ph), _out_size(x.shape[3], kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: kernel {(kh, kw)} is larger than the padded input "
                         f"{x.shape[2:]} (padding {padding})")
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))
    w2d = w.reshape(o, -1)
    y = w2d @ cols if b is None else AddMM()(b.reshape(o, 1), w2d, cols)
    return y.reshape(o, oh, ow, n).transpose(3, 0, 1, 2)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """The adjoint of conv2d in its input: ``x`` (N, Cin, H, W) with ``w``
    (Cin, Cout, kh, kw) gives (N, Cout, Hout, Wout), where
    ``Hout = (H - 1) s - 2p + kh + output_padding``."""
    _check_4d("conv_transpose2d", x, w, 0)
    (kh, kw), (sh, sw), (ph, pw) = w.shape[2:], _pair(stride), _pair(padding)
    oph, opw = _pair(output_padding)
    if oph >= sh or opw >= sw:
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be "
                         f"smaller than the stride {stride}")
    n, cin, h, wid = x.shape
    cout = w.shape[1]
    out_shape = (n, cout, (h - 1) * sh - 2 * ph + kh + oph, (wid - 1) * sw - 2 * pw + kw + opw)
    if out_shape[2] < 1 or out_shape[3] < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output pixels for "
                         f"input {x.shape} and kernel {(kh, kw)} (output {out_shape[2:]})")
    x_cols = x.transpose(1, 2, 3, 0).reshape(cin, h * wid * n)  # im2col's column order
    cols = w.reshape(cin, cout * kh * kw).T @ x_cols
    y = col2im(cols, out_shape, (kh, kw), (sh, sw), (ph, pw))
    return y if b is None else y + b.reshape(1, cout, 1, 1)


def _pool(x, kernel_size, stride, reduce):
    """Pool each channel separately: treat it as an image of one channel."""
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    n, c, h, w = x.shape
    oh, ow = _out_size(h, k[0], s[0], 0), _out_size(w, k[1], s[1], 0)
    if oh < 1 or ow < 1:
        raise ValueError(f"pooling: kernel {k} is larger than the input {x.shape[2:]}")
    cols = im2col(x.reshape(n * c, 1, h, w), k, s, 0)  # (kh*kw, oh*ow*N*C)
    return reduce(cols, axis=0).reshape(oh, ow, n, c).transpose(2, 3, 0, 1)


def max_pool2d(x, kernel_size, stride=None):
    """Max over each window (stride defaults to the kernel size).  Ties share
    the gradient equally (see ``ops.Max``)."""
    return _pool(x, kernel_size, stride, lambda t, axis: t.max(axis=axis))


def avg_pool2d(x, kernel_size, stride=None):
    return _pool(x, kernel_size, stride, lambda t, axis: t.mean(axis=axis))
