//! `SumSquares`: the rescaled sum of squares over the last axis, LayerNorm's
//! and RMSNorm's variance without a committed tensor of squares:
//! `Y[i, 0] = rescale(Σ_n X[i, n]², s + k)` for X of shape `[…, N]`, Y of
//! shape `[…, 1]` and an extra shift k (log2 N makes Y the mean square at the
//! model's scale, rounded once). Summing before rescaling keeps Y in range
//! whenever the mean square is, however large the single squares are.
//!
//! At a random point r of Y the prover sends `Y(r)` and `R(r)`; the verifier
//! derives `Acc(r) = 2^(s+k)·Y(r) + R(r) − 2^(s+k−1)·valid(r)` and one
//! sumcheck proves `Σ_x E_r(x)·X(x)·X(x) = Acc(r)` with `E_r(x) = eq(r, row(x))`
//! (degree 3; X is zero on padding), ending at ρ with `X(ρ)`. The remainder is
//! range-checked in `[0, 2^(s+k))` and Y in the activation range.
//!
//! Message: values `[Y(r), R(r), X(ρ)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]): commitments to `[Y(r), R(r)]`,
//! of which `Acc(r)` is an affine map, and the committed sumcheck over
//! `[E_r, X]` with the expression `E_r·X·X` (E_r public), whose final value
//! `X(ρ)` comes committed with one proof of product for the square.
//! Message: commitments `[Y(r), R(r)]`, one committed sumcheck.

use ark_bn254::Fr;
use serde::{Deserialize, Serialize};

