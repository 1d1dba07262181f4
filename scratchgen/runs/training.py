"""Training runs: one folder per run, a short loop, checkpoints, exact resume.

A run folder holds everything about one training run::

    config.json      what was trained, on what, with which settings
    checkpoint.npz   model, optimizers, data-loader position, RNG state, step,
                     loss history (written atomically by ``sg.save``)
    losses.csv       one row per step
    figures/         samples and loss curves, written at the end

The loop is deliberately plain: each model knows how to take one training
step (``model.train_step(batch, optimizers)``, returning its losses); the loop
feeds it batches, shows a progress bar with the live losses, and saves a
checkpoint every ``checkpoint_every`` steps, at the end, and on Ctrl-C.
Ctrl-C is held until the current step ends: a step cut in half (a GAN whose
discriminator has stepped but not its generator, noise drawn but not used)
could not be resumed exactly, so the checkpoint is always between steps.

Resuming restores *all* the state that the next step depends on: parameters,
optimizer moments, the data order (the loader replays the interrupted
epoch's permutation and skips the batches already seen) and the random
generator (noise draws).  So a resumed run equals an uninterrupted one, bit
for bit on the CPU (a test checks it).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np  # host side: checkpoints hold host arrays

from .. import backend
from ..atomic import atomic_path
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..data import DataLoader
from ..data.registry import Dataset, load_dataset
from ..models import CHECKPOINT, CONFIG, MODELS
from ..serialization import load, save
from .progress import Progress

LOSSES, FIGURES = "losses.csv", "figures"
#: the noise seed of the per-epoch sample grids of image models, and how
#: many grids a run writes at most
EPOCH_SAMPLE_SEED, MAX_EPOCH_GRIDS = 1234, 20
#: steps between two transfers of the losses to the host (and checks that
#: they are finite); a checkpoint always logs first
LOG_EVERY = 20


class DivergenceError(ValueError):
    """A loss (or a weight) stopped being finite: the run cannot go on."""


def _to_host(values) -> list:
    """Python floats of one loss over a log interval: one transfer for all
    the steps when the model returned device tensors."""
    if all(isinstance(v, Tensor) for v in values):
        stacked = backend.xp.stack([v.data.reshape(()) for v in values])
        return backend.to_numpy(stacked).astype(float).tolist()
    return [float(v) for v in values]


@dataclass
class RunConfig:
    model: str
    data: str
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    model_args: dict = field(default_factory=dict)
    checkpoint_every: int = 500
    #: the last share of training over which the learning rate falls linearly
    #: to 0 (0: constant).  For GANs this turns a generator that hovers
    #: around the data into one that settles on it.
    lr_decay: float = 0.0


def _write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_config(run_dir) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {CONFIG}); "
                                "make one with `scratchgen train MODEL --out DIR`")
    try:
        return RunConfig(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid run config ({exc})") from None


class Run:
    """A model with its optimizers and data, bound to a run folder."""

    def __init__(self, config: RunConfig, run_dir, dataset: Dataset | None = None):
        self.config, self.dir = config, Path(run_dir)
        self.dataset = dataset if dataset is not None else load_dataset(config.data, "train")
        backend.manual_seed(config.seed)
        self.model = MODELS[config.model](**config.model_args)
        self.optimizers = self.model.make_optimizers(config.lr)
        arrays = self.dataset.x if self.dataset.y is None else (self.dataset.x, self.dataset.y)
        self.loader = DataLoader(arrays, config.batch_size, shuffle=True, drop_last=True,
                                 seed=config.seed)
        if len(self.loader) == 0:
            raise ValueError(f"batch_size {config.batch_size} is larger than the data set "
                             f"({len(self.dataset.x)} examples): an epoch would have no steps")
        self.step, self.history = 0, []
        self._loader_state = self.loader.state_dict()
        #: each step's losses (floats, or one-element tensors still on the
        #: device) since the last log; the step of the last checkpoint saved
        self._pending, self._saved_step, self._progress = [], None, None

    # -- checkpoints ----------------------------------------------------
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "loader": self._loader_state, "rng": backend.get_rng_state(),
                "step": self.step, "history": self.history}

    def save_checkpoint(self) -> None:
        """Save, unless the run has diverged: a checkpoint only ever holds
        finite weights and the losses of every step up to it."""
        self._log()
        self._check_parameters()
        save(self.state_dict(), self.dir / CHECKPOINT)
        _write_text_atomic(self.dir / LOSSES, _history_csv(self.history))
        self._saved_step = self.step

    def load_checkpoint(self) -> None:
        state = load(self.dir / CHECKPOINT)
        self.model.load_state_dict(state["model"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.loader.load_state_dict(state["loader"])
        self._loader_state = self.loader.state_dict()
        backend.set_rng_state(state["rng"])
        self.step, self.history = int(state["step"]), list(state["history"])
        self._saved_step = self.step

    # -- the loop -------------------------------------------------------
    def _set_lr(self, total: int) -> None:
        """lr for the coming step: constant, then (``lr_decay``) a straight
        line down to 0 at the last step.  A function of the step alone, so a
        resumed run needs no scheduler state."""
        decay_steps = self.config.lr_decay * total
        remaining = total - self.step
        factor = min(1.0, remaining / decay_steps) if decay_steps > 0 else 1.0
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = self.config.lr * factor

    def fit(self, progress: bool = True) -> None:
        """Train to ``config.epochs``.  Raises :class:`DivergenceError` (and
        saves nothing more) when a loss stops being finite."""
        total = self.config.epochs * len(self.loader)
        with _ctrl_c_between_steps() as stop_if_pressed, \
                Progress(total, f"{self.config.model} on {self.config.data}", initial=self.step,
                         enabled=progress) as self._progress:
            self.model.train()
            try:
                while self.loader.epoch < self.config.epochs:
                    for batch in self.loader:
                        self._set_lr(total)
                        self._pending.append(self.model.train_step(batch, self.optimizers))
                        self.step += 1
                        # the loader's position after the last *finished* step: a
                        # step cut short has taken its batch but not learnt from it
                        self._loader_state = self.loader.state_dict()
                        self._progress.update(1)
                        if self.step % self.config.checkpoint_every == 0:
                            self.save_checkpoint()
                        elif self.step % LOG_EVERY == 0:
                            self._log()
                        stop_if_pressed()
                    self._log()   # a diverged run draws no grid
                    # a grid per epoch; at most about 20 grids in a long run
                    every = -(-self.config.epochs // MAX_EPOCH_GRIDS)
                    if self.dataset.is_image and (self.loader.epoch % every == 0
                                                  or self.loader.epoch == self.config.epochs):
                        self.epoch_samples()
                self.save_checkpoint()
            except KeyboardInterrupt:
                self.save_checkpoint()
                raise
            except DivergenceError:
                self._discard_if_never_saved()
                raise
        self.model.eval()

    # -- losses: on the device until a log interval ends ------------------
    def _log(self) -> None:
        """Bring the losses of the steps since the last log to the host (one
        transfer per loss, not one per step: each would wait for the device),
        add them to the history and the progress display, and stop the run if
        one is not finite."""
        if not self._pending:
            return
        first = self.step - len(self._pending) + 1
        columns = {key: _to_host([losses[key] for losses in self._pending])
                   for key in self._pending[0]}
        self._pending = []
        for i in range(len(next(iter(columns.values())))):
            row = {key: values[i] for key, values in columns.items()}
            bad = {key: v for key, v in row.items() if not math.isfinite(v)}
            if bad:
                self._diverged(first + i, ", ".join(f"{k} = {v}" for k, v in bad.items()))
            self.history.append({"step": first + i, **row})
        if self._progress is not None:
            self._progress.set_postfix(row)

    def _diverged(self, step: int, what: str) -> None:
        saved = (f"the last good checkpoint (step {self._saved_step}) is kept in {self.dir}"
                 if self._saved_step is not None else "no checkpoint had been saved yet")
        raise DivergenceError(f"training diverged: {what} at step {step}; {saved}. "
                              f"Try a smaller --lr (this run: {self.config.lr:g})")

    def _check_parameters(self) -> None:
        """A step can leave NaN weights behind a finite loss (the update
        after it): never let them into a checkpoint."""
        for name, value in self.model.state_dict().items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                self._diverged(self.step, f"parameter {name} is not finite")

    def _discard_if_never_saved(self) -> None:
        """A fresh run that diverged before its first checkpoint leaves no
        half run folder behind (its config alone)."""
        if self._saved_step is None and not (self.dir / CHECKPOINT).exists():
            for name in (CONFIG, LOSSES):
                (self.dir / name).unlink(missing_ok=True)
            shutil.rmtree(self.dir / FIGURES, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.dir.rmdir()


    def epoch_samples(self, n: int = 60):
        """Write ``figures/epoch_NNN.png``: ``n`` samples of the model after
        the epoch just finished, from the same noise every epoch (seeded here),
        so the grids show one generator learning.  The training's random
        stream is put back afterwards: the samples change nothing, and a
        resumed run still equals an uninterrupted one."""
        from . import plot
        saved = backend.get_rng_state()
        backend.manual_seed(EPOCH_SAMPLE_SEED)
        try:
            self.model.eval()
            samples = self.model.sample(n).numpy()  # conditional: classes 0, 1, ... by column
        finally:
            self.model.train()
            backend.set_rng_state(saved)
        return plot.sample_grid(samples, self.dir / FIGURES / f"epoch_{self.loader.epoch:03d}.png",
                                nrow=10, title=f"{self.config.model}, epoch {self.loader.epoch}")


@contextlib.contextmanager
def _ctrl_c_between_steps():
    """Hold a Ctrl-C (SIGINT) until the running step ends; yields the check to
    call between steps, which raises the held KeyboardInterrupt.  A second
    Ctrl-C stops at once (for a step that hangs; its checkpoint may then be
    cut mid-step).  Outside the main thread signals cannot be caught, and a
    Ctrl-C lands wherever it lands."""
    pressed = []

    def hold(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)

    def stop_if_pressed():
        if pressed:
            raise KeyboardInterrupt

    installed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, hold) if installed else None
    try:
        yield stop_if_pressed
    finally:
        if installed:  # None: a handler set outside Python, so restore the default
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def _history_csv(history) -> str:
    if not history:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def start(config: RunConfig, run_dir, dataset=None) -> Run:
    """A new run in ``run_dir`` (refused if one is already there)."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT).exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out folder")
    run = Run(config, run_dir, dataset)   # bad settings fail here, before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(run_dir / CONFIG, json.dumps(asdict(config), indent=2) + "\n")
    return run


