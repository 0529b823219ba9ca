//! What a newcomer sees (issue #19), through the real binary: proofs carry
//! their settings, rejections are named (and JSON under `--json`), inputs out
//! of range are told in the user's units, version and cache messages, quiet
//! and colourless logs, and the hand-off to a third party (`--vk`,
//! fingerprints, `output_data`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkinfer"));
    c.args(args)
        .env(
            "ZKINFER_CACHE_DIR",
            root().join("target").join("test-cache"),
        )
        .env_remove("ZKINFER_KEYS")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG");
    c
}

/// Runs zkinfer with the shared test cache (setup and keys).
fn zkinfer(args: &[&str]) -> Output {
    command(args).output().expect("zkinfer runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(out)))
}

fn model(name: &str) -> String {
    root()
        .join("models")
        .join(name)
        .join("network.onnx")
        .display()
        .to_string()
}

fn input(name: &str) -> String {
    root()
        .join("models")
        .join(name)
        .join("input.json")
        .display()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `prove NAME --input INPUT --proof DIR/FILE --json EXTRA...`; must succeed.
fn prove(name: &str, input: &str, proof: &Path, extra: &[&str]) -> serde_json::Value {
    let m = model(name);
    let mut args = vec!["prove", &m, "--input", input, "--proof", s(proof), "--json"];
    args.extend_from_slice(extra);
    let out = zkinfer(&args);
    assert!(out.status.success(), "prove {args:?}: {}", text(&out));
    stdout_json(&out)
}

/// Item 1: the proof says which settings it was made with; `verify` without
/// flags uses them, forced other settings are named, another model's key too.
#[test]
fn proofs_carry_their_settings_and_verify_without_repeating_them() {
    let dir = tempfile::tempdir().unwrap();
    let auth = model("authorization");
    // Public weights, and another scale: verify needs no flags.
    for (file, extra) in [
        ("public.proof", &["--weights", "public"][..]),
        ("scale10.proof", &["--scale", "10"][..]),
    ] {
        let proof = dir.path().join(file);
        let proved = prove("authorization", &input("authorization"), &proof, extra);
        let out = zkinfer(&["verify", &auth, "--proof", s(&proof), "--json"]);
        assert!(out.status.success(), "{file}: {}", text(&out));
        let json = stdout_json(&out);
        assert_eq!(json["accepted"], true);
        assert_eq!(json["vk_fingerprint"], proved["vk_fingerprint"], "{json}");
    }
    let public = dir.path().join("public.proof");
    let out = zkinfer(&[
        "verify",
        &auth,
        "--proof",
        s(&public),
        "--weights",
        "committed",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(message.contains("made with --weights public"), "{message}");
    assert!(message.contains("drop --weights committed"), "{message}");
    assert!(!message.contains("sumcheck"), "{message}");
    let scaled = dir.path().join("scale10.proof");
    let out = zkinfer(&["verify", &auth, "--proof", s(&scaled), "--scale", "7"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--scale 10"), "{}", text(&out));

    // A batch of two (authorization's leading input dimension is symbolic):
    // the proof's batch size is used.
    let values: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(input("authorization")).unwrap()).unwrap();
    let mut two = values["input_data"][0].as_array().unwrap().clone();
    two.extend(two.clone());
    let batch = dir.path().join("batch.json");
    std::fs::write(&batch, serde_json::json!({"input_data": [two]}).to_string()).unwrap();
    let proof = dir.path().join("batch.proof");
    prove("authorization", s(&batch), &proof, &["--batch-size", "2"]);
    let out = zkinfer(&["verify", &auth, "--proof", s(&proof)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--batch-size 2"), "{}", text(&out));
    let out = zkinfer(&["verify", &auth, "--proof", s(&proof), "--batch-size", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("made with --batch-size 2"),
        "{}",
        text(&out)
    );

    // Another model's key: said so, as JSON too.
    let out = zkinfer(&[
        "verify",
        &model("perceptron"),
        "--proof",
        s(&public),
        "--weights",
        "public",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json = stdout_json(&out);
    assert_eq!(json["accepted"], false);
    assert_eq!(json["check"], "verifying_key", "{json}");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("another verifying key"),
        "{json}"
    );
}

/// Item 3: `verify --json` prints a verdict on stdout either way; `--input`
/// is confirmed instead of suggested.
#[test]
fn verify_json_reports_rejections_and_the_matched_input() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.proof");
    prove("authorization", &input("authorization"), &proof, &[]);
    let auth = model("authorization");
    let mut bytes = std::fs::read(&proof).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    let bad = dir.path().join("bad.proof");
    std::fs::write(&bad, &bytes).unwrap();
    let out = zkinfer(&["verify", &auth, "--proof", s(&bad), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json = stdout_json(&out);
    assert_eq!(json["accepted"], false, "{json}");
    assert!(
        json["check"].as_str().is_some_and(|c| !c.is_empty()),
        "{json}"
    );
    assert!(
        json["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{json}"
    );

    let input = input("authorization");
    let out = zkinfer(&[
        "verify",
        &auth,
        "--proof",
        s(&proof),
        "--input",
        &input,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["input_matched"], true);
    let out = zkinfer(&["verify", &auth, "--proof", s(&proof), "--input", &input]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("input  matches"), "{}", text(&out));
    assert!(
        !text(&out).contains("check it with --input"),
        "{}",
        text(&out)
    );
    let out = zkinfer(&["verify", &auth, "--proof", s(&proof)]);
    assert!(
        text(&out).contains("check it with --input"),
        "{}",
        text(&out)
    );
}

/// Item 4: values out of range are told as written, with the file, the real
/// bound at the scale and a flag that helps; a bad `--scale` in its own terms.
#[test]
fn out_of_range_inputs_and_scales_are_told_in_the_users_units() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.proof");
    let perceptron = model("perceptron");
    let run = |values: &str, extra: &[&str]| {
        let file = dir.path().join("in.json");
        std::fs::write(&file, format!(r#"{{"input_data": [[{values}]]}}"#)).unwrap();
        let mut args = vec![
            "prove",
            &perceptron,
            "--input",
            s(&file),
            "--proof",
            s(&proof),
        ];
        args.extend_from_slice(extra);
        let out = zkinfer(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        text(&out)
    };
    let message = run("300.0, 0, 0, 0", &[]);
    for needle in [
        "in.json",
        "input value 300 ",
        "index 0",
        "[-256, 256)",
        "--scale 6",
    ] {
        assert!(message.contains(needle), "`{needle}` missing: {message}");
    }
    assert!(!message.contains("38400"), "{message}");
    let message = run("0, 1e30, 0, 0", &[]);
    assert!(message.contains("1e30"), "{message}");
    assert!(message.contains("no --scale holds it"), "{message}");
    assert!(!message.contains("9223372036854775807"), "{message}");
    let message = run("0, 0, 0, 0", &["--scale", "16"]);
    assert!(
        message.contains("--scale must be between 1 and 15"),
        "{message}"
    );
    assert!(!message.contains("activation_bits"), "{message}");
}

/// Item 5: a proof of another format version names who made it.
#[test]
fn another_format_version_says_older_or_newer() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.proof");
    prove("addsubmul0", &input("addsubmul0"), &proof, &[]);
    let bytes = std::fs::read(&proof).unwrap();
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    for (other, expected) in [(version - 1, "older"), (version + 1, "newer")] {
        let mut b = bytes.clone();
        b[8..12].copy_from_slice(&other.to_le_bytes());
        let file = dir.path().join("other.proof");
        std::fs::write(&file, &b).unwrap();
        let out = zkinfer(&["verify", &model("addsubmul0"), "--proof", s(&file)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let wanted = format!(
            "made by {} zkinfer (format {other}); this one reads {version}",
            if expected == "older" {
                "an older"
            } else {
                "a newer"
            }
        );
        assert!(text(&out).contains(&wanted), "{}", text(&out));
        assert!(!text(&out).contains("above the maximum"), "{}", text(&out));
    }
}

/// Items 2 and 8: no Mesa device-select noise, no colour codes in a pipe.
#[test]
fn logs_are_quiet_and_colourless_in_a_pipe() {
    let out = command(&["devices"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("XDG_RUNTIME_DIR"), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.proof");
    let m = model("addsubmul0");
    let i = input("addsubmul0");
    let out = zkinfer(&["prove", &m, "--input", &i, "--proof", s(&proof), "-v"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "-v logs: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
}

/// Items 6 and 7: an empty ZKINFER_CACHE_DIR is unset; a cache that cannot
/// be written costs one warning, not the proof; errors say each cause once.
#[test]
fn cache_folders_empty_or_unwritable() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let xdg = dir.path().join("xdg");
    let m = model("addsubmul0");
    let i = input("addsubmul0");
    let out = command(&["prove", &m, "--input", &i, "--proof", "p.proof"])
        .current_dir(&work)
        .env("ZKINFER_CACHE_DIR", "")
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let names: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        ["p.proof"],
        "nothing but the proof in the current folder"
    );
    assert!(xdg.join("zkinfer").join("keys").is_dir());

    // A cache under a plain file cannot be created, even by root.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = command(&[
        "prove",
        &m,
        "--input",
        &i,
        "--proof",
        s(&dir.path().join("q.proof")),
    ])
    .env("ZKINFER_CACHE_DIR", blocker.join("cache"))
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("keys of `addsubmul0` not cached").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("using them from memory"), "{stderr}");

    // An error chain names each cause once.
    let out = zkinfer(&["serve", "/nope.onnx"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    let out = zkinfer(&[
        "prove",
        &m,
        "--input",
        &i,
        "--proof",
        "/nonexistent/dir/p.proof",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

/// Item 10: one fingerprint everywhere, `--vk` refuses contradicting flags,
/// flat `input_data`, and `output_data` checked against the proof.
#[test]
fn hand_off_fingerprint_vk_flags_flat_input_and_output_data() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let m = model("perceptron");
    let out = zkinfer(&["preprocess", &m, "--keys", s(&keys), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let fingerprint = stdout_json(&out)["vk_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint.len(), 16);

    // A flat input_data list, as the service takes it.
    let values: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(input("perceptron")).unwrap()).unwrap();
    let flat = values["input_data"][0].clone();
    let flat_file = dir.path().join("flat.json");
    std::fs::write(
        &flat_file,
        serde_json::json!({"input_data": flat}).to_string(),
    )
    .unwrap();
    let proof = dir.path().join("p.proof");
    let proved = prove("perceptron", s(&flat_file), &proof, &["--keys", s(&keys)]);
    assert_eq!(proved["vk_fingerprint"], fingerprint.as_str());

    let vk = keys.join("vk.bin");
    let out = zkinfer(&["verify", "--vk", s(&vk), "--proof", s(&proof), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["vk_fingerprint"], fingerprint.as_str());
    for flags in [
        &["--scale", "6"][..],
        &["--weights", "public"],
        &["--batch-size", "3"],
    ] {
        let mut args = vec!["verify", "--vk", s(&vk), "--proof", s(&proof)];
        args.extend_from_slice(flags);
        let out = zkinfer(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        assert!(text(&out).contains("contradicts"), "{}", text(&out));
        assert!(text(&out).contains(flags[0]), "{}", text(&out));
    }

    // output_data: checked when present.
    let output = proved["output"].clone();
    let with_output = dir.path().join("with_output.json");
    std::fs::write(
        &with_output,
        serde_json::json!({"input_data": [flat], "output_data": [output]}).to_string(),
    )
    .unwrap();
    let out = zkinfer(&[
        "verify",
        &m,
        "--keys",
        s(&keys),
        "--proof",
        s(&proof),
        "--input",
        s(&with_output),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_json(&out)["output_data_matched"], true);
    let mut wrong = output.as_array().unwrap().clone();
    wrong[0] = (wrong[0].as_f64().unwrap() + 1.0).into();
    std::fs::write(
        &with_output,
        serde_json::json!({"input_data": [flat], "output_data": [wrong]}).to_string(),
    )
    .unwrap();
    let out = zkinfer(&[
        "verify",
        &m,
        "--keys",
        s(&keys),
        "--proof",
        s(&proof),
        "--input",
        s(&with_output),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json = stdout_json(&out);
    assert_eq!(json["check"], "output", "{json}");
    assert!(
        json["reason"].as_str().unwrap().contains("index 0"),
        "{json}"
    );
}
