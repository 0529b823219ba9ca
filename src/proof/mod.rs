//! Proving and verifying a quantized model end to end (commit-and-prove, op by op).
//!
//! 1. Integer inference records the witness; every tensor that crosses an op
//!    boundary, every rescale remainder and every lookup table's multiplicities
//!    are placed in aligned blocks of one witness polynomial and committed once.
//! 2. The transcript absorbs the verifying key's digest, the public input and
//!    output, and the witness commitment.
//! 3. Each op proves its local relation at a fresh random point ([`crate::ops`]),
//!    leaving evaluation claims on committed tensors and weights.
//! 4. One LogUp-GKR lookup per table checks every rescale output's bound, every
//!    remainder's range and every ReLU/Tanh/Sigmoid pair.
//! 5. The verifier evaluates the public input's and output's MLEs itself at random
//!    points and adds them as claims on the witness.
//! 6. All claims are reduced to one Dory opening per polynomial (witness, and the
//!    model polynomial when weights are committed). With public weights the
//!    verifier evaluates weight claims itself.

pub mod encode;
pub mod layout;

use std::sync::Arc;

use ark_bn254::Fr;
use blake2::{Blake2b512, Digest};
use dory_pcs::backends::arkworks::BN254;
use dory_pcs::setup::VerifierSetup;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, CpuBackend};
use crate::lookup::{self, LookupError, LookupProof, Table};
use crate::model::{activation_table, Model, ModelError, Op, TensorKind, Witness};
use crate::ops::{self, OpProof};
use crate::pcs::poly::small_to_field;
use crate::pcs::reduction::{
    self, Claim, ProverPoly, ReductionError, ReductionProof, VerifierPoly,
};
use crate::pcs::{
    self, Commitment, CommitmentHint, DorySetup, GlobalBackend, Layout, MultilinearPoly, PcsError,
};
use crate::transcript::ProofTranscript;
use layout::{BlockLayout, Slot, TableKind};

/// Version of the proof and key formats; part of the key digest.
pub const PROOF_VERSION: u32 = 1;

/// Who sees the model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WeightVisibility {
    /// Weights are committed at preprocessing; the verifier holds the commitment
    /// only (model privacy; one more Dory opening per proof).
    #[default]
    Committed,
    /// The verifying key carries the weights; the verifier evaluates their MLEs.
    Public,
}

/// Errors of proving and verification; verification errors name the failed check.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("lookup `{table:?}`: {source}")]
    Lookup {
        table: TableKind,
        source: LookupError,
    },
    #[error("node `{node}` ({op:?}): {reason}")]
    Op {
        node: String,
        op: Op,
        reason: String,
    },
    #[error("proof shape: {0}")]
    Shape(String),
    #[error("public input does not match the proof's")]
    InputMismatch,
    #[error("check failed: weight `{tensor}` does not evaluate to the claimed value")]
    PublicWeight { tensor: String },
    #[error("opening: {0}")]
    Reduction(#[from] ReductionError),
    #[error(transparent)]
    Pcs(#[from] PcsError),
}

/// What the verifier needs: the model's structure (weights only when public),
/// the layouts, the weight commitment, the Dory verifier setup and a digest that
/// binds all of it into every proof's transcript.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub model: Model,
    pub visibility: WeightVisibility,
    pub witness_layout: BlockLayout,
    pub model_layout: BlockLayout,
    pub model_commitment: Option<Commitment>,
    pub dory: VerifierSetup<BN254>,
    /// Blake2b-512 of the Dory setup's public seed, and its size.
    pub seed_digest: [u8; 64],
    pub log_generators: usize,
    /// [`VerifyingKey::compute_digest`], cached.
    pub digest: [u8; 64],
}

/// What the prover needs: the full model, the verifying key, the Dory setup and
/// the committed model polynomial.
#[derive(Debug, Clone)]
pub struct ProvingKey {
    pub model: Model,
    pub vk: VerifyingKey,
    pub setup: Arc<DorySetup>,
    pub model_poly: Option<(MultilinearPoly, Commitment, CommitmentHint)>,
}

