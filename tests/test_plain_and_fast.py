"""Each fast form agrees with the textbook rule it replaces.

Where the library computes something in a speed-tuned way (a BLAS-friendly
layout, an in-place update, a fused kernel), the plain rule stays beside it
in the same file as runnable code.  Each test here draws inputs with
hypothesis and demands that the two agree in float64, to rounding, and,
where the op is differentiated twice (WGAN-GP), that their gradients agree
too.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import backend, optim
from scratchgen.conv import conv2d, conv2d_plain, conv_transpose2d, conv_transpose2d_plain
from scratchgen.functional import _batch_norm_train, _batch_norm_train_plain
from scratchgen.losses import _bce_with_logits_plain, _BCEWithLogits
from scratchgen.ops.activations import leaky_relu, leaky_relu_plain
from scratchgen.ops.arithmetic import matmul_grads, matmul_grads_plain


def _leaf(array):
    return sg.tensor(array, dtype="float64", requires_grad=True)


@st.composite
def matmul_case(draw):
    """Shapes on both sides of the layout heuristic's thresholds (long inner
    sums, as in a convolution's weight gradient, and short ones), and
    operands stored row by row or column by column."""
    n, k, m = (draw(st.sampled_from([1, 2, 3, 7, 40])) for _ in range(3))
    seed = draw(st.integers(0, 2**16))
    a_columnwise, b_columnwise = draw(st.booleans()), draw(st.booleans())
    return n, k, m, a_columnwise, b_columnwise, seed


@given(matmul_case())
def test_matmul_gradients_fast_equal_plain_with_second_derivatives(case):
    n, k, m, a_columnwise, b_columnwise, seed = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, n)).T if a_columnwise else rng.standard_normal((n, k))
    b = rng.standard_normal((m, k)).T if b_columnwise else rng.standard_normal((k, m))
    ta, tb, gy = _leaf(a), _leaf(b), _leaf(rng.standard_normal((n, m)))
    # the leaves keep the drawn memory order, so the layout heuristic sees it
    ta.data, tb.data = backend.asarray(a), backend.asarray(b)
    plain = matmul_grads_plain(ta, tb, gy)
    fast = matmul_grads(ta, tb, gy, (True, True))
    for p, f in zip(plain, fast):
        np.testing.assert_allclose(f.numpy(), p.numpy(), rtol=1e-12, atol=1e-12)
    # second derivatives: the gradients of <u, dL/dA> + <v, dL/dB>
    u, v = rng.standard_normal((n, k)), rng.standard_normal((k, m))

    def second(grads):
        s = (grads[0] * sg.tensor(u, dtype="float64")).sum() + \
            (grads[1] * sg.tensor(v, dtype="float64")).sum()
        return sg.grad(s, [ta, tb, gy], allow_unused=True)

    plain2 = second(matmul_grads_plain(ta, tb, gy))
    fast2 = second(matmul_grads(ta, tb, gy, (True, True)))
    for p, f in zip(plain2, fast2):
        if p is None or f is None:
            assert p is None and f is None
        else:
            np.testing.assert_allclose(f.numpy(), p.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Functions of tensors: values, gradients and second derivatives
# ---------------------------------------------------------------------------

def _close(fast, plain, tol=1e-10):
    """Arrays equal to rounding; a gradient that is None (unused) counts as 0."""
    for f, p in zip(fast, plain):
        if f is None and p is None:
            continue
        f = np.zeros_like(p.numpy()) if f is None else f.numpy()
        p = np.zeros_like(f) if p is None else p.numpy()
        np.testing.assert_allclose(f, p, rtol=tol, atol=tol)


def _agree(plain, fast, arrays, rng, tol=1e-10):
    """``plain(*leaves)`` and ``fast(*leaves)`` agree in value, in the
    gradient of ``<gy, y>`` with respect to every input, and in the gradient
    of ``<u, that gradient>`` with respect to every input and gy: the
    second derivatives a gradient penalty takes."""
    leaves = [_leaf(a) for a in arrays]
    y_plain, y_fast = plain(*leaves), fast(*leaves)
    _close([y_fast], [y_plain], tol)
    gy = _leaf(rng.standard_normal(y_plain.shape))
    firsts = [sg.grad(y, leaves, gy, create_graph=True, allow_unused=True)
              for y in (y_plain, y_fast)]
    _close(firsts[1], firsts[0], tol)
    us = [sg.tensor(rng.standard_normal(a.shape), dtype="float64") for a in arrays]
    seconds = []
    for grads in firsts:
        s = sum((g * u).sum() for g, u in zip(grads, us) if g is not None)
        seconds.append(sg.grad(s, leaves + [gy], allow_unused=True))
    _close(seconds[1], seconds[0], tol)


@given(st.sampled_from([(6, 3), (4, 2, 5), (3, 2, 4, 3)]), st.booleans(), st.integers(0, 2**16))
def test_batch_norm_fused_equals_plain_with_second_derivatives(shape, shifted, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.uniform(0.1, 10) + (100.0 if shifted else 0.0)
    stats = (1, shape[1]) + (1,) * (len(shape) - 2)
    w, b = rng.standard_normal(stats), rng.standard_normal(stats)
    axes = (0,) + tuple(range(2, len(shape)))
    _agree(lambda x, w, b: _batch_norm_train_plain(x, axes, w, b, 1e-5)[0],
           lambda x, w, b: _batch_norm_train(x, axes, w, b, 1e-5)[0], (x, w, b), rng, tol=1e-8)
    # the batch statistics the running estimates take
    xs, ws, bs = (sg.tensor(a, dtype="float64") for a in (x, w, b))
    for p, f in zip(_batch_norm_train_plain(xs, axes, ws, bs, 1e-5)[1:],
                    _batch_norm_train(xs, axes, ws, bs, 1e-5)[1:]):
        np.testing.assert_allclose(backend.to_numpy(f), backend.to_numpy(p), rtol=1e-12)


@given(st.integers(0, 2**16), st.sampled_from([1.0, 5.0, 40.0]), st.booleans())
def test_bce_with_logits_fused_equals_plain_with_second_derivatives(seed, scale, weighted):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4)) * scale
    t = rng.uniform(0, 1, (3, 4))
    t[0] = rng.integers(0, 2, 4)  # hard labels too
    arrays = (x, t) + ((rng.uniform(0.1, 5, 4),) if weighted else ())
    _agree(_bce_with_logits_plain, lambda *t: _BCEWithLogits()(*t), arrays, rng)


@given(st.integers(0, 2**16), st.sampled_from([0.0, 0.01, 0.2, 1.0, 1.5, -0.5]))
def test_leaky_relu_fused_equals_plain_with_second_derivatives(seed, slope):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 5))
    x[0, :2] = 0.0  # the kink: slope on both sides
    _agree(lambda x: leaky_relu_plain(x, slope), lambda x: leaky_relu(x, slope), (x,), rng,
           tol=1e-14)


@st.composite
def conv_case(draw):
    """A convolution's geometry: stride, padding (symmetric or not),
    dilation, with an output of at least one pixel."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hw = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return k, s, d, n, c, o, hw, draw(st.booleans()), draw(st.integers(0, 2**16))


