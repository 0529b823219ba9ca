//! Dory setup with no known discrete logarithms, and its on-disk cache.
//!
//! `dory_pcs::setup` draws its generators as random multiples of the group
//! generator, so whoever ran it knows their discrete logarithms and can open
//! commitments to anything. zkinfer never uses it. Here every generator (Γ₁, Γ₂,
//! h₁, h₂) is hashed to the curve from a public seed with try-and-increment:
//!
//! ```text
//! x  = Blake2b-512("zkinfer/dory-setup/v1" ‖ group ‖ len(seed) ‖ seed ‖ index ‖ counter ‖ part) mod q
//! y² = x³ + b   (first counter for which a square root exists; the sign of y is one
//!                more hash bit)
//! G2: x ∈ Fq2 takes two hashes (parts 0 and 1); the point is multiplied by the
//!     cofactor and checked to lie in the order-r subgroup.
//! ```
//!
//! Nobody chooses the points, so nobody knows a relation between them. A test pins
//! the first generators so the derivation cannot drift silently.
//!
//! The setup is cached under zkinfer's own cache directory (never dory's XDG
//! cache), with a checksum; a corrupt or foreign file is rebuilt.
//!
//! # Pinned digests
//! A checksum detects corruption, not tampering: whoever can write the cache
//! could otherwise hand the verifier Δ/χ values (or the prover generators from
//! which a key's weight commitment is recomputed) that make Dory accept
//! anything. So every setup of the public seed is checked at load against
//! digests compiled into the binary ([`PINNED_LEVELS`], `setup_levels.txt`).
//! Setups of one seed are prefixes of each other (the generators of size 2^k
//! are the first 2^k of any larger size; Δ and χ at round i depend only on the
//! first 2^i generators), so one digest per round level serves every size:
//!
//! ```text
//! base       = H("base" ‖ h1 ‖ h2 ‖ hT)
//! gens[0]    = H(0 ‖ Γ1[0] ‖ Γ2[0]);   gens[i] = H(i ‖ Γ1[2^(i-1)..2^i) ‖ Γ2[2^(i-1)..2^i))
//! rounds[i]  = H(i ‖ Δ1L[i] ‖ Δ1R[i] ‖ Δ2R[i] ‖ χ[i])      (Δ2L = Δ1L is checked)
//! ```
//!
//! A setup of size 2^k must match base, gens[0..=k] and rounds[0..=k]; a Dory
//! verifier setup alone (in a verifying key) must match base, gens[0] (its
//! g1_0, g2_0) and rounds[0..=k]. The test `pinned_levels_match_the_derivation`
//! re-derives the small levels in every test run; `derive_every_pinned_level`
//! (ignored: minutes) re-derives all of them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ark_bn254::{Fq, Fq2, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::AffineRepr;
use ark_ec::CurveGroup;
use ark_ff::PrimeField;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use blake2::{Blake2b512, Digest};
use dory_pcs::backends::arkworks::{ArkG1, ArkG2, ArkGT, BN254};
use dory_pcs::setup::{ProverSetup, VerifierSetup};
use rayon::prelude::*;

use super::PcsError;
use crate::backend::{FixedBases, G2Lines};
use ark_bn254::{g1::Config as G1Config, g2::Config as G2Config};

/// Domain separator for every hash in the derivation.
const DOMAIN: &[u8] = b"zkinfer/dory-setup/v1";

/// The public seed zkinfer's keys use unless told otherwise.
pub const DEFAULT_SEED: &[u8] = b"zkinfer public Dory generators, BN254, 2026";

/// Largest supported log2 of the generator count (2^20 columns, 2^40 entries).
pub const MAX_LOG_GENERATORS: usize = 20;

/// Digests of the public seed's setup, one line each: `base`, then for each
/// level i = 0..=[`MAX_LOG_GENERATORS`] `gens[i] rounds[i]` (see the module docs).
pub const PINNED_LEVELS: &str = include_str!("setup_levels.txt");

/// Magic bytes and format version of a cached setup file.
const FILE_MAGIC: &[u8; 8] = b"ZKDORY\x00\x02";

/// Environment variable that overrides zkinfer's cache directory.
pub const CACHE_DIR_ENV: &str = "ZKINFER_CACHE_DIR";

/// Dory prover and verifier setups derived from a public seed, with the G1
/// generators also kept in affine form for the MSM kernels.
#[derive(Debug, Clone)]
pub struct DorySetup {
    /// log2 of the number of G1 (and G2) generators: supports layouts with
    /// ν ≤ σ ≤ `log_generators`.
    pub log_generators: usize,
    /// Blake2b-512 of the seed: identifies which public seed the generators came from.
    pub seed_digest: [u8; 64],
    pub prover: ProverSetup<BN254>,
    pub verifier: VerifierSetup<BN254>,
    /// Γ₁ in affine coordinates (the bases of every row MSM).
    pub g1_affine: Vec<G1Affine>,
    /// Γ₂'s Miller-loop line coefficients, computed from `prover.g2_vec` in this
    /// process on first use and only for the prefix a layout needs (never read
    /// from disk, so nothing to authenticate).
    pub(crate) g2_lines: G2LinesCache,
    /// Fixed-base tables of Γ₁ and Γ₂ (see `backend::cpu::fixed_base`), built
    /// like `g2_lines`: in this process, on first use, for the prefix needed.
    pub(crate) fixed: FixedBasesCache,
}

