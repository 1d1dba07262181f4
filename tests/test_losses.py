"""Losses against their formulas written out in NumPy, against finite
differences, against PyTorch where installed, and at extreme inputs."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen import functional as F

REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=False):
    return sg.tensor(a, dtype="float64", requires_grad=requires_grad)


def grid(lo, hi, step=1e-3):
    """Values on a grid in [lo, hi] (hypothesis shrinks them to short decimals)."""
    return st.integers(round(lo / step), round(hi / step)).map(lambda i: i * step)


def arrays(data, shape, lo=-3.0, hi=3.0):
    return data.draw(hnp.arrays(np.float64, shape, elements=grid(lo, hi)))


def reduce_ref(per_item, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](per_item)


# ---------------------------------------------------------------------------
# The formulas in NumPy (per element, or per example for the Gaussian terms)
# ---------------------------------------------------------------------------

def bce_with_logits_ref(x, t):
    return np.maximum(x, 0) - t * x + np.log1p(np.exp(-np.abs(x)))


def bce_ref(p, t):
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))


def cross_entropy_ref(x, y):
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    return lse - x[np.arange(len(y)), y]


def mse_ref(a, b):
    return (a - b) ** 2


def gaussian_kl_ref(mu, logvar):
    return 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=-1)


def gaussian_nll_ref(x, mu, logvar):
    return 0.5 * np.sum(np.log(2 * np.pi) + logvar + (x - mu) ** 2 * np.exp(-logvar), axis=-1)


# ---------------------------------------------------------------------------
# Drawn cases: (function, host arrays in the loss's domain, NumPy reference).
# The last array of cross_entropy is the integer labels (never differentiated).
# ---------------------------------------------------------------------------

SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)


@st.composite
def cases(draw, name):
    data = draw(st.data())
    if name == "cross_entropy":
        n, k = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
        return [arrays(data, (n, k)), labels]
    if name in ("gaussian_kl", "gaussian_nll"):
        shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, max_side=4))
        count = 2 if name == "gaussian_kl" else 3
        return [arrays(data, shape, -2.0, 2.0) for _ in range(count)]
    shape = draw(SHAPES)
    if name == "binary_cross_entropy":  # away from the clamp at 0 and 1
        return [arrays(data, shape, 0.02, 0.98), arrays(data, shape, 0.0, 1.0)]
    if name == "binary_cross_entropy_with_logits":
        return [arrays(data, shape, -6.0, 6.0), arrays(data, shape, 0.0, 1.0)]
    return [arrays(data, shape), arrays(data, shape)]


REFERENCES = {
    "binary_cross_entropy_with_logits": bce_with_logits_ref,
    "binary_cross_entropy": bce_ref,
    "cross_entropy": cross_entropy_ref,
    "mse_loss": mse_ref,
    "gaussian_kl": gaussian_kl_ref,
    "gaussian_nll": gaussian_nll_ref,
}
LOSSES = list(REFERENCES)


def to_tensors(name, host, requires_grad=False):
    if name == "cross_entropy":
        return [t64(host[0], requires_grad), sg.tensor(host[1])]
    return [t64(a, requires_grad) for a in host]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@given(data=st.data())
def test_matches_numpy_formula(name, reduction, data):
    host = data.draw(cases(name))
    out = getattr(F, name)(*to_tensors(name, host), reduction=reduction)
    expected = reduce_ref(REFERENCES[name](*host), reduction)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=20)
@given(data=st.data())
def test_gradcheck(name, reduction, data):
    host = data.draw(cases(name))
    loss = getattr(F, name)
    assert sg.gradcheck(lambda *ts: loss(*ts, reduction=reduction),
                        to_tensors(name, host, requires_grad=True))


def test_cross_entropy_labels_are_not_differentiated():
    logits = t64([[1.0, 2.0, 0.5]], requires_grad=True)
    F.cross_entropy(logits, sg.tensor([1])).backward()
    p = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    np.testing.assert_allclose(logits.grad.numpy(), [p - [0, 1, 0]], rtol=1e-12)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

def torch_losses(torch):
    tf = torch.nn.functional
    normal = torch.distributions.Normal

    def kl(mu, logvar, reduction):
        per_example = torch.distributions.kl_divergence(
            normal(mu, torch.exp(0.5 * logvar)),
            normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
        return reduce_torch(per_example, reduction)

    def nll(x, mu, logvar, reduction):
        per_example = -normal(mu, torch.exp(0.5 * logvar)).log_prob(x).sum(-1)
        return reduce_torch(per_example, reduction)

    def reduce_torch(v, reduction):
        return {"mean": v.mean(), "sum": v.sum(), "none": v}[reduction]

    return {
        "binary_cross_entropy_with_logits": tf.binary_cross_entropy_with_logits,
        "binary_cross_entropy": tf.binary_cross_entropy,
        "cross_entropy": tf.cross_entropy,
        "mse_loss": tf.mse_loss,
        "gaussian_kl": kl,
        "gaussian_nll": nll,
    }


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=20)
@given(data=st.data())
def test_matches_torch(name, reduction, data):
    """Values and the gradient of every float input against PyTorch's."""
    torch = pytest.importorskip("torch")
    host = data.draw(cases(name))
    ours = to_tensors(name, host, requires_grad=True)
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in host]
    out = getattr(F, name)(*ours, reduction=reduction)
    ref = torch_losses(torch)[name](*theirs, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(tuple(ref.shape))
    (out * t64(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    for a_s, a_t in zip(ours, theirs):
        if a_t.requires_grad:
            np.testing.assert_allclose(a_s.grad.numpy(), a_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bce_clamp_matches_torch_values():
    torch = pytest.importorskip("torch")
    p, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                   reduction="none")
    np.testing.assert_array_equal(F.binary_cross_entropy(t64(p), t64(t), reduction="none").numpy(),
                                  ref.numpy())


# ---------------------------------------------------------------------------
# Per-example semantics of the Gaussian terms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)])
def test_gaussian_terms_reduce_over_examples_not_elements(shape):
    rng = np.random.default_rng(1)
    x, mu, logvar = (rng.standard_normal(shape) for _ in range(3))
    batch_shape, batch = shape[:-1], math.prod(shape[:-1])
    for name, args in [("gaussian_kl", (mu, logvar)), ("gaussian_nll", (x, mu, logvar))]:
        fn = getattr(F, name)
        per_example = fn(*map(t64, args), reduction="none").numpy()
        assert per_example.shape == batch_shape
        np.testing.assert_allclose(per_example, REFERENCES[name](*args), rtol=1e-12)
        mean = fn(*map(t64, args)).item()  # the default reduction is 'mean'
        total = fn(*map(t64, args), reduction="sum").item()
        np.testing.assert_allclose(mean, per_example.sum() / batch, rtol=1e-12)
        np.testing.assert_allclose(total, per_example.sum(), rtol=1e-12)
        # not a mean over every element, which would be smaller by the last axis
        assert not np.isclose(mean, per_example.sum() / (batch * shape[-1]))


def test_gaussian_kl_is_zero_at_the_prior():
    zero = t64(np.zeros((3, 4)))
    assert F.gaussian_kl(zero, zero, reduction="sum").item() == 0.0


# ---------------------------------------------------------------------------
# Extreme inputs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_is_stable_at_huge_logits(dtype):
    logits = sg.tensor([1e4, -1e4, 1e4, -1e4], dtype=dtype, requires_grad=True)
    target = sg.tensor([0.0, 1.0, 1.0, 0.0], dtype=dtype)  # wrong, wrong, right, right
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4, 0.0, 0.0], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [1.0, -1.0, 0.0, 0.0])  # sigma(x) - t

    logits.grad = None
    mean = F.binary_cross_entropy_with_logits(logits, target)
    assert np.isfinite(mean.item()) and math.isclose(mean.item(), 5e3, rel_tol=1e-6)
    mean.backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [0.25, -0.25, 0.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_at_probabilities_zero_and_one_is_clamped_at_100(dtype):
    """Each log is clamped at -100 as in PyTorch.  The clamped entries get
    gradient 0 (PyTorch's backward instead divides by max(p(1 - p), 1e-12));
    the others get the exact derivative, -t/p + (1 - t)/(1 - p)."""
    probs = sg.tensor([0.0, 1.0, 0.0, 1.0], dtype=dtype, requires_grad=True)
    target = sg.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = F.binary_cross_entropy(probs, target, reduction="none")
    assert loss.dtype == dtype
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(probs.grad.numpy(), [0.0, 0.0, 1.0, -1.0])


def test_cross_entropy_is_stable_at_huge_logits():
    logits = t64([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], requires_grad=True)
    loss = F.cross_entropy(logits, sg.tensor([1, 2]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [2e4, 0.0], rtol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[1, -1, 0], [0, 0, 0]], atol=1e-12)


def test_float32_losses_stay_float32():
    a, b = sg.rand(4, 3), sg.rand(4, 3)
    outputs = [F.binary_cross_entropy_with_logits(a, b), F.binary_cross_entropy(a, b),
               F.cross_entropy(a, sg.tensor([0, 1, 2, 0])), F.mse_loss(a, b),
               F.gaussian_kl(a, b), F.gaussian_nll(a, b, b)]
    assert [o.dtype for o in outputs] == [np.float32] * len(outputs)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "binary_cross_entropy",
                                  "mse_loss", "gaussian_kl", "gaussian_nll"])
