//! Key secrets and their stored hashes: generating a secret, hashing it for the
//! key file (SHA-256 or Argon2id), and finding which stored hash a presented
//! secret matches without timing that depends on where, or whether, it matches.
//!
//! This file owns the cryptographic comparison only; which key may do what is
//! [`super::keyfile`]'s, and when to run the slow Argon2 check is
//! [`super::Authenticator`]'s.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};

use crate::keys::{hex, unhex};

/// Every generated secret starts with this, so a leaked one is easy to grep
/// for, and a secret pasted into the key file's `hash` is recognised as one.
pub const SECRET_PREFIX: &str = "zki_";

/// The prefix of a SHA-256 hash in the key file.
pub const SHA256_PREFIX: &str = "sha256:";

/// Largest Argon2 memory cost accepted (KiB): every request with an unknown
/// key may cost one verification per not-yet-used Argon2 key.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 64 * 1024;
/// Largest Argon2 time cost (passes) accepted.
pub const ARGON2_MAX_TIME: u32 = 8;
/// Largest Argon2 parallelism accepted.
pub const ARGON2_MAX_LANES: u32 = 4;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A new secret: [`SECRET_PREFIX`] and 32 bytes from the operating system's
/// random source in unpadded base64url (256 bits, so a fast hash is enough
/// to store it).
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// How the key file stores a secret.
#[derive(Clone)]
pub enum SecretHash {
    /// `sha256:<64 hex digits>`: for generated (high-entropy) secrets.
    Sha256(Digest),
    /// An Argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`): for
    /// secrets a person chose.
    Argon2 {
        phc: String,
        /// The SHA-256 of the secret once it has verified, so that each later
        /// request compares digests like a SHA-256 key instead of running
        /// Argon2 again. Kept across reloads while the PHC string is unchanged.
        verified: Arc<OnceLock<Digest>>,
    },
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretHash::Sha256(_) => f.write_str("SecretHash::Sha256(..)"),
            SecretHash::Argon2 { .. } => f.write_str("SecretHash::Argon2(..)"),
        }
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl std::fmt::Display for SecretHash {
    /// The key file's form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretHash::Sha256(d) => write!(f, "{SHA256_PREFIX}{}", hex(d)),
            SecretHash::Argon2 { phc, .. } => f.write_str(phc),
        }
    }
}

impl SecretHash {
    /// The SHA-256 form of `secret`.
    pub fn sha256_of(secret: &str) -> Self {
        SecretHash::Sha256(sha256(secret.as_bytes()))
    }

    /// The Argon2id form of `secret` with a fresh random salt and the
    /// `argon2` crate's default costs (19 MiB, 2 passes, 1 lane).
    pub fn argon2_of(secret: &str) -> Result<Self, String> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        let phc = argon2::Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(SecretHash::Argon2 {
            phc,
            verified: Arc::default(),
        })
    }

    /// Parses the key file's `hash` value; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with(SECRET_PREFIX) {
            return Err(format!(
                "this looks like a secret (`{SECRET_PREFIX}…`), not its hash: the file holds \
                 `{SHA256_PREFIX}<hex>` or an Argon2 string; `zkinfer keys add` writes it, and \
                 a secret that was in this file should be treated as leaked"
            ));
        }
        if let Some(hex_digest) = text.strip_prefix(SHA256_PREFIX) {
            return unhex::<32>(hex_digest)
                .map(SecretHash::Sha256)
                .ok_or_else(|| {
                    format!(
                        "`{SHA256_PREFIX}` must be followed by 64 hex digits (got {} characters)",
                        hex_digest.len()
                    )
                });
        }
        if text.starts_with("$argon2") {
            let parsed = PasswordHash::new(text)
                .map_err(|e| format!("not a valid Argon2 PHC string: {e}"))?;
            let params =
                argon2::Params::try_from(&parsed).map_err(|e| format!("Argon2 parameters: {e}"))?;
            if parsed.hash.is_none() {
                return Err("the Argon2 string has no hash part".into());
            }
            let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
            if m > ARGON2_MAX_MEMORY_KIB || t > ARGON2_MAX_TIME || p > ARGON2_MAX_LANES {
                return Err(format!(
                    "Argon2 costs m={m},t={t},p={p} exceed the service's bound \
                     (m ≤ {ARGON2_MAX_MEMORY_KIB} KiB, t ≤ {ARGON2_MAX_TIME}, \
                     p ≤ {ARGON2_MAX_LANES}): a request with an unknown key may cost \
                     one verification"
                ));
            }
            return Ok(SecretHash::Argon2 {
                phc: text.to_string(),
                verified: Arc::default(),
            });
        }
        Err(format!(
            "expected `{SHA256_PREFIX}<64 hex digits>` or an Argon2 PHC string \
             (`$argon2id$v=19$…`)"
        ))
    }

    /// The digest a presented secret's SHA-256 is compared with: the stored one,
    /// or for Argon2 the one recorded when the secret first verified.
    pub(crate) fn known_digest(&self) -> Option<&Digest> {
        match self {
            SecretHash::Sha256(d) => Some(d),
            SecretHash::Argon2 { verified, .. } => verified.get(),
        }
    }

    /// Whether this is an Argon2 hash no request has verified yet.
    pub(crate) fn argon2_pending(&self) -> bool {
        matches!(self, SecretHash::Argon2 { verified, .. } if verified.get().is_none())
    }

    /// Runs Argon2 on `secret` against this hash (slow; constant time in the
    /// comparison itself) and records its digest when it matches.
    pub(crate) fn argon2_verify(&self, secret: &str) -> bool {
        let SecretHash::Argon2 { phc, verified } = self else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let ok = argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok();
        if ok {
            let _ = verified.set(sha256(secret.as_bytes()));
        }
        ok
    }
}

