"""The gradient-test table: every differentiable public operation, once.

Each :class:`OpSpec` says how to call an operation (``fn(*tensors,
**kwargs)``), how to draw inputs for it (a hypothesis strategy of
:class:`Case`), which public names it exercises (``covers``, checked by the
meta-test in ``test_ops_gradients.py``) and, for elementwise ops and
reductions, a NumPy reference for the forward values.

Inputs are host ``float64`` arrays (integer and boolean arrays are constants:
labels, masks).  Every input is small (at most 24 elements) and drawn inside
the op's *domain*: away from kinks (``abs``, ``relu``, ``clip``), ties
(``max``, ``maximum``) and singularities (``log``, ``sqrt``, division), where
a finite difference measures something other than the derivative.

To register a new op: add an ``OpSpec`` here, naming in ``covers`` every
public name (``"ops.add"``, ``"F.linear"``, ``"Tensor.__radd__"``, ...) it
exercises.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen import conv, ops
from scratchgen import functional as F

MAX_ELEMENTS = 24


@dataclass(frozen=True)
class Case:
    """One drawn call: host arrays (one tensor each) and keyword arguments."""
    arrays: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpSpec:
    name: str
    fn: Callable                    # fn(*tensors, **kwargs) -> Tensor
    cases: st.SearchStrategy        # draws a Case
    covers: tuple = ()              # public names this entry exercises
    reference: Callable | None = None   # NumPy forward: reference(*arrays, **kwargs)
    max_examples: int | None = None     # fewer examples for the expensive ops

    def __repr__(self):
        return self.name


# ---------------------------------------------------------------------------
# Strategies: shapes and values
# ---------------------------------------------------------------------------

def _small(shape) -> bool:
    return math.prod(shape) <= MAX_ELEMENTS


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side).filter(_small)


# Broadcast pairs worth always trying, then whatever hypothesis finds.
_PAIRS = [((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (2, 3)), ((2, 3), ()), ((1,), (3, 1)),
          ((2, 1, 3), (4, 1))]


def broadcast_shapes(n=2):
    drawn = hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3,
                                              min_side=1, max_side=4)
    drawn = drawn.map(lambda bs: bs.input_shapes).filter(lambda ss: all(map(_small, ss)))
    if n == 2:
        return st.one_of(st.sampled_from(_PAIRS), drawn)
    return drawn


def values(shape, lo=-2.0, hi=2.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(
        lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False))


def away_from(x, points=(0.0,), gap=0.1):
    """Push values that lie within ``gap`` of a kink out to distance ``gap``."""
    for p in points:
        d = x - p
        x = np.where(np.abs(d) < gap, p + np.where(d >= 0, gap, -gap), x)
    return x


@st.composite
def distinct(draw, shape, spacing=0.3):
    """Values at least ``spacing - 0.1`` apart: no ties for max/min to split."""
    n = math.prod(shape)
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = draw(values((n,), 0.0, 0.1))
    return ((order - n / 2) * spacing + jitter).reshape(shape)


@st.composite
def ladder_pair(draw, shape_a, shape_b):
    """Two arrays whose elements never come within 0.15 of each other, so
    maximum/minimum have no ties wherever they broadcast together."""
    def rung(shape, offset):
        steps = draw(hnp.arrays(np.int64, shape, elements=st.integers(-4, 4)))
        return 0.5 * steps + offset + draw(values(shape, -0.05, 0.05))
    return rung(shape_a, 0.25), rung(shape_b, 0.0)


def axes(ndim, allow_none=True, allow_tuple=True):
    """``axis`` arguments: None, an int (maybe negative) or a tuple of ints."""
    options = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none:
        options.append(st.none())
    if allow_tuple and ndim:
        options.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return st.one_of(*options)


# ---------------------------------------------------------------------------
# Case builders shared by several entries
# ---------------------------------------------------------------------------

@st.composite
def unary(draw, lo=-2.0, hi=2.0, kinks=None, min_dims=0, **kwargs):
    x = draw(values(draw(shapes(min_dims=min_dims)), lo, hi))
    if kinks is not None:
        x = away_from(x, kinks)
    return Case((x,), {k: draw(v) for k, v in kwargs.items()})


@st.composite
def binary(draw, a_range=(-2.0, 2.0), b_range=(-2.0, 2.0), b_away_from_zero=False):
    sa, sb = draw(broadcast_shapes())
    a, b = draw(values(sa, *a_range)), draw(values(sb, *b_range))
    return Case((a, away_from(b, gap=0.5) if b_away_from_zero else b))


@st.composite
def ladder_binary(draw):
    return Case(draw(ladder_pair(*draw(broadcast_shapes()))))


@st.composite
def reduction(draw, distinct_values=False):
    shape = draw(shapes())
    x = draw(distinct(shape)) if distinct_values else draw(values(shape))
    return Case((x,), {"axis": draw(axes(len(shape))), "keepdims": draw(st.booleans())})


@st.composite
def along_axis(draw, min_dims=1):
    """One array and one valid integer axis of it (softmax and friends)."""
    shape = draw(shapes(min_dims=min_dims))
    return Case((draw(values(shape, -3.0, 3.0)),),
                {"axis": draw(st.integers(-len(shape), len(shape) - 1))})


@st.composite
def same_shape(draw, ranges, min_dims=0, max_dims=3, **kwargs):
    """Arrays of one shape, one per value range (losses)."""
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims))
    return Case(tuple(draw(values(shape, *r)) for r in ranges),
                {k: draw(v) for k, v in kwargs.items()})


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


# ---------------------------------------------------------------------------
# Shape manipulations
# ---------------------------------------------------------------------------

@st.composite
def reshape_case(draw):
    x = draw(values(draw(shapes())))
    n = x.size
    d = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    targets = [(n,), (d, n // d), (-1, d), (d, 1, n // d)] + ([()] if n == 1 else [])
    return Case((x,), {"shape": draw(st.sampled_from(targets)),
                       "form": draw(st.sampled_from(["method", "function"]))})


def _reshape(x, shape, form):
    return x.reshape(*shape) if form == "method" else sg.reshape(x, shape)


@st.composite
def permute_case(draw):
    shape = draw(shapes())
    perm = draw(st.permutations(range(len(shape))))
    return Case((draw(values(shape)),), {"dims": tuple(perm),
                                         "form": draw(st.sampled_from(["method", "function", "T"]))})


def _permute(x, dims, form):
    if form == "T":
        return x.T
    return x.permute(*dims) if form == "method" else sg.permute(x, dims)


@st.composite
def swapaxes_case(draw):
    shape = draw(shapes(min_dims=1))
    ax = st.integers(-len(shape), len(shape) - 1)
    return Case((draw(values(shape)),), {"a": draw(ax), "b": draw(ax)})


@st.composite
def flatten_case(draw):
    shape = draw(shapes(min_dims=1))
    start = draw(st.integers(0, len(shape) - 1))
    end = draw(st.integers(start, len(shape) - 1))
    neg = draw(st.booleans())  # also the negative spelling of end
    return Case((draw(values(shape)),), {"start_axis": start,
                                         "end_axis": end - len(shape) if neg else end})


@st.composite
def expand_dims_case(draw):
    shape = draw(shapes(max_dims=2))
    return Case((draw(values(shape)),), {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def squeeze_case(draw):
    shape = draw(shapes(max_side=3))
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = draw(st.one_of(st.none(), st.sampled_from(ones))) if ones else None
    return Case((draw(values(shape)),), {"axis": axis})


@st.composite
def broadcast_to_case(draw):
    sx, other = draw(broadcast_shapes())
    target = np.broadcast_shapes(sx, other)
    return Case((draw(values(sx)),), {"shape": target})


@st.composite
def sum_to_case(draw):
    target, other = draw(broadcast_shapes())
    return Case((draw(values(np.broadcast_shapes(target, other))),), {"shape": target})


@st.composite
def basic_index_case(draw):
    shape = draw(shapes(min_dims=1))
    index = draw(hnp.basic_indices(shape, allow_newaxis=True).filter(
        lambda i: np.empty(shape)[i].size > 0))
    return Case((draw(values(shape)),), {"index": index})


@st.composite
def array_index_case(draw):
    """Integer-array indices, repeats included (their gradients must add)."""
    shape = draw(shapes(min_dims=1))
    picks = lambda n: hnp.arrays(np.int64, draw(st.integers(1, 5)),
                                 elements=st.integers(-n, n - 1))
    forms = ["first_axis", "list"] + (["two_arrays", "slice_then_array"] if len(shape) > 1 else [])
    form = draw(st.sampled_from(forms))
    if form == "two_arrays":
        length = draw(st.integers(1, 5))
        index = tuple(draw(hnp.arrays(np.int64, length, elements=st.integers(-n, n - 1)))
                      for n in shape[:2])
    elif form == "slice_then_array":
        index = (slice(None), draw(picks(shape[1])))
    else:
        index = draw(picks(shape[0]))
    return Case((draw(values(shape)),), {"index": index, "as_list": form == "list"})


def _array_index(x, index, as_list):
    """Integer arrays go to the backend as tensors (host arrays would be
    refused by the numpy-guard backend); lists are accepted as they are."""
    if as_list:
        return x[index.tolist()]
    if isinstance(index, tuple):
        return x[tuple(i if isinstance(i, slice) else sg.tensor(i) for i in index)]
    return x[sg.tensor(index)]


@st.composite
def concatenate_case(draw):
    base = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    axis = draw(st.integers(-len(base), len(base) - 1))
    k = draw(st.integers(1, 3))
    arrays = []
    for _ in range(k):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        arrays.append(draw(values(tuple(shape))))
    return Case(tuple(arrays), {"axis": axis})


@st.composite
def stack_case(draw):
    shape = draw(shapes(max_dims=2, max_side=3))
    k = draw(st.integers(1, 3))
    return Case(tuple(draw(values(shape)) for _ in range(k)),
                {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def split_case(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    if draw(st.booleans()):
        sections = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    else:
        sections = sorted(draw(st.lists(st.integers(1, n), max_size=3)))
    return Case((draw(values(shape)),), {"sections": sections, "axis": axis})


def _split(x, sections, axis):
    return sg.concatenate([p.reshape(-1) for p in sg.split(x, sections, axis=axis)])


@st.composite
def pad_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    width = st.integers(0, 2)
    pad_width = draw(st.one_of(width, st.tuples(*[st.tuples(width, width)] * len(shape))))
    return Case((draw(values(shape)),), {"pad_width": pad_width})


def _np_pad(x, pad_width):
    return np.pad(x, pad_width)


@st.composite
def where_case(draw):
    sc, sa, sb = draw(broadcast_shapes(3))
    cond = draw(hnp.arrays(np.bool_, sc))
    return Case((cond, draw(values(sa)), draw(values(sb))))


# ---------------------------------------------------------------------------
# Matrix products and layers
# ---------------------------------------------------------------------------

@st.composite
def matmul_case(draw):
    """1-D operands, plain matrices and batches that broadcast."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    kind = draw(st.sampled_from(["vec_vec", "vec_mat", "mat_vec", "mat_mat", "batched"]))
    ba, bb = (), ()
    if kind == "batched":
        ba, bb = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2,
                                                        max_side=2)).input_shapes
    sa = (k,) if kind in ("vec_vec", "vec_mat") else ba + (n, k)
    sb = (k,) if kind in ("vec_vec", "mat_vec") else bb + (k, m)
    return Case((draw(values(sa)), draw(values(sb))))


