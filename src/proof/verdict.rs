//! What a proof file says about itself, and what a verifier tells its user.
//!
//! A proof file starts (after its magic and format version) with
//! [`ProofSettings`]: the weight visibility, scale, activation bound and batch
//! size of the keys it was made with, and the digest of their verifying key.
//! They are **hints, never trusted**: every one of them is a function of the
//! verifying key ([`ProofSettings::of`]), the transcript already starts from the
//! key's digest, and [`verify_file`] refuses a proof whose header is not exactly
//! the one its key implies. What they buy is the message: a verifier that has
//! the model but not the prover's settings can load keys with the proof's
//! settings, and one that forces other settings (or holds another model's key)
//! is told which setting differs ([`mismatch`]) instead of a failed sumcheck.
//!
//! The proof file's format version is also the key format version
//! ([`crate::keys::KEY_FORMAT_VERSION`]), so it needs no field of its own here.
//!
//! This module also names the check that rejected a proof ([`check_name`]), for
//! the CLI's `verify --json` and the service's `/v1/verify`, which answer alike.

use std::fmt;

use crate::encoding::{Decode, DecodeError, DeferredChecks, Encode, Reader, Writer};

use super::{verify_with_checks, ModelProof, ProofError, VerifyingKey, WeightVisibility};

/// Encoded size of [`ProofSettings`].
pub const SETTINGS_LEN: usize = 1 + 4 + 4 + 8 + 64;

/// The settings of the keys a proof was made with (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofSettings {
    pub visibility: WeightVisibility,
    /// Fixed-point scale 2^s (`--scale`).
    pub scale_bits: u32,
    /// Activation bound 2^(a−1).
    pub activation_bits: u32,
    /// The leading dimension of the model's first input: what `--batch-size`
    /// sets when the ONNX inputs' leading dimension is symbolic (and what
    /// importing with it reproduces when it is fixed, since import then
    /// ignores it).
    pub batch_size: u64,
    /// [`VerifyingKey::digest`] of the key the proof was made for.
    pub vk_digest: [u8; 64],
}

impl ProofSettings {
    /// The settings a proof made with `vk` carries.
    pub fn of(vk: &VerifyingKey) -> Self {
        let model = &vk.model;
        let batch_size = model
            .inputs
            .first()
            .and_then(|&t| model.tensors.get(t))
            .and_then(|t| t.shape.first().copied())
            .unwrap_or(1)
            .max(1) as u64;
        ProofSettings {
            visibility: vk.visibility,
            scale_bits: model.scale_bits,
            activation_bits: model.activation_bits,
            batch_size,
            vk_digest: vk.digest,
        }
    }

    /// The key's [`fingerprint`].
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.vk_digest)
    }
}

/// The short form of a verifying key's digest that zkinfer prints (`prove`,
/// `preprocess`, `verify`, the service's `/v1/models`): its first 8 bytes in hex.
pub fn fingerprint(digest: &[u8; 64]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// [`fingerprint`] of a verifying key.
pub fn vk_fingerprint(vk: &VerifyingKey) -> String {
    fingerprint(&vk.digest)
}

/// The command-line spelling of a visibility.
fn visibility_name(v: WeightVisibility) -> &'static str {
    v.name()
}

impl Encode for ProofSettings {
    fn encode(&self, w: &mut Writer) {
        w.write_u8(match self.visibility {
            WeightVisibility::Committed => 0,
            WeightVisibility::Public => 1,
            WeightVisibility::Hidden => 2,
        });
        w.write_u32(self.scale_bits);
        w.write_u32(self.activation_bits);
        w.write_u64(self.batch_size);
        for b in self.vk_digest {
            w.write_u8(b);
        }
    }
}

impl Decode for ProofSettings {
    const MIN_ENCODED_LEN: usize = SETTINGS_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let visibility = match r.read_u8("weight visibility")? {
            0 => WeightVisibility::Committed,
            1 => WeightVisibility::Public,
            2 => WeightVisibility::Hidden,
            tag => {
                return Err(DecodeError::BadTag {
                    what: "weight visibility",
                    offset,
                    tag,
                })
            }
        };
        // The bounds every model obeys (`Model::validate`): no value outside
        // them can name keys, so none is carried further.
        let offset = r.offset();
        let scale_bits = r.read_u32("scale")?;
        if !(1..=30).contains(&scale_bits) {
            return Err(DecodeError::OutOfRange {
                what: "scale",
                offset,
                value: scale_bits.into(),
                max: 30,
            });
        }
        let offset = r.offset();
        let activation_bits = r.read_u32("activation bits")?;
        if activation_bits <= scale_bits || activation_bits > 48 {
            return Err(DecodeError::NonCanonical {
                what: "activation bits (must exceed the scale and be at most 48)",
                offset,
            });
        }
        let offset = r.offset();
        let batch_size = r.read_u64("batch size")?;
        if batch_size == 0 {
            return Err(DecodeError::NonCanonical {
                what: "batch size 0",
                offset,
            });
        }
        let mut vk_digest = [0u8; 64];
        vk_digest.copy_from_slice(r.take("verifying key digest", 64)?);
        Ok(ProofSettings {
            visibility,
            scale_bits,
            activation_bits,
            batch_size,
            vk_digest,
        })
    }
}

