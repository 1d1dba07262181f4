"""The GAN family: DCGAN, WGAN-GP, the conditional GAN, and their losses.

Losses are compared with their formulas (host NumPy) and gradient-checked
(first and second derivatives) in float64, with respect to logits and to the
parameters of a tiny convolutional critic: the gradient penalty is itself a
gradient, so its gradient is a double backward through the conv layers.
"""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn
from scratchgen.models import dcgan
from scratchgen.models.cgan import ConditionalGAN
from scratchgen.models.dcgan import DCGAN
from scratchgen.models.gan import GAN
from scratchgen.models.gan_losses import (gradient_penalty, interpolates,
                                          minimax_discriminator_loss, minimax_generator_loss,
                                          nonsaturating_generator_loss, wasserstein_critic_loss,
                                          wasserstein_generator_loss)
from scratchgen.models.wgan_gp import WGANGP
from test_models import assert_depends_on_all, parameters_of, parameters_replaced


def softplus(x):
    return np.logaddexp(0.0, x)


def logits64(seed, n=5):
    return sg.tensor(np.random.default_rng(seed).normal(scale=3, size=(n, 1)), dtype="float64",
                     requires_grad=True)


# --------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------
def test_losses_equal_their_formulas():
    r, f = logits64(0), logits64(1)
    rn, fn = r.numpy(), f.numpy()
    np.testing.assert_allclose(minimax_discriminator_loss(r, f).item(),
                               softplus(-rn).mean() + softplus(fn).mean())
    # minimax G: E log(1 - sigma(f));  non-saturating: -E log sigma(f)
    np.testing.assert_allclose(minimax_generator_loss(f).item(),
                               np.log(1 - 1 / (1 + np.exp(-fn))).mean())
    np.testing.assert_allclose(nonsaturating_generator_loss(f).item(), softplus(-fn).mean())
    np.testing.assert_allclose(wasserstein_critic_loss(r, f).item(), fn.mean() - rn.mean())
    np.testing.assert_allclose(wasserstein_generator_loss(f).item(), -fn.mean())


def test_the_minimax_generator_gradient_saturates_and_the_nonsaturating_one_does_not():
    f = sg.tensor([[-10.0]], dtype="float64", requires_grad=True)  # D rejects the fake
    (g_minimax,) = sg.grad(minimax_generator_loss(f), f)
    (g_ns,) = sg.grad(nonsaturating_generator_loss(f), f)
    assert abs(g_minimax.item()) < 1e-4 and g_ns.item() == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize("loss", [minimax_discriminator_loss, wasserstein_critic_loss])
def test_discriminator_losses_gradgradcheck_in_the_logits(loss):
    inputs = [logits64(2), logits64(3)]
    assert sg.gradcheck(loss, inputs) and sg.gradgradcheck(loss, inputs)


@pytest.mark.parametrize("loss", [minimax_generator_loss, nonsaturating_generator_loss,
                                  wasserstein_generator_loss])
def test_generator_losses_gradgradcheck_in_the_logits(loss):
    assert sg.gradcheck(loss, [logits64(4)]) and sg.gradgradcheck(loss, [logits64(4)])


def tiny_conv_critic():
    """4x4 images -> one score; no BatchNorm (a WGAN-GP critic)."""
    sg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2, 3, 2, 1, 0),
                         nn.Tanh(), nn.Flatten(), nn.Linear(3, 1))


def images64(seed, n=3):
    return sg.tensor(np.random.default_rng(seed).normal(size=(n, 1, 4, 4)), dtype="float64")


@pytest.mark.parametrize("loss", ["minimax", "wasserstein"])
def test_critic_losses_gradcheck_in_the_parameters_of_a_conv_critic(loss):
    critic, real, fake = tiny_conv_critic(), images64(0), images64(1)
    fn = minimax_discriminator_loss if loss == "minimax" else wasserstein_critic_loss

    def d_loss(*params):
        with parameters_replaced(critic, params):
            return fn(critic(real), critic(fake))
    params = [p for p in parameters_of(critic)]
    params = [sg.tensor(p.numpy(), dtype="float64", requires_grad=True) for p in params]
    assert sg.gradcheck(d_loss, params) and sg.gradgradcheck(d_loss, params)


def test_gradient_penalty_gradgradchecks_through_a_conv_critic():
    critic, real, fake = tiny_conv_critic(), images64(2), images64(3)
    eps = sg.tensor(np.array([0.1, 0.5, 0.9]).reshape(3, 1, 1, 1), dtype="float64")
    params = [sg.tensor(p.numpy(), dtype="float64", requires_grad=True)
              for p in parameters_of(critic)]

    def gp(*params):
        with parameters_replaced(critic, params):
            return gradient_penalty(critic, real, fake, eps=eps)
    # the Tanh layer makes the hidden biases matter too; the score's own bias
    # never changes the gradient
    assert_depends_on_all(gp, params[:-1])
    assert sg.gradcheck(gp, params)
    assert sg.gradgradcheck(gp, params)


