"""Property tests that walk the gradient-test table (tests/op_table.py).

For every registered op and many drawn inputs: backward agrees with central
differences (``gradcheck``), so does the derivative of backward
(``gradgradcheck``), the forward values agree with NumPy, and dtypes behave
as NumPy's do.  A meta-test fails when a public differentiable op is missing
from the table.
"""
import functools
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from op_table import BY_NAME, TABLE

import scratchgen as sg
from scratchgen import conv, losses, ops
from scratchgen import functional as F
from scratchgen.autograd import Tensor

NAMES = [spec.name for spec in TABLE]


def as_tensors(case, dtype="float64"):
    """Float arrays become tensors that require grad; integer and boolean
    arrays (labels, masks) stay constant."""
    return [sg.tensor(a, dtype=dtype, requires_grad=True) if a.dtype.kind == "f"
            else sg.tensor(a) for a in case.arrays]


def for_each_case(spec, check, max_examples=None):
    """Run ``check(case)`` on drawn cases of ``spec``, with the profile's
    example count capped by the spec's (and by ``max_examples``)."""
    limit = settings.default.max_examples
    for cap in (spec.max_examples, max_examples):
        limit = min(limit, cap) if cap else limit

    @settings(max_examples=limit)
    @given(spec.cases)
    def run(case):
        check(case)

    # one example database entry per op, not one shared by all of them
    run.hypothesis.inner_test._hypothesis_internal_add_digest = spec.name.encode()
    run()


# ---------------------------------------------------------------------------
# Gradients: first and second order, float64
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_and_gradgradcheck(name):
    spec = BY_NAME[name]

    def check(case):
        fn = functools.partial(spec.fn, **case.kwargs)
        inputs = as_tensors(case)
        assert sg.gradcheck(fn, inputs)
        assert sg.gradgradcheck(fn, inputs)

    for_each_case(spec, check)


@pytest.mark.parametrize("name", [s.name for s in TABLE if s.reference is not None])
def test_forward_matches_numpy(name):
    spec = BY_NAME[name]

    def check(case):
        got = spec.fn(*as_tensors(case), **case.kwargs)
        want = spec.reference(*case.arrays, **case.kwargs)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)

    for_each_case(spec, check)


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    """A float32 forward and backward: float32 output, float32 gradients."""
    spec = BY_NAME[name]

    def check(case):
        inputs = as_tensors(case, dtype="float32")
        out = spec.fn(*inputs, **case.kwargs)
        assert out.dtype == np.float32
        (out * sg.ones_like(out)).sum().backward()
        for x in inputs:
            if x.requires_grad and x.grad is not None:
                assert x.grad.dtype == np.float32, f"grad of a float32 input is {x.grad.dtype}"
                assert np.isfinite(x.grad.numpy()).all()

    for_each_case(spec, check, max_examples=5)


@pytest.mark.parametrize("op", [
    lambda w, x: w * x, lambda w, x: x * w, lambda w, x: w + x, lambda w, x: x - w,
    lambda w, x: x / (w * w + 1), lambda w, x: x @ w, lambda w, x: sg.maximum(w, x),
    lambda w, x: sg.where(x > 0, w, x), lambda w, x: sg.concatenate([w, x]),
])
def test_mixed_float32_float64_promotes_like_numpy(op):
    w = sg.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)  # float32 "parameter"
    x = sg.tensor(np.array([1.0, 2.0, -3.0]), dtype="float64", requires_grad=True)
    y = op(w, x)
    assert y.dtype == np.result_type(np.float32, np.float64) == np.float64
    y.sum().backward()
    assert w.grad.dtype == np.float32  # a gradient has its tensor's dtype, as in PyTorch
    assert x.grad.dtype == np.float64


def test_python_scalars_do_not_promote_float32():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 0.5, 2.0 - x, x ** 2, 1.0 / x, x + 1):
        assert y.dtype == np.float32


def test_cast_gradient_comes_back_in_the_input_dtype():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype("float64")
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


# ---------------------------------------------------------------------------
# The meta-test: every public differentiable op is in the table
# ---------------------------------------------------------------------------

