//! Zero-knowledge sumcheck: every round polynomial is sent as Pedersen
//! commitments to its coefficients, and the final check `g(f(ρ)) = s_n(r_n)` is
//! closed by Σ-proofs instead of values in the clear.
//!
//! # Rounds
//! The claim is a commitment `C` (to the sum `H`, with a blind the prover
//! knows). Round `j` sends `C_0, C_2, …, C_d`, commitments to the coefficients
//! `c_0, c_2, …, c_d` of `s_j`, each with a fresh uniform blind, exactly the
//! compressed form of the clear protocol ([`crate::sumcheck`]); `c_1` is implied
//! by `s_j(0) + s_j(1) = claim`. After absorbing them the challenge `r_j` is
//! drawn and both sides derive the next claim's commitment homomorphically:
//!
//! ```text
//! C' = (1 − 2r)·C_0 + r·C + Σ_{i≥2} (r^i − r)·C_i      (= Com(s_j(r_j)))
//! ```
//!
//! so the round's consistency check costs the verifier one small MSM and no
//! proof: a prover who commits to a polynomial with the wrong sum simply ends
//! with a commitment it cannot open as the final check requires.
//!
//! # Final check
//! `g = Σ_t coeff_t · Π f_j` over the MLEs. Some MLEs are public (the verifier
//! evaluates them itself: `eq` tables, table MLEs, public weights); the others'
//! values at ρ are sent as fresh commitments ([`FinalProof::evals`]) and become
//! committed claims on the witness. For each term, the public factors fold into
//! the coefficient and the private factors are multiplied left to right, each
//! product committed and proven by a [`ProductProof`]; finally
//! `Σ_t coeff_t·P_t − C_n` must open to zero ([`ZeroProof`]).
//!
//! # Why the transcript is simulatable
//! Every round commitment and every committed evaluation carries a fresh
//! uniform blind, so each is a uniform element of G1 independent of the
//! witness. The Σ-proofs are special honest-verifier zero-knowledge. Given the
//! verifier's challenges, a simulator that knows nothing of the MLEs commits to
//! random values, derives the same commitments the verifier derives and
//! simulates each Σ-proof (see `simulate` in the tests); the result has the same
//! distribution as a real proof, and the statistical test in the tests checks
//! that two different witnesses give indistinguishable proofs.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{AdditiveGroup, One, Zero};

use super::pedersen::{commit_all, BlindSource, Opening, PedersenGens};
use super::sigma::{ProductProof, SigmaError, ZeroProof};
use super::Challenger;
use crate::backend::Backend;
use crate::sumcheck::{
    evaluate_coeffs, interpolate_coeffs, Expression, ExpressionProver, RoundProver, SumcheckError,
};

/// Why a zero-knowledge sumcheck was rejected or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkSumcheckError {
    #[error(transparent)]
    Sumcheck(#[from] SumcheckError),
    #[error(transparent)]
    Sigma(#[from] SigmaError),
    #[error("zero-knowledge sumcheck: {0}")]
    Shape(String),
}

/// One round: commitments to `[c_0, c_2, …, c_d]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedRound(pub Vec<G1Affine>);

/// The rounds of a zero-knowledge sumcheck.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZkRounds {
    pub rounds: Vec<CommittedRound>,
}

/// The closing proof of the final check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalProof {
    /// Commitments to the private MLEs' values at ρ, in MLE order.
    pub evals: Vec<G1Affine>,
    /// Each product of private factors, in term order: its commitment and proof.
    pub products: Vec<(G1Affine, ProductProof)>,
    /// `Σ_t coeff_t·P_t − C_n` opens to zero.
    pub zero: ZeroProof,
}

/// A whole zero-knowledge sumcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkSumcheckProof {
    pub rounds: ZkRounds,
    pub last: FinalProof,
}

/// What the prover keeps: the point and the openings of the private MLEs'
/// committed values at it (the committed claims it must later discharge).
#[derive(Debug, Clone)]
pub struct ZkProverOutput {
    pub proof: ZkSumcheckProof,
    pub point: Vec<Fr>,
    /// One per private MLE, in MLE order.
    pub private_evals: Vec<Opening>,
}

fn absorb_header(ch: &mut impl Challenger, claim: &G1Affine, num_vars: usize, degree: usize) {
    ch.absorb_point(b"zk-sumcheck/claim", claim);
    ch.absorb_u64(b"zk-sumcheck/num_vars", num_vars as u64);
    ch.absorb_u64(b"zk-sumcheck/degree", degree as u64);
}

