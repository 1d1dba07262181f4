"""Layers: gradients (finite differences), PyTorch parity, defaults, errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import nn


def host(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def module_gradcheck(module, x, reseed=None):
    """sg.gradcheck over (x, *parameters) of a module: gradcheck hands ``fn``
    float64 copies, which are put in the module's parameter slots for the call."""
    slots = [(m, name) for m in module.modules()
             for name, p in m._parameters.items() if p is not None]
    originals = [m._parameters[name] for m, name in slots]

    def fn(x, *params):
        for (m, name), p in zip(slots, params):
            m._parameters[name] = p
        if reseed is not None:  # the same dropout mask at every evaluation
            sg.manual_seed(reseed)
        return module(x)

    try:
        return sg.gradcheck(fn, [x, *originals])
    finally:
        for (m, name), p in zip(slots, originals):
            m._parameters[name] = p


# -- gradients ------------------------------------------------------------------

GRADCHECK_CASES = {
    "linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "linear_no_bias_3d": (lambda: nn.Linear(3, 2, bias=False), (2, 2, 3)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1,
                                                    output_padding=1), (1, 2, 3, 3)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(3), (5, 3)),
    "batchnorm1d_3d": (lambda: nn.BatchNorm1d(2), (3, 2, 4)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(2), (3, 2, 3, 3)),
    "batchnorm1d_eval": (lambda: nn.BatchNorm1d(3).eval(), (4, 3)),
    "batchnorm1d_no_stats": (lambda: nn.BatchNorm1d(3, track_running_stats=False).eval(),
                             (4, 3)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (2, 2, 4, 4)),
    "maxpool2d_overlap": (lambda: nn.MaxPool2d(3, stride=2), (1, 2, 5, 5)),
    "avgpool2d": (lambda: nn.AvgPool2d(2, stride=1), (2, 2, 3, 3)),
    "relu": (lambda: nn.ReLU(), (3, 4)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "tanh": (lambda: nn.Tanh(), (3, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), (3, 4)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 2)),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), (2, 6)),
    "sequential": (lambda: nn.Sequential(nn.Unflatten(1, (1, 3, 3)), nn.Conv2d(1, 2, 2),
                                         nn.BatchNorm2d(2), nn.LeakyReLU(), nn.Flatten(),
                                         nn.Linear(8, 2), nn.Tanh()), (3, 9)),
}


@pytest.mark.parametrize("case", sorted(GRADCHECK_CASES))
def test_layer_gradcheck(case):
    make, shape = GRADCHECK_CASES[case]
    assert module_gradcheck(make(), sg.tensor(host(*shape), requires_grad=True))


def test_dropout_gradcheck_with_a_fixed_mask():
    x = sg.tensor(host(4, 5), requires_grad=True)
    assert module_gradcheck(nn.Dropout(0.3), x, reseed=7)


def test_embedding_gradcheck_with_repeated_indices():
    indices = sg.tensor(np.array([[1, 3, 1], [0, 1, 3]]))
    emb = nn.Embedding(4, 2)

    def fn(weight):
        emb._parameters["weight"] = weight
        return emb(indices)

    original = emb.weight
    try:
        assert sg.gradcheck(fn, [original])
    finally:
        emb._parameters["weight"] = original


def test_embedding_accumulates_gradients_of_repeated_indices():
    emb = nn.Embedding(3, 2)
    emb(sg.tensor(np.array([2, 0, 2, 2]))).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[1, 1], [0, 0], [3, 3]])


# -- PyTorch parity ----------------------------------------------------------------

