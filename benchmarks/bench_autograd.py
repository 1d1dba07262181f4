"""How fast is scratchgen's autograd next to PyTorch's?

Two regimes, each timed as one forward *and* backward pass
(``y = op(x); y.backward(ones_like(y))``), float32, both libraries on the
same threads, their samples interleaved (see ``_common.compare``):

* **Small tensors (8×8): per-op overhead.**  The arithmetic takes
  nanoseconds, so the time is bookkeeping: wrapping arrays, recording the
  graph, ordering it, accumulating gradients.  Ours is Python; PyTorch's is
  C++, so expect ours to be several times slower here.
* **Large tensors: throughput.**  The arithmetic dominates, and both call
  into compiled kernels: NumPy's (elementwise ops single-threaded, matmul in
  OpenBLAS) against PyTorch's (vectorised, multi-threaded, MKL/oneDNN).

Run from the repository root::

    python benchmarks/bench_autograd.py                # all cores
    python benchmarks/bench_autograd.py --threads 1 --json out.json
    python benchmarks/bench_autograd.py --quick        # smoke run (seconds)

Without PyTorch installed (or with ``--no-torch``) only our column prints.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NamedTuple

import _common as common  # this folder is sys.path[0] when run as a script
import numpy as np

import scratchgen as sg
from scratchgen import backend
from scratchgen import functional as F


class Case(NamedTuple):
    op: str
    shapes: tuple          # input shapes; every input requires grad
    ours: Callable         # the forward pass on scratchgen tensors
    torch: Callable        # the same on torch tensors: fn(torch, *xs)

    @property
    def shape(self) -> str:
        return ", ".join("×".join(map(str, s)) for s in self.shapes)


def _chain_ours(x, y):
    """Ten ops: matmul add mul tanh sub exp mul add transpose sum."""
    h = ((((x @ y + x) * y).tanh() - x).exp() * 0.5 + y).T
    return h.sum(axis=1)


def _chain_torch(torch, x, y):
    h = ((((x @ y + x) * y).tanh() - x).exp() * 0.5 + y).T
    return h.sum(dim=1)


S, N = (8, 8), (1024, 1024)
SMALL = [
    Case("add", (S, S), lambda x, y: x + y, lambda t, x, y: x + y),
    Case("mul", (S, S), lambda x, y: x * y, lambda t, x, y: x * y),
    Case("matmul", (S, S), lambda x, y: x @ y, lambda t, x, y: x @ y),
    Case("exp", (S,), lambda x: x.exp(), lambda t, x: x.exp()),
    Case("tanh", (S,), lambda x: x.tanh(), lambda t, x: x.tanh()),
    Case("sum", (S,), lambda x: x.sum(), lambda t, x: x.sum()),
    Case("softmax", (S,), lambda x: F.softmax(x, axis=-1), lambda t, x: t.softmax(x, dim=-1)),
    Case("getitem x[1:7, ::2]", (S,), lambda x: x[1:7, ::2], lambda t, x: x[1:7, ::2]),
    Case("reshape + transpose", (S,), lambda x: x.reshape(4, 16).T,
         lambda t, x: x.reshape(4, 16).T),
    Case("chain of 10 ops", (S, S), _chain_ours, _chain_torch),
]
LARGE = [
    Case("add", (N, N), lambda x, y: x + y, lambda t, x, y: x + y),
    Case("mul", (N, N), lambda x, y: x * y, lambda t, x, y: x * y),
    Case("exp", (N,), lambda x: x.exp(), lambda t, x: x.exp()),
    Case("matmul", (N, N), lambda x, y: x @ y, lambda t, x, y: x @ y),
    Case("softmax", ((512, 1000),), lambda x: F.softmax(x, axis=-1),
         lambda t, x: t.softmax(x, dim=-1)),
    Case("logsumexp", ((512, 1000),), lambda x: F.logsumexp(x, axis=1),
         lambda t, x: t.logsumexp(x, dim=1)),
    Case("conv2d k4 s2 p1", ((64, 64, 14, 14), (64, 64, 4, 4), (64,)),
         lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, stride=2, padding=1)),
]


def _inputs(case: Case) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in case.shapes]


def _sync_ours():
    if backend.NAME == "cupy":  # GPU kernels are asynchronous: wait before reading the clock
        backend.xp.cuda.Device().synchronize()


def our_step(case: Case, arrays) -> Callable[[], None]:
    """One forward + backward of ``case`` on scratchgen tensors.  The output
    gradient is made once, outside the clock; the leaves' ``.grad`` is
    cleared each time, as ``zero_grad`` would, so nothing accumulates."""
    xs = [sg.tensor(a, requires_grad=True) for a in arrays]
    gy = sg.ones_like(case.ours(*xs))

    def step():
        for x in xs:
            x.grad = None
        case.ours(*xs).backward(gy)
        _sync_ours()
    return step


def torch_step(torch, case: Case, arrays) -> Callable[[], None]:
    """The same on PyTorch, on the GPU when our backend is CuPy."""
    cuda = backend.NAME == "cupy" and torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    xs = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]
    gy = torch.ones_like(case.torch(torch, *xs))

    def step():
        for x in xs:
            x.grad = None
        case.torch(torch, *xs).backward(gy)
        if cuda:
            torch.cuda.synchronize()
    return step


def measure(cases, torch, repeat: int, warmup: int, min_time: float,
            settle: float) -> list[dict]:
    rows = []
    for case in cases:
        arrays = _inputs(case)
        ours = our_step(case, arrays)
        if torch is None:
            ours_ms = common.timeit(ours, repeat, warmup, min_time=min_time)
            torch_ms = None
        else:
            ours_ms, torch_ms = common.compare(ours, torch_step(torch, case, arrays),
                                               repeat, warmup, min_time=min_time,
                                               settle=settle)
        rows.append({"op": case.op, "shape": case.shape, "ours_ms": ours_ms,
                     "torch_ms": torch_ms,
                     "ratio": ours_ms / torch_ms if torch_ms else None})
    return rows


def _display(row: dict) -> dict:
    unit = common.unit_for(row["ours_ms"])
    return {"op": row["op"], "shape": row["shape"],
            "ours": common.format_ms(row["ours_ms"], unit),
            "PyTorch": common.format_ms(row["torch_ms"], unit),
            "ours/torch": "-" if row["ratio"] is None else f"{row['ratio']:.1f}×"}


def parse_args(argv=None) -> argparse.Namespace:
    return common.base_parser(__doc__, "op").parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = None if args.no_torch else common.load_torch()
    notes = common.setup_threads(args.threads, torch)
    repeat = args.repeat or (3 if args.quick else 9)
    # quick: no warm-up beyond the calibration call, ~2 ms samples
    warmup, min_time, settle = (0, 0.002, 0.0) if args.quick else (2, 0.05, common.SETTLE_S)

    info = common.machine_info(args.threads, torch)
    print(f"scratchgen autograd benchmark: forward + backward, float32, backend "
          f"{backend.NAME}, {common.plural(args.threads, 'thread')}, median of {repeat} samples")
    print(f"numpy {info['numpy']}, torch {info['torch'] or 'not installed: ours only'}")
    for line in info["blas"]:
        print("  " + line)
    warnings = [w for w in (common.env_warning(), common.load_warning()) if w]
    for line in notes + warnings:
        print(line)

    columns = ["op", "shape", "ours"] + (["PyTorch", "ours/torch"] if torch else [])
    results = {}
    for key, title, cases in (("small", "Per-op overhead, small tensors", SMALL),
                              ("large", "Throughput, large tensors", LARGE)):
        rows = measure(cases, torch, repeat, warmup, min_time, settle)
        results[key] = rows
        print(f"\n{title}:")
        common.print_table([_display(r) for r in rows], columns)
        sys.stdout.flush()

    if args.json:
        common.write_json(args.json, {**info, "repeat": repeat, "quick": args.quick,
                                      "warnings": warnings}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
