//! `zkinfer bench models` through the real binary, on the smallest shipped model
//! with one measured run: the JSON rows, an absent device, CSV, `--compare`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Phases every (model, device) pair must report (the span names).
const PHASES: [&str; 16] = [
    "import",
    "quantize",
    "preprocess",
    "key_load",
    "prove",
    "witness",
    "commit",
    "operator_proofs",
    "lookups",
    "opening",
    "opening_reduction",
    "dory_open",
    "verify",
    "verify_operators",
    "verify_lookups",
    "verify_opening",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(args)
        .env(
            "ZKINFER_CACHE_DIR",
            root().join("target").join("test-cache"),
        )
        .output()
        .expect("zkinfer runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn json_rows_absent_devices_csv_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("models/addsubmul0/network.onnx");
    let model = model.to_str().unwrap();
    let common = [
        "bench",
        "models",
        model,
        "--device",
        "cpu,wgpu-dx12",
        "--repeat",
        "1",
        "--warmup",
        "0",
    ];

    // First run: JSON on stdout, nothing else there.
    let mut args = common.to_vec();
    args.push("--json");
    let out = zkinfer(&args);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("stdout is a JSON array");
    // Every phase on the CPU; one row (phase `all`) for the absent device.
    assert_eq!(rows.len(), PHASES.len() + 1, "{rows:#?}");
    // wgpu on DX12 is absent everywhere but Windows builds with `wgpu-dx12`.
    for device in ["cpu", "wgpu-dx12"] {
        let phases: &[&str] = if device == "cpu" { &PHASES } else { &["all"] };
        for &phase in phases {
            let row = rows
                .iter()
                .find(|r| r["device"] == device && r["phase"] == phase)
                .unwrap_or_else(|| panic!("no row for {device}/{phase}"));
            assert_eq!(row["model"], "addsubmul0");
            if device == "cpu" {
                assert_eq!(row["status"], "ok", "{row}");
                assert!(row["median_s"].as_f64().unwrap() > 0.0, "{row}");
                assert!(row["proof_bytes"].as_u64().unwrap() > 0, "{row}");
            } else {
                assert_eq!(row["status"], "absent", "{row}");
                assert!(row["median_s"].is_null(), "{row}");
                assert!(
                    row["reason"].as_str().unwrap().contains("wgpu"),
                    "the reason names what is missing: {row}"
                );
            }
        }
    }
    let old = dir.path().join("old.json");
    std::fs::write(&old, &out.stdout).unwrap();

    // Second run: the table, CSV, and the change against the first run.
    let csv = dir.path().join("rows.csv");
    let mut args = common.to_vec();
    args.extend([
        "--csv",
        csv.to_str().unwrap(),
        "--compare",
        old.to_str().unwrap(),
    ]);
    let out = zkinfer(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("dory_open"), "{stdout}");
    assert!(stdout.contains("wgpu-dx12 not run"), "{stdout}");
    let comparison = stdout
        .split("change against")
        .nth(1)
        .unwrap_or_else(|| panic!("no comparison in {stdout}"));
    for phase in PHASES {
        let line = comparison
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(phase))
            .unwrap_or_else(|| panic!("no ratio for {phase} in {comparison}"));
        // `0.98x`, followed by `~` when within the runs' spread.
        let ratio = line
            .split_whitespace()
            .rev()
            .find(|t| t.ends_with('x'))
            .unwrap();
        let value: f64 = ratio.trim_end_matches('x').parse().unwrap();
        assert!(value > 0.0, "{line}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + PHASES.len() + 1, "{csv}");
    assert!(
        csv.starts_with("model,device,phase,status,median_s"),
        "{csv}"
    );
}

#[test]
fn bad_arguments_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("network.onnx");
    std::fs::write(&model, b"not onnx").unwrap();
    let out = zkinfer(&["bench", "models", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("input.json"), "{}", text(&out));

    let shipped = root().join("models/addsubmul0/network.onnx");
    let out = zkinfer(&[
        "bench",
        "models",
        shipped.to_str().unwrap(),
        "--compare",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not a bench JSON array"),
        "{}",
        text(&out)
    );

    let out = zkinfer(&["bench", "--device", "tpu"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown device `tpu`"),
        "{}",
        text(&out)
    );
}

/// Absent devices per phase only when asked; an unwritable `--csv` fails
/// before the run; `--repeat` and `--repeats` mean the same in both bench
/// commands.
#[test]
fn absent_rows_csv_path_and_repeat_spelling() {
    let model = root().join("models/addsubmul0/network.onnx");
    let model = model.to_str().unwrap();
    let common = [
        "bench",
        "models",
        model,
        "--device",
        "cpu,wgpu-dx12",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--json",
    ];
    let mut args = common.to_vec();
    args.push("--absent-per-phase");
    let out = zkinfer(&args);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2 * PHASES.len());
    assert_eq!(
        rows.iter().filter(|r| r["status"] == "absent").count(),
        PHASES.len()
    );

    let start = std::time::Instant::now();
    let mut args = common.to_vec();
    args.extend(["--csv", "/nonexistent/folder/rows.csv"]);
    let out = zkinfer(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot write /nonexistent/folder/rows.csv"),
        "{}",
        text(&out)
    );
    assert!(
        out.stdout.is_empty(),
        "no run before the error: {}",
        text(&out)
    );
    eprintln!("refused in {:?}", start.elapsed());

    for flag in ["--repeat", "--repeats"] {
        let out = zkinfer(&[
            "bench",
            "primitives",
            "--device",
            "cpu",
            "--sizes",
            "4",
            "--only",
            "ntt",
            flag,
            "1",
            "--json",
        ]);
        assert!(out.status.success(), "{flag}: {}", text(&out));
    }
}
