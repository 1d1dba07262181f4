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
from ..conv import _pair, _conv_padding
from .linear import empty_parameter, reset_weight_and_bias
from .module import Module


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding,
                 dilation, groups, bias, weight_shape, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if not (isinstance(groups, int) and groups >= 1
                and in_channels % groups == 0 and out_channels % groups == 0):
            raise ValueError(f"{name}: groups={groups!r} must be a positive integer dividing "
                             f"in_channels={in_channels} and out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is implemented, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.dilation, self.groups = _pair(dilation), groups
        # refuse here, not at the first forward, a padding that cannot work
        _conv_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.output_padding = _pair(output_padding)
        self.weight = empty_parameter(*weight_shape, *self.kernel_size)
        self.register_parameter("bias", empty_parameter(out_channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s if self.bias is not None else s + ", bias=False"


class Conv2d(_ConvNd):
    """``padding`` is a number, a pair, ``'valid'`` (none) or ``'same'``
    (the output keeps the input's size; stride 1 only).  Weight
    (out, in/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, 0, dilation,
                         groups, bias, (out_channels, in_channels // groups), padding_mode)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """Upsampling convolution: output size
    ``(H - 1) s - 2p + d (k - 1) + output_padding + 1``; with k = 4, s = 2,
    p = 1 (DCGAN's choice) it doubles H exactly.  Weight
    (in, out/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros"):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be a number or a pair, got "
                             f"{padding!r} ('same' and 'valid' are Conv2d's)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding,
                         output_padding, dilation, groups, bias,
                         (in_channels, out_channels // groups), padding_mode)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)
