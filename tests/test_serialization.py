"""sg.save / sg.load: round trips, foreign and damaged files, crash safety."""
import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchgen import atomic, serialization
from scratchgen.runs import plot, training
from scratchgen.serialization import CheckpointError, load, save


def _assert_same(got, want):
    assert type(got) is type(want) or isinstance(want, (np.ndarray, np.generic))
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            _assert_same(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    elif isinstance(want, float) and np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == want


CHECKPOINT = {
    "model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
              "0.bias": np.zeros(2, np.float32),
              "1.running_var": np.ones(2, np.float64)},
    "optim": {"state": [{"step": 3, "exp_avg": np.full((2, 3), 0.5, np.float32)}],
              "betas": (0.9, 0.999), "lr": 1e-3, "nesterov": False},
    "labels": np.array([1, 2, 3], np.int64),
    "mask": np.array([True, False]),
    "scalar": np.array(2.5, np.float32),
    "empty": np.zeros((0, 4), np.float32),
    "epoch": 12, "loss": float("nan"), "name": "dcgan ✓", "note": None, "history": [1.5, 2, None],
    "a/b": np.array([1]), "a": {"b": np.array([2])},       # must not collide
    "~1": np.array([3]), "": np.array([4]), "file": np.array([5]), "__scratchgen__": np.array([6]),
    "back\\slash": np.array([7]), "nul\0": np.array([8]),
    "nothing": {}, "none_list": [],
}


def test_round_trip(tmp_path):
    save(CHECKPOINT, tmp_path / "ckpt.npz")
    _assert_same(load(tmp_path / "ckpt.npz"), CHECKPOINT)


@pytest.mark.parametrize("obj", [np.arange(3), [np.eye(2), "x"], 7, None, "text"])
def test_round_trip_of_non_dict_roots(tmp_path, obj):
    save(obj, tmp_path / "c")
    _assert_same(load(tmp_path / "c"), obj)


def test_file_is_a_plain_npz(tmp_path):
    save(CHECKPOINT, tmp_path / "ckpt.npz")
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as npz:
        assert "model/0.weight" in npz.files and "a~1b" in npz.files
        header = json.loads(npz["__scratchgen__"].tobytes())
    assert header["version"] == serialization.VERSION


def test_tensors_and_numpy_scalars_are_stored_as_numbers(tmp_path):
    sg = pytest.importorskip("scratchgen")
    t = sg.tensor([[1.0, 2.0]], requires_grad=True)
    save({"w": t, "s": np.float32(0.25), "i": np.int64(3)}, tmp_path / "c")
    got = load(tmp_path / "c")
    assert isinstance(got["w"], np.ndarray) and got["w"].dtype == np.float32
    np.testing.assert_array_equal(got["w"], [[1.0, 2.0]])
    assert got["s"] == 0.25 and got["i"] == 3 and type(got["i"]) is int


keys = st.text(max_size=8)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**62, 2**62), st.text(max_size=5),
    st.floats(allow_nan=False),
    st.builds(lambda shape, dt: (np.arange(np.prod(shape)) % 3).astype(dt).reshape(shape),
              st.lists(st.integers(0, 3), max_size=3),
              st.sampled_from(["float32", "int64", "bool", "uint8"])))
trees = st.recursive(leaves, lambda inner: st.one_of(
    st.dictionaries(keys, inner, max_size=4), st.lists(inner, max_size=3)), max_leaves=12)


@settings(max_examples=30)
@given(tree=trees)
def test_round_trip_property(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("prop") / "c.npz"
    save(tree, path)
    _assert_same(load(path), tree)


@pytest.mark.parametrize("bad, match", [
    ({"x": np.array([object()])}, "object arrays"),
    ({1: np.zeros(2)}, "keys must be strings"),
    ({"x": {1, 2}}, "cannot store a set"),
])
def test_unsavable_objects(tmp_path, bad, match):
    with pytest.raises(TypeError, match=match):
        save(bad, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Foreign and damaged files
# --------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(tmp_path / "nope.npz")


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bit_flipped(path):
    with np.load(path) as npz:
        assert "model/0.weight" in npz.files
    data = bytearray(path.read_bytes())
    where = data.find(np.arange(6, dtype=np.float32).tobytes())   # inside model/0.weight
    data[where + 5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("spoil, match", [
    (_truncated, "truncated"),
    (_bit_flipped, "damaged"),
    (lambda p: p.write_text("epoch 3, loss 0.1\n"), "not a zip"),
    (lambda p: p.write_bytes(b""), "not a zip"),
    (lambda p: np.savez(p, w=np.zeros(3)), "no '__scratchgen__' entry"),
    (lambda p: p.write_bytes(_npy_bytes(np.zeros(3))), "not a zip"),
])
def test_foreign_or_damaged_files(tmp_path, spoil, match):
    path = tmp_path / "ckpt.npz"
    save(CHECKPOINT, path)
    spoil(path)
    with pytest.raises(CheckpointError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


def _write_header(path, header):
    with zipfile.ZipFile(path, "w") as zf, zf.open("__scratchgen__.npy", "w") as f:
        np.lib.format.write_array(f, np.frombuffer(json.dumps(header).encode(), np.uint8))


@pytest.mark.parametrize("header, match", [
    ({"format": "scratchgen-checkpoint", "version": 99, "tree": {"value": 1}}, "version 99"),
    ({"format": "other", "version": 1, "tree": {"value": 1}}, "was it written by sg.save"),
    ({"format": "scratchgen-checkpoint", "version": 1, "tree": {"array": "gone"}}, "damaged"),
    ({"format": "scratchgen-checkpoint", "version": 1, "tree": {"bogus": 1}}, "damaged"),
])
def test_bad_headers(tmp_path, header, match):
    _write_header(tmp_path / "c", header)
    with pytest.raises(CheckpointError, match=match):
        load(tmp_path / "c")


# --------------------------------------------------------------------------
# Crash safety
# --------------------------------------------------------------------------
def test_crash_mid_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save(CHECKPOINT, path)
    real_write = np.lib.format.write_array
    calls = []

    def write_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:          # after the header, mid-way through the arrays
            raise RuntimeError("disk on fire")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save({"model": {"0.weight": np.ones((2, 3), np.float32)}, "epoch": 13}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]   # no temp file left
    _assert_same(load(path), CHECKPOINT)


def test_interrupt_before_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1}, path)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"epoch": 2}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    assert load(path) == {"epoch": 1}


# --- atomic_path, which every file scratchgen writes goes through

@pytest.mark.parametrize("write", [
    lambda p: save({"x": np.ones(3)}, p),
    lambda p: training._write_text_atomic(p, "a,b\n"),
    lambda p: plot.loss_curves({"loss": [3.0, 2.0, 1.0]}, p),
], ids=["checkpoint", "text", "figure"])
def test_written_files_get_the_mode_open_would_give(tmp_path, write):
    """mkstemp makes 0600 files; what lands at the target has 0666 minus the umask."""
    old = os.umask(0o022)
    try:
        write(tmp_path / "out.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_an_error_while_writing_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError), atomic.atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
