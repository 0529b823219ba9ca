//! Shape ops (`AddAxis`, `RmAxis`, `Reshape`, `MoveAxis`). When the padded
//! layout is unchanged — the shapes differ by size-1 dimensions only (and a
//! `MoveAxis` keeps the non-1 axes in order) — there is no IR node: the output
//! aliases the input's IR tensor. Otherwise a `MoveAxis` becomes an IR
//! `Transpose` and a `Reshape` an IR `Reshape`, both proved copies
//! ([`crate::ops::index_map`]).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

use crate::model::Op;
use crate::onnx::lower::{non_unit, Lowering, Operand};
use crate::onnx::ImportError;
use crate::ops::reshape::Reshape;
use crate::ops::transpose::Transpose;

/// Whether moving axis `from` to position `to` keeps the non-1 axes in order.
fn move_keeps_layout(shape: &[usize], from: usize, to: usize) -> bool {
    if from >= shape.len() || to >= shape.len() {
        return false;
    }
    let mut axes: Vec<usize> = (0..shape.len()).collect();
    let moved = axes.remove(from);
    axes.insert(to, moved);
    let order: Vec<usize> = axes.into_iter().filter(|&a| shape[a] != 1).collect();
    order.windows(2).all(|w| w[0] < w[1])
}

pub(super) fn lower(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<AxisOp>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected an axis op)"))?;
    let Operand::Tensor(x) = cx.operand(node, 0)? else {
        return Err(Lowering::unsupported(node, "constant operand"));
    };
    let before = cx.input_shape(node, 0)?;
    let after = cx.output_shape(node)?;
    let keeps = non_unit(&before) == non_unit(&after)
        && match op {
            AxisOp::Move(from, to) => move_keeps_layout(&before, *from, *to),
            _ => true,
        };
    if keeps {
        cx.outlets.insert(OutletId::new(node.id, 0), x);
        return Ok(());
    }
    let ir_op = match op {
        AxisOp::Move(from, to) => {
            let mut perm: Vec<usize> = (0..before.len()).collect();
            let moved = perm.remove(*from);
            perm.insert(*to, moved);
            Op::Transpose(Transpose {
                input: before,
                perm,
            })
        }
        AxisOp::Reshape(..) => Op::Reshape(Reshape),
        _ => {
            return Err(Lowering::unsupported(
                node,
                format!("axis op that changes the padded layout ({before:?} → {after:?})"),
            ))
        }
    };
    let output = cx.add_output(node)?;
    cx.push_node(node, ir_op, vec![x], output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_of_unit_axes_keep_the_layout() {
        assert!(move_keeps_layout(&[1, 8], 0, 1));
        assert!(move_keeps_layout(&[3, 1, 4], 1, 0));
        assert!(!move_keeps_layout(&[3, 4], 0, 1));
        assert!(!move_keeps_layout(&[3, 3], 1, 0));
        assert!(!move_keeps_layout(&[3, 4], 0, 2));
    }
}
