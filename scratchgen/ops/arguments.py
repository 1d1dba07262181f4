"""PyTorch's argument names beside NumPy's.

scratchgen's reductions and shape functions take NumPy's words (``axis``,
``keepdims``, ``start_axis``); a PyTorch user writes ``dim``, ``keepdim``,
``start_dim``.  :func:`pytorch_names` lets a function take either spelling
of the same argument (both at once is an error), so ``x.sum(dim=1,
keepdim=True)`` and ``x.sum(axis=1, keepdims=True)`` are the same call.
"""
from __future__ import annotations

import functools

#: the names every reduction and softmax-like function accepts
DIM = {"dim": "axis", "keepdim": "keepdims"}


def pytorch_names(**aliases):
    """Decorator: accept the keyword ``torch_name`` as ``numpy_name`` for each
    ``torch_name=numpy_name`` given."""
    def wrap(fn):
        @functools.wraps(fn)
        def accepting(*args, **kwargs):
            if kwargs:  # the common positional call pays nothing more
                for torch_name, numpy_name in aliases.items():
                    if torch_name in kwargs:
                        if numpy_name in kwargs:
                            raise TypeError(f"{fn.__name__}() got both {numpy_name}= and "
                                            f"{torch_name}=: one argument under its NumPy and "
                                            "its PyTorch name; pass one of them")
                        kwargs[numpy_name] = kwargs.pop(torch_name)
            return fn(*args, **kwargs)
        return accepting
    return wrap
