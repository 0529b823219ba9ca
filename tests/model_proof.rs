//! End-to-end proofs of hand-built quantized models covering every op, in both
//! weight visibilities, and the rejections the verifier must make.

use ark_bn254::Fr;
use zkinfer::backend::CpuBackend;
use zkinfer::model::{Model, Op, TensorKind};
use zkinfer::proof::{self, ProofError, ProvingKey, WeightVisibility};

use crate::common::{every_op_model_with, node, setup, tensor, weight};

fn every_op_model() -> Model {
    every_op_model_with(7, 16)
}

/// Two stacked Gemms with a 3-row batch (padded to 4) and broadcast bias.
fn batched_model() -> Model {
    use TensorKind::Activation as A;
    Model {
        name: "batched".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[3, 6], TensorKind::Input),
            weight("W1", &[6, 5], 5),
            weight("b1", &[5], 6),
            tensor("h", &[3, 5], A),
            tensor("hr", &[3, 5], A),
            weight("W2", &[5, 2], 7),
            tensor("y", &[3, 2], A),
        ],
        nodes: vec![
            node("g1", Op::MatMul, &[0, 1, 2], 3),
            node("relu", Op::Relu, &[3], 4),
            node("g2", Op::MatMul, &[4, 5], 6),
        ],
        inputs: vec![0],
        outputs: vec![6],
    }
}

fn keys(model: Model, visibility: WeightVisibility) -> ProvingKey {
    proof::preprocess(CpuBackend::global(), model, visibility, setup()).unwrap()
}

#[test]
fn every_op_proves_and_verifies_in_both_modes() {
    let input = vec![100, -50, 25, 300, -7];
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk = keys(every_op_model(), visibility);
        let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        assert_eq!(p.output, pk.model.execute(&input).unwrap().values[11]);
        proof::verify(&pk.vk, &input, &p).unwrap_or_else(|e| panic!("{visibility:?}: {e}"));
    }
}

#[test]
fn padded_batches_prove_and_verify() {
    let input: Vec<i64> = (0..18).map(|i| (i * 29 % 41) - 20).collect();
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk = keys(batched_model(), visibility);
        let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        proof::verify(&pk.vk, &input, &p).unwrap_or_else(|e| panic!("{visibility:?}: {e}"));
    }
}

#[test]
fn wrong_output_input_and_key_are_rejected() {
    let input = vec![100, -50, 25, 300, -7];
    let pk = keys(every_op_model(), WeightVisibility::Committed);
    let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    // A changed output value.
    let mut bad = p.clone();
    bad.output[1] += 1;
    assert!(proof::verify(&pk.vk, &input, &bad).is_err());
    // A changed input (the proof's own and the verifier's).
    let mut other_input = input.clone();
    other_input[0] += 1;
    assert!(matches!(
        proof::verify(&pk.vk, &other_input, &p),
        Err(ProofError::InputMismatch)
    ));
    let mut bad = p.clone();
    bad.input = other_input.clone();
    assert!(proof::verify(&pk.vk, &other_input, &bad).is_err());
    // Another model's key (different weights, same structure).
    let mut other = every_op_model();
    if let TensorKind::Weight { values } = &mut other.tensors[1].kind {
        values[0] += 1;
    }
    let other_pk = keys(other, WeightVisibility::Committed);
    assert!(proof::verify(&other_pk.vk, &input, &p).is_err());
    let public_pk = keys(every_op_model(), WeightVisibility::Public);
    assert!(proof::verify(&public_pk.vk, &input, &p).is_err());
}

