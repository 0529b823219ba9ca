//! Normalizations and attention glue, each lowered to a chain of IR ops (op
//! semantics stay in `src/ops/`; this file only wires them):
//! - `Softmax` over the last axis: `m = ReduceMax(x)`, `d = x − m` (≤ 0;
//!   the two fuse into one `MaxShift` after lowering, `fold_max_shifts`),
//!   `e = Exp(d)` (a table on the bounded range, so `e ∈ [0, 2^s]`),
//!   `s = ReduceSum(e)` (≥ 2^s: the max's own term is e^0), `y = Div(e, s)`.
//!   Fixed-point error: the Exp table rounds to half a unit (2^−(s+1)) per
//!   term, the row sum adds up to N of those, and the division rounds once
//!   more; the README's accuracy figures measure the end-to-end effect.
//! - `RmsNorm` (what tract makes of LayerNorm's variance part, and RMSNorm):
//!   `x·Rsqrt(SumSquares(x) + ε)`, SumSquares being the mean square rescaled
//!   once (times `2^⌈log2 N⌉/N` when N is not a power of two), which stays in
//!   the activation range whenever the mean square does; ε is added only when it is at least
//!   half a unit at the model's scale (otherwise it quantizes to 0), and
//!   `Rsqrt` saturates at the largest activation for a zero variance.
//! - `Iff` (ONNX `Where`) with a constant condition: the IR `Select`, x's
//!   entry where the condition selects x, the other branch's constant elsewhere
//!   (a masked copy: no product, rescale or range check).
//!   Fill values below `−2^(a−2)` (a causal mask's −∞, or a large negative
//!   constant) become `−2^(a−2)` (half the negative range: `−128` in real
//!   terms at the default 16 bits and scale 7), so that Softmax's `x − max`
//!   stays inside the activation range while the row's max is below
//!   `2^(a−2)`; `e^(−128)` is 0 at any scale. Fills above the range saturate
//!   at its top.
//! - `Recip` read only by `Mul`s becomes the exact IR `Div` there; any other
//!   `Recip` is the `Reciprocal` table.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::nn::{RmsNorm, Softmax, SoftmaxKind};

use crate::model::Op;
use crate::onnx::lower::{aligned_broadcast_shape, ir_shape, Lowering, Operand};
use crate::onnx::ImportError;
use crate::ops::reduce_sum::ReduceSum;
use crate::ops::select::Select;

/// The activation input of a one-input op, in the IR layout of its tract shape.
fn full_operand(cx: &Lowering, node: &TypedNode, slot: usize) -> Result<usize, ImportError> {
    let Operand::Tensor(x) = cx.operand(node, slot)? else {
        return Err(Lowering::unsupported(node, "constant input"));
    };
    let want = ir_shape(&cx.input_shape(node, slot)?);
    if cx.tensors[x].shape != want {
        return Err(Lowering::unsupported(
            node,
            format!(
                "input in the IR layout {:?} instead of {want:?}",
                cx.tensors[x].shape
            ),
        ));
    }
    Ok(x)
}

/// The last axis of a rank-`rank` tensor, if `axes` names exactly it.
fn is_last_axis(axes: &[usize], rank: usize) -> bool {
    rank > 0 && axes == [rank - 1]
}

/// `x`'s IR shape with the last axis reduced to 1.
fn row_shape(shape: &[usize]) -> Vec<usize> {
    let mut out = shape.to_vec();
    if let Some(last) = out.last_mut() {
        *last = 1;
    }
    out
}

/// `Σ` over the last axis of `x` (shape `shape`), keeping it as 1.
fn row_sum(shape: &[usize]) -> Op {
    Op::ReduceSum(ReduceSum {
        input: shape.to_vec(),
        axes: vec![shape.len() - 1],
    })
}

pub(super) fn lower_softmax(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<Softmax>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected Softmax)"))?;
    if op.kind != SoftmaxKind::Softmax || op.quant_output_dt.is_some() {
        return Err(Lowering::unsupported(
            node,
            "LogSoftmax or quantized Softmax (only float Softmax)",
        ));
    }
    let rank = cx.input_shape(node, 0)?.len();
    if !is_last_axis(&op.axes, rank) {
        return Err(Lowering::unsupported(
            node,
            format!(
                "Softmax over axes {:?} of a rank-{rank} tensor (only the last axis)",
                op.axes
            ),
        ));
    }
    let x = full_operand(cx, node, 0)?;
    let shape = cx.tensors[x].shape.clone();
    let rows = row_shape(&shape);
    let max = cx.push_intermediate(node, "max", Op::ReduceMax, vec![x], rows.clone());
    let shifted = cx.push_intermediate(node, "shifted", Op::Sub, vec![x, max], shape.clone());
    let exp = cx.push_intermediate(node, "exp", Op::Exp, vec![shifted], shape.clone());
    let sum = cx.push_intermediate(node, "sum", row_sum(&shape), vec![exp], rows);
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Div, vec![exp, sum], output);
    Ok(())
}

