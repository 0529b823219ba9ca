//! Zero-knowledge model proofs end to end: proving and verifying with hidden
//! weights, rejection of every tampered byte, refusal of mixed kinds and of
//! unsupported ops, and the statistical witness-independence test on two
//! models with different hidden weights and the same public statement.

use std::sync::{Arc, OnceLock};

use super::model::{self, ZkModelProof};
use super::pedersen::SeededBlinds;
use super::tests::{add_sample, max_chi2, Counts, NoBlinds};
use super::BlindSource;
use crate::backend::CpuBackend;
use crate::model::{Model, Node, Op, Tensor, TensorKind};
use crate::pcs::setup::{DorySetup, DEFAULT_SEED};
use crate::proof::{self, ProofError, ProvingKey, WeightVisibility};

fn setup() -> Arc<DorySetup> {
    static SETUP: OnceLock<Arc<DorySetup>> = OnceLock::new();
    SETUP
        .get_or_init(|| Arc::new(DorySetup::derive(DEFAULT_SEED, 10).unwrap()))
        .clone()
}

fn tensor(name: &str, shape: &[usize], kind: TensorKind) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        kind,
    }
}

fn weight(name: &str, shape: &[usize], values: Vec<i64>) -> Tensor {
    tensor(name, shape, TensorKind::Weight { values })
}

fn node(name: &str, op: Op, inputs: &[usize], output: usize) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.to_vec(),
        output,
    }
}

/// x[1,5] → Gemm(5→3, bias) → ReLU → Mul c → Add d → Sub → Tanh → Sigmoid:
/// every op `--zk` supports.
fn every_zk_op_model() -> Model {
    use TensorKind::Activation as A;
    let w = |seed: i64, len: i64| (0..len).map(|i| ((i * 37 + seed * 11) % 97) - 48).collect();
    Model {
        name: "every-zk-op".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 5], TensorKind::Input),
            weight("W", &[5, 3], w(1, 15)),
            weight("b", &[3], w(2, 3)),
            tensor("h", &[1, 3], A),
            tensor("r", &[1, 3], A),
            weight("c", &[3], w(3, 3)),
            tensor("m", &[1, 3], A),
            weight("d", &[1, 3], w(4, 3)),
            tensor("a", &[1, 3], A),
            tensor("s", &[1, 3], A),
            tensor("t", &[1, 3], A),
            tensor("y", &[1, 3], A),
        ],
        nodes: vec![
            node("gemm", Op::MatMul, &[0, 1, 2], 3),
            node("relu", Op::Relu, &[3], 4),
            node("mul", Op::Mul, &[4, 5], 6),
            node("add", Op::Add, &[6, 7], 8),
            node("sub", Op::Sub, &[8, 4], 9),
            node("tanh", Op::Tanh, &[9], 10),
            node("sigmoid", Op::Sigmoid, &[10], 11),
        ],
        inputs: vec![0],
        outputs: vec![11],
    }
}

const INPUT: [i64; 5] = [100, -50, 25, 300, -7];

fn keys(model: Model, visibility: WeightVisibility) -> ProvingKey {
    proof::preprocess(CpuBackend::global(), model, visibility, setup()).unwrap()
}

fn prove_seeded(pk: &ProvingKey, input: &[i64], seed: u64) -> ZkModelProof {
    let witness = pk.model.execute(input).unwrap();
    model::prove_witness(
        CpuBackend::global(),
        pk,
        input,
        &witness,
        false,
        &mut SeededBlinds::new(seed),
    )
    .unwrap()
}

/// Bytes before the first proof element: magic, version, settings, the
/// private-input flag, input and output (public, and the settings name the
/// key).
fn header_len(p: &ZkModelProof) -> usize {
    8 + 4 + crate::proof::verdict::SETTINGS_LEN + 1 + 2 * 8 + 8 * (p.input.len() + p.output.len())
}

#[test]
fn hidden_weights_prove_and_verify() {
    let pk = keys(every_zk_op_model(), WeightVisibility::Hidden);
    assert!(pk.vk.model.tensors.iter().all(|t| match &t.kind {
        TensorKind::Weight { values } => values.is_empty(),
        _ => true,
    }));
    let clock = std::time::Instant::now();
    let p = model::prove(CpuBackend::global(), &pk, &INPUT).unwrap();
    let proved = clock.elapsed();
    assert_eq!(p.output, pk.model.execute(&INPUT).unwrap().values[11]);
    model::verify(&pk.vk, &INPUT, &p).unwrap();
    eprintln!(
        "every-zk-op model: proved in {proved:.2?}, verified in {:.2?}, {} bytes",
        clock.elapsed() - proved,
        p.to_bytes().len()
    );
    let decoded = ZkModelProof::from_bytes(&p.to_bytes()).unwrap();
    assert_eq!(decoded, p);
    model::verify(&pk.vk, &INPUT, &decoded).unwrap();
}

