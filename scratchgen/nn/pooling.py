"""Pooling layers: the max or mean of each ``kernel_size`` window, per
channel; ``stride`` defaults to the kernel size (windows that tile the
image), as in PyTorch.  The arithmetic is in :mod:`scratchgen.conv`."""
from __future__ import annotations

from .. import functional as F
from .module import Module, check_input


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride

    def forward(self, x):
        check_input(self, x, (4,), "(N, C, H, W)")
        return self._pool(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    _pool = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    _pool = staticmethod(F.avg_pool2d)
