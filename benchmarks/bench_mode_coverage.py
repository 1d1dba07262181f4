"""Mode coverage of the default GAN recipes on ring8 and grid25, over seeds.

The VEEGAN/PacGAN protocol (Srivastava et al. 2017; Lin et al. 2018): train,
draw 2,500 samples, call a sample *high quality* when it lies within 3 std
of its nearest mixture mean, and count the modes that hold at least one
high-quality sample (:func:`scratchgen.metrics.mode_coverage`).  Each seed
trains the recipe that ``scratchgen train MODEL --data DATA --seed S``
uses, from scratch, exactly as the command line does.

Published rows to beat (PacGAN, Lin et al. 2018, Tables 2 and 3): ring 7.9
modes / 95.6 % high quality (PacGAN2), grid 24.8 / 93.6 % (PacGAN4).

    python benchmarks/bench_mode_coverage.py --data ring8 --seeds 10
    python benchmarks/bench_mode_coverage.py --data grid25 --seeds 5 --model wgan-gp
    python benchmarks/bench_mode_coverage.py --data grid25 --set pack=4 --set epochs=40
    python benchmarks/bench_mode_coverage.py --quick       # smoke run (seconds)

``--set KEY=VALUE`` overrides a constructor argument or a training setting
of the recipe (to try a variant; the table then says so).
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
import time

import scratchgen as sg
from scratchgen.runs import metrics
from scratchgen.data.registry import load_dataset
from scratchgen.runs import recipes, training

SETTING_KEYS = ("epochs", "batch_size", "lr", "lr_decay")
PUBLISHED = {"ring8": "PacGAN2: 7.9 modes, 95.6 %", "grid25": "PacGAN4: 24.8 modes, 93.6 %"}


def parse_overrides(pairs) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run_seed(model: str, data: str, seed: int, overrides: dict, quick: bool) -> dict:
    dataset = load_dataset(data, "train")
    config = recipes.run_config(model, data, dataset, seed=seed,
                                **{k: v for k, v in overrides.items() if k in SETTING_KEYS})
    config.model_args.update({k: v for k, v in overrides.items() if k not in SETTING_KEYS})
    config.checkpoint_every = 10**9  # one checkpoint, at the end
    if quick:
        config.epochs = 1
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        run = training.start(config, folder, dataset=dataset)
        run.fit(progress=False)
    seconds = time.perf_counter() - start
    sg.manual_seed(seed)
    samples = run.model.sample(2500).numpy()
    coverage = metrics.mode_coverage(samples, dataset.centers, dataset.std)
    return {"seed": seed, "modes": coverage.modes, "n_modes": coverage.n_modes,
            "high_quality": coverage.high_quality, "reverse_kl": coverage.reverse_kl,
            "seconds": seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="ring8", choices=["ring8", "grid25"])
    p.add_argument("--model", default="gan", choices=["gan", "wgan-gp"])
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10 ring8, 5 grid25)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 seed: checks that it runs")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    model = args.model
    n_seeds = 1 if args.quick else (args.seeds or {"ring8": 10, "grid25": 5}[args.data])
    overrides = parse_overrides(args.set)
    print(f"{model} on {args.data}, seeds {args.first_seed}..{args.first_seed + n_seeds - 1}"
          + (f", overrides {overrides}" if overrides else "") + " (2,500 samples per seed)")
    rows = []
    for seed in range(args.first_seed, args.first_seed + n_seeds):
        row = run_seed(model, args.data, seed, overrides, args.quick)
        rows.append(row)
        print(f"seed {seed}: {row['modes']}/{row['n_modes']} modes, high quality "
              f"{100 * row['high_quality']:.1f} %, reverse KL {row['reverse_kl']:.3f}, "
              f"{row['seconds']:.0f} s", flush=True)
    modes = [r["modes"] for r in rows]
    hq = [r["high_quality"] for r in rows]
    full = sum(m == rows[0]["n_modes"] for m in modes)
    print(f"\nmean modes {statistics.mean(modes):.2f}, all modes on {full} of {len(rows)} seeds; "
          f"high quality median {100 * statistics.median(hq):.1f} %, mean "
          f"{100 * statistics.mean(hq):.1f} %, min {100 * min(hq):.1f} %")
    print(f"published best: {PUBLISHED[args.data]}")
    if args.json:
        from scratchgen.atomic import atomic_path
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"model": model, "data": args.data,
                                       "overrides": overrides, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
