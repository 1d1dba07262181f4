"""Containers: modules that hold other modules under the names "0", "1", ...

``Sequential`` feeds each child's output to the next; ``ModuleList`` only
holds its children (so their parameters are found) and leaves the wiring to
the ``forward`` of the module that owns it.  A plain Python list would hide
the layers from ``parameters()``: that is what ``ModuleList`` is for.
"""
from __future__ import annotations

from collections import OrderedDict

from .module import Module


class _Sequence(Module):
    """Indexing, length and iteration over the children."""

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _items(self, index):
        """The (name, module) pairs selected by an int or a slice."""
        items = list(self._modules.items())
        if isinstance(index, slice):
            return items[index]
        if not -len(items) <= index < len(items):
            raise IndexError(f"index {index} is out of range for {type(self).__name__} "
                             f"of length {len(items)}")
        return items[index]


class ModuleList(_Sequence):
    """A list of modules whose parameters the parent module can see."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(m for _, m in self._items(index))
        return self._items(index)[1]


class Sequential(_Sequence):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0",
    "1", ... (or by the keys of a single ``OrderedDict`` argument)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for m in modules:
                self.append(m)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(self._items(index)))
        return self._items(index)[1]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x
