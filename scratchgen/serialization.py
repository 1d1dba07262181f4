"""sg.save and sg.load: checkpoints as plain ``.npz`` files, no pickle.

A checkpoint is a nested structure: a model's ``state_dict()``, an
optimizer's state, the epoch, the loss history, a config.  PyTorch stores
such trees with :mod:`pickle`, which can run arbitrary code when a file is
loaded.  scratchgen writes a NumPy ``.npz`` archive (a zip of ``.npy``
files) instead, and reads it with ``allow_pickle=False``: loading a file can
only ever produce arrays and plain values.

Layout of the archive:

* each array in the tree is one entry, named by its path through the tree,
  e.g. ``model/0.weight`` or ``history/3``.  A ``/`` or ``~`` inside a key
  is escaped as ``~1`` or ``~0`` (the rule of JSON Pointer, RFC 6901; a
  backslash and NUL, which zip names cannot hold, become ``~2`` and ``~3``),
  so every path names one entry;
* the entry ``__scratchgen__`` holds UTF-8 JSON (as a uint8 array): the
  format name and version, and the tree itself, in which every array is
  replaced by the name of its entry and every other leaf (number, bool,
  string, None) is stored as is.

Saving is atomic: the archive is written to a temporary file in the target
folder, flushed to disk, and renamed over the target with ``os.replace``.
A crash mid-save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import errno
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import backend
from .atomic import atomic_path

HEADER = "__scratchgen__"
FORMAT = "scratchgen-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file is not a (readable) scratchgen checkpoint."""


# --------------------------------------------------------------------------
# The tree <-> JSON description + a flat dict of arrays
# --------------------------------------------------------------------------
def _escape(key: str) -> str:
    """A dict key made safe for an entry name.  ``~`` goes first, so that every
    escape stays unambiguous; ``/`` separates path parts; zip files turn
    ``\\`` into ``/`` on Windows and cut names at a NUL."""
    return key.replace("~", "~0").replace("/", "~1").replace("\\", "~2").replace("\0", "~3")


def _as_array(obj):
    """A host NumPy array for an array-like leaf, else None."""
    if isinstance(obj, np.ndarray):
        return obj
    if callable(getattr(obj, "numpy", None)):   # a Tensor
        return np.asarray(obj.numpy())
    if backend.is_array(obj):                     # a CuPy or guarded array
        return backend.to_numpy(obj)
    return None


def _encode(obj, path: tuple, arrays: dict):
    """The JSON node for ``obj``; its arrays are added to ``arrays``."""
    where = "/".join(path) or "the top level"
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"sg.save: dict keys must be strings; found {key!r} "
                                f"({type(key).__name__}) at {where}")
        return {"dict": [[k, _encode(v, path + (_escape(k),), arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, path + (str(i),), arrays) for i, v in enumerate(obj)]}
    array = _as_array(obj)
    if array is None:
        raise TypeError(f"sg.save cannot store a {type(obj).__name__} (at {where}); it "
                        "stores arrays, Tensors, numbers, bools, strings, None, and "
                        "dicts/lists/tuples of them")
    if array.dtype.hasobject:
        raise TypeError(f"sg.save refuses object arrays (at {where}): they can only be "
                        "stored with pickle; convert to a numeric dtype first")
    key = "/".join(path)
    if key == HEADER:        # "~_" is no escape, so no other path can become this key
        key = "~" + key
    arrays[key] = array
    return {"array": key}


def _decode(node, npz):
    """Rebuild the object a JSON node describes (the inverse of _encode)."""
    (kind, body), = node.items()   # every node is a one-entry dict {kind: body}
    if kind == "value":
        return body
    if kind == "array":
        return npz[body]
    if kind == "dict":
        return {k: _decode(v, npz) for k, v in body}
    if kind == "list":
        return [_decode(v, npz) for v in body]
    if kind == "tuple":
        return tuple(_decode(v, npz) for v in body)
    raise ValueError(f"unknown node type {kind!r}")


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def _write_npz(file, arrays: dict, header: bytes) -> None:
    """An uncompressed ``.npz``: what ``np.savez`` writes, but any key works
    (``np.savez(f, **arrays)`` cannot take a key named ``file``)."""
    entries = {HEADER: np.frombuffer(header, dtype=np.uint8), **arrays}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in entries.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of arrays, Tensors, numbers,
    bools, strings, None) to ``path`` exactly (no suffix is added)."""
    path = Path(path)
    arrays = {}
    tree = _encode(obj, (), arrays)
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        _write_npz(f, arrays, header)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
def _not_ours(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"not a scratchgen checkpoint: {path}: {problem} "
                           "— was it written by sg.save?")


def _read_header(path: Path, npz) -> dict:
    if HEADER not in npz.files:
        raise _not_ours(path, f"the archive has no {HEADER!r} entry")
    header = json.loads(npz[HEADER].tobytes().decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _not_ours(path, f"the {HEADER!r} entry does not describe a checkpoint")
    version = header.get("version")
    if not isinstance(version, int) or not 1 <= version <= VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r}; this "
                              f"scratchgen reads versions 1..{VERSION}. A newer scratchgen "
                              "may have written it: upgrade scratchgen.")
    return header


def load(path):
    """Read a checkpoint written by :func:`save`; arrays come back as host
    NumPy arrays, the rest as it was saved."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no checkpoint file at this path", str(path))
    if not zipfile.is_zipfile(path):   # a zip's directory is at its end: truncation shows
        raise _not_ours(path, "it is not a zip (.npz) archive, or it is truncated")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _decode(_read_header(path, npz)["tree"], npz)
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(f"{path}: the checkpoint is damaged "
                              f"({type(exc).__name__}: {exc})") from None
