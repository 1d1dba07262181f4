"""Training runs: the run folder, exact resume, Ctrl-C, and refusals.

Every run here is tiny (a few dozen examples, a few dozen steps) so the
whole file takes seconds.  "Exact" means bit for bit: a run that is stopped
and resumed must end with the same parameters, optimizer moments, loader
position, random state, step and loss history as one that never stopped.
"""
import csv
import json
import os
import signal
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.runs import training
from scratchgen.data.registry import Dataset, load_dataset
from scratchgen.models import GAN, VAE

RUN_FILES = {training.CONFIG, training.CHECKPOINT, training.LOSSES}


# --------------------------------------------------------------------------
# Tiny runs
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    x, y = load_dataset("digits", "train")[:2]
    return Dataset(x[:96], y[:96])       # 6 batches of 16 per epoch


@pytest.fixture(scope="module")
def ring():
    full = load_dataset("ring8", "train")
    return Dataset(full.x[:256], None, full.centers, full.std)   # 8 batches of 32


def vae_config(**changes):
    config = training.RunConfig(model="vae", data="digits", epochs=2, batch_size=16, lr=1e-3,
                                model_args={"image_shape": [1, 8, 8], "latent_dim": 2,
                                            "hidden": [16]},
                                checkpoint_every=4)   # does not divide the 6 steps of an epoch
    return replace(config, **changes)


def gan_config(**changes):
    config = training.RunConfig(model="gan", data="ring8", epochs=2, batch_size=32, lr=1e-3,
                                model_args={"data_shape": [2], "latent_dim": 2, "hidden": 16,
                                            "g_depth": 2, "d_depth": 2, "pack": 2, "d_steps": 2},
                                checkpoint_every=5,   # does not divide the 8 steps of an epoch
                                lr_decay=0.5)         # resume must also land on the same lr
    return replace(config, **changes)


CASES = {"vae": (vae_config, "digits", VAE), "gan": (gan_config, "ring", GAN)}


@pytest.fixture(params=sorted(CASES))
def case(request):
    """(config factory, its data set, its model class) for each model."""
    make_config, data, model_class = CASES[request.param]
    return make_config, request.getfixturevalue(data), model_class


def finished_run(config, run_dir, dataset):
    run = training.start(config, run_dir, dataset=dataset)
    run.fit(progress=False)
    return run


