//! The key cache: where a model's proving and verifying keys live on disk, and
//! whether a cached pair may be used or must be rebuilt.
//!
//! A model's keys live in `<root>/<name>-<digest>/{pk,vk}.bin`, where `root` is
//! `$ZKINFER_KEYS` (or `<cache dir>/keys`) and `digest` is a Blake2b digest of
//! the model file's bytes, every quantization parameter (scale, activation
//! bound, batch size), the weight visibility and [`KEY_FORMAT_VERSION`]. A change
//! to any of them picks another folder, so stale keys are not even read.
//!
//! Keys that are read are still never trusted: a file that is truncated, corrupt
//! (checksum), of another format version, made with another Dory setup, for
//! another model or visibility, or a `pk.bin`/`vk.bin` pair from two different
//! builds (digest mismatch, e.g. after a crash between the two writes, or a
//! `--keys` folder reused for another model) is reported with a warning and
//! rebuilt. A weight commitment is used only when this user's tag vouches for
//! the files ([`super::mac`]) or after it is recomputed from the model's
//! weights ([`load`]). A folder the user named (`--keys DIR`) is never rebuilt
//! over: its problems are errors ([`load_or_build_named`]). Files are written
//! atomically ([`super::write_atomic`]).
//!
//! This module owns the cache layout and the load-or-build decision; the file
//! formats are [`super`]'s, key construction is [`crate::proof::preprocess`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use blake2::{Blake2b512, Digest};

use super::{KeyError, KEY_FORMAT_VERSION};
use crate::backend::Backend;
use crate::model::Model;
pub use crate::onnx::model_name;
use crate::onnx::{self, ImportError, ImportOptions, ImportedModel};
use crate::pcs::{setup::DEFAULT_SEED, DorySetup, PcsError};
use crate::proof::{self, ProvingKey, WeightVisibility};

/// Environment variable naming the key cache root (per-model folders inside).
pub const KEYS_ENV: &str = "ZKINFER_KEYS";

/// Everything besides the model file that the keys depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParams {
    /// Quantization and shape options of the import.
    pub import: ImportOptions,
    /// Weight visibility.
    pub visibility: WeightVisibility,
}

impl KeyParams {
    /// The parameters a caller asks for: what it names; where it is silent,
    /// the settings of the keys already in `keys_dir` (so a folder of
    /// public-weight keys is used as such, not rebuilt), else the defaults.
    /// The reason of an error is written for the user.
    pub fn requested(
        scale_bits: Option<u32>,
        visibility: Option<WeightVisibility>,
        batch_size: Option<usize>,
        keys_dir: Option<&Path>,
    ) -> Result<Self, String> {
        let existing = keys_dir
            .map(|dir| dir.join("pk.bin"))
            .filter(|pk| pk.exists())
            .and_then(|pk| crate::keys::read_pk_settings(&pk).ok());
        let import = ImportOptions {
            scale_bits: scale_bits
                .or(existing.as_ref().map(|k| k.scale_bits))
                .unwrap_or(crate::model::DEFAULT_SCALE_BITS),
            batch_size: batch_size.unwrap_or(1),
            ..ImportOptions::default()
        };
        crate::quant::check_scale(import.scale_bits, import.activation_bits)?;
        Ok(KeyParams {
            import,
            visibility: visibility
                .or(existing.as_ref().map(|k| k.visibility))
                .unwrap_or_default(),
        })
    }
}

/// Where to keep a model's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// Exactly this folder (`pk.bin`, `vk.bin` inside): the CLI's `--keys DIR`.
    Dir(PathBuf),
    /// A per-model folder `<name>-<digest>` under this root.
    Root(PathBuf),
}

impl KeyLocation {
    /// `$ZKINFER_KEYS` (when not empty), else `keys` under the default cache directory.
    pub fn default_root() -> Self {
        KeyLocation::Root(
            std::env::var_os(KEYS_ENV)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| DorySetup::default_cache_dir().join("keys")),
        )
    }
}

