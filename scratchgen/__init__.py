"""scratchgen: generative models built from nothing.

Reading order: backend -> autograd -> ops -> creation -> gradcheck ->
conv -> functional -> losses -> nn -> optim -> serialization -> data ->
metrics -> plot -> training -> models -> cli.
"""
from . import backend
from .autograd import (Function, Tensor, detect_anomaly, enable_grad, grad,
                       is_grad_enabled, no_grad)
from .backend import manual_seed
from .creation import (arange, ones, ones_like, rand, randint, randn, tensor, zeros,
                       zeros_like)
from .ops import (abs, broadcast_to, clip, concatenate, exp, expand_dims, flatten, log,
                  matmul, maximum, mean, minimum, pad, reshape, split, sqrt, squeeze,
                  stack, sum, transpose, var, where)
from .ops import max, min  # noqa: E402  (shadow builtins only inside this namespace)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import CheckpointError, load, save
from . import nn, optim  # noqa: E402  (after the core they build on)

__version__ = "0.1.0"
