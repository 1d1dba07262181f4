"""The ``scratchgen`` command, run as a user runs it: its entry point
(``scratchgen_cli.main``, as ``python -m scratchgen_cli``) in a fresh
process, in an empty folder.

Two short runs (a VAE on the digits, a GAN on ring8) are trained once for the
module; the other commands read them.  A mistake on the command line must
give a non-zero exit and exactly one line on stderr, starting with
``scratchgen``, with no traceback, and must leave every file as it was.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scratchgen as sg
from scratchgen.runs import training

ROOT = Path(__file__).resolve().parent.parent


def command(*args):
    return [sys.executable, "-m", "scratchgen_cli", *map(str, args)]


def child_env():
    """The checkout is importable from any folder even when scratchgen is not
    installed; the backend is the test run's own (SCRATCHGEN_BACKEND is
    inherited)."""
    path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def scratchgen(*args, cwd):
    """Run ``scratchgen ARGS`` in ``cwd``."""
    return subprocess.run(command(*args), cwd=cwd, env=child_env(), capture_output=True,
                          text=True, timeout=300, check=False)


def assert_one_line_error(result):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchgen"), result.stderr


def eval_table(stdout: str) -> dict:
    """``scratchgen eval``'s table as {metric: its value on this run}."""
    header, *lines = stdout.splitlines()
    assert header.split()[:4] == ["metric", "this", "run", "real"], stdout
    return {line.split()[0]: line.split()[1] for line in lines}


