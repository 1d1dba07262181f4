"""One command that checks scratchgen's GPU path and writes a short report.

On a machine with an NVIDIA GPU, CuPy and (optionally) PyTorch with CUDA::

    PYTHONPATH=. python benchmarks/gpu_check.py --out gpu_report.md

(or ``pip install --no-deps -e .`` first; nothing is downloaded: it needs
NumPy, CuPy, SciPy, matplotlib, tqdm, pytest and hypothesis, and PyTorch for
its column).  Three parts, each with its own time limit so that the whole
run stays under 8 minutes on one GPU:

1. **The test suite under** ``SCRATCHGEN_BACKEND=cupy`` (the ``ci``
   hypothesis profile, the long lesson runs excluded: part 2 runs them).
2. **Every lesson** ``--quick`` **under cupy**, each in a fresh process,
   figures sent to a temporary folder.
3. **Training steps timed**: the DCGAN (28x28), the MLP-VAE (784-400-20) and
   the character transformer (nanoGPT's Shakespeare model), at batch 64 and
   256, for scratchgen on the GPU (cupy), scratchgen on the CPU (numpy, 2
   BLAS threads: the 2-core machines this project is developed on) and
   PyTorch CUDA (eager, float32), each in its own process, the same weights
   and data as ``bench_models.py`` / ``bench_charlm.py``.  A GPU sample
   ends with a device synchronisation, so it times the work, not the launch.
   The GPU steps run twice: with the GPU fast paths (the default) and with
   ``SCRATCHGEN_GPU_FAST_PATHS=0`` (the NumPy reference forms on the GPU:
   im2col's and col2im's loops of slice copies and additions, Adam's,
   GELU's, LeakyReLU's and BCE's unfused chains), so
   the report shows what the fast paths buy, before and after.

The report (Markdown) has one section per part: the machine (GPU, CUDA,
CuPy, PyTorch), the test summary line and exit code, a table of lessons
(passed or failed, seconds), a table of step times (ms) with the speed-up
over the CPU, the fast paths' speed-up and the ratio to PyTorch, and the
issue's targets, each marked met or missed.

``--dry-run`` runs the same code on the CPU, small: a few test files under
the numpy-guard backend, the first lesson, batch 4, numpy standing in for
cupy and PyTorch CPU for PyTorch CUDA.  The test suite runs it so that the
script cannot rot on machines without a GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratchgen.atomic import atomic_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("dcgan", "vae", "charlm")
#: the targets of the GPU issue: (kind, batch, what is compared, bound)
TARGETS = (("dcgan", 256, "cpu/gpu speed-up", ">= 10"),
           ("dcgan", 256, "ours/torch", "<= 3"),
           ("charlm", 64, "ours/torch", "<= 3"))
#: seconds each part may take (a full GPU run stays under 8 minutes): the
#: suite, the lessons, one timed process, and all timed processes together
LIMITS = {"tests": 270, "lessons": 120, "timing": 60, "timing_total": 90}


# ---------------------------------------------------------------------------
# The child process: build one training step and time it
# ---------------------------------------------------------------------------

def _charlm_step(who: str, batch: int, device: str, torch):
    import numpy as np

    import bench_charlm as bc
    from scratchgen import backend
    from scratchgen.data import load_text_dataset
    from scratchgen.data.text import random_windows
    from scratchgen.models.charlm import CharTransformer

    data = load_text_dataset()
    x, y = random_windows(data.train, bc.CONFIG["block_size"], batch, np.random.default_rng(0))
    backend.manual_seed(0)
    ours = CharTransformer(data.vocab.chars, **bc.CONFIG)
    if who == "ours":
        opt = ours.make_optimizers(bc.TRAIN["lr"], bc.TRAIN["weight_decay"], bc.TRAIN["betas"])
        return lambda: ours.train_step((x, y), opt, clip=bc.TRAIN["clip"])
    twin = bc.torch_twin(torch, len(data.vocab), bc.CONFIG["block_size"], bc.CONFIG["n_layer"],
                         bc.CONFIG["n_head"], bc.CONFIG["n_embd"], sdpa=False)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()
                          if k in twin.state_dict()}, strict=False)
    twin.to(device)
    decay = [p for p in twin.parameters() if p.dim() >= 2]
    rest = [p for p in twin.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": bc.TRAIN["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=bc.TRAIN["lr"], betas=bc.TRAIN["betas"])
    tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        twin(tx, ty).backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), bc.TRAIN["clip"])
        opt.step()
    return step


def build_step(kind: str, who: str, batch: int, device: str, torch):
    """One training step of ``kind`` for ``who`` ('ours' on this process's
    backend, or 'torch' on ``device``)."""
    if kind == "charlm":
        return _charlm_step(who, batch, device, torch)
    import bench_models as bm
    if who == "ours":
        return bm.make_step(kind, bm._OURS, bm.build_models(kind, None)["ours"], batch)
    modules = [m.to(device) for m in bm.build_models(kind, torch)["torch"]]
    lib = bm._torch_ns(torch)._replace(
        tensor=lambda a: torch.from_numpy(a).to(device),
        ones=lambda *shape: torch.ones(*shape, device=device),
        zeros=lambda *shape: torch.zeros(*shape, device=device))
    return bm.make_step(kind, lib, modules, batch)


def _synchronise(who: str, device: str, torch):
    """The call that waits for the device's queued work (a no-op on the CPU)."""
    if who == "torch" and device == "cuda":
        return torch.cuda.synchronize
    from scratchgen import backend
    if who == "ours" and backend.NAME == "cupy":
        return backend.xp.cuda.Device().synchronize
    return lambda: None