/// A proof of one inference.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProof {
    /// The quantized public input.
    pub input: Vec<i64>,
    /// The quantized public output.
    pub output: Vec<i64>,
    pub witness_commitment: Commitment,
    pub ops: Vec<OpProof>,
    pub lookups: Vec<LookupProof>,
    pub reduction: ReductionProof,
}

/// The lookup table of each kind for a model.
pub fn table_of(kind: TableKind, model: &Model) -> Table {
    let bits = model.activation_bits;
    match kind {
        TableKind::Activation => Table::SignedRange { bits },
        TableKind::Remainder => Table::UnsignedRange {
            bits: model.scale_bits,
        },
        TableKind::Relu => Table::Relu { bits },
        TableKind::Tanh | TableKind::Sigmoid => {
            let op = if kind == TableKind::Tanh {
                Op::Tanh
            } else {
                Op::Sigmoid
            };
            let half = 1i64 << (bits - 1);
            let xs: Vec<i64> = (-half..half).collect();
            let ys = xs
                .iter()
                .map(|&x| activation_table(op, x, model.scale_bits))
                .collect();
            Table::Function {
                columns: vec![xs, ys],
            }
        }
    }
}

/// The value padded entries of a table op's output column are shifted to, so
/// that padding `(0, f(0))` is a row of the table.
pub fn padding_output(kind: TableKind, model: &Model) -> i64 {
    match kind {
        TableKind::Tanh => activation_table(Op::Tanh, 0, model.scale_bits),
        TableKind::Sigmoid => activation_table(Op::Sigmoid, 0, model.scale_bits),
        _ => 0,
    }
}

fn table_kind_of(op: Op) -> Option<TableKind> {
    match op {
        Op::Relu => Some(TableKind::Relu),
        Op::Tanh => Some(TableKind::Tanh),
        Op::Sigmoid => Some(TableKind::Sigmoid),
        _ => None,
    }
}

impl VerifyingKey {
    /// Blake2b-512 over everything the key fixes: format version, model structure
    /// (and weights when public), visibility, layouts, weight commitment, and the
    /// Dory setup's seed and size. Every proof's transcript starts from it.
    pub fn compute_digest(&self) -> [u8; 64] {
        let mut h = Blake2b512::new();
        h.update(b"zkinfer/verifying-key");
        h.update(PROOF_VERSION.to_le_bytes());
        h.update(serde_json::to_vec(&self.model).expect("models serialize"));
        h.update(serde_json::to_vec(&self.visibility).expect("serializes"));
        h.update(serde_json::to_vec(&self.witness_layout).expect("serializes"));
        h.update(serde_json::to_vec(&self.model_layout).expect("serializes"));
        if let Some(c) = &self.model_commitment {
            let mut bytes = Vec::new();
            ark_serialize::CanonicalSerialize::serialize_compressed(&c.0 .0, &mut bytes)
                .expect("serializes");
            h.update(bytes);
        }
        h.update(self.seed_digest);
        h.update((self.log_generators as u64).to_le_bytes());
        h.finalize().into()
    }
}

/// The model with weight values removed (for a committed-weights verifying key).
fn without_weights(model: &Model) -> Model {
    let mut m = model.clone();
    for t in &mut m.tensors {
        if let TensorKind::Weight { values } = &mut t.kind {
            values.clear();
        }
    }
    m
}

/// The log2 generator count a model needs (its largest square layout's σ).
pub fn required_generators(model: &Model) -> usize {
    let w = layout::witness_layout(model, |k| table_of(k, model).num_vars()).num_vars;
    let m = layout::model_layout(model).num_vars;
    Layout::square(w.max(m)).sigma.max(1)
}

/// The model polynomial's values: every weight, padded, in its block.
pub fn model_poly_values(model: &Model, model_layout: &BlockLayout) -> Vec<i64> {
    model_layout.assemble(|slot| match slot {
        Slot::Tensor(t) => match &model.tensors[t].kind {
            TensorKind::Weight { values } => layout::pad(values, &model.tensors[t].shape),
            _ => unreachable!("the model layout holds weights only"),
        },
        _ => unreachable!("the model layout holds tensors only"),
    })
}

