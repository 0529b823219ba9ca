//! Σ-protocols on Pedersen commitments ([`super::pedersen`]), made
//! non-interactive through the [`Challenger`]:
//!
//! - [`ZeroProof`]: `C` commits to zero, i.e. `C = b·h` for a known `b`
//!   (Schnorr on base `h`). Every linear relation among committed values is
//!   checked this way: the verifier forms the combination homomorphically and
//!   the prover shows it opens to zero.
//! - [`ProductProof`]: `Z` commits to the product of the values in `X` and `Y`
//!   (Wahby et al., Hyrax, Appendix A, "proof of product").
//!
//! Both are special honest-verifier zero-knowledge: given the challenge, choosing
//! the responses uniformly and solving the verification equations for the first
//! messages gives exactly the distribution of real proofs
//! ([`ZeroProof::simulate`], [`ProductProof::simulate`]). Both have special
//! soundness: two accepting transcripts with one first message and different
//! challenges yield the witness, so a false statement passes with probability
//! about `1/|Fr|` per proof.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{UniformRand, Zero};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::pedersen::{BlindSource, Opening, PedersenGens};
use super::Challenger;

/// Why a Σ-proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigmaError {
    #[error("proof of zero failed: the combination does not open to zero")]
    NotZero,
    #[error("proof of product failed: {0}")]
    Product(&'static str),
}

/// Proof that a commitment opens to zero: `A = k·h`, `z = k + e·b`,
/// checked as `z·h = A + e·C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroProof {
    pub a: G1Affine,
    pub z: Fr,
}

impl ZeroProof {
    /// Proves that `commitment = gens.commit(0, opening.blind)`. The caller
    /// must hold an opening of value zero (checked: a nonzero value is a bug in
    /// the caller, and the proof would be rejected anyway).
    pub fn prove(
        ch: &mut impl Challenger,
        gens: &PedersenGens,
        commitment: &G1Affine,
        opening: Opening,
        blinds: &mut dyn BlindSource,
    ) -> ZeroProof {
        debug_assert!(ark_ff::Zero::is_zero(&opening.value));
        let k = blinds.blind();
        let a = (gens.h * k).into_affine();
        let e = Self::challenge(ch, commitment, &a);
        ZeroProof {
            a,
            z: k + e * opening.blind,
        }
    }

    /// Checks the proof for `commitment`: `z·h − A − e·C = 0`.
    pub fn verify(
        &self,
        ch: &mut impl Challenger,
        gens: &PedersenGens,
        commitment: &G1Affine,
    ) -> Result<(), SigmaError> {
        let e = Self::challenge(ch, commitment, &self.a);
        ch.check_equation(
            vec![
                (self.z, gens.h),
                (-Fr::from(1u64), self.a),
                (-e, *commitment),
            ],
            SigmaError::NotZero,
        )
    }

    /// The proof an HVZK simulator outputs for challenge `e` without any witness.
    pub fn simulate(
        gens: &PedersenGens,
        commitment: &G1Affine,
        e: Fr,
        blinds: &mut dyn BlindSource,
    ) -> ZeroProof {
        let z = blinds.blind();
        let a = (gens.h * z - *commitment * e).into_affine();
        ZeroProof { a, z }
    }

    fn challenge(ch: &mut impl Challenger, commitment: &G1Affine, a: &G1Affine) -> Fr {
        ch.absorb_point(b"zk/zero/statement", commitment);
        ch.absorb_point(b"zk/zero/a", a);
        ch.challenge(b"zk/zero/challenge")
    }
}

/// Proof that `Z` commits to `x·y` where `X` commits to `x` and `Y` to `y`:
///
/// ```text
/// α = Com(b1; b2)   β = Com(b3; b4)   δ = b1·Y + b5·h        (first messages)
/// c                                                           (challenge)
/// z1 = b1 + c·x   z2 = b2 + c·r_x   z3 = b3 + c·y   z4 = b4 + c·r_y
/// z5 = b5 + c·(r_z − x·r_y)
/// check: α + c·X = Com(z1; z2),  β + c·Y = Com(z3; z4),  δ + c·Z = z1·Y + z5·h
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductProof {
    pub alpha: G1Affine,
    pub beta: G1Affine,
    pub delta: G1Affine,
    pub z: [Fr; 5],
}

impl ProductProof {
    /// Proves `z = x·y` for the three openings (committed as `xc`, `yc`, `zc`).
    pub fn prove(
        ch: &mut impl Challenger,
        gens: &PedersenGens,
        statement: [&G1Affine; 3],
        openings: [Opening; 3],
        blinds: &mut dyn BlindSource,
    ) -> ProductProof {
        let [x, y, z] = openings;
        debug_assert_eq!(x.value * y.value, z.value);
        let b: [Fr; 5] = std::array::from_fn(|_| blinds.blind());
        let firsts = G1Projective::normalize_batch(&[
            gens.commit(b[0], b[1]),
            gens.commit(b[2], b[3]),
            *statement[1] * b[0] + gens.h * b[4],
        ]);
        let (alpha, beta, delta) = (firsts[0], firsts[1], firsts[2]);
        let c = Self::challenge(ch, statement, [&alpha, &beta, &delta]);
        ProductProof {
            alpha,
            beta,
            delta,
            z: [
                b[0] + c * x.value,
                b[1] + c * x.blind,
                b[2] + c * y.value,
                b[3] + c * y.blind,
                b[4] + c * (z.blind - x.value * y.blind),
            ],
        }
    }

