//! Authenticating key folders that this user's zkinfer wrote or checked.
//!
//! A key file's checksum detects corruption, not tampering: anyone can
//! recompute it. Whoever can write a key folder could otherwise pair model A's
//! weights with model B's weight commitment and make `verify A.onnx` accept
//! B's proofs. So every folder zkinfer builds (or checks by recomputing the
//! commitment) gets a tag, `keys.mac`: keyed Blake2b-512 over `pk.bin ‖
//! vk.bin` under a per-user secret created on first use in the cache directory
//! (`key-cache.secret`, mode 0600, 32 bytes from the OS). A folder whose tag
//! verifies is trusted as this user's own; any other folder's weight
//! commitment is recomputed from the model's weights before use
//! ([`super::cache::load`]).
//!
//! This module owns the secret and the tag; the load/recompute decision is
//! [`super::cache`]'s.

use std::io::Write;
use std::path::{Path, PathBuf};

use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac512;

use super::KeyError;

/// File name of the tag beside `pk.bin` and `vk.bin`.
pub const TAG_FILE: &str = "keys.mac";
/// File name of the secret in the cache directory.
pub const SECRET_FILE: &str = "key-cache.secret";
const SECRET_LEN: usize = 32;

/// The per-user secret that authenticates key folders.
pub struct KeyMac {
    secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for KeyMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMac(<secret>)")
    }
}

impl KeyMac {
    /// Reads the secret from `dir`, creating it (mode 0600, OS randomness) if
    /// there is none. A secret that others may read or write (group or world
    /// permission bits set) is refused: it could have been used to forge tags.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(SECRET_FILE);
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_file(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let mut secret = [0u8; SECRET_LEN];
                getrandom::getrandom(&mut secret).map_err(|e| KeyError::Format {
                    path: path.clone(),
                    reason: format!("no OS randomness for the key-cache secret: {e}"),
                })?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                match options.open(&path) {
                    Ok(mut file) => {
                        file.write_all(&secret).map_err(io)?;
                        file.sync_all().map_err(io)?;
                        Ok(KeyMac { secret })
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_file(&path, &std::fs::read(&path).map_err(io)?)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_file(path: &Path, bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = |reason: &str| KeyError::Format {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| KeyError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(
                    "others may read or write the key-cache secret (mode is not 0600); \
                     delete it and zkinfer makes a new one",
                ));
            }
        }
        let secret: [u8; SECRET_LEN] = bytes
            .try_into()
            .map_err(|_| bad("not a key-cache secret (wrong length)"))?;
        Ok(KeyMac { secret })
    }

    /// The secret of this user's cache directory
    /// ([`crate::pcs::DorySetup::default_cache_dir`]), or `None` with a warning
    /// when it cannot be had (then every key folder is checked by recomputation).
    pub fn for_user() -> Option<Self> {
        let dir: PathBuf = crate::pcs::DorySetup::default_cache_dir();
        match Self::load_or_create(&dir) {
            Ok(mac) => Some(mac),
            Err(e) => {
                tracing::warn!(
                    "key folders are checked by recomputing their weight commitment: {e}"
                );
                None
            }
        }
    }

    fn mac(&self, pk: &[u8], vk: &[u8]) -> Blake2bMac512 {
        let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(&self.secret)
            .expect("32 bytes is a valid Blake2b key length");
        mac.update(b"zkinfer/key-folder");
        mac.update(&(pk.len() as u64).to_le_bytes());
        mac.update(pk);
        mac.update(&(vk.len() as u64).to_le_bytes());
        mac.update(vk);
        mac
    }

    /// The tag of a folder holding `pk` and `vk` (file contents).
    pub fn tag(&self, pk: &[u8], vk: &[u8]) -> Vec<u8> {
        self.mac(pk, vk).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is this secret's tag of `pk ‖ vk` (constant-time comparison).
    pub fn verify(&self, pk: &[u8], vk: &[u8], tag: &[u8]) -> bool {
        self.mac(pk, vk).verify_slice(tag).is_ok()
    }

    /// Tags the folder `dir` whose files hold `pk` and `vk`.
    pub fn write_tag(&self, dir: &Path, pk: &[u8], vk: &[u8]) -> Result<(), KeyError> {
        super::write_atomic(&dir.join(TAG_FILE), &self.tag(pk, vk))
    }

    /// Whether `dir`'s tag file vouches for `pk` and `vk`.
    pub fn vouches_for(&self, dir: &Path, pk: &[u8], vk: &[u8]) -> bool {
        std::fs::read(dir.join(TAG_FILE)).is_ok_and(|tag| self.verify(pk, vk, &tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_private_stable_and_tags_verify() {
        let dir = tempfile::tempdir().unwrap();
        let a = KeyMac::load_or_create(dir.path()).unwrap();
        let b = KeyMac::load_or_create(dir.path()).unwrap();
        assert_eq!(a.secret, b.secret, "the second use reads the first secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let tag = a.tag(b"pk", b"vk");
        assert!(b.verify(b"pk", b"vk", &tag));
        assert!(!a.verify(b"pk", b"vk2", &tag));
        assert!(!a.verify(b"pkv", b"k", &tag), "lengths are framed");
        assert!(!a.verify(b"pk", b"vk", &tag[..32]));
        let other = tempfile::tempdir().unwrap();
        let c = KeyMac::load_or_create(other.path()).unwrap();
        assert!(!c.verify(b"pk", b"vk", &tag), "another user's secret");
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_secret_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        KeyMac::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SECRET_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyMac::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("0600"), "{err}");
    }
}
