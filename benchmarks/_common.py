"""Timing helpers shared by the benchmark scripts in this folder.

A benchmark here answers one question: how long does scratchgen take next to
PyTorch, *on the same machine, with the same threads, at the same moment*.
Three things make that harder than calling ``time.perf_counter`` twice:

* **Noise.**  One run of a 10 µs op is mostly timer and cache noise, so a
  sample times ``number`` calls and we report the median of ``repeat``
  samples (the median ignores the odd sample hit by another process).
* **Drift.**  A shared machine speeds up and slows down over seconds (other
  jobs, CPU frequency).  Timing all of ours, then all of PyTorch's, would
  charge that drift to one side; :func:`compare` interleaves the samples
  (A B B A A B ...) so drift hits both alike.
* **Spinning threads.**  After a parallel call, OpenBLAS's and OpenMP's
  idle worker threads busy-wait for a while before they sleep.  Right
  after a switch from one library to the other, the first library's
  spinning workers take a core from the second: measured, PyTorch's DCGAN
  step at 2 threads went from 40 to 52 ms when its samples followed ours
  directly.  :func:`compare` waits ``settle`` seconds at each switch.
* **Threads and BLAS.**  NumPy's matmul runs in its BLAS (OpenBLAS here),
  PyTorch's in its own (MKL or oneDNN); both are multi-threaded.
  :func:`setup_threads` gives both the same thread count, and
  :func:`blas_report` prints what is loaded, so a table can be read.

Nothing here imports PyTorch: :func:`load_torch` tries, and the scripts print
only our column when it is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc

from scratchgen.atomic import atomic_path

#: Environment variables that fix a thread count at library load time.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# A smaller sample is mostly timer overhead; calibrate `number` to reach it.
_MIN_SAMPLE_S = 0.02
#: Seconds to wait when the timed library changes (long enough, measured, for
#: the idle threads of the other one to stop spinning).
SETTLE_S = 0.3


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------

def calibrate(fn, min_time: float = _MIN_SAMPLE_S) -> int:
    """How many calls of ``fn`` one sample needs to last ``min_time`` seconds
    (1, 2, 5, 10, 20, ...; like ``timeit.Timer.autorange``)."""
    number = 1
    while True:
        for step in (1, 2, 5):
            n = number * step
            if _sample(fn, n) * n >= min_time:
                return n
        number *= 10


def _sample(fn, number: int) -> float:
    """Seconds per call, averaged over ``number`` back-to-back calls.

    The garbage collector stays on: its pauses are part of what a user's
    loop pays.  (No ``gc.collect()`` between samples either: with PyTorch
    imported one takes ~0.2 s, longer than most samples.)"""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def timeit(fn, repeat: int = 7, warmup: int = 1, number: int | None = None,
           min_time: float = _MIN_SAMPLE_S) -> float:
    """Median milliseconds per call of ``fn`` over ``repeat`` samples, after
    ``warmup`` untimed calls.  ``number`` calls per sample; None calibrates
    it so a sample lasts at least ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    number = number or calibrate(fn, min_time)
    return 1e3 * statistics.median(_sample(fn, number) for _ in range(repeat))


def compare(fn_a, fn_b, repeat: int = 7, warmup: int = 1, number: int | None = None,
            min_time: float = _MIN_SAMPLE_S, settle: float = SETTLE_S) -> tuple[float, float]:
    """Median milliseconds per call of ``fn_a`` and of ``fn_b``, their samples
    interleaved A B, B A, A B, ... so slow drift of the machine hits both and
    neither always runs first, with a pause of ``settle`` seconds at each
    switch from one to the other.  Each side calibrates its own ``number``."""
    fns = (fn_a, fn_b)
    for fn in fns:
        for _ in range(warmup):
            fn()
    numbers = [number or calibrate(fn, min_time) for fn in fns]
    samples, previous = ([], []), None
    for r in range(repeat):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            if i != previous:
                time.sleep(settle)
            samples[i].append(_sample(fns[i], numbers[i]))
            previous = i
    return tuple(1e3 * statistics.median(s) for s in samples)


# ---------------------------------------------------------------------------
# Threads, BLAS, PyTorch
# ---------------------------------------------------------------------------

def load_torch():
    """The ``torch`` module, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def setup_threads(n: int, torch=None) -> list[str]:
    """Run NumPy's BLAS and PyTorch on ``n`` threads; return notes to print.

    Call it after importing NumPy (and PyTorch): threadpoolctl can only limit
    libraries that are loaded.  The environment variables are also set, for
    subprocesses and for libraries loaded later."""
    notes = []
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        notes.append("threadpoolctl is not installed, so NumPy's BLAS threads cannot be set "
                     "at run time; they follow OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / "
                     "MKL_NUM_THREADS as set before Python started (pip install threadpoolctl)")
    else:
        # Kept alive on purpose: the limit lasts until restore_original_limits().
        setup_threads.limiter = threadpool_limits(n)
    if torch is not None:
        torch.set_num_threads(n)
    return notes


def blas_report(torch=None) -> list[str]:
    """One line per loaded BLAS / OpenMP library (threadpoolctl), plus
    PyTorch's build when given: what a matmul timing actually measured."""
    lines = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        lines.append("BLAS: unknown (threadpoolctl not installed)")
    else:
        for lib in threadpool_info():
            fields = [f"{lib['user_api']}: {lib['internal_api']}"]
            fields += [f"{key}={lib[key]}" for key in ("version", "architecture",
                                                        "threading_layer", "num_threads")
                       if lib.get(key) is not None]
            fields.append(os.path.basename(lib.get("filepath", "")))
            lines.append("  ".join(fields))
    if torch is not None:
        mkl = torch.backends.mkl.is_available()
        lines.append(f"torch {torch.__version__}: {'MKL' if mkl else 'no MKL'}, "
                     f"{plural(torch.get_num_threads(), 'thread')} (its BLAS is linked in, so "
                     "threadpoolctl may not list it)")
    return lines


