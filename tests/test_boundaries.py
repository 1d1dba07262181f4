"""Gradients at the edges, where the everyday strategies of the op table do
not go (issue 9): kinks, ties, domain boundaries, saturating regions, ±88
and ±1e4 in float32, and upstream gradients holding inf and 0.

Three properties:

1. Every piecewise op gives *exactly* 0 (never NaN) at the positions its
   mask turns off, whatever the upstream gradient holds there (inf, -inf,
   NaN), in its first and its second derivative.
2. Over the whole op table, first and second derivatives: where the
   Jacobian is 0 (an output does not depend on an input), an infinite
   upstream gradient at that output leaves that input's gradient finite
   and unchanged.  That is "select, don't multiply" for every op at once.
3. The elementwise functions at the edges, in float32 and float64, against
   an mpmath reference of the value and of the derivative: no NaN where the
   truth is finite, a relative error of a few ulps where it is
   representable.
"""
import functools

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_table import BY_NAME, TABLE

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import ops

SPECIAL = [np.inf, -np.inf, np.nan, 0.0]


def t64(a, requires_grad=True):
    return sg.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                     requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# 1. Piecewise ops: exactly 0 at masked positions, first and second order
# ---------------------------------------------------------------------------

def _edges(n):
    """Values on and around the kinks and ties of the ops below."""
    return hnp.arrays(np.float64, n, elements=st.sampled_from(
        [-2.0, -1.0, -0.5, -1e-300, 0.0, 0.5, 0.7, 1.0, 2.0]))


def _upstream(n):
    return hnp.arrays(np.float64, n, elements=st.one_of(
        st.sampled_from(SPECIAL), st.floats(-3, 3)))


# name: (fn of one tensor x (n,), partner array y (n,) as a constant, mask of the
# positions whose gradient must be exactly 0)
PIECEWISE = {
    "relu": (lambda x, y: F.relu(x), lambda x, y: x <= 0),
    "clip": (lambda x, y: x.clip(-0.5, 0.7), lambda x, y: (x < -0.5) | (x > 0.7)),
    "clip_min_only": (lambda x, y: x.clip(0, None), lambda x, y: x < 0),
    "abs": (lambda x, y: x.abs(), lambda x, y: x == 0),
    "where": (lambda x, y: sg.where(x > 0, x, t64(y, False)), lambda x, y: ~(x > 0)),
    "where_other_side": (lambda x, y: sg.where(x > 0, t64(y, False), x), lambda x, y: x > 0),
    "maximum": (lambda x, y: sg.maximum(x, t64(y, False)), lambda x, y: x < y),
    "minimum": (lambda x, y: sg.minimum(x, t64(y, False)), lambda x, y: x > y),
    "max_over_pairs": (lambda x, y: sg.stack([x, t64(y, False)]).max(axis=0),
                       lambda x, y: x < y),
    "min_over_pairs": (lambda x, y: sg.stack([x, t64(y, False)]).min(axis=0),
                       lambda x, y: x > y),
    "pow_zero_exponent": (lambda x, y: x ** 0, lambda x, y: np.ones_like(x, dtype=bool)),
    "select": (lambda x, y: ops.select(y > 0, x), lambda x, y: ~(y > 0)),
    "max_pool": (lambda x, y: F.max_pool2d(sg.stack([x, t64(y, False)]).reshape(
        1, 1, 2, -1), (2, 1)).reshape(-1), lambda x, y: x < y),
}


def _masked_grads(fn, x, y, g, order):
    """d/dx of <fn(x), g> (order 1), or of <d/dx <fn(x), u>, g> (order 2)."""
    xt = t64(x)
    if order == 1:
        return sg.grad(fn(xt, y), xt, t64(g, False))[0].numpy()
    u = t64(np.linspace(0.5, 1.5, x.size), False)
    first, = sg.grad(fn(xt, y), xt, u, create_graph=True)
    if not first.requires_grad:  # piecewise linear: the second derivative is 0
        return np.zeros_like(x)
    return sg.grad(first, xt, t64(g, False), allow_unused=True)[0].numpy()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", PIECEWISE)
