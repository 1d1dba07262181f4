"""PyTorch's loss options: cross_entropy's weight, ignore_index,
label_smoothing and probability targets; binary_cross_entropy[_with_logits]'s
weight and pos_weight; and the BCE-with-logits value where
``softplus(x) - t x`` cancels (issue 9, case 3).  Each against a NumPy
closed form, and against PyTorch when it is installed."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen import functional as F

REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=False):
    return sg.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                     requires_grad=requires_grad)


def np_log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def ce_ref(x, y, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's definition, written with NumPy loops-free gathers."""
    c = x.shape[1]
    logp = np_log_softmax(x)
    w = np.ones(c) if weight is None else weight
    valid = y != ignore_index
    yy = np.where(valid, y, 0)
    picked = np.take_along_axis(logp, yy[:, None, ...], axis=1)[:, 0]
    w_y = w[yy] * valid
    nll = -w_y * picked
    smooth = -(logp * w.reshape((1, c) + (1,) * (x.ndim - 2))).sum(axis=1) * valid
    eps = label_smoothing
    if reduction == "none":
        return (1 - eps) * nll + eps / c * smooth
    if reduction == "sum":
        return (1 - eps) * nll.sum() + eps / c * smooth.sum()
    return ((1 - eps) * nll.sum() + eps / c * smooth.sum()) / w_y.sum()


@st.composite
def ce_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    extra = draw(st.sampled_from([(), (2,), (2, 1)]))
    x = draw(hnp.arrays(np.float64, (n, c) + extra, elements=st.floats(-3, 3)))
    y = draw(hnp.arrays(np.int64, (n,) + extra, elements=st.integers(0, c - 1)))
    ignore = draw(st.sampled_from([-100, 1]))
    if ignore == 1 and (y == 1).all():
        y.flat[0] = 0  # keep one example, so the mean is defined
    weight = draw(st.one_of(st.none(), hnp.arrays(np.float64, (c,),
                                                  elements=st.floats(0.5, 2.0))))
    return x, y, weight, ignore, draw(st.sampled_from([0.0, 0.1, 0.5])), \
        draw(st.sampled_from(REDUCTIONS))


@settings(max_examples=40)
@given(ce_case())
def test_cross_entropy_options_match_the_closed_form(case):
    x, y, weight, ignore, eps, reduction = case
    got = F.cross_entropy(t64(x), sg.tensor(y), None if weight is None else t64(weight),
                          ignore_index=ignore, reduction=reduction, label_smoothing=eps)
    want = ce_ref(x, y, weight, ignore, reduction, eps)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@settings(max_examples=15)
@given(ce_case())
def test_cross_entropy_options_gradcheck(case):
    x, y, weight, ignore, eps, reduction = case
    inputs = [t64(x, True)] + ([] if weight is None else [t64(weight, True)])
    assert sg.gradcheck(lambda x, *w: F.cross_entropy(
        x, sg.tensor(y), w[0] if w else None, ignore_index=ignore, reduction=reduction,
        label_smoothing=eps), inputs)


def test_an_ignored_row_with_minus_inf_logits_gives_zero_not_nan():
    x = t64([[0.0, -np.inf], [1.0, 2.0]], requires_grad=True)
    loss = F.cross_entropy(x, sg.tensor([1, 0]), ignore_index=1)
    loss.backward()
    assert np.isfinite(loss.item())
    np.testing.assert_array_equal(x.grad.numpy()[0], [0.0, 0.0])


def test_cross_entropy_probability_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    q = rng.dirichlet(np.ones(4), size=3)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    for eps in (0.0, 0.2):
        qs = q * (1 - eps) + eps / 4
        want = -(np_log_softmax(x) * qs * w).sum(axis=1)
        got = F.cross_entropy(t64(x), t64(q), t64(w), reduction="none", label_smoothing=eps)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
        got = F.cross_entropy(t64(x), t64(q), t64(w), label_smoothing=eps)
        np.testing.assert_allclose(got.item(), want.mean(), rtol=1e-12)
    assert sg.gradcheck(lambda x, q: F.cross_entropy(x, q), [t64(x, True), t64(q, True)])


def test_cross_entropy_errors_name_the_problem():
    x = sg.rand(2, 3)
    # on a device the range is checked outside training only (no host read per step)
    with pytest.raises(IndexError, match=r"\[0, 3\)"), sg.no_grad():
        F.cross_entropy(x, sg.tensor([0, 3]))
    with pytest.raises(ValueError, match="one entry per class"):
        F.cross_entropy(x, sg.tensor([0, 1]), sg.ones(2))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, sg.tensor([0, 1]), label_smoothing=1.5)


