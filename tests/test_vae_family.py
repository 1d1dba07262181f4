"""The VAE family: conv, conditional, beta, Gaussian decoder, and the things
implementations most often get wrong.

* the reparameterised sample has variance exp(logvar), not logvar or
  exp(logvar / 2);
* the closed-form KL equals its definition E_q[log q - log p], estimated
  by Monte Carlo, within the estimate's standard error;
* ELBO <= IWAE_k <= IWAE_k' (k < k') on a trained model, in the mean;
* the bounds are nats per example (not bits, not per pixel, not per batch);
* the whole objective's gradient, through convolutions, transposed
  convolutions, labels and the sampling step, equals finite differences.
"""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import functional as F
from scratchgen.data import DataLoader
from scratchgen.data.registry import load_dataset
from scratchgen.models.conv_vae import ConditionalVAE, ConvVAE
from scratchgen.models.vae import LOGVAR_MIN, VAE, Gaussian, reparameterize, with_label

from test_models import assert_depends_on_all, parameters_of, parameters_replaced


def z_score(diff):
    """Mean of ``diff`` in units of its standard error."""
    return diff.mean() / (diff.std() / np.sqrt(len(diff)))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


def _trained(model, digits, epochs=4):
    optimizers = model.make_optimizers(3e-3)
    for _ in range(epochs):
        for batch in DataLoader((digits.x, digits.y), 64, shuffle=True, drop_last=True, seed=0):
            model.train_step(batch, optimizers)
    return model.eval()


@pytest.fixture(scope="module")
def small_conv_vae(digits):
    """A small conv VAE on binarised digits (pixel > 0.5), latent 8, trained
    with beta = 0.3.  At beta = 1 this small model first learns the mean
    digit and leaves z unused for many epochs (posterior collapse, KL ~ 0);
    a posterior equal to the prior makes every bound the same number."""
    sg.manual_seed(0)
    binary = digits._replace(x=(digits.x > 0.5).astype(np.float32))
    model = ConvVAE((1, 8, 8), latent_dim=8, channels=(8, 16), hidden=32, beta=0.3)
    return _trained(model, binary)


@pytest.fixture(scope="module")
def small_cvae(digits):
    sg.manual_seed(0)
    return _trained(ConditionalVAE((1, 8, 8), latent_dim=2, channels=(8, 16), hidden=32), digits)


# --------------------------------------------------------------------------
# The terms
# --------------------------------------------------------------------------
def test_reparameterised_sample_has_mean_mu_and_variance_exp_logvar():
    mu = sg.tensor(np.array([[0.5, -2.0, 0.0]]), dtype="float64")
    logvar = sg.tensor(np.array([[0.0, 1.5, -3.0]]), dtype="float64")
    n = 200_000
    sg.manual_seed(0)
    z = reparameterize(F.concatenate([mu] * n, axis=0), F.concatenate([logvar] * n, axis=0))
    z = z.numpy()
    var = np.exp(logvar.numpy()[0])
    # standard errors: of the mean sqrt(var / n), of the variance var sqrt(2 / n)
    np.testing.assert_array_less(np.abs(z.mean(0) - mu.numpy()[0]), 5 * np.sqrt(var / n))
    np.testing.assert_array_less(np.abs(z.var(0) - var), 5 * var * np.sqrt(2 / n))


