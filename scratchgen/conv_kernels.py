"""im2col and col2im as one CUDA kernel each: the GPU forms of
:func:`conv.im2col_loop` and :func:`conv.col2im_loop`.

The loops in ``conv.py`` move one strided block per kernel tap (i, j): kh*kw
array operations, each a tight loop on the CPU but a kernel launch on a
GPU, and at DCGAN sizes (7x7 and 14x14 images) a launch costs more than the
copy it does.  Here each direction is one launch of one thread per element.
Both kernels work on the same two contiguous arrays,

    cols[c, i, j, a, b, n]   shape (C, kh, kw, oh, ow, N)
    img[c, y, x, n]          shape (C, H, W, N), the batch-last image,

tied by the window geometry (stride s, leading padding p, dilation d):

    tap (i, j) of output pixel (a, b) reads  y = s_h a + d_h i - p_h,
                                             x = s_w b + d_w j - p_w.

im2col: the thread of cols[c, i, j, a, b, n] computes (y, x) and copies
``img[c, y, x, n]``, or ``fill`` when (y, x) lies in the padding.

col2im, the adjoint, sums every column entry onto the pixel it read.  As a
*scatter* (a thread per column entry adding to its pixel) overlapping
windows would collide and need atomic adds, whose order, and so whose
rounding, changes from run to run.  Turned inside out it is a *gather*: the
thread of pixel (c, y, x, n) finds the taps that read it, i with
``y + p_h - d_h i = s_h a`` for a whole a in [0, oh) (and j likewise), and
adds them up in the loop's order (i, then j), so it gives the loop's numbers
to the last bit, with no atomics and no zero fill.

Both are used only where ``backend.GPU_KERNELS`` (CuPy with the fast paths
on), for float32 and float64; anything else runs the loops.  The tests run
this CUDA source on the CPU too, compiled as C++ (``tests/test_gpu_fast_paths.py``).
"""
from __future__ import annotations

from functools import lru_cache

from .backend import xp

#: The two kernels; ``T``, the element type, is ``typedef``'d in front.
#: Each thread walks the elements e, e + (all threads), ... (a grid-stride
#: loop), so any size fits in a grid of at most 65535 blocks.
SOURCE = r"""
extern "C" __global__ void im2col_gather(
        const T* img, T* cols, long long total, T fill, int C, int H, int W, int N,
        int kh, int kw, int oh, int ow, int sh, int sw, int ph, int pw, int dh, int dw) {
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        long long r = e;               /* e = ((((c kh + i) kw + j) oh + a) ow + b) N + n */
        int n = (int)(r % N); r /= N;
        int b = (int)(r % ow); r /= ow;
        int a = (int)(r % oh); r /= oh;
        int j = (int)(r % kw); r /= kw;
        int i = (int)(r % kh);
        long long c = r / kh;
        int y = sh * a + dh * i - ph, x = sw * b + dw * j - pw;
        cols[e] = (y >= 0 && y < H && x >= 0 && x < W) ? img[((c * H + y) * W + x) * N + n]
                                                       : fill;
    }
}

extern "C" __global__ void col2im_gather(
        const T* cols, T* img, long long total, int C, int H, int W, int N,
        int kh, int kw, int oh, int ow, int sh, int sw, int ph, int pw, int dh, int dw) {
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        long long r = e;               /* e = ((c H + y) W + x) N + n */
        int n = (int)(r % N); r /= N;
        int x = (int)(r % W); r /= W;
        int y = (int)(r % H);
        long long c = r / H;
        T sum = 0;
        for (int i = 0; i < kh; ++i) {
            int sa = y + ph - dh * i;  /* = s a when tap i of output row a reads row y */
            if (sa < 0 || sa % sh != 0 || sa / sh >= oh) continue;
            int a = sa / sh;
            for (int j = 0; j < kw; ++j) {
                int sb = x + pw - dw * j;
                if (sb < 0 || sb % sw != 0 || sb / sw >= ow) continue;
                int b = sb / sw;
                sum += cols[((((c * kh + i) * kw + j) * oh + a) * ow + b) * N + n];
            }
        }
        img[e] = sum;
    }
}
"""

#: The element types the kernels are compiled for, and their C names.
C_TYPES = {"float32": "float", "float64": "double"}
_THREADS = 256


def runs(a) -> bool:
    """Whether the kernels take ``a``'s dtype (the loops take every dtype)."""
    return str(a.dtype) in C_TYPES


@lru_cache(maxsize=None)
def _kernel(name: str, ctype: str):
    import cupy
    return cupy.RawModule(code=f"typedef {ctype} T;\n" + SOURCE).get_function(name)


def _launch(name: str, dtype, source, target, *rest) -> None:
    """``name``(source, target, total, *rest), one thread per element of target."""
    total = target.size
    if total == 0:
        return
    blocks = min((total + _THREADS - 1) // _THREADS, 65535)
    _kernel(name, C_TYPES[str(dtype)])((blocks,), (_THREADS,),
                                       (source, target, xp.int64(total), *rest))


def _sizes(c, h, w, n, g) -> tuple:
    return tuple(xp.int32(v) for v in (c, h, w, n) + g.kernel + g.out_hw + g.stride + g.pad
                 + g.dilation)


def im2col(x, g, fill=0.0):
    """:func:`conv.im2col_loop`'s columns (C*kh*kw, oh*ow*N) from one launch."""
    n, c, h, w = x.shape
    (kh, kw), (oh, ow) = g.kernel, g.out_hw
    img = xp.ascontiguousarray(x.transpose(1, 2, 3, 0))  # no copy if already batch-last
    cols = xp.empty((c * kh * kw, oh * ow * n), dtype=x.dtype)
    _launch("im2col_gather", x.dtype, img, cols, x.dtype.type(fill), *_sizes(c, h, w, n, g))
    return cols


def col2im(cols, x_shape, g):
    """:func:`conv.col2im_loop`'s image, the (N, C, H, W) view of a
    batch-last array, from one launch."""
    n, c, h, w = x_shape
    img = xp.empty((c, h, w, n), dtype=cols.dtype)
    _launch("col2im_gather", cols.dtype, xp.ascontiguousarray(cols), img, *_sizes(c, h, w, n, g))
    return img.transpose(3, 0, 1, 2)
