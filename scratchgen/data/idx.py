"""MNIST and Fashion-MNIST: the IDX file format, where the files are, and
how to download them.

**The IDX format.**  MNIST (handwritten digits) and Fashion-MNIST (clothes)
both come as four gzip-compressed IDX files: training images and labels,
test ("t10k") images and labels.  An IDX file is a tiny header followed by
raw bytes:

* a 4-byte *magic number* ``00 00 TT NN``: two zero bytes, the element type
  (``08`` = unsigned byte) and the number of dimensions ``NN``, so images
  start ``00 00 08 03`` (``0x00000803``) and labels ``00 00 08 01``;
* ``NN`` big-endian 32-bit sizes, e.g. ``60000, 28, 28``;
* the elements, row-major: exactly the product of the sizes, one byte each.

Because the header says how much data must follow, a truncated download
can be told from a good file, and :func:`read_idx` checks every part of it.

**Where the files are.**  A folder ``root`` passed by the caller (``--root``
on the command line) is the only place looked in (its subfolder ``mnist`` /
``fashion-mnist``, then the folder itself), and downloads go there.  Without
one, :func:`load_mnist` looks, in this order, in

1. ``$SCRATCHGEN_DATA`` (its subfolder ``mnist`` / ``fashion-mnist``, then
   the folder itself),
2. the user cache ``~/.cache/scratchgen/mnist`` (or ``fashion-mnist``),
3. the folders Debian's packages use, ``/usr/share/datasets/mnist`` and
   ``/usr/share/datasets/fashion-mnist`` (``apt-get install
   dataset-fashion-mnist``),

and takes the first folder that holds both files of the split, gzipped or
not.  With ``download=True`` missing files are fetched into ``root``, else
into the user cache.

**Downloads are all-or-nothing.**  Each file is streamed into a temporary
file next to its destination, its checksum is compared with the table
below, and only then is it renamed into place (``os.replace`` is atomic).
A failed, corrupt or interrupted download leaves nothing behind, so a later
run never trips over half a file.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..atomic import atomic_path


class DataError(ValueError):
    """A data set is missing, truncated, corrupt, or could not be fetched."""


KINDS = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
SPLITS = ("train", "test")

#: The folder name of each data set, below $SCRATCHGEN_DATA and the cache.
FOLDERS = {"mnist": "mnist", "fashion": "fashion-mnist"}

#: (images, labels) file names of each split, as the mirrors serve them.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

ENV_VAR = "SCRATCHGEN_DATA"
SYSTEM_DIRS = {
    "mnist": Path("/usr/share/datasets/mnist"),
    "fashion": Path("/usr/share/datasets/fashion-mnist"),
}

#: Official download locations (base URLs); ``mirror=`` overrides them.
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}


class Checksum(NamedTuple):
    """What a good download hashes to.

    ``of="file"`` hashes the ``.gz`` file as served; ``of="content"`` hashes
    the IDX bytes inside it, which stay the same when a file is recompressed
    (Debian's copies of Fashion-MNIST differ from the mirror's only in their
    gzip headers).
    """

    algorithm: str   # a hashlib name
    digest: str
    of: str          # "file" or "content"


#: Fashion-MNIST: SHA-256 of the IDX content, computed from Debian's package
#: dataset-fashion-mnist.  MNIST: only MD5s of the ``.gz`` files are
#: published (the ones torchvision checks), so those are used.
CHECKSUMS = {
    "fashion": {
        "train-images-idx3-ubyte.gz": Checksum(
            "sha256", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "content"),
        "train-labels-idx1-ubyte.gz": Checksum(
            "sha256", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "content"),
        "t10k-images-idx3-ubyte.gz": Checksum(
            "sha256", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "content"),
        "t10k-labels-idx1-ubyte.gz": Checksum(
            "sha256", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "content"),
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": Checksum("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "file"),
        "train-labels-idx1-ubyte.gz": Checksum("md5", "d53e105ee54ea40749a09fcbcd1e9432", "file"),
        "t10k-images-idx3-ubyte.gz": Checksum("md5", "9fb629c4189551a2d022fa330f9573f3", "file"),
        "t10k-labels-idx1-ubyte.gz": Checksum("md5", "ec29112dd5afa0611ce80d1b7f02629c", "file"),
    },
}


def _how_to_get(kind=None) -> str:
    apt = ("" if kind == "mnist"
           else "for Fashion-MNIST also `apt-get install dataset-fashion-mnist`; ")
    return (f"To get it: download=True (--download on the command line); {apt}or pass "
            "root= (--root DIR on the command line) naming a folder that holds the files.")


# --------------------------------------------------------------------------
# Reading one IDX file
# --------------------------------------------------------------------------
def _corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}. Delete it and get a good copy. {_how_to_get()}")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with gzip's magic 1f 8b."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:   # bad header/CRC, truncated stream
        raise _corrupt(path, f"not a readable gzip file ({exc})") from None


def read_idx(path) -> np.ndarray:
    """The uint8 array stored in an IDX file (``.gz`` or not), checked.

    Raises :class:`DataError`, naming the file, when the magic number is not
    that of unsigned-byte images (``0x00000803``) or labels
    (``0x00000801``), or when the data do not fill the sizes the header
    announces.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] not in (1, 3):
        raise _corrupt(path, f"magic number 0x{raw[:4].hex()} is not that of IDX images "
                             "(0x00000803) or labels (0x00000801)")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise _corrupt(path, f"the header is cut short ({len(raw)} bytes, expected {start})")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    if len(raw) - start != math.prod(dims):
        raise _corrupt(path, f"the header announces {'x'.join(map(str, dims))} = "
                             f"{math.prod(dims)} bytes of data, the file holds "
                             f"{len(raw) - start} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims).copy()


# --------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------
def cache_dir(kind: str) -> Path:
    """The user cache folder that downloads of ``kind`` go to."""
    return Path.home() / ".cache" / "scratchgen" / FOLDERS[kind]


def search_dirs(kind: str, root=None) -> list[Path]:
    """The folders :func:`load_mnist` looks in, in order.  An explicit
    ``root`` is the only place looked in: a folder the user named that lacks
    the files is their mistake, not a reason to use another copy."""
    if root is not None:
        return [Path(root) / FOLDERS[kind], Path(root)]
    dirs = []
    if os.environ.get(ENV_VAR):
        env = Path(os.environ[ENV_VAR])
        dirs += [env / FOLDERS[kind], env]
    return dirs + [cache_dir(kind), SYSTEM_DIRS[kind]]


def _file_in(folder: Path, name: str):
    """``folder/name``, or its gunzipped twin, whichever exists, else None."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _locate(kind: str, split: str, root):
    """Paths of (images, labels) from the first folder holding both."""
    for folder in search_dirs(kind, root):
        found = [_file_in(folder, name) for name in FILES[split]]
        if all(found):
            return found
    return None


def _missing(kind: str, split: str, root) -> DataError:
    places = ", ".join(str(d) for d in search_dirs(kind, root))
    names = " and ".join(FILES[split])
    return DataError(f"{KINDS[kind]} ({split} split) not found: looked for {names} "
                     f"(or the same without .gz) in {places}. {_how_to_get(kind)}")


# --------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------
def _verify(tmp: Path, checksum: Checksum, url: str) -> None:
    data = tmp.read_bytes()
    if checksum.of == "content":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{url}: the download is not a readable gzip file ({exc})") from None
    digest = hashlib.new(checksum.algorithm, data, usedforsecurity=False).hexdigest()
    if digest != checksum.digest:
        raise DataError(f"{url}: checksum mismatch ({checksum.algorithm} {digest}, "
                        f"expected {checksum.digest}); the download is corrupt. "
                        "Nothing was saved; try again.")


def _stream(url: str, out, progress: bool) -> None:
    """Copy the body of ``url`` into the open file ``out``, with a progress bar."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1], disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
    if total is not None and done != total:
        raise DataError(f"{url}: the transfer stopped after {done} of {total} bytes")


def _fetch(url: str, target: Path, checksum: Checksum, progress: bool) -> None:
    """Download ``url`` to ``target`` atomically: all of it, verified, or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, suffix=".part") as tmp:
        with open(tmp, "wb") as out:
            try:
                _stream(url, out, progress)
            except urllib.error.HTTPError as exc:
                raise DataError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                raise DataError(f"could not download {url}: {exc}") from None
        _verify(tmp, checksum, url)


def download_mnist(kind: str = "mnist", split=None, dest=None, mirror=None,
                   progress: bool = True) -> list[Path]:
    """Fetch the files of ``split`` (both splits if None) that ``dest``
    (default: the user cache) lacks, and return the paths of all of them.

    ``mirror`` replaces the base URL in :data:`MIRRORS`.  Every file is
    checked against :data:`CHECKSUMS` before it is kept.
    """
    _check(kind, split, allowed=SPLITS + (None,))
    dest = Path(dest) if dest is not None else cache_dir(kind)
    base = (mirror or MIRRORS[kind]).rstrip("/") + "/"
    names = FILES[split] if split else FILES["train"] + FILES["test"]
    paths = []
    for name in names:
        path = _file_in(dest, name)
        if path is None:
            if name not in CHECKSUMS[kind]:
                raise DataError(f"no checksum known for {name} of {KINDS[kind]}; "
                                "refusing to keep a download that cannot be verified")
            path = dest / name
            _fetch(base + name, path, CHECKSUMS[kind][name], progress)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------
# The data set as arrays
# --------------------------------------------------------------------------
def _check(kind: str, split, allowed=SPLITS) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, not {kind!r}")
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, not {split!r}")


def load_mnist(kind: str = "mnist", split: str = "train", root=None,
               download: bool = False, flatten: bool = False, mirror=None):
    """MNIST (``kind="mnist"``) or Fashion-MNIST (``kind="fashion"``).

    Returns host arrays ``(x, y)``: ``x`` float32 in ``[0, 1]`` (pixel / 255)
    of shape ``(n, 1, 28, 28)``, or ``(n, 784)`` with ``flatten=True``; ``y``
    the class labels 0..9 as int64.  See the module docstring for where the
    files are looked for; ``download=True`` fetches missing files into the
    user cache (from ``mirror`` if given).
    """
    _check(kind, split)
    paths = _locate(kind, split, root)
    if paths is None:
        if not download:
            raise _missing(kind, split, root)
        paths = download_mnist(kind, split, dest=root, mirror=mirror)
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3:
        raise _corrupt(paths[0], "holds labels (magic 0x00000801) where images were expected")
    if labels.ndim != 1:
        raise _corrupt(paths[1], "holds images (magic 0x00000803) where labels were expected")
    if len(images) != len(labels):
        raise _corrupt(paths[1], f"holds {len(labels)} labels but {paths[0].name} "
                                 f"holds {len(images)} images")
    x = images.astype(np.float32)
    x /= 255.0
    x = x.reshape(len(x), -1) if flatten else x[:, None]
    return x, labels.astype(np.int64)
