"""VAE quality and speed against a PyTorch twin on the same budget.

For each model, ours (``scratchgen.models.VAE`` / ``ConvVAE``, trained
through their own ``loss``) and a PyTorch twin built from the same layers:

* **MLP** 784-400-20 (PyTorch's ``examples/vae``): Linear 784→400, ReLU,
  Linear 400→40 (mu, logvar); Linear 20→400, ReLU, Linear 400→784 logits.
* **ConvVAE** (``scratchgen/models/conv_vae.py``): Conv2d 1→32→64 (k4 s2
  p1, ReLU), Linear 3136→256→40; Linear 20→256→3136, ConvTranspose2d
  64→32→1 (k4 s2 p1).

The same for both: architecture, initial weights (PyTorch's, copied into
ours), Adam lr 1e-3, batch 128 (drop_last), epochs, the data order (one
permutation per epoch from a seeded NumPy generator) and, with
``--binarize dynamic``, the same Bernoulli draws of every training batch
(x_bin = u < x, u ~ U(0, 1) drawn on the host once per step).  Each library
draws its own reparameterisation noise.  The test set is binarised once,
with a fixed seed, for the binarised runs.

Reported, per library: test ELBO over the whole test set (one sample per
image) and IWAE_k on the first N test images (``--iwae K:N``),
both in nats per image, and seconds per epoch.  ``--eval-at 10 30`` also
evaluates after epoch 10 of a 30-epoch run; ``--iwae 1000:1000 5000:500``
adds IWAE_5000 on the first 500 test images.  The two libraries' epochs
are interleaved (ours, torch, torch, ours, ...) in one process on the same
thread count, so drift of a shared machine hits both.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_vae.py \\
        --model mlp --binarize none --epochs 10 --threads 1 --json out.json
    python benchmarks/bench_vae.py --quick       # smoke run on the 8×8 digits

``--gemm-share`` trains nothing: it times one step of each library (batch
128, interleaved samples) and splits ours into its matrix products and the
rest, to show how much of the step a second BLAS thread can speed up.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time

import numpy as np

import _common as common  # this folder is sys.path[0] when run as a script
import scratchgen as sg
from scratchgen import backend
from scratchgen.data.registry import load_dataset
from scratchgen.models.conv_vae import ConvVAE
from scratchgen.models.vae import VAE
from scratchgen.ops import arithmetic

LATENT, BATCH, LR = 20, 128, 1e-3


def ours_model(kind: str, shape):
    if kind == "mlp":
        return VAE(shape, latent_dim=LATENT, hidden=[400])
    return ConvVAE(shape, latent_dim=LATENT)


def torch_model(kind: str, shape, torch):
    """The twin: the same layers under the same names as ours."""
    nn = torch.nn
    c, side = shape[0], shape[-1]
    dim = c * side * side
    model = nn.Module()
    if kind == "mlp":
        model.features = nn.Flatten()
        model.encoder = nn.Sequential(nn.Linear(dim, 400), nn.ReLU(), nn.Linear(400, 2 * LATENT))
        model.decoder = nn.Sequential(nn.Linear(LATENT, 400), nn.ReLU(), nn.Linear(400, dim))
        return model
    small = side // 4
    model.features = nn.Sequential(nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
                                   nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten())
    model.encoder = nn.Sequential(nn.Linear(64 * small * small, 256), nn.ReLU(),
                                  nn.Linear(256, 2 * LATENT))
    model.decoder = nn.Sequential(
        nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 64 * small * small), nn.ReLU(),
        nn.Unflatten(1, (64, small, small)), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, c, 4, 2, 1))
    return model


# -- the twin's objective, written as ours is (scratchgen/models/vae.py) ------

def torch_terms(model, x, torch):
    """(log p(x|z), KL) per example at one reparameterised z."""
    F = torch.nn.functional
    h = model.encoder(model.features(x))
    mu, logvar = h[:, :LATENT], h[:, LATENT:]
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    logits = model.decoder(z).reshape(len(x), -1)
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1),
                                                   reduction="none").sum(-1)
    kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(-1)
    return log_px_z, kl


def torch_iwae(model, x, k, torch):
    F = torch.nn.functional
    x_flat = x.reshape(len(x), -1)
    h = model.encoder(model.features(x))
    mu, logvar = h[:, :LATENT], h[:, LATENT:]
    log_w = []
    for _ in range(k):
        eps = torch.randn_like(mu)
        z = mu + (0.5 * logvar).exp() * eps
        log_px_z = -F.binary_cross_entropy_with_logits(model.decoder(z).reshape(len(x), -1),
                                                       x_flat, reduction="none").sum(-1)
        log_prior = -0.5 * (math.log(2 * math.pi) + z * z).sum(-1)
        log_q = -0.5 * (math.log(2 * math.pi) + logvar + eps * eps).sum(-1)
        log_w.append(log_px_z + log_prior - log_q)
    return torch.logsumexp(torch.stack(log_w), 0) - math.log(k)


# -- one library behind one interface ----------------------------------------

class Ours:
    name = "ours"

    def __init__(self, model):
        self.model, self.opt = model, model.make_optimizers(LR)["model"]

    def step(self, x):
        self.opt.zero_grad()
        loss = self.model.loss(sg.tensor(x))
        loss.backward()
        self.opt.step()

    def bounds(self, x, fn):
        """Sum over ``x`` of ``fn(model, batch)``, under no_grad."""
        self.model.eval()
        total = 0.0
        with sg.no_grad():
            for start in range(0, len(x), 500):
                total += float(fn(self.model, sg.tensor(x[start:start + 500])).sum().item())
        self.model.train()
        return total

    def elbo_sum(self, x):
        return self.bounds(x, lambda m, b: m.elbo(b))

    def iwae_sum(self, x, k):
        return self.bounds(x, lambda m, b: m.iwae(b, k))


class Torch:
    name = "torch"

    def __init__(self, model, torch):
        self.model, self.torch = model, torch
        self.opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step(self, x):
        self.opt.zero_grad()
        log_px_z, kl = torch_terms(self.model, self.torch.from_numpy(x), self.torch)
        loss = (kl - log_px_z).mean()
        loss.backward()
        self.opt.step()

    def bounds(self, x, fn):
        total = 0.0
        with self.torch.no_grad():
            for start in range(0, len(x), 500):
                total += float(fn(self.torch.from_numpy(x[start:start + 500])).sum())
        return total

    def elbo_sum(self, x):
        return self.bounds(x, lambda b: (lambda r, kl: r - kl)(*torch_terms(self.model, b, self.torch)))

    def iwae_sum(self, x, k):
        return self.bounds(x, lambda b: torch_iwae(self.model, b, k, self.torch))


# -- where our step's time goes ----------------------------------------------

@contextlib.contextmanager
def timing_gemms():
    """Within the block, a list whose [0] sums the seconds spent in matrix
    products: the forward of MatMul and AddMM and the products of their
    backward (``matmul_grads``), outermost calls only (a backward's products
    are MatMuls themselves)."""
    spent, depth = [0.0], [0]

    def timed(fn):
        def wrapper(*args):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[0] += time.perf_counter() - start
        return wrapper

    saved = arithmetic.MatMul.forward, arithmetic.AddMM.forward, arithmetic.matmul_grads
    arithmetic.MatMul.forward, arithmetic.AddMM.forward, arithmetic.matmul_grads = map(timed, saved)
    try:
        yield spent
    finally:
        arithmetic.MatMul.forward, arithmetic.AddMM.forward, arithmetic.matmul_grads = saved


def gemm_share(kind, data, repeat, torch, steps=20) -> dict:
    """One training step of each library on the same batch (milliseconds,
    the median of ``repeat`` interleaved samples of ``steps`` steps), and
    ours split into its matrix products and the rest (by the median share
    of the products over ``repeat`` more samples).  The rest is NumPy's
    one-threaded work (im2col/col2im, elementwise passes, Adam) and
    Python's: what a second BLAS thread cannot speed up."""
    x = load_data(data, "none", BATCH)[0]
    sg.manual_seed(0)
    ours = Ours(ours_model(kind, x.shape[1:]))
    out = {"model": kind, "batch": BATCH}
    if torch is None:
        out["ours_ms"] = common.timeit(lambda: ours.step(x), repeat=repeat, number=steps)
    else:
        torch.manual_seed(0)
        twin = Torch(torch_model(kind, x.shape[1:], torch), torch)
        out["ours_ms"], out["torch_ms"] = common.compare(
            lambda: ours.step(x), lambda: twin.step(x), repeat=repeat, number=steps)
        out["time_ratio"] = out["ours_ms"] / out["torch_ms"]
    shares = []
    with timing_gemms() as spent:
        for _ in range(repeat):
            spent[0], start = 0.0, time.perf_counter()
            for _ in range(steps):
                ours.step(x)
            shares.append(spent[0] / (time.perf_counter() - start))
    out["ours_gemm_share"] = float(np.median(shares))
    out["ours_gemm_ms"] = out["ours_gemm_share"] * out["ours_ms"]
    out["ours_rest_ms"] = out["ours_ms"] - out["ours_gemm_ms"]
    print(f"  ours {out['ours_ms']:.1f} ms per step: matrix products "
          f"{out['ours_gemm_ms']:.1f} ms ({out['ours_gemm_share']:.0%}), the rest "
          f"{out['ours_rest_ms']:.1f} ms"
          + (f"; torch {out['torch_ms']:.1f} ms ({out['time_ratio']:.2f}x)" if torch else ""),
          flush=True)
    return out


