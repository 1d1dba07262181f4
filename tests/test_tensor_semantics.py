"""Tensor semantics that follow PyTorch: truth value and Python scalars,
backward on a graph where nothing requires grad, leaf gradients that own
their memory, requires_grad_, retain_grad, register_hook, zero_ and
in-place writes outside the graph (issue 9, cases 5-7).  Each case is
checked against its closed form, and against PyTorch when it is installed."""
import numpy as np
import pytest

import scratchgen as sg


def leaf(values, dtype="float64"):
    return sg.tensor(values, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------------------
# Case 5: truth value, float(), int()
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("values, truth", [([0.0], False), ([2.0], True), (0.0, False),
                                           (-1.0, True), ([[3]], True)])
def test_a_one_element_tensor_has_a_truth_value(values, truth):
    t = sg.tensor(values)
    assert bool(t) is truth
    assert bool(t > 5) is False  # the comparison's value, not len() == 1


@pytest.mark.parametrize("values", [[1.0, 2.0], [], [[1.0], [0.0]]])
def test_the_truth_value_of_several_values_is_an_error(values):
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(sg.tensor(values))


def test_float_and_int_of_one_element_tensors():
    assert float(sg.tensor([[2.5]])) == 2.5
    assert int(sg.tensor(3.7)) == 3
    assert int(sg.tensor([-3.7])) == -3
    with pytest.raises(RuntimeError, match="2 values"):
        float(sg.tensor([1.0, 2.0]))


def test_truth_value_matches_pytorch():
    torch = pytest.importorskip("torch")
    for values in ([0.0], [1.0], 0.0, 7.0):
        assert bool(sg.tensor(values)) == bool(torch.tensor(values))
        assert float(sg.tensor(values)) == float(torch.tensor(values))
    with pytest.raises(RuntimeError):
        bool(torch.tensor([1.0, 2.0]))


# ---------------------------------------------------------------------------
# Case 6: backward() where nothing requires grad
# ---------------------------------------------------------------------------

def test_backward_of_a_loss_built_under_no_grad_raises():
    w = leaf([1.0, 2.0])
    with sg.no_grad():
        loss = (w * w).sum()
    with pytest.raises(RuntimeError, match="does not require grad.*no_grad"):
        loss.backward()
    assert w.grad is None


def test_backward_of_a_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (sg.tensor([1.0, 2.0]) * 3).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        leaf([1.0]).detach().sum().backward()


def test_backward_without_grad_matches_pytorch():
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        loss = (torch.ones(2, requires_grad=True) * 2).sum()
    with pytest.raises(RuntimeError):
        loss.backward()


def test_backward_of_a_leaf_that_requires_grad_still_works():
    x = leaf(3.0)
    x.backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------------------
# Case 7: every leaf owns a writable gradient
# ---------------------------------------------------------------------------

def _owns(*tensors):
    """Each tensor's grad is writable and shares no memory with another's."""
    for t in tensors:
        t.grad.data[...] = t.grad.data  # raises on a read-only view
    for i, a in enumerate(tensors):
        for b in tensors[i + 1:]:
            assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


def test_leaves_of_a_sum_do_not_share_their_gradient():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    ((a + b) * 2).sum().backward()
    assert a.grad is not b.grad
    _owns(a, b)
    a.grad.data[0] = 100.0
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])


def test_the_gradient_of_a_sum_is_writable():
    w = leaf([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    w.sum().backward()
    w.grad.data[0, 0] = 5.0  # was a read-only broadcast view
    np.testing.assert_array_equal(w.grad.numpy(), [[5.0, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize("build", [
    lambda a, b: sg.concatenate([a, b]).sum(),
    lambda a, b: (a.reshape(2, 1) + b).sum(),
    lambda a, b: (a - b).sum(),
    lambda a, b: sg.stack([a, b]).mean(),
])
def test_gradients_own_their_memory_whatever_the_graph(build):
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    build(a, b).backward()
    _owns(a, b)


def test_the_callers_gradient_is_not_aliased():
    x = leaf([1.0, 2.0])
    g = sg.tensor([1.0, 1.0], dtype="float64")
    x.reshape(2, 1).backward(g.reshape(2, 1))
    x.grad.data[0] = 9.0
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


def test_owned_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    a, b = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0],
                                                                     requires_grad=True)
    ((a + b) * 2).sum().backward()
    a.grad[0] = 100.0
    assert b.grad.tolist() == [2.0, 2.0]


# ---------------------------------------------------------------------------
# requires_grad_, retain_grad, register_hook, zero_
# ---------------------------------------------------------------------------

def test_requires_grad_in_place_returns_the_tensor():
    x = sg.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="only leaves"):
        (x * 2).requires_grad_(False)
    with pytest.raises(TypeError, match="floating-point"):
        sg.tensor([1, 2]).requires_grad_()


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * 3 * np.array([1.0, 2.0]))
    z = x * 3
    (z * z).sum().backward()
    assert z.grad is None  # not retained: non-leaves get none, as in PyTorch


def test_hooks_see_and_replace_gradients_like_pytorch():
    x = leaf([1.0, -2.0])
    y = x * 3
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = y.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: g + 1)
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], [6.0, -12.0])
    np.testing.assert_allclose(y.grad.numpy(), [60.0, -120.0])
    np.testing.assert_allclose(x.grad.numpy(), [181.0, -359.0])
    handle.remove()
    x.grad = None
    (x * 3 * x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [19.0, -35.0])

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    ty = tx * 3
    ty.retain_grad()
    ty.register_hook(lambda g: g * 10)
    tx.register_hook(lambda g: g + 1)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(ty.grad.numpy(), [60.0, -120.0])
    np.testing.assert_allclose(tx.grad.numpy(), [181.0, -359.0])


