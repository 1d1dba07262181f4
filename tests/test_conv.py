"""Convolutions and pooling against plain loops, against each other (the
adjoint identities) and against finite differences; PyTorch where installed.

The references below loop over output pixels one at a time, exactly as the
index formulas in ``scratchgen/conv.py`` read.  They are slow, so every shape
here is tiny except in the PyTorch comparison.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen import conv
from scratchgen import functional as F

# a grid in [-2, 2]: no values so tiny that the products below underflow
VALUES = st.integers(-2000, 2000).map(lambda i: i / 1000)


def t64(a, requires_grad=False):
    return sg.tensor(a, dtype="float64", requires_grad=requires_grad)


def draw_array(data, shape):
    return data.draw(hnp.arrays(np.float64, shape, elements=VALUES))


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


# ---------------------------------------------------------------------------
# Plain-loop references (host NumPy)
# ---------------------------------------------------------------------------

def conv2d_ref(x, w, b, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    n_, _, h, wid = x.shape
    o_, _, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = out_size(h, kh, sh, ph), out_size(wid, kw, sw, pw)
    y = np.zeros((n_, o_, oh, ow))
    for n in range(n_):
        for o in range(o_):
            for a in range(oh):
                for b_ in range(ow):
                    patch = xpad[n, :, a * sh:a * sh + kh, b_ * sw:b_ * sw + kw]
                    y[n, o, a, b_] = np.sum(w[o] * patch) + (0 if b is None else b[o])
    return y


def conv_transpose2d_ref(x, w, b, stride, padding, output_padding):
    """Scatter: y[n, co, a*s + i - p, b*s + j - p] += x[n, ci, a, b] w[ci, co, i, j].
    Accumulate on an uncropped canvas, then cut the padding off."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n_, ci_, h, wid = x.shape
    _, co_, kh, kw = w.shape
    full = np.zeros((n_, co_, (h - 1) * sh + kh + oph, (wid - 1) * sw + kw + opw))
    for n in range(n_):
        for ci in range(ci_):
            for a in range(h):
                for b_ in range(wid):
                    full[n, :, a * sh:a * sh + kh, b_ * sw:b_ * sw + kw] += x[n, ci, a, b_] * w[ci]
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def pool_ref(x, k, s, reduce):
    n_, c_, h, wid = x.shape
    oh, ow = (h - k) // s + 1, (wid - k) // s + 1
    y = np.zeros((n_, c_, oh, ow))
    for n in range(n_):
        for c in range(c_):
            for a in range(oh):
                for b_ in range(ow):
                    y[n, c, a, b_] = reduce(x[n, c, a * s:a * s + k, b_ * s:b_ * s + k])
    return y


def maybe_pair(v):
    """PyTorch takes an int or an (h, w) pair; exercise both spellings."""
    return v[0] if v[0] == v[1] else v


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

@st.composite
def conv_configs(draw, max_n=2, max_c=3, max_hw=7, max_k=4, max_s=3, max_p=2):
    """Shapes for conv2d: x (N, C, H, W), w (O, C, kh, kw), kernel <= padded size."""
    n, c, o = draw(st.integers(1, max_n)), draw(st.integers(1, max_c)), draw(st.integers(1, max_c))
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    ph, pw = draw(st.integers(0, max_p)), draw(st.integers(0, max_p))
    kh = draw(st.integers(1, min(max_k, h + 2 * ph)))
    kw = draw(st.integers(1, min(max_k, w + 2 * pw)))
    sh, sw = draw(st.integers(1, max_s)), draw(st.integers(1, max_s))
    return {"x": (n, c, h, w), "w": (o, c, kh, kw), "stride": (sh, sw), "padding": (ph, pw)}


