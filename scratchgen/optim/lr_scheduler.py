"""Learning-rate schedules: change ``lr`` as training goes on.

A large learning rate makes fast progress early; near a minimum it makes
the iterates bounce around it, and a smaller one lets them settle.  A
scheduler rewrites ``group["lr"]`` in every parameter group of an optimizer
each time its ``step()`` is called (once per epoch, after the optimizer's
steps):

=================  ==========================================================
``StepLR``         lr_e = lr_0 * gamma^floor(e / step_size): drops by gamma
                   every step_size epochs.
``ExponentialLR``  lr_e = lr_0 * gamma^e: a steady decay.
=================  ==========================================================

As in PyTorch, both are computed *recursively*, multiplying the current
``group["lr"]`` by ``gamma`` at the epochs where the closed form drops, so
the rates agree with PyTorch's to the last bit, and a change made to
``group["lr"]`` by hand (or by another scheduler) is carried along.  The
first rate ``lr_0`` is kept in ``group["initial_lr"]``; ``last_epoch`` counts
the calls to ``step()``, starting at 0 when the scheduler is made.
"""
from __future__ import annotations


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

    def step(self) -> None:
        self.last_epoch += 1
        factor = self._factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * factor
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
