"""Shared test set-up: hypothesis profiles and a fixed seed per test.

Profiles: ``dev`` (default, 60 examples), ``ci`` (fewer examples, no deadline:
CI runs on 2 slow cores), ``guard`` (a few examples: CI's second pass under
the numpy-guard backend looks for GPU-only mistakes, which any input shows,
not for numerical edge cases, which the first pass covers), ``thorough``
(500 examples).  Choose one with
``HYPOTHESIS_PROFILE=thorough python -m pytest``; CI=true selects ``ci``.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

import scratchgen as sg

settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("guard", max_examples=6, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _seed():
    sg.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the feature nets that `eval` trains on demand out of the user's
    ~/.cache: one temporary cache for the whole test session (subprocesses
    inherit it)."""
    previous = os.environ.get("SCRATCHGEN_CACHE")
    os.environ["SCRATCHGEN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["SCRATCHGEN_CACHE"]
    else:
        os.environ["SCRATCHGEN_CACHE"] = previous