#[test]
fn a_wrong_output_or_input_is_rejected() {
    let pk = keys(every_zk_op_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &INPUT, 1);
    let mut bad = p.clone();
    bad.output[1] += 1;
    assert!(model::verify(&pk.vk, &INPUT, &bad).is_err());
    let mut other = INPUT;
    other[0] += 1;
    assert!(matches!(
        model::verify(&pk.vk, &other, &p),
        Err(ProofError::InputMismatch)
    ));
    let mut forged = p.clone();
    forged.input = other.to_vec();
    assert!(model::verify(&pk.vk, &other, &forged).is_err());
}

/// Flips one bit in each of about `count` bytes spread over everything after
/// the header (an odd stride, so the offsets within 32-byte elements vary)
/// and truncates at each of those bytes: every change must be rejected.
fn assert_flips_rejected(pk: &ProvingKey, input: &[i64], p: &ZkModelProof, count: usize) {
    let bytes = p.to_bytes();
    let start = header_len(p);
    let stride = ((bytes.len() - start) / count) | 1;
    let mut tried = 0;
    let clock = std::time::Instant::now();
    for at in (start..bytes.len()).step_by(stride) {
        let mut bad = bytes.clone();
        bad[at] ^= 1 << (at % 8);
        let verdict = ZkModelProof::from_bytes(&bad)
            .map_err(ProofError::from)
            .and_then(|q| model::verify(&pk.vk, input, &q));
        assert!(verdict.is_err(), "flipped bit in byte {at} accepted");
        assert!(ZkModelProof::from_bytes(&bytes[..at]).is_err());
        tried += 1;
    }
    eprintln!(
        "{tried} mutations of a {}-byte proof rejected in {:.1} s",
        bytes.len(),
        clock.elapsed().as_secs_f64()
    );
    assert!(
        tried >= count * 2 / 3,
        "{tried} mutations of {} bytes",
        bytes.len()
    );
}

#[test]
fn every_tampered_byte_is_rejected() {
    let pk = keys(every_zk_op_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &INPUT, 2);
    assert_flips_rejected(&pk, &INPUT, &p, 150);
}

/// x[1,6] → Reshape [2,3] → Transpose [3,2] → Concat with itself [6,2] →
/// MatMul W[2,2] → ReLU: the index-map ops in zero knowledge.
fn index_map_model() -> Model {
    use crate::ops::{concat::Concat, reshape::Reshape, transpose::Transpose};
    use TensorKind::Activation as A;
    Model {
        name: "zk-index-maps".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 6], TensorKind::Input),
            tensor("r", &[2, 3], A),
            tensor("t", &[3, 2], A),
            tensor("c", &[6, 2], A),
            weight("W", &[2, 2], vec![40, -30, 25, 60]),
            tensor("h", &[6, 2], A),
            tensor("y", &[6, 2], A),
        ],
        nodes: vec![
            node("reshape", Op::Reshape(Reshape), &[0], 1),
            node(
                "transpose",
                Op::Transpose(Transpose {
                    input: vec![2, 3],
                    perm: vec![1, 0],
                }),
                &[1],
                2,
            ),
            node(
                "concat",
                Op::Concat(Concat {
                    inputs: vec![vec![3, 2], vec![3, 2]],
                    axis: 0,
                }),
                &[2, 2],
                3,
            ),
            node("dense", Op::MatMul, &[3, 4], 5),
            node("relu", Op::Relu, &[5], 6),
        ],
        inputs: vec![0],
        outputs: vec![6],
    }
}

#[test]
fn index_maps_prove_verify_and_reject_tampering() {
    let input = [100, -50, 25, 300, -7, 64];
    let pk = keys(index_map_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &input, 4);
    assert_eq!(p.output, pk.model.execute(&input).unwrap().values[6]);
    model::verify(&pk.vk, &input, &p).unwrap();
    let mut bad = p.clone();
    bad.output[3] += 1;
    assert!(model::verify(&pk.vk, &input, &bad).is_err());
    assert_flips_rejected(&pk, &input, &p, 60);
}

