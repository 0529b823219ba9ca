//! Proving and verifying a quantized model end to end (commit-and-prove, op by op).
//!
//! 1. Integer inference records the witness; every tensor that crosses an op
//!    boundary, every rescale remainder and every lookup table's multiplicities
//!    are placed in aligned blocks of one witness polynomial, committed as
//!    chunks of at most 2^[`WITNESS_CHUNK_VARS`] entries ([`witness_chunks`]).
//! 2. The transcript absorbs the verifying key's digest, the public input and
//!    output (every input's values, then every output's, concatenated in the
//!    model's order), and the witness chunks' commitments.
//! 3. Each op proves its local relation at a fresh random point ([`crate::ops`]),
//!    leaving evaluation claims on committed tensors and weights.
//! 4. One LogUp-GKR lookup per table: the byte table checks every range (rescale
//!    outputs and remainders, ReLU inputs and their sign bits) through limb
//!    decompositions ([`range`]); function tables check Tanh/Sigmoid pairs.
//! 5. The verifier evaluates each public input's and output's MLE itself at a
//!    random point and adds them as claims on the witness.
//! 6. All claims are reduced to one Dory opening per layout: the witness
//!    chunks share one (and the model polynomial's when weights are committed,
//!    if its columns are as many), combined homomorphically. With public
//!    weights the verifier evaluates weight claims itself.

pub mod encode;
pub mod layout;
pub mod verdict;

use std::sync::Arc;

use ark_bn254::Fr;
use blake2::{Blake2b512, Digest};
use dory_pcs::backends::arkworks::BN254;
use dory_pcs::setup::VerifierSetup;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::layout::{BlockLayout, Slot, SlotClaim, TableKind};
use crate::lookup::{self, LookupError, LookupProof, Table};
use crate::model::{Model, ModelError, TensorKind, Witness};
use crate::ops::{self, range, OpError, OpMessage};
use crate::pcs::poly::small_to_field;
use crate::pcs::reduction::{
    self, Claim, ProverPoly, ReductionError, ReductionProof, VerifierPoly,
};
use crate::pcs::{
    self, Commitment, CommitmentHint, DorySetup, GlobalBackend, Layout, MultilinearPoly, PcsError,
};
use crate::transcript::ProofTranscript;

/// Version of the proof and key formats; part of the key digest.
pub const PROOF_VERSION: u32 = 11;

/// log2 of the entries of one witness chunk: a witness larger than this is
/// committed as several polynomials of 2^18 entries (2^9 × 2^9 matrices, unless
/// a block is larger), which the reduction opens together with one Dory proof
/// of 2^9 columns. A Dory opening costs work proportional to its columns, a
/// commitment to the entries plus one pairing per row: measured on this
/// 2-core machine, opening 2^21 entries (2^10 × 2^11) took 2.9 s and 2^18
/// (2^9 × 2^9) 0.75 s, committing 2^21 0.55 s and 2^18 0.13 s.
pub const WITNESS_CHUNK_VARS: usize = 18;

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
    /// Weights under a hiding commitment, and every proof zero-knowledge
    /// (`--zk`, [`crate::zk::model`]): the verifier learns the statement and
    /// nothing about the weights.
    Hidden,
}

impl WeightVisibility {
    /// Whether the weights are committed (binding, in the model polynomial).
    pub fn commits(self) -> bool {
        !matches!(self, WeightVisibility::Public)
    }

    /// Whether proofs are zero-knowledge.
    pub fn is_zk(self) -> bool {
        matches!(self, WeightVisibility::Hidden)
    }

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            WeightVisibility::Committed => "committed",
            WeightVisibility::Public => "public",
            WeightVisibility::Hidden => "hidden",
        }
    }
}

/// Errors of proving and verification; verification errors name the failed check.
/// Whether a proof shows its input (`public`) or keeps it private
/// (`private`: zero-knowledge proofs only; the proof shows that some input in
/// the activation range gives the public output). ezkl's `hashed` visibility
/// is not built yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InputVisibility {
    #[default]
    Public,
    Private,
}

impl InputVisibility {
    pub fn name(self) -> &'static str {
        match self {
            InputVisibility::Public => "public",
            InputVisibility::Private => "private",
        }
    }

    pub fn is_private(self) -> bool {
        self == InputVisibility::Private
    }
}

