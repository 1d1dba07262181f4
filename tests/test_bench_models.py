"""benchmarks/bench_models.py: its models are the ones the README describes,
they train, and ours computes the same losses and gradients as PyTorch's
from the same weights (so the timings compare like with like).  A
``--quick`` run in a fresh interpreter must print both tables.  No test
looks at a time.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchgen import nn

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_bench_models():
    """Import the script by path.  It imports ``_common`` from its own folder;
    lessons/ has a module of that name too, so put the right one in place
    while the script loads."""
    saved = sys.modules.get("_common")
    sys.modules["_common"] = _load("_common", BENCH / "_common.py")
    try:
        return _load("bench_models", BENCH / "bench_models.py")
    finally:
        if saved is None:
            del sys.modules["_common"]
        else:
            sys.modules["_common"] = saved


bm = _load_bench_models()


def _param_count(*modules):
    return sum(p.size for m in modules for p in m.parameters())


def test_models_have_the_sizes_the_readme_gives():
    assert _param_count(bm._vae_module(nn)) == (784 * 400 + 400) + 2 * (400 * 20 + 20) \
        + (20 * 400 + 400) + (400 * 784 + 784)
    assert _param_count(bm.generator(nn)) == (100 * 6272 + 6272) + 2 * 128 \
        + (128 * 64 * 16 + 64) + 2 * 64 + (64 * 16 + 1)
    assert _param_count(bm.discriminator(nn)) == (16 * 64 + 64) + (64 * 128 * 16 + 128) \
        + 2 * 128 + (6272 + 1)


@pytest.mark.parametrize("kind", ["vae", "dcgan"])
def test_our_step_updates_every_parameter(kind):
    modules = bm.build_models(kind, None)["ours"]
    step = bm.make_step(kind, bm._OURS, modules)
    params = [p for m in modules for p in m.parameters()]
    before = [p.numpy().copy() for p in params]
    assert math.isfinite(step().item())
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, params))


@pytest.mark.parametrize("kind", ["vae", "dcgan"])
def test_ours_and_pytorch_compute_the_same_losses(kind):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    assert bm.check_agreement(bm.build(kind, torch), n=2) < 1e-4


@pytest.mark.parametrize("case", bm.CONV_CASES, ids=lambda c: c.name)
def test_conv_cases_match_pytorch_gradients(case):
    torch = pytest.importorskip("torch")
    setup = bm.conv_setup(case, torch)
    for layer, x in setup.values():
        bm.conv_step(layer, x)()
    (ours, x), (theirs, xt) = setup["ours"], setup["torch"]
    for a, b in [(ours.weight.grad.numpy(), theirs.weight.grad.numpy()),
                 (x.grad.numpy(), xt.grad.numpy())]:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.slow  # a few seconds of model steps in a fresh interpreter
def test_quick_run_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "models.json"
    result = subprocess.run([sys.executable, str(BENCH / "bench_models.py"), "--quick",
                             "--threads", "1", "--json", str(out)], cwd=ROOT,
                            env=dict(os.environ), capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    headers = [ln for ln in result.stdout.splitlines() if ln.startswith("| step ")]
    assert len(headers) == 2, result.stdout
    data = json.loads(out.read_text())
    has_torch = importlib.util.find_spec("torch") is not None
    assert [r["model"] for r in data["results"]["steps"]] == ["vae", "dcgan"]
    assert len(data["results"]["conv"]) == len(bm.CONV_CASES)
    for row in data["results"]["steps"] + data["results"]["conv"]:
        assert row["ours_ms"] > 0
        assert (row["torch_ms"] is not None) == has_torch
    for row in data["results"]["steps"]:
        assert row["ours_peak_mb"] > 0
        if has_torch:
            assert row["loss_rel_diff"] < 1e-4


def test_bench_plain_fast_swaps_real_forms_computes_the_same_step_and_restores():
    """benchmarks/bench_plain_fast.py swaps each fast form for its plain rule
    by name: every name must exist (a rename would otherwise time nothing),
    the swapped step must compute the same loss, and the swap must undo."""
    saved = {name: sys.modules.get(name) for name in ("_common", "bench_models")}
    sys.modules.update(_common=_load("_common", BENCH / "_common.py"), bench_models=bm)
    try:
        pf = _load("bench_plain_fast", BENCH / "bench_plain_fast.py")
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module
    _, every, _ = pf.ALL
    originals = [getattr(owner, name) for owner, name, _ in every]
    fast, plain_step = pf.step_pair("vae", every)
    assert float(plain_step().item()) == pytest.approx(float(fast().item()), rel=1e-5)
    assert [getattr(owner, name) for owner, name, _ in every] == originals