#[test]
fn transparent_and_zero_knowledge_proofs_do_not_mix() {
    let hidden = keys(every_zk_op_model(), WeightVisibility::Hidden);
    let committed = keys(every_zk_op_model(), WeightVisibility::Committed);
    assert!(matches!(
        proof::prove(CpuBackend::global(), &hidden, &INPUT),
        Err(ProofError::Zk(_))
    ));
    assert!(matches!(
        model::prove(CpuBackend::global(), &committed, &INPUT),
        Err(ProofError::Zk(_))
    ));
    let transparent = proof::prove(CpuBackend::global(), &committed, &INPUT).unwrap();
    assert!(matches!(
        proof::verify(&hidden.vk, &INPUT, &transparent),
        Err(ProofError::Zk(_))
    ));
    let zk = prove_seeded(&hidden, &INPUT, 3);
    assert!(matches!(
        model::verify(&committed.vk, &INPUT, &zk),
        Err(ProofError::Zk(_))
    ));
    // The two kinds of file are told apart by their magic.
    assert!(crate::proof::ModelProof::from_bytes(&zk.to_bytes()).is_err());
    assert!(ZkModelProof::from_bytes(&transparent.to_bytes()).is_err());
}

/// x[1,4] → MatMul W[4,2] → ReLU, with the input zero at positions 1 and 3:
/// two weight matrices that differ only in those rows give the same output,
/// so the public statement (input, output) is the same.
fn masked_rows_model(rows_1_and_3: [i64; 4]) -> Model {
    let [a, b, c, d] = rows_1_and_3;
    Model {
        name: "two-weights".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 4], TensorKind::Input),
            weight("W", &[4, 2], vec![40, -30, a, b, 25, 60, c, d]),
            tensor("h", &[1, 2], TensorKind::Activation),
            tensor("y", &[1, 2], TensorKind::Activation),
        ],
        nodes: vec![
            node("dense", Op::MatMul, &[0, 1], 2),
            node("relu", Op::Relu, &[2], 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
    }
}

/// The largest two-sample χ² over the proof's 32-byte windows (past the
/// public header) between `samples` proofs with weights A and with weights B.
fn weight_independence_statistic(
    samples: u64,
    blinds: impl FnMut(u64) -> Box<dyn BlindSource>,
) -> f64 {
    const INPUT: [i64; 4] = [100, 0, -70, 0];
    let pk_a = keys(masked_rows_model([11, -7, 3, 29]), WeightVisibility::Hidden);
    let pk_b = keys(
        masked_rows_model([-45, 17, 38, -2]),
        WeightVisibility::Hidden,
    );
    assert_ne!(pk_a.model, pk_b.model);
    independence_statistic([(&pk_a, INPUT), (&pk_b, INPUT)], false, samples, blinds)
}

/// The same statistic between proofs of two different private inputs of one
/// model with the same output (its weight rows 1 and 3 are zero, so inputs
/// that differ only there give the same output).
fn input_independence_statistic(
    samples: u64,
    blinds: impl FnMut(u64) -> Box<dyn BlindSource>,
) -> f64 {
    let pk = keys(masked_rows_model([0, 0, 0, 0]), WeightVisibility::Hidden);
    independence_statistic(
        [(&pk, [100, 93, -70, -12]), (&pk, [100, -120, -70, 41])],
        true,
        samples,
        blinds,
    )
}

/// The largest two-sample χ² over 32-byte proof windows (past the header)
/// between `samples` proofs of each of two (key, input) cases that share
/// their statement.
fn independence_statistic(
    cases: [(&ProvingKey, [i64; 4]); 2],
    private_input: bool,
    samples: u64,
    mut blinds: impl FnMut(u64) -> Box<dyn BlindSource>,
) -> f64 {
    let mut counts = Counts::new();
    let mut output = None;
    for (w, (pk, input)) in cases.into_iter().enumerate() {
        for s in 0..samples {
            let witness = pk.model.execute(&input).unwrap();
            let mut source = blinds(2 * s + w as u64);
            let p = model::prove_witness(
                CpuBackend::global(),
                pk,
                &input,
                &witness,
                private_input,
                source.as_mut(),
            )
            .unwrap();
            assert_eq!(
                *output.get_or_insert(p.output.clone()),
                p.output,
                "one statement"
            );
            let bytes = p.to_bytes();
            let windows: Vec<Vec<u8>> = bytes[header_len(&p)..]
                .chunks(32)
                .map(|c| c.to_vec())
                .collect();
            add_sample(&mut counts, w, &windows);
        }
    }
    eprintln!("{} windows per proof", counts.len());
    max_chi2(&counts)
}

