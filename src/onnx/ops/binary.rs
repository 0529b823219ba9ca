//! Binary element-wise ops (`TypedBinOp`): `Add`, `Sub`, `SubF`, `Mul`, and
//! `Max` against a constant 0 (tract's form of Relu).
//!
//! The IR broadcasts both operands numpy-style. When one operand is a
//! full-size activation it goes first and the other is laid out against it
//! (`Add`/`Mul` operands are swapped when that helps; a `Mul` by a constant
//! 0/1 mask is the masked copy `Select`); otherwise (both
//! broadcast, or `c − x`) each operand gets its tract shape (leading 1s
//! dropped) in the IR, an activation whose IR layout differs being copied
//! into that shape first (an IR `Reshape`).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;

use crate::model::{self, Op, TensorId, TensorKind};
use crate::onnx::lower::{
    aligned_broadcast_shape, ir_shape, non_unit, trim_leading_ones, Lowering, Operand,
};
use crate::onnx::ImportError;
use crate::ops::reshape::Reshape;
use crate::ops::select::Select;

fn len(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub(super) fn lower(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<TypedBinOp>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected a binary op)"))?;
    if let Some(dt) = op.1 {
        if dt != f32::datum_type() {
            return Err(Lowering::unsupported(
                node,
                format!("output datum type {dt:?}"),
            ));
        }
    }
    if node.inputs.len() != 2 {
        return Err(Lowering::unsupported(
            node,
            format!("{} inputs", node.inputs.len()),
        ));
    }
    let name = op.0.name().to_string();
    let out_len = len(&cx.output_shape(node)?);
    if name == "Mul" {
        for (r, other) in [(1, 0), (0, 1)] {
            if let Some(&divisor) = cx.reciprocals.get(&node.inputs[r]) {
                return lower_division(cx, node, other, r, divisor, out_len);
            }
        }
    }
    let x = cx.operand(node, 0)?;
    let y = cx.operand(node, 1)?;
    let x_full = len(&cx.input_shape(node, 0)?) == out_len;
    let y_full = len(&cx.input_shape(node, 1)?) == out_len;
    if name == "Max" {
        return lower_relu(cx, node, x, y, out_len);
    }
    let ir_op = match name.as_str() {
        "Add" => Op::Add,
        "Mul" => Op::Mul,
        "Sub" | "SubF" => Op::Sub,
        other => return Err(Lowering::unsupported(node, format!("binary op {other}"))),
    };
    // (first, slot, second, slot) in the op's own order: SubF(x, y) = y − x.
    let ((a, a_slot), (b, b_slot), a_full, b_full) = if name == "SubF" {
        ((y, 1), (x, 0), y_full, x_full)
    } else {
        ((x, 0), (y, 1), x_full, y_full)
    };
    let a_is_tensor = matches!(a, Operand::Tensor(_));
    let b_is_tensor = matches!(b, Operand::Tensor(_));
    // The IR's first operand must be a full-size activation.
    let swap = !(a_is_tensor && a_full) && b_is_tensor && b_full;
    let ((a, a_slot), (b, b_slot)) = match (swap, &ir_op) {
        (false, _) => ((a, a_slot), (b, b_slot)),
        (true, Op::Add | Op::Mul) => ((b, b_slot), (a, a_slot)),
        (true, _) => return lower_general(cx, node, ir_op, [(a, a_slot), (b, b_slot)]),
    };
    let a: TensorId = match a {
        Operand::Tensor(t) if len(&cx.input_shape(node, a_slot)?) == out_len => t,
        _ => return lower_general(cx, node, ir_op, [(a, a_slot), (b, b_slot)]),
    };
    if ir_op == Op::Mul {
        if let Operand::Const(k) = &b {
            let values = Lowering::const_values(node, k)?;
            if values.iter().all(|&v| v == 0.0 || v == 1.0) {
                return lower_mask(cx, node, (a, a_slot), b_slot, &values);
            }
        }
    }
    let b = cx.broadcast_operand(node, a_slot, a, b_slot, b)?;
    let output = cx.add_output(node)?;
    cx.push_node(node, ir_op, vec![a, b], output);
    Ok(())
}