def test_closed_form_kl_equals_monte_carlo_within_its_standard_error():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from samples of q,
    with log q and log p from ``F.gaussian_nll`` (an independent formula)."""
    mu = sg.tensor(np.array([[0.0, 0.0], [1.0, -0.5], [2.0, 0.3], [-0.3, 0.1]]), dtype="float64")
    logvar = sg.tensor(np.array([[0.0, 0.0], [-1.0, 0.5], [-3.0, 1.0], [2.0, -2.0]]),
                       dtype="float64")
    n = 50_000
    sg.manual_seed(1)
    mus, logvars = F.concatenate([mu] * n, axis=0), F.concatenate([logvar] * n, axis=0)
    z = reparameterize(mus, logvars)
    log_q = -F.gaussian_nll(z, mus, logvars, reduction="none").numpy().reshape(n, 4)
    log_p = -F.gaussian_nll(z, z * 0, z * 0, reduction="none").numpy().reshape(n, 4)
    estimate, se = (log_q - log_p).mean(0), (log_q - log_p).std(0) / math.sqrt(n)
    closed = F.gaussian_kl(mu, logvar, reduction="none").numpy()
    assert closed[0] == 0.0 and np.all(closed[1:] > 0)
    np.testing.assert_array_less(np.abs(closed - estimate), 4 * se + 1e-12)


def test_bounds_are_nats_per_example():
    """A model with every weight 0 has q = p = N(0, I) and decoder logits 0,
    so for binary x each pixel costs log 2 nats and the KL is 0:
    ELBO = IWAE_k = -D log 2 exactly, per example, whatever the batch."""
    for model in (VAE((1, 8, 8), latent_dim=3, hidden=[5]),
                  ConvVAE((1, 8, 8), latent_dim=3, channels=(2, 4), hidden=5)):
        for p in model.parameters():
            p.data[...] = 0
        x = sg.tensor((np.random.default_rng(0).random((7, 1, 8, 8)) > 0.5).astype(np.float32))
        expected = -64 * math.log(2)
        for bound in (model.elbo(x), model.iwae(x, 5)):
            assert bound.shape == (7,)
            np.testing.assert_allclose(bound.numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(model.loss(x).item(), -expected, rtol=1e-6)


def test_bounds_of_a_batch_are_those_of_its_examples(small_conv_vae, digits):
    x = sg.tensor(digits.x[:6])
    sg.manual_seed(3)
    together = small_conv_vae.iwae(x, 4).numpy()
    sg.manual_seed(3)
    draws = [sg.randn(6, 8).numpy() for _ in range(4)]  # the same eps, row by row
    mu, logvar = (t.numpy() for t in small_conv_vae.encode(x))
    log_w = []
    for eps in draws:
        z = mu + np.exp(0.5 * logvar) * eps
        logits = small_conv_vae.decoder_output(sg.tensor(z)).numpy().astype(np.float64)
        x_flat = digits.x[:6].reshape(6, -1)
        log_px_z = -np.sum(np.logaddexp(0, logits) - x_flat * logits, axis=1)
        log_p = -0.5 * np.sum(np.log(2 * np.pi) + z ** 2, axis=1)
        log_q = -0.5 * np.sum(np.log(2 * np.pi) + logvar + eps ** 2, axis=1)
        log_w.append(log_px_z + log_p - log_q)
    expected = np.logaddexp.reduce(np.array(log_w), axis=0) - np.log(4)
    np.testing.assert_allclose(together, expected, rtol=1e-4, atol=1e-3)


def test_iwae_is_monotone_in_k_on_a_trained_conv_vae(small_conv_vae):
    """ELBO <= IWAE_4 <= IWAE_16 <= IWAE_64 in the mean over 2,376 binarised
    test digits, each step against its standard error.  Only the means are
    ordered, not every example; each bound starts from the same seed, so
    IWAE_k's draws are the first k of IWAE_k''s, which takes most of the
    noise out of the differences."""
    x = sg.tensor(np.repeat(load_dataset("digits", "test").x > 0.5, 8, axis=0), dtype="float32")
    bounds = []
    with sg.no_grad():
        for k in (None, 4, 16, 64):
            sg.manual_seed(7)
            bounds.append(small_conv_vae.elbo(x).numpy() if k is None
                          else small_conv_vae.iwae(x, k).numpy())
    for lower, upper in zip(bounds, bounds[1:]):
        assert upper.mean() >= lower.mean()
        assert z_score(upper - lower) > 3
    assert np.all(np.isfinite(bounds[-1]))


# --------------------------------------------------------------------------
# Gradients end to end
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [0, 3])
def test_conv_vae_objective_gradcheck_float64(n_classes):
    """-ELBO (beta = 2) of a tiny conv VAE, in float64, as a function of the
    data and every parameter (conv, transposed conv, dense, label inputs);
    the noise is re-seeded in each evaluation."""
    model = ConvVAE((1, 4, 4), latent_dim=2, channels=(2, 3), hidden=4, beta=2.0,
                    n_classes=n_classes)
    x = sg.tensor(np.random.default_rng(0).random((3, 1, 4, 4)), dtype="float64",
                  requires_grad=True)
    labels = np.array([0, 2, 1]) if n_classes else None

    def loss(x, *params):
        with parameters_replaced(model, params):
            sg.manual_seed(5)
            return model.loss(x, labels)
    inputs = [x, *parameters_of(model)]
    assert_depends_on_all(loss, inputs)
    assert sg.gradcheck(loss, inputs)


def test_gaussian_decoder_gradcheck_float64():
    model = VAE((2,), latent_dim=2, hidden=[3], likelihood="gaussian")
    x = sg.tensor(np.random.default_rng(1).normal(size=(4, 2)), dtype="float64")

    def loss(*params):
        with parameters_replaced(model, params):
            sg.manual_seed(6)
            return model.loss(x)
    assert_depends_on_all(loss, parameters_of(model))
    assert sg.gradcheck(loss, parameters_of(model))


# --------------------------------------------------------------------------
# beta, the Gaussian decoder, the networks
# --------------------------------------------------------------------------
def test_beta_weighs_the_kl_in_the_loss_only(digits):
    x = sg.tensor(digits.x[:8])
    sg.manual_seed(0)
    model = ConvVAE((1, 8, 8), latent_dim=2, channels=(4, 8), hidden=8, beta=4.0)
    sg.manual_seed(2)
    log_px_z, kl = (t.numpy() for t in model._elbo_terms(x, None))
    sg.manual_seed(2)
    np.testing.assert_allclose(model.loss(x).item(), (4.0 * kl - log_px_z).mean(), rtol=1e-5)
    sg.manual_seed(2)
    np.testing.assert_allclose(model.elbo(x).numpy(), log_px_z - kl, rtol=1e-5)
    with pytest.raises(ValueError, match="beta"):
        VAE(beta=-1)


def test_gaussian_decoder_log_prob_and_variance_floor():
    rng = np.random.default_rng(0)
    mean, s, x = rng.normal(size=(3, 5, 2))
    s[0] = -1e4                                   # asks for a variance of exp(-1e4)
    out = sg.tensor(np.concatenate([mean, s], axis=1), dtype="float64")
    gaussian = Gaussian()
    _, logvar = gaussian.split(out)
    expected_logvar = LOGVAR_MIN + np.logaddexp(0, s - LOGVAR_MIN)
    np.testing.assert_allclose(logvar.numpy(), expected_logvar, rtol=1e-12)
    assert logvar.numpy().min() >= LOGVAR_MIN
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + expected_logvar
                          + (x - mean) ** 2 / np.exp(expected_logvar), axis=1)
    np.testing.assert_allclose(gaussian.log_prob(out, sg.tensor(x, dtype="float64")).numpy(),
                               log_p, rtol=1e-10)


@pytest.mark.slow
def test_vae_on_points_learns_the_two_moons():
    """200 steps on two_moons: the test ELBO rises well above the
    untrained model's, and samples (noise included) land near the data."""
    train, test = load_dataset("two_moons", "train"), load_dataset("two_moons", "test")
    sg.manual_seed(0)
    model = VAE((2,), latent_dim=2, hidden=[64, 64], likelihood="gaussian")
    x_test = sg.tensor(test.x[:1000])
    with sg.no_grad():
        before = model.elbo(x_test).numpy().mean()
    optimizers = model.make_optimizers(3e-3)
    for _, batch in zip(range(200), DataLoader(train.x, 256, shuffle=True, seed=0)):
        model.train_step(batch, optimizers)
    with sg.no_grad():
        after = model.elbo(x_test).numpy().mean()
    assert after > before + 0.5
    samples = model.sample(500).numpy()
    nearest = np.sqrt(((samples[:, None] - test.x[None, :2000]) ** 2).sum(-1)).min(1)
    assert np.median(nearest) < 0.12