/// χ² with 15 degrees of freedom exceeds 56.0 with probability 1e-6; these
/// proofs have 1,249 windows, so a false alarm has probability about 1e-3.
/// zkinfer's blinds are seeded, but dory-pcs's hiding opening draws its own,
/// so the statistic varies a little from run to run.
const CHI2_THRESHOLD: f64 = 56.0;

#[test]
fn proofs_for_two_hidden_weight_sets_are_indistinguishable() {
    let stat = weight_independence_statistic(128, |s| Box::new(SeededBlinds::new(5000 + s)));
    eprintln!("masked model proofs: largest χ² {stat:.1}");
    assert!(
        stat < CHI2_THRESHOLD,
        "χ² {stat:.1} ≥ {CHI2_THRESHOLD}: proofs depend on the hidden weights"
    );
}

#[test]
fn the_model_statistic_detects_unmasked_proofs() {
    let stat = weight_independence_statistic(32, |_| Box::new(NoBlinds));
    eprintln!("unmasked model proofs: largest χ² {stat:.1}");
    assert!(
        stat > CHI2_THRESHOLD,
        "χ² {stat:.1}: the test cannot tell the weights apart without masking"
    );
}

#[test]
fn proofs_for_two_private_inputs_are_indistinguishable() {
    let stat = input_independence_statistic(128, |s| Box::new(SeededBlinds::new(9000 + s)));
    eprintln!("private-input proofs: largest χ² {stat:.1}");
    assert!(
        stat < CHI2_THRESHOLD,
        "χ² {stat:.1} ≥ {CHI2_THRESHOLD}: proofs depend on the private input"
    );
}

#[test]
fn the_input_statistic_detects_unmasked_proofs() {
    let stat = input_independence_statistic(32, |_| Box::new(NoBlinds));
    eprintln!("unmasked private-input proofs: largest χ² {stat:.1}");
    assert!(
        stat > CHI2_THRESHOLD,
        "χ² {stat:.1}: the test cannot tell the inputs apart without masking"
    );
}

/// A proof with a private input holds no input values, verifies without
/// one, survives encoding, and is rejected against a given input, with its
/// flag flipped, or relabelled from a public-input proof; an input outside
/// the activation range cannot be proven (the key's `InputRange` node).
#[test]
fn a_private_input_proves_and_verifies_without_the_input() {
    let pk = keys(every_zk_op_model(), WeightVisibility::Hidden);
    assert!(
        matches!(pk.model.nodes[0].op, Op::InputRange(_)),
        "hidden keys range-check their inputs"
    );
    let witness = pk.model.execute(&INPUT).unwrap();
    let p = model::prove_witness(
        CpuBackend::global(),
        &pk,
        &INPUT,
        &witness,
        true,
        &mut SeededBlinds::new(11),
    )
    .unwrap();
    assert!(p.private_input && p.input.is_empty());
    model::verify(&pk.vk, &[], &p).unwrap();
    let decoded = ZkModelProof::from_bytes(&p.to_bytes()).unwrap();
    assert_eq!(decoded, p);
    model::verify(&pk.vk, &[], &decoded).unwrap();
    let err = model::verify(&pk.vk, &INPUT, &p).unwrap_err();
    assert!(err.to_string().contains("private"), "{err}");

    // The flag is bound: a public-input proof relabelled private (input
    // dropped), and a private one relabelled public, are rejected.
    let public = prove_seeded(&pk, &INPUT, 12);
    let mut relabelled = public.clone();
    relabelled.private_input = true;
    relabelled.input.clear();
    assert!(model::verify(&pk.vk, &[], &relabelled).is_err());
    let mut exposed = p.clone();
    exposed.private_input = false;
    exposed.input = INPUT.to_vec();
    assert!(model::verify(&pk.vk, &INPUT, &exposed).is_err());
    let mut bytes = p.to_bytes();
    bytes[header_len(&p) - 1 - 2 * 8 - 8 * p.output.len()] = 2;
    assert!(ZkModelProof::from_bytes(&bytes).is_err());
    assert_flips_rejected(&pk, &[], &p, 60);

    // Out of the activation range: execution refuses, and a forged witness
    // cannot be proven (its range check has no limbs).
    let mut wide = INPUT;
    wide[2] = 1 << 15;
    assert!(pk.model.execute(&wide).is_err());
    let mut forged = witness.clone();
    forged.values[0][2] = 1 << 15;
    let y = pk.model.nodes[0].output;
    forged.values[y][2] = 1 << 15;
    let err = model::prove_witness(
        CpuBackend::global(),
        &pk,
        &wide,
        &forged,
        true,
        &mut SeededBlinds::new(13),
    )
    .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}

