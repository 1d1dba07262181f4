"""The command line for the autoregressive family: ``train charlm`` (on any
text file), ``sample`` with a prompt, temperature and top-k, ``eval`` in
bits per character; ``train made`` and its exact NLL; clear errors."""
import pytest

from test_cli import assert_one_line_error, eval_table, scratchgen

import scratchgen as sg
from scratchgen.runs import text_training

POEM = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
        "Rough winds do shake the darling buds of May,\n") * 12


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    where = tmp_path_factory.mktemp("charlm")
    (where / "poem.txt").write_text(POEM, encoding="utf-8")
    result = scratchgen("train", "charlm", "--text", "poem.txt", "--iters", 3, "--out", "LM",
                        "--quiet", cwd=where)
    return where, result


def test_train_charlm_on_a_text_file(text_run):
    where, result = text_run
    assert result.returncode == 0, result.stderr
    assert "val" in result.stdout and "nats per character" in result.stdout
    config = text_training.read_text_config(where / "LM")
    assert (config.iters, config.data, config.model_args["n_layer"]) == (3, "poem.txt", 4)
    assert set(config.model_args["vocab"]) == set(POEM)
    assert sg.load(where / "LM" / "checkpoint.npz")["step"] == 3
    assert (where / "LM" / "samples.txt").read_text().count("temperature") == 3
    assert (where / "LM" / "figures" / "losses.png").is_file()


def test_sample_with_prompt_is_seeded(text_run):
    where, _ = text_run
    args = ("sample", "LM", "--prompt", "Shall", "--temperature", 0.8, "--top-k", 5,
            "--length", 40)
    first, again = scratchgen(*args, cwd=where), scratchgen(*args, cwd=where)
    other = scratchgen(*args, "--seed", 1, cwd=where)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Shall") and len(first.stdout.rstrip("\n")) >= 45
    assert first.stdout == again.stdout != other.stdout


def test_eval_charlm_reports_bits_per_character(text_run):
    where, _ = text_run
    result = scratchgen("eval", "LM", cwd=where)
    assert result.returncode == 0, result.stderr
    table = eval_table(result.stdout)
    nats, bits = float(table["val_nats_per_char"]), float(table["val_bits_per_char"])
    assert bits == pytest.approx(nats / 0.6931471805599453, rel=1e-3)


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (b"\x00\x01binary", "binary"),
                                             (b"short text", "too few")])
def test_bad_text_is_a_one_line_error(tmp_path, content, message):
    (tmp_path / "bad.txt").write_bytes(content)
    result = scratchgen("train", "charlm", "--text", "bad.txt", "--out", "X", cwd=tmp_path)
    assert_one_line_error(result)
    assert message in result.stderr
    assert not (tmp_path / "X").exists()


def test_train_made_and_eval_its_exact_nll(tmp_path):
    result = scratchgen("train", "made", "--epochs", 1, "--out", "M", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ev = scratchgen("eval", "M", "--n", 100, cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    table = eval_table(ev.stdout)
    assert 10 < float(table["test_nll_nats"]) < 64 * 0.7  # below the uniform 64 ln 2 = 44.4
    wrong = scratchgen("sample", "M", "--prompt", "x", cwd=tmp_path)
    assert_one_line_error(wrong)
    assert "character-model runs" in wrong.stderr


def test_a_resumed_text_run_equals_an_uninterrupted_one(tmp_path):
    (tmp_path / "poem.txt").write_text(POEM, encoding="utf-8")
    args = {"block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 8}

    def config(iters):
        return text_training.TextRunConfig(data=str(tmp_path / "poem.txt"), iters=iters,
                                           eval_interval=2, eval_batches=2, model_args=args)
    whole = text_training.start(config(5), tmp_path / "whole")
    whole.fit(progress=False)
    part = text_training.start(config(3), tmp_path / "part")
    part.fit(progress=False)
    resumed = text_training.resume(tmp_path / "part", iters=5)
    resumed.fit(progress=False)
    assert resumed.step == whole.step == 5
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert (a == b).all(), name
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
