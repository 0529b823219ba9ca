//! Opening reduction: many evaluation claims `(polynomial, point, value)` on
//! committed polynomials of different sizes become one Dory opening per group of
//! polynomials that share a layout.
//!
//! 1. With a random γ, the claims are batched into one sumcheck over N variables
//!    (N = the largest claimed polynomial):
//!    ```text
//!    Σ_i γ^i · 2^(N−n_i) · v_i  =  Σ_{x ∈ {0,1}^N} Σ_P W_P(x_<n_P) · f_P(x_<n_P),
//!    W_P = Σ_{i: claim i on P} γ^i · eq(r_i, ·)
//!    ```
//!    A polynomial of n_P < N variables does not depend on the high variables, so
//!    each of them doubles its sum; that is the 2^(N−n_i) factor.
//! 2. The sumcheck leaves one point ρ; every polynomial P is needed at the prefix
//!    ρ_<n_P. The prover sends those values `y_P`, and the verifier checks
//!    `Σ_P W_P(ρ_<n_P) · y_P` against the sumcheck's reduced claim.
//! 3. Polynomials with the same number of columns 2^σ form a group, opened at
//!    the prefix point of the group's largest member. A member with fewer rows is
//!    the group's polynomial zero-extended in its high (row) variables: its Dory
//!    commitment is unchanged (its rows pair with the first row generators only)
//!    and its value at the longer prefix is `y_P · Π_{j ≥ n_P} (1 − ρ_j)`. A
//!    random δ combines the members (commitments homomorphically, values and
//!    polynomials linearly), and one Dory proof opens the combination.
//!
//! Every challenge is drawn after the claims, commitments and values it depends on
//! are in the transcript.

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use dory_pcs::backends::arkworks::{ArkFr, ArkGT};
use dory_pcs::primitives::arithmetic::Group;

use super::{
    open, verify as verify_opening, Commitment, CommitmentHint, DorySetup, EvaluationProof,
    GlobalBackend, Layout, MultilinearPoly, PcsError,
};
use crate::backend::{BindSide, ProductTerm};
use crate::poly::pow2;
use crate::sumcheck::{self, eq_eval, SumcheckError, SumcheckProof};
use crate::transcript::ProofTranscript;

/// An evaluation claim: polynomial `poly` (an index into the committed list)
/// equals `value` at `point`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub poly: usize,
    pub point: Vec<Fr>,
    pub value: Fr,
}

/// A committed polynomial as the prover holds it.
#[derive(Debug, Clone, Copy)]
pub struct ProverPoly<'a> {
    pub poly: &'a MultilinearPoly,
    pub commitment: &'a Commitment,
    pub hint: &'a CommitmentHint,
}

/// A committed polynomial as the verifier knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierPoly {
    pub commitment: Commitment,
    pub layout: Layout,
}

/// The reduction's proof.
#[derive(Debug, Clone, PartialEq)]
pub struct ReductionProof {
    /// The batched sumcheck (degree 2).
    pub sumcheck: SumcheckProof,
    /// `y_P` for every claimed polynomial, in increasing polynomial index.
    pub values: Vec<Fr>,
    /// One Dory proof per layout group, groups in order of first appearance.
    pub openings: Vec<EvaluationProof>,
}