@settings(max_examples=40)
@given(data=st.data())
def test_masked_positions_get_exactly_zero_whatever_comes_from_above(name, order, data):
    n = data.draw(st.integers(1, 6))
    x, y, g = data.draw(_edges(n)), data.draw(_edges(n)), data.draw(_upstream(n))
    fn, masked = PIECEWISE[name]
    grad = _masked_grads(fn, x, y, g, order)
    off = masked(x, y)
    assert np.all(grad[off] == 0), (x, y, g, grad)
    # and where the mask lets it through, no NaN made out of a finite g
    live = ~off & np.isfinite(g)
    if order == 1:
        assert np.all(np.isfinite(grad[live])), (x, y, g, grad)


def test_the_issue_examples_give_pytorchs_zero():
    """Case 1 of issue 9, as written there."""
    for f in (lambda x: F.relu(x).sqrt(), lambda x: x.clip(0, None).sqrt(),
              lambda x: sg.where(x > 0, x, 0).sqrt()):
        x = sg.tensor([-1.0, 4.0], requires_grad=True)
        f(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.25])
    # case 4: d(x^0)/dx = 0 even at x = 0; d(0^b)/db = 0 for b >= 0
    x = sg.tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    b = sg.tensor([2.0, 0.5, 0.0], requires_grad=True)
    (sg.zeros(3) ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0, 0.0])


def test_the_issue_examples_match_pytorch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(lambda x: F.relu(x).sqrt(), lambda x: torch.relu(x).sqrt()),
                         (lambda x: x.clip(0, None).sqrt(), lambda x: x.clamp(min=0).sqrt()),
                         (lambda x: sg.where(x > 0, x, 0).sqrt(),
                          lambda x: torch.where(x > 0, x, 0.0).sqrt()),
                         (lambda x: x ** 0, lambda x: x ** 0)]:
        x, tx = sg.tensor([-1.0, 0.0, 4.0], requires_grad=True), \
            torch.tensor([-1.0, 0.0, 4.0], requires_grad=True)
        ours(x).sum().backward()
        theirs(tx).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    b, tb = sg.tensor([2.0, 0.5, 0.0], requires_grad=True), \
        torch.tensor([2.0, 0.5, 0.0], requires_grad=True)
    (sg.zeros(3) ** b).sum().backward()
    (torch.zeros(3) ** tb).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


# ---------------------------------------------------------------------------
# 2. The whole table: an infinite upstream gradient where the Jacobian is 0
# ---------------------------------------------------------------------------

def _as_inputs(arrays, jitter=None):
    """Tensors of the drawn arrays; with ``jitter`` (a generator), each float
    moved a little, to tell a Jacobian that is 0 everywhere from one that is
    0 at the drawn point by coincidence (an input equal to the mean, a
    product with an input that happens to be 0)."""
    out = []
    for a in arrays:
        if a.dtype.kind != "f":
            out.append(sg.tensor(a))
            continue
        if jitter is not None:
            a = a + 1e-3 * jitter.standard_normal(a.shape) * (1 + np.abs(a))
        out.append(t64(a))
    return out


def _second_order(fn, u_seed):
    """x -> d<fn(x), u>/dx for all float inputs, flattened and joined: an op
    whose own backward is fn's second derivative."""
    def grads(*inputs):
        out = fn(*inputs)
        u = t64(np.random.default_rng(u_seed).uniform(0.5, 1.5, out.shape), False)
        floats = [x for x in inputs if x.requires_grad]
        gs = sg.grad(out, floats, u, create_graph=True, allow_unused=True)
        parts = [g.reshape(-1) for g in gs if g is not None and g.requires_grad]
        return sg.concatenate(parts) if parts else None
    return grads


def _jacobian_row(fn, inputs, k):
    """d out[k] / d input, for each float input (None where unused)."""
    out = fn(*inputs)
    if out is None or not out.requires_grad:
        return None
    onehot = np.zeros(out.size)
    onehot[k] = 1.0
    floats = [x for x in inputs if x.requires_grad]
    return [None if j is None else j.numpy() for j in
            sg.grad(out, floats, t64(onehot.reshape(out.shape), False), allow_unused=True)]


