"""Tests for scratchgen.runs.plot: every function writes a real PNG, atomically."""
import os
import subprocess
import sys

import numpy as np
import pytest

from scratchgen.runs import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def _decode(z):
    return np.tile(z[:, :1], (1, 16)).reshape(-1, 4, 4) * 0.5 + 0.5


CALLS = {
    "sample_grid_nchw": lambda p: plot.sample_grid(RNG.random((10, 1, 5, 5)), p, title="t"),
    "sample_grid_flat": lambda p: plot.sample_grid(RNG.random((7, 16)), p, nrow=3),
    "loss_curves_dict": lambda p: plot.loss_curves(
        {"d": list(RNG.random(30)), "g": list(RNG.random(30))}, p, smooth=5),
    "loss_curves_rows": lambda p: plot.loss_curves(
        [{"step": i, "loss": 1 / (i + 1)} for i in range(10)], p),
    "scatter_2d": lambda p: plot.scatter_2d(
        RNG.standard_normal((50, 2)), p, data=RNG.standard_normal((500, 2)),
        centers=np.zeros((1, 2)), title="s", lim=3),
    "latent_manifold": lambda p: plot.latent_manifold(_decode, p, n=5),
    "interpolation": lambda p: plot.interpolation(RNG.random((3, 6, 4, 4)), p),
    "reconstructions": lambda p: plot.reconstructions(
        RNG.random((10, 16)), RNG.random((10, 1, 4, 4)), p, n=4),
    "line_plot": lambda p: plot.line_plot(
        [1e-4, 1e-3, 1e-2], {"err": [1e-8, 1e-6, 1e-4]}, p, "h", "error", logx=True, logy=True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_writes_png_and_no_temp_file(name, tmp_path):
    target = tmp_path / "nested" / f"{name}.png"
    assert CALLS[name](target) == target
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(target.parent) == [target.name]


def test_overwrites_existing_file(tmp_path):
    target = tmp_path / "f.png"
    target.write_bytes(b"old")
    CALLS["sample_grid_flat"](target)
    assert target.read_bytes()[:8] == PNG_MAGIC


def test_failed_save_leaves_nothing_behind(tmp_path):
    with pytest.raises(ValueError):
        plot.sample_grid(RNG.random((4, 4, 4)), tmp_path / "f.nosuchformat")
    assert os.listdir(tmp_path) == []


def test_tile_lays_images_out_row_by_row():
    imgs = np.arange(3, dtype=float)[:, None, None] * np.ones((3, 2, 2))
    grid = plot._tile(imgs, ncol=2)
    assert grid.shape == (7, 7)
    assert grid[1, 1] == 0 and grid[1, 4] == 1 and grid[4, 1] == 2
    assert np.isnan(grid[4, 4]) and np.isnan(grid[0]).all()


def test_bad_image_shape_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="grayscale"):
        plot.sample_grid(RNG.random((4, 3, 5, 5)), tmp_path / "f.png")


def test_works_headless_with_mplbackend_unset(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    code = ("import sys, numpy as np; from scratchgen.runs import plot; "
            "plot.sample_grid(np.random.rand(4, 16), sys.argv[1])")
    target = tmp_path / "g.png"
    subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=True, timeout=120)
    assert target.read_bytes()[:8] == PNG_MAGIC
