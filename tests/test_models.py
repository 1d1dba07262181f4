"""The models: VAE bounds and sampling, GAN losses and packing, loading a run.

Losses are compared with the formulas in the module docstrings, computed by
hand in host NumPy, and gradient-checked in float64 as functions of every
parameter (and of the data), with the noise re-seeded inside the checked
function so that each evaluation draws the same samples.
"""
from contextlib import contextmanager

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import models
from scratchgen.runs import recipes, training
from scratchgen.data import DataLoader
from scratchgen.data.registry import Dataset, load_dataset
from scratchgen.models import GAN, VAE


def softplus(x):
    return np.logaddexp(0.0, x)


def log_normal(z, mu, logvar):
    """log N(z; mu, diag exp(logvar)), summed over the last axis."""
    return -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mu) ** 2 / np.exp(logvar), axis=-1)


def parameter_slots(model):
    """(module, name) of every parameter, in a fixed order."""
    return [(m, name) for m in model.modules() for name, p in m._parameters.items()
            if p is not None]


def parameters_of(model):
    return [m._parameters[name] for m, name in parameter_slots(model)]


def assert_depends_on_all(fn, inputs):
    """Guard against a vacuous gradcheck: every input must reach the output
    (a parameter the swap missed would have zero gradients, analytic and
    numeric alike)."""
    grads = sg.grad(fn(*inputs).sum(), list(inputs), allow_unused=True)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)


@contextmanager
def parameters_replaced(model, values):
    """Run the model with ``values`` (float64 tensors from sg.gradcheck) in
    place of its parameters, so a loss becomes a function of them."""
    slots = parameter_slots(model)
    saved = [m._parameters[name] for m, name in slots]
    for (m, name), value in zip(slots, values):
        m._parameters[name] = value
    try:
        yield
    finally:
        for (m, name), value in zip(slots, saved):
            m._parameters[name] = value


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


@pytest.fixture(scope="module")
def trained_vae(digits):
    """A VAE trained for a few epochs: its posterior approximation is
    imperfect enough that more importance samples clearly help."""
    sg.manual_seed(0)
    model = VAE(latent_dim=2, hidden=[32])
    optimizers = model.make_optimizers(1e-3)
    for _ in range(2):
        for batch in DataLoader(digits.x, 64, shuffle=True, drop_last=True, seed=0):
            model.train_step(batch, optimizers)
    return model.eval()


# --------------------------------------------------------------------------
# VAE
# --------------------------------------------------------------------------
def test_vae_shapes(digits):
    model = VAE(image_shape=(1, 8, 8), latent_dim=3, hidden=[16, 8])
    x = sg.tensor(digits.x[:5])
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.elbo(x).shape == (5,)
    assert model.iwae(x, 4).shape == (5,)
    assert model.loss(x).shape == ()
    images = model.decode(sg.randn(7, 3))
    assert images.shape == (7, 1, 8, 8)
    probs = images.numpy()
    assert probs.min() >= 0 and probs.max() <= 1
    samples = model.sample(6)
    assert samples.shape == (6, 1, 8, 8) and not samples.requires_grad
    # flat data works the same way
    flat = VAE(image_shape=(64,), latent_dim=2, hidden=[8])
    assert flat.elbo(sg.tensor(digits.x[:4].reshape(4, 64))).shape == (4,)
    assert flat.sample(3).shape == (3, 64)


def test_reparameterisation_is_mu_plus_sigma_eps():
    mu = sg.tensor(np.array([[0.5, -1.0], [2.0, 0.0]]))
    logvar = sg.tensor(np.array([[0.0, 1.0], [-2.0, 3.0]]))
    sg.manual_seed(3)
    z = VAE.reparameterize(mu, logvar).numpy()
    sg.manual_seed(3)
    eps = sg.randn(2, 2).numpy()
    expected = mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps
    np.testing.assert_allclose(z, expected, rtol=1e-6)
    assert not np.allclose(z, mu.numpy())


def test_reparameterisation_passes_gradients_to_the_encoder():
    mu = sg.tensor([[0.3, -0.2]], dtype="float64", requires_grad=True)
    logvar = sg.tensor([[0.1, -0.4]], dtype="float64", requires_grad=True)
    sg.manual_seed(1)
    VAE.reparameterize(mu, logvar).sum().backward()
    sg.manual_seed(1)
    eps = sg.randn(1, 2, dtype="float64").numpy()
    np.testing.assert_allclose(mu.grad.numpy(), np.ones((1, 2)))
    np.testing.assert_allclose(logvar.grad.numpy(), 0.5 * np.exp(0.5 * logvar.numpy()) * eps)


def test_elbo_and_iwae_equal_their_formulas(trained_vae, digits):
    """The bounds, recomputed in float64 NumPy from the same noise draws."""
    model, x = trained_vae, sg.tensor(digits.x[:6])
    x_flat = digits.x[:6].reshape(6, -1).astype(np.float64)
    mu, logvar = (t.numpy().astype(np.float64) for t in model.encode(x))

    def log_likelihood(z):
        logits = model.decoder_output(sg.tensor(z)).numpy().astype(np.float64)
        return -np.sum(softplus(logits) - x_flat * logits, axis=-1)

    sg.manual_seed(11)
    elbo = model.elbo(x).numpy()
    sg.manual_seed(11)
    z = mu + np.exp(0.5 * logvar) * sg.randn(*mu.shape).numpy()
    kl = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=-1)
    np.testing.assert_allclose(elbo, log_likelihood(z) - kl, rtol=1e-4, atol=1e-3)

    k = 3
    sg.manual_seed(12)
    iwae = model.iwae(x, k).numpy()
    sg.manual_seed(12)
    zs = [mu + np.exp(0.5 * logvar) * sg.randn(*mu.shape).numpy() for _ in range(k)]
    log_w = np.stack([log_likelihood(z) + log_normal(z, 0, 0) - log_normal(z, mu, logvar)
                      for z in zs])
    expected = np.logaddexp.reduce(log_w, axis=0) - np.log(k)
    np.testing.assert_allclose(iwae, expected, rtol=1e-4, atol=1e-3)


def test_iwae_rises_with_k_and_iwae_1_estimates_the_elbo(trained_vae):
    """E[IWAE_1] = ELBO and E[IWAE_k] rises with k (Burda et al.).  Each
    comparison is of means over 2,376 examples, against their standard error."""
    x = sg.tensor(np.repeat(load_dataset("digits", "test").x, 8, axis=0))
    with sg.no_grad():
        elbo = trained_vae.elbo(x).numpy()
        bound = {k: trained_vae.iwae(x, k).numpy() for k in (1, 4, 32)}

    def z_score(diff):
        return diff.mean() / (diff.std() / np.sqrt(len(diff)))

    assert abs(z_score(bound[1] - elbo)) < 4
    assert z_score(bound[4] - bound[1]) > 4
    assert z_score(bound[32] - bound[4]) > 4
    assert bound[32].mean() > elbo.mean()
    assert np.all(np.isfinite(bound[32])) and np.all(bound[32] < 0)   # log p(x) of binary-ish data


def test_vae_loss_gradcheck_float64():
    """The negative ELBO, in float64, as a function of the data and of every
    parameter; the reparameterised noise is re-seeded for each evaluation."""
    model = VAE(image_shape=(4,), latent_dim=2, hidden=[3])
    x = sg.tensor(np.random.default_rng(0).random((3, 4)), dtype="float64", requires_grad=True)

    def loss(x, *params):
        with parameters_replaced(model, params):
            sg.manual_seed(5)
            return model.loss(x)
    inputs = [x, *parameters_of(model)]
    assert_depends_on_all(loss, inputs)
    assert sg.gradcheck(loss, inputs)


def test_vae_float64_parameters_give_float64_bounds():
    model = VAE(image_shape=(4,), latent_dim=2, hidden=[3])
    for p in model.parameters():
        p.data = p.data.astype(sg.backend.xp.float64)
    x = sg.tensor(np.full((2, 4), 0.5), dtype="float64")
    assert model.elbo(x).dtype == np.float64
    assert model.iwae(x, 2).dtype == np.float64


# --------------------------------------------------------------------------
# GAN
# --------------------------------------------------------------------------
def test_gan_losses_equal_the_softplus_formulas():
    model = GAN(data_shape=(2,), latent_dim=2, hidden=8, g_depth=2, d_depth=2)
    real = sg.tensor(np.random.default_rng(0).normal(size=(6, 2)))
    fake = model.generate(6)
    d_real, d_fake = model.judge(real).numpy(), model.judge(fake).numpy()
    assert d_real.shape == (6, 1)
    np.testing.assert_allclose(model.discriminator_loss(real, fake).item(),
                               softplus(-d_real).mean() + softplus(d_fake).mean(), rtol=1e-5)
    np.testing.assert_allclose(model.generator_loss(fake).item(), softplus(-d_fake).mean(),
                               rtol=1e-5)