/// Errors of the reduction; verification errors name the failed check.
#[derive(Debug, thiserror::Error)]
pub enum ReductionError {
    #[error("claim {claim} names polynomial {poly}, but only {count} are committed")]
    UnknownPoly {
        claim: usize,
        poly: usize,
        count: usize,
    },
    #[error("claim {claim} has a point of {actual} coordinates; polynomial {poly} has {expected} variables")]
    PointLength {
        claim: usize,
        poly: usize,
        expected: usize,
        actual: usize,
    },
    #[error("no claims to reduce")]
    NoClaims,
    #[error("reduction prover: claim {claim} is false")]
    FalseClaim { claim: usize },
    #[error("reduction proof shape: {0}")]
    Shape(String),
    #[error("reduction check failed: batched sumcheck: {0}")]
    Sumcheck(#[from] SumcheckError),
    #[error("reduction check failed: the claimed values do not match the batched sumcheck")]
    FinalMismatch,
    #[error("reduction check failed: Dory opening of group {group} (layout 2^{nu} x 2^{sigma}): {source}")]
    Opening {
        group: usize,
        nu: usize,
        sigma: usize,
        source: PcsError,
    },
    #[error("reduction check failed: the committed value of group {group} is not the one its hiding opening proves")]
    HidingLink { group: usize },
    #[error(transparent)]
    Pcs(#[from] PcsError),
}

/// The claimed polynomials (sorted, deduplicated) and the layout groups over them.
pub(crate) struct Plan {
    /// Indices of claimed polynomials, increasing.
    pub(crate) polys: Vec<usize>,
    /// For each group: its layout (the members' σ, their largest ν) and its
    /// member polynomial indices.
    pub(crate) groups: Vec<(Layout, Vec<usize>)>,
    pub(crate) num_vars: usize,
}

fn plan(claims: &[Claim], layouts: &[Layout]) -> Result<Plan, ReductionError> {
    let targets: Vec<(usize, &[Fr])> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice()))
        .collect();
    plan_of(&targets, layouts)
}

/// The plan for claims given as `(polynomial, point)` pairs (shared with the
/// zero-knowledge reduction, whose claimed values are commitments).
pub(crate) fn plan_of(
    claims: &[(usize, &[Fr])],
    layouts: &[Layout],
) -> Result<Plan, ReductionError> {
    if claims.is_empty() {
        return Err(ReductionError::NoClaims);
    }
    for (i, &(poly, point)) in claims.iter().enumerate() {
        let layout = layouts.get(poly).ok_or(ReductionError::UnknownPoly {
            claim: i,
            poly,
            count: layouts.len(),
        })?;
        if point.len() != layout.num_vars() {
            return Err(ReductionError::PointLength {
                claim: i,
                poly,
                expected: layout.num_vars(),
                actual: point.len(),
            });
        }
    }
    let mut polys: Vec<usize> = claims.iter().map(|c| c.0).collect();
    polys.sort_unstable();
    polys.dedup();
    let mut groups: Vec<(Layout, Vec<usize>)> = Vec::new();
    for &p in &polys {
        match groups.iter_mut().find(|(l, _)| l.sigma == layouts[p].sigma) {
            Some((group, members)) => {
                group.nu = group.nu.max(layouts[p].nu);
                members.push(p);
            }
            None => groups.push((layouts[p], vec![p])),
        }
    }
    let num_vars = polys
        .iter()
        .map(|&p| layouts[p].num_vars())
        .max()
        .unwrap_or(0);
    Ok(Plan {
        polys,
        groups,
        num_vars,
    })
}

fn absorb_claims(
    transcript: &mut ProofTranscript,
    commitments: &[(Commitment, Layout)],
    claims: &[Claim],
) {
    transcript.append_message(b"reduction", b"batched-openings/v1");
    transcript.append_u64(b"reduction/polys", commitments.len() as u64);
    for (commitment, layout) in commitments {
        transcript.append_point(b"reduction/commitment", &commitment.0 .0);
        transcript.append_u64(b"reduction/nu", layout.nu as u64);
        transcript.append_u64(b"reduction/sigma", layout.sigma as u64);
    }
    transcript.append_u64(b"reduction/claims", claims.len() as u64);
    for claim in claims {
        transcript.append_u64(b"reduction/claim_poly", claim.poly as u64);
        transcript.append_scalars(b"reduction/claim_point", &claim.point);
        transcript.append_scalar(b"reduction/claim_value", &claim.value);
    }
}

/// γ^i for each claim, and the batched claim Σ γ^i 2^(N−n_i) v_i.
fn batching(gamma: Fr, claims: &[Claim], layouts: &[Layout], num_vars: usize) -> (Vec<Fr>, Fr) {
    let mut powers = Vec::with_capacity(claims.len());
    let mut power = Fr::one();
    let mut total = Fr::zero();
    for claim in claims {
        let scale = pow2(num_vars - layouts[claim.poly].num_vars());
        total += power * scale * claim.value;
        powers.push(power);
        power *= gamma;
    }
    (powers, total)
}

