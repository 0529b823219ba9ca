//! `EinSum` (what Gemm and MatMul become after decluttering) → IR `MatMul`
//! `a [m,k] × b [k,n]`.
//!
//! Size-1 axes are ignored (they do not change the row-major layout); what is
//! left must be one contracted axis `k` and at most one free axis per operand,
//! e.g. `mk,kn->mn`, `mk,nk->mn`, `k,nk->n`, `nk,k->n`. A constant operand is
//! transposed at import into the layout the IR needs; an activation operand
//! stored the other way round (K in `Q·Kᵀ`) gets an IR `Transpose`. A vector is a
//! `[1,k]` row as the left operand or a `[k,1]` column as the right one.
//!
//! A product batched over one axis of two activations (`bmk,bnk->bmn`, per
//! attention head) becomes an IR `BatchedMatMul`, operands transposed into
//! `[batch, rows, inner]` / `[batch, inner, columns]` where needed.
//!
//! Several contracted axes (a Flatten before a Gemm, which tract folds into
//! the einsum, e.g. `mbak,nbak->mn`) need an activation whose contracted axes
//! come last, after at most one free axis, and a constant operand: the
//! constant is laid out `[contracted axes in the activation's order…, n]` and
//! the IR MatMul sums over all of them at once.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use crate::model::{matrix_dims, Op, TensorId};
use crate::onnx::lower::{ir_shape, Lowering, Operand};
use crate::onnx::ImportError;

/// One input of the einsum: its operand, slot, and non-trivial axis labels.
struct Side {
    operand: Operand,
    slot: usize,
    labels: Vec<char>,
}

