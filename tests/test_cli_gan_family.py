"""The command line for the GAN family: ``scratchgen train dcgan|wgan-gp|cgan``,
``scratchgen sample RUN --label K`` and the conditional metrics of
``scratchgen eval``, run as a user runs them (short runs on the bundled
digits and on grid25)."""
import json

import numpy as np
import pytest

from scratchgen.runs import training
from test_cli import assert_one_line_error, folder_bytes, scratchgen


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    where = tmp_path_factory.mktemp("gan_cli")
    results = {
        "CGAN": scratchgen("train", "cgan", "--data", "digits", "--epochs", 2, "--out", "CGAN",
                           "--quiet", cwd=where),
        "DCGAN": scratchgen("train", "dcgan", "--data", "digits", "--epochs", 1, "--out",
                            "DCGAN", "--quiet", cwd=where),
        "WGAN": scratchgen("train", "wgan-gp", "--data", "grid25", "--epochs", 1,
                           "--batch-size", 5000, "--out", "WGAN", "--quiet", cwd=where),
    }
    return where, results


def test_train_writes_runs_with_a_sample_grid_per_epoch(runs):
    where, results = runs
    for name, result in results.items():
        assert result.returncode == 0, result.stderr
    figures = {p.stem for p in (where / "CGAN" / training.FIGURES).glob("*.png")}
    assert {"epoch_001", "epoch_002", "samples", "losses"} <= figures
    assert (where / "DCGAN" / training.FIGURES / "epoch_001.png").is_file()
    assert not list((where / "WGAN" / training.FIGURES).glob("epoch_*"))  # points: no grid
    config = training.read_config(where / "WGAN")
    assert (config.model, config.model_args["n_critic"] if "n_critic" in config.model_args
            else 5) == ("wgan-gp", 5)
    config = training.read_config(where / "DCGAN")
    assert config.model_args == {"image_shape": [1, 8, 8], "latent_dim": 100, "channels": 64}
    assert (config.batch_size, config.lr) == (64, 2e-4)


def test_sample_a_chosen_label(runs):
    where = runs[0]
    result = scratchgen("sample", "CGAN", "--n", 10, "--label", 3, "--out", "three.png", cwd=where)
    assert result.returncode == 0, result.stderr
    assert (where / "three.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("run, label, message", [("CGAN", 10, "label 10 is out of range"),
                                                 ("CGAN", -1, "label -1 is out of range"),
                                                 ("DCGAN", 3, "unconditional DCGAN"),
                                                 ("WGAN", 0, "unconditional WGANGP")])
def test_a_bad_label_is_one_line(runs, run, label, message):
    where = runs[0]
    before = folder_bytes(where)
    result = scratchgen("sample", run, "--label", label, "--out", "x.png", cwd=where)
    assert_one_line_error(result)
    assert message in result.stderr
    assert folder_bytes(where) == before


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_an_image_model_on_points_is_one_line(tmp_path, model):
    result = scratchgen("train", model, "--data", "ring8", "--out", "X", cwd=tmp_path)
    assert_one_line_error(result)
    assert "does not train on 2-D points" in result.stderr and not (tmp_path / "X").exists()


def test_the_conditional_gan_refuses_unlabelled_images():
    from scratchgen.data.registry import Dataset
    from scratchgen.runs import recipes
    with pytest.raises(ValueError, match="labelled images"):
        recipes.run_config("cgan", "mine", Dataset(np.zeros((4, 1, 8, 8), np.float32)))


def test_eval_of_a_conditional_gan(runs):
    where = runs[0]
    result = scratchgen("eval", "CGAN", "--json", "--n", 300, cwd=where)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"frechet_distance", "precision", "recall", "conditional_accuracy",
            "conditional_accuracy_vs_real"} <= set(metrics)
    assert all(f"frechet_distance_class_{k}" in metrics for k in range(10))
    assert 0 <= metrics["conditional_accuracy"] <= 1
    assert np.isclose(metrics["conditional_accuracy_vs_real"],
                      metrics["conditional_accuracy"] / metrics["test_accuracy_of_classifier"])


def test_eval_of_wgan_gp_on_grid25_counts_25_modes(runs):
    where = runs[0]
    result = scratchgen("eval", "WGAN", "--json", "--n", 500, cwd=where)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["modes_real"] == 25 and 0 <= metrics["modes"] <= 25
