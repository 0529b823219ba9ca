#!/usr/bin/env python3
"""Generates zkinfer's shipped ONNX models and their inputs, deterministically.

Run from the repository root:  python3 models/generate.py
Needs `onnx` and `numpy` (pip install onnx numpy). Every weight comes from a
seeded numpy generator, so rerunning rewrites identical files.

Layout: models/<name>/network.onnx and models/<name>/input.json (ezkl's
`{"input_data": [[...]]}` form), plus the error-path fixtures under
tests/fixtures/.

Weights are drawn as normal / sqrt(fan_in) (He-like without the factor 2), so
hidden activations stay O(1): far inside the importer's default activation
bound |x| < 2^15 / 2^7 = 256 in real terms at scale 2^7.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(ROOT), "tests", "fixtures")


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def save(graph, path):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="zkinfer-models-generate",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def write_input(name, values):
    flat = [round(float(v), 4) for v in np.asarray(values).reshape(-1)]
    with open(os.path.join(ROOT, name, "input.json"), "w") as f:
        json.dump({"input_data": [flat]}, f)
        f.write("\n")


def dense_weights(rng, fan_in, fan_out, trans_b):
    w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
    b = rng.standard_normal(fan_out) * 0.1
    return (w.T if trans_b else w), b


def mlp(name, dims, activation, seed, trans_b, batch_dim, use_matmul=False):
    """A chain of dense layers (Gemm, or MatMul + Add), `activation` after
    every layer but the last."""
    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_dim, dims[0]])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch_dim, dims[-1]])
    nodes, inits = [], []
    current = "input"
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        w, b = dense_weights(rng, fan_in, fan_out, trans_b and not use_matmul)
        inits += [const(f"fc{i}.weight", w), const(f"fc{i}.bias", b)]
        last = i == len(dims) - 2
        out = "output" if last else f"fc{i}_out"
        if use_matmul:
            nodes.append(helper.make_node("MatMul", [current, f"fc{i}.weight"], [f"fc{i}_mm"], name=f"fc{i}_matmul"))
            nodes.append(helper.make_node("Add", [f"fc{i}_mm", f"fc{i}.bias"], [out], name=f"fc{i}_bias"))
        else:
            nodes.append(
                helper.make_node(
                    "Gemm",
                    [current, f"fc{i}.weight", f"fc{i}.bias"],
                    [out],
                    name=f"fc{i}",
                    transB=1 if trans_b else 0,
                )
            )
        if not last:
            act_out = f"act{i}_out"
            nodes.append(helper.make_node(activation, [out], [act_out], name=f"{activation.lower()}{i}"))
            current = act_out
    save(helper.make_graph(nodes, name, [x], [y], inits), os.path.join(ROOT, name, "network.onnx"))
    write_input(name, rng.uniform(-1.0, 1.0, dims[0]))


def addsubmul0():
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])
    nodes = [
        helper.make_node("Add", ["input", "c"], ["sum"], name="add"),
        helper.make_node("Sub", ["input", "c"], ["diff"], name="sub"),
        helper.make_node("Mul", ["sum", "diff"], ["output"], name="mul"),
    ]
    graph = helper.make_graph(nodes, "addsubmul0", [x], [y], [const("c", [3.14])])
    save(graph, os.path.join(ROOT, "addsubmul0", "network.onnx"))
    write_input("addsubmul0", [1.75])


def addsubmul1():
    rng = np.random.default_rng(11)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 10])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])
    # |x| ≤ 4 and |c| ≤ 4 keep |(x+c)(x−c)| ≤ 16, inside the bound of 256.
    c = rng.uniform(-4.0, 4.0, 10)
    nodes = [
        # Constant first on the Add: the importer must swap the operands.
        helper.make_node("Add", ["c", "input"], ["sum"], name="add"),
        helper.make_node("Sub", ["input", "c"], ["diff"], name="sub"),
        helper.make_node("Mul", ["sum", "diff"], ["output"], name="mul"),
    ]
    graph = helper.make_graph(nodes, "addsubmul1", [x], [y], [const("c", c)])
    save(graph, os.path.join(ROOT, "addsubmul1", "network.onnx"))
    write_input("addsubmul1", rng.uniform(-4.0, 4.0, 10))


def fixtures():
    # Gemm then Cos: Cos has no IR op.
    rng = np.random.default_rng(99)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])
    w, b = dense_weights(rng, 4, 3, True)
    nodes = [
        helper.make_node("Gemm", ["input", "w", "b"], ["h"], name="fc0", transB=1),
        helper.make_node("Cos", ["h"], ["output"], name="cosine_node"),
    ]
    graph = helper.make_graph(nodes, "unsupported_op", [x], [y], [const("w", w), const("b", b)])
    save(graph, os.path.join(FIXTURES, "unsupported_op.onnx"))

    # c − x with the constant first: rejected by the importer.
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])
    nodes = [helper.make_node("Sub", ["c", "input"], ["output"], name="const_minus_x")]
    graph = helper.make_graph(nodes, "sub_const_first", [x], [y], [const("c", [1.0, 2.0, 3.0])])
    save(graph, os.path.join(FIXTURES, "sub_const_first.onnx"))

    # Two inputs: the IR has exactly one.
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])
    nodes = [helper.make_node("Add", ["a", "b"], ["output"], name="add_inputs")]
    graph = helper.make_graph(nodes, "two_inputs", [a, b], [y])
    save(graph, os.path.join(FIXTURES, "two_inputs.onnx"))


def main():
    addsubmul0()
    addsubmul1()
    # Payment-authorization classifier: 64 transaction features → 4 decisions.
    mlp("authorization", [64, 32, 16, 4], "Relu", seed=1, trans_b=True, batch_dim="batch_size")
    # Gemm with transB=0 (weights stored [k, n]).
    mlp("perceptron", [4, 30, 30, 30, 3], "Relu", seed=2, trans_b=False, batch_dim=1)
    # ONNX MatMul + Add rather than Gemm.
    mlp("ffn_tanh", [30, 31, 30], "Tanh", seed=3, trans_b=False, batch_dim=1, use_matmul=True)
    mlp("article_classification", [512, 256, 128, 8], "Relu", seed=4, trans_b=True, batch_dim="N")
    fixtures()


if __name__ == "__main__":
    main()
