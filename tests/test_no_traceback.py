"""No traceback, by construction: every subcommand, fed bad input, answers
with one line on stderr that names the option and what to do, exit status 2
(130 for Ctrl-C), and leaves every file as it was.

The table is built from the parser itself: each subcommand's options are
read from ``build_parser()``, each number option is fed the values its
:class:`~scratchgen.runs.cli.Number` refuses (zero, negative, huge, NaN,
words), each choice a name that is not one.  A new subcommand or option is
in the table the moment it is in the parser; a number option parsed by a
plain ``int``/``float`` (which would take ``nan`` or ``-1``) fails
:func:`test_every_number_option_knows_its_range`.

Argument mistakes are driven in-process through the entry point
``scratchgen_cli.main`` (fast); the environment (a bad backend) in a fresh
interpreter per subcommand, since there the import itself is under test.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scratchgen_cli
from scratchgen.runs import cli, training

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------
# The parser, walked
# --------------------------------------------------------------------------
def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def commands() -> dict[tuple, argparse.ArgumentParser]:
    """``{("lessons", "run"): parser, ...}``: every (nested) subcommand."""
    found = {}

    def walk(prefix, parser):
        for name, sub in _subparsers(parser):
            found[prefix + (name,)] = sub
            walk(prefix + (name,), sub)
    walk((), cli.build_parser())
    return found


COMMANDS = commands()
COMMANDS_1 = {p[0] for p in COMMANDS}
LEAVES = {path: p for path, p in COMMANDS.items()
          if not any(other[:len(path)] == path and other != path for other in COMMANDS)}


def _options(parser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction,
                                                             argparse._SubParsersAction))]


def _valid_base(path: tuple, run_dir: str) -> list[str]:
    """A correct command line for ``path`` (the bad value replaces one part)."""
    return {("train",): ["train", "vae", "--epochs", "1", "--out", "NEW"],
            ("sample",): ["sample", run_dir, "--out", "NEW.png"],
            ("eval",): ["eval", run_dir],
            ("lessons", "run"): ["lessons", "run", "1", "--quick", "--figures", "NEW"],
            ("lessons", "notebook"): ["lessons", "notebook", "1", "--out", "NEW.ipynb"],
            ("info",): ["info"], ("lessons",): ["lessons"]}.get(path, list(path))


def bad_arguments():
    """(id, command line, text the error must contain) for every option."""
    cases = []
    for path, parser in LEAVES.items():
        base = _valid_base(path, "RUN")
        for action in _options(parser):
            bads = (action.type.refused_examples() if isinstance(action.type, cli.Number)
                    else ["0", "-1", "abc", "100"] if action.type is cli.lesson_number
                    else ["nosuch"] if action.choices else [])
            for bad in bads:
                if action.option_strings:
                    option = action.option_strings[0]
                    argv = [a for a in base]
                    if option in argv:
                        argv[argv.index(option) + 1] = bad
                    else:
                        argv += [option, bad]
                    named = option
                else:   # a positional: replace its place in the valid line
                    position = len(path) + [a.dest for a in _options(parser)
                                            if not a.option_strings].index(action.dest)
                    argv = base[:position] + [bad] + base[position + 1:]
                    named = action.dest
                cases.append(pytest.param(argv, named, id=" ".join(argv)))
    return cases


# --------------------------------------------------------------------------
# Running the entry point
# --------------------------------------------------------------------------
def run_main(argv, capsys) -> tuple[int, str]:
    """``scratchgen ARGV`` through the entry point, in this process."""
    try:
        status = scratchgen_cli.main(argv)
    except SystemExit as exc:      # argparse's own exits
        status = exc.code
    return status, capsys.readouterr().err


def assert_one_line(status, err, expected_status=2, *names):
    assert status == expected_status, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchgen"), err
    for name in names:
        assert name in lines[0], (name, err)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with RUN (a VAE on the digits, 1 short epoch)."""
    where = tmp_path_factory.mktemp("runs")
    run = training.start(training.RunConfig("vae", "digits", epochs=1, batch_size=500, lr=1e-3,
                                            model_args={"image_shape": [1, 8, 8],
                                                        "latent_dim": 2, "hidden": [16]}),
                         where / "RUN")
    run.fit(progress=False)
    return where


