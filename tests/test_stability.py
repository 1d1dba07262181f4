"""The numerically stable forms hold at extreme inputs (|x| = 1e4, where a
naive exp overflows even in float64): finite values, finite gradients, and
the right limits."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import functional as F

BIG = 1e4
DTYPES = ["float32", "float64"]


def value_and_grad(fn, data, dtype):
    """fn(x) and d sum(fn(x)) / dx, as host arrays; both must be finite."""
    x = sg.tensor(data, dtype=dtype, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    value, grad = y.numpy(), x.grad.numpy()
    assert y.dtype == dtype and x.grad.dtype == dtype
    assert np.isfinite(value).all(), f"non-finite value {value}"
    assert np.isfinite(grad).all(), f"non-finite gradient {grad}"
    return value, grad


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


def check(got, expected, atol=1e-6):
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=atol)


def check_grad(got, expected, dtype):
    """Gradients read off an output near 1e4 (``exp(x - lse)``) inherit its
    rounding: float32's spacing at 1e4 is 1e-3 (PyTorch's are the same)."""
    check(got, expected, atol=2e-3 if dtype == "float32" else 1e-9)


def test_softplus(dtype):
    value, grad = value_and_grad(F.softplus, [BIG, -BIG, 0.0], dtype)
    check(value, [BIG, 0.0, np.log(2)])
    check_grad(grad, [1.0, 0.0, 0.5], dtype)  # softplus' = sigmoid


def test_sigmoid(dtype):
    value, grad = value_and_grad(F.sigmoid, [BIG, -BIG, 0.0], dtype)
    check(value, [1.0, 0.0, 0.5])
    check_grad(grad, [0.0, 0.0, 0.25], dtype)


def test_tanh(dtype):
    value, grad = value_and_grad(F.tanh, [BIG, -BIG, 0.0], dtype)
    check(value, [1.0, -1.0, 0.0])
    check_grad(grad, [0.0, 0.0, 1.0], dtype)


def test_logsumexp(dtype):
    value, grad = value_and_grad(lambda x: F.logsumexp(x, axis=-1),
                                 [[BIG, 0.0], [-BIG, -BIG], [BIG, BIG]], dtype)
    check(value, [BIG, -BIG + np.log(2), BIG + np.log(2)])
    check_grad(grad, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]], dtype)  # d lse / dx = softmax


def test_logsumexp_over_everything(dtype):
    value, grad = value_and_grad(F.logsumexp, [BIG, 0.0, -BIG], dtype)
    check(value, BIG)
    check_grad(grad, [1.0, 0.0, 0.0], dtype)


def test_softmax(dtype):
    # weight the outputs so the gradient is not identically zero
    weights = sg.tensor([1.0, 2.0, 3.0], dtype=dtype)
    value, grad = value_and_grad(lambda x: F.softmax(x) * weights, [[BIG, 0.0, -BIG]], dtype)
    check(value, [[1.0, 0.0, 0.0]])
    check_grad(grad, [[0.0, 0.0, 0.0]], dtype)


def test_log_softmax(dtype):
    value, grad = value_and_grad(F.log_softmax, [[BIG, 0.0, -BIG]], dtype)
    check(value, [[0.0, -BIG, -2 * BIG]])
    check_grad(grad, [[1.0 - 3.0, 1.0, 1.0]], dtype)  # gy - softmax * sum(gy), gy = 1


@pytest.mark.parametrize("target, loss, slope", [
    (1.0, 0.0, 0.0),     # confident and right
    (0.0, BIG, 1.0),     # confident and wrong: loss = |logit|, slope sigma(x) - t
])
def test_bce_with_logits_positive_logit(dtype, target, loss, slope):
    t = sg.tensor([target], dtype=dtype)
    value, grad = value_and_grad(
        lambda x: F.binary_cross_entropy_with_logits(x, t, reduction="none"), [BIG], dtype)
    check(value, [loss])
    check_grad(grad, [slope], dtype)


def test_bce_with_logits_negative_logit(dtype):
    t = sg.tensor([1.0, 0.0], dtype=dtype)
    value, grad = value_and_grad(
        lambda x: F.binary_cross_entropy_with_logits(x, t, reduction="none"), [-BIG, -BIG], dtype)
    check(value, [BIG, 0.0])
    check_grad(grad, [-1.0, 0.0], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_on_probabilities_0_and_1_is_clamped_not_infinite(dtype):
    t = sg.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    with np.errstate(all="ignore"):  # the finiteness checks are the test
        value, _ = value_and_grad(lambda p: F.binary_cross_entropy(p, t, reduction="none"),
                                  [0.0, 1.0, 0.0, 1.0], dtype)
    check(value, [100.0, 100.0, 0.0, 0.0])  # PyTorch's clamp of log at -100


@pytest.mark.parametrize("logvar", [30.0, -30.0])
def test_gaussian_kl_and_nll_with_extreme_logvar(dtype, logvar):
    mu = sg.tensor([[0.5, -1.0]], dtype=dtype, requires_grad=True)
    lv = sg.tensor([[logvar, logvar]], dtype=dtype, requires_grad=True)
    x = sg.tensor([[0.25, 0.0]], dtype=dtype)
    for loss in (F.gaussian_kl(mu, lv), F.gaussian_nll(x, mu, lv)):
        mu.grad = lv.grad = None
        loss.backward()
        for t in (loss, mu.grad, lv.grad):
            assert t.dtype == dtype
            assert np.isfinite(t.numpy()).all(), (logvar, t)
    kl = F.gaussian_kl(mu, lv).item()
    expected = 0.5 * (0.25 + 1.0 + 2 * (np.exp(logvar) - 1 - logvar))
    np.testing.assert_allclose(kl, expected, rtol=1e-5)
