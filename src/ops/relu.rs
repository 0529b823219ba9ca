//! `Relu`: `Y = b·X`, where `b` is the committed sign bit of X's range check
//! ([`crate::proof::range`]: `X + 2^(a−1) = lo + 2^8·mid + … + 2^(a−1)·b` with every
//! limb looked up in the byte table, so `b = 1` exactly when `X ≥ 0`).
//!
//! The product is a zero-check: `Σ_x eq(r, x)·b(x)·X(x) = Y(r)` at a random point
//! r of Y (degree 3), leaving claims on Y at r and on b and X at the final point.
//! Padding stays zero: there X = 0, so Y = b·0 = 0.

use ark_bn254::Fr;

use super::{OpProof, ProverContext};
use crate::backend::{Backend, ProductTerm};
use crate::model::Model;
use crate::proof::layout::{num_vars, Slot};
use crate::proof::range::relu_sign;
use crate::proof::SlotClaim;
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;

fn sign_slot(model: &Model, n: usize) -> Result<Slot, String> {
    relu_sign(model, n).ok_or_else(|| "node has no sign-bit limb".to_string())
}

pub(super) fn prove<B: Backend + ?Sized>(
    ctx: &ProverContext<'_, B>,
    n: usize,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<OpProof, String> {
    let node = &ctx.model.nodes[n];
    let sign = sign_slot(ctx.model, n)?;
    let vars = num_vars(&ctx.model.tensors[node.output].shape);
    let point = t.challenges(b"relu/point", vars);
    let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
    t.append_scalar(b"relu/output", &output);
    let eq = ctx.backend.eq_table(&point).map_err(|e| e.to_string())?;
    let b = ctx.padded_field(sign);
    let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
    let expr =
        Expression::new(3, vec![ProductTerm::product(vec![0, 1, 2])]).map_err(|e| e.to_string())?;
    let out = sumcheck::prove(ctx.backend, t, output, vec![eq, b, x], &expr)
        .map_err(|e| e.to_string())?;
    let proof = OpProof::Relu {
        output,
        sumcheck: out.proof.clone(),
        sign: out.final_evals[1],
        input: out.final_evals[2],
    };
    finish(ctx.model, n, &point, &out.point, &proof, t, claims)?;
    Ok(proof)
}

fn finish(
    model: &Model,
    n: usize,
    point: &[Fr],
    rho: &[Fr],
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    let OpProof::Relu {
        output,
        sign,
        input,
        ..
    } = proof
    else {
        return Err("not a Relu message".into());
    };
    let node = &model.nodes[n];
    t.append_scalar(b"relu/sign", sign);
    t.append_scalar(b"relu/input", input);
    for (slot, at, value) in [
        (Slot::Tensor(node.output), point, *output),
        (sign_slot(model, n)?, rho, *sign),
        (Slot::Tensor(node.inputs[0]), rho, *input),
    ] {
        claims.push(SlotClaim {
            slot,
            point: at.to_vec(),
            value,
        });
    }
    Ok(())
}

pub(super) fn verify(
    model: &Model,
    n: usize,
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    let OpProof::Relu {
        output,
        sumcheck: sc,
        sign,
        input,
    } = proof
    else {
        return Err("not a Relu message".into());
    };
    let node = &model.nodes[n];
    if model.tensors[node.inputs[0]].shape != model.tensors[node.output].shape {
        return Err("input and output shapes differ".into());
    }
    let vars = num_vars(&model.tensors[node.output].shape);
    let point = t.challenges(b"relu/point", vars);
    t.append_scalar(b"relu/output", output);
    let (rho, reduced) = sumcheck::verify(t, *output, vars, 3, sc).map_err(|e| e.to_string())?;
    if eq_eval(&point, &rho) * sign * input != reduced {
        return Err("check failed: ReLU zero-check final value".into());
    }
    finish(model, n, &point, &rho, proof, t, claims)
}
