"""The machinery every optimizer shares: parameter groups, state, checkpoints.

An optimizer holds

* ``param_groups``: a list of dicts, each with its ``"params"`` (a list of
  leaf tensors) and its own hyperparameters (``"lr"``, ``"momentum"``, ...).
  ``SGD(model.parameters(), lr=0.1)`` makes one group; a list of dicts,
  ``[{"params": encoder, "lr": 1e-3}, {"params": decoder}]``, makes several,
  with the constructor's arguments as defaults for any option a group leaves
  out;
* ``state``: a dict from parameter to its own dict of running quantities
  (momentum buffers, moment estimates, step counts), filled at the first
  step that parameter has a gradient.

``step()`` walks every parameter that has a gradient and hands its raw
arrays to the subclass's ``_update(p, g, state, group)``, which applies the
update rule *in place* on ``p`` with backend array arithmetic (``xp``).
Working on raw arrays records no graph: an update is not part of the model,
and must not be differentiated through or keep activations alive.
``g`` is read only: a gradient array may be shared between tensors, so an
update that wants a modified gradient makes a new array (``g = g + wd * p``).

Checkpoints follow PyTorch's layout, with parameters named by their position
(counted through all groups in order) instead of by object::

    {"state": {"0": {"step": 5, "exp_avg": array, ...}, "1": {...}},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}]}

The state keys are the positions as *strings* (``"0"``), because
``sg.save`` stores dicts with string keys only; ``load_state_dict`` also
accepts integer keys, as PyTorch writes them.  Arrays are host NumPy copies
and everything else is a plain number, bool or tuple, so ``sg.save`` can
write the dict as it is.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Tensor, enable_grad
from ..backend import xp


class _RequiredParameter:
    """Default of a hyperparameter that has none (SGD's ``lr``): every
    parameter group must then set it."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

# Options that must be >= 0 wherever an optimizer has them.
_NON_NEGATIVE = ("lr", "eps", "weight_decay", "momentum", "dampening", "alpha")


class Optimizer:
    """Base class: subclasses pass their ``defaults`` and define ``_update``."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        groups = _as_list(params, type(self).__name__)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own options (e.g. a layer to
        unfreeze, with a smaller ``lr``)."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group is a dict with a 'params' key, "
                            f"got {type(group).__name__}")
        group = dict(group)
        params = group.get("params")
        group["params"] = [params] if isinstance(params, Tensor) else _as_list(params, name)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name} can't optimize a non-leaf Tensor (shape {p.shape}): "
                                 "it is computed from others; optimize the leaves it comes from")
        for option, default in self.defaults.items():
            if default is required and option not in group:
                raise ValueError(f"{name}: no value for the required option {option!r}; "
                                 f"pass {option}=... or give every parameter group one")
            group.setdefault(option, default)
        self._validate(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError(f"{name}: some parameters appear more than once "
                             "(in one group or in several); each may be in one group only")
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        """Refuse hyperparameters the update rule is not defined for."""
        name = type(self).__name__
        for option in _NON_NEGATIVE:
            if option in group and not group[option] >= 0:  # `not >=` also catches NaN
                raise ValueError(f"{name}: invalid {option}={group[option]!r}; it must be >= 0")
        for i, beta in enumerate(group.get("betas", ())):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: invalid betas[{i}]={beta!r}; each beta must be "
                                 "in [0, 1)")

    # -- the update -----------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients, before the next backward accumulates new ones."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    # a fresh zero array: the old one may be shared, so never zero it in place
                    p.grad = None if set_to_none else Tensor(xp.zeros_like(p.data))

    def step(self, closure=None):
        """One update of every parameter that has a gradient.

        ``closure``, if given, re-evaluates the model and returns the loss
        (called with gradients enabled); its loss is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = _grad_array(p)
                    # maximize: ascend, i.e. descend on -L (PyTorch negates first, too)
                    self._update(p.data, -g if group.get("maximize") else g,
                                 self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, g, state: dict, group: dict) -> None:
        """Update the array ``p`` in place from its gradient array ``g``."""
        raise NotImplementedError

    # -- checkpoints ----------------------------------------------------
    def _params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """The state and options, with parameters numbered by position
        (see the module docstring); arrays are host NumPy copies."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**_options(group), "params": [index[id(p)] for p in group["params"]]}
                  for group in self.param_groups]
        state = {str(index[id(p)]): {k: _to_host(v) for k, v in self.state[p].items()}
                 for p in self._params() if p in self.state}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned (possibly after a trip
        through ``sg.save``/``sg.load``).  The groups must have the same
        sizes and the arrays the parameters' shapes; nothing changes if not."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} holds "
                                 f"{len(saved['params'])} parameters in the state dict but "
                                 f"{len(group['params'])} in this optimizer")
        # saved position -> this optimizer's parameter, group by group
        param_at = {int(k): p for saved, group in zip(saved_groups, self.param_groups)
                    for k, p in zip(saved["params"], group["params"])}
        # options a checkpoint predates (e.g. maximize) take their defaults
        new_groups = [{**self.defaults, **_options(saved), "params": group["params"]}
                      for saved, group in zip(saved_groups, self.param_groups)]
        for group in new_groups:
            self._validate(group)
        new_state = {}
        for key, entries in state_dict["state"].items():
            p = param_at.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key}, but the "
                                 f"parameter groups number only {sorted(param_at)}")
            new_state[p] = {k: _to_backend(v, p, f"{name}.load_state_dict: state[{key!r}][{k!r}]")
                            for k, v in entries.items()}
        self.param_groups, self.state = new_groups, new_state


def _as_list(params, name: str) -> list:
    """Parameters (or groups) in a fixed order: their positions name them
    in checkpoints, so an unordered set is refused."""
    if isinstance(params, (Tensor, set, frozenset)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{name}: params must be an ordered iterable (list, generator) of "
                        f"Tensors or of dicts, got {type(params).__name__}; e.g. "
                        "model.parameters() or [w, b]")
    return list(params)


def _options(group: dict) -> dict:
    return {k: v for k, v in group.items() if k != "params"}


def _grad_array(p: Tensor):
    g = p.grad.data
    if g.shape != p.data.shape:
        raise ValueError(f"a gradient of shape {tuple(g.shape)} for a parameter of shape "
                         f"{p.shape}; assign p.grad a tensor of the parameter's shape")
    return g.astype(p.data.dtype, copy=False)  # state arrays follow the parameter's dtype


def _to_host(value):
    # a copy: later steps update the optimizer's arrays in place
    return backend.to_numpy(value.copy()) if backend.is_array(value) else value


def _to_backend(value, p: Tensor, where: str):
    if isinstance(value, (bool, int, float)):
        return value
    array = backend.asarray(value, dtype=p.data.dtype)
    if tuple(array.shape) != p.shape:
        raise ValueError(f"{where} has shape {tuple(array.shape)}, but its parameter has "
                         f"shape {p.shape}")
    return array.copy()  # our own: stepping must not change the caller's state dict
