//! Element-wise `Add` and `Sub` with numpy broadcasting of both operands.
//!
//! At a random point r of the output Z: `Z(r) = m_a(r)·A(r_a) ± m_b(r)·B(r_b)`,
//! where `r_a` keeps the coordinates of A's own (non-broadcast) dimensions and
//! `m_a` is the valid-region indicator over the output dimensions A is
//! broadcast along (so padding stays zero); likewise for B. No sumcheck.
//! The output is range-checked into the activation range: the sum of two
//! bounded values may leave it, and integer execution refuses that.
//!
//! Message: values `[A(r_a), B(r_b)]`; with zero knowledge
//! ([`crate::zk::ops`]), commitments to them.

use ark_bn254::Fr;

use super::{
    claim, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{broadcast_point, num_vars, Slot, SlotClaim};
use crate::model::{broadcast_index, broadcast_shape, Model, Node};
use crate::ops::range::Bound;
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::{Challenger, PedersenGens};

/// `a + b`.
pub struct Add;
/// `a − b`.
pub struct Sub;

/// Checks that the output shape is the numpy broadcast of both operands'.
pub(crate) fn check_broadcast(model: &Model, node: &Node) -> Result<(), String> {
    let shape = |i: usize| &model.tensors[i].shape;
    let (a, b, y) = (
        shape(node.inputs[0]),
        shape(node.inputs[1]),
        shape(node.output),
    );
    match broadcast_shape(a, b) {
        Some(s) if &s == y => Ok(()),
        Some(s) => Err(format!(
            "operands {a:?} and {b:?} broadcast to {s:?}, not the output shape {y:?}"
        )),
        None => Err(format!("operand shapes {a:?} and {b:?} do not broadcast")),
    }
}

/// Applies `f` element-wise under numpy broadcasting.
pub(crate) fn broadcast_map(
    model: &Model,
    node: &Node,
    inputs: &[&[i64]],
    mut f: impl FnMut(i64, i64) -> Result<i64, ExecError>,
) -> Result<Vec<i64>, ExecError> {
    let shape = |i: usize| &model.tensors[i].shape;
    let y = shape(node.output);
    let (a_shape, b_shape) = (shape(node.inputs[0]), shape(node.inputs[1]));
    (0..y.iter().product::<usize>())
        .map(|i| {
            f(
                inputs[0][broadcast_index(i, y, a_shape)],
                inputs[1][broadcast_index(i, y, b_shape)],
            )
        })
        .collect()
}

fn prove_add_sub(
    ctx: &ProverContext<'_>,
    n: usize,
    sub: bool,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<OpMessage, OpError> {
    let model = ctx.model;
    let node = &model.nodes[n];
    let y = &model.tensors[node.output].shape;
    let point = t.challenges(b"addsub/point", num_vars(y));
    let mut values = Vec::with_capacity(2);
    for &operand in &node.inputs[..2] {
        let (at, _) = broadcast_point(y, &model.tensors[operand].shape, &point);
        values.push(ctx.evaluate(Slot::Tensor(operand), &at)?);
    }
    let message = OpMessage {
        values,
        sumchecks: Vec::new(),
    };
    finish(model, n, sub, &point, &message, t, claims)?;
    Ok(message)
}

fn verify_add_sub(
    model: &Model,
    n: usize,
    sub: bool,
    message: &OpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), OpError> {
    message.expect(2, 0)?;
    let node = &model.nodes[n];
    let point = t.challenges(b"addsub/point", num_vars(&model.tensors[node.output].shape));
    finish(model, n, sub, &point, message, t, claims)
}

/// Absorbs the operands' values and claims them and the output they imply.
fn finish(
    model: &Model,
    n: usize,
    sub: bool,
    point: &[Fr],
    message: &OpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), OpError> {
    let node = &model.nodes[n];
    for (k, &operand) in node.inputs[..2].iter().enumerate() {
        let value = message.values[k];
        t.append_scalar(b"addsub/operand", &value);
        let (at, _) = operand_point(model, node, k, point);
        claim(claims, Slot::Tensor(operand), &at, value);
    }
    let output = output_at(model, node, sub, point, &message.values);
    claim(claims, Slot::Tensor(node.output), point, output);
    Ok(())
}

/// Operand `k`'s point and broadcast mask at a point of the output.
fn operand_point(model: &Model, node: &Node, k: usize, point: &[Fr]) -> (Vec<Fr>, Fr) {
    broadcast_point(
        &model.tensors[node.output].shape,
        &model.tensors[node.inputs[k]].shape,
        point,
    )
}

/// `Z(r) = m_a(r)·A(r_a) ± m_b(r)·B(r_b)` from the operands' values.
fn output_at(model: &Model, node: &Node, sub: bool, point: &[Fr], values: &[Fr]) -> Fr {
    let term = |k: usize| operand_point(model, node, k, point).1 * values[k];
    if sub {
        term(0) - term(1)
    } else {
        term(0) + term(1)
    }
}

/// With zero knowledge: the operands' values are sent committed, and the
/// output's claim is their (affine) combination.
fn prove_add_sub_zk(
    ctx: &ProverContext<'_>,
    zk: &mut ZkProver<'_>,
    n: usize,
    sub: bool,
    t: &mut ProofTranscript,
    claims: &mut Vec<OpenedSlotClaim>,
) -> Result<ZkOpMessage, OpError> {
    let model = ctx.model;
    let node = &model.nodes[n];
    let point = t.challenges(b"addsub/point", num_vars(&model.tensors[node.output].shape));
    let mut values = Vec::with_capacity(2);
    for k in 0..2 {
        let (at, _) = operand_point(model, node, k, &point);
        values.push(ctx.evaluate(Slot::Tensor(node.inputs[k]), &at)?);
    }
    let (openings, commitments) = zk.send(t, b"addsub/zk-operands", &values);
    for (k, opening) in openings.iter().enumerate() {
        let (at, _) = operand_point(model, node, k, &point);
        claim(claims, Slot::Tensor(node.inputs[k]), &at, *opening);
    }
    let output = affine(2, |v| output_at(model, node, sub, &point, v)).open(&openings);
    claim(claims, Slot::Tensor(node.output), &point, output);
    Ok(ZkOpMessage {
        values: commitments,
        sumchecks: Vec::new(),
    })
}

fn verify_add_sub_zk(
    model: &Model,
    n: usize,
    sub: bool,
    message: &ZkOpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<CommittedSlotClaim>,
) -> Result<(), OpError> {
    message.expect(2, 0)?;
    let node = &model.nodes[n];
    let point = t.challenges(b"addsub/point", num_vars(&model.tensors[node.output].shape));
    t.absorb_points(b"addsub/zk-operands", &message.values);
    for k in 0..2 {
        let (at, _) = operand_point(model, node, k, &point);
        claim(claims, Slot::Tensor(node.inputs[k]), &at, message.values[k]);
    }
    let output = affine(2, |v| output_at(model, node, sub, &point, v))
        .commit(PedersenGens::dory(), &message.values);
    claim(claims, Slot::Tensor(node.output), &point, output);
    Ok(())
}

macro_rules! add_sub_protocol {
    ($ty:ident, $name:literal, $sub:expr, $f:ident) => {
        impl OpProtocol for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn arity(&self) -> std::ops::RangeInclusive<usize> {
                2..=2
            }

            fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
                check_broadcast(model, node)
            }

            fn execute(
                &self,
                model: &Model,
                node: &Node,
                inputs: &[&[i64]],
            ) -> Result<Executed, ExecError> {
                let output = broadcast_map(model, node, inputs, |x, y| {
                    x.$f(y).ok_or(ExecError::Overflow)
                })?;
                Ok(Executed {
                    output,
                    remainder: None,
                    aux: Vec::new(),
                })
            }

            fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
                vec![Bound::activation(
                    model,
                    Slot::Tensor(model.nodes[n].output),
                )]
            }

            fn prove(
                &self,
                ctx: &ProverContext<'_>,
                n: usize,
                t: &mut ProofTranscript,
                claims: &mut Vec<SlotClaim>,
            ) -> Result<OpMessage, OpError> {
                prove_add_sub(ctx, n, $sub, t, claims)
            }

            fn verify(
                &self,
                model: &Model,
                _public: PublicInput<'_>,
                n: usize,
                message: &OpMessage,
                t: &mut ProofTranscript,
                claims: &mut Vec<SlotClaim>,
            ) -> Result<(), OpError> {
                verify_add_sub(model, n, $sub, message, t, claims)
            }

            fn zk(&self) -> Option<&dyn ZkOpProtocol> {
                Some(self)
            }
        }

        impl ZkOpProtocol for $ty {
            fn prove_zk(
                &self,
                ctx: &ProverContext<'_>,
                zk: &mut ZkProver<'_>,
                n: usize,
                t: &mut ProofTranscript,
                claims: &mut Vec<OpenedSlotClaim>,
            ) -> Result<ZkOpMessage, OpError> {
                prove_add_sub_zk(ctx, zk, n, $sub, t, claims)
            }

            fn verify_zk(
                &self,
                model: &Model,
                _public: PublicInput<'_>,
                n: usize,
                message: &ZkOpMessage,
                t: &mut ProofTranscript,
                claims: &mut Vec<CommittedSlotClaim>,
            ) -> Result<(), OpError> {
                verify_add_sub_zk(model, n, $sub, message, t, claims)
            }
        }
    };
}

add_sub_protocol!(Add, "Add", false, checked_add);
add_sub_protocol!(Sub, "Sub", true, checked_sub);
