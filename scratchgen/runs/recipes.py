"""Training recipes: the defaults that ``scratchgen train MODEL`` uses.

Per model: its default data set, its constructor arguments for a data set,
and its training settings per data set (or per kind: "points", "images"),
chosen so that a run gives good results within minutes on two CPU cores.
The models themselves (``scratchgen.models``) know nothing of these: a
recipe is an experiment, kept apart from the model it trains.
"""
from __future__ import annotations


def _gan_args(dataset):
    if dataset.is_image:
        # dropout in D and a late lr decay: without them D memorises the 1,500
        # digits and G collapses (recall 0); with them recall 0.9 (README)
        return {"data_shape": list(dataset.shape), "latent_dim": 32,
                "hidden": 256 if dataset.shape[-1] == 8 else 512, "g_depth": 3, "d_dropout": 0.3}
    # 2 D steps per G step and a late lr decay (README: mode coverage over seeds)
    return {"data_shape": list(dataset.shape), "latent_dim": 2, "hidden": 256, "g_depth": 3,
            "d_depth": 2, "d_steps": 2}


def _dcgan_args(dataset):
    # Radford et al.: z of 100; 64 feature maps at the widest layer of each net
    return {"image_shape": list(dataset.shape), "latent_dim": 100, "channels": 64}


def _wgan_gp_args(dataset):
    if dataset.is_image:
        return {"data_shape": list(dataset.shape), "latent_dim": 100, "channels": 64}
    return {"data_shape": list(dataset.shape), "latent_dim": 2, "hidden": 256, "depth": 3}


def _cgan_args(dataset):
    if dataset.y is None:
        raise ValueError("the conditional GAN needs labelled images; use digits, mnist or fashion")
    return {"image_shape": list(dataset.shape), "n_classes": int(dataset.y.max()) + 1,
            "latent_dim": 100, "channels": 64}


def _vae_args(dataset):
    if not dataset.is_image:
        # a Gaussian decoder with learned variance for points (models/vae.py),
        # a 2-D latent like the GAN's noise: lesson 14 sets the two side by side
        return {"image_shape": list(dataset.shape), "latent_dim": 2, "hidden": [256, 256],
                "likelihood": "gaussian"}
    return {"image_shape": list(dataset.shape), "latent_dim": 2 if dataset.shape[-1] == 8 else 20,
            "hidden": [256] if dataset.shape[-1] == 8 else [400]}


def _convvae_args(dataset):
    if not dataset.is_image:
        raise ValueError("the conv VAE is for images (digits, mnist, fashion); "
                         "`scratchgen train vae` models 2-D points")
    # 8 latent dimensions on the 8x8 digits (lesson 12), 20 on 28x28 as the MLP VAE
    return {"image_shape": list(dataset.shape), "latent_dim": 8 if dataset.shape[-1] == 8 else 20}


def _cvae_args(dataset):
    if dataset.y is None:
        raise ValueError("the conditional VAE needs labelled images; use digits, mnist or fashion")
    # the label carries the class, so z needs fewer dimensions: 4 on the digits (lesson 13)
    return {**_convvae_args(dataset), "latent_dim": 4 if dataset.shape[-1] == 8 else 20,
            "n_classes": int(dataset.y.max()) + 1}


def _made_args(dataset):
    if not dataset.is_image:
        raise ValueError("MADE models binary images; use an image data set (digits, mnist, "
                         "fashion), binarised as it trains")
    # one hidden layer of 500, the paper's MNIST size
    return {"data_shape": list(dataset.shape), "hidden": [500]}


def _charlm_args(dataset):
    """nanoGPT's CPU configuration for shakespeare_char (its README): val
    loss about 1.88 nats after 2,000 iterations; the vocabulary is added
    from the text by :func:`scratchgen.runs.text_training.start`."""
    return {"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0,
            "bias": False}


#: the GAN on 2-D points: batch 512, lr 5e-4 decaying linearly to 0 over the last half
_GAN_POINTS = {"epochs": 44, "batch_size": 512, "lr": 5e-4, "lr_decay": 0.5}