/// The scalars `[(1 − 2r), r, r^2 − r, …, r^d − r]` by which `C_0`, the
/// claim, `C_2`, …, `C_d` combine into the next claim.
fn next_claim_weights(r: Fr, degree: usize) -> Vec<Fr> {
    let mut w = Vec::with_capacity(degree + 1);
    w.push(Fr::one() - r.double());
    w.push(r);
    let mut power = r;
    for _ in 2..=degree {
        power *= r;
        w.push(power - r);
    }
    w
}

/// The next claim's commitment from a round's commitments (see the module docs).
pub fn next_claim(claim: &G1Affine, round: &CommittedRound, r: Fr) -> G1Projective {
    let degree = round.0.len();
    let weights = next_claim_weights(r, degree);
    let mut bases = Vec::with_capacity(degree + 1);
    bases.push(round.0[0]);
    bases.push(*claim);
    bases.extend_from_slice(&round.0[1..]);
    G1Projective::msm_unchecked(&bases, &weights)
}

/// The prover's rounds over any [`RoundProver`]: returns the rounds, the point
/// and the opening of the last claim (`s_n(r_n)` with its derived blind).
pub fn prove_rounds(
    ch: &mut impl Challenger,
    gens: &PedersenGens,
    claim: Opening,
    num_vars: usize,
    degree: usize,
    prover: &mut impl RoundProver,
    blinds: &mut dyn BlindSource,
) -> Result<(ZkRounds, Vec<Fr>, Opening), ZkSumcheckError> {
    let claim_commitment = gens.commit_opening(claim).into_affine();
    absorb_header(ch, &claim_commitment, num_vars, degree);
    let mut running = claim;
    let mut point = Vec::with_capacity(num_vars);
    let mut rounds = Vec::with_capacity(num_vars);
    for round in 0..num_vars {
        let evals = prover.round_evals(round, running.value)?;
        if evals.len() != degree + 1 || evals[0] + evals[1] != running.value {
            return Err(SumcheckError::ProverClaimMismatch { round }.into());
        }
        let coeffs = interpolate_coeffs(&evals);
        let openings: Vec<Opening> = std::iter::once(coeffs[0])
            .chain(coeffs[2..].iter().copied())
            .map(|c| Opening::new(c, blinds.blind()))
            .collect();
        let committed = CommittedRound(commit_all(gens, &openings));
        ch.absorb_points(b"zk-sumcheck/round", &committed.0);
        let r = ch.challenge(b"zk-sumcheck/challenge");
        let weights = next_claim_weights(r, degree);
        let mut next = openings[0] * weights[0] + running * weights[1];
        for (o, w) in openings[1..].iter().zip(&weights[2..]) {
            next = next + *o * *w;
        }
        debug_assert_eq!(next.value, evaluate_coeffs(&coeffs, r));
        running = next;
        prover.bind(r)?;
        point.push(r);
        rounds.push(committed);
    }
    Ok((ZkRounds { rounds }, point, running))
}

/// The verifier's rounds: checks their shape, derives the point and the last
/// claim's commitment.
pub fn verify_rounds(
    ch: &mut impl Challenger,
    claim: &G1Affine,
    num_vars: usize,
    degree: usize,
    proof: &ZkRounds,
) -> Result<(Vec<Fr>, G1Affine), ZkSumcheckError> {
    if proof.rounds.len() != num_vars {
        return Err(SumcheckError::RoundCount {
            expected: num_vars,
            actual: proof.rounds.len(),
        }
        .into());
    }
    if degree == 0 {
        return Err(ZkSumcheckError::Shape("degree 0".into()));
    }
    absorb_header(ch, claim, num_vars, degree);
    // C_n is linear in the claim and every round commitment:
    // C_{j+1} = w_0·C_0 + r_j·C_j + Σ w_i·C_i, so the claim's coefficient is
    // Π r_j and round j's are its weights times Π_{k>j} r_k. One MSM at the end.
    let mut point = Vec::with_capacity(num_vars);
    let mut weights = Vec::with_capacity(num_vars);
    for (round, committed) in proof.rounds.iter().enumerate() {
        if committed.0.len() != degree {
            return Err(SumcheckError::RoundDegree {
                round,
                expected: degree,
                actual: committed.0.len(),
            }
            .into());
        }
        ch.absorb_points(b"zk-sumcheck/round", &committed.0);
        let r = ch.challenge(b"zk-sumcheck/challenge");
        weights.push(next_claim_weights(r, degree));
        point.push(r);
    }
    let mut bases = Vec::with_capacity(num_vars * degree + 1);
    let mut scalars = Vec::with_capacity(num_vars * degree + 1);
    let mut suffix = Fr::one();
    for (committed, w) in proof.rounds.iter().zip(&weights).rev() {
        bases.push(committed.0[0]);
        scalars.push(w[0] * suffix);
        for (c, wi) in committed.0[1..].iter().zip(&w[2..]) {
            bases.push(*c);
            scalars.push(*wi * suffix);
        }
        suffix *= w[1];
    }
    bases.push(*claim);
    scalars.push(suffix);
    let running = G1Projective::msm_unchecked(&bases, &scalars).into_affine();
    Ok((point, running))
}

