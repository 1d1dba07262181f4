"""Progress for anything slow, shown the way its reader will see it.

On a terminal: a live tqdm bar on stderr, redrawn in place.  In a log file
or a pipe there is no "in place": tqdm would append a copy of the bar at
every redraw (a line per step, hundreds of kilobytes for a short run), so
there :class:`Progress` writes a plain line when it starts and at each tenth
of the way, and one at the end: at most a dozen lines, each complete.
"""
from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "vae on digits") as p: ... p.update(1)``;
    ``p.set_postfix({"loss": 0.1})`` shows the latest numbers."""

    def __init__(self, total: int, desc: str, initial: int = 0, unit: str = "step",
                 enabled: bool = True, stream=None):
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.done, self.postfix = initial, {}
        self.stream = stream or sys.stderr
        self._bar = None
        if enabled and self.stream.isatty():
            from tqdm.auto import tqdm
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream)
        elif enabled:
            self._start, self._next_tenth = time.monotonic(), self._tenth(initial) + 1
            self._line()

    def _tenth(self, done: int) -> int:
        return 10 * done // self.total if self.total else 10

    def _line(self) -> None:
        elapsed = time.monotonic() - self._start
        numbers = "".join(f", {k}={v}" for k, v in self.postfix.items())
        share = f" ({100 * self.done // self.total}%)" if self.total else ""
        # one write with its newline: a Ctrl-C cannot split the line from its end
        self.stream.write(f"{self.desc}: {self.unit} {self.done:,}/{self.total:,}{share}, "
                          f"{elapsed:.0f} s{numbers}\n")
        self.stream.flush()
        self._printed = self.done

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and self._tenth(self.done) >= self._next_tenth:
            self._next_tenth = self._tenth(self.done) + 1
            self._line()

    def set_postfix(self, values: dict) -> None:
        self.postfix = {k: f"{v:.4g}" for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.postfix)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.done != self._printed:
            self._line()   # stopped between tenths (Ctrl-C, an error): say where

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
