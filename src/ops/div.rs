//! `Div` of two activations with numpy broadcasting of the divisor (Softmax's
//! division by the row sum, a model's `a / b`): the quotient rounded to the
//! nearest fixed-point value, half up,
//! `Q = floor((A·2^(s+1) + B) / (2B))` = `round(A/B · 2^s)`, for a positive
//! divisor B (integer execution refuses B ≤ 0: the proof needs B's sign).
//!
//! The op commits the remainder `R` of that division ([`Slot::Remainder`])
//! and an auxiliary column `C = 2B − 1 − R` (zero on padding), both of the
//! output's shape, and range-checks `R, C ∈ [0, 2^a)` and Q into the
//! activation range. The proof shows, on the output's padded hypercube,
//! `A·2^(s+1) + B̃ = 2·Q·B* + R` where `B̃` is B laid out over the output
//! (zero on padding, as in [`super::mul`]) and `B* = B̃ + (1 − valid)` (1 on
//! padding):
//! - at a random point z of the output the prover sends `A(z)`, `B(z_b)` and
//!   `R(z)`; the zero-check `Σ_x eq(z, x)·Q(x)·B*(x) = (2^(s+1)·A(z) + B̃(z) − R(z))/2`
//!   (degree 3) ends at ρ with `Q(ρ)` and `B(ρ_b)`;
//! - the verifier derives `C(z) = 2·B̃(z) − valid(z) − R(z)` and claims it.
//!
//! Then on real entries `0 ≤ R ≤ 2B − 1` over the integers (every value is far
//! below the field size), so B ≥ 1 and Q is the rounded quotient; on padding
//! `0 = 2Q + R` and `C = −R ≥ 0` leave only `Q = R = 0`, so the output is
//! zero-padded like every committed tensor. Fixed-point error: at most
//! half a unit of the output scale (2^−(s+1)) against the exact quotient of the
//! two fixed-point operands.
//!
//! Message: values `[A(z), B(z_b), R(z), Q(ρ), B(ρ_b)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]): commitments to
//! `[A(z), B(z_b), R(z)]`, of which the zero-check's claim and `C(z)` are the
//! same affine maps, and the committed zero-check over `[eq, Q, B*]` (eq
//! public), whose final values `Q(ρ)` and `B*(ρ)` come committed with one
//! proof of product; the claim on B at `ρ_b` is
//! `(B*(ρ) − 1 + valid(ρ)) / m_b(ρ)`, affine in the commitment.
//! Message: commitments `[A(z), B(z_b), R(z)]`, one committed sumcheck.

use ark_bn254::Fr;
use ark_ff::{Field, One};

