"""The ``scratchgen`` command (its entry point is ``scratchgen_cli.main``).

    scratchgen train MODEL [--data DATA] [--root DIR] [--download] [--epochs N]
                           [--batch-size N] [--lr X] [--seed N] [--out DIR] [--resume] [--quiet]
    scratchgen train vae|convvae|cvae [--beta B] ...
    scratchgen train charlm [--text FILE] [--iters N] ...
    scratchgen sample RUN_DIR [--n 64] [--seed N] [--label K] [--out FILE.png]
    scratchgen sample CHARLM_RUN [--prompt TEXT] [--temperature T] [--top-k K] [--length N]
    scratchgen eval RUN_DIR [--n 2500] [--k 50] [--root DIR] [--json]
    scratchgen lessons [run N|--all [--quick] [--figures DIR] | notebook N [--out FILE]]
    scratchgen info
    scratchgen --version

The promise to a user: never a Python traceback for a mistake of theirs.
A bad argument, a missing or corrupt file, a data set that is not there, a
training run that diverges: one line on stderr that names what was wrong
and what to do, exit status 2, and nothing written.  Ctrl-C: exit 130.
Three mechanisms keep it:

* every number is parsed by a :class:`Number`, which knows its range and
  refuses NaN, so argparse names the option in its one-line message
  (a test feeds each option the values its ``Number`` refuses);
* the library raises ``ValueError`` / ``OSError`` (and their kinds:
  ``DataError``, ``CheckpointError``, ``DivergenceError``) for bad input,
  and :func:`main` turns exactly those into the one line; anything else is
  a bug and keeps its traceback;
* writing happens last: each command checks what it was given, loads what
  it needs, and only then writes (training's run folder, a sample PNG).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


# --------------------------------------------------------------------------
# Numbers on the command line
# --------------------------------------------------------------------------
class Number:
    """An argparse ``type``: a whole (``kind=int``) or real number in
    ``[low, high]`` (``low`` excluded when ``open_low``), finite.  Its refusal
    says what it wants; argparse puts the option's name in front."""

    def __init__(self, kind, low, high, open_low: bool = False):
        self.kind, self.low, self.high, self.open_low = kind, low, high, open_low
        self.__name__ = "whole number" if kind is int else "number"   # argparse's fallback text

    def describe(self) -> str:
        if self.kind is int:
            return f"a whole number from {self.low:,} to {self.high:,}"
        return f"a number {'>' if self.open_low else '>='} {self.low:g} and <= {self.high:g}"

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, not {text!r}") from None
        too_low = value <= self.low if self.open_low else value < self.low
        if not math.isfinite(value) or too_low or value > self.high:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, not {text!r}")
        return value

    def refused_examples(self) -> list[str]:
        """Values this option must refuse (the bad-input test feeds them)."""
        below = self.low if self.open_low else self.low - (1 if self.kind is int else self.low or 1)
        return ["abc", "nan", "inf", str(below), str(self.high * 10),
                "1.5" if self.kind is int else "-inf"]


EPOCHS = Number(int, 1, 100_000)
BATCH_SIZE = Number(int, 1, 1_000_000)
LEARNING_RATE = Number(float, 0.0, 10.0, open_low=True)
SEED = Number(int, 0, 2**32 - 1)
N_SAMPLE = Number(int, 1, 10_000)
ITERS = Number(int, 1, 10_000_000)
TEMPERATURE = Number(float, 0.0, 100.0, open_low=True)
TOP_K = Number(int, 1, 1_000_000)
LENGTH = Number(int, 1, 1_000_000)
BETA = Number(float, 0.0, 1000.0)
#: a whole number only: the model knows its classes and names the range itself
LABEL = Number(int, -2**31, 2**31 - 1)
N_EVAL = Number(int, 100, 50_000)
K_IWAE = Number(int, 1, 5_000)


