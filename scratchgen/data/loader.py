"""DataLoader: cut host arrays into mini-batches, one epoch at a time.

Training sees the data in small batches, and, so that consecutive gradient
steps are not correlated, in a new random order every epoch.  The loader
keeps the whole data set on the host (NumPy) and puts only the current
batch on the backend (``sg.tensor``), so a GPU holds one batch at a time.

The shuffling uses the loader's own NumPy ``Generator``, not the global
scratchgen one: drawing a model's noise never changes the data order, and
the order is reproducible from ``seed``.  :meth:`DataLoader.state_dict`
records the generator and the position in the current epoch, so training
resumed from a checkpoint sees exactly the batches it would have seen.
"""
from __future__ import annotations

import math

import numpy as np


class DataLoader:
    """Iterate over ``arrays`` in batches of ``batch_size`` rows.

    ``arrays`` is one array or a tuple of arrays with the same first
    dimension (e.g. ``(images, labels)``).  A tuple yields tuples of batches,
    a single array yields single batches.  The batches are scratchgen
    Tensors (``to_tensor=False``: NumPy arrays).  ``shuffle=True`` draws a
    new permutation each epoch; ``drop_last=True`` skips a final batch that
    would be smaller than ``batch_size``.
    """

    def __init__(self, arrays, batch_size: int = 64, shuffle: bool = False,
                 drop_last: bool = False, seed=None, to_tensor: bool = True):
        self.single = not isinstance(arrays, (tuple, list))
        self.arrays = tuple(np.asarray(a) for a in ((arrays,) if self.single else arrays))
        if not self.arrays:
            raise ValueError("DataLoader needs at least one array")
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError("all arrays must have the same length (first dimension); "
                             f"got {lengths}")
        if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
        self.n = lengths[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.to_tensor = to_tensor
        self.rng = np.random.default_rng(seed)
        self.epoch = 0            # epochs completed
        self._batch = 0           # batches handed out in the current epoch
        self._epoch_rng = None    # generator state before this epoch's shuffle
        self._resume_at = 0       # set by load_state_dict, used by the next iter

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        start, self._resume_at = self._resume_at, 0
        self._epoch_rng = self.rng.bit_generator.state
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        convert = self._converter()
        for b in range(start, len(self)):
            rows = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = tuple(convert(a[rows]) for a in self.arrays)
            self._batch = b + 1
            yield batch[0] if self.single else batch
        self.epoch += 1
        self._batch = 0

    def _converter(self):
        if not self.to_tensor:
            return lambda a: a
        from ..creation import tensor
        return tensor

    def state_dict(self) -> dict:
        """Where the loader is: epochs completed, batches taken from the current
        one, and the generator state that replays its order (plain Python
        data, so ``sg.save`` can store it)."""
        if 0 < self._batch < len(self):
            return {"epoch": self.epoch, "batch": self._batch, "rng": self._epoch_rng}
        # Between epochs.  Right after the last batch the loop has not ended,
        # so __iter__ has not counted the epoch yet: count it here.
        last_taken = self._batch > 0 and self._batch == len(self)
        return {"epoch": self.epoch + last_taken, "batch": 0,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`: the next ``iter`` replays the
        interrupted epoch's order and skips the batches already taken."""
        self.epoch = int(state["epoch"])
        self._batch = self._resume_at = int(state["batch"])
        self._epoch_rng = state["rng"]
        self.rng.bit_generator.state = state["rng"]
