"""The GAN measurement scripts: the mode-coverage benchmark runs (``--quick``),
and the PyTorch twin of the DCGAN starts from exactly our network (same
layers, same initial weights, same outputs) when PyTorch is installed."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_mode_coverage_benchmark_quick(tmp_path):
    out = tmp_path / "rows.json"
    result = subprocess.run([sys.executable, str(BENCH / "bench_mode_coverage.py"), "--quick",
                             "--data", "grid25", "--model", "wgan-gp", "--set", "hidden=16",
                             "--json", str(out)],
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "published best: PacGAN4: 24.8 modes" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["overrides"] == {"hidden": 16} and saved["rows"][0]["n_modes"] == 25


def load_bench(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_pytorch_twin_starts_from_our_dcgan():
    torch = pytest.importorskip("torch")
    bench = load_bench("bench_dcgan_fashion")
    torch.manual_seed(0)
    G_t, D_t, _, _ = bench.torch_twin(torch)
    first = next(G_t.parameters()).detach().numpy()       # Linear 100 -> 128*7*7
    assert abs(first.std() - 0.02) < 2e-3                 # Radford et al.'s N(0, 0.02)
    ours_model, _, _ = bench.ours_from(G_t, D_t)
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    G_t.eval()
    with torch.no_grad():
        theirs = G_t(torch.from_numpy(z)).numpy()
    ours_model.eval()
    with sg.no_grad():
        ours = ours_model.generator(sg.tensor(z)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
