"""Small helpers every lesson shares: its flags and where figures go.

Lessons are plain scripts, run from anywhere (``python lessons/01_...py``) or
opened as notebooks; both ways put this folder on ``sys.path``, so a lesson
says ``from _common import parse_args, savefig``.

Figures go to ``--figures DIR`` when a run is given one, else to
``$SCRATCHGEN_FIGURES``, else to a temporary folder (printed with each
figure): running a lesson never overwrites the committed ``figures/``.
Regenerating those is one explicit command, from the checkout:
``scratchgen lessons run --all --figures figures/``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from scratchgen.atomic import atomic_path


def _parser(description: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke run, as the tests do")
    parser.add_argument("--figures", metavar="DIR",
                        help="folder for the figures (default: $SCRATCHGEN_FIGURES, else a "
                             "temporary folder; `--figures figures/` rewrites the committed ones)")
    return parser


def host_values(values):
    """Losses a training step returned, as one host NumPy array.

    ``model.train_step`` leaves its losses on the device (0-d tensors): a
    ``float()`` of each, every step, would make a GPU stop and wait for the
    step to finish.  Stacking them first costs one copy for all of them."""
    import scratchgen as sg
    return sg.stack(list(values)).numpy()


def parse_args(description: str) -> argparse.Namespace:
    """``--quick``: a seconds-long smoke run (smaller sizes, fewer steps);
    ``--figures DIR``: where the figures go.

    Unknown arguments are ignored, so the same cell runs inside Jupyter,
    whose kernel passes its own ``-f connection.json``."""
    return _parser(description).parse_known_args()[0]


#: Where this run's figures go (read from the command line at import, so a
#: lesson can name a path before its arguments are parsed).
FIGURES = Path(_parser().parse_known_args()[0].figures
               or os.environ.get("SCRATCHGEN_FIGURES")
               or Path(tempfile.gettempdir()) / "scratchgen-figures")


def savefig(fig, name: str) -> Path:
    """Write a matplotlib figure to ``FIGURES / name`` and say where."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    with atomic_path(path, suffix=path.suffix) as tmp:  # all of the figure, or the old one
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")
    return path
