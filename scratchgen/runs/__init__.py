"""The run tooling: everything around a model that trains, judges and shows it.

Read in this order: :mod:`.recipes` (the default settings per model and data
set), :mod:`.training` (run folders, the loop, checkpoints, exact resume),
:mod:`.metrics` (host-side numbers: Fréchet distance, precision/recall, mode
coverage), :mod:`.feature_net` (the small classifier whose features those
metrics use), :mod:`.evaluation` (a run folder in, its numbers out),
:mod:`.plot` (figures), :mod:`.cli` (the ``scratchgen`` command).
"""
