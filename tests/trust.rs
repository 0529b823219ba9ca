//! Attacks on what surrounds the protocol (issue "trust and robustness"): each
//! test performs the attack and checks that it is refused.
//!
//! - key folders whose weight commitment was not computed from the model's
//!   weights (hole 1);
//! - cached or shipped Dory setups with other values than the public seed's
//!   (hole 2; the cache file case is in `src/pcs/setup.rs`);
//! - activations outside `[−2^(a−1), 2^(a−1))`, e.g. an unbounded Add (hole 3);
//! - cyclic and otherwise malformed graphs in a verifying key (hole 4);
//! - shapes that would make the verifier allocate by the padded size (hole 5).

use ark_bn254::Fr;
use zkinfer::backend::CpuBackend;
use zkinfer::keys::{self, cache, mac};
use zkinfer::model::{rescale, Model, Op, TensorKind, Witness};
use zkinfer::proof::{self, ProofError, WeightVisibility};

use crate::common::alloc::largest_allocation;
use crate::common::{node, setup, tensor};

/// x[1,4] → Gemm(W[4,3], b[3]) → ReLU, weights from `seed`.
fn gemm_relu(seed: i64) -> Model {
    let values = |len: i64, k: i64| (0..len).map(move |i| (i * 37 + k * 11 + seed * 29) % 97 - 48);
    Model {
        name: "gemm-relu".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 4], TensorKind::Input),
            tensor(
                "W",
                &[4, 3],
                TensorKind::Weight {
                    values: values(12, 1).collect(),
                },
            ),
            tensor(
                "b",
                &[3],
                TensorKind::Weight {
                    values: values(3, 2).collect(),
                },
            ),
            tensor("h", &[1, 3], TensorKind::Activation),
            tensor("y", &[1, 3], TensorKind::Activation),
        ],
        nodes: vec![
            node("gemm", Op::MatMul, &[0, 1, 2], 3),
            node("relu", Op::Relu, &[3], 4),
        ],
        inputs: vec![0],
        outputs: vec![4],
    }
}

const INPUT: [i64; 4] = [100, -50, 25, 300];

/// Hole 1: pk.bin/vk.bin with model A's weights and model B's commitment (a
/// valid checksum, a vk consistent with the pk) made `verify A --keys DIR`
/// accept B's proofs. The folder is now refused: its commitment is recomputed
/// from A's weights unless this user's secret tag vouches for the files.
#[test]
fn a_key_folder_with_another_models_commitment_is_refused() {
    let model_a = gemm_relu(1);
    let model_b = gemm_relu(2);
    assert_ne!(model_a, model_b);
    let dirs = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (dirs.path().join("a"), dirs.path().join("b"));
    let backend = CpuBackend::global();
    let visibility = WeightVisibility::Committed;
    let pk_a =
        keys::preprocess_to_dir(backend, model_a.clone(), visibility, setup(), &dir_a).unwrap();
    let pk_b =
        keys::preprocess_to_dir(backend, model_b.clone(), visibility, setup(), &dir_b).unwrap();
    // The honest folders load (tagged when built).
    assert!(dir_a.join(mac::TAG_FILE).exists());
    cache::load(backend, &dir_a, &model_a, visibility, setup()).unwrap();

    // The forgery: A's weights, B's commitment and row commitments.
    let (poly_a, _, _) = pk_a.model_poly.clone().unwrap();
    let (_, commitment_b, hint_b) = pk_b.model_poly.clone().unwrap();
    let forged = proof::assemble_keys(
        model_a.clone(),
        visibility,
        setup(),
        Some((poly_a, commitment_b, hint_b)),
        ark_bn254::Fr::from(0u64),
    );
    // It really is the attack: B's proof verifies against the forged key.
    let proof_b = proof::prove(CpuBackend::global(), &pk_b, &INPUT).unwrap();
    proof::verify(&forged.vk, &INPUT, &proof_b).unwrap();
    assert_ne!(
        proof_b.output,
        model_a.execute(&INPUT).unwrap().values[model_a.outputs[0]],
        "B's output is not A's"
    );

    let forged_dir = dirs.path().join("forged");
    std::fs::create_dir_all(&forged_dir).unwrap();
    std::fs::write(forged_dir.join("pk.bin"), keys::pk_to_bytes(&forged)).unwrap();
    std::fs::write(forged_dir.join("vk.bin"), keys::vk_to_bytes(&forged.vk)).unwrap();
    for tag in [None, Some(dir_a.join(mac::TAG_FILE))] {
        // Without a tag, and with the honest folder's tag copied over.
        if let Some(tag) = tag {
            std::fs::copy(tag, forged_dir.join(mac::TAG_FILE)).unwrap();
        }
        let err = cache::load(backend, &forged_dir, &model_a, visibility, setup()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not computed from this model's weights"),
            "{err}"
        );
    }
    // As a folder the user named (`--keys DIR`): an error, the files untouched.
    let params = cache::KeyParams {
        import: Default::default(),
        visibility,
    };
    let before = std::fs::read(forged_dir.join("pk.bin")).unwrap();
    let err =
        cache::load_or_build_named(backend, &model_a, &params, setup(), &forged_dir).unwrap_err();
    assert!(err.to_string().contains("weight commitment"), "{err}");
    assert_eq!(std::fs::read(forged_dir.join("pk.bin")).unwrap(), before);
    // As a cache folder: rebuilt with a warning, and the rebuilt keys are A's.
    let keys = cache::load_or_build(backend, &model_a, visibility, setup(), &forged_dir).unwrap();
    assert!(matches!(keys.origin, cache::KeyOrigin::Rebuilt { .. }));
    assert_eq!(keys.pk.vk.digest, pk_a.vk.digest);
    assert!(proof::verify(&keys.pk.vk, &INPUT, &proof_b).is_err());
}