def test_conv_vae_sizes_and_errors():
    for side in (8, 28):
        model = ConvVAE((1, side, side), latent_dim=3)
        x = sg.rand(2, 1, side, side)
        assert [t.shape for t in model.encode(x)] == [(2, 3), (2, 3)]
        assert model.decode(sg.randn(4, 3)).shape == (4, 1, side, side)
        assert model.sample(5).shape == (5, 1, side, side)
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvVAE((1, 10, 10))
    with pytest.raises(ValueError, match="likelihood"):
        ConvVAE(likelihood="poisson")


def test_mlp_vae_keeps_its_parameter_names():
    """Run folders and lesson 08 name the MLP VAE's weights this way."""
    assert list(VAE(hidden=[16]).state_dict()) == [
        f"{net}.{i}.{kind}" for net in ("encoder", "decoder") for i in (0, 2)
        for kind in ("weight", "bias")]


# --------------------------------------------------------------------------
# Conditioning
# --------------------------------------------------------------------------
def test_conditional_sampling_reconstruction_and_swapping(small_cvae, digits):
    model = small_cvae
    sg.manual_seed(0)
    assert model.sample(6, labels=3).shape == (6, 1, 8, 8)
    x, y = sg.tensor(digits.x[:5]), digits.y[:5]
    same = model.reconstruct(x, y).numpy()
    swapped = model.reconstruct(x, y, as_labels=(y + 1) % 10).numpy()
    assert same.shape == swapped.shape == (5, 1, 8, 8)
    assert np.abs(same - swapped).mean() > 0.02  # the label changes the picture
    # the default labels of sample(): the classes in turn
    sg.manual_seed(1)
    default = model.sample(12).numpy()
    sg.manual_seed(1)
    np.testing.assert_array_equal(default, model.sample(12, labels=np.arange(12) % 10).numpy())