/// The number of leading coordinates before a run of boolean (0 or 1) trailing
/// coordinates, and the offset those booleans select: eq(point, ·) is zero outside
/// `offset .. offset + 2^free`.
pub(crate) fn block_of(point: &[Fr]) -> (usize, usize) {
    let mut free = point.len();
    let mut offset = 0usize;
    while free > 0 {
        let c = point[free - 1];
        if c.is_zero() {
            free -= 1;
        } else if c.is_one() {
            free -= 1;
            offset |= 1 << free;
        } else {
            break;
        }
    }
    (free, offset)
}

/// The batched sumcheck's rounds: `Σ_P W_P·f_P` over N variables, where a
/// polynomial of `n_P < N` variables counts `2^(N−n_P)` times (it does not
/// depend on the high variables) and, once bound to a single value, adds a
/// constant to each remaining round.
pub(crate) struct BatchedRounds<'a, B: ?Sized> {
    pub(crate) backend: &'a B,
    /// Each claimed polynomial's values, bound in place.
    pub(crate) values: Vec<Vec<Fr>>,
    /// Each claimed polynomial's weight `W_P`, bound in place.
    pub(crate) weights: Vec<Vec<Fr>>,
    /// Each claimed polynomial's number of variables `n_P`.
    pub(crate) scales_vars: Vec<usize>,
    pub(crate) num_vars: usize,
}

impl<'a, B: crate::backend::Backend + ?Sized> BatchedRounds<'a, B> {
    /// Builds every claimed polynomial's values and weight
    /// `W_P = Σ_{i: claim i on P} γ^i·eq(r_i, ·)` from `(poly, point, value)`
    /// claims, checking each claim's value on the way.
    pub(crate) fn new<'p>(
        backend: &'a B,
        plan: &Plan,
        layouts: &[Layout],
        poly: impl Fn(usize) -> &'p MultilinearPoly,
        claims: &[(usize, &[Fr], Fr)],
        powers: &[Fr],
    ) -> Result<Self, ReductionError> {
        let mut values: Vec<Vec<Fr>> = Vec::with_capacity(plan.polys.len());
        let mut weights: Vec<Vec<Fr>> = Vec::with_capacity(plan.polys.len());
        for &p in &plan.polys {
            let f = poly(p).to_field();
            let mut w = vec![Fr::zero(); f.len()];
            for (i, &(_, point, claimed)) in claims.iter().enumerate().filter(|(_, c)| c.0 == p) {
                // A claim on an aligned block has boolean high coordinates: eq
                // vanishes outside the block, so only the block's 2^free entries
                // are touched.
                let (free, offset) = block_of(point);
                let eq = backend.eq_table(&point[..free]).map_err(PcsError::from)?;
                let block = &f[offset..offset + eq.len()];
                let value: Fr = backend.inner_product(&eq, block).map_err(PcsError::from)?;
                if value != claimed {
                    return Err(ReductionError::FalseClaim { claim: i });
                }
                w[offset..offset + eq.len()]
                    .iter_mut()
                    .zip(&eq)
                    .for_each(|(a, e)| *a += powers[i] * e);
            }
            values.push(f);
            weights.push(w);
        }
        Ok(BatchedRounds {
            backend,
            values,
            weights,
            scales_vars: plan.polys.iter().map(|&p| layouts[p].num_vars()).collect(),
            num_vars: plan.num_vars,
        })
    }
}

