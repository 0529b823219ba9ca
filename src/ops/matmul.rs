//! `MatMul` (Gemm): `Y = rescale(X·W + 2^s·bias)` for `X [m,k]`, `W [k,n]`,
//! where the inner dimension may be several (`X [m, c, h, w]`, `W [c, h, w, n]`:
//! a flatten before a dense layer, summed over all inner variables at once).
//!
//! At a random point `(r_j, r_i)` of Y (r_j: column variables, r_i: row
//! variables) the prover sends `Y(r)`, `R(r)` and `bias(r_j)`; the verifier derives
//! `Acc(r)` from the rescale identity, subtracts `2^s·bias(r_j)·[i < m](r_i)` and
//! runs a degree-2 sumcheck over the inner dimension:
//! `Σ_k X(k, r_i)·W(r_j, k)` (points written low variables first). It leaves claims
//! on Y, R, the bias, `X` at `(ρ ‖ r_i)` and `W` at `(r_j ‖ ρ)`.
//!
//! Message: values `[Y(r), R(r), bias(r_j) (with a bias), X(ρ‖r_i), W(r_j‖ρ)]`,
//! one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]) the same relation is proved on
//! commitments to these values.

use ark_bn254::Fr;
use ark_ff::Zero;

use super::{
    accumulator, claim, pow2, prove_inner_product, rescale_all, verify_inner_product, ExecError,
    Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{less_than_mle, num_vars, Slot, SlotClaim};
use crate::model::{matrix_dims, Model, Node};
use crate::ops::range::Bound;
use crate::sumcheck::Expression;
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// `MatMul` with an optional bias.
pub struct MatMul;

struct Dims {
    m: usize,
    k: usize,
    cols: usize,
    /// log2 of padded rows, inner dimension and columns.
    log_m: usize,
    log_k: usize,
    log_n: usize,
}

/// The non-1 dimensions of a shape (which alone fix its padded layout).
fn non_unit(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

fn dims(model: &Model, node: &Node) -> Result<Dims, String> {
    let x = &model.tensors[node.inputs[0]];
    let w = &model.tensors[node.inputs[1]].shape;
    // W is [inner…, n] (a vector [n] is one row); X is [m, inner…] up to
    // size-1 dimensions.
    let (inner, cols) = match w.len() {
        0 => return Err("right operand has no dimensions".into()),
        1 => (vec![1], w[0]),
        r => (w[..r - 1].to_vec(), w[r - 1]),
    };
    let k: usize = inner.iter().product();
    if k == 0 || !x.len().is_multiple_of(k) {
        return Err(format!(
            "left operand of shape {:?} does not end in the inner dimensions {inner:?}",
            x.shape
        ));
    }
    let m = x.len() / k;
    let mut expected = vec![m];
    expected.extend(&inner);
    if non_unit(&x.shape) != non_unit(&expected) {
        return Err(format!(
            "left operand of shape {:?} is not [{m}, {inner:?}…] (inner dimensions of the right operand {w:?})",
            x.shape
        ));
    }
    let log = |d: usize| d.next_power_of_two().trailing_zeros() as usize;
    Ok(Dims {
        m,
        k,
        cols,
        log_m: log(m),
        log_k: num_vars(&inner),
        log_n: log(cols),
    })
}

fn absorb(t: &mut ProofTranscript, output: &Fr, remainder: &Fr, bias: Option<&Fr>) {
    t.append_scalar(b"matmul/output", output);
    t.append_scalar(b"matmul/remainder", remainder);
    if let Some(b) = bias {
        t.append_scalar(b"matmul/bias", b);
    }
}

fn absorb_finals(t: &mut ProofTranscript, [left, right]: &[Fr; 2]) {
    t.append_scalar(b"matmul/left", left);
    t.append_scalar(b"matmul/right", right);
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

#[allow(clippy::too_many_arguments)]
fn push_claims<V: Copy>(
    node: &Node,
    n: usize,
    log_n: usize,
    point: &[Fr],
    rho: &[Fr],
    output: V,
    remainder: V,
    bias: Option<V>,
    [left, right]: [V; 2],
    claims: &mut Vec<SlotClaim<V>>,
) {
    let (r_j, r_i) = point.split_at(log_n);
    claim(claims, Slot::Tensor(node.output), point, output);
    claim(claims, Slot::Remainder(n), point, remainder);
    if let (Some(&b), Some(value)) = (node.inputs.get(2), bias) {
        claim(claims, Slot::Tensor(b), r_j, value);
    }
    let x_point: Vec<Fr> = rho.iter().chain(r_i).copied().collect();
    let w_point: Vec<Fr> = r_j.iter().chain(rho).copied().collect();
    claim(claims, Slot::Tensor(node.inputs[0]), &x_point, left);
    claim(claims, Slot::Tensor(node.inputs[1]), &w_point, right);
}

/// `X(·, r_i)` and `W(r_j, ·)` as vectors over the inner dimension.
fn inner_vectors(
    ctx: &ProverContext<'_>,
    node: &Node,
    d: &Dims,
    r_i: &[Fr],
    r_j: &[Fr],
) -> Result<(Vec<Fr>, Vec<Fr>), OpError> {
    let backend = ctx.backend;
    let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
    let w = ctx.padded_field(Slot::Tensor(node.inputs[1]));
    let eq_i = backend.eq_table(r_i)?;
    let eq_j = backend.eq_table(r_j)?;
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
    Ok((x_row, w_col))
}

/// With zero knowledge: the same sumcheck on committed values. The message
/// commits `[Y(r), R(r), bias(r_j)]`; the committed sumcheck's final values
/// are `X(ρ‖r_i)` and `W(r_j‖ρ)`, closed by one proof of product.
impl ZkOpProtocol for MatMul {
    fn prove_zk(
        &self,
        ctx: &ProverContext<'_>,
        zk: &mut ZkProver<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError> {
        let node = &ctx.model.nodes[n];
        let d = dims(ctx.model, node).map_err(OpError::Shape)?;
        let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
        let (r_j, r_i) = point.split_at(d.log_n);
        let mut values = vec![
            ctx.evaluate(Slot::Tensor(node.output), &point)?,
            ctx.evaluate(Slot::Remainder(n), &point)?,
        ];
        if let Some(&b) = node.inputs.get(2) {
            values.push(ctx.evaluate(Slot::Tensor(b), r_j)?);
        }
        let (openings, commitments) = zk.send(t, b"matmul/zk-values", &values);
        let claim_value = zk_inner_claim(ctx.model, n, &d, &point).open(&openings);
        let (x_row, w_col) = inner_vectors(ctx, node, &d, r_i, r_j)?;
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            claim_value,
            vec![x_row, w_col],
            &Expression::product(2)?,
            &[false, false],
            zk.blinds,
        )?;
        let finals = [out.private_evals[0], out.private_evals[1]];
        push_claims(
            node,
            n,
            d.log_n,
            &point,
            &out.point,
            openings[0],
            openings[1],
            openings.get(2).copied(),
            finals,
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
        let d = dims(model, node).map_err(OpError::Shape)?;
        if num_vars(&model.tensors[node.output].shape) != d.log_m + d.log_n {
            return Err(OpError::Shape(
                "output shape does not match the operands".into(),
            ));
        }
        let has_bias = node.inputs.len() == 3;
        message.expect(2 + has_bias as usize, 1)?;
        let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
        let v = &message.values;
        t.absorb_points(b"matmul/zk-values", v);
        let gens = PedersenGens::dory();
        let claim_value = zk_inner_claim(model, n, &d, &point).commit(gens, v);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            gens,
            &claim_value,
            d.log_k,
            &Expression::product(2)?,
            &message.sumchecks[0],
            |_| vec![None, None],
        )?;
        push_claims(
            node,
            n,
            d.log_n,
            &point,
            &rho,
            v[0],
            v[1],
            v.get(2).copied(),
            [finals[0], finals[1]],
            claims,
        );
        Ok(())
    }
}

/// [`inner_claim`] as an affine map of the sent `[Y(r), R(r), bias(r_j)]`.
fn zk_inner_claim(model: &Model, n: usize, d: &Dims, point: &[Fr]) -> Affine {
    let has_bias = model.nodes[n].inputs.len() == 3;
    affine(2 + has_bias as usize, |v| {
        inner_claim(model, n, d, point, v[0], v[1], has_bias.then(|| v[2]))
    })
}

impl OpProtocol for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=3
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let d = dims(model, node)?;
        let shape = |i: usize| &model.tensors[i].shape;
        // `[n]` and `[1, n]` share one padded layout.
        if matrix_dims(shape(node.output)) != Some((d.m, d.cols)) {
            return Err(format!(
                "output shape {:?} is not [{}, {}]",
                shape(node.output),
                d.m,
                d.cols
            ));
        }
        if let Some(&bias) = node.inputs.get(2) {
            if matrix_dims(shape(bias)) != Some((1, d.cols)) {
                return Err(format!("bias shape {:?} is not [{}]", shape(bias), d.cols));
            }
        }
        Ok(())
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let d = dims(model, node).map_err(ExecError::Bad)?;
        let (a, b) = (inputs[0], inputs[1]);
        let bias = inputs.get(2);
        let s = model.scale_bits;
        let (k, cols) = (d.k, d.cols);
        rescale_all(
            (0..d.m * cols).map(|ij| {
                let (i, j) = (ij / cols, ij % cols);
                let mut acc: i128 = (0..k)
                    .map(|x| a[i * k + x] as i128 * b[x * cols + j] as i128)
                    .sum();
                if let Some(bias) = bias {
                    acc += (bias[j] as i128) << s;
                }
                acc
            }),
            s,
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
        let node = &ctx.model.nodes[n];
        let d = dims(ctx.model, node).map_err(OpError::Shape)?;
        let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
        let (r_j, r_i) = point.split_at(d.log_n);
        let output = ctx.evaluate(Slot::Tensor(node.output), &point)?;
        let remainder = ctx.evaluate(Slot::Remainder(n), &point)?;
        let bias = match node.inputs.get(2) {
            Some(&b) => Some(ctx.evaluate(Slot::Tensor(b), r_j)?),
            None => None,
        };
        absorb(t, &output, &remainder, bias.as_ref());
        let claim_value = inner_claim(ctx.model, n, &d, &point, output, remainder, bias);

        let (x_row, w_col) = inner_vectors(ctx, node, &d, r_i, r_j)?;
        let (sumcheck, rho, finals) = prove_inner_product(ctx, t, claim_value, x_row, w_col)?;
        absorb_finals(t, &finals);
        push_claims(
            node, n, d.log_n, &point, &rho, output, remainder, bias, finals, claims,
        );
        let mut values = vec![output, remainder];
        values.extend(bias);
        values.extend(finals);
        Ok(OpMessage {
            values,
            sumchecks: vec![sumcheck],
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
        let d = dims(model, node).map_err(OpError::Shape)?;
        if num_vars(&model.tensors[node.output].shape) != d.log_m + d.log_n {
            return Err(OpError::Shape(
                "output shape does not match the operands".into(),
            ));
        }
        let has_bias = node.inputs.len() == 3;
        message.expect(4 + has_bias as usize, 1)?;
        let v = &message.values;
        let (output, remainder) = (v[0], v[1]);
        let bias = has_bias.then_some(v[2]);
        let finals = [v[v.len() - 2], v[v.len() - 1]];
        let point = t.challenges(b"matmul/point", d.log_m + d.log_n);
        absorb(t, &output, &remainder, bias.as_ref());
        let claim_value = inner_claim(model, n, &d, &point, output, remainder, bias);
        let rho = verify_inner_product(
            t,
            claim_value,
            d.log_k,
            &message.sumchecks[0],
            finals,
            "inner-product sumcheck final value",
        )?;
        absorb_finals(t, &finals);
        push_claims(
            node, n, d.log_n, &point, &rho, output, remainder, bias, finals, claims,
        );
        Ok(())
    }
}