/// Builds the proving and verifying keys: layouts, and (committed mode) the model
/// polynomial and its commitment.
pub fn preprocess<B: Backend + ?Sized>(
    backend: &B,
    model: Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
) -> Result<ProvingKey, ProofError> {
    let needed = required_generators(&model);
    if setup.log_generators < needed {
        return Err(PcsError::SetupTooSmall {
            needed_log: needed,
            have: setup.g1_affine.len(),
        }
        .into());
    }
    let model_layout = layout::model_layout(&model);
    let model_poly = match visibility {
        WeightVisibility::Public => None,
        WeightVisibility::Committed if model_layout.blocks.is_empty() => None,
        WeightVisibility::Committed => {
            let poly = MultilinearPoly::from_small(model_poly_values(&model, &model_layout))?;
            let (c, h) = pcs::commit(
                backend,
                &poly,
                Layout::square(model_layout.num_vars),
                &setup,
            )?;
            Some((poly, c, h))
        }
    };
    Ok(assemble_keys(model, visibility, setup, model_poly))
}

/// Puts keys together from a model, its setup and (committed mode) its committed
/// model polynomial.
pub fn assemble_keys(
    model: Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    model_poly: Option<(MultilinearPoly, Commitment, CommitmentHint)>,
) -> ProvingKey {
    let witness_layout = layout::witness_layout(&model, |k| table_of(k, &model).num_vars());
    let model_layout = layout::model_layout(&model);
    let commitment = model_poly.as_ref().map(|(_, c, _)| *c);
    let vk_model = match visibility {
        WeightVisibility::Committed => without_weights(&model),
        WeightVisibility::Public => model.clone(),
    };
    let mut vk = VerifyingKey {
        model: vk_model,
        visibility,
        witness_layout,
        model_layout,
        model_commitment: commitment,
        dory: setup.verifier.clone(),
        seed_digest: setup.seed_digest,
        log_generators: setup.log_generators,
        digest: [0; 64],
    };
    vk.digest = vk.compute_digest();
    ProvingKey {
        model,
        vk,
        setup,
        model_poly,
    }
}

/// A claim on a tensor or witness slot, before routing to a polynomial.
#[derive(Debug, Clone)]
pub struct SlotClaim {
    pub slot: Slot,
    pub point: Vec<Fr>,
    pub value: Fr,
}

fn absorb_statement(
    t: &mut ProofTranscript,
    vk: &VerifyingKey,
    input: &[i64],
    output: &[i64],
    witness: &Commitment,
) {
    t.append_message(b"vk", &vk.digest);
    t.append_u64(b"input_len", input.len() as u64);
    for v in input {
        t.append_message(b"input", &v.to_le_bytes());
    }
    t.append_u64(b"output_len", output.len() as u64);
    for v in output {
        t.append_message(b"output", &v.to_le_bytes());
    }
    t.append_point(b"witness_commitment", &witness.0 .0);
}

/// MLE of a public tensor's padded values at `point`.
pub fn public_mle(values: &[i64], shape: &[usize], point: &[Fr]) -> Fr {
    let padded = layout::pad(values, shape);
    let eq = CpuBackend::global()
        .eq_table(point)
        .expect("point sizes are checked by the caller");
    eq.iter()
        .zip(&padded)
        .filter(|(_, &v)| v != 0)
        .map(|(e, &v)| *e * small_to_field(v))
        .sum()
}

/// The per-table lookup query sets: (node index, slots of the columns).
fn lookup_sets(model: &Model, kind: TableKind) -> Vec<(usize, Vec<Slot>)> {
    model
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(n, node)| match kind {
            TableKind::Activation if node.op.rescales() => {
                Some((n, vec![Slot::Tensor(node.output)]))
            }
            TableKind::Remainder if node.op.rescales() => Some((n, vec![Slot::Remainder(n)])),
            _ if table_kind_of(node.op) == Some(kind) => Some((
                n,
                vec![Slot::Tensor(node.inputs[0]), Slot::Tensor(node.output)],
            )),
            _ => None,
        })
        .collect()
}

