"""Causal multi-head self-attention, the layer of GPT-style models.

Each position t of a sequence x (T positions, C features) asks a question
(query q_t), advertises what it holds (key k_t) and offers a message
(value v_t), all three linear maps of x_t.  Its output is the average of
the messages of the positions it may see, weighted by how well its query
matches their keys:

    a_ts = softmax_s( q_t . k_s / sqrt(d) )  over s <= t   (the causal mask)
    y_t  = sum_s a_ts v_s

*Causal*: position t sees only s <= t, so the model's prediction at t never
depends on the future; that is what lets a sequence model be trained on all
T next-token predictions of a sequence at once.  *Multi-head*: the C
features are split into H heads of d = C / H, each attending on its own
(one head can look at the previous letter, another at the start of the
word), and the heads' outputs are concatenated and mixed by a last linear
map.  The arithmetic, with the mask written out, is
:func:`scratchgen.functional.scaled_dot_product_attention`.
"""
from __future__ import annotations

from .. import functional as F
from ..ops import split, swapaxes
from .dropout import Dropout
from .linear import Linear
from .module import Module


class CausalSelfAttention(Module):
    """Input (B, T, C), output (B, T, C).  Parameters as in nanoGPT:
    ``qkv`` (one Linear C -> 3C for the queries, keys and values of every
    head) and ``proj`` (C -> C).  Set ``keep_attention = True`` to keep the
    last attention weights, (B, H, T, T), in ``attention`` (for plots)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"CausalSelfAttention: embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}; each head gets embed_dim / num_heads features")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.qkv = Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.proj = Linear(embed_dim, embed_dim, bias=bias)
        self.attn_dropout, self.resid_dropout = Dropout(dropout), Dropout(dropout)
        self.keep_attention, self.attention = False, None

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"{type(self).__name__}: expected input (batch, time, "
                             f"{self.embed_dim}), got {x.shape}")
        b, t, c = x.shape
        h = self.num_heads
        # one matmul for all three, on (B*T, C) rows; then (B, T, H, d) -> (B, H, T, d)
        q, k, v = (swapaxes(part.reshape(b, t, h, c // h), 1, 2)
                   for part in split(self.qkv(x.reshape(b * t, c)), 3, axis=1))
        weights = F.attention_weights(q, k, is_causal=True)
        if self.keep_attention:
            self.attention = weights.detach()
        y = self.attn_dropout(weights) @ v                    # (B, H, T, d)
        y = swapaxes(y, 1, 2).reshape(b * t, c)              # heads side by side again
        return self.resid_dropout(self.proj(y)).reshape(b, t, c)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
