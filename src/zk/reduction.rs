//! The opening reduction ([`crate::pcs::reduction`]) with committed claims and
//! hiding openings: many claims `P(r_i) = v_i`, where each `v_i` is known to the
//! verifier only as a Pedersen commitment `C_i`, on polynomials committed with
//! [`crate::pcs::hiding`], become one hiding Dory opening per layout group.
//!
//! 1. The claims (polynomial, point, commitment) are absorbed; γ batches them:
//!    the batched claim is `Σ_i γ^i·2^(N−n_i)·C_i`, derived homomorphically.
//! 2. The batched sumcheck is the same as the transparent one's (same round
//!    kernel), run through [`super::sumcheck::prove_rounds`]: committed rounds.
//! 3. The values `y_P = P(ρ_<n_P)` are sent as fresh commitments `Y_P`; the
//!    final check `Σ_P W_P(ρ)·Y_P − C_n` (W_P public) opens to zero.
//! 4. Per layout group, δ combines the members' hiding commitments (GT) and the
//!    committed values (G1, with the zero-extension factors); a hiding opening
//!    of the combination returns `y_com`, and a proof of zero links the
//!    combined committed value to it.
//!
//! Nothing sent depends on the polynomials except through commitments with
//! fresh blinds, Σ-proofs and dory-pcs's blinded messages.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{One, Zero};
use dory_pcs::backends::arkworks::{ArkFr, ArkGT};
use dory_pcs::primitives::arithmetic::Group;

use super::pedersen::{commit_all, BlindSource, Opening, PedersenGens};
use super::sigma::ZeroProof;
use super::sumcheck::{prove_rounds, verify_rounds, ZkRounds};
use super::Challenger;
use crate::backend::CpuBackend;
use crate::pcs::hiding::{self, HidingHint};
use crate::pcs::reduction::{
    combine_prover, extension_factor, plan_of, BatchedRounds, ProverPoly, ReductionError,
    VerifierPoly,
};
use crate::pcs::{Commitment, DorySetup, EvaluationProof, Layout, MultilinearPoly};
use crate::poly::pow2;
use crate::sumcheck::eq_eval;
use crate::transcript::ProofTranscript;

/// A claim with a committed value, as the verifier holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedClaim {
    pub poly: usize,
    pub point: Vec<Fr>,
    pub value: G1Affine,
}

/// A claim with a committed value, as the prover holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedClaim {
    pub poly: usize,
    pub point: Vec<Fr>,
    pub value: Opening,
}

/// A polynomial under a hiding commitment, as the prover holds it.
#[derive(Debug, Clone, Copy)]
pub struct HiddenPoly<'a> {
    pub poly: &'a MultilinearPoly,
    pub commitment: &'a Commitment,
    pub hint: &'a HidingHint,
}

/// The zero-knowledge reduction's proof.
#[derive(Debug, Clone, PartialEq)]
pub struct ZkReductionProof {
    pub rounds: ZkRounds,
    /// `Y_P` for every claimed polynomial, in increasing polynomial index.
    pub values: Vec<G1Affine>,
    /// `Σ_P W_P(ρ)·Y_P − C_n` opens to zero.
    pub final_check: ZeroProof,
    /// Per layout group: the hiding opening and the proof of zero linking the
    /// group's combined committed value to the opening's `y_com`.
    pub openings: Vec<(EvaluationProof, ZeroProof)>,
}

fn absorb_claims(
    t: &mut ProofTranscript,
    commitments: &[(Commitment, Layout)],
    claims: &[(usize, &[Fr], G1Affine)],
) {
    t.append_message(b"zk-reduction", b"batched-hiding-openings/v1");
    t.append_u64(b"zk-reduction/polys", commitments.len() as u64);
    for (commitment, layout) in commitments {
        t.append_point(b"zk-reduction/commitment", &commitment.0 .0);
        t.append_u64(b"zk-reduction/nu", layout.nu as u64);
        t.append_u64(b"zk-reduction/sigma", layout.sigma as u64);
    }
    t.append_u64(b"zk-reduction/claims", claims.len() as u64);
    for (poly, point, value) in claims {
        t.append_u64(b"zk-reduction/claim_poly", *poly as u64);
        t.append_scalars(b"zk-reduction/claim_point", point);
        t.append_point(b"zk-reduction/claim_value", value);
    }
}

/// γ^i per claim and the scale `γ^i·2^(N−n_i)` of each claim in the batch.
fn batching(
    gamma: Fr,
    claims: &[(usize, &[Fr])],
    layouts: &[Layout],
    n: usize,
) -> (Vec<Fr>, Vec<Fr>) {
    let mut powers = Vec::with_capacity(claims.len());
    let mut scales = Vec::with_capacity(claims.len());
    let mut power = Fr::one();
    for (poly, _) in claims {
        powers.push(power);
        scales.push(power * pow2(n - layouts[*poly].num_vars()));
        power *= gamma;
    }
    (powers, scales)
}

