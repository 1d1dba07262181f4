"""Write a file all at once, or not at all.

A crash, a full disk or Ctrl-C half-way through writing a checkpoint, a
figure, a loss log or a download must not leave half a file where a good
one was, or where a reader would take it for a good one.  So every file
scratchgen writes goes through :func:`atomic_path`:

1. write to a temporary file in the *same folder* (a rename across file
   systems would be a copy, which is not atomic);
2. flush it to disk (``fsync``), so a power cut after the rename cannot
   leave the new name pointing at unwritten blocks;
3. rename it over the target with ``os.replace``: within one file system a
   reader then sees the old file or the new one, never a mix;
4. on any error, Ctrl-C included, delete the temporary file instead.

``mkstemp`` creates its file readable by its owner only (0600); step 3
first gives it the mode a plain ``open`` would (0666 minus the umask).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path`` to write to; when the block
    ends without an error, move the finished file to ``path``.  ``suffix``
    ends the temporary name (a writer that infers the format from the
    suffix, like matplotlib's ``savefig``, needs the real one)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        _fsync(tmp, os.O_RDWR)  # writable: Windows cannot flush a read-only handle
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable.  Best effort: Windows and some network
    file systems cannot sync a folder, and the file is complete either way."""
    with contextlib.suppress(OSError):
        _fsync(folder, os.O_RDONLY)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask
