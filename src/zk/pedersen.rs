//! Pedersen commitments to single scalars, on the bases Dory's hiding mode uses.
//!
//! `Com(v; b) = v·g + b·h` with `g = Γ₁[0]` and `h = h₁` of zkinfer's Dory setup
//! (both hashed to the curve from the public seed, so nobody knows `log_g h`).
//! dory-pcs's zero-knowledge evaluation proof commits its claimed evaluation as
//! `y·Γ₁[0] + r_y·h₁`, so a committed claim left by a masked sumcheck and Dory's
//! `y_com` live on the same bases and are linked by one [`super::sigma::ZeroProof`].
//!
//! The commitment is perfectly hiding (for uniform `b` it is a uniform group
//! element whatever `v` is) and computationally binding (under discrete log in
//! BN254's G1). It is additively homomorphic, which is what lets the verifier
//! derive every linear consequence of committed values itself ([`Opening`]
//! mirrors that arithmetic on the prover's side).

use std::ops::{Add, Mul, Neg, Sub};
use std::sync::OnceLock;

use ark_bn254::{g1::Config as G1Config, Fr, G1Affine, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::Zero;
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::backend::FixedBases;
use crate::pcs::setup::{hash_to_g1, DEFAULT_SEED};

/// The two bases of a scalar Pedersen commitment, with fixed-base tables
/// (GLV + wNAF, [`FixedBases`]) for the prover's many commitments.
pub struct PedersenGens {
    /// The value's base, `Γ₁[0]` of the Dory setup.
    pub g: G1Affine,
    /// The blinding base, `h₁` of the Dory setup.
    pub h: G1Affine,
    table: FixedBases<G1Config>,
}

impl std::fmt::Debug for PedersenGens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PedersenGens")
            .field("g", &self.g)
            .field("h", &self.h)
            .finish_non_exhaustive()
    }
}

impl PedersenGens {
    /// Bases `g`, `h` (their discrete-log relation must be unknown).
    pub fn new(g: G1Affine, h: G1Affine) -> Self {
        PedersenGens {
            g,
            h,
            table: FixedBases::new(&[g, h]),
        }
    }

    /// The bases of zkinfer's public Dory setup (derived once per process).
    pub fn dory() -> &'static PedersenGens {
        static GENS: OnceLock<PedersenGens> = OnceLock::new();
        GENS.get_or_init(|| {
            PedersenGens::new(
                hash_to_g1(b"G1/gamma", DEFAULT_SEED, 0),
                hash_to_g1(b"G1/h", DEFAULT_SEED, 0),
            )
        })
    }

    /// `value·g + blind·h`.
    pub fn commit(&self, value: Fr, blind: Fr) -> G1Projective {
        self.table.msm(&[value, blind])
    }

    /// The commitment of an [`Opening`].
    pub fn commit_opening(&self, opening: Opening) -> G1Projective {
        self.commit(opening.value, opening.blind)
    }

    /// `value·g` with blind zero: a public constant as a commitment.
    pub fn constant(&self, value: Fr) -> G1Projective {
        self.g * value
    }
}

/// What the prover knows of a commitment: the value and its blind.
/// Linear combinations of openings open the same combinations of commitments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub value: Fr,
    pub blind: Fr,
}

impl Opening {
    /// An opening with blind `blind`.
    pub fn new(value: Fr, blind: Fr) -> Self {
        Opening { value, blind }
    }

    /// A public constant: blind zero.
    pub fn constant(value: Fr) -> Self {
        Opening {
            value,
            blind: Fr::zero(),
        }
    }

    /// Zero with blind zero.
    pub fn zero() -> Self {
        Self::constant(Fr::zero())
    }
}

impl Add for Opening {
    type Output = Opening;
    fn add(self, o: Opening) -> Opening {
        Opening::new(self.value + o.value, self.blind + o.blind)
    }
}

impl Sub for Opening {
    type Output = Opening;
    fn sub(self, o: Opening) -> Opening {
        Opening::new(self.value - o.value, self.blind - o.blind)
    }
}

impl Neg for Opening {
    type Output = Opening;
    fn neg(self) -> Opening {
        Opening::new(-self.value, -self.blind)
    }
}

impl Mul<Fr> for Opening {
    type Output = Opening;
    fn mul(self, k: Fr) -> Opening {
        Opening::new(self.value * k, self.blind * k)
    }
}

/// Where the prover's blinds and Σ-protocol nonces come from. Every one must be
/// uniform and secret for the proof to hide anything; [`OsBlinds`] is the only
/// source a prover should use. Tests substitute a seeded or an all-zero source
/// (the latter to show that the statistical tests notice when masking is off).
pub trait BlindSource {
    /// A fresh blind.
    fn blind(&mut self) -> Fr;
}

/// Blinds from ChaCha20 seeded by the operating system.
pub struct OsBlinds(ChaCha20Rng);

impl OsBlinds {
    /// Seeds from the OS (`getrandom`); errors if the OS has no randomness.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)?;
        Ok(OsBlinds(ChaCha20Rng::from_seed(seed)))
    }
}

impl std::fmt::Debug for OsBlinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OsBlinds")
    }
}

impl BlindSource for OsBlinds {
    fn blind(&mut self) -> Fr {
        Fr::rand(&mut self.0)
    }
}

/// Blinds from a seeded ChaCha20: reproducible, for tests only.
pub struct SeededBlinds(pub ChaCha20Rng);

impl SeededBlinds {
    pub fn new(seed: u64) -> Self {
        SeededBlinds(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl BlindSource for SeededBlinds {
    fn blind(&mut self) -> Fr {
        Fr::rand(&mut self.0)
    }
}

/// Commits `openings` and returns the affine points (one batch normalisation).
pub fn commit_all(gens: &PedersenGens, openings: &[Opening]) -> Vec<G1Affine> {
    let points: Vec<G1Projective> = openings.iter().map(|o| gens.commit_opening(*o)).collect();
    G1Projective::normalize_batch(&points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::Field;

    #[test]
    fn commitments_are_homomorphic_and_bases_are_dorys() {
        let gens = PedersenGens::dory();
        assert_ne!(gens.g, gens.h);
        let a = Opening::new(Fr::from(5u64), Fr::from(11u64));
        let b = Opening::new(Fr::from(7u64), Fr::from(13u64));
        let k = Fr::from(3u64);
        let lhs = gens.commit_opening(a * k - b);
        let rhs = gens.commit_opening(a) * k - gens.commit_opening(b);
        assert_eq!(lhs.into_affine(), rhs.into_affine());
        // The fixed-base tables agree with plain scalar multiplication.
        let (v, r) = (
            Fr::from(123456789u64) * k.inverse().unwrap(),
            -Fr::from(99u64),
        );
        assert_eq!(
            gens.commit(v, r).into_affine(),
            (gens.g * v + gens.h * r).into_affine()
        );
        // The same points Dory's setup derives for Γ₁[0] and h₁.
        let setup = crate::pcs::setup::DorySetup::derive(DEFAULT_SEED, 1).unwrap();
        assert_eq!(setup.prover.g1_vec[0].0.into_affine(), gens.g);
        assert_eq!(setup.prover.h1.0.into_affine(), gens.h);
    }
}
