//! The README's main job on every shipped model, through the real binary:
//! `preprocess`, `prove`, then `verify` in a separate process from the files,
//! plus the rejections a user can trigger from the command line.

use std::path::{Path, PathBuf};

use crate::common::{root, text, zkinfer};

const MODELS: [&str; 6] = [
    "addsubmul0",
    "addsubmul1",
    "authorization",
    "perceptron",
    "ffn_tanh",
    "article_classification",
];

fn model_path(name: &str) -> String {
    root()
        .join("models")
        .join(name)
        .join("network.onnx")
        .display()
        .to_string()
}

fn input_path(name: &str) -> String {
    root()
        .join("models")
        .join(name)
        .join("input.json")
        .display()
        .to_string()
}

fn prove(name: &str, dir: &Path, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let proof = dir.join(format!("{}.proof", name.replace('/', "-")));
    let model = model_path(name);
    let input = input_path(name);
    let mut args = vec![
        "prove",
        &model,
        "--input",
        &input,
        "--proof",
        proof.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = zkinfer(&args);
    assert!(out.status.success(), "prove {name}: {}", text(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("prove --json prints JSON");
    (proof, json)
}

#[test]
fn every_shipped_model_proves_and_verifies_in_a_separate_process() {
    let dir = tempfile::tempdir().unwrap();
    for name in MODELS {
        let model = model_path(name);
        let out = zkinfer(&["preprocess", &model]);
        assert!(out.status.success(), "preprocess {name}: {}", text(&out));
        let (proof, json) = prove(name, dir.path(), &[]);
        // The quantized output matches tract's f32 output within the documented
        // tolerance (README: 0.05 absolute or 5% of the largest output).
        let abs = json["max_abs_error"].as_f64().unwrap();
        let rel = json["max_rel_error"].as_f64().unwrap();
        assert!(
            abs <= 0.05 || rel <= 0.05,
            "{name}: quantization error {abs} / {rel}"
        );
        let out = zkinfer(&[
            "verify",
            &model,
            "--proof",
            proof.to_str().unwrap(),
            "--input",
            &input_path(name),
        ]);
        assert!(out.status.success(), "verify {name}: {}", text(&out));
    }
}

/// The CNNs (Conv, MaxPool, AveragePool, ReLU, a flatten folded into Gemm)
/// from the command line, within their measured quantization bounds (README:
/// lenet5 0.052 / 2.2%, cifar_cnn 0.18 / 5.8%), and a proof of one rejected
/// as the other's.
#[test]
fn cnns_prove_and_verify_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut proofs = Vec::new();
    for (name, abs_bound) in [("lenet5", 0.08), ("cifar_cnn", 0.25)] {
        let (proof, json) = prove(name, dir.path(), &[]);
        let abs = json["max_abs_error"].as_f64().unwrap();
        assert!(abs <= abs_bound, "{name}: quantization error {abs}");
        let out = zkinfer(&[
            "verify",
            &model_path(name),
            "--proof",
            proof.to_str().unwrap(),
            "--input",
            &input_path(name),
        ]);
        assert!(out.status.success(), "verify {name}: {}", text(&out));
        proofs.push(proof);
    }
    let out = zkinfer(&[
        "verify",
        &model_path("lenet5"),
        "--proof",
        proofs[1].to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn public_weights_and_vk_files_work() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    let model = model_path("authorization");
    let out = zkinfer(&[
        "preprocess",
        &model,
        "--weights",
        "public",
        "--keys",
        keys_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (proof, _) = prove(
        "authorization",
        dir.path(),
        &["--weights", "public", "--keys", keys_arg],
    );
    let vk = keys.join("vk.bin");
    let out = zkinfer(&[
        "verify",
        "--vk",
        vk.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn zero_knowledge_proofs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    let model = model_path("perceptron");
    let out = zkinfer(&["preprocess", &model, "--zk", "--keys", keys_arg, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let (proof, json) = prove("perceptron", dir.path(), &["--keys", keys_arg]);
    assert!(
        json.to_string().contains("hidden"),
        "the keys' settings say hidden: {json}"
    );
    let bytes = std::fs::read(&proof).unwrap();
    assert_eq!(&bytes[..8], b"ZKINFZKP", "a zero-knowledge proof file");
    let vk = keys.join("vk.bin");
    let verify = |path: &Path| {
        zkinfer(&[
            "verify",
            "--vk",
            vk.to_str().unwrap(),
            "--proof",
            path.to_str().unwrap(),
        ])
    };
    let out = verify(&proof);
    assert!(out.status.success(), "{}", text(&out));
    // The verifying key carries no weights.
    let vk_text = String::from_utf8_lossy(&std::fs::read(&vk).unwrap()).to_string();
    assert!(
        vk_text.contains("\"values\":[]"),
        "weights left out of the vk"
    );
    // A flipped byte in each of 8 regions past the header: rejected.
    let step = (bytes.len() - 200) / 8;
    for k in 0..8 {
        let mut bad = bytes.clone();
        bad[200 + k * step + step / 2] ^= 0x10;
        let path = dir.path().join("bad.proof");
        std::fs::write(&path, &bad).unwrap();
        let out = verify(&path);
        assert_eq!(out.status.code(), Some(1), "region {k}: {}", text(&out));
    }
    // --private-input: the proof holds no input, verifies without one
    // (saying so), and is refused against an --input file; transparent keys
    // refuse it.
    let private = dir.path().join("private.proof");
    let input = input_path("perceptron");
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        &input,
        "--proof",
        private.to_str().unwrap(),
        "--keys",
        keys_arg,
        "--private-input",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["private_input"], true, "{json}");
    let out = zkinfer(&[
        "verify",
        "--vk",
        vk.to_str().unwrap(),
        "--proof",
        private.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["private_input"], true, "{json}");
    assert!(json["input"].is_null(), "{json}");
    let out = zkinfer(&[
        "verify",
        "--vk",
        vk.to_str().unwrap(),
        "--proof",
        private.to_str().unwrap(),
        "--input",
        &input,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("keeps its input private"),
        "{}",
        text(&out)
    );
    let transparent_keys = dir.path().join("transparent");
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        &input,
        "--proof",
        private.to_str().unwrap(),
        "--keys",
        transparent_keys.to_str().unwrap(),
        "--private-input",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--zk"), "{}", text(&out));

    // The transformers' ops: a causal Softmax (MaxShift, Exp, ReduceSum,
    // Div, a constant mask) and a LayerNormalization (SumSquares, Rsqrt)
    // prove and verify with --zk.
    for name in ["ops/causal_softmax", "ops/layernorm"] {
        let keys = dir.path().join(name.replace('/', "-"));
        let keys_arg = keys.to_str().unwrap();
        let out = zkinfer(&["preprocess", &model_path(name), "--zk", "--keys", keys_arg]);
        assert!(
            out.status.success(),
            "preprocess --zk {name}: {}",
            text(&out)
        );
        let (proof, _) = prove(name, dir.path(), &["--keys", keys_arg]);
        let out = zkinfer(&[
            "verify",
            "--vk",
            keys.join("vk.bin").to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "verify {name}: {}", text(&out));
    }
    // Token ids read by a Gather must be public: --private-input is refused,
    // naming the node.
    let keys = dir.path().join("int_gather");
    let keys_arg = keys.to_str().unwrap();
    let out = zkinfer(&[
        "preprocess",
        &model_path("ops/int_gather"),
        "--zk",
        "--keys",
        keys_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = zkinfer(&[
        "prove",
        &model_path("ops/int_gather"),
        "--input",
        &input_path("ops/int_gather"),
        "--proof",
        dir.path().join("gather.proof").to_str().unwrap(),
        "--keys",
        keys_arg,
        "--private-input",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Gather") && text(&out).contains("must be public"),
        "{}",
        text(&out)
    );
}

#[test]
fn rejections_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (proof, _) = prove("perceptron", dir.path(), &[]);
    let model = model_path("perceptron");
    let bytes = std::fs::read(&proof).unwrap();
    let check = |bytes: &[u8]| {
        let path = dir.path().join("bad.proof");
        std::fs::write(&path, bytes).unwrap();
        zkinfer(&["verify", &model, "--proof", path.to_str().unwrap()])
    };
    // A flipped byte in each of 16 regions: exit 1, the failed check named.
    let step = bytes.len() / 16;
    for k in 0..16 {
        let mut bad = bytes.clone();
        bad[k * step + step / 2] ^= 0x10;
        let out = check(&bad);
        assert_eq!(out.status.code(), Some(1), "region {k}: {}", text(&out));
        assert!(text(&out).contains("proof rejected"), "{}", text(&out));
    }
    // Truncated.
    let out = check(&bytes[..bytes.len() / 3]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Against another model's key.
    let other = model_path("authorization");
    let out = zkinfer(&["verify", &other, "--proof", proof.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Against another input.
    let out = zkinfer(&[
        "verify",
        &model,
        "--proof",
        proof.to_str().unwrap(),
        "--input",
        &input_path("addsubmul1"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_path("perceptron");
    let wrong_len = dir.path().join("wrong.json");
    std::fs::write(&wrong_len, r#"{"input_data": [[1.0, 2.0]]}"#).unwrap();
    let proof = dir.path().join("p.proof");
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        wrong_len.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("expects 4"), "{}", text(&out));
    let non_numeric = dir.path().join("nan.json");
    std::fs::write(&non_numeric, r#"{"input_data": [[1.0, "x", 2.0, 3.0]]}"#).unwrap();
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        non_numeric.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("1"), "{}", text(&out));
    let out = zkinfer(&[
        "prove",
        "/nonexistent/model.onnx",
        "--input",
        wrong_len.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("/nonexistent/model.onnx"),
        "{}",
        text(&out)
    );
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        wrong_len.to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("cuda"), "{}", text(&out));
}

#[test]
fn gpu_devices_absent_are_reported_and_auto_falls_back_to_the_cpu() {
    let out = zkinfer(&["devices", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let icicle = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["backend"] == "icicle")
        .expect("devices lists icicle");
    let table = zkinfer(&["devices"]);
    assert!(table.status.success(), "{}", text(&table));
    assert!(text(&table).contains("icicle"), "{}", text(&table));
    if icicle["available"] == true {
        eprintln!("an ICICLE GPU is present: the absent-GPU checks do not apply");
        return;
    }
    let reason = icicle["reason"]
        .as_str()
        .expect("a reason when unavailable");
    assert!(text(&table).contains(reason), "{}", text(&table));
    let libraries_absent = icicle["compiled"] == true && icicle["location"].is_null();
    if libraries_absent {
        assert!(reason.contains("not found"), "{reason}");
        assert!(reason.contains("ICICLE_INSTALL_DIR"), "{reason}");
    }

    let dir = tempfile::tempdir().unwrap();
    let model = model_path("addsubmul0");
    let input = input_path("addsubmul0");
    let proof = dir.path().join("p.proof");
    let args = [
        "prove",
        &model,
        "--input",
        &input,
        "--proof",
        proof.to_str().unwrap(),
    ];
    let mut cuda = args.to_vec();
    cuda.extend(["--device", "cuda"]);
    let out = zkinfer(&cuda);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`cuda` is unavailable"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("ICICLE"), "{}", text(&out));
    if libraries_absent {
        assert!(text(&out).contains(reason), "{}", text(&out));
    }
    assert!(!proof.exists());

    let mut auto = args.to_vec();
    auto.extend(["--device", "auto", "-v", "--json"]);
    let out = zkinfer(&auto);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["device"], "cpu");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("device auto"),
        "the fallback reason is logged: {}",
        text(&out)
    );
    let out = zkinfer(&["verify", &model, "--proof", proof.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A verifying key is only trusted for its model: Dory must run over the setup
/// derived from zkinfer's public seed, not over generators shipped in the key
/// (whose discrete logarithms the key's maker could know).
#[test]
fn verifying_keys_cannot_bring_their_own_dory_setup() {
    use std::sync::Arc;
    use zkinfer::backend::CpuBackend;
    use zkinfer::pcs::DorySetup;
    use zkinfer::proof::{self, WeightVisibility};

    let dir = tempfile::tempdir().unwrap();
    let model = zkinfer::onnx::import(
        Path::new(&model_path("addsubmul1")),
        &zkinfer::onnx::ImportOptions::default(),
    )
    .unwrap()
    .model;
    let log = proof::required_generators(&model);
    let input: Vec<i64> = (0..model.input_len() as i64).collect();
    let proof_path = dir.path().join("p.proof");
    let vk_path = dir.path().join("vk.bin");
    // Keys and a proof over a setup of the key maker's choosing; with
    // `claim_public_seed` the key says it used the public seed.
    let run = |claim_public_seed: bool| {
        let other = Arc::new(DorySetup::derive(b"a setup its maker chose", log).unwrap());
        let mut pk = proof::preprocess(
            CpuBackend::global(),
            model.clone(),
            WeightVisibility::Committed,
            other,
        )
        .unwrap();
        if claim_public_seed {
            pk.vk.seed_digest = DorySetup::derive(zkinfer::pcs::setup::DEFAULT_SEED, 1)
                .unwrap()
                .seed_digest;
            pk.vk.digest = pk.vk.compute_digest();
        }
        let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        // Over its own setup, the key accepts the proof.
        proof::verify(&pk.vk, &input, &p).unwrap();
        std::fs::write(&proof_path, p.to_bytes()).unwrap();
        std::fs::write(&vk_path, zkinfer::keys::vk_to_bytes(&pk.vk)).unwrap();
        zkinfer(&[
            "verify",
            "--vk",
            vk_path.to_str().unwrap(),
            "--proof",
            proof_path.to_str().unwrap(),
        ])
    };
    // Honest about its seed: refused by name.
    let out = run(false);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("another seed"), "{}", text(&out));
    // Claiming the public seed: its Dory values are not the pinned ones, so
    // the key is refused when read, before any proof is looked at.
    let out = run(true);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not derived from zkinfer's public seed"),
        "{}",
        text(&out)
    );
}

/// Keys in a folder the user named are used with the settings they were built
/// with when the command line does not say, and are never overwritten by a
/// command whose options conflict with them.
#[test]
fn keys_in_a_named_folder_keep_their_settings_and_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    let model = model_path("authorization");
    let out = zkinfer(&[
        "preprocess",
        &model,
        "--weights",
        "public",
        "--scale",
        "6",
        "--keys",
        keys_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let pk_before = std::fs::read(keys.join("pk.bin")).unwrap();
    // No --weights, no --scale: the folder's public keys at scale 6 are used.
    let (proof, json) = prove("authorization", dir.path(), &["--keys", keys_arg]);
    assert_eq!(json["keys_origin"], "loaded", "{json}");
    assert_eq!(std::fs::read(keys.join("pk.bin")).unwrap(), pk_before);
    let proof_arg = proof.to_str().unwrap();
    let out = zkinfer(&["verify", &model, "--proof", proof_arg, "--keys", keys_arg]);
    assert!(out.status.success(), "{}", text(&out));
    // Conflicting options: an error naming the setting, the keys untouched.
    for (flag, value, expected) in [
        ("--weights", "committed", "--weights public"),
        ("--scale", "7", "--scale 6"),
    ] {
        let out = zkinfer(&[
            "prove",
            &model,
            "--input",
            &input_path("authorization"),
            "--proof",
            dir.path().join("other.proof").to_str().unwrap(),
            "--keys",
            keys_arg,
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let message = text(&out);
        assert!(message.contains(expected), "{message}");
        assert!(message.contains("does not overwrite"), "{message}");
        assert_eq!(std::fs::read(keys.join("pk.bin")).unwrap(), pk_before);
    }
    // `preprocess` is the explicit way to rebuild them.
    let out = zkinfer(&[
        "preprocess",
        &model,
        "--keys",
        keys_arg,
        "--weights",
        "committed",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(std::fs::read(keys.join("pk.bin")).unwrap(), pk_before);
}