/// Proves one inference of the key's model on a quantized input.
pub fn prove<B: GlobalBackend>(pk: &ProvingKey, input: &[i64]) -> Result<ModelProof, ProofError> {
    let _span = tracing::info_span!("prove").entered();
    let backend = B::global();
    let model = &pk.model;
    let vk = &pk.vk;
    let witness: Witness = {
        let _span = tracing::info_span!("witness").entered();
        model.execute(input)?
    };
    let output = witness.values[model.output].clone();

    // Lookup queries and multiplicities.
    let tables = layout::tables_used(model);
    let mut multiplicities = Vec::with_capacity(tables.len());
    let mut query_sets: Vec<Vec<Vec<Vec<i64>>>> = Vec::with_capacity(tables.len());
    for &kind in &tables {
        let shift = padding_output(kind, model);
        let sets: Vec<Vec<Vec<i64>>> = lookup_sets(model, kind)
            .into_iter()
            .map(|(n, slots)| {
                let valid = layout::pad(
                    &vec![1; model.tensors[model.nodes[n].output].len()],
                    &model.tensors[model.nodes[n].output].shape,
                );
                slots
                    .iter()
                    .enumerate()
                    .map(|(c, &slot)| {
                        let mut v =
                            layout::padded_slot(model, &witness, slot).expect("tensor slot");
                        if c == 1 && shift != 0 {
                            v.iter_mut().zip(&valid).for_each(|(x, &ok)| {
                                if ok == 0 {
                                    *x += shift
                                }
                            });
                        }
                        v
                    })
                    .collect()
            })
            .collect();
        let table = table_of(kind, model);
        let m = table
            .multiplicities_of_sets(&sets)
            .map_err(|source| ProofError::Lookup {
                table: kind,
                source,
            })?;
        multiplicities.push(m);
        query_sets.push(sets);
    }

    // Commit the witness.
    let witness_values = vk.witness_layout.assemble(|slot| match slot {
        Slot::Multiplicity(kind) => {
            let i = tables
                .iter()
                .position(|&k| k == kind)
                .expect("table in use");
            multiplicities[i].iter().map(|&m| m as i64).collect()
        }
        _ => layout::padded_slot(model, &witness, slot).expect("tensor or remainder slot"),
    });
    let witness_poly = MultilinearPoly::from_small(witness_values)?;
    let witness_layout = Layout::square(vk.witness_layout.num_vars);
    let (witness_commitment, witness_hint) = {
        let _span = tracing::info_span!("commit").entered();
        pcs::commit(backend, &witness_poly, witness_layout, &pk.setup)?
    };

    let mut t = ProofTranscript::new(b"zkinfer/model-proof");
    absorb_statement(&mut t, vk, input, &output, &witness_commitment);

    // Per-op proofs.
    let mut claims: Vec<SlotClaim> = Vec::new();
    let op_proofs = {
        let _span = tracing::info_span!("operator_proofs").entered();
        let ctx = ops::ProverContext {
            backend,
            model,
            witness: &witness,
        };
        let mut proofs = Vec::with_capacity(model.nodes.len());
        for (n, node) in model.nodes.iter().enumerate() {
            let proof =
                ops::prove(&ctx, n, &mut t, &mut claims).map_err(|reason| ProofError::Op {
                    node: node.name.clone(),
                    op: node.op,
                    reason,
                })?;
            proofs.push(proof);
        }
        proofs
    };

    // Lookups.
    let lookups = {
        let _span = tracing::info_span!("lookups").entered();
        let mut proofs = Vec::with_capacity(tables.len());
        for (i, &kind) in tables.iter().enumerate() {
            let table = table_of(kind, model);
            let sets_field: Vec<Vec<Vec<Fr>>> = query_sets[i]
                .iter()
                .map(|set| {
                    set.iter()
                        .map(|c| c.iter().map(|&v| small_to_field(v)).collect())
                        .collect()
                })
                .collect();
            let (proof, lookup_claims) =
                lookup::prove(backend, &mut t, &table, &sets_field, &multiplicities[i]).map_err(
                    |source| ProofError::Lookup {
                        table: kind,
                        source,
                    },
                )?;
            route_lookup_claims(model, kind, &lookup_claims, &mut claims);
            proofs.push(proof);
        }
        proofs
    };

    bind_public(model, &mut t, input, &output, &mut claims);

    // Openings.
    let reduction = {
        let _span = tracing::info_span!("opening").entered();
        let (witness_claims, model_claims) = route(vk, &claims)?;
        let mut polys = vec![ProverPoly {
            poly: &witness_poly,
            commitment: &witness_commitment,
            hint: &witness_hint,
        }];
        let mut all = witness_claims;
        if let Some((poly, c, h)) = &pk.model_poly {
            polys.push(ProverPoly {
                poly,
                commitment: c,
                hint: h,
            });
            all.extend(model_claims);
        }
        reduction::prove::<B>(&mut t, &polys, &all, &pk.setup)?
    };
    Ok(ModelProof {
        input: input.to_vec(),
        output,
        witness_commitment,
        ops: op_proofs,
        lookups,
        reduction,
    })
}

