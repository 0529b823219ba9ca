//! Convolutions and pooling: tract's `Conv`, `MaxPool` and `SumPool` (what
//! ONNX AveragePool becomes) over `NCHW`/`CHW` data with batch 1 and 1 or 2
//! spatial axes. Conv and MaxPool map to the IR ops of the same name; a
//! normalized SumPool becomes an IR `SumPool` followed by a `Mul` by the
//! constant 1/count of each output position.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::model::{self, Node, Op, TensorKind};
use crate::onnx::lower::{Lowering, Operand};
use crate::onnx::ImportError;
use crate::ops::conv::Window;

/// The geometry tract computed for one node.
struct Geometry {
    channels: usize,
    input: Vec<usize>,
    output: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<(usize, usize)>,
}

fn geometry(cx: &Lowering, node: &TypedNode, spec: &PoolSpec) -> Result<Geometry, ImportError> {
    let shape = cx.input_shape(node, 0)?;
    let unsupported = |what: String| Lowering::unsupported(node, what);
    let (channels, spatial) = match spec.data_format {
        DataFormat::NCHW if shape.len() >= 3 => {
            if shape[0] != 1 {
                return Err(unsupported(format!("batch of {} (only 1)", shape[0])));
            }
            (shape[1], shape[2..].to_vec())
        }
        DataFormat::CHW if shape.len() >= 2 => (shape[0], shape[1..].to_vec()),
        other => {
            return Err(unsupported(format!(
                "data format {other:?} with input shape {shape:?} (only NCHW/CHW)"
            )))
        }
    };
    if !(1..=2).contains(&spatial.len()) {
        return Err(unsupported(format!(
            "{} spatial axes (1 or 2 are supported)",
            spatial.len()
        )));
    }
    let padding = spec.computed_padding(&spatial);
    Ok(Geometry {
        channels,
        output: padding.iter().map(|p| p.convoluted).collect(),
        pads: padding
            .iter()
            .map(|p| (p.pad_before, p.pad_after))
            .collect(),
        input: spatial,
        kernel: spec.kernel_shape.to_vec(),
        strides: spec.strides().to_vec(),
        dilations: spec.dilations().to_vec(),
    })
}

fn activation_operand(cx: &Lowering, node: &TypedNode) -> Result<usize, ImportError> {
    match cx.operand(node, 0)? {
        Operand::Tensor(t) => Ok(t),
        Operand::Const(_) => Err(Lowering::unsupported(node, "constant input")),
    }
}

fn constant(cx: &Lowering, node: &TypedNode, slot: usize) -> Result<Arc<Tensor>, ImportError> {
    match cx.operand(node, slot)? {
        Operand::Const(k) => Ok(k),
        Operand::Tensor(_) => Err(Lowering::unsupported(
            node,
            format!(
                "input {slot} computed from the model input (only constant kernels and biases)"
            ),
        )),
    }
}

fn weight_name(cx: &Lowering, node: &TypedNode, slot: usize, what: &str) -> String {
    cx.typed
        .outlet_label(node.inputs[slot])
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.{what}", node.name))
}

pub(super) fn lower_conv(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<Conv>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected Conv)"))?;
    if op.q_params.is_some() {
        return Err(Lowering::unsupported(node, "quantized convolution"));
    }
    if op.kernel_fmt != KernelFormat::OIHW {
        return Err(Lowering::unsupported(
            node,
            format!("kernel format {:?} (only OIHW)", op.kernel_fmt),
        ));
    }
    let g = geometry(cx, node, &op.pool_spec)?;
    let x = activation_operand(cx, node)?;
    let kernel = constant(cx, node, 1)?;
    let kernel_values = Lowering::const_values(node, &kernel)?;
    let w = cx.add_weight(
        weight_name(cx, node, 1, "kernel"),
        kernel.shape().to_vec(),
        &kernel_values,
    );
    let mut inputs = vec![x, w];
    if node.inputs.len() > 2 {
        let bias = constant(cx, node, 2)?;
        let values = Lowering::const_values(node, &bias)?;
        if values.iter().any(|&v| v != 0.0) {
            let oc = kernel.shape()[0];
            let values = if values.len() == 1 {
                vec![values[0]; oc]
            } else {
                values
            };
            inputs.push(cx.add_weight(weight_name(cx, node, 2, "bias"), vec![oc], &values));
        }
    }
    let output = cx.add_output(node)?;
    let conv = crate::ops::conv::Conv {
        strides: g.strides,
        dilations: g.dilations,
        pads: g.pads,
        groups: op.group,
    };
    cx.push_node(node, Op::Conv(conv), inputs, output);
    Ok(())
}