def time_child(args) -> None:
    """Print one JSON line: milliseconds per step (median of samples)."""
    import _common as common
    torch = common.load_torch() if args.who == "torch" else None
    if args.threads:
        common.setup_threads(args.threads, torch)
    step = build_step(args.time, args.who, args.batch, args.device, torch)
    sync = _synchronise(args.who, args.device, torch)

    def synced_step():
        step()
        sync()
    ms = common.timeit(synced_step, repeat=args.repeat, warmup=2,
                       min_time=0.001 if args.dry_run else 0.2)
    print(json.dumps({"ms": ms}))


# ---------------------------------------------------------------------------
# The parent: run the parts, collect, report
# ---------------------------------------------------------------------------

def _run(cmd, env: dict, timeout: float) -> tuple[int | None, str, float]:
    """(exit code or None on time-out, combined output, seconds)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=timeout, check=False)
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
    return code, out, time.perf_counter() - start


def _pythonpath() -> str:
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def run_tests(plan) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plan["tests"]]
    code, out, seconds = _run(cmd, {"SCRATCHGEN_BACKEND": plan["backend"], "CI": "true",
                                    "PYTHONPATH": _pythonpath()}, LIMITS["tests"])
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    summary = lines[-1] if lines else "(no output)"
    return {"exit": code, "summary": summary if code is not None else
            f"stopped after {LIMITS['tests']} s: {summary}", "seconds": seconds}


def run_lessons(plan) -> list[dict]:
    rows, deadline = [], time.perf_counter() + LIMITS["lessons"]
    with tempfile.TemporaryDirectory() as figures:
        for lesson in plan["lessons"]:
            left = deadline - time.perf_counter()
            if left <= 0:
                rows.append({"lesson": lesson.stem, "result": "not run (time limit)", "seconds": 0})
                continue
            env = {"SCRATCHGEN_BACKEND": plan["backend"], "SCRATCHGEN_FIGURES": figures,
                   "MPLBACKEND": "Agg", "PYTHONPATH": _pythonpath()}
            code, out, seconds = _run([sys.executable, str(lesson), "--quick"], env, left)
            result = "passed" if code == 0 else ("time limit" if code is None else
                                                  f"failed: {out.strip().splitlines()[-1:]}")
            rows.append({"lesson": lesson.stem, "result": result, "seconds": seconds})
    return rows


#: the timed columns: ours on the GPU, with the fast paths off, on the CPU; PyTorch
WHO = ("gpu", "gpu_reference", "cpu", "torch")


def time_one(kind: str, who: str, batch: int, plan) -> float | None:
    backend_name = plan["backend"] if who.startswith("gpu") else "numpy"
    env = {"SCRATCHGEN_BACKEND": backend_name, "PYTHONPATH": _pythonpath(),
           "SCRATCHGEN_GPU_FAST_PATHS": "0" if who == "gpu_reference" else "1"}
    args = ["--time", kind, "--batch", str(batch), "--repeat", str(plan["repeat"]),
            "--who", "torch" if who == "torch" else "ours", "--device", plan["torch_device"]]
    if who == "cpu" or plan["dry_run"]:  # the dry run shares a small CPU: no oversubscription
        args += ["--threads", "2" if who == "cpu" else "1"]
    if plan["dry_run"]:
        args.append("--dry-run")
    code, out, _ = _run([sys.executable, str(Path(__file__).resolve()), *args], env,
                        LIMITS["timing"])
    if code != 0:
        return None
    return json.loads(out.strip().splitlines()[-1])["ms"]


def timing_cells(plan) -> list[tuple[str, int, str]]:
    """Every (model, batch, column) to time, the cells the targets compare
    first: if the time budget runs out, it is the other cells that go."""
    cells = [(kind, batch, who) for kind in KINDS for batch in plan["batches"] for who in WHO
             if plan["torch"] or who != "torch"]
    wanted = {(kind, batch, who) for kind, batch, what, _ in TARGETS
              for who in (("cpu", "gpu") if what.startswith("cpu") else ("gpu", "torch"))}
    return sorted(cells, key=lambda cell: cell not in wanted)  # stable: targets' cells first


def run_timing(plan) -> list[dict]:
    rows = {(kind, batch): {"model": kind, "batch": batch, **dict.fromkeys(WHO)}
            for kind in KINDS for batch in plan["batches"]}
    # the dry run times every cell: its report is what the tests check
    deadline = math.inf if plan["dry_run"] else time.perf_counter() + LIMITS["timing_total"]
    for kind, batch, who in timing_cells(plan):
        if time.perf_counter() < deadline:
            rows[kind, batch][who] = time_one(kind, who, batch, plan)
        else:
            rows[kind, batch].setdefault("not_run", []).append(who)
    return list(rows.values())


def machine(plan) -> list[str]:
    lines = [f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"Python {platform.python_version()}"]
    if not plan["dry_run"]:
        try:
            import cupy
            props = cupy.cuda.runtime.getDeviceProperties(0)
            lines.append(f"- GPU: {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}; "
                         f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}; CuPy {cupy.__version__}")
        except Exception as exc:  # reported, not raised: the report says what is missing
            lines.append(f"- GPU: not usable through CuPy ({type(exc).__name__}: {exc})")
    if plan["torch"]:
        import torch
        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
        lines.append(f"- PyTorch {torch.__version__} ({cuda})")
    else:
        lines.append("- PyTorch: not installed (its column is empty)")
    return lines


def _ms(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def _ratio(a, b) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def targets(rows, plan) -> list[str]:
    out = []
    by = {(r["model"], r["batch"]): r for r in rows}
    for kind, batch, what, bound in TARGETS:
        row = by.get((kind, batch if not plan["dry_run"] else plan["batches"][-1]))
        if row is None:
            continue
        value = _ratio(row["cpu"], row["gpu"]) if what.startswith("cpu") else \
            _ratio(row["gpu"], row["torch"])
        if value is None:
            out.append(f"- {kind} batch {row['batch']}, {what} {bound}: not measured")
            continue
        limit = float(bound.split()[1])
        met = value >= limit if bound.startswith(">=") else value <= limit
        out.append(f"- {kind} batch {row['batch']}, {what} {bound}: {value:.2f}x, "
                   f"{'met' if met else 'MISSED'}")
    return out


def report(plan, tests, lessons, timing) -> str:
    mode = "dry run on the CPU (numpy stands in for cupy)" if plan["dry_run"] else "GPU run"
    lines = [f"# scratchgen GPU check ({mode})", "", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "", "## Machine", "", *machine(plan), "",
             f"## Test suite under `SCRATCHGEN_BACKEND={plan['backend']}`", "",
             f"`{tests['summary']}` (exit {tests['exit']}, {tests['seconds']:.0f} s)", "",
             "## Lessons `--quick`", "", "| lesson | result | s |", "|---|---|---|"]
    lines += [f"| {r['lesson']} | {r['result']} | {r['seconds']:.1f} |" for r in lessons]
    gpu_name = "ours GPU" if not plan["dry_run"] else "ours (numpy)"
    lines += ["", "## Training steps, ms per step", "",
              f"| model | batch | {gpu_name} | {gpu_name}, fast paths off | ours CPU (2 threads) "
              f"| PyTorch {plan['torch_device']} | CPU / GPU | fast paths off / on "
              "| ours / PyTorch |", "|---|---|---|---|---|---|---|---|---|"]
    for r in timing:
        speedup, vs_torch = _ratio(r["cpu"], r["gpu"]), _ratio(r["gpu"], r["torch"])
        fast = _ratio(r["gpu_reference"], r["gpu"])
        lines.append(f"| {r['model']} | {r['batch']} | {_ms(r['gpu'])} | "
                     f"{_ms(r['gpu_reference'])} | {_ms(r['cpu'])} | {_ms(r['torch'])} | "
                     f"{_ms(speedup)} | {_ms(fast)} | {_ms(vs_torch)} |")
    skipped = sum(len(r.get("not_run", [])) for r in timing)
    if skipped:
        lines += ["", f"{skipped} cells not timed (—): the {LIMITS['timing_total']} s budget of "
                  "this part ran out (the targets' cells go first)."]
    lines += ["", "Fast paths off: `SCRATCHGEN_GPU_FAST_PATHS=0`, the NumPy reference forms "
              "(im2col's and col2im's loops over kernel taps, Adam's, GELU's, LeakyReLU's "
              "and BCE's unfused chains) on the same device."]
    lines += ["", "## Targets", "", *targets(timing, plan), ""]
    return "\n".join(lines)


def make_plan(args) -> dict:
    lessons = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
    torch_found = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True,
                                 check=False).returncode == 0
    if args.dry_run:
        return {"dry_run": True, "backend": "numpy-guard", "torch": torch_found,
                "torch_device": "cpu", "batches": (4,), "repeat": 1, "lessons": lessons[:1],
                "tests": ["tests/test_guard.py", "tests/test_layering.py"]}
    return {"dry_run": False, "backend": "cupy", "torch": torch_found, "torch_device": "cuda",
            "batches": (64, 256), "repeat": 5, "lessons": lessons,
            "tests": ["-m", "not slow", "tests"]}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="on the CPU, small (for the tests)")
    p.add_argument("--out", default="gpu_check_report.md", help="the Markdown report")
    # the child mode, one timed step per process
    p.add_argument("--time", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--who", choices=("ours", "torch"), default="ours", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--repeat", type=int, default=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.time:
        time_child(args)
        return 0
    plan = make_plan(args)
    start = time.perf_counter()
    print("1/3 test suite ...", flush=True)
    tests = run_tests(plan)
    print(f"    {tests['summary']}\n2/3 lessons ...", flush=True)
    lessons = run_lessons(plan)
    print(f"    {sum(r['result'] == 'passed' for r in lessons)}/{len(lessons)} passed\n"
          "3/3 training steps ...", flush=True)
    timing = run_timing(plan)
    text = report(plan, tests, lessons, timing)
    with atomic_path(Path(args.out)) as tmp:  # the whole report or the old one
        tmp.write_text(text)
    print(text)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")
    failed = tests["exit"] != 0 or any(r["result"] != "passed" for r in lessons)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
