"""How long does one training step of a real model take, next to PyTorch?

Three measurements, each ours beside PyTorch's CPU build on the same number
of threads, their samples interleaved so drift of a shared machine hits both
(see ``_common.compare``):

* **MLP-VAE** 784-400-20 (PyTorch's ``examples/vae``): encoder 784→400 ReLU
  → (mu, logvar), 20 each; decoder 20→400 ReLU →784 logits; loss
  BCE-with-logits summed over pixels + Gaussian KL, averaged over a batch
  of 128; one Adam step (lr 1e-3).
* **DCGAN** for 28×28 images, batch 64 (``scratchgen.models.DCGAN``'s
  networks, built from each library's layers).  G: Linear 100→128·7·7,
  Unflatten, BatchNorm2d, ReLU, ConvTranspose2d 128→64 (k4 s2 p1),
  BatchNorm2d, ReLU, ConvTranspose2d 64→1 (k4 s2 p1), Tanh.  D: Conv2d
  1→64 (k4 s2 p1), LeakyReLU 0.2, Conv2d 64→128 (k4 s2 p1), BatchNorm2d,
  LeakyReLU 0.2, Flatten, Linear 6272→1.  A step is one D update and one G
  update, both BCE-with-logits, Adam lr 2e-4, betas (0.5, 0.999).
* **Each DCGAN convolution alone**, forward + backward (input and weights).

Both libraries start from the *same weights* (PyTorch's initialisation,
copied through ``load_state_dict``) and see the same data and noise, drawn
once: random arrays of the right shapes, since the values do not change the
time of a step.  So both compute the same numbers, and the script checks
that their losses agree before it times anything.

Peak memory, two ways:

* ``ours peak``: the largest total of live NumPy/Python allocations during
  one step, from ``tracemalloc`` (NumPy reports its buffers to it), after a
  warm-up step (Adam allocates its moments on the first step).  PyTorch's
  allocator is invisible to tracemalloc, so there is no torch column of
  this kind.
* ``ΔRSS``: for each library, a fresh process imports both libraries,
  builds both models, runs 3 steps of *one* library, and reports its peak
  resident set size (``ru_maxrss``) minus that of a process that does the
  same but runs no step.  Coarse (whole pages, allocator caching), but the
  same yardstick for both.  Skipped with ``--quick`` or ``--no-rss``.

Run from the repository root, with the OpenBLAS pins these machines set
removed (they select older kernels)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py
    python benchmarks/bench_models.py --quick           # smoke run (seconds)
    python benchmarks/bench_models.py --profile dcgan   # cProfile of our step
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from typing import Callable, NamedTuple

import numpy as np

import _common as common  # this folder is sys.path[0] when run as a script
import scratchgen as sg
from scratchgen import backend, nn, optim
from scratchgen import functional as F
from scratchgen.models import dcgan

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------
# The models, once per library.  ``lib`` is scratchgen.nn or torch.nn: the
# class and attribute names are the same, so state_dict keys match.
# ---------------------------------------------------------------------------

def vae_parts(lib) -> dict:
    return {"fc1": lib.Linear(784, 400), "fc_mu": lib.Linear(400, 20),
            "fc_logvar": lib.Linear(400, 20), "fc3": lib.Linear(20, 400),
            "fc4": lib.Linear(400, 784)}


def generator(lib):
    """The generator of scratchgen's DCGAN (``scratchgen.models.dcgan``),
    built from ``lib``'s layers."""
    return dcgan.generator(100, (1, 28, 28), 64, layers=lib)


def discriminator(lib):
    return dcgan.discriminator((1, 28, 28), 64, layers=lib)


def _vae_module(lib):
    """A module holding the five layers (each library's Module subclass)."""
    module = lib.Module()
    for name, layer in vae_parts(lib).items():
        setattr(module, name, layer)
    return module


def _copy_weights(torch_module, our_module):
    our_module.load_state_dict({k: v.detach().numpy() for k, v in
                                torch_module.state_dict().items()})


# ---------------------------------------------------------------------------
# One training step, written the same way for both libraries.  ``t`` is a
# small namespace with the library's functions (see _OURS and _torch_ns).
# ---------------------------------------------------------------------------