/// A matrix operand ready to be added: an existing tensor, one to transpose
/// (stored `[c, r]`, needed `[r, c]`), or a weight.
enum Prepared {
    Tensor(TensorId),
    Transposed {
        tensor: TensorId,
        rows: usize,
        cols: usize,
    },
    Weight {
        shape: Vec<usize>,
        values: Vec<f32>,
    },
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
            } else if side.labels.len() == 2
                && side.labels.iter().rev().eq(required.iter())
                && matrix_dims(shape) == Some((dims.1, dims.0))
            {
                // e.g. K in Q·Kᵀ: an IR Transpose lays it out.
                Ok(Prepared::Transposed {
                    tensor: *t,
                    rows: dims.0,
                    cols: dims.1,
                })
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
    let batch = la
        .iter()
        .filter(|l| lb.contains(l) && lo.contains(l))
        .count();
    if batch > 0 {
        if batch > 1 || contracted.len() != 1 || la.len() != 3 || lb.len() != 3 {
            return Err(bad(
                "batched product (one batch axis, one contracted axis and 3-D operands are supported)",
            ));
        }
        return lower_batched(cx, node, &expr, [&la, &lb, &lo], &size);
    }
    if la
        .iter()
        .chain(&lb)
        .any(|l| !lo.contains(l) && !contracted.contains(l))
    {
        return Err(bad("axis summed within one operand"));
    }
    if contracted.len() > 1 {
        return lower_flattened(cx, node, &expr, [&la, &lb, &lo], &contracted, &size);
    }
    let [k] = contracted[..] else {
        return Err(bad("needs a contracted axis"));
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
            let as_columns = (1 - o, None, o, Some(q));
            let as_rows = (o, Some(q), 1 - o, None);
            // The layout whose output is the IR's: `[q, 1]` (a Linear to one
            // feature per row) puts q on the rows.
            if ir_shape(&cx.output_shape(node)?) == [size[&q], 1] {
                vec![as_rows, as_columns]
            } else {
                vec![as_columns, as_rows]
            }
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
                        Prepared::Transposed { tensor, rows, cols } => {
                            transpose(cx, node, side.slot, tensor, vec![cols, rows], vec![1, 0])
                        }
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

/// Adds the IR Transpose of activation `tensor` (logical shape `input`) by
/// `perm`, for operand `slot` of `node`; returns the transposed tensor.
fn transpose(
    cx: &mut Lowering,
    node: &TypedNode,
    slot: usize,
    tensor: TensorId,
    input: Vec<usize>,
    perm: Vec<usize>,
) -> TensorId {
    let name = format!("{}.transpose{slot}", node.name);
    cx.tensors.push(crate::model::Tensor {
        name: name.clone(),
        shape: perm.iter().map(|&p| input[p]).collect(),
        kind: crate::model::TensorKind::Activation,
    });
    let output = cx.tensors.len() - 1;
    cx.nodes.push(crate::model::Node {
        name,
        op: Op::Transpose(crate::ops::transpose::Transpose { input, perm }),
        inputs: vec![tensor],
        output,
    });
    output
}

/// `b m k, b k n -> b m n` over two activations (attention per head): an
/// IR `BatchedMatMul`, each operand transposed into that layout if stored
/// with its last two axes swapped.
fn lower_batched(
    cx: &mut Lowering,
    node: &TypedNode,
    expr: &str,
    [la, lb, lo]: [&[char]; 3],
    size: &HashMap<char, usize>,
) -> Result<(), ImportError> {
    let bad = |what: &str| Lowering::unsupported(node, format!("einsum `{expr}`: {what}"));
    if lo.len() != 3 {
        return Err(bad("batched product whose output does not have three axes"));
    }
    // The batch axis is in all three; rows come from the left operand,
    // columns from the right (swapped when the einsum lists them the other way).
    let Some(b) = lo
        .iter()
        .copied()
        .find(|l| la.contains(l) && lb.contains(l))
    else {
        return Err(bad("batched product without a batch axis"));
    };
    let only = |from: &[char], other: &[char]| {
        lo.iter()
            .copied()
            .find(|l| *l != b && from.contains(l) && !other.contains(l))
    };
    let (m, n, left, right) = match (only(la, lb), only(lb, la)) {
        (Some(m), Some(n)) => (m, n, 0, 1),
        _ => {
            return Err(bad(
                "batched product with rows and columns from one operand",
            ))
        }
    };
    let labels = [la, lb];
    let k = labels[left]
        .iter()
        .copied()
        .find(|l| *l != b && *l != m)
        .ok_or_else(|| bad("batched product without a contracted axis"))?;
    let mut ids = Vec::with_capacity(2);
    for (side, (row, col)) in [(left, (m, k)), (right, (k, n))] {
        let t = match cx.operand(node, side)? {
            Operand::Tensor(t) => t,
            Operand::Const(_) => {
                return Err(bad("batched product with a constant operand"));
            }
        };
        let want = [b, row, col];
        let dims = |l: &[char]| l.iter().map(|c| size[c]).collect::<Vec<_>>();
        let ir = cx.tensors[t].shape.clone();
        // Any order of the three axes (tract folds the head split's
        // transposes into the einsum): an IR Transpose into [b, row, col].
        let perm: Option<Vec<usize>> = want
            .iter()
            .map(|w| labels[side].iter().position(|l| l == w))
            .collect();
        match perm {
            Some(perm) if labels[side].len() == 3 && ir == dims(labels[side]) => {
                if perm == [0, 1, 2] {
                    ids.push(t);
                } else {
                    ids.push(transpose(cx, node, side, t, ir, perm));
                }
            }
            _ => {
                return Err(bad(&format!(
                    "operand {side} (IR shape {ir:?}, axes {:?}) is not a permutation of [batch, rows, inner]",
                    labels[side]
                )));
            }
        }
    }
    let output = cx.add_output(node)?;
    let product = [b, m, n];
    let dims: Vec<usize> = product.iter().map(|l| size[l]).collect();
    if lo == product {
        if cx.tensors[output].shape != dims {
            return Err(bad("batched product output with size-1 axes"));
        }
        cx.push_node(node, Op::BatchedMatMul, ids, output);
        return Ok(());
    }
    // The output in another order (tract folds the transpose that merges
    // the heads back into the einsum): the product, then an IR Transpose.
    let perm: Vec<usize> = lo
        .iter()
        .map(|l| product.iter().position(|p| p == l).expect("checked above"))
        .collect();
    if cx.tensors[output].shape != lo.iter().map(|l| size[l]).collect::<Vec<_>>() {
        return Err(bad("batched product output with size-1 axes"));
    }
    let heads = cx.push_intermediate(node, "heads", Op::BatchedMatMul, ids, dims.clone());
    cx.push_node(
        node,
        Op::Transpose(crate::ops::transpose::Transpose { input: dims, perm }),
        vec![heads],
        output,
    );
    Ok(())
}

/// `activation × constant` contracted over several axes (see the module docs).
fn lower_flattened(
    cx: &mut Lowering,
    node: &TypedNode,
    expr: &str,
    labels: [&[char]; 3],
    contracted: &[char],
    size: &HashMap<char, usize>,
) -> Result<(), ImportError> {
    let bad = |what: &str| Lowering::unsupported(node, format!("einsum `{expr}`: {what}"));
    let operands = [cx.operand(node, 0)?, cx.operand(node, 1)?];
    let (a, k_slot) = match (&operands[0], &operands[1]) {
        (Operand::Tensor(t), Operand::Const(_)) => (*t, 1),
        (Operand::Const(_), Operand::Tensor(t)) => (*t, 0),
        _ => {
            return Err(bad(
                "several contracted axes need one activation and one constant",
            ))
        }
    };
    let a_labels = labels[1 - k_slot];
    let k_labels = labels[k_slot];
    let free_a: Vec<char> = a_labels
        .iter()
        .copied()
        .filter(|l| !contracted.contains(l))
        .collect();
    let order: Vec<char> = a_labels
        .iter()
        .copied()
        .filter(|l| contracted.contains(l))
        .collect();
    if free_a.len() > 1 || (free_a.len() == 1 && a_labels[0] != free_a[0]) {
        return Err(bad(
            "the activation's contracted axes must come last, after one free axis",
        ));
    }
    let free_k: Vec<char> = k_labels
        .iter()
        .copied()
        .filter(|l| !contracted.contains(l))
        .collect();
    if free_k.len() > 1 {
        return Err(bad("constant operand with more than one free axis"));
    }
    let expected_out: Vec<char> = free_a.iter().chain(&free_k).copied().collect();
    if labels[2] != expected_out.as_slice() {
        return Err(bad(
            "output axes are not [activation's free axis, constant's free axis]",
        ));
    }
    // The constant's values, transposed into [order…, n].
    let Operand::Const(k) = &operands[k_slot] else {
        unreachable!()
    };
    let values = Lowering::const_values(node, k)?;
    let src: Vec<usize> = k_labels.iter().map(|l| size[l]).collect();
    let dst_labels: Vec<char> = order.iter().chain(&free_k).copied().collect();
    let dst: Vec<usize> = dst_labels.iter().map(|l| size[l]).collect();
    let position: Vec<usize> = dst_labels
        .iter()
        .map(|l| {
            k_labels
                .iter()
                .position(|x| x == l)
                .expect("a label of the constant")
        })
        .collect();
    let total: usize = dst.iter().product();
    let mut out = vec![0.0f32; total];
    for (i, slot) in out.iter_mut().enumerate() {
        // Coordinates in dst order → index in the constant's (non-1) layout.
        let mut rest = i;
        let mut coord = vec![0usize; dst.len()];
        for d in (0..dst.len()).rev() {
            coord[d] = rest % dst[d];
            rest /= dst[d];
        }
        let mut src_coord = vec![0usize; src.len()];
        for (d, &p) in position.iter().enumerate() {
            src_coord[p] = coord[d];
        }
        let index = src_coord
            .iter()
            .zip(&src)
            .fold(0, |acc, (&c, &n)| acc * n + c);
        *slot = values[index];
    }
    let mut shape = dst;
    if free_k.is_empty() {
        shape.push(1);
    }
    let name = cx
        .typed
        .outlet_label(node.inputs[k_slot])
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.weight", node.name));
    let w = cx.add_weight(name, shape, &out);
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::MatMul, vec![a, w], output);
    Ok(())
}