def test_a_hook_must_return_none_or_a_tensor_of_the_gradients_shape():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match="hook"):
        (x * 2).sum().backward()


def test_grad_zero_in_place():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    g = x.grad
    assert g.zero_() is g
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ---------------------------------------------------------------------------
# __setitem__ outside the graph, clear errors inside it
# ---------------------------------------------------------------------------

def test_setitem_on_plain_tensors():
    t = sg.zeros(2, 3)
    t[0, 1] = 5.0
    t[1] = sg.tensor([1.0, 2.0, 3.0])
    t[sg.tensor([0]), 2] = -1.0
    np.testing.assert_array_equal(t.numpy(), [[0, 5, -1], [1, 2, 3]])


def test_setitem_on_a_leaf_that_requires_grad_needs_no_grad():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
        w[0] = 3.0
    with sg.no_grad():
        w[0] = 3.0
    np.testing.assert_array_equal(w.numpy(), [3.0, 2.0])


def test_setitem_on_a_tensor_of_the_graph_is_a_clear_error():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="where"):
        y[0] = 0.0


def test_writing_into_a_tensor_the_graph_saved_is_caught_at_backward():
    c = sg.tensor([1.0, 2.0], dtype="float64")
    x = leaf([3.0, 4.0])
    loss = (x * c).sum()
    c[0] = 10.0
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()

    torch = pytest.importorskip("torch")
    tc = torch.tensor([1.0, 2.0])
    tx = torch.tensor([3.0, 4.0], requires_grad=True)
    tloss = (tx * tc).sum()
    tc[0] = 10.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()


# ---------------------------------------------------------------------------
# PyTorch's argument names: dim= wherever axis= is, transpose swaps two axes
# ---------------------------------------------------------------------------

X3 = np.arange(24.0).reshape(2, 3, 4) / 7


@pytest.mark.parametrize("call", [
    lambda x, **k: x.sum(**k), lambda x, **k: x.mean(**k), lambda x, **k: x.var(**k),
    lambda x, **k: x.max(**k), lambda x, **k: x.min(**k), lambda x, **k: x.logsumexp(**k),
])
def test_reductions_take_dim_and_keepdim(call):
    x = sg.tensor(X3, dtype="float64")
    np.testing.assert_array_equal(call(x, dim=1, keepdim=True).numpy(),
                                  call(x, axis=1, keepdims=True).numpy())
    np.testing.assert_array_equal(call(x, dim=(0, 2)).numpy(), call(x, axis=(0, 2)).numpy())
    with pytest.raises(TypeError, match="both axis= and dim="):
        call(x, axis=1, dim=1)


def test_every_axis_argument_takes_dim():
    from scratchgen import functional as F
    x = sg.tensor(X3, dtype="float64")
    same = np.testing.assert_array_equal
    same(F.softmax(x, dim=0).numpy(), F.softmax(x, axis=0).numpy())
    same(F.log_softmax(x, dim=1).numpy(), F.log_softmax(x, axis=1).numpy())
    same(sg.concatenate([x, x], dim=2).numpy(), sg.concatenate([x, x], axis=2).numpy())
    same(sg.stack([x, x], dim=1).numpy(), sg.stack([x, x], axis=1).numpy())
    same(sg.split(x, 2, dim=2)[1].numpy(), sg.split(x, 2, axis=2)[1].numpy())
    same(sg.expand_dims(x, dim=0).numpy(), sg.expand_dims(x, axis=0).numpy())
    same(sg.squeeze(x[:1], dim=0).numpy(), sg.squeeze(x[:1], axis=0).numpy())
    assert x.flatten(start_dim=1).shape == (2, 12) == x.flatten(start_axis=1).shape
    assert x.flatten(0, end_dim=1).shape == (6, 4)
    same(x.argmax(dim=2).numpy(), X3.argmax(axis=2))


def test_transpose_swaps_two_axes_like_pytorch_and_permute_reorders():
    x = sg.tensor(X3, dtype="float64", requires_grad=True)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert sg.transpose(x, -1, 1).shape == (2, 4, 3)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) == x.permute((2, 0, 1)).shape
    assert x.T.shape == (4, 3, 2)
    with pytest.raises(TypeError, match="permute"):
        x.transpose(2, 0, 1)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0, 1)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(X3, requires_grad=True)
    g = np.random.default_rng(0).normal(size=(4, 2, 3))
    (x.transpose(0, 2).permute(0, 2, 1) * sg.tensor(g, dtype="float64")).sum().backward()
    (tx.transpose(0, 2).permute(0, 2, 1) * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.transpose(1, 2).numpy(), tx.transpose(1, 2).detach().numpy())
