"""``benchmarks/gpu_check.py`` runs on the CPU in its dry mode, so the GPU
check cannot rot on machines without a GPU; and the CuPy backend itself is
checked where a GPU is present (skipped, with the reason, elsewhere)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_dry_run_writes_a_full_report(tmp_path):
    out = tmp_path / "report.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"),
                           "--dry-run", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    for section in ("## Machine", "## Test suite under", "## Lessons", "## Training steps",
                    "## Targets"):
        assert section in report
    rows = [ln for ln in report.splitlines() if ln.startswith(("| dcgan", "| vae", "| charlm"))]
    assert len(rows) == 3
    for row in rows:  # our three columns measured (PyTorch's only where installed)
        ours_gpu, ours_reference, ours_cpu = row.split("|")[3:6]
        assert min(float(ours_gpu), float(ours_reference), float(ours_cpu)) > 0, row
        assert float(row.split("|")[8]) > 0, row  # fast paths off / on


def _gpu_missing() -> str | None:
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # ImportError, or CUDA without a device or driver
        return f"no usable GPU through CuPy ({type(exc).__name__})"
    return None


@pytest.mark.skipif(_gpu_missing() is not None, reason=_gpu_missing() or "")
def test_cupy_backend_matches_numpy_on_a_conv_step():
    """A convolution's forward and backward, and the scatter-add gradient of
    an integer-array look-up with repeats (``cupyx.scatter_add`` on the GPU,
    ``add.at`` on the CPU), equal the CPU's."""
    code = ("import numpy as np, scratchgen as sg\n"
            "from scratchgen import functional as F\n"
            "rng = np.random.default_rng(0)\n"
            "x = sg.tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)\n"
            "w = sg.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)\n"
            "y = F.conv2d(x, w, stride=2, padding=1)\n"
            "e = sg.tensor(rng.standard_normal((5, 3)), requires_grad=True)\n"
            "picked = e[sg.tensor(np.array([0, 3, 0, 0, 4]))]\n"
            "(y * y).sum().backward(); (picked * picked).sum().backward()\n"
            "np.save('OUT', np.concatenate([y.numpy().ravel(), x.grad.numpy().ravel(),"
            " w.grad.numpy().ravel(), e.grad.numpy().ravel()]))\n")
    results = {}
    for name in ("numpy", "cupy"):
        out = Path(f"/tmp/scratchgen_gpu_{os.getpid()}_{name}.npy")
        subprocess.run([sys.executable, "-c", code.replace("OUT", str(out))], check=True,
                       env={**os.environ, "SCRATCHGEN_BACKEND": name, "PYTHONPATH": str(ROOT)})
        results[name] = np.load(out)
        out.unlink()
    np.testing.assert_allclose(results["cupy"], results["numpy"], rtol=1e-4, atol=1e-4)


def test_timing_runs_the_targets_cells_first():
    """When the timing budget runs short, the cells a target compares are
    already measured: they come first, and every cell is timed once."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    plan = {"batches": (64, 256), "torch": True}
    cells = gpu_check.timing_cells(plan)
    assert len(cells) == len(set(cells)) == 3 * 2 * len(gpu_check.WHO)
    first = set(cells[:5])
    assert first == {("dcgan", 256, "cpu"), ("dcgan", 256, "gpu"), ("dcgan", 256, "torch"),
                     ("charlm", 64, "gpu"), ("charlm", 64, "torch")}
    assert all(who != "torch" for _, _, who in gpu_check.timing_cells({**plan, "torch": False}))
