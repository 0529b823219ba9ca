//! Element-wise `Mul` with numpy broadcasting of both operands:
//! `Y = rescale(A·B)`.
//!
//! At a random point r of Y the prover sends `Y(r)` and `R(r)`; the verifier
//! derives `Acc(r)` from the rescale identity and runs the zero-check
//! `Σ_x eq(r, x)·Ã(x)·B̃(x) = Acc(r)` (degree 3), where `Ã` is A laid out over
//! Y's padded hypercube, zero on padding: `Ã(ρ) = m_a(ρ)·A(ρ_a)` (see
//! [`crate::layout::broadcast_point`]). It leaves claims on Y and R at r and
//! on A and B at their parts of the final point ρ.
//!
//! Message: values `[Y(r), R(r), A(ρ_a), B(ρ_b)]`, one sumcheck.

use ark_bn254::Fr;

use super::add_sub::{broadcast_map, check_broadcast};
use super::{
    accumulator, claim, prove_eq_product, rescale_all, verify_eq_product, ExecError, Executed,
    OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{
    broadcast_point, expand_broadcast, num_vars, pad, padded_dims, Slot, SlotClaim,
};
use crate::model::{Model, Node};
use crate::ops::range::Bound;
use crate::pcs::poly::small_to_field;
use crate::transcript::ProofTranscript;

/// `rescale(a·b)`.
pub struct Mul;

/// Operand `i` laid out over the output's padded hypercube (numpy
/// broadcasting), `padding` on the output's padded entries (0 for a product,
/// 1 for [`super::div`]'s divisor).
pub(crate) fn expanded(ctx: &ProverContext<'_>, node: &Node, i: usize, padding: i64) -> Vec<Fr> {
    let model = ctx.model;
    let y = &model.tensors[node.output].shape;
    let a_shape = &model.tensors[node.inputs[i]].shape;
    let valid = pad(&vec![1; y.iter().product()], y);
    let values = expand_broadcast(&ctx.padded_values(Slot::Tensor(node.inputs[i])), y, a_shape);
    debug_assert_eq!(values.len(), padded_dims(y).iter().product::<usize>());
    values
        .into_iter()
        .zip(valid)
        .map(|(v, ok)| small_to_field(if ok == 1 { v } else { padding }))
        .collect()
}

impl OpProtocol for Mul {
    fn name(&self) -> &'static str {
        "Mul"
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
        let mut products = Vec::new();
        broadcast_map(model, node, inputs, |x, y| {
            products.push(x as i128 * y as i128);
            Ok(0)
        })?;
        rescale_all(products, model.scale_bits)
    }

    fn rescales(&self) -> bool {
        true
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        Bound::rescale(model, n)
    }

    fn prove(
        &self,
        ctx: &ProverContext<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<OpMessage, OpError> {
        let model = ctx.model;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let point = t.challenges(b"mul/point", num_vars(y));
        let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
        let remainder = ctx.evaluate(Slot::Remainder(n), &point)?;
        t.append_scalar(b"mul/output", &output);
        t.append_scalar(b"mul/remainder", &remainder);
        let acc = accumulator(model, y, &point, output, remainder);
        let factors = vec![expanded(ctx, node, 0, 0), expanded(ctx, node, 1, 0)];
        let (sumcheck, rho, _) = prove_eq_product(ctx, t, acc, &point, factors)?;
        let mut values = vec![output, remainder];
        for &operand in &node.inputs[..2] {
            let (at, _) = broadcast_point(y, &model.tensors[operand].shape, &rho);
            values.push(ctx.evaluate(Slot::Tensor(operand), &at)?);
        }
        let message = OpMessage {
            values,
            sumchecks: vec![sumcheck],
        };
        finish(model, n, &point, &rho, &message, t, claims);
        Ok(message)
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
        message.expect(4, 1)?;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let point = t.challenges(b"mul/point", num_vars(y));
        let v = &message.values;
        t.append_scalar(b"mul/output", &v[0]);
        t.append_scalar(b"mul/remainder", &v[1]);
        let acc = accumulator(model, y, &point, v[0], v[1]);
        let rho = verify_eq_product(
            t,
            acc,
            &point,
            3,
            &message.sumchecks[0],
            |rho| {
                node.inputs[..2]
                    .iter()
                    .enumerate()
                    .map(|(k, &operand)| {
                        broadcast_point(y, &model.tensors[operand].shape, rho).1 * v[2 + k]
                    })
                    .collect()
            },
            "zero-check final value",
        )?;
        finish(model, n, &point, &rho, message, t, claims);
        Ok(())
    }
}

/// Absorbs the operands' values at ρ and claims Y, R and both operands.
fn finish(
    model: &Model,
    n: usize,
    point: &[Fr],
    rho: &[Fr],
    message: &OpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) {
    let node = &model.nodes[n];
    let y = &model.tensors[node.output].shape;
    let v = &message.values;
    claim(claims, Slot::Tensor(node.output), point, v[0]);
    claim(claims, Slot::Remainder(n), point, v[1]);
    for (k, &operand) in node.inputs[..2].iter().enumerate() {
        t.append_scalar(b"mul/operand", &v[2 + k]);
        let (at, _) = broadcast_point(y, &model.tensors[operand].shape, rho);
        claim(claims, Slot::Tensor(operand), &at, v[2 + k]);
    }
}
