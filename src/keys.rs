//! Proving and verifying keys on disk.
//!
//! A key file is `magic ‖ JSON header length (u64) ‖ JSON header ‖ binary length
//! (u64) ‖ binary part ‖ Blake2b-512 of everything before`. The JSON header holds
//! the quantized model (weights only in proving keys and public-weight verifying
//! keys), the visibility, the layouts and the Dory setup's identity; the binary
//! part holds group elements (compressed, validated on load). A file that is
//! truncated, corrupt (checksum), of another format version, or inconsistent is
//! an error naming the file and what is wrong — never trusted.
//!
//! [`cache`] decides where a model's keys live and whether a cached pair can be
//! used or must be rebuilt.

pub mod cache;
pub mod mac;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use blake2::{Blake2b512, Digest};
use dory_pcs::backends::arkworks::ArkG1;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::layout::BlockLayout;
use crate::model::Model;
use crate::pcs::{Commitment, CommitmentHint, DorySetup, MultilinearPoly};
use crate::proof::{self, ProvingKey, VerifyingKey, WeightVisibility, PROOF_VERSION};

/// Version of the key file format. Keys share the proof format's version: the
/// verifying key's contents are what every proof's transcript binds (its
/// digest), so a change to either format changes both. It is part of the key
/// cache's digest, so keys of another version are never even looked at.
pub const KEY_FORMAT_VERSION: u32 = PROOF_VERSION;

const VK_MAGIC: &[u8; 8] = b"ZKINFVK\x01";
const PK_MAGIC: &[u8; 8] = b"ZKINFPK\x01";

/// Errors reading or writing key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot access key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(transparent)]
    Proof(#[from] proof::ProofError),
    #[error(transparent)]
    Pcs(#[from] crate::pcs::PcsError),
}

#[derive(Serialize, Deserialize)]
struct VkHeader {
    version: u32,
    model: Model,
    visibility: WeightVisibility,
    witness_layout: BlockLayout,
    model_layout: BlockLayout,
    log_generators: usize,
    seed_digest: String,
}

#[derive(Serialize, Deserialize)]
struct PkHeader {
    version: u32,
    model: Model,
    visibility: WeightVisibility,
    log_generators: usize,
    seed_digest: String,
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from exactly `2N` hex digits (either case), or `None`.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn pack(magic: &[u8; 8], header: &[u8], binary: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 16 + header.len() + binary.len() + 64);
    out.extend_from_slice(magic);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&(binary.len() as u64).to_le_bytes());
    out.extend_from_slice(binary);
    let checksum = Blake2b512::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

fn unpack<'a>(
    path: &Path,
    magic: &[u8; 8],
    bytes: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), KeyError> {
    let bad = |reason: &str| KeyError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.len() < 8 + 16 + 64 || &bytes[..8] != magic {
        return Err(bad("not a zkinfer key of this kind and format version"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 64);
    if Blake2b512::digest(body).as_slice() != checksum {
        return Err(bad("checksum mismatch (corrupt or truncated file)"));
    }
    let read_len = |at: usize| -> Result<usize, KeyError> {
        let raw = body
            .get(at..at + 8)
            .ok_or_else(|| bad("truncated length"))?;
        usize::try_from(u64::from_le_bytes(raw.try_into().expect("8 bytes")))
            .map_err(|_| bad("length out of range"))
    };
    let header_len = read_len(8)?;
    let header_end = 16usize
        .checked_add(header_len)
        .ok_or_else(|| bad("length out of range"))?;
    let header = body
        .get(16..header_end)
        .ok_or_else(|| bad("truncated header"))?;
    let binary_len = read_len(header_end)?;
    let binary = body
        .get(header_end + 8..)
        .filter(|b| b.len() == binary_len)
        .ok_or_else(|| bad("binary part has the wrong length"))?;
    Ok((header, binary))
}

/// Largest key file zkinfer reads (public weights of 2^26 parameters as JSON
/// fit well under it); larger files are refused before they are read.
pub const MAX_KEY_FILE_BYTES: u64 = 2 << 30;

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Format {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, more than the limit of {MAX_KEY_FILE_BYTES}"),
        });
    }
    std::fs::read(path).map_err(io)
}

/// Writes `bytes` atomically: into a uniquely named temporary file in the same
/// directory (so the rename cannot cross file systems), flushed to disk, then
/// renamed over `path`. A reader sees the old file or the new one, never a
/// partial write; concurrent writers (threads or processes) do not share a
/// temporary file, and a failed write leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".zkinfer-").suffix(".tmp");
    // Temporary files are private (0600) by default; key files are ordinary
    // files (a verifying key is meant to be handed out), so ask for 0644
    // (less the umask) like `std::fs::write` would.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(parent).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Serializes a verifying key.
