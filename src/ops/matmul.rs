//! `MatMul` (Gemm): `Y = rescale(X·W + 2^s·bias)` for `X [m,k]`, `W [k,n]`.
//!
//! At a random point `(r_j, r_i)` of Y (r_j: column variables, r_i: row
//! variables) the prover sends `Y(r)`, `R(r)` and `bias(r_j)`; the verifier derives
//! `Acc(r)` from the rescale identity, subtracts `2^s·bias(r_j)·[i < m](r_i)` and
//! runs a degree-2 sumcheck over the inner dimension:
//! `Σ_k X(k, r_i)·W(r_j, k)` (points written low variables first). It leaves claims
//! on Y, R, the bias, `X` at `(ρ ‖ r_i)` and `W` at `(r_j ‖ ρ)`.

use ark_bn254::Fr;
use ark_ff::Zero;

use super::{accumulator, pow2, OpProof, ProverContext};
use crate::backend::Backend;
use crate::model::{matrix_dims, Model};
use crate::proof::layout::{less_than_mle, num_vars, Slot};
use crate::proof::SlotClaim;
use crate::sumcheck::{self, Expression};
use crate::transcript::ProofTranscript;

struct Dims {
    m: usize,
    /// log2 of padded rows, inner dimension and columns.
    log_m: usize,
    log_k: usize,
    log_n: usize,
}

fn dims(model: &Model, n: usize) -> Result<Dims, String> {
    let node = &model.nodes[n];
    let x = &model.tensors[node.inputs[0]].shape;
    let w = &model.tensors[node.inputs[1]].shape;
    let (m, k) = matrix_dims(x).ok_or("left operand is not a matrix")?;
    let (k2, cols) = matrix_dims(w).ok_or("right operand is not a matrix")?;
    if k != k2 {
        return Err(format!("inner dimensions differ: {k} and {k2}"));
    }
    let log = |d: usize| d.next_power_of_two().trailing_zeros() as usize;
    let d = Dims {
        m,
        log_m: log(m),
        log_k: log(k),
        log_n: log(cols),
    };
    if num_vars(&model.tensors[node.output].shape) != d.log_m + d.log_n {
        return Err("output shape does not match the operands".into());
    }
    Ok(d)
}

fn absorb(t: &mut ProofTranscript, output: &Fr, remainder: &Fr, bias: &Option<Fr>) {
    t.append_scalar(b"matmul/output", output);
    t.append_scalar(b"matmul/remainder", remainder);
    if let Some(b) = bias {
        t.append_scalar(b"matmul/bias", b);
    }
}

/// The sumcheck claim after removing the bias term.
fn inner_claim(
    model: &Model,
    n: usize,
    d: &Dims,
    point: &[Fr],
    output: Fr,
    remainder: Fr,
    bias: Option<Fr>,
) -> Fr {
    let shape = &model.tensors[model.nodes[n].output].shape;
    let acc = accumulator(model, shape, point, output, remainder);
    match bias {
        Some(b) => acc - pow2(model.scale_bits) * b * less_than_mle(d.m, &point[d.log_n..]),
        None => acc,
    }
}

pub(super) fn prove<B: Backend + ?Sized>(
    ctx: &ProverContext<'_, B>,
    n: usize,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<OpProof, String> {
    let node = &ctx.model.nodes[n];
    let d = dims(ctx.model, n)?;
    let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
    let (r_j, r_i) = point.split_at(d.log_n);
    let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
    let remainder = ctx.evaluate(Slot::Remainder(n), &point)?;
    let bias = match node.inputs.get(2) {
        Some(&b) => Some(ctx.evaluate(Slot::Tensor(b), r_j)?),
        None => None,
    };
    absorb(t, &output, &remainder, &bias);
    let claim = inner_claim(ctx.model, n, &d, &point, output, remainder, bias);

    // X(·, r_i) and W(r_j, ·) as vectors over the inner dimension.
    let backend = ctx.backend;
    let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
    let w = ctx.padded_field(Slot::Tensor(node.inputs[1]));
    let eq_i = backend.eq_table(r_i).map_err(|e| e.to_string())?;
    let eq_j = backend.eq_table(r_j).map_err(|e| e.to_string())?;
    let (k_len, n_len) = (1usize << d.log_k, 1usize << d.log_n);
    let mut x_row = vec![Fr::zero(); k_len];
    for (i, e) in eq_i.iter().enumerate() {
        for (k, acc) in x_row.iter_mut().enumerate() {
            *acc += *e * x[i * k_len + k];
        }
    }
    let w_col: Vec<Fr> = (0..k_len)
        .map(|k| {
            w[k * n_len..(k + 1) * n_len]
                .iter()
                .zip(&eq_j)
                .map(|(a, b)| *a * b)
                .sum()
        })
        .collect();
    let expr = Expression::product(2).map_err(|e| e.to_string())?;
    let out =
        sumcheck::prove(backend, t, claim, vec![x_row, w_col], &expr).map_err(|e| e.to_string())?;
    let (left, right) = (out.final_evals[0], out.final_evals[1]);
    t.append_scalar(b"matmul/left", &left);
    t.append_scalar(b"matmul/right", &right);
    push_claims(
        ctx.model, n, d.log_n, &point, &out.point, output, remainder, bias, left, right, claims,
    );
    Ok(OpProof::MatMul {
        output,
        remainder,
        bias,
        sumcheck: out.proof,
        left,
        right,
    })
}

#[allow(clippy::too_many_arguments)]
fn push_claims(
    model: &Model,
    n: usize,
    log_n: usize,
    point: &[Fr],
    rho: &[Fr],
    output: Fr,
    remainder: Fr,
    bias: Option<Fr>,
    left: Fr,
    right: Fr,
    claims: &mut Vec<SlotClaim>,
) {
    let node = &model.nodes[n];
    let (r_j, r_i) = point.split_at(log_n);
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.output),
        point: point.to_vec(),
        value: output,
    });
    claims.push(SlotClaim {
        slot: Slot::Remainder(n),
        point: point.to_vec(),
        value: remainder,
    });
    if let (Some(&b), Some(value)) = (node.inputs.get(2), bias) {
        claims.push(SlotClaim {
            slot: Slot::Tensor(b),
            point: r_j.to_vec(),
            value,
        });
    }
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.inputs[0]),
        point: rho.iter().chain(r_i).copied().collect(),
        value: left,
    });
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.inputs[1]),
        point: r_j.iter().chain(rho).copied().collect(),
        value: right,
    });
}

pub(super) fn verify(
    model: &Model,
    n: usize,
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    let OpProof::MatMul {
        output,
        remainder,
        bias,
        sumcheck: sc,
        left,
        right,
    } = proof
    else {
        return Err("not a MatMul message".into());
    };
    let node = &model.nodes[n];
    let d = dims(model, n)?;
    if bias.is_some() != node.inputs.get(2).is_some() {
        return Err("bias value present/absent contrary to the model".into());
    }
    let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
    absorb(t, output, remainder, bias);
    let claim = inner_claim(model, n, &d, &point, *output, *remainder, *bias);
    let (rho, reduced) = sumcheck::verify(t, claim, d.log_k, 2, sc).map_err(|e| e.to_string())?;
    if *left * right != reduced {
        return Err("check failed: inner-product sumcheck final value".into());
    }
    t.append_scalar(b"matmul/left", left);
    t.append_scalar(b"matmul/right", right);
    push_claims(
        model, n, d.log_n, &point, &rho, *output, *remainder, *bias, *left, *right, claims,
    );
    Ok(())
}