@st.composite
def linear_case(draw):
    lead = draw(shapes(max_dims=2, max_side=3))
    fin, fout = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    arrays = [draw(values(lead + (fin,))), draw(values((fout, fin)))]
    if draw(st.booleans()):
        arrays.append(draw(values((fout,))))
    return Case(tuple(arrays))


@st.composite
def batch_norm_train_case(draw):
    n = draw(st.integers(2, 4))
    c = draw(st.integers(1, 3))
    spatial = draw(st.sampled_from([(), (2,), (2, 2)]))
    shape = (n, c) + spatial
    if not _small(shape):
        shape = (2, c) + spatial
    arrays = [draw(distinct(shape))]  # a spread-out batch: no near-zero variance
    if draw(st.booleans()):
        arrays += [draw(values((c,), 0.5, 2.0)), draw(values((c,)))]
    return Case(tuple(arrays), {"track": draw(st.booleans())})


def _batch_norm_train(x, *affine, track):
    weight, bias = affine or (None, None)
    # fresh running statistics on every call: batch_norm updates them in place
    running = (sg.zeros(x.shape[1], dtype=x.dtype), sg.ones(x.shape[1], dtype=x.dtype)) \
        if track else (None, None)
    return F.batch_norm(x, *running, weight, bias, training=True)


