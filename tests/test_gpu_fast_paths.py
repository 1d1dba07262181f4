"""The GPU fast paths agree with their NumPy references.

Some computations have a GPU form beside the NumPy reference (see
``scratchgen/backend.py``, "GPU fast paths"): im2col and col2im's
accumulation (one CUDA kernel each, ``conv_kernels``), the Adam/AdamW
update, GELU, LeakyReLU and BCE-with-logits (fused elementwise kernels
through ``backend.fuse``), the gradient clip's norm (a dot product per gradient).
Here:

* on every machine: the switch (``SCRATCHGEN_GPU_FAST_PATHS``) and which
  path it selects; the kernels' CUDA source compiled as C++ and run on the
  CPU, thread by thread, against ``im2col_loop`` and ``col2im_loop``; the
  same source compiled for an H100/H200 (``compute_90``) where ``nvcc`` or
  CuPy's NVRTC is found; the fused functions' plain forms against the
  textbook rules; the layers' GPU branches forced on with NumPy arrays;
* under ``SCRATCHGEN_BACKEND=cupy`` on a GPU (``benchmarks/gpu_check.py``
  runs the suite so): each GPU form against its reference on the same device
  arrays.  Elsewhere those tests skip, saying why.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import backend, optim
from scratchgen import functional as F
from scratchgen import conv_kernels
from scratchgen.conv import _Geometry, col2im_loop, im2col_loop
from scratchgen.functional import _gelu_composed, gelu_and_slope, gelu_tanh_and_slope
from scratchgen.losses import _bce_with_logits_array, _bce_with_logits_fused
from scratchgen.ops.activations import _leaky_relu_fused, leaky_relu_and_slope, leaky_relu_plain
from scratchgen.optim.adam import _adam_step_fused, adam_step_elementwise

ROOT = Path(__file__).resolve().parent.parent
ON_GPU = pytest.mark.skipif(
    not backend.GPU_KERNELS,
    reason=f"the GPU forms run only under SCRATCHGEN_BACKEND=cupy on a GPU with "
           f"{backend.FAST_PATHS_ENV} not 0 (this run: backend {backend.NAME}, fast paths "
           f"{'on' if backend.FAST_PATHS else 'off'}); benchmarks/gpu_check.py runs them")


# ---------------------------------------------------------------------------
# The switch
# ---------------------------------------------------------------------------

def _flags(value):
    env = {k: v for k, v in os.environ.items() if k != backend.FAST_PATHS_ENV}
    if value is not None:
        env[backend.FAST_PATHS_ENV] = value
    env.update(SCRATCHGEN_BACKEND="numpy", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", "from scratchgen import backend; "
                          "print(backend.FAST_PATHS, backend.GPU_KERNELS)"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize("value, fast", [(None, "True"), ("1", "True"), ("0", "False"),
                                         (" 0 ", "False"), ("yes", "True")])
def test_the_switch_reads_the_environment_once(value, fast):
    # on NumPy the GPU forms never run, whatever the switch says
    assert _flags(value) == [fast, "False"]


@pytest.mark.skipif(backend.NAME == "cupy", reason="checks the CPU backends' choice")
def test_on_the_cpu_backends_every_fast_path_is_its_reference():
    assert backend.GPU_KERNELS is False
    assert _adam_step_fused is adam_step_elementwise
    assert F._GELU_ARRAYS == {"none": gelu_and_slope, "tanh": gelu_tanh_and_slope}
    assert _leaky_relu_fused is leaky_relu_and_slope
    assert _bce_with_logits_fused is _bce_with_logits_array
    assert backend.fuse(abs) is abs


# ---------------------------------------------------------------------------
# im2col and col2im: the CUDA kernels, compiled as C++ and run on the CPU
# ---------------------------------------------------------------------------

_HARNESS = r"""
struct Dim { unsigned x; };
static Dim blockIdx, blockDim, threadIdx, gridDim;
#define __global__
typedef double T;
%s
/* every thread of a small grid in turn: the grid-stride loop covers the rest */
#define LAUNCH(call) \
    blockDim.x = 3; gridDim.x = 2; \
    for (blockIdx.x = 0; blockIdx.x < gridDim.x; ++blockIdx.x) \
        for (threadIdx.x = 0; threadIdx.x < blockDim.x; ++threadIdx.x) call;