def _pair(name):
    torch = pytest.importorskip("torch")
    tn = torch.nn
    pairs = {
        "linear": (nn.Linear(5, 3), tn.Linear(5, 3), (4, 5)),
        "conv2d": (nn.Conv2d(3, 4, 3, stride=2, padding=1), tn.Conv2d(3, 4, 3, 2, 1),
                   (2, 3, 7, 7)),
        "conv_transpose2d": (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
                             tn.ConvTranspose2d(3, 2, 3, 2, 1, output_padding=1), (2, 3, 4, 5)),
        "conv_transpose2d_k4": (nn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False),
                                tn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False), (2, 3, 4, 4)),
        "batchnorm1d": (nn.BatchNorm1d(3), tn.BatchNorm1d(3), (6, 3)),
        "batchnorm1d_3d": (nn.BatchNorm1d(3, momentum=0.3), tn.BatchNorm1d(3, momentum=0.3),
                           (4, 3, 5)),
        "batchnorm1d_cumulative": (nn.BatchNorm1d(3, momentum=None),
                                   tn.BatchNorm1d(3, momentum=None), (5, 3)),
        "batchnorm2d": (nn.BatchNorm2d(3), tn.BatchNorm2d(3), (4, 3, 5, 5)),
        "embedding": (nn.Embedding(10, 4), tn.Embedding(10, 4), None),
        "maxpool2d": (nn.MaxPool2d(2), tn.MaxPool2d(2), (2, 3, 6, 6)),
        "maxpool2d_overlap": (nn.MaxPool2d(3, stride=2), tn.MaxPool2d(3, stride=2),
                              (2, 3, 7, 7)),
        "avgpool2d": (nn.AvgPool2d(2), tn.AvgPool2d(2), (2, 3, 6, 6)),
        "leaky_relu": (nn.LeakyReLU(0.2), tn.LeakyReLU(0.2), (3, 4)),
        "sequential": (nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                     nn.Unflatten(1, (2, 2, 2)), nn.ConvTranspose2d(2, 3, 4, 2, 1),
                                     nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(),
                                     nn.Linear(48, 2), nn.Sigmoid()),
                       tn.Sequential(tn.Linear(4, 8), tn.BatchNorm1d(8), tn.ReLU(),
                                     tn.Unflatten(1, (2, 2, 2)), tn.ConvTranspose2d(2, 3, 4, 2, 1),
                                     tn.BatchNorm2d(3), tn.Tanh(), tn.Flatten(),
                                     tn.Linear(48, 2), tn.Sigmoid()), (5, 4)),
    }
    return torch, pairs[name]


PARITY = ["linear", "conv2d", "conv_transpose2d", "conv_transpose2d_k4", "batchnorm1d",
          "batchnorm1d_3d", "batchnorm1d_cumulative", "batchnorm2d", "embedding", "maxpool2d",
          "maxpool2d_overlap", "avgpool2d", "leaky_relu", "sequential"]


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5, err_msg=what)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", PARITY)
def test_matches_torch(name, training):
    """Load torch's weights into ours; three steps of forward and backward must
    agree (outputs, input and parameter gradients, then every state entry,
    e.g. running statistics)."""
    torch, (ours, theirs, shape) = _pair(name)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(training), theirs.train(training)
    for step in range(3):
        if shape is None:  # embedding: integer indices, with repeats
            x = np.array([[1, 3, 1, 9], [0, 0, 5, 3]])
            x_ours, x_theirs = sg.tensor(x), torch.from_numpy(x)
        else:
            x = host(*shape, seed=step)
            x_ours = sg.tensor(x, requires_grad=True)
            x_theirs = torch.from_numpy(x).requires_grad_()
        y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
        _close(y_ours.numpy(), y_theirs.detach().numpy(), f"output, step {step}")
        g = host(*y_ours.shape, seed=10 + step)
        y_ours.backward(sg.tensor(g))
        y_theirs.backward(torch.from_numpy(g))
        if shape is not None:
            _close(x_ours.grad.numpy(), x_theirs.grad.numpy(), "input gradient")
        theirs_params = dict(theirs.named_parameters())
        for key, p in ours.named_parameters():
            _close(p.grad.numpy(), theirs_params[key].grad.numpy(), f"grad of {key}")
        ours.zero_grad(), theirs.zero_grad()
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        _close(value, theirs_state[key].numpy(), f"state {key}")


def test_state_dict_loads_into_torch_and_back():
    torch, (ours, theirs, shape) = _pair("sequential")
    x = host(*shape)
    for _ in range(3):
        ours(sg.tensor(x))  # training steps move the running statistics
    result = theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    ours.eval(), theirs.eval()
    _close(ours(sg.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), "eval")
    assert int(ours.state_dict()["1.num_batches_tracked"]) == 3


# -- defaults -------------------------------------------------------------------------

@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(200, 300), 200),
    (lambda: nn.Conv2d(8, 64, 3), 8 * 9),
    (lambda: nn.ConvTranspose2d(64, 8, 3), 8 * 9),  # fan_in from weight dim 1, as PyTorch
])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert np.abs(b).max() <= bound and np.abs(b).std() > 0


def test_default_init_of_batchnorm_and_embedding():
    bn = nn.BatchNorm2d(4)
    sd = bn.state_dict()
    assert (sd["weight"] == 1).all() and (sd["bias"] == 0).all()
    assert (sd["running_mean"] == 0).all() and (sd["running_var"] == 1).all()
    assert sd["num_batches_tracked"] == 0 and sd["num_batches_tracked"].dtype == np.int64
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []
    w = nn.Embedding(1000, 20).weight.numpy()
    assert w.std() == pytest.approx(1.0, rel=0.03) and abs(w.mean()) < 0.03


