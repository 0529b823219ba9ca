//! `EinSum` (what Gemm and MatMul become after decluttering) → IR `MatMul`
//! `a [m,k] × b [k,n]`.
//!
//! Size-1 axes are ignored (they do not change the row-major layout); what is
//! left must be one contracted axis `k` and at most one free axis per operand,
//! e.g. `mk,kn->mn`, `mk,nk->mn`, `k,nk->n`, `nk,k->n`. A constant operand is
//! transposed at import into the layout the IR needs; an activation operand
//! must already have it (the IR cannot transpose activations). A vector is a
//! `[1,k]` row as the left operand or a `[k,1]` column as the right one.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use crate::model::{matrix_dims, Op, TensorId};
use crate::onnx::lower::{Lowering, Operand};
use crate::onnx::ImportError;

/// One input of the einsum: its operand, slot, and non-trivial axis labels.
struct Side {
    operand: Operand,
    slot: usize,
    labels: Vec<char>,
}

/// A matrix operand ready to be added: an existing tensor, or a weight.
enum Prepared {
    Tensor(TensorId),
    Weight { shape: Vec<usize>, values: Vec<f32> },
}

/// Lays `side` out as a matrix with rows labelled `rows` and columns `cols`
/// (`None`: a size-1 dimension).
fn prepare(
    node: &TypedNode,
    cx: &Lowering,
    side: &Side,
    rows: Option<char>,
    cols: Option<char>,
    size: &HashMap<char, usize>,
) -> Result<Prepared, ImportError> {
    let required: Vec<char> = rows.into_iter().chain(cols).collect();
    let dims = (rows.map_or(1, |l| size[&l]), cols.map_or(1, |l| size[&l]));
    match &side.operand {
        Operand::Const(k) => {
            let values = Lowering::const_values(node, k)?;
            let values = if side.labels == required {
                values
            } else if side.labels.len() == 2 && side.labels.iter().rev().eq(required.iter()) {
                // Stored [c, r]: transpose into [r, c].
                let (r, c) = dims;
                let mut t = vec![0.0f32; values.len()];
                for i in 0..r {
                    for j in 0..c {
                        t[i * c + j] = values[j * r + i];
                    }
                }
                t
            } else {
                return Err(Lowering::unsupported(
                    node,
                    format!("constant operand with axes {:?}", side.labels),
                ));
            };
            Ok(Prepared::Weight {
                shape: vec![dims.0, dims.1],
                values,
            })
        }
        Operand::Tensor(t) => {
            let shape = &cx.tensors[*t].shape;
            if side.labels == required && matrix_dims(shape) == Some(dims) {
                Ok(Prepared::Tensor(*t))
            } else {
                Err(Lowering::unsupported(
                    node,
                    format!(
                        "activation operand {} (IR shape {shape:?}, axes {:?}) where a {}×{} matrix with axes {required:?} is needed",
                        side.slot, side.labels, dims.0, dims.1
                    ),
                ))
            }
        }
    }
}

pub(super) fn lower(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<EinSum>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected EinSum)"))?;
    if op.q_params.is_some() {
        return Err(Lowering::unsupported(node, "quantized einsum"));
    }
    if op.operating_dt != f32::datum_type() {
        return Err(Lowering::unsupported(
            node,
            format!("einsum over {:?}", op.operating_dt),
        ));
    }
    if node.inputs.len() != 2 {
        return Err(Lowering::unsupported(
            node,
            format!("einsum of {} inputs", node.inputs.len()),
        ));
    }
    let (ins, outs) = op.axes.to_strs();
    let expr = format!("{}->{}", ins.join(","), outs.join(","));
    let bad = |what: &str| Lowering::unsupported(node, format!("einsum `{expr}`: {what}"));
    let shapes = [
        cx.input_shape(node, 0)?,
        cx.input_shape(node, 1)?,
        cx.output_shape(node)?,
    ];
    let all_labels: Vec<Vec<char>> = [&ins[0], &ins[1], &outs[0]]
        .iter()
        .map(|s| s.chars().collect())
        .collect();
    let mut size = HashMap::new();
    for (labels, shape) in all_labels.iter().zip(&shapes) {
        if labels.len() != shape.len() {
            return Err(bad("axes do not match the operand ranks"));
        }
        for (&l, &d) in labels.iter().zip(shape) {
            if *size.entry(l).or_insert(d) != d {
                return Err(bad("broadcast axis"));
            }
        }
    }
    let non_trivial = |labels: &[char]| -> Vec<char> {
        labels.iter().copied().filter(|l| size[l] != 1).collect()
    };
    let (la, lb, lo) = (
        non_trivial(&all_labels[0]),
        non_trivial(&all_labels[1]),
        non_trivial(&all_labels[2]),
    );
    let contracted: Vec<char> = la
        .iter()
        .copied()
        .filter(|l| lb.contains(l) && !lo.contains(l))
        .collect();
    if la
        .iter()
        .chain(&lb)
        .any(|l| la.contains(l) && lb.contains(l) && lo.contains(l))
    {
        return Err(bad("batched matrix product"));
    }
    if la
        .iter()
        .chain(&lb)
        .any(|l| !lo.contains(l) && !contracted.contains(l))
    {
        return Err(bad("axis summed within one operand"));
    }
    let [k] = contracted[..] else {
        return Err(bad("needs exactly one contracted axis"));
    };
    let sides = [
        Side {
            operand: cx.operand(node, 0)?,
            slot: 0,
            labels: la,
        },
        Side {
            operand: cx.operand(node, 1)?,
            slot: 1,
            labels: lb,
        },
    ];
    if sides.iter().any(|s| s.labels.len() > 2) {
        return Err(bad("operand with more than one free axis"));
    }
    let owner = |l: char| usize::from(!sides[0].labels.contains(&l));
    // Candidate layouts: (left side, its row label, right side, its column label).
    let plans: Vec<(usize, Option<char>, usize, Option<char>)> = match lo[..] {
        [p, q] => vec![(owner(p), Some(p), owner(q), Some(q))],
        [q] => {
            let o = owner(q);
            vec![(1 - o, None, o, Some(q)), (o, Some(q), 1 - o, None)]
        }
        [] => vec![(0, None, 1, None)],
        _ => return Err(bad("output with more than two axes")),
    };
    let mut first_error = None;
    for (ia, rows, ib, cols) in plans {
        if ia == ib {
            continue;
        }
        let a = prepare(node, cx, &sides[ia], rows, Some(k), &size);
        let b = prepare(node, cx, &sides[ib], Some(k), cols, &size);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let mut ids = Vec::with_capacity(2);
                for (prepared, side) in [(a, &sides[ia]), (b, &sides[ib])] {
                    ids.push(match prepared {
                        Prepared::Tensor(t) => t,
                        Prepared::Weight { shape, values } => {
                            let name = cx
                                .typed
                                .outlet_label(node.inputs[side.slot])
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("{}.weight", node.name));
                            cx.add_weight(name, shape, &values)
                        }
                    });
                }
                let output = cx.add_output(node)?;
                cx.push_node(node, Op::MatMul, ids, output);
                return Ok(());
            }
            (Err(e), _) | (_, Err(e)) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| bad("no matrix layout fits")))
}
