//! Zero-knowledge op proofs: what an op sends and leaves when the model proof
//! is zero-knowledge (`--zk`), and the helpers its prover and verifier share.
//!
//! An op that supports zero knowledge implements [`ZkOpProtocol`] next to its
//! [`crate::ops::OpProtocol`], in its own file. It proves the same relation
//! at the same random point as its transparent proof, with three changes:
//! - every value the transparent proof sends is sent as a Pedersen commitment
//!   with a fresh blind ([`ZkProver::send`]);
//! - its sumchecks are [`crate::zk::sumcheck`]'s, with committed rounds and a
//!   committed final check over the same kernels;
//! - its claims carry commitments (verifier) or openings (prover).
//!
//! The verifier's arithmetic on sent values is affine in every op that has a
//! zero-knowledge proof (the rescale identity, broadcast masks, the bias
//! term): [`affine`] turns the transparent proof's own function of the values
//! into coefficients, which apply to openings and to commitments alike, so
//! that arithmetic is written once, in the op's transparent code.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{One, Zero};

use super::pedersen::{commit_all, BlindSource, Opening, PedersenGens};
use super::sumcheck::{ZkSumcheckError, ZkSumcheckProof};
use super::Challenger;
use crate::layout::SlotClaim;
use crate::model::Model;
use crate::ops::{OpError, ProverContext, PublicInput};
use crate::transcript::ProofTranscript;

/// A claim with a committed value (the verifier's view).
pub type CommittedSlotClaim = SlotClaim<G1Affine>;
/// A claim with an opened value (the prover's view).
pub type OpenedSlotClaim = SlotClaim<super::Opening>;

/// An op's zero-knowledge message: commitments in place of the transparent
/// message's values (in the same order, less those the committed sumchecks
/// carry), and the committed sumchecks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZkOpMessage {
    pub values: Vec<G1Affine>,
    pub sumchecks: Vec<ZkSumcheckProof>,
}

impl ZkOpMessage {
    /// Checks the message's shape before the verifier indexes it.
    pub fn expect(&self, values: usize, sumchecks: usize) -> Result<(), OpError> {
        if self.values.len() != values || self.sumchecks.len() != sumchecks {
            return Err(OpError::Message(format!(
                "{} commitments and {} sumchecks, {values} and {sumchecks} expected",
                self.values.len(),
                self.sumchecks.len()
            )));
        }
        Ok(())
    }
}

impl From<ZkSumcheckError> for OpError {
    fn from(e: ZkSumcheckError) -> Self {
        match e {
            ZkSumcheckError::Sumcheck(e) => OpError::Sumcheck(e),
            other => OpError::Zk(other.to_string()),
        }
    }
}

/// The prover's side of zero knowledge: the Pedersen bases and the source of
/// blinds.
pub struct ZkProver<'a> {
    pub gens: &'static PedersenGens,
    pub blinds: &'a mut dyn BlindSource,
}

impl ZkProver<'_> {
    /// Commits each value with a fresh blind and absorbs the commitments under
    /// `label`; returns the openings and the commitments.
    pub fn send(
        &mut self,
        t: &mut ProofTranscript,
        label: &'static [u8],
        values: &[Fr],
    ) -> (Vec<Opening>, Vec<G1Affine>) {
        let openings: Vec<Opening> = values
            .iter()
            .map(|&v| Opening::new(v, self.blinds.blind()))
            .collect();
        let commitments = commit_all(self.gens, &openings);
        t.absorb_points(label, &commitments);
        (openings, commitments)
    }
}

/// An affine map `v ↦ Σ_i coefficients[i]·v_i + constant`.
#[derive(Debug, Clone)]
pub struct Affine {
    pub coefficients: Vec<Fr>,
    pub constant: Fr,
}

