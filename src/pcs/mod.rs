//! The Dory polynomial commitment scheme (crate `dory-pcs`) on zkinfer's backends.
//!
//! This module owns: the setup ([`setup`], hashed to the curve from a public seed),
//! the matrix [`Layout`] of a committed polynomial, commitments (tier-1 row MSMs
//! through the [`Backend`], tier-2 multi-pairing), and evaluation proofs with
//! their verification. It does not own the proof system's transcript policy beyond
//! one rule: [`open`] and [`verify`] absorb the commitment, the layout, the point
//! and the claimed value before Dory draws any challenge (Dory itself absorbs only
//! its own messages).
//!
//! # Layout
//! A polynomial of 2^L values is a 2^ν × 2^σ matrix, ν + σ = L, ν ≤ σ (Dory's
//! constraint). Committing costs one MSM over all values (split into 2^ν rows) plus
//! a 2^ν-term multi-pairing (~0.2 ms per row here); an opening costs work
//! proportional to 2^σ (G2 scalar multiplications and pairings over the columns).
//! So few rows make commitments cheap and openings dear, and the square layout
//! minimises commit + open. [`Layout::square`] is the default for anything that is
//! opened; [`Layout::with_rows`] picks another split (see the README for measured
//! figures).

pub mod hiding;
pub mod poly;
pub mod prover;
pub mod reduction;
pub mod routines;
pub mod setup;

use ark_bn254::{Fr, G1Affine, G1Projective};
use dory_pcs::backends::arkworks::{ArkFr, ArkG1, ArkGT, BN254};
use dory_pcs::primitives::transcript::Transcript;
use dory_pcs::DoryProof;

use crate::backend::{Backend, BackendError, G2Side, PairingProduct};
pub use poly::{Coefficients, MultilinearPoly, OnBackend};
pub use prover::OpenProfile;
pub use routines::{G1Via, G2Via, GlobalBackend};
pub use setup::DorySetup;

/// A Dory evaluation proof over BN254.
pub type EvaluationProof = DoryProof<ArkG1, dory_pcs::backends::arkworks::ArkG2, ArkGT>;

/// Errors of the commitment layer.
#[derive(Debug, thiserror::Error)]
pub enum PcsError {
    #[error("a polynomial needs a power-of-two number of values, got {len}")]
    NotPowerOfTwo { len: usize },
    #[error("layout 2^{nu} x 2^{sigma} holds {} values but the polynomial has {len}", 1usize << (nu + sigma))]
    LayoutMismatch { nu: usize, sigma: usize, len: usize },
    #[error("invalid layout 2^{nu} rows x 2^{sigma} columns: {reason}")]
    BadLayout {
        nu: usize,
        sigma: usize,
        reason: &'static str,
    },
    #[error("the Dory setup has {have} generators but this layout needs 2^{needed_log}")]
    SetupTooSmall { needed_log: usize, have: usize },
    #[error("a Dory setup of 2^{log_generators} generators is larger than supported (2^{max})")]
    SetupTooLarge { log_generators: usize, max: usize },
    #[error("evaluation point has {actual} coordinates, the polynomial has {expected} variables")]
    PointLength { expected: usize, actual: usize },
    #[error("prover hint has {actual} row commitments, layout has {expected} rows")]
    RowCount { expected: usize, actual: usize },
    #[error("proof is for layout 2^{proof_nu} x 2^{proof_sigma}, expected 2^{nu} x 2^{sigma}")]
    ProofLayout {
        nu: usize,
        sigma: usize,
        proof_nu: usize,
        proof_sigma: usize,
    },
    #[error("Dory: {0}")]
    Dory(#[from] dory_pcs::DoryError),
    #[error("a transparent Dory opening was expected, the proof is in the hiding mode's shape")]
    NotTransparent,
    #[error("a hiding Dory opening was expected, the proof is not in the hiding mode's shape")]
    NotHiding,
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("cannot access Dory setup file {path}: {source}")]
    SetupIo {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("Dory setup file {path}: {reason}")]
    SetupFile {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// How a polynomial's 2^(ν+σ) values are arranged: 2^ν rows of 2^σ columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// log2 of the number of rows.
    pub nu: usize,
    /// log2 of the number of columns.
    pub sigma: usize,
}

impl Layout {
    /// The square (or one-wider) layout for `num_vars` variables: σ = ⌈L/2⌉.
    pub fn square(num_vars: usize) -> Self {
        let sigma = num_vars.div_ceil(2);
        Layout {
            nu: num_vars - sigma,
            sigma,
        }
    }

