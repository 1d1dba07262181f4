"""A character-level GPT: a transformer that predicts the next character.

By the chain rule of probability any distribution over sequences factorises
into next-element conditionals,

    log p(x_1 .. x_T) = sum_t log p(x_t | x_<t),

so a network that outputs ``p(x_t | x_<t)`` for every t is a generative
model with an *exact* likelihood; training minimises the cross-entropy of
each next character, in nats (divide by ln 2 for bits per character), and
sampling draws one character at a time and feeds it back in.

The network (Radford et al., 2018/2019; Karpathy's nanoGPT, whose layout,
names and initialisation this follows):

    h_0 = token_embedding[x_t] + position_embedding[t]
    h   = h + attention(layer_norm(h))        } n_layer blocks,
    h   = h + mlp(layer_norm(h))              } "pre-LN"
    logits_t = layer_norm(h_t) @ token_embedding^T      (weight tying)

The attention is causal (:class:`scratchgen.nn.CausalSelfAttention`), so
position t sees only x_1..x_t and all T predictions of a window are trained
in one pass.  The MLP is ``Linear(C, 4C) -> GELU -> Linear(4C, C)``.  The
output layer reuses the token embedding ("weight tying", Press & Wolf
2017): a character's input vector is also the direction whose dot product
scores it as the next character.

Sampling: ``logits / temperature`` (below 1 sharpens the distribution
toward its likeliest characters, above 1 flattens it), then optionally
keep only the ``top_k`` largest logits, softmax, draw.
"""
from __future__ import annotations

import math

from .. import backend
from .. import functional as F
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..backend import xp
from ..data.text import Vocabulary