def lesson_number(text: str) -> int:
    """A lesson's number, as ``scratchgen lessons`` lists them (``5`` or ``05``)."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 1 <= number <= 99:
        raise argparse.ArgumentTypeError(f"expected a lesson number such as 5, not {text!r} "
                                         "(`scratchgen lessons` lists them)")
    return number


def _fresh_line() -> str:
    """A newline after a progress bar on a terminal; nothing in a log file."""
    return "\n" if sys.stderr.isatty() else ""


# --------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------
def _fit(run, quiet: bool) -> None:
    """Train an image or text run; on Ctrl-C say where its checkpoint is and
    how to go on."""
    try:
        run.fit(progress=not quiet)
    except KeyboardInterrupt:
        print(f"{_fresh_line()}interrupted: checkpoint saved in {run.dir}; continue with "
              f"`scratchgen train {run.config.model} --out {run.dir} --resume`", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


def _train_text(args) -> None:
    from . import recipes, text_training
    if args.resume:
        run = text_training.resume(args.out, iters=args.iters)
    else:
        data = args.text or args.data or recipes.RECIPES["charlm"]["data"]
        config = text_training.TextRunConfig(
            data=data, seed=args.seed or 0, model_args=recipes.RECIPES["charlm"]["args"](data))
        for key in ("iters", "batch_size", "lr"):
            if getattr(args, key) is not None:
                setattr(config, key, getattr(args, key))
        out = args.out or f"runs/charlm-{Path(data).stem}"
        run = text_training.start(config, out)
    _fit(run, args.quiet)
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
        run = training.resume(args.out, epochs=args.epochs, model=args.model, data=args.data,
                              root=args.root, download=args.download)
    else:
        data_name = args.data or recipes.RECIPES[args.model]["data"]
        dataset = load_dataset(data_name, "train", root=args.root, download=args.download)
        config = recipes.run_config(args.model, data_name, dataset, seed=args.seed or 0,
                                    epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
        if args.beta is not None:
            config.model_args["beta"] = args.beta
        out = args.out or f"runs/{args.model}-{data_name}"
        run = training.start(config, out, dataset=dataset)
    _fit(run, args.quiet)
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
    from .evaluation import evaluate, explain
    result = evaluate(args.run_dir, n_samples=args.n, k=args.k, root=args.root,
                      progress=not args.json)
    print(json.dumps(result, indent=2) if args.json else explain(result))


def _lessons(args) -> None:
    from . import lessons
    if args.action is None:
        for path in lessons.find():   # one per line, nothing else: easy to script
            print(path.stem)
    elif args.action == "run":
        paths = lessons.find() if args.all else [lessons.find_one(args.number)]
        for path in paths:
            lessons.run(path, quick=args.quick, figures=args.figures)
    else:
        path = lessons.find_one(args.number)
        print(f"wrote {lessons.write_notebook(path, args.out or path.stem + '.ipynb')}")


def _info(args) -> None:
    import numpy

    from .. import __version__, backend
    from ..data.idx import search_dirs
    from . import lessons
    print(f"scratchgen {__version__}")
    print(f"backend    {backend.NAME} (set SCRATCHGEN_BACKEND=numpy|cupy|numpy-guard)")
    print(f"numpy      {numpy.__version__}")
    print(f"malloc     {'keeps freed memory for reuse' if backend.MALLOC_TUNED else 'system defaults'}"
          " (scratchgen/allocator.py)")
    if backend.NAME == "cupy":
        import cupy
        print(f"cupy       {cupy.__version__}, device {cupy.cuda.runtime.getDeviceProperties(0)['name']}")
        print(f"fast paths {'on' if backend.GPU_KERNELS else 'off'} (GPU kernels for im2col, col2im, "
              f"Adam, GELU, LeakyReLU, BCE; {backend.FAST_PATHS_ENV}=0 turns them off)")
    print("digits     bundled (1,797 images)")
    for kind in ("mnist", "fashion"):
        found = [d for d in search_dirs(kind) if any(d.glob("*labels-idx1-ubyte*"))]
        hint = "not found (add --download to `scratchgen train`, or --root DIR)"
        if kind == "fashion":
            hint += "; on Debian: apt-get install dataset-fashion-mnist"
        print(f"{kind:<10} {found[0] if found else hint}")
    print(f"lessons    {lessons.folder()}")


# --------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, like every other error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..data.registry import NAMES
    from ..data.text import TEXT_SETS
    from ..models import MODELS
    parser = _Parser(prog="scratchgen", description="Generative models built from nothing.")
    parser.add_argument("--version", action="version", version=f"scratchgen {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model; writes a run folder")
    train.add_argument("model", choices=sorted(MODELS))
    train.add_argument("--data", choices=NAMES + TEXT_SETS,
                       help="data set (default: the model's own)")
    train.add_argument("--text", metavar="FILE",
                       help="charlm: train on this UTF-8 text file instead of Shakespeare")
    train.add_argument("--iters", type=ITERS, help="charlm: training iterations (default 2000)")
    train.add_argument("--root", help="folder holding the MNIST/Fashion-MNIST IDX files "
                                      "(only this folder is searched)")
    train.add_argument("--download", action="store_true",
                       help="fetch MNIST/Fashion-MNIST from the official mirrors if missing")
    train.add_argument("--epochs", type=EPOCHS, help="passes over the data (default: the recipe's)")
    train.add_argument("--batch-size", type=BATCH_SIZE)
    train.add_argument("--lr", type=LEARNING_RATE, help="learning rate")
    train.add_argument("--seed", type=SEED, help="random seed (default 0)")
    train.add_argument("--beta", type=BETA,
                       help="VAEs: the weight of the KL term (beta-VAE; default 1, the ELBO)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out (--epochs may extend it)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    sample = sub.add_parser("sample", help="draw samples from a trained run into a PNG")
    sample.add_argument("run_dir")
    sample.add_argument("--n", type=N_SAMPLE, help="how many (default 64 images, 1 text)")
    sample.add_argument("--seed", type=SEED, default=0)
    sample.add_argument("--label", type=LABEL,
                        help="class to generate (conditional models, cgan and cvae: 0..9)")
    sample.add_argument("--out", help="file to write (default RUN_DIR/figures/samples_cli.png)")
    sample.add_argument("--prompt", help="charlm: the text to continue (default a newline)")
    sample.add_argument("--temperature", type=TEMPERATURE, default=1.0,
                        help="charlm: < 1 sharper, > 1 flatter (default 1)")
    sample.add_argument("--top-k", type=TOP_K, help="charlm: draw only from the k likeliest")
    sample.add_argument("--length", type=LENGTH, default=500, help="charlm: characters to add")
    sample.set_defaults(func=_sample)

    ev = sub.add_parser("eval", help="print a trained run's metrics, beside real data's")
    ev.add_argument("run_dir")
    ev.add_argument("--n", type=N_EVAL, default=2500, help="samples to draw (default 2500)")
    ev.add_argument("--k", type=K_IWAE, default=50, help="importance samples for IWAE (default 50)")
    ev.add_argument("--root", help="folder holding the MNIST/Fashion-MNIST IDX files")
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.set_defaults(func=_eval)

    lessons = sub.add_parser("lessons", help="list the lessons; run one; make a notebook of one")
    lessons.set_defaults(func=_lessons, action=None)
    what = lessons.add_subparsers(dest="action", parser_class=_Parser, metavar="ACTION")
    run = what.add_parser("run", help="run lesson N (or --all)")
    run.add_argument("number", nargs="?", type=lesson_number)
    run.add_argument("--all", action="store_true", help="every lesson, in order")
    run.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    run.add_argument("--figures", help="folder for the figures (default: a temporary folder; "
                                       "`--all --figures figures/` regenerates the committed ones)")
    notebook = what.add_parser("notebook", help="write lesson N as a Jupyter notebook")
    notebook.add_argument("number", type=lesson_number)
    notebook.add_argument("--out", help="the .ipynb to write (default NN_topic.ipynb here)")

    info = sub.add_parser("info", help="backend, versions, data sets and lessons found")
    info.set_defaults(func=_info)
    return parser


def _check(parser, args) -> None:
    """Mistakes argparse cannot see alone: option combinations."""
    if args.command == "lessons" and args.action == "run" and (args.number is None) != args.all:
        parser.error("lessons run needs a lesson number or --all (one of them; "
                     "`scratchgen lessons` lists the lessons)")
    if args.command == "train" and args.resume:
        if not args.out:
            parser.error("--resume needs --out RUN_DIR, the run to continue")
        given = [f"--{k.replace('_', '-')}" for k in ("batch_size", "lr", "seed", "beta")
                 if getattr(args, k) is not None]
        if given:
            parser.error(f"{', '.join(given)} cannot change when resuming a run "
                         "(it continues with its own settings; --epochs may extend it)")


def main(argv=None) -> int:
    from ..backend import BackendError
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:   # bare `scratchgen`: what can I do?
        parser.print_help()
        return 0
    _check(parser, args)
    try:
        # NumPy's overflow/invalid-value warnings on the way to a NaN are
        # noise here: the loop's divergence check says it, in one line
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            args.func(args)
    except (ValueError, OSError, BackendError) as exc:  # bad input; bugs keep their traceback
        print(f"scratchgen: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{_fresh_line()}scratchgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
