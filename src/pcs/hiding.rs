//! Hiding Dory commitments and openings: dory-pcs's zero-knowledge mode
//! (cargo feature `zk` of `dory-pcs`), on zkinfer's setup and transcript.
//! Groundwork for `--zk` (issue #16); model proofs do not use it yet.
//!
//! - [`commit`]: the transparent commitment plus `r·h_T` for a fresh uniform
//!   `r` (dory-pcs's hiding commitment: one GT-level blind; the tier-1 row
//!   commitments stay with the prover and are never sent).
//! - [`open`]: dory-pcs's prover in its `ZK` mode. Every reduce message is
//!   blinded, the clear final message is replaced by a Σ-proof of the scalar
//!   product, and the evaluation `y` is never sent or absorbed: the proof
//!   carries `y_com = y·Γ₁[0] + r_y·h₁` (with Σ-proofs that it matches the
//!   blinded `E₂`), and the prover learns `r_y`.
//! - [`verify`]: checks the proof and returns `y_com`. The caller must tie
//!   `y_com` to its own committed claim: both are Pedersen commitments on the
//!   bases of [`crate::zk::PedersenGens::dory`], so one
//!   [`crate::zk::ZeroProof`] on their difference does it.
//!
//! The statement absorbed before the opening is the commitment, the layout and
//! the point; never the value.

use ark_bn254::{Fr, G1Affine};
use ark_ec::CurveGroup;
use dory_pcs::backends::arkworks::{ArkFr, ArkGT, BN254};
use dory_pcs::primitives::transcript::Transcript;
use dory_pcs::ProofMode;

use super::poly::OnBackend;
use super::{
    Commitment, CommitmentHint, DorySetup, EvaluationProof, G1Via, G2Via, Layout, MultilinearPoly,
    PcsError,
};
use crate::backend::{Backend, CpuBackend};
use crate::zk::{BlindSource, Opening};

/// What the prover keeps from a hiding commitment: the row commitments and
/// layout ([`CommitmentHint`]) and the GT-level blind.
#[derive(Debug, Clone)]
pub struct HidingHint {
    pub rows: CommitmentHint,
    pub blind: Fr,
}

/// A hiding commitment to `poly` in `layout`: the transparent commitment
/// (row MSMs on `backend`, one multi-pairing) plus `blind·h_T`.
pub fn commit<B: Backend + ?Sized>(
    backend: &B,
    poly: &MultilinearPoly,
    layout: Layout,
    setup: &DorySetup,
    blinds: &mut dyn BlindSource,
) -> Result<(Commitment, HidingHint), PcsError> {
    let (transparent, rows) = super::commit(backend, poly, layout, setup)?;
    let blind = blinds.blind();
    let hiding = transparent.0 .0 + setup.prover.ht.0 * blind;
    Ok((Commitment(ArkGT(hiding)), HidingHint { rows, blind }))
}

/// The hiding commitment `C + blind·h_T` of a transparent commitment `C`
/// (`C` itself when the blind is zero).
pub fn hide(commitment: &Commitment, blind: Fr, setup: &DorySetup) -> Commitment {
    if ark_ff::Zero::is_zero(&blind) {
        return *commitment;
    }
    Commitment(ArkGT(commitment.0 .0 + setup.prover.ht.0 * blind))
}

fn absorb_statement<T: Transcript<Curve = BN254>>(
    transcript: &mut T,
    commitment: &Commitment,
    layout: Layout,
    point: &[Fr],
) {
    transcript.append_serde(b"dory-hiding/commitment", &commitment.0);
    transcript.append_bytes(b"dory-hiding/nu", &(layout.nu as u64).to_le_bytes());
    transcript.append_bytes(b"dory-hiding/sigma", &(layout.sigma as u64).to_le_bytes());
    for coordinate in point {
        transcript.append_field(b"dory-hiding/point", &ArkFr(*coordinate));
    }
}

/// Proves the value of `poly` at `point` without revealing it; returns its
/// opening `(y, r_y)` of the proof's `y_com` and the proof.
pub fn open<T: Transcript<Curve = BN254>>(
    poly: &MultilinearPoly,
    commitment: &Commitment,
    hint: &HidingHint,
    point: &[Fr],
    setup: &DorySetup,
    transcript: &mut T,
) -> Result<(Opening, EvaluationProof), PcsError> {
    let layout = hint.rows.layout;
    let _span = tracing::debug_span!(
        "dory_open",
        hiding = true,
        nu = layout.nu,
        sigma = layout.sigma
    )
    .entered();
    super::check_opening(poly, &hint.rows, point, setup)?;
    let backend = CpuBackend::global();
    absorb_statement(transcript, commitment, layout, point);
    let ark_point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
    let (proof, y_blind) =
        dory_pcs::prove::<_, BN254, G1Via<CpuBackend>, G2Via<CpuBackend>, _, _, dory_pcs::ZK>(
            &OnBackend { poly, backend },
            &ark_point,
            hint.rows.rows.clone(),
            ArkFr(hint.blind),
            layout.nu,
            layout.sigma,
            &setup.prover,
            transcript,
        )?;
    let y_blind = y_blind.ok_or(PcsError::NotHiding)?;
    let value = poly.evaluate(backend, point)?;
    Ok((Opening::new(value, y_blind.0), proof))
}

/// Checks a hiding opening of `commitment` at `point` in `layout`; returns the
/// commitment `y_com` to the (hidden) value, which the caller must link to
/// the claim it expects.
pub fn verify<T: Transcript<Curve = BN254>>(
    commitment: &Commitment,
    layout: Layout,
    point: &[Fr],
    proof: &EvaluationProof,
    setup: &dory_pcs::setup::VerifierSetup<BN254>,
    transcript: &mut T,
) -> Result<G1Affine, PcsError> {
    super::check_proof_shape(layout, point, proof)?;
    let Ok(ProofMode::Zk { y_com, .. }) = proof.mode() else {
        return Err(PcsError::NotHiding);
    };
    let y_com = y_com.0.into_affine();
    absorb_statement(transcript, commitment, layout, point);
    let ark_point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
    // In the hiding mode dory-pcs reads the blinded E₂ and `y_com`, not this value.
    dory_pcs::verify::<_, BN254, G1Via<CpuBackend>, G2Via<CpuBackend>, _>(
        commitment.0,
        ArkFr(Fr::from(0u64)),
        &ark_point,
        proof,
        setup.clone(),
        transcript,
    )?;
    Ok(y_com)
}
