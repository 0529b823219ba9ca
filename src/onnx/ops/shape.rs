//! Shape ops (`AddAxis`, `RmAxis`, `Reshape`, `MoveAxis`): no IR node. The IR
//! keeps one shape per tensor, so a shape op is accepted only when the
//! row-major layout is unchanged — the shapes differ by size-1 dimensions only
//! (and a `MoveAxis` keeps the non-1 axes in order) — and its output aliases
//! the input's IR tensor.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

use crate::onnx::lower::{non_unit, Lowering, Operand};
use crate::onnx::ImportError;

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
    if !keeps {
        return Err(Lowering::unsupported(
            node,
            format!("reshape that changes the padded layout ({before:?} → {after:?})"),
        ));
    }
    cx.outlets.insert(OutletId::new(node.id, 0), x);
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