def env_warning() -> str | None:
    """A warning when OpenBLAS is pinned to an older kernel set."""
    if "OPENBLAS_CORETYPE" not in os.environ:
        return None
    return (f"WARNING: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set. These "
            "machines pin OPENBLAS_CORETYPE, which selects older, slower kernels; run with "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python " + " ".join(sys.argv)
            + "` to measure what a user's machine gets.")


def load_warning() -> str | None:
    """A warning when other processes already keep the CPUs busy.

    Timings then stretch and scatter; multi-threaded ones suffer most, as a
    thread that waits at a barrier for a descheduled sibling spins (OpenMP's
    default, PyTorch's CPU threads) and so takes a core from the work."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows
        return None
    cpus = os.cpu_count() or 1
    if load < 0.5 * cpus:
        return None
    return (f"WARNING: the machine is busy (1-minute load average {load:.1f} on {cpus} CPUs): "
            "timings will be noisy, multi-threaded ones most; run 2-3 times and take medians, "
            "or try --threads 1.")


def machine_info(threads: int, torch=None) -> dict:
    """What the numbers depend on, for the JSON file and the table header."""
    import numpy
    return {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "numpy": numpy.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "blas": blas_report(torch),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def format_ms(ms: float | None, unit: str) -> str:
    """``ms`` written in ``unit`` ('µs' or 'ms'); '-' when missing."""
    if ms is None:
        return "-"
    value = ms * 1e3 if unit == "µs" else ms
    return f"{value:.1f} {unit}" if value < 1000 else f"{value:,.0f} {unit}"


def unit_for(ms: float) -> str:
    """µs below a millisecond, else ms: one unit per row, so the columns compare."""
    return "µs" if ms < 1.0 else "ms"


def print_table(rows: list[dict], columns: list[str], file=None) -> None:
    """A plain-text table (also valid Markdown) of ``rows``' ``columns``."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values):
        return "| " + " | ".join(v.rjust(w) if i > 1 else v.ljust(w)
                                 for i, (v, w) in enumerate(zip(values, widths))) + " |"
    print(line(columns), file=file)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=file)
    for r in cells:
        print(line(r), file=file)


def write_json(path: str, info: dict, results) -> None:
    """Write ``{"machine": info, "results": results}`` (``results``: any JSON
    data) to ``path``, atomically like every file scratchgen writes, and say so."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    print(f"\nwrote {path}")


# ---------------------------------------------------------------------------
# Peak memory
# ---------------------------------------------------------------------------

def peak_traced_mb(fn) -> float:
    """Peak MiB that Python and NumPy allocate while ``fn()`` runs.

    NumPy reports its array buffers to tracemalloc, so this counts
    scratchgen's arrays; it does not see PyTorch's allocator (use
    :func:`peak_rss_mb` to compare the two)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


_RSS_MARK = "__PEAK_RSS_KIB__"
# Linux's VmHWM starts afresh at exec; ru_maxrss (the fallback elsewhere) can
# keep the peak of the parent that forked us.  Both in KiB (macOS: bytes).
_RSS_PROBE = f"""
import resource, sys
try:
    kib = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
except (OSError, StopIteration):
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib = kib // 1024 if sys.platform == "darwin" else kib
print({_RSS_MARK!r}, kib)
"""


def peak_rss_mb(code: str, env: dict | None = None, timeout: float = 600) -> float:
    """Peak resident MiB of a fresh Python process that runs ``code``.

    A fresh process, so the peak is this code's alone (a process's peak
    never goes down); it includes the interpreter and imported libraries,
    so compare two runs that import the same things."""
    out = subprocess.run([sys.executable, "-c", code + "\n" + _RSS_PROBE], capture_output=True,
                         text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                         check=True).stdout
    kib = int(next(ln for ln in out.splitlines() if ln.startswith(_RSS_MARK)).split()[1])
    return kib / 2**10


def base_parser(doc: str, what: str):
    """The options every benchmark shares; ``what`` names a timed row."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for NumPy's BLAS and PyTorch (default: all cores, %(default)s)")
    p.add_argument("--repeat", type=int, default=None,
                   help=f"timed samples per {what}; the median is reported (default 9, quick 3)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few, short samples")
    p.add_argument("--no-torch", action="store_true", help="time ours only, even with PyTorch")
    p.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    return p