@st.composite
def conv_transpose_configs(draw, max_n=2, max_c=3, max_hw=5, max_k=4, max_s=3, max_p=2):
    """Shapes for conv_transpose2d: x (N, Cin, H, W), w (Cin, Cout, kh, kw),
    output_padding < stride, and an output of at least one pixel."""
    n = draw(st.integers(1, max_n))
    ci, co = draw(st.integers(1, max_c)), draw(st.integers(1, max_c))
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    sh, sw = draw(st.integers(1, max_s)), draw(st.integers(1, max_s))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    hfull, wfull = (h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw
    ph = draw(st.integers(0, min(max_p, (hfull - 1) // 2)))
    pw = draw(st.integers(0, min(max_p, (wfull - 1) // 2)))
    return {"x": (n, ci, h, w), "w": (ci, co, kh, kw), "stride": (sh, sw),
            "padding": (ph, pw), "output_padding": (oph, opw)}


@st.composite
def pool_configs(draw, max_n=2, max_c=2, max_hw=7):
    k = draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    shape = (draw(st.integers(1, max_n)), draw(st.integers(1, max_c)),
             draw(st.integers(k, max_hw)), draw(st.integers(k, max_hw)))
    return shape, k, stride


def distinct_values(data, shape):
    """Values at least 0.1 apart: no ties for max, none within a finite-difference step."""
    size = int(np.prod(shape))
    order = data.draw(st.permutations(range(size)))
    return (np.array(order, dtype=np.float64) * 0.1 - 0.05 * size).reshape(shape)


def conv_call(cfg):
    return lambda x, w, b=None: F.conv2d(x, w, b, stride=maybe_pair(cfg["stride"]),
                                         padding=maybe_pair(cfg["padding"]))


def conv_transpose_call(cfg):
    return lambda x, w, b=None: F.conv_transpose2d(
        x, w, b, stride=maybe_pair(cfg["stride"]), padding=maybe_pair(cfg["padding"]),
        output_padding=maybe_pair(cfg["output_padding"]))


# ---------------------------------------------------------------------------
# Forward values against the loops
# ---------------------------------------------------------------------------

@given(cfg=conv_configs(), with_bias=st.booleans(), data=st.data())
def test_conv2d_matches_loops(cfg, with_bias, data):
    x, w = draw_array(data, cfg["x"]), draw_array(data, cfg["w"])
    b = draw_array(data, (cfg["w"][0],)) if with_bias else None
    y = conv_call(cfg)(t64(x), t64(w), None if b is None else t64(b))
    np.testing.assert_allclose(y.numpy(), conv2d_ref(x, w, b, cfg["stride"], cfg["padding"]),
                               rtol=1e-12, atol=1e-12)


@given(cfg=conv_transpose_configs(), with_bias=st.booleans(), data=st.data())
def test_conv_transpose2d_matches_scatter_loops(cfg, with_bias, data):
    x, w = draw_array(data, cfg["x"]), draw_array(data, cfg["w"])
    b = draw_array(data, (cfg["w"][1],)) if with_bias else None
    y = conv_transpose_call(cfg)(t64(x), t64(w), None if b is None else t64(b))
    (sh, sw), (ph, pw), (oph, opw) = cfg["stride"], cfg["padding"], cfg["output_padding"]
    n, _, h, wid = cfg["x"]
    _, co, kh, kw = cfg["w"]
    assert y.shape == (n, co, (h - 1) * sh - 2 * ph + kh + oph, (wid - 1) * sw - 2 * pw + kw + opw)
    ref = conv_transpose2d_ref(x, w, b, cfg["stride"], cfg["padding"], cfg["output_padding"])
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)


@given(cfg=pool_configs(), data=st.data())
def test_pools_match_loops(cfg, data):
    shape, k, stride = cfg
    x = draw_array(data, shape)
    s = k if stride is None else stride
    np.testing.assert_array_equal(F.max_pool2d(t64(x), k, stride).numpy(),
                                  pool_ref(x, k, s, np.max))
    np.testing.assert_allclose(F.avg_pool2d(t64(x), k, stride).numpy(),
                               pool_ref(x, k, s, np.mean), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Adjoint identities
# ---------------------------------------------------------------------------

def assert_same_inner_product(lhs, rhs, scale):
    """|lhs - rhs| within 1e-10 of the Cauchy-Schwarz bound on either side."""
    assert abs(lhs - rhs) <= 1e-10 * scale, (lhs, rhs)


@given(cfg=conv_configs(), data=st.data())
def test_conv_transpose_is_adjoint_of_conv(cfg, data):
    x, w = draw_array(data, cfg["x"]), draw_array(data, cfg["w"])
    cx = conv_call(cfg)(t64(x), t64(w)).numpy()
    y = draw_array(data, cx.shape)
    (sh, sw), (ph, pw) = cfg["stride"], cfg["padding"]
    _, _, h, wid = cfg["x"]
    _, _, kh, kw = cfg["w"]
    op = ((h + 2 * ph - kh) % sh, (wid + 2 * pw - kw) % sw)
    ty = F.conv_transpose2d(t64(y), t64(w), stride=cfg["stride"], padding=cfg["padding"],
                            output_padding=op).numpy()
    assert ty.shape == x.shape
    scale = max(np.linalg.norm(cx) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(ty))
    assert_same_inner_product(np.sum(cx * y), np.sum(x * ty), scale)


@given(cfg=conv_configs(), data=st.data())
def test_col2im_is_adjoint_of_im2col(cfg, data):
    x = draw_array(data, cfg["x"])
    kernel = cfg["w"][2:]
    cols = conv.im2col(t64(x), kernel, cfg["stride"], cfg["padding"]).numpy()
    c = draw_array(data, cols.shape)
    back = conv.col2im(t64(c), x.shape, kernel, cfg["stride"], cfg["padding"])
    assert back.shape == x.shape
    back = back.numpy()
    scale = max(np.linalg.norm(cols) * np.linalg.norm(c), np.linalg.norm(x) * np.linalg.norm(back))
    assert_same_inner_product(np.sum(cols * c), np.sum(x * back), scale)


# ---------------------------------------------------------------------------
# Gradients against finite differences
# ---------------------------------------------------------------------------

TINY_CONV = {"max_n": 1, "max_c": 2, "max_hw": 4, "max_k": 3, "max_s": 2, "max_p": 1}
TINY_CONV_T = {**TINY_CONV, "max_hw": 3}


def conv_inputs(data, cfg, bias_len):
    return [t64(draw_array(data, cfg["x"]), True), t64(draw_array(data, cfg["w"]), True),
            t64(draw_array(data, (bias_len,)), True)]


@settings(max_examples=20)
@given(cfg=conv_configs(**TINY_CONV), data=st.data())
def test_conv2d_gradcheck(cfg, data):
    assert sg.gradcheck(conv_call(cfg), conv_inputs(data, cfg, cfg["w"][0]))


@settings(max_examples=10)
@given(cfg=conv_configs(**TINY_CONV), data=st.data())
def test_conv2d_gradgradcheck(cfg, data):
    assert sg.gradgradcheck(conv_call(cfg), conv_inputs(data, cfg, cfg["w"][0]))


@settings(max_examples=20)
@given(cfg=conv_transpose_configs(**TINY_CONV_T), data=st.data())
def test_conv_transpose2d_gradcheck(cfg, data):
    assert sg.gradcheck(conv_transpose_call(cfg), conv_inputs(data, cfg, cfg["w"][1]))


@settings(max_examples=10)
@given(cfg=conv_transpose_configs(**TINY_CONV_T), data=st.data())
def test_conv_transpose2d_gradgradcheck(cfg, data):
    assert sg.gradgradcheck(conv_transpose_call(cfg), conv_inputs(data, cfg, cfg["w"][1]))


@settings(max_examples=20)
@given(cfg=pool_configs(max_n=1, max_hw=5), data=st.data())
def test_pool_gradcheck(cfg, data):
    shape, k, stride = cfg
    x = t64(distinct_values(data, shape), True)
    assert sg.gradcheck(lambda t: F.max_pool2d(t, k, stride), [x])
    assert sg.gradcheck(lambda t: F.avg_pool2d(t, k, stride), [x])


@settings(max_examples=10)
@given(cfg=pool_configs(max_n=1, max_hw=4), data=st.data())
def test_pool_gradgradcheck(cfg, data):
    shape, k, stride = cfg
    x = t64(distinct_values(data, shape), True)
    assert sg.gradgradcheck(lambda t: F.max_pool2d(t, k, stride), [x])
    assert sg.gradgradcheck(lambda t: F.avg_pool2d(t, k, stride), [x])


def test_max_pool_ties_share_the_gradient_equally():
    x = t64(np.ones((1, 1, 2, 2)), True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 2, 2), 0.25))

    # two of four tie for the max; overlapping windows (stride 1) add up
    x = t64([[[[3.0, 3.0, 1.0], [0.0, 2.0, 1.0]]]], True)
    y = F.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y.numpy(), [[[[3.0, 3.0]]]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.5, 1.5, 0.0], [0.0, 0.0, 0.0]]]])


def test_avg_pool_gradient_is_one_over_window_size():
    x = t64(np.arange(16.0).reshape(1, 1, 4, 4), True)
    F.avg_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 4, 4), 0.25))


