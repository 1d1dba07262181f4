"""The layers PyTorch users reach for: GroupNorm, Upsample / F.interpolate,
Dropout2d, Identity, SiLU, ELU, Softmax, LogSoftmax, Embedding(padding_idx),
and Module.to(dtype) / .double() / .float().  Against closed forms always,
against PyTorch (values and gradients) when it is installed."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 4, 3, 5))


def t64(a, requires_grad=False):
    return sg.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                     requires_grad=requires_grad)


def np_group_norm(x, groups, eps=1e-5):
    n = x.shape[0]
    g = x.reshape(n, groups, -1)
    return ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)
            ).reshape(x.shape)


def test_group_norm_closed_form_and_gradients():
    w, b = RNG.normal(size=4), RNG.normal(size=4)
    y = F.group_norm(t64(X), 2, t64(w), t64(b))
    want = np_group_norm(X, 2) * w.reshape(1, 4, 1, 1) + b.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    inputs = [t64(X[:1, :, :2, :2], True), t64(w, True), t64(b, True)]
    assert sg.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), inputs)
    assert sg.gradgradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), inputs)


NEAREST_X = np.arange(12.0).reshape(1, 1, 3, 4)


def test_nearest_interpolation_repeats_pixels():
    y = F.interpolate(t64(NEAREST_X), scale_factor=2).numpy()
    np.testing.assert_array_equal(y[0, 0], np.repeat(np.repeat(NEAREST_X[0, 0], 2, 0), 2, 1))


def test_bilinear_interpolation_of_a_linear_ramp_is_exact():
    """align_corners=True keeps the corners: a linear function stays linear."""
    ramp = np.add.outer(np.arange(3.0), 10 * np.arange(4.0)).reshape(1, 1, 3, 4)
    y = F.interpolate(t64(ramp), size=(5, 7), mode="bilinear", align_corners=True).numpy()
    want = np.add.outer(np.linspace(0, 2, 5), 10 * np.linspace(0, 3, 7))
    np.testing.assert_allclose(y[0, 0], want, rtol=1e-12, atol=1e-12)


INTERPOLATIONS = [("nearest", dict(scale_factor=2)), ("nearest", dict(size=(5, 7))),
                  ("nearest", dict(size=(2, 3))), ("bilinear", dict(scale_factor=2)),
                  ("bilinear", dict(size=(4, 9))),
                  ("bilinear", dict(size=(4, 9), align_corners=True)),
                  ("bilinear", dict(scale_factor=1.5))]


@pytest.mark.parametrize("mode, kw", INTERPOLATIONS)
def test_interpolate_gradcheck(mode, kw):
    x = t64(X[:1, :1], True)
    assert sg.gradcheck(lambda x: F.interpolate(x, mode=mode, **kw), [x])


@pytest.mark.parametrize("mode, kw", INTERPOLATIONS)
def test_upsample_matches_pytorch(mode, kw):
    torch = pytest.importorskip("torch")
    x, tx = t64(X, True), torch.tensor(X, requires_grad=True)
    y, ty = nn.Upsample(mode=mode, **kw)(x), torch.nn.Upsample(mode=mode, **kw)(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = RNG.normal(size=y.shape)
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_interpolate_errors():
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(t64(X), size=4, scale_factor=2)
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(t64(X), scale_factor=2, mode="bicubic")


def test_dropout2d_drops_whole_channels():
    sg.manual_seed(1)
    y = F.dropout2d(sg.ones(8, 16, 3, 3), p=0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    layer = nn.Dropout2d(0.5).eval()
    x = sg.ones(2, 3, 2, 2)
    assert layer(x) is x


@pytest.mark.parametrize("name", ["silu", "elu"])
def test_silu_and_elu_match_pytorch_with_gradients(name):
    torch = pytest.importorskip("torch")
    v = np.array([-50.0, -2.0, -1e-8, 0.0, 1e-8, 0.5, 3.0, 50.0])
    x, tx = t64(v, True), torch.tensor(v, requires_grad=True)
    y, ty = getattr(F, name)(x), getattr(torch.nn.functional, name)(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-14, atol=1e-300)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-14, atol=1e-300)


def test_activation_modules_match_pytorch():
    torch = pytest.importorskip("torch")
    x = X[0]
    pairs = [(nn.SiLU(), torch.nn.SiLU()), (nn.ELU(0.5), torch.nn.ELU(0.5)),
             (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
             (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)),
             (nn.Identity(3, key="ignored"), torch.nn.Identity(3, key="ignored"))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(t64(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-12, atol=1e-14)
    with pytest.warns(UserWarning, match="dim"):
        implicit = nn.Softmax()(t64(X))
    with pytest.warns(UserWarning):
        ref = torch.nn.Softmax()(torch.tensor(X))
    np.testing.assert_allclose(implicit.numpy(), ref.numpy(), rtol=1e-12)


def test_group_norm_layer_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.GroupNorm(2, 4).double(), torch.nn.GroupNorm(2, 4).double()
    assert list(dict(ours.named_parameters())) == [n for n, _ in theirs.named_parameters()]
    x, tx = t64(X, True), torch.tensor(X, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-8)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


def test_embedding_padding_idx_is_zero_and_gets_no_gradient():
    e = nn.Embedding(5, 3, padding_idx=-4)
    assert e.padding_idx == 1
    np.testing.assert_array_equal(e.weight.numpy()[1], 0.0)
    with sg.no_grad():
        e.weight[1] = 7.0  # a padding vector set by hand is returned as it is
    out = e(sg.tensor([[1, 2, 1], [0, 2, 4]]))
    np.testing.assert_array_equal(out.numpy()[0, 0], 7.0)
    (out * out).sum().backward()
    np.testing.assert_array_equal(e.weight.grad.numpy()[1], 0.0)
    np.testing.assert_allclose(e.weight.grad.numpy()[2], 4 * e.weight.numpy()[2], rtol=1e-6)

    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(5, 3, padding_idx=-4)
    assert te.padding_idx == 1
    with torch.no_grad():
        te.weight.copy_(torch.from_numpy(e.weight.numpy()))
    tout = te(torch.tensor([[1, 2, 1], [0, 2, 4]]))
    (tout * tout).sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy(), te.weight.grad.numpy(), rtol=1e-6)


def test_module_to_dtype_double_and_float():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    (model(sg.randn(4, 3)) ** 2).sum().backward()
    assert model.double() is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # a count stays an integer
    assert model[0].weight.grad.dtype == np.float64
    assert model(sg.randn(4, 3, dtype="float64")).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.to("float64")
    assert model[0].bias.dtype == np.float64
    with pytest.raises(TypeError, match="SCRATCHGEN_BACKEND"):
        model.to("cuda")
    with pytest.raises(TypeError, match="floating-point"):
        model.to("int32")