/// Adds lookup leftovers as slot claims (table-op output columns shifted back).
fn route_lookup_claims(
    model: &Model,
    kind: TableKind,
    claims_in: &lookup::LookupClaims,
    claims: &mut Vec<SlotClaim>,
) {
    claims.push(SlotClaim {
        slot: Slot::Multiplicity(kind),
        point: claims_in.multiplicity_point.clone(),
        value: claims_in.multiplicity_value,
    });
    let shift = small_to_field(padding_output(kind, model));
    for (k, (n, slots)) in lookup_sets(model, kind).into_iter().enumerate() {
        let point = &claims_in.query_points[k];
        for (c, slot) in slots.into_iter().enumerate() {
            let mut value = claims_in.query_values[k][c];
            if c == 1 && shift != Fr::from(0u64) {
                let shape = &model.tensors[model.nodes[n].output].shape;
                value -= shift * (Fr::from(1u64) - layout::valid_mle(shape, point));
            }
            claims.push(SlotClaim {
                slot,
                point: point.clone(),
                value,
            });
        }
    }
}

/// Random-point claims binding the committed input and output to the public ones.
fn bind_public(
    model: &Model,
    t: &mut ProofTranscript,
    input: &[i64],
    output: &[i64],
    claims: &mut Vec<SlotClaim>,
) {
    for (tensor, values) in [(model.input, input), (model.output, output)] {
        let shape = &model.tensors[tensor].shape;
        let point = t.challenges(b"public_point", layout::num_vars(shape));
        claims.push(SlotClaim {
            slot: Slot::Tensor(tensor),
            value: public_mle(values, shape, &point),
            point,
        });
    }
}

/// Splits slot claims into witness-polynomial and model-polynomial claims; with
/// public weights, weight claims are checked here against the key's weights.
fn route(vk: &VerifyingKey, claims: &[SlotClaim]) -> Result<(Vec<Claim>, Vec<Claim>), ProofError> {
    let mut witness = Vec::new();
    let mut model = Vec::new();
    for claim in claims {
        let is_weight = matches!(claim.slot, Slot::Tensor(t) if matches!(vk.model.tensors[t].kind, TensorKind::Weight { .. }));
        if is_weight {
            let Slot::Tensor(t) = claim.slot else {
                unreachable!()
            };
            match vk.visibility {
                WeightVisibility::Public => {
                    let tensor = &vk.model.tensors[t];
                    let TensorKind::Weight { values } = &tensor.kind else {
                        unreachable!()
                    };
                    if claim.point.len() != layout::num_vars(&tensor.shape)
                        || public_mle(values, &tensor.shape, &claim.point) != claim.value
                    {
                        return Err(ProofError::PublicWeight {
                            tensor: tensor.name.clone(),
                        });
                    }
                }
                WeightVisibility::Committed => {
                    let point =
                        vk.model_layout
                            .point(claim.slot, &claim.point)
                            .ok_or_else(|| {
                                ProofError::Shape(format!(
                                    "claim on weight {t} has a point of the wrong size"
                                ))
                            })?;
                    model.push(Claim {
                        poly: 1,
                        point,
                        value: claim.value,
                    });
                }
            }
        } else {
            let point = vk
                .witness_layout
                .point(claim.slot, &claim.point)
                .ok_or_else(|| {
                    ProofError::Shape(format!(
                        "claim on {:?} has a point of the wrong size",
                        claim.slot
                    ))
                })?;
            witness.push(Claim {
                poly: 0,
                point,
                value: claim.value,
            });
        }
    }
    Ok((witness, model))
}

