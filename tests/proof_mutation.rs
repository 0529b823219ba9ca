//! Structured mutation tests (issue #12): every field of a valid proof, and
//! every field of a verifying key, is changed alone and the verifier must reject
//! the result, naming the check that caught it.
//!
//! # Proofs
//! [`walk`] visits every value a [`ModelProof`] carries, in encoding order, with
//! a path and the check that must catch a change to it ([`Site`]): every public
//! input and output entry, the witness commitment, every operator message value
//! and sumcheck round coefficient, every lookup root, GKR layer coefficient and
//! child value, every query value, every range-check value, the reduction's
//! sumcheck coefficients and values, and every GT/G1/G2 element (and ν, σ) of
//! each Dory opening. A mutation is applied through the same walk (field
//! number i), then the proof is re-encoded and decoded (the mutated field must
//! survive the round trip) and verified.
//!
//! That the walk misses nothing is established on the encoding:
//! `Σ encoded width of the visited fields + framing bytes == to_bytes().len()`,
//! where the framing (magic, version, length prefixes, tags) is computed from
//! the proof's shape ([`framing_bytes`]); and every visited field's mutation
//! changes the encoding first at a distinct byte offset (no field is visited
//! twice, no two visits alias).
//!
//! Fiat–Shamir makes the expected check precise: a value is caught by the first
//! check after it that depends on it or on a challenge drawn after it. Values
//! that feed a local check (sumcheck final values, GKR layers, lookup roots,
//! query leaves, range-check recombinations, the reduction) are caught there;
//! values that only enter the transcript and later claims (the public output,
//! the witness commitment, Add/Sub operand values) are caught by the first
//! later check that uses fresh challenges ([`first_detecting_check`]).
//!
//! # Verifying keys
//! Every field of a [`VerifyingKey`] (model name, quantization parameters,
//! each tensor's name, shape dimensions, kind and — public weights — values,
//! each node's name, op, inputs and output, the model's input and output ids,
//! visibility, both block layouts, the weight commitment, every Dory verifier
//! setup element, the seed digest, the setup size and the digest) is changed
//! alone; the key is written with `vk_to_bytes` and read back with
//! `vk_from_bytes`, which must refuse it with a named reason, or the loaded key
//! must reject the valid proof (its digest, which covers everything but the Dory
//! setup, is the transcript's first message). Every Dory setup element must be
//! refused on load, read by the opening or not: a key over the public seed
//! carries exactly the pinned values (`src/pcs/setup_levels.txt`).
//!
//! # Shapes
//! Every sequence of the proof (sumcheck rounds and coefficients, GKR layers,
//! query sets and values, range checks, reduction values and openings, Dory
//! messages) one element longer or shorter, the bias present/absent and each
//! operator message replaced by another kind must be rejected, as a structure
//! and as a file, without a panic.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{AffineRepr, PrimeGroup};
use dory_pcs::backends::arkworks::{ArkG1, ArkG2, ArkGT};
use zkinfer::backend::CpuBackend;
use zkinfer::keys;
use zkinfer::layout::{num_vars, BlockLayout, Slot, TableKind};
use zkinfer::lookup::LookupProof;
use zkinfer::model::{Model, Op, TensorKind};
use zkinfer::ops::range::range_checks;
use zkinfer::ops::OpMessage;
use zkinfer::pcs::reduction::ReductionError;
use zkinfer::pcs::{self, DorySetup};
use zkinfer::proof::layout::tables_used;
use zkinfer::proof::verdict::{self, ProofSettings, SETTINGS_LEN};
use zkinfer::proof::{self, ModelProof, ProofError, ProvingKey, VerifyingKey, WeightVisibility};
use zkinfer::sumcheck::SumcheckProof;

use crate::common::every_op_model_with;

// ---------------------------------------------------------------------------
// Fixtures.

fn setup(log: usize) -> Arc<DorySetup> {
    static SETUPS: OnceLock<std::sync::Mutex<BTreeMap<usize, Arc<DorySetup>>>> = OnceLock::new();
    let mut map = SETUPS.get_or_init(Default::default).lock().unwrap();
    map.entry(log)
        .or_insert_with(|| {
            let dir = std::env::temp_dir().join("zkinfer-test-cache");
            Arc::new(DorySetup::load_or_derive(pcs::setup::DEFAULT_SEED, log, &dir).unwrap())
        })
        .clone()
}

fn keys_for(model: Model, visibility: WeightVisibility) -> ProvingKey {
    let log = proof::required_generators(&model).max(10);
    proof::preprocess(CpuBackend::global(), model, visibility, setup(log)).unwrap()
}

fn shipped(name: &str) -> (Model, Vec<i64>) {
    use zkinfer::onnx::{import, ImportOptions};
    use zkinfer::quant::{quantize_input, read_input_json};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name);
    let options = ImportOptions::default();
    let imported = import(&dir.join("network.onnx"), &options).unwrap();
    let input = read_input_json(&dir.join("input.json")).unwrap();
    let input = quantize_input(&input, imported.model.scale_bits);
    (imported.model, input)
}

/// Every op (as in tests/model_proof.rs): Gemm with bias, ReLU, Mul, Add
/// (broadcast), Sub, Tanh, Sigmoid; 12-bit activations keep the function
/// tables small.
fn every_op_model() -> Model {
    every_op_model_with(6, 12)
}

/// A model, its keys in one visibility, an input and a valid proof.
struct Case {
    name: &'static str,
    pk: ProvingKey,
    input: Vec<i64>,
    proof: ModelProof,
}

fn case(name: &'static str, model: Model, input: Vec<i64>, vis: WeightVisibility) -> Case {
    let pk = keys_for(model, vis);
    let proof = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    proof::verify(&pk.vk, &input, &proof).unwrap();
    Case {
        name,
        pk,
        input,
        proof,
    }
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let (auth, auth_input) = shipped("authorization");
        let (asm, asm_input) = shipped("addsubmul0");
        vec![
            case(
                "authorization/committed",
                auth,
                auth_input,
                WeightVisibility::Committed,
            ),
            case(
                "addsubmul0/public",
                asm,
                asm_input,
                WeightVisibility::Public,
            ),
            case(
                "every-op/public",
                every_op_model(),
                vec![100, -50, 25, 300, -7],
                WeightVisibility::Public,
            ),
        ]
    })
}

// ---------------------------------------------------------------------------
// The structured walk over a proof.

