"""Every lesson runs: each ``lessons/NN_*.py`` is executed with ``--quick`` in
a fresh interpreter, as a reader would run it, and must exit cleanly and
write its figures.

New lessons are picked up by the file pattern.  The subprocess inherits
``SCRATCHGEN_BACKEND``, so the numpy-guard pass runs the lessons on the
guard backend too.  ``--figures`` sends the figures to a temporary folder
(a lesson left alone writes into another temporary folder), so the tests
never overwrite the committed ones in ``figures/``; each run checks that.

The committed figures are the ones the full runs write: a lesson's quick
run must write the same names, and images of about the same width (the
quick run draws the same figures with less data: widths differ by a few
tick labels at most; a grid with a row per epoch has fewer rows).
"""
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))


FIGURES = ROOT / "figures"


def _run(lesson: Path, *args: str, figures: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHGEN_FIGURES"}
    return subprocess.run([sys.executable, str(lesson), *args, "--figures", str(figures)],
                          cwd=ROOT, env={**env, "MPLBACKEND": "Agg"},
                          capture_output=True, text=True, timeout=600, check=False)


def committed() -> dict:
    return {p.name: p.read_bytes() for p in sorted(FIGURES.glob("*.png"))}


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_lessons_exist():
    assert LESSONS, f"no lessons/NN_*.py files found under {ROOT / 'lessons'}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_quick_and_writes_figures(lesson, tmp_path):
    before = committed()
    result = _run(lesson, "--quick", figures=tmp_path)
    assert committed() == before, f"{lesson.name} --quick changed the committed figures/"
    assert result.returncode == 0, (
        f"{lesson.name} --quick failed (exit {result.returncode}):\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs, f"{lesson.name} wrote no PNG to its --figures folder"
    prefix = lesson.name[:3]  # "01_"
    assert all(name.startswith(prefix) for name in pngs), (
        f"{lesson.name}'s figures must be named {prefix}...png, got {pngs}")
    mine = sorted(p.name for p in FIGURES.glob(f"{prefix}*.png"))
    if not mine:
        pytest.skip(f"no committed figures for {lesson.name} yet: a full run writes them "
                    f"(`scratchgen lessons run {int(prefix[:2])} --figures figures/`)")
    assert pngs == mine, (f"{lesson.name} writes {pngs} but figures/ holds {mine}: regenerate "
                          f"with `scratchgen lessons run {int(prefix[:2])} --figures figures/`")
    for name in pngs:   # widths: a quick run may draw fewer rows (fewer epochs), not columns
        (w, h), (cw, ch) = png_size(tmp_path / name), png_size(FIGURES / name)
        assert abs(w - cw) <= 0.1 * cw and min(h, ch) > 50, (
            f"{name}: the quick run draws {w}x{h}, the committed figure is {cw}x{ch}")


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_format(lesson, tmp_path):
    """Notebook cells with a markdown intro first, and a real ``--quick`` flag
    (``--help`` must list it: unknown flags are ignored, so running with
    ``--quick`` alone would not prove the lesson knows it)."""
    source = lesson.read_text(encoding="utf-8")
    assert source.startswith("# %% [markdown]\n# # "), (
        f"{lesson.name} must open with a markdown cell and a '# # Title' line")
    code_cells = re.findall(r"^# %%$", source, flags=re.MULTILINE)
    assert len(code_cells) >= 2, f"{lesson.name} has {len(code_cells)} '# %%' code cells"
    result = _run(lesson, "--help", figures=tmp_path)
    assert result.returncode == 0 and "--quick" in result.stdout, (
        f"{lesson.name} --help does not offer --quick:\n{result.stdout}\n{result.stderr}")
    assert not list(tmp_path.glob("*.png")), f"{lesson.name} --help did work beyond parsing"
