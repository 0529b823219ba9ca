//! API keys of `zkinfer serve --auth-keys FILE`: who is calling, and what that
//! key may do.
//!
//! A client sends `Authorization: Bearer <secret>`. The service hashes the
//! presented secret with SHA-256 and compares that digest with every stored
//! one in constant time ([`find_digest`]). A key stored as an Argon2 hash is
//! verified with Argon2 the first time its secret is presented (one
//! verification at a time, on a blocking thread; unknown secrets that failed
//! are remembered, up to a bound, so repeating one costs nothing); after that
//! its digest is compared like any other. The key file is re-read by
//! [`Authenticator::reload`] (the service calls it on SIGHUP); a file that
//! does not parse leaves the keys in use unchanged. Requests in flight keep
//! the key they were admitted with.
//!
//! This module owns authentication and the per-key state ([`quota`]); the
//! routes decide what each route requires and how refusals are answered.

mod keyfile;
mod quota;
mod secret;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::http::HeaderValue;

pub use keyfile::{
    add_entry, remove_entry, valid_name, EntryProblem, KeyEntry, KeyFile, KeyFileError, ModelGrant,
    NewKey, Quotas, Scope,
};
pub(crate) use quota::{KeyUsage, Limited, ProofTicket};
pub use secret::{
    find_digest, generate_secret, sha256, Digest, SecretHash, SECRET_PREFIX, SHA256_PREFIX,
};

use crate::service::Tier;

/// Presented secrets longer than this are refused unhashed.
const MAX_SECRET_BYTES: usize = 512;

/// Unknown secrets remembered as failing every Argon2 key (then forgotten
/// all at once); reloads forget them too.
const MAX_REJECTED: usize = 4096;

/// A key of the loaded file, with its live quota state.
#[derive(Debug)]
pub struct ApiKey {
    /// What the file says of it.
    pub entry: KeyEntry,
    pub(crate) usage: Arc<KeyUsage>,
}

impl ApiKey {
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    pub fn may_use_model(&self, model: &str) -> bool {
        self.entry.models.allows(model)
    }

    pub fn may_request(&self, tier: Tier) -> bool {
        self.entry.tiers.contains(&tier)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.entry.scopes.contains(&scope)
    }
}

/// The keys in use, in file order.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<ApiKey>>,
}

impl KeyRing {
    /// The keys of `file`, each with fresh quota state.
    pub fn new(file: &KeyFile) -> Self {
        Self::carrying(file, &KeyRing::default())
    }

    /// The keys of `file`; a key whose name was in `old` keeps its quota state
    /// (see [`quota`]) and, while its Argon2 hash is unchanged, the fact that
    /// its secret verified.
    fn carrying(file: &KeyFile, old: &KeyRing) -> Self {
        let keys = file
            .entries
            .iter()
            .map(|e| {
                let before = old.keys.iter().find(|k| k.entry.name == e.name);
                let usage = match before {
                    Some(k) => KeyUsage::carry_over(&k.usage, e.quotas),
                    None => KeyUsage::new(e.quotas),
                };
                let mut entry = e.clone();
                if let Some(k) = before.filter(|k| k.entry.hash == e.hash) {
                    entry.hash = k.entry.hash.clone();
                }
                Arc::new(ApiKey { entry, usage })
            })
            .collect();
        KeyRing { keys }
    }

    pub fn keys(&self) -> &[Arc<ApiKey>] {
        &self.keys
    }

    /// The key whose known digest is `digest`, comparing with every key in
    /// constant time ([`find_digest`]).
    pub fn lookup_digest(&self, digest: &Digest) -> Option<Arc<ApiKey>> {
        find_digest(
            self.keys.iter().map(|k| k.entry.hash.known_digest()),
            digest,
        )
        .map(|i| self.keys[i].clone())
    }

    fn argon2_pending(&self) -> Vec<Arc<ApiKey>> {
        self.keys
            .iter()
            .filter(|k| k.entry.hash.argon2_pending())
            .cloned()
            .collect()
    }
}

/// Why a request is not authenticated (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <secret>`.
    Malformed,
    /// A secret that matches no key.
    Unknown,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => {
                "this service needs an API key: send `Authorization: Bearer <key>`"
            }
            AuthFailure::Malformed => "the Authorization header is not `Bearer <key>`",
            AuthFailure::Unknown => "the API key is not valid",
        }
    }
}

/// The secret of an `Authorization: Bearer <secret>` header.
fn bearer(header: Option<&HeaderValue>) -> Result<&str, AuthFailure> {
    let value = header.ok_or(AuthFailure::Missing)?;
    let text = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, secret) = text.split_once(' ').ok_or(AuthFailure::Malformed)?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || secret.is_empty() {
        return Err(AuthFailure::Malformed);
    }
    if secret.len() > MAX_SECRET_BYTES {
        return Err(AuthFailure::Unknown);
    }
    Ok(secret)
}

