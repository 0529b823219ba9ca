//! Zero-knowledge model proofs: keys with hidden weights
//! ([`WeightVisibility::Hidden`], the CLI's `--zk`).
//!
//! The same commit-and-prove argument as [`crate::proof`], step for step, with
//! every message hiding:
//! 1. the witness polynomial gets a hiding Dory commitment
//!    ([`crate::pcs::hiding`]); the weights' hiding commitment is the
//!    verifying key's, made at preprocessing with a secret blind;
//! 2. each op proves its relation with committed values and committed
//!    sumchecks ([`crate::zk::ops`]); a model with an op that has no
//!    zero-knowledge proof is refused at preprocessing, naming the node;
//! 3. each lookup is LogUp-GKR with committed layers ([`crate::zk::lookup`]);
//!    each range check's inputs are sent committed, with a proof of zero that
//!    their limbs recombine to the byte lookup's committed query value;
//! 4. the public input and output are bound as in the transparent proof (their
//!    values are public, committed with blind zero);
//! 5. every committed claim is reduced to one hiding Dory opening per layout
//!    group ([`crate::zk::reduction`]).
//!
//! The transcript's domain differs from the transparent proof's, and the
//! verifying key's digest names the visibility, so neither kind of proof can
//! be passed off as the other.

use ark_bn254::{Fr, G1Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Zero;

use super::lookup::{self as zk_lookup, ZkLookupProof};
use super::ops::{CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkProver};
use super::reduction::{
    self as zk_reduction, CommittedClaim, HiddenPoly, OpenedClaim, ZkReductionProof,
};
use super::{BlindSource, Opening, PedersenGens, ZeroProof};
use crate::layout::{Slot, SlotClaim, TableKind};
use crate::model::{Model, TensorKind, Witness};
use crate::ops::{self, range, OpError};
use crate::pcs::hiding::{self, HidingHint};
use crate::pcs::reduction::VerifierPoly;
use crate::pcs::{Commitment, GlobalBackend, MultilinearPoly};
use crate::proof::verdict::ProofSettings;
use crate::proof::{
    self, absorb_statement, check_statement, lookup_sets, padding_output, prepare, public_mle,
    query_vars, sets_to_field, table_of, witness_values, ProofError, ProvingKey, VerifyingKey,
};
use crate::transcript::ProofTranscript;

/// The transcript's domain separator.
const DOMAIN: &[u8] = b"zkinfer/zk-model-proof";

/// A zero-knowledge proof of one inference.
#[derive(Debug, Clone, PartialEq)]
pub struct ZkModelProof {
    /// The settings of the keys it was made with (see [`crate::proof::verdict`]).
    pub settings: ProofSettings,
    /// Whether the input is private: then `input` is empty, and the proof
    /// shows that some input in the activation range (range-checked in the
    /// proof by the key's `InputRange` nodes) gives `output`. A model with a
    /// Gather (whose ids are public) cannot have one
    /// ([`check_private_input`]).
    pub private_input: bool,
    /// The quantized public input (every model input, in order); empty when
    /// the input is private.
    pub input: Vec<i64>,
    /// The quantized public output (every model output, in order).
    pub output: Vec<i64>,
    /// One hiding commitment per witness chunk
    /// ([`crate::proof::witness_chunks`]), in order.
    pub witness_commitments: Vec<Commitment>,
    pub ops: Vec<ZkOpMessage>,
    pub lookups: Vec<ZkLookupProof>,
    /// Per range check: commitments to its inputs at the byte lookup's point.
    pub range_inputs: Vec<Vec<G1Affine>>,
    /// Per range check: its committed inputs recombine to the byte lookup's
    /// committed query value.
    pub range_links: Vec<ZeroProof>,
    pub reduction: ZkReductionProof,
}

/// Checks that every node's op has a zero-knowledge proof (every op has one
/// today; this keeps an op added without one from reaching the prover).
pub fn check_supported(model: &Model) -> Result<(), ProofError> {
    match model
        .nodes
        .iter()
        .find(|node| ops::protocol(&node.op).zk().is_none())
    {
        Some(node) => Err(ProofError::Zk(format!(
            "node `{}`: op {} has no zero-knowledge proof yet (every op zkinfer imports \
             has one today; an op added without one is refused here)",
            node.name,
            node.op.name()
        ))),
        None => Ok(()),
    }
}

/// Checks that a model can be proven with a private input: a Gather reads
/// its ids from the public input (the verifier looks up the rows they
/// select), so a model with one needs its input public.
pub fn check_private_input(model: &Model) -> Result<(), ProofError> {
    match model
        .nodes
        .iter()
        .find(|node| matches!(node.op, crate::model::Op::Gather))
    {
        Some(node) => Err(ProofError::Zk(format!(
            "node `{}` (Gather) reads its ids from the model input `{}`, which must be public: \
             the verifier looks up the table rows the ids select, so a proof of this model \
             cannot keep its input private",
            node.name, model.tensors[node.inputs[1]].name
        ))),
        None => Ok(()),
    }
}

fn op_error(model: &Model, n: usize) -> impl Fn(OpError) -> ProofError + '_ {
    move |reason| ProofError::Op {
        node: model.nodes[n].name.clone(),
        op: model.nodes[n].op.name(),
        reason,
    }
}