def test_gan_losses_gradcheck_float64():
    model = GAN(data_shape=(2,), latent_dim=2, hidden=3, g_depth=1, d_depth=1, pack=2)
    real = sg.tensor(np.random.default_rng(1).normal(size=(4, 2)), dtype="float64",
                     requires_grad=True)
    fake = sg.tensor(np.random.default_rng(2).normal(size=(4, 2)), dtype="float64",
                     requires_grad=True)

    def d_loss(real, fake, *params):
        with parameters_replaced(model.discriminator, params):
            return model.discriminator_loss(real, fake)
    inputs = [real, fake, *parameters_of(model.discriminator)]
    assert_depends_on_all(d_loss, inputs)
    assert sg.gradcheck(d_loss, inputs)

    def g_loss(*params):   # through G and D: fake = G(z), the same z each time
        with parameters_replaced(model, params):
            sg.manual_seed(9)
            return model.generator_loss(model.generate(4))
    assert_depends_on_all(g_loss, parameters_of(model))
    assert sg.gradcheck(g_loss, parameters_of(model))


def test_packing_doubles_the_discriminator_input_and_trims_odd_batches(monkeypatch):
    model = GAN(data_shape=(2,), latent_dim=2, hidden=8, g_depth=1, d_depth=1, pack=2)
    first = model.discriminator[0]
    assert first.weight.shape == (8, 4)      # PyTorch layout (out, in): in = 2 * data dim
    assert model.judge(sg.randn(6, 2)).shape == (3, 1)

    seen = []
    loss = GAN.discriminator_loss
    monkeypatch.setattr(GAN, "discriminator_loss",
                        lambda self, real, fake: seen.append((real.shape, fake.shape))
                        or loss(self, real, fake))
    losses = model.train_step(sg.randn(7, 2), model.make_optimizers(1e-3))
    assert seen == [((6, 2), (6, 2))]
    assert set(losses) == {"d_loss", "g_loss"} and all(np.isfinite(float(v)) for v in losses.values())


def test_train_step_updates_each_network_with_its_own_optimizer():
    model = GAN(data_shape=(2,), latent_dim=2, hidden=8, g_depth=1, d_depth=1)
    optimizers = model.make_optimizers(1e-2)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.train_step(sg.randn(8, 2), optimizers)
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    assert optimizers["discriminator"].param_groups[0]["betas"] == (0.5, 0.999)


def test_gan_on_digit_images_samples_in_the_unit_interval(digits):
    model = GAN(data_shape=(1, 8, 8), latent_dim=4, hidden=16, g_depth=1, d_depth=1)
    samples = model.sample(10)
    assert samples.shape == (10, 1, 8, 8) and not samples.requires_grad
    values = samples.numpy()
    assert values.min() >= 0 and values.max() <= 1
    losses = model.train_step(sg.tensor(digits.x[:16]), model.make_optimizers(1e-3))
    assert all(np.isfinite(float(v)) for v in losses.values())


def test_a_short_gan_training_moves_samples_toward_the_ring():
    """200 steps of a small packed GAN: the losses stay finite and the
    samples' mean distance to the unit circle (where the 8 modes lie) shrinks."""
    ring = load_dataset("ring8", "train")

    def distance_to_circle(points):
        return np.abs(np.linalg.norm(points, axis=1) - 1).mean()

    model = GAN(data_shape=(2,), latent_dim=2, hidden=32, g_depth=2, d_depth=2, pack=2)
    optimizers = model.make_optimizers(3e-3)
    start = distance_to_circle(model.sample(1000).numpy())
    loader = DataLoader(ring.x, 128, shuffle=True, drop_last=True, seed=0)
    for _, batch in zip(range(200), loader):
        losses = model.train_step(batch, optimizers)
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert distance_to_circle(model.sample(1000).numpy()) < 0.8 * start


