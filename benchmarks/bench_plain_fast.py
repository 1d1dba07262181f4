"""What does each fast form buy over the plain rule beside it?

The library writes the textbook rule first and a speed-tuned form after it
(issue 8): the matrix product's gradients (``matmul_grads_plain`` /
``matmul_grads``), Adam's step (``_update_plain`` / ``_update``), batch norm
(``_batch_norm_train_plain`` / ``_batch_norm_train``), BCE-with-logits
(``_bce_with_logits_plain`` / ``_BCEWithLogits``), LeakyReLU
(``leaky_relu_plain`` / ``LeakyReLU``) and the convolutions' layout
(``conv2d_plain``, ``conv_transpose2d_plain`` / ``conv2d``,
``conv_transpose2d``).  This script times our training steps of
``bench_models`` (DCGAN and MLP-VAE, float32) twice in one process, as
shipped and with one fast form swapped for its plain rule, samples
interleaved (``_common.compare``), and prints plain/fast: how many times
slower the step would be without that form.  Last, every swap at once.

Run from the repository root, on one thread under a shared machine::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_plain_fast.py --threads 1
    python benchmarks/bench_plain_fast.py --quick    # smoke run (seconds)
"""
from __future__ import annotations

import contextlib
import sys

import _common as common  # this folder is sys.path[0] when run as a script
import bench_models
import scratchgen as sg
from scratchgen import backend, conv, functional, losses, optim
from scratchgen.ops import activations, arithmetic


def _plain_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    assert groups == 1, "the plain layout is written for groups=1"
    return conv.conv2d_plain(x, w, b, stride, padding, dilation)


def _plain_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                            dilation=1):
    assert groups == 1, "the plain layout is written for groups=1"
    return conv.conv_transpose2d_plain(x, w, b, stride, padding, output_padding, dilation)


# (name, [(owner, attribute, plain replacement)], models it appears in)
SWAPS = [
    ("MatMul backward (BLAS layout)",
     [(arithmetic, "matmul_grads",
       lambda a, b, gy, needs: arithmetic.matmul_grads_plain(a, b, gy))],
     ("dcgan", "vae")),
    ("Adam step (in place, folded scalars)",
     [(optim.Adam, "_update", optim.Adam._update_plain)], ("dcgan", "vae")),
    ("batch norm (one Function)",
     [(functional, "_batch_norm_train", functional._batch_norm_train_plain)], ("dcgan",)),
    ("BCE-with-logits (one Function)",
     [(losses, "_BCEWithLogits", lambda: losses._bce_with_logits_plain)], ("dcgan", "vae")),
    ("LeakyReLU (one Function)",
     [(activations, "LeakyReLU", lambda slope: lambda x: activations.leaky_relu_plain(x, slope))],
     ("dcgan",)),
    ("convolution layout (batch-last)",
     [(functional, "conv2d", _plain_conv2d),
      (functional, "conv_transpose2d", _plain_conv_transpose2d)], ("dcgan",)),
]
ALL = ("every fast form at once", [s for _, swaps, _ in SWAPS for s in swaps], ("dcgan", "vae"))


@contextlib.contextmanager
def plain(swaps):
    """Replace each fast form by its plain rule while the block runs."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in swaps]
    try:
        for owner, name, replacement in swaps:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def step_pair(kind: str, swaps):
    """Two steps of ``kind`` from the same weights and data: as shipped, and
    with ``swaps`` applied for the duration of each call."""
    steps = []
    for _ in range(2):
        sg.manual_seed(0)
        steps.append(bench_models.make_step(kind, bench_models._OURS,
                                            bench_models.build_models(kind, None)["ours"]))
    fast, slow = steps

    def plain_step():
        with plain(swaps):
            return slow()
    return fast, plain_step


def main(argv=None) -> int:
    args = common.base_parser(__doc__, "step").parse_args(argv)
    notes = common.setup_threads(args.threads)
    repeat = args.repeat or (3 if args.quick else 7)
    min_time, settle = (0.002, 0.0) if args.quick else (0.2, common.SETTLE_S)
    info = common.machine_info(args.threads)
    print(f"scratchgen plain rule vs fast form: our training steps, float32, backend "
          f"{backend.NAME}, {common.plural(args.threads, 'thread')}, median of {repeat} samples")
    for line in info["blas"] + notes + [w for w in (common.env_warning(),) if w]:
        print(line)
    rows, results = [], []
    for name, swaps, kinds in SWAPS + [ALL]:
        for kind in kinds:
            fast, plain_step = step_pair(kind, swaps)
            # the plain rule computes the same step: the losses agree before timing
            a, b = float(fast().item()), float(plain_step().item())
            fast_ms, plain_ms = common.compare(fast, plain_step, repeat, 1, None, min_time,
                                               settle)
            results.append({"form": name, "model": kind, "fast_ms": fast_ms,
                            "plain_ms": plain_ms, "loss_rel_diff": abs(a - b) / abs(b)})
            unit = common.unit_for(fast_ms)
            rows.append({"fast form": name, "step": bench_models.MODELS[kind].split(",")[0],
                         "fast": common.format_ms(fast_ms, unit),
                         "plain": common.format_ms(plain_ms, unit),
                         "plain/fast": f"{plain_ms / fast_ms:.2f}×",
                         "losses agree to": f"{abs(a - b) / abs(b):.0e}"})
            sys.stdout.flush()
    print()
    common.print_table(rows, list(rows[0]))
    if args.json:
        common.write_json(args.json, {**info, "repeat": repeat, "quick": args.quick}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
