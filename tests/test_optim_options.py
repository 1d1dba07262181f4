"""Optimizers' ``maximize=`` and the schedulers MultiStepLR, LinearLR,
CosineAnnealingLR, LambdaLR and SequentialLR: closed forms, checkpoints,
and PyTorch's numbers to the last bit when PyTorch is installed."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import optim
from scratchgen.optim import lr_scheduler as S

OPTIMIZERS = [
    (optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.05, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.05, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
]
IDS = [cls.__name__ for cls, _ in OPTIMIZERS]


def leaf(values):
    return sg.tensor(np.asarray(values, dtype=np.float64), dtype="float64", requires_grad=True)


def _grads(x):
    return np.array([2 * x[0] - 1.0, 4 * x[1] ** 3, np.sin(x[2])])


@pytest.mark.parametrize("cls, kw", OPTIMIZERS, ids=IDS)
def test_maximize_is_descent_on_the_negated_gradient(cls, kw):
    up, down = leaf([0.3, -1.0, 2.0]), leaf([0.3, -1.0, 2.0])
    opt_up, opt_down = cls([up], maximize=True, **kw), cls([down], **kw)
    for _ in range(10):
        up.grad = sg.tensor(_grads(up.numpy()), dtype="float64")
        down.grad = sg.tensor(-_grads(down.numpy()), dtype="float64")
        opt_up.step()
        opt_down.step()
    np.testing.assert_array_equal(up.numpy(), down.numpy())
    assert opt_up.param_groups[0]["maximize"] is True


@pytest.mark.parametrize("cls, kw", OPTIMIZERS, ids=IDS)
def test_maximize_matches_pytorch(cls, kw):
    torch = pytest.importorskip("torch")
    ours = leaf([0.3, -1.0, 2.0])
    theirs = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = cls([ours], maximize=True, **kw)
    topt = getattr(torch.optim, cls.__name__)([theirs], maximize=True, **kw)
    for _ in range(10):
        ours.grad = sg.tensor(_grads(ours.numpy()), dtype="float64")
        theirs.grad = torch.from_numpy(_grads(theirs.detach().numpy()))
        opt.step()
        topt.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_a_checkpoint_without_maximize_loads_with_the_default():
    p = leaf([1.0])
    opt = optim.Adam([p])
    state = opt.state_dict()
    del state["param_groups"][0]["maximize"]
    opt.load_state_dict(state)
    assert opt.param_groups[0]["maximize"] is False


# ---------------------------------------------------------------------------
# Schedulers
# ---------------------------------------------------------------------------

def _groups(lib, leaf_fn):
    return [{"params": [leaf_fn()]}, {"params": [leaf_fn()], "lr": 0.3}]


def _sequence(make, n=14):
    """Rates per epoch (both groups) of the scheduler ``make(opt)`` builds."""
    opt = optim.SGD(_groups(sg, lambda: leaf([1.0])), lr=0.1)
    sched = make(opt, S)
    lrs = [sched.get_last_lr()]
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


SCHEDULES = {
    "MultiStepLR": lambda opt, S: S.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.5),
    "LinearLR": lambda opt, S: S.LinearLR(opt, start_factor=0.25, total_iters=4),
    "LinearLR_down": lambda opt, S: S.LinearLR(opt, start_factor=1.0, end_factor=0.1,
                                               total_iters=6),
    "CosineAnnealingLR": lambda opt, S: S.CosineAnnealingLR(opt, T_max=5, eta_min=0.01),
    "LambdaLR": lambda opt, S: S.LambdaLR(opt, lambda e: 0.9 ** e / (1 + e)),
    "SequentialLR": lambda opt, S: S.SequentialLR(
        opt, [S.LinearLR(opt, start_factor=0.5, total_iters=3),
              S.CosineAnnealingLR(opt, T_max=6),
              S.StepLR(opt, step_size=2, gamma=0.5)], milestones=[3, 9]),
}

CLOSED_FORMS = {
    "MultiStepLR": lambda lr0, e: lr0 * 0.5 ** sum(m <= e for m in [2, 5, 5, 9]),
    "LinearLR": lambda lr0, e: lr0 * (0.25 + 0.75 * min(e, 4) / 4),
    "LinearLR_down": lambda lr0, e: lr0 * (1.0 - 0.9 * min(e, 6) / 6),
    "CosineAnnealingLR": lambda lr0, e: 0.01 + (lr0 - 0.01) * (1 + math.cos(math.pi * e / 5)) / 2,
    "LambdaLR": lambda lr0, e: lr0 * 0.9 ** e / (1 + e),
    "SequentialLR": lambda lr0, e: (lr0 * (0.5 + 0.5 * e / 3) if e < 3 else
                                    lr0 * (1 + math.cos(math.pi * (e - 3) / 6)) / 2 if e < 9
                                    else lr0 * 0.5 ** ((e - 9) // 2)),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_follows_its_closed_form(name):
    lrs = _sequence(SCHEDULES[name])
    for e, lr in enumerate(lrs):
        assert lr == pytest.approx([CLOSED_FORMS[name](0.1, e), CLOSED_FORMS[name](0.3, e)],
                                   rel=1e-9, abs=1e-15), e


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_pytorch_exactly(name):
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD(_groups(torch, lambda: torch.zeros(1, requires_grad=True)), lr=0.1)
    tsched = SCHEDULES[name](topt, torch.optim.lr_scheduler)
    expected = [tsched.get_last_lr()]
    for _ in range(14):
        topt.step()
        tsched.step()
        expected.append(tsched.get_last_lr())
    assert _sequence(SCHEDULES[name]) == expected


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_resumes_from_its_state_dict(name, tmp_path):
    full = _sequence(SCHEDULES[name])
    opt = optim.SGD(_groups(sg, lambda: leaf([1.0])), lr=0.1)
    sched = SCHEDULES[name](opt, S)
    for _ in range(6):
        sched.step()
    sg.save({"optim": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "c.npz")
    checkpoint = sg.load(tmp_path / "c.npz")

    opt = optim.SGD(_groups(sg, lambda: leaf([1.0])), lr=0.1)
    sched = SCHEDULES[name](opt, S)
    opt.load_state_dict(checkpoint["optim"])
    sched.load_state_dict(checkpoint["sched"])
    assert sched.get_last_lr() == full[6]
    for e in range(7, 15):
        sched.step()
        assert sched.get_last_lr() == full[e]


def test_scheduler_argument_errors():
    opt = optim.SGD([leaf([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="milestones"):
        S.SequentialLR(opt, [S.LinearLR(opt), S.LinearLR(opt)], milestones=[])
    with pytest.raises(ValueError, match="start_factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="lr_lambdas"):
        S.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    other = optim.SGD([leaf([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="another optimizer"):
        S.SequentialLR(opt, [S.LinearLR(opt), S.LinearLR(other)], milestones=[2])
