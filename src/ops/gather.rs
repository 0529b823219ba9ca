//! `Gather` along axis 0 of a constant table by token ids that are a model
//! input: `Y[t, :] = W[id_t, :]`, the embedding lookup.
//!
//! The ids are part of the public input, so the verifier knows which table
//! row each output row copies. At a random point r of Y,
//! `Y(r) = Σ_x W(x)·M(x)` over the table's padded hypercube, with
//! `M(x) = Σ_{t, d: pad(id_t, d) = x} eq(r, pad(t, d))`; one inner-product
//! sumcheck ends at ρ with a claim `W(ρ)` on the table (the weights'
//! commitment, or the public weights) and
//! `M(ρ) = Σ_{t,d} eq(r, pad(t, d))·eq(ρ, pad(id_t, d))`, which the verifier
//! computes from the public ids in `O(T·D·rank)`. The output copies
//! weights, so it needs no range check.
//!
//! The IR holds an integer input as `id·2^s` (see [`crate::onnx`]); an id is
//! that value shifted down, and must be a whole number in `[−V, V)` (negative
//! ids count from the end, as in ONNX). The prover's [`OpProtocol::execute`]
//! and the verifier apply the same rule, so a public input with a bad id is
//! refused by both.
//!
//! Message: values `[Y(r), W(ρ)]`, one sumcheck.
//!
//! With zero knowledge ([`crate::zk::ops`]): a commitment to `Y(r)` and the
//! committed inner-product sumcheck from it, whose factor `M` is public (the
//! verifier computes `M(ρ)` from the public ids as above) and whose final
//! value `W(ρ)` comes back committed as the claim on the (hidden) table. The
//! ids must be public: a proof with a private input of a model with a Gather
//! is refused ([`crate::zk::model`]), and its verifier, which finds no ids in
//! the statement, rejects one.

use ark_bn254::Fr;
use ark_ff::Zero;

