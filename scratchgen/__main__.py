"""``python -m scratchgen``: the command line (see :mod:`scratchgen_cli` for
why the ``scratchgen`` command enters through a module of its own)."""
import sys

from .runs.cli import main

sys.exit(main())
