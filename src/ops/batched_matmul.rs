//! `BatchedMatMul`: `Y[b] = rescale(X[b]·W[b])` for `X [B,M,K]`, `W [B,K,N]`,
//! two activations multiplied per batch entry (per attention head: `Q·Kᵀ`,
//! `attention·V`).
//!
//! At a random point `(r_n, r_m, r_b)` of Y (low variables first) the prover
//! sends `Y(r)` and `R(r)`; the verifier derives `Acc(r)` from the rescale
//! identity, and one degree-3 sumcheck over the batch and inner variables
//! proves `Acc(r) = Σ_{b,k} eq(r_b, b)·X(k, r_m, b)·W(r_n, k, b)`, ending at
//! `(ρ_k, ρ_b)` with claims on X at `(ρ_k, r_m, ρ_b)` and W at
//! `(r_n, ρ_k, ρ_b)`; the verifier computes `eq(r_b, ρ_b)` itself. Padding
//! rows and columns are zero in X and W, so they add nothing.
//!
//! Message: values `[Y(r), R(r), X(ρ_k, r_m, ρ_b), W(r_n, ρ_k, ρ_b)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]): commitments to `[Y(r), R(r)]`
//! and the committed sumcheck of the same product (claim `Acc(r)` derived from
//! the commitments), whose public factor `eq(r_b, ρ_b)` the verifier computes
//! and whose final values `X(ρ_k, r_m, ρ_b)` and `W(r_n, ρ_k, ρ_b)` come back
//! committed, closed by one proof of product; they are the claims on X and W.

use ark_bn254::Fr;
use ark_ff::Zero;