class Lib(NamedTuple):
    nn: object
    tensor: Callable          # host float32 array -> library tensor
    bce_logits: Callable      # (logits, target, reduction) -> loss
    relu: Callable
    adam: Callable            # (params, lr, betas) -> optimizer
    ones: Callable
    zeros: Callable


_OURS = Lib(nn, sg.tensor,
            # reduction by keyword: the third positional argument is weight, as in PyTorch
            lambda x, t, reduction: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            F.relu,
            lambda p, lr, betas=(0.9, 0.999): optim.Adam(p, lr=lr, betas=betas),
            sg.ones, sg.zeros)


def _torch_ns(torch) -> Lib:
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return Lib(torch.nn, torch.from_numpy,
               lambda x, t, reduction: bce(x, t, reduction=reduction), torch.relu,
               lambda p, lr, betas=(0.9, 0.999): torch.optim.Adam(p, lr=lr, betas=betas),
               torch.ones, torch.zeros)


def vae_step(t: Lib, model, opt, x, eps) -> Callable:
    """Reparameterised ELBO: z = mu + exp(logvar / 2) eps; loss = per-example
    (BCE summed over pixels + KL), averaged over the batch."""
    n = x.shape[0]

    def step():
        opt.zero_grad()
        h = t.relu(model.fc1(x))
        mu, logvar = model.fc_mu(h), model.fc_logvar(h)
        z = mu + (0.5 * logvar).exp() * eps
        logits = model.fc4(t.relu(model.fc3(z)))
        kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum()
        loss = (t.bce_logits(logits, x, "sum") + kl) / n
        loss.backward()
        opt.step()
        return loss
    return step


def dcgan_step(t: Lib, G, D, opt_g, opt_d, real, z) -> Callable:
    """One discriminator update (real → 1, fake → 0), then one generator
    update (fake → 1, the non-saturating loss)."""
    n = real.shape[0]
    ones, zeros = t.ones(n, 1), t.zeros(n, 1)

    def step():
        fake = G(z)
        opt_d.zero_grad()
        loss_d = (t.bce_logits(D(real), ones, "mean")
                  + t.bce_logits(D(fake.detach()), zeros, "mean"))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = t.bce_logits(D(fake), ones, "mean")
        loss_g.backward()
        opt_g.step()
        return loss_d + loss_g
    return step


def _host_inputs(kind: str, batch: int | None = None) -> dict:
    """The step's data and noise; ``batch`` defaults to 128 (VAE), 64 (DCGAN)."""
    rng = np.random.default_rng(0)
    if kind == "vae":
        n = batch or 128
        return {"x": rng.random((n, 784), dtype=np.float32),
                "eps": rng.standard_normal((n, 20), dtype=np.float32)}
    n = batch or 64
    return {"real": np.tanh(rng.standard_normal((n, 1, 28, 28), dtype=np.float32)),
            "z": rng.standard_normal((n, 100), dtype=np.float32)}


def _libs(torch) -> dict:
    return {"ours": _OURS} if torch is None else {"ours": _OURS, "torch": _torch_ns(torch)}


def build_models(kind: str, torch) -> dict:
    """``{'ours': modules, 'torch': modules}`` for ``kind`` ('vae': one
    module; 'dcgan': G and D); no torch entry when ``torch`` is None.  With
    torch, ours get PyTorch's initial weights."""
    if torch is not None:
        torch.manual_seed(0)
    models = {name: (_vae_module(t.nn),) if kind == "vae"
              else (generator(t.nn), discriminator(t.nn))
              for name, t in _libs(torch).items()}
    if torch is not None:
        for ours, theirs in zip(models["ours"], models["torch"]):
            _copy_weights(theirs, ours)
    return models


def make_step(kind: str, t: Lib, modules, batch: int | None = None) -> Callable:
    """The training step of ``kind`` for ``modules``, with its optimizers
    and its (fixed) data and noise."""
    data = {k: t.tensor(v) for k, v in _host_inputs(kind, batch).items()}
    if kind == "vae":
        (model,) = modules
        return vae_step(t, model, t.adam(model.parameters(), 1e-3), **data)
    G, D = modules
    opt_g, opt_d = (t.adam(m.parameters(), 2e-4, (0.5, 0.999)) for m in (G, D))
    return dcgan_step(t, G, D, opt_g, opt_d, **data)


