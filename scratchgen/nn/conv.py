"""Convolution layers.  The arithmetic (im2col and one matrix product) is in
:mod:`scratchgen.conv`; a layer holds the weight and the hyper-parameters.

Weight layouts are PyTorch's: ``Conv2d`` (out, in, kh, kw), one filter per
output channel; ``ConvTranspose2d`` (in, out, kh, kw), because it is the
adjoint (the backward-in-input) of a Conv2d from ``out`` to ``in`` channels
and uses that convolution's weight as it is.  Both are initialised like
``Linear`` with ``fan_in`` taken from the weight (shape[1] * kh * kw), which
for ConvTranspose2d is ``out * kh * kw``: PyTorch's choice, kept so the
statistics match.
"""
from __future__ import annotations

from .. import functional as F
from ..conv import _pair
from .linear import empty_parameter, reset_weight_and_bias
from .module import Module


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding,
                 bias, weight_shape):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.output_padding = _pair(padding), _pair(output_padding)
        self.weight = empty_parameter(*weight_shape, *self.kernel_size)
        self.register_parameter("bias", empty_parameter(out_channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        return s if self.bias is not None else s + ", bias=False"


class Conv2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, 0, bias,
                         (out_channels, in_channels))

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class ConvTranspose2d(_ConvNd):
    """Upsampling convolution: output size ``(H - 1) s - 2p + k + output_padding``;
    with k = 4, s = 2, p = 1 (DCGAN's choice) it doubles H exactly."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         output_padding, bias, (in_channels, out_channels))

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding)