def test_gradient_penalty_of_a_linear_critic_is_known():
    """D(x) = w . x + b has gradient w everywhere: GP = 10 (||w|| - 1)^2."""
    lin = nn.Linear(4, 1)
    real, fake = sg.randn(6, 4), sg.randn(6, 4)
    expected = 10 * (np.linalg.norm(lin.weight.numpy()) - 1) ** 2
    assert gradient_penalty(lin, real, fake).item() == pytest.approx(expected, rel=1e-4)


def test_interpolates_lie_between_real_and_fake_per_example():
    real, fake = sg.zeros(5, 1, 2, 2), sg.ones(5, 1, 2, 2)
    x = interpolates(real, fake).numpy()
    assert ((x >= 0) & (x <= 1)).all()
    assert all(np.unique(x[i]).size == 1 for i in range(5))  # one eps per example
    with pytest.raises(ValueError, match="same shape"):
        interpolates(sg.zeros(5, 2), sg.zeros(4, 2))


# --------------------------------------------------------------------------
# DCGAN
# --------------------------------------------------------------------------
@pytest.mark.parametrize("side, base", [(28, 7), (8, 2)])
def test_dcgan_shapes(side, base):
    model = DCGAN((1, side, side), latent_dim=100, channels=8)
    G, D = model.generator, model.discriminator
    assert G[0].weight.shape == (16 * base * base, 100)
    fake = G(sg.randn(3, 100))
    assert fake.shape == (3, 1, side, side) and np.abs(fake.numpy()).max() <= 1
    assert D(fake).shape == (3, 1)
    samples = model.eval().sample(4).numpy()
    assert samples.shape == (4, 1, side, side) and samples.min() >= 0 and samples.max() <= 1


def test_dcgan_follows_radford_et_al():
    model = DCGAN((1, 28, 28))
    D, G = model.discriminator, model.generator
    kinds = [type(m).__name__ for m in D]
    # no BatchNorm right after D's first convolution; one after the second
    assert kinds[:2] == ["Conv2d", "LeakyReLU"] and "BatchNorm2d" in kinds[2:]
    assert D[1].negative_slope == 0.2 and type(G[-1]).__name__ == "Tanh"
    weights = np.concatenate([m.weight.numpy().ravel() for m in model.modules()
                              if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))])
    assert abs(weights.std() - 0.02) < 1e-3 and abs(weights.mean()) < 1e-3
    assert all(np.all(m.bias.numpy() == 0) for m in model.modules() if hasattr(m, "bias")
               and m.bias is not None)
    opt = model.make_optimizers(2e-4)["generator"]
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)


def test_dcgan_step_scales_data_to_tanh_range_and_updates_both_networks(monkeypatch):
    model = DCGAN((1, 8, 8), latent_dim=4, channels=4)
    optimizers = model.make_optimizers(1e-2)
    before = {k: v.copy() for k, v in model.state_dict().items() if "running" not in k
              and "num_batches" not in k}
    seen = []
    judge = model.discriminator.forward
    monkeypatch.setattr(model.discriminator, "forward", lambda x: seen.append(x.numpy()) or judge(x))
    x = sg.rand(6, 1, 8, 8)
    losses = model.train_step((x, sg.tensor(np.zeros(6, np.int64))), optimizers)
    np.testing.assert_allclose(seen[0], 2 * x.numpy() - 1)
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    assert set(losses) == {"d_loss", "g_loss"} and all(np.isfinite([float(v) for v in losses.values()]))


def test_dcgan_rejects_odd_image_sizes():
    with pytest.raises(ValueError, match="multiple of 4"):
        DCGAN((1, 10, 10))


def test_the_benchmark_times_this_dcgan():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_models.py"
    import sys
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_models", path)
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(path.parent))
    model = DCGAN((1, 28, 28))
    for ours, theirs in [(model.generator, bench.generator(nn)),
                         (model.discriminator, bench.discriminator(nn))]:
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
            {k: v.shape for k, v in theirs.state_dict().items()}