#[test]
fn tampered_operator_messages_are_rejected() {
    let input = vec![100, -50, 25, 300, -7];
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk = keys(every_op_model(), visibility);
        let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        let one = Fr::from(1u64);
        for n in 0..p.ops.len() {
            let mut variants = Vec::new();
            // Every value the op sends, each changed alone.
            for i in 0..p.ops[n].values.len() {
                let mut bad = p.clone();
                bad.ops[n].values[i] += one;
                variants.push(bad);
            }
            // A message of the wrong shape.
            let mut bad = p.clone();
            bad.ops[n].values.push(one);
            variants.push(bad);
            for bad in variants {
                assert!(
                    proof::verify(&pk.vk, &input, &bad).is_err(),
                    "{visibility:?}: tampered op {n} accepted"
                );
            }
        }
        for i in 0..p.lookups.len() {
            let mut bad = p.clone();
            bad.lookups[i].query_values[0][0] += one;
            assert!(proof::verify(&pk.vk, &input, &bad).is_err(), "lookup {i}");
        }
        for k in 0..p.range_inputs.len() {
            for i in 0..p.range_inputs[k].len() {
                let mut bad = p.clone();
                bad.range_inputs[k][i] += one;
                assert!(
                    proof::verify(&pk.vk, &input, &bad).is_err(),
                    "range check {k} value {i}"
                );
            }
        }
        assert!(!p.range_inputs.is_empty());
        let mut bad = p.clone();
        bad.range_inputs.pop();
        assert!(proof::verify(&pk.vk, &input, &bad).is_err());
        let mut bad = p.clone();
        bad.reduction.values[0] += one;
        assert!(proof::verify(&pk.vk, &input, &bad).is_err());
        let mut bad = p.clone();
        bad.ops.pop();
        assert!(matches!(
            proof::verify(&pk.vk, &input, &bad),
            Err(ProofError::Shape(_))
        ));
    }
}

#[test]
fn activation_bound_violations_are_refused_naming_the_node() {
    use TensorKind::Activation as A;
    let model = Model {
        name: "overflow".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 2], TensorKind::Input),
            tensor(
                "W",
                &[2, 1],
                TensorKind::Weight {
                    values: vec![30000, 30000],
                },
            ),
            tensor("y", &[1, 1], A),
        ],
        nodes: vec![node("big_gemm", Op::MatMul, &[0, 1], 2)],
        inputs: vec![0],
        outputs: vec![2],
    };
    let pk = keys(model, WeightVisibility::Committed);
    match proof::prove(CpuBackend::global(), &pk, &[20000, 20000]) {
        Ok(_) => panic!("an out-of-bound activation was proved"),
        Err(err) => assert!(err.to_string().contains("big_gemm"), "{err}"),
    }
}

#[test]
fn proof_bytes_round_trip_and_every_flipped_region_is_rejected() {
    use zkinfer::proof::ModelProof;
    let input = vec![100, -50, 25, 300, -7];
    let pk = keys(every_op_model(), WeightVisibility::Committed);
    let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    let bytes = p.to_bytes();
    let decoded = ModelProof::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, p);
    proof::verify(&pk.vk, &input, &decoded).unwrap();
    // Flip one byte in each of 64 regions spread over the file: the proof must fail
    // to decode or fail to verify, and nothing may panic.
    let step = bytes.len() / 64;
    for k in 0..64 {
        let mut bad = bytes.clone();
        let at = k * step + step / 2;
        bad[at] ^= 0x01;
        let outcome = std::panic::catch_unwind(|| match ModelProof::from_bytes(&bad) {
            Err(_) => true,
            Ok(q) => proof::verify(&pk.vk, &input, &q).is_err(),
        });
        assert!(
            matches!(outcome, Ok(true)),
            "flipped byte {at} of {}: accepted or panicked",
            bytes.len()
        );
    }
    // Truncated files and trailing bytes.
    for cut in [0, 7, 12, bytes.len() / 2, bytes.len() - 1] {
        assert!(ModelProof::from_bytes(&bytes[..cut]).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ModelProof::from_bytes(&longer).is_err());
}