/// A term of `g` split into its public scalar and its private factors.
struct SplitTerm {
    scalar: Fr,
    private: Vec<usize>,
}

/// Splits every term; `public[j]` is MLE j's value when the verifier knows it.
fn split_terms(expr: &Expression, public: &[Option<Fr>]) -> Vec<SplitTerm> {
    expr.terms()
        .iter()
        .map(|t| {
            let mut scalar = t.coeff;
            let mut private = Vec::new();
            for &f in &t.factors {
                match public[f] {
                    Some(v) => scalar *= v,
                    None => private.push(f),
                }
            }
            SplitTerm { scalar, private }
        })
        .collect()
}

/// Number of [`ProductProof`]s the final check of `expr` needs.
fn product_count(terms: &[SplitTerm]) -> usize {
    terms
        .iter()
        .map(|t| t.private.len().saturating_sub(1))
        .sum()
}

/// The prover's final check. `finals` are all MLEs' values at ρ; `public[j]`
/// is `Some(finals[j])` for the MLEs the verifier evaluates itself. `reduced`
/// opens the last claim.
pub fn prove_final(
    ch: &mut impl Challenger,
    gens: &PedersenGens,
    expr: &Expression,
    finals: &[Fr],
    public: &[Option<Fr>],
    reduced: Opening,
    blinds: &mut dyn BlindSource,
) -> Result<(FinalProof, Vec<Opening>), ZkSumcheckError> {
    if finals.len() != expr.num_mles() || public.len() != expr.num_mles() {
        return Err(ZkSumcheckError::Shape(format!(
            "{} values and {} visibilities for {} MLEs",
            finals.len(),
            public.len(),
            expr.num_mles()
        )));
    }
    // Private values: committed with fresh blinds, then absorbed.
    let mut openings: Vec<Option<Opening>> = vec![None; finals.len()];
    let mut private_evals = Vec::new();
    for (j, v) in finals.iter().enumerate() {
        if public[j].is_none() {
            let o = Opening::new(*v, blinds.blind());
            openings[j] = Some(o);
            private_evals.push(o);
        }
    }
    let evals = commit_all(gens, &private_evals);
    ch.absorb_points(b"zk-sumcheck/final-evals", &evals);
    let mut commitments: Vec<Option<G1Affine>> = vec![None; finals.len()];
    for (slot, c) in (0..finals.len())
        .filter(|&j| public[j].is_none())
        .zip(&evals)
    {
        commitments[slot] = Some(*c);
    }

    let terms = split_terms(expr, public);
    let mut products = Vec::with_capacity(product_count(&terms));
    let mut combination = -reduced;
    for term in &terms {
        let Some((&first, rest)) = term.private.split_first() else {
            combination = combination + Opening::constant(term.scalar);
            continue;
        };
        let mut acc = openings[first].expect("private MLE has an opening");
        let mut acc_c = commitments[first].expect("private MLE has a commitment");
        for &f in rest {
            let factor = openings[f].expect("private MLE has an opening");
            let factor_c = commitments[f].expect("private MLE has a commitment");
            let product = Opening::new(acc.value * factor.value, blinds.blind());
            let product_c = gens.commit_opening(product).into_affine();
            let proof = ProductProof::prove(
                ch,
                gens,
                [&acc_c, &factor_c, &product_c],
                [acc, factor, product],
                blinds,
            );
            products.push((product_c, proof));
            acc = product;
            acc_c = product_c;
        }
        combination = combination + acc * term.scalar;
    }
    if !combination.value.is_zero() {
        return Err(SumcheckError::ProverClaimMismatch { round: usize::MAX }.into());
    }
    let combination_c = gens.commit_opening(combination).into_affine();
    let zero = ZeroProof::prove(ch, gens, &combination_c, combination, blinds);
    Ok((
        FinalProof {
            evals,
            products,
            zero,
        },
        private_evals,
    ))
}

