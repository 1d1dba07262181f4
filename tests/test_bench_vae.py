"""benchmarks/bench_vae.py runs (``--quick``: the 8×8 digits, one epoch) and
its PyTorch twin is the same model: same layer names and shapes, so ours
loads the twin's weights, and then both give the same loss on the same
noise.  Nothing here looks at a time."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _bench_module():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_vae", BENCH / "bench_vae.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_bench_vae_quick_writes_json(tmp_path):
    out = tmp_path / "vae.json"
    result = subprocess.run([sys.executable, str(BENCH / "bench_vae.py"), "--quick", "--threads",
                             "1", "--model", "both", "--binarize", "dynamic", "--json", str(out)],
                            cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    runs = json.loads(out.read_text())["results"]
    assert [(r["model"], r["binarize"]) for r in runs] == [("mlp", "dynamic"), ("conv", "dynamic")]
    for r in runs:
        assert np.isfinite(r["ours"]["test_elbo"]) and r["ours"]["test_elbo"] < 0


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_twin_is_the_same_model(kind, monkeypatch):
    torch = pytest.importorskip("torch")
    bench = _bench_module()
    torch.manual_seed(0)
    twin = bench.torch_model(kind, (1, 28, 28), torch).double()
    ours = bench.ours_model(kind, (1, 28, 28))
    ours.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    for p in ours.parameters():
        p.data = p.data.astype(np.float64)
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    eps = np.random.default_rng(1).standard_normal((3, bench.LATENT))
    monkeypatch.setattr(torch, "randn_like", lambda t: torch.from_numpy(eps))  # its noise: eps
    log_px_z, kl = bench.torch_terms(twin, torch.from_numpy(x), torch)
    mu, logvar = ours.encode(sg.tensor(x, dtype="float64"))
    z = mu + (0.5 * logvar).exp() * sg.tensor(eps, dtype="float64")
    ours_log_px_z = ours.likelihood.log_prob(ours.decoder_output(z),
                                             sg.tensor(x.reshape(3, -1), dtype="float64"))
    np.testing.assert_allclose(ours_log_px_z.numpy(), log_px_z.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(sg.functional.gaussian_kl(mu, logvar, reduction="none").numpy(),
                               kl.detach().numpy(), rtol=1e-10)


def test_gemm_share_splits_the_step_and_restores_the_ops(tmp_path):
    out = tmp_path / "share.json"
    result = subprocess.run([sys.executable, str(BENCH / "bench_vae.py"), "--quick", "--threads",
                             "1", "--model", "conv", "--gemm-share", "--json", str(out)],
                            cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    (row,) = json.loads(out.read_text())["results"]
    assert 0 < row["ours_gemm_share"] < 1
    assert row["ours_gemm_ms"] + row["ours_rest_ms"] == pytest.approx(row["ours_ms"])


def test_timing_gemms_times_products_and_puts_the_ops_back():
    from scratchgen.ops import arithmetic
    bench = _bench_module()
    original = arithmetic.MatMul.forward
    a = sg.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    with bench.timing_gemms() as spent:
        (a @ sg.tensor(np.ones((4, 2), np.float32))).sum().backward()
        assert spent[0] > 0
    assert arithmetic.MatMul.forward is original