def test_cross_entropy_options_match_pytorch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 3))
    y = rng.integers(0, 4, size=(5, 3))
    y[0, 0] = y[2, 1] = -100
    w = rng.uniform(0.5, 2, size=4)
    q = rng.dirichlet(np.ones(4), size=(5, 3)).transpose(0, 2, 1)
    for reduction in REDUCTIONS:
        for eps in (0.0, 0.3):
            for weight in (None, w):
                tx = torch.tensor(x, requires_grad=True)
                ref = tf.cross_entropy(tx, torch.tensor(y), None if weight is None
                                       else torch.tensor(weight), reduction=reduction,
                                       label_smoothing=eps)
                sx = t64(x, True)
                got = F.cross_entropy(sx, sg.tensor(y), None if weight is None else t64(weight),
                                      reduction=reduction, label_smoothing=eps)
                np.testing.assert_allclose(got.numpy(), ref.detach().numpy(), rtol=1e-10)
                ref.sum().backward()
                got.sum().backward()
                np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-9,
                                           atol=1e-12)
            ref = tf.cross_entropy(torch.tensor(x), torch.tensor(q), torch.tensor(w),
                                   reduction=reduction, label_smoothing=eps)
            got = F.cross_entropy(t64(x), t64(q), t64(w), reduction=reduction,
                                  label_smoothing=eps)
            np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------
# Binary cross-entropy: weight, pos_weight, and no cancellation
# ---------------------------------------------------------------------------

def np_softplus(x):
    return np.logaddexp(0.0, x)


def bce_logits_ref(x, t, weight=None, pos_weight=None):
    p = 1.0 if pos_weight is None else pos_weight
    loss = p * t * np_softplus(-x) + (1 - t) * np_softplus(x)
    return loss if weight is None else loss * weight


@settings(max_examples=40)
@given(st.data())
def test_bce_with_logits_weights_match_the_closed_form(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-30, 30)))
    t = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
    w = data.draw(st.one_of(st.none(), hnp.arrays(np.float64, shape[-1:],
                                                  elements=st.floats(0, 2))))
    p = data.draw(st.one_of(st.none(), hnp.arrays(np.float64, shape[-1:],
                                                  elements=st.floats(0.1, 3))))
    got = F.binary_cross_entropy_with_logits(
        t64(x), t64(t), None if w is None else t64(w), reduction="none",
        pos_weight=None if p is None else t64(p))
    np.testing.assert_allclose(got.numpy(), bce_logits_ref(x, t, w, p), rtol=1e-12,
                               atol=1e-300)
    ins = [t64(x[..., :], True), t64(t, True)] + ([] if p is None else [t64(p, True)])
    assert sg.gradcheck(lambda x, t, *pw: F.binary_cross_entropy_with_logits(
        x, t, None if w is None else t64(w), reduction="sum", pos_weight=pw[0] if pw else None),
        [i for i in ins], atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x", [10.0, 15.0, 17.0, 20.0, 40.0, 80.0, -10.0, -40.0])
def test_bce_with_logits_keeps_its_value_where_softplus_minus_tx_cancels(dtype, x):
    """Case 3: the loss at target 1 is softplus(-x) = log1p(e^-x); at target
    0 it is softplus(x).  Relative error a few ulps, never a flush to 0."""
    ulp = np.finfo(dtype).eps
    for t in (1.0, 0.0):
        want = np_softplus(-x) if t == 1.0 else np_softplus(x)
        got = F.binary_cross_entropy_with_logits(sg.tensor([x], dtype=dtype),
                                                 sg.tensor([t], dtype=dtype)).item()
        if want < np.finfo(dtype).tiny:  # below the smallest normal number
            continue
        assert abs(got - want) <= 4 * ulp * want, (x, t, got, want)


def test_bce_with_logits_value_matches_pytorch_in_float32():
    torch = pytest.importorskip("torch")
    x = np.array([10.0, 15.0, 20.0, 40.0, -20.0, 0.5], dtype=np.float32)
    t = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.3], dtype=np.float32)
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0], dtype=np.float32)
    p = np.array([2.0], dtype=np.float32)
    got = F.binary_cross_entropy_with_logits(sg.tensor(x), sg.tensor(t), sg.tensor(w),
                                             reduction="none", pos_weight=sg.tensor(p))
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), torch.tensor(w), reduction="none",
        pos_weight=torch.tensor(p))
    exact = bce_logits_ref(x.astype(np.float64), t.astype(np.float64), w, p)
    np.testing.assert_allclose(got.numpy(), exact, rtol=4e-7)
    # PyTorch's own formula cancels at (x = -20, t = 0) with a pos_weight: 0 there
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=4e-6, atol=1e-8)


def test_bce_on_probabilities_takes_a_weight_like_pytorch():
    p = np.array([0.2, 0.7, 0.99])
    t = np.array([0.0, 1.0, 0.5])
    w = np.array([1.0, 2.0, 0.5])
    want = -(t * np.log(p) + (1 - t) * np.log(1 - p)) * w
    got = F.binary_cross_entropy(t64(p), t64(t), t64(w), reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                   torch.tensor(w))
    np.testing.assert_allclose(F.binary_cross_entropy(t64(p), t64(t), t64(w)).item(),
                               ref.item(), rtol=1e-12)


def test_loss_weights_that_do_not_broadcast_are_an_error():
    with pytest.raises(ValueError, match="weight of shape"):
        F.binary_cross_entropy_with_logits(sg.rand(2, 3), sg.rand(2, 3), sg.ones(2))
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(sg.rand(2, 3), sg.rand(2, 3), pos_weight=sg.ones(2))