# ---------------------------------------------------------------------------
# PyTorch, number for number, on the DCGAN shapes
# ---------------------------------------------------------------------------

DCGAN_CONVS = [  # (x shape, w shape, stride, padding): discriminator
    ((4, 1, 28, 28), (64, 1, 4, 4), 2, 1),
    ((4, 64, 14, 14), (128, 64, 4, 4), 2, 1),
    ((2, 3, 9, 8), (5, 3, 3, 2), (2, 1), (1, 0)),
]
DCGAN_CONV_TRANSPOSES = [  # (x shape, w shape, stride, padding, output_padding): generator
    ((4, 128, 7, 7), (128, 64, 4, 4), 2, 1, 0),
    ((4, 64, 14, 14), (64, 1, 4, 4), 2, 1, 0),
    ((4, 16, 7, 7), (16, 8, 3, 3), 2, 1, 1),
    ((2, 4, 1, 1), (4, 8, 7, 7), 1, 0, 0),
]
POOLS = [((4, 64, 14, 14), 2, None), ((2, 3, 9, 9), 3, 2), ((2, 3, 8, 7), 2, 1)]


def _torch_and_ours(torch, rng, *shapes):
    host = [rng.standard_normal(s) for s in shapes]
    return ([torch.tensor(a, requires_grad=True) for a in host], [t64(a, True) for a in host])


