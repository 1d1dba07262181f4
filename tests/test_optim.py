"""Optimizers and learning-rate schedulers.

Three kinds of evidence that the update rules are PyTorch's:

* hand-computed updates, small enough to check with pencil and paper;
* property tests: random hyperparameters, parameters and gradients, compared
  with a plain-NumPy transcription of the equations in each docstring
  (``ref_*`` below, written from the documentation, not from the library);
* with PyTorch installed, 20-step trajectories on a Rosenbrock-like loss,
  and scheduler learning-rate sequences, against ``torch.optim``.

Then the machinery: parameter groups, skipped parameters, gradients left
untouched, checkpoints (a run split by ``state_dict``/``load_state_dict``
equals an uninterrupted one bit for bit) and the errors.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen import optim
from scratchgen.optim.lr_scheduler import ExponentialLR, StepLR

try:
    from scratchgen.serialization import load as sg_load
    from scratchgen.serialization import save as sg_save
except ImportError:  # written in parallel; the file round trip is skipped without it
    sg_save = sg_load = None


# --------------------------------------------------------------------------
# Reference implementations: the documented equations, on NumPy float64.
# --------------------------------------------------------------------------
def ref_sgd(p, grads, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    b = None
    for g in grads:
        g = g + weight_decay * p
        if momentum != 0:
            b = g if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
             amsgrad=False, decoupled=False):
    b1, b2 = betas
    m = v = v_max = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_adamw(p, grads, weight_decay=1e-2, **kw):
    return ref_adam(p, grads, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                centered=False):
    v = g_ave = b = np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g ** 2
        g_ave = alpha * g_ave + (1 - alpha) * g
        avg = np.sqrt(v - g_ave ** 2 if centered else v) + eps
        if momentum > 0:
            b = momentum * b + g / avg
            p = p - lr * b
        else:
            p = p - lr * g / avg
    return p


REFERENCES = {optim.SGD: ref_sgd, optim.Adam: ref_adam, optim.AdamW: ref_adamw,
              optim.RMSprop: ref_rmsprop}


def run(cls, p0, grads, dtype="float64", **kw):
    """Apply ``cls`` to a leaf made from host array ``p0``, feeding ``grads``."""
    p = leaf(p0, dtype)
    opt = cls([p], **kw)
    for g in grads:
        p.grad = sg.tensor(g, dtype=dtype)
        opt.step()
    return p.numpy(), opt


def leaf(values, dtype="float64"):
    # np.array copies: under numpy-guard, sg.tensor(host_array) shares its memory
    return sg.tensor(np.array(values, dtype=float), requires_grad=True, dtype=dtype)


# --------------------------------------------------------------------------
# Hand-computed updates
# --------------------------------------------------------------------------
P0 = np.array([1.0, -2.0])
G = np.array([0.5, 1.0])


@pytest.mark.parametrize("kw, steps, expected", [
    (dict(lr=0.1), 1, P0 - 0.1 * G),                                   # [0.95, -2.1]
    (dict(lr=0.1, momentum=0.9), 2, P0 - 0.1 * G - 0.1 * 1.9 * G),     # b = g, then 1.9 g
    (dict(lr=0.1, momentum=0.9, dampening=0.5), 2, P0 - 0.1 * G - 0.1 * 1.4 * G),
    (dict(lr=0.1, momentum=0.9, nesterov=True), 2,                     # g + 0.9 b
     P0 - 0.1 * 1.9 * G - 0.1 * 2.71 * G),
    (dict(lr=0.1, weight_decay=0.5), 1, P0 - 0.1 * (G + 0.5 * P0)),
])
def test_sgd_by_hand(kw, steps, expected):
    p, _ = run(optim.SGD, P0, [G] * steps, **kw)
    np.testing.assert_allclose(p, expected, rtol=1e-15)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_adam_by_hand_constant_gradient_moves_lr_per_step(steps):
    # constant g: m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so after bias
    # correction m_hat / sqrt(v_hat) = g / |g|: each step moves lr * sign(g).
    g = np.array([0.5, -3.0])
    p, _ = run(optim.Adam, P0, [g] * steps, lr=0.1, eps=0.0)
    np.testing.assert_allclose(p, P0 - steps * 0.1 * np.sign(g), rtol=1e-13)


def test_adamw_by_hand_decays_then_steps():
    g = np.array([0.5, -3.0])
    p, _ = run(optim.AdamW, P0, [g], lr=0.1, eps=0.0, weight_decay=0.5)
    np.testing.assert_allclose(p, P0 * (1 - 0.1 * 0.5) - 0.1 * np.sign(g), rtol=1e-14)


@pytest.mark.parametrize("centered, scale", [(False, 1 / math.sqrt(0.01)),
                                             (True, 1 / math.sqrt(0.99 * 0.01))])
def test_rmsprop_by_hand_first_step(centered, scale):
    # v_1 = 0.01 g^2 (and g_ave_1 = 0.01 g, so v - g_ave^2 = 0.99 * 0.01 g^2)
    g = np.array([0.5, -3.0])
    p, _ = run(optim.RMSprop, P0, [g], lr=0.01, eps=0.0, centered=centered)
    np.testing.assert_allclose(p, P0 - 0.01 * scale * np.sign(g), rtol=1e-13)


def test_amsgrad_by_hand_keeps_the_largest_second_moment():
    # g = 1 then 0: v_2 = b2 (1 - b2) < v_1 = 1 - b2, so amsgrad divides by v_1
    b1, b2, lr = 0.5, 0.9, 0.1
    p, _ = run(optim.Adam, np.array([0.0]), [np.ones(1), np.zeros(1)], lr=lr,
               betas=(b1, b2), eps=0.0, amsgrad=True)
    m_hat = b1 * (1 - b1) / (1 - b1 ** 2)
    v_hat = (1 - b2) / (1 - b2 ** 2)
    np.testing.assert_allclose(p, [-lr - lr * m_hat / math.sqrt(v_hat)], rtol=1e-14)


# --------------------------------------------------------------------------
# Property tests against the NumPy references
# --------------------------------------------------------------------------
shapes = st.sampled_from([(), (3,), (2, 3)])
unit = st.floats(0.0, 0.99)


@st.composite
def problems(draw):
    """A start point and 1 to 4 gradients of one random shape."""
    shape = draw(shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p0 = rng.standard_normal(shape)
    return p0, [rng.standard_normal(shape) for _ in range(draw(st.integers(1, 4)))]


@st.composite
def sgd_options(draw):
    kw = dict(lr=draw(st.floats(0.0, 1.0)), weight_decay=draw(st.floats(0.0, 0.5)))
    if draw(st.booleans()):
        kw["momentum"] = draw(st.floats(0.01, 0.99))
        kw["nesterov"] = draw(st.booleans())
        kw["dampening"] = 0.0 if kw["nesterov"] else draw(st.floats(0.0, 0.9))
    return kw


@st.composite
def adam_options(draw):
    return dict(lr=draw(st.floats(0.0, 1.0)), betas=(draw(unit), draw(st.floats(0.0, 0.999))),
                eps=draw(st.sampled_from([1e-8, 1e-3])), weight_decay=draw(st.floats(0.0, 0.5)),
                amsgrad=draw(st.booleans()))


@st.composite
def rmsprop_options(draw):
    return dict(lr=draw(st.floats(0.0, 1.0)), alpha=draw(st.floats(0.5, 0.999)),
                eps=draw(st.sampled_from([1e-8, 1e-3])), weight_decay=draw(st.floats(0.0, 0.5)),
                momentum=draw(st.sampled_from([0.0, draw(unit)])), centered=draw(st.booleans()))


def check_against_reference(cls, problem, kw):
    p0, grads = problem
    p, _ = run(cls, p0, grads, **kw)
    np.testing.assert_allclose(p, REFERENCES[cls](p0, grads, **kw), rtol=1e-9, atol=1e-12)


@given(problems(), sgd_options())
def test_sgd_matches_reference(problem, kw):
    check_against_reference(optim.SGD, problem, kw)


@given(problems(), adam_options())
def test_adam_matches_reference(problem, kw):
    check_against_reference(optim.Adam, problem, kw)


@given(problems(), adam_options())
def test_adamw_matches_reference(problem, kw):
    check_against_reference(optim.AdamW, problem, kw)


@given(problems(), rmsprop_options())
def test_rmsprop_matches_reference(problem, kw):
    check_against_reference(optim.RMSprop, problem, kw)


# Every optimizer with every option switched on, for the machinery tests below.
CONFIGS = [
    (optim.SGD, dict(lr=0.01)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, dampening=0.2)),
    (optim.SGD, dict(lr=0.01, momentum=0.5, nesterov=True, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1, betas=(0.8, 0.99))),
    (optim.AdamW, dict(lr=0.05)),
    (optim.AdamW, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1, alpha=0.9)),
]
config_ids = [f"{cls.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items())
              for cls, kw in CONFIGS]
configs = pytest.mark.parametrize("cls, kw", CONFIGS, ids=config_ids)


@configs
def test_float32_parameters_keep_float32_state(cls, kw):
    p = leaf([[1.0, -2.0], [0.5, 3.0]], dtype="float32")
    opt = cls([p], **kw)
    for _ in range(2):
        p.grad = sg.tensor(np.array([[0.1, 0.2], [-0.3, 0.4]]), dtype="float64")
        opt.step()
    assert p.dtype == np.float32
    arrays = [v for v in opt.state[p].values() if not isinstance(v, (int, float))]
    assert all(a.dtype == np.float32 for a in arrays)
    # float32 follows the float64 reference to float32 accuracy
    ref = REFERENCES[cls](np.array([[1.0, -2.0], [0.5, 3.0]]),
                          [np.array([[0.1, 0.2], [-0.3, 0.4]])] * 2, **kw)
    np.testing.assert_allclose(p.numpy(), ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# The machinery
# --------------------------------------------------------------------------
@configs
def test_zero_dim_parameters_keep_their_state_in_place(cls, kw):
    # NumPy turns 0-d array arithmetic into scalars, which cannot be updated in place
    grads = [np.array(0.5), np.array(-1.0), np.array(2.0)]
    p, opt = run(cls, np.array(1.5), grads, **kw)
    np.testing.assert_allclose(p, REFERENCES[cls](np.array(1.5), grads, **kw), rtol=1e-12)
    assert all(v.shape == () for v in opt.state[opt.param_groups[0]["params"][0]].values()
               if not isinstance(v, (int, float)))


@configs
def test_parameters_without_grad_are_skipped(cls, kw):
    a, b = leaf([1.0, 2.0]), leaf([3.0])
    opt = cls([a, b], **kw)
    a.grad = sg.tensor([0.5, -0.5], dtype="float64")
    opt.step()
    assert b.numpy().tolist() == [3.0]
    assert b not in opt.state and a in opt.state
    assert not np.array_equal(a.numpy(), [1.0, 2.0])


@configs
def test_gradients_are_never_modified(cls, kw):
    # one gradient array shared by two parameters, as a tied weight would have
    g = sg.tensor([0.5, -1.0], dtype="float64")
    before = g.numpy().copy()
    a, b = leaf([1.0, 2.0]), leaf([-1.0, 0.5])
    opt = cls([a, b], **kw)
    for _ in range(3):
        a.grad = b.grad = g
        opt.step()
        np.testing.assert_array_equal(g.numpy(), before)


def test_zero_grad():
    a, b = leaf([1.0]), leaf([2.0])
    opt = optim.SGD([a, b], lr=0.1)
    g = sg.tensor([3.0], dtype="float64")
    a.grad = g
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = g
    opt.zero_grad(set_to_none=False)
    assert a.grad.numpy().tolist() == [0.0] and b.grad is None
    assert g.numpy().tolist() == [3.0]  # a new zero array; the old one is untouched


def test_param_groups_use_their_own_options_with_defaults_for_the_rest():
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}],
                    lr=0.1, weight_decay=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["weight_decay"] == 0.0
    for _ in range(2):
        a.grad = b.grad = sg.tensor([1.0], dtype="float64")
        opt.step()
    np.testing.assert_allclose(a.numpy(), [1.0 - 0.2])
    np.testing.assert_allclose(b.numpy(), [1.0 - 0.5 - 0.5 * 1.9])
    assert "momentum_buffer" not in opt.state.get(a, {}) and "momentum_buffer" in opt.state[b]


def test_sgd_lr_is_required_but_may_come_from_every_group():
    a = leaf([1.0])
    with pytest.raises(ValueError, match="required option 'lr'"):
        optim.SGD([a])
    with pytest.raises(ValueError, match="required option 'lr'"):
        optim.SGD([{"params": [a], "lr": 0.1}, {"params": [leaf([2.0])]}])
    opt = optim.SGD([{"params": [a], "lr": 0.1}])
    a.grad = sg.tensor([1.0], dtype="float64")
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9])


def test_add_param_group_and_generators():
    a, b = leaf([1.0]), leaf([2.0])
    opt = optim.Adam(p for p in [a])   # model.parameters() is a generator
    opt.add_param_group({"params": [b], "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.5]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)


def test_step_calls_the_closure_with_gradients_enabled():
    x = leaf([3.0])
    opt = optim.SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with sg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(x.numpy(), [3.0 - 0.25 * 6.0])


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-0.1), "invalid lr=-0.1"),
    (lambda p: optim.SGD(p, lr=float("nan")), "invalid lr=nan"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "invalid momentum"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "invalid weight_decay"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, lr=-1e-3), "invalid lr"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"invalid betas\[0\]=1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"invalid betas\[1\]=-0.1"),
    (lambda p: optim.AdamW(p, betas=(0.9, 1.5)), r"invalid betas\[1\]"),
    (lambda p: optim.Adam(p, eps=-1e-8), "invalid eps"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "invalid weight_decay"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "invalid alpha"),
    (lambda p: optim.RMSprop(p, momentum=-0.9), "invalid momentum"),
    (lambda p: optim.Adam([{"params": p, "lr": -1.0}]), "invalid lr=-1.0"),
])
def test_bad_hyperparameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make([leaf([1.0])])


def test_bad_parameter_lists_are_refused():
    a = leaf([1.0])
    with pytest.raises(TypeError, match="ordered iterable"):
        optim.Adam(a)
    with pytest.raises(TypeError, match="ordered iterable"):
        optim.Adam({a})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.Adam([np.ones(2)])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([a * 2])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([a, a])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([{"params": [a]}, {"params": [a]}])


def test_a_gradient_of_the_wrong_shape_is_refused():
    a = leaf([1.0, 2.0])
    opt = optim.Adam([a])
    a.grad = sg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a parameter of shape \(2,\)"):
        opt.step()


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------
def _grads(rng, params):
    return [rng.standard_normal(p.shape) for p in params]


def _two_groups(cls, kw, values):
    """Two groups (the second with half the lr), so indices cross groups."""
    params = [leaf(v) for v in values]
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": kw["lr"] / 2}], **kw)
    return params, opt


def _steps(opt, params, rng, n):
    for _ in range(n):
        for p, g in zip(params, _grads(rng, params)):
            p.grad = sg.tensor(g, dtype="float64")
        opt.step()


START = [[1.0, -2.0], [[0.5, 0.1], [0.2, -0.3]], [3.0]]


@configs
@pytest.mark.parametrize("through_file", [False, True], ids=["dict", "sg.save"])
def test_state_dict_round_trip_continues_exactly(cls, kw, through_file, tmp_path):
    if through_file and sg_save is None:
        pytest.skip("scratchgen.serialization is not available")
    # 10 uninterrupted steps
    params, opt = _two_groups(cls, kw, START)
    _steps(opt, params, np.random.default_rng(1), 10)
    expected = [p.numpy() for p in params]

    # 5 steps, checkpoint, a fresh optimizer on fresh parameters, 5 more steps
    rng = np.random.default_rng(1)
    params, opt = _two_groups(cls, kw, START)
    _steps(opt, params, rng, 5)
    checkpoint = {"params": [p.numpy() for p in params], "optim": opt.state_dict()}
    if through_file:
        sg_save(checkpoint, tmp_path / "ckpt.npz")
        checkpoint = sg_load(tmp_path / "ckpt.npz")
    params, fresh = _two_groups(cls, dict(kw, lr=123.0), checkpoint["params"])
    fresh.load_state_dict(checkpoint["optim"])
    assert [g["lr"] for g in fresh.param_groups] == [kw["lr"], kw["lr"] / 2]
    _steps(fresh, params, rng, 5)
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.numpy(), e)


def test_state_dict_layout():
    params, opt = _two_groups(optim.Adam, dict(lr=0.1, amsgrad=True), START)
    params[1].grad = sg.tensor(np.ones((2, 2)), dtype="float64")
    params[2].grad = sg.tensor([1.0], dtype="float64")
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [
        dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=True, maximize=False,
             params=[0, 1]),
        dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=True, maximize=False,
             params=[2]),
    ]
    assert list(sd["state"]) == ["1", "2"]          # parameter 0 had no gradient
    entry = sd["state"]["1"]
    assert set(entry) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert entry["step"] == 1 and type(entry["step"]) is int
    assert all(type(entry[k]) is np.ndarray and entry[k].shape == (2, 2)
               for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))
    # a copy: later steps do not change a checkpoint already taken
    saved = entry["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(entry["exp_avg"], saved)


def test_load_state_dict_accepts_integer_keys_and_casts_to_the_parameter_dtype():
    p = leaf([1.0, 2.0], dtype="float32")
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict({"state": {0: {"momentum_buffer": np.array([1.0, 2.0])}},
                         "param_groups": [dict(lr=0.1, momentum=0.9, dampening=0,
                                               weight_decay=0, nesterov=False, params=[0])]})
    buf = opt.state[p]["momentum_buffer"]
    assert buf.dtype == np.float32 and sg.tensor(buf).numpy().tolist() == [1.0, 2.0]


def test_stepping_after_a_load_leaves_the_loaded_dict_alone():
    params, opt = _two_groups(optim.Adam, dict(lr=0.1), START)
    _steps(opt, params, np.random.default_rng(0), 2)
    sd = opt.state_dict()
    saved = {k: v.copy() for k, v in sd["state"]["0"].items() if isinstance(v, np.ndarray)}
    opt.load_state_dict(sd)
    _steps(opt, params, np.random.default_rng(1), 2)
    for k, v in saved.items():
        np.testing.assert_array_equal(sd["state"]["0"][k], v)


def _adam_state_dict():
    params, opt = _two_groups(optim.Adam, dict(lr=0.1), START)
    _steps(opt, params, np.random.default_rng(0), 2)
    return opt.state_dict()


@pytest.mark.parametrize("corrupt, match", [
    (lambda sd: sd["param_groups"].pop(), "has 1 parameter groups, this optimizer has 2"),
    (lambda sd: sd["param_groups"][0]["params"].pop(), "group 0 holds 1 parameters"),
    (lambda sd: sd["state"].__setitem__("7", {"step": 1}), "state for parameter 7"),
    (lambda sd: sd["state"]["1"].__setitem__("exp_avg", np.zeros(3)),
     r"state\['1'\]\['exp_avg'\] has shape \(3,\), but its parameter has shape \(2, 2\)"),
    (lambda sd: sd["param_groups"][1].__setitem__("lr", -1.0), "invalid lr=-1.0"),
])
def test_mismatched_state_dicts_are_refused_and_change_nothing(corrupt, match):
    sd = _adam_state_dict()
    corrupt(sd)
    _, opt = _two_groups(optim.Adam, dict(lr=0.1), START)
    groups_before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    assert opt.state == {} and opt.param_groups == groups_before


# --------------------------------------------------------------------------
# Learning-rate schedulers
# --------------------------------------------------------------------------
def _lr_sequence(scheduler_cls, n=12, **kw):
    opt = optim.SGD([{"params": [leaf([1.0])]}, {"params": [leaf([2.0])], "lr": 0.3}], lr=0.1)
    sched = scheduler_cls(opt, **kw)
    lrs = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs, opt


@pytest.mark.parametrize("cls, kw, closed_form", [
    (StepLR, dict(step_size=3, gamma=0.5), lambda lr0, e: lr0 * 0.5 ** (e // 3)),
    (StepLR, dict(step_size=1), lambda lr0, e: lr0 * 0.1 ** e),
    (ExponentialLR, dict(gamma=0.9), lambda lr0, e: lr0 * 0.9 ** e),
])
def test_scheduler_closed_forms(cls, kw, closed_form):
    lrs, opt = _lr_sequence(cls, **kw)
    for e, lr in enumerate(lrs):
        assert lr == pytest.approx([closed_form(0.1, e), closed_form(0.3, e)], rel=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.3]


def test_scheduled_lr_drives_the_optimizer():
    p = leaf([1.0])
    opt = optim.SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = sg.tensor([1.0], dtype="float64")
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 1.0 - 0.5 - 0.25])


@pytest.mark.parametrize("through_file", [False, True], ids=["dict", "sg.save"])
def test_scheduler_state_dict_round_trip(through_file, tmp_path):
    if through_file and sg_save is None:
        pytest.skip("scratchgen.serialization is not available")
    full, _ = _lr_sequence(StepLR, n=10, step_size=3, gamma=0.5)

    opt = optim.SGD([{"params": [leaf([1.0])]}, {"params": [leaf([2.0])], "lr": 0.3}], lr=0.1)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        sched.step()
    checkpoint = {"optim": opt.state_dict(), "sched": sched.state_dict()}
    if through_file:
        sg_save(checkpoint, tmp_path / "ckpt.npz")
        checkpoint = sg_load(tmp_path / "ckpt.npz")
    assert checkpoint["sched"]["last_epoch"] == 4

    opt = optim.SGD([{"params": [leaf([1.0])]}, {"params": [leaf([2.0])], "lr": 0.3}], lr=0.1)
    opt.load_state_dict(checkpoint["optim"])
    sched = StepLR(opt, step_size=3, gamma=0.5, last_epoch=checkpoint["sched"]["last_epoch"] - 1)
    sched.load_state_dict(checkpoint["sched"])
    assert sched.get_last_lr() == full[4]
    for e in range(5, 11):
        sched.step()
        assert sched.get_last_lr() == full[e]


def test_scheduler_errors():
    opt = optim.SGD([leaf([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        StepLR(opt, step_size=0)
    with pytest.raises(KeyError, match="initial_lr"):
        ExponentialLR(opt, gamma=0.9, last_epoch=3)
    sched = ExponentialLR(opt, gamma=0.9)
    with pytest.raises(ValueError, match="expected the keys"):
        sched.load_state_dict({"gamma": 0.9})
    bad = dict(sched.state_dict(), base_lrs=[0.1, 0.2])
    with pytest.raises(ValueError, match="with 2 base_lrs"):
        sched.load_state_dict(bad)


def test_lr_scheduler_is_reachable_by_pytorchs_path():
    assert optim.lr_scheduler.StepLR is StepLR and sg.optim is optim


# --------------------------------------------------------------------------
# Against PyTorch
# --------------------------------------------------------------------------
def rosenbrock_grads(x, w):
    """Gradients of sum((1 - x_i)^2 + 10 (x_{i+1} - x_i^2)^2) + sum(s * w^2) / 2."""
    r = x[1:] - x[:-1] ** 2
    gx = np.zeros_like(x)
    gx[:-1] += -2 * (1 - x[:-1]) - 40 * x[:-1] * r
    gx[1:] += 20 * r
    return gx, np.arange(1.0, w.size + 1).reshape(w.shape) * w


TORCH_NAMES = {optim.SGD: "SGD", optim.Adam: "Adam", optim.AdamW: "AdamW",
               optim.RMSprop: "RMSprop"}


@configs
def test_trajectories_match_torch(cls, kw):
    torch = pytest.importorskip("torch")
    x0, w0 = np.array([-1.2, 1.0, 0.5, 0.0]), np.array([[1.0, -2.0, 0.5], [0.3, 0.0, -1.5]])
    ours = [leaf(x0), leaf(w0)]
    theirs = [torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)]

    def groups(x, w):  # two groups: the second with its own lr
        return [{"params": [x]}, {"params": [w], "lr": kw["lr"] * 0.5}]

    opt = cls(groups(*ours), **kw)
    topt = getattr(torch.optim, TORCH_NAMES[cls])(groups(*theirs), **kw)
    for _ in range(20):
        for p, g in zip(ours, rosenbrock_grads(*(p.numpy() for p in ours))):
            p.grad = sg.tensor(g, dtype="float64")
        for p, g in zip(theirs, rosenbrock_grads(*(p.detach().numpy() for p in theirs))):
            p.grad = torch.from_numpy(g)
        opt.step()
        topt.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-6)
    # same state, under the same names
    for p, q in zip(ours, theirs):
        state = {k: v for k, v in topt.state[q].items() if v is not None}
        assert set(opt.state[p]) == set(state)
        for k, v in state.items():
            np.testing.assert_allclose(sg.tensor(opt.state[p][k], dtype="float64").numpy(),
                                       v.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_adam_on_an_autograd_loss_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = np.array([-1.2, 1.0, 0.5])
    x, tx = leaf(x0), torch.tensor(x0, requires_grad=True)
    opt, topt = optim.Adam([x], lr=0.05), torch.optim.Adam([tx], lr=0.05)
    for _ in range(20):
        for o, t, f in [(opt, x, lambda v: ((1 - v[:-1]) ** 2 + 10 * (v[1:] - v[:-1] ** 2) ** 2).sum()),
                        (topt, tx, lambda v: ((1 - v[:-1]) ** 2 + 10 * (v[1:] - v[:-1] ** 2) ** 2).sum())]:
            o.zero_grad()
            f(t).backward()
            o.step()
    np.testing.assert_allclose(x.numpy(), tx.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, kw", [("StepLR", dict(step_size=3, gamma=0.5)),
                                      ("StepLR", dict(step_size=2)),
                                      ("ExponentialLR", dict(gamma=0.9))])
def test_scheduler_lrs_match_torch_exactly(name, kw):
    torch = pytest.importorskip("torch")
    lrs, _ = _lr_sequence(getattr(optim.lr_scheduler, name), n=12, **kw)
    topt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                            {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    expected = [tsched.get_last_lr()]
    for _ in range(12):
        topt.step()
        tsched.step()
        expected.append(tsched.get_last_lr())
    assert lrs == expected