/// Verifies a proof against a verifying key and the public input.
pub fn verify(vk: &VerifyingKey, input: &[i64], proof: &ModelProof) -> Result<(), ProofError> {
    let _span = tracing::info_span!("verify").entered();
    let model = &vk.model;
    if proof.input != input {
        return Err(ProofError::InputMismatch);
    }
    if input.len() != model.tensors[model.input].len() {
        return Err(ProofError::Shape(format!(
            "input has {} values, the model expects {}",
            input.len(),
            model.tensors[model.input].len()
        )));
    }
    if proof.output.len() != model.tensors[model.output].len() {
        return Err(ProofError::Shape(format!(
            "output has {} values, the model produces {}",
            proof.output.len(),
            model.tensors[model.output].len()
        )));
    }
    let bound = 1i64 << (model.activation_bits - 1);
    if input.iter().chain(&proof.output).any(|v| v.abs() >= bound) {
        return Err(ProofError::Shape(
            "a public value exceeds the activation bound".into(),
        ));
    }
    if proof.ops.len() != model.nodes.len() {
        return Err(ProofError::Shape(format!(
            "{} operator proofs for {} nodes",
            proof.ops.len(),
            model.nodes.len()
        )));
    }
    let tables = layout::tables_used(model);
    if proof.lookups.len() != tables.len() {
        return Err(ProofError::Shape(format!(
            "{} lookup proofs for {} tables",
            proof.lookups.len(),
            tables.len()
        )));
    }
    let mut t = ProofTranscript::new(b"zkinfer/model-proof");
    absorb_statement(&mut t, vk, input, &proof.output, &proof.witness_commitment);

    let mut claims: Vec<SlotClaim> = Vec::new();
    for (n, (node, op_proof)) in model.nodes.iter().zip(&proof.ops).enumerate() {
        let _span = tracing::debug_span!("verify_operators").entered();
        ops::verify(model, n, op_proof, &mut t, &mut claims).map_err(|reason| ProofError::Op {
            node: node.name.clone(),
            op: node.op,
            reason,
        })?;
    }
    for (&kind, lookup_proof) in tables.iter().zip(&proof.lookups) {
        let _span = tracing::debug_span!("verify_lookups").entered();
        let table = table_of(kind, model);
        let vars: Vec<usize> = lookup_sets(model, kind)
            .iter()
            .map(|(n, _)| layout::num_vars(&model.tensors[model.nodes[*n].output].shape))
            .collect();
        let lookup_claims =
            lookup::verify(&mut t, &table, &vars, lookup_proof).map_err(|source| {
                ProofError::Lookup {
                    table: kind,
                    source,
                }
            })?;
        route_lookup_claims(model, kind, &lookup_claims, &mut claims);
    }
    bind_public(model, &mut t, input, &proof.output, &mut claims);

    let _opening_span = tracing::debug_span!("verify_opening").entered();
    let (witness_claims, model_claims) = route(vk, &claims)?;
    let mut polys = vec![VerifierPoly {
        commitment: proof.witness_commitment,
        layout: Layout::square(vk.witness_layout.num_vars),
    }];
    let mut all = witness_claims;
    if let Some(c) = vk.model_commitment {
        polys.push(VerifierPoly {
            commitment: c,
            layout: Layout::square(vk.model_layout.num_vars),
        });
        all.extend(model_claims);
    } else if !model_claims.is_empty() {
        return Err(ProofError::Shape(
            "weight claims without a weight commitment".into(),
        ));
    }
    reduction::verify(&mut t, &polys, &all, &proof.reduction, &vk.dory)?;
    Ok(())
}
