# %% [markdown]
# # Lesson 01: arrays, dtypes and the backend switch
#
# A scratchgen `Tensor` is a thin wrapper around one array of the *backend*:
# a `numpy.ndarray` on the CPU or a `cupy.ndarray` on an NVIDIA GPU.  This
# lesson looks at that array before any gradient appears:
#
# 1. which backend is active, and how `SCRATCHGEN_BACKEND` chooses it;
# 2. `x.data` (the backend array) versus `x.numpy()` (always a host copy);
# 3. why floats are float32 by default: half the memory, and faster
#    arithmetic (we time a matrix product in both precisions);
# 4. the `numpy-guard` backend, which refuses on the CPU what CuPy would
#    refuse on a GPU, so GPU-only bugs show up in ordinary CPU tests.
#
# Run it as a script (`python lessons/01_arrays_and_backends.py`, add
# `--quick` for a smoke run) or open it as a notebook: each `# %%` is a cell.

# %%
import os
import subprocess
import sys
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen import guard
from scratchgen.backend import to_numpy, xp

from _common import parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 01: arrays, dtypes and the backend switch")
sg.manual_seed(0)

# %% [markdown]
# ## 1. The backend is chosen once, at import
#
# `scratchgen.backend` reads `SCRATCHGEN_BACKEND` when the package is first
# imported and binds `xp` to the array module: `numpy` (the default), `cupy`
# or the guard wrapper.  Library code writes `xp.exp(a)`, never `np.exp(a)`,
# so the same line runs on every backend.  Because the choice is made at
# import, switching means starting a new Python process with the variable
# set; here we do exactly that in a subprocess.

# %%
print(f"this process: backend {sg.backend.NAME!r}, "
      f"arrays of type {type(sg.zeros(1).data).__name__}")

PROBE = "import scratchgen as sg; print(sg.backend.NAME, type(sg.randn(2).data).__name__)"


def run_with_backend(name: str) -> str:
    env = {**os.environ, "SCRATCHGEN_BACKEND": name}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


for name in ("numpy", "numpy-guard", "tpu"):
    print(f"SCRATCHGEN_BACKEND={name:<12} -> {run_with_backend(name)}")

# %% [markdown]
# An unknown name (or `cupy` on a machine without CuPy or a GPU) is an
# error that says what to do, never a silent fall-back to NumPy: a run you
# believe is on the GPU must not quietly crawl along on the CPU.
#
# ## 2. `x.data` is the backend array, `x.numpy()` is a host array
#
# On the CPU with plain NumPy the two are the same kind of object; on a GPU
# `x.data` lives in device memory and `x.numpy()` copies it to the host.
# Host-only work (plots, files, SciPy) always goes through `x.numpy()` or
# `to_numpy(...)`, which is correct on every backend.

# %%
x = sg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print("x.data   :", type(x.data).__module__, type(x.data).__name__)
print("x.numpy():", type(x.numpy()).__module__, type(x.numpy()).__name__)
print("to_numpy(x) equals x.numpy():", np.array_equal(to_numpy(x), x.numpy()))

# %% [markdown]
# ## 3. float32 by default
#
# `sg.tensor` makes float data float32 unless `dtype` says otherwise (as
# PyTorch does), keeps integers integer (labels, indices), and mixed
# operands promote exactly as NumPy promotes them.

# %%
print("floats   :", sg.tensor([1.0, 2.0]).dtype)
print("integers :", sg.tensor([1, 2]).dtype)
print("asked for:", sg.tensor([1.0, 2.0], dtype="float64").dtype)
w32 = sg.randn(3)
x64 = sg.tensor([1.0, 2.0, 3.0], dtype="float64")
print("float32 * float64 ->", (w32 * x64).dtype, "(NumPy's rule:",
      np.result_type(np.float32, np.float64), ")")
print("float32 * 0.5     ->", (w32 * 0.5).dtype, "(a Python number does not promote)")

# %% [markdown]
# What float32 gives up is precision: about 7 significant digits instead of
# 16.  That is plenty for training (gradient noise is far larger) but not
# for checking gradients by finite differences, which is why lesson 04's
# gradient checks run in float64.

# %%
for dt in (np.float32, np.float64):
    info = np.finfo(dt)
    print(f"{np.dtype(dt).name}: {info.bits // 8} bytes, machine epsilon {info.eps:.1e}, "
          f"1 + 1e-8 == 1? {dt(1) + dt(1e-8) == dt(1)}")

n_params = 10_000_000  # a modest generative model
print(f"{n_params:,} parameters: {n_params * 4 / 2**20:.0f} MiB in float32, "
      f"{n_params * 8 / 2**20:.0f} MiB in float64 (and Adam keeps two more copies)")

