"""Learning-rate schedules: change ``lr`` as training goes on.

A large learning rate makes fast progress early; near a minimum it makes
the iterates bounce around it, and a smaller one lets them settle.  A
scheduler rewrites ``group["lr"]`` in every parameter group of an optimizer
each time its ``step()`` is called (once per epoch, after the optimizer's
steps):

=====================  ======================================================
``StepLR``             lr_e = lr_0 * gamma^floor(e / step_size): drops by
                       gamma every step_size epochs.
``MultiStepLR``        drops by gamma at each of the given milestones.
``ExponentialLR``      lr_e = lr_0 * gamma^e: a steady decay.
``LinearLR``           lr_e = lr_0 * f_e, f going linearly from start_factor
                       to end_factor over total_iters epochs (a warm-up).
``CosineAnnealingLR``  lr_e = eta_min + (lr_0 - eta_min)(1 + cos(pi e/T_max))/2:
                       half a cosine from lr_0 down to eta_min.
``LambdaLR``           lr_e = lr_0 * lr_lambda(e), any function of the epoch.
``SequentialLR``       one schedule after another, switching at milestones.
=====================  ======================================================

As in PyTorch, all but LambdaLR are computed *recursively*, from the
current ``group["lr"]`` (e.g. multiplying it by ``gamma`` at the epochs
where the closed form drops), so the rates agree with PyTorch's to the last
bit, and a change made to ``group["lr"]`` by hand (or by another scheduler)
is carried along.  The first rate ``lr_0`` is kept in
``group["initial_lr"]``; ``last_epoch`` counts the calls to ``step()``,
starting at 0 when the scheduler is made.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter


class LRScheduler:
    """Base class: subclasses say by what factor ``lr`` changes at ``last_epoch``."""

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param_groups[{i}] has no 'initial_lr', which resuming a "
                                   f"schedule at last_epoch={last_epoch} needs: load the "
                                   "optimizer's state dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # epoch 0: the rates as they are

    def _factor(self) -> float:
        """How much ``lr`` is multiplied by on arriving at ``self.last_epoch``."""
        raise NotImplementedError

    def _lrs(self) -> list:
        """The rates at ``self.last_epoch``, one per group (by default the
        current ones times ``_factor()``)."""
        factor = self._factor()
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _first_lrs(self) -> list:
        """The rates at epoch 0, from ``base_lrs`` (where SequentialLR
        restarts a schedule)."""
        return list(self.base_lrs)

    def step(self) -> None:
        self.last_epoch += 1
        self._set(self._lrs())

    def _restart(self) -> None:
        """Go back to epoch 0 (SequentialLR, at a milestone)."""
        self.last_epoch = 0
        self._set(self._first_lrs())

    def _set(self, lrs) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The learning rates (one per group) that the last ``step()`` set."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (its own state dict holds the rates)."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        expected = set(self.state_dict())
        if set(state_dict) != expected or len(state_dict["base_lrs"]) != len(self.base_lrs):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected the keys {sorted(expected)} "
                f"with {len(self.base_lrs)} base_lrs, got {sorted(state_dict)}"
                + (f" with {len(state_dict['base_lrs'])} base_lrs" if "base_lrs" in state_dict
                   else ""))
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v)
                              for k, v in state_dict.items()})


class StepLR(LRScheduler):
    """Multiply ``lr`` by ``gamma`` every ``step_size`` epochs:
    ``lr_e = initial_lr * gamma ** (e // step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float:
        drops = self.last_epoch > 0 and self.last_epoch % self.step_size == 0
        return self.gamma if drops else 1.0


class ExponentialLR(LRScheduler):
    """Multiply ``lr`` by ``gamma`` every epoch: ``lr_e = initial_lr * gamma ** e``."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float:
        return self.gamma if self.last_epoch > 0 else 1.0


class MultiStepLR(LRScheduler):
    """Multiply ``lr`` by ``gamma`` at each epoch in ``milestones`` (a
    milestone listed twice drops twice): ``lr_e = initial_lr * gamma **
    (number of milestones <= e)``."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float:
        return self.gamma ** self.milestones[self.last_epoch] if self.last_epoch > 0 else 1.0

    def state_dict(self) -> dict:
        # string keys: sg.save stores dicts with string keys only
        return dict(super().state_dict(), milestones={str(k): v for k, v in self.milestones.items()})

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(k): v for k, v in self.milestones.items()})