@pytest.fixture
def workdir(trained, tmp_path, monkeypatch):
    """An empty folder holding a copy of RUN, as the working directory."""
    import shutil
    shutil.copytree(trained / "RUN", tmp_path / "RUN")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------
def test_the_table_covers_every_subcommand():
    assert {"train", "sample", "eval", "lessons", "info"} <= {p[0] for p in COMMANDS}
    covered = {tuple(p.id.split()[:2]) for p in bad_arguments()}
    for path, parser in LEAVES.items():
        if _options(parser):
            assert any(c[:len(path)] == path[:2] for c in covered), path


def test_every_number_option_knows_its_range():
    """A number option must be a cli.Number (or the lesson number): plain
    int/float accept nan, inf and negatives."""
    for path, parser in LEAVES.items():
        for action in _options(parser):
            assert action.type not in (int, float), (
                f"scratchgen {' '.join(path)} {action.option_strings}: use cli.Number(...) "
                "so that zero, negative, huge and NaN values are refused by name")


@pytest.mark.parametrize("argv, named", bad_arguments())
def test_a_bad_argument_is_one_line_naming_it(workdir, capsys, argv, named):
    before = snapshot(workdir)
    status, err = run_main(argv, capsys)
    assert_one_line(status, err, 2, named)
    assert "expected" in err or "invalid choice" in err     # what to give instead
    assert snapshot(workdir) == before


def _corrupt_config(where):
    (where / "RUN" / "config.json").write_text("{not json")


def _other_models_config(where):
    """Item 3: a config naming another model (the VAE's arguments for a GAN)."""
    config = json.loads((where / "RUN" / "config.json").read_text())
    (where / "RUN" / "config.json").write_text(json.dumps({**config, "model": "gan"}))


def _corrupt_checkpoint(where):
    path = where / "RUN" / training.CHECKPOINT
    path.write_bytes(path.read_bytes()[:500])


def _nan_weights(where):
    import numpy as np

    import scratchgen as sg
    path = where / "RUN" / training.CHECKPOINT
    state = sg.load(path)
    name = next(iter(state["model"]))
    state["model"][name] = np.full_like(state["model"][name], np.nan)
    sg.save(state, path)