use super::range::Bound;
use super::{
    claim, pow2, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{broadcast_point, num_vars, valid_mle, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// Largest extra shift (the rescale divides by at most 2^(s + 24)).
pub const MAX_SHIFT: u32 = 24;

/// `rescale(Σ_n X[…, n]², s + shift)` over the last axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumSquares {
    pub shift: u32,
}

impl SumSquares {
    fn bits(&self, model: &Model) -> u32 {
        model.scale_bits + self.shift
    }

    /// `Acc(r)` from the rescale identity with `s + shift` bits.
    fn accumulator(&self, model: &Model, y_shape: &[usize], r: &[Fr], y: Fr, rem: Fr) -> Fr {
        let bits = self.bits(model);
        pow2(bits) * y + rem - pow2(bits - 1) * valid_mle(y_shape, r)
    }
}

impl OpProtocol for SumSquares {
    fn name(&self) -> &'static str {
        "SumSquares"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        if self.shift > MAX_SHIFT {
            return Err(format!("shift {} (at most {MAX_SHIFT})", self.shift));
        }
        if self.bits(model) > 48 {
            return Err(format!(
                "a remainder of {} bits (scale {} + shift {}; at most 48)",
                self.bits(model),
                model.scale_bits,
                self.shift
            ));
        }
        let x = &model.tensors[node.inputs[0]].shape;
        let y = &model.tensors[node.output].shape;
        let Some((&n, rows)) = x.split_last() else {
            return Err("a scalar input has no axis to reduce".into());
        };
        if n == 0 || y.len() != x.len() || y.split_last() != Some((&1, rows)) {
            return Err(format!(
                "output {y:?} must be the input {x:?} with its last axis reduced to 1"
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
        let n = *model.tensors[node.inputs[0]]
            .shape
            .last()
            .expect("checked: rank ≥ 1");
        let sums = inputs[0]
            .chunks(n)
            .map(|row| row.iter().map(|&v| v as i128 * v as i128).sum::<i128>());
        super::rescale_all(sums, self.bits(model))
    }

    fn rescales(&self) -> bool {
        true
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        vec![
            Bound {
                slot: Slot::Remainder(n),
                offset: 0,
                bits: self.bits(model),
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
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let y_shape = &model.tensors[node.output].shape;
        let r = t.challenges(b"sumsquares/point", num_vars(y_shape));
        let y = ctx.evaluate(Slot::Tensor(node.output), &r)?;
        let rem = ctx.evaluate(Slot::Remainder(n), &r)?;
        t.append_scalar(b"sumsquares/output", &y);
        t.append_scalar(b"sumsquares/remainder", &rem);
        let acc = self.accumulator(model, y_shape, &r, y, rem);
        let e = super::row_weights(ctx, &r, x_shape, false)?;
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let out = sumcheck::prove(
            ctx.backend,
            t,
            acc,
            vec![e, x.clone(), x],
            &Expression::product(3)?,
        )?;
        let x_rho = ctx.evaluate(Slot::Tensor(node.inputs[0]), &out.point)?;
        let message = OpMessage {
            values: vec![y, rem, x_rho],
            sumchecks: vec![out.proof],
        };
        finish(model, n, &r, &out.point, &message, t, claims);
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
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let y_shape = &model.tensors[node.output].shape;
        let v = &message.values;
        let r = t.challenges(b"sumsquares/point", num_vars(y_shape));
        t.append_scalar(b"sumsquares/output", &v[0]);
        t.append_scalar(b"sumsquares/remainder", &v[1]);
        let acc = self.accumulator(model, y_shape, &r, v[0], v[1]);
        let (rho, reduced) = sumcheck::verify(t, acc, num_vars(x_shape), 3, &message.sumchecks[0])?;
        let (row, _) = broadcast_point(x_shape, y_shape, &rho);
        if eq_eval(&r, &row) * v[2] * v[2] != reduced {
            return Err(OpError::Check("sum of squares final value"));
        }
        finish(model, n, &r, &rho, message, t, claims);
        Ok(())
    }
}

/// `E_r·X·X` over `[E_r, X]`.
fn zk_squares() -> Result<Expression, OpError> {
    Ok(Expression::new(
        2,
        vec![crate::backend::ProductTerm::product(vec![0, 1, 1])],
    )?)
}

impl SumSquares {
    /// `Acc(r)` as an affine map of the sent `[Y(r), R(r)]`.
    fn zk_accumulator(&self, model: &Model, y_shape: &[usize], r: &[Fr]) -> Affine {
        affine(2, |v| self.accumulator(model, y_shape, r, v[0], v[1]))
    }
}

impl ZkOpProtocol for SumSquares {
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
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let y_shape = &model.tensors[node.output].shape;
        let r = t.challenges(b"sumsquares/point", num_vars(y_shape));
        let values = [
            ctx.evaluate(Slot::Tensor(node.output), &r)?,
            ctx.evaluate(Slot::Remainder(n), &r)?,
        ];
        let (sent, commitments) = zk.send(t, b"sumsquares/zk-values", &values);
        let acc = self.zk_accumulator(model, y_shape, &r).open(&sent);
        let mles = vec![
            super::row_weights(ctx, &r, x_shape, false)?,
            ctx.padded_field(Slot::Tensor(node.inputs[0])),
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            acc,
            mles,
            &zk_squares()?,
            &[true, false],
            zk.blinds,
        )?;
        claim(claims, Slot::Tensor(node.output), &r, sent[0]);
        claim(claims, Slot::Remainder(n), &r, sent[1]);
        claim(
            claims,
            Slot::Tensor(node.inputs[0]),
            &out.point,
            out.private_evals[0],
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
        message.expect(2, 1)?;
        let node = &model.nodes[n];
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let y_shape = &model.tensors[node.output].shape;
        let v = &message.values;
        let gens = PedersenGens::dory();
        let r = t.challenges(b"sumsquares/point", num_vars(y_shape));
        t.absorb_points(b"sumsquares/zk-values", v);
        let acc = self.zk_accumulator(model, y_shape, &r).commit(gens, v);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &acc,
            num_vars(x_shape),
            &zk_squares()?,
            &message.sumchecks[0],
            |rho| {
                let (row, _) = broadcast_point(x_shape, y_shape, rho);
                vec![Some(eq_eval(&r, &row)), None]
            },
        )?;
        claim(claims, Slot::Tensor(node.output), &r, v[0]);
        claim(claims, Slot::Remainder(n), &r, v[1]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[0]);
        Ok(())
    }
}

fn finish(
    model: &Model,
    n: usize,
    r: &[Fr],
    rho: &[Fr],
    message: &OpMessage,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) {
    let node = &model.nodes[n];
    let v = &message.values;
    t.append_scalar(b"sumsquares/input", &v[2]);
    claim(claims, Slot::Tensor(node.output), r, v[0]);
    claim(claims, Slot::Remainder(n), r, v[1]);
    claim(claims, Slot::Tensor(node.inputs[0]), rho, v[2]);
}
