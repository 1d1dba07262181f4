"""Training runs of the character model: iterations over random windows.

The image models train in epochs over a fixed set of examples
(:mod:`.training`).  A language model's corpus is one long string, and an
example is any window of it, so the loop counts *iterations*: each draws
``batch_size`` windows at random offsets (nanoGPT's ``get_batch``), sets
the learning rate of the warm-up + cosine schedule for that iteration,
and takes one AdamW step with gradient clipping.  Every ``eval_interval``
iterations it estimates the training and validation losses (mean over
``eval_batches`` random batches each, as nanoGPT), in nats per character.

The run folder is the image runs' (``config.json``, ``checkpoint.npz``,
``losses.csv``, ``figures/``) plus ``samples.txt``; ``models.load`` reads it
the same way.  Resuming restores the weights, AdamW's moments, the
iteration and the window generator's state, so a resumed run draws the
same windows an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np  # host side: window offsets are drawn on the host

from .. import backend
from ..autograd import no_grad
from ..data.text import TextDataset, load_text_dataset, random_windows
from ..models import CHECKPOINT, CONFIG, MODELS
from ..models.charlm import warmup_cosine_lr
from ..serialization import load, save
from .progress import Progress
from .training import (FIGURES, LOG_EVERY, LOSSES, DivergenceError, _ctrl_c_between_steps,
                       _history_csv, _to_host, _write_text_atomic)


@dataclass
class TextRunConfig:
    """nanoGPT's CPU run of ``shakespeare_char`` by default."""
    model: str = "charlm"
    data: str = "shakespeare"       # "shakespeare" or the path of a UTF-8 text file
    iters: int = 2000
    batch_size: int = 12
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    eval_interval: int = 250
    eval_batches: int = 20
    checkpoint_every: int = 500
    model_args: dict = field(default_factory=dict)