# %% [markdown]
# ### Speed: a matrix product in both precisions
#
# Matrix products dominate the cost of dense and convolution layers
# (`scratchgen/conv.py` turns a convolution into one, via im2col).  float32
# moves half the bytes and a vector register holds twice as many of them, so
# BLAS (and a GPU, by far more) runs it faster.  First a check that
# scratchgen's product agrees with NumPy's to float32 precision, then the
# timings, which are printed, never asserted: they depend on the machine.

# %%
def synchronize():
    """GPU kernels run asynchronously: wait for them before reading the clock."""
    if sg.backend.NAME == "cupy":
        xp.cuda.get_current_stream().synchronize()


def best_time(fn, *operands, budget: float) -> float:
    """The fastest call of ``fn(*operands)``, repeated for ``budget`` seconds
    (at least 3 times): the minimum is the run least disturbed by other work."""
    fn(*operands)  # warm-up: first-call allocation and thread start-up
    times = []
    while len(times) < 3 or sum(times) < budget:
        start = time.perf_counter()
        fn(*operands)
        synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


a_host = np.random.default_rng(0).standard_normal((64, 64))
a = sg.tensor(a_host)
np.testing.assert_allclose((a @ a).numpy(), a_host @ a_host, rtol=1e-4, atol=1e-4)
print("sg matmul agrees with numpy's")

sizes = [32, 64, 128] if args.quick else [64, 128, 256, 512, 1024]
seconds = {"float32": [], "float64": []}
with sg.no_grad():  # timing the arithmetic, not the graph bookkeeping
    for n in sizes:
        for dtype in seconds:
            a, b = sg.randn(n, n, dtype=dtype), sg.randn(n, n, dtype=dtype)
            seconds[dtype].append(best_time(sg.matmul, a, b, budget=0.02 if args.quick else 0.3))
        print(f"n={n:5d}: float32 {seconds['float32'][-1] * 1e3:8.3f} ms, "
              f"float64 {seconds['float64'][-1] * 1e3:8.3f} ms, "
              f"ratio {seconds['float64'][-1] / seconds['float32'][-1]:.1f}x")

# %%
fig = Figure(figsize=(7, 4))
ax = fig.add_subplot()
pos = np.arange(len(sizes))
colors = {"float32": "tab:blue", "float64": "tab:orange"}
for offset, (dtype, color) in zip((-0.2, 0.2), colors.items()):
    ax.bar(pos + offset, np.array(seconds[dtype]) * 1e3, width=0.4, color=color, label=dtype)
for i, (t32, t64) in enumerate(zip(seconds["float32"], seconds["float64"])):
    ax.annotate(f"{t64 / t32:.1f}x", (i + 0.2, t64 * 1e3), ha="center", va="bottom", fontsize=9)
ax.set_xticks(pos, [f"{n}x{n}" for n in sizes])
ax.set_yscale("log")
ax.set_ylim(top=max(seconds["float64"]) * 1e3 * 3)  # room for the last label
ax.set_xlabel("square matrix size (A @ B)")
ax.set_ylabel("time per product (ms, log scale)")
ax.set_title(f"Matrix product on backend {sg.backend.NAME!r}: "
             "float64 time / float32 time above the bars")
ax.legend()
savefig(fig, "01_float32_vs_float64.png")

# %% [markdown]
# ## 4. What `numpy-guard` refuses
#
# A CuPy array lives in GPU memory; CuPy refuses to turn it into a NumPy
# array behind your back, and refuses `cupy_array + numpy_array`.  Code that
# does either works on the CPU and breaks on the GPU.  The `numpy-guard`
# backend (`SCRATCHGEN_BACKEND=numpy-guard`) wraps NumPy arrays in a type
# that refuses the same things, so the CPU test suite catches such bugs.
# We use its array module directly here, whatever backend is active.

# %%
g = guard.xp.asarray(np.arange(3.0))  # explicit host -> "device" copy: allowed
attempts = {
    "np.asarray(g)": lambda: np.asarray(g),
    "np.exp(g)": lambda: np.exp(g),
    "g + np.ones(3)": lambda: g + np.ones(3),
    "g + [1, 2, 3]": lambda: g + [1, 2, 3],
}
for code, attempt in attempts.items():
    try:
        attempt()
        raise AssertionError(f"{code} should have been refused")
    except TypeError as exc:
        print(f"{code:<16} TypeError: {exc}\n")

# What is allowed is what CuPy allows: xp functions, Python scalars, 0-d results.
print("guard.xp.exp(g) * 2.0 =", guard.xp.exp(g) * 2.0)
print("g.sum() is a 0-d array, as in CuPy:", repr(g.sum()))