class LinearLR(LRScheduler):
    """Scale ``lr`` by a factor that goes linearly from ``start_factor`` (at
    epoch 0) to ``end_factor`` (at ``total_iters`` and after): a warm-up.
    Recursively, as PyTorch: the ratio of the factors of two epochs."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in "
                             f"[0, 1], got {start_factor} and {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _factor(self) -> float:
        if self.last_epoch == 0:
            return self.start_factor
        if self.last_epoch > self.total_iters:
            return 1.0
        # f_e / f_(e-1) with f_e = start + (end - start) e / total_iters
        slope = self.end_factor - self.start_factor
        return 1.0 + slope / (self.total_iters * self.start_factor
                              + (self.last_epoch - 1) * slope)

    def _first_lrs(self) -> list:
        return [lr * self.start_factor for lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``initial_lr`` down to ``eta_min`` over ``T_max``
    epochs (then back up, and so on):

        lr_e = eta_min + (lr_0 - eta_min) (1 + cos(pi e / T_max)) / 2

    computed as PyTorch does, recursively from the current rate:
    ``lr_e - eta_min = (lr_(e-1) - eta_min) (1 + cos(pi e/T)) / (1 + cos(pi (e-1)/T))``,
    with an additive step where that ratio would be 0/0 (the bottom)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _lrs(self) -> list:
        e, t, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if e == 0:
            return [group["lr"] for group in groups]
        if (e - 1 - t) % (2 * t) == 0:
            return [group["lr"] + (base - lo) * (1 - math.cos(math.pi / t)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (group["lr"] - lo) + lo for group in groups]


class LambdaLR(LRScheduler):
    """``lr_e = initial_lr * lr_lambda(e)``: any schedule written as a
    function of the epoch (one function, or a list with one per group).
    The functions are not saved in ``state_dict`` (PyTorch saves only
    callable objects); pass them again when resuming."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) \
            else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ValueError(f"LambdaLR: {len(self.lr_lambdas)} lr_lambdas for {n} parameter "
                             "groups; pass one function, or one per group")
        super().__init__(optimizer, last_epoch)

    def _lrs(self) -> list:
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    _first_lrs = _lrs  # called with last_epoch = 0

    def state_dict(self) -> dict:
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``
    from its epoch 0, and so on (e.g. a LinearLR warm-up, then cosine
    annealing).  The schedulers must drive this optimizer; each has already
    stepped once when it was made, which this one undoes, as PyTorch does."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers, milestones = list(schedulers), [int(m) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {milestones}")
        for i, sched in enumerate(schedulers):
            if sched.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] drives another optimizer")
        self.optimizer, self._schedulers, self._milestones = optimizer, schedulers, milestones
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for sched in schedulers:
            sched.last_epoch -= 1
        schedulers[0].step()  # epoch 0 of the first schedule
        self.base_lrs = schedulers[0].base_lrs
        self._last_lr = schedulers[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            sched._restart()
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones),
                "_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict) -> None:
        if len(state_dict.get("_schedulers", ())) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: expected the states of "
                             f"{len(self._schedulers)} schedulers")
        for sched, state in zip(self._schedulers, state_dict["_schedulers"]):
            sched.load_state_dict(state)
        self.last_epoch = state_dict["last_epoch"]
        self._milestones = list(state_dict["_milestones"])
        self._last_lr = list(state_dict["_last_lr"])
