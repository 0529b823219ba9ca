#!/usr/bin/env python3
"""Generates zkinfer's transformer models by exporting small PyTorch modules
with `torch.onnx.export` (the TorchScript exporter, `dynamo=False`: the graphs
most users have, with their Shape/Gather/Unsqueeze/Concat shape subgraphs and
the causal mask as a constant buffer).

Run from the repository root:  python3 models/transformers/generate.py
Needs `torch` (CPU is enough), `onnx`, `numpy`. Weights come from a seeded
torch generator (no training: the models are random but realistic in shape
and scale), so rerunning rewrites the same graphs up to the exporter version.

Models (each under models/<name>/ with network.onnx and input.json, plus
`reference_output`, the f32 output of the PyTorch module on the input):
- nanogpt: 4 layers, embedding 64, 4 heads, context 64, vocabulary 65,
  ~0.21M parameters, int64 token ids in, logits out; LayerNorm exported in
  its decomposed form (opset 14: ReduceMean, Sub, Pow, Add, Sqrt, Div).
  Trained for a few hundred steps (a minute on 2 cores) on a synthetic
  character-level corpus this script writes itself (sentences from small word
  lists), so its logits are those of a model that learned something, not of
  a random one. models/nanogpt/contexts.json holds 100 held-out 64-token
  contexts for the accuracy test (tests/onnx_import.rs).
- encoder: 2-layer bidirectional encoder on float features with the
  LayerNormalization op (opset 17) and a Sigmoid head.
- gpt2_block: one GPT-2-shaped block (pre-LayerNorm, 4 heads, GELU-tanh MLP)
  at toy width, causal mask, float input.
"""

import json
import math
import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads, ctx, causal=True):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.heads, self.d, self.causal = heads, d, causal
        self.register_buffer("bias", torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(self.d, dim=2)
        hs = c // self.heads
        k = k.view(b, t, self.heads, hs).transpose(1, 2)
        q = q.view(b, t, self.heads, hs).transpose(1, 2)
        v = v.view(b, t, self.heads, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        if self.causal:
            att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, d, heads, ctx, gelu="none", causal=True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, ctx, causal)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate=gelu), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, vocab=65, ctx=64, d=64, heads=4, layers=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, heads, ctx) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class Encoder(nn.Module):
    def __init__(self, features=16, d=32, heads=4, seq=16, layers=2):
        super().__init__()
        self.embed = nn.Linear(features, d)
        self.blocks = nn.ModuleList([Block(d, heads, seq, causal=False) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return torch.sigmoid(self.head(self.ln_f(x)))


class Gpt2Block(nn.Module):
    def __init__(self, d=64, heads=4, ctx=32):
        super().__init__()
        self.block = Block(d, heads, ctx, gelu="tanh")
        self.ln_f = nn.LayerNorm(d)

    def forward(self, x):
        return self.ln_f(self.block(x))


def init(module, seed):
    """GPT-2's initialisation (normal 0.02, residual projections scaled),
    LayerNorm gains and biases drawn near 1 and 0 so they are not trivial."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        with torch.no_grad():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            elif "wte" in name or "wpe" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    module.eval()
    return module


def export(module, example, name, opset, input_name="input"):
    path = os.path.join(ROOT, name, "network.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(
        module,
        (example,),
        path,
        input_names=[input_name],
        output_names=["output"],
        opset_version=opset,
        dynamo=False,
    )
    with torch.no_grad():
        out = module(example)
    data = example.numpy().reshape(-1)
    if data.dtype.kind == "i":
        flat = [int(v) for v in data]
    else:
        flat = [round(float(v), 4) for v in data]
    with open(os.path.join(ROOT, name, "input.json"), "w") as f:
        json.dump(
            {
                "input_data": [flat],
                "reference_output": [[round(float(v), 5) for v in out.numpy().reshape(-1)]],
            },
            f,
        )
        f.write("\n")


CHARS = " \n" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + ".,;:!?'-()0"


def corpus(seed, sentences):
    """Sentences from small word lists: enough structure to learn in a minute."""
    rng = np.random.default_rng(seed)
    subjects = ["the model", "a prover", "the verifier", "Alice", "Bob", "the network", "a token",
                "the lookup", "every layer", "the committee"]
    verbs = ["checks", "proves", "reads", "commits to", "answers", "rejects", "accepts", "folds",
             "sums", "opens"]
    objects = ["the proof", "a claim", "the weights", "each row", "the output", "a polynomial",
               "the input", "every column", "the table", "a random point"]
    ends = [".", "!", "?", ";"]
    text = []
    for _ in range(sentences):
        words = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"
        if rng.random() < 0.3:
            words += f" and {rng.choice(verbs)} {rng.choice(objects)}"
        text.append(words[0].upper() + words[1:] + rng.choice(ends))
        text.append("\n" if rng.random() < 0.2 else " ")
    return "".join(text)


def train(model, tokens, steps, ctx, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(tokens) - ctx - 1, (32,), generator=g)
        x = torch.stack([tokens[s:s + ctx] for s in starts])
        y = torch.stack([tokens[s + 1:s + ctx + 1] for s in starts])
        loss = F.cross_entropy(model(x).reshape(-1, len(CHARS)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss)


def nanogpt():
    torch.manual_seed(1)
    assert len(CHARS) == 65
    ids = {c: i for i, c in enumerate(CHARS)}
    train_text, held_out = corpus(7, 6000), corpus(8, 400)
    tokens = torch.tensor([ids[c] for c in train_text], dtype=torch.long)
    model = init(NanoGPT(), 1)
    loss = train(model, tokens, 400, 64, 9)
    print(f"nanogpt: final training loss {loss:.3f}")
    rng = np.random.default_rng(10)
    held = [ids[c] for c in held_out]
    starts = rng.integers(0, len(held) - 64, 101)
    contexts = [held[s:s + 64] for s in starts]
    export(model, torch.tensor([contexts[0]], dtype=torch.long), "nanogpt", 14, input_name="tokens")
    with open(os.path.join(ROOT, "nanogpt", "contexts.json"), "w") as f:
        json.dump({"vocabulary": CHARS, "contexts": contexts[1:]}, f)
        f.write("\n")


def encoder():
    model = init(Encoder(), 3)
    g = torch.Generator().manual_seed(4)
    x = torch.randn((1, 16, 16), generator=g)
    export(model, x, "encoder", 17)


def gpt2_block():
    model = init(Gpt2Block(), 5)
    g = torch.Generator().manual_seed(6)
    x = torch.randn((1, 32, 64), generator=g)
    export(model, x, "gpt2_block", 17)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    nanogpt()
    encoder()
    gpt2_block()


if __name__ == "__main__":
    main()
