//! The Fiat–Shamir transcript: one hash chain for a whole proof, shared with Dory.
//!
//! [`ProofTranscript`] implements `dory_pcs`'s `Transcript`, so Dory's own messages
//! join the same chain as every sumcheck round, lookup message and commitment.
//! Every append is labelled and length-prefixed; a challenge is derived from
//! everything appended before it and is then appended itself, so two challenges in
//! a row differ. The chain starts from a domain separator naming the protocol and
//! its version, so transcripts of different protocols or versions never collide.
//!
//! Rule for protocol code: append every message (and every public value it depends
//! on) before drawing the challenge that depends on it.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_serialize::CanonicalSerialize;
use blake2::{Blake2b512, Digest};
use dory_pcs::backends::arkworks::{ArkFr, BN254};
use dory_pcs::primitives::arithmetic::{Group, PairingCurve};
use dory_pcs::primitives::serialization::{Compress, DorySerialize};
use dory_pcs::primitives::transcript::Transcript;

/// Version of the transcript format; part of the domain separator.
pub const TRANSCRIPT_VERSION: u64 = 1;

/// Blake2b-512 Fiat–Shamir transcript over BN254.
#[derive(Clone)]
pub struct ProofTranscript {
    hasher: Blake2b512,
    /// A zero-knowledge verifier's Σ-proof equations, when it checks them all
    /// at once ([`crate::zk::sigma::SigmaBatch`]); not part of the hash.
    pub(crate) sigma_batch: Option<crate::zk::sigma::SigmaBatch>,
}

impl std::fmt::Debug for ProofTranscript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofTranscript").finish_non_exhaustive()
    }
}

impl ProofTranscript {
    /// A transcript for protocol `label` (e.g. `b"zkinfer/model-proof"`).
    pub fn new(label: &[u8]) -> Self {
        let mut t = ProofTranscript {
            hasher: Blake2b512::new(),
            sigma_batch: None,
        };
        t.start(label);
        t
    }

    fn start(&mut self, label: &[u8]) {
        self.hasher = Blake2b512::new();
        self.absorb(b"zkinfer/transcript", label);
        self.absorb(b"version", &TRANSCRIPT_VERSION.to_le_bytes());
    }

    fn absorb(&mut self, label: &[u8], bytes: &[u8]) {
        self.hasher.update((label.len() as u64).to_le_bytes());
        self.hasher.update(label);
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// Appends raw bytes.
    pub fn append_message(&mut self, label: &[u8], bytes: &[u8]) {
        self.absorb(label, bytes);
    }

    /// Appends a u64.
    pub fn append_u64(&mut self, label: &[u8], value: u64) {
        self.absorb(label, &value.to_le_bytes());
    }

    /// Appends a field element (canonical little-endian bytes).
    pub fn append_scalar(&mut self, label: &[u8], x: &Fr) {
        self.absorb(label, &x.into_bigint().to_bytes_le());
    }

    /// Appends field elements, with their count.
    pub fn append_scalars(&mut self, label: &[u8], xs: &[Fr]) {
        let mut bytes = Vec::with_capacity(8 + 32 * xs.len());
        bytes.extend_from_slice(&(xs.len() as u64).to_le_bytes());
        for x in xs {
            bytes.extend_from_slice(&x.into_bigint().to_bytes_le());
        }
        self.absorb(label, &bytes);
    }

    /// Appends anything arkworks can serialize (group elements, compressed).
    pub fn append_point<P: CanonicalSerialize>(&mut self, label: &[u8], p: &P) {
        let mut bytes = Vec::with_capacity(p.compressed_size());
        p.serialize_compressed(&mut bytes)
            .expect("serializing into a Vec cannot fail");
        self.absorb(label, &bytes);
    }

    /// A challenge derived from everything appended so far; never zero.
    pub fn challenge(&mut self, label: &[u8]) -> Fr {
        self.absorb(b"challenge", label);
        loop {
            let digest = self.hasher.clone().finalize();
            // 512 bits reduced mod r: statistically uniform.
            let x = Fr::from_le_bytes_mod_order(&digest);
            self.absorb(b"challenge-output", &digest);
            if !x.is_zero() {
                return x;
            }
        }
    }

    /// `n` challenges.
    pub fn challenges(&mut self, label: &[u8], n: usize) -> Vec<Fr> {
        (0..n).map(|_| self.challenge(label)).collect()
    }
}

impl Transcript for ProofTranscript {
    type Curve = BN254;