pub(super) fn lower_rms_norm(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<RmsNorm>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected RmsNorm)"))?;
    let rank = cx.input_shape(node, 0)?.len();
    if !is_last_axis(&[op.axis], rank) {
        return Err(Lowering::unsupported(
            node,
            format!(
                "normalization over axis {} of rank {rank} (only the last axis)",
                op.axis
            ),
        ));
    }
    let eps = op
        .eps
        .cast_to_scalar::<f32>()
        .map_err(|e| Lowering::unsupported(node, format!("epsilon: {e:#}")))?;
    let x = full_operand(cx, node, 0)?;
    let shape = cx.tensors[x].shape.clone();
    let rows = row_shape(&shape);
    let n = *shape.last().expect("rank ≥ 1");
    // Σx² rescaled by 2^(s+k), k = ⌈log2 N⌉, in one op (no tensor of
    // squares, one rounding), then × 2^k/N ∈ [1, 2) when N is not 2^k.
    let shift = n.next_power_of_two().trailing_zeros();
    let op = Op::SumSquares(crate::ops::sum_squares::SumSquares { shift });
    let mut variance = cx.push_intermediate(node, "mean_square", op, vec![x], rows.clone());
    if !n.is_power_of_two() {
        let factor = (1u64 << shift) as f32 / n as f32;
        let factor = cx.add_weight(format!("{}.n_correction", node.name), vec![1], &[factor]);
        variance =
            cx.push_intermediate(node, "mean", Op::Mul, vec![variance, factor], rows.clone());
    }
    if crate::model::quantize(eps as f64, cx.scale_bits) != 0 {
        let eps = cx.add_weight(format!("{}.eps", node.name), vec![1], &[eps]);
        variance =
            cx.push_intermediate(node, "mean_eps", Op::Add, vec![variance, eps], rows.clone());
    }
    let scale = cx.push_intermediate(node, "rsqrt", Op::Rsqrt, vec![variance], rows);
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Mul, vec![x, scale], output);
    Ok(())
}

pub(super) fn lower_iff(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    if node.inputs.len() != 3 {
        return Err(Lowering::unsupported(
            node,
            format!("{} inputs", node.inputs.len()),
        ));
    }
    let Operand::Const(condition) = cx.operand(node, 0)? else {
        return Err(Lowering::unsupported(
            node,
            "a condition computed from the input (only a constant condition, such as a causal mask)",
        ));
    };
    let (x_slot, fill, x_when) = match (cx.operand(node, 1)?, cx.operand(node, 2)?) {
        (Operand::Tensor(_), Operand::Const(k)) => (1, k, true),
        (Operand::Const(k), Operand::Tensor(_)) => (2, k, false),
        _ => return Err(Lowering::unsupported(
            node,
            "a choice between two activations or two constants (only an activation and a constant)",
        )),
    };
    let out_t = cx.output_shape(node)?;
    if cx.input_shape(node, x_slot)? != out_t {
        return Err(Lowering::unsupported(node, "a broadcast activation branch"));
    }
    let x = full_operand(cx, node, x_slot)?;
    let out_ir = cx.tensors[x].shape.clone();
    let condition = condition
        .cast_to::<bool>()
        .map_err(|e| Lowering::unsupported(node, format!("condition: {e:#}")))?
        .into_owned();
    let fill = fill
        .cast_to::<f32>()
        .map_err(|e| Lowering::unsupported(node, format!("constant branch: {e:#}")))?
        .into_owned();
    // Both constants broadcast to their joint shape (a causal mask's
    // `[1, 1, T, T]`, not the scores' `[1, H, T, T]`), laid out against x.
    let joint = crate::model::broadcast_shape(condition.shape(), fill.shape())
        .ok_or_else(|| Lowering::unsupported(node, "condition and constant do not broadcast"))?;
    let joint_ir = aligned_broadcast_shape(&out_t, &out_ir, &joint)
        .map_err(|e| Lowering::unsupported(node, e))?;
    let cond_full = condition
        .broadcast_to_shape(&joint)
        .map_err(|e| Lowering::unsupported(node, format!("condition: {e:#}")))?;
    let fill_full = fill
        .broadcast_to_shape(&joint)
        .map_err(|e| Lowering::unsupported(node, format!("constant branch: {e:#}")))?;
    let cond_values: Vec<bool> = cond_full
        .to_plain_array_view::<bool>()
        .map_err(|e| Lowering::unsupported(node, format!("{e:#}")))?
        .iter()
        .copied()
        .collect();
    let fill_values: Vec<f32> = fill_full
        .to_plain_array_view::<f32>()
        .map_err(|e| Lowering::unsupported(node, format!("{e:#}")))?
        .iter()
        .copied()
        .collect();
    let real = |bits: u32| (1u64 << bits) as f32 / (1u64 << cx.scale_bits) as f32;
    let low = -real(cx.activation_bits - 2);
    let high = real(cx.activation_bits - 1) - real(0);
    let fill: Vec<Option<i64>> = cond_values
        .iter()
        .zip(&fill_values)
        .map(|(&c, &f)| {
            (c != x_when).then(|| crate::model::quantize(f.clamp(low, high) as f64, cx.scale_bits))
        })
        .collect();
    let output = cx.add_output(node)?;
    cx.push_node(
        node,
        Op::Select(Select {
            shape: joint_ir,
            fill,
        }),
        vec![x],
        output,
    );
    Ok(())
}

/// `Recip(b)`: nothing when every reader is a `Mul` (each becomes `Div`),
/// else the `Reciprocal` table.
pub(super) fn lower_recip(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let Operand::Tensor(b) = cx.operand(node, 0)? else {
        return Err(Lowering::unsupported(node, "constant input"));
    };
    let outlet = OutletId::new(node.id, 0);
    let readers = &node.outputs[0].successors;
    let only_muls = !readers.is_empty()
        && !cx.typed.outputs.contains(&outlet)
        && readers.iter().all(|inlet| {
            cx.typed
                .node(inlet.node)
                .op_as::<TypedBinOp>()
                .is_some_and(|op| op.0.name() == "Mul")
        });
    if only_muls {
        cx.reciprocals.insert(outlet, b);
        return Ok(());
    }
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Reciprocal, vec![b], output);
    Ok(())
}