/// An untagged but honest folder (copied from another machine, or built by
/// another user) is checked by recomputation, then tagged for the next load.
#[test]
fn an_untagged_honest_folder_is_recomputed_then_tagged() {
    let model = gemm_relu(3);
    let dir = tempfile::tempdir().unwrap();
    let backend = CpuBackend::global();
    let visibility = WeightVisibility::Committed;
    let pk =
        keys::preprocess_to_dir(backend, model.clone(), visibility, setup(), dir.path()).unwrap();
    let tag = dir.path().join(mac::TAG_FILE);
    std::fs::remove_file(&tag).unwrap();
    let loaded = cache::load(backend, dir.path(), &model, visibility, setup()).unwrap();
    assert_eq!(loaded.vk.digest, pk.vk.digest);
    assert!(tag.exists(), "a checked folder is tagged");
    // A tag over other bytes does not vouch: flip a byte of the tag.
    let mut bytes = std::fs::read(&tag).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tag, &bytes).unwrap();
    cache::load(backend, dir.path(), &model, visibility, setup()).unwrap();
}

/// Hole 2 (verifying keys): a vk over the public seed whose Dory values were
/// changed is refused when read, naming the round.
#[test]
fn a_verifying_key_with_other_dory_values_is_refused() {
    use ark_ff::AdditiveGroup;
    let dir = tempfile::tempdir().unwrap();
    // A setup of exactly the size the model needs, as `verify --vk` requires.
    let model = gemm_relu(1);
    let mut setups = cache::Setups::new(std::env::temp_dir().join("zkinfer-test-cache"));
    let pk = keys::preprocess_to_dir(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setups.for_model(&model).unwrap(),
        dir.path(),
    )
    .unwrap();
    let path = dir.path().join("vk.bin");
    keys::read_vk_over_public_setup(&path).unwrap();
    let rounds = pk.vk.log_generators;
    for round in 0..=rounds {
        let mut vk = pk.vk.clone();
        vk.dory.chi[round].0 = vk.dory.chi[round].0.double();
        std::fs::write(&path, keys::vk_to_bytes(&vk)).unwrap();
        let err = keys::read_vk(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("round {round}")), "{err}");
        assert!(keys::read_vk_over_public_setup(&path).is_err());
    }
    let mut vk = pk.vk.clone();
    vk.dory.h1.0 = vk.dory.h1.0.double();
    std::fs::write(&path, keys::vk_to_bytes(&vk)).unwrap();
    let err = keys::read_vk(&path).unwrap_err().to_string();
    assert!(err.contains("public seed"), "{err}");
}

/// x[1,2] → Add(x, x) → s → MatMul(W[2,2]) → y.
fn add_then_matmul() -> Model {
    Model {
        name: "add-matmul".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 2], TensorKind::Input),
            tensor("s", &[1, 2], TensorKind::Activation),
            tensor(
                "W",
                &[2, 2],
                TensorKind::Weight {
                    values: vec![64, 0, 0, 32],
                },
            ),
            tensor("y", &[1, 2], TensorKind::Activation),
        ],
        nodes: vec![
            node("add", Op::Add, &[0, 0], 1),
            node("matmul", Op::MatMul, &[1, 2], 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
    }
}