/// Γ₁ and Γ₂ with their fixed-base tables, grown on demand; clones share it.
#[derive(Clone, Default)]
#[allow(clippy::type_complexity)]
pub(crate) struct FixedBasesCache(
    Arc<Mutex<(Arc<FixedBases<G1Config>>, Arc<FixedBases<G2Config>>)>>,
);

impl std::fmt::Debug for FixedBasesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.0.lock().map(|t| t.0.len()).unwrap_or(0);
        write!(f, "FixedBasesCache({len} bases)")
    }
}

/// Prepared Γ₂ prefixes (about 17 KiB per point: 8.7 MiB for the 2^9 points an
/// opening with 2^10 columns pairs against). Grows on demand, never shrinks;
/// clones of a setup share it.
#[derive(Clone, Default)]
pub(crate) struct G2LinesCache(Arc<Mutex<Arc<Vec<G2Lines>>>>);

impl std::fmt::Debug for G2LinesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.0.lock().map(|l| l.len()).unwrap_or(0);
        write!(f, "G2LinesCache({len} points prepared)")
    }
}

impl DorySetup {
    /// Builds now, rather than at the first commitment or opening, the Γ₂ line
    /// coefficients and the Γ₁/Γ₂ fixed-base tables for every generator of this
    /// setup: about 17 KiB + 6 KiB per generator (23 MiB for 2^10). A
    /// long-running service calls it at start.
    pub fn warm_caches(&self) {
        let n = self.g1_affine.len();
        self.g2_lines(n);
        self.fixed_bases(n);
    }

    /// Γ₁[..count] and Γ₂[..count] (at least) with their fixed-base tables.
    /// Panics if `count` exceeds the setup's generators (callers check layouts).
    #[allow(clippy::type_complexity)]
    pub(crate) fn fixed_bases(
        &self,
        count: usize,
    ) -> (Arc<FixedBases<G1Config>>, Arc<FixedBases<G2Config>>) {
        let mut cached = self.fixed.0.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0.len() < count {
            let from = cached.0.len();
            let mut g1 = (*cached.0).clone();
            g1.extend(&self.g1_affine[from..count]);
            let points: Vec<G2Projective> = self.prover.g2_vec[from..count]
                .iter()
                .map(|p| p.0)
                .collect();
            let mut g2 = (*cached.1).clone();
            g2.extend(&crate::backend::cpu::group_ops::to_affine(&points));
            *cached = (Arc::new(g1), Arc::new(g2));
        }
        (Arc::clone(&cached.0), Arc::clone(&cached.1))
    }

    /// Line coefficients of Γ₂[..count] (at least; the cache may hold more).
    /// Panics if `count` exceeds the setup's generators (callers check layouts).
    pub(crate) fn g2_lines(&self, count: usize) -> Arc<Vec<G2Lines>> {
        let mut cached = self.g2_lines.0.lock().unwrap_or_else(|e| e.into_inner());
        if cached.len() < count {
            let from = cached.len();
            let points: Vec<G2Projective> = self.prover.g2_vec[from..count]
                .iter()
                .map(|p| p.0)
                .collect();
            let affine = crate::backend::cpu::group_ops::to_affine(&points);
            let mut lines = Vec::with_capacity(count);
            lines.extend(cached.iter().cloned());
            lines.extend(crate::backend::cpu::pairing::prepare_g2(&affine));
            *cached = Arc::new(lines);
        }
        Arc::clone(&cached)
    }
}

fn hash_to_base_field(group: &[u8], seed: &[u8], index: u64, counter: u64, part: u8) -> (Fq, bool) {
    let mut hasher = Blake2b512::new();
    hasher.update(DOMAIN);
    hasher.update(group);
    hasher.update((seed.len() as u64).to_le_bytes());
    hasher.update(seed);
    hasher.update(index.to_le_bytes());
    hasher.update(counter.to_le_bytes());
    hasher.update([part]);
    let digest = hasher.finalize();
    // 512 bits reduced mod q: statistically uniform. The top bit of the last byte
    // picks the sign of y.
    (Fq::from_le_bytes_mod_order(&digest), digest[63] & 0x80 != 0)
}

/// The `index`-th G1 point hashed from `seed` (label separates Γ₁ from h₁).
pub fn hash_to_g1(label: &[u8], seed: &[u8], index: u64) -> G1Affine {
    for counter in 0u64.. {
        let (x, greatest) = hash_to_base_field(label, seed, index, counter, 0);
        if let Some(point) = G1Affine::get_point_from_x_unchecked(x, greatest) {
            // BN254's G1 has cofactor 1: every curve point is in the group.
            if !point.is_zero() {
                return point;
            }
        }
    }
    unreachable!("half of all x have a point; the counter cannot run out")
}