#[test]
fn batched_sigma_checks_accept_true_proofs_and_name_a_false_one() {
    use super::{Opening, PedersenGens, SigmaError, ZeroProof};
    use crate::transcript::ProofTranscript;
    use ark_bn254::Fr;
    use ark_ec::CurveGroup;
    let gens = PedersenGens::dory();
    let zero = Opening::new(Fr::from(0u64), Fr::from(5u64));
    let c = gens.commit_opening(zero).into_affine();
    let p = ZeroProof::prove(
        &mut ProofTranscript::new(b"batch"),
        gens,
        &c,
        zero,
        &mut SeededBlinds::new(9),
    );
    let mut v = ProofTranscript::new(b"batch");
    v.defer_sigma_checks();
    p.verify(&mut v, gens, &c).unwrap();
    v.finish_sigma_checks().unwrap();
    // A commitment to one: the deferred check passes for now, the batch fails.
    let one = gens
        .commit_opening(Opening::new(Fr::from(1u64), Fr::from(5u64)))
        .into_affine();
    let mut v = ProofTranscript::new(b"batch");
    v.defer_sigma_checks();
    p.verify(&mut v, gens, &one).unwrap();
    assert_eq!(v.finish_sigma_checks(), Err(SigmaError::NotZero));
    // Checked at once without a batch.
    assert_eq!(
        p.verify(&mut ProofTranscript::new(b"batch"), gens, &one),
        Err(SigmaError::NotZero)
    );
}

/// x[2,5,6] → Conv (3 output channels, 3×3, pad 1, bias) → ReLU → MaxPool
/// 2×2 stride 2 → [3,2,3]: the CNN ops in zero knowledge.
fn cnn_model() -> Model {
    use crate::ops::conv::{Conv, Window};
    use crate::ops::max_pool::MaxPool;
    use TensorKind::Activation as A;
    let w = (0..54).map(|i| ((i * 37 + 5) % 97) - 48).collect();
    Model {
        name: "zk-cnn".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[2, 5, 6], TensorKind::Input),
            weight("W", &[3, 2, 3, 3], w),
            weight("b", &[3], vec![12, -40, 3]),
            tensor("c", &[3, 5, 6], A),
            tensor("r", &[3, 5, 6], A),
            tensor("y", &[3, 2, 3], A),
        ],
        nodes: vec![
            node(
                "conv",
                Op::Conv(Conv {
                    strides: vec![1, 1],
                    dilations: vec![1, 1],
                    pads: vec![(1, 1), (1, 1)],
                    groups: 1,
                }),
                &[0, 1, 2],
                3,
            ),
            node("relu", Op::Relu, &[3], 4),
            node(
                "pool",
                Op::MaxPool(MaxPool(Window {
                    channels: 3,
                    input: vec![5, 6],
                    kernel: vec![2, 2],
                    strides: vec![2, 2],
                    pads: vec![(0, 0), (0, 0)],
                })),
                &[4],
                5,
            ),
        ],
        inputs: vec![0],
        outputs: vec![5],
    }
}

#[test]
fn convolution_and_max_pool_prove_verify_and_reject_tampering() {
    let input: Vec<i64> = (0..60).map(|i| ((i * 53) % 201) - 100).collect();
    let pk = keys(cnn_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &input, 6);
    assert_eq!(p.output, pk.model.execute(&input).unwrap().values[5]);
    model::verify(&pk.vk, &input, &p).unwrap();
    let mut bad = p.clone();
    bad.output[4] += 1;
    assert!(model::verify(&pk.vk, &input, &bad).is_err());
    assert_flips_rejected(&pk, &input, &p, 60);
}

