"""Pooling layers: the max or mean of each ``kernel_size`` window, per
channel; ``stride`` defaults to the kernel size (windows that tile the
image), as in PyTorch.  The arithmetic is in :mod:`scratchgen.conv`."""
from __future__ import annotations

from .. import functional as F
from .module import Module, check_input


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_Pool2d):
    """Max over each window; padding counts as -inf."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not implemented")
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = dilation

    def forward(self, x):
        check_input(self, x, (4,), "(N, C, H, W)")
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)


class AvgPool2d(_Pool2d):
    """Mean over each window; zero padding counts in the mean unless
    ``count_include_pad=False``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        check_input(self, x, (4,), "(N, C, H, W)")
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)