pub fn vk_to_bytes(vk: &VerifyingKey) -> Vec<u8> {
    let header = VkHeader {
        version: KEY_FORMAT_VERSION,
        model: vk.model.clone(),
        visibility: vk.visibility,
        witness_layout: vk.witness_layout.clone(),
        model_layout: vk.model_layout.clone(),
        log_generators: vk.log_generators,
        seed_digest: hex(&vk.seed_digest),
    };
    let mut binary = Vec::new();
    match &vk.model_commitment {
        Some(c) => {
            binary.push(1);
            c.0 .0
                .serialize_compressed(&mut binary)
                .expect("serializing into a Vec cannot fail");
        }
        None => binary.push(0),
    }
    // Uncompressed and loaded unchecked: see `pcs::setup::read_verifier_setup`.
    crate::pcs::setup::write_verifier_setup(&vk.dory, &mut binary);
    pack(
        VK_MAGIC,
        &serde_json::to_vec(&header).expect("serializes"),
        &binary,
    )
}

/// Parses a verifying key; `path` names the file in errors.
pub fn vk_from_bytes(path: &Path, bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let bad = |reason: String| KeyError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let (header, binary) = unpack(path, VK_MAGIC, bytes)?;
    let header: VkHeader =
        serde_json::from_slice(header).map_err(|e| bad(format!("malformed header: {e}")))?;
    if header.version != KEY_FORMAT_VERSION {
        return Err(bad(crate::encoding::version_message(
            header.version,
            KEY_FORMAT_VERSION,
        )));
    }
    header
        .model
        .validate()
        .map_err(|e| bad(format!("invalid model: {e}")))?;
    // Public weights are evaluated by the verifier: all of them must be there.
    // A committed-weights key carries none.
    for t in &header.model.tensors {
        if let crate::model::TensorKind::Weight { values } = &t.kind {
            let expected = match header.visibility {
                WeightVisibility::Public => t.len(),
                WeightVisibility::Committed | WeightVisibility::Hidden => 0,
            };
            if values.len() != expected {
                return Err(bad(format!(
                    "weight `{}` has {} values; a {:?}-weights key holds {expected}",
                    t.name,
                    values.len(),
                    header.visibility
                )));
            }
        }
    }
    let seed_digest =
        unhex::<64>(&header.seed_digest).ok_or_else(|| bad("malformed seed digest".into()))?;
    let mut reader = binary;
    let tag = *reader
        .first()
        .ok_or_else(|| bad("missing commitment tag".into()))?;
    reader = &reader[1..];
    let model_commitment = match tag {
        0 => None,
        1 => Some(Commitment(dory_pcs::backends::arkworks::ArkGT(
            CanonicalDeserialize::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
                .map_err(|e| bad(format!("invalid weight commitment: {e}")))?,
        ))),
        t => return Err(bad(format!("unknown commitment tag {t}"))),
    };
    let dory = crate::pcs::setup::read_verifier_setup(&mut reader)
        .map_err(|e| bad(format!("invalid Dory verifier setup: {e}")))?;
    // A key over zkinfer's public setup carries exactly the pinned values.
    let public_seed: [u8; 64] = Blake2b512::digest(crate::pcs::setup::DEFAULT_SEED).into();
    if seed_digest == public_seed {
        crate::pcs::setup::check_pinned_verifier_setup(&dory, header.log_generators)
            .map_err(bad)?;
    }
    if !reader.is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    if proof::block_layouts(&header.model, header.visibility)
        != (header.witness_layout.clone(), header.model_layout.clone())
    {
        return Err(bad("layouts do not match the model".into()));
    }
    if header.visibility.commits() != model_commitment.is_some()
        && !header.model_layout.blocks.is_empty()
    {
        return Err(bad(
            "weight commitment present/absent contrary to the visibility".into(),
        ));
    }
    let mut vk = VerifyingKey {
        model: header.model,
        visibility: header.visibility,
        witness_layout: header.witness_layout,
        model_layout: header.model_layout,
        model_commitment,
        dory,
        seed_digest,
        log_generators: header.log_generators,
        digest: [0; 64],
    };
    vk.digest = vk.compute_digest();
    Ok(vk)
}