def warmup_cosine_lr(step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """nanoGPT's schedule: linear warm-up to ``lr`` over ``warmup`` steps,
    then a half cosine from ``lr`` down to ``min_lr`` at step ``total``, and
    ``min_lr`` after that.  Early steps are small while Adam's moment
    estimates are still noisy; the slow end lets the iterates settle."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > total:
        return min_lr
    ratio = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)


class MLP(nn.Module):
    def __init__(self, n_embd, dropout, bias):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, t, c = x.shape  # Linear on (B*T, C) rows: one GEMM, not B of them
        h = self.proj(self.gelu(self.fc(x.reshape(b * t, c))))
        return self.dropout(h).reshape(b, t, c)


class Block(nn.Module):
    """One pre-LN transformer block: each sub-layer reads a normalised copy
    of the residual stream and adds its result back to it."""

    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = nn.CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharTransformer(nn.Module):
    """GPT over characters.  ``vocab`` is the string of the characters it
    knows (token i is ``vocab[i]``), ``block_size`` the longest context.
    Defaults: nanoGPT's CPU configuration for Tiny Shakespeare."""

    def __init__(self, vocab: str, block_size=64, n_layer=4, n_head=4, n_embd=128,
                 dropout=0.0, bias=False):
        super().__init__()
        self.vocab = Vocabulary(vocab)
        self.block_size, self.n_layer = block_size, n_layer
        self.wte = nn.Embedding(len(self.vocab), n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self._init_weights()

    def _init_weights(self):
        """GPT-2's: every weight N(0, 0.02^2), biases 0, and the projections
        that write into the residual stream scaled down by sqrt(2 n_layer),
        so the stream's variance does not grow with depth."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                std = 0.02 / math.sqrt(2 * self.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        """Logits of the next token at every position: (B, T) -> (B*T, vocab)."""
        idx = idx.data if isinstance(idx, Tensor) else backend.asarray(idx)
        b, t = idx.shape
        if t > self.block_size:
            raise ValueError(f"a context of {t} tokens is longer than block_size "
                             f"{self.block_size}; crop it to the last {self.block_size}")
        x = self.drop(self.wte(idx) + self.wpe.weight[:t])
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x).reshape(b * t, -1)
        return F.linear(x, self.wte.weight)  # tied: scores against every token's embedding

    def loss(self, idx, targets):
        """Mean next-token cross-entropy in nats."""
        targets = targets.data if isinstance(targets, Tensor) else backend.asarray(targets)
        return F.cross_entropy(self(idx), targets.reshape(-1))

    def log_prob(self, x):
        """Per-sequence log-likelihood in nats of tokens ``x`` (n, L), L <=
        block_size + 1, *given the first token*: sum_t log p(x_t | x_<t), t >= 2."""
        x = x.data if isinstance(x, Tensor) else backend.asarray(x)
        n, length = x.shape
        logp = F.log_softmax(self(x[:, :-1]), axis=-1)
        rows = xp.arange(n * (length - 1))
        return logp[rows, x[:, 1:].reshape(-1)].reshape(n, length - 1).sum(axis=1)

    def text_nll(self, tokens, batch_size=32):
        """Mean next-character loss in nats over a whole text (1-D tokens),
        cut into consecutive windows of ``block_size + 1`` that overlap by
        one token, so every character after the first is predicted exactly
        once (with the context its window gives it).  Divide by ln 2 for
        bits per character."""
        tokens = backend.to_numpy(tokens).reshape(-1)
        step = self.block_size
        count = (len(tokens) - 1) // step
        if count == 0:
            raise ValueError(f"a text of {len(tokens)} tokens is shorter than one window "
                             f"({step} + 1)")
        windows = xp.lib.stride_tricks.sliding_window_view(
            backend.asarray(tokens[:count * step + 1]), step + 1)[::step]
        total = 0.0
        with no_grad():
            for i in range(0, count, batch_size):
                total -= float(self.log_prob(windows[i:i + batch_size]).sum().item())
        return total / (count * step)

    # -- sampling ---------------------------------------------------------
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """Continue each row of ``idx`` (n, t) by ``max_new_tokens`` tokens,
        one at a time, each drawn from the model's next-token distribution
        (seeded by ``sg.manual_seed``, so a seed fixes the text)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        idx = backend.asarray(idx).astype(xp.int64)
        rng = backend.generator()
        with no_grad():
            for _ in range(max_new_tokens):
                context = idx[:, -self.block_size:]
                t = context.shape[1]
                logits = self(context).data.reshape(idx.shape[0], t, -1)[:, -1, :]
                logits = logits.astype(xp.float64) / temperature
                if top_k is not None and top_k < logits.shape[1]:
                    kth = xp.sort(logits, axis=1)[:, -top_k][:, None]
                    logits = xp.where(logits < kth, -xp.inf, logits)
                probs = xp.exp(logits - logits.max(axis=1, keepdims=True))
                probs /= probs.sum(axis=1, keepdims=True)
                # inverse-CDF draw: the first token whose cumulative probability passes u
                u = rng.random((idx.shape[0], 1))
                nxt = (xp.cumsum(probs, axis=1) < u).sum(axis=1)
                nxt = xp.minimum(nxt, probs.shape[1] - 1)
                idx = xp.concatenate([idx, nxt[:, None]], axis=1)
        return idx

    def sample(self, n, labels=None, length=200, prompt="\n", temperature=1.0, top_k=None):
        """``n`` texts: ``prompt`` continued by ``length`` characters."""
        if labels is not None:
            raise ValueError("the character model is not conditional: labels must be None; "
                             "steer it with a prompt instead")
        if not prompt:
            raise ValueError("prompt must hold at least one character (e.g. '\\n')")
        start = xp.tile(backend.asarray(self.vocab.encode(prompt))[None, :], (n, 1))
        out = self.generate(start, length, temperature, top_k)
        return [self.vocab.decode(backend.to_numpy(row)) for row in out]

    # -- training ---------------------------------------------------------
    def make_optimizers(self, lr, weight_decay=0.1, betas=(0.9, 0.99)):
        """AdamW as nanoGPT: weight decay on the matrices (embeddings,
        Linear weights), none on biases and LayerNorm gains."""
        params = list(self.parameters())
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return {"model": optim.AdamW(groups, lr=lr, betas=betas)}

    def train_step(self, batch, optimizers, lr=None, clip=1.0):
        """One AdamW step on a batch ``(x, y)`` of windows; ``lr`` (if
        given) overrides the optimizer's rate (for a schedule)."""
        x, y = batch
        opt = optimizers["model"]
        if lr is not None:
            for group in opt.param_groups:
                group["lr"] = lr
        opt.zero_grad()
        loss = self.loss(x, y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.parameters(), clip) if clip else None
        opt.step()
        return {"loss": loss.detach(), "grad_norm": norm}