def assert_identical(a, b, where="state"):
    """Exact equality of nested dicts/lists/tuples of arrays and plain values."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (u, v) in enumerate(zip(a, b)):
            assert_identical(u, v, f"{where}/{i}")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert np.array_equal(a, b), f"{where}: arrays differ (max |diff| {np.max(np.abs(a - b))})"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_run(resumed, reference):
    """Same model, optimizers, loader, random state, step and history, and the
    same files on disk."""
    assert resumed.step == reference.step
    assert_identical(resumed.state_dict(), reference.state_dict())
    assert_identical(sg.load(resumed.dir / training.CHECKPOINT),
                     sg.load(reference.dir / training.CHECKPOINT))
    assert ((resumed.dir / training.LOSSES).read_text()
            == (reference.dir / training.LOSSES).read_text())


def fail_at_step(monkeypatch, model_class, k, error):
    """Make the k-th call of ``train_step`` (counting from 1) raise ``error``
    before it does anything."""
    original, calls = model_class.train_step, []

    def step(self, batch, optimizers):
        calls.append(1)
        if len(calls) == k:
            raise error
        return original(self, batch, optimizers)
    monkeypatch.setattr(model_class, "train_step", step)


# --------------------------------------------------------------------------
# The run folder
# --------------------------------------------------------------------------
def test_a_run_writes_config_checkpoint_losses(tmp_path, case):
    make_config, dataset, _ = case
    config = make_config()
    run = finished_run(config, tmp_path / "run", dataset)
    assert RUN_FILES <= set(os.listdir(run.dir))
    assert json.loads((run.dir / training.CONFIG).read_text()) == asdict(config)
    assert training.read_config(run.dir) == config

    steps = config.epochs * (len(dataset.x) // config.batch_size)
    assert run.step == steps and len(run.history) == steps
    state = sg.load(run.dir / training.CHECKPOINT)
    assert state["step"] == steps
    assert_identical(state["model"], dict(run.model.state_dict()))

    with open(run.dir / training.LOSSES, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    for row, logged in zip(rows, run.history):
        assert set(row) == set(logged)
        assert all(float(row[k]) == logged[k] for k in row)     # repr round-trips floats
        assert all(np.isfinite(float(v)) for v in row.values())
    assert not run.model.training    # fit leaves the model ready to sample


def test_figures(tmp_path, case):
    make_config, dataset, _ = case
    run = finished_run(make_config(epochs=1), tmp_path / "run", dataset)
    paths = training.write_figures(run)
    names = {Path(p).name for p in paths}
    expected = {"losses.png", "samples.png"}
    if dataset.is_image:   # the VAE also shows reconstructions and its 2-D latent space
        expected |= {"reconstructions.png", "latent_manifold.png"}
    assert names == expected
    for name in expected:
        png = (run.dir / training.FIGURES / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_seed_makes_runs_reproducible(tmp_path, digits):
    a = finished_run(vae_config(epochs=1), tmp_path / "a", digits)
    b = finished_run(vae_config(epochs=1), tmp_path / "b", digits)
    c = finished_run(vae_config(epochs=1, seed=1), tmp_path / "c", digits)
    assert_identical(dict(a.model.state_dict()), dict(b.model.state_dict()))
    assert a.history == b.history
    assert not all(np.array_equal(p, q) for p, q in
                   zip(a.model.state_dict().values(), c.model.state_dict().values()))


# --------------------------------------------------------------------------
# Exact resume
# --------------------------------------------------------------------------
def test_resume_after_the_last_epoch_extends_the_run(tmp_path, case):
    make_config, dataset, _ = case
    # a decaying lr depends on the planned length, so extending changes it: constant here
    reference = finished_run(make_config(lr_decay=0.0), tmp_path / "reference", dataset)
    finished_run(make_config(epochs=1, lr_decay=0.0), tmp_path / "run", dataset)
    # the config said 1 epoch; the reference's has 2: same run otherwise
    resumed = training.resume(tmp_path / "run", epochs=2, dataset=dataset)
    assert resumed.step == reference.step // 2
    resumed.fit(progress=False)
    assert_same_run(resumed, reference)


def test_resume_from_a_periodic_mid_epoch_checkpoint(tmp_path, case, monkeypatch):
    """A crash (not a Ctrl-C: no checkpoint on the way out) after step 7
    leaves the periodic checkpoint of step 4 or 5, inside the first epoch."""
    make_config, dataset, model_class = case
    config = make_config()
    reference = finished_run(config, tmp_path / "reference", dataset)

    fail_at_step(monkeypatch, model_class, 8, RuntimeError("power cut"))
    with pytest.raises(RuntimeError, match="power cut"):
        finished_run(config, tmp_path / "run", dataset)
    monkeypatch.undo()
    saved = sg.load(tmp_path / "run" / training.CHECKPOINT)
    assert saved["step"] == config.checkpoint_every
    assert 0 < saved["loader"]["batch"] < len(dataset.x) // config.batch_size   # mid-epoch

    resumed = training.resume(tmp_path / "run", dataset=dataset)
    assert resumed.step == config.checkpoint_every
    resumed.fit(progress=False)
    assert_same_run(resumed, reference)


# k = 1: before any step; 3: mid-epoch; 7: the VAE's first step of epoch 2, the GAN's last of epoch 1
@pytest.mark.parametrize("k", [1, 3, 7])
def test_ctrl_c_saves_the_last_finished_step_and_resumes_exactly(tmp_path, case, monkeypatch, k):
    make_config, dataset, model_class = case
    config = make_config()
    reference = finished_run(config, tmp_path / "reference", dataset)

    fail_at_step(monkeypatch, model_class, k, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        finished_run(config, tmp_path / "run", dataset)
    monkeypatch.undo()
    # written atomically: the three files and nothing else (no temp files),
    # beside the figures folder of an image run's per-epoch sample grids
    assert set(os.listdir(tmp_path / "run")) - {training.FIGURES} == RUN_FILES
    saved = sg.load(tmp_path / "run" / training.CHECKPOINT)
    assert saved["step"] == k - 1 and len(saved["history"]) == k - 1
    with open(tmp_path / "run" / training.LOSSES, newline="") as f:
        assert len(list(csv.DictReader(f))) == k - 1

    resumed = training.resume(tmp_path / "run", dataset=dataset)
    resumed.fit(progress=False)
    assert_same_run(resumed, reference)


def test_a_real_sigint_lets_the_step_finish(tmp_path, digits, monkeypatch):
    """A SIGINT arriving inside step 3 is held until that step ends: the
    checkpoint is at step 3, and the resumed run equals an uninterrupted one."""
    config = vae_config()
    reference = finished_run(config, tmp_path / "reference", digits)
    handler_before = signal.getsignal(signal.SIGINT)
    original, calls = VAE.train_step, []

    def step(self, batch, optimizers):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)    # delivered here, in the main thread
        return original(self, batch, optimizers)
    monkeypatch.setattr(VAE, "train_step", step)
    with pytest.raises(KeyboardInterrupt):
        finished_run(config, tmp_path / "run", digits)
    monkeypatch.undo()
    assert len(calls) == 3
    assert sg.load(tmp_path / "run" / training.CHECKPOINT)["step"] == 3
    assert signal.getsignal(signal.SIGINT) is handler_before   # fit restored the handler

    resumed = training.resume(tmp_path / "run", dataset=digits)
    resumed.fit(progress=False)
    assert_same_run(resumed, reference)


# --------------------------------------------------------------------------
# Refusals leave the folder as it was
# --------------------------------------------------------------------------
def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_new_run_over_an_existing_one_is_refused(tmp_path, digits):
    run = finished_run(vae_config(epochs=1), tmp_path / "run", digits)
    before = folder_bytes(run.dir)
    with pytest.raises(FileExistsError, match="already holds a run"):
        training.start(vae_config(epochs=1, seed=5), run.dir, dataset=digits)
    assert folder_bytes(run.dir) == before


def test_resume_needs_a_run_folder_and_a_checkpoint(tmp_path, digits):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        training.resume(tmp_path / "empty", dataset=digits)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        training.resume(tmp_path / "missing", dataset=digits)
    # a config but no checkpoint yet
    training.start(vae_config(), tmp_path / "fresh", dataset=digits)
    with pytest.raises(FileNotFoundError, match=training.CHECKPOINT):
        training.resume(tmp_path / "fresh", dataset=digits)


def test_a_corrupt_checkpoint_is_named_and_left_alone(tmp_path, digits):
    run = finished_run(vae_config(epochs=1), tmp_path / "run", digits)
    path = run.dir / training.CHECKPOINT
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])        # truncated, as by a full disk
    before = folder_bytes(run.dir)
    with pytest.raises(sg.CheckpointError, match=str(path).replace("\\", "\\\\")):
        training.resume(run.dir, dataset=digits)
    assert folder_bytes(run.dir) == before


def test_a_bad_config_is_a_clear_error(tmp_path):
    (tmp_path / training.CONFIG).write_text('{"model": "vae"}')
    with pytest.raises(ValueError, match="not a valid run config"):
        training.read_config(tmp_path)


def test_lr_decay_is_constant_then_falls_linearly_to_zero(tmp_path, ring, monkeypatch):
    seen = []
    step = GAN.train_step
    monkeypatch.setattr(GAN, "train_step", lambda self, batch, opts: seen.append(
        [g["lr"] for o in opts.values() for g in o.param_groups]) or step(self, batch, opts))
    finished_run(gan_config(lr_decay=0.25), tmp_path / "run", ring)   # 16 steps, last 4 decay
    expected = [1e-3] * 12 + [1e-3 * r / 4 for r in (4, 3, 2, 1)]
    np.testing.assert_allclose([lrs[0] for lrs in seen], expected)
    assert all(len(set(lrs)) == 1 for lrs in seen)   # D and G move together