/// The `index`-th G2 point hashed from `seed`, cofactor cleared.
pub fn hash_to_g2(label: &[u8], seed: &[u8], index: u64) -> G2Affine {
    for counter in 0u64.. {
        let (c0, greatest) = hash_to_base_field(label, seed, index, counter, 0);
        let (c1, _) = hash_to_base_field(label, seed, index, counter, 1);
        let x = Fq2::new(c0, c1);
        if let Some(point) = G2Affine::get_point_from_x_unchecked(x, greatest) {
            let cleared = point.clear_cofactor();
            if !cleared.is_zero() && cleared.is_in_correct_subgroup_assuming_on_curve() {
                return cleared;
            }
        }
    }
    unreachable!("half of all x have a point; the counter cannot run out")
}

impl DorySetup {
    /// Derives the setup for 2^`log_generators` generators per group from `seed`.
    /// Costs one hash-to-curve per generator plus ~3·2^k pairings for the
    /// verifier's precomputed values; use [`DorySetup::load_or_derive`] to cache it.
    pub fn derive(seed: &[u8], log_generators: usize) -> Result<Self, PcsError> {
        if log_generators > MAX_LOG_GENERATORS {
            return Err(PcsError::SetupTooLarge {
                log_generators,
                max: MAX_LOG_GENERATORS,
            });
        }
        let n = 1usize << log_generators;
        let _span = tracing::info_span!("dory_setup_derive", log_generators).entered();
        let (g1, g2): (Vec<G1Affine>, Vec<G2Affine>) = rayon::join(
            || {
                (0..n as u64)
                    .into_par_iter()
                    .map(|i| hash_to_g1(b"G1/gamma", seed, i))
                    .collect()
            },
            || {
                (0..n as u64)
                    .into_par_iter()
                    .map(|i| hash_to_g2(b"G2/gamma", seed, i))
                    .collect()
            },
        );
        let h1 = hash_to_g1(b"G1/h", seed, 0);
        let h2 = hash_to_g2(b"G2/h", seed, 0);
        let ht = ArkGT(ark_bn254::Bn254::pairing(h1, h2));
        let prover = ProverSetup::<BN254> {
            g1_vec: g1.iter().map(|p| ArkG1(G1Projective::from(*p))).collect(),
            g2_vec: g2.iter().map(|p| ArkG2(G2Projective::from(*p))).collect(),
            h1: ArkG1(h1.into()),
            h2: ArkG2(h2.into()),
            ht,
        };
        let verifier = prover.to_verifier_setup();
        Ok(DorySetup {
            log_generators,
            seed_digest: Blake2b512::digest(seed).into(),
            prover,
            verifier,
            g1_affine: g1,
            g2_lines: G2LinesCache::default(),
            fixed: FixedBasesCache::default(),
        })
    }

    /// Makes dory-pcs's own prepared-point cache cover these generators. Only
    /// `dory_pcs`'s routines read it (zkinfer's commit and open use
    /// [`DorySetup::warm_caches`]'s tables); the benches' baselines call it.
    pub fn prepare_pairing_cache(&self) {
        dory_pcs::backends::arkworks::init_cache(&self.prover.g1_vec, &self.prover.g2_vec);
    }

    /// The default cache directory: `$ZKINFER_CACHE_DIR`, else the user's cache
    /// directory + `zkinfer`, else `./.zkinfer-cache`.
    pub fn default_cache_dir() -> PathBuf {
        // An empty value (`ZKINFER_CACHE_DIR=`) is unset, as shells mean it,
        // not the current folder.
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        dirs::cache_dir()
            .map(|d| d.join("zkinfer"))
            .unwrap_or_else(|| PathBuf::from(".zkinfer-cache"))
    }

    /// File name of a cached setup for this seed and size.
    pub fn cache_file_name(seed: &[u8], log_generators: usize) -> String {
        let digest = Blake2b512::digest(seed);
        let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("dory-setup-{short}-2^{log_generators}.bin")
    }

    /// Loads the setup from `cache_dir` when a valid file is there, else derives it
    /// and writes the file atomically. A corrupt, stale or foreign file is
    /// replaced (with a warning), never trusted.
    pub fn load_or_derive(
        seed: &[u8],
        log_generators: usize,
        cache_dir: &Path,
    ) -> Result<Self, PcsError> {
        let path = cache_dir.join(Self::cache_file_name(seed, log_generators));
        if path.exists() {
            match Self::read_file(&path, seed, log_generators) {
                Ok(setup) => return Ok(setup),
                Err(e) => tracing::warn!("ignoring cached Dory setup {}: {e}", path.display()),
            }
        }
        let setup = Self::derive(seed, log_generators)?;
        if let Err(e) = setup.write_file(&path) {
            // `e` names the file already.
            tracing::warn!("Dory setup not cached ({e}); using it from memory");
        }
        Ok(setup)
    }