/// `W_P(prefix) = Σ_{i on P} γ^i·eq(r_i, prefix)`.
fn weight_at(claims: &[(usize, &[Fr])], powers: &[Fr], poly: usize, prefix: &[Fr]) -> Fr {
    claims
        .iter()
        .zip(powers)
        .filter(|((p, _), _)| *p == poly)
        .map(|((_, point), power)| *power * eq_eval(point, prefix))
        .sum()
}

/// Proves every claim on the hidden polynomials.
pub fn prove(
    t: &mut ProofTranscript,
    polys: &[HiddenPoly<'_>],
    claims: &[OpenedClaim],
    setup: &DorySetup,
    blinds: &mut dyn BlindSource,
) -> Result<ZkReductionProof, ReductionError> {
    let gens = PedersenGens::dory();
    let backend = CpuBackend::global();
    let layouts: Vec<Layout> = polys.iter().map(|p| p.hint.rows.layout).collect();
    let targets: Vec<(usize, &[Fr])> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice()))
        .collect();
    let plan = plan_of(&targets, &layouts)?;
    let commitments: Vec<(Commitment, Layout)> = polys
        .iter()
        .map(|p| (*p.commitment, p.hint.rows.layout))
        .collect();
    let claim_commitments = commit_all(gens, &claims.iter().map(|c| c.value).collect::<Vec<_>>());
    let absorbed: Vec<(usize, &[Fr], G1Affine)> = targets
        .iter()
        .zip(&claim_commitments)
        .map(|(&(p, r), c)| (p, r, *c))
        .collect();
    absorb_claims(t, &commitments, &absorbed);
    let gamma = t.challenge(b"zk-reduction/gamma");
    let (powers, scales) = batching(gamma, &targets, &layouts, plan.num_vars);
    let total = claims
        .iter()
        .zip(&scales)
        .fold(Opening::zero(), |acc, (c, s)| acc + c.value * *s);

    let with_values: Vec<(usize, &[Fr], Fr)> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice(), c.value.value))
        .collect();
    let mut rounds_prover = BatchedRounds::new(
        backend,
        &plan,
        &layouts,
        |p| polys[p].poly,
        &with_values,
        &powers,
    )?;
    let reduction_span = tracing::debug_span!("opening_reduction").entered();
    let (rounds, point, reduced) =
        prove_rounds(t, gens, total, plan.num_vars, 2, &mut rounds_prover, blinds)
            .map_err(|e| ReductionError::Shape(e.to_string()))?;
    drop(reduction_span);
    let openings: Vec<Opening> = rounds_prover
        .values
        .iter()
        .map(|f| Opening::new(f[0], blinds.blind()))
        .collect();
    let values = commit_all(gens, &openings);
    t.absorb_points(b"zk-reduction/values", &values);
    let mut combination = -reduced;
    for (k, &p) in plan.polys.iter().enumerate() {
        let prefix = &point[..layouts[p].num_vars()];
        combination = combination + openings[k] * weight_at(&targets, &powers, p, prefix);
    }
    let combination_c = gens.commit_opening(combination).into_affine();
    let final_check = ZeroProof::prove(t, gens, &combination_c, combination, blinds);

    let mut group_openings = Vec::with_capacity(plan.groups.len());
    for (layout, members) in &plan.groups {
        let delta = t.challenge(b"zk-reduction/delta");
        let group_point = &point[..layout.num_vars()];
        let (poly, commitment, hint) = combine_hidden(polys, members, delta, *layout)?;
        let mut value = Opening::zero();
        let mut power = Fr::one();
        for &m in members {
            let k = plan.polys.binary_search(&m).expect("member of the plan");
            let factor = extension_factor(&point, layouts[m].num_vars(), layout.num_vars());
            value = value + openings[k] * (power * factor);
            power *= delta;
        }
        let (y, proof) = hiding::open(&poly, &commitment, &hint, group_point, setup, t)?;
        let link = value - y;
        let link_c = gens.commit_opening(link).into_affine();
        let link_proof = ZeroProof::prove(t, gens, &link_c, link, blinds);
        group_openings.push((proof, link_proof));
    }
    Ok(ZkReductionProof {
        rounds,
        values,
        final_check,
        openings: group_openings,
    })
}