use super::index_map::MAX_ENTRIES;
use super::{
    claim, prove_inner_product, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext,
    PublicInput,
};
use crate::layout::{num_vars, padded_dims, padded_index, EqWeights, Slot, SlotClaim};
use crate::model::{Model, Node, TensorKind};
use crate::sumcheck::Expression;
use crate::transcript::ProofTranscript;
use crate::zk::ops::{CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// Gather rows of input 0 (a weight table `[V, …]`) by input 1 (a model input
/// of ids, any shape); the output is the ids' shape then the row's.
#[derive(Debug, Clone, Copy)]
pub struct Gather;

/// `(V, D)`: the table's rows and the entries per row.
fn table_dims(model: &Model, node: &Node) -> (usize, usize) {
    let shape = &model.tensors[node.inputs[0]].shape;
    let rows = shape.first().copied().unwrap_or(1);
    let len: usize = shape.iter().product();
    (rows, len / rows.max(1))
}

/// The row an IR id value selects: `value / 2^s`, whole, in `[−V, V)`.
pub fn row_of(value: i64, scale_bits: u32, rows: usize) -> Result<usize, String> {
    let unit = 1i64 << scale_bits;
    if value % unit != 0 {
        return Err(format!(
            "id {} is not a whole number",
            value as f64 / unit as f64
        ));
    }
    let id = value / unit;
    let rows = rows as i64;
    if !(-rows..rows).contains(&id) {
        return Err(format!(
            "id {id} is outside the table's {rows} rows (ids are in [-{rows}, {rows}))"
        ));
    }
    Ok(if id < 0 { id + rows } else { id } as usize)
}

/// The table rows the ids select, one per id.
fn rows(model: &Model, node: &Node, ids: &[i64]) -> Result<Vec<usize>, String> {
    let (v, _) = table_dims(model, node);
    ids.iter()
        .map(|&value| row_of(value, model.scale_bits, v))
        .collect()
}

/// Calls `term(o, i)` for every `Y[o] = W[i]` (row-major, unpadded).
fn for_each_term(model: &Model, node: &Node, rows: &[usize], term: &mut dyn FnMut(usize, usize)) {
    let (_, d) = table_dims(model, node);
    for (t, &row) in rows.iter().enumerate() {
        for j in 0..d {
            term(t * d + j, row * d + j);
        }
    }
}

/// The padded table and the selector `M` at Y's point r (see the module docs).
fn table_and_selector(
    ctx: &ProverContext<'_>,
    node: &Node,
    r: &[Fr],
) -> Result<(Vec<Fr>, Vec<Fr>), OpError> {
    let model = ctx.model;
    let out_shape = &model.tensors[node.output].shape;
    let table_shape = &model.tensors[node.inputs[0]].shape;
    let ids = &ctx.witness.values[node.inputs[1]];
    let rows = rows(model, node, ids).map_err(OpError::Witness)?;
    let y = EqWeights::new(out_shape, r);
    let padded = padded_dims(table_shape);
    let mut m = vec![Fr::zero(); padded.iter().product()];
    for_each_term(model, node, &rows, &mut |o, i| {
        m[padded_index(i, table_shape, &padded)] += y.at(o);
    });
    Ok((ctx.padded_field(Slot::Tensor(node.inputs[0])), m))
}

/// The rows the public ids select (the verifier's view).
fn public_rows(model: &Model, node: &Node, public: PublicInput<'_>) -> Result<Vec<usize>, OpError> {
    let ids = public.tensor(model, node.inputs[1]).ok_or(OpError::Check(
        "the ids are not in the public input (a Gather's ids must be public)",
    ))?;
    rows(model, node, ids).map_err(|_| OpError::Check("a public id selects no table row"))
}

/// `M(ρ) = Σ_{t,d} eq(r, pad(t, d))·eq(ρ, pad(id_t, d))`, from the public ids.
fn selector_at(model: &Model, node: &Node, rows: &[usize], r: &[Fr], rho: &[Fr]) -> Fr {
    let y = EqWeights::new(&model.tensors[node.output].shape, r);
    let x = EqWeights::new(&model.tensors[node.inputs[0]].shape, rho);
    let mut m = Fr::zero();
    for_each_term(model, node, rows, &mut |o, i| m += y.at(o) * x.at(i));
    m
}

impl OpProtocol for Gather {
    fn name(&self) -> &'static str {
        "Gather"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let [table, ids] = [node.inputs[0], node.inputs[1]];
        if !matches!(model.tensors[table].kind, TensorKind::Weight { .. }) {
            return Err(format!(
                "the table `{}` must be a constant (weights)",
                model.tensors[table].name
            ));
        }
        if !model.inputs.contains(&ids) {
            return Err(format!(
                "the ids `{}` must be a model input (they are read from the public input)",
                model.tensors[ids].name
            ));
        }
        let (v, d) = table_dims(model, node);
        let out = model.tensors[node.output].len();
        let n_ids = model.tensors[ids].len();
        if v == 0 || d == 0 || n_ids == 0 {
            return Err("an empty table or no ids".into());
        }
        if n_ids.checked_mul(d) != Some(out) {
            return Err(format!(
                "output `{}` has {out} entries, {n_ids} ids of rows of {d} give {}",
                model.tensors[node.output].name,
                n_ids.saturating_mul(d)
            ));
        }
        for &t in [table, node.output].iter() {
            if model.tensors[t].len() > MAX_ENTRIES {
                return Err(format!(
                    "`{}` has {} entries; Gather takes tensors of at most {MAX_ENTRIES}",
                    model.tensors[t].name,
                    model.tensors[t].len()
                ));
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
        let rows = rows(model, node, inputs[1]).map_err(ExecError::Bad)?;
        let mut output = vec![0i64; model.tensors[node.output].len()];
        for_each_term(model, node, &rows, &mut |o, i| output[o] = inputs[0][i]);
        Ok(Executed {
            output,
            remainder: None,
            aux: Vec::new(),
        })
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
        let out_shape = &model.tensors[node.output].shape;
        let r = t.challenges(b"gather/point", num_vars(out_shape));
        let (w, m) = table_and_selector(ctx, node, &r)?;
        let value = ctx.backend.inner_product(&w, &m)?;
        t.append_scalar(b"gather/value", &value);
        let (sc, rho, finals) = prove_inner_product(ctx, t, value, w, m)?;
        t.append_scalar(b"gather/table", &finals[0]);
        claim(claims, Slot::Tensor(node.output), &r, value);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[0]);
        Ok(OpMessage {
            values: vec![value, finals[0]],
            sumchecks: vec![sc],
        })
    }

    fn verify(
        &self,
        model: &Model,
        public: PublicInput<'_>,
        n: usize,
        message: &OpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<(), OpError> {
        let node = &model.nodes[n];
        message.expect(2, 1)?;
        let rows = public_rows(model, node, public)?;
        let out_shape = &model.tensors[node.output].shape;
        let table_shape = &model.tensors[node.inputs[0]].shape;
        let r = t.challenges(b"gather/point", num_vars(out_shape));
        let [value, table_value] = [message.values[0], message.values[1]];
        t.append_scalar(b"gather/value", &value);
        let (rho, reduced) =
            crate::sumcheck::verify(t, value, num_vars(table_shape), 2, &message.sumchecks[0])?;
        t.append_scalar(b"gather/table", &table_value);
        if table_value * selector_at(model, node, &rows, &r, &rho) != reduced {
            return Err(OpError::Check("gather sumcheck final value"));
        }
        claim(claims, Slot::Tensor(node.output), &r, value);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, table_value);
        Ok(())
    }
}

/// With zero knowledge: the same sumcheck from a committed `Y(r)`, `M` public
/// (see the module docs).
impl ZkOpProtocol for Gather {
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
        let out_shape = &model.tensors[node.output].shape;
        let r = t.challenges(b"gather/point", num_vars(out_shape));
        let (w, m) = table_and_selector(ctx, node, &r)?;
        let value = ctx.backend.inner_product(&w, &m)?;
        let (openings, commitments) = zk.send(t, b"gather/zk-value", &[value]);
        let out = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            openings[0],
            vec![w, m],
            &Expression::product(2)?,
            &[false, true],
            zk.blinds,
        )?;
        claim(claims, Slot::Tensor(node.output), &r, openings[0]);
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
        public: PublicInput<'_>,
        n: usize,
        message: &ZkOpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<CommittedSlotClaim>,
    ) -> Result<(), OpError> {
        let node = &model.nodes[n];
        message.expect(1, 1)?;
        let rows = public_rows(model, node, public)?;
        let out_shape = &model.tensors[node.output].shape;
        let table_shape = &model.tensors[node.inputs[0]].shape;
        let r = t.challenges(b"gather/point", num_vars(out_shape));
        let v = &message.values;
        t.absorb_points(b"gather/zk-value", v);
        let (rho, finals) = zk_sumcheck::verify(
            t,
            PedersenGens::dory(),
            &v[0],
            num_vars(table_shape),
            &Expression::product(2)?,
            &message.sumchecks[0],
            |rho| vec![None, Some(selector_at(model, node, &rows, &r, rho))],
        )?;
        claim(claims, Slot::Tensor(node.output), &r, v[0]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho, finals[0]);
        Ok(())
    }
}