@st.composite
def batch_norm_eval_case(draw):
    c = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([(2, c), (3, c), (2, c, 2), (1, c, 2, 2)]))
    return Case((draw(values(shape)), draw(values((c,))), draw(values((c,), 0.5, 2.0)),
                 draw(values((c,), 0.5, 2.0)), draw(values((c,)))))


def _batch_norm_eval(x, mean, var, weight, bias):
    return F.batch_norm(x, mean, var, weight, bias, training=False)


@st.composite
def layer_norm_case(draw):
    """x (..., *normalized_shape), the normalised group at least 2 values
    (one value normalises to 0 whatever it is), optional weight and bias."""
    lead = draw(shapes(max_dims=2, max_side=3))
    norm = draw(st.sampled_from([(2,), (3,), (4,), (2, 2), (3, 2)]))
    if math.prod(lead + norm) > MAX_ELEMENTS:
        lead = ()
    arrays = [draw(values(lead + norm))]
    if draw(st.booleans()):
        arrays += [draw(values(norm)), draw(values(norm))]
    return Case(tuple(arrays), {"normalized_shape": norm})


def _layer_norm(x, weight=None, bias=None, normalized_shape=None):
    return F.layer_norm(x, normalized_shape, weight, bias)


def _np_layer_norm(x, weight=None, bias=None, normalized_shape=None):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    return y if weight is None else y * weight + bias


def _np_gelu(x, approximate):
    from scipy.special import erf
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


@st.composite
def attention_case(draw, with_value=True):
    """Queries (b, L, d), keys (b, S, d), values (b, S, dv), and either the
    causal mask or a drawn boolean mask whose every row keeps one key (a row
    with every key masked has no softmax: NaN, in PyTorch too)."""
    b, length, keys = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    d, dv = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    arrays = [draw(values((b, length, d))), draw(values((b, keys, d)))]
    if with_value:
        arrays.append(draw(values((b, keys, dv))))
    kind = draw(st.sampled_from(["none", "causal", "mask"]))
    kwargs = {"is_causal": kind == "causal", "attn_mask": None}
    if kind == "mask":
        mask = draw(hnp.arrays(bool, (length, keys)))
        mask[:, 0] = True
        kwargs["attn_mask"] = mask
    return Case(tuple(arrays), kwargs)


