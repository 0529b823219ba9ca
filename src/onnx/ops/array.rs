//! Array ops over real layouts: tract's `Slice`, `Downsample` (strided
//! slices), `Concat`, `Pad` (zeros) and `Reduce<Sum>` (ReduceSum, and the sum
//! part of ReduceMean and GlobalAveragePool, whose 1/n is a following Mul).
//! Each becomes one IR index-map op ([`crate::ops::index_map`]) that carries
//! the tract shapes it reads its operands in (row-major, like the IR tensors).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode, Slice, TypedConcat};
use tract_onnx::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};

use crate::model::Op;
use crate::onnx::lower::{Lowering, Operand};
use crate::onnx::ImportError;
use crate::ops;

fn activation_operand(cx: &Lowering, node: &TypedNode) -> Result<usize, ImportError> {
    match cx.operand(node, 0)? {
        Operand::Tensor(t) => Ok(t),
        Operand::Const(_) => Err(Lowering::unsupported(node, "constant input")),
    }
}

fn emit(
    cx: &mut Lowering,
    node: &TypedNode,
    op: Op,
    inputs: Vec<usize>,
) -> Result<(), ImportError> {
    let output = cx.add_output(node)?;
    cx.push_node(node, op, inputs, output);
    Ok(())
}

pub(super) fn lower_slice(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let x = activation_operand(cx, node)?;
    let input = cx.input_shape(node, 0)?;
    let output = cx.output_shape(node)?;
    let (axis, start, step) = if let Some(op) = node.op_as::<Slice>() {
        let start = op
            .start
            .to_i64()
            .ok()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| Lowering::unsupported(node, "symbolic or negative slice start"))?;
        (op.axis, start, 1)
    } else if let Some(op) = node.op_as::<Downsample>() {
        if op.stride <= 0 {
            return Err(Lowering::unsupported(node, "slice with a negative step"));
        }
        (op.axis, op.modulo, op.stride as usize)
    } else {
        return Err(Lowering::unsupported(
            node,
            "op type (expected Slice or Downsample)",
        ));
    };
    let count = *output
        .get(axis)
        .ok_or_else(|| Lowering::unsupported(node, "slice axis"))?;
    let slice = ops::slice::Slice {
        input,
        axis,
        start,
        step,
        count,
    };
    emit(cx, node, Op::Slice(slice), vec![x])
}

pub(super) fn lower_concat(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<TypedConcat>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected Concat)"))?;
    let mut inputs = Vec::with_capacity(node.inputs.len());
    let mut shapes = Vec::with_capacity(node.inputs.len());
    for slot in 0..node.inputs.len() {
        let shape = cx.input_shape(node, slot)?;
        inputs.push(match cx.operand(node, slot)? {
            Operand::Tensor(t) => t,
            Operand::Const(k) => {
                let values = Lowering::const_values(node, &k)?;
                let name = cx
                    .typed
                    .outlet_label(node.inputs[slot])
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}.const{slot}", node.name));
                cx.add_weight(name, shape.clone(), &values)
            }
        });
        shapes.push(shape);
    }
    let concat = ops::concat::Concat {
        inputs: shapes,
        axis: op.axis,
    };
    emit(cx, node, Op::Concat(concat), inputs)
}

pub(super) fn lower_pad(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<Pad>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected Pad)"))?;
    let PadMode::Constant(value) = &op.mode else {
        return Err(Lowering::unsupported(
            node,
            format!("pad mode {:?} (only constant zeros)", op.mode),
        ));
    };
    if Lowering::const_values(node, value)?
        .iter()
        .any(|&v| v != 0.0)
    {
        return Err(Lowering::unsupported(node, "padding with a nonzero value"));
    }
    let x = activation_operand(cx, node)?;
    let pad = ops::pad::Pad {
        input: cx.input_shape(node, 0)?,
        pads: op.pads.clone(),
    };
    emit(cx, node, Op::Pad(pad), vec![x])
}

pub(super) fn lower_reduce(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<Reduce>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected Reduce)"))?;
    let x = activation_operand(cx, node)?;
    let input = cx.input_shape(node, 0)?;
    if op.reducer == Reducer::Max {
        if op.axes.as_slice() != [input.len() - 1] || cx.tensors[x].shape.last() != input.last() {
            return Err(Lowering::unsupported(
                node,
                format!(
                    "max over axes {:?} of {input:?} (only the last axis)",
                    op.axes
                ),
            ));
        }
        let output = cx.add_output(node)?;
        let mut rows = cx.tensors[x].shape.clone();
        *rows.last_mut().expect("rank ≥ 1") = 1;
        cx.tensors[output].shape = rows;
        cx.push_node(node, Op::ReduceMax, vec![x], output);
        return Ok(());
    }
    if op.reducer != Reducer::Sum {
        return Err(Lowering::unsupported(
            node,
            format!(
                "reduction {:?} (only sums, means and the max over the last axis)",
                op.reducer
            ),
        ));
    }
    let reduce = ops::reduce_sum::ReduceSum {
        input: cx.input_shape(node, 0)?,
        axes: op.axes.to_vec(),
    };
    emit(cx, node, Op::ReduceSum(reduce), vec![x])
}