def build(kind: str, torch) -> dict:
    """``{'ours': step, 'torch': step}``, from the same initial weights."""
    libs = _libs(torch)
    return {name: make_step(kind, libs[name], modules)
            for name, modules in build_models(kind, torch).items()}


def check_agreement(steps: dict, n: int = 3) -> float:
    """Run ``n`` steps of each library; the largest relative difference of
    their losses (float32 rounding only, when both compute the same)."""
    worst = 0.0
    for _ in range(n):
        a, b = float(steps["ours"]().item()), float(steps["torch"]().item())
        worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return worst


# ---------------------------------------------------------------------------
# The convolutions of the DCGAN, one layer at a time
# ---------------------------------------------------------------------------

class ConvCase(NamedTuple):
    name: str
    layer: Callable       # lib.nn -> layer
    input_shape: tuple


CONV_CASES = [
    ConvCase("G ConvTranspose2d 128→64", lambda lib: lib.ConvTranspose2d(128, 64, 4, 2, 1),
             (64, 128, 7, 7)),
    ConvCase("G ConvTranspose2d 64→1", lambda lib: lib.ConvTranspose2d(64, 1, 4, 2, 1),
             (64, 64, 14, 14)),
    ConvCase("D Conv2d 1→64", lambda lib: lib.Conv2d(1, 64, 4, 2, 1), (64, 1, 28, 28)),
    ConvCase("D Conv2d 64→128", lambda lib: lib.Conv2d(64, 128, 4, 2, 1), (64, 64, 14, 14)),
]


def conv_setup(case: ConvCase, torch) -> dict:
    """``{'ours': (layer, x), 'torch': (layer, x)}``: the same weights and
    the same input, which requires grad."""
    x_host = np.random.default_rng(0).standard_normal(case.input_shape, dtype=np.float32)
    layers = {name: case.layer(t.nn) for name, t in _libs(torch).items()}
    if torch is not None:
        _copy_weights(layers["torch"], layers["ours"])
        return {"ours": (layers["ours"], sg.tensor(x_host, requires_grad=True)),
                "torch": (layers["torch"], torch.tensor(x_host, requires_grad=True))}
    return {"ours": (layers["ours"], sg.tensor(x_host, requires_grad=True))}


def conv_step(layer, x) -> Callable[[], None]:
    """Forward + backward, gradients for the input and the weights; the
    output gradient is made once, outside the clock."""
    gy = layer(x).detach() * 0 + 1  # ones of the output's shape, in either library

    def step():
        x.grad = None
        for p in layer.parameters():
            p.grad = None
        layer(x).backward(gy)
    return step


def conv_steps(case: ConvCase, torch) -> dict:
    return {name: conv_step(layer, x) for name, (layer, x) in conv_setup(case, torch).items()}


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------

def rss_probe(kind: str, who: str, steps: int) -> None:
    """Run in a fresh process by :func:`delta_rss_mb`: build both libraries'
    steps, then run ``steps`` of ``who``'s (0 for the baseline)."""
    import torch
    common.setup_threads(int(os.environ.get("BENCH_THREADS", "1")), torch)
    step = build(kind, torch)[who]
    for _ in range(steps):
        step()


def delta_rss_mb(kind: str, who: str) -> float:
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import bench_models; "
            "bench_models.rss_probe({kind!r}, {who!r}, {steps})")
    base = common.peak_rss_mb(code.format(kind=kind, who=who, steps=0))
    return common.peak_rss_mb(code.format(kind=kind, who=who, steps=3)) - base


def traced_peak_mb(step) -> float:
    step()  # Adam's moments are allocated at the first step: not a per-step cost
    return common.peak_traced_mb(step)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

MODELS = {"vae": "MLP-VAE 784-400-20, batch 128",
          "dcgan": "DCGAN 28×28, batch 64 (D step + G step)"}


