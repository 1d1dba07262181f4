"""Small helpers every lesson shares: the ``--quick`` flag and where figures go.

Lessons are plain scripts, run from anywhere (``python lessons/01_...py``) or
opened as notebooks; both ways put this folder on ``sys.path``, so a lesson
says ``from _common import parse_args, savefig``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from scratchgen.atomic import atomic_path

#: The repository's ``figures/`` folder, found from this file (not from the
#: working directory), unless ``$SCRATCHGEN_FIGURES`` names another one; the
#: tests set it so that a smoke run never overwrites the committed figures.
FIGURES = Path(os.environ.get("SCRATCHGEN_FIGURES")
               or Path(__file__).resolve().parent.parent / "figures")


def parse_args(description: str) -> argparse.Namespace:
    """``--quick``: a seconds-long smoke run (smaller sizes, fewer steps).

    Unknown arguments are ignored, so the same cell runs inside Jupyter,
    whose kernel passes its own ``-f connection.json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke run, as the tests do")
    return parser.parse_known_args()[0]


def savefig(fig, name: str) -> Path:
    """Write a matplotlib figure to ``FIGURES / name`` and say where."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    with atomic_path(path, suffix=path.suffix) as tmp:  # all of the figure, or the old one
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")
    return path
