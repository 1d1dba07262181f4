"""scratchgen.data: toy sets, bundled digits, IDX files and downloads, DataLoader.

Downloads are tested against a local HTTP server on 127.0.0.1 only; the
tests never reach the network.
"""
import gzip
import hashlib
import http.server
import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from scratchgen.data import (
    TOY_SETS,
    DataError,
    DataLoader,
    grid25,
    idx,
    load_digits,
    load_mnist,
    load_toy,
    read_idx,
    ring8,
    two_moons,
)


# --------------------------------------------------------------------------
# Toy sets
# --------------------------------------------------------------------------
def _by_nearest_center(toy):
    dist = np.linalg.norm(toy.x[:, None] - toy.centers[None], axis=-1)
    return dist.argmin(axis=1)


@pytest.mark.parametrize("make, k, std", [(ring8, 8, 0.01), (grid25, 25, 0.05)])
def test_mixture_statistics(make, k, std):
    toy = make(20_000, seed=0)
    assert toy.x.shape == (20_000, 2) and toy.x.dtype == np.float32
    assert toy.centers.shape == (k, 2) and toy.std == std
    nearest = _by_nearest_center(toy)
    assert np.bincount(nearest, minlength=k).min() > 20_000 / k * 0.8   # every mode used
    for j in range(k):
        pts = toy.x[nearest == j]
        standard_error = std / np.sqrt(len(pts))
        np.testing.assert_allclose(pts.mean(axis=0), toy.centers[j], atol=4 * standard_error + 1e-6)
        np.testing.assert_allclose(pts.std(axis=0), std, rtol=0.1)


def test_ring8_centers_on_unit_circle_at_distinct_angles():
    c = ring8(10, seed=0).centers
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-6)
    angles = np.sort(np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, np.linspace(0, 2 * np.pi, 8, endpoint=False), atol=1e-6)


