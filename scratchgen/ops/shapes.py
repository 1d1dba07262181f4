"""Shapes, indexing, joining and padding: each gradient is the inverse
rearrangement of gy (reshape back, transpose back, scatter back, slice back)."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_index, as_tensor
from ..backend import xp
from .arguments import pytorch_names
from .reductions import _normalize_axis


# ---------------------------------------------------------------------------

class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)


class Permute(Function):
    """y = x with its axes in the order ``dims`` (NumPy's ``transpose(axes)``,
    PyTorch's ``permute``); the gradient is gy put back in the inverse order."""

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, gy):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d % len(self.dims)] = i
        return permute(gy, *inverse)


def reshape(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    x = as_tensor(x)
    return x if x.shape == shape else Reshape(shape)(x)


def permute(x, *dims):
    """Reorder the axes: ``permute(x, 2, 0, 1)`` (or a tuple), as PyTorch's."""
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    valid = sorted(d % x.ndim for d in dims) == list(range(x.ndim)) if x.ndim else not dims
    if not valid:
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}")
    return Permute(tuple(dims))(x)


def transpose(x, *dims):
    """Swap two axes, PyTorch's ``transpose(dim0, dim1)`` (NumPy calls it
    ``swapaxes``).  NumPy's ``transpose(*axes)``, a whole permutation, is
    :func:`permute`; ``.T`` reverses every axis."""
    if len(dims) != 2:
        raise TypeError(f"transpose takes two axes to swap (dim0, dim1), as in PyTorch; got "
                        f"{dims}. For a permutation of all axes use permute(*dims), and .T to "
                        "reverse them")
    order = list(range(x.ndim))
    order[dims[0]], order[dims[1]] = order[dims[1]], order[dims[0]]
    return Permute(tuple(order))(x)


swapaxes = transpose  # NumPy's name for the same swap


@pytorch_names(start_dim="start_axis", end_dim="end_axis")
def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one (PyTorch's ``flatten``)."""
    start, end = start_axis % x.ndim, end_axis % x.ndim
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


@pytorch_names(dim="axis")
def expand_dims(x, axis):
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


@pytorch_names(dim="axis")
def squeeze(x, axis=None):
    axes = [i for i, n in enumerate(x.shape) if n == 1] if axis is None \
        else _normalize_axis(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


# ---------------------------------------------------------------------------
# Indexing: y = x[index]; the gradient scatters gy back into x's shape
# ---------------------------------------------------------------------------

def _has_array_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) or isinstance(p, list) for p in parts)


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.index, self.inputs[0].shape)(gy)


class ScatterAdd(Function):
    """The adjoint of indexing: zeros of ``shape`` with ``gy`` added at
    ``index``.  An element picked twice (``x[[0, 0]]``) gets both gradients,
    which plain assignment would lose, so integer-array indices use
    ``backend.scatter_add`` (NumPy's ``add.at``); slices cannot repeat and use the faster assignment."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        out = xp.zeros(self.shape, dtype=gy.dtype)
        if _has_array_index(self.index):
            backend.scatter_add(out, self.index, gy)
        else:
            out[self.index] = gy
        return out

    def backward(self, ggx):
        return ggx[self.index]


def getitem(x, index):
    return GetItem(as_index(index))(x)


# ---------------------------------------------------------------------------
# Joining and padding
# ---------------------------------------------------------------------------

class Concatenate(Function):
    """Gradient: cut gy back into the pieces, at the same offsets."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            index = [slice(None)] * gy.ndim
            index[self.axis] = slice(start, start + x.shape[self.axis])
            grads.append(gy[tuple(index)])
            start += x.shape[self.axis]
        return tuple(grads)


class Pad(Function):
    """Zero padding; its gradient is the un-padded window of gy."""

    def __init__(self, pad_width):
        self.pad_width = pad_width

    def forward(self, x):
        return xp.pad(x, self.pad_width)

    def backward(self, gy):
        return gy[tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.pad_width, gy.shape))]


@pytorch_names(dim="axis")
def concatenate(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    return Concatenate(axis % tensors[0].ndim)(*tensors)


@pytorch_names(dim="axis")
def stack(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis % (tensors[0].ndim + 1))


@pytorch_names(dim="axis")
def split(x, indices_or_sections, axis=0):
    """NumPy's ``split``: equal sections, or cut points along ``axis``."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: axis of size {n} is not divisible into {indices_or_sections}")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    bounds = zip([0] + cuts, cuts + [n])
    axis = axis % x.ndim
    return [x[(slice(None),) * axis + (slice(lo, hi),)] for lo, hi in bounds]


def pad(x, pad_width):
    """Zero padding with NumPy's ``pad_width``: an int or one (before, after)
    pair per axis."""
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)] * x.ndim
    return Pad(tuple((int(lo), int(hi)) for lo, hi in pad_width))(x)
