#!/usr/bin/env python3
"""Generates zkinfer's shipped ONNX models and their inputs, deterministically.

Run from the repository root:  python3 models/generate.py
Needs `onnx`, `numpy` and `onnxruntime` (pip install onnx numpy onnxruntime).
Every weight comes from a seeded numpy generator, so rerunning rewrites
identical files.

Layout: models/<name>/network.onnx and models/<name>/input.json (ezkl's
`{"input_data": [[...]]}` form), plus the error-path fixtures under
tests/fixtures/. The CNNs (lenet5, cifar_cnn) and the one-op models under
models/ops/<name>/ also carry `reference_output`: onnxruntime's f32 outputs on
the input exactly as written (one flat list per graph input in `input_data`
and per graph output in `reference_output`, in graph order; integer inputs as
JSON integers). It is not ezkl's `output_data`, which zkinfer treats as a
claimed output and checks exactly at the proof's scale: a float reference
differs from the quantized output by the quantization error, which the tests
bound instead. models/ops/ holds no network.onnx itself, so `zkinfer bench`
(every models/*/network.onnx) does not pick the one-op models up.

Weights are drawn as normal / sqrt(fan_in) (He-like without the factor 2;
the CNNs use He's 2 / fan_in variance after a ReLU), so hidden activations
stay O(1): far inside the importer's default activation bound
|x| < 2^15 / 2^7 = 256 in real terms at scale 2^7.
"""

import json
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

try:
    import onnxruntime
except ImportError:  # only the models with `reference_output` need it
    onnxruntime = None

OPSET = 13
ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(ROOT), "tests", "fixtures")


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def save(graph, path, opset=OPSET):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
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


# ---------------------------------------------------------------------------
# CNNs and one-op models, with onnxruntime's reference outputs.

ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}


def tensor(name, array):
    """An initializer keeping the array's dtype (float32 unless integer)."""
    array = np.asarray(array)
    if array.dtype.kind != "i":
        array = array.astype(np.float32)
    return numpy_helper.from_array(array, name)


def rounded(array):
    """Inputs as written to input.json: floats to 4 decimals, ints as they are."""
    array = np.asarray(array)
    if array.dtype.kind == "i":
        return array.astype(np.int64)
    return np.round(array.astype(np.float64), 4).astype(np.float32)


def json_list(array):
    array = np.asarray(array).reshape(-1)
    if array.dtype.kind == "i":
        return [int(v) for v in array]
    # Outputs to 5 decimals: far below one quantum (2^-7) and stable across
    # onnxruntime builds.
    return [round(float(v), 5) for v in array]


