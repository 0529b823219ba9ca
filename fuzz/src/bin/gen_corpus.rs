//! Writes the seed corpora under `fuzz/corpus/<target>/` (not a fuzz target):
//! `cargo afl build --release && target/release/gen_corpus`. Keys and proofs
//! come from the shipped models through the library, so a change of the key
//! or proof format is picked up by running this again.

use std::path::{Path, PathBuf};

use base64::Engine;
use zkinfer::backend::CpuBackend;
use zkinfer::keys;
use zkinfer::pcs::setup::DEFAULT_SEED;
use zkinfer::pcs::DorySetup;
use zkinfer::proof::{self, WeightVisibility};
use zkinfer::quant;
use zkinfer_fuzz::{models_dir, prepared, work_dir};

fn corpus(target: &str) -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus")).join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    dir
}

fn put(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).expect("write a seed");
}

fn without_checksum(file: &[u8]) -> &[u8] {
    &file[..file.len() - 64]
}

fn input_of(model: &str) -> Vec<f32> {
    quant::read_input_json(&models_dir().join(model).join("input.json")).expect("input.json")
}

fn main() {
    let small = [
        "addsubmul0",
        "addsubmul1",
        "perceptron",
        "ffn_tanh",
        "authorization",
    ];
    for model in small {
        let dir = models_dir().join(model);
        let onnx = std::fs::read(dir.join("network.onnx")).expect("network.onnx");
        put("onnx_import", &format!("{model}.onnx"), &onnx);
        let input = std::fs::read(dir.join("input.json")).expect("input.json");
        put("input_json", &format!("{model}.json"), &input);
    }
    // One-op models of the op framework's lowerings (convolutions, pools,
    // index maps, several inputs), for the importer's newer paths.
    for op in [
        "conv2d_strided_dilated",
        "maxpool",
        "averagepool",
        "concat",
        "transpose",
        "two_inputs_two_outputs",
    ] {
        let onnx = std::fs::read(models_dir().join("ops").join(op).join("network.onnx"))
            .expect("a one-op model");
        put("onnx_import", &format!("op-{op}.onnx"), &onnx);
    }
    for (i, _) in small.iter().enumerate() {
        put("onnx_mutate", &format!("model{i}"), &[i as u8]);
    }
    // A few edits on perceptron: a dimension, an op type, a dropped node.
    put("onnx_mutate", "perceptron-dim", &[2, 0, 0, 0, 20]);
    put("onnx_mutate", "perceptron-op", &[2, 3, 1, 3, 0]);
    put("onnx_mutate", "perceptron-drop", &[2, 4, 2, 0, 0]);

    for log in [1usize, 2] {
        let path = work_dir().join(format!("seed-setup-{log}.bin"));
        DorySetup::derive(DEFAULT_SEED, log)
            .expect("derive")
            .write_file(&path)
            .expect("write a setup");
        let bytes = std::fs::read(&path).expect("read a setup");
        put("setup_file", &format!("setup-2^{log}.bin"), &bytes);
    }

    for (model, visibility, tag) in [
        ("addsubmul0", WeightVisibility::Committed, "committed"),
        ("perceptron", WeightVisibility::Committed, "committed"),
        ("perceptron", WeightVisibility::Public, "public"),
        ("perceptron", WeightVisibility::Hidden, "hidden"),
    ] {
        let p = prepared(model, visibility);
        let pk = &p.keys.pk;
        let vk = keys::vk_to_bytes(&pk.vk);
        put(
            "vk_decode",
            &format!("{model}-{tag}.vk"),
            without_checksum(&vk),
        );
        let log = pk.vk.log_generators;
        assert!(
            (1..=8).contains(&log),
            "pk_decode seeds need a setup of at most 2^8"
        );
        let mut seed = vec![(log - 1) as u8];
        seed.extend_from_slice(without_checksum(&keys::pk_to_bytes(pk)));
        put("pk_decode", &format!("{model}-{tag}.pk"), &seed);

        if model != "perceptron" {
            continue;
        }
        let values = input_of(model);
        let input = quant::quantize_input(&values, pk.model.scale_bits);
        let bytes = if visibility.is_zk() {
            let proof = zkinfer::zk::model::prove(CpuBackend::global(), pk, &input).expect("prove");
            zkinfer::zk::model::verify(&pk.vk, &input, &proof).expect("the seed proof verifies");
            proof.to_bytes()
        } else {
            let proof = proof::prove(CpuBackend::global(), pk, &input).expect("prove");
            proof::verify(&pk.vk, &input, &proof).expect("the seed proof verifies");
            proof.to_bytes()
        };
        // proof_decode_verify's selector: 0 committed, 1 public, 2 hidden.
        let selector = match visibility {
            WeightVisibility::Committed => 0u8,
            WeightVisibility::Public => 1,
            WeightVisibility::Hidden => 2,
        };
        let mut seed = vec![selector];
        seed.extend_from_slice(&bytes);
        put(
            "proof_decode_verify",
            &format!("{model}-{tag}.proof"),
            &seed,
        );

        // The service serves perceptron with committed weights.
        if visibility == WeightVisibility::Committed {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let data = serde_json::json!([values]);
            let bodies = [
                (
                    0u8,
                    "verify",
                    serde_json::json!({"model": model, "proof": b64}),
                ),
                (
                    0,
                    "verify-input",
                    serde_json::json!({"model": model, "proof": b64, "input_data": data}),
                ),
                (
                    1,
                    "prove-inference",
                    serde_json::json!({"input_data": data, "tier": "inference"}),
                ),
                (
                    1,
                    "prove-proof",
                    serde_json::json!({"input_data": data, "tier": "proof"}),
                ),
                (1, "prove-flat", serde_json::json!({"input_data": values})),
            ];
            for (route, name, body) in bodies {
                let mut seed = vec![route];
                seed.extend_from_slice(body.to_string().as_bytes());
                put("service_request", &format!("{name}.json"), &seed);
            }
        }
    }
    println!(
        "seeds written under {}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .display()
    );
}
