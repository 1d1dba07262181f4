"""Convolution and pooling options: Conv2d(dilation, groups, padding='same'|
'valid'), ConvTranspose2d(groups, dilation), pools with padding, dilation,
ceil_mode and count_include_pad.  Against a direct NumPy loop always, and
against PyTorch (values and gradients) when it is installed."""
import itertools

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn


def t64(a, requires_grad=False):
    return sg.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                     requires_grad=requires_grad)


def np_conv2d(x, w, stride, pads, dilation, groups):
    """The definition, by loops: y[n, o, a, b] = sum over the group's
    channels and taps of w[o, c, i, j] x[n, c, s a + d i - p, s b + d j - q]."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc, a, b in itertools.product(range(o), range(oh), range(ow)):
        g = oc // og
        for i, j in itertools.product(range(kh), range(kw)):
            patch = xp[:, g * cg:(g + 1) * cg, stride[0] * a + dilation[0] * i,
                       stride[1] * b + dilation[1] * j]
            y[:, oc, a, b] += patch @ w[oc, :, i, j]
    return y


CONV_CASES = [
    dict(stride=1, padding="same", dilation=1, groups=1, k=(3, 3)),
    dict(stride=1, padding="same", dilation=2, groups=2, k=(2, 3)),
    dict(stride=1, padding="valid", dilation=1, groups=1, k=(2, 2)),
    dict(stride=2, padding=1, dilation=2, groups=1, k=(3, 2)),
    dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1), groups=4, k=(2, 2)),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_options_match_the_definition(case):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 6, 7))
    w = rng.normal(size=(8, 4 // case["groups"]) + case["k"])
    b = rng.normal(size=8)
    y = F.conv2d(t64(x), t64(w), t64(b), case["stride"], case["padding"], case["dilation"],
                 case["groups"])
    from scratchgen.conv import _pair, _conv_padding
    pads = _conv_padding(case["padding"], case["k"], case["stride"], case["dilation"])
    want = np_conv2d(x, w, _pair(case["stride"]), pads, _pair(case["dilation"]),
                     case["groups"]) + b.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    if case["padding"] == "same":
        assert y.shape[2:] == x.shape[2:]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_options_gradcheck(case):
    rng = np.random.default_rng(1)
    x = t64(rng.normal(size=(1, 4, 5, 4)), True)
    w = t64(rng.normal(size=(4, 4 // case["groups"]) + case["k"]), True)
    fn = lambda x, w: F.conv2d(x, w, None, case["stride"], case["padding"], case["dilation"],
                               case["groups"])
    assert sg.gradcheck(fn, [x, w])
    assert sg.gradgradcheck(fn, [x, w])


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_layers_match_pytorch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 6, 7))
    ours = nn.Conv2d(4, 8, case["k"], case["stride"], case["padding"], case["dilation"],
                     case["groups"])
    theirs = torch.nn.Conv2d(4, 8, case["k"], case["stride"], case["padding"], case["dilation"],
                             case["groups"]).double()
    assert tuple(theirs.weight.shape) == ours.weight.shape
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    sx, tx = t64(x, True), torch.tensor(x, requires_grad=True)
    y, ty = ours(sx), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-4)


TRANSPOSE_CASES = [
    dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1),
    dict(stride=1, padding=0, output_padding=0, groups=1, dilation=2),
    dict(stride=2, padding=1, output_padding=0, groups=4, dilation=(2, 1)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d_with_groups_and_dilation(case):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 4, 3))
    w = rng.normal(size=(4, 6 // 2 if case["groups"] == 2 else 8 // case["groups"], 3, 2))
    y = F.conv_transpose2d(t64(x), t64(w), None, case["stride"], case["padding"],
                           case["output_padding"], case["groups"], case["dilation"])
    z = rng.normal(size=y.shape)
    # <conv_transpose2d(x), z> = <x, conv2d(z)>, the conv2d's weight being w itself
    back = F.conv2d(t64(z), t64(w), None, case["stride"], case["padding"], case["dilation"],
                    case["groups"])
    np.testing.assert_allclose((y.numpy() * z).sum(), (x * back.numpy()).sum(), rtol=1e-10)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_layer_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 4, 4, 3))
    kw = dict(stride=case["stride"], padding=case["padding"],
              output_padding=case["output_padding"], groups=case["groups"],
              dilation=case["dilation"])
    ours = nn.ConvTranspose2d(4, 8, (3, 2), **kw)
    theirs = torch.nn.ConvTranspose2d(4, 8, (3, 2), **kw).double()
    assert tuple(theirs.weight.shape) == ours.weight.shape
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    sx, tx = t64(x, True), torch.tensor(x, requires_grad=True)
    y, ty = ours(sx), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert sg.gradcheck(lambda x: F.conv_transpose2d(x, t64(ours.weight.numpy()), None, **kw),
                        [t64(x[:1], True)])


POOL_CASES = [
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=0, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_exclude_pad", "max_dilated"])
def test_pools_match_pytorch(case, kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = -np.abs(rng.normal(size=(2, 3, 7, 6))) - 1  # all negative: padding must not win
    kw = dict(case)
    if kind == "max":
        ours, theirs = nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw)
    elif kind == "max_dilated":
        if kw["padding"] not in (0, 1) or kw["kernel_size"] != 3:
            pytest.skip("PyTorch's padding limit for this dilation")
        ours, theirs = nn.MaxPool2d(dilation=2, **kw), torch.nn.MaxPool2d(dilation=2, **kw)
    else:
        include = kind == "avg"
        ours = nn.AvgPool2d(count_include_pad=include, **kw)
        theirs = torch.nn.AvgPool2d(count_include_pad=include, **kw)
    sx, tx = t64(x, True), torch.tensor(x, requires_grad=True)
    y, ty = ours(sx), theirs(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    g = rng.normal(size=y.shape)
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_pool_options_gradcheck():
    x = t64(np.random.default_rng(6).permutation(30).reshape(1, 1, 5, 6) * 0.3, True)
    for kw in POOL_CASES:
        assert sg.gradcheck(lambda x: F.max_pool2d(x, **kw), [x])
        assert sg.gradgradcheck(lambda x: F.avg_pool2d(x, **kw), [x])


def test_constructor_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        nn.Conv2d(2, 2, 3, padding="full")
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(sg.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(2, 2, 3, padding_mode="reflect")