def folder_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The folder holding RUN (VAE on digits) and RUN2 (GAN on ring8), and
    the results of the commands that trained them."""
    where = tmp_path_factory.mktemp("cli")
    vae = scratchgen("train", "vae", "--epochs", 1, "--batch-size", 128, "--out", "RUN",
                     "--quiet", cwd=where)
    gan = scratchgen("train", "gan", "--data", "ring8", "--epochs", 1, "--batch-size", 2048,
                     "--out", "RUN2", "--quiet", cwd=where)
    return where, vae, gan


# --------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------
def test_train_writes_a_run_folder(runs):
    where, vae, gan = runs
    for result, folder, figures in [
            (vae, "RUN", {"losses", "samples", "reconstructions", "latent_manifold",
                          "epoch_001"}),
            (gan, "RUN2", {"losses", "samples"})]:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""            # --quiet: no progress bar
        run_dir = where / folder
        assert {training.CONFIG, training.CHECKPOINT, training.LOSSES} <= set(os.listdir(run_dir))
        assert {p.stem for p in (run_dir / training.FIGURES).glob("*.png")} == figures
        assert f"run folder: {folder}" in result.stdout

    config = training.read_config(where / "RUN")
    assert (config.model, config.data, config.epochs, config.batch_size) == ("vae", "digits", 1, 128)
    assert sg.load(where / "RUN" / training.CHECKPOINT)["step"] == 1500 // 128
    config = training.read_config(where / "RUN2")
    assert (config.model, config.data, config.model_args["d_steps"]) == ("gan", "ring8", 2)
    assert sg.load(where / "RUN2" / training.CHECKPOINT)["step"] == 50_000 // 2048


def test_eval_prints_a_table(runs):
    where = runs[0]
    result = scratchgen("eval", "RUN", "--n", 500, "--k", 5, cwd=where)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:4] == ["metric", "this", "run", "real"]
    table = {line.split()[0]: line.split()[1:] for line in lines}
    assert {"mmd", "nn1_accuracy", "test_elbo_nats", "test_iwae5_nats"} <= set(table)
    assert float(table["test_elbo_nats"][0]) < 0
    assert float(table["test_iwae5_nats"][0]) < 0
    # beside each sample metric, its value for real data and what good looks like
    assert 0.4 < float(table["nn1_accuracy"][1]) < 0.6 and "0.5" in " ".join(table["nn1_accuracy"])


def test_eval_json(runs):
    where = runs[0]
    vae = scratchgen("eval", "RUN", "--json", "--n", 500, "--k", 5, cwd=where)
    assert vae.returncode == 0, vae.stderr
    metrics = json.loads(vae.stdout)
    assert {"mmd", "nn1_accuracy", "test_elbo_nats", "test_iwae5_nats"} <= set(metrics)
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert metrics["test_iwae5_nats"] > metrics["test_elbo_nats"] - 1   # both about -30 nats

    gan = scratchgen("eval", "RUN2", "--json", "--n", 1000, cwd=where)
    assert gan.returncode == 0, gan.stderr
    metrics = json.loads(gan.stdout)
    assert {"modes", "high_quality", "reverse_kl", "mmd", "nn1_accuracy"} <= set(metrics)
    assert "test_elbo_nats" not in metrics and "n_modes" not in metrics
    assert metrics["modes_real"] == 8 and 0 <= metrics["modes"] <= 8   # one key for modes


@pytest.mark.parametrize("run", ["RUN", "RUN2"])
def test_sample_writes_a_png(runs, run):
    where = runs[0]
    result = scratchgen("sample", run, "--n", 16, "--out", f"{run}.png", cwd=where)
    assert result.returncode == 0, result.stderr
    png = (where / f"{run}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert f"wrote {run}.png" in result.stdout


def test_lessons_info_help(tmp_path):
    lessons = scratchgen("lessons", cwd=tmp_path)
    assert lessons.returncode == 0, lessons.stderr
    names = lessons.stdout.split()
    assert names[0].startswith("01_") and names == sorted(names)

    info = scratchgen("info", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"backend    {sg.backend.NAME}" in info.stdout
    assert "digits" in info.stdout

    usage = scratchgen("--help", cwd=tmp_path)
    assert usage.returncode == 0
    assert all(command in usage.stdout for command in ("train", "sample", "eval", "lessons", "info"))
    assert scratchgen("train", "--help", cwd=tmp_path).returncode == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_progress_bar_ctrl_c_and_resume(tmp_path):
    """Without --quiet a progress bar counts steps on stderr; Ctrl-C saves a
    checkpoint, says how to continue, exits 130; --resume continues."""
    child = subprocess.Popen(command("train", "vae", "--epochs", 1000, "--out", "RUN"),
                             cwd=tmp_path, env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, deadline = b"", time.monotonic() + 120
    while b"step" not in seen and time.monotonic() < deadline:
        chunk = child.stderr.read1(4096)     # tqdm draws the bar once fit has begun
        if not chunk:
            break
        seen += chunk
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)
    stderr = (seen + rest).decode()
    assert b"step" in seen, stderr             # the bar: "... 0/23000 [..., ?step/s]"
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: checkpoint saved in RUN" in stderr
    assert "scratchgen train vae --out RUN --resume" in stderr
    assert set(os.listdir(tmp_path / "RUN")) == {training.CONFIG, training.CHECKPOINT,
                                                  training.LOSSES}
    stopped_at = sg.load(tmp_path / "RUN" / training.CHECKPOINT)["step"]

    assert stopped_at < 2 * (1500 // 64)
    resumed = scratchgen("train", "vae", "--out", "RUN", "--resume", "--epochs", 2, "--quiet",
                         cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sg.load(tmp_path / "RUN" / training.CHECKPOINT)["step"] == 2 * (1500 // 64)


# --------------------------------------------------------------------------
# Mistakes: one line, non-zero exit, nothing written
# --------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["nosuch"],
    ["train", "nosuch"],
    ["train", "vae", "--data", "nosuch", "--out", "X"],
    ["train", "convvae", "--data", "ring8", "--out", "X"],  # the conv VAE models images
    ["train", "gan", "--beta", "4", "--out", "X"],           # beta weighs a VAE's KL
    ["train", "vae", "--beta", "-1", "--out", "X"],
    ["train", "vae", "--epochs", "many", "--out", "X"],
    ["train", "vae", "--batch-size", "0", "--out", "X"],
    ["train", "gan", "--batch-size", "100000", "--out", "X"],  # no step in an epoch
    ["train", "vae", "--resume"],
    ["train", "vae", "--resume", "--out", "X"],
    ["eval", "X"],
    ["sample", "X", "--out", "x.png"],
    ["lessons", "run"],
    ["lessons", "run", "99"],
], ids=lambda args: " ".join(args) or "no-command")
def test_a_mistake_is_one_line(tmp_path, args):
    result = scratchgen(*args, cwd=tmp_path)
    assert_one_line_error(result)
    assert list(tmp_path.iterdir()) == []


def test_train_over_an_existing_run_is_refused(runs):
    where = runs[0]
    before = folder_bytes(where / "RUN")
    result = scratchgen("train", "vae", "--epochs", 1, "--out", "RUN", "--quiet", cwd=where)
    assert_one_line_error(result)
    assert "already holds a run" in result.stderr and "--resume" in result.stderr
    assert folder_bytes(where / "RUN") == before


@pytest.mark.parametrize("args", [["eval", "BAD"], ["sample", "BAD", "--out", "bad.png"],
                                  ["train", "vae", "--resume", "--out", "BAD", "--quiet"]])
def test_a_corrupt_checkpoint_is_one_line_and_left_alone(runs, tmp_path, args):
    shutil.copytree(runs[0] / "RUN", tmp_path / "BAD")
    checkpoint = tmp_path / "BAD" / training.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    before = folder_bytes(tmp_path)
    result = scratchgen(*args, cwd=tmp_path)
    assert_one_line_error(result)
    assert str(Path("BAD") / training.CHECKPOINT) in result.stderr
    assert folder_bytes(tmp_path) == before


def test_a_missing_data_set_is_one_line_that_says_how_to_get_it(tmp_path, monkeypatch):
    from scratchgen.data import idx
    if any(any(d.glob("*labels-idx1-ubyte*")) for d in idx.search_dirs("mnist")):
        pytest.skip("MNIST is installed on this machine")
    result = scratchgen("train", "vae", "--data", "mnist", "--out", "X", cwd=tmp_path)
    assert_one_line_error(result)
    assert "download" in result.stderr and not (tmp_path / "X").exists()
