//! `Relu`: `Y = b·X`, where `b` is the committed sign bit of X's range check
//! ([`super::range`]: `X + 2^(a−1) = lo + 2^8·mid + … + 2^(a−1)·b` with every
//! limb looked up in the byte table, so `b = 1` exactly when `X ≥ 0`). That
//! check is X's producer's when it bounds X in the activation range (a
//! MatMul, Conv, Mul, Add, Sub or sum: one range check serves both), else
//! the ReLU's own.
//!
//! The product is a zero-check: `Σ_x eq(r, x)·b(x)·X(x) = Y(r)` at a random point
//! r of Y (degree 3), leaving claims on Y at r and on b and X at the final point.
//! Padding stays zero: there X = 0, so Y = b·0 = 0.
//!
//! Message: values `[Y(r), b(ρ), X(ρ)]`, one sumcheck. With zero knowledge
//! ([`crate::zk::ops`]): a commitment to `Y(r)` and the committed sumcheck,
//! whose final values are `b(ρ)` and `X(ρ)` (one proof of product).

use ark_bn254::Fr;

use super::range::{producer_sign_bit, sign_bit, Bound};
use super::{
    claim, prove_eq_product, same_shape, verify_eq_product, ExecError, Executed, OpError,
    OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{num_vars, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::sumcheck::{eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// `max(x, 0)`.
pub struct Relu;

/// The sign bit of the input: its producer's when the producer range-checks
/// it with one, else this node's own range check's.
fn sign_slot(model: &Model, n: usize) -> Result<Slot, OpError> {
    producer_sign_bit(model, model.nodes[n].inputs[0])
        .or_else(|| sign_bit(model, n, 0))
        .ok_or_else(|| OpError::Shape("node has no sign-bit limb".into()))
}

/// Absorbs the message's values after the sumcheck and leaves its claims.
fn finish(
    model: &Model,
    n: usize,
    point: &[Fr],
    rho: &[Fr],
    message: &OpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), OpError> {
    let node = &model.nodes[n];
    let v = &message.values;
    t.append_scalar(b"relu/sign", &v[1]);
    t.append_scalar(b"relu/input", &v[2]);
    claim(claims, Slot::Tensor(node.output), point, v[0]);
    claim(claims, sign_slot(model, n)?, rho, v[1]);
    claim(claims, Slot::Tensor(node.inputs[0]), rho, v[2]);
    Ok(())
}

impl OpProtocol for Relu {
    fn name(&self) -> &'static str {
        "Relu"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        same_shape(model, node, 0)
    }

    fn zk(&self) -> Option<&dyn crate::zk::ops::ZkOpProtocol> {
        Some(self)
    }

    fn execute(&self, _: &Model, _: &Node, inputs: &[&[i64]]) -> Result<Executed, ExecError> {
        Ok(Executed {
            output: inputs[0].iter().map(|&x| x.max(0)).collect(),
            remainder: None,
            aux: Vec::new(),
        })
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        let input = model.nodes[n].inputs[0];
        if producer_sign_bit(model, input).is_some() {
            // Already range-checked, with its sign bit, by its producer.
            return Vec::new();
        }
        vec![Bound::activation(model, Slot::Tensor(input))]
    }

    fn prove(
        &self,
        ctx: &ProverContext<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<OpMessage, OpError> {
        let node = &ctx.model.nodes[n];
        let sign = sign_slot(ctx.model, n)?;
        let vars = num_vars(&ctx.model.tensors[node.output].shape);
        let point = t.challenges(b"relu/point", vars);
        let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
        t.append_scalar(b"relu/output", &output);
        let factors = vec![
            ctx.padded_field(sign),
            ctx.padded_field(Slot::Tensor(node.inputs[0])),
        ];
        let (sumcheck, rho, finals) = prove_eq_product(ctx, t, output, &point, factors)?;
        let message = OpMessage {
            values: vec![output, finals[0], finals[1]],
            sumchecks: vec![sumcheck],
        };
        finish(ctx.model, n, &point, &rho, &message, t, claims)?;
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
        message.expect(3, 1)?;
        let node = &model.nodes[n];
        let vars = num_vars(&model.tensors[node.output].shape);
        let point = t.challenges(b"relu/point", vars);
        let v = &message.values;
        t.append_scalar(b"relu/output", &v[0]);
        let rho = verify_eq_product(
            t,
            v[0],
            &point,
            3,
            &message.sumchecks[0],
            |_| vec![v[1], v[2]],
            "ReLU zero-check final value",
        )?;
        finish(model, n, &point, &rho, message, t, claims)
    }
}

/// `eq(r, ·)·b·X` over `[eq, b, X]`, eq public.
fn zero_check() -> Result<Expression, OpError> {
    Ok(Expression::new(
        3,
        vec![crate::backend::ProductTerm::product(vec![0, 1, 2])],
    )?)
}

impl ZkOpProtocol for Relu {
    fn prove_zk(
        &self,
        ctx: &ProverContext<'_>,
        zk: &mut ZkProver<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError> {
        let node = &ctx.model.nodes[n];
        let sign = sign_slot(ctx.model, n)?;
        let vars = num_vars(&ctx.model.tensors[node.output].shape);
        let point = t.challenges(b"relu/point", vars);
        let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
        let (openings, commitments) = zk.send(t, b"relu/zk-output", &[output]);
        let mles = vec![
            ctx.backend.eq_table(&point)?,
            ctx.padded_field(sign),
            ctx.padded_field(Slot::Tensor(node.inputs[0])),
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            openings[0],
            mles,
            &zero_check()?,
            &[true, false, false],
            zk.blinds,
        )?;
        claim(claims, Slot::Tensor(node.output), &point, openings[0]);
        claim(claims, sign, &out.point, out.private_evals[0]);
        claim(
            claims,
            Slot::Tensor(node.inputs[0]),
            &out.point,
            out.private_evals[1],
        );
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
        message.expect(1, 1)?;
        let node = &model.nodes[n];
        let sign = sign_slot(model, n)?;
        let vars = num_vars(&model.tensors[node.output].shape);
        let point = t.challenges(b"relu/point", vars);
        let output = message.values[0];
        t.absorb_points(b"relu/zk-output", &message.values);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            PedersenGens::dory(),
            &output,
            vars,
            &zero_check()?,
            &message.sumchecks[0],
            |rho| vec![Some(eq_eval(&point, rho)), None, None],
        )?;
        claim(claims, Slot::Tensor(node.output), &point, output);
        claim(claims, sign, &rho, finals[0]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[1]);
        Ok(())
    }
}
