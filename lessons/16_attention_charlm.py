# %% [markdown]
# # Lesson 16: attention by hand, then a character-level GPT
#
# MADE (lesson 15) made one network autoregressive by cutting weights.
# Transformers do it with *causal attention*: each position of a sequence
# reads from the positions before it, with weights it computes on the fly.
# This lesson builds attention from matmul and softmax on a four-token
# example, checks it against the library's layer and its causality through
# the gradient, then trains nanoGPT's small character model on Tiny
# Shakespeare: 0.8 M parameters, 2,000 iterations, a validation loss in
# nats and bits per character, samples at several temperatures, and the
# attention maps of the trained model.

# %%
import math
import time

import numpy as np
from matplotlib.figure import Figure

import scratchgen as sg
from scratchgen import functional as F
from scratchgen import nn
from scratchgen.data import load_text_dataset
from scratchgen.data.text import random_windows
from scratchgen.models.charlm import CharTransformer, warmup_cosine_lr

from _common import host_values, parse_args, savefig  # lessons/_common.py

args = parse_args("Lesson 16: attention by hand, then a character-level GPT")
sg.manual_seed(0)

# %% [markdown]
# ## 1. Attention on four tokens, by hand
#
# Each token t has a vector x_t.  Three linear maps give its query q_t
# ("what am I looking for?"), key k_t ("what do I contain?") and value v_t
# ("what do I pass on?").  Token t scores every token s by q_t . k_s /
# sqrt(d), turns the scores into weights with a softmax, and outputs the
# weighted average of the values.  A *causal* model may not look ahead:
# scores with s > t are set to -inf before the softmax, so their weights
# are exactly 0 and each row still sums to 1.

# %%
rng = np.random.default_rng(0)
T, C = 4, 6
x = rng.normal(size=(T, C))
Wq, Wk, Wv = (rng.normal(size=(C, C)) / math.sqrt(C) for _ in range(3))
q, k, v = x @ Wq.T, x @ Wk.T, x @ Wv.T                   # (T, C) each
scores = q @ k.T / math.sqrt(C)                          # scores[t, s] = q_t . k_s / sqrt(d)
mask = np.tril(np.ones((T, T), dtype=bool))              # t may see s <= t
scores = np.where(mask, scores, -np.inf)
weights = np.exp(scores - scores.max(axis=1, keepdims=True))
weights /= weights.sum(axis=1, keepdims=True)
by_hand = weights @ v
print("attention weights (row t: how much token t reads from each s):")
print(np.round(weights, 3))

# The library's layer does the same with one Linear for q, k and v together
layer = nn.CausalSelfAttention(C, num_heads=1, bias=False)
layer.load_state_dict({"qkv.weight": np.concatenate([Wq, Wk, Wv]).astype(np.float32),
                       "proj.weight": np.eye(C, dtype=np.float32)})  # no output mixing
ours = layer(sg.tensor(x[None])).numpy()[0]
print("nn.CausalSelfAttention equals the hand computation:",
      np.allclose(ours, by_hand, atol=1e-5))
print("so does F.scaled_dot_product_attention:", np.allclose(
    F.scaled_dot_product_attention(sg.tensor(q), sg.tensor(k), sg.tensor(v),
                                   is_causal=True).numpy(), by_hand, atol=1e-5))

# %% [markdown]
# ## 2. Causality, through the gradient
#
# Output t must not depend on any x_s with s > t.  The gradient of output t
# with respect to the whole input is zero on every later token: the
# masked-out weights are exactly 0, and so is everything that flows
# through them.

# %%
xt = sg.tensor(x[None], requires_grad=True)
out = layer(xt)
reach = np.array([[np.abs(sg.grad(out[0, t].sum(), xt, retain_graph=True)[0].numpy()[0, s]).sum()
                   for s in range(T)] for t in range(T)])
print("|d output_t / d x_s| (rows t, columns s):\n", np.round(reach, 3))
print("zero above the diagonal:", np.all(np.triu(reach, 1) == 0))

# %% [markdown]
# ## 3. The character model
#
# Tiny Shakespeare is bundled with scratchgen (1,115,394 characters, 65
# distinct).  Each character is a token; the first 90% of the text trains,
# the last 10% validates.  The model is nanoGPT's CPU configuration: token
# and position embeddings, 4 pre-LayerNorm blocks of 4-head causal attention
# and a GELU MLP, embedding 128, context 64, output layer tied to the token
# embedding.  Training: 2,000 AdamW steps on batches of 12 random windows,
# learning rate warmed up over 100 steps then a cosine down to 1e-4,
# gradients clipped at norm 1.  A uniform guess over 65 characters would
# score ln 65 = 4.17 nats per character.

# %%
data = load_text_dataset()
print(f"train {len(data.train):,} characters, validation {len(data.val):,}, "
      f"vocabulary {len(data.vocab)}: {data.vocab.chars!r}")