/// Σ δ^k over the group's hidden polynomials: values, commitments, rows and
/// blinds combine linearly (the GT blinds with the same powers).
fn combine_hidden(
    polys: &[HiddenPoly<'_>],
    members: &[usize],
    delta: Fr,
    layout: Layout,
) -> Result<(MultilinearPoly, Commitment, HidingHint), ReductionError> {
    let transparent: Vec<ProverPoly<'_>> = polys
        .iter()
        .map(|p| ProverPoly {
            poly: p.poly,
            commitment: p.commitment,
            hint: &p.hint.rows,
        })
        .collect();
    let (poly, _, rows) = combine_prover(&transparent, members, delta, layout)?;
    let mut commitment = ArkGT::identity();
    let mut blind = Fr::zero();
    let mut power = Fr::one();
    for &m in members {
        commitment = commitment + polys[m].commitment.0.scale(&ArkFr(power));
        blind += power * polys[m].hint.blind;
        power *= delta;
    }
    Ok((poly, Commitment(commitment), HidingHint { rows, blind }))
}

/// Verifies the reduction of committed `claims` on the hidden `polys`.
pub fn verify(
    t: &mut ProofTranscript,
    polys: &[VerifierPoly],
    claims: &[CommittedClaim],
    proof: &ZkReductionProof,
    setup: &dory_pcs::setup::VerifierSetup<dory_pcs::backends::arkworks::BN254>,
) -> Result<(), ReductionError> {
    let gens = PedersenGens::dory();
    let layouts: Vec<Layout> = polys.iter().map(|p| p.layout).collect();
    let targets: Vec<(usize, &[Fr])> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice()))
        .collect();
    let plan = plan_of(&targets, &layouts)?;
    if proof.values.len() != plan.polys.len() || proof.openings.len() != plan.groups.len() {
        return Err(ReductionError::Shape(format!(
            "{} values and {} openings for {} claimed polynomials in {} layout groups",
            proof.values.len(),
            proof.openings.len(),
            plan.polys.len(),
            plan.groups.len()
        )));
    }
    let commitments: Vec<(Commitment, Layout)> =
        polys.iter().map(|p| (p.commitment, p.layout)).collect();
    let absorbed: Vec<(usize, &[Fr], G1Affine)> = claims
        .iter()
        .map(|c| (c.poly, c.point.as_slice(), c.value))
        .collect();
    absorb_claims(t, &commitments, &absorbed);
    let gamma = t.challenge(b"zk-reduction/gamma");
    let (powers, scales) = batching(gamma, &targets, &layouts, plan.num_vars);
    let claim_points: Vec<G1Affine> = claims.iter().map(|c| c.value).collect();
    let total = G1Projective::msm_unchecked(&claim_points, &scales).into_affine();
    let (point, reduced) = verify_rounds(t, &total, plan.num_vars, 2, &proof.rounds)
        .map_err(|e| ReductionError::Shape(e.to_string()))?;
    t.absorb_points(b"zk-reduction/values", &proof.values);
    let mut bases = vec![reduced];
    let mut scalars = vec![-Fr::one()];
    for (k, &p) in plan.polys.iter().enumerate() {
        let prefix = &point[..layouts[p].num_vars()];
        bases.push(proof.values[k]);
        scalars.push(weight_at(&targets, &powers, p, prefix));
    }
    let combination = G1Projective::msm_unchecked(&bases, &scalars).into_affine();
    proof
        .final_check
        .verify(t, gens, &combination)
        .map_err(|_| ReductionError::FinalMismatch)?;

    for (group, ((layout, members), (opening, link))) in
        plan.groups.iter().zip(&proof.openings).enumerate()
    {
        let delta = t.challenge(b"zk-reduction/delta");
        let mut commitment = ArkGT::identity();
        let mut bases = Vec::with_capacity(members.len());
        let mut scalars = Vec::with_capacity(members.len());
        let mut power = Fr::one();
        for &m in members {
            let k = plan.polys.binary_search(&m).expect("member of the plan");
            commitment = commitment + polys[m].commitment.0.scale(&ArkFr(power));
            bases.push(proof.values[k]);
            scalars
                .push(power * extension_factor(&point, layouts[m].num_vars(), layout.num_vars()));
            power *= delta;
        }
        let value = G1Projective::msm_unchecked(&bases, &scalars);
        let opening_error = |source| ReductionError::Opening {
            group,
            nu: layout.nu,
            sigma: layout.sigma,
            source,
        };
        let y_com = hiding::verify(
            &Commitment(commitment),
            *layout,
            &point[..layout.num_vars()],
            opening,
            setup,
            t,
        )
        .map_err(opening_error)?;
        let link_c = (value - y_com).into_affine();
        link.verify(t, gens, &link_c)
            .map_err(|_| ReductionError::HidingLink { group })?;
    }
    Ok(())
}
