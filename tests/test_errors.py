"""Errors say what was wrong, with the shapes or values, and what to do."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg

REPO = Path(__file__).resolve().parents[1]


def run_python(code, backend):
    """Run ``code`` in a fresh interpreter with SCRATCHGEN_BACKEND=backend
    (the backend is read once, at import, so it needs its own process)."""
    env = {**os.environ, "SCRATCHGEN_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_matmul_shape_mismatch_names_matmul_and_both_shapes():
    a, b = sg.ones(2, 3), sg.ones(4, 5)
    with pytest.raises(ValueError) as info:
        a @ b
    message = str(info.value)
    assert "matmul" in message and "(2, 3)" in message and "(4, 5)" in message


def test_batched_matmul_batch_mismatch_names_both_shapes():
    a, b = sg.ones(2, 2, 3), sg.ones(3, 3, 4)
    with pytest.raises(ValueError) as info:
        a @ b
    message = str(info.value)
    assert "(2, 2, 3)" in message and "(3, 3, 4)" in message


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError) as info:
        sg.ones(2, 3) + sg.ones(4)
    message = str(info.value)
    assert "Add" in message and "(2, 3)" in message and "(4,)" in message


def test_backward_of_a_non_scalar_explains_what_to_do():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = str(info.value)
    assert "(2,)" in message and "sum()" in message


def test_grad_of_the_wrong_shape_is_refused():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(sg.ones(3))


@pytest.mark.parametrize("make", [
    lambda: sg.tensor([1, 2, 3], requires_grad=True),
    lambda: sg.arange(3).__setattr__("requires_grad", True),
])
def test_integer_tensors_cannot_require_grad(make):
    with pytest.raises(TypeError, match="int64|int32"):
        make()


def test_host_numpy_array_and_tensor_do_not_mix_under_numpy_guard():
    code = (
        "import numpy as np, scratchgen as sg\n"
        "t = sg.tensor([1.0, 2.0])\n"
        "for mix in (lambda: t + np.ones(2), lambda: np.ones(2) * t, lambda: t @ np.ones(2)):\n"
        "    try:\n"
        "        mix()\n"
        "    except TypeError as exc:\n"
        "        print('refused:', exc)\n"
        "    else:\n"
        "        print('accepted')\n"
    )
    result = run_python(code, "numpy-guard")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("refused:") for line in lines), lines
    assert "sg.tensor" in lines[0]  # says how to convert


def test_unknown_backend_lists_the_allowed_values():
    result = run_python("import scratchgen", "tensorflow")
    assert result.returncode != 0
    assert "'tensorflow'" in result.stderr
    for allowed in ("numpy", "cupy", "numpy-guard"):
        assert allowed in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cupy_backend_without_cupy_says_what_to_install():
    result = run_python("import scratchgen", "cupy")
    assert result.returncode != 0
    assert 'pip install -e ".[gpu]"' in result.stderr   # the README's command


class WrongSquare(sg.Function):
    """y = x^2 with a deliberately wrong backward (3x instead of 2x)."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * 3 * self.inputs[0]


def test_gradcheck_failure_names_input_element_and_both_values():
    ok = sg.tensor([1.0], dtype="float64", requires_grad=True)
    x = sg.tensor([[0.5, 2.0]], dtype="float64", requires_grad=True)
    with pytest.raises(sg.GradcheckError) as info:
        sg.gradcheck(lambda a, b: a * WrongSquare()(b), [ok, x])
    message = str(info.value)
    assert "input 1" in message and "element (0, 0)" in message
    assert "analytic" in message and "numeric" in message
    # with cotangent u, the numbers are u * 1 * 3 * 0.5 against u * 1 * 2 * 0.5
    analytic = float(message.split("analytic ")[1].split(",")[0])
    numeric = float(message.split("numeric ")[1].split(" ")[0])
    np.testing.assert_allclose(analytic / numeric, 1.5, rtol=1e-6)


def test_gradcheck_passes_a_correct_function():
    x = sg.tensor([[0.5, 2.0]], dtype="float64", requires_grad=True)
    assert sg.gradcheck(lambda t: t * t, [x])