/// The witness of `add_then_matmul` with `s` as given (not necessarily x + x).
fn witness_with_sum(model: &Model, x: &[i64], s: &[i64]) -> Witness {
    let w = [64i128, 0, 0, 32];
    let (mut y, mut r) = (Vec::new(), Vec::new());
    for j in 0..2 {
        let acc = s[0] as i128 * w[j] + s[1] as i128 * w[2 + j];
        let (q, rem) = rescale(acc, model.scale_bits);
        y.push(q as i64);
        r.push(rem as i64);
    }
    Witness {
        aux: vec![Vec::new(); model.nodes.len()],
        values: vec![x.to_vec(), s.to_vec(), vec![64, 0, 0, 32], y],
        remainders: vec![None, Some(r)],
    }
}

/// Hole 3: Add(x, x) with x = 30000 is 60000, outside the activation range;
/// integer execution refuses it, and so must the proof system.
#[test]
fn an_add_output_outside_the_activation_range_cannot_be_proved() {
    let model = add_then_matmul();
    let x = [30000, -20];
    assert!(model.execute(&x).is_err(), "execution refuses 60000");
    for visibility in [WeightVisibility::Public, WeightVisibility::Committed] {
        let pk =
            proof::preprocess(CpuBackend::global(), model.clone(), visibility, setup()).unwrap();
        // The honest sum: the prover cannot decompose 60000 for the Add
        // node's range check.
        let err = proof::prove_witness(
            CpuBackend::global(),
            &pk,
            &x,
            &witness_with_sum(&model, &x, &[60000, -40]),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ProofError::Op { node, .. } if node == "add"),
            "{err}"
        );
        // Before range checks on Add, exactly this witness proved and verified.
        // Now the verifier requires the Add node's range check, with its own
        // query set in the byte lookup.
        assert!(zkinfer::ops::range::range_checks(&model)
            .iter()
            .any(|c| model.nodes[c.node].op == Op::Add));
        // Wrapped into the range (60000 − 2^16): the range check passes, the
        // Add relation does not, so the claims on the witness commitment are
        // false: the prover cannot open them (and a proof that did is
        // rejected by the verifier's opening check).
        match proof::prove_witness(
            CpuBackend::global(),
            &pk,
            &x,
            &witness_with_sum(&model, &x, &[60000 - 65536, -40]),
        ) {
            Err(err) => assert!(matches!(err, ProofError::Reduction(_)), "{err}"),
            Ok(forged) => {
                proof::verify(&pk.vk, &x, &forged).unwrap_err();
            }
        }
        // An honest in-range proof still verifies.
        let honest = proof::prove(CpuBackend::global(), &pk, &[100, -20]).unwrap();
        proof::verify(&pk.vk, &[100, -20], &honest).unwrap();
    }
}

/// Hole 3, the bottom of the range: −2^15 is an activation like any other
/// (execution and proof agree on [−2^15, 2^15)), −2^15 − 1 is refused by both.
#[test]
fn the_activation_range_is_exactly_the_twos_complement_range() {
    let model = Model {
        name: "relu".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 2], TensorKind::Input),
            tensor("y", &[1, 2], TensorKind::Activation),
        ],
        nodes: vec![node("relu", Op::Relu, &[0], 1)],
        inputs: vec![0],
        outputs: vec![1],
    };
    assert_eq!(model.activation_range(), -32768..32768);
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setup(),
    )
    .unwrap();
    let input = [-32768, 32767];
    let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    assert_eq!(p.output, vec![0, 32767]);
    proof::verify(&pk.vk, &input, &p).unwrap();
    assert!(model.execute(&[-32769, 0]).is_err());
    assert!(model.execute(&[0, 32768]).is_err());
    // A proof whose public input leaves the range is refused before anything else.
    let mut outside = p.clone();
    outside.input[0] = -32769;
    let err = proof::verify(&pk.vk, &outside.input.clone(), &outside).unwrap_err();
    assert!(err.to_string().contains("activation range"), "{err}");
}

