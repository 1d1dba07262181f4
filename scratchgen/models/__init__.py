"""Generative models, all behind one protocol.

Each model is an ``nn.Module`` built from plain constructor arguments;
``sample(n, labels=None)`` returns ``n`` samples in data space; likelihood
models add per-example quantities in nats (VAEs: ``encode``, ``decode``,
``elbo(x)``, ``iwae(x, k)``; autoregressive models: ``log_prob(x)``).  For training each also has
``make_optimizers(lr)`` and ``train_step(batch, optimizers)``, which the
shared loop in :mod:`scratchgen.runs.training` calls.  ``train_step``
returns its losses as 0-d tensors *on the device*: turning each into a
Python float would make a GPU wait for the step to finish, every step; the
loop gathers them and copies them to the host once per log interval.

``MODELS`` names each model for the command line and for run folders;
``load(run_dir)`` rebuilds the trained model of a run folder.  The training
recipes (default data, sizes, epochs) live with the run tooling, in
:mod:`scratchgen.runs.recipes`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np  # host side: a checkpoint holds host arrays

from ..serialization import load as load_file
from .cgan import ConditionalGAN
from .charlm import CharTransformer
from .conv_vae import ConditionalVAE, ConvVAE
from .dcgan import DCGAN
from .gan import GAN
from .made import MADE
from .vae import VAE, VAEBase
from .wgan_gp import WGANGP

MODELS = {"gan": GAN, "dcgan": DCGAN, "wgan-gp": WGANGP, "cgan": ConditionalGAN, "vae": VAE,
          "convvae": ConvVAE, "cvae": ConditionalVAE, "made": MADE, "charlm": CharTransformer}

#: the two files of a run folder that hold its model: the config (which
#: model, with which constructor arguments) and the checkpoint (its weights)
CONFIG, CHECKPOINT = "config.json", "checkpoint.npz"


def load(run_dir):
    """The trained model of a run folder, in eval mode, ready to sample."""
    config_path, checkpoint = Path(run_dir) / CONFIG, Path(run_dir) / CHECKPOINT
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {CONFIG}); "
                                "make one with `scratchgen train MODEL --out DIR`")
    try:
        config = json.loads(config_path.read_text())
        name, args = config["model"], config.get("model_args", {})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{config_path} is not a valid run config ({exc})") from None
    if name not in MODELS:
        raise ValueError(f"{run_dir}: unknown model {name!r} in its config")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT}: the run never saved one")
    try:
        model = MODELS[name](**args)
    except TypeError as exc:   # arguments of another model, or a hand-edited config
        raise ValueError(f"{config_path}: its model_args do not fit model {name!r} ({exc})") from None
    state = load_file(checkpoint)["model"]
    model.load_state_dict(state)
    bad = [key for key, value in state.items()
           if np.asarray(value).dtype.kind == "f" and not np.isfinite(value).all()]
    if bad:
        raise ValueError(f"{checkpoint}: weights {', '.join(bad[:3])} are not finite (the run "
                         "diverged); train it again with a smaller --lr")
    return model.eval()


__all__ = ["GAN", "DCGAN", "WGANGP", "ConditionalGAN", "VAE", "VAEBase", "ConvVAE",
           "ConditionalVAE", "MADE", "CharTransformer", "MODELS", "CONFIG", "CHECKPOINT", "load"]
