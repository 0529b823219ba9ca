//! Models with several inputs and outputs, and integer inputs, through the real
//! binary: `prove` and `verify` in separate processes, outputs against the
//! float reference in each model's input.json, and the rejections that the
//! public input and output are bound (a tampered second output, swapped
//! inputs).

use std::path::{Path, PathBuf};

use crate::common::{root, text, zkinfer};

use serde_json::Value;
use zkinfer::proof::ModelProof;

fn model_path(name: &str) -> String {
    let path = root().join("models/ops").join(name).join("network.onnx");
    path.display().to_string()
}

fn input_json(name: &str) -> Value {
    let path = root().join("models/ops").join(name).join("input.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The float reference outputs of a shipped input.json, one list per output
/// (`reference_output`, or `output_data` in files that predate it).
fn reference(name: &str) -> Vec<Vec<f64>> {
    let json = input_json(name);
    let lists = json
        .get("reference_output")
        .or_else(|| json.get("output_data"))
        .unwrap_or_else(|| panic!("{name}: no reference output"));
    lists.as_array().unwrap().iter().map(floats).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The output of `prove --json`/`verify --json` as one list per output: a
/// flat list for a model with one output, a list of lists otherwise.
fn output_lists(v: &Value) -> Vec<Vec<f64>> {
    let list = v.as_array().unwrap();
    if list.first().is_some_and(|x| x.is_array()) {
        list.iter().map(floats).collect()
    } else {
        vec![floats(v)]
    }
}

/// Writes an input file holding only `input_data` (the shipped files' float
/// reference outputs are not the quantized outputs `verify --input` compares).
fn inputs_only(dir: &Path, file: &str, input_data: &Value) -> String {
    let path = dir.join(file);
    let body = serde_json::json!({ "input_data": input_data });
    std::fs::write(&path, body.to_string()).unwrap();
    path.display().to_string()
}

/// Proves `name` on its shipped input; checks the outputs against the float
/// reference (within 0.05) and that a separate `verify` accepts the proof,
/// with and without `--input`. Returns the proof file.
fn prove_and_verify(name: &str, dir: &Path) -> PathBuf {
    let proof = dir.join(format!("{name}.proof"));
    let model = model_path(name);
    let input_data = input_json(name)["input_data"].clone();
    let input = inputs_only(dir, &format!("{name}.json"), &input_data);
    let out = zkinfer(&[
        "prove",
        &model,
        "--input",
        &input,
        "--proof",
        proof.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "prove {name}: {}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("prove --json prints JSON");
    let expected = reference(name);
    let got = output_lists(&json["output"]);
    assert_eq!(got.len(), expected.len(), "{name}: outputs {json}");
    for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.len(), e.len(), "{name}: output {k}");
        for (i, (a, b)) in g.iter().zip(e).enumerate() {
            assert!(
                (a - b).abs() <= 0.05,
                "{name}: output {k}[{i}] is {a}, the float reference {b}"
            );
        }
    }
    for with_input in [false, true] {
        let mut args = vec![
            "verify",
            &model,
            "--proof",
            proof.to_str().unwrap(),
            "--json",
        ];
        if with_input {
            args.extend(["--input", &input]);
        }
        let out = zkinfer(&args);
        assert!(out.status.success(), "verify {name}: {}", text(&out));
        let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verdict["accepted"], true, "{verdict}");
        assert_eq!(output_lists(&verdict["output"]), got, "{name}");
    }
    proof
}

#[test]
fn several_inputs_and_outputs_prove_and_verify_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["two_inputs_two_outputs", "split"] {
        prove_and_verify(name, dir.path());
    }
}

#[test]
fn integer_inputs_prove_and_verify_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    prove_and_verify("int_input", dir.path());

    // The integer input's values must be integers.
    let input = inputs_only(
        dir.path(),
        "fractional.json",
        &serde_json::json!([[3, 0.5, 7, 1, 9, 4]]),
    );
    let proof = dir.path().join("fractional.proof");
    let out = zkinfer(&[
        "prove",
        &model_path("int_input"),
        "--input",
        &input,
        "--proof",
        proof.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("integer type: value 0.5 at index 1"),
        "{}",
        text(&out)
    );

    // A Gather of embedding rows by integer ids proves; the proof is for
    // those ids only.
    let proof = prove_and_verify("int_gather", dir.path());
    let other = dir.path().join("other-ids.json");
    std::fs::write(&other, r#"{"input_data": [[3, 0, 7, 1, 9, 5]]}"#).unwrap();
    let out = zkinfer(&[
        "verify",
        &model_path("int_gather"),
        "--proof",
        proof.to_str().unwrap(),
        "--input",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("another input"), "{}", text(&out));
    // An id outside the table is refused naming the node.
    std::fs::write(&other, r#"{"input_data": [[3, 0, 7, 1, 9, 10]]}"#).unwrap();
    let out = zkinfer(&[
        "prove",
        &model_path("int_gather"),
        "--input",
        other.to_str().unwrap(),
        "--proof",
        dir.path().join("bad.proof").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("outside the table") && text(&out).contains("output"),
        "{}",
        text(&out)
    );
}

#[test]
fn two_inputs_broadcast_against_each_other() {
    let dir = tempfile::tempdir().unwrap();
    prove_and_verify("broadcast_both", dir.path());
}

#[test]
fn a_tampered_second_output_or_swapped_inputs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["two_inputs_two_outputs", "split"] {
        let proof = prove_and_verify(name, dir.path());
        let bytes = std::fs::read(&proof).unwrap();
        let mut p = ModelProof::from_bytes(&bytes).unwrap();
        // The first value of the second output, off by one quantum.
        let first_of_second = reference(name)[0].len();
        p.output[first_of_second] += 1;
        let tampered = dir.path().join(format!("{name}.tampered.proof"));
        std::fs::write(&tampered, p.to_bytes()).unwrap();
        let out = zkinfer(&[
            "verify",
            &model_path(name),
            "--proof",
            tampered.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verdict["accepted"], false, "{verdict}");
    }

    // Both inputs have shape [1, 4]: swapped, the lists still fit the model,
    // and the proof is not for them.
    let name = "two_inputs_two_outputs";
    let proof = dir.path().join(format!("{name}.proof"));
    let lists = input_json(name)["input_data"].as_array().unwrap().clone();
    assert_eq!(lists.len(), 2);
    let swapped = serde_json::json!([lists[1], lists[0]]);
    let swapped = inputs_only(dir.path(), "swapped.json", &swapped);
    let out = zkinfer(&[
        "verify",
        &model_path(name),
        "--proof",
        proof.to_str().unwrap(),
        "--input",
        &swapped,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["check"], "input", "{verdict}");

    // A proof whose own public input is swapped (the output left as it is)
    // is rejected too: the transcript and the input bindings depend on the
    // order.
    let bytes = std::fs::read(&proof).unwrap();
    let mut p = ModelProof::from_bytes(&bytes).unwrap();
    let (a, b) = p.input.split_at(4);
    p.input = [b, a].concat();
    let forged = dir.path().join("swapped.proof");
    std::fs::write(&forged, p.to_bytes()).unwrap();
    let out = zkinfer(&[
        "verify",
        &model_path(name),
        "--proof",
        forged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // One list for a model with two inputs is an error that says so.
    let flat = inputs_only(
        dir.path(),
        "flat.json",
        &serde_json::json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
    );
    let out = zkinfer(&[
        "prove",
        &model_path(name),
        "--input",
        &flat,
        "--proof",
        dir.path().join("flat.proof").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("has 1 list(s)") && text(&out).contains("2 inputs"),
        "{}",
        text(&out)
    );
}