def test_label_planes_are_one_hot():
    one_hot = sg.tensor(np.eye(3, dtype=np.float32)[[2, 0]])
    h = sg.tensor(np.zeros((2, 4, 5, 5), np.float32))
    planes = with_label(h, one_hot).numpy()[:, 4:]
    assert planes.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(planes.mean(axis=(2, 3)), one_hot.numpy())
    assert with_label(h, None) is h
    assert with_label(sg.tensor(np.zeros((2, 4), np.float32)), one_hot).shape == (2, 7)


def test_the_label_reaches_every_convolution():
    """Each convolution of both networks takes the 10 label planes; with the
    label cut from the dense layers the decoder still draws by class, and
    with it cut from the convolutions too it no longer can."""
    sg.manual_seed(0)
    model = ConditionalVAE((1, 8, 8), latent_dim=2, channels=(4, 8), hidden=8)
    convs = [m for m in (*model.features, *model.decoder)
             if isinstance(m, (sg.nn.Conv2d, sg.nn.ConvTranspose2d))]
    assert [m.in_channels for m in convs] == [1 + 10, 4 + 10, 8 + 10, 4 + 10]
    for dense in (model.encoder[0], model.decoder[0]):
        dense.weight.data[:, -10:] = 0
    z = sg.randn(3, 2)

    def drawn(label):
        return model.decode(z, np.full(3, label)).numpy()

    assert np.abs(drawn(1) - drawn(7)).max() > 1e-3
    for m in convs:  # Conv2d weight (out, in, ...), ConvTranspose2d (in, out, ...)
        planes = m.weight.data[:, -10:] if isinstance(m, sg.nn.Conv2d) else m.weight.data[-10:]
        planes[...] = 0
    np.testing.assert_array_equal(drawn(1), drawn(7))


def test_labels_are_checked(small_cvae, small_conv_vae, digits):
    x = sg.tensor(digits.x[:3])
    with pytest.raises(ValueError, match="pass labels="):
        small_cvae.elbo(x)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        small_cvae.elbo(x, np.array([0, 1, 10]))
    with pytest.raises(ValueError, match="3 integer class indices"):
        small_cvae.elbo(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="unconditional"):
        small_conv_vae.elbo(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="n_classes >= 1"):
        ConditionalVAE(n_classes=0)


def test_conditional_training_step_uses_the_labels(digits):
    sg.manual_seed(0)
    model = ConditionalVAE((1, 8, 8), latent_dim=2, channels=(4, 8), hidden=8)
    seen = []
    encode = model.encode
    model.encode = lambda x, labels=None: seen.append(labels) or encode(x, labels)
    batch = (sg.tensor(digits.x[:4]), sg.tensor(digits.y[:4]))
    losses = model.train_step(batch, model.make_optimizers(1e-3))
    assert set(losses) == {"loss", "kl"} and all(np.isfinite(float(v)) for v in losses.values())
    np.testing.assert_array_equal(seen[0].numpy(), digits.y[:4])