def _assert_forward_and_grads(torch, rng, fn_torch, fn_ours, theirs, ours):
    y_t, y_s = fn_torch(*theirs), fn_ours(*ours)
    np.testing.assert_allclose(y_s.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(tuple(y_t.shape))
    (y_t * torch.tensor(g)).sum().backward()
    (y_s * t64(g)).sum().backward()
    for a_t, a_s in zip(theirs, ours):
        np.testing.assert_allclose(a_s.grad.numpy(), a_t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", DCGAN_CONVS)
def test_conv2d_matches_torch(x_shape, w_shape, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    theirs, ours = _torch_and_ours(torch, rng, x_shape, w_shape, w_shape[:1])
    _assert_forward_and_grads(
        torch, rng,
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding),
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), theirs, ours)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding", DCGAN_CONV_TRANSPOSES)
def test_conv_transpose2d_matches_torch(x_shape, w_shape, stride, padding, output_padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    theirs, ours = _torch_and_ours(torch, rng, x_shape, w_shape, w_shape[1:2])
    kwargs = {"stride": stride, "padding": padding, "output_padding": output_padding}
    _assert_forward_and_grads(
        torch, rng, lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **kwargs),
        lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs), theirs, ours)


@pytest.mark.parametrize("shape, k, stride", POOLS)
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pools_match_torch(name, shape, k, stride):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    theirs, ours = _torch_and_ours(torch, rng, shape)  # continuous draws: no ties
    _assert_forward_and_grads(torch, rng,
                              lambda x: getattr(torch.nn.functional, name)(x, k, stride),
                              lambda x: getattr(F, name)(x, k, stride), theirs, ours)