fn not_hidden() -> ProofError {
    ProofError::Zk(
        "these keys do not hide the weights (made with `--weights committed` or `public`); \
         zero-knowledge proofs need keys made with `--zk`"
            .into(),
    )
}

/// Proves one inference on `input` with zero knowledge; blinds come from the
/// operating system.
pub fn prove<B: GlobalBackend>(
    backend: &B,
    pk: &ProvingKey,
    input: &[i64],
) -> Result<ZkModelProof, ProofError> {
    prove_with(backend, pk, input, false)
}

/// [`prove`] with the input kept private (`private_input`): the proof holds
/// no input values and shows that some input in the activation range gives
/// the output.
pub fn prove_with<B: GlobalBackend>(
    backend: &B,
    pk: &ProvingKey,
    input: &[i64],
    private_input: bool,
) -> Result<ZkModelProof, ProofError> {
    let _span = tracing::info_span!("prove").entered();
    let mut blinds = super::OsBlinds::new().map_err(|e| ProofError::Randomness(e.to_string()))?;
    let execution = {
        let _span = tracing::info_span!("witness").entered();
        pk.model.execute(input)?
    };
    prove_witness(backend, pk, input, &execution, private_input, &mut blinds)
}

/// Proves with zero knowledge that `witness` (the model's integer execution on
/// `input`) is correct, with blinds from `blinds` (tests pass seeded ones).
pub fn prove_witness<B: GlobalBackend>(
    backend: &B,
    pk: &ProvingKey,
    input: &[i64],
    witness: &Witness,
    private_input: bool,
    blinds: &mut dyn BlindSource,
) -> Result<ZkModelProof, ProofError> {
    let model = &pk.model;
    let vk = &pk.vk;
    if !vk.visibility.is_zk() {
        return Err(not_hidden());
    }
    check_supported(model)?;
    if private_input {
        check_private_input(model)?;
    }
    if input.len() != model.input_len() {
        return Err(ProofError::Shape(format!(
            "input has {} values, the model expects {}",
            input.len(),
            model.input_len()
        )));
    }
    let prepared = prepare(model, witness)?;
    let gens = PedersenGens::dory();
    let ctx = ops::ProverContext {
        backend,
        model,
        witness,
        limbs: &prepared.limbs,
    };
    let mut witness_values = witness_values(vk, &ctx, &prepared.tables, &prepared.multiplicities);
    let (chunk_vars, chunk_count) = vk.witness_chunks();
    witness_values.truncate(chunk_count << chunk_vars);
    let witness_polys = witness_values
        .chunks(1 << chunk_vars)
        .map(|chunk| MultilinearPoly::from_small(chunk.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    drop(witness_values);
    let committed = {
        let _span = tracing::info_span!("commit").entered();
        let layout = vk.dory_layouts().0;
        let mut committed = Vec::with_capacity(witness_polys.len());
        for poly in &witness_polys {
            committed.push(hiding::commit(backend, poly, layout, &pk.setup, blinds)?);
        }
        committed
    };
    let witness_commitments: Vec<Commitment> = committed.iter().map(|(c, _)| *c).collect();
    // The statement's input: none when private (the flag is absorbed first,
    // so the two kinds of statement never share a transcript).
    let public_input: &[i64] = if private_input { &[] } else { input };
    let mut t = ProofTranscript::new(DOMAIN);
    t.append_u64(b"private_input", u64::from(private_input));
    absorb_statement(
        &mut t,
        vk,
        public_input,
        &prepared.output,
        &witness_commitments,
    );

    let mut claims: Vec<OpenedSlotClaim> = Vec::new();
    let op_proofs = {
        let _span = tracing::info_span!("operator_proofs").entered();
        let mut zk = ZkProver {
            gens,
            blinds: &mut *blinds,
        };
        let mut proofs = Vec::with_capacity(model.nodes.len());
        for (n, node) in model.nodes.iter().enumerate() {
            let protocol = ops::protocol(&node.op).zk().expect("checked above");
            proofs.push(
                protocol
                    .prove_zk(&ctx, &mut zk, n, &mut t, &mut claims)
                    .map_err(op_error(model, n))?,
            );
        }
        proofs
    };

    let mut range_inputs = Vec::new();
    let mut range_links = Vec::new();
    let lookups = {
        let _span = tracing::info_span!("lookups").entered();
        let mut proofs = Vec::with_capacity(prepared.tables.len());
        for (i, &kind) in prepared.tables.iter().enumerate() {
            let table = table_of(kind, model);
            let (proof, opened) = zk_lookup::prove(
                backend,
                &mut t,
                &table,
                &sets_to_field(&prepared.query_sets[i]),
                &prepared.multiplicities[i],
                blinds,
            )
            .map_err(|source| ProofError::Lookup {
                table: kind,
                source,
            })?;
            claim(
                &mut claims,
                Slot::Multiplicity(kind),
                &opened.multiplicity_point,
                opened.multiplicity_value,
            );
            if kind == TableKind::Byte {
                for (k, check) in prepared.checks.iter().enumerate() {
                    let point = &opened.query_points[k];
                    let (r, s) = point.split_at(check.vars);
                    let eq = backend.eq_table(r).map_err(crate::pcs::PcsError::from)?;
                    let mut values = Vec::new();
                    for slot in check.inputs() {
                        values.push(
                            backend
                                .inner_product(&eq, &ctx.padded_field(slot))
                                .map_err(crate::pcs::PcsError::from)?,
                        );
                    }
                    let mut zk = ZkProver {
                        gens,
                        blinds: &mut *blinds,
                    };
                    let (openings, commitments) = zk.send(&mut t, b"range/zk-inputs", &values);
                    let link = recombination(check, s).open(&openings) - opened.query_values[k][0];
                    if !link.value.is_zero() {
                        return Err(op_error(model, check.node)(OpError::Witness(
                            "range-check limbs do not recombine to the byte lookup's query".into(),
                        )));
                    }
                    let link_c = gens.commit_opening(link).into_affine();
                    range_links.push(ZeroProof::prove(&mut t, gens, &link_c, link, blinds));
                    for (slot, o) in check.inputs().into_iter().zip(openings) {
                        claim(&mut claims, slot, r, o);
                    }
                    range_inputs.push(commitments);
                }
            } else {
                route_function_claims(
                    model,
                    kind,
                    &opened.query_points,
                    &opened.query_values,
                    &mut claims,
                    |o, shift| o - Opening::constant(shift),
                );
            }
            proofs.push(proof);
        }
        proofs
    };

    bind_public(
        model,
        &mut t,
        (!private_input).then_some(input),
        &prepared.output,
        &mut claims,
        Opening::constant,
    );

    let reduction = {
        let _span = tracing::info_span!("opening").entered();
        let routed = route(vk, claims)?;
        let model_hint = pk.model_poly.as_ref().map(|(poly, _, rows)| {
            (
                poly,
                HidingHint {
                    rows: rows.clone(),
                    blind: pk.model_blind,
                },
            )
        });
        let mut polys: Vec<HiddenPoly> = witness_polys
            .iter()
            .zip(&committed)
            .map(|(poly, (commitment, hint))| HiddenPoly {
                poly,
                commitment,
                hint,
            })
            .collect();
        let model_commitment = vk.model_commitment;
        if let (Some((poly, hint)), Some(commitment)) = (&model_hint, &model_commitment) {
            polys.push(HiddenPoly {
                poly,
                commitment,
                hint,
            });
        }
        let opened: Vec<OpenedClaim> = routed
            .into_iter()
            .map(|(poly, point, value)| OpenedClaim { poly, point, value })
            .collect();
        zk_reduction::prove(&mut t, &polys, &opened, &pk.setup, blinds)?
    };
    Ok(ZkModelProof {
        settings: ProofSettings::of(vk),
        private_input,
        input: public_input.to_vec(),
        output: prepared.output,
        witness_commitments,
        ops: op_proofs,
        lookups,
        range_inputs,
        range_links,
        reduction,
    })
}

fn claim<V>(claims: &mut Vec<SlotClaim<V>>, slot: Slot, point: &[Fr], value: V) {
    claims.push(SlotClaim {
        slot,
        point: point.to_vec(),
        value,
    });
}

/// The byte lookup's query value at `(r ‖ s)` as an affine map of a range
/// check's inputs at r (the transparent verifier's own recombination).
fn recombination(check: &range::RangeCheck, s: &[Fr]) -> super::ops::Affine {
    super::ops::affine(check.inputs().len(), |v| {
        check.combine(&check.blocks_at(v), s)
    })
}

/// A function table's query columns as claims (the output column shifted back
/// on padding by `unshift(value, shift·(1 − valid))`).
fn route_function_claims<V: Copy>(
    model: &Model,
    kind: TableKind,
    points: &[Vec<Fr>],
    values: &[Vec<V>],
    claims: &mut Vec<SlotClaim<V>>,
    unshift: impl Fn(V, Fr) -> V,
) {
    let shift = crate::pcs::poly::small_to_field(padding_output(kind, model));
    for (k, (n, slots)) in lookup_sets(model, kind).into_iter().enumerate() {
        let point = &points[k];
        for (c, slot) in slots.into_iter().enumerate() {
            let mut value = values[k][c];
            if c == 1 && !shift.is_zero() {
                let shape = &model.tensors[model.nodes[n].output].shape;
                value = unshift(
                    value,
                    shift * (Fr::from(1u64) - crate::layout::valid_mle(shape, point)),
                );
            }
            claim(claims, slot, point, value);
        }
    }
}

/// Claims binding each input and output tensor to its public values
/// (committed with blind zero by `constant`).
fn bind_public<V>(
    model: &Model,
    t: &mut ProofTranscript,
    input: Option<&[i64]>,
    output: &[i64],
    claims: &mut Vec<SlotClaim<V>>,
    constant: impl Fn(Fr) -> V,
) {
    let inputs = match input {
        Some(input) => model.split(&model.inputs, input).expect("checked length"),
        None => Vec::new(),
    };
    let outputs = model.split(&model.outputs, output).expect("checked length");
    let input_tensors = if input.is_some() {
        &model.inputs[..]
    } else {
        &[]
    };
    let tensors = input_tensors.iter().chain(&model.outputs);
    for (&tensor, values) in tensors.zip(inputs.into_iter().chain(outputs)) {
        let shape = &model.tensors[tensor].shape;
        let point = t.challenges(b"public_point", crate::layout::num_vars(shape));
        let value = constant(public_mle(values, shape, &point));
        claims.push(SlotClaim {
            slot: Slot::Tensor(tensor),
            value,
            point,
        });
    }
}

/// Places each claim on its polynomial: witness slots on their chunk
/// (indices `0..count`, as [`crate::proof::witness_chunks`] splits the
/// witness), weights on the model polynomial (index `count`).
fn route<V>(
    vk: &VerifyingKey,
    claims: Vec<SlotClaim<V>>,
) -> Result<Vec<(usize, Vec<Fr>, V)>, ProofError> {
    let (chunk_vars, chunk_count) = vk.witness_chunks();
    claims
        .into_iter()
        .map(|c| {
            let is_weight = matches!(c.slot, Slot::Tensor(t)
                if matches!(vk.model.tensors[t].kind, TensorKind::Weight { .. }));
            let wrong_size = || {
                ProofError::Shape(format!(
                    "claim on {:?} has a point of the wrong size",
                    c.slot
                ))
            };
            if is_weight {
                if vk.model_commitment.is_none() {
                    return Err(ProofError::Shape(
                        "weight claims without a weight commitment".into(),
                    ));
                }
                let point = vk
                    .model_layout
                    .point(c.slot, &c.point)
                    .ok_or_else(wrong_size)?;
                return Ok((chunk_count, point, c.value));
            }
            // A block lies in one chunk: the point's top variables are the
            // chunk's index, the rest is the point in that chunk.
            let mut point = vk
                .witness_layout
                .point(c.slot, &c.point)
                .ok_or_else(wrong_size)?;
            let (offset, _) = vk.witness_layout.find(c.slot).ok_or_else(wrong_size)?;
            point.truncate(chunk_vars);
            Ok((offset >> chunk_vars, point, c.value))
        })
        .collect()
}

/// Verifies a zero-knowledge proof against a key with hidden weights and the
/// public input.
pub fn verify(vk: &VerifyingKey, input: &[i64], proof: &ZkModelProof) -> Result<(), ProofError> {
    let _span = tracing::info_span!("verify").entered();
    if !vk.visibility.is_zk() {
        return Err(not_hidden());
    }
    let model = &vk.model;
    check_supported(model)?;
    if proof.private_input {
        check_private_input(model)?;
    }
    if proof.private_input && !input.is_empty() {
        return Err(ProofError::Zk(
            "the proof keeps its input private: it shows that some input gives its output, \
             and cannot be checked against a given input"
                .into(),
        ));
    }
    let tables = check_statement(
        model,
        input,
        &proof.input,
        &proof.output,
        proof.private_input,
        proof.ops.len(),
        proof.lookups.len(),
    )?;
    let gens = PedersenGens::dory();
    let mut t = ProofTranscript::new(DOMAIN);
    t.defer_sigma_checks();
    t.append_u64(b"private_input", u64::from(proof.private_input));
    proof::check_witness_chunks(vk, &proof.witness_commitments)?;
    absorb_statement(&mut t, vk, input, &proof.output, &proof.witness_commitments);

    let mut claims: Vec<CommittedSlotClaim> = Vec::new();
    for (n, (node, message)) in model.nodes.iter().zip(&proof.ops).enumerate() {
        let _span = tracing::debug_span!("verify_operators").entered();
        let protocol = ops::protocol(&node.op).zk().expect("checked above");
        protocol
            .verify_zk(
                model,
                ops::PublicInput { values: input },
                n,
                message,
                &mut t,
                &mut claims,
            )
            .map_err(op_error(model, n))?;
    }

    let checks = range::range_checks(model);
    let byte_checks = if tables.contains(&TableKind::Byte) {
        checks.len()
    } else {
        0
    };
    if proof.range_inputs.len() != byte_checks || proof.range_links.len() != byte_checks {
        return Err(ProofError::Shape(format!(
            "{} range-check value sets and {} links for {byte_checks} range checks",
            proof.range_inputs.len(),
            proof.range_links.len()
        )));
    }
    for (&kind, lookup_proof) in tables.iter().zip(&proof.lookups) {
        let _span = tracing::debug_span!("verify_lookups").entered();
        let table = table_of(kind, model);
        let vars = query_vars(model, kind, &checks);
        let committed =
            zk_lookup::verify(&mut t, &table, &vars, lookup_proof).map_err(|source| {
                ProofError::Lookup {
                    table: kind,
                    source,
                }
            })?;
        claim(
            &mut claims,
            Slot::Multiplicity(kind),
            &committed.multiplicity_point,
            committed.multiplicity_value,
        );
        if kind == TableKind::Byte {
            for (k, check) in checks.iter().enumerate() {
                let point = &committed.query_points[k];
                let values = &proof.range_inputs[k];
                let inputs = check.inputs();
                if values.len() != inputs.len() || point.len() != check.query_vars() {
                    return Err(op_error(model, check.node)(OpError::Message(
                        "range check: wrong number of committed values".into(),
                    )));
                }
                let (r, s) = point.split_at(check.vars);
                super::Challenger::absorb_points(&mut t, b"range/zk-inputs", values);
                let link = (recombination(check, s).commit(gens, values).into_group()
                    - committed.query_values[k][0])
                    .into_affine();
                proof.range_links[k]
                    .verify(&mut t, gens, &link)
                    .map_err(|e| {
                        op_error(model, check.node)(OpError::Zk(format!(
                            "range-check limbs do not recombine to the byte lookup's query: {e}"
                        )))
                    })?;
                for (slot, value) in inputs.into_iter().zip(values) {
                    claim(&mut claims, slot, r, *value);
                }
            }
        } else {
            route_function_claims(
                model,
                kind,
                &committed.query_points,
                &committed.query_values,
                &mut claims,
                |c, shift| (c.into_group() - gens.constant(shift)).into_affine(),
            );
        }
    }
    bind_public(
        model,
        &mut t,
        (!proof.private_input).then_some(input),
        &proof.output,
        &mut claims,
        |v| gens.constant(v).into_affine(),
    );

    let _opening_span = tracing::debug_span!("verify_opening").entered();
    let routed = route(vk, claims)?;
    let (witness_dory, model_dory) = vk.dory_layouts();
    let mut polys: Vec<VerifierPoly> = proof
        .witness_commitments
        .iter()
        .map(|&commitment| VerifierPoly {
            commitment,
            layout: witness_dory,
        })
        .collect();
    if let Some(c) = vk.model_commitment {
        polys.push(VerifierPoly {
            commitment: c,
            layout: model_dory,
        });
    }
    let committed: Vec<CommittedClaim> = routed
        .into_iter()
        .map(|(poly, point, value)| CommittedClaim { poly, point, value })
        .collect();
    zk_reduction::verify(&mut t, &polys, &committed, &proof.reduction, &vk.dory)?;
    t.finish_sigma_checks()
        .map_err(|e| ProofError::Zk(format!("Σ-proof check: {e}")))
}

/// A proof file of either kind, told apart by its magic: what the CLI reads
/// and writes.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyProof {
    Transparent(proof::ModelProof),
    Zk(ZkModelProof),
}

impl AnyProof {
    pub fn settings(&self) -> &ProofSettings {
        match self {
            AnyProof::Transparent(p) => &p.settings,
            AnyProof::Zk(p) => &p.settings,
        }
    }

    /// Whether the proof keeps its input private (zero-knowledge proofs
    /// only); then [`AnyProof::input`] is empty.
    pub fn private_input(&self) -> bool {
        matches!(self, AnyProof::Zk(p) if p.private_input)
    }

    /// The quantized public input (empty when private).
    pub fn input(&self) -> &[i64] {
        match self {
            AnyProof::Transparent(p) => &p.input,
            AnyProof::Zk(p) => &p.input,
        }
    }

    /// The quantized public output.
    pub fn output(&self) -> &[i64] {
        match self {
            AnyProof::Transparent(p) => &p.output,
            AnyProof::Zk(p) => &p.output,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            AnyProof::Transparent(p) => p.to_bytes(),
            AnyProof::Zk(p) => p.to_bytes(),
        }
    }

    /// Decodes either kind of proof file, leaving GT subgroup checks to the
    /// caller ([`verify_any`]); never panics.
    pub fn from_bytes_deferred(
        bytes: &[u8],
    ) -> Result<(Self, crate::encoding::DeferredChecks), crate::encoding::DecodeError> {
        if bytes.starts_with(super::encode::ZK_PROOF_MAGIC) {
            let (p, checks) = crate::encoding::from_bytes_deferred(bytes)?;
            Ok((AnyProof::Zk(p), checks))
        } else {
            let (p, checks) = proof::ModelProof::from_bytes_deferred(bytes)?;
            Ok((AnyProof::Transparent(p), checks))
        }
    }
}

/// Proves with the kind of proof the key makes: zero-knowledge for hidden
/// weights, transparent otherwise.
pub fn prove_any_on(
    selected: &crate::backend::registry::SelectedBackend,
    pk: &ProvingKey,
    input: &[i64],
) -> Result<AnyProof, ProofError> {
    prove_any_on_with(selected, pk, input, false)
}

/// [`prove_any_on`], keeping the input private when `private_input` (keys
/// with hidden weights only: a transparent proof reveals its input).
pub fn prove_any_on_with(
    selected: &crate::backend::registry::SelectedBackend,
    pk: &ProvingKey,
    input: &[i64],
    private_input: bool,
) -> Result<AnyProof, ProofError> {
    if !pk.vk.visibility.is_zk() {
        if private_input {
            return Err(ProofError::Zk(
                "a private input needs zero-knowledge proofs: make the keys with `--zk` \
                 (`--weights hidden`)"
                    .into(),
            ));
        }
        return proof::prove_on(selected, pk, input).map(AnyProof::Transparent);
    }
    use crate::backend::registry::SelectedBackend;
    match selected {
        SelectedBackend::Cpu(_) => prove_with(
            crate::backend::CpuBackend::global(),
            pk,
            input,
            private_input,
        ),
        #[cfg(feature = "icicle")]
        SelectedBackend::Icicle(_) => prove_with(
            <crate::backend::icicle::IcicleBackend as GlobalBackend>::global(),
            pk,
            input,
            private_input,
        ),
        #[cfg(feature = "wgpu")]
        SelectedBackend::Wgpu(_) => prove_with(
            <crate::backend::wgpu::WgpuBackend as GlobalBackend>::global(),
            pk,
            input,
            private_input,
        ),
    }
    .map(AnyProof::Zk)
}

/// Verifies either kind of proof (with its deferred GT checks, in parallel)
/// against `vk`; the key decides which kind it must be.
pub fn verify_any(
    vk: &VerifyingKey,
    input: &[i64],
    proof: &AnyProof,
    checks: crate::encoding::DeferredChecks,
) -> Result<(), ProofError> {
    match proof {
        AnyProof::Transparent(p) => proof::verify_with_checks(vk, input, p, checks),
        AnyProof::Zk(p) => {
            let (membership, verdict) = rayon::join(|| checks.run(), || verify(vk, input, p));
            membership?;
            verdict
        }
    }
}