#[test]
fn keys_round_trip_through_files_and_corruption_is_detected() {
    use zkinfer::keys;
    let input = vec![100, -50, 25, 300, -7];
    let dir = tempfile::tempdir().unwrap();
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let sub = dir.path().join(format!("{visibility:?}"));
        let pk = keys::preprocess_to_dir(
            CpuBackend::global(),
            every_op_model(),
            visibility,
            setup(),
            &sub,
        )
        .unwrap();
        let loaded_pk = keys::read_pk(&sub.join("pk.bin"), setup()).unwrap();
        let loaded_vk = keys::read_vk(&sub.join("vk.bin")).unwrap();
        assert_eq!(loaded_vk.digest, pk.vk.digest);
        let p = proof::prove(CpuBackend::global(), &loaded_pk, &input).unwrap();
        proof::verify(&loaded_vk, &input, &p).unwrap();
        // In committed mode the verifying key holds no weight values.
        let vk_bytes = std::fs::read(sub.join("vk.bin")).unwrap();
        if visibility == WeightVisibility::Committed {
            assert!(loaded_vk.model.tensors.iter().all(|t| match &t.kind {
                TensorKind::Weight { values } => values.is_empty(),
                _ => true,
            }));
        }
        // A flipped byte or a truncation is an error naming the file.
        let mut bad = vk_bytes.clone();
        bad[vk_bytes.len() / 2] ^= 1;
        let err = keys::vk_from_bytes(&sub.join("vk.bin"), &bad).unwrap_err();
        assert!(err.to_string().contains("vk.bin"), "{err}");
        assert!(keys::vk_from_bytes(&sub.join("vk.bin"), &vk_bytes[..100]).is_err());
        // A well-formed, checksummed key over a malformed model is an error
        // naming what is wrong, never a panic or a huge allocation.
        let hostile: [fn(&mut zkinfer::model::Model); 4] = [
            |m| m.scale_bits = 0,
            |m| m.nodes[0].inputs.clear(),
            |m| m.nodes[0].output = 1000,
            |m| {
                m.activation_bits = 40;
                m.nodes[0].op = Op::Tanh;
                m.nodes[0].inputs.truncate(1);
            },
        ];
        for (i, spoil) in hostile.iter().enumerate() {
            let mut vk = pk.vk.clone();
            spoil(&mut vk.model);
            let bytes = keys::vk_to_bytes(&vk);
            let err = keys::vk_from_bytes(&sub.join("vk.bin"), &bytes).unwrap_err();
            assert!(err.to_string().contains("invalid model"), "case {i}: {err}");
        }
        let pk_bytes = std::fs::read(sub.join("pk.bin")).unwrap();
        assert!(keys::pk_from_bytes(
            &sub.join("pk.bin"),
            &pk_bytes[..pk_bytes.len() - 1],
            setup()
        )
        .is_err());
    }
}

/// Two inputs of different sizes and two outputs listed out of node order:
/// y2 = Relu(x), y1 = x·W + b (b the second input); outputs [y2, y1].
fn two_in_two_out() -> Model {
    use TensorKind::Activation as A;
    Model {
        name: "two_in_two_out".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, 4], TensorKind::Input),
            tensor("b", &[1, 3], TensorKind::Input),
            weight("W", &[4, 3], 11),
            tensor("h", &[1, 3], A),
            tensor("y1", &[1, 3], A),
            tensor("y2", &[1, 4], A),
        ],
        nodes: vec![
            node("gemm", Op::MatMul, &[0, 2], 3),
            node("add", Op::Add, &[3, 1], 4),
            node("relu", Op::Relu, &[0], 5),
        ],
        inputs: vec![0, 1],
        outputs: vec![5, 4],
    }
}