    /// Writes the setup to `path` atomically (temporary file, then rename).
    /// Concurrent writers (threads or processes) do not share a temporary
    /// file, and a failed write leaves none behind.
    pub fn write_file(&self, path: &Path) -> Result<(), PcsError> {
        let io = |source| PcsError::SetupIo {
            path: path.to_path_buf(),
            source,
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent).map_err(io)?;
        let mut payload = Vec::new();
        write_prover_setup(&self.prover, &mut payload);
        write_verifier_setup(&self.verifier, &mut payload);
        let mut bytes = Vec::with_capacity(payload.len() + 160);
        bytes.extend_from_slice(FILE_MAGIC);
        bytes.extend_from_slice(&(self.log_generators as u64).to_le_bytes());
        bytes.extend_from_slice(&self.seed_digest);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&Blake2b512::digest(&payload));
        bytes.extend_from_slice(&payload);
        // A temporary name per writer, not per process: two threads deriving
        // the same setup must not truncate each other's file.
        let mut builder = tempfile::Builder::new();
        builder.prefix(".zkinfer-setup-").suffix(".tmp");
        // Temporary files are private (0600); the setup is public, so give it
        // the mode `File::create` would (0644 less the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let mut tmp = builder.tempfile_in(parent).map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads a setup file, checking magic, size, seed and checksum, and that its
    /// first generators are the ones the seed derives.
    pub fn read_file(path: &Path, seed: &[u8], log_generators: usize) -> Result<Self, PcsError> {
        let bad = |reason: String| PcsError::SetupFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| PcsError::SetupIo {
                path: path.to_path_buf(),
                source,
            })?;
        let header_len = 8 + 8 + 64 + 8 + 64;
        if bytes.len() < header_len || &bytes[..8] != FILE_MAGIC {
            return Err(bad(
                "not a zkinfer Dory setup file (bad magic or version)".into()
            ));
        }
        let stored_log = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        if stored_log != log_generators as u64 {
            return Err(bad(format!(
                "holds 2^{stored_log} generators, expected 2^{log_generators}"
            )));
        }
        let seed_digest: [u8; 64] = Blake2b512::digest(seed).into();
        if bytes[16..80] != seed_digest {
            return Err(bad("derived from another seed".into()));
        }
        let payload_len = u64::from_le_bytes(bytes[80..88].try_into().expect("8 bytes"));
        let payload = &bytes[header_len..];
        if payload.len() as u64 != payload_len {
            return Err(bad(format!(
                "truncated: payload has {} bytes, header says {payload_len}",
                payload.len()
            )));
        }
        if Blake2b512::digest(payload).as_slice() != &bytes[88..152] {
            return Err(bad("checksum mismatch (corrupt file)".into()));
        }
        let mut reader = payload;
        let prover = read_prover_setup(&mut reader)
            .map_err(|e| bad(format!("cannot decode prover setup: {e}")))?;
        let verifier = read_verifier_setup(&mut reader)
            .map_err(|e| bad(format!("cannot decode verifier setup: {e}")))?;
        let n = 1usize << log_generators;
        if prover.g1_vec.len() != n || prover.g2_vec.len() != n || !reader.is_empty() {
            return Err(bad("generator counts do not match the header".into()));
        }
        // Every generator and every verifier value must be the ones the public
        // seed derives: compare them with the digests compiled in.
        if seed != DEFAULT_SEED {
            return Err(bad(
                "only setups of zkinfer's public seed are pinned; others are derived, not read"
                    .into(),
            ));
        }
        let g1_affine = super::to_affine_g1(&prover.g1_vec);
        check_pinned_setup(&g1_affine, &prover, &verifier, log_generators).map_err(bad)?;
        Ok(DorySetup {
            log_generators,
            seed_digest,
            prover,
            verifier,
            g1_affine,
            g2_lines: G2LinesCache::default(),
            fixed: FixedBasesCache::default(),
        })
    }
}

fn hash_points<T: CanonicalSerialize>(h: &mut Blake2b512, points: impl Iterator<Item = T>) {
    let mut buf = Vec::new();
    for p in points {
        buf.clear();
        p.serialize_uncompressed(&mut buf)
            .expect("serializing into a Vec cannot fail");
        h.update(&buf);
    }
}

fn level_hasher(what: &[u8], level: usize) -> Blake2b512 {
    let mut h = Blake2b512::new();
    h.update(DOMAIN);
    h.update(what);
    h.update((level as u64).to_le_bytes());
    h
}

/// Digests of a setup's parts (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelDigests {
    pub base: [u8; 64],
    /// `gens[i]`: the generators first used at round level i.
    pub gens: Vec<[u8; 64]>,
    /// `rounds[i]`: the verifier's Δ and χ values of round level i.
    pub rounds: Vec<[u8; 64]>,
}