@pytest.mark.parametrize("argv, spoil, names", [
    (["sample", "NOSUCH"], None, ["NOSUCH", "scratchgen train"]),
    (["eval", "NOSUCH"], None, ["NOSUCH"]),
    (["eval", "RUN"], _corrupt_config, ["config.json"]),
    (["sample", "RUN", "--out", "x.png"], _corrupt_config, ["config.json"]),
    (["eval", "RUN"], _other_models_config, ["config.json", "gan"]),
    (["sample", "RUN", "--out", "x.png"], _other_models_config, ["config.json", "gan"]),
    (["eval", "RUN"], _corrupt_checkpoint, [training.CHECKPOINT]),
    (["train", "vae", "--out", "RUN", "--resume"], _corrupt_checkpoint, [training.CHECKPOINT]),
    (["eval", "RUN"], _nan_weights, ["not finite"]),
    (["sample", "RUN", "--out", "x.png"], _nan_weights, ["not finite"]),
    # item 5: the model (or data) named must be the run's own
    (["train", "gan", "--out", "RUN", "--resume"], None, ["vae", "gan", "--resume"]),
    (["train", "vae", "--data", "mnist", "--out", "RUN", "--resume"], None, ["digits"]),
    (["train", "vae", "--out", "RUN", "--resume", "--lr", "0.1"], None, ["--lr"]),
    (["train", "vae", "--resume"], None, ["--out"]),
    (["train", "vae", "--out", "RUN", "--resume"], None, ["--epochs"]),   # already done
    (["train", "vae", "--out", "RUN"], None, ["already holds a run", "--resume"]),
    (["train", "convvae", "--data", "ring8", "--out", "NEW"], None, ["digits"]),
    (["train", "gan", "--batch-size", "100000", "--out", "NEW"], None, ["batch"]),
    # an explicit --root is the only place searched (item 7), and the message
    # says how to get the files, as command-line options
    (["train", "vae", "--data", "fashion", "--root", "EMPTY", "--out", "NEW"], None,
     ["EMPTY", "--download", "--root"]),
    (["eval", "RUN", "--root", "EMPTY"], lambda w: _with_data(w, "fashion"), ["EMPTY"]),
    (["lessons", "run", "99"], None, ["no lesson 99", "scratchgen lessons"]),
    (["lessons", "run"], None, ["--all"]),
    (["lessons", "run", "1", "--all"], None, ["--all"]),
    (["lessons", "notebook", "1", "--out", "NOWHERE/x.ipynb"], None, ["NOWHERE"]),
    (["lessons", "notebook", "1", "--out", "x.txt"], None, [".ipynb"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0] in COMMANDS_1 else "")
def test_a_bad_file_or_combination_is_one_line(workdir, capsys, argv, spoil, names):
    (workdir / "EMPTY").mkdir()
    if spoil is not None:
        spoil(workdir)
    before = snapshot(workdir)
    status, err = run_main(argv, capsys)
    assert_one_line(status, err, 2, *names)
    assert snapshot(workdir) == before


def _with_data(where, name):
    config = json.loads((where / "RUN" / "config.json").read_text())
    (where / "RUN" / "config.json").write_text(json.dumps({**config, "data": name}))


def test_ctrl_c_is_130_and_one_line(workdir, capsys, monkeypatch):
    from scratchgen.runs import evaluation

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(evaluation, "evaluate", interrupted)
    before = snapshot(workdir)
    status, err = run_main(["eval", "RUN"], capsys)
    assert_one_line(status, err, 130, "interrupted")
    assert snapshot(workdir) == before


# --------------------------------------------------------------------------
# The environment: a fresh interpreter, the import under test
# --------------------------------------------------------------------------
def child(*args, cwd, env=None, **kwargs):
    path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), **(env or {})}
    return subprocess.run([sys.executable, "-m", "scratchgen_cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300, **kwargs)


def _cupy_missing() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return True
    return False


BAD_BACKENDS = ["nosuch", "NumPy-guardd"] + (["cupy"] if _cupy_missing() else [])


@pytest.mark.parametrize("backend", BAD_BACKENDS)
@pytest.mark.parametrize("path", sorted(LEAVES) + [()], ids=lambda p: " ".join(p) or "bare")
def test_a_bad_backend_is_one_line_from_every_subcommand(workdir, path, backend):
    """Item 2: the error is raised while importing scratchgen, before the
    command line exists; the entry point still answers in one line."""
    before = snapshot(workdir)
    result = child(*_valid_base(path, "RUN"), cwd=workdir, env={"SCRATCHGEN_BACKEND": backend})
    assert_one_line(result.returncode, result.stderr, 2, "SCRATCHGEN_BACKEND")
    if backend == "cupy":   # the install hint is the README's
        assert 'pip install -e ".[gpu]"' in result.stderr
    assert snapshot(workdir) == before


def _sigint_default():
    """In the child: Ctrl-C as at a terminal.  A suite started in the
    background (``.ci/run &``) hands its children SIGINT *ignored*, and
    Python then installs no KeyboardInterrupt handler, so the eval would
    rightly carry on (``train`` installs its own handler and is unaffected)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_during_eval_is_130_without_traceback(workdir, tmp_path_factory):
    """Item 3: Ctrl-C while eval trains its feature network (a fresh cache)."""
    env = {"SCRATCHGEN_CACHE": str(tmp_path_factory.mktemp("cold-cache"))}
    path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    proc = subprocess.Popen([sys.executable, "-m", "scratchgen_cli", "eval", "RUN", "--n", "500"],
                            cwd=workdir, env={**os.environ, "PYTHONPATH": os.pathsep.join(path),
                                              **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_sigint_default)
    seen, deadline = b"", time.monotonic() + 120
    def said_it():   # a whole line saying that eval trains the feature network
        return any(b"feature network" in line for line in seen.split(b"\n")[:-1])
    while not said_it() and time.monotonic() < deadline:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    stderr = (seen + rest).decode()
    assert said_it(), stderr     # eval says what it is doing
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "scratchgen: interrupted"