    /// A layout with 2^`nu` rows; requires ν ≤ σ.
    pub fn with_rows(num_vars: usize, nu: usize) -> Result<Self, PcsError> {
        if nu > num_vars || nu > num_vars - nu {
            return Err(PcsError::BadLayout {
                nu,
                sigma: num_vars.saturating_sub(nu),
                reason: "Dory needs at most as many rows as columns (nu <= sigma)",
            });
        }
        Ok(Layout {
            nu,
            sigma: num_vars - nu,
        })
    }

    /// Number of variables ν + σ.
    pub fn num_vars(&self) -> usize {
        self.nu + self.sigma
    }

    /// Number of values 2^(ν+σ).
    pub fn len(&self) -> usize {
        1 << self.num_vars()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn check_len(&self, len: usize) -> Result<(), PcsError> {
        if self.nu > self.sigma {
            return Err(PcsError::BadLayout {
                nu: self.nu,
                sigma: self.sigma,
                reason: "Dory needs at most as many rows as columns (nu <= sigma)",
            });
        }
        if len != self.len() {
            return Err(PcsError::LayoutMismatch {
                nu: self.nu,
                sigma: self.sigma,
                len,
            });
        }
        Ok(())
    }
}

/// A Dory commitment (tier 2, an element of GT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment(pub ArkGT);

/// What the prover keeps from committing, to open later: the tier-1 row
/// commitments and the layout.
#[derive(Debug, Clone)]
pub struct CommitmentHint {
    pub layout: Layout,
    pub rows: Vec<ArkG1>,
}

/// Projective G1 points to affine, free for already-normalised points.
pub(crate) fn to_affine_g1(points: &[ArkG1]) -> Vec<G1Affine> {
    let projective: Vec<G1Projective> = points.iter().map(|p| p.0).collect();
    crate::backend::cpu::group_ops::to_affine(&projective)
}

/// Commits to `poly` in `layout`: the row MSMs run on `backend` (small-scalar MSMs
/// when the values are small integers), then one multi-pairing with Γ₂.
pub fn commit<B: Backend + ?Sized>(
    backend: &B,
    poly: &MultilinearPoly,
    layout: Layout,
    setup: &DorySetup,
) -> Result<(Commitment, CommitmentHint), PcsError> {
    let _span = tracing::debug_span!("dory_commit", nu = layout.nu, sigma = layout.sigma).entered();
    layout.check_len(poly.len())?;
    if layout.sigma > setup.log_generators {
        return Err(PcsError::SetupTooSmall {
            needed_log: layout.sigma,
            have: setup.g1_affine.len(),
        });
    }
    let rows: Vec<ArkG1> = poly
        .row_commitments(backend, layout, &setup.g1_affine)?
        .into_iter()
        .map(ArkG1)
        .collect();
    let lines = setup.g2_lines(1 << layout.nu);
    let rows_affine = to_affine_g1(&rows);
    let tier_2 = backend.multi_pairings(&[PairingProduct {
        g1: &rows_affine,
        g2: G2Side::Lines(&lines[..1 << layout.nu]),
    }])?;
    Ok((
        Commitment(ArkGT(tier_2[0])),
        CommitmentHint { layout, rows },
    ))
}

/// Absorbs the statement of an opening: commitment, layout, point, value.
fn absorb_statement<T: Transcript<Curve = BN254>>(
    transcript: &mut T,
    commitment: &Commitment,
    layout: Layout,
    point: &[Fr],
    value: &Fr,
) {
    transcript.append_serde(b"dory/commitment", &commitment.0);
    transcript.append_bytes(b"dory/nu", &(layout.nu as u64).to_le_bytes());
    transcript.append_bytes(b"dory/sigma", &(layout.sigma as u64).to_le_bytes());
    for coordinate in point {
        transcript.append_field(b"dory/point", &ArkFr(*coordinate));
    }
    transcript.append_field(b"dory/value", &ArkFr(*value));
}

/// Checks an opening's inputs against its hint's layout and the setup.
pub(crate) fn check_opening(
    poly: &MultilinearPoly,
    hint: &CommitmentHint,
    point: &[Fr],
    setup: &DorySetup,
) -> Result<(), PcsError> {
    let layout = hint.layout;
    layout.check_len(poly.len())?;
    if point.len() != layout.num_vars() {
        return Err(PcsError::PointLength {
            expected: layout.num_vars(),
            actual: point.len(),
        });
    }
    if hint.rows.len() != 1 << layout.nu {
        return Err(PcsError::RowCount {
            expected: 1 << layout.nu,
            actual: hint.rows.len(),
        });
    }
    if layout.sigma > setup.log_generators {
        return Err(PcsError::SetupTooSmall {
            needed_log: layout.sigma,
            have: setup.g1_affine.len(),
        });
    }
    Ok(())
}

/// Checks a proof's layout and the point's length against `layout`.
pub(crate) fn check_proof_shape(
    layout: Layout,
    point: &[Fr],
    proof: &EvaluationProof,
) -> Result<(), PcsError> {
    if proof.nu != layout.nu || proof.sigma != layout.sigma {
        return Err(PcsError::ProofLayout {
            nu: layout.nu,
            sigma: layout.sigma,
            proof_nu: proof.nu,
            proof_sigma: proof.sigma,
        });
    }
    if point.len() != layout.num_vars() {
        return Err(PcsError::PointLength {
            expected: layout.num_vars(),
            actual: point.len(),
        });
    }
    Ok(())
}

/// Proves `poly(point) = value`, returning the value and the proof. The Dory
/// prover ([`prover`]: dory-pcs's protocol, zkinfer's scheduling) runs on
/// backend type `B` (its global instance).
pub fn open<B: GlobalBackend, T: Transcript<Curve = BN254>>(
    poly: &MultilinearPoly,
    commitment: &Commitment,
    hint: &CommitmentHint,
    point: &[Fr],
    setup: &DorySetup,
    transcript: &mut T,
) -> Result<(Fr, EvaluationProof), PcsError> {
    open_profiled::<B, T>(poly, commitment, hint, point, setup, transcript, None)
}

/// [`open`], adding where the time went to `profile` when one is given. A
/// profiled opening runs its parts one after another (so the split is exact)
/// and is therefore slower than an unprofiled one; the proof is the same.
pub fn open_profiled<B: GlobalBackend, T: Transcript<Curve = BN254>>(
    poly: &MultilinearPoly,
    commitment: &Commitment,
    hint: &CommitmentHint,
    point: &[Fr],
    setup: &DorySetup,
    transcript: &mut T,
    profile: Option<&mut OpenProfile>,
) -> Result<(Fr, EvaluationProof), PcsError> {
    let layout = hint.layout;
    let _span = tracing::debug_span!("dory_open", nu = layout.nu, sigma = layout.sigma).entered();
    check_opening(poly, hint, point, setup)?;
    let backend = B::global();
    let value = poly.evaluate(backend, point)?;
    absorb_statement(transcript, commitment, layout, point, &value);
    let proof = prover::prove(backend, poly, point, hint, setup, transcript, profile)?;
    Ok((value, proof))
}

/// Checks an evaluation proof of `commitment` at `point` for `value` in `layout`.
/// Uses no backend: verification is CPU-only and cheap.
pub fn verify<T: Transcript<Curve = BN254>>(
    commitment: &Commitment,
    layout: Layout,
    point: &[Fr],
    value: &Fr,
    proof: &EvaluationProof,
    setup: &dory_pcs::setup::VerifierSetup<BN254>,
    transcript: &mut T,
) -> Result<(), PcsError> {
    check_proof_shape(layout, point, proof)?;
    // dory-pcs's verifier ignores `value` for a zero-knowledge-shaped proof
    // (it reads the blinded E₂ instead), so only transparent proofs may reach it
    // here; hiding proofs go through [`hiding::verify`].
    if !matches!(proof.mode(), Ok(dory_pcs::ProofMode::Transparent(..))) {
        return Err(PcsError::NotTransparent);
    }
    absorb_statement(transcript, commitment, layout, point, value);
    let point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
    type Cpu = crate::backend::CpuBackend;
    dory_pcs::verify::<_, BN254, G1Via<Cpu>, G2Via<Cpu>, _>(
        commitment.0,
        ArkFr(*value),
        &point,
        proof,
        setup.clone(),
        transcript,
    )?;
    Ok(())
}
