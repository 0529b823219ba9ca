//! `ReduceMax` over the last axis, keeping it as 1 (Softmax's row max):
//! `Y[i, 0] = max_n X[i, n]` for X of shape `[…, N]` and Y of shape `[…, 1]`.
//!
//! The op commits two auxiliary columns of X's shape: the differences
//! `D = Y − X` (Y broadcast along the row, zero on padding) and a one-hot
//! selector S of one position per row that attains the max (the first).
//! Range checks show `D ∈ [0, 2^a)`, so Y is at least every entry of its row,
//! and `S ∈ {0, 1}`. One sumcheck shows, at a random point r of Y and with a
//! random β drawn after `Y(r)` is absorbed,
//! `Σ_x E_r(x)·S(x)·(1 + β·X(x)) = valid(r) + β·Y(r)`, where
//! `E_r(x) = eq(r, row(x))·[n(x) < N]` (degree 3). As a polynomial identity in
//! r and β this says that every real row selects exactly one real position
//! (`Σ_n S = 1`, S being bits) and that Y is the value selected there (padded
//! rows select nothing, so Y's padding is zero). Y is then an entry of its row
//! and at least every entry: the max. At the sumcheck's point ρ the prover
//! sends `S(ρ)`, `X(ρ)` and `Y(ρ_y)`; the verifier computes `E_r(ρ)` and claims
//! `D(ρ) = Y(ρ_y)·[n < N](ρ_n) − X(ρ)`, the MLE of D's definition.
//! Y needs no range check of its own: it equals an entry of X.
//!
//! Message: values `[Y(r), S(ρ), X(ρ), Y(ρ_y)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]) the same checks run on
//! commitments: `Y(r)` is sent committed before β is drawn, and the sumcheck
//! is a committed one over `[E_r, S, X]` with the expression
//! `E_r·S + β·E_r·S·X` (E_r public), whose target `valid(r) + β·Y(r)` is an
//! affine map of the commitment; its final values `S(ρ)` and `X(ρ)` come
//! committed, with one proof of product for `S·X`. Then `Y(ρ_y)` is sent
//! committed, and the claim on D is the same affine map of the commitments.
//! Message: commitments `[Y(r), Y(ρ_y)]`, one committed sumcheck.

use ark_bn254::Fr;
use ark_ff::One;