/// One setting in which a proof and a verifying key differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDifference {
    /// The command-line flag that sets it (`--weights`, `--scale`,
    /// `--batch-size`), or the name of a setting no flag sets.
    pub flag: &'static str,
    /// The proof's value, as the flag spells it.
    pub proof: String,
    /// The key's value.
    pub key: String,
}

/// Why a proof does not belong to a verifying key, read from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The settings that differ; empty when the settings agree and the key is
    /// another one all the same (another model, other weights).
    pub differences: Vec<SettingDifference>,
    /// [`fingerprint`]s of the key the proof was made for and of the key at hand.
    pub proof_key: String,
    pub this_key: String,
}

impl Mismatch {
    /// The short name of the check, as [`check_name`] gives it.
    pub fn check(&self) -> &'static str {
        if self.differences.is_empty() {
            "verifying_key"
        } else {
            "settings"
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            return write!(
                f,
                "the proof was made for another verifying key (fingerprint {}; this key is {}): \
                 another model, other weights, or keys of another zkinfer build",
                self.proof_key, self.this_key
            );
        }
        let (proof, key): (Vec<String>, Vec<String>) = self
            .differences
            .iter()
            .map(|d| {
                (
                    format!("{} {}", d.flag, d.proof),
                    format!("{} {}", d.flag, d.key),
                )
            })
            .unzip();
        write!(
            f,
            "the proof was made with {} and this verifying key is for {}",
            proof.join(", "),
            key.join(", ")
        )
    }
}

/// How `proof` fails to belong to `vk`, from its header alone, or `None` when
/// the header is exactly the one `vk` implies.
pub fn mismatch(proof: &ProofSettings, vk: &VerifyingKey) -> Option<Mismatch> {
    let key = ProofSettings::of(vk);
    if *proof == key {
        return None;
    }
    let mut differences = Vec::new();
    if proof.visibility != key.visibility {
        differences.push(SettingDifference {
            flag: "--weights",
            proof: visibility_name(proof.visibility).into(),
            key: visibility_name(key.visibility).into(),
        });
    }
    if proof.scale_bits != key.scale_bits {
        differences.push(SettingDifference {
            flag: "--scale",
            proof: proof.scale_bits.to_string(),
            key: key.scale_bits.to_string(),
        });
    }
    if proof.activation_bits != key.activation_bits {
        differences.push(SettingDifference {
            flag: "activation bits",
            proof: proof.activation_bits.to_string(),
            key: key.activation_bits.to_string(),
        });
    }
    if proof.batch_size != key.batch_size {
        differences.push(SettingDifference {
            flag: "--batch-size",
            proof: proof.batch_size.to_string(),
            key: key.batch_size.to_string(),
        });
    }
    Some(Mismatch {
        differences,
        proof_key: proof.fingerprint(),
        this_key: key.fingerprint(),
    })
}

/// A proof that was not accepted: the short name of the check and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub check: &'static str,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A short, stable name for the check that rejected a proof.
pub fn check_name(e: &ProofError) -> &'static str {
    match e {
        ProofError::Model(_) => "model",
        ProofError::Lookup { .. } => "lookup",
        ProofError::Op { .. } => "operator",
        ProofError::Shape(_) => "shape",
        ProofError::InputMismatch => "input",
        ProofError::PublicWeight { .. } => "public_weight",
        ProofError::Reduction(_) => "opening",
        ProofError::Pcs(_) => "pcs",
        ProofError::Decode(_) => "decode",
        ProofError::Randomness(_) => "randomness",
        ProofError::Zk(_) => "zero_knowledge",
    }
}

/// [`verify_file`] for a proof file of either kind ([`crate::zk::model::AnyProof`]).
pub fn verify_any_file(
    vk: &VerifyingKey,
    proof: &crate::zk::model::AnyProof,
    checks: DeferredChecks,
) -> Result<(), Rejection> {
    if let Some(m) = mismatch(proof.settings(), vk) {
        return Err(Rejection {
            check: m.check(),
            reason: m.to_string(),
        });
    }
    crate::zk::model::verify_any(vk, proof.input(), proof, checks).map_err(|e| Rejection {
        check: check_name(&e),
        reason: e.to_string(),
    })
}

/// Verifies a proof file's contents as the CLI and the service do: its header
/// must be the one `vk` implies (else the [`Mismatch`] says why), then the proof
/// must verify ([`verify_with_checks`]) for its own public input.
pub fn verify_file(
    vk: &VerifyingKey,
    proof: &ModelProof,
    checks: DeferredChecks,
) -> Result<(), Rejection> {
    if let Some(m) = mismatch(&proof.settings, vk) {
        return Err(Rejection {
            check: m.check(),
            reason: m.to_string(),
        });
    }
    verify_with_checks(vk, &proof.input, proof, checks).map_err(|e| Rejection {
        check: check_name(&e),
        reason: e.to_string(),
    })
}