use super::range::Bound;
use super::{
    accumulator, claim, rescale_all, ExecError, Executed, OpError, OpMessage, OpProtocol,
    ProverContext, PublicInput,
};
use crate::layout::{num_vars, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// Product of activations batched over the leading axis.
pub struct BatchedMatMul;

/// `(B, M, K, N)` and the log2 of their padded sizes.
struct Dims {
    b: usize,
    m: usize,
    k: usize,
    n: usize,
    log_b: usize,
    log_m: usize,
    log_k: usize,
    log_n: usize,
}

fn dims(model: &Model, node: &Node) -> Result<Dims, String> {
    let shape = |i: usize| &model.tensors[i].shape;
    let (x, w, y) = (
        shape(node.inputs[0]),
        shape(node.inputs[1]),
        shape(node.output),
    );
    let [b, m, k] = <[usize; 3]>::try_from(x.as_slice())
        .map_err(|_| format!("left operand {x:?} is not [B, M, K]"))?;
    let [b2, k2, n] = <[usize; 3]>::try_from(w.as_slice())
        .map_err(|_| format!("right operand {w:?} is not [B, K, N]"))?;
    if b != b2 || k != k2 {
        return Err(format!(
            "operands {x:?} and {w:?} are not [B, M, K] and [B, K, N]"
        ));
    }
    if y.as_slice() != [b, m, n] {
        return Err(format!("output shape {y:?} is not [{b}, {m}, {n}]"));
    }
    if [b, m, k, n].contains(&0) {
        return Err("an empty dimension".into());
    }
    let log = |d: usize| d.next_power_of_two().trailing_zeros() as usize;
    Ok(Dims {
        b,
        m,
        k,
        n,
        log_b: log(b),
        log_m: log(m),
        log_k: log(k),
        log_n: log(n),
    })
}

fn absorb(t: &mut ProofTranscript, output: &Fr, remainder: &Fr) {
    t.append_scalar(b"batched_matmul/output", output);
    t.append_scalar(b"batched_matmul/remainder", remainder);
}

fn absorb_finals(t: &mut ProofTranscript, left: &Fr, right: &Fr) {
    t.append_scalar(b"batched_matmul/left", left);
    t.append_scalar(b"batched_matmul/right", right);
}

/// Splits Y's point into `(r_n, r_m, r_b)`.
fn split(d: &Dims, point: &[Fr]) -> (Vec<Fr>, Vec<Fr>, Vec<Fr>) {
    let (r_n, rest) = point.split_at(d.log_n);
    let (r_m, r_b) = rest.split_at(d.log_m);
    (r_n.to_vec(), r_m.to_vec(), r_b.to_vec())
}

fn push_claims<V: Copy>(
    node: &Node,
    n: usize,
    d: &Dims,
    point: &[Fr],
    rho: &[Fr],
    [output, remainder, left, right]: [V; 4],
    claims: &mut Vec<SlotClaim<V>>,
) {
    let (r_n, r_m, _) = split(d, point);
    let (rho_k, rho_b) = rho.split_at(d.log_k);
    claim(claims, Slot::Tensor(node.output), point, output);
    claim(claims, Slot::Remainder(n), point, remainder);
    let x_point: Vec<Fr> = rho_k.iter().chain(&r_m).chain(rho_b).copied().collect();
    let w_point: Vec<Fr> = r_n.iter().chain(rho_k).chain(rho_b).copied().collect();
    claim(claims, Slot::Tensor(node.inputs[0]), &x_point, left);
    claim(claims, Slot::Tensor(node.inputs[1]), &w_point, right);
}

/// `eq(r_b, ·)`, `X(·, r_m, ·)` and `W(r_n, ·, ·)` over `(k, b)`, k low: the
/// sumcheck's three factors.
fn batched_vectors(
    ctx: &ProverContext<'_>,
    node: &Node,
    d: &Dims,
    point: &[Fr],
) -> Result<Vec<Vec<Fr>>, OpError> {
    let (r_n, r_m, r_b) = split(d, point);
    let backend = ctx.backend;
    let (eq_n, eq_m, eq_b) = (
        backend.eq_table(&r_n)?,
        backend.eq_table(&r_m)?,
        backend.eq_table(&r_b)?,
    );
    let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
    let w = ctx.padded_field(Slot::Tensor(node.inputs[1]));
    let (pb, pm, pk, pn) = (1 << d.log_b, 1 << d.log_m, 1 << d.log_k, 1 << d.log_n);
    let mut x_part = vec![Fr::zero(); pb * pk];
    let mut w_part = vec![Fr::zero(); pb * pk];
    let mut e = vec![Fr::zero(); pb * pk];
    for b in 0..pb {
        for k in 0..pk {
            let at = b * pk + k;
            e[at] = eq_b[b];
            x_part[at] = (0..pm).map(|m| eq_m[m] * x[(b * pm + m) * pk + k]).sum();
            w_part[at] = (0..pn).map(|j| eq_n[j] * w[(b * pk + k) * pn + j]).sum();
        }
    }
    Ok(vec![e, x_part, w_part])
}

impl OpProtocol for BatchedMatMul {
    fn name(&self) -> &'static str {
        "BatchedMatMul"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        dims(model, node).map(|_| ())
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let d = dims(model, node).map_err(ExecError::Bad)?;
        let (x, w) = (inputs[0], inputs[1]);
        let (m, k, n) = (d.m, d.k, d.n);
        rescale_all(
            (0..d.b * m * n).map(|o| {
                let (b, i, j) = (o / (m * n), (o / n) % m, o % n);
                (0..k)
                    .map(|l| x[(b * m + i) * k + l] as i128 * w[(b * k + l) * n + j] as i128)
                    .sum()
            }),
            model.scale_bits,
        )
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
        let d = dims(model, node).map_err(OpError::Shape)?;
        let point = t.challenges(b"batched_matmul/point", d.log_n + d.log_m + d.log_b);
        let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
        let remainder = ctx.evaluate(Slot::Remainder(n), &point)?;
        absorb(t, &output, &remainder);
        let shape = &model.tensors[node.output].shape;
        let acc = accumulator(model, shape, &point, output, remainder);

        let mles = batched_vectors(ctx, node, &d, &point)?;
        let expr = Expression::product(3)?;
        let out = sumcheck::prove(ctx.backend, t, acc, mles, &expr)?;
        let (left, right) = (out.final_evals[1], out.final_evals[2]);
        absorb_finals(t, &left, &right);
        let values = [output, remainder, left, right];
        push_claims(node, n, &d, &point, &out.point, values, claims);
        Ok(OpMessage {
            values: values.to_vec(),
            sumchecks: vec![out.proof],
        })
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
        let node = &model.nodes[n];
        let d = checked_dims(model, node)?;
        let shape = &model.tensors[node.output].shape;
        message.expect(4, 1)?;
        let v = &message.values;
        let (output, remainder, left, right) = (v[0], v[1], v[2], v[3]);
        let point = t.challenges(b"batched_matmul/point", d.log_n + d.log_m + d.log_b);
        absorb(t, &output, &remainder);
        let acc = accumulator(model, shape, &point, output, remainder);
        let (rho, reduced) = sumcheck::verify(t, acc, d.log_k + d.log_b, 3, &message.sumchecks[0])?;
        let (_, _, r_b) = split(&d, &point);
        if eq_eval(&r_b, &rho[d.log_k..]) * left * right != reduced {
            return Err(OpError::Check("batched product sumcheck final value"));
        }
        absorb_finals(t, &left, &right);
        push_claims(
            node,
            n,
            &d,
            &point,
            &rho,
            [output, remainder, left, right],
            claims,
        );
        Ok(())
    }
}