# -- the run -----------------------------------------------------------------

def load_data(name: str, binarize: str, n_train: int | None):
    train, test = load_dataset(name, "train").x[:n_train], load_dataset(name, "test").x
    if binarize == "dynamic":  # the test set once, with a fixed seed
        test = (np.random.default_rng(123).random(test.shape) < test).astype(np.float32)
    return train.astype(np.float32), test.astype(np.float32)


def evaluate(libs, seconds, test, iwae, seed) -> dict:
    """Test ELBO and each IWAE_k of ``iwae`` ((k, n images) pairs), per library."""
    out = {}
    for lib in libs:
        sg.manual_seed(seed + 1)
        if lib.name == "torch":
            lib.torch.manual_seed(seed + 1)
        start = time.perf_counter()
        row = {"test_elbo": lib.elbo_sum(test) / len(test)}
        for k, n in iwae:
            row[f"test_iwae{k}"] = lib.iwae_sum(test[:n], k) / n
        row["s_per_epoch"] = float(np.median(seconds[lib.name]))
        row["eval_s"] = time.perf_counter() - start
        out[lib.name] = row
        print(f"  {lib.name}: test ELBO {row['test_elbo']:.2f}"
              + "".join(f", IWAE_{k} {row[f'test_iwae{k}']:.2f}" for k, _ in iwae)
              + f" nats ({row['eval_s']:.0f} s to evaluate)", flush=True)
    if len(libs) == 2:
        for key in [k for k in out["ours"] if k.startswith("test_")]:
            out[f"{key}_rel_diff"] = (out["ours"][key] - out["torch"][key]) / abs(out["torch"][key])
        out["time_ratio"] = out["ours"]["s_per_epoch"] / out["torch"]["s_per_epoch"]
    return out