/// How a key pair was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from the cache and checked.
    Loaded,
    /// Built because no cached pair existed.
    Built,
    /// Built because the cached pair was unusable; the reason was logged as a warning.
    Rebuilt { reason: String },
}

impl KeyOrigin {
    /// `loaded`, `built` or `rebuilt`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyOrigin::Loaded => "loaded",
            KeyOrigin::Built => "built",
            KeyOrigin::Rebuilt { .. } => "rebuilt",
        }
    }
}

/// A key pair from the cache and where it came from.
#[derive(Debug, Clone)]
pub struct CachedKeys {
    pub pk: ProvingKey,
    /// The folder holding `pk.bin` and `vk.bin`.
    pub dir: PathBuf,
    pub origin: KeyOrigin,
    /// Seconds spent loading (and checking) or building and writing the keys.
    pub seconds: f64,
}

/// Errors of preparing a model for proving.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read model file `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Pcs(#[from] PcsError),
    #[error(
        "the keys in {} cannot be used: {reason}; zkinfer does not overwrite keys in a \
         folder you named: rebuild them there with `zkinfer preprocess MODEL --keys {}` \
         (and the options you want), or name another folder",
        dir.display(), dir.display()
    )]
    NamedDir { dir: PathBuf, reason: String },
}

/// The cache digest of a model file's bytes and its key parameters (16 hex digits).
pub fn cache_digest(model_bytes: &[u8], params: &KeyParams) -> String {
    let mut h = Blake2b512::new();
    h.update(b"zkinfer/key-cache");
    h.update(KEY_FORMAT_VERSION.to_le_bytes());
    h.update((model_bytes.len() as u64).to_le_bytes());
    h.update(model_bytes);
    h.update(params.import.scale_bits.to_le_bytes());
    h.update(params.import.activation_bits.to_le_bytes());
    h.update((params.import.batch_size as u64).to_le_bytes());
    h.update(params.visibility.name().as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key folder of a model file under `location`.
pub fn key_dir(
    model_path: &Path,
    params: &KeyParams,
    location: &KeyLocation,
) -> Result<PathBuf, CacheError> {
    match location {
        KeyLocation::Dir(dir) => Ok(dir.clone()),
        KeyLocation::Root(root) => {
            let bytes = std::fs::read(model_path).map_err(|source| CacheError::Io {
                path: model_path.to_path_buf(),
                source,
            })?;
            Ok(root.join(format!(
                "{}-{}",
                model_name(model_path),
                cache_digest(&bytes, params)
            )))
        }
    }
}

/// Dory setups by size, loaded (or derived and cached) once each.
#[derive(Debug)]
pub struct Setups {
    dir: PathBuf,
    loaded: HashMap<usize, Arc<DorySetup>>,
}

impl Setups {
    /// Setups cached in `dir` (see [`DorySetup::load_or_derive`]).
    pub fn new(dir: PathBuf) -> Self {
        Setups {
            dir,
            loaded: HashMap::new(),
        }
    }

    /// Setups in [`DorySetup::default_cache_dir`].
    pub fn in_default_dir() -> Self {
        Self::new(DorySetup::default_cache_dir())
    }

    /// The setup a model needs.
    pub fn for_model(&mut self, model: &Model) -> Result<Arc<DorySetup>, PcsError> {
        let log = proof::required_generators(model);
        if let Some(s) = self.loaded.get(&log) {
            return Ok(s.clone());
        }
        let setup = Arc::new(DorySetup::load_or_derive(DEFAULT_SEED, log, &self.dir)?);
        self.loaded.insert(log, setup.clone());
        Ok(setup)
    }

    /// Every setup loaded so far.
    pub fn all(&self) -> Vec<Arc<DorySetup>> {
        self.loaded.values().cloned().collect()
    }

    /// The largest setup loaded so far. Every setup is derived from the same
    /// seed, so its generators extend each smaller one's: preparing its
    /// pairing cache serves every model.
    pub fn largest(&self) -> Option<Arc<DorySetup>> {
        self.loaded
            .iter()
            .max_by_key(|(log, _)| **log)
            .map(|(_, s)| s.clone())
    }
}

/// Reads `pk.bin` and `vk.bin` from `dir` and checks that they belong together
/// and to `model` with `visibility`.
///
/// The weight commitment is the one thing in the files that is not a function
/// of `model`, so it is never taken on trust: either the folder's tag
/// ([`super::mac`]) shows that this user's zkinfer built or already checked
/// exactly these files (a read, a re-serialization of the verifying key and a
/// MAC), or the commitment is recomputed from `model`'s weights on `backend`
/// and must equal the stored one (then the folder is tagged, so the next load
/// is fast). A folder whose commitment was not computed from `model`'s weights
/// is an error, never used.
pub fn load<B: Backend + ?Sized>(
    backend: &B,
    dir: &Path,
    model: &Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
) -> Result<ProvingKey, KeyError> {
    let pk_path = dir.join("pk.bin");
    let vk_path = dir.join("vk.bin");
    let stale = |path: &Path, reason: &str| KeyError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let pk_bytes = super::read(&pk_path)?;
    let pk = {
        let _span = tracing::info_span!("key_load").entered();
        super::pk_from_bytes(&pk_path, &pk_bytes, setup)?
    };
    if pk.model != *crate::proof::key_model(model, visibility) {
        return Err(stale(
            &pk_path,
            "made for another model or quantization (model mismatch)",
        ));
    }
    if pk.vk.visibility != visibility {
        return Err(stale(&pk_path, "made for the other weight visibility"));
    }
    // The verifying key is a function of the proving key: when vk.bin holds
    // exactly the bytes pk.bin implies, it is intact and of this build, and
    // nothing in it needs validating (its Dory setup is the trusted one the
    // proving key was just checked against). Only a mismatch is parsed, to say
    // what is wrong.
    let vk_bytes = super::read(&vk_path)?;
    if vk_bytes != super::vk_to_bytes(&pk.vk) {
        let vk = super::vk_from_bytes(&vk_path, &vk_bytes)?;
        return Err(stale(
            &vk_path,
            if vk.digest != pk.vk.digest {
                "digest differs from pk.bin's verifying key (the two files are from different builds)"
            } else {
                "differs from the verifying key pk.bin implies"
            },
        ));
    }
    let Some((_, stored, stored_hint)) = &pk.model_poly else {
        // Nothing committed: everything in the keys is a function of `model`.
        return Ok(pk);
    };
    let mac = super::mac::KeyMac::for_user();
    if mac
        .as_ref()
        .is_some_and(|m| m.vouches_for(dir, &pk_bytes, &vk_bytes))
    {
        return Ok(pk);
    }
    let recomputed = {
        let _span = tracing::info_span!("key_check_commitment").entered();
        proof::commit_model(backend, model, visibility, &pk.setup)?
    };
    match recomputed {
        Some((_, c, hint)) if c == *stored && hint.rows == stored_hint.rows => {}
        _ => {
            return Err(stale(
                &pk_path,
                "its weight commitment was not computed from this model's weights \
                 (a forged key, or keys of another model with these weights' shapes)",
            ))
        }
    }
    if let Some(m) = mac {
        if let Err(e) = m.write_tag(dir, &pk_bytes, &vk_bytes) {
            tracing::debug!("could not tag checked keys in {}: {e}", dir.display());
        }
    }
    Ok(pk)
}

/// Builds the keys and writes them to `dir` (replacing what is there).
pub fn build<B: Backend + ?Sized>(
    backend: &B,
    model: &Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    dir: &Path,
) -> Result<ProvingKey, KeyError> {
    super::preprocess_to_dir(backend, model.clone(), visibility, setup, dir)
}

/// Builds the keys and caches them in `dir`; keys that cannot be written
/// there (a read-only cache or key folder) are used from memory, with one
/// warning, as an uncachable Dory setup is.
fn build_and_cache<B: Backend + ?Sized>(
    backend: &B,
    model: &Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    dir: &Path,
) -> Result<ProvingKey, KeyError> {
    let pk = {
        let _span = tracing::info_span!("preprocess").entered();
        proof::preprocess(backend, model.clone(), visibility, setup)?
    };
    if let Err(e) = super::write_keys(dir, &pk) {
        tracing::warn!(
            "keys of `{}` not cached ({e}); using them from memory",
            model.name
        );
    }
    Ok(pk)
}

/// Loads the keys from `dir` when both files are there and pass every check;
/// otherwise builds and writes them. An unusable cached pair is never used: it
/// is rebuilt, with a warning naming what was wrong.
pub fn load_or_build<B: Backend + ?Sized>(
    backend: &B,
    model: &Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    dir: &Path,
) -> Result<CachedKeys, KeyError> {
    let start = Instant::now();
    let pk_exists = dir.join("pk.bin").exists();
    let vk_exists = dir.join("vk.bin").exists();
    let origin = if pk_exists && vk_exists {
        match load(backend, dir, model, visibility, setup.clone()) {
            Ok(pk) => {
                return Ok(CachedKeys {
                    pk,
                    dir: dir.to_path_buf(),
                    origin: KeyOrigin::Loaded,
                    seconds: start.elapsed().as_secs_f64(),
                })
            }
            Err(e) => KeyOrigin::Rebuilt {
                reason: e.to_string(),
            },
        }
    } else if pk_exists || vk_exists {
        KeyOrigin::Rebuilt {
            reason: format!(
                "{}: only one of pk.bin and vk.bin is present",
                dir.display()
            ),
        }
    } else {
        KeyOrigin::Built
    };
    if let KeyOrigin::Rebuilt { reason } = &origin {
        tracing::warn!("ignoring cached keys: {reason}; rebuilding");
    }
    let pk = build_and_cache(backend, model, visibility, setup, dir)?;
    Ok(CachedKeys {
        pk,
        dir: dir.to_path_buf(),
        origin,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// [`load_or_build`] for a folder the user named (`--keys DIR`): keys are
/// built only where there are none. Keys that are there but cannot be used
/// (other settings, another model, corrupt, forged) are an error saying why
/// and which setting differs, never silently replaced: the folder is the
/// user's, and its keys may be the ones they handed to verifiers.
pub fn load_or_build_named<B: Backend + ?Sized>(
    backend: &B,
    model: &Model,
    params: &KeyParams,
    setup: Arc<DorySetup>,
    dir: &Path,
) -> Result<CachedKeys, CacheError> {
    let start = Instant::now();
    let pk_path = dir.join("pk.bin");
    if !pk_path.exists() && !dir.join("vk.bin").exists() {
        let pk = build_and_cache(backend, model, params.visibility, setup, dir)?;
        return Ok(CachedKeys {
            pk,
            dir: dir.to_path_buf(),
            origin: KeyOrigin::Built,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let named = |reason: String| CacheError::NamedDir {
        dir: dir.to_path_buf(),
        reason,
    };
    match load(backend, dir, model, params.visibility, setup) {
        Ok(pk) => Ok(CachedKeys {
            pk,
            dir: dir.to_path_buf(),
            origin: KeyOrigin::Loaded,
            seconds: start.elapsed().as_secs_f64(),
        }),
        // Say which setting differs when that is why, else what is wrong.
        Err(e) => Err(named(
            settings_differences(&pk_path, model, params).unwrap_or_else(|| e.to_string()),
        )),
    }
}

/// How the settings of the keys in `pk_path` differ from what a command asks
/// for, or `None` when they do not (or cannot be read).
fn settings_differences(pk_path: &Path, model: &Model, params: &KeyParams) -> Option<String> {
    let found = super::read_pk_settings(pk_path).ok()?;
    let mut differences = Vec::new();
    if found.visibility != params.visibility {
        differences.push(format!(
            "they were built with --weights {} and this command asks for --weights {}",
            visibility_name(found.visibility),
            visibility_name(params.visibility)
        ));
    }
    if found.scale_bits != model.scale_bits {
        differences.push(format!(
            "they were built with --scale {} and this command asks for --scale {}",
            found.scale_bits, model.scale_bits
        ));
    }
    let input_shapes = model.input_shapes();
    if found.input_shapes != input_shapes {
        let text = |shapes: &[Vec<usize>]| match shapes {
            [one] => format!("input shape {one:?}"),
            _ => format!("input shapes {shapes:?}"),
        };
        differences.push(format!(
            "they are for {} and this model (with this --batch-size) has {}",
            text(&found.input_shapes),
            text(&input_shapes)
        ));
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

/// The command-line spelling of a visibility.
pub fn visibility_name(v: WeightVisibility) -> &'static str {
    v.name()
}

/// Whether [`prepare`] may use cached keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    /// Load valid cached keys, else build them.
    LoadOrBuild,
    /// Always build and overwrite (`zkinfer preprocess`).
    Rebuild,
}

/// A model imported and ready to prove: its name, the import, and its keys.
#[derive(Debug)]
pub struct PreparedModel {
    /// [`model_name`] of the file.
    pub name: String,
    pub path: PathBuf,
    pub imported: ImportedModel,
    pub keys: CachedKeys,
}

/// Imports a model file, gets its Dory setup from `setups` and its keys from
/// the cache at `location` (or builds them, per `policy`).
pub fn prepare<B: Backend + ?Sized>(
    backend: &B,
    path: &Path,
    params: &KeyParams,
    location: &KeyLocation,
    setups: &mut Setups,
    policy: KeyPolicy,
) -> Result<PreparedModel, CacheError> {
    let imported = onnx::import(path, &params.import)?;
    let params = &KeyParams {
        import: imported.effective_options(&params.import),
        ..*params
    };
    let dir = key_dir(path, params, location)?;
    let setup = setups.for_model(&imported.model)?;
    let keys = match (policy, location) {
        (KeyPolicy::LoadOrBuild, KeyLocation::Dir(_)) => {
            load_or_build_named(backend, &imported.model, params, setup, &dir)?
        }
        (KeyPolicy::LoadOrBuild, KeyLocation::Root(_)) => {
            load_or_build(backend, &imported.model, params.visibility, setup, &dir)?
        }
        (KeyPolicy::Rebuild, _) => {
            let start = Instant::now();
            let pk = build(backend, &imported.model, params.visibility, setup, &dir)?;
            CachedKeys {
                pk,
                dir,
                origin: KeyOrigin::Built,
                seconds: start.elapsed().as_secs_f64(),
            }
        }
    };
    Ok(PreparedModel {
        name: model_name(path),
        path: path.to_path_buf(),
        imported,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::keys::{pack, unpack, PK_MAGIC, VK_MAGIC};

    fn model_path(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name)
            .join("network.onnx")
    }

    fn params() -> KeyParams {
        KeyParams {
            import: ImportOptions::default(),
            visibility: WeightVisibility::Committed,
        }
    }

    fn setups() -> Setups {
        Setups::new(std::env::temp_dir().join("zkinfer-test-cache"))
    }

    /// Prepares authorization in a fresh root and returns the root and folder.
    fn fresh(root: &Path) -> (PreparedModel, Setups) {
        let mut setups = setups();
        let prepared = prepare(
            CpuBackend::global(),
            &model_path("authorization"),
            &params(),
            &KeyLocation::Root(root.to_path_buf()),
            &mut setups,
            KeyPolicy::LoadOrBuild,
        )
        .unwrap();
        (prepared, setups)
    }

    fn reload(prepared: &PreparedModel, setups: &mut Setups) -> CachedKeys {
        let setup = setups.for_model(&prepared.imported.model).unwrap();
        load_or_build(
            CpuBackend::global(),
            &prepared.imported.model,
            WeightVisibility::Committed,
            setup,
            &prepared.keys.dir,
        )
        .unwrap()
    }

    fn assert_rebuilt(keys: &CachedKeys, expected: &str, original: &ProvingKey) {
        match &keys.origin {
            KeyOrigin::Rebuilt { reason } => {
                assert!(reason.contains(expected), "reason `{reason}`")
            }
            other => panic!("expected a rebuild ({expected}), got {other:?}"),
        }
        // The rebuilt keys are the same keys, and the files on disk are good again.
        assert_eq!(keys.pk.vk.digest, original.vk.digest);
    }

    /// A model without a symbolic batch dimension keeps its keys in one
    /// folder whatever `--batch-size` says: a verifier that passes back the
    /// batch a proof's header states (its first input's leading dimension)
    /// finds the prover's keys. With hidden weights, keys built twice differ
    /// (a fresh blind), so finding the same keys is what lets it verify.
    #[test]
    fn a_batch_size_that_shapes_nothing_finds_the_same_keys() {
        let root = tempfile::tempdir().unwrap();
        let mut setups = setups();
        let hidden = |batch_size| KeyParams {
            import: ImportOptions {
                batch_size,
                ..ImportOptions::default()
            },
            visibility: WeightVisibility::Hidden,
        };
        let location = KeyLocation::Root(root.path().to_path_buf());
        let prepare_with = |batch, setups: &mut Setups| {
            prepare(
                CpuBackend::global(),
                &model_path("perceptron"),
                &hidden(batch),
                &location,
                setups,
                KeyPolicy::LoadOrBuild,
            )
            .unwrap()
        };
        let first = prepare_with(1, &mut setups);
        assert!(!first.imported.batch_dependent);
        let again = prepare_with(5, &mut setups);
        assert_eq!(again.keys.dir, first.keys.dir);
        assert_eq!(again.keys.origin, KeyOrigin::Loaded);
        assert_eq!(again.keys.pk.vk.digest, first.keys.pk.vk.digest);
    }

    #[test]
    fn second_prepare_loads_what_the_first_built() {
        let root = tempfile::tempdir().unwrap();
        let (first, mut setups) = fresh(root.path());
        assert_eq!(first.keys.origin, KeyOrigin::Built);
        assert_eq!(first.name, "authorization");
        assert!(first
            .keys
            .dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("authorization-"));
        let second = reload(&first, &mut setups);
        assert_eq!(second.origin, KeyOrigin::Loaded);
        assert_eq!(second.pk.vk.digest, first.keys.pk.vk.digest);
        assert_eq!(second.pk.model, first.keys.pk.model);
        // No temporary files are left behind by the atomic writes.
        let names: Vec<_> = std::fs::read_dir(&first.keys.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["keys.mac", "pk.bin", "vk.bin"], "{names:?}");
        // Key files get the permissions of any file written here, not a
        // temporary file's private ones.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            let plain = root.path().join("plain");
            std::fs::write(&plain, b"x").unwrap();
            assert_eq!(mode(&first.keys.dir.join("vk.bin")), mode(&plain));
        }
    }

    #[test]
    fn corrupt_byte_is_detected_and_rebuilt() {
        let root = tempfile::tempdir().unwrap();
        let (first, mut setups) = fresh(root.path());
        for file in ["pk.bin", "vk.bin"] {
            let path = first.keys.dir.join(file);
            let mut bytes = std::fs::read(&path).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            let keys = reload(&first, &mut setups);
            assert_rebuilt(&keys, "checksum mismatch", &first.keys.pk);
            assert_eq!(reload(&first, &mut setups).origin, KeyOrigin::Loaded);
        }
    }

    #[test]
    fn truncated_file_is_detected_and_rebuilt() {
        let root = tempfile::tempdir().unwrap();
        let (first, mut setups) = fresh(root.path());
        for (file, keep) in [("pk.bin", 0.5), ("vk.bin", 0.99), ("pk.bin", 0.0)] {
            let path = first.keys.dir.join(file);
            let bytes = std::fs::read(&path).unwrap();
            let n = (bytes.len() as f64 * keep) as usize;
            std::fs::write(&path, &bytes[..n]).unwrap();
            let keys = reload(&first, &mut setups);
            assert_rebuilt(&keys, file, &first.keys.pk);
            assert_eq!(reload(&first, &mut setups).origin, KeyOrigin::Loaded);
        }
        // A missing file is rebuilt too.
        std::fs::remove_file(first.keys.dir.join("vk.bin")).unwrap();
        let keys = reload(&first, &mut setups);
        assert_rebuilt(&keys, "only one of", &first.keys.pk);
    }

    /// Rewrites a key file's JSON header (with a valid checksum), as a file
    /// written by another zkinfer version would be.
    fn rewrite_header(path: &Path, magic: &[u8; 8], edit: impl Fn(&mut serde_json::Value)) {
        let bytes = std::fs::read(path).unwrap();
        let (header, binary) = unpack(path, magic, &bytes).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(header).unwrap();
        edit(&mut json);
        let header = serde_json::to_vec(&json).unwrap();
        std::fs::write(path, pack(magic, &header, binary)).unwrap();
    }

    #[test]
    fn wrong_version_is_detected_and_rebuilt() {
        let root = tempfile::tempdir().unwrap();
        let (first, mut setups) = fresh(root.path());
        for (file, magic) in [("pk.bin", PK_MAGIC), ("vk.bin", VK_MAGIC)] {
            rewrite_header(&first.keys.dir.join(file), magic, |h| {
                h["version"] = (KEY_FORMAT_VERSION + 1).into()
            });
            let keys = reload(&first, &mut setups);
            assert_rebuilt(&keys, "made by a newer zkinfer (format", &first.keys.pk);
            assert_eq!(reload(&first, &mut setups).origin, KeyOrigin::Loaded);
        }
    }

    #[test]
    fn keys_of_another_build_or_model_are_detected_and_rebuilt() {
        let root = tempfile::tempdir().unwrap();
        let (first, mut setups) = fresh(root.path());
        let dir = &first.keys.dir;
        // A vk.bin from another build (public weights: another digest).
        let public = crate::proof::preprocess(
            CpuBackend::global(),
            first.imported.model.clone(),
            WeightVisibility::Public,
            setups.for_model(&first.imported.model).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("vk.bin"), crate::keys::vk_to_bytes(&public.vk)).unwrap();
        let keys = reload(&first, &mut setups);
        assert_rebuilt(&keys, "different builds", &first.keys.pk);
        // Both files of the other visibility: the visibility check catches it.
        std::fs::write(dir.join("pk.bin"), crate::keys::pk_to_bytes(&public)).unwrap();
        std::fs::write(dir.join("vk.bin"), crate::keys::vk_to_bytes(&public.vk)).unwrap();
        let keys = reload(&first, &mut setups);
        assert_rebuilt(&keys, "visibility", &first.keys.pk);
        // Keys of another model in the folder (a reused --keys DIR).
        let mut other = first.imported.model.clone();
        other.name = "another".into();
        let setup = setups.for_model(&other).unwrap();
        build(
            CpuBackend::global(),
            &other,
            WeightVisibility::Committed,
            setup,
            dir,
        )
        .unwrap();
        let keys = reload(&first, &mut setups);
        assert_rebuilt(&keys, "model mismatch", &first.keys.pk);
    }

    #[test]
    fn digest_covers_bytes_quantization_visibility_and_batch() {
        let base = params();
        let d = |bytes: &[u8], p: KeyParams| cache_digest(bytes, &p);
        let reference = d(b"model", base);
        assert_eq!(reference.len(), 16);
        assert_eq!(reference, d(b"model", base));
        let mut variants = vec![d(b"modem", base)];
        let mut p = base;
        p.import.scale_bits += 1;
        variants.push(d(b"model", p));
        let mut p = base;
        p.import.activation_bits += 1;
        variants.push(d(b"model", p));
        let mut p = base;
        p.import.batch_size = 2;
        variants.push(d(b"model", p));
        let mut p = base;
        p.visibility = WeightVisibility::Public;
        variants.push(d(b"model", p));
        for v in &variants {
            assert_ne!(*v, reference);
        }
        assert_eq!(
            model_name(Path::new("models/authorization/network.onnx")),
            "authorization"
        );
        assert_eq!(model_name(Path::new("/x/fraud.onnx")), "fraud");
    }
}