impl LevelDigests {
    /// The pinned digests of the public seed's setup.
    pub fn pinned() -> Self {
        let mut lines = PINNED_LEVELS.lines().filter(|l| !l.trim().is_empty());
        let parse = |hex: &str| -> [u8; 64] {
            let mut out = [0u8; 64];
            for (i, o) in out.iter_mut().enumerate() {
                *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("pinned hex");
            }
            out
        };
        let base = parse(lines.next().expect("base line").trim());
        let (mut gens, mut rounds) = (Vec::new(), Vec::new());
        for line in lines {
            let mut parts = line.split_whitespace();
            gens.push(parse(parts.next().expect("gens digest")));
            rounds.push(parse(parts.next().expect("rounds digest")));
        }
        assert_eq!(
            gens.len(),
            MAX_LOG_GENERATORS + 1,
            "one pinned line per level"
        );
        LevelDigests { base, gens, rounds }
    }

    /// The text of a pins file (the format [`LevelDigests::pinned`] reads).
    pub fn to_text(&self) -> String {
        let hex = |d: &[u8; 64]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut out = hex(&self.base) + "\n";
        for (g, r) in self.gens.iter().zip(&self.rounds) {
            out += &format!("{} {}\n", hex(g), hex(r));
        }
        out
    }
}

/// Structure a verifier setup of `rounds` round levels must have, and its
/// base and round digests.
fn verifier_digests(
    verifier: &VerifierSetup<BN254>,
    rounds: usize,
) -> Result<([u8; 64], Vec<[u8; 64]>), String> {
    let lists = [
        &verifier.delta_1l,
        &verifier.delta_1r,
        &verifier.delta_2l,
        &verifier.delta_2r,
        &verifier.chi,
    ];
    if lists.iter().any(|l| l.len() != rounds + 1) || verifier.max_log_n != 2 * rounds {
        return Err(format!(
            "verifier setup has the wrong size for 2^{rounds} generators"
        ));
    }
    if verifier.delta_2l != verifier.delta_1l {
        return Err("verifier setup: Δ2L differs from Δ1L".into());
    }
    let mut base = level_hasher(b"base", 0);
    hash_points(&mut base, [verifier.h1.0.into_affine()].into_iter());
    hash_points(&mut base, [verifier.h2.0.into_affine()].into_iter());
    hash_points(&mut base, [verifier.ht.0].into_iter());
    let digests = (0..=rounds)
        .into_par_iter()
        .map(|i| {
            let mut h = level_hasher(b"rounds", i);
            hash_points(
                &mut h,
                [
                    verifier.delta_1l[i].0,
                    verifier.delta_1r[i].0,
                    verifier.delta_2r[i].0,
                    verifier.chi[i].0,
                ]
                .into_iter(),
            );
            h.finalize().into()
        })
        .collect();
    Ok((base.finalize().into(), digests))
}

/// `gens[0]` from the first generators.
fn first_gens_digest(g1_0: G1Affine, g2_0: G2Affine) -> [u8; 64] {
    let mut h = level_hasher(b"gens", 0);
    hash_points(&mut h, [g1_0].into_iter());
    hash_points(&mut h, [g2_0].into_iter());
    h.finalize().into()
}

/// Every level digest of a whole setup with 2^`log_generators` generators.
pub fn level_digests(
    g1_affine: &[G1Affine],
    prover: &ProverSetup<BN254>,
    verifier: &VerifierSetup<BN254>,
    log_generators: usize,
) -> Result<LevelDigests, String> {
    let n = 1usize << log_generators;
    if g1_affine.len() != n || prover.g1_vec.len() != n || prover.g2_vec.len() != n {
        return Err("generator counts do not match the size".into());
    }
    if verifier.g1_0 != prover.g1_vec[0]
        || verifier.g2_0 != prover.g2_vec[0]
        || verifier.h1 != prover.h1
        || verifier.h2 != prover.h2
        || verifier.ht != prover.ht
    {
        return Err("verifier and prover setups disagree".into());
    }
    let (base, rounds) = verifier_digests(verifier, log_generators)?;
    let g2_at = |i: usize| prover.g2_vec[i].0.into_affine();
    let gens = (0..=log_generators)
        .into_par_iter()
        .map(|i| {
            if i == 0 {
                return first_gens_digest(g1_affine[0], g2_at(0));
            }
            let range = (1usize << (i - 1))..(1usize << i);
            let mut h = level_hasher(b"gens", i);
            hash_points(&mut h, g1_affine[range.clone()].iter().copied());
            hash_points(&mut h, range.map(g2_at));
            h.finalize().into()
        })
        .collect();
    Ok(LevelDigests { base, gens, rounds })
}

/// Checks a whole setup of the public seed against [`LevelDigests::pinned`].
fn check_pinned_setup(
    g1_affine: &[G1Affine],
    prover: &ProverSetup<BN254>,
    verifier: &VerifierSetup<BN254>,
    log_generators: usize,
) -> Result<(), String> {
    let pinned = LevelDigests::pinned();
    let found = level_digests(g1_affine, prover, verifier, log_generators)?;
    if found.base != pinned.base {
        return Err("h1, h2 or hT is not the public seed's".into());
    }
    if let Some(i) = (0..=log_generators).find(|&i| found.gens[i] != pinned.gens[i]) {
        return Err(format!(
            "generators of level {i} are not the public seed's (pinned digest mismatch)"
        ));
    }
    if let Some(i) = (0..=log_generators).find(|&i| found.rounds[i] != pinned.rounds[i]) {
        return Err(format!(
            "verifier values of round {i} are not the public seed's (pinned digest mismatch)"
        ));
    }
    Ok(())
}