/// A witness over one chunk (2^18 entries) gets one hiding commitment per
/// chunk, opened together: it proves and verifies, and swapped, changed,
/// missing or extra chunk commitments are rejected.
#[test]
fn a_witness_over_one_chunk_is_committed_in_hiding_chunks() {
    use TensorKind::Activation as A;
    let len = 1usize << 16;
    let model = Model {
        name: "wide-mul-relu".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, len], TensorKind::Input),
            weight("c", &[1], vec![-3]),
            tensor("m", &[1, len], A),
            tensor("y", &[1, len], A),
        ],
        nodes: vec![
            node("mul", Op::Mul, &[0, 1], 2),
            node("relu", Op::Relu, &[2], 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
    };
    let pk = keys(model, WeightVisibility::Hidden);
    let (vars, count) = pk.vk.witness_chunks();
    assert_eq!(vars, proof::WITNESS_CHUNK_VARS);
    assert!(count >= 2, "{count} chunk(s)");
    let input: Vec<i64> = (0..len as i64).map(|i| (i * 7919) % 4001 - 2000).collect();
    let p = prove_seeded(&pk, &input, 7);
    assert_eq!(p.witness_commitments.len(), count);
    model::verify(&pk.vk, &input, &p).unwrap();
    let decoded = ZkModelProof::from_bytes(&p.to_bytes()).unwrap();
    model::verify(&pk.vk, &input, &decoded).unwrap();

    let mut swapped = p.clone();
    swapped.witness_commitments.swap(0, 1);
    assert!(model::verify(&pk.vk, &input, &swapped).is_err());
    let mut changed = p.clone();
    changed.witness_commitments[count - 1] = p.witness_commitments[0];
    assert!(model::verify(&pk.vk, &input, &changed).is_err());
    let mut missing = p.clone();
    missing.witness_commitments.pop();
    let err = model::verify(&pk.vk, &input, &missing).unwrap_err();
    assert!(matches!(err, ProofError::Shape(_)), "{err}");
    let mut extra = p.clone();
    extra.witness_commitments.push(p.witness_commitments[0]);
    let err = model::verify(&pk.vk, &input, &extra).unwrap_err();
    assert!(matches!(err, ProofError::Shape(_)), "{err}");
}

/// x[3,5] → MatMul W[5,5] → h, then Softmax's ops on h (MaxShift → Exp →
/// ReduceSum → Div), LayerNorm's (SumSquares → Rsqrt → Mul) and a
/// ReduceMax: the attention and norm ops `--zk` supports.
fn softmax_and_norm_model() -> Model {
    use crate::ops::reduce_sum::ReduceSum;
    use crate::ops::sum_squares::SumSquares;
    use TensorKind::Activation as A;
    let w = (0..25).map(|i| ((i * 41 + 3) % 61) - 30).collect();
    Model {
        name: "zk-softmax-norm".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[3, 5], TensorKind::Input),
            weight("W", &[5, 5], w),
            tensor("h", &[3, 5], A),
            tensor("shifted", &[3, 5], A),
            tensor("exp", &[3, 5], A),
            tensor("sum", &[3, 1], A),
            tensor("softmax", &[3, 5], A),
            tensor("mean_square", &[3, 1], A),
            tensor("inv_rms", &[3, 1], A),
            tensor("normed", &[3, 5], A),
            tensor("row_max", &[3, 1], A),
        ],
        nodes: vec![
            node("dense", Op::MatMul, &[0, 1], 2),
            node("shift", Op::MaxShift, &[2], 3),
            node("exp", Op::Exp, &[3], 4),
            node(
                "row_sum",
                Op::ReduceSum(ReduceSum {
                    input: vec![3, 5],
                    axes: vec![1],
                }),
                &[4],
                5,
            ),
            node("divide", Op::Div, &[4, 5], 6),
            node(
                "mean_square",
                Op::SumSquares(SumSquares { shift: 2 }),
                &[2],
                7,
            ),
            node("rsqrt", Op::Rsqrt, &[7], 8),
            node("scale", Op::Mul, &[2, 8], 9),
            node("max", Op::ReduceMax, &[2], 10),
        ],
        inputs: vec![0],
        outputs: vec![6, 9, 10],
    }
}

