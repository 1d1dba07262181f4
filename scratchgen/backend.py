"""The array backend: which array library does the arithmetic.

Every tensor in scratchgen wraps an array of one *backend*:

=================  ===========================================================
``numpy``          (default) NumPy on the CPU.
``cupy``           CuPy on an NVIDIA GPU (``pip install -e ".[gpu]"`` in the checkout).
``numpy-guard``    NumPy on the CPU, behind a wrapper type that refuses what
                   CuPy refuses (see :mod:`scratchgen.guard`), so a CPU test
                   run catches bugs that would only show on a GPU.
=================  ===========================================================

The choice is read once, at import, from the environment variable
``SCRATCHGEN_BACKEND``.  Library code never does ``import numpy`` to compute
on tensor data; it asks this module for the array module ``xp`` and writes
``xp.exp(a)``, so the same line runs on NumPy and on CuPy.  Host-only work
(plots, files, SciPy metrics) converts explicitly with :func:`to_numpy`.

On the CPU backends, importing this module also asks glibc to keep freed
memory for reuse (:mod:`scratchgen.allocator`): a training step frees and
re-allocates the same large arrays every time.

There is no silent fallback: an unknown name, or ``cupy`` on a machine
without CuPy or without a GPU, is an error that says what to do.

GPU fast paths.  A few computations whose NumPy form is slow on a GPU (many
small kernel launches where one would do) have a second, GPU form: im2col
and col2im's accumulation as one kernel each (:mod:`scratchgen.conv_kernels`),
the Adam update, GELU, LeakyReLU and BCE-with-logits as fused elementwise
kernels (:func:`fuse`), the gradient clip's norm as one dot product per
gradient (``nn.utils``).  The NumPy form stays the readable reference, runs
on the CPU backends, and tests check that the two agree.
``SCRATCHGEN_GPU_FAST_PATHS=0`` turns the GPU forms off (the reference then
runs on the GPU too): ``benchmarks/gpu_check.py`` times both.
"""
from __future__ import annotations

import os

import numpy as _host_np  # host side only: dtypes, conversions, RNG state

from . import allocator

ALLOWED = ("numpy", "cupy", "numpy-guard")
ENV_VAR = "SCRATCHGEN_BACKEND"


class BackendError(RuntimeError):
    """The requested array backend cannot be used."""


def _load(name: str):
    if name == "numpy":
        return _host_np
    if name == "numpy-guard":
        from . import guard
        return guard.xp
    if name == "cupy":
        try:
            import cupy
        except ImportError as exc:
            raise BackendError(
                f"{ENV_VAR}=cupy but CuPy is not installed ({exc}). "
                'Install it from the scratchgen checkout with: pip install -e ".[gpu]" '
                f"(CUDA 12), or unset {ENV_VAR} to use NumPy on the CPU."
            ) from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise BackendError(
                f"{ENV_VAR}=cupy but no usable CUDA GPU was found ({exc}). "
                f"Check the NVIDIA driver (nvidia-smi), or unset {ENV_VAR}."
            ) from None
        if count == 0:
            raise BackendError(f"{ENV_VAR}=cupy but CUDA reports no GPU; unset {ENV_VAR}.")
        return cupy
    raise BackendError(
        f"{ENV_VAR}={name!r} is not a backend; allowed values: "
        + ", ".join(ALLOWED) + " (unset it for the default, numpy)."
    )


NAME: str = os.environ.get(ENV_VAR, "numpy").strip().lower() or "numpy"
xp = _load(NAME)

#: Whether arrays live in device memory, where reading a value on the host
#: (``int(a.max())``) waits for all queued work: CuPy, and numpy-guard, which
#: plays the GPU's part on the CPU.  Checks that would read a value every
#: training step are made outside training there (see ``nn.Embedding``).
ON_DEVICE: bool = NAME in ("cupy", "numpy-guard")

#: Whether glibc keeps freed memory for the next step (see :mod:`.allocator`);
#: CuPy keeps its own memory pool on the GPU.
MALLOC_TUNED: bool = NAME != "cupy" and allocator.keep_freed_memory()

#: Whether the GPU forms may replace their NumPy references (on by default;
#: ``SCRATCHGEN_GPU_FAST_PATHS=0`` turns them off, for before/after timings).
FAST_PATHS_ENV = "SCRATCHGEN_GPU_FAST_PATHS"
FAST_PATHS: bool = os.environ.get(FAST_PATHS_ENV, "1").strip() != "0"

#: Whether they do: on CuPy with the fast paths on.  Elsewhere every fast
#: path's NumPy reference runs.
GPU_KERNELS: bool = NAME == "cupy" and FAST_PATHS

