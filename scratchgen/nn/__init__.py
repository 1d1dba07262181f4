"""``scratchgen.nn``: layers and models as trees of modules, PyTorch's API.

Reading order: :mod:`.module` (Module, Parameter: how a model finds its
weights), :mod:`.init` (why weights start at the scale they do), then the
layers: :mod:`.linear`, :mod:`.conv`, :mod:`.pooling`, :mod:`.norm`,
:mod:`.activation`, :mod:`.attention`, :mod:`.dropout`, :mod:`.shape`,
:mod:`.upsample`, :mod:`.container`, and
:mod:`.utils` (gradient clipping).
"""
from . import init, utils
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .attention import CausalSelfAttention
from .container import ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout, Dropout2d
from .linear import Embedding, Linear, MaskedLinear
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AvgPool2d, MaxPool2d
from .shape import Flatten, Identity, Unflatten
from .upsample import Upsample

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "MaskedLinear", "Embedding",
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "LayerNorm", "Dropout", "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "Flatten",
    "Unflatten", "CausalSelfAttention", "init", "utils", "GroupNorm", "Upsample", "Dropout2d",
    "Identity", "SiLU", "ELU", "Softmax", "LogSoftmax",
]