/// The coefficients of `f`, which must be affine in its `n` arguments (it is
/// evaluated at 0 and at each unit vector; a check at the all-ones vector
/// catches a function that is not affine in debug builds).
pub fn affine(n: usize, f: impl Fn(&[Fr]) -> Fr) -> Affine {
    let mut v = vec![Fr::zero(); n];
    let constant = f(&v);
    let coefficients = (0..n)
        .map(|i| {
            v[i] = Fr::one();
            let c = f(&v) - constant;
            v[i] = Fr::zero();
            c
        })
        .collect::<Vec<_>>();
    debug_assert_eq!(
        f(&vec![Fr::one(); n]),
        constant + coefficients.iter().sum::<Fr>(),
        "the op's function of its sent values is affine"
    );
    Affine {
        coefficients,
        constant,
    }
}

impl Affine {
    /// The map applied to openings.
    pub fn open(&self, openings: &[Opening]) -> Opening {
        debug_assert_eq!(openings.len(), self.coefficients.len());
        self.coefficients
            .iter()
            .zip(openings)
            .fold(Opening::constant(self.constant), |acc, (c, o)| {
                acc + *o * *c
            })
    }

    /// The map applied to commitments (blinds follow [`Affine::open`]).
    pub fn commit(&self, gens: &PedersenGens, commitments: &[G1Affine]) -> G1Affine {
        debug_assert_eq!(commitments.len(), self.coefficients.len());
        let mut bases = Vec::with_capacity(commitments.len() + 1);
        bases.push(gens.g);
        bases.extend_from_slice(commitments);
        let mut scalars = Vec::with_capacity(bases.len());
        scalars.push(self.constant);
        scalars.extend_from_slice(&self.coefficients);
        G1Projective::msm_unchecked(&bases, &scalars).into_affine()
    }
}

/// An op's zero-knowledge proof (see the module docs). Ops without one make a
/// model refuse `--zk` at preprocessing, naming the op.
pub trait ZkOpProtocol: Send + Sync {
    /// Proves node `n` with committed values, appending the opened claims it
    /// leaves.
    fn prove_zk(
        &self,
        ctx: &ProverContext<'_>,
        zk: &mut ZkProver<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError>;

    /// Verifies node `n`'s zero-knowledge message, appending the committed
    /// claims it leaves.
    fn verify_zk(
        &self,
        model: &Model,
        public: PublicInput<'_>,
        n: usize,
        message: &ZkOpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<CommittedSlotClaim>,
    ) -> Result<(), OpError>;
}

/// A zero-knowledge op with nothing to send: its relation is proved entirely
/// by the lookup its claims feed (the activation tables).
pub struct NothingToSend;

impl ZkOpProtocol for NothingToSend {
    fn prove_zk(
        &self,
        _: &ProverContext<'_>,
        _: &mut ZkProver<'_>,
        _: usize,
        _: &mut ProofTranscript,
        _: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError> {
        Ok(ZkOpMessage::default())
    }

    fn verify_zk(
        &self,
        _: &Model,
        _: PublicInput<'_>,
        _: usize,
        message: &ZkOpMessage,
        _: &mut ProofTranscript,
        _: &mut Vec<CommittedSlotClaim>,
    ) -> Result<(), OpError> {
        message.expect(0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_maps_apply_alike_to_openings_and_commitments() {
        let gens = PedersenGens::dory();
        let f = |v: &[Fr]| Fr::from(3u64) * v[0] - Fr::from(5u64) * v[1] + Fr::from(7u64);
        let map = affine(2, f);
        assert_eq!(map.coefficients, vec![Fr::from(3u64), -Fr::from(5u64)]);
        assert_eq!(map.constant, Fr::from(7u64));
        let openings = [
            Opening::new(Fr::from(11u64), Fr::from(13u64)),
            Opening::new(Fr::from(17u64), Fr::from(19u64)),
        ];
        let opened = map.open(&openings);
        assert_eq!(opened.value, f(&[openings[0].value, openings[1].value]));
        let commitments = commit_all(gens, &openings);
        assert_eq!(
            map.commit(gens, &commitments),
            gens.commit_opening(opened).into_affine()
        );
    }
}
