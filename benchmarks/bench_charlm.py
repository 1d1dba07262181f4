"""The character-level GPT on Tiny Shakespeare: nanoGPT's CPU run, and one
training step next to a PyTorch twin.

Two measurements:

* ``--train``: nanoGPT's CPU configuration for ``shakespeare_char`` (4
  layers, 4 heads, 128 embedding, context 64, batch 12, 2,000 iterations,
  dropout 0, no biases, AdamW lr 1e-3 with 100 warm-up steps and cosine
  decay to 1e-4 at 2,000, betas (0.9, 0.99), weight decay 0.1 on matrices,
  gradient clipping 1.0), trained with scratchgen.  Every
  ``--eval-interval`` iterations the loss is estimated as nanoGPT does
  (mean over 20 random batches of each split); at the end over 200 random
  batches and over the *whole* validation text (every character predicted
  once, :meth:`CharTransformer.text_nll`).  nanoGPT reports a validation
  loss of about 1.88 nats for this run in PyTorch.  Writes a JSON log
  (``--json``), the checkpoint (``--checkpoint``) and prints samples.
* default: time per training step (forward, backward, clipping, AdamW) of
  our model and of a PyTorch twin with the same layout, the same weights
  (copied) and the same batch, on the same threads; attention in the twin
  is written out the same way (matmul, masked fill, softmax), or with
  ``--torch-sdpa`` through PyTorch's fused ``scaled_dot_product_attention``
  as nanoGPT uses it.  The script checks that both losses agree first.

Run from the repository root::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_charlm.py --threads 1
    nice -n 5 python benchmarks/bench_charlm.py --train --threads 1 --json runs/charlm.json
    python benchmarks/bench_charlm.py --quick          # smoke run (seconds)
"""
from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

import _common as common  # this folder is sys.path[0] when run as a script
import scratchgen as sg
from scratchgen import backend
from scratchgen.data import load_text_dataset
from scratchgen.data.text import random_windows
from scratchgen.models.charlm import CharTransformer, warmup_cosine_lr

#: nanoGPT's CPU run of config/train_shakespeare_char.py (its README)
CONFIG = {"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0,
          "bias": False}
TRAIN = {"iters": 2000, "batch_size": 12, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100,
         "weight_decay": 0.1, "betas": (0.9, 0.99), "clip": 1.0}


# ---------------------------------------------------------------------------
# Training (ours)
# ---------------------------------------------------------------------------

def estimate_loss(loss, data, batches, block_size, rng):
    """nanoGPT's ``estimate_loss``: the mean of ``loss(x, y)`` over random batches."""
    return float(np.mean([loss(*random_windows(data, block_size, TRAIN["batch_size"], rng))
                          for _ in range(batches)]))


def run_training(step, loss, data, block_size, iters, seed, eval_interval, quick) -> dict:
    """nanoGPT's loop: ``step(batch, lr)`` trains on one batch and returns
    its loss; ``loss(x, y)`` evaluates.  The batches and evaluation batches
    depend only on ``seed``, so two libraries can be run on the same ones."""
    rng, eval_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    log = {"train": dict(TRAIN, iters=iters), "evals": [], "losses": []}
    step_times = []
    for it in range(iters + 1):
        if it % eval_interval == 0 or it == iters:
            n = 2 if quick else 20
            row = {"iter": it, "train": estimate_loss(loss, data.train, n, block_size, eval_rng),
                   "val": estimate_loss(loss, data.val, n, block_size, eval_rng)}
            log["evals"].append(row)
            print(f"iter {it}: train {row['train']:.4f}, val {row['val']:.4f}", flush=True)
        if it == iters:
            break
        lr = warmup_cosine_lr(it, TRAIN["lr"], TRAIN["min_lr"], TRAIN["warmup"], iters)
        batch = random_windows(data.train, block_size, TRAIN["batch_size"], rng)
        start = time.perf_counter()
        log["losses"].append(step(batch, lr))
        step_times.append(time.perf_counter() - start)
        if it % 100 == 0:
            print(f"  iter {it}: loss {log['losses'][-1]:.4f}, lr {lr:.2e}, "
                  f"{1e3 * np.median(step_times[-100:]):.0f} ms/iter", flush=True)
    n = 2 if quick else 200
    log["final"] = {"val_200_batches": estimate_loss(loss, data.val, n, block_size, eval_rng),
                    "train_200_batches": estimate_loss(loss, data.train, n, block_size, eval_rng)}
    log["median_step_ms"] = 1e3 * float(np.median(step_times))
    log["total_train_s"] = float(np.sum(step_times))
    return log