# --------------------------------------------------------------------------
# WGAN-GP
# --------------------------------------------------------------------------
def test_wgan_gp_image_critic_has_no_batch_norm_and_paper_optimizer():
    model = WGANGP((1, 8, 8), latent_dim=10, channels=4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.critic.modules())
    assert model.critic(sg.randn(3, 1, 8, 8)).shape == (3, 1)
    opts = model.make_optimizers(1e-4)
    assert opts["critic"].param_groups[0]["betas"] == (0.0, 0.9)
    samples = model.sample(5).numpy()
    assert samples.shape == (5, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1


def test_wgan_gp_takes_n_critic_steps_each_on_its_own_slice(monkeypatch):
    model = WGANGP((2,), latent_dim=2, hidden=8, depth=1, n_critic=5)
    real = sg.randn(11, 2)
    seen, loss = [], WGANGP.critic_loss
    monkeypatch.setattr(WGANGP, "critic_loss",
                        lambda self, r, fake: seen.append(r.numpy().copy()) or loss(self, r, fake))
    optimizers = model.make_optimizers(1e-3)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    losses = model.train_step(real, optimizers)
    assert len(seen) == 5
    np.testing.assert_array_equal(np.concatenate(seen), real.numpy()[:10])
    # every weight moves; the score's bias cannot: E D(fake) - E D(real) and
    # the penalty do not depend on it
    changed = {k for k, v in model.state_dict().items() if not np.array_equal(before[k], v)}
    assert set(before) - changed == {"critic.2.bias"}
    assert set(losses) == {"critic_loss", "g_loss"}


def test_wgan_gp_critic_loss_is_the_wasserstein_gap_plus_the_penalty():
    model = WGANGP((2,), latent_dim=2, hidden=8, depth=1, pack=2)
    real, fake = sg.randn(6, 2), sg.randn(6, 2)
    sg.manual_seed(3)
    total = model.critic_loss(real, fake).item()
    sg.manual_seed(3)
    gap = wasserstein_critic_loss(model.score(real), model.score(fake)).item()
    gp = gradient_penalty(model.critic, real.reshape(3, 4), fake.reshape(3, 4)).item()
    assert model.score(real).shape == (3, 1)
    assert total == pytest.approx(gap + gp, rel=1e-5)


def test_a_short_wgan_gp_run_on_points_lowers_the_critic_loss():
    from scratchgen.data.registry import load_dataset
    from scratchgen.data import DataLoader
    sg.manual_seed(0)
    model = WGANGP((2,), latent_dim=2, hidden=32, depth=2)
    optimizers = model.make_optimizers(1e-3)
    data = load_dataset("ring8", "test").x
    history = [float(model.train_step(batch, optimizers)["critic_loss"])
               for batch in DataLoader(data, 250, shuffle=True, seed=0)]
    # the gap starts at about -GP weight (a flat critic: GP = 10) and the
    # critic learns to separate while keeping its gradient near 1
    assert history[0] > 5 and history[-1] < 1


# --------------------------------------------------------------------------
# Conditional GAN
# --------------------------------------------------------------------------
def test_conditional_gan_samples_the_labels_asked_for():
    model = ConditionalGAN((1, 8, 8), n_classes=10, latent_dim=8, channels=4).eval()
    assert model.sample(3, labels=[7, 7, 2]).shape == (3, 1, 8, 8)
    assert model.sample(12).shape == (12, 1, 8, 8)            # classes 0..9, 0, 1
    # the label changes the image (same noise)
    sg.manual_seed(0)
    a = model.sample(2, labels=[0, 0]).numpy()
    sg.manual_seed(0)
    b = model.sample(2, labels=[3, 3]).numpy()
    assert not np.allclose(a, b)


@pytest.mark.parametrize("labels, message", [([0, 10], "label 10 is out of range"),
                                             ([-1, 2], "label -1 is out of range"),
                                             ([0.5, 1.0], "integers"),
                                             ([1, 2, 3], "one label per sample")])
def test_conditional_gan_refuses_bad_labels(labels, message):
    model = ConditionalGAN((1, 8, 8), n_classes=10, latent_dim=8, channels=4)
    with pytest.raises(ValueError, match=message):
        model.sample(2, labels=labels)


@pytest.mark.parametrize("model", [DCGAN((1, 8, 8), channels=4), WGANGP((2,)), GAN()],
                         ids=["dcgan", "wgan-gp", "gan"])
def test_unconditional_models_refuse_labels(model):
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=[0, 1])


def test_projection_discriminator_formula():
    model = ConditionalGAN((1, 8, 8), n_classes=3, latent_dim=8, channels=4)
    x, y = sg.randn(4, 1, 8, 8), sg.tensor(np.array([0, 2, 1, 2]))
    h = model.features(x).numpy()
    expected = h @ model.head.weight.numpy().T + model.head.bias.numpy() \
        + (model.class_embedding.weight.numpy()[[0, 2, 1, 2]] * h).sum(1, keepdims=True)
    np.testing.assert_allclose(model.judge(x, y).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_conditional_gan_trains_on_labelled_batches_only():
    model = ConditionalGAN((1, 8, 8), n_classes=10, latent_dim=8, channels=4)
    optimizers = model.make_optimizers(2e-4)
    x, y = sg.rand(8, 1, 8, 8), sg.tensor(np.arange(8))
    before = {k: v.copy() for k, v in model.state_dict().items() if "running" not in k
              and "num_batches" not in k}
    assert set(model.train_step((x, y), optimizers)) == {"d_loss", "g_loss"}
    assert all(not np.array_equal(before[k], model.state_dict()[k]) for k in before)
    with pytest.raises(ValueError, match="labelled data"):
        model.train_step(x, optimizers)


def test_gan_can_train_with_the_minimax_loss():
    model = GAN(hidden=8, g_depth=1, d_depth=1, g_loss="minimax")
    fake = model.generate(6)
    logits = model.judge(fake).numpy()
    assert model.generator_loss(fake).item() == pytest.approx(-softplus(logits).mean(), rel=1e-5)
    with pytest.raises(ValueError, match="g_loss must be one of"):
        GAN(g_loss="hinge")