impl std::str::FromStr for InputVisibility {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(InputVisibility::Public),
            "private" => Ok(InputVisibility::Private),
            "hashed" => {
                Err("`hashed`: hashed inputs are not built yet; use `public` or `private`".into())
            }
            _ => Err(format!("`{s}`: expected `public` or `private`")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("lookup `{table:?}`: {source}")]
    Lookup {
        table: TableKind,
        source: LookupError,
    },
    #[error("node `{node}` ({op}): {reason}")]
    Op {
        node: String,
        op: &'static str,
        reason: OpError,
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
    #[error("malformed proof: {0}")]
    Decode(#[from] crate::encoding::DecodeError),
    #[error("no randomness from the operating system for blinds: {0}")]
    Randomness(String),
    /// A zero-knowledge check failed, or a proof of the other kind was given.
    #[error("zero knowledge: {0}")]
    Zk(String),
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
    /// With hidden weights: the secret GT blind of the verifying key's hiding
    /// weight commitment (`model_poly` holds the transparent commitment, from
    /// which it is `C + blind·h_T`); zero otherwise.
    pub model_blind: Fr,
}

/// A proof of one inference.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProof {
    /// The settings of the keys it was made with: hints for messages, checked
    /// against the verifying key ([`verdict`]).
    pub settings: verdict::ProofSettings,
    /// The quantized public input: every model input's values, concatenated
    /// in [`Model::inputs`] order.
    pub input: Vec<i64>,
    /// The quantized public output: every model output's values, concatenated
    /// in [`Model::outputs`] order.
    pub output: Vec<i64>,
    /// One commitment per witness chunk ([`witness_chunks`]), in order.
    pub witness_commitments: Vec<Commitment>,
    pub ops: Vec<OpMessage>,
    pub lookups: Vec<LookupProof>,
    /// Per range check ([`range::range_checks`]), its inputs at the byte
    /// lookup's point.
    pub range_inputs: Vec<Vec<Fr>>,
    pub reduction: ReductionProof,
}

/// The lookup table of each kind for a model.
pub fn table_of(kind: TableKind, model: &Model) -> Table {
    let bits = model.activation_bits;
    match kind {
        TableKind::Byte => Table::UnsignedRange {
            bits: range::LIMB_BITS,
        },
        TableKind::Tanh
        | TableKind::Sigmoid
        | TableKind::Erf
        | TableKind::Exp
        | TableKind::Gelu
        | TableKind::GeluTanh
        | TableKind::Sqrt
        | TableKind::Rsqrt
        | TableKind::Reciprocal => {
            let half = 1i64 << (bits - 1);
            let xs: Vec<i64> = (-half..half).collect();
            let ys = xs
                .iter()
                .map(|&x| {
                    ops::activation::table_value(kind, x, model.scale_bits, model.activation_bits)
                })
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
        TableKind::Byte => 0,
        _ => ops::activation::table_value(kind, 0, model.scale_bits, model.activation_bits),
    }
}

/// The witness polynomial as committed: `(vars, count)`, `count` chunks of
/// `2^vars` entries, chunk k holding the entries `k·2^vars ..` (the last one
/// zero-padded; chunks past the last block are not committed at all).
/// `vars` is [`WITNESS_CHUNK_VARS`], or the largest block's variables when
/// larger (a block lies in one chunk), or the whole polynomial's when smaller
/// (one chunk: the witness polynomial itself).
pub fn witness_chunks(witness: &BlockLayout) -> (usize, usize) {
    let largest = witness.blocks.iter().map(|b| b.2).max().unwrap_or(0);
    let vars = witness.num_vars.min(WITNESS_CHUNK_VARS.max(largest));
    let used: usize = witness.blocks.iter().map(|b| 1usize << b.2).sum();
    (vars, used.div_ceil(1 << vars).max(1))
}

/// σ of both commitments, from the block layouts of [`block_layouts`].
fn dory_sigma(witness: &BlockLayout, weights: &BlockLayout, visibility: WeightVisibility) -> usize {
    let committed = visibility.commits() && !weights.blocks.is_empty();
    let (chunk_vars, _) = witness_chunks(witness);
    if committed {
        chunk_vars.max(weights.num_vars).div_ceil(2)
    } else {
        chunk_vars.div_ceil(2)
    }
}

/// The Dory layouts of the witness and the model polynomial (one σ), from
/// their block layouts ([`block_layouts`]).
pub fn dory_layouts(
    witness: &BlockLayout,
    weights: &BlockLayout,
    visibility: WeightVisibility,
) -> (Layout, Layout) {
    let sigma = dory_sigma(witness, weights, visibility);
    let (chunk_vars, _) = witness_chunks(witness);
    (
        Layout {
            nu: chunk_vars - sigma.min(chunk_vars),
            sigma: sigma.min(chunk_vars),
        },
        dory_layout(weights, sigma.min(weights.num_vars)),
    )
}

impl VerifyingKey {
    /// The Dory layouts of each witness chunk and of the model polynomial
    /// (one σ where they allow it).
    pub fn dory_layouts(&self) -> (Layout, Layout) {
        dory_layouts(&self.witness_layout, &self.model_layout, self.visibility)
    }

    /// `(vars, count)` of the witness chunks ([`witness_chunks`]).
    pub fn witness_chunks(&self) -> (usize, usize) {
        witness_chunks(&self.witness_layout)
    }

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

/// The witness and model block layouts as committed. Both polynomials (the
/// model's only with committed weights) get one column count `2^σ`, σ = ⌈n/2⌉ for
/// the larger one's n variables, and a polynomial smaller than one row is raised
/// to σ variables: the reduction then opens both with a single Dory proof.
pub fn block_layouts(model: &Model, visibility: WeightVisibility) -> (BlockLayout, BlockLayout) {
    let mut witness = layout::witness_layout(model, |k| table_of(k, model).num_vars());
    let mut weights = layout::model_layout(model);
    let committed = visibility.commits() && !weights.blocks.is_empty();
    let largest = if committed {
        witness.num_vars.max(weights.num_vars)
    } else {
        witness.num_vars
    };
    let sigma = largest.div_ceil(2);
    witness.num_vars = witness.num_vars.max(sigma);
    if committed {
        weights.num_vars = weights.num_vars.max(sigma);
    }
    (witness, weights)
}

/// The Dory layout of a block layout's polynomial with `2^sigma` columns.
fn dory_layout(blocks: &BlockLayout, sigma: usize) -> Layout {
    Layout {
        nu: blocks.num_vars - sigma,
        sigma,
    }
}

/// The model a key of `visibility` proves: with hidden weights, `model` with
/// a range-checked identity after each input
/// ([`crate::ops::input_range::bound_inputs`]), so that a proof may keep its
/// input private; otherwise `model` itself. The key cache compares a stored
/// key's model with this.
pub fn key_model(model: &Model, visibility: WeightVisibility) -> std::borrow::Cow<'_, Model> {
    if visibility.is_zk() {
        std::borrow::Cow::Owned(crate::ops::input_range::bound_inputs(model))
    } else {
        std::borrow::Cow::Borrowed(model)
    }
}

/// The log2 generator count a model needs (its commitments' σ), at least 1.
pub fn required_generators(model: &Model) -> usize {
    let (witness, weights) = block_layouts(model, WeightVisibility::Committed);
    witness.num_vars.max(weights.num_vars).div_ceil(2).max(1)
}

/// The model polynomial's values: every weight, padded, in its block.
pub fn model_poly_values(model: &Model, model_layout: &BlockLayout) -> Vec<i64> {
    model_layout.assemble(|slot| match slot {
        Slot::Tensor(t) => match &model.tensors[t].kind {
            TensorKind::Weight { values } => crate::layout::pad(values, &model.tensors[t].shape),
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
    if visibility.is_zk() {
        crate::zk::model::check_supported(&model)?;
    }
    let model = key_model(&model, visibility).into_owned();
    let range_sets = range::range_checks(&model).len();
    if range_sets > crate::encoding::MAX_QUERY_SETS {
        return Err(ProofError::Shape(format!(
            "{range_sets} range-checked nodes; a proof holds at most {} lookup query sets per table",
            crate::encoding::MAX_QUERY_SETS
        )));
    }
    let (_, chunks) = witness_chunks(&block_layouts(&model, visibility).0);
    if chunks > encode::MAX_WITNESS_CHUNKS {
        return Err(ProofError::Shape(format!(
            "a witness of {chunks} chunks of 2^{WITNESS_CHUNK_VARS} entries; a proof holds at most {}",
            encode::MAX_WITNESS_CHUNKS
        )));
    }
    let needed = required_generators(&model);
    if setup.log_generators < needed {
        return Err(PcsError::SetupTooSmall {
            needed_log: needed,
            have: setup.g1_affine.len(),
        }
        .into());
    }
    let model_poly = commit_model(backend, &model, visibility, &setup)?;
    let model_blind = if visibility.is_zk() {
        use crate::zk::BlindSource;
        crate::zk::OsBlinds::new()
            .map_err(|e| ProofError::Randomness(e.to_string()))?
            .blind()
    } else {
        Fr::from(0u64)
    };
    Ok(assemble_keys(
        model,
        visibility,
        setup,
        model_poly,
        model_blind,
    ))
}

/// The model polynomial of `model`'s weights and its Dory commitment (with the
/// row commitments the prover reuses), or `None` when nothing is committed
/// (public weights, or a model without weights). Deterministic: the same
/// weights and setup always give the same commitment, which is how a key
/// file's commitment is checked against the model it claims to be for.
pub fn commit_model<B: Backend + ?Sized>(
    backend: &B,
    model: &Model,
    visibility: WeightVisibility,
    setup: &DorySetup,
) -> Result<Option<(MultilinearPoly, Commitment, CommitmentHint)>, ProofError> {
    let _span = tracing::info_span!("commit_model").entered();
    let (witness_layout, model_layout) = block_layouts(model, visibility);
    if !visibility.commits() || model_layout.blocks.is_empty() {
        return Ok(None);
    }
    let poly = MultilinearPoly::from_small(model_poly_values(model, &model_layout))?;
    let layout = dory_layouts(&witness_layout, &model_layout, visibility).1;
    let (c, h) = pcs::commit(backend, &poly, layout, setup)?;
    Ok(Some((poly, c, h)))
}

/// Puts keys together from a model, its setup and (committed and hidden
/// weights) its committed model polynomial; with hidden weights the verifying
/// key's commitment is the hiding `C + model_blind·h_T`.
pub fn assemble_keys(
    model: Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    model_poly: Option<(MultilinearPoly, Commitment, CommitmentHint)>,
    model_blind: Fr,
) -> ProvingKey {
    let (witness_layout, model_layout) = block_layouts(&model, visibility);
    let model_blind = if visibility.is_zk() {
        model_blind
    } else {
        Fr::from(0u64)
    };
    let commitment = model_poly
        .as_ref()
        .map(|(_, c, _)| crate::pcs::hiding::hide(c, model_blind, &setup));
    let vk_model = match visibility {
        WeightVisibility::Committed | WeightVisibility::Hidden => without_weights(&model),
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
        model_blind,
    }
}

/// A proof's witness commitments must be one per chunk of the key's
/// witness ([`witness_chunks`]), checked before they are absorbed.
pub(crate) fn check_witness_chunks(
    vk: &VerifyingKey,
    commitments: &[Commitment],
) -> Result<(), ProofError> {
    let (_, chunk_count) = vk.witness_chunks();
    if commitments.len() != chunk_count {
        return Err(ProofError::Shape(format!(
            "{} witness commitments, the key's witness has {chunk_count} chunks",
            commitments.len()
        )));
    }
    Ok(())
}

pub(crate) fn absorb_statement(
    t: &mut ProofTranscript,
    vk: &VerifyingKey,
    input: &[i64],
    output: &[i64],
    witness: &[Commitment],
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
    t.append_u64(b"witness_chunks", witness.len() as u64);
    for c in witness {
        t.append_point(b"witness_commitment", &c.0 .0);
    }
}

/// MLE of a public tensor's padded values at `point` (the caller checks that
/// `point` has [`crate::layout::num_vars`] of `shape` coordinates).
///
/// The padded hypercube is never materialised: `eq(point, x)` factors over the
/// dimensions, so each value's weight is a product of one entry per dimension
/// from small per-dimension tables (only the `shape[d]` real coordinates of
/// each). Memory is `O(Σ shape[d])` and time `O(values · rank)`, whatever the
/// padding: a shape like `[3; 15]` (2^30 padded entries) costs what its 3^15
/// values cost. This is what keeps the verifier's memory proportional to the
/// bytes of the key and proof it is given.
pub fn public_mle(values: &[i64], shape: &[usize], point: &[Fr]) -> Fr {
    let ranges = crate::layout::dim_ranges(shape);
    // Coordinates beyond `values.len()` cannot occur when `values` fills
    // `shape` (every dimension is at most the product); capping the tables
    // keeps a mismatched call from allocating by the shape alone.
    let tables: Vec<Vec<Fr>> = shape
        .iter()
        .zip(&ranges)
        .map(|(&len, range)| {
            let vars = &point[range.clone()];
            (0..len.min(values.len()))
                .map(|c| {
                    vars.iter()
                        .enumerate()
                        .map(|(bit, &x)| {
                            if c >> bit & 1 == 1 {
                                x
                            } else {
                                Fr::from(1u64) - x
                            }
                        })
                        .product()
                })
                .collect()
        })
        .collect();
    let mut total = Fr::from(0u64);
    for (i, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let mut rest = i;
        let mut weight = small_to_field(v);
        for d in (0..shape.len()).rev() {
            weight *= tables[d]
                .get(rest % shape[d])
                .copied()
                .unwrap_or(Fr::from(0u64));
            rest /= shape[d];
        }
        total += weight;
    }
    total
}

/// A function table's query sets: (node index, slots of the input and output
/// columns). The byte table's sets are the range checks ([`range`]).
pub(crate) fn lookup_sets(model: &Model, kind: TableKind) -> Vec<(usize, Vec<Slot>)> {
    model
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| ops::protocol(&node.op).table() == Some(kind))
        .map(|(n, node)| {
            (
                n,
                vec![Slot::Tensor(node.inputs[0]), Slot::Tensor(node.output)],
            )
        })
        .collect()
}

/// The number of variables of each query set of a table.
pub(crate) fn query_vars(
    model: &Model,
    kind: TableKind,
    checks: &[range::RangeCheck],
) -> Vec<usize> {
    match kind {
        TableKind::Byte => checks.iter().map(|c| c.query_vars()).collect(),
        _ => lookup_sets(model, kind)
            .iter()
            .map(|(n, _)| crate::layout::num_vars(&model.tensors[model.nodes[*n].output].shape))
            .collect(),
    }
}

/// What the prover derives from a witness before committing: the public
/// output, the range checks' limbs and query columns, and every lookup's
/// query sets and multiplicities (shared by the transparent and the
/// zero-knowledge prover).
pub(crate) struct Prepared {
    pub output: Vec<i64>,
    pub checks: Vec<range::RangeCheck>,
    pub limbs: std::collections::BTreeMap<Slot, Vec<i64>>,
    pub tables: Vec<TableKind>,
    pub multiplicities: Vec<Vec<u64>>,
    pub query_sets: Vec<Vec<Vec<Vec<i64>>>>,
}

pub(crate) fn prepare(model: &Model, witness: &Witness) -> Result<Prepared, ProofError> {
    let output = model.output_values(witness);

    // Range checks: committed limbs and the byte table's query columns.
    let checks = range::range_checks(model);
    let mut limbs = std::collections::BTreeMap::new();
    let mut range_columns = Vec::with_capacity(checks.len());
    for check in &checks {
        let node = &model.nodes[check.node];
        let failed = |reason| ProofError::Op {
            node: node.name.clone(),
            op: node.op.name(),
            reason: OpError::Witness(reason),
        };
        limbs.extend(check.limb_values(model, witness).map_err(failed)?);
        range_columns.push(check.query_column(model, witness).map_err(failed)?);
    }

    // Lookup queries and multiplicities.
    let tables = layout::tables_used(model);
    let mut multiplicities = Vec::with_capacity(tables.len());
    let mut query_sets: Vec<Vec<Vec<Vec<i64>>>> = Vec::with_capacity(tables.len());
    for &kind in &tables {
        let shift = padding_output(kind, model);
        let sets: Vec<Vec<Vec<i64>>> = if kind == TableKind::Byte {
            range_columns.iter().map(|c| vec![c.clone()]).collect()
        } else {
            lookup_sets(model, kind)
                .into_iter()
                .map(|(n, slots)| {
                    let valid = crate::layout::pad(
                        &vec![1; model.tensors[model.nodes[n].output].len()],
                        &model.tensors[model.nodes[n].output].shape,
                    );
                    slots
                        .iter()
                        .enumerate()
                        .map(|(c, &slot)| {
                            let mut v = crate::layout::padded_slot(model, witness, slot)
                                .expect("tensor slot");
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
                .collect()
        };
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

    Ok(Prepared {
        output,
        checks,
        limbs,
        tables,
        multiplicities,
        query_sets,
    })
}

/// The witness polynomial's values: every slot of the witness layout.
pub(crate) fn witness_values(
    vk: &VerifyingKey,
    ctx: &ops::ProverContext<'_>,
    tables: &[TableKind],
    multiplicities: &[Vec<u64>],
) -> Vec<i64> {
    vk.witness_layout.assemble(|slot| match slot {
        Slot::Multiplicity(kind) => {
            let i = tables
                .iter()
                .position(|&k| k == kind)
                .expect("table in use");
            multiplicities[i].iter().map(|&m| m as i64).collect()
        }
        _ => ctx.padded_values(slot),
    })
}

/// A query set's columns as field elements.
pub(crate) fn sets_to_field(sets: &[Vec<Vec<i64>>]) -> Vec<Vec<Vec<Fr>>> {
    sets.iter()
        .map(|set| {
            set.iter()
                .map(|c| c.iter().map(|&v| small_to_field(v)).collect())
                .collect()
        })
        .collect()
}

/// [`prove`] on the backend [`crate::backend::registry::select`] chose (the
/// CLI's and the Python package's `device` choice).
pub fn prove_on(
    selected: &crate::backend::registry::SelectedBackend,
    pk: &ProvingKey,
    input: &[i64],
) -> Result<ModelProof, ProofError> {
    use crate::backend::registry::SelectedBackend;
    match selected {
        SelectedBackend::Cpu(_) => prove(crate::backend::CpuBackend::global(), pk, input),
        #[cfg(feature = "icicle")]
        SelectedBackend::Icicle(_) => prove(
            <crate::backend::icicle::IcicleBackend as GlobalBackend>::global(),
            pk,
            input,
        ),
        #[cfg(feature = "wgpu")]
        SelectedBackend::Wgpu(_) => prove(
            <crate::backend::wgpu::WgpuBackend as GlobalBackend>::global(),
            pk,
            input,
        ),
    }
}

/// Proves one inference of the key's model on a quantized input.
///
/// The backend is passed as [`preprocess`] takes it. Dory's opening calls
/// its group routines as static functions, so they reach the backend through
/// `B::global()`: `backend` must be that instance (every backend type has
/// exactly one per process).
pub fn prove<B: GlobalBackend>(
    backend: &B,
    pk: &ProvingKey,
    input: &[i64],
) -> Result<ModelProof, ProofError> {
    let _span = tracing::info_span!("prove").entered();
    let witness: Witness = {
        let _span = tracing::info_span!("witness").entered();
        pk.model.execute(input)?
    };
    prove_witness(backend, pk, input, &witness)
}

/// Proves a given witness of the key's model (what [`prove`] does after
/// integer inference). The witness is not checked against integer execution:
/// that is the verifier's job, and adversarial tests use this entry point to
/// forge proofs of witnesses execution would refuse. Its tensors and
/// remainders must have the model's sizes.
pub fn prove_witness<B: GlobalBackend>(
    backend: &B,
    pk: &ProvingKey,
    input: &[i64],
    witness: &Witness,
) -> Result<ModelProof, ProofError> {
    debug_assert!(
        std::ptr::eq(backend, B::global()),
        "the backend is its type's process-wide instance"
    );
    let model = &pk.model;
    let vk = &pk.vk;
    if vk.visibility.is_zk() {
        return Err(ProofError::Zk(
            "these keys hide the weights: their proofs are made by the zero-knowledge prover (zk::model::prove)".into(),
        ));
    }
    if input.len() != model.input_len() {
        return Err(ProofError::Shape(format!(
            "input has {} values, the model expects {}",
            input.len(),
            model.input_len()
        )));
    }
    let Prepared {
        output,
        checks,
        limbs,
        tables,
        multiplicities,
        query_sets,
    } = prepare(model, witness)?;

    // Commit the witness.
    let ctx = ops::ProverContext {
        backend,
        model,
        witness,
        limbs: &limbs,
    };
    let mut witness_values = witness_values(vk, &ctx, &tables, &multiplicities);
    let (chunk_vars, chunk_count) = vk.witness_chunks();
    witness_values.truncate(chunk_count << chunk_vars);
    let witness_polys = witness_values
        .chunks(1 << chunk_vars)
        .map(|chunk| MultilinearPoly::from_small(chunk.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    drop(witness_values);
    let witness_layout = vk.dory_layouts().0;
    let committed = {
        let _span = tracing::info_span!("commit").entered();
        witness_polys
            .iter()
            .map(|poly| pcs::commit(backend, poly, witness_layout, &pk.setup))
            .collect::<Result<Vec<_>, _>>()?
    };
    let witness_commitments: Vec<Commitment> = committed.iter().map(|(c, _)| *c).collect();

    let mut t = ProofTranscript::new(b"zkinfer/model-proof");
    absorb_statement(&mut t, vk, input, &output, &witness_commitments);

    // Per-op proofs.
    let mut claims: Vec<SlotClaim> = Vec::new();
    let op_proofs = {
        let _span = tracing::info_span!("operator_proofs").entered();
        let mut proofs = Vec::with_capacity(model.nodes.len());
        for (n, node) in model.nodes.iter().enumerate() {
            let proof = ops::protocol(&node.op)
                .prove(&ctx, n, &mut t, &mut claims)
                .map_err(|reason| ProofError::Op {
                    node: node.name.clone(),
                    op: node.op.name(),
                    reason,
                })?;
            proofs.push(proof);
        }
        proofs
    };

    // Lookups.
    let mut range_inputs = Vec::new();
    let lookups = {
        let _span = tracing::info_span!("lookups").entered();
        let mut proofs = Vec::with_capacity(tables.len());
        for (i, &kind) in tables.iter().enumerate() {
            let table = table_of(kind, model);
            let sets_field = sets_to_field(&query_sets[i]);
            let (proof, lookup_claims) =
                lookup::prove(backend, &mut t, &table, &sets_field, &multiplicities[i]).map_err(
                    |source| ProofError::Lookup {
                        table: kind,
                        source,
                    },
                )?;
            if kind == TableKind::Byte {
                range_inputs = evaluate_range_inputs(&ctx, &checks, &lookup_claims)?;
            }
            route_lookup_claims(
                model,
                kind,
                &checks,
                &lookup_claims,
                &range_inputs,
                &mut t,
                &mut claims,
            )?;
            proofs.push(proof);
        }
        proofs
    };

    bind_public(model, &mut t, input, &output, &mut claims);

    // Openings.
    let reduction = {
        let _span = tracing::info_span!("opening").entered();
        let (witness_claims, model_claims) = route(vk, &claims)?;
        let mut polys: Vec<ProverPoly> = witness_polys
            .iter()
            .zip(&committed)
            .map(|(poly, (commitment, hint))| ProverPoly {
                poly,
                commitment,
                hint,
            })
            .collect();
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
        settings: verdict::ProofSettings::of(vk),
        input: input.to_vec(),
        output,
        witness_commitments,
        ops: op_proofs,
        lookups,
        range_inputs,
        reduction,
    })
}

/// The prover's values of every range check's inputs at its lookup point.
fn evaluate_range_inputs(
    ctx: &ops::ProverContext<'_>,
    checks: &[range::RangeCheck],
    lookup_claims: &lookup::LookupClaims,
) -> Result<Vec<Vec<Fr>>, ProofError> {
    checks
        .iter()
        .zip(&lookup_claims.query_points)
        .map(|(check, point)| {
            let eq = ctx
                .backend
                .eq_table(&point[..check.vars])
                .map_err(PcsError::from)?;
            check
                .inputs()
                .into_iter()
                .map(|slot| {
                    Ok(ctx
                        .backend
                        .inner_product(&eq, &ctx.padded_field(slot))
                        .map_err(PcsError::from)?)
                })
                .collect()
        })
        .collect()
}

/// Adds lookup leftovers as slot claims: for the byte table, each range check's
/// inputs at its point after checking that they recombine to the lookup's claim
/// (and absorbing them); for function tables, the columns (output columns
/// shifted back).
fn route_lookup_claims(
    model: &Model,
    kind: TableKind,
    checks: &[range::RangeCheck],
    claims_in: &lookup::LookupClaims,
    range_inputs: &[Vec<Fr>],
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), ProofError> {
    claims.push(SlotClaim {
        slot: Slot::Multiplicity(kind),
        point: claims_in.multiplicity_point.clone(),
        value: claims_in.multiplicity_value,
    });
    if kind == TableKind::Byte {
        if range_inputs.len() != checks.len() || claims_in.query_points.len() != checks.len() {
            return Err(ProofError::Shape(format!(
                "{} range checks with opened values for {}",
                checks.len(),
                range_inputs.len()
            )));
        }
        for ((check, values), (point, query)) in checks
            .iter()
            .zip(range_inputs)
            .zip(claims_in.query_points.iter().zip(&claims_in.query_values))
        {
            let node = &model.nodes[check.node];
            let failed = |reason| ProofError::Op {
                node: node.name.clone(),
                op: node.op.name(),
                reason,
            };
            let inputs = check.inputs();
            if values.len() != inputs.len() || point.len() != check.query_vars() {
                return Err(failed(OpError::Message(
                    "range check: wrong number of opened values".into(),
                )));
            }
            let (r, s) = point.split_at(check.vars);
            if check.combine(&check.blocks_at(values), s) != query[0] {
                return Err(failed(OpError::Check(
                    "range-check limbs do not recombine to the byte lookup's claim",
                )));
            }
            for (slot, value) in inputs.into_iter().zip(values) {
                t.append_scalar(b"range/input", value);
                claims.push(SlotClaim {
                    slot,
                    point: r.to_vec(),
                    value: *value,
                });
            }
        }
        return Ok(());
    }
    let shift = small_to_field(padding_output(kind, model));
    for (k, (n, slots)) in lookup_sets(model, kind).into_iter().enumerate() {
        let point = &claims_in.query_points[k];
        for (c, slot) in slots.into_iter().enumerate() {
            let mut value = claims_in.query_values[k][c];
            if c == 1 && shift != Fr::from(0u64) {
                let shape = &model.tensors[model.nodes[n].output].shape;
                value -= shift * (Fr::from(1u64) - crate::layout::valid_mle(shape, point));
            }
            claims.push(SlotClaim {
                slot,
                point: point.clone(),
                value,
            });
        }
    }
    Ok(())
}

/// Random-point claims binding each committed input and output tensor to its
/// part of the public input and output (whose lengths the caller checked).
fn bind_public(
    model: &Model,
    t: &mut ProofTranscript,
    input: &[i64],
    output: &[i64],
    claims: &mut Vec<SlotClaim>,
) {
    let inputs = model.split(&model.inputs, input).expect("checked length");
    let outputs = model.split(&model.outputs, output).expect("checked length");
    let tensors = model.inputs.iter().chain(&model.outputs);
    for (&tensor, values) in tensors.zip(inputs.into_iter().chain(outputs)) {
        let shape = &model.tensors[tensor].shape;
        let point = t.challenges(b"public_point", crate::layout::num_vars(shape));
        claims.push(SlotClaim {
            slot: Slot::Tensor(tensor),
            value: public_mle(values, shape, &point),
            point,
        });
    }
}

/// Splits slot claims into witness-chunk and model-polynomial claims (the
/// chunks are polynomials `0..count`, the model's is `count`): a block lies in
/// one chunk, so its claim's point in the witness polynomial ends in that
/// chunk's index bits, and the rest is the chunk's point. With public weights,
/// weight claims are checked here against the key's weights.
fn route(vk: &VerifyingKey, claims: &[SlotClaim]) -> Result<(Vec<Claim>, Vec<Claim>), ProofError> {
    let (chunk_vars, chunk_count) = vk.witness_chunks();
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
                    if claim.point.len() != crate::layout::num_vars(&tensor.shape)
                        || public_mle(values, &tensor.shape, &claim.point) != claim.value
                    {
                        return Err(ProofError::PublicWeight {
                            tensor: tensor.name.clone(),
                        });
                    }
                }
                WeightVisibility::Committed | WeightVisibility::Hidden => {
                    let point =
                        vk.model_layout
                            .point(claim.slot, &claim.point)
                            .ok_or_else(|| {
                                ProofError::Shape(format!(
                                    "claim on weight {t} has a point of the wrong size"
                                ))
                            })?;
                    model.push(Claim {
                        poly: chunk_count,
                        point,
                        value: claim.value,
                    });
                }
            }
        } else {
            let mut point = vk
                .witness_layout
                .point(claim.slot, &claim.point)
                .ok_or_else(|| {
                    ProofError::Shape(format!(
                        "claim on {:?} has a point of the wrong size",
                        claim.slot
                    ))
                })?;
            let (offset, _) = vk
                .witness_layout
                .find(claim.slot)
                .expect("point found the slot");
            point.truncate(chunk_vars);
            witness.push(Claim {
                poly: offset >> chunk_vars,
                point,
                value: claim.value,
            });
        }
    }
    Ok((witness, model))
}

/// The checks on a proof's statement and shape that come before its
/// transcript (transparent and zero-knowledge alike): the public input is the
/// one given, public values are in range, and there is a message per node and
/// a lookup per table; returns the tables.
pub(crate) fn check_statement(
    model: &Model,
    input: &[i64],
    proof_input: &[i64],
    output: &[i64],
    private_input: bool,
    ops: usize,
    lookups: usize,
) -> Result<Vec<TableKind>, ProofError> {
    if proof_input != input {
        return Err(ProofError::InputMismatch);
    }
    // A private input is no part of the statement (the zero-knowledge proof
    // range-checks it); a public one has the model's length.
    if !private_input && input.len() != model.input_len() {
        return Err(ProofError::Shape(format!(
            "input has {} values, the model expects {}",
            input.len(),
            model.input_len()
        )));
    }
    if output.len() != model.output_len() {
        return Err(ProofError::Shape(format!(
            "output has {} values, the model produces {}",
            output.len(),
            model.output_len()
        )));
    }
    let range = model.activation_range();
    if let Some(v) = input.iter().chain(output).find(|v| !range.contains(v)) {
        return Err(ProofError::Shape(format!(
            "public value {v} is outside the activation range [{}, {})",
            range.start, range.end
        )));
    }
    if ops != model.nodes.len() {
        return Err(ProofError::Shape(format!(
            "{} operator proofs for {} nodes",
            ops,
            model.nodes.len()
        )));
    }
    let tables = layout::tables_used(model);
    if lookups != tables.len() {
        return Err(ProofError::Shape(format!(
            "{} lookup proofs for {} tables",
            lookups,
            tables.len()
        )));
    }
    Ok(tables)
}

/// Verifies a proof decoded by [`ModelProof::from_bytes_deferred`]: its GT
/// subgroup checks run in parallel with [`verify`], and the proof is accepted
/// only if both pass (the verifier only does group arithmetic on the elements
/// meanwhile, which are already known to lie in the cyclotomic subgroup).
pub fn verify_with_checks(
    vk: &VerifyingKey,
    input: &[i64],
    proof: &ModelProof,
    checks: crate::encoding::DeferredChecks,
) -> Result<(), ProofError> {
    let (membership, verdict) = rayon::join(|| checks.run(), || verify(vk, input, proof));
    membership?;
    verdict
}

/// Verifies a proof against a verifying key and the public input.
pub fn verify(vk: &VerifyingKey, input: &[i64], proof: &ModelProof) -> Result<(), ProofError> {
    let _span = tracing::info_span!("verify").entered();
    let model = &vk.model;
    if vk.visibility.is_zk() {
        return Err(ProofError::Zk(
            "a transparent proof for a key with hidden weights".into(),
        ));
    }
    let tables = check_statement(
        model,
        input,
        &proof.input,
        &proof.output,
        false,
        proof.ops.len(),
        proof.lookups.len(),
    )?;
    check_witness_chunks(vk, &proof.witness_commitments)?;
    let mut t = ProofTranscript::new(b"zkinfer/model-proof");
    absorb_statement(&mut t, vk, input, &proof.output, &proof.witness_commitments);

    let mut claims: Vec<SlotClaim> = Vec::new();
    for (n, (node, op_proof)) in model.nodes.iter().zip(&proof.ops).enumerate() {
        let _span = tracing::debug_span!("verify_operators").entered();
        ops::protocol(&node.op)
            .verify(
                model,
                ops::PublicInput { values: input },
                n,
                op_proof,
                &mut t,
                &mut claims,
            )
            .map_err(|reason| ProofError::Op {
                node: node.name.clone(),
                op: node.op.name(),
                reason,
            })?;
    }
    let checks = range::range_checks(model);
    if !tables.contains(&TableKind::Byte) && !proof.range_inputs.is_empty() {
        return Err(ProofError::Shape(
            "range-check values without range checks".into(),
        ));
    }
    for (&kind, lookup_proof) in tables.iter().zip(&proof.lookups) {
        let _span = tracing::debug_span!("verify_lookups").entered();
        let table = table_of(kind, model);
        let vars = query_vars(model, kind, &checks);
        let lookup_claims =
            lookup::verify(&mut t, &table, &vars, lookup_proof).map_err(|source| {
                ProofError::Lookup {
                    table: kind,
                    source,
                }
            })?;
        route_lookup_claims(
            model,
            kind,
            &checks,
            &lookup_claims,
            &proof.range_inputs,
            &mut t,
            &mut claims,
        )?;
    }
    bind_public(model, &mut t, input, &proof.output, &mut claims);

    let _opening_span = tracing::debug_span!("verify_opening").entered();
    let (witness_claims, model_claims) = route(vk, &claims)?;
    let (witness_dory, model_dory) = vk.dory_layouts();
    let mut polys: Vec<VerifierPoly> = proof
        .witness_commitments
        .iter()
        .map(|&commitment| VerifierPoly {
            commitment,
            layout: witness_dory,
        })
        .collect();
    let mut all = witness_claims;
    if let Some(c) = vk.model_commitment {
        polys.push(VerifierPoly {
            commitment: c,
            layout: model_dory,
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