#define SIZES a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], \
              a[12], a[13]
extern "C" void im2col(const T* img, T* cols, long long total, T fill, const int* a) {
    LAUNCH(im2col_gather(img, cols, total, fill, SIZES))
}
extern "C" void col2im(const T* cols, T* img, long long total, const int* a) {
    LAUNCH(col2im_gather(cols, img, total, SIZES))
}
"""


@pytest.fixture(scope="module")
def kernels_on_cpu(tmp_path_factory):
    """``conv_kernels.im2col`` and ``col2im`` with NumPy arrays, float64,
    running the CUDA source compiled by g++."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++) to run the kernels' source on the CPU")
    folder = tmp_path_factory.mktemp("conv_kernels")
    (folder / "kernels.cpp").write_text(_HARNESS % conv_kernels.SOURCE)
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(folder / "kernels.so"),
                    str(folder / "kernels.cpp")], check=True, capture_output=True)
    lib = ctypes.CDLL(str(folder / "kernels.so"))
    pointer, long = ctypes.c_void_p, ctypes.c_longlong
    lib.im2col.argtypes = [pointer, pointer, long, ctypes.c_double, pointer]
    lib.col2im.argtypes = [pointer, pointer, long, pointer]

    def sizes(x_shape, g):
        n, c, h, w = x_shape
        return np.array((c, h, w, n) + g.kernel + g.out_hw + g.stride + g.pad + g.dilation,
                        dtype=np.int32)

    def im2col(x, g, fill):
        img = np.ascontiguousarray(x.transpose(1, 2, 3, 0))
        n, c = x.shape[:2]
        cols = np.full((c * g.kernel[0] * g.kernel[1], g.out_hw[0] * g.out_hw[1] * n), np.nan)
        lib.im2col(img.ctypes.data, cols.ctypes.data, cols.size, fill,
                   sizes(x.shape, g).ctypes.data)
        return cols

    def col2im(cols, x_shape, g):
        n, c, h, w = x_shape
        cols = np.ascontiguousarray(cols)
        img = np.full((c, h, w, n), np.nan)  # every element must be written
        lib.col2im(cols.ctypes.data, img.ctypes.data, img.size, sizes(x_shape, g).ctypes.data)
        return img.transpose(3, 0, 1, 2)
    return im2col, col2im