def test_shape_mismatch_names_function_and_shapes(name):
    a, b = sg.rand(3, 4), sg.rand(4, 3)
    args = (a, b, a) if name == "gaussian_nll" else (a, b)
    with pytest.raises(ValueError, match=name) as err:
        getattr(F, name)(*args)
    assert "(3, 4)" in str(err.value) and "(4, 3)" in str(err.value)


def test_cross_entropy_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"cross_entropy.*\(4, 3\).*\(5,\)"):
        F.cross_entropy(sg.rand(4, 3), sg.tensor([0, 1, 2, 0, 1]))


@pytest.mark.parametrize("name", LOSSES)
def test_bad_reduction_lists_the_allowed_ones(name):
    a = sg.rand(2, 3)
    args = {"cross_entropy": (a, sg.tensor([0, 1])), "gaussian_nll": (a, a, a)}.get(name, (a, a))
    with pytest.raises(ValueError, match="reduction") as err:
        getattr(F, name)(*args, reduction="average")
    message = str(err.value)
    assert all(f"'{r}'" in message for r in REDUCTIONS) and "'average'" in message


def test_cross_entropy_float_targets_of_the_wrong_shape_are_an_error():
    with pytest.raises(ValueError, match=r"cross_entropy.*probabilities.*integer"):
        F.cross_entropy(sg.rand(2, 3), sg.tensor([0.0, 1.0]))