def resume(run_dir, epochs=None, dataset=None, model=None, data=None, root=None,
           download=False) -> Run:
    """The run saved in ``run_dir``, at its last checkpoint; ``epochs`` may
    extend it.  ``model`` and ``data``, when given, must be the run's own (a
    command naming another model must not quietly continue this one).
    ``dataset`` replaces the config's named one (pass the one the run was
    started with, if it was not a named set); ``root`` and ``download`` say
    where to find a named one."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    for what, asked, own in (("model", model, config.model), ("data", data, config.data)):
        if asked is not None and asked != own:
            raise ValueError(f"{run_dir} holds a run of {what} {own!r}, not {asked!r}; continue "
                             f"it with `scratchgen train {config.model} --out {run_dir} --resume`, "
                             "or start a new run in another --out folder")
    if not (run_dir / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT} to resume from")
    if epochs is not None:
        config.epochs = epochs
    if dataset is None:
        dataset = load_dataset(config.data, "train", root=root, download=download)
    run = Run(config, run_dir, dataset)
    run.load_checkpoint()
    if run.step >= config.epochs * len(run.loader):
        raise ValueError(f"{run_dir} has already trained {config.epochs} epochs ({run.step} steps); "
                         "pass a larger --epochs to train it further")
    return run


def write_figures(run: Run) -> list:
    """Samples (over the data for 2-D sets) and loss curves."""
    from . import plot
    folder = run.dir / FIGURES
    model, data = run.model, run.dataset
    paths = [plot.loss_curves({k: [row[k] for row in run.history] for k in run.history[0]
                               if k != "step"}, folder / "losses.png",
                              title=f"{run.config.model} on {run.config.data}",
                              smooth=max(1, len(run.history) // 100))] if run.history else []
    samples = model.sample(2500 if not data.is_image else 64).numpy()
    if data.is_image:
        paths.append(plot.sample_grid(samples, folder / "samples.png", title="samples"))
    else:
        paths.append(plot.scatter_2d(samples, folder / "samples.png", data=data.x[:5000],
                                     centers=data.centers, title="samples over the data"))
    if hasattr(model, "reconstruct") and data.is_image:   # the VAEs
        labels = data.y[:8] if getattr(model, "n_classes", 0) else None
        recon = model.reconstruct(tensor(data.x[:8]), labels).numpy()
        paths.append(plot.reconstructions(data.x[:8], recon, folder / "reconstructions.png"))
        if model.latent_dim == 2 and labels is None:
            decode = lambda z: model.decode(tensor(z)).numpy()  # noqa: E731
            with no_grad():
                paths.append(plot.latent_manifold(decode, folder / "latent_manifold.png"))
    return paths