fn window(g: &Geometry) -> Window {
    Window {
        channels: g.channels,
        input: g.input.clone(),
        kernel: g.kernel.clone(),
        strides: g.strides.clone(),
        pads: g.pads.clone(),
    }
}

fn check_window(node: &TypedNode, g: &Geometry) -> Result<Window, ImportError> {
    if g.dilations.iter().any(|&d| d != 1) {
        return Err(Lowering::unsupported(node, "dilated pooling"));
    }
    let w = window(g);
    let axes = w
        .axes()
        .ok_or_else(|| Lowering::unsupported(node, "pooling geometry"))?;
    let ours: Vec<usize> = axes[2 - g.input.len()..].iter().map(|a| a.output).collect();
    if ours != g.output {
        return Err(Lowering::unsupported(
            node,
            format!("pooling output {:?} (tract) vs {ours:?}", g.output),
        ));
    }
    Ok(w)
}

pub(super) fn lower_max_pool(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<MaxPool>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected MaxPool)"))?;
    if op.with_index_outputs.is_some() {
        return Err(Lowering::unsupported(
            node,
            "max pooling with index outputs",
        ));
    }
    let g = geometry(cx, node, &op.pool_spec)?;
    let w = check_window(node, &g)?;
    let x = activation_operand(cx, node)?;
    let output = cx.add_output(node)?;
    cx.push_node(
        node,
        Op::MaxPool(crate::ops::max_pool::MaxPool(w)),
        vec![x],
        output,
    );
    Ok(())
}

pub(super) fn lower_sum_pool(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<SumPool>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected SumPool)"))?;
    let g = geometry(cx, node, &op.pool_spec)?;
    let w = check_window(node, &g)?;
    let axes = w.axes().expect("checked");
    let x = activation_operand(cx, node)?;
    let sum_op = Op::SumPool(crate::ops::sum_pool::SumPool(w));
    if !op.normalize {
        let output = cx.add_output(node)?;
        cx.push_node(node, sum_op, vec![x], output);
        return Ok(());
    }
    // Sum, then multiply by 1/count per output position.
    let out_shape = crate::onnx::lower::ir_shape(&cx.output_shape(node)?);
    cx.tensors.push(model::Tensor {
        name: format!("{}.sum", node.name),
        shape: out_shape,
        kind: TensorKind::Activation,
    });
    let sum = cx.tensors.len() - 1;
    cx.nodes.push(Node {
        name: format!("{}.sum", node.name),
        op: sum_op,
        inputs: vec![x],
        output: sum,
    });
    let [ah, aw] = axes;
    let mut scale = Vec::with_capacity(ah.output * aw.output);
    for oh in 0..ah.output {
        for ow in 0..aw.output {
            let count = if op.count_include_pad {
                ah.kernel * aw.kernel
            } else {
                let inside = |a: &crate::ops::conv::Axis, o: usize| {
                    (0..a.kernel).filter(|&k| a.source(o, k).is_some()).count()
                };
                inside(&ah, oh) * inside(&aw, ow)
            };
            scale.push(1.0 / count as f32);
        }
    }
    let scale_shape = if ah.output == 1 {
        vec![aw.output]
    } else {
        vec![ah.output, aw.output]
    };
    let k = cx.add_weight(
        format!("{}.reciprocal_count", node.name),
        scale_shape,
        &scale,
    );
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Mul, vec![sum, k], output);
    Ok(())
}