#: float32 unless a caller asks otherwise: it halves memory and doubles BLAS
#: throughput, and is what PyTorch uses.
DEFAULT_FLOAT = _host_np.dtype("float32")


def array_types() -> tuple:
    """The concrete array classes of the active backend."""
    return (xp.ndarray,)


def is_array(a) -> bool:
    return isinstance(a, xp.ndarray)


def to_numpy(a) -> _host_np.ndarray:
    """A host NumPy copy (or view) of a backend array, number or Tensor."""
    if hasattr(a, "data") and type(a).__name__ in ("Tensor", "Parameter"):
        a = a.data
    if NAME == "cupy" and isinstance(a, xp.ndarray):
        return xp.asnumpy(a)
    if NAME == "numpy-guard" and isinstance(a, xp.ndarray):
        return a.get()
    return _host_np.asarray(a)


def memory_root(a):
    """The object that holds ``a``'s memory: ``a`` itself unless it is a view
    (two arrays with the same root may share elements)."""
    if NAME == "numpy-guard" and isinstance(a, xp.ndarray):
        a = a.unwrap()
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def is_writable(a) -> bool:
    """Whether ``a`` may be written element by element: not read-only, and
    not a broadcast view (a zero stride, where one element stands for many;
    CuPy marks those writable)."""
    if not getattr(a.flags, "writeable", True):
        return False
    return all(s != 0 or n <= 1 for s, n in zip(a.strides, a.shape))


def asarray(a, dtype=None):
    """Put host data (list, number, NumPy array) on the backend, without a copy
    where none is needed."""
    if NAME == "numpy-guard":
        return xp.from_host(a, dtype=dtype)
    return xp.asarray(a, dtype=dtype)


def dtype_of(name_or_dtype) -> _host_np.dtype:
    """Normalise ``"float64"``, ``np.float64``, ``cupy.float64`` to a NumPy dtype."""
    try:
        return _host_np.dtype(name_or_dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {name_or_dtype!r}; use e.g. 'float32' or 'float64'") from None


def scatter_add(out, index, values) -> None:
    """``out[index] += values`` where an index that repeats adds every time
    (a plain ``out[index] += values`` would keep only the last): the
    gradient of ``x[index]``, e.g. of an embedding look-up.

    The rule is NumPy's ``add.at``; on a GPU, ``cupyx.scatter_add`` computes
    the same sums in one kernel of atomic adds."""
    if NAME == "cupy":
        import cupyx
        cupyx.scatter_add(out, index, values)
    else:
        xp.add.at(out, index, values)


def fuse(fn):
    """``fn``, an elementwise function of arrays and scalars written with
    ``xp`` and operators, as one GPU kernel where :data:`GPU_KERNELS`
    (``cupy.fuse`` traces it once per argument types and compiles the
    chain; in-place updates of array arguments, ``a *= s``, write through);
    ``fn`` itself everywhere else, where it is the reference.  Scalars are
    best passed as NumPy scalars of the arrays' dtype: a Python float
    would make the kernel compute in float64."""
    if not GPU_KERNELS:
        return fn
    import cupy
    return cupy.fuse(kernel_name=fn.__name__.strip("_"))(fn)


def erf(a):
    """The error function, elementwise, on the backend's array (SciPy's
    ``special.erf`` on the CPU, CuPy's on the GPU): NumPy itself has none."""
    if NAME == "cupy":
        from cupyx.scipy.special import erf as special_erf
        return special_erf(a)
    from scipy.special import erf as special_erf
    if NAME == "numpy-guard":
        return xp.from_host(special_erf(a.unwrap()))
    return special_erf(a)

# --------------------------------------------------------------------------
# Random numbers: one generator per process, seeded by sg.manual_seed.
# --------------------------------------------------------------------------
_rng = None
_seed = None


def manual_seed(seed: int) -> None:
    """Seed the generator that every scratchgen random draw uses."""
    global _rng, _seed
    _seed = int(seed)
    _rng = xp.random.default_rng(_seed)


def generator():
    """The process-wide random generator (seeded on first use if needed)."""
    global _rng
    if _rng is None:
        manual_seed(_host_np.random.SeedSequence().entropy % (2**63))
    return _rng


def get_rng_state() -> dict:
    """The generator's state as plain host data (for checkpoints)."""
    bit_gen = generator().bit_generator
    state = bit_gen.state
    return state if isinstance(state, dict) else {"state": to_numpy(state)}


def set_rng_state(state: dict) -> None:
    generator().bit_generator.state = state
