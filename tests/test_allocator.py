"""scratchgen.allocator: freed memory is kept for the next training step.

What must hold: after ``import scratchgen``, a loop that allocates and frees
the same large arrays, as a training step does, gets its memory back from
the heap instead of from fresh pages (no page faults after the first
round), and a user's own ``MALLOC_*`` choice is never overridden.
Page faults are counted (``ru_minflt``), not timed.
"""
import os
import subprocess
import sys

import pytest

from scratchgen import allocator, backend

glibc_only = pytest.mark.skipif(not (sys.platform.startswith("linux") and allocator._glibc()),
                                reason="the settings are glibc's")

# Sizes like a DCGAN step's: 12 MiB im2col columns, 4 MiB activations,
# freed in an order other than their allocation.
STEP_PATTERN = """
import resource, sys
import numpy as np
import scratchgen
def step():
    cols = np.ones(3 * 2**20, np.float32)
    activation = np.ones(2**20, np.float32)
    grad_cols = np.ones(3 * 2**20, np.float32)
    del cols
    small = np.ones(2**19, np.float32)
    del activation, grad_cols, small
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(scratchgen.backend.MALLOC_TUNED,
      (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _run_pattern(**extra_env):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", STEP_PATTERN], env={**env, **extra_env},
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@glibc_only
def test_a_repeated_step_reuses_freed_memory():
    tuned, faults = _run_pattern()
    assert tuned
    assert faults < 50, f"{faults} page faults per step: freed memory was not reused"


@glibc_only
def test_a_users_malloc_setting_wins_and_the_pattern_then_faults():
    tuned, faults = _run_pattern(MALLOC_ARENA_MAX="8")
    assert not tuned
    # glibc's adaptive defaults return this memory to the system every step:
    # the test above would fail without scratchgen's settings
    assert faults > 1000


@pytest.mark.parametrize("environ", [{"MALLOC_TRIM_THRESHOLD_": "0"},
                                     {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"}])
def test_the_users_choice_is_never_overridden(environ):
    assert allocator.keep_freed_memory(environ) is False


@glibc_only
def test_applied_at_import_on_the_cpu_backends():
    user_chose = any(k.startswith("MALLOC_") for k in os.environ) or \
        "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")
    assert backend.MALLOC_TUNED is (backend.NAME != "cupy" and not user_chose)
