"""Optimizers: how a gradient becomes a parameter update.

Training minimises a loss ``L(theta)`` by small moves against its gradient.
Plain gradient descent, ``theta <- theta - lr * dL/dtheta``, is the starting
point; each optimizer here keeps a little *state* per parameter to do
better:

=============  ===============================================================
``SGD``        momentum: a running sum of past gradients smooths the direction.
``Adam``       running means of the gradient and of its square: each
               coordinate gets its own step size, ~``lr`` whatever the scale.
``AdamW``      Adam with weight decay applied to the parameters directly.
``RMSprop``    the square mean alone (Adam's ancestor), optional momentum.
=============  ===============================================================

Each takes ``maximize=True`` to climb the objective instead (PyTorch's
option: the gradient is negated before the rule).  Every update rule is PyTorch's, written in its class docstring as PyTorch
documents it, so a scratchgen model and a PyTorch model fed the same
gradients follow the same trajectory.  Learning-rate schedules live in
:mod:`scratchgen.optim.lr_scheduler` (``optim.lr_scheduler.StepLR``, as in
PyTorch).

Reading order: optimizer (the shared machinery: parameter groups, state,
checkpoints) -> sgd -> adam -> rmsprop -> lr_scheduler.
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