    /// Checks the proof for `[X, Y, Z]`.
    pub fn verify(
        &self,
        ch: &mut impl Challenger,
        gens: &PedersenGens,
        statement: [&G1Affine; 3],
    ) -> Result<(), SigmaError> {
        let c = Self::challenge(ch, statement, [&self.alpha, &self.beta, &self.delta]);
        let [xc, yc, zc] = statement;
        let z = &self.z;
        let one = Fr::from(1u64);
        // α + c·X = Com(z0; z1), β + c·Y = Com(z2; z3), δ + c·Z = z0·Y + z4·h.
        ch.check_equation(
            vec![
                (one, self.alpha),
                (c, *xc),
                (-z[0], gens.g),
                (-z[1], gens.h),
            ],
            SigmaError::Product("the first factor's opening"),
        )?;
        ch.check_equation(
            vec![(one, self.beta), (c, *yc), (-z[2], gens.g), (-z[3], gens.h)],
            SigmaError::Product("the second factor's opening"),
        )?;
        ch.check_equation(
            vec![(one, self.delta), (c, *zc), (-z[0], *yc), (-z[4], gens.h)],
            SigmaError::Product("the product relation"),
        )
    }

    /// The proof an HVZK simulator outputs for challenge `c` without any witness.
    pub fn simulate(
        gens: &PedersenGens,
        statement: [&G1Affine; 3],
        c: Fr,
        blinds: &mut dyn BlindSource,
    ) -> ProductProof {
        let z: [Fr; 5] = std::array::from_fn(|_| blinds.blind());
        let [xc, yc, zc] = statement;
        let firsts = G1Projective::normalize_batch(&[
            gens.commit(z[0], z[1]) - *xc * c,
            gens.commit(z[2], z[3]) - *yc * c,
            *yc * z[0] + gens.h * z[4] - *zc * c,
        ]);
        ProductProof {
            alpha: firsts[0],
            beta: firsts[1],
            delta: firsts[2],
            z,
        }
    }

    fn challenge(
        ch: &mut impl Challenger,
        statement: [&G1Affine; 3],
        firsts: [&G1Affine; 3],
    ) -> Fr {
        for p in statement {
            ch.absorb_point(b"zk/product/statement", p);
        }
        for p in firsts {
            ch.absorb_point(b"zk/product/first", p);
        }
        ch.challenge(b"zk/product/challenge")
    }
}

/// Checks `Σ s_i·P_i = 0` now.
pub(crate) fn check_now(terms: &[(Fr, G1Affine)], failure: SigmaError) -> Result<(), SigmaError> {
    let (scalars, bases): (Vec<Fr>, Vec<G1Affine>) = terms.iter().copied().unzip();
    if G1Projective::msm_unchecked(&bases, &scalars).is_zero() {
        Ok(())
    } else {
        Err(failure)
    }
}

/// Σ-proof verification equations `Σ s_i·P_i = 0` checked together: each is
/// multiplied by its own uniform weight, drawn by the verifier from the
/// operating system after the proof is fixed, and all go into one
/// multi-scalar multiplication. If any equation fails, the weighted sum is
/// zero with probability at most `1/|Fr|`, so batching keeps soundness; it
/// turns several scalar multiplications per Σ-proof into a share of one MSM.
/// On failure each equation is checked alone, to name the first that fails.
#[derive(Clone)]
pub struct SigmaBatch {
    equations: Vec<(Vec<(Fr, G1Affine)>, SigmaError)>,
    rng: ChaCha20Rng,
}

impl std::fmt::Debug for SigmaBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigmaBatch({} equations)", self.equations.len())
    }
}

impl SigmaBatch {
    /// An empty batch with weights seeded from the OS (they must not be
    /// predictable to a prover); `None` if the OS has no randomness, and the
    /// verifier then checks each equation at once.
    pub fn new() -> Option<Self> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).ok()?;
        Some(SigmaBatch {
            equations: Vec::new(),
            rng: ChaCha20Rng::from_seed(seed),
        })
    }

    /// Adds an equation.
    pub fn push(&mut self, terms: Vec<(Fr, G1Affine)>, failure: SigmaError) {
        self.equations.push((terms, failure));
    }

    /// Checks every equation (one MSM), naming the first failing one.
    pub fn check(mut self) -> Result<(), SigmaError> {
        let size = self.equations.iter().map(|(t, _)| t.len()).sum();
        let mut bases = Vec::with_capacity(size);
        let mut scalars = Vec::with_capacity(size);
        for (terms, _) in &self.equations {
            let weight = Fr::rand(&mut self.rng);
            for (s, p) in terms {
                scalars.push(*s * weight);
                bases.push(*p);
            }
        }
        if G1Projective::msm_unchecked(&bases, &scalars).is_zero() {
            return Ok(());
        }
        for (terms, failure) in self.equations {
            check_now(&terms, failure)?;
        }
        // Unreachable unless the weights cancelled a failure (probability
        // 1/|Fr|); reject all the same.
        Err(SigmaError::NotZero)
    }
}