/// Softmax's and the norms' ops (MaxShift, Div, SumSquares, ReduceMax) prove
/// and verify with hidden weights; a wrong output of each is rejected and
/// every flipped bit of the proof is.
#[test]
fn softmax_and_norm_ops_prove_verify_and_reject_tampering() {
    let input: Vec<i64> = (0..15).map(|i| ((i * 53) % 201) - 100).collect();
    let pk = keys(softmax_and_norm_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &input, 8);
    let witness = pk.model.execute(&input).unwrap();
    let outputs: Vec<i64> = pk
        .model
        .outputs
        .iter()
        .flat_map(|&o| witness.values[o].clone())
        .collect();
    assert_eq!(p.output, outputs);
    model::verify(&pk.vk, &input, &p).unwrap();
    // One entry of each output: the softmax, the normed rows, the row max.
    for at in [0, 15, 30] {
        let mut bad = p.clone();
        bad.output[at] += 1;
        assert!(model::verify(&pk.vk, &input, &bad).is_err(), "output {at}");
    }
    // Each new op's message: a sent commitment swapped for another, or a
    // round commitment of its sumcheck changed, is rejected.
    assert_eq!(p.ops.len(), pk.model.nodes.len());
    for name in ["shift", "divide", "mean_square", "max"] {
        let n = pk.model.nodes.iter().position(|x| x.name == name).unwrap();
        let message = &p.ops[n];
        assert_eq!(message.sumchecks.len(), 1, "{name}");
        let mut bad = p.clone();
        bad.ops[n].values[0] = message.values[1];
        assert!(model::verify(&pk.vk, &input, &bad).is_err(), "{name} value");
        let mut bad = p.clone();
        bad.ops[n].sumchecks[0].rounds.rounds[0].0[0] = message.values[0];
        assert!(model::verify(&pk.vk, &input, &bad).is_err(), "{name} round");
    }
    assert_flips_rejected(&pk, &input, &p, 60);
}

/// q[2,3,4] · (k[2,4,2] ⊙ c) per batch entry → ReLU: BatchedMatMul of two
/// activations (one computed with a hidden weight) in zero knowledge.
fn batched_matmul_model() -> Model {
    use TensorKind::Activation as A;
    Model {
        name: "zk-batched-matmul".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("q", &[2, 3, 4], TensorKind::Input),
            tensor("k_in", &[2, 4, 2], TensorKind::Input),
            weight("c", &[2], vec![90, -70]),
            tensor("k", &[2, 4, 2], A),
            tensor("s", &[2, 3, 2], A),
            tensor("y", &[2, 3, 2], A),
        ],
        nodes: vec![
            node("scale", Op::Mul, &[1, 2], 3),
            node("scores", Op::BatchedMatMul, &[0, 3], 4),
            node("relu", Op::Relu, &[4], 5),
        ],
        inputs: vec![0, 1],
        outputs: vec![5],
    }
}

#[test]
fn batched_matmul_proves_verifies_and_rejects_tampering() {
    let input: Vec<i64> = (0..40).map(|i| ((i * 59) % 211) - 100).collect();
    let pk = keys(batched_matmul_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &input, 21);
    let y = *pk.model.outputs.first().unwrap();
    assert_eq!(p.output, pk.model.execute(&input).unwrap().values[y]);
    assert!(p.output.iter().any(|&v| v != 0), "{:?}", p.output);
    model::verify(&pk.vk, &input, &p).unwrap();
    let mut bad = p.clone();
    bad.output[2] += 1;
    assert!(model::verify(&pk.vk, &input, &bad).is_err());
    let mut other = input.clone();
    other[5] += 1;
    assert!(model::verify(&pk.vk, &other, &p).is_err());
    assert_flips_rejected(&pk, &input, &p, 60);
}

/// Gather of a hidden table's rows by the ids input, plus a second input x,
/// → MatMul (hidden W) → ReLU: Gather in zero knowledge; its ids stay a
/// public model input.
fn gather_model() -> Model {
    use TensorKind::Activation as A;
    let table = (0..40).map(|i| ((i * 37 + 3) % 97) - 48).collect();
    let w = (0..12).map(|i| ((i * 41 + 7) % 89) - 44).collect();
    Model {
        name: "zk-gather".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("ids", &[5], TensorKind::Input),
            weight("table", &[10, 4], table),
            tensor("x", &[5, 4], TensorKind::Input),
            tensor("e", &[5, 4], A),
            tensor("s", &[5, 4], A),
            weight("W", &[4, 3], w),
            tensor("h", &[5, 3], A),
            tensor("y", &[5, 3], A),
        ],
        nodes: vec![
            node("emb", Op::Gather, &[1, 0], 3),
            node("add", Op::Add, &[3, 2], 4),
            node("dense", Op::MatMul, &[4, 5], 6),
            node("relu", Op::Relu, &[6], 7),
        ],
        inputs: vec![0, 2],
        outputs: vec![7],
    }
}

/// The ids (held as id·2^7; −1 is the last row), then x.
fn gather_input() -> Vec<i64> {
    let ids = [3i64, 0, 9, -1, 3].iter().map(|v| v << 7);
    ids.chain((0..20).map(|i| ((i * 53) % 201) - 100)).collect()
}

