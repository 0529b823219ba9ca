//! `MaxShift` over the last axis (Softmax's `x − max`):
//! `Y[i, n] = X[i, n] − max_k X[i, k]` for X and Y of shape `[…, N]`. It
//! replaces `ReduceMax` followed by a `Sub` of that max when nothing else
//! reads the max ([`crate::onnx`]'s fold): the committed output Y is the
//! (negated) difference column, so neither the max nor a second copy of the
//! differences is committed.
//!
//! The op commits one auxiliary column of X's shape, a one-hot selector S of
//! one position per row that attains the max (the first). Range checks show
//! `Y ∈ [−(2^(a−1) − 1), 0]` (`Y + 2^(a−1) − 1` in `a − 1` bits; `a` the
//! activation bits), so every entry of Y is at most 0, and `S ∈ {0, 1}`;
//! execution refuses the one activation `x − max = −2^(a−1)` this leaves out.
//! Let `M_i = Σ_k S[i, k]·X[i, k]` (the selected entry; not committed) and
//! `pad(x) = [n(x) ≥ N]`. At a random point r of Y (rows part `r_i`, last-axis
//! part `r_n`), the prover sends `X(r)` and `m = M(r_i)`; the verifier claims
//! `Y(r) = X(r) − [n < N](r_n)·m`, the MLE of `Y = X − [n < N]·M(row)` on the
//! whole padded hypercube. With β drawn after `m` is absorbed, one sumcheck
//! (degree 3) shows
//! `Σ_x eq(r_i, row(x))·S(x)·(1 + β·X(x) + β²·pad(x)) = valid(r_i) + β·m`.
//! As a polynomial identity in `r_i` and β this says: every real row selects
//! exactly one position and padded rows none (`Σ_k S = valid`, S being bits);
//! no row selects a padded position (`Σ_{k ≥ N} S = 0`), so S is zero on all
//! of the padding; and `m` is the MLE of M. Then on a real row
//! `Y[i, n] = X[i, n] − X[i, k_i]` ≤ 0 for every n, so `X[i, k_i]` is the
//! row's max and Y is `X − max`; on padding, X being zero-padded (forced by
//! its producer, as every committed tensor's), `Y = 0 − 0`: Y's padding is
//! forced to zero. (A tie lets the prover select any maximal entry; Y is the
//! same.) At the sumcheck's point ρ the prover sends `S(ρ)` and `X(ρ)`; the
//! verifier computes `eq(r_i, ρ_i)` and `[n < N](ρ_n)` itself.
//!
//! Message: values `[X(r), m, S(ρ), X(ρ)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]) the same checks run on
//! commitments: `X(r)` and `m` are sent committed before β is drawn (the
//! claim on Y is the same affine map of them), and the sumcheck is a
//! committed one over `[E, S, X, pad]` with the expression
//! `E·S + β·E·S·X + β²·E·S·pad` (E and pad public), whose target
//! `valid(r_i) + β·m` is an affine map of the commitments; its final values
//! `S(ρ)` and `X(ρ)` come committed, with one proof of product for `S·X`.
//! Message: commitments `[X(r), m]`, one committed sumcheck.

use ark_bn254::Fr;
use ark_ff::One;

