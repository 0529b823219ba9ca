//! `zkinfer._zkinfer`: the PyO3 extension under the Python package `zkinfer`
//! (python/zkinfer/). It owns the crossing between Python and the library:
//! preparing keys through the key cache, proving on a chosen device with the
//! GIL released (Ctrl-C answered while a proof runs), and verifying proof
//! bytes as the CLI does. Arrays, shapes and the public API's shape live on
//! the Python side; every message here is the library's own (the CLI's).

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zkinfer::backend::registry::{self, DeviceChoice};
use zkinfer::backend::CpuBackend;
use zkinfer::keys::cache::{self, KeyLocation, KeyParams, KeyPolicy, PreparedModel, Setups};
use zkinfer::onnx::ImportOptions;
use zkinfer::proof::verdict::{self, ProofSettings};
use zkinfer::proof::{self, WeightVisibility};
use zkinfer::zk::model::{prove_any_on_with, AnyProof};
use zkinfer::{keys, quant, telemetry};

pyo3::create_exception!(
    _zkinfer,
    ZkinferError,
    PyException,
    "An error of zkinfer (import, keys, proving), with the CLI's message."
);

fn error(e: impl std::fmt::Display) -> PyErr {
    ZkinferError::new_err(e.to_string())
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A model imported and its keys loaded from (or built into) the key cache.
#[pyclass(frozen, module = "zkinfer._zkinfer")]
struct Keys {
    prepared: Arc<PreparedModel>,
}

#[pymethods]
impl Keys {
    /// The folder holding `pk.bin` and `vk.bin`.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.prepared.keys.dir.clone()
    }

    /// The verifying key file, for `verify(proof, vk=...)`.
    #[getter]
    fn vk_path(&self) -> PathBuf {
        self.prepared.keys.dir.join("vk.bin")
    }

    #[getter]
    fn model_name(&self) -> String {
        self.prepared.imported.model.name.clone()
    }

    /// `"committed"`, `"public"` or `"hidden"` (zero-knowledge proofs).
    #[getter]
    fn weights(&self) -> &'static str {
        cache::visibility_name(self.prepared.keys.pk.vk.visibility)
    }

    /// Fixed-point scale: values are multiples of 2^-scale.
    #[getter]
    fn scale(&self) -> u32 {
        self.prepared.imported.model.scale_bits
    }

    #[getter]
    fn vk_fingerprint(&self) -> String {
        verdict::vk_fingerprint(&self.prepared.keys.pk.vk)
    }

    /// `"loaded"` or `"built"`: where the keys came from.
    #[getter]
    fn origin(&self) -> &'static str {
        self.prepared.keys.origin.as_str()
    }

    /// The shape of each model input, in order.
    #[getter]
    fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.prepared.imported.input_shapes.clone()
    }

    /// The name of each model input, in order.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        let model = &self.prepared.imported.model;
        model
            .inputs
            .iter()
            .map(|&t| model.tensors[t].name.clone())
            .collect()
    }

    /// Whether each input holds integers (token ids and the like).
    #[getter]
    fn integer_inputs(&self) -> Vec<bool> {
        let imported = &self.prepared.imported;
        (0..imported.model.inputs.len())
            .map(|i| imported.is_integer_input(i))
            .collect()
    }

    /// The shape of each model output, in order.
    #[getter]
    fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.prepared.imported.output_shapes.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Keys(model={:?}, weights={:?}, scale={}, vk_fingerprint={:?}, dir={:?})",
            self.model_name(),
            self.weights(),
            self.scale(),
            self.vk_fingerprint(),
            self.dir().display().to_string()
        )
    }
}

/// Imports `model` (an ONNX file) and loads its keys from the cache, building
/// them when missing or stale (`rebuild`: always). `keys`: the key folder
/// itself, else a per-model folder under `$ZKINFER_KEYS` or the cache.
#[pyfunction]
#[pyo3(signature = (model, *, scale=None, weights=None, keys=None, rebuild=false))]
fn preprocess(
    py: Python<'_>,
    model: PathBuf,
    scale: Option<u32>,
    weights: Option<&str>,
    keys: Option<PathBuf>,
    rebuild: bool,
) -> PyResult<Keys> {
    let visibility = match weights {
        None => None,
        Some("committed") => Some(WeightVisibility::Committed),
        Some("public") => Some(WeightVisibility::Public),
        Some("hidden") => Some(WeightVisibility::Hidden),
        Some(other) => {
            return Err(value_error(format!(
                "weights must be \"committed\", \"public\" or \"hidden\", got {other:?}"
            )))
        }
    };
    let params =
        KeyParams::requested(scale, visibility, None, keys.as_deref()).map_err(value_error)?;
    let location = match keys {
        Some(dir) => KeyLocation::Dir(dir),
        None => KeyLocation::default_root(),
    };
    let policy = if rebuild {
        KeyPolicy::Rebuild
    } else {
        KeyPolicy::LoadOrBuild
    };
    let prepared = py
        .allow_threads(|| {
            cache::prepare(
                CpuBackend::global(),
                &model,
                &params,
                &location,
                &mut Setups::in_default_dir(),
                policy,
            )
        })
        .map_err(error)?;
    Ok(Keys {
        prepared: Arc::new(prepared),
    })
}

