//! Element-wise activations: tract's `Tanh` and `Sigmoid` `ElementWiseOp`s
//! become the IR's table ops of the same name.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;

use crate::model::Op;
use crate::onnx::lower::{Lowering, Operand};
use crate::onnx::ImportError;

pub(super) fn lower(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let op = node
        .op_as::<ElementWiseOp>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected an element-wise op)"))?;
    if let Some(dt) = op.1 {
        if dt != f32::datum_type() {
            return Err(Lowering::unsupported(
                node,
                format!("output datum type {dt:?}"),
            ));
        }
    }
    let ir_op = match op.0.name().as_str() {
        "Tanh" => Op::Tanh,
        "Sigmoid" => Op::Sigmoid,
        other => {
            return Err(Lowering::unsupported(
                node,
                format!("element-wise op {other}"),
            ))
        }
    };
    let Operand::Tensor(x) = cx.operand(node, 0)? else {
        return Err(Lowering::unsupported(node, "constant operand"));
    };
    let output = cx.add_output(node)?;
    cx.push_node(node, ir_op, vec![x], output);
    Ok(())
}