/// The commitment `Σ_t coeff_t·P_t − C_n` the verifier derives; the caller has
/// checked the proof's counts against `terms`.
fn final_combination(
    gens: &PedersenGens,
    terms: &[SplitTerm],
    commitments: &[Option<G1Affine>],
    products: &[(G1Affine, ProductProof)],
    reduced: &G1Affine,
) -> G1Affine {
    let mut bases = vec![*reduced, gens.g];
    let mut scalars = vec![-Fr::one(), Fr::zero()];
    let mut next_product = 0;
    for term in terms {
        let Some((&first, rest)) = term.private.split_first() else {
            scalars[1] += term.scalar;
            continue;
        };
        let mut acc_c = commitments[first].expect("checked by the caller");
        for _ in rest {
            acc_c = products[next_product].0;
            next_product += 1;
        }
        bases.push(acc_c);
        scalars.push(term.scalar);
    }
    G1Projective::msm_unchecked(&bases, &scalars).into_affine()
}

/// The verifier's final check; returns the commitments to the private MLEs'
/// values at ρ (in MLE order), which the caller must have opened.
pub fn verify_final(
    ch: &mut impl Challenger,
    gens: &PedersenGens,
    expr: &Expression,
    public: &[Option<Fr>],
    proof: &FinalProof,
    reduced: &G1Affine,
) -> Result<Vec<G1Affine>, ZkSumcheckError> {
    if public.len() != expr.num_mles() {
        return Err(ZkSumcheckError::Shape(format!(
            "{} visibilities for {} MLEs",
            public.len(),
            expr.num_mles()
        )));
    }
    let private_count = public.iter().filter(|p| p.is_none()).count();
    let terms = split_terms(expr, public);
    if proof.evals.len() != private_count || proof.products.len() != product_count(&terms) {
        return Err(ZkSumcheckError::Shape(format!(
            "{} committed values and {} products, {} and {} expected",
            proof.evals.len(),
            proof.products.len(),
            private_count,
            product_count(&terms)
        )));
    }
    ch.absorb_points(b"zk-sumcheck/final-evals", &proof.evals);
    let mut commitments: Vec<Option<G1Affine>> = vec![None; public.len()];
    for (slot, c) in (0..public.len())
        .filter(|&j| public[j].is_none())
        .zip(&proof.evals)
    {
        commitments[slot] = Some(*c);
    }
    let mut next_product = 0;
    for term in &terms {
        let Some((&first, rest)) = term.private.split_first() else {
            continue;
        };
        let mut acc_c = commitments[first].expect("every private MLE has a commitment");
        for &f in rest {
            let factor_c = commitments[f].expect("every private MLE has a commitment");
            let (product_c, product) = &proof.products[next_product];
            product.verify(ch, gens, [&acc_c, &factor_c, product_c])?;
            acc_c = *product_c;
            next_product += 1;
        }
    }
    let combination = final_combination(gens, &terms, &commitments, &proof.products, reduced);
    proof.zero.verify(ch, gens, &combination)?;
    Ok(proof.evals.clone())
}

/// Proves `Σ_x g(mles(x)) = claim.value` with committed rounds and a committed
/// final check. `public[j]` says whether MLE j's final value is one the verifier
/// computes itself (its value is then read from the MLE).
#[allow(clippy::too_many_arguments)]
pub fn prove<B: Backend + ?Sized>(
    backend: &B,
    ch: &mut impl Challenger,
    gens: &PedersenGens,
    claim: Opening,
    mles: Vec<Vec<Fr>>,
    expr: &Expression,
    public: &[bool],
    blinds: &mut dyn BlindSource,
) -> Result<ZkProverOutput, ZkSumcheckError> {
    if public.len() != expr.num_mles() {
        return Err(ZkSumcheckError::Shape(format!(
            "{} visibilities for {} MLEs",
            public.len(),
            expr.num_mles()
        )));
    }
    let (mut prover, num_vars) = ExpressionProver::new(backend, mles, expr)?;
    let (rounds, point, reduced) = prove_rounds(
        ch,
        gens,
        claim,
        num_vars,
        expr.degree(),
        &mut prover,
        blinds,
    )?;
    let finals = prover.finals();
    let public_values: Vec<Option<Fr>> = finals
        .iter()
        .zip(public)
        .map(|(v, &p)| p.then_some(*v))
        .collect();
    let (last, private_evals) =
        prove_final(ch, gens, expr, &finals, &public_values, reduced, blinds)?;
    Ok(ZkProverOutput {
        proof: ZkSumcheckProof { rounds, last },
        point,
        private_evals,
    })
}

