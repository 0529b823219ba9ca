#!/usr/bin/env python3
"""Writes a GPT-2-small-shaped ONNX model with random weights, for issue #14's
stretch measurement (does GPT-2-small prove within 24 GiB on 2 cores?).

    target/ci-python/bin/python models/transformers/gpt2_small.py [OUT_DIR]

OUT_DIR defaults to target/gpt2_small (the model is ~650 MB of float32
weights, so it is not committed). It holds network.onnx and input.json.

The graph is GPT-2 small's: 12 pre-LayerNorm blocks of width 768 with 12 heads,
context 64, vocabulary 50257, learned position embeddings, a causal mask
(Where on a constant mask, as `torch.onnx.export` writes it), GELU-tanh in its
decomposed export form, a final LayerNorm and the language-model head. The
node patterns are those of `models/gpt2_block` (exported by PyTorch from
models/transformers/generate.py), written here with `onnx.helper` so that
generating 124M parameters does not need torch. Weights follow GPT-2's
initialisation (normal, std 0.02; LayerNorm γ = 1, β = 0; biases 0); the head
is tied to the token embedding as in GPT-2 (an initializer holding wteᵀ, so
the file and zkinfer's IR hold it twice). Parameters: 123.7M distinct
(162.3M stored; GPT-2's 124.4M has 1,024 positions, this 64).
"""

import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS, WIDTH, HEADS, CONTEXT, VOCAB = 12, 768, 12, 64, 50257
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "gpt2_small")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(124)
    nodes, inits = [], []
    counter = [0]

    def name(base):
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def init(base, array):
        n = name(base)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    def node(op, inputs, **attrs):
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def layer_norm(x, prefix):
        g = init(f"{prefix}.weight", np.ones(WIDTH, np.float32))
        b = init(f"{prefix}.bias", np.zeros(WIDTH, np.float32))
        return node("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-5)

    def linear(x, fan_in, fan_out, prefix):
        w = init(f"{prefix}.weight", normal(fan_in, fan_out))
        b = init(f"{prefix}.bias", np.zeros(fan_out, np.float32))
        return node("Add", [b, node("MatMul", [x, w])])

    head = WIDTH // HEADS
    mask = init("causal_mask", np.triu(np.ones((1, 1, CONTEXT, CONTEXT), bool), k=1))
    heads_shape = init("heads_shape", np.array([1, CONTEXT, HEADS, head], np.int64))
    width_shape = init("width_shape", np.array([1, CONTEXT, WIDTH], np.int64))
    split = init("qkv_split", np.array([WIDTH] * 3, np.int64))
    scale = init("score_scale", np.array(1.0 / math.sqrt(head), np.float32))
    minus_inf = init("minus_inf", np.array(-np.inf, np.float32))
    gelu_c = [init(f"gelu_c{i}", np.array(v, np.float32))
              for i, v in enumerate([0.044715, math.sqrt(2 / math.pi), 1.0, 0.5])]

    wte = normal(VOCAB, WIDTH)
    x = node("Gather", [init("wte", wte), "tokens"], axis=0)
    x = node("Add", [x, init("wpe", normal(1, CONTEXT, WIDTH))])
    for layer in range(LAYERS):
        p = f"h.{layer}"
        h = layer_norm(x, f"{p}.ln_1")
        qkv = linear(h, WIDTH, 3 * WIDTH, f"{p}.attn.c_attn")
        q, k, v = (name("split") for _ in range(3))
        nodes.append(helper.make_node("Split", [qkv, split], [q, k, v], axis=2))
        q = node("Transpose", [node("Reshape", [q, heads_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [k, heads_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [v, heads_shape])], perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k]), scale])
        scores = node("Where", [mask, minus_inf, scores])
        att = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        att = node("Reshape", [node("Transpose", [att], perm=[0, 2, 1, 3]), width_shape])
        x = node("Add", [x, linear(att, WIDTH, WIDTH, f"{p}.attn.c_proj")])
        h = linear(layer_norm(x, f"{p}.ln_2"), WIDTH, 4 * WIDTH, f"{p}.mlp.c_fc")
        cube = node("Mul", [h, node("Mul", [h, h])])
        inner = node("Mul", [gelu_c[1], node("Add", [h, node("Mul", [gelu_c[0], cube])])])
        gelu = node("Mul", [gelu_c[3], node("Mul", [h, node("Add", [gelu_c[2], node("Tanh", [inner])])])])
        x = node("Add", [x, linear(gelu, 4 * WIDTH, WIDTH, f"{p}.mlp.c_proj")])
    x = layer_norm(x, "ln_f")
    logits = node("MatMul", [x, init("lm_head", np.ascontiguousarray(wte.T))])
    nodes.append(helper.make_node("Identity", [logits], ["logits"]))

    graph = helper.make_graph(
        nodes,
        "gpt2_small",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, CONTEXT])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CONTEXT, VOCAB])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = os.path.join(out_dir, "network.onnx")
    onnx.save(model, path)
    tokens = rng.integers(0, VOCAB, size=(1, CONTEXT)).tolist()
    with open(os.path.join(out_dir, "input.json"), "w") as f:
        json.dump({"input_data": tokens}, f)
    params = sum(int(np.prod(t.dims)) for t in inits if t.data_type == TensorProto.FLOAT)
    print(f"wrote {path}: {params / 1e6:.1f}M stored float parameters, {os.path.getsize(path) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