#[test]
fn several_inputs_and_outputs_are_each_bound() {
    let input = vec![100, -50, 25, 300, 7, -128, 64];
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk = keys(two_in_two_out(), visibility);
        let model = &pk.model;
        let w = model.execute(&input).unwrap();
        assert_eq!(w.values[1], vec![7, -128, 64]);
        let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        // The outputs in the model's order: y2 then y1.
        assert_eq!(
            p.output,
            [w.values[5].clone(), w.values[4].clone()].concat()
        );
        assert_eq!(p.output[..4], [100, 0, 25, 300]);
        proof::verify(&pk.vk, &input, &p).unwrap();
        // Every public value, of either output or either input, is bound.
        for k in 0..p.output.len() {
            let mut bad = p.clone();
            bad.output[k] += 1;
            assert!(
                proof::verify(&pk.vk, &input, &bad).is_err(),
                "{visibility:?}: output value {k} changed and accepted"
            );
        }
        for k in 0..input.len() {
            let mut other = input.clone();
            other[k] += 1;
            let mut bad = p.clone();
            bad.input = other.clone();
            assert!(
                proof::verify(&pk.vk, &other, &bad).is_err(),
                "{visibility:?}: input value {k} changed and accepted"
            );
        }
        // The inputs in the other order (as one list: the lengths still add up).
        let swapped = [&input[4..], &input[..4]].concat();
        let mut bad = p.clone();
        bad.input = swapped.clone();
        assert!(proof::verify(&pk.vk, &swapped, &bad).is_err());
        assert!(matches!(
            proof::verify(&pk.vk, &swapped, &p),
            Err(ProofError::InputMismatch)
        ));
        // Too few values, and a public value of the second input outside the
        // activation range, are refused before anything else.
        let mut short = p.clone();
        short.input.pop();
        let err = proof::verify(&pk.vk, &short.input.clone(), &short).unwrap_err();
        assert!(err.to_string().contains("6 values"), "{err}");
        let mut outside = p.clone();
        outside.input[5] = 40000;
        let err = proof::verify(&pk.vk, &outside.input.clone(), &outside).unwrap_err();
        assert!(err.to_string().contains("activation range"), "{err}");
        assert!(proof::prove(CpuBackend::global(), &pk, &input[..6]).is_err());
    }
}

/// A witness larger than one chunk (2^18 entries) is committed as several
/// polynomials that one Dory proof opens together: it proves and verifies
/// (also from bytes), and a proof with its chunk commitments swapped, one
/// changed, one missing or one extra is rejected.
#[test]
fn a_witness_over_one_chunk_is_committed_in_chunks() {
    let len = 1usize << 17;
    let model = Model {
        name: "wide-relu".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[1, len], TensorKind::Input),
            tensor("y", &[1, len], TensorKind::Activation),
        ],
        nodes: vec![node("relu", Op::Relu, &[0], 1)],
        inputs: vec![0],
        outputs: vec![1],
    };
    let pk = keys(model, WeightVisibility::Public);
    let (vars, count) = pk.vk.witness_chunks();
    assert_eq!(vars, proof::WITNESS_CHUNK_VARS);
    assert!(count >= 2, "{count} chunk(s)");
    let input: Vec<i64> = (0..len as i64).map(|i| (i * 7919) % 4001 - 2000).collect();
    let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    assert_eq!(p.witness_commitments.len(), count);
    proof::verify(&pk.vk, &input, &p).unwrap();
    let decoded = proof::ModelProof::from_bytes(&p.to_bytes()).unwrap();
    proof::verify(&pk.vk, &input, &decoded).unwrap();

    let mut swapped = p.clone();
    swapped.witness_commitments.swap(0, 1);
    assert!(proof::verify(&pk.vk, &input, &swapped).is_err());
    let mut changed = p.clone();
    changed.witness_commitments[count - 1] = p.witness_commitments[0];
    assert!(proof::verify(&pk.vk, &input, &changed).is_err());
    let mut missing = p.clone();
    missing.witness_commitments.pop();
    let err = proof::verify(&pk.vk, &input, &missing).unwrap_err();
    assert!(matches!(err, ProofError::Shape(_)), "{err}");
    let mut extra = p.clone();
    extra.witness_commitments.push(p.witness_commitments[0]);
    let err = proof::verify(&pk.vk, &input, &extra).unwrap_err();
    assert!(matches!(err, ProofError::Shape(_)), "{err}");
}