/// The index of the candidate equal to `presented`, if any.
///
/// Every candidate is compared in full with `subtle`'s constant-time equality
/// and the result is selected without branching on it, so the time taken
/// depends on the number of candidates, not on which one matches, whether one
/// does, or how many leading bytes agree. `None` candidates (an Argon2 key
/// not verified yet) are compared too, against zeros, and never match.
pub fn find_digest<'a>(
    candidates: impl IntoIterator<Item = Option<&'a Digest>>,
    presented: &Digest,
) -> Option<usize> {
    const NONE: Digest = [0u8; 32];
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, candidate) in candidates.into_iter().enumerate() {
        let (stored, usable) = match candidate {
            Some(d) => (d, Choice::from(1)),
            None => (&NONE, Choice::from(0)),
        };
        let hit = stored.ct_eq(presented) & usable;
        index.conditional_assign(&(i as u64), hit);
        found |= hit;
    }
    Option::<u64>::from(CtOption::new(index, found)).map(|i| i as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_distinct_and_hash_round_trips() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        let h = SecretHash::sha256_of(&a);
        assert_eq!(SecretHash::parse(&h.to_string()).unwrap(), h);
    }

    #[test]
    fn argon2_verifies_once_then_compares_digests() {
        let h = SecretHash::argon2_of("correct horse").unwrap();
        let parsed = SecretHash::parse(&h.to_string()).unwrap();
        assert!(parsed.argon2_pending());
        assert!(!parsed.argon2_verify("wrong horse"));
        assert!(parsed.argon2_pending());
        assert!(parsed.argon2_verify("correct horse"));
        assert_eq!(
            parsed.known_digest(),
            Some(&sha256("correct horse".as_bytes()))
        );
    }

    #[test]
    fn bad_hashes_say_what_is_wrong() {
        for (text, needle) in [
            ("zki_abc", "looks like a secret"),
            ("sha256:abcd", "64 hex digits"),
            (&format!("sha256:{}", "g".repeat(64)), "64 hex digits"),
            ("md5:abcd", "expected `sha256:"),
            ("$argon2id$garbage", "Argon2"),
            (
                "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "exceed",
            ),
        ] {
            let e = SecretHash::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn find_digest_finds_the_match_anywhere() {
        let ds: Vec<Digest> = (0..5u8).map(|i| sha256(&[i])).collect();
        for (i, d) in ds.iter().enumerate() {
            assert_eq!(find_digest(ds.iter().map(Some), d), Some(i));
        }
        assert_eq!(find_digest(ds.iter().map(Some), &sha256(b"x")), None);
        // An unverified Argon2 slot never matches, not even an all-zero digest.
        assert_eq!(find_digest([None, Some(&ds[1])], &[0u8; 32]), None);
        assert_eq!(find_digest([None, Some(&ds[1])], &ds[1]), Some(1));
    }
}