def measure(steps: dict, repeat: int, min_time: float, settle: float) -> dict:
    if "torch" not in steps:
        return {"ours_ms": common.timeit(steps["ours"], repeat=repeat, min_time=min_time),
                "torch_ms": None, "ratio": None}
    ours_ms, torch_ms = common.compare(steps["ours"], steps["torch"], repeat=repeat,
                                       min_time=min_time, settle=settle)
    return {"ours_ms": ours_ms, "torch_ms": torch_ms, "ratio": ours_ms / torch_ms}


def _display(name: str, row: dict, extra: dict = ()) -> dict:
    unit = common.unit_for(row["ours_ms"])
    return {"step": name, "ours": common.format_ms(row["ours_ms"], unit),
            "PyTorch": common.format_ms(row["torch_ms"], unit),
            "ours/torch": "-" if row["ratio"] is None else f"{row['ratio']:.2f}×", **dict(extra)}


def profile(kind: str, n_steps: int = 20, top: int = 25) -> None:
    """cProfile of 20 of our steps, functions sorted by their own time."""
    step = build(kind, None)["ours"]
    step()
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [step() for _ in range(n_steps)])
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)


def parse_args(argv=None) -> argparse.Namespace:
    p = common.base_parser(__doc__, "row")
    p.add_argument("--no-rss", action="store_true", help="skip the ΔRSS subprocesses")
    p.add_argument("--profile", metavar="WHAT", choices=list(MODELS),
                   help="instead of timing, print a cProfile of our step of WHAT")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = None if args.no_torch else common.load_torch()
    notes = common.setup_threads(args.threads, torch)
    if args.profile:
        profile(args.profile)
        return 0
    repeat = args.repeat or (3 if args.quick else 9)
    min_time, settle = (0.002, 0.0) if args.quick else (0.2, common.SETTLE_S)
    rss = torch is not None and not (args.quick or args.no_rss)
    os.environ["BENCH_THREADS"] = str(args.threads)

    info = common.machine_info(args.threads, torch)
    print(f"scratchgen model-step benchmark: float32, backend {backend.NAME}, "
          f"{args.threads} threads, median of {repeat} samples")
    print(f"numpy {info['numpy']}, torch {info['torch'] or 'not installed: ours only'}")
    for line in info["blas"]:
        print("  " + line)
    warning = common.env_warning()
    for line in notes + ([warning] if warning else []):
        print(line)

    results = {"steps": [], "conv": []}
    print("\nTraining steps:")
    step_rows = []
    for kind, title in MODELS.items():
        steps = build(kind, torch)
        agree = check_agreement(steps, 1 if args.quick else 3) if torch is not None else None
        row = {"model": kind, **measure(steps, repeat, min_time, settle), "loss_rel_diff": agree,
               "ours_peak_mb": traced_peak_mb(steps["ours"])}
        if rss:
            row["ours_drss_mb"] = delta_rss_mb(kind, "ours")
            row["torch_drss_mb"] = delta_rss_mb(kind, "torch")
        results["steps"].append(row)
        extra = {"ours peak": f"{row['ours_peak_mb']:.1f} MiB"}
        if rss:
            extra.update({"ours ΔRSS": f"{row['ours_drss_mb']:.0f} MiB",
                          "torch ΔRSS": f"{row['torch_drss_mb']:.0f} MiB"})
        if agree is not None:
            extra["losses agree to"] = f"{agree:.0e}"
        step_rows.append(_display(title, row, extra))
    common.print_table(step_rows, [c for c in step_rows[0]
                                   if torch or c not in ("PyTorch", "ours/torch")])
    sys.stdout.flush()

    print("\nDCGAN convolutions alone, forward + backward:")
    conv_rows = []
    for case in CONV_CASES:
        row = {"layer": case.name, "input": case.input_shape,
               **measure(conv_steps(case, torch), repeat, min_time, settle)}
        results["conv"].append(row)
        shape = "×".join(map(str, case.input_shape))
        conv_rows.append({**_display(case.name, row), "input": shape})
    columns = ["step", "input", "ours"] + (["PyTorch", "ours/torch"] if torch else [])
    common.print_table(conv_rows, columns)

    if args.json:
        common.write_json(args.json, {**info, "repeat": repeat, "quick": args.quick,
                                      "env_warning": warning}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
