//! zkinfer's own Dory evaluation prover: the protocol of
//! `dory_pcs::create_evaluation_proof` (Eval-VMV-RE, transparent mode), message
//! for message and transcript label for label, so its proofs are the ones
//! `dory_pcs::prove` makes and `dory_pcs::verify` checks (the tests compare the
//! two byte for byte). It does not own the statement's absorption (see
//! [`super::open`]) nor verification (dory-pcs's verifier, unchanged).
//!
//! What differs is how the work is scheduled:
//! - the four pairing products of each reduce message (D₁L, D₁R, D₂L, D₂R) and the
//!   two of each fold message (C₊, C₋) are computed in one batched pass
//!   ([`Backend::multi_pairings`]): long Miller loops per task, final
//!   exponentiations in parallel, Γ₂'s lines precomputed once per process
//!   ([`DorySetup::g2_lines`]);
//! - the prover's G1/G2 vectors are normalised to affine once per message (one
//!   inversion), and those affine points serve the pairings and the MSMs;
//! - element-wise scalar multiplications go through the backend's one-scalar
//!   routines (GLV + wNAF, see `backend::cpu::group_ops`), and those by the
//!   fixed generators (v₁ += β·Γ₁, v₂ += β⁻¹·Γ₂) and the MSMs over them (E₁β,
//!   E₂β, the VMV message) use precomputed fixed-base tables
//!   ([`DorySetup::fixed_bases`], `backend::cpu::fixed_base`).
//!
//! [`OpenProfile`] splits the time of one opening by kind of work; `bench
//! primitives` and the README report it.

use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::{Field, Zero};
use dory_pcs::backends::arkworks::{ArkFr, ArkG1, ArkG2, ArkGT, BN254};
use dory_pcs::messages::{
    FirstReduceMessage, ScalarProductMessage, SecondReduceMessage, VMVMessage,
};
use dory_pcs::primitives::poly::compute_left_right_vectors;
use dory_pcs::primitives::transcript::Transcript;

use super::{CommitmentHint, DorySetup, EvaluationProof, Layout, MultilinearPoly, PcsError};
use crate::backend::{Backend, G2Side, PairingProduct};

/// Where the time of one opening went (wall time per kind of work).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct OpenProfile {
    /// Miller loops, final exponentiations and line preparation of varying G2 points.
    pub pairings: Duration,
    /// Element-wise G1 scalar multiplications (v₁ += β·Γ₁, v₁L = α·v₁L + v₁R).
    pub g1_scalar_mul: Duration,
    /// Element-wise G2 scalar multiplications (v₂ += β⁻¹·Γ₂, v₂L = α⁻¹·v₂L + v₂R, v₂ = v·Γ₂[0]).
    pub g2_scalar_mul: Duration,
    /// G1 multi-scalar multiplications (E₁ messages, the VMV message).
    pub msm_g1: Duration,
    /// G2 multi-scalar multiplications (E₂ messages).
    pub msm_g2: Duration,
    /// Projective-to-affine conversions of the prover's vectors.
    pub normalize: Duration,
    /// Field work: evaluation vectors, the vector-matrix product, folds, transcript.
    pub field_and_transcript: Duration,
}

impl OpenProfile {
    /// Sum of all parts.
    pub fn total(&self) -> Duration {
        self.pairings
            + self.g1_scalar_mul
            + self.g2_scalar_mul
            + self.msm_g1
            + self.msm_g2
            + self.normalize
            + self.field_and_transcript
    }

    /// Part-wise sum of two profiles.
    pub fn add(&self, other: &OpenProfile) -> OpenProfile {
        OpenProfile {
            pairings: self.pairings + other.pairings,
            g1_scalar_mul: self.g1_scalar_mul + other.g1_scalar_mul,
            g2_scalar_mul: self.g2_scalar_mul + other.g2_scalar_mul,
            msm_g1: self.msm_g1 + other.msm_g1,
            msm_g2: self.msm_g2 + other.msm_g2,
            normalize: self.normalize + other.normalize,
            field_and_transcript: self.field_and_transcript + other.field_and_transcript,
        }
    }

    /// `(name, time)` of every part, in a fixed order.
    pub fn parts(&self) -> [(&'static str, Duration); 7] {
        [
            ("pairings", self.pairings),
            ("g2_scalar_mul", self.g2_scalar_mul),
            ("g1_scalar_mul", self.g1_scalar_mul),
            ("msm_g1", self.msm_g1),
            ("msm_g2", self.msm_g2),
            ("normalize", self.normalize),
            ("field_and_transcript", self.field_and_transcript),
        ]
    }
}

fn timed<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    *slot += start.elapsed();
    value
}

