"""The ``scratchgen`` command's entry point: a shell around the library.

Why a module of its own, outside the ``scratchgen`` package: importing any
part of the package runs ``scratchgen/__init__.py``, which chooses the array
backend (``SCRATCHGEN_BACKEND``) and raises ``BackendError`` when it cannot
be used.  An entry point inside the package would die in that import, before
any of its error handling runs, and print a traceback.  This module imports
nothing of scratchgen at its top; :func:`main` imports the command line
(:mod:`scratchgen.runs.cli`) inside a ``try``, so a broken environment is
reported like every other mistake: one line on stderr, exit status 2.
Ctrl-C anywhere, the import included, exits with status 130.

``python -m scratchgen_cli`` runs it too; ``python -m scratchgen`` imports
the package first, so there a broken backend is Python's own traceback.
"""
from __future__ import annotations

import sys

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def _is_backend_error(exc: BaseException) -> bool:
    # The class lives in scratchgen.backend, whose import is the one that
    # failed (so the module is no longer in sys.modules): recognise it by name.
    cls = type(exc)
    return cls.__module__ == "scratchgen.backend" and cls.__name__ == "BackendError"


def main(argv=None) -> int:
    try:
        from scratchgen.runs import cli
    except KeyboardInterrupt:
        print("scratchgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 (only the backend's error is the user's)
        if not _is_backend_error(exc):
            raise
        print(f"scratchgen: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