/// Serializes a proving key (model, visibility, weight commitment and row hints).
pub fn pk_to_bytes(pk: &ProvingKey) -> Vec<u8> {
    let header = PkHeader {
        version: KEY_FORMAT_VERSION,
        model: pk.model.clone(),
        visibility: pk.vk.visibility,
        log_generators: pk.setup.log_generators,
        seed_digest: hex(&pk.setup.seed_digest),
    };
    let mut binary = Vec::new();
    match &pk.model_poly {
        Some((_, c, hint)) => {
            binary.push(1);
            c.0 .0
                .serialize_compressed(&mut binary)
                .expect("serializing into a Vec cannot fail");
            let rows: Vec<ark_bn254::G1Affine> = hint.rows.iter().map(|r| r.0.into()).collect();
            rows.serialize_uncompressed(&mut binary)
                .expect("serializing into a Vec cannot fail");
            if pk.vk.visibility.is_zk() {
                pk.model_blind
                    .serialize_compressed(&mut binary)
                    .expect("serializing into a Vec cannot fail");
            }
        }
        None => binary.push(0),
    }
    pack(
        PK_MAGIC,
        &serde_json::to_vec(&header).expect("serializes"),
        &binary,
    )
}

/// Parses a proving key, attaching the Dory setup it was made with.
pub fn pk_from_bytes(
    path: &Path,
    bytes: &[u8],
    setup: Arc<DorySetup>,
) -> Result<ProvingKey, KeyError> {
    let bad = |reason: String| KeyError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let (header, binary) = unpack(path, PK_MAGIC, bytes)?;
    let header: PkHeader =
        serde_json::from_slice(header).map_err(|e| bad(format!("malformed header: {e}")))?;
    if header.version != KEY_FORMAT_VERSION {
        return Err(bad(crate::encoding::version_message(
            header.version,
            KEY_FORMAT_VERSION,
        )));
    }
    if unhex::<64>(&header.seed_digest) != Some(setup.seed_digest)
        || header.log_generators != setup.log_generators
    {
        return Err(bad("made with another Dory setup".into()));
    }
    let model = header.model;
    model
        .validate()
        .and_then(|()| weights_present(&model))
        .map_err(|e| bad(format!("invalid model: {e}")))?;
    let (witness_layout, model_layout) = proof::block_layouts(&model, header.visibility);
    let mut reader = binary;
    let tag = *reader
        .first()
        .ok_or_else(|| bad("missing commitment tag".into()))?;
    reader = &reader[1..];
    let committed = header.visibility.commits() && !model_layout.blocks.is_empty();
    let mut model_blind = ark_bn254::Fr::from(0u64);
    let model_poly = match tag {
        0 if !committed => None,
        1 if committed => {
            let gt = CanonicalDeserialize::deserialize_with_mode(
                &mut reader,
                Compress::Yes,
                Validate::No,
            )
            .map_err(|e| bad(format!("invalid weight commitment: {e}")))?;
            let layout = proof::dory_layouts(&witness_layout, &model_layout, header.visibility).1;
            let rows = read_rows(&mut reader, 1 << layout.nu).map_err(bad)?;
            if header.visibility.is_zk() {
                model_blind = CanonicalDeserialize::deserialize_compressed(&mut reader)
                    .map_err(|e| bad(format!("invalid weight commitment blind: {e}")))?;
            }
            let values = proof::model_poly_values(&model, &model_layout);
            let poly = MultilinearPoly::from_small(values)?;
            Some((
                poly,
                Commitment(dory_pcs::backends::arkworks::ArkGT(gt)),
                CommitmentHint {
                    layout,
                    rows: rows.into_iter().map(|p| ArkG1(p.into())).collect(),
                },
            ))
        }
        t => {
            return Err(bad(format!(
                "commitment tag {t} does not fit {:?} weights",
                header.visibility
            )))
        }
    };
    if !reader.is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    Ok(proof::assemble_keys(
        model,
        header.visibility,
        setup,
        model_poly,
        model_blind,
    ))
}

/// The row commitments of a proving key: arkworks' `Vec` encoding (a u64
/// count, then uncompressed points, unchecked like the rest of a key's binary
/// part), which must hold exactly `expected` points. The count is checked
/// before anything is allocated (found by `fuzz/`'s `pk_decode`).
fn read_rows(reader: &mut &[u8], expected: usize) -> Result<Vec<ark_bn254::G1Affine>, String> {
    let count = u64::deserialize_uncompressed(&mut *reader)
        .map_err(|e| format!("invalid row commitments: {e}"))?;
    if count != expected as u64 {
        return Err("row commitment count does not match the layout".into());
    }
    (0..expected)
        .map(|_| {
            CanonicalDeserialize::deserialize_with_mode(&mut *reader, Compress::No, Validate::No)
                .map_err(|e| format!("invalid row commitments: {e}"))
        })
        .collect()
}

