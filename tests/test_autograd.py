"""The autograd engine: algebraic properties of gradients, graph bookkeeping
(accumulation, retain_graph, no_grad, detach), deep graphs, memory, and
detect_anomaly."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg

FLOATS = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                    elements=FLOATS)


def leaf(a):
    return sg.tensor(a, dtype="float64", requires_grad=True)


def close(t, expected):
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# Algebraic properties
# ---------------------------------------------------------------------------

@given(arrays)
def test_grad_of_sum_is_ones(a):
    x = leaf(a)
    x.sum().backward()
    close(x.grad, np.ones_like(a))


@given(arrays, FLOATS, FLOATS)
def test_grad_is_linear(a, alpha, beta):
    def f(x):
        return (x * x * x).sum()

    def g(x):
        return x.tanh().sum()

    x = leaf(a)
    (alpha * f(x) + beta * g(x)).backward()
    combined = x.grad.numpy()
    gf, = sg.grad(f(x), x)
    gg, = sg.grad(g(x), x)
    np.testing.assert_allclose(combined, alpha * gf.numpy() + beta * gg.numpy(),
                               rtol=1e-9, atol=1e-9)


@given(arrays)
def test_x_minus_x_has_zero_grad(a):
    x = leaf(a)
    (x - x).sum().backward()
    close(x.grad, np.zeros_like(a))


@given(arrays)
def test_a_leaf_used_twice_gets_both_gradients(a):
    x = leaf(a)
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1: three uses add up
    close(x.grad, 2 * a + 1)


@given(arrays)
def test_gradients_accumulate_across_backward_calls(a):
    x = leaf(a)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    close(x.grad, 2 * (2 * a))


def test_grad_can_be_reset():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    close(x.grad, [5.0, 5.0])


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4), elements=FLOATS))
def test_second_derivative_of_cube_is_6x(a):
    x = leaf(a)
    dy, = sg.grad((x ** 3).sum(), x, create_graph=True)
    close(dy, 3 * a ** 2)
    d2y, = sg.grad(dy.sum(), x)
    close(d2y, 6 * a)


def test_backward_with_create_graph_gives_differentiable_grad():
    x = leaf([0.5, -1.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    d2, = sg.grad(x.grad.sum(), x)
    close(d2, [3.0, -6.0])


def test_grad_leaves_dot_grad_alone():
    x = leaf([1.0, 2.0])
    g, = sg.grad((x * x).sum(), x)
    close(g, [2.0, 4.0])
    assert x.grad is None


def test_grad_does_not_walk_into_the_producer_of_its_input():
    w = leaf([2.0])
    x = w * 3  # x is made from w
    g, = sg.grad((x * x).sum(), x)
    close(g, [12.0])
    assert w.grad is None


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.booleans(),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_matmul_gradients_are_the_same_whichever_way_they_are_computed(
        n, k, m, a_columnwise, b_columnwise, seed):
    """``ops._matmul_grads`` may compute gY @ B^T as (B @ gY^T)^T (and A^T @ gY
    likewise), by shape and memory order: a layout choice, never a change of
    numbers.  Column-wise operands are transposed views of leaves; an inner
    dimension 1 takes the outer-product path."""
    rng = np.random.default_rng(seed)
    a, b, gy = rng.standard_normal((n, k)), rng.standard_normal((k, m)), rng.standard_normal((n, m))
    leaf_a = leaf(a.T.copy() if a_columnwise else a)
    leaf_b = leaf(b.T.copy() if b_columnwise else b)
    ta = leaf_a.T if a_columnwise else leaf_a
    tb = leaf_b.T if b_columnwise else leaf_b
    y = ta @ tb
    close(y, a @ b)
    y.backward(sg.tensor(gy, dtype="float64"))
    close(leaf_a.grad, (gy @ b.T).T if a_columnwise else gy @ b.T)
    close(leaf_b.grad, (a.T @ gy).T if b_columnwise else a.T @ gy)


def test_a_column_wise_activation_gets_a_column_wise_gradient():
    """A batch-last activation flattened for a Linear layer is stored column
    by column; its gradient comes out the same way, so the elementwise ops
    that meet it downstream run over one memory order."""
    features = leaf(np.ones((30, 8))).T  # (8, 30), stored column by column
    w = leaf(np.ones((5, 30)))
    g, = sg.grad((sg.functional.linear(features, w) ** 2).sum(), features)
    assert g.shape == (8, 30)
    assert g.data.flags.f_contiguous and not g.data.flags.c_contiguous


# ---------------------------------------------------------------------------
# Graph bookkeeping
# ---------------------------------------------------------------------------

def test_a_chain_of_20000_ops_backpropagates_without_recursion_error():
    x = leaf([1.0])
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0  # two ops per step: 40,000 functions deep
    y.sum().backward()
    close(x.grad, [1.0])


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with sg.no_grad():
        y = x * 2
        assert not sg.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    assert sg.is_grad_enabled()


def test_enable_grad_inside_no_grad_records():
    x = leaf([1.0, 2.0])
    with sg.no_grad():
        with sg.enable_grad():
            y = x * 2
        z = x * 2
    assert y.creator is not None and y.requires_grad
    assert z.creator is None
    y.sum().backward()
    close(x.grad, [2.0, 2.0])


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError), sg.no_grad():
        raise ZeroDivisionError
    assert sg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, -2.0])
    d = x.detach()
    assert d.creator is None and not d.requires_grad
    (d * x).sum().backward()  # d is a constant: d/dx (c x) = c
    close(x.grad, [1.0, -2.0])


def test_backward_twice_through_a_freed_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_non_leaf_tensors_get_no_grad():
    x = leaf([1.0, 2.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and not h.is_leaf
    close(x.grad, [8.0, 16.0])


def test_constants_get_no_grad():
    x = leaf([1.0, 2.0])
    c = sg.tensor([3.0, 4.0], dtype="float64")
    (x * c).sum().backward()
    assert c.grad is None


# ---------------------------------------------------------------------------
# Memory: a training loop does not grow, and each step's graph is freed
# ---------------------------------------------------------------------------

def _training_step(w, x):
    """One MLP-like step; returns a weak reference to an intermediate tensor."""
    h = (x @ w).tanh()
    loss = (h * h).sum()
    loss.backward()
    with sg.no_grad():
        w.data -= 0.01 * w.grad.data
    w.grad = None
    return weakref.ref(h)


def test_training_steps_do_not_grow_memory():
    sg.manual_seed(0)
    w = sg.randn(16, 16, dtype="float64", requires_grad=True)
    x = sg.randn(32, 16, dtype="float64")
    gc.disable()  # the graph must be freed by reference counting alone: no cycles
    tracemalloc.start()
    try:
        current = {}
        for step in range(1, 51):
            ref = _training_step(w, x)
            assert ref() is None, f"step {step}: an intermediate tensor outlived its step"
            if step in (5, 50):
                gc.collect()  # not for cycles (there are none): it empties CPython's free lists
                current[step] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    # one step allocates 32x16 doubles several times (4 KiB each); none of it stays
    assert current[50] <= current[5] + 4096, (current[5], current[50])


# ---------------------------------------------------------------------------
# detect_anomaly
# ---------------------------------------------------------------------------

def test_detect_anomaly_names_the_forward_that_made_nan():
    x = sg.tensor([1.0, -1.0])
    with np.errstate(invalid="ignore"), sg.detect_anomaly(), \
            pytest.raises(FloatingPointError, match="forward of Log"):
        sg.log(x)


def test_detect_anomaly_names_the_backward_that_made_inf():
    x = leaf([0.0, 1.0])
    y = x.sqrt().sum()  # sqrt(0) = 0 is fine; its slope 1/(2 sqrt 0) is not
    with np.errstate(divide="ignore"), sg.detect_anomaly(), \
            pytest.raises(FloatingPointError, match="backward of Sqrt"):
        y.backward()


def test_without_detect_anomaly_nan_passes_silently():
    with np.errstate(invalid="ignore", divide="ignore"):
        y = sg.log(sg.tensor([-1.0]))
        x = leaf([0.0])
        x.sqrt().sum().backward()
    assert np.isnan(y.numpy()).all()
    assert np.isinf(x.grad.numpy()).all()


def test_detect_anomaly_is_restored_on_exit():
    with pytest.raises(FloatingPointError), np.errstate(invalid="ignore"), \
            sg.detect_anomaly():
        sg.log(sg.tensor([-1.0]))
    with np.errstate(invalid="ignore"):
        assert np.isnan(sg.log(sg.tensor([-1.0])).numpy()).all()
