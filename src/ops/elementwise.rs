//! Element-wise `Add`, `Sub` and `Mul`, with `b` broadcast to `a`'s shape.
//!
//! - `Add`/`Sub`: `Z(r) = A(r) ± mask(r)·B(r_b)` at a random point r of Z, where
//!   `r_b` keeps the coordinates of b's non-broadcast dimensions and `mask` is the
//!   valid-region indicator over the broadcast ones (so padding stays zero).
//! - `Mul`: zero-check `Σ_x eq(r, x)·A(x)·B(x_b) = Acc(r)` (degree 3), with
//!   `Acc(r)` from the rescale identity; it leaves claims on A and B at the final
//!   point.

use ark_bn254::Fr;

use super::{accumulator, OpProof, ProverContext};
use crate::backend::{Backend, ProductTerm};
use crate::model::{broadcasts_to, Model, Op};
use crate::proof::layout::{self, broadcast_point, num_vars, Slot};
use crate::proof::SlotClaim;
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;

fn shapes(model: &Model, n: usize) -> Result<(Vec<usize>, Vec<usize>), String> {
    let node = &model.nodes[n];
    let a = model.tensors[node.inputs[0]].shape.clone();
    let b = model.tensors[node.inputs[1]].shape.clone();
    if !broadcasts_to(&b, &a) || model.tensors[node.output].shape != a {
        return Err(format!("operand shapes {a:?} and {b:?} are not supported"));
    }
    Ok((a, b))
}

/// b's padded values expanded to a's padded layout (no mask).
fn expand(b_padded: &[Fr], a_shape: &[usize], b_shape: &[usize]) -> Vec<Fr> {
    let a_pad = layout::padded_dims(a_shape);
    let b_pad = layout::padded_dims(b_shape);
    let offset = a_shape.len() - b_shape.len();
    let total: usize = a_pad.iter().product();
    (0..total)
        .map(|mut i| {
            let mut index = 0;
            let mut stride = 1;
            for d in (0..a_pad.len()).rev() {
                let coord = i % a_pad[d];
                i /= a_pad[d];
                if d >= offset && b_shape[d - offset] != 1 {
                    index += coord * stride;
                }
                if d >= offset {
                    stride *= b_pad[d - offset];
                }
            }
            b_padded[index]
        })
        .collect()
}

pub(super) fn prove<B: Backend + ?Sized>(
    ctx: &ProverContext<'_, B>,
    n: usize,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<OpProof, String> {
    let node = &ctx.model.nodes[n];
    let (a_shape, b_shape) = shapes(ctx.model, n)?;
    let point = t.challenges(b"elementwise/point", num_vars(&a_shape));
    let (b_point, _) = broadcast_point(&a_shape, &b_shape, &point);
    match node.op {
        Op::Add | Op::Sub => {
            let left = ctx.evaluate(Slot::Tensor(node.inputs[0]), &point)?;
            let right = ctx.evaluate(Slot::Tensor(node.inputs[1]), &b_point)?;
            let proof = OpProof::AddSub { left, right };
            finish_add_sub(ctx.model, n, &point, &proof, t, claims)?;
            Ok(proof)
        }
        Op::Mul => {
            let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
            let remainder = ctx.evaluate(Slot::Remainder(n), &point)?;
            t.append_scalar(b"mul/output", &output);
            t.append_scalar(b"mul/remainder", &remainder);
            let claim = accumulator(ctx.model, &a_shape, &point, output, remainder);
            let eq = ctx.backend.eq_table(&point).map_err(|e| e.to_string())?;
            let a = ctx.padded_field(Slot::Tensor(node.inputs[0]));
            let b = expand(
                &ctx.padded_field(Slot::Tensor(node.inputs[1])),
                &a_shape,
                &b_shape,
            );
            let expr = Expression::new(3, vec![ProductTerm::product(vec![0, 1, 2])])
                .map_err(|e| e.to_string())?;
            let out = sumcheck::prove(ctx.backend, t, claim, vec![eq, a, b], &expr)
                .map_err(|e| e.to_string())?;
            let proof = OpProof::Mul {
                output,
                remainder,
                sumcheck: out.proof.clone(),
                left: out.final_evals[1],
                right: out.final_evals[2],
            };
            finish_mul(ctx.model, n, &point, &out.point, &proof, t, claims)?;
            Ok(proof)
        }
        op => Err(format!("{op:?} is not element-wise arithmetic")),
    }
}

fn finish_add_sub(
    model: &Model,
    n: usize,
    point: &[Fr],
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    let OpProof::AddSub { left, right } = proof else {
        return Err("not an Add/Sub message".into());
    };
    let node = &model.nodes[n];
    let (a_shape, b_shape) = shapes(model, n)?;
    let (b_point, mask) = broadcast_point(&a_shape, &b_shape, point);
    t.append_scalar(b"addsub/left", left);
    t.append_scalar(b"addsub/right", right);
    let output = match node.op {
        Op::Add => *left + mask * right,
        _ => *left - mask * right,
    };
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.inputs[0]),
        point: point.to_vec(),
        value: *left,
    });
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.inputs[1]),
        point: b_point,
        value: *right,
    });
    claims.push(SlotClaim {
        slot: Slot::Tensor(node.output),
        point: point.to_vec(),
        value: output,
    });
    Ok(())
}

fn finish_mul(
    model: &Model,
    n: usize,
    point: &[Fr],
    rho: &[Fr],
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    let OpProof::Mul {
        output,
        remainder,
        left,
        right,
        ..
    } = proof
    else {
        return Err("not a Mul message".into());
    };
    let node = &model.nodes[n];
    let (a_shape, b_shape) = shapes(model, n)?;
    t.append_scalar(b"mul/left", left);
    t.append_scalar(b"mul/right", right);
    let (b_point, _) = broadcast_point(&a_shape, &b_shape, rho);
    for (slot, at, value) in [
        (Slot::Tensor(node.output), point.to_vec(), *output),
        (Slot::Remainder(n), point.to_vec(), *remainder),
        (Slot::Tensor(node.inputs[0]), rho.to_vec(), *left),
        (Slot::Tensor(node.inputs[1]), b_point, *right),
    ] {
        claims.push(SlotClaim {
            slot,
            point: at,
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
    let (a_shape, _) = shapes(model, n)?;
    let point = t.challenges(b"elementwise/point", num_vars(&a_shape));
    match proof {
        OpProof::AddSub { .. } => finish_add_sub(model, n, &point, proof, t, claims),
        OpProof::Mul {
            output,
            remainder,
            sumcheck: sc,
            left,
            right,
        } => {
            t.append_scalar(b"mul/output", output);
            t.append_scalar(b"mul/remainder", remainder);
            let claim = accumulator(model, &a_shape, &point, *output, *remainder);
            let (rho, reduced) =
                sumcheck::verify(t, claim, point.len(), 3, sc).map_err(|e| e.to_string())?;
            if eq_eval(&point, &rho) * left * right != reduced {
                return Err("check failed: zero-check final value".into());
            }
            finish_mul(model, n, &point, &rho, proof, t, claims)
        }
        _ => Err("not an element-wise message".into()),
    }
}
