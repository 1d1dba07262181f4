"""Text as data: characters become integers, a corpus becomes windows.

A character-level language model sees text as a sequence of integers, one
per character, drawn from a *vocabulary*: the sorted set of characters the
training text uses (65 for Tiny Shakespeare).  ``encode`` and ``decode``
translate between the two.  A training example is a window of
``block_size + 1`` consecutive characters: the first ``block_size`` are
the input, the same window shifted by one the targets, so one window
teaches ``block_size`` next-character predictions at once.

The bundled corpus is Tiny Shakespeare (``TINYSHAKESPEARE_SOURCE.txt``):
the first 90% of its characters train, the last 10% validate, as nanoGPT
splits it.  Any UTF-8 text file can stand in for it (``load_text``).
"""
from __future__ import annotations

import gzip
import hashlib
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TEXT_SETS = ("shakespeare",)
TRAIN_FRACTION = 0.9


class TextError(ValueError):
    """A text file that cannot be a training corpus (empty, binary, too short)."""


class Vocabulary:
    """The characters of a text, sorted; character i is token i."""

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary of {len(self)}: "
                             f"{''.join(unknown)!r}; use only characters of the training text")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, tokens) -> str:
        return "".join(self.chars[int(t)] for t in np.asarray(tokens).reshape(-1))


class TextDataset(NamedTuple):
    """A corpus as token arrays: ``train`` and ``val`` (int64) and the
    ``vocab`` that made them; ``name`` says where it came from."""
    train: np.ndarray
    val: np.ndarray
    vocab: Vocabulary
    name: str


def shakespeare() -> str:
    """The bundled Tiny Shakespeare text, checked against its SHA-256."""
    raw = gzip.decompress(resources.files(__package__).joinpath(
        "tinyshakespeare.txt.gz").read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise TextError(f"the bundled tinyshakespeare.txt.gz is damaged (sha256 {digest}, "
                        f"expected {SHAKESPEARE_SHA256}); reinstall scratchgen")
    return raw.decode("utf-8")


def load_text(path) -> str:
    """A UTF-8 text file's contents, or a clear error for a file that is
    missing, empty, binary (NUL bytes or invalid UTF-8) or blank."""
    path = Path(path)
    if not path.is_file():
        raise TextError(f"{path}: no such file; give the path of a UTF-8 text file")
    raw = path.read_bytes()
    if not raw.strip():
        raise TextError(f"{path} is empty; a character model needs text to learn from")
    if b"\x00" in raw:
        raise TextError(f"{path} looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "convert it to UTF-8 or give another file") from None


def load_text_dataset(source: str = "shakespeare", min_length: int = 2) -> TextDataset:
    """``source`` is ``"shakespeare"`` (bundled) or the path of a text file.
    Its characters are split at 90%: training text first, validation last.
    Each split must hold at least ``min_length`` characters (a context
    window plus its next character)."""
    text = shakespeare() if source == "shakespeare" else load_text(source)
    vocab = Vocabulary(text)
    tokens = vocab.encode(text)
    cut = int(TRAIN_FRACTION * len(tokens))
    if min(cut, len(tokens) - cut) < min_length:
        raise TextError(f"{source}: {len(tokens)} characters are too few; each split "
                        f"(90% / 10%) needs at least {min_length} for one window of context "
                        f"and its next character; use a longer text")
    return TextDataset(tokens[:cut], tokens[cut:], vocab, str(source))


def random_windows(tokens: np.ndarray, block_size: int, batch_size: int, rng):
    """``batch_size`` windows at random offsets (nanoGPT's ``get_batch``):
    inputs ``x = tokens[i : i + T]`` and targets ``y = tokens[i + 1 : i + T + 1]``,
    each (batch_size, T) int64."""
    if len(tokens) <= block_size:
        raise TextError(f"a text of {len(tokens)} tokens has no window of {block_size} + 1; "
                        "use a shorter block_size or a longer text")
    starts = rng.integers(0, len(tokens) - block_size, size=batch_size)
    offsets = np.arange(block_size)
    x = tokens[starts[:, None] + offsets]
    return x, tokens[starts[:, None] + offsets + 1]
