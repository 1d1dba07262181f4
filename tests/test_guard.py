"""The numpy-guard backend computes like NumPy and refuses what CuPy refuses."""
import copy
import pickle

import numpy as np
import pytest

from scratchgen.guard import HOST_CONVERSION, GuardArray, count_host_syncs, xp


def host(a):
    return a.unwrap()


@pytest.fixture
def pair():
    x = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    y = np.linspace(-1.0, 2.0, 6, dtype=np.float32).reshape(2, 3)
    return x, y


# --- it computes like NumPy ---------------------------------------------------
@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** 2, lambda a, b: 2.0 ** a, lambda a, b: a // 2, lambda a, b: a % 3,
    lambda a, b: a @ b.T, lambda a, b: -a, lambda a, b: abs(b), lambda a, b: a < b,
    lambda a, b: a == b, lambda a, b: 1.0 - a, lambda a, b: 3 / a,
])
def test_arithmetic_matches_numpy(pair, op):
    x, y = pair
    got = op(xp.asarray(x), xp.asarray(y))
    assert isinstance(got, GuardArray)
    np.testing.assert_array_equal(host(got), op(x, y))


def test_methods_and_attributes_match_numpy(pair):
    x, _ = pair
    g = xp.asarray(x)
    assert (g.shape, g.ndim, g.dtype, g.size, g.nbytes, g.strides, g.itemsize) == \
        (x.shape, x.ndim, x.dtype, x.size, x.nbytes, x.strides, x.itemsize)
    np.testing.assert_array_equal(host(g.T), x.T)
    np.testing.assert_allclose(host(g.sum(axis=0)), x.sum(axis=0))
    np.testing.assert_allclose(host(g.var(axis=1, keepdims=True)), x.var(axis=1, keepdims=True))
    np.testing.assert_array_equal(host(g.reshape(3, 2).swapaxes(0, 1)), x.reshape(3, 2).swapaxes(0, 1))
    np.testing.assert_array_equal(host(g.clip(2, 4)), x.clip(2, 4))
    assert g.astype(np.float64).dtype == np.float64
    assert g.tolist() == x.tolist() and g.max().item() == 6.0 and len(g) == 2


def test_reductions_give_0d_arrays_like_cupy(pair):
    g = xp.asarray(pair[0])
    s = g.sum()
    assert isinstance(s, GuardArray) and s.ndim == 0
    assert float(s) == 21.0 and int(g.argmax()) == 5 and bool(s > 1)
    assert isinstance(xp.prod((2, 3)), GuardArray)
    assert isinstance(g[0, 0], GuardArray)
    with pytest.raises(TypeError):
        range(g.argmax())  # CuPy arrays have no __index__
    with pytest.raises(TypeError):
        float(g)  # more than one element


def test_numpy_and_python_scalars_are_allowed(pair):
    x, _ = pair
    g = xp.asarray(x)
    for s in (1.0, 2, np.float32(2), np.float64(0.5), np.int64(3), np.array(2.0)):
        np.testing.assert_array_equal(host(g + s), x + s)
        np.testing.assert_array_equal(host(s * g), s * x)
        assert isinstance(s - g, GuardArray)


def test_iteration_and_repr(pair):
    g = xp.asarray(pair[0])
    rows = list(g)
    assert len(rows) == 2 and all(isinstance(r, GuardArray) for r in rows)
    assert repr(g).startswith("GuardArray(") and f"{g.sum():.1f}" == "21.0"
    np.testing.assert_array_equal(host(copy.deepcopy(g)), pair[0])
    np.testing.assert_array_equal(host(pickle.loads(pickle.dumps(g))), pair[0])


# --- the refusals -------------------------------------------------------------
def test_implicit_host_conversion_is_refused(pair):
    g = xp.asarray(pair[0])
    for convert in (np.asarray, np.array, lambda a: np.array([a, a]), np.exp,
                    lambda a: np.concatenate([a, a]), lambda a: np.sum(a)):
        with pytest.raises(TypeError, match="to_numpy"):
            convert(g)
    with pytest.raises(TypeError) as info:
        np.asarray(g)
    assert str(info.value) == HOST_CONVERSION


def test_mixing_with_host_arrays_is_refused(pair):
    g = xp.asarray(pair[0][0])
    for mix in (lambda: g + np.ones(3), lambda: np.ones(3) + g, lambda: g * np.ones(3),
                lambda: np.ones(3) < g, lambda: xp.concatenate([g, np.ones(3)]),
                lambda: xp.maximum(g, np.ones(3)), lambda: g.clip(np.zeros(3), 1)):
        with pytest.raises(TypeError, match="host NumPy array"):
            mix()
    with pytest.raises(TypeError, match="host NumPy array"):
        g += np.ones(3)
    with pytest.raises(TypeError, match="host NumPy array"):
        g[:] = np.ones(3)
    with pytest.raises(TypeError, match="list"):
        g + [1.0, 2.0, 3.0]


def test_explicit_host_to_backend_copies_are_allowed():
    for make in (xp.asarray, xp.array, xp.from_host):
        g = make(np.arange(3.0))
        assert isinstance(g, GuardArray)
        np.testing.assert_array_equal(host(g), [0.0, 1.0, 2.0])
    assert xp.asarray([1, 2], dtype=xp.float32).dtype == np.float32
    assert xp.from_host([1.0], dtype="float64").dtype == np.float64
    g = xp.asarray([1.0])
    assert xp.asarray(g) is g


