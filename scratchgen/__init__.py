"""scratchgen: generative models built from nothing.

The package is a book: read its files in this order.  Each floor builds only
on the floors before it (``tests/test_layering.py`` reads the list below and
fails on an import that climbs, or on any import cycle), so every file can
be understood with what came before it.

Floors (the layering test parses these lines):

    0 backend guard allocator atomic
    1 autograd backward
    2 ops creation
    3 conv_kernels conv resample losses gradcheck functional
    4 nn
    5 optim
    6 serialization data scratchgen
    7 models
    8 runs __main__

What each file holds, and what it builds on:

0. ``backend.py``: the array module (NumPy, or CuPy on a GPU) chosen by
   ``SCRATCHGEN_BACKEND``, the default dtype, the one seeded generator.
   ``guard.py``: ``numpy-guard``, a CPU backend that refuses what CuPy
   refuses.  ``allocator.py``: keeps freed memory for the next training
   step.  ``atomic.py``: a file is written whole or not at all.
1. ``autograd.py``: ``Tensor``, ``Function`` (forward on arrays, backward
   on tensors), ``no_grad``: the graph as it is built.  ``backward.py``: the
   backward pass in topological order, ``Tensor.backward``, ``grad``.
2. ``ops/``: every differentiable operation, forward beside backward:
   ``broadcast`` (broadcast_to and its adjoint sum_to), ``arithmetic``
   (+ - * / ** @; the matrix product's plain and fast gradients),
   ``blas_layout`` (which way round BLAS computes a product),
   ``elementwise``, ``reductions``, ``shapes`` (reshape, transpose,
   indexing, concatenation), ``activations``; ``__init__`` attaches them to
   ``Tensor`` as operators and methods.  ``creation.py``: tensor, zeros,
   randn, ...
3. ``conv_kernels.py``: im2col and col2im as one CUDA kernel each (the
   GPU's fast path).  ``conv.py``: im2col convolutions, transposed
   convolutions and pools.
   ``resample.py``: ``interpolate`` (nearest and bilinear resizing).
   ``losses.py``: the losses in stable forms.  ``gradcheck.py``: finite
   differences against backward.  ``functional.py``: ``F``, the stateless
   building blocks gathered in one namespace.
4. ``nn/``: ``Module`` and the layers (PyTorch's names and layouts).
5. ``optim/``: SGD, Adam, AdamW, RMSprop and learning-rate schedulers.
6. ``serialization.py``: pickle-free checkpoints.  ``data/``: toy 2-D sets,
   the bundled digits, MNIST-format files, ``DataLoader``.  This package's
   ``__init__`` (``import scratchgen as sg``) gathers floors 0-5 for users.
7. ``models/``: the generative models behind one protocol, their registry
   and ``load(run_dir)``.
8. ``runs/``: the run tooling: ``training`` (the loop, run folders, resume),
   ``recipes`` (default settings per model and data set), ``evaluation``,
   ``metrics``, ``feature_net``, ``plot``, ``cli`` (the ``scratchgen``
   command).
"""
from . import backend
from .autograd import (Function, Tensor, detect_anomaly, enable_grad, is_grad_enabled,
                       no_grad)
from .backward import grad  # also gives every Tensor its .backward()
from .backend import manual_seed
from .creation import (arange, ones, ones_like, rand, randint, randn, tensor, zeros,
                       zeros_like)
from .ops import (abs, broadcast_to, clip, concatenate, exp, expand_dims, flatten, log,
                  matmul, maximum, mean, minimum, pad, permute, reshape, split, sqrt, squeeze,
                  stack, sum, transpose, var, where)
from .ops import max, min  # noqa: E402  (shadow builtins only inside this namespace)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import CheckpointError, load, save
from . import nn, optim  # noqa: E402  (after the core they build on)

__version__ = "0.1.0"