# Ops that multiply the upstream gradient by a Jacobian entry that is 0
# without a mask to select on, with the reason.  Everything else must pass.
DENSE = "a dense linear map (matrix product, convolution by GEMM): a zero entry of the " \
    "product meets an infinite gradient as 0 * inf in BLAS, in PyTorch too"
CONSTANT = "an output that is constant in this input only for this shape (a variance, or " \
    "the second derivative of logsumexp, over one element): the rule's arithmetic multiplies"
NOT_SELECTED = {
    "dropout": "the mask is redrawn on every call, so no Jacobian pattern is fixed",
    "dropout2d": "the mask is redrawn on every call, so no Jacobian pattern is fixed",
    "conv2d": DENSE, "conv2d_options": DENSE, "conv_transpose2d-2": DENSE,
    "conv2d_plain": DENSE, "conv_transpose2d_plain": DENSE,
    "scaled_dot_product_attention": DENSE + " (weights @ values, a masked weight is 0)",
    "attention_weights-2": DENSE + " (q @ k^T, differentiated twice)",
    "var": CONSTANT, "logsumexp-2": CONSTANT,
    "group_norm": CONSTANT + " (a group of one value)",
    "cross_entropy_options-2": "a weighted mean over one example, whose weight cancels "
                               "(w l / w): 0 by the quotient rule's arithmetic",
}
EDGE_RUNS = [(s.name, order) for s in TABLE for order in (1, 2)
             if s.name not in NOT_SELECTED and f"{s.name}-{order}" not in NOT_SELECTED]


@pytest.mark.parametrize("name, order", EDGE_RUNS)
def test_infinite_upstream_leaves_independent_inputs_finite(name, order):
    spec = BY_NAME[name]

    @settings(max_examples=4)
    @given(spec.cases, st.data())
    def run(case, data):
        fn = functools.partial(spec.fn, **case.kwargs)
        if order == 2:
            fn = _second_order(fn, 0)
        inputs = _as_inputs(case.arrays)
        out = fn(*inputs)
        if out is None or not out.requires_grad or out.size == 0:
            return
        k = data.draw(st.integers(0, out.size - 1))
        here = _jacobian_row(fn, inputs, k)
        there = _jacobian_row(fn, _as_inputs(case.arrays, np.random.default_rng(k)), k)
        g = np.random.default_rng(k).uniform(-1, 1, out.size)
        g[k] = data.draw(st.sampled_from([np.inf, -np.inf]))
        floats = [x for x in inputs if x.requires_grad]
        with np.errstate(all="ignore"):
            got = sg.grad(fn(*inputs), floats, t64(g.reshape(out.shape), False),
                          allow_unused=True)
        g[k] = 0.0
        want = sg.grad(fn(*inputs), floats, t64(g.reshape(out.shape), False),
                       allow_unused=True)
        for j0, j1, gi, wi in zip(here, there or here, got, want):
            if j0 is None or gi is None:
                continue
            independent = (j0 == 0) & (j1 == 0)
            np.testing.assert_allclose(gi.numpy()[independent], wi.numpy()[independent],
                                       rtol=1e-12, atol=1e-12)

    run.hypothesis.inner_test._hypothesis_internal_add_digest = f"{name}{order}".encode()
    run()


# ---------------------------------------------------------------------------
# 3. Values and derivatives at the edges, float32 and float64, against mpmath
# ---------------------------------------------------------------------------

mpmath.mp.dps = 50
EDGE_VALUES = [0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0, 10.0, -10.0, 15.0,
               -15.0, 20.0, -20.0, 40.0, -40.0, 88.0, -88.0, 100.0, -100.0, 700.0, -700.0,
               1e4, -1e4]


def _mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