/// Where a value sits, which fixes the check that must catch a change to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Input,
    Output,
    WitnessCommitment,
    /// A value of node `node`'s message; `local`: caught by the node's own
    /// final check (MatMul, Mul, Relu), else only by later checks (Add/Sub).
    Op {
        node: usize,
        local: bool,
    },
    LookupRoot {
        lookup: usize,
    },
    LookupLayer {
        lookup: usize,
        layer: usize,
    },
    QueryValue {
        lookup: usize,
    },
    RangeInput {
        check: usize,
    },
    Reduction,
    Opening {
        group: usize,
    },
}

/// A mutable reference to one value of a proof.
enum Elem<'a> {
    Int(&'a mut i64),
    Fr(&'a mut Fr),
    G1(&'a mut ArkG1),
    G2(&'a mut ArkG2),
    Gt(&'a mut ArkGT),
    /// ν or σ of a Dory opening (one byte each in the encoding).
    Small(&'a mut usize),
}

impl Elem<'_> {
    /// Bytes the value takes in the proof file.
    fn width(&self) -> usize {
        match self {
            Elem::Int(_) => 8,
            Elem::Fr(_) | Elem::G1(_) => 32,
            Elem::G2(_) => 64,
            Elem::Gt(_) => 384,
            Elem::Small(_) => 1,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Elem::Int(_) => "int",
            Elem::Fr(_) => "Fr",
            Elem::G1(_) => "G1",
            Elem::G2(_) => "G2",
            Elem::Gt(_) => "GT",
            Elem::Small(_) => "u8",
        }
    }

    /// Changes the value to another valid one: ±1 for integers (toward zero, so
    /// a public value stays within the activation bound), +1 for field
    /// elements, plus the group's generator for group elements.
    fn mutate(self) {
        match self {
            Elem::Int(x) => *x = if *x > 0 { *x - 1 } else { *x + 1 },
            Elem::Fr(x) => *x += Fr::from(1u64),
            Elem::G1(p) => p.0 += G1Projective::generator(),
            Elem::G2(p) => p.0 += G2Projective::generator(),
            Elem::Gt(g) => g.0 += gt_generator(),
            Elem::Small(v) => *v += 1,
        }
    }
}

fn gt_generator() -> PairingOutput<Bn254> {
    Bn254::pairing(G1Affine::generator(), G2Affine::generator())
}

type Visitor<'v> = dyn FnMut(&dyn Fn() -> String, Site, Elem<'_>) + 'v;

fn walk_sumcheck(s: &mut SumcheckProof, what: &dyn Fn() -> String, site: Site, v: &mut Visitor) {
    for (j, round) in s.rounds.iter_mut().enumerate() {
        for (c, x) in round.0.iter_mut().enumerate() {
            v(&|| format!("{}.round[{j}][{c}]", what()), site, Elem::Fr(x));
        }
    }
}

fn walk_lookup(l: &mut LookupProof, lookup: usize, v: &mut Visitor) {
    let name = || format!("lookups[{lookup}]");
    for (k, root) in l.roots.iter_mut().enumerate() {
        for (i, x) in root.iter_mut().enumerate() {
            v(
                &|| format!("{}.roots[{k}][{i}]", name()),
                Site::LookupRoot { lookup },
                Elem::Fr(x),
            );
        }
    }
    for (layer, l) in l.layers.iter_mut().enumerate() {
        let site = Site::LookupLayer { lookup, layer };
        walk_sumcheck(
            &mut l.sumcheck,
            &|| format!("{}.layer[{layer}].sumcheck", name()),
            site,
            v,
        );
        for (k, children) in l.children.iter_mut().enumerate() {
            for (i, x) in children.iter_mut().enumerate() {
                v(
                    &|| format!("{}.layer[{layer}].children[{k}][{i}]", name()),
                    site,
                    Elem::Fr(x),
                );
            }
        }
    }
    for (k, values) in l.query_values.iter_mut().enumerate() {
        for (c, x) in values.iter_mut().enumerate() {
            v(
                &|| format!("{}.query_values[{k}][{c}]", name()),
                Site::QueryValue { lookup },
                Elem::Fr(x),
            );
        }
    }
}

/// Visits every value of the proof in encoding order.
fn walk(p: &mut ModelProof, v: &mut Visitor) {
    for (i, x) in p.input.iter_mut().enumerate() {
        v(&|| format!("input[{i}]"), Site::Input, Elem::Int(x));
    }
    for (i, x) in p.output.iter_mut().enumerate() {
        v(&|| format!("output[{i}]"), Site::Output, Elem::Int(x));
    }
    for (i, c) in p.witness_commitments.iter_mut().enumerate() {
        v(
            &|| format!("witness_commitments[{i}]"),
            Site::WitnessCommitment,
            Elem::Gt(&mut c.0),
        );
    }
    for (node, op) in p.ops.iter_mut().enumerate() {
        // An op with a sumcheck checks every value it sends itself; one
        // without (Add/Sub) leaves them to the claims they become.
        let local = Site::Op {
            node,
            local: !op.sumchecks.is_empty(),
        };
        for (i, x) in op.values.iter_mut().enumerate() {
            v(&|| format!("ops[{node}].values[{i}]"), local, Elem::Fr(x));
        }
        for (i, sc) in op.sumchecks.iter_mut().enumerate() {
            walk_sumcheck(sc, &|| format!("ops[{node}].sumchecks[{i}]"), local, v);
        }
    }
    for (lookup, l) in p.lookups.iter_mut().enumerate() {
        walk_lookup(l, lookup, v);
    }
    for (check, values) in p.range_inputs.iter_mut().enumerate() {
        for (i, x) in values.iter_mut().enumerate() {
            v(
                &|| format!("range_inputs[{check}][{i}]"),
                Site::RangeInput { check },
                Elem::Fr(x),
            );
        }
    }
    let r = &mut p.reduction;
    walk_sumcheck(
        &mut r.sumcheck,
        &|| "reduction.sumcheck".into(),
        Site::Reduction,
        v,
    );
    for (i, x) in r.values.iter_mut().enumerate() {
        v(
            &|| format!("reduction.values[{i}]"),
            Site::Reduction,
            Elem::Fr(x),
        );
    }
    for (group, o) in r.openings.iter_mut().enumerate() {
        let site = Site::Opening { group };
        let at = |f: String| move || format!("reduction.openings[{group}].{f}");
        v(&at("nu".into()), site, Elem::Small(&mut o.nu));
        v(&at("sigma".into()), site, Elem::Small(&mut o.sigma));
        v(&at("vmv.c".into()), site, Elem::Gt(&mut o.vmv_message.c));
        v(&at("vmv.d2".into()), site, Elem::Gt(&mut o.vmv_message.d2));
        v(&at("vmv.e1".into()), site, Elem::G1(&mut o.vmv_message.e1));
        for (k, m) in o.first_messages.iter_mut().enumerate() {
            let f = |s: &str| at(format!("first[{k}].{s}"));
            v(&f("d1_left"), site, Elem::Gt(&mut m.d1_left));
            v(&f("d1_right"), site, Elem::Gt(&mut m.d1_right));
            v(&f("d2_left"), site, Elem::Gt(&mut m.d2_left));
            v(&f("d2_right"), site, Elem::Gt(&mut m.d2_right));
            v(&f("e1_beta"), site, Elem::G1(&mut m.e1_beta));
            v(&f("e2_beta"), site, Elem::G2(&mut m.e2_beta));
        }
        for (k, m) in o.second_messages.iter_mut().enumerate() {
            let f = |s: &str| at(format!("second[{k}].{s}"));
            v(&f("c_plus"), site, Elem::Gt(&mut m.c_plus));
            v(&f("c_minus"), site, Elem::Gt(&mut m.c_minus));
            v(&f("e1_plus"), site, Elem::G1(&mut m.e1_plus));
            v(&f("e1_minus"), site, Elem::G1(&mut m.e1_minus));
            v(&f("e2_plus"), site, Elem::G2(&mut m.e2_plus));
            v(&f("e2_minus"), site, Elem::G2(&mut m.e2_minus));
        }
        if let Some(m) = &mut o.final_message {
            v(&at("final.e1".into()), site, Elem::G1(&mut m.e1));
            v(&at("final.e2".into()), site, Elem::G2(&mut m.e2));
        }
    }
}

/// Bytes of the proof file that are not values: magic, version, length
/// prefixes and tags, from the proof's shape (see `src/proof/encode.rs` and
/// `src/encoding.rs`).
fn framing_bytes(p: &ModelProof) -> usize {
    let sumcheck = |s: &SumcheckProof| 4 + 4 * s.rounds.len();
    let ops: usize = p
        .ops
        .iter()
        .map(|op| 8 + op.sumchecks.iter().map(sumcheck).sum::<usize>())
        .sum();
    // Root, layer and query set counts; per layer its sumcheck and tree
    // count; per query set its value count.
    let lookups: usize = p
        .lookups
        .iter()
        .map(|l| {
            12 + l
                .layers
                .iter()
                .map(|layer| sumcheck(&layer.sumcheck) + 4)
                .sum::<usize>()
                + 4 * l.query_values.len()
        })
        .sum();
    let r = &p.reduction;
    // Per opening: the two counts and the final-message tag (ν and σ are
    // visited as values).
    let openings = r.openings.len() * (4 + 4 + 1);
    8 + 4 // magic, version
        + SETTINGS_LEN // the header: hints, checked whole by `verify_file` (see below)
        + 4 + 4 // input and output counts
        + 4 // witness commitment count
        + 4 + ops
        + 4 + lookups
        + 4 + 4 * p.range_inputs.len()
        + sumcheck(&r.sumcheck) + 4 + 4 + openings
}

struct FieldInfo {
    path: String,
    site: Site,
    kind: &'static str,
    width: usize,
}

fn fields(p: &ModelProof) -> Vec<FieldInfo> {
    let mut out = Vec::new();
    walk(&mut p.clone(), &mut |path, site, elem| {
        out.push(FieldInfo {
            path: path(),
            site,
            kind: elem.kind(),
            width: elem.width(),
        })
    });
    out
}

/// The proof with field number `index` of the walk mutated.
fn mutated(p: &ModelProof, index: usize) -> ModelProof {
    let mut q = p.clone();
    let mut seen = 0;
    walk(&mut q, &mut |_, _, elem| {
        if seen == index {
            elem.mutate();
        }
        seen += 1;
    });
    q
}

// ---------------------------------------------------------------------------
// Which check caught a change.

/// A verification failure, reduced to the check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    InputMismatch,
    /// A node's own check (its name), with the reason.
    Op(String),
    /// A node's range check recombination (its name).
    RangeRecombine(String),
    /// A lookup check: the table, and the lookup error's text.
    Lookup(TableKind, String),
    ReductionFinal,
    Opening(usize),
    Other(String),
}

fn classify(e: &ProofError) -> Check {
    match e {
        ProofError::InputMismatch => Check::InputMismatch,
        ProofError::Op { node, reason, .. } if reason.to_string().contains("range-check limbs") => {
            Check::RangeRecombine(node.clone())
        }
        ProofError::Op { node, reason, .. } if reason.to_string().contains("check failed") => {
            Check::Op(node.clone())
        }
        ProofError::Lookup { table, source } => Check::Lookup(*table, source.to_string()),
        ProofError::Reduction(ReductionError::FinalMismatch) => Check::ReductionFinal,
        ProofError::Reduction(ReductionError::Opening { group, .. }) => Check::Opening(*group),
        other => Check::Other(other.to_string()),
    }
}

/// What must catch a change at `site`.
#[derive(Debug, Clone)]
enum Expected {
    InputMismatch,
    Op(String),
    RangeRecombine(String),
    /// The table and a substring of the lookup error.
    Lookup(TableKind, String),
    ReductionFinal,
    Opening(usize),
}

impl Expected {
    fn matches(&self, got: &Check) -> bool {
        match (self, got) {
            (Expected::InputMismatch, Check::InputMismatch)
            | (Expected::ReductionFinal, Check::ReductionFinal) => true,
            (Expected::Op(a), Check::Op(b))
            | (Expected::RangeRecombine(a), Check::RangeRecombine(b)) => a == b,
            (Expected::Lookup(t, s), Check::Lookup(u, msg)) => t == u && msg.contains(s.as_str()),
            (Expected::Opening(a), Check::Opening(b)) => a == b,
            _ => false,
        }
    }
}

/// Whether node `n`'s own check draws on challenges: a MatMul, Mul or Relu
/// with at least one sumcheck or point variable (over one-element tensors a
/// Mul or Relu check is a fixed identity of the prover's values).
fn draws_challenges(model: &Model, n: usize) -> bool {
    let node = &model.nodes[n];
    let vars = |t: usize| num_vars(&model.tensors[t].shape);
    match node.op {
        Op::MatMul => vars(node.inputs[0]) + vars(node.output) > 0,
        Op::Mul | Op::Relu => vars(node.output) > 0,
        _ => false,
    }
}

/// The first check at or after node `from` that draws on challenges: a later
/// node's final check, else the first table's GKR layer 1 (layer 0 is an
/// identity on the prover's own root values), else the reduction.
fn first_detecting_check(model: &Model, from: usize) -> Expected {
    if let Some(n) = (from..model.nodes.len()).find(|&n| draws_challenges(model, n)) {
        return Expected::Op(model.nodes[n].name.clone());
    }
    match tables_used(model).first() {
        Some(&t) => Expected::Lookup(t, "GKR layer 1 ".into()),
        None => Expected::ReductionFinal,
    }
}

fn expected(model: &Model, site: Site) -> Expected {
    let tables = tables_used(model);
    match site {
        Site::Input => Expected::InputMismatch,
        Site::Output | Site::WitnessCommitment => first_detecting_check(model, 0),
        Site::Op { node, local: true } => Expected::Op(model.nodes[node].name.clone()),
        Site::Op { node, local: false } => first_detecting_check(model, node + 1),
        Site::LookupRoot { lookup } => Expected::Lookup(tables[lookup], "do not cancel".into()),
        Site::LookupLayer { lookup, layer } => {
            Expected::Lookup(tables[lookup], format!("GKR layer {layer} "))
        }
        Site::QueryValue { lookup } => Expected::Lookup(
            tables[lookup],
            "leaf denominator does not match the query values".into(),
        ),
        Site::RangeInput { check } => {
            Expected::RangeRecombine(model.nodes[range_checks(model)[check].node].name.clone())
        }
        Site::Reduction => Expected::ReductionFinal,
        Site::Opening { group } => Expected::Opening(group),
    }
}

// ---------------------------------------------------------------------------
// Proof mutation.

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[test]
fn every_proof_field_is_covered_by_the_walk() {
    for c in cases() {
        let bytes = c.proof.to_bytes();
        let list = fields(&c.proof);
        let widths: usize = list.iter().map(|f| f.width).sum();
        assert_eq!(
            widths + framing_bytes(&c.proof),
            bytes.len(),
            "{}: visited values and framing do not account for the whole proof file",
            c.name
        );
        // Every visit changes the encoding, first at a distinct offset.
        let mut offsets = BTreeMap::new();
        for (i, f) in list.iter().enumerate() {
            let changed = mutated(&c.proof, i).to_bytes();
            let at = first_difference(&bytes, &changed)
                .unwrap_or_else(|| panic!("{}: mutating {} changes no byte", c.name, f.path));
            if let Some(other) = offsets.insert(at, &f.path) {
                panic!("{}: {} and {other} alias at byte {at}", c.name, f.path);
            }
        }
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &list {
            *kinds.entry(f.kind).or_default() += 1;
        }
        println!(
            "{}: {} fields ({kinds:?}) cover {} of {} bytes",
            c.name,
            list.len(),
            widths,
            bytes.len()
        );
    }
}

/// The settings header is a hint: every single-bit change to it is refused,
/// either when decoded (a value no key can have) or by `verify_file`, which
/// wants exactly the header the key implies and names the setting or the key.
#[test]
fn every_header_bit_flip_is_rejected_by_name() {
    for c in cases() {
        let bytes = c.proof.to_bytes();
        for byte in 12..12 + SETTINGS_LEN {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[byte] ^= 1 << bit;
                let Ok((proof, checks)) = ModelProof::from_bytes_deferred(&bad) else {
                    continue;
                };
                let r = verdict::verify_file(&c.pk.vk, &proof, checks).expect_err(&format!(
                    "{}: header byte {byte} bit {bit} flipped was accepted",
                    c.name
                ));
                assert!(
                    ["settings", "verifying_key"].contains(&r.check),
                    "{}: byte {byte}: {r:?}",
                    c.name
                );
            }
        }
    }
}

/// A proof made for another key whose header claims this key is still
/// rejected: the transcript starts from the real key's digest.
#[test]
fn a_header_claiming_this_key_does_not_make_another_keys_proof_verify() {
    let (auth, asm) = (&cases()[0], &cases()[1]);
    let mut forged = asm.proof.clone();
    forged.settings = ProofSettings::of(&auth.pk.vk);
    let bytes = forged.to_bytes();
    let (proof, checks) = ModelProof::from_bytes_deferred(&bytes).unwrap();
    let r = verdict::verify_file(&auth.pk.vk, &proof, checks).unwrap_err();
    assert!(!["settings", "verifying_key"].contains(&r.check), "{r:?}");
    // Honest headers name the mismatch instead.
    let (proof, checks) = ModelProof::from_bytes_deferred(&asm.proof.to_bytes()).unwrap();
    let r = verdict::verify_file(&auth.pk.vk, &proof, checks).unwrap_err();
    assert_eq!(r.check, "settings", "{r:?}");
    assert!(r.reason.contains("made with --weights public"), "{r:?}");
}

#[test]
fn every_proof_field_mutation_is_rejected_by_the_right_check() {
    for c in cases() {
        let start = Instant::now();
        let vk = &c.pk.vk;
        let list = fields(&c.proof);
        let mut failures = Vec::new();
        let mut caught: BTreeMap<String, usize> = BTreeMap::new();
        for (i, f) in list.iter().enumerate() {
            let bad = mutated(&c.proof, i);
            assert_ne!(bad, c.proof, "{}: {} did not change", c.name, f.path);
            // Re-encode: the change must survive the proof file.
            let bytes = bad.to_bytes();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                match ModelProof::from_bytes_deferred(&bytes) {
                    Ok((decoded, checks)) => {
                        assert_eq!(decoded, bad, "{}: {} lost in encoding", c.name, f.path);
                        if f.kind == "GT" {
                            proof::verify_with_checks(vk, &c.input, &decoded, checks)
                        } else {
                            drop(checks);
                            proof::verify(vk, &c.input, &decoded)
                        }
                    }
                    // ν and σ fix the message counts: a changed σ no longer
                    // decodes; the structure still goes to the verifier.
                    Err(e) => {
                        assert_eq!(f.kind, "u8", "{}: {} does not decode: {e}", c.name, f.path);
                        proof::verify(vk, &c.input, &bad)
                    }
                }
            }));
            let want = expected(&vk.model, f.site);
            match outcome {
                Err(_) => failures.push(format!("{}: PANIC", f.path)),
                Ok(Ok(())) => failures.push(format!("{}: ACCEPTED (soundness)", f.path)),
                Ok(Err(e)) => {
                    let got = classify(&e);
                    if !want.matches(&got) {
                        failures.push(format!("{}: expected {want:?}, got {e}", f.path));
                    }
                    let key = match got {
                        Check::Op(n) => format!("node {n}"),
                        Check::RangeRecombine(n) => format!("range check of {n}"),
                        Check::Lookup(t, _) => format!("lookup {t:?}"),
                        other => format!("{other:?}"),
                    };
                    *caught.entry(key).or_default() += 1;
                }
            }
        }
        println!(
            "{}: {} mutations in {:.1?}; caught by {caught:?}",
            c.name,
            list.len(),
            start.elapsed()
        );
        assert!(
            failures.is_empty(),
            "{}: {} of {} mutations misjudged:\n{}",
            c.name,
            failures.len(),
            list.len(),
            failures.join("\n")
        );
    }
}

