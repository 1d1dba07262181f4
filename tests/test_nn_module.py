"""nn.Module bookkeeping, state_dict, modes, containers, init and clipping."""
import copy
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn
from scratchgen.nn import init
from scratchgen.nn.utils import clip_grad_norm_


class Block(nn.Module):
    """A hand-written model: a parameter, a buffer, a child and a ModuleList."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(sg.ones(3))
        self.register_buffer("count", sg.zeros(1))
        self.body = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        self.heads = nn.ModuleList([nn.Linear(3, 1), nn.Linear(3, 1, bias=False)])
        self.not_a_param = sg.zeros(2)  # a plain tensor attribute is not registered

    def forward(self, x):
        h = self.body(x) * self.scale
        return sum(head(h) for head in self.heads)


SEQ_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "1.num_batches_tracked", "3.weight", "3.bias"]


def small_seq():
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))


# -- Parameter ---------------------------------------------------------------

def test_parameter_from_host_data_is_float32_and_requires_grad():
    p = nn.Parameter(np.arange(3.0))
    assert isinstance(p, sg.Tensor) and p.requires_grad and p.dtype == np.float32
    assert p.is_leaf and "Parameter containing" in repr(p)


def test_parameter_shares_the_array_of_a_tensor():
    t = sg.randn(2, 2)
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and not t.requires_grad


# -- discovery -----------------------------------------------------------------

def test_named_parameters_walk_nested_modules_and_module_list_in_order():
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
                     "heads.0.weight", "heads.0.bias", "heads.1.weight"]


def test_buffers_children_and_modules():
    m = Block()
    assert [n for n, _ in m.named_buffers()] == [
        "count", "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked"]
    assert [type(c).__name__ for c in m.children()] == ["Sequential", "ModuleList"]
    assert [type(c).__name__ for c in m.modules()] == [
        "Block", "Sequential", "Linear", "BatchNorm1d", "ModuleList", "Linear", "Linear"]
    assert len(list(m.buffers())) == 4
    assert "not_a_param" not in dict(m.named_parameters())


def test_shared_parameter_is_listed_once():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight
    assert len(list(m.parameters())) == 3


def test_reassigning_and_deleting_attributes_updates_the_registries():
    m = nn.Linear(2, 3)
    m.weight = nn.Parameter(sg.zeros(3, 2))
    assert dict(m.named_parameters())["weight"].numpy().sum() == 0
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.weight = sg.zeros(3, 2)  # a plain tensor would silently stop training
    del m.bias
    assert [n for n, _ in m.named_parameters()] == ["weight"]


def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_forward_calls_and_gradients_reach_every_parameter():
    m = Block()
    m(sg.randn(5, 2)).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_and_apply():
    m = small_seq().requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "BatchNorm1d", "ReLU", "Linear", "Sequential"]


# -- containers ------------------------------------------------------------------

def test_sequential_indexing_len_iteration_and_slicing():
    m = small_seq()
    assert len(m) == 4 and isinstance(m[-1], nn.Linear) and m[1] is list(m)[1]
    head = m[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is m[0]
    assert head(sg.randn(3, 4)).shape == (3, 3)
    with pytest.raises(IndexError, match="length 4"):
        m[4]


def test_module_list_append_extend_slice():
    ml = nn.ModuleList([nn.ReLU()]).append(nn.Tanh()).extend([nn.Sigmoid()])
    assert len(ml) == 3 and isinstance(ml[1:], nn.ModuleList) and isinstance(ml[2], nn.Sigmoid)
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2"]


# -- modes -------------------------------------------------------------------------

def test_train_and_eval_propagate_to_all_descendants():
    m = Block()
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())


# -- repr ----------------------------------------------------------------------------

def test_repr_matches_pytorch_layout():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  )\n"
        ")")


def test_repr_equals_torch_for_shared_layers():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ConvTranspose2d(3, 2, 4, 2, 1),
                         nn.Flatten(), nn.Unflatten(1, (2, 4)), nn.LeakyReLU(0.2),
                         nn.Tanh(), nn.Sigmoid(), nn.Embedding(5, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False),
                                 torch.nn.ConvTranspose2d(3, 2, 4, 2, 1), torch.nn.Flatten(),
                                 torch.nn.Unflatten(1, (2, 4)), torch.nn.LeakyReLU(0.2),
                                 torch.nn.Tanh(), torch.nn.Sigmoid(), torch.nn.Embedding(5, 2))
    assert repr(ours) == repr(theirs)


# -- state_dict ------------------------------------------------------------------------

def test_state_dict_keys_values_and_dtypes():
    m = small_seq()
    sd = m.state_dict()
    assert list(sd) == SEQ_KEYS
    assert all(type(v) is np.ndarray for v in sd.values())
    assert sd["0.weight"].shape == (3, 4) and sd["1.num_batches_tracked"].dtype == np.int64
    assert sd["1.num_batches_tracked"].shape == ()


def test_state_dict_keys_equal_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3),
                                 torch.nn.ReLU(), torch.nn.Linear(3, 2))
    assert list(theirs.state_dict()) == SEQ_KEYS
    convs = (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ConvTranspose2d(2, 1, 3)),
             torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                 torch.nn.ConvTranspose2d(2, 1, 3)))
    ours, theirs = convs[0].state_dict(), convs[1].state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == tuple(theirs[k].shape) for k in ours)


def test_state_dict_is_a_copy():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    m.weight.data += 1
    assert not np.allclose(sd["weight"], m.weight.numpy())


def test_load_state_dict_copies_in_place_and_preserves_dtype():
    src, dst = small_seq(), small_seq()
    src[1].running_mean.data += 3
    weight, array = dst[0].weight, dst[0].weight.data
    sd = {k: v.astype(np.float64) if v.dtype.kind == "f" else v
          for k, v in src.state_dict().items()}
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst[0].weight is weight and dst[0].weight.data is array  # optimizers keep working
    assert dst[0].weight.dtype == np.float32
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, src.state_dict()[k])


def test_load_state_dict_accepts_backend_arrays_and_tensors():
    src, dst = nn.Linear(2, 2), nn.Linear(2, 2)
    dst.load_state_dict({"weight": src.weight.data, "bias": src.bias})
    np.testing.assert_array_equal(dst.weight.numpy(), src.weight.numpy())
    np.testing.assert_array_equal(dst.bias.numpy(), src.bias.numpy())


def test_load_state_dict_missing_and_unexpected_keys_raise_naming_them():
    m = small_seq()
    sd = m.state_dict()
    del sd["3.bias"]
    sd["4.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r"(?s)Unexpected.*'4\.weight'.*Missing.*'3\.bias'"):
        m.load_state_dict(sd)


def test_load_state_dict_wrong_shape_names_key_and_both_shapes_and_copies_nothing():
    m = small_seq()
    before = m.state_dict()
    sd = small_seq().state_dict()
    sd["0.weight"] = np.zeros((3, 5), np.float32)
    with pytest.raises(RuntimeError, match=r"0\.weight.*\(3, 5\).*\(3, 4\)"):
        m.load_state_dict(sd, strict=False)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_returns_incompatible_keys():
    m = small_seq()
    sd = m.state_dict()
    del sd["0.bias"]
    sd["extra"] = np.ones(2)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result  # a named tuple, like PyTorch's _IncompatibleKeys
    assert (missing, unexpected) == (["0.bias"], ["extra"])


def test_deepcopy_makes_independent_parameters():
    m = small_seq()
    twin = copy.deepcopy(m)
    twin[0].weight.data += 1
    assert not np.allclose(twin[0].weight.numpy(), m[0].weight.numpy())
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in m.named_parameters()]


# -- init ----------------------------------------------------------------------------------

def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / 1.0001))
    with pytest.raises(ValueError, match="softsign"):
        init.calculate_gain("softsign")


@pytest.mark.parametrize("fn, expected_std", [
    (lambda t: init.xavier_uniform_(t), math.sqrt(2 / (200 + 100))),
    (lambda t: init.xavier_normal_(t, gain=2.0), 2 * math.sqrt(2 / (200 + 100))),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 200)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 100)),
    (lambda t: init.normal_(t, 0.0, 0.3), 0.3),
    (lambda t: init.uniform_(t, -1.0, 1.0), 1 / math.sqrt(3)),
])
def test_init_draws_have_the_documented_std(fn, expected_std):
    t = sg.zeros(100, 200)  # fan_in 200, fan_out 100
    assert fn(t) is t and t.dtype == np.float32
    values = t.numpy()
    assert values.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(values.mean()) < 0.05 * expected_std


def test_uniform_bounds_and_constants():
    t = init.kaiming_uniform_(sg.zeros(50, 30, 3, 3), a=math.sqrt(5))
    bound = 1 / math.sqrt(30 * 9)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.95 * bound
    assert (init.zeros_(t).numpy() == 0).all() and (init.ones_(t).numpy() == 1).all()
    assert (init.constant_(t, 2.5).numpy() == 2.5).all()
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(sg.zeros(5))


def test_init_is_reproducible_with_manual_seed():
    sg.manual_seed(3)
    a = nn.Linear(5, 4).weight.numpy()
    sg.manual_seed(3)
    assert np.array_equal(a, nn.Linear(5, 4).weight.numpy())


# -- clip_grad_norm_ --------------------------------------------------------------------------

def _with_grads(*grads):
    params = [nn.Parameter(np.zeros(np.shape(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = sg.tensor(np.asarray(g, dtype=np.float32))
    return params


def test_clip_grad_norm_scales_when_too_large():
    params = _with_grads([3.0, 0.0], [[4.0]])
    shared = params[0].grad
    total = clip_grad_norm_(params, 1.0)
    assert isinstance(total, sg.Tensor) and total.ndim == 0  # on the device, as PyTorch's
    assert float(total) == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.numpy(), [3 * scale, 0], rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.numpy(), [[4 * scale]], rtol=1e-6)
    assert shared.numpy().tolist() == [3.0, 0.0]  # the old grad tensor was not modified


def test_clip_grad_norm_leaves_small_grads_alone_and_skips_missing():
    params = _with_grads([0.3, 0.4]) + [nn.Parameter(np.zeros(2))]
    assert float(clip_grad_norm_(iter(params), 1.0)) == pytest.approx(0.5)
    np.testing.assert_allclose(params[0].grad.numpy(), [0.3, 0.4])
    assert params[1].grad is None
    assert float(clip_grad_norm_(params[0], 1.0, norm_type=float("inf"))) == pytest.approx(0.4)