fn affine_g1(points: &[G1Projective]) -> Vec<G1Affine> {
    crate::backend::cpu::group_ops::to_affine(points)
}

fn affine_g2(points: &[G2Projective]) -> Vec<G2Affine> {
    crate::backend::cpu::group_ops::to_affine(points)
}

/// The Dory evaluation proof of `poly` at `point` (transparent mode), drawing
/// its challenges from `transcript`, which must already hold the statement.
/// Same messages, labels and order as `dory_pcs::prove` with a zero blind.
#[allow(clippy::too_many_arguments)]
pub fn prove<B: Backend + ?Sized, T: Transcript<Curve = BN254>>(
    backend: &B,
    poly: &MultilinearPoly,
    point: &[Fr],
    hint: &CommitmentHint,
    setup: &DorySetup,
    transcript: &mut T,
    profile: Option<&mut OpenProfile>,
) -> Result<EvaluationProof, PcsError> {
    // Profiling runs every part on its own so that the split is exact;
    // otherwise the MSMs of a message overlap with its pairings.
    let overlap = profile.is_none();
    let mut local = OpenProfile::default();
    let result = prove_inner(
        backend, poly, point, hint, setup, transcript, &mut local, overlap,
    );
    if let Some(profile) = profile {
        *profile = profile.add(&local);
    }
    result
}

