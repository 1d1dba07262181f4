"""The autoregressive family: its layers (LayerNorm, GELU, attention,
MaskedLinear) against PyTorch and their textbook forms, MADE's two defining
properties, and the character GPT's causality, gradient and sampling."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn
from scratchgen.data import TextError, load_text, load_text_dataset
from scratchgen.data.binary import fixed_binarization
from scratchgen.functional import _gelu_composed, _layer_norm_composed
from scratchgen.models.charlm import CharTransformer, warmup_cosine_lr
from scratchgen.models.made import MADE


def _double(module):
    for t in list(module.parameters()):
        t.data = t.data.astype(np.float64)
    return module


# ---------------------------------------------------------------------------
# Fused forms agree with the textbook rules
# ---------------------------------------------------------------------------

@given(x=hnp.arrays(np.float64, (3, 4), elements=st.floats(-4, 4)),
       approximate=st.sampled_from(["none", "tanh"]))
def test_fused_gelu_equals_the_composed_rule(x, approximate):
    a = sg.tensor(x, dtype="float64", requires_grad=True)
    b = sg.tensor(x, dtype="float64", requires_grad=True)
    ya, yb = F.gelu(a, approximate), _gelu_composed(b, approximate)
    np.testing.assert_allclose(ya.numpy(), yb.numpy(), rtol=1e-12, atol=1e-14)
    g = np.cos(x)
    ya.backward(sg.tensor(g, dtype="float64"))
    yb.backward(sg.tensor(g, dtype="float64"))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(x=hnp.arrays(np.float64, (2, 3, 4), elements=st.floats(-3, 3)),
       w=hnp.arrays(np.float64, (4,), elements=st.floats(-2, 2)))
def test_fused_layer_norm_equals_the_composed_rule(x, w):
    x = x + np.arange(4) * 0.1  # no constant rows: their variance is 0 and eps dominates
    xs = [sg.tensor(x, dtype="float64", requires_grad=True) for _ in range(2)]
    ws = [sg.tensor(w, dtype="float64", requires_grad=True) for _ in range(2)]
    bs = [sg.tensor(w[::-1].copy(), dtype="float64", requires_grad=True) for _ in range(2)]
    ya = F.layer_norm(xs[0], 4, ws[0], bs[0])
    yb = _layer_norm_composed(xs[1], (2,), ws[1], bs[1], 1e-5)
    np.testing.assert_allclose(ya.numpy(), yb.numpy(), rtol=1e-10, atol=1e-12)
    g = sg.tensor(np.sin(x), dtype="float64")
    ya.backward(g)
    yb.backward(g)
    for a, b in ((xs, xs), (ws, ws), (bs, bs)):
        np.testing.assert_allclose(a[0].grad.numpy(), b[1].grad.numpy(), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_module_matches_torch(approximate):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32) * 3
    ours = sg.tensor(x, requires_grad=True)
    theirs = torch.from_numpy(x).requires_grad_()
    y, yt = nn.GELU(approximate)(ours), torch.nn.GELU(approximate)(theirs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,bias", [(8, True), ((3, 8), True), (8, False)])
def test_layer_norm_module_matches_torch(shape, bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    ours, theirs = nn.LayerNorm(shape, bias=bias), torch.nn.LayerNorm(shape, bias=bias)
    state = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in ours.state_dict().items()}
    ours.load_state_dict(state)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.normal(size=(4, 3, 8)).astype(np.float32) * 2 + 1
    xo, xt = sg.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    y, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.normal(size=x.shape).astype(np.float32)
    y.backward(sg.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), pt in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("is_causal", [False, True])
def test_scaled_dot_product_attention_matches_torch(is_causal):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    ours = [sg.tensor(a, dtype="float64", requires_grad=True) for a in (q, k, v)]
    theirs = [torch.from_numpy(a).requires_grad_() for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ours, is_causal=is_causal)
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=is_causal)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"does not end in normalized_shape \(5,\)"):
        F.layer_norm(sg.randn(2, 4), 5)
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="not divisible by num_heads 3"):
        nn.CausalSelfAttention(8, 3)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        nn.MaskedLinear(3, 2).set_mask(np.ones((3, 2)))


# ---------------------------------------------------------------------------
# Causal attention and the character GPT
# ---------------------------------------------------------------------------

def _tiny_gpt(vocab="abcdef", **kw):
    args = dict(block_size=8, n_layer=2, n_head=2, n_embd=8, bias=True) | kw
    return CharTransformer(vocab, **args)


def test_attention_is_causal_and_rows_sum_to_one():
    attn = _double(nn.CausalSelfAttention(8, 2))
    attn.keep_attention = True
    x = np.random.default_rng(3).normal(size=(2, 6, 8))
    y = attn(sg.tensor(x, dtype="float64")).numpy()
    w = attn.attention.numpy()
    assert np.allclose(w.sum(-1), 1) and np.all(np.triu(w[0, 0], 1) == 0)
    x2 = x.copy()
    x2[:, 4:] += 5.0  # change the future: the past's outputs must not move
    y2 = attn(sg.tensor(x2, dtype="float64")).numpy()
    np.testing.assert_array_equal(y[:, :4], y2[:, :4])
    assert not np.allclose(y[:, 4:], y2[:, 4:])


def test_changing_a_later_character_never_changes_an_earlier_prediction():
    model = _tiny_gpt().eval()
    idx = np.array([[0, 1, 2, 3, 4, 5, 0, 1]])
    later = idx.copy()
    later[0, 5:] = [3, 3, 3]
    with sg.no_grad():
        a = model(idx).numpy().reshape(8, -1)
        b = model(later).numpy().reshape(8, -1)
    np.testing.assert_array_equal(a[:5], b[:5])
    assert not np.allclose(a[5:], b[5:])


def test_gpt_loss_gradient_checks():
    """Backward against central differences, in float64, at three
    coordinates of every parameter of a one-block model."""
    model = _double(_tiny_gpt(block_size=4, n_layer=1, n_embd=4))
    idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    targets = np.array([[1, 2, 3, 4], [2, 1, 0, 5]])
    model.loss(idx, targets).backward()
    rng = np.random.default_rng(4)
    for name, p in model.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.numpy().reshape(-1)
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            up = model.loss(idx, targets).item()
            flat[i] = old - 1e-6
            down = model.loss(idx, targets).item()
            flat[i] = old
            assert abs((up - down) / 2e-6 - grad[i]) < 1e-6, name


def test_log_prob_and_loss_agree():
    model = _tiny_gpt()
    x = np.random.default_rng(5).integers(0, 6, size=(3, 9))
    with sg.no_grad():
        logp = model.log_prob(x).numpy()
        loss = model.loss(x[:, :-1], x[:, 1:]).item()
    assert np.isclose(-logp.sum() / (3 * 8), loss, rtol=1e-5)


def test_generation_is_deterministic_for_a_seed():
    model = _tiny_gpt()
    sg.manual_seed(7)
    a = model.sample(2, length=30, prompt="ab", temperature=0.8, top_k=3)
    sg.manual_seed(7)
    b = model.sample(2, length=30, prompt="ab", temperature=0.8, top_k=3)
    sg.manual_seed(8)
    c = model.sample(2, length=30, prompt="ab", temperature=0.8, top_k=3)
    assert a == b and a != c
    assert all(s.startswith("ab") and len(s) == 32 for s in a)


def test_top_k_one_is_greedy():
    model = _tiny_gpt()
    with sg.no_grad():
        logits = model(np.array([[2]])).numpy()
    text = model.sample(1, length=1, prompt="c", top_k=1)[0]
    assert text[1] == "abcdef"[int(np.argmax(logits[-1]))]


def test_warmup_cosine_schedule():
    lrs = [warmup_cosine_lr(i, 1e-3, 1e-4, 100, 2000) for i in range(2001)]
    assert lrs[0] == pytest.approx(1e-3 / 101) and lrs[100] == pytest.approx(1e-3)
    assert lrs[2000] == pytest.approx(1e-4) and all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


# ---------------------------------------------------------------------------
# MADE
# ---------------------------------------------------------------------------

MADE_CASES = [dict(hidden=(16,)), dict(hidden=(12, 12), natural_order=False, seed=1),
              dict(hidden=(12,), num_masks=3, order_agnostic=True, natural_order=False, seed=2)]


@pytest.mark.parametrize("kwargs", MADE_CASES)
def test_made_sums_to_one_over_all_binary_images(kwargs):
    model = _double(MADE((1, 3, 3), **kwargs))
    images = np.array(list(itertools.product([0, 1], repeat=9)), dtype=np.float64)
    with sg.no_grad():
        logp = model.log_prob(sg.tensor(images.reshape(512, 1, 3, 3), dtype="float64"))
    assert math.isclose(np.exp(logp.numpy()).sum(), 1.0, rel_tol=1e-10)


@given(seed=st.integers(0, 10_000), depth=st.integers(1, 2), agnostic=st.booleans())
def test_made_output_d_never_depends_on_inputs_at_or_after_d(seed, depth, agnostic):
    model = MADE((1, 3, 3), hidden=(10,) * depth, natural_order=False, seed=seed,
                 num_masks=2, order_agnostic=agnostic)
    for k in range(2):
        model.use_mask_set(k)
        order = model.order.numpy()
        x = sg.tensor(np.random.default_rng(seed).random((1, 9)), requires_grad=True)
        logits = model.logits(x)
        for d in range(9):
            (g,) = sg.grad(logits[0, d], x, retain_graph=True, allow_unused=True)
            depends = np.flatnonzero(g.numpy()[0]) if g is not None else []
            assert all(order[j] < order[d] for j in depends), (d, order, depends)


def test_made_samples_are_binary_images_and_deterministic():
    model = MADE((1, 4, 4), hidden=(20,))
    sg.manual_seed(3)
    a = model.sample(5).numpy()
    sg.manual_seed(3)
    b = model.sample(5).numpy()
    assert a.shape == (5, 1, 4, 4) and set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)


def test_made_learns_digits_a_little():
    from scratchgen.data import load_digits
    x, _ = load_digits("train")
    x = x[:256].astype(np.float32)
    model = MADE((1, 8, 8), hidden=(64,))
    opts = model.make_optimizers(3e-3)
    test = sg.tensor(fixed_binarization(x[:64]))
    before = -model.log_prob(test).mean().item()
    for _ in range(40):
        model.train_step(sg.tensor(x[:128]), opts)
    after = -model.log_prob(test).mean().item()
    assert after < before - 5, (before, after)


def test_fixed_binarization_is_seeded():
    x = np.random.default_rng(0).random((3, 10))
    np.testing.assert_array_equal(fixed_binarization(x), fixed_binarization(x))
    assert set(np.unique(fixed_binarization(x))) <= {0.0, 1.0}


# ---------------------------------------------------------------------------
# Text data
# ---------------------------------------------------------------------------

def test_shakespeare_is_bundled_and_split_like_nanogpt():
    data = load_text_dataset()
    assert (len(data.train), len(data.val), len(data.vocab)) == (1_003_854, 111_540, 65)
    assert data.vocab.decode(data.vocab.encode("ROMEO:")) == "ROMEO:"


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (b"  \n", "is empty"),
                                             (b"ab\x00cd", "looks binary"),
                                             (b"\xff\xfe\xfa", "not UTF-8")])
def test_bad_text_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(TextError, match=message):
        load_text(path)


def test_any_text_file_is_a_corpus(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("so long lives this, and this gives life to thee\n" * 5, encoding="utf-8")
    data = load_text_dataset(str(path))
    assert len(data.train) + len(data.val) == len(path.read_text())
    with pytest.raises(TextError, match="too few"):
        load_text_dataset(str(path), min_length=100)