def _np_attention(q, k, v=None, attn_mask=None, is_causal=False):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    mask = np.tril(np.ones(scores.shape[-2:], dtype=bool)) if is_causal else attn_mask
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = _np_softmax(scores, -1)
    return weights if v is None else weights @ v


@st.composite
def group_norm_case(draw):
    groups = draw(st.integers(1, 2))
    c = groups * draw(st.integers(1, 2))
    shape = (draw(st.integers(1, 2)), c) + draw(st.sampled_from([(), (2,), (2, 2)]))
    arrays = [draw(distinct(shape))]  # spread-out groups: no near-zero variance
    if draw(st.booleans()):
        arrays += [draw(values((c,), 0.5, 2.0)), draw(values((c,)))]
    return Case(tuple(arrays), {"num_groups": groups})


def _group_norm(x, *affine, num_groups):
    return F.group_norm(x, num_groups, *affine)


@st.composite
def interpolate_case(draw):
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    x = draw(values((1, draw(st.integers(1, 2)), draw(st.integers(1, 3)),
                     draw(st.integers(1, 3)))))
    how = draw(st.sampled_from(["size", "scale"]))
    kw = ({"size": (draw(st.integers(1, 4)), draw(st.integers(1, 4)))} if how == "size"
          else {"scale_factor": draw(st.sampled_from([2, 1.5, 0.5]))})
    if mode == "bilinear":
        kw["align_corners"] = draw(st.booleans())
    if how == "scale" and min(int(n * kw["scale_factor"]) for n in x.shape[2:]) < 1:
        kw = {"size": x.shape[2:], **({"align_corners": False} if mode == "bilinear" else {})}
    return Case((x,), {"mode": mode, **kw})


@st.composite
def dropout2d_case(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), 2, 2)
    return Case((draw(values(shape)),),
                {"p": draw(st.sampled_from([0.0, 0.5])), "training": draw(st.booleans())})


def _dropout2d(x, p, training):
    sg.manual_seed(123)  # the same mask on every evaluation of the finite difference
    return F.dropout2d(x, p, training)


@st.composite
def select_case(draw):
    shape = draw(shapes())
    return Case((draw(values(shape)), draw(hnp.arrays(np.bool_, shape))))


@st.composite
def dropout_case(draw):
    return Case((draw(values(draw(shapes()))),),
                {"p": draw(st.sampled_from([0.0, 0.3, 0.5])), "training": draw(st.booleans())})


def _dropout(x, p, training):
    sg.manual_seed(123)  # the same mask on every evaluation of the finite difference
    return F.dropout(x, p, training)


# ---------------------------------------------------------------------------
# Convolutions and pooling
# ---------------------------------------------------------------------------

def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@st.composite
def image(draw, min_side=1, max_side=4, max_channels=2, distinct_values=False):
    shape = draw(st.tuples(st.integers(1, 2), st.integers(1, max_channels),
                           st.integers(min_side, max_side),
                           st.integers(min_side, max_side)).filter(_small))
    return draw(distinct(shape)) if distinct_values else draw(values(shape))