/// Verifies a zero-knowledge sumcheck of `claim` (a commitment) for `expr` over
/// `num_vars` variables. `public_at(ρ)` gives, per MLE, its value at ρ when the
/// verifier computes it, `None` when it is private. Returns ρ and the
/// commitments to the private MLEs' values at ρ, which the caller must open.
pub fn verify(
    ch: &mut impl Challenger,
    gens: &PedersenGens,
    claim: &G1Affine,
    num_vars: usize,
    expr: &Expression,
    proof: &ZkSumcheckProof,
    public_at: impl FnOnce(&[Fr]) -> Vec<Option<Fr>>,
) -> Result<(Vec<Fr>, Vec<G1Affine>), ZkSumcheckError> {
    let (point, reduced) = verify_rounds(ch, claim, num_vars, expr.degree(), &proof.rounds)?;
    let public = public_at(&point);
    let evals = verify_final(ch, gens, expr, &public, &proof.last, &reduced)?;
    Ok((point, evals))
}

/// The HVZK simulator of the interactive protocol (tests only): given the
/// statement and the verifier's challenges in advance (the rounds', then one per
/// product proof, then the proof of zero's), it outputs a proof without knowing
/// any MLE. Its distribution equals a real proof's: every commitment is uniform,
/// and each Σ-proof is simulated for its known challenge.
#[cfg(test)]
pub(crate) fn simulate(
    gens: &PedersenGens,
    claim: &G1Affine,
    num_vars: usize,
    expr: &Expression,
    challenges: &[Fr],
    public_at: impl FnOnce(&[Fr]) -> Vec<Option<Fr>>,
    blinds: &mut dyn BlindSource,
) -> ZkSumcheckProof {
    let uniform = |n: usize, blinds: &mut dyn BlindSource| -> Vec<G1Affine> {
        let openings: Vec<Opening> = (0..n)
            .map(|_| Opening::new(blinds.blind(), blinds.blind()))
            .collect();
        commit_all(gens, &openings)
    };
    let mut running = *claim;
    let mut rounds = Vec::with_capacity(num_vars);
    for &r in &challenges[..num_vars] {
        let round = CommittedRound(uniform(expr.degree(), blinds));
        running = next_claim(&running, &round, r).into_affine();
        rounds.push(round);
    }
    let public = public_at(&challenges[..num_vars]);
    let terms = split_terms(expr, &public);
    let evals = uniform(public.iter().filter(|p| p.is_none()).count(), blinds);
    let mut commitments: Vec<Option<G1Affine>> = vec![None; public.len()];
    for (slot, c) in (0..public.len())
        .filter(|&j| public[j].is_none())
        .zip(&evals)
    {
        commitments[slot] = Some(*c);
    }
    let mut next_challenge = num_vars;
    let mut products = Vec::new();
    for term in &terms {
        let Some((&first, rest)) = term.private.split_first() else {
            continue;
        };
        let mut acc_c = commitments[first].expect("private");
        for &f in rest {
            let factor_c = commitments[f].expect("private");
            let product_c = uniform(1, blinds)[0];
            let proof = ProductProof::simulate(
                gens,
                [&acc_c, &factor_c, &product_c],
                challenges[next_challenge],
                blinds,
            );
            next_challenge += 1;
            products.push((product_c, proof));
            acc_c = product_c;
        }
    }
    let combination = final_combination(gens, &terms, &commitments, &products, &running);
    let zero = ZeroProof::simulate(gens, &combination, challenges[next_challenge], blinds);
    ZkSumcheckProof {
        rounds: ZkRounds { rounds },
        last: FinalProof {
            evals,
            products,
            zero,
        },
    }
}