impl<B: crate::backend::Backend + ?Sized> sumcheck::RoundProver for BatchedRounds<'_, B> {
    fn round_evals(&mut self, round: usize, _running: Fr) -> Result<Vec<Fr>, SumcheckError> {
        let product = [ProductTerm::product(vec![0, 1])];
        let n = self.num_vars;
        let mut evals = vec![Fr::zero(); 3];
        for ((f, w), &vars) in self.values.iter().zip(&self.weights).zip(&self.scales_vars) {
            if f.len() > 1 {
                // Variables above this polynomial's own double its sum each.
                let scale = pow2(n - vars);
                let s = self
                    .backend
                    .sumcheck_round(&[w.as_slice(), f.as_slice()], &product, 2)?;
                for (e, v) in evals.iter_mut().zip(s) {
                    *e += scale * v;
                }
            } else {
                let scale = pow2(n - round - 1);
                let constant = scale * w[0] * f[0];
                evals.iter_mut().for_each(|e| *e += constant);
            }
        }
        Ok(evals)
    }

    fn bind(&mut self, r: Fr) -> Result<(), SumcheckError> {
        for (f, w) in self.values.iter_mut().zip(self.weights.iter_mut()) {
            if f.len() > 1 {
                self.backend.bind(f, r, BindSide::Low)?;
                self.backend.bind(w, r, BindSide::Low)?;
            }
        }
        Ok(())
    }
}

/// Proves all `claims` on `polys` (index i of `polys` is polynomial i).
pub fn prove<B: GlobalBackend>(
    transcript: &mut ProofTranscript,
    polys: &[ProverPoly<'_>],
    claims: &[Claim],
    setup: &DorySetup,
) -> Result<ReductionProof, ReductionError> {
    let backend = B::global();
    // The batching sumcheck; the Dory openings after it have their own spans.
    let reduction_span = tracing::debug_span!("opening_reduction").entered();
    let layouts: Vec<Layout> = polys.iter().map(|p| p.hint.layout).collect();
    let plan = plan(claims, &layouts)?;
    let commitments: Vec<(Commitment, Layout)> = polys
        .iter()
        .map(|p| (*p.commitment, p.hint.layout))
        .collect();
    absorb_claims(transcript, &commitments, claims);
    let gamma = transcript.challenge(b"reduction/gamma");
    let (powers, total) = batching(gamma, claims, &layouts, plan.num_vars);
    let n = plan.num_vars;

    let targets: Vec<(usize, &[Fr], Fr)> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice(), c.value))
        .collect();
    let mut rounds_prover = BatchedRounds::new(
        backend,
        &plan,
        &layouts,
        |p| polys[p].poly,
        &targets,
        &powers,
    )?;
    let (sumcheck, point, _) = sumcheck::prove_with(transcript, total, n, 2, &mut rounds_prover)?;
    let values = rounds_prover.values;
    let final_values: Vec<Fr> = values.iter().map(|f| f[0]).collect();
    transcript.append_scalars(b"reduction/values", &final_values);
    drop(reduction_span);

    let mut openings = Vec::with_capacity(plan.groups.len());
    for (layout, members) in &plan.groups {
        let delta = transcript.challenge(b"reduction/delta");
        let group_point = &point[..layout.num_vars()];
        let (poly, commitment, hint) = combine_prover(polys, members, delta, *layout)?;
        let (_, proof) = open::<B, _>(&poly, &commitment, &hint, group_point, setup, transcript)?;
        openings.push(proof);
    }
    Ok(ReductionProof {
        sumcheck,
        values: final_values,
        openings,
    })
}

/// `Π_{j ∈ [n_P, n_G)} (1 − ρ_j)`: the factor from a member's value at its own
/// prefix to its zero extension's value at the group's prefix.
pub(crate) fn extension_factor(point: &[Fr], member_vars: usize, group_vars: usize) -> Fr {
    point[member_vars..group_vars]
        .iter()
        .map(|r| Fr::one() - r)
        .product()
}