# --------------------------------------------------------------------------
# Loading a run
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vae", "gan"])
def test_load_returns_the_trained_model_in_eval_mode(tmp_path, digits, name):
    dataset = Dataset(digits.x[:64], digits.y[:64])
    args = recipes.RECIPES[name]["args"](dataset)
    args["hidden"] = [8] if name == "vae" else 8
    config = training.RunConfig(model=name, data="digits", epochs=1, batch_size=16, lr=1e-2,
                                model_args=args)
    run = training.start(config, tmp_path / "run", dataset=dataset)
    run.fit(progress=False)

    loaded = models.load(run.dir)
    assert type(loaded) is type(run.model) and not loaded.training
    for (k, a), (k2, b) in zip(run.model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and np.array_equal(a, b)
    sg.manual_seed(4)
    ours = run.model.sample(5).numpy()
    sg.manual_seed(4)
    np.testing.assert_array_equal(loaded.sample(5).numpy(), ours)
    if name == "vae":
        x = sg.tensor(digits.x[:5])
        np.testing.assert_array_equal(loaded.encode(x)[0].numpy(), run.model.encode(x)[0].numpy())


def test_load_without_a_checkpoint_or_with_an_unknown_model(tmp_path):
    config = training.RunConfig(model="vae", data="digits", epochs=1, batch_size=16, lr=1e-3)
    training.start(config, tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="checkpoint.npz"):
        models.load(tmp_path / "run")
    config_path = tmp_path / "run" / training.CONFIG
    config_path.write_text(config_path.read_text().replace('"vae"', '"flow"'))
    with pytest.raises(ValueError, match="unknown model 'flow'"):
        models.load(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        models.load(tmp_path / "nothing")


def test_vae_recipes_by_kind_of_data():
    """Points get the Gaussian decoder; the conv and conditional VAEs refuse them."""
    ring8 = load_dataset("ring8", "test")
    assert recipes.RECIPES["vae"]["args"](ring8)["likelihood"] == "gaussian"
    with pytest.raises(ValueError, match="for images"):
        recipes.RECIPES["convvae"]["args"](ring8)
    with pytest.raises(ValueError, match="labelled images"):
        recipes.RECIPES["cvae"]["args"](ring8)
    assert recipes.RECIPES["cvae"]["args"](load_dataset("digits", "test"))["n_classes"] == 10


def test_a_data_set_named_in_a_recipe_overrides_its_kind():
    """ring8 and grid25 train the GAN longer than other points; the moons use
    the recipe for points, the digits their own, Fashion-MNIST the images'."""
    settings = recipes.RECIPES["gan"]["settings"]
    for data in ("ring8", "grid25", "digits"):
        assert recipes.training_settings("gan", data, is_image=data == "digits") == settings[data]
    assert recipes.training_settings("gan", "two_moons", is_image=False) == settings["points"]
    assert recipes.training_settings("gan", "fashion", is_image=True) == settings["images"]
    assert settings["grid25"]["epochs"] > settings["ring8"]["epochs"] > settings["points"]["epochs"]


def test_a_data_set_named_in_a_recipe_changes_the_model_arguments():
    """The GAN packs pairs on ring8 and grid25; the kind's arguments hold elsewhere."""
    ring8, grid25 = load_dataset("ring8", "test"), load_dataset("grid25", "test")
    kind_args = recipes.RECIPES["gan"]["args"](ring8)
    assert kind_args.get("pack", 1) == 1
    for data, dataset in (("ring8", ring8), ("grid25", grid25)):
        assert recipes.run_config("gan", data, dataset).model_args == \
            {**recipes.RECIPES["gan"]["args"](dataset), "pack": 2}
    assert recipes.model_args("gan", "two_moons", ring8) == kind_args
    assert recipes.model_args("vae", "ring8", ring8) == recipes.RECIPES["vae"]["args"](ring8)


def test_several_discriminator_steps_each_take_their_own_slice(monkeypatch):
    model = GAN(data_shape=(2,), latent_dim=2, hidden=8, g_depth=1, d_depth=1, d_steps=2)
    real = sg.randn(9, 2)
    seen = []
    loss = GAN.discriminator_loss
    monkeypatch.setattr(GAN, "discriminator_loss",
                        lambda self, r, fake: seen.append(r.numpy().copy()) or loss(self, r, fake))
    model.train_step(real, model.make_optimizers(1e-3))
    np.testing.assert_array_equal(np.concatenate(seen), real.numpy()[:8])
    with pytest.raises(ValueError, match="too small"):
        GAN(data_shape=(2,), d_steps=4, pack=2).train_step(sg.randn(6, 2), model.make_optimizers(1e-3))
