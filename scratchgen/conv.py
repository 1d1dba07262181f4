"""Convolution, transposed convolution and pooling, by im2col and one GEMM.

Index arithmetic
----------------
A 2-D convolution (cross-correlation, as in PyTorch) of ``x`` (N, C, H, W)
with ``w`` (O, C, kh, kw), stride s and zero padding p:

    y[n, o, a, b] = sum_{c, i, j} w[o, c, i, j] * xpad[n, c, s*a + i, s*b + j]

with output size ``oh = (H + 2p - kh) // s + 1`` (same for the width).

im2col lays out every input patch as a column.  The textbook layout, as
lesson 06 draws it, orders the columns by image, then output pixel:

    cols[(c, i, j), (n, a, b)] = xpad[n, c, s*a + i, s*b + j]

and is the first code below (``im2col_plain``, ``conv2d_plain``,
``conv_transpose2d_plain``: tensor ops on a padded copy).  The layout the
library runs puts the batch index last, ``cols[(c, i, j), (a, b, n)]``
(why: below).  Either way the whole convolution is one matrix product,
``Y = W @ cols`` with W = w.reshape(O, C*kh*kw): all the work goes to the
BLAS GEMM.  We fill cols with one block copy per kernel offset (i, j): for
fixed (i, j) the rows a of ``cols[c, i, j, a, b, n]`` read the input rows
s*a + i - p, a strided slice of x.  Entries that would read the zero padding are left
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
about 5x and col2im about 2x faster at those sizes; with no padded copy
either, the DCGAN step runs 6.8-7.1x faster than on the plain layout
(``benchmarks/bench_plain_fast.py``, two runs; AMD EPYC, 2 shared vCPUs,
1 thread).  The GEMM does not care
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

On a GPU each of those kh*kw copies or additions is a kernel launch, and a
launch costs more than the copy at DCGAN sizes; there :mod:`.conv_kernels`
does im2col and col2im in one launch each (col2im turned inside out: one
thread per pixel *gathers* the entries that read it, no atomic adds).
The loops here stay the reference and run everywhere else.

Transposed convolution is the adjoint of convolution with respect to its
input: ``conv_transpose2d(y, w) = col2im(W^T @ Y)``.  So

    <conv2d(x, w), y> == <x, conv_transpose2d(y, w)>

holds for every x and y (the tests check it), and the backward of each is
the other: both are built from im2col/col2im and matmul, whose backward
passes are already differentiable, so second derivatives work too.
"""
from __future__ import annotations

from . import backend, conv_kernels
from .autograd import Function, Tensor
from .backend import xp
from .ops import AddMM, pad, stack


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(padding):
    """Padding as ((top, bottom), (left, right)): from an int, a pair (one
    per axis, both sides) or already one (before, after) pair per axis."""
    per_axis = _pair(padding)
    return tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in per_axis)


def _out_size(size, k, s, pads, d=1, ceil_mode=False):
    """Output length along one axis: windows of ``d*(k-1) + 1`` input
    positions, ``s`` apart, over the input padded by ``pads = (lo, hi)``.
    ``ceil_mode`` keeps a last, partial window as long as it starts inside
    the input or the leading padding (PyTorch's rule for pooling)."""
    lo, hi = pads
    span = size + lo + hi - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + lo:
        out -= 1
    return out