config = dict(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
if args.quick:
    config.update(block_size=16, n_layer=1, n_embd=32)
iters = 20 if args.quick else 2000
sg.manual_seed(1337)
model = CharTransformer(data.vocab.chars, **config)
print(f"{sum(p.size for p in model.parameters()):,} parameters")
optimizers = model.make_optimizers(1e-3, weight_decay=0.1, betas=(0.9, 0.99))
windows, eval_windows = np.random.default_rng(1337), np.random.default_rng(1338)


def estimate(tokens, batches=20):
    with sg.no_grad():
        return float(np.mean([model.loss(*random_windows(tokens, model.block_size, 12,
                                                         eval_windows)).item()
                              for _ in range(batches)]))


losses, evals = [], []
start = time.perf_counter()
for it in range(iters + 1):
    if it % (5 if args.quick else 250) == 0:
        evals.append((it, estimate(data.train), estimate(data.val)))
        print(f"iter {it}: train {evals[-1][1]:.3f}, val {evals[-1][2]:.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    if it == iters:
        break
    lr = warmup_cosine_lr(it, 1e-3, 1e-4, 100, iters)
    batch = random_windows(data.train, model.block_size, 12, windows)
    losses.append(model.train_step(batch, optimizers, lr=lr, clip=1.0)["loss"])
model.eval()
losses = host_values(losses)  # one copy to the host for the whole run
val = data.val[:3000] if args.quick else data.val
nats = model.text_nll(val)
print(f"validation loss over the whole validation text: {nats:.4f} nats per character = "
      f"{nats / math.log(2):.3f} bits per character")

fig = Figure(figsize=(6, 3.5))
ax = fig.add_subplot()
ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.5, alpha=0.5, label="training batch")
ax.plot([e[0] for e in evals], [e[1] for e in evals], "o-", label="train (20 batches)")
ax.plot([e[0] for e in evals], [e[2] for e in evals], "o-", label="validation (20 batches)")
ax.axhline(math.log(65), color="grey", ls=":", label="uniform guess, ln 65")
ax.set_xlabel("iteration")
ax.set_ylabel("nats per character")
ax.set_title(f"char GPT on Tiny Shakespeare: val {nats:.3f} nats/char")
ax.legend()
savefig(fig, "16_charlm_loss.png")

# %% [markdown]
# ## 4. Samples, and what temperature does
#
# Generation feeds the model its own output: draw the next character from
# softmax(logits / temperature), append it, repeat.  Below 1 the
# temperature sharpens the distribution (safer, more repetitive text);
# above 1 it flattens it (more surprising, more misspelt).  Top-k keeps
# only the k likeliest characters.  The prompt is the control a text model
# offers: "ROMEO:" makes it continue as a speech of Romeo.

# %%
texts = {}
for temperature in (0.5, 0.8, 1.0, 1.5):
    sg.manual_seed(0)
    texts[temperature] = model.sample(1, length=200, prompt="ROMEO:",
                                      temperature=temperature, top_k=40)[0]
    print(f"--- temperature {temperature}, top-k 40 ---\n{texts[temperature]}\n")

fig = Figure(figsize=(13, 8))
for i, (temperature, text) in enumerate(texts.items()):
    ax = fig.add_subplot(2, 2, i + 1)
    ax.axis("off")
    ax.set_title(f"temperature {temperature}", loc="left")
    ax.text(0, 1, text, va="top", ha="left", family="monospace", fontsize=8, wrap=True)
savefig(fig, "16_charlm_samples.png")

# %% [markdown]
# ## 5. Attention maps
#
# Which earlier characters does each position read?  Keep the attention
# weights of the first and the last block while the model reads a line of
# the validation text.  Heads specialise: some look one or two characters
# back (spelling), some at the start of the word or line.

# %%
start_at = int(np.flatnonzero(data.val[:2000] == data.vocab.encode("\n")[0])[3]) + 1
line = data.val[start_at:start_at + model.block_size]
blocks = [model.blocks[0], model.blocks[-1]]
for block in blocks:
    block.attn.keep_attention = True
with sg.no_grad():
    model(line[None])
labels = [c if c != "\n" else "⏎" for c in data.vocab.decode(line)]
heads = model.blocks[0].attn.num_heads
fig = Figure(figsize=(3.2 * heads, 6.6))
for row, block in enumerate(blocks):
    for h in range(heads):
        ax = fig.add_subplot(2, heads, row * heads + h + 1)
        ax.imshow(block.attn.attention.numpy()[0, h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"block {0 if row == 0 else len(model.blocks) - 1}, head {h}", fontsize=9)
        n = len(labels)
        ticks = range(0, n, max(1, n // 16))
        ax.set_xticks(list(ticks), [labels[i] for i in ticks], fontsize=6)
        ax.set_yticks(list(ticks), [labels[i] for i in ticks], fontsize=6)
fig.suptitle("attention weights: row = reading position, column = position read")
savefig(fig, "16_attention_map.png")
for block in blocks:
    block.attn.keep_attention = False
