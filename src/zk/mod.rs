//! Zero-knowledge building blocks (issue #16). **Not yet wired into model
//! proofs**: `zkinfer prove` makes transparent proofs, and `--weights committed`
//! is binding but not hiding (see the README). What is here is the layer the
//! `--zk` mode is being built on, tested on its own:
//!
//! - [`pedersen`]: scalar Pedersen commitments on Dory's bases `Γ₁[0]`, `h₁`,
//!   so a committed claim links to dory-pcs's hiding evaluation proof (`y_com`).
//! - [`sigma`]: Σ-proofs of zero and of product on those commitments.
//! - [`sumcheck`]: the sumcheck with committed rounds and a committed final
//!   check, over the same [`crate::sumcheck::RoundProver`] kernels as the clear
//!   one (so op sumchecks and the LogUp-GKR layers can use it unchanged).
//! - [`reduction`]: the opening reduction with committed claims, ending in
//!   hiding Dory openings ([`crate::pcs::hiding`]) linked to the claims.
//! - [`lookup`]: LogUp-GKR with committed roots, layers and leaves (root
//!   denominators shown invertible by a committed inverse).
//!
//! The construction, the argument for why every message is simulatable and what
//! remains (op verifiers over committed values, hiding Dory, private and hashed
//! inputs) are in `docs/zero-knowledge.md`.
//!
//! Challenges come from a [`Challenger`]: the proof's Fiat–Shamir
//! [`ProofTranscript`] in use, or in tests a scripted verifier that fixes the
//! challenges in advance, which is how the simulator is checked on the
//! interactive protocol (programming a hash is not possible).

pub mod lookup;
pub mod pedersen;
pub mod reduction;
pub mod sigma;
pub mod sumcheck;

#[cfg(test)]
mod tests;

use ark_bn254::{Fr, G1Affine};

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer, FR_LEN, G1_LEN, LEN_PREFIX};
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
}

/// Most commitments in one round (the largest sumcheck degree).
pub const MAX_ROUND_COMMITMENTS: usize = crate::encoding::MAX_ROUND_COEFFICIENTS;
/// Most rounds of one zero-knowledge sumcheck.
pub const MAX_ZK_ROUNDS: usize = crate::encoding::MAX_SUMCHECK_ROUNDS;
/// Most committed final values of one sumcheck (MLEs of one expression).
pub const MAX_FINAL_EVALS: usize = 64;
/// Most product proofs of one final check.
pub const MAX_PRODUCTS: usize = 256;

const ZERO_PROOF_LEN: usize = G1_LEN + FR_LEN;
const PRODUCT_PROOF_LEN: usize = 3 * G1_LEN + 5 * FR_LEN;

impl Encode for ZeroProof {
    fn encode(&self, w: &mut Writer) {
        w.write_g1(&self.a);
        w.write_fr(&self.z);
    }
}

impl Decode for ZeroProof {
    const MIN_ENCODED_LEN: usize = ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ZeroProof {
            a: r.read_g1("proof of zero: first message")?,
            z: r.read_fr("proof of zero: response")?,
        })
    }
}

impl Encode for ProductProof {
    fn encode(&self, w: &mut Writer) {
        for p in [&self.alpha, &self.beta, &self.delta] {
            w.write_g1(p);
        }
        for z in &self.z {
            w.write_fr(z);
        }
    }
}

impl Decode for ProductProof {
    const MIN_ENCODED_LEN: usize = PRODUCT_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let alpha = r.read_g1("proof of product: alpha")?;
        let beta = r.read_g1("proof of product: beta")?;
        let delta = r.read_g1("proof of product: delta")?;
        let mut z = [Fr::from(0u64); 5];
        for zi in z.iter_mut() {
            *zi = r.read_fr("proof of product: response")?;
        }
        Ok(ProductProof {
            alpha,
            beta,
            delta,
            z,
        })
    }
}

fn read_points(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<G1Affine>, DecodeError> {
    let len = r.read_count(what, max, G1_LEN)?;
    (0..len).map(|_| r.read_g1(what)).collect()
}

fn write_points(w: &mut Writer, points: &[G1Affine]) {
    w.write_len(points.len());
    for p in points {
        w.write_g1(p);
    }
}

impl Encode for ZkSumcheckProof {
    fn encode(&self, w: &mut Writer) {
        w.write_len(self.rounds.rounds.len());
        for round in &self.rounds.rounds {
            write_points(w, &round.0);
        }
        write_points(w, &self.last.evals);
        w.write_len(self.last.products.len());
        for (c, p) in &self.last.products {
            w.write_g1(c);
            p.encode(w);
        }
        self.last.zero.encode(w);
    }
}

impl Decode for ZkSumcheckProof {
    const MIN_ENCODED_LEN: usize = 3 * LEN_PREFIX + ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.read_count("zk sumcheck round count", MAX_ZK_ROUNDS, LEN_PREFIX)?;
        let mut rounds = Vec::with_capacity(count);
        for _ in 0..count {
            rounds.push(CommittedRound(read_points(
                r,
                "zk sumcheck round commitment",
                MAX_ROUND_COMMITMENTS,
            )?));
        }
        let evals = read_points(r, "zk sumcheck committed value", MAX_FINAL_EVALS)?;
        let count = r.read_count(
            "zk sumcheck product count",
            MAX_PRODUCTS,
            G1_LEN + PRODUCT_PROOF_LEN,
        )?;
        let mut products = Vec::with_capacity(count);
        for _ in 0..count {
            let c = r.read_g1("zk sumcheck product commitment")?;
            products.push((c, ProductProof::decode(r)?));
        }
        let zero = ZeroProof::decode(r)?;
        Ok(ZkSumcheckProof {
            rounds: ZkRounds { rounds },
            last: FinalProof {
                evals,
                products,
                zero,
            },
        })
    }
}
