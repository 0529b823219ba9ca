//! `zkinfer bench models` (and bare `zkinfer bench`): the whole pipeline of real
//! ONNX models, per device, phase by phase.
//!
//! For each model × device it runs import → quantize → preprocess (built into an
//! empty temporary directory) → key load (read back from that directory) → prove
//! → verify, `warmup` times unrecorded and `repeat` times measured, and reports
//! per phase the median, minimum and maximum, with the proof size, the peak
//! resident memory and the speed-up against the CPU backend.
//!
//! Phase names are the `tracing` span names of the code that does the work
//! (collected with [`crate::telemetry::collect_phases`]), so the table, the JSON
//! rows and `-vv` logs use one vocabulary; this module times nothing itself.
//! Devices that are absent in this build or on this machine become rows with
//! status `absent` and the reason; a pipeline that fails on a device becomes rows
//! with status `failed` and the error.
//!
//! This module owns the measurement loop, the rows (JSON and CSV), the comparison
//! with an earlier run, and the terminal table; the CLI only parses arguments and
//! draws progress bars.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::registry::{self, DeviceChoice, SelectedBackend};
use crate::backend::CpuBackend;
use crate::keys::{self, KeyError};
use crate::onnx::{self, ImportError, ImportOptions};
use crate::pcs::{setup::DEFAULT_SEED, DorySetup, GlobalBackend, PcsError};
use crate::proof::{self, ModelProof, ProofError, WeightVisibility};
use crate::quant::{self, InputError};
use crate::telemetry::{self, PhaseTiming};

/// One phase of the pipeline: a span name and where it sits in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// The span name (also the `phase` of a row).
    pub name: &'static str,
    /// Nesting in the table: 1 for a part of `prove` or `verify`, 2 for a part
    /// of `opening`.
    pub depth: usize,
    /// What the span covers.
    pub what: &'static str,
}

const fn phase(name: &'static str, depth: usize, what: &'static str) -> Phase {
    Phase { name, depth, what }
}

/// Every phase reported, in table order. Each is a span of the code that does
/// the work; a span that occurs several times in a run (`import`, per-node
/// `verify_operators`, one `dory_open` per opening) is summed.
pub const PHASES: [Phase; 16] = [
    phase("import", 0, "tract parses, types and declutters the ONNX file; its f32 plan (onnx::import)"),
    phase("quantize", 0, "lowering to the fixed-point IR, weights quantized (onnx::import)"),
    phase("preprocess", 0, "keys built from scratch into an empty directory: weight commitment, layouts, files (keys::preprocess_to_dir)"),
    phase("key_load", 0, "the proving key read back from that directory, as from the cache (keys::read_pk)"),
    phase("prove", 0, "the whole prover (proof::prove)"),
    phase("witness", 1, "integer inference recording every tensor"),
    phase("commit", 1, "Dory commitment to the witness polynomial"),
    phase("operator_proofs", 1, "per-operator sumchecks and identities"),
    phase("lookups", 1, "LogUp-GKR for every table"),
    phase("opening", 1, "all claims to Dory openings"),
    phase("opening_reduction", 2, "the batching sumcheck (pcs::reduction)"),
    phase("dory_open", 2, "Dory evaluation proofs (pcs::open)"),
    phase("verify", 0, "the whole verifier (proof::verify)"),
    phase("verify_operators", 1, "per-operator checks"),
    phase("verify_lookups", 1, "LogUp-GKR checks"),
    phase("verify_opening", 1, "reduction sumcheck and Dory verification"),
];

/// What a [`Row`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured.
    Ok,
    /// The device is not in this build or not on this machine (see `reason`).
    Absent,
    /// The pipeline failed on this device (see `reason`).
    Failed,
}

/// One (model, device, phase) result; `--json` prints an array of these and
/// `--csv` the same fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    pub device: String,
    pub phase: String,
    pub status: Status,
    /// Median over the measured runs, in seconds (None unless `ok`).
    pub median_s: Option<f64>,
    pub min_s: Option<f64>,
    pub max_s: Option<f64>,
    /// Measured runs (after `warmup` unrecorded ones).
    pub runs: usize,
    pub warmup: usize,
    /// CPU median / this median, for the same model and phase.
    pub speedup_vs_cpu: Option<f64>,
    /// Size of the proof file.
    pub proof_bytes: Option<usize>,
    /// Peak resident set size of the process while this model × device ran
    /// (Linux VmHWM, reset before the pair); None where it cannot be reset.
    pub peak_mem_bytes: Option<u64>,
    pub weights: WeightVisibility,
    /// Why a device is absent or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Errors of the model bench: bad arguments or files, named.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid bench options: {0}")]
    Options(String),
    #[error("model `{}` has no input.json beside it (expected {}); the bench needs an input in ezkl's {{\"input_data\": [[...]]}} form there", model.display(), expected.display())]
    NoInput { model: PathBuf, expected: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no shipped models (folders with network.onnx and input.json) in {}", dir.display())]
    NoShippedModels { dir: PathBuf },
    #[error("cannot find the shipped models folder; tried {tried}; set $ZKINFER_MODELS_DIR or name models explicitly")]
    ModelsDirNotFound { tried: String },
    /// The input file's lists do not fit the model's inputs (their count or
    /// a list's length): the reason says which.
    #[error("{model}: {reason}")]
    InputLength { model: String, reason: String },
    #[error("{}: not a bench JSON array of rows: {reason}", path.display())]
    BadCompareFile { path: PathBuf, reason: String },
    #[error("no phase timings are being recorded: install a subscriber with zkinfer::telemetry::init or telemetry::scoped first")]
    NoTelemetry,
    #[error("{model} on {device}: phase `{phase}` was not recorded (its tracing span is missing)")]
    PhaseNotRecorded {
        model: String,
        device: String,
        phase: &'static str,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error(transparent)]
    Pcs(#[from] PcsError),
    #[error("the proof does not decode: {0}")]
    Decode(String),
}

/// A model to benchmark: its ONNX file and the input it is proved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Display name ([`onnx::model_name`]).
    pub name: String,
    pub onnx: PathBuf,
    pub input: PathBuf,
}

impl ModelSpec {
    /// A model file with the `input.json` beside it.
    pub fn from_onnx(path: &Path) -> Result<Self, BenchError> {
        if !path.is_file() {
            return Err(BenchError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model file"),
            });
        }
        let input = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("input.json");
        if !input.is_file() {
            return Err(BenchError::NoInput {
                model: path.to_path_buf(),
                expected: input,
            });
        }
        Ok(ModelSpec {
            name: onnx::model_name(path),
            onnx: path.to_path_buf(),
            input,
        })
    }
}