use super::range::Bound;
use super::{
    claim, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{broadcast_point, num_vars, pad, valid_mle, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::pcs::poly::small_to_field;
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// The max over the last axis.
pub struct ReduceMax;

/// `(rows, N)` of the input.
fn rows_and_len(model: &Model, node: &Node) -> (usize, usize) {
    let x = &model.tensors[node.inputs[0]].shape;
    let n = *x.last().expect("checked: rank ≥ 1");
    (x.iter().product::<usize>() / n.max(1), n)
}

impl ReduceMax {
    /// `(Y(ρ_y), mask)` positions: Y's point and `[n < N](ρ_n)` for a point of X.
    fn y_point(model: &Model, node: &Node, point: &[Fr]) -> (Vec<Fr>, Fr) {
        broadcast_point(
            &model.tensors[node.inputs[0]].shape,
            &model.tensors[node.output].shape,
            point,
        )
    }

    #[allow(clippy::too_many_arguments)]
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
        t.append_scalar(b"reducemax/selector", &v[1]);
        t.append_scalar(b"reducemax/input", &v[2]);
        t.append_scalar(b"reducemax/max_rho", &v[3]);
        let (y_at, mask) = Self::y_point(model, node, rho);
        claim(claims, Slot::Tensor(node.output), r, v[0]);
        claim(claims, Slot::Aux(n, 1), rho, v[1]);
        claim(claims, Slot::Tensor(node.inputs[0]), rho, v[2]);
        claim(claims, Slot::Tensor(node.output), &y_at, v[3]);
        claim(claims, Slot::Aux(n, 0), rho, v[3] * mask - v[2]);
    }
}

impl OpProtocol for ReduceMax {
    fn name(&self) -> &'static str {
        "ReduceMax"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let x = &model.tensors[node.inputs[0]].shape;
        let y = &model.tensors[node.output].shape;
        let Some((&n, rows)) = x.split_last() else {
            return Err("a scalar input has no axis to reduce".into());
        };
        if n == 0 {
            return Err(format!("input {x:?} has an empty last axis"));
        }
        if y.len() != x.len() || y.split_last() != Some((&1, rows)) {
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
        let (rows, len) = rows_and_len(model, node);
        let x_shape = &model.tensors[node.inputs[0]].shape;
        let mut output = Vec::with_capacity(rows);
        let mut diffs = Vec::with_capacity(rows * len);
        let mut selector = vec![0i64; rows * len];
        for (i, row) in inputs[0].chunks(len).enumerate() {
            let (arg, &max) = row
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|&(_, v)| *v)
                .expect("rows are not empty");
            output.push(max);
            selector[i * len + arg] = 1;
            diffs.extend(row.iter().map(|&v| max - v));
        }
        Ok(Executed {
            output,
            remainder: None,
            aux: vec![pad(&diffs, x_shape), pad(&selector, x_shape)],
        })
    }

    fn aux_vars(&self, model: &Model, n: usize) -> Vec<usize> {
        let vars = num_vars(&model.tensors[model.nodes[n].inputs[0]].shape);
        vec![vars, vars]
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        vec![
            Bound {
                slot: Slot::Aux(n, 0),
                offset: 0,
                bits: model.activation_bits,
                sign_bit: false,
            },
            Bound {
                slot: Slot::Aux(n, 1),
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
        let y_shape = &model.tensors[node.output].shape;
        let r = t.challenges(b"reducemax/point", num_vars(y_shape));
        let y_r = ctx.evaluate(Slot::Tensor(node.output), &r)?;
        t.append_scalar(b"reducemax/max", &y_r);
        let beta = t.challenge(b"reducemax/beta");
        let e = super::row_weights(ctx, &r, x_shape, true)?;
        let selector: Vec<Fr> = ctx
            .padded_values(Slot::Aux(n, 1))
            .into_iter()
            .map(small_to_field)
            .collect();
        let shifted: Vec<Fr> = ctx
            .padded_field(Slot::Tensor(node.inputs[0]))
            .into_iter()
            .map(|x| Fr::one() + beta * x)
            .collect();
        let target = valid_mle(y_shape, &r) + beta * y_r;
        let out = sumcheck::prove(
            ctx.backend,
            t,
            target,
            vec![e, selector, shifted],
            &Expression::product(3)?,
        )?;
        let rho = out.point;
        let s_rho = ctx.evaluate(Slot::Aux(n, 1), &rho)?;
        let x_rho = ctx.evaluate(Slot::Tensor(node.inputs[0]), &rho)?;
        let (y_at, _) = Self::y_point(model, node, &rho);
        let y_rho = ctx.evaluate(Slot::Tensor(node.output), &y_at)?;
        let message = OpMessage {
            values: vec![y_r, s_rho, x_rho, y_rho],
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
        let y_shape = &model.tensors[node.output].shape;
        let v = &message.values;
        let r = t.challenges(b"reducemax/point", num_vars(y_shape));
        t.append_scalar(b"reducemax/max", &v[0]);
        let beta = t.challenge(b"reducemax/beta");
        let target = valid_mle(y_shape, &r) + beta * v[0];
        let (rho, reduced) =
            sumcheck::verify(t, target, num_vars(x_shape), 3, &message.sumchecks[0])?;
        let (y_at, mask) = Self::y_point(model, node, &rho);
        let e = eq_eval(&r, &y_at) * mask;
        if e * v[1] * (Fr::one() + beta * v[2]) != reduced {
            return Err(OpError::Check("selector sumcheck final value"));
        }
        Self::finish(model, n, &r, &rho, message, t, claims);
        Ok(())
    }
}

/// The zero-knowledge selector check `E_r·S + β·E_r·S·X` over `[E_r, S, X]`.
fn zk_selector_check(beta: Fr) -> Result<Expression, OpError> {
    use crate::backend::ProductTerm;
    Ok(Expression::new(
        3,
        vec![
            ProductTerm::product(vec![0, 1]),
            ProductTerm {
                coeff: beta,
                factors: vec![0, 1, 2],
            },
        ],
    )?)
}

/// The selector check's target `valid(r) + β·Y(r)` as an affine map of `Y(r)`.
fn zk_target(y_shape: &[usize], r: &[Fr], beta: Fr) -> Affine {
    let valid = valid_mle(y_shape, r);
    affine(1, |v| valid + beta * v[0])
}

/// `D(ρ) = Y(ρ_y)·[n < N](ρ_n) − X(ρ)` as an affine map of `[Y(ρ_y), X(ρ)]`.
fn zk_difference(mask: Fr) -> Affine {
    affine(2, |v| v[0] * mask - v[1])
}

impl ZkOpProtocol for ReduceMax {
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
        let r = t.challenges(b"reducemax/point", num_vars(y_shape));
        let y_r = ctx.evaluate(Slot::Tensor(node.output), &r)?;
        let (max_r, mut commitments) = zk.send(t, b"reducemax/zk-max", &[y_r]);
        let beta = t.challenge(b"reducemax/beta");
        let target = zk_target(y_shape, &r, beta).open(&max_r);
        let mles = vec![
            super::row_weights(ctx, &r, x_shape, true)?,
            ctx.padded_field(Slot::Aux(n, 1)),
            ctx.padded_field(Slot::Tensor(node.inputs[0])),
        ];
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            target,
            mles,
            &zk_selector_check(beta)?,
            &[true, false, false],
            zk.blinds,
        )?;
        let rho = out.point;
        let (y_at, mask) = Self::y_point(model, node, &rho);
        let y_rho = ctx.evaluate(Slot::Tensor(node.output), &y_at)?;
        let (max_rho, max_rho_c) = zk.send(t, b"reducemax/zk-max-rho", &[y_rho]);
        commitments.extend(max_rho_c);
        let (s_rho, x_rho) = (out.private_evals[0], out.private_evals[1]);
        claim(claims, Slot::Tensor(node.output), &r, max_r[0]);
        claim(claims, Slot::Aux(n, 1), &rho, s_rho);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, x_rho);
        claim(claims, Slot::Tensor(node.output), &y_at, max_rho[0]);
        let d = zk_difference(mask).open(&[max_rho[0], x_rho]);
        claim(claims, Slot::Aux(n, 0), &rho, d);
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
        let r = t.challenges(b"reducemax/point", num_vars(y_shape));
        t.absorb_points(b"reducemax/zk-max", &v[..1]);
        let beta = t.challenge(b"reducemax/beta");
        let target = zk_target(y_shape, &r, beta).commit(gens, &v[..1]);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &target,
            num_vars(x_shape),
            &zk_selector_check(beta)?,
            &message.sumchecks[0],
            |rho| {
                let (y_at, mask) = Self::y_point(model, node, rho);
                vec![Some(eq_eval(&r, &y_at) * mask), None, None]
            },
        )?;
        t.absorb_points(b"reducemax/zk-max-rho", &v[1..]);
        let (y_at, mask) = Self::y_point(model, node, &rho);
        claim(claims, Slot::Tensor(node.output), &r, v[0]);
        claim(claims, Slot::Aux(n, 1), &rho, finals[0]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[1]);
        claim(claims, Slot::Tensor(node.output), &y_at, v[1]);
        let d = zk_difference(mask).commit(gens, &[v[1], finals[1]]);
        claim(claims, Slot::Aux(n, 0), &rho, d);
        Ok(())
    }
}