/// A proving key's model must carry every weight's values (the prover runs
/// it); [`Model::validate`] also admits a committed verifying key's model,
/// whose weights are absent (made by hand next to a case `fuzz/`'s
/// `pk_decode` found).
fn weights_present(model: &Model) -> Result<(), String> {
    match model.tensors.iter().find(|t| match &t.kind {
        crate::model::TensorKind::Weight { values } => values.len() != t.len(),
        _ => false,
    }) {
        Some(t) => Err(format!("weight `{}` has no values", t.name)),
        None => Ok(()),
    }
}

/// Reads a verifying key file as written, its Dory setup included. That setup
/// is only as trustworthy as whoever wrote the file: to verify with a key from
/// someone else, use [`read_vk_over_public_setup`].
pub fn read_vk(path: &Path) -> Result<VerifyingKey, KeyError> {
    vk_from_bytes(path, &read(path)?)
}

/// Reads a verifying key file and checks that its Dory setup is zkinfer's
/// public one: Dory is sound only over generators nobody knows discrete
/// logarithms of, and a key file could carry others. The key must name the
/// public seed and the setup size its model needs, and every verifier value
/// it carries must match the digests pinned in the binary
/// ([`crate::pcs::setup::check_pinned_verifier_setup`]).
pub fn read_vk_over_public_setup(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bad = |reason: String| KeyError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let vk = read_vk(path)?;
    let public_seed: [u8; 64] = Blake2b512::digest(crate::pcs::setup::DEFAULT_SEED).into();
    if vk.seed_digest != public_seed {
        return Err(bad(
            "made with a Dory setup from another seed than zkinfer's public one".into(),
        ));
    }
    if vk.log_generators != proof::required_generators(&vk.model) {
        return Err(bad(format!(
            "its Dory setup size (2^{}) does not fit its model",
            vk.log_generators
        )));
    }
    // `vk_from_bytes` has checked its Dory values against the pinned digests
    // (it does for every key over the public seed).
    Ok(vk)
}

/// Reads a proving key file.
pub fn read_pk(path: &Path, setup: Arc<DorySetup>) -> Result<ProvingKey, KeyError> {
    let _span = tracing::info_span!("key_load").entered();
    pk_from_bytes(path, &read(path)?, setup)
}

/// Builds keys for `model` (see [`proof::preprocess`]) and writes `pk.bin` and
/// `vk.bin` into `dir`.
pub fn preprocess_to_dir<B: Backend + ?Sized>(
    backend: &B,
    model: Model,
    visibility: WeightVisibility,
    setup: Arc<DorySetup>,
    dir: &Path,
) -> Result<ProvingKey, KeyError> {
    let _span = tracing::info_span!("preprocess").entered();
    let pk = proof::preprocess(backend, model, visibility, setup)?;
    write_keys(dir, &pk)?;
    Ok(pk)
}

/// Writes `pk.bin` and `vk.bin` of `pk` into `dir` (atomically each), and this
/// user's tag over them.
pub fn write_keys(dir: &Path, pk: &ProvingKey) -> Result<(), KeyError> {
    let (pk_bytes, vk_bytes) = (pk_to_bytes(pk), vk_to_bytes(&pk.vk));
    // A stale tag must never vouch for the new files, even if tagging fails.
    let _ = std::fs::remove_file(dir.join(mac::TAG_FILE));
    write_atomic(&dir.join("pk.bin"), &pk_bytes)?;
    write_atomic(&dir.join("vk.bin"), &vk_bytes)?;
    if let Some(mac) = mac::KeyMac::for_user() {
        mac.write_tag(dir, &pk_bytes, &vk_bytes)?;
    }
    Ok(())
}

/// The settings a proving key was built with, read from its header (checksum
/// checked, group elements not parsed): what `--keys DIR` falls back to when
/// the command line does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    pub visibility: WeightVisibility,
    pub scale_bits: u32,
    pub activation_bits: u32,
    /// The shape of each model input (the batch size is their first dimension
    /// when the ONNX inputs had a symbolic one).
    pub input_shapes: Vec<Vec<usize>>,
    /// The model's name.
    pub model: String,
}

/// Reads [`KeySettings`] from a `pk.bin`.
pub fn read_pk_settings(path: &Path) -> Result<KeySettings, KeyError> {
    let bytes = read(path)?;
    let (header, _) = unpack(path, PK_MAGIC, &bytes)?;
    let header: PkHeader = serde_json::from_slice(header).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        reason: format!("malformed header: {e}"),
    })?;
    let input_shapes = header
        .model
        .inputs
        .iter()
        .map(|&t| {
            header
                .model
                .tensors
                .get(t)
                .map(|t| t.shape.clone())
                .unwrap_or_default()
        })
        .collect();
    Ok(KeySettings {
        visibility: header.visibility,
        scale_bits: header.model.scale_bits,
        activation_bits: header.model.activation_bits,
        input_shapes,
        model: header.model.name,
    })
}
