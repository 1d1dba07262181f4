"""A newcomer's path (issue 10), item by item, as the user typed it: through
the entry point, in a fresh interpreter where the import is under test.
(The bad-input table, items 2, 3, 5 and 7, is ``test_no_traceback.py``.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data.registry import load_dataset
from scratchgen.models import VAE
from scratchgen.runs import training

ROOT = Path(__file__).resolve().parent.parent


def scratchgen(*args, cwd, env=None, timeout=600):
    path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), **(env or {})}
    return subprocess.run([sys.executable, "-m", "scratchgen_cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


def small_vae(**kw):
    return training.RunConfig("vae", "digits", **{"epochs": 1, "batch_size": 100, "lr": 1e-3,
                                                  "checkpoint_every": 5, **kw},
                              model_args={"image_shape": [1, 8, 8], "latent_dim": 2,
                                          "hidden": [16]})


# --------------------------------------------------------------------------
# Item 4: divergence is an error; the last good checkpoint stays
# --------------------------------------------------------------------------
def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    digits = load_dataset("digits", "train")
    original, calls = VAE.train_step, []

    def step(self, batch, optimizers):
        calls.append(1)
        losses = original(self, batch, optimizers)
        if len(calls) == 8:        # step 8 blows up: NaN loss and NaN weights
            for p in self.parameters():
                p.data[...] = np.nan
            return {**losses, "loss": float("nan")}
        return losses
    monkeypatch.setattr(VAE, "train_step", step)
    run = training.start(small_vae(), tmp_path / "run", dataset=digits)
    with pytest.raises(training.DivergenceError, match=r"loss = nan at step 8; the last good "
                                                       r"checkpoint \(step 5\) is kept"):
        run.fit(progress=False)
    saved = sg.load(tmp_path / "run" / training.CHECKPOINT)
    assert saved["step"] == 5 and len(saved["history"]) == 5
    assert all(np.isfinite(v).all() for v in saved["model"].values())


def test_nan_weights_behind_a_finite_loss_never_reach_a_checkpoint(tmp_path, monkeypatch):
    digits = load_dataset("digits", "train")
    original, calls = VAE.train_step, []

    def step(self, batch, optimizers):
        calls.append(1)
        losses = original(self, batch, optimizers)
        if len(calls) == 10:       # the update after a finite loss leaves NaN weights
            next(iter(self.parameters())).data[...] = np.inf
        return losses
    monkeypatch.setattr(VAE, "train_step", step)
    run = training.start(small_vae(), tmp_path / "run", dataset=digits)
    with pytest.raises(training.DivergenceError, match="is not finite"):
        run.fit(progress=False)
    assert sg.load(tmp_path / "run" / training.CHECKPOINT)["step"] == 5


def test_the_loop_takes_losses_on_the_device_and_logs_them_per_interval(tmp_path, monkeypatch):
    """A model may return its losses as one-element tensors; the loop brings
    them to the host once per log interval, and the history is the same."""
    digits = load_dataset("digits", "train")
    plain = training.start(small_vae(), tmp_path / "a", dataset=digits)
    plain.fit(progress=False)
    original = VAE.train_step

    def on_device(self, batch, optimizers):
        return {k: sg.tensor(np.float32(v)) for k, v in original(self, batch, optimizers).items()}
    monkeypatch.setattr(VAE, "train_step", on_device)
    device = training.start(small_vae(), tmp_path / "b", dataset=digits)
    device.fit(progress=False)
    assert [r["step"] for r in device.history] == list(range(1, 16))
    np.testing.assert_allclose([r["loss"] for r in device.history],
                               [r["loss"] for r in plain.history], rtol=1e-6)


def test_too_high_a_learning_rate_is_one_line_naming_the_step(tmp_path):
    result = scratchgen("train", "vae", "--lr", 10, "--epochs", 2, "--out", "X", "--quiet",
                        cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "diverged" in result.stderr and "at step" in result.stderr and "--lr" in result.stderr
    assert not (tmp_path / "X").exists()        # nothing half-written left behind


def test_zero_or_negative_epochs_are_refused(tmp_path):
    for epochs in (0, -1):
        result = scratchgen("train", "vae", "--epochs", epochs, "--out", "X", cwd=tmp_path)
        assert result.returncode == 2 and "--epochs" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Item 6: eval explains itself and does not depend on what ran before
# --------------------------------------------------------------------------
def test_eval_is_the_same_with_a_cold_or_warm_feature_net_cache(tmp_path):
    run = training.start(small_vae(epochs=2, checkpoint_every=500), tmp_path / "RUN")
    run.fit(progress=False)
    env = {"SCRATCHGEN_CACHE": str(tmp_path / "cache")}
    cold = scratchgen("eval", "RUN", "--n", 500, "--k", 5, "--json", cwd=tmp_path, env=env)
    warm = scratchgen("eval", "RUN", "--n", 500, "--k", 5, "--json", cwd=tmp_path, env=env)
    assert cold.returncode == 0 and warm.returncode == 0, cold.stderr + warm.stderr
    assert json.loads(cold.stdout) == json.loads(warm.stdout)
    table = scratchgen("eval", "RUN", "--n", 500, "--k", 5, cwd=tmp_path, env=env)
    assert "real data" in table.stdout.splitlines()[0]
    assert "higher is better" in table.stdout and "0.5" in table.stdout


# --------------------------------------------------------------------------
# Item 8: progress in a log file, bare command, --version, pip install .
# --------------------------------------------------------------------------
def test_progress_to_a_file_is_a_dozen_lines_not_one_per_step(tmp_path):
    result = scratchgen("train", "vae", "--epochs", 4, "--batch-size", 16, "--out", "X",
                        cwd=tmp_path)      # 372 steps, stderr captured: not a terminal
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert 2 <= len(lines) <= 12 and "\r" not in result.stderr, result.stderr
    assert lines[0].startswith("vae on digits: step 0/372") and "100%" in lines[-1]


def test_bare_command_prints_help_and_version(tmp_path):
    bare = scratchgen(cwd=tmp_path)
    assert bare.returncode == 0 and "usage: scratchgen" in bare.stdout
    assert all(c in bare.stdout for c in ("train", "sample", "eval", "lessons", "info"))
    version = scratchgen("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"scratchgen {sg.__version__}"


@pytest.mark.slow
def test_lessons_after_a_regular_pip_install(tmp_path):
    """`pip install .` (not editable) ships the lessons as data files, and
    the installed command finds, lists and converts them."""
    # --ignore-installed: pip would otherwise first uninstall the copy this
    # test suite runs from (the editable install), leaving later tests and
    # CI's second pass without scratchgen
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--ignore-installed", "--no-build-isolation",
                            "--prefix", str(tmp_path / "prefix"), str(ROOT)],
                           capture_output=True, text=True, timeout=600, check=False)
    if build.returncode:
        pytest.skip(f"pip could not build here: {build.stderr[-500:]}")
    site = next((tmp_path / "prefix").glob("lib/python*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    listed = subprocess.run([sys.executable, "-m", "scratchgen_cli", "lessons"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == sorted(p.stem for p in (ROOT / "lessons").glob("[0-9]*.py"))
    info = subprocess.run([sys.executable, "-m", "scratchgen_cli", "info"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert "share/scratchgen/lessons" in info.stdout.replace(os.sep, "/"), info.stdout


# --------------------------------------------------------------------------
# Lessons: figures only where asked; notebooks
# --------------------------------------------------------------------------
def test_lessons_run_quick_writes_to_a_temporary_folder(tmp_path):
    figures = ROOT / "figures"
    before = {p.name: p.read_bytes() for p in figures.glob("*.png")}
    result = scratchgen("lessons", "run", 4, "--quick", cwd=tmp_path,
                        env={"TMPDIR": str(tmp_path), "SCRATCHGEN_FIGURES": ""})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "scratchgen-figures" / "04_gradcheck_error_vs_eps.png").is_file()
    assert {p.name: p.read_bytes() for p in figures.glob("*.png")} == before
    given = scratchgen("lessons", "run", 4, "--quick", "--figures", "FIGS", cwd=tmp_path)
    assert given.returncode == 0 and (tmp_path / "FIGS" / "04_gradcheck_error_vs_eps.png").is_file()


def test_lessons_notebook_is_a_real_notebook(tmp_path):
    result = scratchgen("lessons", "notebook", 8, "--out", "vae.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notebook = json.loads((tmp_path / "vae.ipynb").read_text(encoding="utf-8"))
    assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    source = (ROOT / "lessons" / "08_vae.py").read_text(encoding="utf-8")
    kinds = [c["cell_type"] for c in notebook["cells"]]
    assert kinds[0] == "markdown" and "".join(notebook["cells"][0]["source"]).startswith("# Lesson 08")
    # every cell of the script, plus the one that finds _common.py
    assert len(kinds) == source.count("\n# %%") + 1 + 1
    assert "sys.path.insert" in "".join(notebook["cells"][1]["source"])
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "from _common import" in code and "# %%" not in code
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.reads(json.dumps(notebook), as_version=4))