def test_unknown_operands_defer_to_the_other_type():
    class Other:
        def __radd__(self, other):
            return "Other.__radd__"

    assert xp.ones(2) + Other() == "Other.__radd__"


# --- indexing, in place ---------------------------------------------------------
def test_setitem_with_backend_indices():
    m = xp.zeros((3, 3))
    m[xp.asarray([0, 2]), 1] = xp.asarray([5.0, 6.0])
    m[m > 5.5] = -1.0
    m[1] = 2
    expected = np.zeros((3, 3))
    expected[[0, 2], 1] = [5.0, 6.0]
    expected[expected > 5.5] = -1.0
    expected[1] = 2
    np.testing.assert_array_equal(host(m), expected)
    np.testing.assert_array_equal(host(m[xp.asarray([2, 0])]), expected[[2, 0]])
    np.testing.assert_array_equal(host(m[np.array([2, 0]), :2]), expected[[2, 0], :2])


def test_in_place_operators_keep_the_object():
    g = xp.ones(3, dtype=xp.float32)
    same = g
    g += 1.0
    g *= xp.asarray([1.0, 2.0, 3.0], dtype=xp.float32)
    g -= np.float32(1)
    g /= 2
    g **= 2
    assert g is same and g.dtype == np.float32
    np.testing.assert_allclose(host(g), ((np.ones(3) + 1) * [1, 2, 3] - 1) ** 2 / 4)
    assert xp.add(g, 1.0, out=g) is g


# --- the module proxy -----------------------------------------------------------
def test_ufunc_methods_work_through_the_proxy():
    b = xp.zeros(4)
    assert xp.add.at(b, xp.asarray([0, 0, 3]), 1.0) is None
    np.testing.assert_array_equal(host(b), [2.0, 0.0, 0.0, 1.0])
    assert float(xp.add.reduce(xp.arange(5))) == 10
    np.testing.assert_array_equal(host(xp.multiply.outer(xp.arange(2), xp.arange(3))),
                                  np.multiply.outer(np.arange(2), np.arange(3)))


def test_nested_namespaces_and_constants():
    a = xp.arange(6.0)
    w = xp.lib.stride_tricks.as_strided(a, shape=(3, 2), strides=(16, 8))
    assert isinstance(w, GuardArray)
    np.testing.assert_array_equal(host(w), [[0, 1], [2, 3], [4, 5]])
    v = xp.lib.stride_tricks.sliding_window_view(a, 3)
    assert isinstance(v, GuardArray) and v.shape == (4, 3)
    u, s, vt = xp.linalg.svd(xp.eye(3))
    assert all(isinstance(t, GuardArray) for t in (u, s, vt))
    assert float(xp.linalg.norm(xp.asarray([3.0, 4.0]))) == 5.0
    assert xp.float32 is np.float32 and xp.newaxis is None and xp.pi == np.pi
    assert xp.ndarray is GuardArray and xp.finfo(xp.float32).eps > 0
    assert xp.issubdtype(a.dtype, xp.floating) and xp.result_type(a, xp.float32) == np.float64
    with xp.errstate(divide="ignore"):
        assert not bool(xp.isfinite(xp.log(xp.zeros(1))).any())


def test_random_generator_is_reproducible_and_returns_guard_arrays():
    r1, r2 = xp.random.default_rng(7), xp.random.default_rng(7)
    draws = [lambda r: r.standard_normal((2, 3), dtype=xp.float32),
             lambda r: r.normal(1.0, 2.0, size=4), lambda r: r.random(3),
             lambda r: r.uniform(-1, 1, size=2), lambda r: r.integers(0, 10, size=5),
             lambda r: r.permutation(6), lambda r: r.choice(5, size=3, replace=False)]
    for draw in draws:
        a, b = draw(r1), draw(r2)
        assert isinstance(a, GuardArray)
        np.testing.assert_array_equal(host(a), host(b))
    state = r1.bit_generator.state
    first = r1.random(3)
    r1.bit_generator.state = state
    np.testing.assert_array_equal(host(r1.random(3)), host(first))
    p = xp.arange(10)
    r1.shuffle(p)  # in place on the GuardArray
    assert sorted(p.tolist()) == list(range(10)) and p.tolist() != list(range(10))


# --- it counts copies to the host ---------------------------------------------
def test_host_syncs_are_counted_and_device_work_is_not(pair):
    """Each copy to the host costs a GPU synchronisation; arithmetic, views
    and device-side reductions do not."""
    a = xp.asarray(pair[0])
    with count_host_syncs() as syncs:
        b = (a * 2 + 1).sum(axis=0)
        c = b.reshape(1, 3).T
        assert syncs.count == 0
        float(b[0]); int(c[0, 0]); bool(b[0] > 0); b[1].item(); c.tolist(); c.get()
        host(c)  # the backend's own look at the memory: no copy
    assert syncs.count == 6
    float(b[0])  # outside the block: not counted any more
    assert syncs.count == 6