def network(path, nodes, feeds, outputs, inits=(), opset=OPSET):
    """Saves a graph whose inputs are `feeds` (name → array, in graph order)
    and whose outputs are the tensors named `outputs`, with their shapes as
    onnxruntime computes them, and writes input.json with `input_data` and
    `reference_output`. Returns the output arrays."""
    if onnxruntime is None:
        raise SystemExit("models with reference_output need onnxruntime: pip install onnxruntime")
    name = os.path.basename(path)
    inputs = [
        helper.make_tensor_value_info(k, ELEM[v.dtype], list(v.shape)) for k, v in feeds.items()
    ]

    def build(shapes):
        outs = [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[i] if shapes else None)
            for i, o in enumerate(outputs)
        ]
        return helper.make_graph(nodes, name, inputs, outs, list(inits))

    # First pass without output shapes, to learn them from onnxruntime.
    probe = helper.make_model(build(None), opset_imports=[helper.make_opsetid("", opset)])
    probe.ir_version = 8
    session = onnxruntime.InferenceSession(
        probe.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    results = session.run(outputs, feeds)
    save(build([list(r.shape) for r in results]), os.path.join(path, "network.onnx"), opset)
    with open(os.path.join(path, "input.json"), "w") as f:
        json.dump(
            {
                "input_data": [json_list(v) for v in feeds.values()],
                "reference_output": [json_list(r) for r in results],
            },
            f,
        )
        f.write("\n")
    return results


def conv_weights(rng, c_out, c_in_per_group, kernel, gain=1.0):
    """Conv weights [c_out, c_in/group, *kernel] ~ N(0, gain / fan_in) and
    small biases; gain 2 (He) after a ReLU keeps activations O(1)."""
    fan_in = c_in_per_group * int(np.prod(kernel))
    w = rng.standard_normal((c_out, c_in_per_group, *kernel)) * np.sqrt(gain / fan_in)
    b = rng.standard_normal(c_out) * 0.1
    return w, b


class Builder:
    """Appends nodes and initializers, naming each output after its node."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []

    def op(self, op_type, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x, name, c_out, c_in, kernel, gain, group=1, **attrs):
        w, b = conv_weights(self.rng, c_out, c_in // group, kernel, gain)
        self.inits += [tensor(f"{name}.weight", w), tensor(f"{name}.bias", b)]
        return self.op(
            "Conv", [x, f"{name}.weight", f"{name}.bias"], name,
            kernel_shape=list(kernel), group=group, **attrs,
        )

    def gemm(self, x, name, fan_in, fan_out, gain):
        # torch.nn.Linear's export: weight [out, in], transB=1.
        w = self.rng.standard_normal((fan_out, fan_in)) * np.sqrt(gain / fan_in)
        b = self.rng.standard_normal(fan_out) * 0.1
        self.inits += [tensor(f"{name}.weight", w), tensor(f"{name}.bias", b)]
        return self.op("Gemm", [x, f"{name}.weight", f"{name}.bias"], name, transB=1)

    def parameters(self):
        return sum(int(np.prod(t.dims)) for t in self.inits)


def lenet5():
    """LeNet-5 on a 1x28x28 image: Conv(6, 5x5, pad 2) ReLU MaxPool2
    Conv(16, 5x5) ReLU MaxPool2 Flatten Gemm(120) ReLU Gemm(84) ReLU Gemm(10),
    61,706 parameters, with the ops and layouts torch.onnx.export (opset 13)
    writes for nn.Conv2d / nn.MaxPool2d / nn.Flatten / nn.Linear (built here
    with onnx.helper: torch is a multi-GB install). Activations stay below 3;
    the simulated fixed-point error at scale 2^7 is ~0.05 (2% of the largest
    output)."""
    g = Builder(seed=5)
    x = g.conv("input", "conv1", 6, 1, (5, 5), gain=1.0, pads=[2, 2, 2, 2])
    x = g.op("Relu", [x], "relu1")
    x = g.op("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    x = g.conv(x, "conv2", 16, 6, (5, 5), gain=2.0)
    x = g.op("Relu", [x], "relu2")
    x = g.op("MaxPool", [x], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.gemm(x, "fc1", 400, 120, gain=2.0)
    x = g.op("Relu", [x], "relu3")
    x = g.gemm(x, "fc2", 120, 84, gain=2.0)
    x = g.op("Relu", [x], "relu4")
    g.gemm(x, "output", 84, 10, gain=2.0)
    # A digit-like image: pixel values in [0, 1], mostly dark, a bright ring.
    yy, xx = np.mgrid[0:28, 0:28]
    ring = np.exp(-(((np.hypot(yy - 14, xx - 14) - 8) / 1.8) ** 2))
    image = np.clip(ring + 0.1 * g.rng.random((28, 28)), 0.0, 1.0)
    feeds = {"input": rounded(image.reshape(1, 1, 28, 28))}
    network(os.path.join(ROOT, "lenet5"), g.nodes, feeds, ["output"], g.inits)
    return g.parameters()


def cifar_cnn():
    """A CIFAR-10-class CNN on 3x32x32: five 3x3 pad-1 convolutions with ReLU,
    two 2x2 MaxPools, one 2x2 AveragePool, Flatten, Gemm(56) ReLU Gemm(10).
    254,738 parameters; activations stay below 8. At scale 2^7 the rounding
    of weights with fan-in up to 576 costs ~4% per layer: a simulation of
    the fixed-point pipeline predicts a max abs output error near 0.18 (6%
    of the largest output), near 0.05 at scale 2^9."""
    g = Builder(seed=10)
    x = g.conv("input", "conv1", 32, 3, (3, 3), gain=1.0, pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], "relu1")
    x = g.conv(x, "conv2", 32, 32, (3, 3), gain=2.0, pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], "relu2")
    x = g.op("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])  # 16x16
    x = g.conv(x, "conv3", 64, 32, (3, 3), gain=2.0, pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], "relu3")
    x = g.conv(x, "conv4", 64, 64, (3, 3), gain=2.0, pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], "relu4")
    x = g.op("MaxPool", [x], "pool2", kernel_shape=[2, 2], strides=[2, 2])  # 8x8
    x = g.conv(x, "conv5", 128, 64, (3, 3), gain=2.0, pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], "relu5")
    x = g.op("AveragePool", [x], "pool3", kernel_shape=[2, 2], strides=[2, 2])  # 4x4
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.gemm(x, "fc1", 128 * 4 * 4, 56, gain=2.0)
    x = g.op("Relu", [x], "relu6")
    g.gemm(x, "output", 56, 10, gain=2.0)
    # A normalized image (per-channel zero mean, unit variance, as torchvision's
    # Normalize leaves it): smooth blobs plus noise, in [-2, 2].
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    channels = [np.sin(3 * xx + c) * np.cos(2 * yy - c) for c in range(3)]
    image = np.stack(channels) + 0.3 * g.rng.standard_normal((3, 32, 32))
    image = np.clip((image - image.mean()) / image.std(), -2.0, 2.0)
    feeds = {"input": rounded(image.reshape(1, 3, 32, 32))}
    network(os.path.join(ROOT, "cifar_cnn"), g.nodes, feeds, ["output"], g.inits)
    return g.parameters()


def one_op(name, shapes, nodes, outputs=("output",), inits=(), seed=0, low=-2.0, high=2.0,
           opset=OPSET):
    """models/ops/<name>: float inputs named by `shapes` (name → shape, in
    order) drawn uniform in [low, high), the graph `nodes`, outputs `outputs`."""
    rng = np.random.default_rng(seed)
    feeds = {k: rounded(rng.uniform(low, high, shape)) for k, shape in shapes.items()}
    network(os.path.join(ROOT, "ops", name), nodes, feeds, list(outputs), inits, opset)


def node(op_type, inputs, output="output", **attrs):
    return helper.make_node(op_type, inputs, [output], name=output, **attrs)


def ints(name, values):
    return tensor(name, np.asarray(values, dtype=np.int64))


def one_op_models():
    rng = np.random.default_rng(13)
    w, b = conv_weights(rng, 3, 2, (3,))
    one_op("conv1d", {"input": [1, 2, 16]},
           [node("Conv", ["input", "w", "b"], kernel_shape=[3], pads=[1, 1])],
           inits=[tensor("w", w), tensor("b", b)], seed=1)
    # Effective kernel 5 (3 taps, dilation 2): (9 + 2 − 5) / 2 + 1 = 4.
    w, b = conv_weights(rng, 4, 2, (3, 3))
    one_op("conv2d_strided_dilated", {"input": [1, 2, 9, 9]},
           [node("Conv", ["input", "w", "b"], kernel_shape=[3, 3], strides=[2, 2],
                 dilations=[2, 2], pads=[1, 1, 1, 1])],
           inits=[tensor("w", w), tensor("b", b)], seed=2)
    w, b = conv_weights(rng, 4, 1, (3, 3))
    one_op("conv2d_depthwise", {"input": [1, 4, 8, 8]},
           [node("Conv", ["input", "w", "b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4)],
           inits=[tensor("w", w), tensor("b", b)], seed=3)
    # ResNet's stem pool: overlapping windows and −inf padding.
    one_op("maxpool", {"input": [1, 2, 8, 8]},
           [node("MaxPool", ["input"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
           seed=4)
    # torch.nn.AvgPool2d's default export: padding counted (divisor 9 everywhere).
    one_op("averagepool", {"input": [1, 2, 8, 8]},
           [node("AveragePool", ["input"], kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1], count_include_pad=1)],
           seed=5)
    one_op("globalaveragepool", {"input": [1, 4, 5, 5]},
           [node("GlobalAveragePool", ["input"])], seed=6)
    # Right after the input: nothing to fold it into.
    one_op("batchnorm", {"input": [1, 3, 4, 4]},
           [node("BatchNormalization", ["input", "scale", "bias", "mean", "var"], epsilon=1e-5)],
           inits=[tensor("scale", rng.uniform(0.5, 1.5, 3)), tensor("bias", rng.uniform(-0.5, 0.5, 3)),
                  tensor("mean", rng.uniform(-0.5, 0.5, 3)), tensor("var", rng.uniform(0.5, 2.0, 3))],
           seed=7)
    one_op("transpose", {"input": [1, 2, 3, 4]},
           [node("Transpose", ["input"], perm=[0, 2, 3, 1])], seed=8)
    one_op("reshape_layout", {"input": [1, 3, 5]},
           [node("Reshape", ["input", "shape"])], inits=[ints("shape", [1, 5, 3])], seed=9)
    one_op("flatten", {"input": [1, 2, 3, 4]}, [node("Flatten", ["input"], axis=1)], seed=10)
    # Axis 1: 0, 2 of 4; axis 2: 1, 4, 7 of 10 → [1, 2, 3].
    one_op("slice_steps", {"input": [1, 4, 10]},
           [node("Slice", ["input", "starts", "ends", "axes", "steps"])],
           inits=[ints("starts", [0, 1]), ints("ends", [4, 10]), ints("axes", [1, 2]),
                  ints("steps", [2, 3])], seed=11)
    # The input twice around a constant block.
    one_op("concat", {"input": [1, 2, 4]},
           [node("Concat", ["input", "c", "input"], axis=1)],
           inits=[tensor("c", rng.uniform(-2, 2, (1, 3, 4)))], seed=12)
    one_op("split", {"input": [1, 6, 4]},
           [helper.make_node("Split", ["input", "parts"], ["first", "second"], name="split", axis=1)],
           outputs=("first", "second"), inits=[ints("parts", [2, 4])], seed=13)
    one_op("squeeze_unsqueeze", {"input": [1, 3, 1, 4]},
           [node("Squeeze", ["input", "sq_axes"], "squeezed"),
            node("Unsqueeze", ["squeezed", "unsq_axes"])],
           inits=[ints("sq_axes", [2]), ints("unsq_axes", [0])], seed=14)
    one_op("pad", {"input": [1, 2, 3, 3]},
           [node("Pad", ["input", "pads"], mode="constant")],
           inits=[ints("pads", [0, 0, 1, 2, 0, 0, 2, 1])], seed=15)
    one_op("identity", {"input": [1, 6]}, [node("Identity", ["input"])], seed=16)
    one_op("reduce_sum", {"input": [1, 3, 4]},
           [node("ReduceSum", ["input", "axes"], keepdims=0)], inits=[ints("axes", [1])], seed=17)
    # Divisor 5: not a power of two.
    one_op("reduce_mean", {"input": [1, 3, 5]},
           [node("ReduceMean", ["input"], axes=[2], keepdims=1)], seed=18)
    one_op("square", {"input": [1, 8]},
           [node("Mul", ["input", "input"], "mul_square"),
            node("Pow", ["input", "two"], "pow_square"),
            node("Add", ["mul_square", "pow_square"])],
           inits=[tensor("two", np.float32(2.0))], seed=19)
    one_op("pow3", {"input": [1, 8]}, [node("Pow", ["input", "three"])],
           inits=[tensor("three", np.float32(3.0))], seed=20)
    one_op("div_const", {"input": [1, 8]}, [node("Div", ["input", "divisor"])],
           inits=[tensor("divisor", np.float32(3.0))], seed=21)
    # Both operands broadcast: [2,1,8] + [1,4,1] → [2,4,8]; second operand a
    # second input, so nothing can fold it.
    one_op("broadcast_both", {"a": [2, 1, 8], "b": [1, 4, 1]},
           [node("Add", ["a", "b"])], seed=22)
    # The same from one input: Split 20 → 16 + 4, reshaped to [2,1,8] and [1,4,1].
    one_op("broadcast_both_computed", {"input": [1, 20]},
           [helper.make_node("Split", ["input", "parts"], ["p16", "p4"], name="split", axis=1),
            node("Reshape", ["p16", "shape_a"], "a"),
            node("Reshape", ["p4", "shape_b"], "b"),
            node("Add", ["a", "b"])],
           inits=[ints("parts", [16, 4]), ints("shape_a", [2, 1, 8]), ints("shape_b", [1, 4, 1])],
           seed=23)
    two_inputs_two_outputs()
    int_inputs()
    attention_scores()
    attention_heads()
    gelu_exp()
    transformer_ops()
    masks()
    attention_scale()
    layernorm_dense()


def attention_scores():
    # Q·Kᵀ of two activations (one head's attention scores): K is laid out
    # [tokens, dim] and transposed inside the product.
    rng = np.random.default_rng(26)
    wq = tensor("wq", rng.uniform(-0.5, 0.5, (8, 8)))
    wk = tensor("wk", rng.uniform(-0.5, 0.5, (8, 8)))
    one_op("matmul_qk", {"input": [4, 8]},
           [node("MatMul", ["input", "wq"], "q"),
            node("MatMul", ["input", "wk"], "k"),
            node("Transpose", ["k"], "kt", perm=[1, 0]),
            node("MatMul", ["q", "kt"])],
           inits=[wq, wk], seed=27, low=-1.0, high=1.0)


def attention_heads():
    # Two heads of scores·V with scores = Q·Kᵀ per head (batched products of
    # activations): Q = V = x, K = x scaled per feature.
    rng = np.random.default_rng(28)
    one_op("matmul_heads", {"input": [2, 4, 8]},
           [node("Mul", ["input", "kscale"], "k"),
            node("Transpose", ["k"], "kt", perm=[0, 2, 1]),
            node("MatMul", ["input", "kt"], "scores"),
            node("MatMul", ["scores", "input"])],
           inits=[tensor("kscale", rng.uniform(-0.5, 0.5, (8,)))], seed=29, low=-1.0, high=1.0)


def gelu_exp():
    # GELU in its exact form, as torch exports it: x·(1 + erf(x/√2))/2.
    one_op("gelu_erf", {"input": [1, 16]},
           [node("Div", ["input", "sqrt2"], "scaled"),
            node("Erf", ["scaled"], "erf"),
            node("Add", ["erf", "one"], "plus_one"),
            node("Mul", ["input", "plus_one"], "times_x"),
            node("Mul", ["times_x", "half"])],
           inits=[tensor("sqrt2", np.float32(np.sqrt(2.0))), tensor("one", np.float32(1.0)),
                  tensor("half", np.float32(0.5))], seed=30, low=-3.0, high=3.0)
    # GELU's tanh form (GPT-2's): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    one_op("gelu_tanh", {"input": [1, 16]},
           [node("Pow", ["input", "three"], "cube"),
            node("Mul", ["cube", "c"], "cube_c"),
            node("Add", ["input", "cube_c"], "inner"),
            node("Mul", ["inner", "k"], "scaled"),
            node("Tanh", ["scaled"], "t"),
            node("Add", ["t", "one"], "plus_one"),
            node("Mul", ["input", "plus_one"], "times_x"),
            node("Mul", ["times_x", "half"])],
           inits=[tensor("three", np.float32(3.0)), tensor("c", np.float32(0.044715)),
                  tensor("k", np.float32(np.sqrt(2.0 / np.pi))), tensor("one", np.float32(1.0)),
                  tensor("half", np.float32(0.5))], seed=32, low=-3.0, high=3.0)
    # Exp of values at most 0 (as inside a Softmax, after the max is taken).
    one_op("exp", {"input": [1, 16]}, [node("Exp", ["input"])], seed=31, low=-6.0, high=0.0)


def transformer_ops():
    rng = np.random.default_rng(40)
    # Softmax over the last axis of attention-like scores.
    one_op("softmax", {"input": [2, 4, 8]}, [node("Softmax", ["input"], axis=-1)],
           seed=41, low=-3.0, high=3.0)
    # A causal mask: Where(mask, scores, −inf) on a constant lower-triangular
    # mask, then Softmax (the masked entries get probability 0).
    mask = np.tril(np.ones((6, 6), dtype=bool))
    one_op("causal_softmax", {"input": [2, 6, 6]},
           [node("Where", ["mask", "input", "neg_inf"], "masked"),
            node("Softmax", ["masked"], axis=-1)],
           inits=[numpy_helper.from_array(mask, "mask"),
                  tensor("neg_inf", np.float32(-np.inf))], seed=42, low=-3.0, high=3.0)
    # LayerNormalization, the op (opset 17), with scale and bias.
    one_op("layernorm", {"input": [4, 16]},
           [node("LayerNormalization", ["input", "gamma", "beta"], axis=-1, epsilon=1e-5)],
           inits=[tensor("gamma", rng.uniform(0.5, 1.5, 16)), tensor("beta", rng.uniform(-0.5, 0.5, 16))],
           seed=43, low=-2.0, high=2.0, opset=17)
    # Division of two activations (the divisor positive): x / (x² + 1).
    one_op("div", {"input": [1, 16]},
           [node("Mul", ["input", "input"], "square"),
            node("Add", ["square", "one"], "denominator"),
            node("Div", ["input", "denominator"])],
           inits=[tensor("one", np.float32(1.0))], seed=44, low=-2.0, high=2.0)
    # The max over the last axis, kept as an axis of 1.
    one_op("reduce_max", {"input": [3, 10]}, [node("ReduceMax", ["input"], axes=[-1], keepdims=1)],
           seed=45, low=-2.0, high=2.0)
    # x − max(x) over the last axis, written out (Softmax's shift): the max is
    # read only by the Sub, so the importer fuses both into one MaxShift.
    one_op("max_shift", {"input": [3, 10]},
           [node("ReduceMax", ["input"], "max", axes=[-1], keepdims=1),
            node("Sub", ["input", "max"])],
           seed=50, low=-2.0, high=2.0)
    # Square root and its reciprocal of a positive activation.
    one_op("sqrt", {"input": [1, 16]},
           [node("Mul", ["input", "input"], "square"),
            node("Add", ["square", "one"], "positive"),
            node("Sqrt", ["positive"], "root"),
            node("Reciprocal", ["root"])],
           inits=[tensor("one", np.float32(1.0))], seed=46, low=-2.0, high=2.0)


def masks():
    rng = np.random.default_rng(47)
    # Where on a constant condition with a finite fill (no Softmax after it),
    # the condition broadcast over the leading axis: the masked copy `Select`.
    cond = rng.uniform(0, 1, (4, 6)) < 0.5
    one_op("where_mask", {"input": [2, 4, 6]},
           [node("Where", ["cond", "input", "fill"])],
           inits=[numpy_helper.from_array(cond, "cond"), tensor("fill", np.float32(-5.0))],
           seed=48, low=-3.0, high=3.0)
    # Multiplication by a constant 0/1 mask: the same masked copy, fill 0.
    one_op("mul_mask", {"input": [3, 8]}, [node("Mul", ["input", "mask"])],
           inits=[tensor("mask", (rng.uniform(0, 1, (1, 8)) < 0.5).astype(np.float32))],
           seed=49, low=-3.0, high=3.0)


def attention_scale():
    # Two heads' scaled scores (Q·Kᵀ)·(1/√3) with Q, K projections of the
    # input (Q with a bias) split into heads by Reshape and Transpose, as
    # exported attention has them: the scale folds into Q's projection.
    rng = np.random.default_rng(50)
    one_op("attention_scale", {"input": [1, 4, 8]},
           [node("MatMul", ["input", "wq"], "q_proj"),
            node("Add", ["q_proj", "bq"], "q"),
            node("Reshape", ["q", "heads"], "q_heads"),
            node("Transpose", ["q_heads"], "q_t", perm=[0, 2, 1, 3]),
            node("MatMul", ["input", "wk"], "k"),
            node("Reshape", ["k", "heads"], "k_heads"),
            node("Transpose", ["k_heads"], "k_t", perm=[0, 2, 3, 1]),
            node("MatMul", ["q_t", "k_t"], "scores"),
            node("Mul", ["scores", "scale"])],
           inits=[tensor("wq", rng.uniform(-0.5, 0.5, (8, 8))),
                  tensor("bq", rng.uniform(-0.5, 0.5, (8,))),
                  tensor("wk", rng.uniform(-0.5, 0.5, (8, 8))),
                  ints("heads", [1, 4, 2, 4]),
                  tensor("scale", np.float32(1.0 / math.sqrt(3.0)))],
           seed=51, low=-1.0, high=1.0)


def layernorm_dense():
    # LayerNormalization (scale and bias) read only by a dense layer without
    # a bias: the norm's affine part folds into the layer's weights and bias.
    rng = np.random.default_rng(52)
    one_op("layernorm_dense", {"input": [4, 16]},
           [node("LayerNormalization", ["input", "gamma", "beta"], "normed", axis=-1,
                 epsilon=1e-5),
            node("MatMul", ["normed", "w"])],
           inits=[tensor("gamma", rng.uniform(0.5, 1.5, 16)),
                  tensor("beta", rng.uniform(-0.5, 0.5, 16)),
                  tensor("w", rng.uniform(-0.5, 0.5, (16, 8)))],
           seed=53, low=-2.0, high=2.0, opset=17)


def two_inputs_two_outputs():
    one_op("two_inputs_two_outputs", {"a": [1, 4], "b": [1, 4]},
           [node("Add", ["a", "b"], "sum"), node("Mul", ["a", "b"], "product")],
           outputs=("sum", "product"), seed=24)


def int_inputs():
    rng = np.random.default_rng(25)
    # int64 token ids → Cast to float → Mul by a constant.
    ids = np.array([[3, 0, 7, 1, 9, 4]], dtype=np.int64)
    network(os.path.join(ROOT, "ops", "int_input"),
            [node("Cast", ["ids"], "ids_f", to=TensorProto.FLOAT),
             node("Mul", ["ids_f", "c"])],
            {"ids": ids}, ["output"], [tensor("c", rng.uniform(-1, 1, (1, 6)))])
    # int64 token ids → Gather rows of an embedding table (the transformer's
    # first op).
    network(os.path.join(ROOT, "ops", "int_gather"),
            [node("Gather", ["table", "ids"], axis=0)],
            {"ids": ids}, ["output"], [tensor("table", rng.uniform(-1, 1, (10, 4)))])


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
    print(f"lenet5: {lenet5()} parameters")
    print(f"cifar_cnn: {cifar_cnn()} parameters")
    one_op_models()


if __name__ == "__main__":
    main()