use super::add_sub::{broadcast_map, check_broadcast};
use super::range::Bound;
use super::{
    claim, pow2, prove_eq_product, verify_eq_product, ExecError, Executed, OpError, OpMessage,
    OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{broadcast_point, num_vars, pad, valid_mle, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// `round(a / b · 2^s)` for `b > 0`.
pub struct Div;

/// The quotient and remainder of one entry: `a·2^(s+1) + b = 2·q·b + r`.
pub fn divide(a: i64, b: i64, scale_bits: u32) -> Option<(i64, i64)> {
    if b <= 0 {
        return None;
    }
    let numerator = (a as i128) << (scale_bits + 1);
    let numerator = numerator + b as i128;
    let denominator = 2 * b as i128;
    let q = numerator.div_euclid(denominator);
    let r = numerator - q * denominator;
    Some((i64::try_from(q).ok()?, r as i64))
}

impl Div {
    /// The zero-check's claim `(2^(s+1)·A(z) + B̃(z) − R(z)) / 2`.
    fn product_claim(model: &Model, a: Fr, b_tilde: Fr, r: Fr) -> Fr {
        let half = Fr::from(2u64).inverse().expect("2 is invertible");
        (pow2(model.scale_bits + 1) * a + b_tilde - r) * half
    }

    /// Absorbs what both sides hold after the zero-check and leaves the claims.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        model: &Model,
        n: usize,
        z: &[Fr],
        b_mask: Fr,
        rho: &[Fr],
        message: &OpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) {
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let v = &message.values;
        t.append_scalar(b"div/quotient", &v[3]);
        t.append_scalar(b"div/divisor_rho", &v[4]);
        let (b_at_z, _) = broadcast_point(y, b_shape, z);
        let (b_at_rho, _) = broadcast_point(y, b_shape, rho);
        claim(claims, Slot::Tensor(node.inputs[0]), z, v[0]);
        claim(claims, Slot::Tensor(node.inputs[1]), &b_at_z, v[1]);
        claim(claims, Slot::Remainder(n), z, v[2]);
        let c = Fr::from(2u64) * b_mask * v[1] - valid_mle(y, z) - v[2];
        claim(claims, Slot::Aux(n, 0), z, c);
        claim(claims, Slot::Tensor(node.output), rho, v[3]);
        claim(claims, Slot::Tensor(node.inputs[1]), &b_at_rho, v[4]);
    }
}

impl OpProtocol for Div {
    fn name(&self) -> &'static str {
        "Div"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        check_broadcast(model, node)?;
        let (a, y) = (
            &model.tensors[node.inputs[0]].shape,
            &model.tensors[node.output].shape,
        );
        if a != y {
            return Err(format!(
                "the dividend {a:?} must have the output's shape {y:?} (only the divisor broadcasts)"
            ));
        }
        Ok(())
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let y = &model.tensors[node.output].shape;
        let mut remainders = Vec::new();
        let mut index = 0usize;
        let output = broadcast_map(model, node, inputs, |a, b| {
            let (q, r) = divide(a, b, model.scale_bits).ok_or_else(|| {
                ExecError::Bad(format!(
                    "divisor {b} at output entry {index}: Div needs a positive divisor"
                ))
            })?;
            index += 1;
            remainders.push(r);
            Ok(q)
        })?;
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let c: Vec<i64> = (0..output.len())
            .map(|i| {
                2 * inputs[1][crate::model::broadcast_index(i, y, b_shape)] - 1 - remainders[i]
            })
            .collect();
        Ok(Executed {
            output,
            remainder: Some(remainders),
            aux: vec![pad(&c, y)],
        })
    }

    fn rescales(&self) -> bool {
        true
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn aux_vars(&self, model: &Model, n: usize) -> Vec<usize> {
        vec![num_vars(&model.tensors[model.nodes[n].output].shape)]
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        let a = model.activation_bits;
        vec![
            Bound {
                slot: Slot::Remainder(n),
                offset: 0,
                bits: a,
                sign_bit: false,
            },
            Bound {
                slot: Slot::Aux(n, 0),
                offset: 0,
                bits: a,
                sign_bit: false,
            },
            Bound::activation(model, Slot::Tensor(model.nodes[n].output)),
        ]
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
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let z = t.challenges(b"div/point", num_vars(y));
        let (b_at_z, b_mask) = broadcast_point(y, b_shape, &z);
        let a = ctx.evaluate(Slot::Tensor(node.inputs[0]), &z)?;
        let b = ctx.evaluate(Slot::Tensor(node.inputs[1]), &b_at_z)?;
        let r = ctx.evaluate(Slot::Remainder(n), &z)?;
        for (label, v) in [
            (&b"div/dividend"[..], a),
            (b"div/divisor", b),
            (b"div/remainder", r),
        ] {
            t.append_scalar(label, &v);
        }
        let target = Self::product_claim(model, a, b_mask * b, r);
        let factors = vec![
            ctx.padded_field(Slot::Tensor(node.output)),
            // B*: the divisor over the output, 1 on padding.
            super::mul::expanded(ctx, node, 1, 1),
        ];
        let (sumcheck, rho, _) = prove_eq_product(ctx, t, target, &z, factors)?;
        let q = ctx.evaluate(Slot::Tensor(node.output), &rho)?;
        let (b_at_rho, _) = broadcast_point(y, b_shape, &rho);
        let b_rho = ctx.evaluate(Slot::Tensor(node.inputs[1]), &b_at_rho)?;
        let message = OpMessage {
            values: vec![a, b, r, q, b_rho],
            sumchecks: vec![sumcheck],
        };
        Self::finish(model, n, &z, b_mask, &rho, &message, t, claims);
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
        message.expect(5, 1)?;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let z = t.challenges(b"div/point", num_vars(y));
        let (_, b_mask) = broadcast_point(y, b_shape, &z);
        let v = &message.values;
        for (label, value) in [
            (&b"div/dividend"[..], v[0]),
            (b"div/divisor", v[1]),
            (b"div/remainder", v[2]),
        ] {
            t.append_scalar(label, &value);
        }
        let target = Self::product_claim(model, v[0], b_mask * v[1], v[2]);
        let rho = verify_eq_product(
            t,
            target,
            &z,
            3,
            &message.sumchecks[0],
            |rho| {
                let b_star =
                    broadcast_point(y, b_shape, rho).1 * v[4] + Fr::one() - valid_mle(y, rho);
                vec![v[3], b_star]
            },
            "quotient zero-check final value",
        )?;
        Self::finish(model, n, &z, b_mask, &rho, message, t, claims);
        Ok(())
    }
}

/// The zero-knowledge relation at z: the zero-check's claim and `C(z)` as
/// affine maps of the sent `[A(z), B(z_b), R(z)]`.
fn zk_at_z(model: &Model, y: &[usize], z: &[Fr], b_mask: Fr) -> (Affine, Affine) {
    let valid = valid_mle(y, z);
    (
        affine(3, |v| Div::product_claim(model, v[0], b_mask * v[1], v[2])),
        affine(3, |v| Fr::from(2u64) * b_mask * v[1] - valid - v[2]),
    )
}

/// `B(ρ_b) = (B*(ρ) − 1 + valid(ρ)) / m_b(ρ)` as an affine map of `B*(ρ)`,
/// and `ρ_b`.
fn zk_divisor_at_rho(
    y: &[usize],
    b_shape: &[usize],
    rho: &[Fr],
) -> Result<(Vec<Fr>, Affine), OpError> {
    let (at, inverse) = super::mul::inverse_mask(y, b_shape, rho)?;
    let valid = valid_mle(y, rho);
    Ok((at, affine(1, |v| (v[0] - Fr::one() + valid) * inverse)))
}

/// `eq(z, ·)·Q·B*` over `[eq, Q, B*]`, eq public.
fn zero_check() -> Result<crate::sumcheck::Expression, OpError> {
    Ok(crate::sumcheck::Expression::product(3)?)
}

impl ZkOpProtocol for Div {
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
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let z = t.challenges(b"div/point", num_vars(y));
        let (b_at_z, b_mask) = broadcast_point(y, b_shape, &z);
        let values = [
            ctx.evaluate(Slot::Tensor(node.inputs[0]), &z)?,
            ctx.evaluate(Slot::Tensor(node.inputs[1]), &b_at_z)?,
            ctx.evaluate(Slot::Remainder(n), &z)?,
        ];
        let (sent, commitments) = zk.send(t, b"div/zk-values", &values);
        let (target, c_at_z) = zk_at_z(model, y, &z, b_mask);
        let mles = vec![
            ctx.backend.eq_table(&z)?,
            ctx.padded_field(Slot::Tensor(node.output)),
            // B*: the divisor over the output, 1 on padding.
            super::mul::expanded(ctx, node, 1, 1),
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            target.open(&sent),
            mles,
            &zero_check()?,
            &[true, false, false],
            zk.blinds,
        )?;
        let (b_at_rho, divisor) = zk_divisor_at_rho(y, b_shape, &out.point)?;
        claim(claims, Slot::Tensor(node.inputs[0]), &z, sent[0]);
        claim(claims, Slot::Tensor(node.inputs[1]), &b_at_z, sent[1]);
        claim(claims, Slot::Remainder(n), &z, sent[2]);
        claim(claims, Slot::Aux(n, 0), &z, c_at_z.open(&sent));
        claim(
            claims,
            Slot::Tensor(node.output),
            &out.point,
            out.private_evals[0],
        );
        claim(
            claims,
            Slot::Tensor(node.inputs[1]),
            &b_at_rho,
            divisor.open(&out.private_evals[1..]),
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
        message.expect(3, 1)?;
        let node = &model.nodes[n];
        let y = &model.tensors[node.output].shape;
        let b_shape = &model.tensors[node.inputs[1]].shape;
        let v = &message.values;
        let gens = PedersenGens::dory();
        let z = t.challenges(b"div/point", num_vars(y));
        let (b_at_z, b_mask) = broadcast_point(y, b_shape, &z);
        t.absorb_points(b"div/zk-values", v);
        let (target, c_at_z) = zk_at_z(model, y, &z, b_mask);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &target.commit(gens, v),
            num_vars(y),
            &zero_check()?,
            &message.sumchecks[0],
            |rho| vec![Some(crate::sumcheck::eq_eval(&z, rho)), None, None],
        )?;
        let (b_at_rho, divisor) = zk_divisor_at_rho(y, b_shape, &rho)?;
        claim(claims, Slot::Tensor(node.inputs[0]), &z, v[0]);
        claim(claims, Slot::Tensor(node.inputs[1]), &b_at_z, v[1]);
        claim(claims, Slot::Remainder(n), &z, v[2]);
        claim(claims, Slot::Aux(n, 0), &z, c_at_z.commit(gens, v));
        claim(claims, Slot::Tensor(node.output), &rho, finals[0]);
        claim(
            claims,
            Slot::Tensor(node.inputs[1]),
            &b_at_rho,
            divisor.commit(gens, &finals[1..]),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::divide;

    #[test]
    fn division_rounds_half_up_and_refuses_non_positive_divisors() {
        // 3/2 = 1.5 → 2 (scale 0 ⇒ plain rounding); −3/2 = −1.5 → −1.
        assert_eq!(divide(3, 2, 0).map(|v| v.0), Some(2));
        assert_eq!(divide(-3, 2, 0).map(|v| v.0), Some(-1));
        // 1/3 at scale 7: round(128/3) = 43.
        assert_eq!(divide(128, 384, 7).map(|v| v.0), Some(43));
        for (a, b) in [(5, 7), (-9, 4), (0, 1), (32767, 1)] {
            let (q, r) = divide(a, b, 7).unwrap();
            assert_eq!(
                (a as i128) * 256 + b as i128,
                2 * q as i128 * b as i128 + r as i128
            );
            assert!((0..2 * b).contains(&r));
        }
        assert_eq!(divide(1, 0, 7), None);
        assert_eq!(divide(1, -2, 7), None);
    }
}