def run(kind, binarize, epochs, eval_at, seed, iwae, data, n_train, torch) -> list[dict]:
    """Train both libraries for ``epochs`` and evaluate after each epoch in
    ``eval_at``: one result per evaluation, so one 30-epoch run also gives
    the 10-epoch numbers."""
    train, test = load_data(data, binarize, n_train)
    shape = train.shape[1:]
    sg.manual_seed(seed)
    ours = ours_model(kind, shape)
    libs = [Ours(ours)]
    if torch is not None:
        torch.manual_seed(seed)
        twin = torch_model(kind, shape, torch)
        ours.load_state_dict({key: v.detach().numpy() for key, v in twin.state_dict().items()})
        libs.append(Torch(twin, torch))
    seconds = {lib.name: [] for lib in libs}
    results = []
    for epoch in range(epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train))
        batches = [train[order[i:i + BATCH]] for i in range(0, len(train) - BATCH + 1, BATCH)]
        if binarize == "dynamic":
            batches = [(rng.random(b.shape, dtype=np.float32) < b).astype(np.float32)
                       for b in batches]
        for lib in (libs if epoch % 2 == 0 else libs[::-1]):
            start = time.perf_counter()
            for x in batches:
                lib.step(x)
            seconds[lib.name].append(time.perf_counter() - start)
        print(f"  epoch {epoch + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()),
              flush=True)
        if epoch + 1 in eval_at:
            results.append({"model": kind, "binarize": binarize, "epochs": epoch + 1, "seed": seed,
                            "iwae": [list(p) for p in iwae], "data": data,
                            **evaluate(libs, seconds, test, iwae, seed)})
    return results