/// Checks a Dory verifier setup (as a verifying key carries it) against the
/// public seed's pinned digests: the verifier then runs over exactly the
/// values derived from the public seed, whoever wrote the file.
pub fn check_pinned_verifier_setup(
    verifier: &VerifierSetup<BN254>,
    log_generators: usize,
) -> Result<(), String> {
    if log_generators > MAX_LOG_GENERATORS {
        return Err(format!(
            "2^{log_generators} generators; at most 2^{MAX_LOG_GENERATORS} are supported"
        ));
    }
    let pinned = LevelDigests::pinned();
    let (base, rounds) = verifier_digests(verifier, log_generators)?;
    let first = first_gens_digest(verifier.g1_0.0.into_affine(), verifier.g2_0.0.into_affine());
    if base != pinned.base || first != pinned.gens[0] {
        return Err("its Dory setup is not derived from zkinfer's public seed".into());
    }
    if let Some(i) = (0..=log_generators).find(|&i| rounds[i] != pinned.rounds[i]) {
        return Err(format!(
            "its Dory verifier values of round {i} are not the public seed's (pinned digest mismatch)"
        ));
    }
    Ok(())
}

// Setup files and verifying keys store Dory setups uncompressed and load them
// without per-element curve and subgroup validation (dory-pcs' own decoder
// validates every element whatever it is asked, which made loading a large part
// of a CLI run). What they hold is compared with the pinned digests instead
// ([`check_pinned_setup`], [`check_pinned_verifier_setup`]): equal digests mean
// exactly the public seed's points and values, valid by construction.

/// Most generators or rounds a stored setup may hold (2^40 values per polynomial).
const MAX_SETUP_LOG: u64 = 40;

fn put<T: CanonicalSerialize>(out: &mut Vec<u8>, value: &T) {
    value
        .serialize_uncompressed(out)
        .expect("serializing into a Vec cannot fail")
}

fn get<T: CanonicalDeserialize>(reader: &mut &[u8], what: &str) -> Result<T, String> {
    T::deserialize_uncompressed_unchecked(reader).map_err(|e| format!("{what}: {e}"))
}

fn get_len(reader: &mut &[u8], what: &str, max: u64) -> Result<usize, String> {
    let len = get::<u64>(reader, what)?;
    if len > max {
        return Err(format!("{what}: {len} entries, at most {max}"));
    }
    Ok(len as usize)
}

fn get_g1(reader: &mut &[u8], what: &str) -> Result<ArkG1, String> {
    get::<G1Affine>(reader, what).map(|p| ArkG1(p.into()))
}

fn get_g2(reader: &mut &[u8], what: &str) -> Result<ArkG2, String> {
    get::<G2Affine>(reader, what).map(|p| ArkG2(p.into()))
}

/// Appends a prover setup (see [`read_prover_setup`]).
pub(crate) fn write_prover_setup(setup: &ProverSetup<BN254>, out: &mut Vec<u8>) {
    let g1: Vec<G1Affine> =
        G1Projective::normalize_batch(&setup.g1_vec.iter().map(|p| p.0).collect::<Vec<_>>());
    let g2: Vec<G2Affine> =
        G2Projective::normalize_batch(&setup.g2_vec.iter().map(|p| p.0).collect::<Vec<_>>());
    for list in [g1.len(), g2.len()] {
        put(out, &(list as u64));
    }
    g1.iter().for_each(|p| put(out, p));
    g2.iter().for_each(|p| put(out, p));
    put(out, &setup.h1.0.into_affine());
    put(out, &setup.h2.0.into_affine());
    put(out, &setup.ht.0);
}

/// Reads a prover setup written by [`write_prover_setup`], without validation.
pub(crate) fn read_prover_setup(reader: &mut &[u8]) -> Result<ProverSetup<BN254>, String> {
    let max = 1u64 << (MAX_SETUP_LOG / 2);
    let n1 = get_len(reader, "G1 generator count", max)?;
    let n2 = get_len(reader, "G2 generator count", max)?;
    let g1_vec = (0..n1)
        .map(|_| get_g1(reader, "G1 generator"))
        .collect::<Result<_, _>>()?;
    let g2_vec = (0..n2)
        .map(|_| get_g2(reader, "G2 generator"))
        .collect::<Result<_, _>>()?;
    Ok(ProverSetup {
        g1_vec,
        g2_vec,
        h1: get_g1(reader, "h1")?,
        h2: get_g2(reader, "h2")?,
        ht: ArkGT(get(reader, "ht")?),
    })
}