def test_layer_shapes_and_attributes():
    x = sg.randn(2, 4, 8, 8)
    up = nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)
    assert up.weight.shape == (4, 3, 4, 4) and up(x).shape == (2, 3, 16, 16)
    conv = nn.Conv2d(4, 6, (3, 5), padding=(1, 2))
    assert conv.weight.shape == (6, 4, 3, 5) and conv(x).shape == (2, 6, 8, 8)
    assert nn.Linear(4, 6).weight.shape == (6, 4)
    assert nn.MaxPool2d(2)(x).shape == (2, 4, 4, 4) and nn.AvgPool2d(3, 1)(x).shape == (2, 4, 6, 6)
    assert nn.Flatten()(x).shape == (2, 256) and nn.Flatten(0, 1)(x).shape == (8, 8, 8)
    assert nn.Unflatten(1, (4, 64))(nn.Flatten()(x)).shape == (2, 4, 64)
    assert nn.Embedding(5, 3)(sg.tensor(np.zeros((2, 7), np.int64))).shape == (2, 7, 3)
    assert nn.Conv2d(1, 1, 3, bias=False).bias is None


# -- batch norm -------------------------------------------------------------------------

@given(n=st.integers(2, 6), c=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_batchnorm_in_eval_is_the_affine_map_of_its_running_stats(n, c, seed):
    rng = np.random.default_rng(seed)
    bn = nn.BatchNorm1d(c)
    stats = {"running_mean": rng.normal(size=c), "running_var": rng.uniform(0.1, 3, size=c),
             "weight": rng.normal(size=c), "bias": rng.normal(size=c)}
    bn.load_state_dict(stats, strict=False)
    bn.eval()
    x = rng.normal(size=(n, c)).astype(np.float32)
    sd = bn.state_dict()
    scale = sd["weight"] / np.sqrt(sd["running_var"] + 1e-5)
    expected = x * scale + (sd["bias"] - sd["running_mean"] * scale)
    np.testing.assert_allclose(bn(sg.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert sd["num_batches_tracked"] == 0  # eval does not count batches


def test_batchnorm_training_normalises_and_updates_running_stats():
    bn = nn.BatchNorm2d(2)
    x = host(8, 2, 3, 3) * 3 + 1
    y = bn(sg.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)  # unbiased
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    assert int(bn.num_batches_tracked.numpy()) == 1


# -- dropout ----------------------------------------------------------------------------

def test_dropout_preserves_the_mean_and_is_identity_in_eval():
    drop = nn.Dropout(0.25)
    x = sg.ones(200, 500)
    y = drop(x).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)


# -- input checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape, match", [
    (nn.Linear(3, 2), (4, 5), r"5 features.*\(4, 5\).*\(2, 3\)"),
    (nn.Conv2d(3, 2, 3), (1, 4, 5, 5), r"4 channels.*\(2, 3, 3, 3\)"),
    (nn.ConvTranspose2d(3, 2, 3), (1, 4, 5, 5), r"4 channels.*\(3, 2, 3, 3\)"),
    (nn.BatchNorm1d(3), (4, 5), r"BatchNorm1d\(3.*\(N, C\).*\(4, 5\)"),
    (nn.BatchNorm2d(3), (4, 3, 5), r"BatchNorm2d\(3.*\(N, C, H, W\).*\(4, 3, 5\)"),
    (nn.MaxPool2d(2), (3, 4, 4), r"MaxPool2d.*\(N, C, H, W\).*\(3, 4, 4\)"),
    (nn.Unflatten(1, (2, 3)), (4, 5), r"Unflatten.*\(4, 5\).*not 6"),
])
def test_wrong_input_shape_is_a_clear_error(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer(sg.zeros(*shape))


def test_embedding_rejects_float_and_out_of_range_indices():
    emb = nn.Embedding(4, 2)
    if sg.backend.ON_DEVICE:
        emb.eval()  # on a device the range is checked outside training (no host read per step)
    with pytest.raises(TypeError, match="integers"):
        emb(sg.zeros(3))
    with pytest.raises(IndexError, match=r"\[0, 4\).*-1 to 2"):
        emb(sg.tensor(np.array([0, -1, 2])))
    with pytest.raises(IndexError, match=r"\[0, 4\).*0 to 4"):
        emb(sg.tensor(np.array([0, 4])))
