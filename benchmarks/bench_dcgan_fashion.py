"""DCGAN on Fashion-MNIST, epoch by epoch, next to its PyTorch twin.

Both libraries train *the same* DCGAN (``scratchgen.models.dcgan``'s
networks, built once from ``scratchgen.nn`` and once from ``torch.nn``):

* the same initial weights: PyTorch's net is initialised by Radford et al.'s
  rule (N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0) and copied into
  ours;
* the same optimizer (Adam 2e-4, betas (0.5, 0.999)), batch (64), losses
  (one D update on real -> 1 and fake -> 0, one G update through the same
  fakes, non-saturating), and data order (one permutation per epoch, drawn
  here and fed to both);
* the noise is each library's own draw (the two generators differ), so
  the runs are twins in distribution, not bit for bit.

After every epoch each generator draws ``--n-fd`` images (in eval mode),
and the Fréchet distance to as many test images is computed in the feature
space of the project's Fashion-MNIST classifier
(``scratchgen.runs.feature_net``), the same features for both.  Time per
epoch is the training loop alone; the two libraries alternate epoch by
epoch, so drift of a shared machine hits both.

    python benchmarks/bench_dcgan_fashion.py --epochs 10 --seeds 0 1 --threads 2
    python benchmarks/bench_dcgan_fashion.py --quick   # 20 steps, 1 epoch: smoke run

Targets (issue 11): FD within 10 % of the twin's at epochs 5 and 10; time
per epoch within 1.5x of the twin's on the same threads.
"""
from __future__ import annotations

import sys
import time

import numpy as np

import _common as common  # this folder is sys.path[0] when run as a script
import scratchgen as sg
from scratchgen.runs import metrics
from scratchgen.data.registry import load_dataset
from scratchgen.models import DCGAN, dcgan
from scratchgen.runs.feature_net import feature_net

SHAPE, LATENT, BATCH, LR, BETAS = (1, 28, 28), 100, 64, 2e-4, (0.5, 0.999)


def torch_twin(torch):
    """G, D, optimizers and a step function, in PyTorch."""
    G = dcgan.generator(LATENT, SHAPE, 64, layers=torch.nn)
    D = dcgan.discriminator(SHAPE, 64, layers=torch.nn)
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear,
                          torch.nn.BatchNorm2d)):
            torch.nn.init.normal_(m.weight, 1.0 if isinstance(m, torch.nn.BatchNorm2d) else 0.0,
                                  0.02)
            torch.nn.init.zeros_(m.bias)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def step(images):
        real = torch.from_numpy(images) * 2 - 1
        fake = G(torch.randn(len(images), LATENT))
        opt_d.zero_grad()
        r, f = D(real), D(fake.detach())
        loss_d = bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        f = D(fake)
        loss_g = bce(f, torch.ones_like(f))
        loss_g.backward()
        opt_g.step()

    def sample(n):
        G.eval()
        with torch.no_grad():
            out = ((G(torch.randn(n, LATENT)) + 1) / 2).numpy()
        G.train()
        return out
    return G, D, step, sample


def ours_from(G_t, D_t):
    model = DCGAN(SHAPE, LATENT, 64)
    for ours, theirs in ((model.generator, G_t), (model.discriminator, D_t)):
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    optimizers = model.make_optimizers(LR)

    def step(images):
        model.train_step(sg.tensor(images), optimizers)

    def sample(n):
        model.eval()
        out = model.sample(n).numpy()
        model.train()
        return out
    return model, step, sample


def run_seed(seed, args, torch, net, test_feats, train_x) -> list[dict]:
    torch.manual_seed(seed)
    sg.manual_seed(seed)
    G_t, D_t, torch_step, torch_sample = torch_twin(torch)
    _, our_step, our_sample = ours_from(G_t, D_t)
    libs = {"ours": (our_step, our_sample), "torch": (torch_step, torch_sample)}
    order = np.random.default_rng(seed)
    rows = []
    for epoch in range(1, args.epochs + 1):
        perm = order.permutation(len(train_x))
        batches = [perm[i:i + BATCH] for i in range(0, len(perm) - BATCH + 1, BATCH)]
        if args.steps:
            batches = batches[:args.steps]
        row = {"seed": seed, "epoch": epoch, "steps": len(batches)}
        # alternate who goes first, so drift is shared
        for name in (("ours", "torch") if epoch % 2 else ("torch", "ours")):
            step, _ = libs[name]
            start = time.perf_counter()
            for idx in batches:
                step(train_x[idx])
            row[f"{name}_s"] = time.perf_counter() - start
        for name, (_, sample) in libs.items():
            feats = net.embed(sample(args.n_fd))
            row[f"{name}_fd"] = metrics.frechet_distance(feats, test_feats)
        rows.append(row)
        print(f"seed {seed} epoch {epoch:2d}: FD ours {row['ours_fd']:7.2f}  torch "
              f"{row['torch_fd']:7.2f}  (ratio {row['ours_fd'] / row['torch_fd']:.2f});  "
              f"epoch time ours {row['ours_s']:6.1f} s  torch {row['torch_s']:6.1f} s  "
              f"(ratio {row['ours_s'] / row['torch_s']:.2f})", flush=True)
    return rows


def main(argv=None) -> int:
    p = common.base_parser(__doc__, "epoch")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=None, help="steps per epoch (default: all)")
    p.add_argument("--n-fd", type=int, default=2000, help="images per Fréchet distance")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.steps, args.n_fd = 1, [0], 20, 200
    torch = common.load_torch()
    if torch is None:
        print("PyTorch is not installed: the twin cannot run (pip install torch)")
        return 0
    try:
        train, test = load_dataset("fashion", "train"), load_dataset("fashion", "test")
    except OSError as exc:
        print(f"Fashion-MNIST is not available ({exc}); skipped")
        return 0
    notes = common.setup_threads(args.threads, torch)
    info = common.machine_info(args.threads, torch)
    print(f"DCGAN on Fashion-MNIST, ours vs PyTorch {torch.__version__}, {args.threads} threads; "
          f"FD on {args.n_fd} samples vs {args.n_fd} test images")
    for line in info["blas"] + notes:
        print("  " + line)
    net = feature_net("fashion")
    test_feats = net.embed(test.x[:args.n_fd])
    rows = []
    for seed in args.seeds:
        rows += run_seed(seed, args, torch, net, test_feats, train.x)
    for epoch in sorted({r["epoch"] for r in rows}):
        at = [r for r in rows if r["epoch"] == epoch]
        fd = np.mean([r["ours_fd"] for r in at]) / np.mean([r["torch_fd"] for r in at])
        t = np.mean([r["ours_s"] for r in at]) / np.mean([r["torch_s"] for r in at])
        print(f"epoch {epoch:2d}, mean over seeds: FD ours/torch {fd:.3f}, time ours/torch {t:.2f}")
    if args.json:
        common.write_json(args.json, {**info, "args": vars(args)}, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
