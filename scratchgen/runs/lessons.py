"""The lessons as the command line sees them: find, run, make notebooks.

Where they are.  In a source checkout (and an editable install) the
``lessons/`` folder beside the package.  A regular ``pip install .`` copies
them as data files into ``<prefix>/share/scratchgen/lessons`` (see
``pyproject.toml``), found here through the installed distribution's file
list, so ``scratchgen lessons`` works without the checkout.

Figures.  A lesson writes its figures where it is told (``--figures DIR``);
left alone it writes into a temporary folder, so running a lesson never
overwrites the committed ``figures/``.  Regenerating those is one explicit
command: ``scratchgen lessons run --all --figures figures/``.

Notebooks.  A lesson is a script in the "percent" format: ``# %%`` starts a
code cell, ``# %% [markdown]`` a markdown cell whose lines are comments.
:func:`write_notebook` turns one into a Jupyter notebook (nbformat 4.5,
plain JSON, written by hand here: the format is a documented dict), with a
first cell that puts the lesson's folder on ``sys.path`` for its
``from _common import ...``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ..atomic import atomic_path

PATTERN = "[0-9][0-9]_*.py"
CHECKOUT = Path(__file__).resolve().parents[2] / "lessons"
INSTALLED = ("share", "scratchgen", "lessons")


def folder() -> Path:
    """The folder holding the lessons (raises, saying where it looked)."""
    if any(CHECKOUT.glob(PATTERN)):
        return CHECKOUT
    from importlib import metadata
    try:
        files = metadata.files("scratchgen") or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if tuple(file.parts[-4:-1]) == INSTALLED and file.name.endswith(".py"):
            return Path(file.locate()).parent
    raise FileNotFoundError(f"no lessons found: not in {CHECKOUT} (a source checkout) nor "
                            f"installed as {'/'.join(INSTALLED)} data files; reinstall with "
                            "`pip install .` from the scratchgen checkout, or run them from it")


def find() -> list[Path]:
    """Every lesson, in order."""
    return sorted(folder().glob(PATTERN))


def find_one(number: int) -> Path:
    matches = [p for p in find() if p.name.startswith(f"{number:02d}_")]
    if not matches:
        raise ValueError(f"there is no lesson {number}; `scratchgen lessons` lists them")
    return matches[0]


def run(path: Path, quick: bool = False, figures=None) -> None:
    """Run one lesson in a fresh interpreter, as a reader would."""
    command = [sys.executable, str(path)] + (["--quick"] if quick else [])
    if figures is not None:
        command += ["--figures", str(figures)]
    print(f"== {path.stem}{' (quick)' if quick else ''}", flush=True)
    status = subprocess.call(command, env={**os.environ, "MPLBACKEND": "Agg"})
    if status:
        raise ValueError(f"lesson {path.name} failed (exit status {status}); its output is above")


# --------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------
def cells(source: str) -> list[tuple[str, str]]:
    """``[(kind, text)]`` of a percent-format script: ``kind`` is
    ``"markdown"`` (comment marks removed) or ``"code"``."""
    found = []
    for block in re.split(r"^# %%", source, flags=re.MULTILINE)[1:]:
        header, _, body = block.partition("\n")
        if "[markdown]" in header:
            lines = [re.sub(r"^# ?", "", line) for line in body.splitlines()]
            found.append(("markdown", "\n".join(lines).strip("\n")))
        else:
            found.append(("code", body.strip("\n")))
    return [(kind, text) for kind, text in found if text.strip()]


def _cell(kind: str, text: str, index: int) -> dict:
    lines = text.splitlines(keepends=True)
    cell = {"cell_type": kind, "id": f"cell-{index}", "metadata": {}, "source": lines}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook(path: Path) -> dict:
    """The nbformat-4 notebook of the lesson at ``path``, as a dict."""
    setup = ("# where the lesson's helpers (_common.py) live\n"
             f"import sys\nsys.path.insert(0, {str(path.resolve().parent)!r})")
    parts = cells(path.read_text(encoding="utf-8"))
    parts.insert(1 if parts and parts[0][0] == "markdown" else 0, ("code", setup))
    return {"cells": [_cell(kind, text, i) for i, (kind, text) in enumerate(parts)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write_notebook(path: Path, out) -> Path:
    out = Path(out)
    if out.suffix != ".ipynb":
        raise ValueError(f"--out {out} must end in .ipynb")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: the folder {out.parent} does not exist")
    with atomic_path(out, suffix=".ipynb") as tmp:
        tmp.write_text(json.dumps(notebook(path), indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    return out