/// `a` and `b`, concurrently when `overlap`, each with its wall time.
fn both<A: Send, B: Send>(
    overlap: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> ((A, Duration), (B, Duration)) {
    let time_a = || {
        let start = Instant::now();
        let v = a();
        (v, start.elapsed())
    };
    let time_b = || {
        let start = Instant::now();
        let v = b();
        (v, start.elapsed())
    };
    if overlap {
        rayon::join(time_a, time_b)
    } else {
        let first = time_a();
        (first, time_b())
    }
}

#[allow(clippy::too_many_arguments)]
fn prove_inner<B: Backend + ?Sized, T: Transcript<Curve = BN254>>(
    backend: &B,
    poly: &MultilinearPoly,
    point: &[Fr],
    hint: &CommitmentHint,
    setup: &DorySetup,
    transcript: &mut T,
    profile: &mut OpenProfile,
    overlap: bool,
) -> Result<EvaluationProof, PcsError> {
    let Layout { nu, sigma } = hint.layout;
    if point.len() != nu + sigma {
        return Err(PcsError::PointLength {
            expected: nu + sigma,
            actual: point.len(),
        });
    }
    if nu > sigma {
        return Err(PcsError::BadLayout {
            nu,
            sigma,
            reason: "Dory needs at most as many rows as columns (nu <= sigma)",
        });
    }
    if sigma > setup.log_generators {
        return Err(PcsError::SetupTooSmall {
            needed_log: sigma,
            have: setup.g1_affine.len(),
        });
    }
    if hint.rows.len() != 1 << nu {
        return Err(PcsError::RowCount {
            expected: 1 << nu,
            actual: hint.rows.len(),
        });
    }
    let n = 1usize << sigma;
    let gamma1 = &setup.g1_affine[..n];
    let (fixed1, fixed2) = setup.fixed_bases(n);
    let lines = setup.g2_lines((n / 2).max(1));

    // Evaluation vectors and v = Lᵀ·M.
    let (left, right, v_vec) = timed(&mut profile.field_and_transcript, || {
        let point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
        let (left, right) = compute_left_right_vectors(&point, nu, sigma);
        let left: Vec<Fr> = left.into_iter().map(|x| x.0).collect();
        let right: Vec<Fr> = right.into_iter().map(|x| x.0).collect();
        let v_vec = poly.vector_matrix_product(&left, hint.layout);
        (left, right, v_vec)
    });
    let rows: Vec<G1Projective> = hint.rows.iter().map(|r| r.0).collect();
    let rows_affine = timed(&mut profile.normalize, || affine_g1(&rows));

    // VMV message: C = e(⟨T, v⟩, Γ₂[0]), D₂ = e(⟨Γ₁, v⟩, Γ₂[0]), E₁ = ⟨T, L⟩.
    let (t_v, gamma_v, e1) = timed(&mut profile.msm_g1, || {
        Ok::<_, PcsError>((
            backend.msm_g1(&rows_affine, &v_vec[..rows_affine.len()])?,
            backend.msm_g1_fixed(&fixed1, &v_vec)?,
            backend.msm_g1(&rows_affine, &left)?,
        ))
    })?;
    let vmv_points = affine_g1(&[t_v, gamma_v]);
    let vmv = timed(&mut profile.pairings, || {
        backend.multi_pairings(&[
            PairingProduct {
                g1: &vmv_points[..1],
                g2: G2Side::Lines(&lines[..1]),
            },
            PairingProduct {
                g1: &vmv_points[1..],
                g2: G2Side::Lines(&lines[..1]),
            },
        ])
    })?;
    let vmv_message = VMVMessage {
        c: ArkGT(vmv[0]),
        d2: ArkGT(vmv[1]),
        e1: ArkG1(e1),
    };
    timed(&mut profile.field_and_transcript, || {
        transcript.append_serde(b"vmv_c", &vmv_message.c);
        transcript.append_serde(b"vmv_d2", &vmv_message.d2);
        transcript.append_serde(b"vmv_e1", &vmv_message.e1);
    });

    // Prover state: v₁ = row commitments (padded), v₂ = v·Γ₂[0], s₁ = R, s₂ = L.
    let mut v1 = rows;
    v1.resize(n, G1Projective::zero());
    let mut v2 = timed(&mut profile.g2_scalar_mul, || {
        backend.g2_fixed_base_mul(&fixed2.points()[0].into(), &v_vec)
    });
    let mut v2_scalars = Some(v_vec);
    let mut s1 = right;
    let mut s2 = left;
    s2.resize(n, Fr::zero());

    let mut first_messages = Vec::with_capacity(sigma);
    let mut second_messages = Vec::with_capacity(sigma);
    let mut len = n;
    while len > 1 {
        let half = len / 2;
        // First reduce message.
        let v1_affine = timed(&mut profile.normalize, || affine_g1(&v1));
        let (d2_points, v2_affine) = match &v2_scalars {
            Some(scalars) => {
                // Round one: v₂ = v·Γ₂[0], so D₂ = e(⟨Γ₁', v⟩, Γ₂[0]).
                let sums = timed(&mut profile.msm_g1, || {
                    Ok::<_, PcsError>([
                        backend.msm_g1_fixed(&fixed1, &scalars[..half])?,
                        backend.msm_g1_fixed(&fixed1, &scalars[half..len])?,
                    ])
                })?;
                (Some(affine_g1(&sums)), None)
            }
            None => (None, Some(timed(&mut profile.normalize, || affine_g2(&v2)))),
        };
        let mut products = vec![
            PairingProduct {
                g1: &v1_affine[..half],
                g2: G2Side::Lines(&lines[..half]),
            },
            PairingProduct {
                g1: &v1_affine[half..],
                g2: G2Side::Lines(&lines[..half]),
            },
        ];
        match (&d2_points, &v2_affine) {
            (Some(sums), _) => {
                for i in 0..2 {
                    products.push(PairingProduct {
                        g1: &sums[i..i + 1],
                        g2: G2Side::Lines(&lines[..1]),
                    });
                }
            }
            (None, Some(v2a)) => {
                products.push(PairingProduct {
                    g1: &gamma1[..half],
                    g2: G2Side::Points(&v2a[..half]),
                });
                products.push(PairingProduct {
                    g1: &gamma1[..half],
                    g2: G2Side::Points(&v2a[half..]),
                });
            }
            (None, None) => unreachable!("v₂ is either scalars or points"),
        }
        let ((d, t_pairings), (((e1_beta, t_msm_g1), (e2_beta, t_msm_g2)), _)) = both(
            overlap,
            || backend.multi_pairings(&products),
            || {
                both(
                    overlap,
                    || backend.msm_g1_fixed(&fixed1, &s2),
                    || backend.msm_g2_fixed(&fixed2, &s1),
                )
            },
        );
        profile.pairings += t_pairings;
        profile.msm_g1 += t_msm_g1;
        profile.msm_g2 += t_msm_g2;
        let (d, e1_beta, e2_beta) = (d?, e1_beta?, e2_beta?);
        let first = FirstReduceMessage {
            d1_left: ArkGT(d[0]),
            d1_right: ArkGT(d[1]),
            d2_left: ArkGT(d[2]),
            d2_right: ArkGT(d[3]),
            e1_beta: ArkG1(e1_beta),
            e2_beta: ArkG2(e2_beta),
        };
        let beta = timed(&mut profile.field_and_transcript, || {
            transcript.append_serde(b"d1_left", &first.d1_left);
            transcript.append_serde(b"d1_right", &first.d1_right);
            transcript.append_serde(b"d2_left", &first.d2_left);
            transcript.append_serde(b"d2_right", &first.d2_right);
            transcript.append_serde(b"e1_beta", &first.e1_beta);
            transcript.append_serde(b"e2_beta", &first.e2_beta);
            transcript.challenge_scalar(b"beta").0
        });
        first_messages.push(first);
        let beta_inv = beta.inverse().ok_or(dory_pcs::DoryError::InvalidProof)?;
        timed(&mut profile.g1_scalar_mul, || {
            backend.g1_scale_fixed_add(&fixed1, &mut v1, &beta)
        });
        timed(&mut profile.g2_scalar_mul, || {
            backend.g2_scale_fixed_add(&fixed2, &mut v2, &beta_inv)
        });
        v2_scalars = None;

        // Second reduce message.
        let (v1_affine, v2_affine) =
            timed(&mut profile.normalize, || (affine_g1(&v1), affine_g2(&v2)));
        let (
            (c, t_pairings),
            ((((e1_plus, e1_minus), t_msm_g1), ((e2_plus, e2_minus), t_msm_g2)), _),
        ) = both(
            overlap,
            || {
                backend.multi_pairings(&[
                    PairingProduct {
                        g1: &v1_affine[..half],
                        g2: G2Side::Points(&v2_affine[half..]),
                    },
                    PairingProduct {
                        g1: &v1_affine[half..],
                        g2: G2Side::Points(&v2_affine[..half]),
                    },
                ])
            },
            || {
                both(
                    overlap,
                    || {
                        (
                            backend.msm_g1(&v1_affine[..half], &s2[half..]),
                            backend.msm_g1(&v1_affine[half..], &s2[..half]),
                        )
                    },
                    || {
                        (
                            backend.msm_g2(&v2_affine[half..], &s1[..half]),
                            backend.msm_g2(&v2_affine[..half], &s1[half..]),
                        )
                    },
                )
            },
        );
        profile.pairings += t_pairings;
        profile.msm_g1 += t_msm_g1;
        profile.msm_g2 += t_msm_g2;
        let (c, e1_plus, e1_minus, e2_plus, e2_minus) =
            (c?, e1_plus?, e1_minus?, e2_plus?, e2_minus?);
        let second = SecondReduceMessage {
            c_plus: ArkGT(c[0]),
            c_minus: ArkGT(c[1]),
            e1_plus: ArkG1(e1_plus),
            e1_minus: ArkG1(e1_minus),
            e2_plus: ArkG2(e2_plus),
            e2_minus: ArkG2(e2_minus),
        };
        let alpha = timed(&mut profile.field_and_transcript, || {
            transcript.append_serde(b"c_plus", &second.c_plus);
            transcript.append_serde(b"c_minus", &second.c_minus);
            transcript.append_serde(b"e1_plus", &second.e1_plus);
            transcript.append_serde(b"e1_minus", &second.e1_minus);
            transcript.append_serde(b"e2_plus", &second.e2_plus);
            transcript.append_serde(b"e2_minus", &second.e2_minus);
            transcript.challenge_scalar(b"alpha").0
        });
        second_messages.push(second);
        let alpha_inv = alpha.inverse().ok_or(dory_pcs::DoryError::InvalidProof)?;

        // Fold: xL = scalar·xL + xR.
        {
            let (l, r) = v1.split_at_mut(half);
            timed(&mut profile.g1_scalar_mul, || {
                backend.g1_scale_vs_add(l, r, &alpha)
            });
        }
        {
            let (l, r) = v2.split_at_mut(half);
            timed(&mut profile.g2_scalar_mul, || {
                backend.g2_scale_vs_add(l, r, &alpha_inv)
            });
        }
        timed(&mut profile.field_and_transcript, || {
            let (l, r) = s1.split_at_mut(half);
            backend.fr_scale_add(l, r, &alpha);
            let (l, r) = s2.split_at_mut(half);
            backend.fr_scale_add(l, r, &alpha_inv);
        });
        v1.truncate(half);
        v2.truncate(half);
        s1.truncate(half);
        s2.truncate(half);
        len = half;
    }

    // Fold-Scalars, then the final scalar-product message.
    let gamma = timed(&mut profile.field_and_transcript, || {
        transcript.challenge_scalar(b"gamma").0
    });
    let gamma_inv = gamma.inverse().ok_or(dory_pcs::DoryError::InvalidProof)?;
    let e1 = v1[0] + setup.prover.h1.0 * (gamma * s1[0]);
    let e2 = v2[0] + setup.prover.h2.0 * (gamma_inv * s2[0]);
    let final_message = ScalarProductMessage {
        e1: ArkG1(e1.into_affine().into()),
        e2: ArkG2(e2.into_affine().into()),
    };
    timed(&mut profile.field_and_transcript, || {
        transcript.append_serde(b"final_e1", &final_message.e1);
        transcript.append_serde(b"final_e2", &final_message.e2);
        let _d = transcript.challenge_scalar(b"d");
    });
    Ok(EvaluationProof {
        vmv_message,
        first_messages,
        second_messages,
        final_message: Some(final_message),
        nu,
        sigma,
        // Transparent: dory-pcs's zero-knowledge fields are absent.
        e2: None,
        y_com: None,
        sigma1_proof: None,
        sigma2_proof: None,
        scalar_product_proof: None,
    })
}