use super::range::Bound;
use super::{
    claim, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{broadcast_point, num_vars, pad, padded_dims, valid_mle, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::pcs::poly::small_to_field;
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// `X − max(X)` over the last axis.
pub struct MaxShift;

/// X's shape with the last axis reduced to 1: the rows.
fn rows_shape(x_shape: &[usize]) -> Vec<usize> {
    let mut rows = x_shape.to_vec();
    if let Some(last) = rows.last_mut() {
        *last = 1;
    }
    rows
}

impl MaxShift {
    /// `(ρ_i, [n < N](ρ_n))`: the rows part of a point of X and the last
    /// axis's valid mask there.
    fn split(x_shape: &[usize], point: &[Fr]) -> (Vec<Fr>, Fr) {
        broadcast_point(x_shape, &rows_shape(x_shape), point)
    }

    /// `m = M(r_i)`: the MLE at the rows point of each padded row's selected
    /// entry `M_i = Σ_k S[i, k]·X[i, k]` (what the sumcheck proves m to be),
    /// from the padded input and selector.
    fn selected_max(
        ctx: &ProverContext<'_>,
        x: &[i64],
        s: &[i64],
        padded_len: usize,
        r_rows: &[Fr],
    ) -> Result<Fr, OpError> {
        let selected: Vec<Fr> = x
            .chunks(padded_len)
            .zip(s.chunks(padded_len))
            .map(|(x, s)| small_to_field(x.iter().zip(s).map(|(x, s)| x * s).sum::<i64>()))
            .collect();
        let eq_rows = ctx.backend.eq_table(r_rows)?;
        Ok(ctx.backend.inner_product(&eq_rows, &selected)?)
    }

    /// Absorbs `S(ρ)` and `X(ρ)` and leaves every claim of the message.
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
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let v = &message.values;
        t.append_scalar(b"maxshift/selector", &v[2]);
        t.append_scalar(b"maxshift/input_rho", &v[3]);
        let (_, mask_r) = Self::split(x_shape, r);
        claim(claims, Slot::Tensor(node.inputs[0]), r, v[0]);
        claim(claims, Slot::Tensor(node.output), r, v[0] - mask_r * v[1]);
        claim(claims, Slot::Aux(n, 0), rho, v[2]);
        claim(claims, Slot::Tensor(node.inputs[0]), rho, v[3]);
    }
}

impl OpProtocol for MaxShift {
    fn name(&self) -> &'static str {
        "MaxShift"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let x = &model.tensors[node.inputs[0]].shape;
        match x.last() {
            None => return Err("a scalar input has no axis to take the max over".into()),
            Some(0) => return Err(format!("input {x:?} has an empty last axis")),
            Some(_) => {}
        }
        super::same_shape(model, node, 0)
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let len = *x_shape.last().expect("checked: rank ≥ 1");
        // The range the proof checks: one value short of the activation
        // range's bottom.
        let lowest = 1 - (1i64 << (model.activation_bits - 1));
        let mut output = Vec::with_capacity(inputs[0].len());
        let mut selector = vec![0i64; inputs[0].len()];
        for (i, row) in inputs[0].chunks(len).enumerate() {
            let (arg, &max) = row
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|&(_, v)| *v)
                .expect("rows are not empty");
            selector[i * len + arg] = 1;
            for (k, &v) in row.iter().enumerate() {
                let y = v.checked_sub(max).ok_or(ExecError::Overflow)?;
                if y < lowest {
                    return Err(ExecError::Bad(format!(
                        "x − max = {y} at index {} is below {lowest}, the lowest value the proof allows",
                        i * len + k
                    )));
                }
                output.push(y);
            }
        }
        Ok(Executed {
            output,
            remainder: None,
            aux: vec![pad(&selector, x_shape)],
        })
    }

    fn aux_vars(&self, model: &Model, n: usize) -> Vec<usize> {
        vec![num_vars(&model.tensors[model.nodes[n].inputs[0]].shape)]
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        let a = model.activation_bits;
        vec![
            // Y + 2^(a−1) − 1 ∈ [0, 2^(a−1)): Y ∈ [−(2^(a−1) − 1), 0].
            Bound {
                slot: Slot::Tensor(model.nodes[n].output),
                offset: (1i64 << (a - 1)) - 1,
                bits: a - 1,
                sign_bit: false,
            },
            Bound {
                slot: Slot::Aux(n, 0),
                offset: 0,
                bits: 1,
                sign_bit: false,
            },
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
        let len = *x_shape.last().expect("checked: rank ≥ 1");
        let padded_len = *padded_dims(x_shape).last().expect("as above");
        let r = t.challenges(b"maxshift/point", num_vars(x_shape));
        let (r_rows, _) = Self::split(x_shape, &r);
        let x_r = ctx.evaluate(Slot::Tensor(node.inputs[0]), &r)?;
        let x = ctx.padded_values(Slot::Tensor(node.inputs[0]));
        let s = ctx.padded_values(Slot::Aux(n, 0));
        let m = Self::selected_max(ctx, &x, &s, padded_len, &r_rows)?;
        t.append_scalar(b"maxshift/input", &x_r);
        t.append_scalar(b"maxshift/max", &m);
        let beta = t.challenge(b"maxshift/beta");
        let beta2 = beta * beta;
        let e = super::row_weights(ctx, &r_rows, x_shape, false)?;
        let selector: Vec<Fr> = s.iter().map(|&v| small_to_field(v)).collect();
        let weighted: Vec<Fr> = x
            .iter()
            .enumerate()
            .map(|(at, &v)| {
                let padded = if at % padded_len >= len {
                    beta2
                } else {
                    Fr::from(0u64)
                };
                Fr::one() + beta * small_to_field(v) + padded
            })
            .collect();
        let rows_shape = rows_shape(x_shape);
        let target = valid_mle(&rows_shape, &r_rows) + beta * m;
        let out = sumcheck::prove(
            ctx.backend,
            t,
            target,
            vec![e, selector, weighted],
            &Expression::product(3)?,
        )?;
        let rho = out.point;
        let s_rho = out.final_evals[1];
        let x_rho = ctx.evaluate(Slot::Tensor(node.inputs[0]), &rho)?;
        let message = OpMessage {
            values: vec![x_r, m, s_rho, x_rho],
            sumchecks: vec![out.proof],
        };
        Self::finish(model, n, &r, &rho, &message, t, claims);
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
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let v = &message.values;
        let r = t.challenges(b"maxshift/point", num_vars(x_shape));
        let (r_rows, _) = Self::split(x_shape, &r);
        t.append_scalar(b"maxshift/input", &v[0]);
        t.append_scalar(b"maxshift/max", &v[1]);
        let beta = t.challenge(b"maxshift/beta");
        let target = valid_mle(&rows_shape(x_shape), &r_rows) + beta * v[1];
        let (rho, reduced) =
            sumcheck::verify(t, target, num_vars(x_shape), 3, &message.sumchecks[0])?;
        let (rho_rows, mask) = Self::split(x_shape, &rho);
        let weighted = Fr::one() + beta * v[3] + beta * beta * (Fr::one() - mask);
        if eq_eval(&r_rows, &rho_rows) * v[2] * weighted != reduced {
            return Err(OpError::Check("selector sumcheck final value"));
        }
        Self::finish(model, n, &r, &rho, message, t, claims);
        Ok(())
    }
}