/// Hole 4: cyclic and otherwise malformed graphs are refused by validation,
/// and so by `vk_from_bytes`.
#[test]
fn malformed_graphs_are_refused() {
    let base = Model {
        name: "cycle".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 2], TensorKind::Input),
            tensor("y", &[1, 2], TensorKind::Activation),
            tensor("z", &[1, 2], TensorKind::Activation),
        ],
        nodes: vec![node("a", Op::Relu, &[0], 1), node("b", Op::Relu, &[1], 2)],
        inputs: vec![0],
        outputs: vec![2],
    };
    base.validate().unwrap();
    type Spoil = fn(&mut Model);
    let cases: [(Spoil, &str); 13] = [
        // y = Relu(z), z = Relu(y): the cycle.
        (
            |m| m.nodes = vec![node("a", Op::Relu, &[2], 1), node("b", Op::Relu, &[1], 2)],
            "before any earlier node",
        ),
        // Nodes out of order.
        (|m| m.nodes.swap(0, 1), "before any earlier node"),
        // Two producers of one tensor.
        (
            |m| m.nodes.push(node("c", Op::Relu, &[0], 2)),
            "already produced",
        ),
        // A node writing the input.
        (
            |m| m.nodes.push(node("c", Op::Relu, &[2], 0)),
            "is an input or a weight",
        ),
        // A dead node.
        (
            |m| {
                m.tensors
                    .push(tensor("dead", &[1, 2], TensorKind::Activation));
                m.nodes.push(node("c", Op::Relu, &[0], 3));
            },
            "used by no node",
        ),
        // An output nobody produces.
        (
            |m| {
                m.tensors.push(tensor("w", &[1, 2], TensorKind::Activation));
                m.outputs = vec![3];
            },
            "not produced by any node",
        ),
        // A second tensor of kind Input, not listed as an input.
        (
            |m| m.tensors[1].kind = TensorKind::Input,
            "exactly the tensors of kind Input",
        ),
        // A listed input that is not of kind Input.
        (|m| m.inputs.push(1), "exactly the tensors of kind Input"),
        // An input or an output listed twice.
        (|m| m.inputs.push(0), "listed twice as a model input"),
        (|m| m.outputs.push(2), "listed twice as a model output"),
        // No input, or no output.
        (|m| m.inputs.clear(), "need at least one of each"),
        (|m| m.outputs.clear(), "need at least one of each"),
        // An output that is an input.
        (|m| m.outputs.push(0), "not produced by any node"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let pk = keys::preprocess_to_dir(
        CpuBackend::global(),
        base.clone(),
        WeightVisibility::Public,
        setup(),
        dir.path(),
    )
    .unwrap();
    for (i, (spoil, expected)) in cases.iter().enumerate() {
        let mut m = base.clone();
        spoil(&mut m);
        let err = m.validate().unwrap_err();
        assert!(err.contains(expected), "case {i}: {err}");
        let mut vk = pk.vk.clone();
        vk.model = m;
        let err = keys::vk_from_bytes(&dir.path().join("vk.bin"), &keys::vk_to_bytes(&vk))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid model"), "case {i}: {err}");
    }
}

/// Hole 5: a shape like [3; 12] pads to 2^24 entries; the verifier's public
/// evaluation allocates by the values, not by the padded size (it used to
/// build a 2^24-entry eq table: 512 MiB; [3; 15] was 2^30 entries).
#[test]
fn public_evaluation_never_allocates_by_the_padded_size() {
    let shape = [3usize; 12];
    let len: usize = shape.iter().product();
    let values: Vec<i64> = (0..len as i64).map(|i| i % 251 - 125).collect();
    let vars = zkinfer::layout::num_vars(&shape);
    assert_eq!(vars, 24);
    let point: Vec<Fr> = (0..vars as u64).map(|i| Fr::from(i * 7 + 3)).collect();
    let (value, largest) = largest_allocation(|| proof::public_mle(&values, &shape, &point));
    assert!(largest < 1 << 16, "largest allocation {largest} bytes");
    // The streaming evaluation equals the padded one on a small shape.
    let small = [3usize, 5, 2];
    let values: Vec<i64> = (0..30).map(|i| i * 13 % 17 - 8).collect();
    let vars = zkinfer::layout::num_vars(&small);
    let point: Vec<Fr> = (0..vars as u64).map(|i| Fr::from(i * 5 + 2)).collect();
    let padded = zkinfer::layout::pad(&values, &small);
    let mut expected = Fr::from(0u64);
    for (i, &v) in padded.iter().enumerate() {
        let mut eq = Fr::from(1u64);
        for (bit, &x) in point.iter().enumerate() {
            eq *= if i >> bit & 1 == 1 {
                x
            } else {
                Fr::from(1u64) - x
            };
        }
        expected += eq * Fr::from(v);
    }
    assert_eq!(proof::public_mle(&values, &small, &point), expected);
    assert_ne!(value, Fr::from(0u64));
}