def _span(offset, s, p, size, out):
    """Along one axis, for the kernel tap at ``offset`` (d*i, dilation d):
    the output positions a with ``0 <= s*a + offset - p < size`` (the others
    read padding), and the input positions they read, as a pair of slices."""
    lo = max(0, -((offset - p) // s))  # ceil((p - offset) / s)
    hi = max(lo, min(out, (size - 1 + p - offset) // s + 1))
    first = s * lo + offset - p
    return slice(lo, hi), slice(first, first + s * (hi - lo - 1) + 1 if hi > lo else first, s)


def _offsets(g, in_hw):
    """For each kernel offset (i, j): the output pixels that see the image
    (not its padding) and the input pixels they see, as index tuples into
    (C, kh, kw, oh, ow, N) columns and a (C, H, W, N) image.  im2col and
    col2im loop over these kh*kw offsets only: each step moves one whole
    block, all channels, output pixels and images at once, and the padding
    never exists as an array."""
    spans = [[_span(d * i, s, p, size, out) for i in range(k)]
             for k, s, p, d, size, out in zip(g.kernel, g.stride, g.pad, g.dilation, in_hw,
                                               g.out_hw)]
    for i, (ra, rx) in enumerate(spans[0]):
        for j, (rb, ry) in enumerate(spans[1]):
            yield (slice(None), i, j, ra, rb), (slice(None), rx, ry)


class _Geometry:
    """Where the windows lie: kernel, stride, leading padding and dilation
    per axis, and the output size (which the trailing padding and ceil mode
    decide)."""

    def __init__(self, kernel, stride, pad, dilation, out_hw):
        self.kernel, self.stride, self.pad = tuple(kernel), tuple(stride), tuple(pad)
        self.dilation, self.out_hw = tuple(dilation), tuple(out_hw)

    @classmethod
    def of(cls, in_hw, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
        kernel, stride, dilation, pads = _pair(kernel), _pair(stride), _pair(dilation), \
            _pads(padding)
        out = tuple(_out_size(n, k, s, p, d, ceil_mode)
                    for n, k, s, p, d in zip(in_hw, kernel, stride, pads, dilation))
        return cls(kernel, stride, tuple(p[0] for p in pads), dilation, out)

    def covers(self, in_hw) -> bool:
        """Whether every window lies inside the image (nothing reads padding)."""
        return not any(self.pad) and all(
            (o - 1) * s + d * (k - 1) < n for o, s, d, k, n in
            zip(self.out_hw, self.stride, self.dilation, self.kernel, in_hw))


# ---------------------------------------------------------------------------
# The plain layout: pad the image, then one strided slice per kernel offset
# ---------------------------------------------------------------------------

def im2col_plain(x, kernel_size, stride=1, padding=0, dilation=1):
    """im2col as the textbook (and lesson 06) writes it, in the layout

        cols[(c, i, j), (n, a, b)] = xpad[n, c, s*a + d*i, s*b + d*j],

    built from differentiable ops (pad, slicing, stack), so its gradient
    (col2im) and second derivatives come from the chain rule.  :class:`Im2col`
    below gives the same numbers batch-last, columns in (a, b, n) order,
    without building the padded image."""
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel_size), _pair(stride), _pair(dilation)
    oh, ow = _Geometry.of(x.shape[2:], (kh, kw), (sh, sw), padding, (dh, dw)).out_hw
    xpad = pad(x, ((0, 0), (0, 0)) + _pads(padding))
    # kernel offset (i, j) meets pixel (s*a + d*i, s*b + d*j) in window (a, b): one strided slice
    taps = [xpad[:, :, dh * i:dh * i + sh * (oh - 1) + 1:sh, dw * j:dw * j + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
    n, c = x.shape[:2]
    cols = stack(taps, axis=2)                      # (N, C, kh*kw, oh, ow)
    return cols.permute(1, 2, 0, 3, 4).reshape(c * kh * kw, n * oh * ow)


def conv2d_plain(x, w, b=None, stride=1, padding=0, dilation=1):
    """``conv2d`` (groups 1) in the plain layout: ``Y = W @ cols``, then
    (O, N, oh, ow) back to (N, O, oh, ow).  :func:`conv2d` below computes the
    same numbers batch-last."""
    _check_4d("conv2d", x, w, 1, 1)
    kernel, o, n = w.shape[2:], w.shape[0], x.shape[0]
    pads = _conv_padding(padding, kernel, stride, dilation)
    oh, ow = _Geometry.of(x.shape[2:], kernel, stride, pads, dilation).out_hw
    # Y[o, (n, a, b)] = sum_{c, i, j} W[o, (c, i, j)] cols[(c, i, j), (n, a, b)]
    y = w.reshape(o, -1) @ im2col_plain(x, kernel, stride, pads, dilation)
    y = y.reshape(o, n, oh, ow).permute(1, 0, 2, 3)
    return y if b is None else y + b.reshape(1, o, 1, 1)


def conv_transpose2d_plain(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """``conv_transpose2d`` (groups 1) as the textbook builds it (Dumoulin &
    Visin, 2016): put s - 1 zeros between neighbouring pixels, pad by
    ``d (k - 1) - p`` (plus ``output_padding`` at the end), and convolve at
    stride 1 with the kernel flipped and its channel axes swapped.  Needs
    ``padding <= d (k - 1)``.  :func:`conv_transpose2d` below computes the
    same numbers as col2im of one product, batch-last."""
    _check_4d("conv_transpose2d", x, w, 0, 1)
    (kh, kw), (sh, sw), (ph, pw) = w.shape[2:], _pair(stride), _pair(padding)
    (dh, dw), (oph, opw) = _pair(dilation), _pair(output_padding)
    lo_h, lo_w = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    if lo_h < 0 or lo_w < 0:
        raise ValueError(f"conv_transpose2d_plain: padding {padding} is larger than "
                         f"dilation * (kernel - 1); use conv_transpose2d")
    n, c, h, wid = x.shape
    # x[n, c, a, b] goes to row s*a, column s*b; the s - 1 after it are 0
    spread = pad(x.reshape(n, c, h, 1, wid, 1),
                 ((0, 0), (0, 0), (0, 0), (0, sh - 1), (0, 0), (0, sw - 1)))
    spread = spread.reshape(n, c, h * sh, wid * sw)[:, :, :(h - 1) * sh + 1, :(wid - 1) * sw + 1]
    flipped = w[:, :, ::-1, ::-1].permute(1, 0, 2, 3)   # (Cout, Cin, kh, kw)
    return conv2d_plain(spread, flipped, b, 1, ((lo_h, lo_h + oph), (lo_w, lo_w + opw)),
                        (dh, dw))


def im2col_loop(x, g, fill=0.0):
    """im2col on arrays, the reference: one block copy per kernel offset
    (i, j) into (C, kh, kw, oh, ow, N) columns, the padding's entries left
    at ``fill``; returns them as (C*kh*kw, oh*ow*N)."""
    (kh, kw), (oh, ow) = g.kernel, g.out_hw
    n, c, h, w = x.shape
    x = x.transpose(1, 2, 3, 0)  # (C, H, W, N): a view, often of batch-last memory
    shape = (c, kh, kw, oh, ow, n)
    cols = (xp.empty(shape, dtype=x.dtype) if g.covers((h, w))
            else xp.full(shape, fill, dtype=x.dtype))
    for to, frm in _offsets(g, (h, w)):
        cols[to] = x[frm]
    return cols.reshape(c * kh * kw, oh * ow * n)


class Im2col(Function):
    """(N, C, H, W) -> (C*kh*kw, oh*ow*N): every patch becomes a column.
    Entries that read the padding hold ``fill`` (0 for a convolution, -inf
    for max pooling).  On a GPU (``backend.GPU_KERNELS``) one kernel
    (:func:`conv_kernels.im2col`) does what the loop's kh*kw block copies do."""

    def __init__(self, geometry, fill=0.0):
        self.g, self.fill = geometry, fill

    def forward(self, x):
        if backend.GPU_KERNELS and conv_kernels.runs(x):
            return conv_kernels.im2col(x, self.g, self.fill)
        return im2col_loop(x, self.g, self.fill)

    def backward(self, gcols):
        return Col2im(self.inputs[0].shape, self.g)(gcols)


def col2im_loop(cols, x_shape, g):
    """col2im on arrays, the reference: one strided-slice addition per
    kernel offset (i, j), in that order, onto a (C, H, W, N) image of zeros;
    returns the (N, C, H, W) view.  kh*kw operations: on the CPU each is one
    tight loop over the batch; on a GPU each is a kernel launch."""
    (kh, kw), (oh, ow) = g.kernel, g.out_hw
    n, c, h, w = x_shape
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    # accumulate as (C, H, W, N) so that each addend cols[:, i, j] lines up
    out = xp.zeros((c, h, w, n), dtype=cols.dtype)
    for frm, to in _offsets(g, (h, w)):
        out[to] += cols[frm]
    return out.transpose(3, 0, 1, 2)


class Col2im(Function):
    """The adjoint of :class:`Im2col`: add each column entry back onto the
    pixel it was read from (entries that read padding are dropped).  On a
    GPU (``backend.GPU_KERNELS``) one gather kernel
    (:func:`conv_kernels.col2im`) does what the loop's kh*kw slice additions do."""

    def __init__(self, x_shape, geometry):
        self.x_shape, self.g = tuple(x_shape), geometry

    def forward(self, cols):
        if backend.GPU_KERNELS and conv_kernels.runs(cols):
            return conv_kernels.col2im(cols, self.x_shape, self.g)
        return col2im_loop(cols, self.x_shape, self.g)

    def backward(self, gx):
        return Im2col(self.g)(gx)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    return Im2col(_Geometry.of(x.shape[2:], kernel_size, stride, padding, dilation))(x)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    return Col2im(x_shape, _Geometry.of(tuple(x_shape)[2:], kernel_size, stride, padding,
                                        dilation))(cols)


def _check_4d(name, x, w, x_channels_axis_of_w, groups):
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{name}: expected 4-D input (N, C, H, W) and 4-D weight, got "
                         f"input {x.shape} and weight {w.shape}")
    if not (isinstance(groups, int) and groups >= 1 and x.shape[1] % groups == 0):
        raise ValueError(f"{name}: groups={groups!r} must be a positive integer that divides "
                         f"the input's {x.shape[1]} channels")
    per_group = x.shape[1] // groups if x_channels_axis_of_w == 1 else x.shape[1]
    if per_group != w.shape[x_channels_axis_of_w]:
        raise ValueError(f"{name}: input {x.shape} has {x.shape[1]} channels, groups={groups}, "
                         f"but the weight {w.shape} expects "
                         f"{w.shape[x_channels_axis_of_w] * (groups if x_channels_axis_of_w == 1 else 1)}")


def _conv_padding(padding, kernel, stride, dilation):
    """PyTorch's padding argument as ((top, bottom), (left, right)):
    ``'valid'`` is none, ``'same'`` pads ``d*(k-1)`` in all, the extra one
    (for an even kernel) at the end, so the output keeps the input's size
    (stride 1 only, as in PyTorch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if _pair(stride) != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (got stride={stride}): the "
                                 "output could not keep the input's size; give the padding "
                                 "as a number instead")
            totals = [d * (k - 1) for d, k in zip(_pair(dilation), _pair(kernel))]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"padding must be a number, a pair, 'same' or 'valid'; got {padding!r}")
    return _pads(padding)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C/groups, kh,
    kw), PyTorch's layout, name and arguments.  With ``groups`` g the
    channels are split into g groups convolved separately (one batched
    matrix product); ``dilation`` d spaces the kernel taps d apart."""
    _check_4d("conv2d", x, w, 1, groups)
    kernel = w.shape[2:]
    pads = _conv_padding(padding, kernel, stride, dilation)
    g = _Geometry.of(x.shape[2:], kernel, stride, pads, dilation)
    (oh, ow), n, o = g.out_hw, x.shape[0], w.shape[0]
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: kernel {tuple(kernel)} is larger than the padded input "
                         f"{x.shape[2:]} (padding {padding}, dilation {dilation})")
    if o % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the {o} output channels")
    cols = Im2col(g)(x)                           # (C*kh*kw, oh*ow*N)
    if groups == 1:
        w2d = w.reshape(o, -1)
        y = w2d @ cols if b is None else AddMM()(b.reshape(o, 1), w2d, cols)
    else:
        # per group: (O/g, C/g*kh*kw) @ (C/g*kh*kw, L), rows of cols ordered by channel
        y = (w.reshape(groups, o // groups, -1) @ cols.reshape(groups, -1, cols.shape[1]))
        y = y.reshape(o, -1) if b is None else y.reshape(o, -1) + b.reshape(o, 1)
    return y.reshape(o, oh, ow, n).permute(3, 0, 1, 2)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The adjoint of conv2d in its input: ``x`` (N, Cin, H, W) with ``w``
    (Cin, Cout/groups, kh, kw) gives (N, Cout, Hout, Wout), where
    ``Hout = (H - 1) s - 2p + d (kh - 1) + output_padding + 1``."""
    _check_4d("conv_transpose2d", x, w, 0, groups)
    (kh, kw), (sh, sw), (ph, pw) = w.shape[2:], _pair(stride), _pair(padding)
    (dh, dw), (oph, opw) = _pair(dilation), _pair(output_padding)
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be "
                         f"smaller than the stride {stride} or the dilation {dilation}")
    n, cin, h, wid = x.shape
    cout = w.shape[1] * groups
    out_shape = (n, cout, (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1,
                 (wid - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1)
    if out_shape[2] < 1 or out_shape[3] < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output pixels for "
                         f"input {x.shape} and kernel {(kh, kw)} (output {out_shape[2:]})")
    x_cols = x.permute(1, 2, 3, 0).reshape(cin, h * wid * n)  # im2col's column order
    if groups == 1:
        cols = w.reshape(cin, cout * kh * kw).T @ x_cols
    else:
        # per group: (Cout/g*kh*kw, Cin/g) @ (Cin/g, L), stacked in channel order
        wg = w.reshape(groups, cin // groups, -1).swapaxes(1, 2)
        cols = (wg @ x_cols.reshape(groups, cin // groups, -1)).reshape(cout * kh * kw, -1)
    # the geometry of the convolution this one is the adjoint of
    geometry = _Geometry((kh, kw), (sh, sw), (ph, pw), (dh, dw), (h, wid))
    y = Col2im(out_shape, geometry)(cols)
    return y if b is None else y + b.reshape(1, cout, 1, 1)


def _pool(name, x, kernel_size, stride, padding, dilation, ceil_mode):
    """The windows of every channel as the columns of one image of one
    channel: (kh*kw, oh*ow*N*C), and the geometry."""
    if x.ndim != 4:
        raise ValueError(f"{name}: expected input (N, C, H, W), got {x.shape}")
    kernel, pads = _pair(kernel_size), _pair(padding)
    stride = kernel if stride is None else stride
    for k, p, d in zip(kernel, pads, _pair(dilation)):
        if not 0 <= p <= (d * (k - 1) + 1) // 2:
            raise ValueError(f"{name}: padding {padding} must be at most half the (dilated) "
                             f"kernel {kernel_size}, as in PyTorch")
    g = _Geometry.of(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    if min(g.out_hw) < 1:
        raise ValueError(f"{name}: kernel {kernel} is larger than the padded input "
                         f"{x.shape[2:]} (padding {padding})")
    return g


def _unpool(y, x, g):
    """(oh*ow*N*C,) back to (N, C, oh, ow)."""
    n, c = x.shape[:2]
    return y.reshape(*g.out_hw, n, c).permute(2, 3, 0, 1)


def _channels_as_images(x):
    n, c, h, w = x.shape
    return x.reshape(n * c, 1, h, w)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over each window (stride defaults to the kernel size); padding
    counts as -inf, so it never wins.  Ties share the gradient equally (see
    ``ops.Max``)."""
    g = _pool("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    cols = Im2col(g, fill=-float("inf"))(_channels_as_images(x))
    return _unpool(cols.max(axis=0), x, g)


def _window_sizes(size, k, s, p, out, count_include_pad):
    """How many positions each window along one axis averages over
    (PyTorch's divisor): the window clipped to the padded input, or to the
    input itself without ``count_include_pad``; a ceil-mode overhang past
    the padding never counts."""
    starts = [a * s - p for a in range(out)]
    if count_include_pad:
        return [min(a + k, size + p) - a for a in starts]
    return [min(a + k, size) - max(a, 0) for a in starts]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over each window.  Zero padding is counted in the mean unless
    ``count_include_pad=False`` (PyTorch's default and option)."""
    g = _pool("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    cols = Im2col(g)(_channels_as_images(x))
    if g.covers(x.shape[2:]):
        return _unpool(cols.mean(axis=0), x, g)
    sizes = [_window_sizes(n, k, s, p, o, count_include_pad) for n, k, s, p, o in
             zip(x.shape[2:], g.kernel, g.stride, g.pad, g.out_hw)]
    # divisor[a, b] = rows[a] * cols[b], laid out like the columns (oh, ow, N*C)
    divisor = backend.asarray(sizes[0], dtype=x.dtype).reshape(-1, 1, 1) * \
        backend.asarray(sizes[1], dtype=x.dtype).reshape(1, -1, 1)
    total = cols.sum(axis=0).reshape(*g.out_hw, -1)
    return _unpool(total / Tensor(divisor), x, g)
