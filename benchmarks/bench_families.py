"""The three families side by side: a GAN, a VAE and MADE on binarised images.

Each trains for the same budget of CPU time, with the architecture
``scratchgen train`` gives it (the VAE and MADE on dynamically binarised
images, the GAN on the grey ones: see :mod:`scratchgen.runs.families`),
and all three are judged on the same test set, binarised once with seed 0: NLL in nats per
image (exact for MADE, the IWAE bound for the VAE, undefined for the GAN),
Fréchet distance and precision/recall of binary samples in a classifier's
features, CPU time per epoch and per 64 samples, parameter count.  The
comparison itself is :mod:`scratchgen.runs.families` (lesson 17 runs it
too); this script prints its table and optionally a figure and JSON.

Run from the repository root (1 thread: say so beside any time)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_families.py --data digits --budget 30
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_families.py --data fashion --budget 120
    python benchmarks/bench_families.py --quick
"""
from __future__ import annotations

import sys

import _common as common  # this folder is sys.path[0] when run as a script
from scratchgen.runs.families import compare, table


def figure(grids, path, title) -> None:
    from matplotlib.figure import Figure

    from scratchgen.atomic import atomic_path
    from scratchgen.runs import plot
    fig = Figure(figsize=(4 * len(grids), 2.4))
    for i, (name, images) in enumerate(grids.items()):
        ax = fig.add_subplot(1, len(grids), i + 1)
        ax.imshow(plot.tile(images, ncol=8), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name.upper())
        ax.axis("off")
    fig.suptitle(title)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")


def parse_args(argv=None):
    p = common.base_parser(__doc__, "model")
    p.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion"])
    p.add_argument("--budget", type=float, default=60.0,
                   help="CPU seconds of training per model (default 60)")
    p.add_argument("--samples", type=int, default=1000, help="samples for FD and P/R")
    p.add_argument("--k", type=int, default=100, help="importance samples for the VAE's bound")
    p.add_argument("--figure", metavar="PATH", help="write the samples side by side here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    notes = common.setup_threads(args.threads)
    budget, n, k = (1.0, 100, 5) if args.quick else (args.budget, args.samples, args.k)
    info = common.machine_info(args.threads)
    print(f"three families on binarised {args.data}: {budget:g} CPU s of training each, "
          f"{args.threads} thread(s)")
    for line in notes:
        print("  " + line)
    rows, grids = compare(args.data, budget, n, k)
    print()
    common.print_table(table(rows, k), list(table(rows, k)[0]))
    if args.figure:
        figure(grids, args.figure, f"binarised {args.data}: {budget:g} CPU s of training each")
        print(f"wrote {args.figure}")
    if args.json:
        common.write_json(args.json, {**info, "budget_cpu_s": budget, "samples": n, "k": k},
                          rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
