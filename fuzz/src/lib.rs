//! Shared setup of zkinfer's fuzz targets (`src/bin/*.rs`, one per parser of
//! untrusted bytes; see the "Fuzzing" section of the README).
//!
//! AFL++'s fork server starts in `afl::fuzz!`, so nothing here may run before
//! it: threads (rayon's pool, tokio's runtime) do not survive a fork. Every
//! target therefore builds its fixtures lazily, on its first input, in the
//! persistent child that then runs many inputs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use blake2::{Blake2b512, Digest};
use zkinfer::backend::CpuBackend;
use zkinfer::keys::cache::{self, KeyLocation, KeyParams, KeyPolicy, PreparedModel, Setups};
use zkinfer::pcs::setup::DEFAULT_SEED;
use zkinfer::pcs::DorySetup;
use zkinfer::proof::WeightVisibility;

/// The shipped models (`../models`).
pub fn models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

/// Scratch space shared by the targets' processes: `$ZKINFER_FUZZ_DIR`, else
/// `zkinfer-fuzz` in the temporary directory. Holds cached Dory setups and
/// keys (written atomically, so concurrent processes may share them) and
/// per-process scratch files.
pub fn work_dir() -> PathBuf {
    let dir = std::env::var_os("ZKINFER_FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("zkinfer-fuzz"));
    std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
    dir
}

/// A file path private to this process, in an otherwise empty directory (an
/// ONNX file may name external data relative to its folder).
pub fn scratch_file(name: &str) -> PathBuf {
    let dir = work_dir().join(format!("scratch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir.join(name)
}

/// Writes `bytes` to the scratch file `name` and returns its path.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_file(name);
    std::fs::write(&path, bytes).expect("write the scratch file");
    path
}

/// A shipped model imported with the default options and its keys (built once
/// and cached under [`work_dir`]), exactly as the CLI and the service do it.
pub fn prepared(model: &str, visibility: WeightVisibility) -> PreparedModel {
    let work = work_dir();
    let mut setups = Setups::new(work.join("setups"));
    let params = KeyParams {
        import: Default::default(),
        visibility,
    };
    cache::prepare(
        CpuBackend::global(),
        &model_path(model),
        &params,
        &KeyLocation::Root(work.join("keys")),
        &mut setups,
        KeyPolicy::LoadOrBuild,
    )
    .unwrap_or_else(|e| panic!("fixture: cannot prepare the shipped model {model}: {e}"))
}

/// `../models/<name>/network.onnx`.
pub fn model_path(name: &str) -> PathBuf {
    models_dir().join(name).join("network.onnx")
}

/// The public Dory setup for 2^`log_generators` generators per group, derived
/// once per process.
pub fn public_setup(log_generators: usize) -> Arc<DorySetup> {
    static SETUPS: OnceLock<Mutex<HashMap<usize, Arc<DorySetup>>>> = OnceLock::new();
    let mut map = SETUPS
        .get_or_init(Default::default)
        .lock()
        .expect("setup map");
    map.entry(log_generators)
        .or_insert_with(|| {
            Arc::new(DorySetup::derive(DEFAULT_SEED, log_generators).expect("derive a setup"))
        })
        .clone()
}

/// Appends the Blake2b-512 of `body`: key files end with the checksum of
/// everything before it, and a fuzzer cannot find a matching one by itself.
pub fn with_checksum(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&Blake2b512::digest(body));
    out
}

/// Rewrites the payload checksum of a Dory setup file in place (bytes 88..152
/// hold the Blake2b-512 of the payload after byte 152).
pub fn fix_setup_checksum(bytes: &mut [u8]) {
    const HEADER: usize = 8 + 8 + 64 + 8 + 64;
    if bytes.len() >= HEADER {
        let digest = Blake2b512::digest(&bytes[HEADER..]);
        bytes[88..HEADER].copy_from_slice(&digest);
    }
}

/// Runs integer inference on an all-zero input when the model is small enough
/// to do so quickly (a model from a key that passed validation must execute
/// without panicking; too large a model is the loader's concern, not this).
pub fn run_small(model: &zkinfer::model::Model) {
    let total = model
        .tensors
        .iter()
        .fold(0usize, |acc, t| acc.saturating_add(t.len()));
    if total <= 1 << 20 {
        let _ = model.execute(&vec![0; model.input_len()]);
    }
}

/// Imports an ONNX file; when that succeeds, checks that the IR validates and
/// runs it (integer inference) and tract's f32 reference on a zero input.
pub fn import_and_run(path: &std::path::Path, options: &zkinfer::onnx::ImportOptions) {
    let Ok(imported) = zkinfer::onnx::import(path, options) else {
        return;
    };
    if let Err(e) = imported.model.validate() {
        panic!("an imported model does not validate: {e}");
    }
    run_small(&imported.model);
    let len = imported.input_shapes.iter().try_fold(0usize, |total, shape| {
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
        total.checked_add(len)
    });
    if let Some(len) = len.filter(|&n| n <= 1 << 20) {
        let _ = zkinfer::onnx::run_float(&imported, &vec![0.0; len]);
    }
}