def main(argv=None) -> int:
    p = common.base_parser(__doc__, "epoch")
    p.add_argument("--model", choices=["mlp", "conv", "both"], default="both")
    p.add_argument("--binarize", choices=["none", "dynamic", "both"], default="both")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--eval-at", type=int, nargs="+", default=None, metavar="EPOCH",
                   help="evaluate after these epochs too (default: the last)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iwae", nargs="+", default=["1000:1000"], metavar="K:N",
                   help="IWAE with K importance samples on the first N test images")
    p.add_argument("--data", default="fashion", choices=["fashion", "mnist", "digits"])
    p.add_argument("--gemm-share", action="store_true",
                   help="instead of training: time one step of each library and split ours "
                        "into matrix products and the rest")
    args = p.parse_args(argv)
    n_train = None
    if args.quick:  # seconds: the bundled digits, a few steps, few samples
        args.data, args.epochs, args.iwae, n_train = "digits", 1, ["5:50"], 512
    iwae = [tuple(int(v) for v in pair.split(":")) for pair in args.iwae]
    eval_at = sorted({e for e in (args.eval_at or []) if e <= args.epochs} | {args.epochs})
    torch = None if args.no_torch else common.load_torch()
    notes = common.setup_threads(args.threads, torch)
    info = common.machine_info(args.threads, torch)
    print(f"scratchgen VAE benchmark: {args.data}, backend {backend.NAME}, {args.threads} threads, "
          f"torch {info['torch'] or 'not installed: ours only'}")
    warning = common.env_warning()
    for line in notes + ([warning] if warning else []):
        print(line)
    kinds = ["mlp", "conv"] if args.model == "both" else [args.model]
    if args.gemm_share:
        results = []
        for kind in kinds:
            print(f"{kind}, one step of batch {BATCH}:", flush=True)
            results.append(gemm_share(kind, args.data, args.repeat or (3 if args.quick else 9), torch))
        if args.json:
            common.write_json(args.json, {**info, "quick": args.quick}, results)
        return 0
    results, rows = [], []
    for kind in kinds:
        for binarize in (["none", "dynamic"] if args.binarize == "both" else [args.binarize]):
            print(f"{kind}, binarize {binarize}, {args.epochs} epochs, seed {args.seed}:", flush=True)
            for r in run(kind, binarize, args.epochs, eval_at, args.seed, iwae, args.data,
                         n_train, torch):
                results.append(r)
                for name in ("ours", "torch"):
                    if name in r:
                        rows.append({"model": kind, "binarize": binarize, "epochs": r["epochs"],
                                     "library": name,
                                     "test ELBO": f"{r[name]['test_elbo']:.2f}",
                                     **{f"IWAE_{k} ({n})": f"{r[name][f'test_iwae{k}']:.2f}"
                                        for k, n in iwae},
                                     "s/epoch": f"{r[name]['s_per_epoch']:.1f}"})
    print()
    common.print_table(rows, list(rows[0]))
    if args.json:
        common.write_json(args.json, {**info, "quick": args.quick}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
