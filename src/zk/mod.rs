//! Zero knowledge (issue #16): `--zk`, i.e. keys with hidden weights
//! ([`crate::proof::WeightVisibility::Hidden`]), and the protocol layer it
//! runs on:
//!
//! - [`model`]: the zero-knowledge model prover and verifier, and
//!   [`model::AnyProof`] for callers that read either kind of proof file;
//! - [`ops`]: what an op sends and checks in zero knowledge
//!   ([`ops::ZkOpProtocol`]; MatMul, Add, Sub, Mul, ReLU and the activation
//!   tables have one, other ops make `--zk` refuse the model);
//! - [`pedersen`]: scalar Pedersen commitments on Dory's bases `Γ₁[0]`, `h₁`,
//!   so a committed claim links to dory-pcs's hiding evaluation proof (`y_com`);
//! - [`sigma`]: Σ-proofs of zero and of product on those commitments;
//! - [`sumcheck`]: the sumcheck with committed rounds and a committed final
//!   check, over the same [`crate::sumcheck::RoundProver`] kernels as the clear
//!   one (so op sumchecks and the LogUp-GKR layers can use it unchanged);
//! - [`reduction`]: the opening reduction with committed claims, ending in
//!   hiding Dory openings ([`crate::pcs::hiding`]) linked to the claims;
//! - [`lookup`]: LogUp-GKR with committed roots, layers and leaves (root
//!   denominators shown invertible by a committed inverse).
//!
//! The construction, the argument for why every message is simulatable and
//! what remains (more ops, private and hashed inputs, the service, cost) are
//! in `docs/zero-knowledge.md`.
//!
//! Challenges come from a [`Challenger`]: the proof's Fiat–Shamir
//! [`ProofTranscript`] in use, or in tests a scripted verifier that fixes the
//! challenges in advance, which is how the simulator is checked on the
//! interactive protocol (programming a hash is not possible).

pub mod encode;
pub mod lookup;
pub mod model;
pub mod ops;
pub mod pedersen;
pub mod reduction;
pub mod sigma;
pub mod sumcheck;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use ark_bn254::{Fr, G1Affine};

use crate::transcript::ProofTranscript;
pub use pedersen::{BlindSource, Opening, OsBlinds, PedersenGens};
pub use sigma::{ProductProof, SigmaError, ZeroProof};
pub use sumcheck::{CommittedRound, FinalProof, ZkRounds, ZkSumcheckError, ZkSumcheckProof};

/// The verifier's side of the interaction: absorbs the prover's messages and
/// answers with challenges.
pub trait Challenger {
    fn absorb_point(&mut self, label: &'static [u8], point: &G1Affine);
    fn absorb_points(&mut self, label: &'static [u8], points: &[G1Affine]);
    fn absorb_u64(&mut self, label: &'static [u8], value: u64);
    fn challenge(&mut self, label: &'static [u8]) -> Fr;

    /// Checks a Σ-proof's verification equation `Σ s_i·P_i = 0`, failing with
    /// `failure`: at once, or, for a verifier that batches its checks
    /// ([`sigma::SigmaBatch`]), when the batch is checked.
    fn check_equation(
        &mut self,
        terms: Vec<(Fr, G1Affine)>,
        failure: SigmaError,
    ) -> Result<(), SigmaError> {
        sigma::check_now(&terms, failure)
    }
}

impl Challenger for ProofTranscript {
    fn absorb_point(&mut self, label: &'static [u8], point: &G1Affine) {
        self.append_point(label, point);
    }

    fn absorb_points(&mut self, label: &'static [u8], points: &[G1Affine]) {
        self.append_u64(label, points.len() as u64);
        for p in points {
            self.append_point(label, p);
        }
    }

    fn absorb_u64(&mut self, label: &'static [u8], value: u64) {
        self.append_u64(label, value);
    }

    fn challenge(&mut self, label: &'static [u8]) -> Fr {
        ProofTranscript::challenge(self, label)
    }

    fn check_equation(
        &mut self,
        terms: Vec<(Fr, G1Affine)>,
        failure: SigmaError,
    ) -> Result<(), SigmaError> {
        match &mut self.sigma_batch {
            Some(batch) => {
                batch.push(terms, failure);
                Ok(())
            }
            None => sigma::check_now(&terms, failure),
        }
    }
}

impl ProofTranscript {
    /// From now on, Σ-proof equations are collected rather than checked
    /// ([`sigma::SigmaBatch`]); [`ProofTranscript::finish_sigma_checks`] must
    /// run before the verifier accepts.
    pub fn defer_sigma_checks(&mut self) {
        self.sigma_batch = sigma::SigmaBatch::new();
    }

    /// Checks every collected Σ-proof equation at once; on failure names the
    /// first one that fails.
    pub fn finish_sigma_checks(&mut self) -> Result<(), SigmaError> {
        match self.sigma_batch.take() {
            Some(batch) => batch.check(),
            None => Ok(()),
        }
    }
}
