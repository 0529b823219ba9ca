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
//!
//! With zero knowledge ([`crate::zk::ops`]): commitments to `[Y(r), R(r)]` and
//! the committed sumcheck, whose final values are `Ã(ρ)` and `B̃(ρ)`; the
//! claims on A and B are those commitments scaled by `1/m_a(ρ)`, `1/m_b(ρ)`.

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
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

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

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
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

/// `eq(r, ·)·Ã·B̃` over `[eq, Ã, B̃]`, eq public.
fn zero_check() -> Result<crate::sumcheck::Expression, OpError> {
    Ok(crate::sumcheck::Expression::new(
        3,
        vec![crate::backend::ProductTerm::product(vec![0, 1, 2])],
    )?)
}

/// The accumulator `Acc(r)` as an affine map of the sent `[Y(r), R(r)]`.
fn zk_accumulator(model: &Model, y: &[usize], point: &[Fr]) -> Affine {
    affine(2, |v| accumulator(model, y, point, v[0], v[1]))
}

/// `1/m_k(ρ)`: what turns `Ã_k(ρ)` into operand k's value at its point.
pub(crate) fn inverse_mask(
    y: &[usize],
    operand: &[usize],
    rho: &[Fr],
) -> Result<(Vec<Fr>, Fr), OpError> {
    use ark_ff::Field;
    let (at, mask) = broadcast_point(y, operand, rho);
    let inverse = mask
        .inverse()
        .ok_or(OpError::Check("broadcast mask vanishes at the final point"))?;
    Ok((at, inverse))
}

impl ZkOpProtocol for Mul {
    fn prove_zk(
        &self,
        ctx: &ProverContext<'_>,
        zk: &mut ZkProver<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError> {
        let model = ctx.model;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let point = t.challenges(b"mul/point", num_vars(y));
        let values = [
            ctx.evaluate(Slot::Tensor(node.output), &point)?,
            ctx.evaluate(Slot::Remainder(n), &point)?,
        ];
        let (openings, commitments) = zk.send(t, b"mul/zk-values", &values);
        let acc = zk_accumulator(model, y, &point).open(&openings);
        let mles = vec![
            ctx.backend.eq_table(&point)?,
            expanded(ctx, node, 0, 0),
            expanded(ctx, node, 1, 0),
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            acc,
            mles,
            &zero_check()?,
            &[true, false, false],
            zk.blinds,
        )?;
        claim(claims, Slot::Tensor(node.output), &point, openings[0]);
        claim(claims, Slot::Remainder(n), &point, openings[1]);
        for (k, &operand) in node.inputs[..2].iter().enumerate() {
            let (at, inverse) = inverse_mask(y, &model.tensors[operand].shape, &out.point)?;
            claim(
                claims,
                Slot::Tensor(operand),
                &at,
                out.private_evals[k] * inverse,
            );
        }
        Ok(ZkOpMessage {
            values: commitments,
            sumchecks: vec![out.proof],
        })
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
        message.expect(2, 1)?;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let point = t.challenges(b"mul/point", num_vars(y));
        let v = &message.values;
        t.absorb_points(b"mul/zk-values", v);
        let gens = PedersenGens::dory();
        let acc = zk_accumulator(model, y, &point).commit(gens, v);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &acc,
            num_vars(y),
            &zero_check()?,
            &message.sumchecks[0],
            |rho| vec![Some(crate::sumcheck::eq_eval(&point, rho)), None, None],
        )?;
        claim(claims, Slot::Tensor(node.output), &point, v[0]);
        claim(claims, Slot::Remainder(n), &point, v[1]);
        for (k, &operand) in node.inputs[..2].iter().enumerate() {
            use ark_ec::CurveGroup;
            let (at, inverse) = inverse_mask(y, &model.tensors[operand].shape, &rho)?;
            claim(
                claims,
                Slot::Tensor(operand),
                &at,
                (finals[k] * inverse).into_affine(),
            );
        }
        Ok(())
    }
}