#[test]
fn gather_keys_with_hidden_weights_keep_the_ids_a_model_input() {
    let pk = keys(gather_model(), WeightVisibility::Hidden);
    let model = &pk.model;
    model.validate().unwrap();
    // x is range-checked; the ids, read only by the Gather, are not.
    let bounded: Vec<&[usize]> = model
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::InputRange(_)))
        .map(|n| &n.inputs[..])
        .collect();
    assert_eq!(bounded, [&[2usize][..]]);
    let gather = model.nodes.iter().find(|n| n.name == "emb").unwrap();
    assert_eq!(gather.inputs, [1, 0]);
    let add = model.nodes.iter().find(|n| n.name == "add").unwrap();
    assert_ne!(add.inputs[1], 2, "x is read through its InputRange");
    assert_eq!(crate::ops::input_range::bound_inputs(model), *model);
    // The key file's model validates on loading.
    let bytes = crate::keys::vk_to_bytes(&pk.vk);
    crate::keys::vk_from_bytes(std::path::Path::new("vk"), &bytes).unwrap();

    // An input read both as ids and otherwise is range-checked for the
    // other reader; the Gather still reads the input.
    use TensorKind::Activation as A;
    let both = Model {
        name: "ids-also-added".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("ids", &[1, 5], TensorKind::Input),
            weight("table", &[10, 1], (0..10).collect()),
            tensor("e", &[1, 5], A),
            tensor("s", &[1, 5], A),
        ],
        nodes: vec![
            node("emb", Op::Gather, &[1, 0], 2),
            node("add", Op::Add, &[2, 0], 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
    };
    both.validate().unwrap();
    let bound = crate::ops::input_range::bound_inputs(&both);
    bound.validate().unwrap();
    assert!(matches!(bound.nodes[0].op, Op::InputRange(_)));
    assert_eq!(bound.nodes[1].inputs, [1, 0], "the Gather reads the input");
    assert_eq!(bound.nodes[2].inputs[1], bound.nodes[0].output);
}

#[test]
fn gather_proves_verifies_and_rejects_tampering() {
    let input = gather_input();
    let pk = keys(gather_model(), WeightVisibility::Hidden);
    let p = prove_seeded(&pk, &input, 22);
    assert_eq!(p.output, pk.model.execute(&input).unwrap().values[7]);
    assert!(p.output.iter().any(|&v| v != 0), "{:?}", p.output);
    model::verify(&pk.vk, &input, &p).unwrap();
    let mut bad = p.clone();
    bad.output[4] += 1;
    assert!(model::verify(&pk.vk, &input, &bad).is_err());
    // Other ids select other rows: the proof does not verify for them.
    let mut other = input.clone();
    other[1] = 5 << 7;
    assert!(model::verify(&pk.vk, &other, &p).is_err());
    let mut relabelled = p.clone();
    relabelled.input = other.clone();
    assert!(model::verify(&pk.vk, &other, &relabelled).is_err());
    assert_flips_rejected(&pk, &input, &p, 60);
}

/// A Gather's ids must be public: a proof with a private input is refused
/// naming the node, and a proof relabelled private is rejected (also by the
/// op's own verifier, which finds no ids in the statement).
#[test]
fn a_gather_model_refuses_a_private_input() {
    let input = gather_input();
    let pk = keys(gather_model(), WeightVisibility::Hidden);
    let witness = pk.model.execute(&input).unwrap();
    let err = model::prove_witness(
        CpuBackend::global(),
        &pk,
        &input,
        &witness,
        true,
        &mut SeededBlinds::new(23),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("emb") && err.contains("ids") && err.contains("public"),
        "{err}"
    );
    assert!(model::prove_with(CpuBackend::global(), &pk, &input, true).is_err());

    let p = prove_seeded(&pk, &input, 24);
    let mut relabelled = p.clone();
    relabelled.private_input = true;
    relabelled.input.clear();
    let err = model::verify(&pk.vk, &[], &relabelled)
        .unwrap_err()
        .to_string();
    assert!(err.contains("emb") && err.contains("public"), "{err}");

    let n = pk.model.nodes.iter().position(|n| n.name == "emb").unwrap();
    let zk = crate::ops::protocol(&Op::Gather).zk().unwrap();
    let err = zk
        .verify_zk(
            &pk.vk.model,
            crate::ops::PublicInput { values: &[] },
            n,
            &p.ops[n],
            &mut crate::transcript::ProofTranscript::new(b"test"),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("public"), "{err}");
}