/// The verifier's dims, with the output's variables checked against them.
fn checked_dims(model: &Model, node: &Node) -> Result<Dims, OpError> {
    let d = dims(model, node).map_err(OpError::Shape)?;
    if num_vars(&model.tensors[node.output].shape) != d.log_n + d.log_m + d.log_b {
        return Err(OpError::Shape(
            "output shape does not match the operands".into(),
        ));
    }
    Ok(d)
}

/// `Acc(r)` as an affine map of the sent `[Y(r), R(r)]`.
fn zk_accumulator(model: &Model, node: &Node, point: &[Fr]) -> Affine {
    let shape = &model.tensors[node.output].shape;
    affine(2, |v| accumulator(model, shape, point, v[0], v[1]))
}

/// With zero knowledge: the same batched sumcheck on committed values (see the
/// module docs). The message commits `[Y(r), R(r)]`; `eq(r_b, ·)` is public.
impl ZkOpProtocol for BatchedMatMul {
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
        let d = dims(model, node).map_err(OpError::Shape)?;
        let point = t.challenges(b"batched_matmul/point", d.log_n + d.log_m + d.log_b);
        let values = [
            ctx.evaluate(Slot::Tensor(node.output), &point)?,
            ctx.evaluate(Slot::Remainder(n), &point)?,
        ];
        let (openings, commitments) = zk.send(t, b"batched_matmul/zk-values", &values);
        let acc = zk_accumulator(model, node, &point).open(&openings);
        let mles = batched_vectors(ctx, node, &d, &point)?;
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            acc,
            mles,
            &Expression::product(3)?,
            &[true, false, false],
            zk.blinds,
        )?;
        push_claims(
            node,
            n,
            &d,
            &point,
            &out.point,
            [
                openings[0],
                openings[1],
                out.private_evals[0],
                out.private_evals[1],
            ],
            claims,
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
        let node = &model.nodes[n];
        let d = checked_dims(model, node)?;
        message.expect(2, 1)?;
        let point = t.challenges(b"batched_matmul/point", d.log_n + d.log_m + d.log_b);
        let v = &message.values;
        t.absorb_points(b"batched_matmul/zk-values", v);
        let gens = PedersenGens::dory();
        let acc = zk_accumulator(model, node, &point).commit(gens, v);
        let (_, _, r_b) = split(&d, &point);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &acc,
            d.log_k + d.log_b,
            &Expression::product(3)?,
            &message.sumchecks[0],
            |rho| vec![Some(eq_eval(&r_b, &rho[d.log_k..])), None, None],
        )?;
        push_claims(
            node,
            n,
            &d,
            &point,
            &rho,
            [v[0], v[1], finals[0], finals[1]],
            claims,
        );
        Ok(())
    }
}
