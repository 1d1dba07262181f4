"""The benchmark scripts run: each is executed with ``--quick`` in a fresh
interpreter, as a reader would run it, and must exit cleanly and print its
table.  Nothing here looks at a time: timings belong to the README, not to
a test.

The subprocess inherits ``SCRATCHGEN_BACKEND``, so the numpy-guard pass runs
the benchmarks on the guard backend too.  ``--threads 1`` keeps a smoke run
on a busy test machine from oversubscribing its cores.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
HEADER = "| op "


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``benchmarks/<script> --quick --threads 1 *args``; fail with its output
    if it does not exit 0."""
    result = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--threads", "1",
                             *args], cwd=ROOT, env=dict(os.environ), capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"{script} --quick failed (exit {result.returncode}):\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def test_bench_autograd_quick_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "autograd.json"
    result = run_bench("bench_autograd.py", "--json", str(out))
    header = next((ln for ln in result.stdout.splitlines() if ln.startswith(HEADER)), None)
    assert header is not None, f"no table header in:\n{result.stdout}"
    assert "ours" in header
    has_torch = importlib.util.find_spec("torch") is not None
    assert ("PyTorch" in header) == has_torch
    data = json.loads(out.read_text())
    assert data["machine"]["threads"] == 1
    rows = data["results"]["small"] + data["results"]["large"]
    assert {"matmul", "softmax", "chain of 10 ops", "conv2d k4 s2 p1"} <= {r["op"] for r in rows}
    assert all(r["ours_ms"] > 0 for r in rows)
    assert all((r["torch_ms"] is not None) == has_torch for r in rows)


@pytest.mark.slow  # a second full run, redundant where PyTorch is absent (CI)
def test_bench_autograd_without_torch_prints_ours_only():
    pytest.importorskip("torch")  # without PyTorch the test above already covers this path
    result = run_bench("bench_autograd.py", "--no-torch")
    header = next(ln for ln in result.stdout.splitlines() if ln.startswith(HEADER))
    assert "ours" in header and "PyTorch" not in header


# --- the shared helpers in benchmarks/_common.py (loaded by path: the folder is
# --- not a package, and lessons/ has a module of the same name)

def _load_common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load_common()


def test_timeit_and_compare_count_calls_and_return_positive_medians():
    calls = {"a": 0, "b": 0}

    def bump(key):
        return lambda: calls.__setitem__(key, calls[key] + 1)
    ms = common.timeit(bump("a"), repeat=3, warmup=2, number=4)
    assert ms > 0 and calls["a"] == 2 + 3 * 4
    a_ms, b_ms = common.compare(bump("a"), bump("b"), repeat=3, warmup=1, number=5, settle=0)
    assert a_ms > 0 and b_ms > 0 and calls["b"] == 1 + 3 * 5


def test_compare_interleaves_and_pauses_at_each_switch(monkeypatch):
    """A B B A A B, with a pause before each sample that follows the other
    library's (its idle threads may still be spinning), none in between."""
    calls, pauses = [], []
    monkeypatch.setattr(common.time, "sleep", lambda s: pauses.append((len(calls), s)))
    common.compare(lambda: calls.append("a"), lambda: calls.append("b"), repeat=3,
                   warmup=0, number=1, settle=0.25)
    assert "".join(calls) == "abbaab"
    assert pauses == [(0, 0.25), (1, 0.25), (3, 0.25), (5, 0.25)]


def test_print_table_aligns_columns(capsys):
    common.print_table([{"op": "add", "ours": "1.0 µs"}, {"op": "matmul", "ours": "12.5 ms"}],
                       ["op", "ours"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| op ") and len({len(ln) for ln in lines}) == 1
    assert common.format_ms(0.0123, common.unit_for(0.0123)) == "12.3 µs"
    assert common.format_ms(None, "ms") == "-"


def test_peak_memory_sees_a_large_allocation():
    import numpy as np
    assert common.peak_traced_mb(lambda: np.ones(4 * 2**20, dtype=np.uint8)) >= 4
    small = common.peak_rss_mb("import numpy")
    big = common.peak_rss_mb("import numpy; a = numpy.ones(64 * 2**20, dtype=numpy.uint8)")
    assert big - small > 32


def test_env_warning_names_the_pinned_variable(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert "env -u OPENBLAS_CORETYPE" in common.env_warning()
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert common.env_warning() is None
