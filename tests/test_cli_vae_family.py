"""The command line for the VAE family: ``train convvae|cvae`` and ``--beta``,
``sample --label``, ``eval`` with the conditional accuracy and bounds on
log p(x|y), the VAE on 2-D points; clear one-line errors."""
import json

import numpy as np
import pytest

from test_cli import assert_one_line_error, scratchgen

import scratchgen as sg
from scratchgen.models import load
from scratchgen.runs import training


@pytest.fixture(scope="module")
def vae_runs(tmp_path_factory):
    """CVAE (beta 2) and conv VAE on the digits, the Gaussian VAE on ring8:
    one short epoch each."""
    where = tmp_path_factory.mktemp("vaes")
    results = {
        "CVAE": scratchgen("train", "cvae", "--epochs", 1, "--batch-size", 256, "--beta", 2,
                           "--out", "CVAE", "--quiet", cwd=where),
        "CONV": scratchgen("train", "convvae", "--epochs", 1, "--batch-size", 256,
                           "--out", "CONV", "--quiet", cwd=where),
        "POINTS": scratchgen("train", "vae", "--data", "ring8", "--epochs", 1,
                             "--batch-size", 4096, "--out", "POINTS", "--quiet", cwd=where),
    }
    return where, results


def test_train_the_family(vae_runs):
    where, results = vae_runs
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr)
    cvae = training.read_config(where / "CVAE")
    assert cvae.model_args["beta"] == 2.0 and cvae.model_args["n_classes"] == 10
    assert load(where / "CVAE").beta == 2.0
    figures = {p.stem for p in (where / "CVAE" / "figures").glob("*.png")}
    assert {"losses", "samples", "reconstructions", "epoch_001"} <= figures
    assert "latent_manifold" not in figures    # a 2-D grid of z means nothing without a label
    assert training.read_config(where / "POINTS").model_args["likelihood"] == "gaussian"
    assert (where / "POINTS" / "figures" / "samples.png").is_file()


def test_sample_a_label(vae_runs):
    where, _ = vae_runs
    result = scratchgen("sample", "CVAE", "--label", 7, "--n", 16, "--out", "sevens.png",
                        cwd=where)
    assert result.returncode == 0, result.stderr
    assert (where / "sevens.png").is_file()
    model = load(where / "CVAE")
    sg.manual_seed(0)
    sevens = model.sample(4, labels=7).numpy()
    sg.manual_seed(0)
    assert not np.array_equal(sevens, model.sample(4, labels=1).numpy())


@pytest.mark.parametrize("args", [["sample", "CONV", "--label", "3", "--out", "x.png"],
                                  ["sample", "CVAE", "--label", "10", "--out", "x.png"]])
def test_label_mistakes_are_one_line(vae_runs, args):
    where, _ = vae_runs
    result = scratchgen(*args, cwd=where)
    assert_one_line_error(result)
    assert not (where / "x.png").exists()


def test_eval_reports_bounds_and_conditional_accuracy(vae_runs):
    where, _ = vae_runs
    result = scratchgen("eval", "CVAE", "--n", 200, "--k", 3, "--json", cwd=where)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert 0 <= metrics["conditional_accuracy"] <= 1
    assert metrics["conditional_accuracy_vs_real"] == pytest.approx(
        metrics["conditional_accuracy"] / metrics["test_accuracy_of_classifier"])
    assert metrics["test_elbo_nats"] < 0 and np.isfinite(metrics["test_iwae3_nats"])
    assert "frechet_distance" in metrics
    points = json.loads(scratchgen("eval", "POINTS", "--n", 500, "--k", 3, "--json",
                                   cwd=where).stdout)
    assert {"modes", "high_quality", "test_elbo_nats", "test_iwae3_nats"} <= set(points)