def read_text_config(run_dir) -> TextRunConfig:
    path = Path(run_dir) / CONFIG
    try:
        return TextRunConfig(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid character-model run config ({exc})") from None


def is_text_run(run_dir) -> bool:
    """Whether ``run_dir`` holds a character-model run (a config that cannot
    be read is not one: the reader that follows names what is wrong)."""
    path = Path(run_dir) / CONFIG
    try:
        return json.loads(path.read_text()).get("model") == "charlm"
    except (OSError, ValueError, AttributeError):
        return False


class TextRun:
    """A character model with its optimizer and corpus, bound to a run folder."""

    def __init__(self, config: TextRunConfig, run_dir, data: TextDataset | None = None):
        self.config, self.dir = config, Path(run_dir)
        self.data = data if data is not None else load_text_dataset(config.data)
        backend.manual_seed(config.seed)
        self.model = MODELS[config.model](**config.model_args)
        self.optimizer = self.model.make_optimizers(config.lr, config.weight_decay)
        self.windows = np.random.default_rng(config.seed)
        self.eval_windows = np.random.default_rng(config.seed + 1)
        self.step, self.history, self.evals = 0, [], []

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizer.items()},
                "windows": self.windows.bit_generator.state,
                "eval_windows": self.eval_windows.bit_generator.state,
                "rng": backend.get_rng_state(), "step": self.step, "history": self.history,
                "evals": self.evals}

    def save_checkpoint(self) -> None:
        save(self.state_dict(), self.dir / CHECKPOINT)
        _write_text_atomic(self.dir / LOSSES, _history_csv(self.history))

    def load_checkpoint(self) -> None:
        state = load(self.dir / CHECKPOINT)
        self.model.load_state_dict(state["model"])
        for name, opt in self.optimizer.items():
            opt.load_state_dict(state["optimizers"][name])
        self.windows.bit_generator.state = state["windows"]
        self.eval_windows.bit_generator.state = state["eval_windows"]
        backend.set_rng_state(state["rng"])
        self.step, self.history = int(state["step"]), list(state["history"])
        self.evals = list(state["evals"])

    def estimate_loss(self, tokens) -> float:
        """Mean loss over ``eval_batches`` random batches (nanoGPT's estimate)."""
        c, block = self.config, self.model.block_size
        with no_grad():  # summed on the device: one copy to the host, not one per batch
            total = sum(self.model.loss(*random_windows(tokens, block, c.batch_size,
                                                        self.eval_windows))
                        for _ in range(c.eval_batches))
        return float(total) / c.eval_batches

    def _evaluate(self) -> None:
        row = {"step": self.step, "train": self.estimate_loss(self.data.train),
               "val": self.estimate_loss(self.data.val)}
        self.evals.append(row)

    def fit(self, progress: bool = True) -> None:
        c = self.config
        opt = self.optimizer["model"]
        pending = []  # (iteration, loss on the device, lr) since the last log
        with _ctrl_c_between_steps() as stop_if_pressed, \
                Progress(c.iters, f"charlm on {Path(c.data).name}", initial=self.step,
                         unit="iter", enabled=progress) as bar:
            self.model.train()
            try:
                while self.step < c.iters:
                    if self.step % c.eval_interval == 0:
                        self._evaluate()
                    lr = warmup_cosine_lr(self.step, c.lr, c.min_lr, c.warmup, c.iters)
                    batch = random_windows(self.data.train, self.model.block_size,
                                           c.batch_size, self.windows)
                    stats = self.model.train_step(batch, {"model": opt}, lr=lr, clip=c.clip)
                    self.step += 1
                    pending.append((self.step, stats["loss"], lr))
                    bar.update(1)
                    if self.step % LOG_EVERY == 0 or self.step % c.checkpoint_every == 0:
                        self._log(pending, bar)
                    if self.step % c.checkpoint_every == 0:
                        self.save_checkpoint()
                    stop_if_pressed()
            except KeyboardInterrupt:
                self._log(pending, bar)
                self.save_checkpoint()
                raise
            self._log(pending, bar)
        if not self.evals or self.evals[-1]["step"] != self.step:
            self._evaluate()
        self.save_checkpoint()
        self.model.eval()


    def _log(self, pending: list, bar) -> None:
        """The losses since the last log, copied to the host at once (one
        wait for the device, not one per iteration) into the history; a loss
        that is not finite stops the run before anything is saved."""
        if not pending:
            return
        losses = _to_host([loss for _, loss, _ in pending])
        for (step, _, lr), loss in zip(pending, losses):
            if not math.isfinite(loss):   # stop; the last checkpoint stays
                raise DivergenceError(
                    f"training diverged: loss = {loss} at iteration {step}; the last "
                    f"checkpoint in {self.dir} is kept. Try a smaller --lr "
                    f"(this run: {self.config.lr:g})")
            self.history.append({"step": step, "loss": loss, "lr": lr})
        pending.clear()
        bar.set_postfix({"loss": losses[-1], "val": self.evals[-1]["val"]})


def start(config: TextRunConfig, run_dir) -> TextRun:
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT).exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out folder")
    data = load_text_dataset(config.data, min_length=config.model_args.get("block_size", 64) + 1)
    config.model_args = {"vocab": data.vocab.chars, **config.model_args}
    run = TextRun(config, run_dir, data)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(run_dir / CONFIG, json.dumps(asdict(config), indent=2) + "\n")
    return run


def resume(run_dir, iters=None) -> TextRun:
    config = read_text_config(run_dir)
    if not (Path(run_dir) / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT} to resume from")
    if iters is not None:
        config.iters = iters
    run = TextRun(config, run_dir)
    run.load_checkpoint()
    return run


def write_outputs(run: TextRun, seed: int = 0) -> list:
    """The loss curves (training loss per iteration, estimates at each
    evaluation) and samples at three temperatures, in ``samples.txt``."""
    from .plot import text_loss_curves
    paths = [text_loss_curves(run.history, run.evals, run.dir / FIGURES / "losses.png",
                              title=f"charlm on {Path(run.config.data).name}")]
    backend.manual_seed(seed)
    text = "".join(f"--- temperature {t}, top-k 40 ---\n"
                   f"{run.model.sample(1, length=500, prompt=chr(10), temperature=t, top_k=40)[0]}\n"
                   for t in (0.5, 0.8, 1.0))
    _write_text_atomic(run.dir / "samples.txt", text)
    return paths + [run.dir / "samples.txt"]