#: per model: its default data set, its constructor arguments for a data
#: set (and, under "data_args", what a data set named there changes in
#: them), and training settings per data set (or per kind: "points", "images")
RECIPES = {
    # coverage comes early, precision late: at 44 epochs ring8's modes are
    # found but 3-4% of samples lie between them, and grid25's half; the
    # long decays of ring8 and grid25 let G settle inside the 3-std circles
    # (lessons 07 and 09, benchmarks/bench_mode_coverage.py)
    # on ring8 and grid25 D also sees the samples in pairs (PacGAN2): without,
    # one ring8 seed in ten lost a mode and grid25's islands came out uneven,
    # four of them nearly empty on seed 0 (benchmarks/README.md)
    "gan": {"data": "ring8", "args": _gan_args,
            "data_args": {"ring8": {"pack": 2}, "grid25": {"pack": 2}},
            "settings": {"ring8": {**_GAN_POINTS, "epochs": 300},
                         "grid25": {**_GAN_POINTS, "epochs": 400},
                         "points": _GAN_POINTS,
                         "digits": {"epochs": 600, "batch_size": 64, "lr": 5e-4, "lr_decay": 0.5},
                         "images": {"epochs": 30, "batch_size": 128, "lr": 2e-4, "lr_decay": 0.5}}},
    # Radford et al.: Adam 2e-4, batch 64; 10 epochs of Fashion-MNIST, 100 of
    # the 1,500 digits (2,300 steps)
    "dcgan": {"data": "fashion", "args": _dcgan_args,
              "settings": {"digits": {"epochs": 100, "batch_size": 64, "lr": 2e-4},
                           "images": {"epochs": 10, "batch_size": 64, "lr": 2e-4}}},
    # Gulrajani et al.: Adam 1e-4, betas (0, 0.9); a batch holds the n_critic = 5
    # critic batches of one generator step (5 x 64 images)
    "wgan-gp": {"data": "grid25", "args": _wgan_gp_args,
                "settings": {"points": {"epochs": 100, "batch_size": 1280, "lr": 5e-4,
                                        "lr_decay": 0.5},
                             "digits": {"epochs": 400, "batch_size": 320, "lr": 1e-4},
                             "images": {"epochs": 10, "batch_size": 320, "lr": 1e-4}}},
    "cgan": {"data": "fashion", "args": _cgan_args,
             "settings": {"digits": {"epochs": 100, "batch_size": 64, "lr": 2e-4},
                          "images": {"epochs": 10, "batch_size": 64, "lr": 2e-4}}},
    "vae": {"data": "digits", "args": _vae_args,
            "settings": {"points": {"epochs": 44, "batch_size": 512, "lr": 1e-3, "lr_decay": 0.5},
                         "digits": {"epochs": 100, "batch_size": 64, "lr": 1e-3},
                         "images": {"epochs": 20, "batch_size": 128, "lr": 1e-3}}},
    # lessons 12 and 13: 80 epochs of the digits; 10 of Fashion-MNIST, as benchmarks/bench_vae.py
    "convvae": {"data": "digits", "args": _convvae_args,
                "settings": {"digits": {"epochs": 80, "batch_size": 64, "lr": 1e-3},
                             "images": {"epochs": 10, "batch_size": 128, "lr": 1e-3}}},
    "cvae": {"data": "digits", "args": _cvae_args,
             "settings": {"digits": {"epochs": 80, "batch_size": 64, "lr": 1e-3},
                          "images": {"epochs": 10, "batch_size": 128, "lr": 1e-3}}},
    # dynamic binarisation in every step (MADE.train_step)
    "made": {"data": "digits", "args": _made_args,
             "settings": {"digits": {"epochs": 150, "batch_size": 100, "lr": 1e-3},
                          "images": {"epochs": 20, "batch_size": 100, "lr": 1e-3}}},
    # iterations, not epochs: scratchgen.runs.text_training (TextRunConfig's
    # defaults are nanoGPT's: 2,000 iterations of 12 windows, AdamW 1e-3 with
    # 100 warm-up steps and cosine decay to 1e-4, weight decay 0.1, clip 1.0)
    "charlm": {"data": "shakespeare", "args": _charlm_args, "settings": {}},
}


def training_settings(model: str, data: str, is_image: bool) -> dict:
    """The default epochs, batch size and learning rate for ``model`` on ``data``."""
    settings = RECIPES[model]["settings"]
    found = settings.get(data) or settings.get("images" if is_image else "points")
    if found is None:
        kind = "images" if is_image else "2-D points"
        raise ValueError(f"{model} does not train on {kind}; try --data {RECIPES[model]['data']}")
    return dict(found)


def model_args(model: str, data: str, dataset) -> dict:
    """The constructor arguments of ``model`` for ``data``: the recipe's
    arguments for the data set's kind and shape, then those named for ``data``."""
    recipe = RECIPES[model]
    return {**recipe["args"](dataset), **recipe.get("data_args", {}).get(data, {})}


def run_config(model: str, data: str, dataset, seed: int = 0, **overrides):
    """The :class:`~scratchgen.runs.training.RunConfig` that ``scratchgen
    train MODEL --data DATA`` starts: the recipe's constructor arguments for
    ``dataset`` and its settings, with ``overrides`` (epochs, batch_size, lr,
    lr_decay; None keeps the recipe's)."""
    from .training import RunConfig
    if model not in RECIPES:
        raise ValueError(f"no recipe for model {model!r}; models: {', '.join(RECIPES)}")
    settings = training_settings(model, data, dataset.is_image)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return RunConfig(model=model, data=data, seed=seed,
                     model_args=model_args(model, data, dataset), **settings)
