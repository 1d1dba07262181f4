"""The backward pass: walking the graph from the loss back to the leaves.

``autograd.py`` builds the graph: each :class:`~scratchgen.autograd.Function`
call records its inputs and outputs.  This file walks it backward.  The
functions are put in topological order (each after every function that used
its outputs), then, from the loss down, each one's ``backward`` turns the
gradient of its outputs into the gradient of its inputs, by the chain rule

    dL/dx = sum over the outputs y of x:  (dy/dx)^T dL/dy,

and gradients reaching the same tensor by several paths are added.  Leaves
keep theirs in ``.grad``; ``grad()`` returns them instead.
"""
from __future__ import annotations

from . import backend
from .autograd import Tensor, _check_finite, _Config, _set_grad_enabled, as_tensor, astype
from .backend import xp


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function that
    produced one of its inputs (iterative post-order depth-first search)."""
    order, seen = [], set()
    stack = [(f, False) for f in roots]
    while stack:
        f, done = stack.pop()
        if done:
            order.append(f)
            continue
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.inputs is None:
            raise RuntimeError(
                f"the graph through {f.name} was already freed by an earlier backward(); "
                "call backward(retain_graph=True) the first time to go through it twice."
            )
        stack.append((f, True))
        stack.extend((x.creator, False) for x in f.inputs
                     if x.creator is not None and id(x.creator) not in seen)
    return order


def run_backward(outputs, grad_outputs, create_graph=False, retain_graph=False, inputs=None):
    """The chain rule over the whole graph.

    Returns ``{id(tensor): grad}`` for ``inputs`` when given (``sg.grad``);
    otherwise accumulates into ``.grad`` of every leaf reached.
    """
    # pending[id(t)] = (t, dL/dt so far); the tensor is kept so its id stays unique
    pending = {}
    # arrays a tensor may not own as its .grad: the caller's, and those given out already
    taken = set()
    for out, g in zip(outputs, grad_outputs):
        g = as_tensor(g, like=out)
        taken.add(id(backend.memory_root(g.data)))
        if g.shape != out.shape:
            raise ValueError(f"grad of shape {g.shape} given for an output of shape {out.shape}")
        _accumulate(pending, out, g)

    wanted = None if inputs is None else {id(t) for t in inputs}
    order = _topological_order([o.creator for o in outputs if o.creator is not None])
    if wanted is not None:
        order = _functions_leading_to(order, wanted)

    results = {}
    with _set_grad_enabled(create_graph):
        for f in reversed(order):
            grads_out = []
            for ref in f.outputs:
                out = ref()
                entry = pending.pop(id(out), None) if out is not None else None
                g = None
                if entry is not None:
                    g = _run_hooks(out, entry[1])
                    if wanted is not None and id(out) in wanted:
                        results[id(out)] = g
                    if out._retains_grad and wanted is None:
                        _store_grad(out, g, taken)
                grads_out.append(g)
            if all(g is None for g in grads_out):
                continue
            _check_versions(f)
            grads_out = [Tensor(xp.zeros_like(ref().data)) if g is None else g
                         for g, ref in zip(grads_out, f.outputs)]
            # anomaly checks off inside: a NaN there is blamed on f, not on its Div or Mul
            anomaly, _Config.anomaly = _Config.anomaly, False
            try:
                grads_in = f.backward(*grads_out)
            finally:
                _Config.anomaly = anomaly
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
            if anomaly:
                _check_finite(f.name, "backward", [g.data for g in grads_in if g is not None], f.inputs)
            for x, gx, needed in zip(f.inputs, grads_in, f.needs_input_grad):
                if gx is not None and needed:
                    if gx.shape != x.shape:
                        raise RuntimeError(f"{f.name}.backward returned a gradient of shape "
                                           f"{gx.shape} for an input of shape {x.shape}")
                    if gx.dtype != x.dtype:  # a promoted input's gradient: its own dtype
                        gx = astype(gx, x.dtype)
                    _accumulate(pending, x, gx)
            if not retain_graph:
                f.inputs = None  # free the activations this step kept alive

        for x, g in pending.values():  # what is left are leaves (and wanted inputs)
            g = _run_hooks(x, g)
            if wanted is not None:
                if id(x) in wanted:
                    results[id(x)] = g
            elif x.creator is None and x.requires_grad:
                _store_grad(x, g, taken)
    return results


def _store_grad(x, g, taken):
    """Add ``g`` into ``x.grad``, so that ``x.grad`` owns a writable array:
    a read-only view (a broadcast) or memory some other tensor has (the
    caller's grad, a gradient given to another leaf) is copied first."""
    if x.grad is not None:
        x.grad = x.grad + g  # a new array
        return
    root = id(backend.memory_root(g.data))
    if root in taken or not backend.is_writable(g.data):
        # a copy that stays differentiable under create_graph
        g = g * 1 if g.requires_grad else Tensor(g.data.copy())
        root = id(g.data)
    taken.add(root)
    x.grad = g


def _run_hooks(tensor, g):
    if tensor._hooks:
        for hook in list(tensor._hooks.values()):
            new = hook(g)
            if new is not None:
                if not isinstance(new, Tensor) or new.shape != g.shape:
                    raise RuntimeError(f"a hook on a tensor of shape {tensor.shape} returned "
                                       f"{type(new).__name__} {getattr(new, 'shape', '')}; "
                                       "it must return None or a Tensor of the gradient's shape")
                g = new
    return g


def _check_versions(f):
    for i, (x, v) in enumerate(zip(f.inputs, f.versions)):
        if x._version != v:
            raise RuntimeError(
                f"one of the tensors needed by {f.name}.backward (input {i}, shape {x.shape}) "
                f"was changed in place after {f.name} used it (version {v}, now "
                f"{x._version}); make a copy before writing into it, or write after backward")


def _accumulate(pending, tensor, grad):
    key = id(tensor)
    if key in pending:
        pending[key] = (tensor, pending[key][1] + grad)
    else:
        pending[key] = (tensor, grad)


def _functions_leading_to(order, wanted):
    """Keep only the functions from which some wanted tensor is reachable:
    ``sg.grad(D(x), x)`` must not walk back into the generator that made x."""
    leads = set()
    for f in order:  # producers come first
        if any(id(x) in wanted or (x.creator is not None and id(x.creator) in leads)
               for x in f.inputs):
            leads.add(id(f))
    return [f for f in order if id(f) in leads]


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
         allow_unused=False):
    """d(outputs)/d(inputs), returned as a tuple (``.grad`` is left alone).

    With ``create_graph=True`` the returned gradients are part of a graph
    themselves and can be differentiated again (gradient penalties)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        for o in outputs:
            if o.size != 1:
                raise RuntimeError(f"grad of a non-scalar output (shape {o.shape}) needs grad_outputs")
        grad_outputs = [Tensor(xp.ones_like(o.data)) for o in outputs]
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"an input of shape {t.shape} does not require grad")
    results = run_backward(outputs, grad_outputs, create_graph=create_graph,
                           retain_graph=create_graph if retain_graph is None else retain_graph,
                           inputs=inputs)
    grads = []
    for t in inputs:
        g = results.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError(f"an input of shape {t.shape} was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        grads.append(g)
    return tuple(grads)


def backward(self, grad=None, create_graph: bool = False, retain_graph=None):
    """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that
    requires grad.  ``grad`` is d(loss)/d(self); it defaults to 1 and may
    only be omitted for a one-element tensor."""
    if not self.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the graph "
            "that made it requires grad, so nothing would be trained. Check that the "
            "parameters have requires_grad=True and that the loss was not computed "
            "under sg.no_grad() or from .detach()ed / .data values")
    if grad is None:
        if self.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, but this tensor "
                f"has shape {self.shape}. Reduce it first (e.g. loss.sum() or loss.mean()), "
                "or pass grad=<tensor of the same shape>."
            )
        grad = Tensor(xp.ones_like(self.data))
    run_backward([self], [grad], create_graph=create_graph,
                 retain_graph=create_graph if retain_graph is None else retain_graph)


# a method of every Tensor, defined here beside the pass it starts
Tensor.backward = backward