# Public names that are not differentiable operations, each with its reason.
NOT_DIFFERENTIABLE = {
    # make new tensors from data, shapes or random draws: nothing flows into them
    "sg.tensor", "sg.zeros", "sg.ones", "sg.zeros_like", "sg.ones_like", "sg.rand",
    "sg.randn", "sg.randint", "sg.arange", "sg.manual_seed",
    # the autograd machinery itself (tested in test_autograd.py)
    "sg.no_grad", "sg.enable_grad", "sg.is_grad_enabled", "sg.grad", "sg.detect_anomaly",
    "sg.gradcheck", "sg.gradgradcheck",
    # files and checkpoints
    "sg.save", "sg.load",
    # a constant boolean array (the causal mask), not a function of a tensor
    "F.causal_mask",
    # Python object protocol, not arithmetic
    "Tensor.__module__", "Tensor.__qualname__", "Tensor.__doc__", "Tensor.__dict__",
    "Tensor.__weakref__", "Tensor.__init__", "Tensor.__repr__", "Tensor.__len__",
    "Tensor.__hash__", "Tensor.__firstlineno__", "Tensor.__static_attributes__",
    # set by copyreg when a Tensor is first copied or pickled
    "Tensor.__slotnames__",
    # tells NumPy to defer to Tensor's reflected operators (checked by rmul etc.)
    "Tensor.__array_ufunc__",
    # comparisons and arg-extrema give integer/boolean tensors: piecewise constant
    "Tensor.__lt__", "Tensor.__le__", "Tensor.__gt__", "Tensor.__ge__", "Tensor.__eq__",
    "Tensor.__ne__", "Tensor.argmax", "Tensor.argmin",
    # attributes and conversions out of the graph
    "Tensor.shape", "Tensor.ndim", "Tensor.dtype", "Tensor.size", "Tensor.is_leaf",
    "Tensor.requires_grad", "Tensor.numpy", "Tensor.item", "Tensor.backward", "Tensor.__format__",
    "Tensor.__bool__", "Tensor.__float__", "Tensor.__int__",
    # graph bookkeeping and in-place writes outside the graph (test_autograd.py)
    "Tensor.requires_grad_", "Tensor.retain_grad", "Tensor.register_hook",
    "Tensor.__setitem__", "Tensor.zero_",
    # detach cuts the graph: zero gradient by definition (test_autograd.py)
    "Tensor.detach",
    # functions of backend arrays, not tensors: the reference forms of the GPU
    # fast paths (test_gpu_fast_paths.py); the ops built on them are in the table
    "conv.im2col_loop", "conv.col2im_loop", "F.gelu_and_slope", "F.gelu_tanh_and_slope",
}


def _defined_in(obj, module) -> bool:
    """Defined in ``module`` or, for a package (``ops``), in one of its files."""
    home = getattr(obj, "__module__", None) or ""
    return home == module.__name__ or home.startswith(module.__name__ + ".")


def public_api() -> dict:
    """``{qualified name: object}`` for every public function of the op
    modules and of ``scratchgen``, ``F.__all__`` and Tensor's attributes."""
    api = {}
    for prefix, module in (("ops", ops), ("conv", conv), ("losses", losses), ("F", F)):
        for name, obj in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(obj) and _defined_in(obj, module):
                api[f"{prefix}.{name}"] = obj
    api["ops.astype"] = ops.astype  # defined in autograd, which casts gradients itself
    for name in F.__all__:
        api[f"F.{name}"] = getattr(F, name)
    for name, obj in vars(sg).items():
        if not name.startswith("_") and inspect.isfunction(obj):
            api[f"sg.{name}"] = obj
    for name, obj in vars(Tensor).items():
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            api[f"Tensor.{name}"] = obj
    return api


def test_every_table_name_is_public():
    api = public_api()
    unknown = sorted({n for spec in TABLE for n in spec.covers} - set(api))
    assert not unknown, f"op_table covers names that are not public: {unknown}"


def test_every_public_differentiable_op_is_in_the_table():
    api = public_api()
    covered = {n for spec in TABLE for n in spec.covers}
    # an alias (sg.sum is ops.sum is Tensor.sum) is covered by any of its names
    covered_objects = [api[n] for n in covered if n in api]
    missing = sorted(n for n, obj in api.items()
                     if n not in covered and n not in NOT_DIFFERENTIABLE
                     and not any(obj is c for c in covered_objects))
    assert not missing, (
        f"public ops missing from the gradient-test table (tests/op_table.py): {missing}. "
        "Register each with an OpSpec, or, if it is not differentiable, add it to "
        "NOT_DIFFERENTIABLE with the reason.")


def test_every_op_has_a_gradient_entry_per_test_id():
    assert len(set(NAMES)) == len(NAMES)
    assert all(spec.covers for spec in TABLE), "every entry names what it covers"