/// The verifier's own input (not just the proof's copy) changed along with
/// the proof's: the statement differs, so the first check fails.
#[test]
fn a_changed_statement_input_is_rejected() {
    for c in cases() {
        let model = &c.pk.vk.model;
        for i in [0, c.input.len() / 2, c.input.len() - 1] {
            let mut input = c.input.clone();
            input[i] += if input[i] > 0 { -1 } else { 1 };
            let mut bad = c.proof.clone();
            bad.input = input.clone();
            let err = proof::verify(&c.pk.vk, &input, &bad).unwrap_err();
            let want = first_detecting_check(model, 0);
            assert!(
                want.matches(&classify(&err)),
                "{}: input[{i}]: expected {want:?}, got {err}",
                c.name
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Verifying key mutation.

/// One change to a verifying key.
struct VkMutation {
    path: String,
    apply: Box<dyn Fn(&mut VerifyingKey)>,
}

fn vk_mutation(
    out: &mut Vec<VkMutation>,
    path: String,
    apply: impl Fn(&mut VerifyingKey) + 'static,
) {
    out.push(VkMutation {
        path,
        apply: Box::new(apply),
    });
}

fn other_op(op: Op) -> Vec<Op> {
    [
        Op::MatMul,
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Relu,
        Op::Tanh,
        Op::Sigmoid,
    ]
    .into_iter()
    .filter(|o| *o != op)
    .collect()
}

/// Every field of `vk`, each changed alone. `opening_sigmas`: the σ of each of
/// the proof's Dory openings (which setup rounds the verifier reads).
fn vk_mutations(vk: &VerifyingKey, opening_sigmas: &[usize]) -> Vec<VkMutation> {
    let mut out = Vec::new();
    let m = &vk.model;
    let count = m.tensors.len();
    vk_mutation(&mut out, "model.name".into(), |k| k.model.name.push('x'));
    vk_mutation(&mut out, "model.scale_bits+1".into(), |k| {
        k.model.scale_bits += 1
    });
    vk_mutation(&mut out, "model.scale_bits-1".into(), |k| {
        k.model.scale_bits -= 1
    });
    vk_mutation(&mut out, "model.activation_bits+1".into(), |k| {
        k.model.activation_bits += 1
    });
    vk_mutation(&mut out, "model.activation_bits-1".into(), |k| {
        k.model.activation_bits -= 1
    });
    for (t, tensor) in m.tensors.iter().enumerate() {
        vk_mutation(&mut out, format!("tensors[{t}].name"), move |k| {
            k.model.tensors[t].name.push('x')
        });
        for d in 0..tensor.shape.len() {
            vk_mutation(&mut out, format!("tensors[{t}].shape[{d}]+1"), move |k| {
                k.model.tensors[t].shape[d] += 1
            });
            if tensor.shape[d] > 1 {
                vk_mutation(&mut out, format!("tensors[{t}].shape[{d}]-1"), move |k| {
                    k.model.tensors[t].shape[d] -= 1
                });
            }
        }
        vk_mutation(&mut out, format!("tensors[{t}].shape.push(1)"), move |k| {
            k.model.tensors[t].shape.insert(0, 1)
        });
        let kinds: Vec<(&str, TensorKind)> = match &tensor.kind {
            TensorKind::Input => vec![("activation", TensorKind::Activation)],
            TensorKind::Activation => vec![
                ("input", TensorKind::Input),
                ("weight", TensorKind::Weight { values: vec![] }),
            ],
            TensorKind::Weight { .. } => vec![("activation", TensorKind::Activation)],
        };
        for (name, kind) in kinds {
            vk_mutation(&mut out, format!("tensors[{t}].kind={name}"), move |k| {
                k.model.tensors[t].kind = kind.clone()
            });
        }
        if let TensorKind::Weight { values } = &tensor.kind {
            if !values.is_empty() {
                vk_mutation(&mut out, format!("tensors[{t}].values=[]"), move |k| {
                    k.model.tensors[t].kind = TensorKind::Weight { values: vec![] }
                });
            }
            for i in 0..values.len() {
                vk_mutation(&mut out, format!("tensors[{t}].values[{i}]"), move |k| {
                    if let TensorKind::Weight { values } = &mut k.model.tensors[t].kind {
                        values[i] += 1;
                    }
                });
            }
        }
    }
    for (n, nd) in m.nodes.iter().enumerate() {
        vk_mutation(&mut out, format!("nodes[{n}].name"), move |k| {
            k.model.nodes[n].name.push('x')
        });
        for op in other_op(nd.op.clone()) {
            vk_mutation(&mut out, format!("nodes[{n}].op={op:?}"), move |k| {
                k.model.nodes[n].op = op.clone()
            });
        }
        for i in 0..nd.inputs.len() {
            for delta in [1, count - 1] {
                vk_mutation(
                    &mut out,
                    format!("nodes[{n}].inputs[{i}]+{delta}"),
                    move |k| {
                        let x = &mut k.model.nodes[n].inputs[i];
                        *x = (*x + delta) % count;
                    },
                );
            }
        }
        vk_mutation(&mut out, format!("nodes[{n}].inputs.pop"), move |k| {
            k.model.nodes[n].inputs.pop();
        });
        vk_mutation(&mut out, format!("nodes[{n}].inputs.push"), move |k| {
            let first = k.model.nodes[n].inputs[0];
            k.model.nodes[n].inputs.push(first);
        });
        for delta in [1, count - 1] {
            vk_mutation(&mut out, format!("nodes[{n}].output+{delta}"), move |k| {
                let x = &mut k.model.nodes[n].output;
                *x = (*x + delta) % count;
            });
        }
    }
    if m.nodes.len() > 1 {
        vk_mutation(&mut out, "nodes.swap(0,1)".into(), |k| {
            k.model.nodes.swap(0, 1)
        });
        vk_mutation(&mut out, "nodes.pop".into(), |k| {
            k.model.nodes.pop();
        });
    }
    for delta in [1, count - 1] {
        vk_mutation(&mut out, format!("model.inputs[0]+{delta}"), move |k| {
            k.model.inputs[0] = (k.model.inputs[0] + delta) % count
        });
        vk_mutation(&mut out, format!("model.outputs[0]+{delta}"), move |k| {
            k.model.outputs[0] = (k.model.outputs[0] + delta) % count
        });
    }
    vk_mutation(&mut out, "model.inputs.push".into(), |k| {
        let first = k.model.inputs[0];
        k.model.inputs.push(first)
    });
    vk_mutation(&mut out, "model.outputs.push".into(), |k| {
        let first = k.model.outputs[0];
        k.model.outputs.push(first)
    });
    vk_mutation(&mut out, "model.outputs.clear".into(), |k| {
        k.model.outputs.clear()
    });
    vk_mutation(&mut out, "visibility".into(), |k| {
        k.visibility = match k.visibility {
            WeightVisibility::Committed | WeightVisibility::Hidden => WeightVisibility::Public,
            WeightVisibility::Public => WeightVisibility::Committed,
        }
    });
    vk_mutation(&mut out, "visibility=hidden".into(), |k| {
        k.visibility = WeightVisibility::Hidden
    });
    type LayoutOf = fn(&mut VerifyingKey) -> &mut BlockLayout;
    let layouts: [(&str, LayoutOf, &BlockLayout); 2] = [
        ("witness", |k| &mut k.witness_layout, &vk.witness_layout),
        ("model", |k| &mut k.model_layout, &vk.model_layout),
    ];
    for (which, get, layout) in layouts {
        vk_mutation(&mut out, format!("{which}_layout.num_vars+1"), move |k| {
            get(k).num_vars += 1
        });
        for b in 0..layout.blocks.len() {
            vk_mutation(
                &mut out,
                format!("{which}_layout.blocks[{b}].offset"),
                move |k| {
                    let block = &mut get(k).blocks[b];
                    block.1 ^= 1 << block.2;
                },
            );
            vk_mutation(
                &mut out,
                format!("{which}_layout.blocks[{b}].log_len+1"),
                move |k| get(k).blocks[b].2 += 1,
            );
        }
        if layout.blocks.len() > 1 {
            vk_mutation(
                &mut out,
                format!("{which}_layout.blocks.swap(0,1).slots"),
                move |k| {
                    let blocks = &mut get(k).blocks;
                    let s = blocks[0].0;
                    blocks[0].0 = blocks[1].0;
                    blocks[1].0 = s;
                },
            );
        }
        vk_mutation(&mut out, format!("{which}_layout.blocks.push"), move |k| {
            let l = get(k);
            let next = 1usize << l.num_vars;
            l.blocks.push((Slot::Remainder(0), next, 0));
        });
    }
    match vk.model_commitment {
        Some(_) => {
            vk_mutation(&mut out, "model_commitment".into(), |k| {
                let c = k.model_commitment.as_mut().unwrap();
                c.0 .0 += gt_generator();
            });
            vk_mutation(&mut out, "model_commitment=None".into(), |k| {
                k.model_commitment = None
            });
        }
        None => vk_mutation(&mut out, "model_commitment=Some".into(), |k| {
            k.model_commitment = Some(zkinfer::pcs::Commitment(ArkGT(gt_generator())))
        }),
    }
    // The Dory verifier setup: every GT list entry, the generators, ht, size.
    type GtList = fn(&mut VerifyingKey) -> &mut Vec<ArkGT>;
    let lists: [(&str, GtList); 5] = [
        ("delta_1l", |k| &mut k.dory.delta_1l),
        ("delta_1r", |k| &mut k.dory.delta_1r),
        ("delta_2l", |k| &mut k.dory.delta_2l),
        ("delta_2r", |k| &mut k.dory.delta_2r),
        ("chi", |k| &mut k.dory.chi),
    ];
    for (name, list) in lists {
        let len = list(&mut vk.clone()).len();
        for i in 0..len {
            out.push(VkMutation {
                path: format!("dory.{name}[{i}]"),
                apply: Box::new(move |k| {
                    let g = &mut list(k)[i];
                    g.0 += gt_generator();
                }),
            });
        }
    }
    out.push(VkMutation {
        path: "dory.g1_0".into(),
        apply: Box::new(|k| k.dory.g1_0.0 += G1Projective::generator()),
    });
    out.push(VkMutation {
        path: "dory.g2_0".into(),
        apply: Box::new(|k| k.dory.g2_0.0 += G2Projective::generator()),
    });
    // The blinding generators enter the transparent final pairing check too.
    vk_mutation(&mut out, "dory.h1".into(), |k| {
        k.dory.h1.0 += G1Projective::generator()
    });
    vk_mutation(&mut out, "dory.h2".into(), |k| {
        k.dory.h2.0 += G2Projective::generator()
    });
    vk_mutation(&mut out, "dory.ht".into(), |k| {
        k.dory.ht.0 += gt_generator()
    });
    // The size only bounds the rounds: too small for the proof's σ.
    let sigma = opening_sigmas.iter().copied().max().unwrap_or(1);
    vk_mutation(
        &mut out,
        format!("dory.max_log_n={}", 2 * sigma - 1),
        move |k| k.dory.max_log_n = 2 * sigma - 1,
    );
    vk_mutation(&mut out, "seed_digest[0]".into(), |k| k.seed_digest[0] ^= 1);
    vk_mutation(&mut out, "seed_digest[63]".into(), |k| {
        k.seed_digest[63] ^= 0x80
    });
    vk_mutation(&mut out, "log_generators+1".into(), |k| {
        k.log_generators += 1
    });
    vk_mutation(&mut out, "log_generators-1".into(), |k| {
        k.log_generators -= 1
    });
    out
}

/// What happened to a mutated key.
#[derive(Debug)]
enum VkOutcome {
    /// `vk_from_bytes` refused it, with this reason.
    Refused(String),
    /// It loaded and the proof was rejected.
    Rejected(String),
    Accepted,
    Panicked(String),
}

fn vk_outcome(c: &Case, m: &VkMutation) -> VkOutcome {
    let path = Path::new("mutated/vk.bin");
    let mut vk = c.pk.vk.clone();
    (m.apply)(&mut vk);
    let run = catch_unwind(AssertUnwindSafe(|| {
        match keys::vk_from_bytes(path, &keys::vk_to_bytes(&vk)) {
            Err(e) => VkOutcome::Refused(e.to_string()),
            Ok(loaded) => match proof::verify(&loaded, &c.input, &c.proof) {
                Err(e) => VkOutcome::Rejected(e.to_string()),
                Ok(()) => VkOutcome::Accepted,
            },
        }
    }));
    run.unwrap_or_else(|p| {
        VkOutcome::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        )
    })
}

#[test]
fn every_vk_field_mutation_is_refused_or_rejects_the_proof() {
    for c in cases() {
        let start = Instant::now();
        let sigmas: Vec<usize> = c.proof.reduction.openings.iter().map(|o| o.sigma).collect();
        let mutations = vk_mutations(&c.pk.vk, &sigmas);
        let mut failures = Vec::new();
        let (mut refused, mut rejected) = (0, 0);
        for m in &mutations {
            match vk_outcome(c, m) {
                VkOutcome::Refused(reason) => {
                    refused += 1;
                    if !reason.contains("mutated/vk.bin") {
                        failures.push(format!(
                            "{}: refusal does not name the file: {reason}",
                            m.path
                        ));
                    }
                }
                VkOutcome::Rejected(reason) => {
                    rejected += 1;
                    if m.path.starts_with("dory.") {
                        failures.push(format!(
                            "{}: a Dory setup change loaded (only rejected later): {reason}",
                            m.path
                        ));
                    }
                }
                VkOutcome::Accepted => failures.push(format!("{}: ACCEPTED", m.path)),
                VkOutcome::Panicked(msg) => failures.push(format!("{}: PANIC {msg}", m.path)),
            }
        }
        // The digest itself is recomputed on load; a stale one in memory is
        // caught by the first check.
        let mut vk = c.pk.vk.clone();
        vk.digest[0] ^= 1;
        let err = proof::verify(&vk, &c.input, &c.proof).unwrap_err();
        let want = first_detecting_check(&vk.model, 0);
        if !want.matches(&classify(&err)) {
            failures.push(format!("digest: expected {want:?}, got {err}"));
        }
        println!(
            "{}: {} vk mutations in {:.1?}: {refused} refused on load, {rejected} rejected the proof",
            c.name,
            mutations.len() + 1,
            start.elapsed()
        );
        assert!(
            failures.is_empty(),
            "{}: {} of {} vk mutations misjudged:\n{}",
            c.name,
            failures.len(),
            mutations.len(),
            failures.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Shape mutations: a sequence one element longer or shorter.

/// Every way of lengthening or shortening one sequence of the proof by one
/// element (sumcheck rounds and coefficients, tree layers, query sets and
/// values, range checks and their values, reduction values and openings, Dory
/// messages, the final Dory message), each with its path.
fn shape_mutations(p: &ModelProof) -> Vec<(String, ModelProof)> {
    fn sumcheck(
        s: &SumcheckProof,
        path: &str,
        set: &dyn Fn(SumcheckProof) -> ModelProof,
        out: &mut Vec<(String, ModelProof)>,
    ) {
        let mut longer = s.clone();
        longer
            .rounds
            .push(zkinfer::sumcheck::CompressedRound(vec![Fr::from(1u64); 2]));
        out.push((format!("{path}.rounds.push"), set(longer)));
        if !s.rounds.is_empty() {
            let mut shorter = s.clone();
            shorter.rounds.pop();
            out.push((format!("{path}.rounds.pop"), set(shorter)));
            let mut more = s.clone();
            more.rounds[0].0.push(Fr::from(1u64));
            out.push((format!("{path}.rounds[0].push"), set(more)));
            let mut fewer = s.clone();
            fewer.rounds[0].0.pop();
            out.push((format!("{path}.rounds[0].pop"), set(fewer)));
        }
    }
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut ModelProof)| {
        let mut q = p.clone();
        f(&mut q);
        q
    };
    out.push(("input.push".into(), with(&|q| q.input.push(0))));
    out.push(("output.push".into(), with(&|q| q.output.push(0))));
    out.push((
        "output.pop".into(),
        with(&|q| {
            q.output.pop();
        }),
    ));
    out.push((
        "ops.push".into(),
        with(&|q| q.ops.push(OpMessage::default())),
    ));
    for (n, op) in p.ops.iter().enumerate() {
        for (i, s) in op.sumchecks.iter().enumerate() {
            let set = |new: SumcheckProof| with(&|q| q.ops[n].sumchecks[i] = new.clone());
            sumcheck(s, &format!("ops[{n}].sumchecks[{i}]"), &set, &mut out);
        }
        out.push((
            format!("ops[{n}].values.push"),
            with(&|q| q.ops[n].values.push(Fr::from(1u64))),
        ));
        if !op.values.is_empty() {
            out.push((
                format!("ops[{n}].values.pop"),
                with(&|q| {
                    q.ops[n].values.pop();
                }),
            ));
        }
        out.push((
            format!("ops[{n}].sumchecks.push"),
            with(&|q| {
                q.ops[n]
                    .sumchecks
                    .push(SumcheckProof { rounds: Vec::new() })
            }),
        ));
        out.push((
            format!("ops[{n}] replaced by another node's message"),
            with(&|q| {
                q.ops[n] = if q.ops[n] == OpMessage::default() {
                    p.ops
                        .iter()
                        .find(|o| **o != OpMessage::default())
                        .cloned()
                        .unwrap_or_default()
                } else {
                    OpMessage::default()
                }
            }),
        ));
    }
    for (l, lookup) in p.lookups.iter().enumerate() {
        out.push((
            format!("lookups[{l}].layers.pop"),
            with(&|q| {
                q.lookups[l].layers.pop();
            }),
        ));
        out.push((
            format!("lookups[{l}].layers.push"),
            with(&|q| {
                let layer = q.lookups[l].layers[0].clone();
                q.lookups[l].layers.push(layer)
            }),
        ));
        for (i, layer) in lookup.layers.iter().enumerate().skip(1).step_by(3) {
            out.push((
                format!("lookups[{l}].layers[{i}].children.pop"),
                with(&|q| {
                    q.lookups[l].layers[i].children.pop();
                }),
            ));
            out.push((
                format!("lookups[{l}].layers[{i}].children.push"),
                with(&|q| {
                    let c = q.lookups[l].layers[i].children[0];
                    q.lookups[l].layers[i].children.push(c)
                }),
            ));
            let set = |s: SumcheckProof| with(&|q| q.lookups[l].layers[i].sumcheck = s.clone());
            sumcheck(
                &layer.sumcheck,
                &format!("lookups[{l}].layers[{i}].sumcheck"),
                &set,
                &mut out,
            );
        }
        out.push((
            format!("lookups[{l}].roots.pop"),
            with(&|q| {
                q.lookups[l].roots.pop();
            }),
        ));
        out.push((
            format!("lookups[{l}].roots.push"),
            with(&|q| {
                let r = q.lookups[l].roots[1];
                q.lookups[l].roots.push(r)
            }),
        ));
        out.push((
            format!("lookups[{l}].query_sets.pop"),
            with(&|q| {
                q.lookups[l].roots.pop();
                q.lookups[l].query_values.pop();
            }),
        ));
        out.push((
            format!("lookups[{l}].query_sets.push"),
            with(&|q| {
                let r = q.lookups[l].roots[1];
                let v = q.lookups[l].query_values[0].clone();
                q.lookups[l].roots.push(r);
                q.lookups[l].query_values.push(v);
            }),
        ));
        out.push((
            format!("lookups[{l}].query_values[0].push"),
            with(&|q| q.lookups[l].query_values[0].push(Fr::from(1u64))),
        ));
        out.push((
            format!("lookups[{l}].query_values[0].pop"),
            with(&|q| {
                q.lookups[l].query_values[0].pop();
            }),
        ));
    }
    out.push((
        "lookups.pop".into(),
        with(&|q| {
            q.lookups.pop();
        }),
    ));
    out.push((
        "lookups.push".into(),
        with(&|q| {
            let l = q.lookups[0].clone();
            q.lookups.push(l)
        }),
    ));
    out.push((
        "range_inputs.push".into(),
        with(&|q| q.range_inputs.push(vec![Fr::from(1u64)])),
    ));
    out.push((
        "range_inputs.pop".into(),
        with(&|q| {
            q.range_inputs.pop();
        }),
    ));
    if !p.range_inputs.is_empty() {
        out.push((
            "range_inputs[0].push".into(),
            with(&|q| q.range_inputs[0].push(Fr::from(1u64))),
        ));
        out.push((
            "range_inputs[0].pop".into(),
            with(&|q| {
                q.range_inputs[0].pop();
            }),
        ));
    }
    let set = |s: SumcheckProof| with(&|q| q.reduction.sumcheck = s.clone());
    sumcheck(&p.reduction.sumcheck, "reduction.sumcheck", &set, &mut out);
    out.push((
        "reduction.values.push".into(),
        with(&|q| q.reduction.values.push(Fr::from(1u64))),
    ));
    out.push((
        "reduction.values.pop".into(),
        with(&|q| {
            q.reduction.values.pop();
        }),
    ));
    out.push((
        "reduction.openings.pop".into(),
        with(&|q| {
            q.reduction.openings.pop();
        }),
    ));
    out.push((
        "reduction.openings.push".into(),
        with(&|q| {
            let o = q.reduction.openings[0].clone();
            q.reduction.openings.push(o)
        }),
    ));
    fn o(q: &mut ModelProof) -> &mut zkinfer::pcs::EvaluationProof {
        &mut q.reduction.openings[0]
    }
    out.push((
        "opening.first.pop".into(),
        with(&|q| {
            o(q).first_messages.pop();
        }),
    ));
    out.push((
        "opening.first.push".into(),
        with(&|q| {
            let m = o(q).first_messages[0].clone();
            o(q).first_messages.push(m)
        }),
    ));
    out.push((
        "opening.second.pop".into(),
        with(&|q| {
            o(q).second_messages.pop();
        }),
    ));
    out.push((
        "opening.second.push".into(),
        with(&|q| {
            let m = o(q).second_messages[0].clone();
            o(q).second_messages.push(m)
        }),
    ));
    out.push((
        "opening.both.pop".into(),
        with(&|q| {
            o(q).first_messages.pop();
            o(q).second_messages.pop();
            o(q).sigma -= 1;
        }),
    ));
    out.push((
        "opening.final=None".into(),
        with(&|q| o(q).final_message = None),
    ));
    out
}

#[test]
fn every_shape_mutation_is_rejected_without_panicking() {
    for c in cases() {
        let mut failures = Vec::new();
        let mutations = shape_mutations(&c.proof);
        for (path, bad) in &mutations {
            assert_ne!(bad, &c.proof, "{}: {path} did not change", c.name);
            let outcome = catch_unwind(AssertUnwindSafe(|| proof::verify(&c.pk.vk, &c.input, bad)));
            match outcome {
                Err(_) => failures.push(format!("{path}: PANIC")),
                Ok(Ok(())) => failures.push(format!("{path}: ACCEPTED")),
                Ok(Err(_)) => {}
            }
            // The file form must fail to decode or fail to verify, never panic.
            let bytes = bad.to_bytes();
            // (Its GT elements are the valid proof's: their subgroup checks
            // are left out to save time.)
            let outcome =
                catch_unwind(AssertUnwindSafe(|| {
                    match ModelProof::from_bytes_deferred(&bytes) {
                        Err(_) => true,
                        Ok((q, _unchanged_gt)) => proof::verify(&c.pk.vk, &c.input, &q).is_err(),
                    }
                }));
            if !matches!(outcome, Ok(true)) {
                failures.push(format!("{path} (encoded): accepted or panicked"));
            }
        }
        println!("{}: {} shape mutations", c.name, mutations.len());
        assert!(
            failures.is_empty(),
            "{}: {} of {} shape mutations misjudged:\n{}",
            c.name,
            failures.len(),
            mutations.len(),
            failures.join("\n")
        );
    }
}