/// Appends a verifier setup (see [`read_verifier_setup`]).
pub(crate) fn write_verifier_setup(setup: &VerifierSetup<BN254>, out: &mut Vec<u8>) {
    put(out, &(setup.max_log_n as u64));
    for list in [
        &setup.delta_1l,
        &setup.delta_1r,
        &setup.delta_2l,
        &setup.delta_2r,
        &setup.chi,
    ] {
        put(out, &(list.len() as u64));
        list.iter().for_each(|gt| put(out, &gt.0));
    }
    put(out, &setup.g1_0.0.into_affine());
    put(out, &setup.h1.0.into_affine());
    put(out, &setup.g2_0.0.into_affine());
    put(out, &setup.h2.0.into_affine());
    put(out, &setup.ht.0);
}

/// Reads a verifier setup written by [`write_verifier_setup`], without validation.
pub(crate) fn read_verifier_setup(reader: &mut &[u8]) -> Result<VerifierSetup<BN254>, String> {
    let max_log_n = get::<u64>(reader, "size")?;
    if max_log_n > 2 * MAX_SETUP_LOG {
        return Err(format!("size 2^{max_log_n}"));
    }
    let mut lists: Vec<Vec<ArkGT>> = Vec::with_capacity(5);
    for name in ["delta_1l", "delta_1r", "delta_2l", "delta_2r", "chi"] {
        let len = get_len(reader, name, MAX_SETUP_LOG + 1)?;
        lists.push(
            (0..len)
                .map(|_| get(reader, name).map(ArkGT))
                .collect::<Result<_, _>>()?,
        );
    }
    let g1_0 = get_g1(reader, "g1_0")?;
    let h1 = get_g1(reader, "h1")?;
    let g2_0 = get_g2(reader, "g2_0")?;
    let h2 = get_g2(reader, "h2")?;
    let ht = ArkGT(get(reader, "ht")?);
    let mut lists = lists.into_iter();
    let mut next = || lists.next().expect("five lists");
    Ok(VerifierSetup {
        delta_1l: next(),
        delta_1r: next(),
        delta_2l: next(),
        delta_2r: next(),
        chi: next(),
        g1_0,
        g2_0,
        h1,
        h2,
        ht,
        max_log_n: max_log_n as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_serialize::CanonicalSerialize;

    fn hex<T: CanonicalSerialize>(p: &T) -> String {
        let mut bytes = Vec::new();
        p.serialize_compressed(&mut bytes).unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn generators_are_valid_and_distinct() {
        let setup = DorySetup::derive(DEFAULT_SEED, 3).unwrap();
        let g1 = &setup.g1_affine;
        assert_eq!(g1.len(), 8);
        for (i, p) in g1.iter().enumerate() {
            assert!(p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve());
            assert_ne!(
                *p,
                G1Affine::generator(),
                "generator {i} is the group generator"
            );
            for q in &g1[..i] {
                assert_ne!(p, q);
            }
        }
        for p in &setup.prover.g2_vec {
            let a = G2Affine::from(p.0);
            assert!(a.is_on_curve() && a.is_in_correct_subgroup_assuming_on_curve());
            assert!(!a.is_zero());
        }
        // A different seed gives different generators.
        let other = DorySetup::derive(b"another seed", 3).unwrap();
        assert_ne!(other.g1_affine[0], g1[0]);
    }

    /// Pins the derivation: if this changes, every key and proof ever made changes.
    #[test]
    fn first_generators_are_pinned() {
        let g1 = hash_to_g1(b"G1/gamma", DEFAULT_SEED, 0);
        let g2 = hash_to_g2(b"G2/gamma", DEFAULT_SEED, 0);
        let h1 = hash_to_g1(b"G1/h", DEFAULT_SEED, 0);
        let h2 = hash_to_g2(b"G2/h", DEFAULT_SEED, 0);
        let pinned = [hex(&g1), hex(&g2), hex(&h1), hex(&h2)].join("\n");
        assert_eq!(pinned, include_str!("setup_pins.txt").trim_end());
    }

    #[test]
    fn cache_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let a = DorySetup::load_or_derive(DEFAULT_SEED, 2, dir.path()).unwrap();
        let path = dir.path().join(DorySetup::cache_file_name(DEFAULT_SEED, 2));
        assert!(path.exists());
        let b = DorySetup::read_file(&path, DEFAULT_SEED, 2).unwrap();
        assert_eq!(a.g1_affine, b.g1_affine);
        assert_eq!(a.verifier.chi, b.verifier.chi);
        // Wrong size or seed is refused.
        assert!(DorySetup::read_file(&path, DEFAULT_SEED, 3).is_err());
        assert!(DorySetup::read_file(&path, b"other", 2).is_err());
        // A flipped payload byte fails the checksum, and load_or_derive rebuilds.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = DorySetup::read_file(&path, DEFAULT_SEED, 2).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let c = DorySetup::load_or_derive(DEFAULT_SEED, 2, dir.path()).unwrap();
        assert_eq!(c.g1_affine, a.g1_affine);
        assert!(DorySetup::read_file(&path, DEFAULT_SEED, 2).is_ok());
        // Truncation is detected.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(DorySetup::read_file(&path, DEFAULT_SEED, 2).is_err());
    }

    /// Levels re-derived in every test run (2^10 generators: a second or two).
    const TESTED_LEVELS: usize = 10;

    fn digests_of(setup: &DorySetup) -> LevelDigests {
        level_digests(
            &setup.g1_affine,
            &setup.prover,
            &setup.verifier,
            setup.log_generators,
        )
        .unwrap()
    }

    #[test]
    fn pinned_levels_match_the_derivation() {
        let setup = DorySetup::derive(DEFAULT_SEED, TESTED_LEVELS).unwrap();
        let found = digests_of(&setup);
        let pinned = LevelDigests::pinned();
        assert_eq!(found.base, pinned.base);
        assert_eq!(found.gens[..], pinned.gens[..=TESTED_LEVELS]);
        assert_eq!(found.rounds[..], pinned.rounds[..=TESTED_LEVELS]);
        // A smaller setup is a prefix of a larger one, level by level.
        let small = DorySetup::derive(DEFAULT_SEED, 3).unwrap();
        let d = digests_of(&small);
        assert_eq!(d.gens[..], pinned.gens[..=3]);
        assert_eq!(d.rounds[..], pinned.rounds[..=3]);
        check_pinned_verifier_setup(&setup.verifier, TESTED_LEVELS).unwrap();
    }

    /// Re-derives every pinned level (2^20 generators: minutes on 2 cores).
    /// `ZKINFER_WRITE_PINS=1` rewrites `setup_levels.txt` instead of comparing.
    #[test]
    #[ignore = "derives 2^20 generators; run with --ignored after changing the derivation"]
    fn derive_every_pinned_level() {
        let setup = DorySetup::derive(DEFAULT_SEED, MAX_LOG_GENERATORS).unwrap();
        let text = digests_of(&setup).to_text();
        if std::env::var_os("ZKINFER_WRITE_PINS").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pcs/setup_levels.txt");
            std::fs::write(path, text).unwrap();
        } else {
            assert_eq!(text, PINNED_LEVELS);
        }
    }

    /// Rewrites a cached setup file with `edit` applied and a valid checksum,
    /// as someone with write access to the cache could.
    fn forge(path: &Path, edit: impl FnOnce(&mut DorySetup)) {
        let mut setup = DorySetup::read_file(path, DEFAULT_SEED, 2).unwrap();
        edit(&mut setup);
        setup.write_file(path).unwrap();
    }

    #[test]
    fn forged_cached_setups_are_refused() {
        use ark_ff::AdditiveGroup;
        let dir = tempfile::tempdir().unwrap();
        DorySetup::load_or_derive(DEFAULT_SEED, 2, dir.path()).unwrap();
        let path = dir.path().join(DorySetup::cache_file_name(DEFAULT_SEED, 2));
        let pristine = std::fs::read(&path).unwrap();
        type Edit = Box<dyn FnOnce(&mut DorySetup)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "round 2",
                Box::new(|s| s.verifier.chi[2] = ArkGT(s.verifier.chi[2].0.double())),
            ),
            (
                "round 1",
                Box::new(|s| s.verifier.delta_1r[1] = s.verifier.delta_1r[0]),
            ),
            (
                "Δ2L",
                Box::new(|s| s.verifier.delta_2l[1] = s.verifier.chi[2]),
            ),
            (
                "level 2",
                Box::new(|s| {
                    s.prover.g1_vec[3] = ArkG1(s.prover.g1_vec[3].0.double());
                }),
            ),
            (
                "level 1",
                Box::new(|s| {
                    s.prover.g2_vec[1] = ArkG2(s.prover.g2_vec[1].0.double());
                }),
            ),
            ("h1, h2 or hT", {
                Box::new(|s| {
                    s.prover.ht = ArkGT(s.prover.ht.0.double());
                    s.verifier.ht = s.prover.ht;
                })
            }),
        ];
        for (expected, edit) in cases {
            std::fs::write(&path, &pristine).unwrap();
            forge(&path, edit);
            let err = DorySetup::read_file(&path, DEFAULT_SEED, 2).unwrap_err();
            assert!(err.to_string().contains(expected), "{expected}: {err}");
            // load_or_derive replaces the forged file with the real setup.
            let again = DorySetup::load_or_derive(DEFAULT_SEED, 2, dir.path()).unwrap();
            check_pinned_verifier_setup(&again.verifier, 2).unwrap();
            assert!(DorySetup::read_file(&path, DEFAULT_SEED, 2).is_ok());
        }
        // A verifier setup (as a verifying key carries it) is checked alone too.
        let mut setup = DorySetup::derive(DEFAULT_SEED, 2).unwrap();
        setup.verifier.delta_2r[2] = setup.verifier.delta_2r[1];
        let err = check_pinned_verifier_setup(&setup.verifier, 2).unwrap_err();
        assert!(err.contains("round 2"), "{err}");
        let other = DorySetup::derive(b"another seed", 2).unwrap();
        assert!(check_pinned_verifier_setup(&other.verifier, 2).is_err());
    }

    #[test]
    fn oversized_setup_is_an_error() {
        assert!(matches!(
            DorySetup::derive(DEFAULT_SEED, MAX_LOG_GENERATORS + 1),
            Err(PcsError::SetupTooLarge { .. })
        ));
    }
}