/// The loaded key file and the means to check a request against it.
pub(crate) struct Authenticator {
    path: PathBuf,
    ring: RwLock<Arc<KeyRing>>,
    /// One Argon2 verification at a time.
    argon2_gate: tokio::sync::Semaphore,
    argon2_rejected: Mutex<HashSet<Digest>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("path", &self.path)
            .field("keys", &self.ring().keys.len())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub(crate) fn load(path: &Path) -> Result<Self, KeyFileError> {
        let file = KeyFile::load(path)?;
        Ok(Authenticator {
            path: path.to_path_buf(),
            ring: RwLock::new(Arc::new(KeyRing::new(&file))),
            argon2_gate: tokio::sync::Semaphore::new(1),
            argon2_rejected: Mutex::default(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The keys in use now.
    pub(crate) fn ring(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads the key file; on success the new keys are used from the next
    /// request on, and their number is returned. On error nothing changes.
    pub(crate) fn reload(&self) -> Result<Arc<KeyRing>, KeyFileError> {
        let file = KeyFile::load(&self.path)?;
        let mut ring = self
            .ring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let new = Arc::new(KeyRing::carrying(&file, &ring));
        *ring = new.clone();
        drop(ring);
        self.rejected().clear();
        Ok(new)
    }

    fn rejected(&self) -> std::sync::MutexGuard<'_, HashSet<Digest>> {
        self.argon2_rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key of a request's `Authorization` header.
    pub(crate) async fn authenticate(
        &self,
        header: Option<&HeaderValue>,
    ) -> Result<Arc<ApiKey>, AuthFailure> {
        let secret = bearer(header)?;
        let digest = sha256(secret.as_bytes());
        let ring = self.ring();
        if let Some(key) = ring.lookup_digest(&digest) {
            return Ok(key);
        }
        let pending = ring.argon2_pending();
        if pending.is_empty() || self.rejected().contains(&digest) {
            return Err(AuthFailure::Unknown);
        }
        let _permit = self
            .argon2_gate
            .acquire()
            .await
            .map_err(|_| AuthFailure::Unknown)?;
        // Another request may have verified this secret while we waited.
        if let Some(key) = ring.lookup_digest(&digest) {
            return Ok(key);
        }
        let secret = secret.to_string();
        let found = tokio::task::spawn_blocking(move || {
            pending
                .into_iter()
                .find(|k| k.entry.hash.argon2_verify(&secret))
        })
        .await
        .ok()
        .flatten();
        found.ok_or_else(|| {
            let mut rejected = self.rejected();
            if rejected.len() >= MAX_REJECTED {
                rejected.clear();
            }
            rejected.insert(digest);
            AuthFailure::Unknown
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(Some(&h("Bearer abc"))), Ok("abc"));
        assert_eq!(bearer(Some(&h("bearer  abc "))), Ok("abc"));
        assert_eq!(bearer(None), Err(AuthFailure::Missing));
        assert_eq!(bearer(Some(&h("Basic abc"))), Err(AuthFailure::Malformed));
        assert_eq!(bearer(Some(&h("Bearer"))), Err(AuthFailure::Malformed));
        assert_eq!(bearer(Some(&h("Bearer  "))), Err(AuthFailure::Malformed));
        let long = format!("Bearer {}", "a".repeat(MAX_SECRET_BYTES + 1));
        assert_eq!(bearer(Some(&h(&long))), Err(AuthFailure::Unknown));
    }

    #[tokio::test]
    async fn argon2_keys_verify_once_and_unknown_secrets_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let hash = SecretHash::argon2_of("people pick this").unwrap();
        std::fs::write(
            &path,
            format!("[[key]]\nname = \"p\"\nhash = \"{hash}\"\nmodels = [\"*\"]\n"),
        )
        .unwrap();
        let auth = Authenticator::load(&path).unwrap();
        let header = |s: &str| HeaderValue::from_str(&format!("Bearer {s}")).unwrap();
        let wrong = auth.authenticate(Some(&header("guess"))).await;
        assert_eq!(wrong.unwrap_err(), AuthFailure::Unknown);
        assert!(auth.rejected().contains(&sha256(b"guess")));
        let key = auth
            .authenticate(Some(&header("people pick this")))
            .await
            .unwrap();
        assert_eq!(key.name(), "p");
        // Now a digest comparison, no Argon2; and it survives an unchanged reload.
        assert!(auth
            .ring()
            .lookup_digest(&sha256(b"people pick this"))
            .is_some());
        auth.reload().unwrap();
        assert!(auth
            .ring()
            .lookup_digest(&sha256(b"people pick this"))
            .is_some());
        assert!(auth.rejected().is_empty());
    }
}