/// Σ δ^k over the group's polynomials (zero-extended to the group's size),
/// commitments and row commitments.
pub(crate) fn combine_prover(
    polys: &[ProverPoly<'_>],
    members: &[usize],
    delta: Fr,
    layout: Layout,
) -> Result<(MultilinearPoly, Commitment, CommitmentHint), ReductionError> {
    if let [single] = members {
        let p = &polys[*single];
        if p.hint.layout == layout {
            return Ok((p.poly.clone(), *p.commitment, p.hint.clone()));
        }
    }
    let mut combined = vec![Fr::zero(); layout.len()];
    let mut commitment = ArkGT::identity();
    let mut rows = vec![dory_pcs::backends::arkworks::ArkG1::identity(); 1 << layout.nu];
    let mut power = Fr::one();
    for &m in members {
        let p = &polys[m];
        combined
            .iter_mut()
            .zip(p.poly.to_field())
            .for_each(|(a, v)| *a += power * v);
        commitment = commitment + p.commitment.0.scale(&ArkFr(power));
        rows.iter_mut()
            .zip(&p.hint.rows)
            .for_each(|(a, r)| *a = *a + r.scale(&ArkFr(power)));
        power *= delta;
    }
    Ok((
        MultilinearPoly::from_field(combined)?,
        Commitment(commitment),
        CommitmentHint { layout, rows },
    ))
}

/// Verifies the reduction of `claims` on the committed `polys`.
pub fn verify(
    transcript: &mut ProofTranscript,
    polys: &[VerifierPoly],
    claims: &[Claim],
    proof: &ReductionProof,
    setup: &dory_pcs::setup::VerifierSetup<dory_pcs::backends::arkworks::BN254>,
) -> Result<(), ReductionError> {
    let layouts: Vec<Layout> = polys.iter().map(|p| p.layout).collect();
    let plan = plan(claims, &layouts)?;
    if proof.values.len() != plan.polys.len() {
        return Err(ReductionError::Shape(format!(
            "{} values for {} claimed polynomials",
            proof.values.len(),
            plan.polys.len()
        )));
    }
    if proof.openings.len() != plan.groups.len() {
        return Err(ReductionError::Shape(format!(
            "{} Dory openings for {} layout groups",
            proof.openings.len(),
            plan.groups.len()
        )));
    }
    let commitments: Vec<(Commitment, Layout)> =
        polys.iter().map(|p| (p.commitment, p.layout)).collect();
    absorb_claims(transcript, &commitments, claims);
    let gamma = transcript.challenge(b"reduction/gamma");
    let (powers, total) = batching(gamma, claims, &layouts, plan.num_vars);
    let (point, reduced) = sumcheck::verify(transcript, total, plan.num_vars, 2, &proof.sumcheck)?;
    // Σ_P W_P(ρ_<n_P) · y_P must equal the reduced claim.
    let mut expected = Fr::zero();
    for (k, &p) in plan.polys.iter().enumerate() {
        let prefix = &point[..layouts[p].num_vars()];
        let weight: Fr = claims
            .iter()
            .enumerate()
            .filter(|(_, c)| c.poly == p)
            .map(|(i, c)| powers[i] * eq_eval(&c.point, prefix))
            .sum();
        expected += weight * proof.values[k];
    }
    if expected != reduced {
        return Err(ReductionError::FinalMismatch);
    }
    transcript.append_scalars(b"reduction/values", &proof.values);
    for (group, ((layout, members), opening)) in plan.groups.iter().zip(&proof.openings).enumerate()
    {
        let delta = transcript.challenge(b"reduction/delta");
        let mut commitment = ArkGT::identity();
        let mut value = Fr::zero();
        let mut power = Fr::one();
        for &m in members {
            let k = plan.polys.binary_search(&m).expect("member of the plan");
            commitment = commitment + polys[m].commitment.0.scale(&ArkFr(power));
            let factor = extension_factor(&point, layouts[m].num_vars(), layout.num_vars());
            value += power * factor * proof.values[k];
            power *= delta;
        }
        verify_opening(
            &Commitment(commitment),
            *layout,
            &point[..layout.num_vars()],
            &value,
            opening,
            setup,
            transcript,
        )
        .map_err(|source| ReductionError::Opening {
            group,
            nu: layout.nu,
            sigma: layout.sigma,
            source,
        })?;
    }
    Ok(())
}
