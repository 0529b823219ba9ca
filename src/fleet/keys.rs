//! Keys shared through the fleet's object store (`zkinfer_keys`): whoever
//! builds a model's keys first uploads `pk.bin` and `vk.bin` under
//! `<model>-<cache digest>/`, and a worker that has no keys for a model
//! fetches them instead of building them.
//!
//! Fetched keys are untrusted bytes. They are written into the worker's key
//! cache folder for the model (without this user's tag) and loaded through
//! [`cache::load_or_build`], which applies every rule of the key cache: the
//! files must parse, belong together, be made for exactly this model,
//! visibility and Dory setup, and their weight commitment is recomputed from
//! the model's weights and must match. Keys that fail any check are reported
//! and rebuilt locally (then uploaded only if nothing valid is there).
//!
//! This module owns the object names and the fetch/upload decision; the
//! checks are the key cache's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_nats::jetstream::object_store::ObjectStore;

use super::{put_object_once, read_object, FleetError};
use crate::backend::Backend;
use crate::keys::cache::{self, KeyOrigin, KeyParams, Setups};
use crate::onnx::ImportedModel;
use crate::proof::ProvingKey;

/// Keys larger than this are refused when fetched (1 GiB).
pub const MAX_KEY_BYTES: usize = 1 << 30;

/// The object names of a model's keys: `<name>-<digest>/pk.bin`, `.../vk.bin`.
pub fn object_names(folder: &str) -> (String, String) {
    (format!("{folder}/pk.bin"), format!("{folder}/vk.bin"))
}

/// Where a worker's keys came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Its own key cache.
    Cache,
    /// The object store, checked.
    Fetched,
    /// Built here (and uploaded when the store had none).
    Built { uploaded: bool },
    /// The object store's keys failed a check; built here instead.
    FetchedRejected { reason: String },
}

impl KeySource {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeySource::Cache => "cache",
            KeySource::Fetched => "fetched",
            KeySource::Built { .. } => "built",
            KeySource::FetchedRejected { .. } => "rebuilt_after_rejecting_fetched",
        }
    }
}

/// A model with its keys, ready to prove.
#[derive(Debug)]
pub struct PreparedKeys {
    pub name: String,
    pub imported: ImportedModel,
    pub pk: ProvingKey,
    pub dir: PathBuf,
    pub source: KeySource,
    pub seconds: f64,
}

/// Uploads a model's keys unless the store has them (or, with `replace`,
/// over keys that failed the checks); returns whether it wrote.
pub async fn upload(
    store: &ObjectStore,
    folder: &str,
    pk: &ProvingKey,
    replace: bool,
) -> Result<bool, FleetError> {
    let (pk_name, vk_name) = object_names(folder);
    let pk_bytes = crate::keys::pk_to_bytes(pk);
    let vk_bytes = crate::keys::vk_to_bytes(&pk.vk);
    if replace {
        for (name, bytes) in [(&pk_name, &pk_bytes), (&vk_name, &vk_bytes)] {
            let mut reader = bytes.as_slice();
            store
                .put(name.as_str(), &mut reader)
                .await
                .map_err(|e| FleetError::nats(format!("writing object {name}"), e))?;
        }
        return Ok(true);
    }
    // The verifying key last: a reader that finds it finds both.
    let wrote_pk = put_object_once(store, &pk_name, &pk_bytes).await?;
    let wrote_vk = put_object_once(store, &vk_name, &vk_bytes).await?;
    Ok(wrote_pk || wrote_vk)
}

/// Fetches a model's keys from the store: `None` when it has none.
pub async fn fetch(
    store: &ObjectStore,
    folder: &str,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, FleetError> {
    let (pk_name, vk_name) = object_names(folder);
    let Some(vk) = read_object(store, &vk_name, MAX_KEY_BYTES).await? else {
        return Ok(None);
    };
    let Some(pk) = read_object(store, &pk_name, MAX_KEY_BYTES).await? else {
        return Ok(None);
    };
    Ok(Some((pk, vk)))
}

/// Imports `path` and gets its keys for a worker: from the local key cache
/// under `root`, else from the fleet's store (checked), else built here and
/// uploaded. Runs on a blocking thread; `runtime` serves the store's I/O.
pub fn prepare<B: Backend + ?Sized>(
    backend: &B,
    runtime: &tokio::runtime::Handle,
    store: &ObjectStore,
    path: &Path,
    params: &KeyParams,
    root: &Path,
    setups: &mut Setups,
) -> Result<PreparedKeys, FleetError> {
    let start = Instant::now();
    let fail = |e: &dyn std::fmt::Display| FleetError::Keys(format!("{}: {e}", path.display()));
    let imported = crate::onnx::import(path, &params.import).map_err(|e| fail(&e))?;
    let params = &KeyParams {
        import: imported.effective_options(&params.import),
        ..*params
    };
    let dir = cache::key_dir(path, params, &cache::KeyLocation::Root(root.to_path_buf()))
        .map_err(|e| fail(&e))?;
    let folder = dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| fail(&"no key folder"))?;
    let setup = setups.for_model(&imported.model).map_err(|e| fail(&e))?;
    let have_local = dir.join("pk.bin").exists() && dir.join("vk.bin").exists();
    let mut fetched = false;
    if !have_local {
        match runtime.block_on(fetch(store, &folder)) {
            Ok(Some((pk, vk))) => {
                // No tag: the cache must check these before using them.
                let _ = std::fs::remove_file(dir.join(crate::keys::mac::TAG_FILE));
                crate::keys::write_atomic(&dir.join("pk.bin"), &pk).map_err(|e| fail(&e))?;
                crate::keys::write_atomic(&dir.join("vk.bin"), &vk).map_err(|e| fail(&e))?;
                fetched = true;
            }
            Ok(None) => tracing::info!("no shared keys for {folder} yet; building them"),
            Err(e) => tracing::warn!("cannot fetch shared keys for {folder}: {e}; building them"),
        }
    }
    let keys = cache::load_or_build(backend, &imported.model, params.visibility, setup, &dir)
        .map_err(|e| fail(&e))?;
    let source = match (&keys.origin, fetched) {
        (KeyOrigin::Loaded, true) => KeySource::Fetched,
        (KeyOrigin::Loaded, false) => KeySource::Cache,
        (KeyOrigin::Rebuilt { reason }, true) => {
            tracing::warn!("keys fetched for {folder} were rejected: {reason}");
            KeySource::FetchedRejected {
                reason: reason.clone(),
            }
        }
        (KeyOrigin::Built | KeyOrigin::Rebuilt { .. }, _) => KeySource::Built { uploaded: false },
    };
    let source = match source {
        KeySource::Built { .. } | KeySource::FetchedRejected { .. } => {
            let replace = matches!(source, KeySource::FetchedRejected { .. });
            match runtime.block_on(upload(store, &folder, &keys.pk, replace)) {
                Ok(uploaded) => match source {
                    KeySource::Built { .. } => KeySource::Built { uploaded },
                    other => other,
                },
                Err(e) => {
                    tracing::warn!("cannot share the keys of {folder}: {e}");
                    source
                }
            }
        }
        other => other,
    };
    Ok(PreparedKeys {
        name: cache::model_name(path),
        imported,
        pk: keys.pk,
        dir,
        source,
        seconds: start.elapsed().as_secs_f64(),
    })
}