@given(conv_case(), st.sampled_from([0, 1, ((1, 0), (0, 2))]))
def test_conv2d_batch_last_equals_plain_layout_with_second_derivatives(case, padding):
    k, s, d, n, c, o, hw, bias, seed = case
    pads = [(padding, padding)] * 2 if isinstance(padding, int) else padding
    if any(size + lo + hi < di * (ki - 1) + 1 for size, (lo, hi), ki, di in zip(hw, pads, k, d)):
        return  # no output pixel
    rng = np.random.default_rng(seed)
    arrays = (rng.standard_normal((n, c) + hw), rng.standard_normal((o, c) + k))
    arrays += (rng.standard_normal(o),) if bias else ()
    kw = dict(stride=s, padding=padding, dilation=d)
    _agree(lambda *t: conv2d_plain(*t, **kw), lambda *t: conv2d(*t, **kw), arrays, rng)


@given(conv_case(), st.integers(0, 1))
def test_conv_transpose2d_col2im_equals_plain_layout_with_second_derivatives(case, out_pad):
    k, s, d, n, c, o, hw, bias, seed = case
    padding = tuple(min(1, di * (ki - 1)) for ki, di in zip(k, d))  # the plain form's range
    out_pad = tuple(min(out_pad, max(si, di) - 1) for si, di in zip(s, d))
    if any((size - 1) * si - 2 * p + di * (ki - 1) + op < 0
           for size, si, p, di, ki, op in zip(hw, s, padding, d, k, out_pad)):
        return  # no output pixel
    rng = np.random.default_rng(seed)
    arrays = (rng.standard_normal((n, c) + hw), rng.standard_normal((c, o) + k))
    arrays += (rng.standard_normal(o),) if bias else ()
    kw = dict(stride=s, padding=padding, output_padding=out_pad, dilation=d)
    _agree(lambda *t: conv_transpose2d_plain(*t, **kw), lambda *t: conv_transpose2d(*t, **kw),
           arrays, rng)


# ---------------------------------------------------------------------------
# Adam and AdamW: the in-place, scalar-folded step against the textbook lines
# ---------------------------------------------------------------------------

@given(st.sampled_from([optim.Adam, optim.AdamW]), st.sampled_from([0.0, 0.1]), st.booleans(),
       st.sampled_from([(0.9, 0.999), (0.5, 0.999), (0.0, 0.9)]), st.integers(0, 2**16),
       st.sampled_from(["_update", "_update_fused"]))
def test_adam_step_in_place_equals_plain_rule(cls, weight_decay, amsgrad, betas, seed, form):
    """The in-place step, and the fused one (on a GPU one kernel; here its
    plain elementwise function, ``adam_step_elementwise``), which leaves
    AMSGrad to the in-place step."""
    if form == "_update_fused" and amsgrad:
        return
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) * 10.0 ** rng.uniform(-4, 2) for _ in range(6)]
    params = [sg.tensor(p0.copy(), dtype="float64", requires_grad=True) for _ in range(2)]
    opts = [cls([p], lr=1e-2, betas=betas, weight_decay=weight_decay, amsgrad=amsgrad)
            for p in params]
    opts[0]._update = opts[0]._update_plain  # this instance only
    opts[1]._update = getattr(opts[1], form)
    for g in grads:
        for p, opt in zip(params, opts):
            p.grad = sg.tensor(g, dtype="float64")
            opt.step()
        np.testing.assert_allclose(params[1].numpy(), params[0].numpy(), rtol=1e-12, atol=1e-14)
        for key, value in opts[0].state[params[0]].items():
            np.testing.assert_allclose(backend.to_numpy(opts[1].state[params[1]][key]),
                                       backend.to_numpy(value), rtol=1e-12)