@st.composite
def col2im_case(draw):
    """A geometry with at least one output pixel: strides larger than the
    kernel (pixels no window reads), padding up to beyond the kernel
    (windows entirely in the padding), dilation, one-pixel images."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    hw = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    g = _Geometry.of(hw, k, s, p, d)
    if min(g.out_hw) < 1:
        g = _Geometry.of(hw, (1, 1), s, p, (1, 1))
    return (n, c) + hw, g, draw(st.integers(0, 2**16))


def _columns(x_shape, g, seed, dtype="float64"):
    n, c = x_shape[:2]
    rows = c * g.kernel[0] * g.kernel[1]
    return np.random.default_rng(seed).standard_normal((rows, g.out_hw[0] * g.out_hw[1] * n)) \
        .astype(dtype)


@given(col2im_case(), st.sampled_from([0.0, -np.inf]))
def test_conv_kernels_source_equals_the_loops_on_the_cpu(kernels_on_cpu, case, fill):
    im2col, col2im = kernels_on_cpu
    x_shape, g, seed = case
    x = np.random.default_rng(seed + 1).standard_normal(x_shape)
    np.testing.assert_array_equal(im2col(x, g, fill),
                                  backend.to_numpy(im2col_loop(backend.asarray(x), g, fill)))
    cols = _columns(x_shape, g, seed)
    # the same additions in the same order: equal to the last bit
    np.testing.assert_array_equal(col2im(cols, x_shape, g),
                                  backend.to_numpy(col2im_loop(backend.asarray(cols), x_shape, g)))


def test_conv_kernels_compile_for_an_h100_or_h200(tmp_path):
    """The source as CuPy compiles it, for compute capability 9.0, without a
    GPU: with CUDA's ``nvcc`` where it is installed, else with CuPy's NVRTC."""
    sources = {ct: f"typedef {ct} T;\n" + conv_kernels.SOURCE
               for ct in conv_kernels.C_TYPES.values()}
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        for ctype, source in sources.items():
            (tmp_path / f"{ctype}.cu").write_text(source)
            done = subprocess.run([nvcc, "--ptx", "-arch=compute_90", f"{ctype}.cu"],
                                  cwd=tmp_path, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            ptx = (tmp_path / f"{ctype}.ptx").read_text()
            assert ".entry im2col_gather" in ptx and ".entry col2im_gather" in ptx
        return
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as exc:  # no CuPy, or CuPy without libnvrtc
        pytest.skip(f"neither nvcc nor CuPy's NVRTC is available ({type(exc).__name__})")
    for source in sources.values():
        program = nvrtc.createProgram(source, "col2im.cu", [], [])
        try:
            nvrtc.compileProgram(program, ["-arch=compute_90"])
            ptx = nvrtc.getPTX(program).decode()
            assert ".entry im2col_gather" in ptx and ".entry col2im_gather" in ptx
        finally:
            nvrtc.destroyProgram(program)


# ---------------------------------------------------------------------------
# The fused elementwise functions, plain, against the textbook rules (Adam's:
# tests/test_plain_and_fast.py, with the in-place form)
# ---------------------------------------------------------------------------

@given(st.sampled_from(["none", "tanh"]), st.integers(0, 2**16))
def test_gelu_and_slope_equal_the_composed_rule_and_its_gradient(approximate, seed):
    x = np.random.default_rng(seed).standard_normal(20) * 3
    x[:5] = (0.0, -40.0, 40.0, -1e-8, 8.0)  # the centre and both tails
    fused = {"none": gelu_and_slope, "tanh": gelu_tanh_and_slope}[approximate]
    y, slope = (backend.to_numpy(a) for a in fused(backend.asarray(x)))
    t = sg.tensor(x, dtype="float64", requires_grad=True)
    composed = _gelu_composed(t, approximate)
    composed.sum().backward()
    np.testing.assert_allclose(y, composed.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(slope, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(st.sampled_from([0.0, 0.01, 0.2, 1.0, 1.5, -0.5]), st.integers(0, 2**16))
def test_leaky_relu_and_slope_equal_the_textbook_rule_and_its_gradient(slope, seed):
    x = np.random.default_rng(seed).standard_normal(12)
    x[:3] = (0.0, -0.0, 1e-300)  # the kink: slope at 0, 1 just above
    y, scale = (backend.to_numpy(a) for a in
                leaky_relu_and_slope(backend.asarray(x), np.float64(slope)))
    t = sg.tensor(x, dtype="float64", requires_grad=True)
    plain = leaky_relu_plain(t, slope)
    plain.sum().backward()
    np.testing.assert_array_equal(y, plain.numpy())
    np.testing.assert_array_equal(scale, t.grad.numpy())


@pytest.mark.skipif(backend.NAME != "numpy", reason="runs the GPU branches with NumPy arrays")
@given(col2im_case(), st.integers(1, 3))
def test_the_gpu_branches_give_the_reference_numbers_on_the_cpu(kernels_on_cpu, case, out_c):
    """``backend.GPU_KERNELS`` forced on, on NumPy: the layers' GPU branches
    run, with the kernels' CUDA source (through g++) standing in for the
    launches and the fused functions' plain forms for their kernels.  A
    convolution, a transposed convolution, LeakyReLU and an Adam step give
    the numbers, gradients and second derivatives the CPU branches give."""
    x_shape, g, seed = case
    # the transposed convolution maps the oh x ow output back: to at least one pixel
    assume(all((o - 1) * s - 2 * p + d * (k - 1) >= 0 for o, s, p, d, k in
               zip(g.out_hw, g.stride, g.pad, g.dilation, g.kernel)))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_c, x_shape[1]) + g.kernel)
    wt = rng.standard_normal((out_c, x_shape[1]) + g.kernel)
    kw = dict(stride=g.stride, padding=g.pad, dilation=g.dilation)

    def run():
        sg.manual_seed(0)
        xs, ws, wts = (sg.tensor(a, dtype="float64", requires_grad=True) for a in (x, w, wt))
        y = F.leaky_relu(F.conv2d(xs, ws, **kw), 0.2)
        z = F.conv_transpose2d(y, wts, **kw)
        grads = sg.grad((z * z).sum(), [xs, ws, wts], create_graph=True)
        second = sg.grad(sum((gr * gr).sum() for gr in grads), [xs, ws])
        opt = optim.AdamW([ws], lr=0.1)
        ws.grad = grads[1].detach()
        opt.step()
        return [t.numpy() for t in (y, z, *grads, *second, ws)]

    reference = run()
    im2col, col2im = kernels_on_cpu
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "GPU_KERNELS", True)
        patch.setattr(conv_kernels, "im2col", lambda x, g, fill=0.0: im2col(x, g, fill))
        patch.setattr(conv_kernels, "col2im", col2im)
        gpu_branches = run()
    for got, want in zip(gpu_branches, reference):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(backend.NAME == "numpy-guard", reason="numpy and cupy run both branches")
@given(st.lists(st.sampled_from([(3,), (2, 5), (4, 1, 3)]), min_size=1, max_size=4),
       st.sampled_from([0.1, 1.0, 1e3]), st.integers(0, 2**16))
def test_clip_grad_norm_gpu_branch_gives_the_reference_numbers(shapes, max_norm, seed):
    """The 2-norm from one dot product per gradient (the GPU branch; forced
    on with NumPy) against |g|^2 summed, float32 and float64 gradients mixed."""
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3) for shape in shapes]
    results = []
    for forced in (False, True):
        params = [sg.tensor(np.zeros(g.shape), dtype=("float32", "float64")[i % 2],
                            requires_grad=True) for i, g in enumerate(grads)]
        for prm, g in zip(params, grads):
            prm.grad = sg.tensor(g, dtype=prm.dtype)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(backend, "GPU_KERNELS", forced)
            total = sg.nn.utils.clip_grad_norm_(params, max_norm)
        assert all(prm.grad.dtype == prm.dtype for prm in params)
        results.append([total.numpy()] + [prm.grad.numpy() for prm in params])
    for got, want in zip(*results[::-1]):
        np.testing.assert_allclose(got, want, rtol=1e-6)


# ---------------------------------------------------------------------------
# On a GPU: each GPU form against its reference, on the same device arrays
# ---------------------------------------------------------------------------

@ON_GPU
@given(col2im_case(), st.sampled_from(["float32", "float64"]), st.sampled_from([0.0, -np.inf]))
def test_conv_kernels_equal_the_loops_on_the_gpu(case, dtype, fill):
    x_shape, g, seed = case
    x = backend.asarray(np.random.default_rng(seed + 1).standard_normal(x_shape).astype(dtype))
    np.testing.assert_array_equal(backend.to_numpy(conv_kernels.im2col(x, g, fill)),
                                  backend.to_numpy(im2col_loop(x, g, fill)))
    cols = backend.asarray(_columns(x_shape, g, seed, dtype))
    np.testing.assert_array_equal(backend.to_numpy(conv_kernels.col2im(cols, x_shape, g)),
                                  backend.to_numpy(col2im_loop(cols, x_shape, g)))


@ON_GPU
def test_conv_kernels_on_a_large_batch_use_every_block():
    """More elements than the grid has threads: the grid-stride loop; and
    an input stored batch-first (not batch-last), which im2col copies."""
    g = _Geometry.of((64, 64), (4, 4), 2, 1)
    x_shape = (70, 64, 64, 64)
    x = backend.asarray(np.random.default_rng(0).standard_normal(x_shape).astype("float32"))
    np.testing.assert_array_equal(backend.to_numpy(conv_kernels.im2col(x, g)),
                                  backend.to_numpy(im2col_loop(x, g)))
    cols = backend.asarray(_columns(x_shape, g, 0, "float32"))
    np.testing.assert_array_equal(backend.to_numpy(conv_kernels.col2im(cols, x_shape, g)),
                                  backend.to_numpy(col2im_loop(cols, x_shape, g)))


@ON_GPU
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_fused_kernel_equals_plain_rule_on_the_gpu(cls, dtype):
    assert type(_adam_step_fused).__name__ == "Fusion"
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((33, 17))
    params = [sg.tensor(p0.copy(), dtype=dtype, requires_grad=True) for _ in range(2)]
    opts = [cls([p], lr=1e-2, weight_decay=0.1) for p in params]
    opts[0]._update = opts[0]._update_plain  # opts[1] runs _update, fused here
    tol = 1e-5 if dtype == "float32" else 1e-12
    for _ in range(5):
        g = rng.standard_normal((33, 17)) * 10.0 ** rng.uniform(-3, 1)
        for p, opt in zip(params, opts):
            p.grad = sg.tensor(g, dtype=dtype)
            opt.step()
        assert params[1].dtype == np.dtype(dtype)
        np.testing.assert_allclose(params[1].numpy(), params[0].numpy(), rtol=tol, atol=tol)


@ON_GPU
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_fused_kernel_equals_the_plain_function_on_the_gpu(approximate, dtype):
    x = backend.asarray((np.random.default_rng(1).standard_normal(1000) * 4).astype(dtype))
    fused = F._GELU_ARRAYS[approximate]
    assert type(fused).__name__ == "Fusion"
    tol = 1e-6 if dtype == "float32" else 1e-13
    for got, want in zip(fused(x), fused.func(x)):  # .func: op by op on CuPy
        np.testing.assert_allclose(backend.to_numpy(got), backend.to_numpy(want), rtol=tol,
                                   atol=tol)


@ON_GPU
@pytest.mark.parametrize("slope", [0.2, 1.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaky_relu_fused_kernel_equals_the_plain_function_on_the_gpu(slope, dtype):
    x = backend.asarray(np.random.default_rng(2).standard_normal(1000).astype(dtype))
    assert type(_leaky_relu_fused).__name__ == "Fusion"
    s = x.dtype.type(slope)
    for got, want in zip(_leaky_relu_fused(x, s), _leaky_relu_fused.func(x, s)):
        np.testing.assert_array_equal(backend.to_numpy(got), backend.to_numpy(want))


@ON_GPU
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_fused_kernel_equals_the_plain_function_on_the_gpu(weighted, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 4)) * 20
    x[0] = (0.0, 1e4, -1e4, 17.0)
    t = rng.uniform(0, 1, (50, 4))
    t[1] = (0, 1, 1, 0)
    args = [backend.asarray(a.astype(dtype)) for a in (x, t)]
    args.append(backend.asarray(rng.uniform(0.1, 5, 4).astype(dtype)) if weighted else None)
    assert type(_bce_with_logits_fused).__name__ == "Fusion"
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(backend.to_numpy(_bce_with_logits_fused(*args)),
                               backend.to_numpy(_bce_with_logits_array(*args)), rtol=tol,
                               atol=tol)