def test_grid25_centers():
    c = grid25(10, seed=0).centers
    assert sorted(set(c[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    assert len({tuple(p) for p in c.tolist()}) == 25


@pytest.mark.parametrize("name", sorted(TOY_SETS))
def test_toy_sets_reproducible_float32(name):
    a, b, c = load_toy(name, 500, seed=1), load_toy(name, 500, seed=1), load_toy(name, 500, seed=2)
    assert a.x.shape == (500, 2) and a.x.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert np.isfinite(a.x).all()


@pytest.mark.parametrize("name", ["two_moons", "spiral", "swiss_roll"])
def test_curves_have_no_centers(name):
    toy = load_toy(name, 10, seed=0)
    assert toy.centers is None and toy.std is None


def test_two_moons_without_noise_lie_on_their_circles():
    x = two_moons(1000, noise=0.0, seed=0).x.astype(np.float64)
    upper = np.isclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    lower = np.isclose(np.linalg.norm(x - [1, 0.5], axis=1), 1, atol=1e-5)
    assert (upper | lower).all()
    assert abs(upper.sum() - 500) <= 1


def test_load_toy_unknown_name():
    with pytest.raises(ValueError, match="ring8"):
        load_toy("ring9", 10)


# --------------------------------------------------------------------------
# Bundled digits
# --------------------------------------------------------------------------
def test_digits_shapes_and_ranges():
    x, y = load_digits()
    assert x.shape == (1500, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1500,) and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1
    assert set(y.tolist()) == set(range(10))
    assert load_digits("test", flatten=True)[0].shape == (297, 64)
    raw, _ = load_digits("all", scale=False)
    assert raw.shape == (1797, 1, 8, 8) and raw.max() == 16
    np.testing.assert_array_equal(raw, np.round(raw))


def test_digits_split_is_a_fixed_partition():
    xtr, ytr = load_digits("train", flatten=True)
    xte, yte = load_digits("test", flatten=True)
    xall, yall = load_digits("all", flatten=True)

    def rows(x, y):   # the multiset of (image, label) rows
        return sorted(map(bytes, np.column_stack([x * 16, y]).astype(np.uint8)))

    assert rows(np.vstack([xtr, xte]), np.concatenate([ytr, yte])) == rows(xall, yall)
    np.testing.assert_array_equal(load_digits("train")[1], ytr)   # same order every call
    assert set(yte.tolist()) == set(range(10))


def test_digits_bad_split():
    with pytest.raises(ValueError, match="train"):
        load_digits("val")


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------
def _idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 + array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write(path, data: bytes, gz=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _write_split(folder, n=5, label=3, split="train", n_labels=None):
    """A tiny data set: n images of 4x4 and n_labels labels, all equal to `label`."""
    images = np.arange(n * 16, dtype=np.uint8).reshape(n, 4, 4)
    labels = np.full(n if n_labels is None else n_labels, label, dtype=np.uint8)
    names = idx.FILES[split]
    return (_write(folder / names[0], _idx_bytes(images)),
            _write(folder / names[1], _idx_bytes(labels)))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $SCRATCHGEN_DATA, an empty HOME, no system folders: only what a test writes."""
    monkeypatch.delenv(idx.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(idx, "SYSTEM_DIRS", {k: tmp_path / "system" / k for k in idx.KINDS})
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    a = np.random.default_rng(0).integers(0, 256, (3, 2, 5)).astype(np.uint8)
    labels = a[:, 0, 0]
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "a", _idx_bytes(a), gz)), a)
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "l", _idx_bytes(labels), gz)), labels)


@pytest.mark.parametrize("damage, message", [
    (lambda b: gzip.compress(b[:-3]), "truncated"),
    (lambda b: gzip.compress(b[:6]), "header"),
    (lambda b: gzip.compress(struct.pack(">I", 0x0D03) + b[4:]), "magic"),
    (lambda b: gzip.compress(b)[:-12], "gzip"),
    (lambda b: b"\x1f\x8b" + b"garbage" * 10, "gzip"),
])
def test_read_idx_damaged(tmp_path, damage, message):
    good = _idx_bytes(np.zeros((4, 3, 3)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(good))
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "download=True" in str(info.value)


def test_load_mnist_from_root(isolated):
    _write_split(isolated / "d", n=5)
    x, y = load_mnist("mnist", "train", root=isolated / "d")
    assert x.shape == (5, 1, 4, 4) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[0, 0, 0, 1], 1 / 255)
    assert load_mnist("mnist", root=isolated / "d", flatten=True)[0].shape == (5, 16)


def test_ungzipped_files_are_found(isolated):
    folder = isolated / "raw"
    _write(folder / "t10k-images-idx3-ubyte", _idx_bytes(np.zeros((2, 3, 3))), gz=False)
    _write(folder / "t10k-labels-idx1-ubyte", _idx_bytes([1, 2]), gz=False)
    assert load_mnist("fashion", "test", root=folder)[1].tolist() == [1, 2]


def test_mismatched_counts(isolated):
    _, labels = _write_split(isolated / "d", n=5, n_labels=4)
    with pytest.raises(DataError, match="4 labels.*5 images") as info:
        load_mnist(root=isolated / "d")
    assert str(labels) in str(info.value)


def test_labels_where_images_belong(isolated):
    names = idx.FILES["train"]
    _write(isolated / "d" / names[0], _idx_bytes([1, 2]))
    _write(isolated / "d" / names[1], _idx_bytes([1, 2]))
    with pytest.raises(DataError, match="images were expected"):
        load_mnist(root=isolated / "d")


def test_lookup_order(isolated, monkeypatch):
    root, env, cache = isolated / "root", isolated / "env", isolated / "home/.cache/scratchgen"
    _write_split(root, label=1)
    _write_split(env / "fashion-mnist", label=2)
    _write_split(cache / "fashion-mnist", label=3)
    _write_split(isolated / "system" / "fashion", label=4)
    monkeypatch.setenv("SCRATCHGEN_DATA", str(env))

    def label(**kw):
        return int(load_mnist("fashion", **kw)[1][0])

    assert label(root=root) == 1
    assert label() == 2                     # $SCRATCHGEN_DATA/fashion-mnist
    monkeypatch.delenv("SCRATCHGEN_DATA")
    assert label() == 3                     # the user cache
    monkeypatch.setenv("SCRATCHGEN_DATA", str(root))
    assert label() == 1                     # $SCRATCHGEN_DATA itself, no subfolder
    monkeypatch.delenv("SCRATCHGEN_DATA")
    for f in (cache / "fashion-mnist").iterdir():
        f.unlink()
    assert label() == 4                     # the system folder comes last
    with pytest.raises(DataError, match="empty"):   # a root the user named is the only place
        label(root=isolated / "empty")


def test_missing_data_set_lists_places(isolated, monkeypatch):
    monkeypatch.setenv("SCRATCHGEN_DATA", str(isolated / "env"))
    with pytest.raises(DataError) as info:
        load_mnist("fashion", "test")
    msg = str(info.value)
    cache = isolated / "home/.cache/scratchgen/fashion-mnist"
    for place in [isolated / "env", cache, isolated / "system" / "fashion"]:
        assert str(place) in msg
    assert "\n" not in msg                  # one line, as the command line prints it
    assert "t10k-images-idx3-ubyte.gz" in msg
    assert "download=True" in msg and "--download" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    with pytest.raises(DataError) as info:
        load_mnist("fashion", "test", root=isolated / "r")
    assert str(isolated / "r") in str(info.value) and str(cache) not in str(info.value)


def test_bad_kind_and_split():
    with pytest.raises(ValueError, match="fashion"):
        load_mnist("kmnist")
    with pytest.raises(ValueError, match="train"):
        load_mnist("mnist", "val")


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="needs `apt-get install dataset-fashion-mnist`")
def test_debian_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv("SCRATCHGEN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    x, y = load_mnist("fashion", "train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32 and y.shape == (60000,)
    assert 0 <= x.min() and x.max() <= 1 and set(y.tolist()) == set(range(10))
    assert np.bincount(y).tolist() == [6000] * 10
    assert load_mnist("fashion", "test", flatten=True)[0].shape == (10000, 784)


@pytest.mark.skipif(not (DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="needs `apt-get install dataset-fashion-mnist`")
def test_fashion_checksums_match_debian_files():
    for name, checksum in idx.CHECKSUMS["fashion"].items():
        content = gzip.decompress((DEBIAN_FASHION / name).read_bytes())
        assert checksum.of == "content"
        assert hashlib.new(checksum.algorithm, content).hexdigest() == checksum.digest, name


# --------------------------------------------------------------------------
# Downloads, from a local server
# --------------------------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        mode = self.server.modes.get(name)
        if isinstance(mode, int):
            self.send_error(mode)
        elif mode == "truncate":
            body = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server: (url, folder it serves, its modes dict, request log)."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(served)))
    server.modes, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/files/", served, server
    server.shutdown()
    server.server_close()


def _serve_split(served, monkeypatch, of="file"):
    """Serve a tiny train split (below files/) and register its checksums."""
    paths = _write_split(served / "files", n=6, label=7)
    sums = {}
    for p in paths:
        data = p.read_bytes() if of == "file" else gzip.decompress(p.read_bytes())
        sums[p.name] = idx.Checksum("sha256", hashlib.sha256(data).hexdigest(), of)
    monkeypatch.setitem(idx.CHECKSUMS, "mnist", sums)
    return paths


def _cache_files(isolated):
    folder = isolated / "home/.cache/scratchgen/mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("of", ["file", "content"])
def test_download_verifies_and_caches(isolated, mirror, monkeypatch, of):
    url, served, server = mirror
    _serve_split(served, monkeypatch, of)
    x, y = load_mnist("mnist", "train", download=True, mirror=url)
    assert x.shape == (6, 1, 4, 4) and (y == 7).all()
    assert _cache_files(isolated) == sorted(idx.FILES["train"])
    n_requests = len(server.requests)
    load_mnist("mnist", "train", download=True, mirror=url)
    assert len(server.requests) == n_requests          # found in the cache, not fetched again


def test_download_with_bad_checksum_keeps_nothing(isolated, mirror, monkeypatch):
    url, served, _ = mirror
    images, _ = _serve_split(served, monkeypatch)
    data = bytearray(images.read_bytes())
    data[len(data) // 2] ^= 0xFF
    images.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_mnist("mnist", download=True, mirror=url)
    assert _cache_files(isolated) == []


@pytest.mark.parametrize("mode, message", [(404, "HTTP 404"), (500, "HTTP 500"),
                                           ("truncate", "could not download|stopped after")])
def test_failed_download_keeps_nothing(isolated, mirror, monkeypatch, mode, message):
    url, served, server = mirror
    _serve_split(served, monkeypatch)
    server.modes[idx.FILES["train"][1]] = mode       # the labels file fails
    with pytest.raises(DataError, match=message) as info:
        load_mnist("mnist", download=True, mirror=url)
    assert url in str(info.value)
    assert _cache_files(isolated) == [idx.FILES["train"][0]]   # only the good, verified file


def test_interrupted_download_keeps_nothing(isolated, mirror, monkeypatch):
    url, served, _ = mirror
    _serve_split(served, monkeypatch)

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(idx, "_verify", interrupt)
    with pytest.raises(KeyboardInterrupt):
        idx.download_mnist("mnist", "train", mirror=url, progress=False)
    assert _cache_files(isolated) == []


def test_download_refuses_unknown_file(isolated, mirror, monkeypatch):
    url, served, _ = mirror
    _serve_split(served, monkeypatch)
    monkeypatch.setitem(idx.CHECKSUMS, "mnist", {})
    with pytest.raises(DataError, match="no checksum"):
        idx.download_mnist("mnist", "train", mirror=url, progress=False)
    assert _cache_files(isolated) == []


# --------------------------------------------------------------------------
# DataLoader
# --------------------------------------------------------------------------
def _epoch(loader):
    return [tuple(np.asarray(a).copy() for a in batch) for batch in loader]


def test_loader_batches_and_len():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)
    loader = DataLoader((x, y), batch_size=4, to_tensor=False)
    batches = _epoch(loader)
    assert len(loader) == len(batches) == 3
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert len(DataLoader(x, batch_size=4, drop_last=True)) == 2
    assert [len(b) for b in DataLoader(x, batch_size=4, drop_last=True, to_tensor=False)] == [4, 4]


def test_loader_single_array_yields_arrays():
    batch = next(iter(DataLoader(np.zeros((5, 2)), batch_size=2, to_tensor=False)))
    assert isinstance(batch, np.ndarray) and batch.shape == (2, 2)


def test_loader_yields_tensors_keeping_dtypes():
    sg = pytest.importorskip("scratchgen")
    x, y = load_digits("test")
    xb, yb = next(iter(DataLoader((x, y), batch_size=32)))
    assert isinstance(xb, sg.Tensor) and xb.shape == (32, 1, 8, 8)
    assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_loader_shuffles_each_epoch_reproducibly():
    y = np.arange(50)
    a = DataLoader(y, batch_size=7, shuffle=True, seed=3, to_tensor=False)
    b = DataLoader(y, batch_size=7, shuffle=True, seed=3, to_tensor=False)
    e1, e2 = np.concatenate(list(a)), np.concatenate(list(a))
    assert sorted(e1) == sorted(e2) == list(y)        # each epoch is a permutation
    assert not np.array_equal(e1, e2)                  # and a new one
    np.testing.assert_array_equal(np.concatenate(list(b)), e1)
    assert a.epoch == 2


def test_loader_mismatched_lengths():
    with pytest.raises(ValueError, match=r"\[10, 9\]"):
        DataLoader((np.zeros(10), np.zeros(9)))


@pytest.mark.parametrize("stop_after", [0, 3, 5])
def test_loader_resume_continues_exactly(stop_after):
    """Stop `stop_after` batches into the second epoch, checkpoint, resume elsewhere."""
    x, y = np.arange(50.0)[:, None], np.arange(50)
    a = DataLoader((x, y), batch_size=10, shuffle=True, seed=0, to_tensor=False)
    _epoch(a)
    it = iter(a)
    for _ in range(stop_after):
        next(it)
    state = json.loads(json.dumps(a.state_dict()))     # plain data, as a checkpoint stores it
    expected = [tuple(np.asarray(v) for v in b) for b in it] + _epoch(a)
    b = DataLoader((x, y), batch_size=10, shuffle=True, seed=99, to_tensor=False)
    b.load_state_dict(state)
    resumed = []
    while len(resumed) < len(expected):
        resumed += _epoch(b)
    assert len(resumed) == len(expected)
    for got, want in zip(resumed, expected):
        np.testing.assert_array_equal(got[1], want[1])
    assert a.epoch == b.epoch == 3


def test_loader_new_iter_after_break_starts_a_new_epoch():
    loader = DataLoader(np.arange(20), batch_size=5, shuffle=True, seed=0, to_tensor=False)
    for _ in loader:
        break
    assert len(list(loader)) == 4