/// `Mul(a, m)` by a constant 0/1 mask → `Select`: a masked copy of the
/// full-size activation `a` (zero where m is 0), with no product to rescale.
fn lower_mask(
    cx: &mut Lowering,
    node: &TypedNode,
    (a, a_slot): (TensorId, usize),
    m_slot: usize,
    mask: &[f32],
) -> Result<(), ImportError> {
    let shape = aligned_broadcast_shape(
        &cx.input_shape(node, a_slot)?,
        &cx.tensors[a].shape,
        &cx.input_shape(node, m_slot)?,
    )
    .map_err(|e| Lowering::unsupported(node, e))?;
    let fill = mask.iter().map(|&v| (v == 0.0).then_some(0)).collect();
    let output = cx.add_output(node)?;
    if cx.tensors[output].shape != cx.tensors[a].shape {
        return Err(Lowering::unsupported(
            node,
            format!(
                "a mask on an activation of IR shape {:?} for the output {:?}",
                cx.tensors[a].shape, cx.tensors[output].shape
            ),
        ));
    }
    cx.push_node(node, Op::Select(Select { shape, fill }), vec![a], output);
    Ok(())
}

/// `Mul(a, Recip(b))` → `Div(a, b)`: `a` a full-size activation, `b` in the
/// broadcast layout against it.
fn lower_division(
    cx: &mut Lowering,
    node: &TypedNode,
    a_slot: usize,
    b_slot: usize,
    divisor: TensorId,
    out_len: usize,
) -> Result<(), ImportError> {
    let a = match cx.operand(node, a_slot)? {
        Operand::Tensor(t) if len(&cx.input_shape(node, a_slot)?) == out_len => t,
        _ => {
            return Err(Lowering::unsupported(
                node,
                "division of a constant or a broadcast tensor by an activation                  (only a full-size activation divided by an activation)",
            ))
        }
    };
    let b = cx.broadcast_operand(node, a_slot, a, b_slot, Operand::Tensor(divisor))?;
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Div, vec![a, b], output);
    Ok(())
}

/// Both operands broadcast (or `c − x`): each operand in its tract shape
/// (leading 1s dropped), the output their numpy broadcast.
fn lower_general(
    cx: &mut Lowering,
    node: &TypedNode,
    ir_op: Op,
    operands: [(Operand, usize); 2],
) -> Result<(), ImportError> {
    let mut ids = Vec::with_capacity(2);
    for (operand, slot) in operands {
        let shape = ir_shape(&cx.input_shape(node, slot)?);
        ids.push(match operand {
            Operand::Const(k) => {
                let values = Lowering::const_values(node, &k)?;
                let name = cx
                    .typed
                    .outlet_label(node.inputs[slot])
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}.const", node.name));
                cx.add_weight(name, shape, &values)
            }
            Operand::Tensor(t)
                if trim_leading_ones(&cx.tensors[t].shape) == trim_leading_ones(&shape) =>
            {
                t
            }
            Operand::Tensor(t) => {
                // Same entries, the tract layout: a proved copy.
                let name = format!("{}.operand{slot}", node.name);
                cx.tensors.push(model::Tensor {
                    name: name.clone(),
                    shape,
                    kind: TensorKind::Activation,
                });
                let copy = cx.tensors.len() - 1;
                cx.nodes.push(model::Node {
                    name,
                    op: Op::Reshape(Reshape),
                    inputs: vec![t],
                    output: copy,
                });
                copy
            }
        });
    }
    let (a, b) = (&cx.tensors[ids[0]].shape, &cx.tensors[ids[1]].shape);
    let joined = model::broadcast_shape(a, b).ok_or_else(|| {
        Lowering::unsupported(
            node,
            format!("operand shapes {a:?} and {b:?} do not broadcast"),
        )
    })?;
    let output = cx.add_output(node)?;
    if non_unit(&joined) != non_unit(&cx.tensors[output].shape) {
        return Err(Lowering::unsupported(
            node,
            format!(
                "operands broadcast to {joined:?}, not the output's {:?}",
                cx.tensors[output].shape
            ),
        ));
    }
    cx.tensors[output].shape = joined;
    cx.push_node(node, ir_op, ids, output);
    Ok(())
}

/// `Max(x, 0)` or `Max(0, x)` with a constant all-zero operand → `Relu`.
fn lower_relu(
    cx: &mut Lowering,
    node: &TypedNode,
    x: Operand,
    y: Operand,
    out_len: usize,
) -> Result<(), ImportError> {
    let (t, slot, k) = match (x, y) {
        (Operand::Tensor(t), Operand::Const(k)) => (t, 0, k),
        (Operand::Const(k), Operand::Tensor(t)) => (t, 1, k),
        _ => {
            return Err(Lowering::unsupported(
                node,
                "maximum of two activations (only max(x, 0) = relu)",
            ))
        }
    };
    if Lowering::const_values(node, &k)?.iter().any(|&v| v != 0.0) {
        return Err(Lowering::unsupported(
            node,
            "maximum with a nonzero constant (only max(x, 0) = relu)",
        ));
    }
    if len(&cx.input_shape(node, slot)?) != out_len {
        return Err(Lowering::unsupported(node, "relu whose input is broadcast"));
    }
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Relu, vec![t], output);
    Ok(())
}