/// The zero-knowledge selector check `E·S + β·E·S·X + β²·E·S·pad` over
/// `[E, S, X, pad]`.
fn zk_selector_check(beta: Fr) -> Result<Expression, OpError> {
    use crate::backend::ProductTerm;
    Ok(Expression::new(
        4,
        vec![
            ProductTerm::product(vec![0, 1]),
            ProductTerm {
                coeff: beta,
                factors: vec![0, 1, 2],
            },
            ProductTerm {
                coeff: beta * beta,
                factors: vec![0, 1, 3],
            },
        ],
    )?)
}

/// `Y(r) = X(r) − [n < N](r_n)·m` as an affine map of `[X(r), m]`.
fn zk_output(x_shape: &[usize], r: &[Fr]) -> Affine {
    let (_, mask) = MaxShift::split(x_shape, r);
    affine(2, |v| v[0] - mask * v[1])
}

/// The selector check's target `valid(r_i) + β·m` as an affine map of
/// `[X(r), m]`.
fn zk_target(x_shape: &[usize], r: &[Fr], beta: Fr) -> Affine {
    let (r_rows, _) = MaxShift::split(x_shape, r);
    let valid = valid_mle(&rows_shape(x_shape), &r_rows);
    affine(2, |v| valid + beta * v[1])
}

impl ZkOpProtocol for MaxShift {
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
        let len = *x_shape.last().expect("checked: rank ≥ 1");
        let padded_len = *padded_dims(x_shape).last().expect("as above");
        let r = t.challenges(b"maxshift/point", num_vars(x_shape));
        let (r_rows, _) = Self::split(x_shape, &r);
        let x_r = ctx.evaluate(Slot::Tensor(node.inputs[0]), &r)?;
        let m = Self::selected_max(
            ctx,
            &ctx.padded_values(Slot::Tensor(node.inputs[0])),
            &ctx.padded_values(Slot::Aux(n, 0)),
            padded_len,
            &r_rows,
        )?;
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let s = ctx.padded_field(Slot::Aux(n, 0));
        let (sent, commitments) = zk.send(t, b"maxshift/zk-values", &[x_r, m]);
        let beta = t.challenge(b"maxshift/beta");
        let target = zk_target(x_shape, &r, beta).open(&sent);
        let pad_mle: Vec<Fr> = (0..x.len())
            .map(|at| Fr::from((at % padded_len >= len) as u64))
            .collect();
        let mles = vec![
            super::row_weights(ctx, &r_rows, x_shape, false)?,
            s,
            x,
            pad_mle,
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            target,
            mles,
            &zk_selector_check(beta)?,
            &[true, false, false, true],
            zk.blinds,
        )?;
        claim(claims, Slot::Tensor(node.inputs[0]), &r, sent[0]);
        let y_r = zk_output(x_shape, &r).open(&sent);
        claim(claims, Slot::Tensor(node.output), &r, y_r);
        claim(claims, Slot::Aux(n, 0), &out.point, out.private_evals[0]);
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
        message.expect(2, 1)?;
        let node = &model.nodes[n];
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let v = &message.values;
        let gens = PedersenGens::dory();
        let r = t.challenges(b"maxshift/point", num_vars(x_shape));
        let (r_rows, _) = Self::split(x_shape, &r);
        t.absorb_points(b"maxshift/zk-values", v);
        let beta = t.challenge(b"maxshift/beta");
        let target = zk_target(x_shape, &r, beta).commit(gens, v);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &target,
            num_vars(x_shape),
            &zk_selector_check(beta)?,
            &message.sumchecks[0],
            |rho| {
                let (rho_rows, mask) = Self::split(x_shape, rho);
                vec![
                    Some(eq_eval(&r_rows, &rho_rows)),
                    None,
                    None,
                    Some(Fr::one() - mask),
                ]
            },
        )?;
        claim(claims, Slot::Tensor(node.inputs[0]), &r, v[0]);
        let y_r = zk_output(x_shape, &r).commit(gens, v);
        claim(claims, Slot::Tensor(node.output), &r, y_r);
        claim(claims, Slot::Aux(n, 0), &rho, finals[0]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[1]);
        Ok(())
    }
}
