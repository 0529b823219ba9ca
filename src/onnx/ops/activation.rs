//! Element-wise activations: tract's `Tanh`, `Sigmoid`, `Erf`, `Exp`,
//! `GeluExact` and `GeluApproximate` (tract fuses the exported GELU graphs into
//! these) `ElementWiseOp`s
//! become the IR's table ops of the same name; `Square` and `PowConst` with a
//! small integer exponent (`x**2`, `Pow(x, 3)`) become chains of IR `Mul`s.

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
        "Erf" => Op::Erf,
        "Exp" => Op::Exp,
        "Sqrt" => Op::Sqrt,
        "Rsqrt" => Op::Rsqrt,
        "GeluExact" => Op::Gelu,
        "GeluApproximate" => match op
            .0
            .downcast_ref::<tract_onnx::tract_core::ops::nn::GeluApproximate>()
        {
            Some(g) if !g.fast_impl => Op::GeluTanh,
            _ => {
                return Err(Lowering::unsupported(
                    node,
                    "GELU approximation with x² instead of x³ (only the standard tanh form)",
                ))
            }
        },
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

/// Largest integer exponent `PowConst` is lowered for (a chain of Muls).
const MAX_EXPONENT: u32 = 8;

/// `Square` and `PowConst(n)` for an integer `2 ≤ n ≤ MAX_EXPONENT`:
/// `x·x·…·x`, each product rescaled like any IR `Mul`.
pub(super) fn lower_power(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    use tract_onnx::tract_core::ops::math::PowConst;
    let op = node
        .op_as::<ElementWiseOp>()
        .ok_or_else(|| Lowering::unsupported(node, "op type (expected an element-wise op)"))?;
    let exponent = if op.0.name() == "Square" {
        2
    } else if let Some(p) = op.0.downcast_ref::<PowConst>() {
        let e = p.exponent;
        if e.fract() != 0.0 || !(2.0..=MAX_EXPONENT as f32).contains(&e) {
            return Err(Lowering::unsupported(
                node,
                format!("power {e} (integer exponents 2 to {MAX_EXPONENT} are supported)"),
            ));
        }
        e as u32
    } else {
        return Err(Lowering::unsupported(node, "element-wise power"));
    };
    let Operand::Tensor(x) = cx.operand(node, 0)? else {
        return Err(Lowering::unsupported(node, "constant operand"));
    };
    let shape = cx.tensors[x].shape.clone();
    let mut acc = x;
    for step in 2..exponent {
        cx.tensors.push(crate::model::Tensor {
            name: format!("{}.pow{step}", node.name),
            shape: shape.clone(),
            kind: crate::model::TensorKind::Activation,
        });
        let t = cx.tensors.len() - 1;
        cx.nodes.push(crate::model::Node {
            name: format!("{}.pow{step}", node.name),
            op: Op::Mul,
            inputs: vec![acc, x],
            output: t,
        });
        acc = t;
    }
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Mul, vec![acc, x], output);
    Ok(())
}