def test_dcgan_shapes():
    x = sg.zeros(4, 1, 28, 28)
    h = F.conv2d(x, sg.zeros(64, 1, 4, 4), stride=2, padding=1)
    assert h.shape == (4, 64, 14, 14)
    assert F.conv2d(h, sg.zeros(128, 64, 4, 4), stride=2, padding=1).shape == (4, 128, 7, 7)
    z = sg.zeros(4, 128, 7, 7)
    g = F.conv_transpose2d(z, sg.zeros(128, 64, 4, 4), stride=2, padding=1)
    assert g.shape == (4, 64, 14, 14)
    assert F.conv_transpose2d(g, sg.zeros(64, 1, 4, 4), stride=2, padding=1).shape == (4, 1, 28, 28)


# ---------------------------------------------------------------------------
# Errors and dtypes
# ---------------------------------------------------------------------------

def test_channel_mismatch_names_both_shapes():
    x, w = sg.zeros(1, 3, 5, 5), sg.zeros(2, 4, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d") as err:
        F.conv2d(x, w)
    assert "(1, 3, 5, 5)" in str(err.value) and "(2, 4, 3, 3)" in str(err.value)

    w_t = sg.zeros(4, 2, 3, 3)  # conv_transpose2d reads Cin from the weight's axis 0
    with pytest.raises(ValueError, match=r"conv_transpose2d") as err:
        F.conv_transpose2d(x, w_t)
    assert "(1, 3, 5, 5)" in str(err.value) and "(4, 2, 3, 3)" in str(err.value)


def test_conv_needs_4d_arrays():
    with pytest.raises(ValueError, match=r"4-D.*\(3, 5, 5\)"):
        F.conv2d(sg.zeros(3, 5, 5), sg.zeros(2, 3, 3, 3))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input"):
        F.conv2d(sg.zeros(1, 1, 2, 2), sg.zeros(1, 1, 5, 5), padding=1)
    F.conv2d(sg.zeros(1, 1, 2, 2), sg.zeros(1, 1, 4, 4), padding=1)  # exactly fits


@pytest.mark.parametrize("stride, output_padding", [(1, 1), (2, 2), (2, 3), ((2, 1), (1, 1))])
def test_output_padding_must_be_smaller_than_stride(stride, output_padding):
    with pytest.raises(ValueError, match=r"output_padding .* smaller than the stride"):
        F.conv_transpose2d(sg.zeros(1, 2, 3, 3), sg.zeros(2, 1, 3, 3), stride=stride,
                           output_padding=output_padding)


def test_float32_stays_float32():
    x = sg.randn(2, 3, 6, 6, requires_grad=True)
    w = sg.randn(4, 3, 3, 3, requires_grad=True)
    b = sg.randn(4, requires_grad=True)
    y = F.conv2d(x, w, b, stride=2, padding=1)
    z = F.conv_transpose2d(y, w, b=sg.randn(3), stride=2, padding=1, output_padding=1)
    outputs = [y, z, F.max_pool2d(z, 2), F.avg_pool2d(z, 3, stride=1)]
    assert [t.dtype for t in outputs] == [np.float32] * 4
    sum(o.sum() for o in outputs).backward()
    assert [t.grad.dtype for t in (x, w, b)] == [np.float32] * 3


def test_outputs_without_pixels_are_refused():
    with pytest.raises(ValueError, match="no output pixels"):
        F.conv_transpose2d(sg.randn(1, 1, 1, 1), sg.randn(1, 1, 1, 1), padding=2)
    for pool in (F.max_pool2d, F.avg_pool2d):
        with pytest.raises(ValueError, match="larger than the padded input"):
            pool(sg.randn(1, 1, 2, 2), 3)