/// What `prove` hands back: the proof file's bytes and what Python shows of it.
#[pyclass(frozen, module = "zkinfer._zkinfer")]
struct ProveResult {
    #[pyo3(get)]
    output: Vec<f32>,
    #[pyo3(get)]
    float_output: Vec<f32>,
    #[pyo3(get)]
    max_abs_error: f32,
    #[pyo3(get)]
    device: String,
    #[pyo3(get)]
    prove_s: f64,
    /// (phase, seconds), inner phases before outer ones.
    #[pyo3(get)]
    timings: Vec<(String, f64)>,
    bytes: Vec<u8>,
}

#[pymethods]
impl ProveResult {
    fn proof_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }
}

/// Runs `work` on its own thread with the GIL released, checking for Ctrl-C
/// (and other signals) every 50 ms: a KeyboardInterrupt returns at once; the
/// abandoned computation finishes in the background and is dropped.
fn run_interruptible<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("zkinfer-prove".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(error)?;
    let mut rx = rx;
    loop {
        // The receiver travels into the GIL-free closure and back (it is Send,
        // not Sync).
        let (received, back) = py.allow_threads(move || {
            let received = rx.recv_timeout(Duration::from_millis(50));
            (received, rx)
        });
        rx = back;
        match received {
            Ok(value) => return Ok(value),
            Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(error(
                    "the proving thread panicked (a bug: please report it)",
                ))
            }
        }
    }
}

/// Proves one inference: `inputs` holds one flat list per model input, in
/// the model's order, in real units (integers for integer inputs). With
/// `private_input` (keys with hidden weights) the proof holds no input.
#[pyfunction]
#[pyo3(signature = (keys, inputs, *, device="auto", private_input=false))]
fn prove(
    py: Python<'_>,
    keys: &Keys,
    inputs: Vec<Vec<f32>>,
    device: &str,
    private_input: bool,
) -> PyResult<ProveResult> {
    let choice: DeviceChoice = device.parse().map_err(value_error)?;
    let backend = registry::select(choice).map_err(error)?;
    let prepared = keys.prepared.clone();
    let imported = &prepared.imported;
    let model = &imported.model;
    let input = quant::join_inputs(&inputs, model).map_err(value_error)?;
    let integer: Vec<bool> = (0..model.inputs.len())
        .map(|i| imported.is_integer_input(i))
        .collect();
    quant::check_integer_inputs(&input, model, &integer).map_err(value_error)?;
    quant::check_input_range(&input, model.scale_bits, model.activation_bits)
        .map_err(value_error)?;
    let device_name = backend.as_dyn().name().to_string();
    let result = run_interruptible(py, move || {
        let imported = &prepared.imported;
        let scale = imported.model.scale_bits;
        let (_, report) = quant::report(imported, &input).map_err(|e| match &e {
            quant::ReportError::Model(m) => match quant::explain_model_error(m, scale) {
                Some(r) => value_error(r),
                None => error(e),
            },
            _ => error(e),
        })?;
        let quantized = quant::quantize_input(&input, scale);
        let _subscriber = telemetry::scoped();
        let start = Instant::now();
        let (proof, phases) = telemetry::collect_phases(|| {
            prove_any_on_with(&backend, &prepared.keys.pk, &quantized, private_input)
        });
        let prove_s = start.elapsed().as_secs_f64();
        let proof = proof.map_err(error)?;
        Ok::<_, PyErr>(ProveResult {
            output: quant::dequantize(proof.output(), scale),
            float_output: report.float_output,
            max_abs_error: report.max_abs_error,
            device: device_name,
            prove_s,
            timings: phases
                .iter()
                .map(|p| (p.name.to_string(), p.elapsed.as_secs_f64()))
                .collect(),
            bytes: proof.to_bytes(),
        })
    })??;
    Ok(result)
}

/// A verdict: accepted (with the proof's public input and output) or the
/// check that rejected it and why (the CLI's `verify --json` fields).
#[pyclass(frozen, module = "zkinfer._zkinfer")]
struct Verdict {
    #[pyo3(get)]
    accepted: bool,
    #[pyo3(get)]
    check: Option<&'static str>,
    #[pyo3(get)]
    reason: Option<String>,
    #[pyo3(get)]
    input: Vec<f32>,
    #[pyo3(get)]
    output: Vec<f32>,
    #[pyo3(get)]
    output_shapes: Vec<Vec<usize>>,
    #[pyo3(get)]
    vk_fingerprint: Option<String>,
    #[pyo3(get)]
    verify_s: f64,
}

fn rejected(check: &'static str, reason: String) -> Verdict {
    Verdict {
        accepted: false,
        check: Some(check),
        reason: Some(reason),
        input: Vec::new(),
        output: Vec::new(),
        output_shapes: Vec::new(),
        vk_fingerprint: None,
        verify_s: 0.0,
    }
}