    fn append_bytes(&mut self, label: &[u8], bytes: &[u8]) {
        self.absorb(label, bytes);
    }

    fn append_field(&mut self, label: &[u8], x: &<<BN254 as PairingCurve>::G1 as Group>::Scalar) {
        self.append_scalar(label, &x.0);
    }

    fn append_group<G: Group>(&mut self, label: &[u8], g: &G) {
        self.append_serde(label, g);
    }

    fn append_serde<S: DorySerialize>(&mut self, label: &[u8], s: &S) {
        let mut bytes = Vec::new();
        s.serialize_with_mode(&mut bytes, Compress::Yes)
            .expect("serializing into a Vec cannot fail");
        self.absorb(label, &bytes);
    }

    fn challenge_scalar(&mut self, label: &[u8]) -> ArkFr {
        ArkFr(self.challenge(label))
    }

    fn reset(&mut self, domain_label: &[u8]) {
        self.start(domain_label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::G1Projective;
    use ark_ec::PrimeGroup;

    fn base() -> ProofTranscript {
        let mut t = ProofTranscript::new(b"test");
        t.append_u64(b"n", 7);
        t.append_scalar(b"x", &Fr::from(5u64));
        t.append_point(b"g", &G1Projective::generator());
        t.append_message(b"m", b"hello");
        t
    }

    #[test]
    fn same_messages_same_challenges() {
        assert_eq!(base().challenge(b"c"), base().challenge(b"c"));
    }

    #[test]
    fn any_earlier_change_changes_the_challenge() {
        let reference = base().challenge(b"c");
        let variants: Vec<ProofTranscript> = vec![
            ProofTranscript::new(b"other protocol"),
            {
                let mut t = ProofTranscript::new(b"test");
                t.append_u64(b"n", 8);
                t
            },
            {
                let mut t = base();
                t.append_scalar(b"x", &Fr::from(0u64));
                t
            },
            {
                let mut t = base();
                t.append_message(b"m", b"");
                t
            },
        ];
        for mut t in variants {
            assert_ne!(t.challenge(b"c"), reference);
        }
        // Labels count, and a different challenge label gives another challenge.
        let mut relabelled = ProofTranscript::new(b"test");
        relabelled.append_u64(b"N", 7);
        relabelled.append_scalar(b"x", &Fr::from(5u64));
        relabelled.append_point(b"g", &G1Projective::generator());
        relabelled.append_message(b"m", b"hello");
        assert_ne!(relabelled.challenge(b"c"), reference);
        assert_ne!(base().challenge(b"d"), reference);
        // Length prefixes keep ("ab","c") apart from ("a","bc").
        let mut a = ProofTranscript::new(b"t");
        a.append_message(b"ab", b"c");
        let mut b = ProofTranscript::new(b"t");
        b.append_message(b"a", b"bc");
        assert_ne!(a.challenge(b"c"), b.challenge(b"c"));
    }

    #[test]
    fn consecutive_challenges_differ() {
        let mut t = base();
        let a = t.challenge(b"c");
        let b = t.challenge(b"c");
        assert_ne!(a, b);
        assert_eq!(t.challenges(b"v", 3).len(), 3);
    }

    #[test]
    fn dory_messages_join_the_chain() {
        let mut a = base();
        let mut b = base();
        Transcript::append_field(&mut a, b"f", &ArkFr(Fr::from(1u64)));
        Transcript::append_field(&mut b, b"f", &ArkFr(Fr::from(2u64)));
        assert_ne!(a.challenge_scalar(b"c"), b.challenge_scalar(b"c"));
    }
}