def train(args, torch=None) -> dict:
    """Ours, or with ``torch`` the PyTorch twin from the same initial weights."""
    data = load_text_dataset()
    sg.manual_seed(args.seed)
    config = dict(CONFIG, n_layer=1 if args.quick else CONFIG["n_layer"])
    model = CharTransformer(data.vocab.chars, **config)
    iters = 20 if args.quick else args.iters
    if torch is not None:
        step, twin = torch_step_fn(torch, model, config, len(data.vocab))

        def loss(x, y):
            with torch.no_grad():
                return twin(torch.from_numpy(x), torch.from_numpy(y)).item()
    else:
        opts = model.make_optimizers(TRAIN["lr"], TRAIN["weight_decay"], TRAIN["betas"])

        def step(batch, lr):
            # float(): one copy to the host per step, as the twin's .item()
            return float(model.train_step(batch, opts, lr=lr, clip=TRAIN["clip"])["loss"])

        def loss(x, y):
            with sg.no_grad():
                return model.loss(x, y).item()
    log = run_training(step, loss, data, config["block_size"], iters, args.seed,
                       args.eval_interval, args.quick)
    log.update(library="torch" if torch is not None else "scratchgen", config=config)
    if torch is None:
        model.eval()
        val = data.val[:2000] if args.quick else data.val
        log["final"]["val_full_text"] = model.text_nll(val)
        log["final"]["val_full_text_bits_per_char"] = log["final"]["val_full_text"] / math.log(2)
        sg.manual_seed(args.seed)
        log["samples"] = {str(t): model.sample(1, length=300, prompt="ROMEO:", temperature=t,
                                               top_k=40)[0] for t in (0.5, 0.8, 1.0)}
        for t, text in log["samples"].items():
            print(f"--- temperature {t}, top-k 40 ---\n{text}")
        if args.checkpoint:
            sg.save({"model": model.state_dict(),
                     "model_args": dict(config, vocab=data.vocab.chars)}, args.checkpoint)
    print(json.dumps(log["final"], indent=1))
    return log


# ---------------------------------------------------------------------------
# The PyTorch twin: the same layout and parameter names
# ---------------------------------------------------------------------------

def torch_twin(torch, vocab_size, block_size, n_layer, n_head, n_embd, sdpa):
    nn, F = torch.nn, torch.nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.proj = nn.Linear(n_embd, n_embd, bias=False)
            self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size, dtype=bool)))

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2)
                       for z in self.qkv(x).split(n_embd, dim=2))
            if sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
                y = att @ v
            return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
            self.proj = nn.Linear(4 * n_embd, n_embd, bias=False)

        def forward(self, x):
            return self.proj(F.gelu(self.fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd, bias=False)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(n_embd, bias=False)
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab_size, n_embd)
            self.wpe = nn.Embedding(block_size, n_embd)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd, bias=False)

        def forward(self, idx, targets):
            t = idx.shape[1]
            x = self.wte(idx) + self.wpe.weight[:t]
            for block in self.blocks:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def torch_step_fn(torch, ours, config, vocab_size, sdpa=False):
    """The twin of ``ours`` with its weights copied, and its training step
    ``step(batch, lr=None)`` (AdamW groups, clipping as ours)."""
    twin = torch_twin(torch, vocab_size, config["block_size"], config["n_layer"],
                      config["n_head"], config["n_embd"], sdpa)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()
                          if k in twin.state_dict()}, strict=False)
    decay = [p for p in twin.parameters() if p.dim() >= 2]
    rest = [p for p in twin.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=TRAIN["betas"])

    def step(batch, lr=None):
        if lr is not None:
            for group in opt.param_groups:
                group["lr"] = lr
        x, y = (b if isinstance(b, torch.Tensor) else torch.from_numpy(b) for b in batch)
        opt.zero_grad(set_to_none=True)
        loss = twin(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), TRAIN["clip"])
        opt.step()
        return loss.item()
    return step, twin