/// Verifies proof bytes against a verifying key file (`vk`) or the keys of a
/// model file (`model`, with the proof's own settings), and, given `inputs`
/// (one flat list per model input), checks that the proof is for them.
/// Rejections come back as a [`Verdict`]; errors that are not about the proof
/// (no such file, bad arguments) raise.
#[pyfunction]
#[pyo3(signature = (proof_bytes, *, model=None, vk=None, keys=None, inputs=None))]
fn verify(
    py: Python<'_>,
    proof_bytes: Vec<u8>,
    model: Option<PathBuf>,
    vk: Option<PathBuf>,
    keys: Option<PathBuf>,
    inputs: Option<Vec<Vec<f32>>>,
) -> PyResult<Verdict> {
    py.allow_threads(move || {
        let start = Instant::now();
        if proof_bytes.len() as u64 > proof::encode::MAX_PROOF_BYTES {
            return Ok(rejected(
                "decode",
                format!(
                    "{} bytes, more than the limit of {} for a proof",
                    proof_bytes.len(),
                    proof::encode::MAX_PROOF_BYTES
                ),
            ));
        }
        let (proof, checks) = match AnyProof::from_bytes_deferred(&proof_bytes) {
            Ok(decoded) => decoded,
            Err(e) => return Ok(rejected("decode", format!("malformed proof: {e}"))),
        };
        let (vk, output_shapes) = match (vk, model) {
            (Some(_), Some(_)) => {
                return Err(value_error("give the model or vk, not both"));
            }
            (Some(path), None) => {
                let vk = keys::read_vk_over_public_setup(&path).map_err(error)?;
                let shapes = vk
                    .model
                    .outputs
                    .iter()
                    .map(|&t| vk.model.tensors[t].shape.clone())
                    .collect();
                (vk, shapes)
            }
            (None, Some(model)) => {
                let params = verify_params(proof.settings());
                let location = match keys {
                    Some(dir) => KeyLocation::Dir(dir),
                    None => KeyLocation::default_root(),
                };
                let prepared = cache::prepare(
                    CpuBackend::global(),
                    &model,
                    &params,
                    &location,
                    &mut Setups::in_default_dir(),
                    KeyPolicy::LoadOrBuild,
                )
                .map_err(error)?;
                let shapes = prepared.imported.output_shapes.clone();
                (prepared.keys.pk.vk, shapes)
            }
            (None, None) => return Err(value_error("give the model or the vk to verify against")),
        };
        if let Some(m) = verdict::mismatch(proof.settings(), &vk) {
            return Ok(rejected(m.check(), m.to_string()));
        }
        let scale = vk.model.scale_bits;
        if let Some(inputs) = inputs {
            let input = match quant::join_inputs(&inputs, &vk.model) {
                Ok(input) => input,
                Err(e) => {
                    return Ok(rejected(
                        "input",
                        format!("the proof is for another input: {e}"),
                    ))
                }
            };
            quant::check_input_range(&input, scale, vk.model.activation_bits)
                .map_err(value_error)?;
            if proof.private_input() {
                return Ok(rejected(
                    "input",
                    "the proof keeps its input private: it cannot be checked against an input"
                        .into(),
                ));
            }
            if quant::quantize_input(&input, scale) != proof.input() {
                return Ok(rejected(
                    "input",
                    "the proof is for another input than the one given".into(),
                ));
            }
        }
        if let Err(r) = verdict::verify_any_file(&vk, &proof, checks) {
            return Ok(rejected(r.check, r.reason));
        }
        Ok(Verdict {
            accepted: true,
            check: None,
            reason: None,
            input: quant::dequantize(proof.input(), scale),
            output: quant::dequantize(proof.output(), scale),
            output_shapes,
            vk_fingerprint: Some(verdict::vk_fingerprint(&vk)),
            verify_s: start.elapsed().as_secs_f64(),
        })
    })
}

/// The key parameters a proof's header names.
fn verify_params(settings: &ProofSettings) -> KeyParams {
    KeyParams {
        import: ImportOptions {
            scale_bits: settings.scale_bits,
            activation_bits: settings.activation_bits,
            // Bounded by the proof's input length when it was decoded.
            batch_size: settings.batch_size as usize,
        },
        visibility: settings.visibility,
    }
}

/// The backends this build has and whether each can run here, as JSON (the
/// CLI's `zkinfer devices --json`).
#[pyfunction]
fn devices_json(py: Python<'_>) -> PyResult<String> {
    py.allow_threads(|| serde_json::to_string(&registry::probe_all()).map_err(error))
}

#[pymodule]
fn _zkinfer(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Mesa's device-select layer complains on headless machines; it has
    // nothing to select for us (as in the CLI).
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    m.add("ZkinferError", m.py().get_type::<ZkinferError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Keys>()?;
    m.add_class::<ProveResult>()?;
    m.add_class::<Verdict>()?;
    m.add_function(wrap_pyfunction!(preprocess, m)?)?;
    m.add_function(wrap_pyfunction!(prove, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(devices_json, m)?)?;
    Ok(())
}
