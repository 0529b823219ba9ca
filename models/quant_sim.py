#!/usr/bin/env python3
"""Predicts zkinfer's quantization error on a model, without zkinfer.

Usage:  python3 models/quant_sim.py [--scale BITS] models/<name> [...]
Needs `onnx`, `numpy` and `onnxruntime`.

Runs the model twice with onnxruntime on its input.json: in f32, and with
every weight, the input and every node output rounded to a multiple of
2^-BITS (default 7), as zkinfer's fixed-point inference rounds them. Prints
the largest activation (the bound is |x| < 2^15 / 2^BITS) and the max abs
output error, also relative to the largest |output| (zkinfer's
`max_rel_error`). On the dense models it reproduces zkinfer's measured
errors (article_classification 0.0299 / 0.061, perceptron 0.0059 / 0.048,
ffn_tanh 0.019 / 0.013, authorization 0.0070 / 0.011), so it is a guide for
the tolerances of new models before their ops are lowered.
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper


def session(model):
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def load(folder):
    model = onnx.load(os.path.join(folder, "network.onnx"))
    with open(os.path.join(folder, "input.json")) as f:
        data = json.load(f)
    feeds = {}
    for inp, values in zip(model.graph.input, data["input_data"]):
        dims = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]  # symbolic batch → 1
        dtype = np.int64 if inp.type.tensor_type.elem_type == TensorProto.INT64 else np.float32
        feeds[inp.name] = np.array(values, dtype=dtype).reshape(dims)
    return model, feeds


def every_output(model):
    """The model with every node output as a graph output."""
    m = onnx.ModelProto.FromString(model.SerializeToString())
    names = [o for n in m.graph.node for o in n.output]
    del m.graph.output[:]
    m.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names)
    return m, names


def rounded(model, scale):
    """Float initializers rounded to 1/scale (an exponent of Pow too, since
    tract keeps it as an attribute: left alone), each node output rounded
    through Mul, Round, Div."""
    m = onnx.ModelProto.FromString(model.SerializeToString())
    exponents = {n.input[1] for n in m.graph.node if n.op_type == "Pow"}
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and t.name not in exponents:
            t.CopyFrom(numpy_helper.from_array((np.round(a * scale) / scale).astype(np.float32), t.name))
    nodes = []
    for n in m.graph.node:
        outputs = list(n.output)
        raw = onnx.NodeProto()
        raw.CopyFrom(n)
        del raw.output[:]
        raw.output.extend(o + ".raw" for o in outputs)
        nodes.append(raw)
        for o in outputs:
            nodes += [
                helper.make_node("Mul", [o + ".raw", "quant_sim.scale"], [o + ".scaled"]),
                helper.make_node("Round", [o + ".scaled"], [o + ".rounded"]),
                helper.make_node("Div", [o + ".rounded", "quant_sim.scale"], [o]),
            ]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.append(numpy_helper.from_array(np.float32(scale), "quant_sim.scale"))
    return m


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=7, help="fixed-point scale bits")
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    scale = float(2**args.scale)
    for folder in args.folders:
        model, feeds = load(folder)
        reference = session(model).run(None, feeds)
        everything, names = every_output(model)
        activations = session(everything).run(None, feeds)
        peaks = [float(np.abs(a).max()) if a.size else 0.0 for a in activations]
        q_feeds = {
            k: (np.round(v * scale) / scale).astype(np.float32) if v.dtype == np.float32 else v
            for k, v in feeds.items()
        }
        quantized = session(rounded(model, scale)).run(None, q_feeds)
        error = max(float(np.abs(q - r).max()) for q, r in zip(quantized, reference))
        magnitude = max(max(float(np.abs(r).max()) for r in reference), 1.0 / scale)
        print(
            f"{os.path.basename(os.path.normpath(folder)):26s} max|activation| {max(peaks):8.3f}"
            f" ({names[int(np.argmax(peaks))]})  max abs error {error:.4f}"
            f"  relative {error / magnitude:.4f}"
        )


if __name__ == "__main__":
    main()