def build_steps(torch, args) -> dict:
    data = load_text_dataset()
    config = dict(CONFIG, n_layer=1 if args.quick else CONFIG["n_layer"])
    sg.manual_seed(0)
    ours = CharTransformer(data.vocab.chars, **config)
    opt = ours.make_optimizers(TRAIN["lr"], TRAIN["weight_decay"], TRAIN["betas"])
    x, y = random_windows(data.train, config["block_size"], TRAIN["batch_size"],
                          np.random.default_rng(0))
    steps = {"ours": lambda: float(ours.train_step((x, y), opt, clip=TRAIN["clip"])["loss"])}
    if torch is not None:
        torch_step, _ = torch_step_fn(torch, ours, config, len(data.vocab), args.torch_sdpa)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        steps["torch"] = lambda: torch_step((tx, ty))
    return steps


def time_steps(torch, args) -> dict:
    steps = build_steps(torch, args)
    result = {}
    if "torch" in steps:  # the first step of each: same weights, same batch, same loss
        a, b = steps["ours"](), steps["torch"]()
        result["first_loss"] = {"ours": a, "torch": b, "rel_diff": abs(a - b) / abs(b)}
        print(f"first-step loss: ours {a:.6f}, PyTorch {b:.6f} (relative difference "
              f"{result['first_loss']['rel_diff']:.1e})")
    repeat = args.repeat or (3 if args.quick else 9)
    min_time, settle = (0.002, 0.0) if args.quick else (0.5, common.SETTLE_S)
    if "torch" in steps:
        ours_ms, torch_ms = common.compare(steps["ours"], steps["torch"], repeat=repeat,
                                           min_time=min_time, settle=settle)
        result.update(ours_ms=ours_ms, torch_ms=torch_ms, ratio=ours_ms / torch_ms)
        print(f"step: ours {ours_ms:.1f} ms, PyTorch{' (SDPA)' if args.torch_sdpa else ''} "
              f"{torch_ms:.1f} ms, ours/torch {ours_ms / torch_ms:.2f}x")
    else:
        result["ours_ms"] = common.timeit(steps["ours"], repeat=repeat, min_time=min_time)
        print(f"step: ours {result['ours_ms']:.1f} ms (PyTorch not installed)")
    return result


def parse_args(argv=None):
    p = common.base_parser(__doc__, "step")
    p.add_argument("--train", action="store_true", help="train ours (nanoGPT's CPU run)")
    p.add_argument("--train-torch", action="store_true",
                   help="train the PyTorch twin instead, from the same weights and batches")
    p.add_argument("--iters", type=int, default=TRAIN["iters"])
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--checkpoint", metavar="PATH", help="with --train: save the model here")
    p.add_argument("--torch-sdpa", action="store_true",
                   help="the twin's attention through PyTorch's fused SDPA (as nanoGPT)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = None if (args.no_torch or args.train) else common.load_torch()
    if args.train_torch and torch is None:
        raise SystemExit("--train-torch needs PyTorch")
    notes = common.setup_threads(args.threads, torch)
    info = common.machine_info(args.threads, torch)
    print(f"char GPT on Tiny Shakespeare: backend {backend.NAME}, {args.threads} threads")
    for line in info["blas"] + notes:
        print("  " + line)
    if args.train or args.train_torch:
        results = train(args, torch if args.train_torch else None)
    else:
        results = time_steps(torch, args)
    if args.json:
        common.write_json(args.json, info, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
