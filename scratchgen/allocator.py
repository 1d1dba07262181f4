"""Keep freed memory for the next training step (glibc on Linux only).

A training step allocates the same large arrays every time: im2col
columns, activations, their gradients, a few MiB to tens of MiB each, and
frees them all before the next step.  Each fresh page of memory costs a
*page fault* the first time it is written (a few microseconds on a virtual
machine), so an array that comes from the operating system anew every step
costs ``size / 4 KiB`` faults every step.

glibc's ``malloc`` serves large requests with a fresh ``mmap`` (returned to
the system by ``free``), and gives the top of its heap back once more than
a threshold of it is free.  Its defaults adapt these two limits to the
sizes it has seen, but the alternating sizes of a training step keep
tripping them: measured on the DCGAN of ``benchmarks/bench_models.py``,
11,000-15,000 page faults per step, over a third of the step's time.  Two
settings fix it:

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's upper limit): arrays below it come
  from the heap, where freed memory is reused;
* ``M_TRIM_THRESHOLD`` = 256 MiB: up to that much free memory stays in the
  heap for the next step instead of going back to the system.

After them the same step makes almost no page faults and runs about 1.4x
faster; its peak memory does not change (the memory kept is memory the
next step uses again).  PyTorch's CPU allocator calls the same ``malloc``,
so a process running both gets the benefit for both.

The settings are process-wide, so they are applied once, at import, and
only where they are safe to apply: on Linux with glibc, for the CPU
backends, and never over a choice the user made (any ``MALLOC_*`` variable
or a ``glibc.malloc`` tunable in the environment wins).
"""
from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD_BYTES = 32 * 2**20
TRIM_THRESHOLD_BYTES = 256 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this C library knows: not glibc
        return False


def _user_chose(environ) -> bool:
    return (any(name.startswith("MALLOC_") for name in environ)
            or "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""))


def keep_freed_memory(environ=os.environ) -> bool:
    """Apply the two settings above; True if they were applied."""
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    if _user_chose(environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this Python runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # both or neither: a trim threshold alone fixes the mmap threshold at its
    # 128 KiB default, worse than glibc's adaptive one (3x the faults); 1 is success
    return (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
            and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)