/// Environment variable naming the shipped models folder.
pub const MODELS_DIR_ENV: &str = "ZKINFER_MODELS_DIR";

/// The shipped models folder: `$ZKINFER_MODELS_DIR`, else `./models`, else the
/// source tree's `models/` this binary was built from.
pub fn default_models_dir() -> Result<PathBuf, BenchError> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(MODELS_DIR_ENV) {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from("models"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    candidates
        .iter()
        .find(|d| d.is_dir())
        .cloned()
        .ok_or_else(|| BenchError::ModelsDirNotFound {
            tried: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Every `DIR/*/network.onnx` with an `input.json` beside it, by name.
pub fn shipped_models(dir: &Path) -> Result<Vec<ModelSpec>, BenchError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BenchError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut specs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| BenchError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let onnx = entry.path().join("network.onnx");
        if onnx.is_file() && entry.path().join("input.json").is_file() {
            specs.push(ModelSpec::from_onnx(&onnx)?);
        }
    }
    if specs.is_empty() {
        return Err(BenchError::NoShippedModels {
            dir: dir.to_path_buf(),
        });
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Devices to run; the CPU is always added (speed-ups are against it).
    pub devices: Vec<DeviceChoice>,
    /// `devices` came from `--device all`: see [`registry::select_present`].
    pub every_present: bool,
    /// Measured runs per model × device (at least 1).
    pub repeat: usize,
    /// Unrecorded runs before them.
    pub warmup: usize,
    pub weights: WeightVisibility,
    pub import: ImportOptions,
    /// Where the Dory setup (public parameters shared by all models) is cached;
    /// it is loaded once per model before the runs and is no phase.
    pub setup_cache_dir: PathBuf,
    /// An absent device gets a row per phase, not one row (phase
    /// [`ABSENT_PHASE`]) per model.
    pub absent_per_phase: bool,
}

/// The phase of the one row an absent device gets per model (unless
/// [`Options::absent_per_phase`]).
pub const ABSENT_PHASE: &str = "all";

/// Progress of [`run`], for progress bars.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A model starts: `runs` pipeline runs follow (all devices, warm-ups included).
    Model { model: &'a str, runs: usize },
    /// A pipeline run starts.
    Run {
        model: &'a str,
        device: &'a str,
        /// Number of the run on this device, from 1, warm-ups first.
        index: usize,
        of: usize,
        warmup: bool,
    },
    /// The run announced last ended.
    RunDone { model: &'a str },
    /// A model is done on every device.
    ModelDone { model: &'a str },
}

/// A model ready to run: its input and Dory setup.
struct Prepared {
    spec: ModelSpec,
    input: Vec<f32>,
    setup: Arc<DorySetup>,
}

/// What one model × device produced.
struct Measured {
    /// Per measured run, the summed duration of each phase, in [`PHASES`] order.
    runs: Vec<Vec<f64>>,
    proof_bytes: usize,
    peak_mem_bytes: Option<u64>,
}

/// Runs the bench: every model on every device of `options`, rows in model,
/// device, phase order. Needs a telemetry subscriber ([`telemetry::init`] or
/// [`telemetry::scoped`]); errors before any run on bad models or inputs.
pub fn run(
    models: &[ModelSpec],
    options: &Options,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<Vec<Row>, BenchError> {
    if options.repeat == 0 {
        return Err(BenchError::Options(
            "--repeat must be at least 1 (the median needs a measured run)".into(),
        ));
    }
    if models.is_empty() {
        return Err(BenchError::Options("no models to run".into()));
    }
    check_telemetry()?;
    let (selected, absent) = select_devices(&options.devices, options.every_present);
    let prepared = models
        .iter()
        .map(|spec| prepare(spec, options))
        .collect::<Result<Vec<_>, _>>()?;

    let per_device = options.warmup + options.repeat;
    let mut rows = Vec::new();
    for model in &prepared {
        let name = model.spec.name.as_str();
        on_progress(Progress::Model {
            model: name,
            runs: per_device * selected.len(),
        });
        let mut measured: Vec<(String, Result<Measured, String>)> = Vec::new();
        for (device, backend) in &selected {
            let mut on_run = |index: usize, warmup: bool, done: bool| {
                on_progress(if done {
                    Progress::RunDone { model: name }
                } else {
                    Progress::Run {
                        model: name,
                        device,
                        index,
                        of: per_device,
                        warmup,
                    }
                })
            };
            let result = match backend {
                SelectedBackend::Cpu(_) => {
                    measure::<CpuBackend>(model, device, options, &mut on_run)
                }
                #[cfg(feature = "icicle")]
                SelectedBackend::Icicle(_) => measure::<crate::backend::icicle::IcicleBackend>(
                    model,
                    device,
                    options,
                    &mut on_run,
                ),
                #[cfg(feature = "wgpu")]
                SelectedBackend::Wgpu(_) => measure::<crate::backend::wgpu::WgpuBackend>(
                    model,
                    device,
                    options,
                    &mut on_run,
                ),
            };
            let result = match result {
                Ok(m) => Ok(m),
                // An instrumentation bug is no device failure: stop.
                Err(e @ BenchError::PhaseNotRecorded { .. }) => return Err(e),
                Err(e) => Err(e.to_string()),
            };
            measured.push((device.clone(), result));
        }
        rows.extend(model_rows(name, &measured, &absent, options));
        on_progress(Progress::ModelDone { model: name });
    }
    Ok(rows)
}

/// Fails unless spans of this crate reach [`telemetry::collect_phases`].
fn check_telemetry() -> Result<(), BenchError> {
    let ((), seen) = telemetry::collect_phases(|| {
        let _probe = tracing::debug_span!("telemetry_probe").entered();
    });
    if seen.is_empty() {
        return Err(BenchError::NoTelemetry);
    }
    Ok(())
}

/// Devices to run, by backend name.
type Selected = Vec<(String, SelectedBackend)>;
/// Devices not present: (device, reason).
type Absent = Vec<(String, String)>;

/// The devices to run (deduplicated by backend, CPU first) and the absent ones
/// with their reasons.
fn select_devices(choices: &[DeviceChoice], every_present: bool) -> (Selected, Absent) {
    let mut all = vec![DeviceChoice::Cpu];
    all.extend(choices.iter().copied().filter(|c| *c != DeviceChoice::Cpu));
    let mut selected: Selected = Vec::new();
    let mut absent: Absent = Vec::new();
    for choice in all {
        match registry::select_in_list(choice, every_present) {
            Ok(backend) => {
                let name = backend.as_dyn().name().to_string();
                if !selected.iter().any(|(n, _)| *n == name) {
                    selected.push((name, backend));
                }
            }
            Err(e) => {
                let device = choice.to_string();
                if !absent.iter().any(|(d, _)| *d == device) {
                    absent.push((device, e.to_string()));
                }
            }
        }
    }
    (selected, absent)
}

/// Reads the input, imports the model once (so a bad file fails before any
/// run) and loads the Dory setup it needs.
fn prepare(spec: &ModelSpec, options: &Options) -> Result<Prepared, BenchError> {
    let file = quant::read_input_file(&spec.input)?;
    let imported = onnx::import(&spec.onnx, &options.import)?;
    let input = quant::join_inputs(&file.inputs, &imported.model).map_err(|reason| {
        BenchError::InputLength {
            model: spec.name.clone(),
            reason,
        }
    })?;
    let setup = DorySetup::load_or_derive(
        DEFAULT_SEED,
        proof::required_generators(&imported.model),
        &options.setup_cache_dir,
    )?;
    Ok(Prepared {
        spec: spec.clone(),
        input,
        setup: Arc::new(setup),
    })
}

/// Warm-ups, then measured runs, of one model on backend `B`.
fn measure<B: GlobalBackend>(
    model: &Prepared,
    device: &str,
    options: &Options,
    on_run: &mut dyn FnMut(usize, bool, bool),
) -> Result<Measured, BenchError> {
    let peak_reset = peak_rss::reset();
    let mut runs = Vec::with_capacity(options.repeat);
    let mut proof_bytes = 0;
    for index in 0..options.warmup + options.repeat {
        let warmup = index < options.warmup;
        on_run(index + 1, warmup, false);
        let (result, spans) = telemetry::collect_phases(|| run_once::<B>(model, options));
        proof_bytes = result?;
        if !warmup {
            runs.push(phase_totals(&spans, &model.spec.name, device)?);
        }
        on_run(index + 1, warmup, true);
    }
    Ok(Measured {
        runs,
        proof_bytes,
        peak_mem_bytes: if peak_reset { peak_rss::read() } else { None },
    })
}

/// Sums each phase's spans; every phase must have been seen.
fn phase_totals(spans: &[PhaseTiming], model: &str, device: &str) -> Result<Vec<f64>, BenchError> {
    PHASES
        .iter()
        .map(|p| {
            if spans.iter().any(|s| s.name == p.name) {
                Ok(telemetry::total(spans, p.name).as_secs_f64())
            } else {
                Err(BenchError::PhaseNotRecorded {
                    model: model.into(),
                    device: device.into(),
                    phase: p.name,
                })
            }
        })
        .collect()
}

/// One whole pipeline run on backend `B`; returns the proof's size in bytes.
fn run_once<B: GlobalBackend>(model: &Prepared, options: &Options) -> Result<usize, BenchError> {
    let imported = onnx::import(&model.spec.onnx, &options.import)?;
    let input = quant::quantize_input(&model.input, imported.model.scale_bits);
    // A fresh, empty key directory: "built" never reuses a cached key.
    let dir = tempfile::tempdir().map_err(|source| BenchError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    keys::preprocess_to_dir(
        B::global(),
        imported.model,
        options.weights,
        model.setup.clone(),
        dir.path(),
    )?;
    let pk = keys::read_pk(&dir.path().join("pk.bin"), model.setup.clone())?;
    // The verifier gets what a verifier would: the proof's bytes.
    if pk.vk.visibility.is_zk() {
        let bytes = crate::zk::model::prove(B::global(), &pk, &input)?.to_bytes();
        let decoded = crate::zk::model::ZkModelProof::from_bytes(&bytes)
            .map_err(|e| BenchError::Decode(e.to_string()))?;
        crate::zk::model::verify(&pk.vk, &input, &decoded)?;
        return Ok(bytes.len());
    }
    let bytes = proof::prove(B::global(), &pk, &input)?.to_bytes();
    let decoded = ModelProof::from_bytes(&bytes).map_err(|e| BenchError::Decode(e.to_string()))?;
    proof::verify(&pk.vk, &input, &decoded)?;
    Ok(bytes.len())
}

/// (median, min, max) of a non-empty sample.
fn summarize(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

/// The rows of one model: every phase of every device run, and each absent
/// device (one row, or one per phase when asked).
fn model_rows(
    model: &str,
    measured: &[(String, Result<Measured, String>)],
    absent: &[(String, String)],
    options: &Options,
) -> Vec<Row> {
    let blank = |device: &str, phase: &str, status, reason: Option<String>| Row {
        model: model.to_string(),
        device: device.to_string(),
        phase: phase.to_string(),
        status,
        median_s: None,
        min_s: None,
        max_s: None,
        runs: 0,
        warmup: options.warmup,
        speedup_vs_cpu: None,
        proof_bytes: None,
        peak_mem_bytes: None,
        weights: options.weights,
        reason,
    };
    let cpu_medians: Option<Vec<f64>> = measured.iter().find_map(|(d, m)| match m {
        Ok(m) if d == "cpu" => Some(
            (0..PHASES.len())
                .map(|i| summarize(&m.runs.iter().map(|r| r[i]).collect::<Vec<_>>()).0)
                .collect(),
        ),
        _ => None,
    });
    let mut rows = Vec::new();
    for (device, result) in measured {
        for (i, p) in PHASES.iter().enumerate() {
            rows.push(match result {
                Ok(m) => {
                    let (median, min, max) =
                        summarize(&m.runs.iter().map(|r| r[i]).collect::<Vec<_>>());
                    Row {
                        median_s: Some(median),
                        min_s: Some(min),
                        max_s: Some(max),
                        runs: m.runs.len(),
                        speedup_vs_cpu: cpu_medians
                            .as_ref()
                            .filter(|_| median > 0.0)
                            .map(|c| c[i] / median),
                        proof_bytes: Some(m.proof_bytes),
                        peak_mem_bytes: m.peak_mem_bytes,
                        ..blank(device, p.name, Status::Ok, None)
                    }
                }
                Err(reason) => blank(device, p.name, Status::Failed, Some(reason.clone())),
            });
        }
    }
    for (device, reason) in absent {
        if options.absent_per_phase {
            for p in &PHASES {
                rows.push(blank(device, p.name, Status::Absent, Some(reason.clone())));
            }
        } else {
            rows.push(blank(
                device,
                ABSENT_PHASE,
                Status::Absent,
                Some(reason.clone()),
            ));
        }
    }
    rows
}

/// Peak resident set size from `/proc/self/status` (Linux).
mod peak_rss {
    /// Resets the process's VmHWM to its current RSS (`/proc/self/clear_refs`,
    /// value 5, Linux ≥ 4.0); false where that is not possible.
    pub fn reset() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// VmHWM in bytes.
    pub fn read() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }
}

// ---------------------------------------------------------------- CSV

/// The CSV header; the columns are [`Row`]'s fields in order.
pub const CSV_HEADER: &str = "model,device,phase,status,median_s,min_s,max_s,runs,warmup,speedup_vs_cpu,proof_bytes,peak_mem_bytes,weights,reason";

fn weights_name(w: WeightVisibility) -> &'static str {
    w.name()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The rows as CSV (RFC 4180 quoting), header first; empty fields for None.
pub fn to_csv(rows: &[Row]) -> String {
    fn opt<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map(T::to_string).unwrap_or_default()
    }
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let weights = weights_name(r.weights);
        let status = match r.status {
            Status::Ok => "ok",
            Status::Absent => "absent",
            Status::Failed => "failed",
        };
        let fields = [
            csv_field(&r.model),
            csv_field(&r.device),
            csv_field(&r.phase),
            status.to_string(),
            opt(&r.median_s),
            opt(&r.min_s),
            opt(&r.max_s),
            r.runs.to_string(),
            r.warmup.to_string(),
            opt(&r.speedup_vs_cpu),
            opt(&r.proof_bytes),
            opt(&r.peak_mem_bytes),
            weights.to_string(),
            csv_field(r.reason.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- compare

/// The fields `--compare` needs from an earlier run's rows (others ignored, so
/// files from older or newer versions still compare).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OldRow {
    pub model: String,
    pub device: String,
    pub phase: String,
    #[serde(default)]
    pub median_s: Option<f64>,
    #[serde(default)]
    pub min_s: Option<f64>,
    #[serde(default)]
    pub max_s: Option<f64>,
}

/// Reads an earlier `--json` output.
pub fn read_rows(path: &Path) -> Result<Vec<OldRow>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| BenchError::BadCompareFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// One phase measured in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseChange {
    pub model: String,
    pub device: String,
    pub phase: String,
    pub old_s: f64,
    pub new_s: f64,
    /// new / old (below 1: faster now).
    pub ratio: f64,
    /// The two runs' min–max ranges overlap: the change is within their own
    /// spread, so the ratio says nothing either way.
    pub noise: bool,
}

/// A (model, device, phase) measured on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    pub model: String,
    pub device: String,
    pub phase: String,
}

/// The change between an earlier run and this one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// In the new run's order.
    pub changes: Vec<PhaseChange>,
    /// Measured now, not in the old run (or not measured there).
    pub only_new: Vec<Unmatched>,
    /// Measured in the old run, not now.
    pub only_old: Vec<Unmatched>,
}

/// Per-phase ratio new/old of the medians; rows without a median (absent or
/// failed devices) count as not measured.
pub fn compare(old: &[OldRow], new: &[Row]) -> Comparison {
    type Key = (String, String, String);
    let key = |m: &str, d: &str, p: &str| -> Key { (m.into(), d.into(), p.into()) };
    // Per key: the median and the min–max range (the median alone when an
    // older file has no range).
    let old_medians: HashMap<Key, (f64, f64, f64)> = old
        .iter()
        .filter_map(|r| {
            let m = r.median_s?;
            Some((
                key(&r.model, &r.device, &r.phase),
                (m, r.min_s.unwrap_or(m), r.max_s.unwrap_or(m)),
            ))
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut changes = Vec::new();
    let mut only_new = Vec::new();
    for r in new {
        let Some(new_s) = r.median_s else { continue };
        let k = key(&r.model, &r.device, &r.phase);
        match old_medians.get(&k) {
            Some(&(old_s, old_min, old_max)) => changes.push(PhaseChange {
                noise: {
                    let (new_min, new_max) = (r.min_s.unwrap_or(new_s), r.max_s.unwrap_or(new_s));
                    new_min <= old_max && old_min <= new_max
                },
                model: r.model.clone(),
                device: r.device.clone(),
                phase: r.phase.clone(),
                old_s,
                new_s,
                ratio: if old_s > 0.0 {
                    new_s / old_s
                } else {
                    f64::INFINITY
                },
            }),
            None => only_new.push(Unmatched {
                model: k.0.clone(),
                device: k.1.clone(),
                phase: k.2.clone(),
            }),
        }
        seen.insert(k);
    }
    let only_old = old
        .iter()
        .filter(|r| r.median_s.is_some())
        .filter(|r| !seen.contains(&key(&r.model, &r.device, &r.phase)))
        .map(|r| Unmatched {
            model: r.model.clone(),
            device: r.device.clone(),
            phase: r.phase.clone(),
        })
        .collect();
    Comparison {
        changes,
        only_new,
        only_old,
    }
}

/// The comparison as a table: one line per phase, then what is on one side only.
pub fn format_comparison(cmp: &Comparison, old_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "change against {old_name} (median new / old; below 1.00x is faster now; \
         `~`: within the runs' own min–max spread, i.e. noise)"
    );
    let mw = cmp
        .changes
        .iter()
        .map(|c| c.model.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let dw = cmp
        .changes
        .iter()
        .map(|c| c.device.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:<mw$}  {:<dw$}  {:<18} {:>10} {:>10} {:>8}",
        "model", "device", "phase", "old", "new", "new/old"
    );
    for c in &cmp.changes {
        let _ = writeln!(
            out,
            "{:<mw$}  {:<dw$}  {:<18} {:>10} {:>10} {:>7.2}x{}",
            c.model,
            c.device,
            c.phase,
            format_secs(c.old_s),
            format_secs(c.new_s),
            c.ratio,
            if c.noise { " ~" } else { "" }
        );
    }
    for (label, list) in [
        ("not in the old run", &cmp.only_new),
        ("not in this run", &cmp.only_old),
    ] {
        // Group by model and device, so a missing device reads as one line.
        let mut groups: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
        for u in list {
            groups
                .entry((u.model.clone(), u.device.clone()))
                .or_default()
                .push(&u.phase);
        }
        for ((model, device), phases) in groups {
            let which = if PHASES.iter().all(|p| phases.contains(&p.name)) {
                "every phase".to_string()
            } else {
                phases.join(", ")
            };
            let _ = writeln!(out, "{label}: {model} on {device}: {which}");
        }
    }
    out
}

// ---------------------------------------------------------------- table

/// Seconds with a unit that keeps three significant figures.
pub fn format_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn format_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// Widest table the formatter aims for before splitting columns into blocks.
const TABLE_WIDTH: usize = 120;

/// The terminal table: phases down, one column per measured model × device
/// (split into blocks to stay within 120 characters), then what was not run.
pub fn format_table(rows: &[Row]) -> String {
    // Columns: (model, device) pairs with measurements, in row order.
    let mut columns: Vec<(String, String)> = Vec::new();
    let mut cells: HashMap<(String, String, String), &Row> = HashMap::new();
    for r in rows {
        if r.status == Status::Ok {
            let c = (r.model.clone(), r.device.clone());
            if !columns.contains(&c) {
                columns.push(c);
            }
            cells.insert((r.model.clone(), r.device.clone(), r.phase.clone()), r);
        }
    }
    let several_devices = columns.iter().any(|(_, d)| d != "cpu");
    let label_width = PHASES
        .iter()
        .map(|p| 2 * p.depth + p.name.len())
        .max()
        .unwrap_or(0)
        .max("peak memory".len());
    let cell = |col: &(String, String), phase: &str| -> String {
        let Some(r) = cells.get(&(col.0.clone(), col.1.clone(), phase.to_string())) else {
            return "-".into();
        };
        let (Some(median), Some(min), Some(max)) = (r.median_s, r.min_s, r.max_s) else {
            return "-".into();
        };
        let mut text = format_secs(median);
        if r.runs > 1 && median > 0.0 {
            let spread = 50.0 * (max - min) / median;
            if spread < 999.5 {
                let _ = write!(text, " ±{spread:.0}%");
            } else {
                text.push_str(" ±>999%");
            }
        }
        if col.1 != "cpu" {
            if let Some(s) = r.speedup_vs_cpu {
                let _ = write!(text, " {s:.2}x");
            }
        }
        text
    };
    let first = |col: &(String, String)| {
        rows.iter()
            .find(|r| r.status == Status::Ok && r.model == col.0 && r.device == col.1)
    };
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    lines.push((
        "phase".into(),
        columns.iter().map(|c| c.0.clone()).collect(),
    ));
    if several_devices {
        lines.push((String::new(), columns.iter().map(|c| c.1.clone()).collect()));
    }
    for p in &PHASES {
        lines.push((
            format!("{}{}", "  ".repeat(p.depth), p.name),
            columns.iter().map(|c| cell(c, p.name)).collect(),
        ));
    }
    lines.push((
        "proof size".into(),
        columns
            .iter()
            .map(|c| {
                first(c)
                    .and_then(|r| r.proof_bytes)
                    .map(|b| format_bytes(b as u64))
                    .unwrap_or_else(|| "-".into())
            })
            .collect(),
    ));
    lines.push((
        "peak memory".into(),
        columns
            .iter()
            .map(|c| {
                first(c)
                    .and_then(|r| r.peak_mem_bytes)
                    .map(format_bytes)
                    .unwrap_or_else(|| "-".into())
            })
            .collect(),
    ));

    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            lines
                .iter()
                .map(|(_, c)| c[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Split the columns into blocks that fit the width.
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut used = label_width;
    for (i, w) in widths.iter().enumerate() {
        match blocks.last_mut() {
            Some(block) if used + 2 + w <= TABLE_WIDTH => {
                block.push(i);
                used += 2 + w;
            }
            _ => {
                blocks.push(vec![i]);
                used = label_width + 2 + w;
            }
        }
    }
    let mut out = String::new();
    for (b, block) in blocks.iter().enumerate() {
        if b > 0 {
            out.push('\n');
        }
        for (label, values) in &lines {
            let mut line = format!("{label:<label_width$}");
            for &i in block {
                let _ = write!(line, "  {:>w$}", values[i], w = widths[i]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if let Some(r) = rows.iter().find(|r| r.status == Status::Ok) {
        let _ = writeln!(
            out,
            "\nmedian of {} run(s) after {} warm-up(s), {} weights; ±: half the min–max range in % of the median{}",
            r.runs,
            r.warmup,
            weights_name(r.weights),
            if several_devices { "; Nx: speed-up against cpu" } else { "" }
        );
        let _ = writeln!(
            out,
            "peak memory: peak resident set size (VmHWM) while the model ran on that device"
        );
    }
    // Devices not run, each reason once.
    let mut noted: Vec<(String, Status, String)> = Vec::new();
    for r in rows.iter().filter(|r| r.status != Status::Ok) {
        let reason = r.reason.clone().unwrap_or_default();
        let what = match r.status {
            Status::Failed => format!("{} failed on {}", r.model, r.device),
            _ => format!("{} not run", r.device),
        };
        if !noted.iter().any(|(w, _, why)| *w == what && *why == reason) {
            noted.push((what, r.status, reason));
        }
    }
    for (what, _, reason) in noted {
        let _ = writeln!(out, "{what}: {reason}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, device: &str, phase: &str, median: Option<f64>) -> Row {
        Row {
            model: model.into(),
            device: device.into(),
            phase: phase.into(),
            status: if median.is_some() {
                Status::Ok
            } else {
                Status::Absent
            },
            median_s: median,
            min_s: median,
            max_s: median,
            runs: 1,
            warmup: 0,
            speedup_vs_cpu: median.map(|_| 1.0),
            proof_bytes: median.map(|_| 1000),
            peak_mem_bytes: None,
            weights: WeightVisibility::Committed,
            reason: median.is_none().then(|| "no such device, here".to_string()),
        }
    }

    #[test]
    fn phases_are_unique_and_nested_under_a_parent() {
        for (i, p) in PHASES.iter().enumerate() {
            assert!(PHASES[..i].iter().all(|q| q.name != p.name), "{}", p.name);
            if p.depth > 0 {
                // The nearest shallower phase above is its parent.
                let parent = PHASES[..i].iter().rev().find(|q| q.depth < p.depth);
                assert_eq!(parent.map(|q| q.depth), Some(p.depth - 1), "{}", p.name);
            }
        }
    }

    #[test]
    fn summarizes_odd_and_even_samples() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(summarize(&[5.0]), (5.0, 5.0, 5.0));
    }

    #[test]
    fn compare_reports_ratios_and_both_kinds_of_missing_phase() {
        let old = vec![
            OldRow {
                model: "m".into(),
                device: "cpu".into(),
                phase: "prove".into(),
                median_s: Some(2.0),
                min_s: None,
                max_s: None,
            },
            OldRow {
                model: "m".into(),
                device: "cpu".into(),
                phase: "retired_phase".into(),
                median_s: Some(1.0),
                min_s: None,
                max_s: None,
            },
            OldRow {
                model: "m".into(),
                device: "cuda".into(),
                phase: "prove".into(),
                median_s: None,
                min_s: None,
                max_s: None,
            },
        ];
        let new = vec![
            row("m", "cpu", "prove", Some(1.5)),
            row("m", "cpu", "new_phase", Some(0.5)),
            row("m", "cuda", "prove", None),
        ];
        let cmp = compare(&old, &new);
        assert_eq!(cmp.changes.len(), 1);
        assert_eq!(cmp.changes[0].phase, "prove");
        assert!((cmp.changes[0].ratio - 0.75).abs() < 1e-12);
        assert_eq!(cmp.only_new.len(), 1);
        assert_eq!(cmp.only_new[0].phase, "new_phase");
        assert_eq!(cmp.only_old.len(), 1);
        assert_eq!(cmp.only_old[0].phase, "retired_phase");
        let text = format_comparison(&cmp, "old.json");
        assert!(text.contains("0.75x"), "{text}");
        assert!(
            text.contains("not in the old run: m on cpu: new_phase"),
            "{text}"
        );
        assert!(
            text.contains("not in this run: m on cpu: retired_phase"),
            "{text}"
        );
        // Old rows without a range: a point; 2.0 vs 1.5 is a real change.
        assert!(!cmp.changes[0].noise);
        assert!(!text.contains("0.75x ~"), "{text}");
    }

    #[test]
    fn compare_marks_changes_within_the_spread_as_noise() {
        let old = |min: f64, median: f64, max: f64| OldRow {
            model: "m".into(),
            device: "cpu".into(),
            phase: "prove".into(),
            median_s: Some(median),
            min_s: Some(min),
            max_s: Some(max),
        };
        let mut new = row("m", "cpu", "prove", Some(1.0));
        (new.min_s, new.max_s) = (Some(0.9), Some(1.1));
        // Overlapping ranges: noise, marked `~`.
        let cmp = compare(&[old(1.05, 1.2, 1.3)], std::slice::from_ref(&new));
        assert!(cmp.changes[0].noise);
        assert!(format_comparison(&cmp, "o").contains("0.83x ~"));
        // Disjoint ranges: a change.
        let cmp = compare(&[old(1.5, 2.0, 2.5)], std::slice::from_ref(&new));
        assert!(!cmp.changes[0].noise);
        assert!(format_comparison(&cmp, "o").contains("0.50x\n"));
    }

    #[test]
    fn csv_quotes_fields_and_keeps_every_row() {
        let rows = vec![
            row("m", "cpu", "prove", Some(1.5)),
            row("m", "cuda", "prove", None),
        ];
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("m,cpu,prove,ok,1.5,1.5,1.5,1,0,1,1000,,committed,"));
        assert!(
            lines[2].ends_with(",\"no such device, here\""),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[1].split(',').count(),
            CSV_HEADER.split(',').count(),
            "one field per column"
        );
    }

    #[test]
    fn bad_options_and_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("network.onnx");
        std::fs::write(&model, b"not onnx").unwrap();
        let err = ModelSpec::from_onnx(&model).unwrap_err();
        assert!(matches!(err, BenchError::NoInput { .. }), "{err}");
        assert!(err.to_string().contains("input.json"), "{err}");
        assert!(matches!(
            ModelSpec::from_onnx(&dir.path().join("missing.onnx")),
            Err(BenchError::Io { .. })
        ));
        assert!(matches!(
            shipped_models(dir.path()),
            Err(BenchError::NoShippedModels { .. })
        ));
        let bad = dir.path().join("old.json");
        std::fs::write(&bad, b"{\"model\": 1}").unwrap();
        let err = read_rows(&bad).unwrap_err();
        assert!(matches!(err, BenchError::BadCompareFile { .. }), "{err}");
        let options = Options {
            devices: vec![DeviceChoice::Cpu],
            every_present: false,
            repeat: 0,
            warmup: 0,
            weights: WeightVisibility::Committed,
            import: ImportOptions::default(),
            setup_cache_dir: dir.path().to_path_buf(),
            absent_per_phase: true,
        };
        let spec = ModelSpec {
            name: "m".into(),
            onnx: model.clone(),
            input: model,
        };
        assert!(matches!(
            run(&[spec], &options, |_| {}),
            Err(BenchError::Options(_))
        ));
    }

    #[test]
    fn shipped_models_are_found_with_their_inputs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let specs = shipped_models(&dir).unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"authorization"), "{names:?}");
        assert!(names.contains(&"article_classification"), "{names:?}");
        assert!(specs.iter().all(|s| s.input.ends_with("input.json")));
    }

    /// The whole pipeline on the smallest shipped model: every phase of every
    /// model/device pair is a row, the absent device carries its reason, and
    /// the table and the JSON hold them (tests/cli_bench.rs compares two runs).
    #[test]
    fn smallest_model_reports_every_phase_for_every_device() {
        let _guard = telemetry::scoped();
        let dir = tempfile::tempdir().unwrap();
        let spec = ModelSpec::from_onnx(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/addsubmul0/network.onnx"),
        )
        .unwrap();
        let options = Options {
            devices: vec![DeviceChoice::Cpu, DeviceChoice::Cuda(None)],
            every_present: false,
            repeat: 1,
            warmup: 0,
            weights: WeightVisibility::Committed,
            import: ImportOptions::default(),
            setup_cache_dir: dir.path().to_path_buf(),
            absent_per_phase: true,
        };
        let mut events = Vec::new();
        let rows = run(std::slice::from_ref(&spec), &options, |p| {
            events.push(format!("{p:?}"))
        })
        .unwrap();
        // CPU, plus CUDA absent in this build.
        assert_eq!(rows.len(), 2 * PHASES.len());
        for device in ["cpu", "cuda"] {
            for p in &PHASES {
                let r = rows
                    .iter()
                    .find(|r| r.device == device && r.phase == p.name)
                    .unwrap_or_else(|| panic!("{device}/{} missing", p.name));
                assert_eq!(r.model, "addsubmul0");
                if device == "cpu" {
                    assert_eq!(r.status, Status::Ok);
                    let m = r.median_s.unwrap();
                    assert!(m > 0.0 && r.min_s <= Some(m) && r.max_s >= Some(m), "{r:?}");
                    assert_eq!(r.speedup_vs_cpu, Some(1.0));
                    assert!(r.proof_bytes.unwrap() > 1000);
                    if cfg!(target_os = "linux") {
                        assert!(r.peak_mem_bytes.unwrap() > 1 << 20);
                    }
                } else {
                    assert_eq!(r.status, Status::Absent);
                    assert!(r.median_s.is_none());
                    assert!(r.reason.as_deref().unwrap().contains("ICICLE"), "{r:?}");
                }
            }
        }
        // Parts never exceed their whole.
        let median = |phase: &str| {
            rows.iter()
                .find(|r| r.device == "cpu" && r.phase == phase)
                .and_then(|r| r.median_s)
                .unwrap()
        };
        let parts: f64 = ["witness", "commit", "operator_proofs", "lookups", "opening"]
            .iter()
            .map(|p| median(p))
            .sum();
        assert!(parts <= median("prove"), "{parts} > {}", median("prove"));
        assert!(median("opening_reduction") + median("dory_open") <= median("opening"));
        assert_eq!(events.len(), 4, "{events:?}"); // model, run, run done, model done

        // JSON round trip, and the table shows phases and the absent device.
        // (serde_json may round a float's last digit.)
        let json = serde_json::to_string(&rows).unwrap();
        let back: Vec<Row> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), rows.len());
        for (b, r) in back.iter().zip(&rows) {
            assert_eq!(
                (&b.model, &b.device, &b.phase, b.status),
                (&r.model, &r.device, &r.phase, r.status)
            );
            assert_eq!(b.median_s.is_some(), r.median_s.is_some());
            if let (Some(x), Some(y)) = (b.median_s, r.median_s) {
                assert!((x - y).abs() <= 1e-12 * y, "{x} {y}");
            }
        }
        let table = format_table(&rows);
        assert!(table.contains("opening_reduction"), "{table}");
        assert!(table.contains("cuda not run"), "{table}");
        // Compared with itself, every phase is there at 1.00x.
        let old: Vec<OldRow> = serde_json::from_str(&json).unwrap();
        let cmp = compare(&old, &rows);
        assert_eq!(cmp.changes.len(), PHASES.len());
        assert!(cmp.only_new.is_empty() && cmp.only_old.is_empty());
        assert!(cmp.changes.iter().all(|c| (c.ratio - 1.0).abs() < 1e-9));
    }
}