# name: (scratchgen fn, mpmath value, mpmath derivative, domain test)
ELEMENTWISE = {
    # derivatives in forms without cancellation, so that 50 digits are plenty
    "sigmoid": (F.sigmoid, _mp_sigmoid, lambda x: _mp_sigmoid(x) * _mp_sigmoid(-x), None),
    "tanh": (F.tanh, mpmath.tanh, lambda x: 1 / mpmath.cosh(x) ** 2, None),
    "softplus": (F.softplus, lambda x: mpmath.log1p(mpmath.exp(x)), _mp_sigmoid, None),
    "silu": (F.silu, lambda x: x * _mp_sigmoid(x),
             lambda x: _mp_sigmoid(x) * (1 + x * _mp_sigmoid(-x)), None),
    "elu": (F.elu, lambda x: x if x > 0 else mpmath.expm1(x),
            lambda x: 1 if x > 0 else mpmath.exp(x), None),
    "exp": (sg.exp, mpmath.exp, mpmath.exp, None),
    "log": (sg.log, mpmath.log, lambda x: 1 / x, lambda x: x > 0),
    "sqrt": (sg.sqrt, mpmath.sqrt, lambda x: 1 / (2 * mpmath.sqrt(x)), lambda x: x > 0),
    "relu": (F.relu, lambda x: max(x, 0), lambda x: 1 if x > 0 else 0, None),
    "bce_with_logits_t1": (
        lambda x: F.binary_cross_entropy_with_logits(x, sg.ones_like(x), reduction="none"),
        lambda x: mpmath.log1p(mpmath.exp(-x)), lambda x: -_mp_sigmoid(-x), None),
    "bce_with_logits_t0": (
        lambda x: F.binary_cross_entropy_with_logits(x, sg.zeros_like(x), reduction="none"),
        lambda x: mpmath.log1p(mpmath.exp(x)), _mp_sigmoid, None),
    "bce_of_sigmoid_t1": (
        lambda x: F.binary_cross_entropy(F.sigmoid(x), sg.ones_like(x), reduction="none"),
        lambda x: min(mpmath.log1p(mpmath.exp(-x)), 100), lambda x: -_mp_sigmoid(-x),
        # x <= 0: above, sigma(x) rounds near 1 and -log of it is ill-conditioned in any
        # library (use the logits form); below -80, -log p is clamped at 100 (PyTorch's)
        lambda x: -80 < x <= 0),
}


def _check_close(got, want, dtype, what):
    """No NaN where the truth is finite; a few ulps where it is a normal number
    of ``dtype``; the right inf or 0 where it over- or underflows."""
    info = np.finfo(dtype)
    want = float(want)
    assert not np.isnan(got), f"{what}: NaN, expected {want}"
    if abs(want) > info.max:
        assert np.isinf(got) and np.sign(got) == np.sign(want), f"{what}: {got} vs {want}"
    elif abs(want) >= info.tiny:
        assert abs(got - want) <= 8 * info.eps * abs(want), f"{what}: {got} vs {want}"
    else:
        assert abs(got) < 2 * info.tiny, f"{what}: {got} vs {want}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_values_and_derivatives_at_the_edges(name, dtype):
    fn, value, derivative, domain = ELEMENTWISE[name]
    xs = [x for x in EDGE_VALUES if float(np.asarray(x, dtype=dtype)) == x
          and abs(x) <= np.finfo(dtype).max and (domain is None or domain(x))]
    x = sg.tensor(np.array(xs), dtype=dtype, requires_grad=True)
    with np.errstate(over="ignore", under="ignore"):
        y = fn(x)
        y.sum().backward()
    for xi, yi, gi in zip(xs, y.numpy().tolist(), x.grad.numpy().tolist()):
        mx = mpmath.mpf(xi)
        _check_close(yi, value(mx), dtype, f"{name}({xi}) in {dtype}")
        _check_close(gi, derivative(mx), dtype, f"{name}'({xi}) in {dtype}")


def test_sigmoid_case_of_the_issue_matches_pytorch():
    """Case 2: BCE of sigmoid(-20) against 1 in float32: loss 20, gradient -1."""
    torch = pytest.importorskip("torch")
    z = sg.tensor([-20.0], requires_grad=True)
    loss = F.binary_cross_entropy(F.sigmoid(z), sg.tensor([1.0]))
    loss.backward()
    tz = torch.tensor([-20.0], requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(tz), torch.tensor([1.0]))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose([loss.item(), z.grad.item()], [20.0, -1.0], rtol=1e-6)
