"""The ``scratchgen`` command (also ``python -m scratchgen``).

    scratchgen train MODEL [--data DATA --epochs N --batch-size N --lr X --seed N --out DIR --resume]
    scratchgen train vae|convvae|cvae [--beta B ...]
    scratchgen train charlm [--text FILE --iters N ...]
    scratchgen sample RUN_DIR [--n 64 --label K --out FILE.png]
    scratchgen sample CHARLM_RUN [--prompt TEXT --temperature T --top-k K --length N]
    scratchgen eval RUN_DIR [--json]
    scratchgen lessons [run N]
    scratchgen info

A mistake on the command line (unknown model or data set, missing run
folder, corrupt checkpoint) prints one line and exits with status 2; no
traceback.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EXIT_USAGE = 2
LESSONS = Path(__file__).resolve().parents[2] / "lessons"


def _train_text(args) -> None:
    from . import recipes, text_training
    if args.resume:
        run = text_training.resume(args.out, iters=args.iters)
    else:
        data = args.text or args.data or recipes.RECIPES["charlm"]["data"]
        config = text_training.TextRunConfig(
            data=data, seed=args.seed, model_args=recipes.RECIPES["charlm"]["args"](data))
        for key in ("iters", "batch_size", "lr"):
            if getattr(args, key) is not None:
                setattr(config, key, getattr(args, key))
        out = args.out or f"runs/charlm-{Path(data).stem}"
        run = text_training.start(config, out)
    try:
        run.fit(progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: checkpoint saved in {run.dir}; continue with "
              f"`scratchgen train charlm --out {run.dir} --resume`", file=sys.stderr)
        sys.exit(130)
    last = run.evals[-1]
    print(f"iteration {run.step}: train {last['train']:.4f}, val {last['val']:.4f} nats per "
          f"character (estimates over {run.config.eval_batches} batches)")
    for path in text_training.write_outputs(run):
        print(f"wrote {path}")
    print(f"run folder: {run.dir}")


def _train(args) -> None:
    from ..data.registry import load_dataset
    from ..models import MODELS, VAEBase
    from . import recipes, training
    if args.beta is not None and not issubclass(MODELS[args.model], VAEBase):
        raise ValueError(f"--beta weighs the KL term of a VAE (vae, convvae, cvae); "
                         f"{args.model} has none")
    if args.model == "charlm":
        return _train_text(args)
    if args.text or args.iters is not None:
        raise ValueError("--text and --iters are for `scratchgen train charlm`")
    if args.resume:
        run = training.resume(args.out, epochs=args.epochs)
    else:
        data_name = args.data or recipes.RECIPES[args.model]["data"]
        dataset = load_dataset(data_name, "train", root=args.root, download=args.download)
        config = recipes.run_config(args.model, data_name, dataset, seed=args.seed,
                                    epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
        if args.beta is not None:
            config.model_args["beta"] = args.beta
        out = args.out or f"runs/{args.model}-{data_name}"
        run = training.start(config, out, dataset=dataset)
    try:
        run.fit(progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: checkpoint saved in {run.dir}; continue with "
              f"`scratchgen train {run.config.model} --out {run.dir} --resume`", file=sys.stderr)
        sys.exit(130)
    for path in training.write_figures(run):
        print(f"wrote {path}")
    print(f"run folder: {run.dir}")


def _sample_text(model, args) -> None:
    from ..atomic import atomic_path
    n = 1 if args.n is None else args.n
    texts = model.sample(n, length=args.length, prompt=args.prompt or "\n",
                         temperature=args.temperature, top_k=args.top_k)
    text = "\n\n".join(texts)
    print(text)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


def _sample(args) -> None:
    from .. import backend, models
    from . import plot
    model = models.load(args.run_dir)
    if args.label is not None and not getattr(model, "n_classes", 0):
        raise ValueError(f"{args.run_dir} holds an unconditional {type(model).__name__}: "
                         "--label needs a conditional model (train one with `scratchgen "
                         "train cgan` or `cvae`)")
    backend.manual_seed(args.seed)
    if isinstance(model, models.CharTransformer):
        return _sample_text(model, args)
    if args.prompt is not None or args.top_k is not None:
        raise ValueError("--prompt and --top-k are for character-model runs (scratchgen train "
                         "charlm); this run holds an image or point model")
    args.n = 64 if args.n is None else args.n
    labels = None if args.label is None else [args.label] * args.n
    samples = model.sample(args.n, labels=labels).numpy()
    out = args.out or str(Path(args.run_dir) / "figures" / "samples_cli.png")
    if samples.ndim == 2 and samples.shape[1] == 2:
        plot.scatter_2d(samples, out, title=f"{args.n} samples")
    else:
        plot.sample_grid(samples, out)
    print(f"wrote {out}")


def _eval(args) -> None:
    from .evaluation import evaluate
    result = evaluate(args.run_dir, n_samples=args.n, k=args.k)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")


def _lesson_files():
    return sorted(LESSONS.glob("[0-9][0-9]_*.py"))


def _lessons(args) -> None:
    files = _lesson_files()
    if not files:
        raise FileNotFoundError(f"no lessons found in {LESSONS} (they ship with the source checkout)")
    if args.action is None:
        for f in files:
            print(f.stem)
        return
    matches = [f for f in files if f.name.startswith(f"{int(args.number):02d}_")]
    if not matches:
        raise ValueError(f"no lesson {args.number}; `scratchgen lessons` lists them")
    command = [sys.executable, str(matches[0])] + (["--quick"] if args.quick else [])
    sys.exit(subprocess.call(command))


def _info(args) -> None:
    import numpy

    from .. import __version__, backend
    from ..data.idx import search_dirs
    print(f"scratchgen {__version__}")
    print(f"backend    {backend.NAME} (set SCRATCHGEN_BACKEND=numpy|cupy|numpy-guard)")
    print(f"numpy      {numpy.__version__}")
    print(f"malloc     {'keeps freed memory for reuse' if backend.MALLOC_TUNED else 'system defaults'}"
          " (scratchgen/allocator.py)")
    if backend.NAME == "cupy":
        import cupy
        print(f"cupy       {cupy.__version__}, device {cupy.cuda.runtime.getDeviceProperties(0)['name']}")
    print("digits     bundled (1,797 images)")
    for kind in ("mnist", "fashion"):
        found = [d for d in search_dirs(kind) if any(d.glob("*labels-idx1-ubyte*"))]
        print(f"{kind:<10} {found[0] if found else 'not found (download=True, or apt-get install dataset-fashion-mnist)'}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, like every other error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from ..data.registry import NAMES
    from ..data.text import TEXT_SETS
    from ..models import MODELS
    parser = _Parser(prog="scratchgen", description="Generative models built from nothing.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a model; writes a run folder")
    train.add_argument("model", choices=sorted(MODELS))
    train.add_argument("--data", choices=NAMES + TEXT_SETS,
                       help="data set (default: the model's own)")
    train.add_argument("--text", metavar="FILE",
                       help="charlm: train on this UTF-8 text file instead of Shakespeare")
    train.add_argument("--iters", type=int, help="charlm: training iterations (default 2000)")
    train.add_argument("--root", help="folder holding MNIST/Fashion-MNIST IDX files")
    train.add_argument("--download", action="store_true",
                       help="fetch MNIST/Fashion-MNIST from the official mirrors if missing")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--beta", type=float,
                       help="VAEs: the weight of the KL term (beta-VAE; default 1, the ELBO)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    sample = sub.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("--n", type=int, help="how many (default 64 images, 1 text)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", type=int,
                        help="class to generate (conditional models, cgan and cvae: 0..9)")
    sample.add_argument("--out")
    sample.add_argument("--prompt", help="charlm: the text to continue (default a newline)")
    sample.add_argument("--temperature", type=float, default=1.0,
                        help="charlm: < 1 sharper, > 1 flatter (default 1)")
    sample.add_argument("--top-k", type=int, help="charlm: draw only from the k likeliest")
    sample.add_argument("--length", type=int, default=500, help="charlm: characters to add")
    sample.set_defaults(func=_sample)

    ev = sub.add_parser("eval", help="print a trained run's metrics")
    ev.add_argument("run_dir")
    ev.add_argument("--n", type=int, default=2500, help="samples to draw")
    ev.add_argument("--k", type=int, default=50, help="importance samples for IWAE")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_eval)

    lessons = sub.add_parser("lessons", help="list the lessons, or `lessons run N`")
    lessons.add_argument("action", nargs="?", choices=["run"])
    lessons.add_argument("number", nargs="?")
    lessons.add_argument("--quick", action="store_true")
    lessons.set_defaults(func=_lessons)

    info = sub.add_parser("info", help="backend, versions and data sets found")
    info.set_defaults(func=_info)
    return parser


def main(argv=None) -> None:
    from ..backend import BackendError
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.resume and not args.out:
        parser.error("--resume needs --out RUN_DIR")
    if args.command == "lessons" and args.action == "run" and args.number is None:
        parser.error("lessons run needs a lesson number")
    try:
        args.func(args)
    except (ValueError, OSError, BackendError) as exc:  # bad input; bugs keep their traceback
        one_line = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"scratchgen: error: {one_line}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