@st.composite
def window(draw):
    return {"kernel": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
            "stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 1))}


def _fits(x, kernel, padding):
    return all(n + 2 * padding >= k for n, k in zip(x.shape[2:], kernel))


@st.composite
def conv2d_case(draw):
    x = draw(image())
    win = draw(window().filter(lambda w: _fits(x, w["kernel"], w["padding"])))
    o = draw(st.integers(1, 2))
    arrays = [x, draw(values((o, x.shape[1]) + win["kernel"]))]
    if draw(st.booleans()):
        arrays.append(draw(values((o,))))
    return Case(tuple(arrays), {"stride": win["stride"], "padding": win["padding"]})


@st.composite
def conv_transpose2d_case(draw):
    x = draw(image(max_side=3))
    win = draw(window())
    out_pad = draw(st.integers(0, win["stride"] - 1))
    kh, kw = win["kernel"]
    # the output must have at least one pixel: (H - 1) s - 2p + k + output_padding >= 1
    ok = all((n - 1) * win["stride"] - 2 * win["padding"] + k + out_pad >= 1
             for n, k in zip(x.shape[2:], win["kernel"]))
    if not ok:
        win["padding"] = 0
    cout = draw(st.integers(1, 2))
    arrays = [x, draw(values((x.shape[1], cout, kh, kw)))]
    if draw(st.booleans()):
        arrays.append(draw(values((cout,))))
    return Case(tuple(arrays), {"stride": win["stride"], "padding": win["padding"],
                                "output_padding": out_pad})


@st.composite
def pool_case(draw, distinct_values):
    x = draw(image(min_side=2, distinct_values=distinct_values))
    k = draw(st.integers(1, min(x.shape[2:])))
    return Case((x,), {"kernel_size": k, "stride": draw(st.sampled_from([None, 1, 2]))})


@st.composite
def conv2d_options_case(draw):
    """Dilation, groups, and padding 'same' / 'valid' / asymmetric pairs."""
    groups = draw(st.sampled_from([1, 2]))
    x = draw(values((1, 4, draw(st.integers(3, 4)),
                     draw(st.integers(3, 4)))))
    kernel = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = draw(st.sampled_from([1, 2, (2, 1)]))
    padding = draw(st.sampled_from(["same", "valid", 1, (0, 1)]))
    w = draw(values((2, x.shape[1] // groups) + kernel))
    return Case((x, w), {"padding": padding, "dilation": dilation, "groups": groups})


@st.composite
def conv_transpose2d_options_case(draw):
    groups = draw(st.sampled_from([1, 2]))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.sampled_from([1, 2]))
    x = draw(values((1, 2, draw(st.integers(1, 3)), draw(st.integers(1, 3)))))
    w = draw(values((2, 2 // groups, draw(st.integers(1, 2)), 2)))
    return Case((x, w), {"stride": stride, "groups": groups, "dilation": dilation,
                         "output_padding": draw(st.integers(0, max(stride, dilation) - 1))})


@st.composite
def pool_options_case(draw, distinct_values):
    x = draw(image(min_side=3, distinct_values=distinct_values))
    k = draw(st.integers(2, 3))
    return Case((x,), {"kernel_size": k, "stride": draw(st.sampled_from([None, 1, 2])),
                       "padding": draw(st.integers(0, k // 2)),
                       "ceil_mode": draw(st.booleans())})


@st.composite
def im2col_case(draw):
    x = draw(image(max_side=3))
    win = draw(window().filter(lambda w: _fits(x, w["kernel"], w["padding"])))
    return Case((x,), {"kernel_size": win["kernel"], "stride": win["stride"],
                       "padding": win["padding"]})


@st.composite
def col2im_case(draw):
    x_shape = draw(image(max_side=3)).shape
    win = draw(window().filter(lambda w: _fits(np.empty(x_shape), w["kernel"], w["padding"])))
    (kh, kw), s, p = win["kernel"], win["stride"], win["padding"]
    n, c, h, w = x_shape
    cols_shape = (c * kh * kw, n * _out(h, kh, s, p) * _out(w, kw, s, p))
    return Case((draw(values(cols_shape)),), {"x_shape": x_shape, "kernel_size": (kh, kw),
                                              "stride": s, "padding": p})


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

@st.composite
def cross_entropy_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    targets = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return Case((draw(values((n, c), -3.0, 3.0)), targets), {"reduction": draw(REDUCTIONS)})


@st.composite
def cross_entropy_options_case(draw):
    """Class weights, an ignored class, label smoothing, extra axes (N, C, d)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    extra = draw(st.sampled_from([(), (2,)]))
    targets = draw(hnp.arrays(np.int64, (n,) + extra, elements=st.integers(0, c - 1)))
    targets.flat[0] = 0  # ignore_index=1 below leaves at least this one
    return Case((draw(values((n, c) + extra, -3.0, 3.0)), targets,
                 draw(values((c,), 0.5, 2.0))),
                {"ignore_index": draw(st.sampled_from([-100, 1])),
                 "label_smoothing": draw(st.sampled_from([0.0, 0.2])),
                 "reduction": draw(REDUCTIONS)})


def _cross_entropy_options(x, y, w, ignore_index, label_smoothing, reduction):
    return F.cross_entropy(x, y, w, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


@st.composite
def cross_entropy_probs_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    q = draw(values((n, c), 0.05, 1.0))
    return Case((draw(values((n, c), -3.0, 3.0)), q / q.sum(axis=1, keepdims=True)),
                {"label_smoothing": draw(st.sampled_from([0.0, 0.2])),
                 "reduction": draw(REDUCTIONS)})


@st.composite
def bce_weights_case(draw):
    shape = draw(shapes(min_dims=1))
    last = shape[-1:]
    return Case((draw(values(shape, -3.0, 3.0)), draw(values(shape, 0.0, 1.0)),
                 draw(values(last, 0.5, 2.0)), draw(values(last, 0.5, 3.0))),
                {"reduction": draw(REDUCTIONS)})


# ---------------------------------------------------------------------------
# NumPy references for forward values
# ---------------------------------------------------------------------------

def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    y = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return y if keepdims else np.squeeze(y, axis=axis) if axis is not None else y.reshape(())


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_clip(x, min, max):
    return np.clip(x, min, max)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

POSITIVE = (0.2, 3.0)
CONV_EXAMPLES = 8

TABLE = [
    # arithmetic, operators in both operand orders, broadcasting
    OpSpec("add", lambda a, b: a + b, binary(), ("ops.add",), np.add),
    OpSpec("sub", lambda a, b: a - b, binary(), ("ops.sub",), np.subtract),
    OpSpec("mul", lambda a, b: a * b, binary(), ("ops.mul",), np.multiply),
    OpSpec("div", lambda a, b: a / b, binary(b_away_from_zero=True), ("ops.div",), np.divide),
    # b = 0 exactly is a boundary of the rule (dy/da is selected out there, as
    # PyTorch does), where the mixed second derivative is taken as 0
    OpSpec("pow", lambda a, b: a ** b, binary(a_range=(0.5, 2.0), b_away_from_zero=True),
           ("ops.pow",), np.power),
    OpSpec("pow_scalar_exponent", lambda a, k: a ** k,
           unary(0.5, 2.0, k=st.sampled_from([2, 3, 0.5, -1.5])), ("ops.pow",),
           lambda a, k: a ** k),
    OpSpec("pow_negative_base", lambda a: a ** 3, unary(kinks=(0.0,)), ("ops.pow",),
           lambda a: a ** 3),
    OpSpec("neg", lambda a: -a, unary(), ("ops.neg",), np.negative),
    OpSpec("radd", lambda a: 1.5 + a, unary(), ("Tensor.__radd__",), lambda a: 1.5 + a),
    OpSpec("rsub", lambda a: 1.5 - a, unary(), ("Tensor.__rsub__",), lambda a: 1.5 - a),
    OpSpec("rmul", lambda a: 1.5 * a, unary(), ("Tensor.__rmul__",), lambda a: 1.5 * a),
    OpSpec("rtruediv", lambda a: 1.5 / a, unary(0.5, 2.0), ("Tensor.__rtruediv__",),
           lambda a: 1.5 / a),
    OpSpec("rpow", lambda a: 1.5 ** a, unary(), ("Tensor.__rpow__",), lambda a: 1.5 ** a),
    OpSpec("matmul", lambda a, b: a @ b, matmul_case(), ("ops.matmul",), np.matmul),
    OpSpec("rmatmul", lambda a, b: b.__rmatmul__(a), matmul_case(), ("Tensor.__rmatmul__",),
           np.matmul),

    # elementwise functions
    OpSpec("exp", sg.exp, unary(-3.0, 3.0), ("ops.exp",), np.exp),
    OpSpec("log", sg.log, unary(*POSITIVE), ("ops.log",), np.log),
    OpSpec("sqrt", sg.sqrt, unary(*POSITIVE), ("ops.sqrt",), np.sqrt),
    OpSpec("abs", sg.abs, unary(kinks=(0.0,)), ("ops.abs",), np.abs),
    OpSpec("clip", sg.clip, unary(kinks=(-0.5, 0.7), min=st.sampled_from([None, -0.5]),
                                  max=st.sampled_from([None, 0.7])), ("ops.clip",), _np_clip),
    OpSpec("maximum", sg.maximum, ladder_binary(), ("ops.maximum",), np.maximum),
    OpSpec("minimum", sg.minimum, ladder_binary(), ("ops.minimum",), np.minimum),
    OpSpec("where", sg.where, where_case(), ("ops.where",), np.where),
    # float64 -> float64 is the identity; the float32 run below casts there and back
    OpSpec("astype", lambda x: x.astype("float64").astype(x.dtype), unary(), ("ops.astype",),
           lambda x: x),

    # reductions
    OpSpec("sum", sg.sum, reduction(), ("ops.sum",), np.sum),
    OpSpec("mean", sg.mean, reduction(), ("ops.mean",), np.mean),
    OpSpec("var", sg.var, reduction(), ("ops.var",), np.var),
    OpSpec("max", sg.max, reduction(distinct_values=True), ("ops.max",), np.max),
    OpSpec("min", sg.min, reduction(distinct_values=True), ("ops.min",), np.min),
    OpSpec("logsumexp", F.logsumexp, reduction(), ("ops.logsumexp",), _np_logsumexp),

    # shapes
    OpSpec("reshape", _reshape, reshape_case(), ("ops.reshape",),
           lambda x, shape, form: x.reshape(shape)),
    OpSpec("permute", _permute, permute_case(), ("ops.permute", "Tensor.T"),
           lambda x, dims, form: x.T if form == "T" else np.transpose(x, dims)),
    # PyTorch's transpose swaps two axes: NumPy's swapaxes, under both names
    OpSpec("transpose", lambda x, a, b: x.transpose(a, b), swapaxes_case(),
           ("ops.transpose", "ops.swapaxes"), lambda x, a, b: np.swapaxes(x, a, b)),
    OpSpec("flatten", sg.flatten, flatten_case(), ("ops.flatten",),
           lambda x, start_axis, end_axis: x.reshape(
               x.shape[:start_axis] + (-1,) + x.shape[end_axis % x.ndim + 1:])),
    OpSpec("expand_dims", sg.expand_dims, expand_dims_case(), ("ops.expand_dims",),
           np.expand_dims),
    OpSpec("squeeze", sg.squeeze, squeeze_case(), ("ops.squeeze",), np.squeeze),
    OpSpec("broadcast_to", sg.broadcast_to, broadcast_to_case(), ("ops.broadcast_to",),
           np.broadcast_to),
    OpSpec("sum_to", ops.sum_to, sum_to_case(), ("ops.sum_to",)),
    OpSpec("getitem_basic", lambda x, index: x[index], basic_index_case(), ("ops.getitem",),
           lambda x, index: x[index]),
    OpSpec("getitem_int_array", _array_index, array_index_case(), ("ops.getitem",),
           lambda x, index, as_list: x[index]),
    OpSpec("concatenate", lambda *xs, axis: sg.concatenate(xs, axis), concatenate_case(),
           ("ops.concatenate",), lambda *xs, axis: np.concatenate(xs, axis)),
    OpSpec("stack", lambda *xs, axis: sg.stack(xs, axis), stack_case(), ("ops.stack",),
           lambda *xs, axis: np.stack(xs, axis)),
    OpSpec("split", _split, split_case(), ("ops.split",),
           lambda x, sections, axis: np.concatenate(
               [p.reshape(-1) for p in np.split(x, sections, axis=axis)])),
    OpSpec("pad", sg.pad, pad_case(), ("ops.pad",), _np_pad),

    # activations
    OpSpec("relu", F.relu, unary(kinks=(0.0,)), ("ops.relu",), lambda x: np.maximum(x, 0)),
    OpSpec("leaky_relu", F.leaky_relu,
           unary(kinks=(0.0,), negative_slope=st.sampled_from([0.01, 0.2, 1.5])),
           ("ops.leaky_relu",), lambda x, negative_slope: np.where(x > 0, x, negative_slope * x)),
    OpSpec("sigmoid", F.sigmoid, unary(-4.0, 4.0), ("ops.sigmoid",),
           lambda x: 1 / (1 + np.exp(-x))),
    OpSpec("tanh", F.tanh, unary(), ("ops.tanh",), np.tanh),
    OpSpec("silu", F.silu, unary(-4.0, 4.0), ("ops.silu",), lambda x: x / (1 + np.exp(-x))),
    OpSpec("elu", F.elu, unary(-3.0, 3.0, kinks=(0.0,), alpha=st.sampled_from([1.0, 0.5])),
           ("ops.elu",), lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x))),
    OpSpec("select", lambda g, mask: ops.select(mask.data, g), select_case(), ("ops.select",),
           lambda g, mask: np.where(mask, g, 0.0)),
    OpSpec("softplus", F.softplus, unary(-4.0, 4.0), ("ops.softplus",),
           lambda x: np.logaddexp(0, x)),
    OpSpec("softmax", F.softmax, along_axis(), ("ops.softmax",), _np_softmax),
    OpSpec("log_softmax", F.log_softmax, along_axis(), ("ops.log_softmax",),
           lambda x, axis: np.log(_np_softmax(x, axis))),

    # layers
    OpSpec("linear", F.linear, linear_case(), ("F.linear",),
           lambda x, w, b=0.0: x @ w.T + b),
    OpSpec("batch_norm_train", _batch_norm_train, batch_norm_train_case(), ("F.batch_norm",)),
    OpSpec("batch_norm_eval", _batch_norm_eval, batch_norm_eval_case(), ("F.batch_norm",),
           lambda x, m, v, w, b: ((x - m.reshape((1, -1) + (1,) * (x.ndim - 2)))
                                  / np.sqrt(v.reshape((1, -1) + (1,) * (x.ndim - 2)) + 1e-5)
                                  * w.reshape((1, -1) + (1,) * (x.ndim - 2))
                                  + b.reshape((1, -1) + (1,) * (x.ndim - 2)))),
    OpSpec("layer_norm", _layer_norm, layer_norm_case(), ("F.layer_norm",), _np_layer_norm),
    OpSpec("gelu", F.gelu, unary(-3.0, 3.0, approximate=st.sampled_from(["none", "tanh"])),
           ("F.gelu",), _np_gelu),
    OpSpec("attention_weights", F.attention_weights, attention_case(with_value=False),
           ("F.attention_weights",), _np_attention),
    OpSpec("scaled_dot_product_attention", F.scaled_dot_product_attention, attention_case(),
           ("F.scaled_dot_product_attention",), _np_attention),
    OpSpec("dropout", _dropout, dropout_case(), ("F.dropout",)),
    OpSpec("dropout2d", _dropout2d, dropout2d_case(), ("F.dropout2d",)),
    OpSpec("group_norm", _group_norm, group_norm_case(), ("F.group_norm",)),
    OpSpec("interpolate", F.interpolate, interpolate_case(), ("F.interpolate",),
           max_examples=CONV_EXAMPLES),
    OpSpec("conv2d", F.conv2d, conv2d_case(), ("conv.conv2d",), max_examples=CONV_EXAMPLES),
    OpSpec("conv_transpose2d", F.conv_transpose2d, conv_transpose2d_case(),
           ("conv.conv_transpose2d",), max_examples=CONV_EXAMPLES),
    OpSpec("max_pool2d", F.max_pool2d, pool_case(distinct_values=True), ("conv.max_pool2d",),
           max_examples=CONV_EXAMPLES),
    OpSpec("avg_pool2d", F.avg_pool2d, pool_case(distinct_values=False), ("conv.avg_pool2d",),
           max_examples=CONV_EXAMPLES),
    OpSpec("conv2d_options", lambda x, w, **kw: F.conv2d(x, w, **kw), conv2d_options_case(),
           ("conv.conv2d",), max_examples=CONV_EXAMPLES),
    OpSpec("conv_transpose2d_options", lambda x, w, **kw: F.conv_transpose2d(x, w, **kw),
           conv_transpose2d_options_case(), ("conv.conv_transpose2d",),
           max_examples=CONV_EXAMPLES),
    OpSpec("max_pool2d_options", F.max_pool2d, pool_options_case(distinct_values=True),
           ("conv.max_pool2d",), max_examples=CONV_EXAMPLES),
    OpSpec("avg_pool2d_options", lambda x, **kw: F.avg_pool2d(
        x, count_include_pad=False, **kw), pool_options_case(distinct_values=False),
        ("conv.avg_pool2d",), max_examples=CONV_EXAMPLES),
    OpSpec("im2col", conv.im2col, im2col_case(), ("conv.im2col",), max_examples=CONV_EXAMPLES),
    OpSpec("col2im", conv.col2im, col2im_case(), ("conv.col2im",), max_examples=CONV_EXAMPLES),
    # the plain layouts beside the fast ones (their agreement: test_plain_and_fast.py)
    OpSpec("conv2d_plain", conv.conv2d_plain, conv2d_case(), ("conv.conv2d_plain",),
           max_examples=CONV_EXAMPLES),
    OpSpec("conv_transpose2d_plain", conv.conv_transpose2d_plain,
           conv_transpose2d_case().filter(lambda c: c.arrays[1].shape[2] > c.kwargs["padding"]
                                          and c.arrays[1].shape[3] > c.kwargs["padding"]),
           ("conv.conv_transpose2d_plain",), max_examples=CONV_EXAMPLES),
    OpSpec("im2col_plain", conv.im2col_plain, im2col_case(), ("conv.im2col_plain",),
           max_examples=CONV_EXAMPLES),

    # losses, every reduction
    OpSpec("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
           same_shape([(-3.0, 3.0), (0.0, 1.0)], reduction=REDUCTIONS),
           ("losses.binary_cross_entropy_with_logits",)),
    OpSpec("binary_cross_entropy", F.binary_cross_entropy,
           same_shape([(0.05, 0.95), (0.0, 1.0)], reduction=REDUCTIONS),
           ("losses.binary_cross_entropy",)),
    OpSpec("cross_entropy", F.cross_entropy, cross_entropy_case(), ("losses.cross_entropy",)),
    OpSpec("cross_entropy_options", _cross_entropy_options, cross_entropy_options_case(),
           ("losses.cross_entropy",)),
    OpSpec("cross_entropy_probability_targets",
           lambda x, q, **kw: F.cross_entropy(x, q, **kw), cross_entropy_probs_case(),
           ("losses.cross_entropy",)),
    OpSpec("binary_cross_entropy_with_logits_weights",
           lambda x, t, w, p, reduction: F.binary_cross_entropy_with_logits(
               x, t, w, reduction=reduction, pos_weight=p), bce_weights_case(),
           ("losses.binary_cross_entropy_with_logits",)),
    OpSpec("binary_cross_entropy_weight",
           lambda p, t, w, reduction: F.binary_cross_entropy(p, t, w, reduction=reduction),
           same_shape([(0.05, 0.95), (0.0, 1.0), (0.5, 2.0)], reduction=REDUCTIONS),
           ("losses.binary_cross_entropy",)),
    OpSpec("mse_loss", F.mse_loss, same_shape([(-2.0, 2.0)] * 2, reduction=REDUCTIONS),
           ("losses.mse_loss",)),
    OpSpec("gaussian_kl", F.gaussian_kl,
           same_shape([(-2.0, 2.0)] * 2, min_dims=1, reduction=REDUCTIONS),
           ("losses.gaussian_kl",)),
    OpSpec("gaussian_nll", F.gaussian_nll,
           same_shape([(-2.0, 2.0)] * 3, min_dims=1, reduction=REDUCTIONS),
           ("losses.gaussian_nll",)),
]

BY_NAME = {spec.name: spec for spec in TABLE}
assert len(BY_NAME) == len(TABLE), "duplicate OpSpec names"
