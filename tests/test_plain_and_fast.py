"""Each fast form agrees with the textbook rule it replaces.

Where the library computes something in a speed-tuned way (a BLAS-friendly
layout, an in-place update, a fused kernel), the plain rule stays beside it
in the same file as runnable code.  Each test here draws inputs with
hypothesis and demands that the two agree in float64, to rounding, and,
where the op is differentiated twice (WGAN-GP), that their gradients agree
too.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import scratchgen as sg
from scratchgen.ops.arithmetic import matmul_grads, matmul_grads_plain


def _leaf(array):
    return sg.tensor(array, dtype="float64", requires_grad=True)


@st.composite
def matmul_case(draw):
    """Shapes on both sides of the layout heuristic's thresholds (long inner
    sums, as in a convolution's weight gradient, and short ones), and
    operands stored row by row or column by column."""
    n, k, m = (draw(st.sampled_from([1, 2, 3, 7, 40])) for _ in range(3))
    seed = draw(st.integers(0, 2**16))
    a_columnwise, b_columnwise = draw(st.booleans()), draw(st.booleans())
    return n, k, m, a_columnwise, b_columnwise, seed


@given(matmul_case())
def test_matmul_gradients_fast_equal_plain_with_second_derivatives(case):
    n, k, m, a_columnwise, b_columnwise, seed = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, n)).T if a_columnwise else rng.standard_normal((n, k))
    b = rng.standard_normal((m, k)).T if b_columnwise else rng.standard_normal((k, m))
    ta, tb, gy = _leaf(a), _leaf(b), _leaf(rng.standard_normal((n, m)))
    # the leaves keep the drawn memory order, so the layout heuristic sees it
    ta.data, tb.data = a, b
    plain = matmul_grads_plain(ta, tb, gy)
    fast = matmul_grads(ta, tb, gy, (True, True))
    for p, f in zip(plain, fast):
        np.testing.assert_allclose(f.numpy(), p.numpy(), rtol=1e-12, atol=1e-12)
    # second derivatives: the gradients of <u, dL/dA> + <v, dL/dB>
    u, v = rng.standard_normal((n, k)), rng.standard_normal((k, m))

    def second(grads):
        s = (grads[0] * sg.tensor(u, dtype="float64")).sum() + \
            (grads[1] * sg.tensor(v, dtype="float64")).sum()
        return sg.grad(s, [ta, tb, gy], allow_unused=True)

    plain2 = second(matmul_grads_plain(ta, tb, gy))
    fast2 = second(matmul_grads(ta, tb, gy, (True, True)))
    for p, f in zip(plain2, fast2):
        if p is None or f is None:
            assert p is None and f is None
        else:
            np.testing.assert_allclose(f.numpy(), p.numpy(), rtol=1e-12, atol=1e-12)
