//! Sumcheck for `Σ_{x ∈ {0,1}^n} g(f_0(x), …, f_{k−1}(x))` where `g` is a sum of
//! products of the MLEs with constant coefficients (degree ≤ [`MAX_DEGREE`]).
//!
//! Rounds bind the **low** variable first (variable 0 = bit 0 of the index), so the
//! challenges, in order, are exactly the evaluation point in zkinfer's variable
//! order. Each round polynomial `s(t)` of degree d is sent compressed as
//! `[c_0, c_2, …, c_d]`: the verifier recovers `c_1 = claim − 2c_0 − c_2 − … − c_d`
//! from `s(0) + s(1) = claim`, so a round costs d field elements.
//!
//! The prover's heavy loops are the backend's `sumcheck_round` and `bind`
//! kernels, or a [`RoundProver`]'s own (the batched GKR layers evaluate a
//! split-eq form through `Backend::fraction_layer_round`); only this module
//! touches the transcript. Both sides absorb the
//! claimed sum, the number of variables and the degree before the first round.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field, One, Zero};

use crate::backend::{Backend, BackendError, BindSide, ProductTerm};
use crate::transcript::ProofTranscript;

/// Largest degree of `g` supported.
pub const MAX_DEGREE: usize = 4;

/// Errors of sumcheck proving and verification. Verification errors name the
/// failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumcheckError {
    #[error("sumcheck expression: {0}")]
    BadExpression(String),
    #[error("sumcheck input: {0}")]
    BadInput(String),
    #[error("sumcheck prover: the claimed sum does not match the MLEs (round {round})")]
    ProverClaimMismatch { round: usize },
    #[error("sumcheck proof has {actual} rounds, expected {expected}")]
    RoundCount { expected: usize, actual: usize },
    #[error("sumcheck round {round} has {actual} coefficients, expected {expected}")]
    RoundDegree {
        round: usize,
        expected: usize,
        actual: usize,
    },
    #[error("sumcheck final check failed: g(final values) does not equal the reduced claim")]
    FinalMismatch,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// `g = Σ coeff · Π f_factor` over `num_mles` MLEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    num_mles: usize,
    terms: Vec<ProductTerm>,
    degree: usize,
}

impl Expression {
    /// Checks factor indices and the degree bound.
    pub fn new(num_mles: usize, terms: Vec<ProductTerm>) -> Result<Self, SumcheckError> {
        if terms.is_empty() {
            return Err(SumcheckError::BadExpression("no terms".into()));
        }
        for term in &terms {
            if let Some(&bad) = term.factors.iter().find(|&&f| f >= num_mles) {
                return Err(SumcheckError::BadExpression(format!(
                    "factor {bad} but only {num_mles} MLEs"
                )));
            }
        }
        let degree = terms
            .iter()
            .map(|t| t.factors.len())
            .max()
            .unwrap_or(0)
            .max(1);
        if degree > MAX_DEGREE {
            return Err(SumcheckError::BadExpression(format!(
                "degree {degree} exceeds the supported maximum {MAX_DEGREE}"
            )));
        }
        Ok(Expression {
            num_mles,
            terms,
            degree,
        })
    }

    /// The product `f_0 · f_1 · … · f_{k−1}`.
    pub fn product(k: usize) -> Result<Self, SumcheckError> {
        Self::new(k, vec![ProductTerm::product((0..k).collect())])
    }

    /// Degree of `g` (≥ 1): the degree of every round polynomial.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Number of MLEs `g` reads.
    pub fn num_mles(&self) -> usize {
        self.num_mles
    }

    /// The terms.
    pub fn terms(&self) -> &[ProductTerm] {
        &self.terms
    }

    /// `g(values)`; `values.len()` must be `num_mles`.
    pub fn evaluate(&self, values: &[Fr]) -> Fr {
        self.terms
            .iter()
            .map(|t| t.factors.iter().fold(t.coeff, |acc, &f| acc * values[f]))
            .sum()
    }
}

/// One round polynomial, compressed: `[c_0, c_2, c_3, …, c_d]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedRound(pub Vec<Fr>);

impl CompressedRound {
    /// Recovers all coefficients given the round's claim `s(0) + s(1)`.
    pub fn decompress(&self, claim: Fr) -> Vec<Fr> {
        let mut coeffs = Vec::with_capacity(self.0.len() + 1);
        let c0 = self.0.first().copied().unwrap_or_else(Fr::zero);
        let rest: Fr = self.0.iter().skip(1).sum();
        coeffs.push(c0);
        coeffs.push(claim - c0.double() - rest);
        coeffs.extend_from_slice(self.0.get(1..).unwrap_or(&[]));
        coeffs
    }
}

/// A sumcheck proof: one compressed polynomial per variable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SumcheckProof {
    pub rounds: Vec<CompressedRound>,
}

/// What the prover learns besides the proof.
#[derive(Debug, Clone)]
pub struct ProverOutput {
    pub proof: SumcheckProof,
    /// The challenges: the point every MLE is left to be evaluated at.
    pub point: Vec<Fr>,
    /// `f_j(point)` for every MLE.
    pub final_evals: Vec<Fr>,
}

/// Evaluates `Σ c_i t^i`.
pub fn evaluate_coeffs(coeffs: &[Fr], t: Fr) -> Fr {
    coeffs.iter().rev().fold(Fr::zero(), |acc, c| acc * t + c)
}

/// Monomial coefficients of the degree-d polynomial with `evals[i] = s(i)`,
/// i = 0..=d (Newton forward differences, then expansion).
pub fn interpolate_coeffs(evals: &[Fr]) -> Vec<Fr> {
    let n = evals.len();
    // Divided differences at the nodes 0, 1, …, n−1.
    let mut diffs = evals.to_vec();
    for level in 1..n {
        let inv = Fr::from(level as u64).inverse().expect("level > 0");
        for i in (level..n).rev() {
            diffs[i] = (diffs[i] - diffs[i - 1]) * inv;
        }
    }
    // Horner on the Newton form: p = d0 + (t−0)(d1 + (t−1)(d2 + …)).
    let mut coeffs = vec![Fr::zero(); n];
    for i in (0..n).rev() {
        // coeffs = coeffs · (t − i) + diffs[i]
        let node = Fr::from(i as u64);
        let mut next = vec![Fr::zero(); n];
        for (k, c) in coeffs.iter().enumerate() {
            if c.is_zero() {
                continue;
            }
            if k + 1 < n {
                next[k + 1] += c;
            }
            next[k] -= *c * node;
        }
        next[0] += diffs[i];
        coeffs = next;
    }
    coeffs
}

/// Absorbs a sumcheck's claim, size and degree (done by [`prove`] and [`verify`]; public for
/// protocols that run their own prover loop with the standard verifier).
pub fn absorb_header(transcript: &mut ProofTranscript, claim: &Fr, num_vars: usize, degree: usize) {
    transcript.append_scalar(b"sumcheck/claim", claim);
    transcript.append_u64(b"sumcheck/num_vars", num_vars as u64);
    transcript.append_u64(b"sumcheck/degree", degree as u64);
}

/// A sumcheck prover's per-round work, for [`prove_with`]: protocols with a
/// dedicated round kernel (the batched GKR layers of `lookup`) implement it;
/// [`prove`] is the generic one over an [`Expression`].
pub trait RoundProver {
    /// `[s(0), s(1), …, s(degree)]` of this round, given the running claim.
    fn round_evals(&mut self, round: usize, running: Fr) -> Result<Vec<Fr>, SumcheckError>;
    /// Fixes this round's variable to the challenge `r`.
    fn bind(&mut self, r: Fr) -> Result<(), SumcheckError>;
}

/// The prover's loop: absorbs the header, then per round sends the round
/// polynomial compressed, draws the challenge and binds it. Returns the proof,
/// the point and the final running claim. The transcript is the same for every
/// [`RoundProver`], so [`verify`] checks any of them.
pub fn prove_with(
    transcript: &mut ProofTranscript,
    claim: Fr,
    num_vars: usize,
    degree: usize,
    prover: &mut impl RoundProver,
) -> Result<(SumcheckProof, Vec<Fr>, Fr), SumcheckError> {
    absorb_header(transcript, &claim, num_vars, degree);
    let mut running = claim;
    let mut point = Vec::with_capacity(num_vars);
    let mut rounds = Vec::with_capacity(num_vars);
    for round in 0..num_vars {
        let evals = prover.round_evals(round, running)?;
        if evals.len() != degree + 1 || evals[0] + evals[1] != running {
            return Err(SumcheckError::ProverClaimMismatch { round });
        }
        let coeffs = interpolate_coeffs(&evals);
        let mut compressed = Vec::with_capacity(degree);
        compressed.push(coeffs[0]);
        compressed.extend_from_slice(&coeffs[2..]);
        transcript.append_scalars(b"sumcheck/round", &compressed);
        let r = transcript.challenge(b"sumcheck/challenge");
        running = evaluate_coeffs(&coeffs, r);
        prover.bind(r)?;
        point.push(r);
        rounds.push(CompressedRound(compressed));
    }
    Ok((SumcheckProof { rounds }, point, running))
}

/// [`RoundProver`] for an [`Expression`] over MLEs, on a backend.
pub(crate) struct ExpressionProver<'a, B: Backend + ?Sized> {
    backend: &'a B,
    mles: Vec<Vec<Fr>>,
    expr: &'a Expression,
}

impl<'a, B: Backend + ?Sized> ExpressionProver<'a, B> {
    /// Checks that the MLEs fit `expr` and share one power-of-two length;
    /// returns the prover and the number of variables.
    pub(crate) fn new(
        backend: &'a B,
        mles: Vec<Vec<Fr>>,
        expr: &'a Expression,
    ) -> Result<(Self, usize), SumcheckError> {
        if mles.len() != expr.num_mles {
            return Err(SumcheckError::BadInput(format!(
                "{} MLEs given, the expression reads {}",
                mles.len(),
                expr.num_mles
            )));
        }
        let len = mles.first().map_or(0, Vec::len);
        if len == 0 || !len.is_power_of_two() || mles.iter().any(|m| m.len() != len) {
            return Err(SumcheckError::BadInput(
                "MLEs must share one power-of-two length".into(),
            ));
        }
        let num_vars = len.trailing_zeros() as usize;
        Ok((
            ExpressionProver {
                backend,
                mles,
                expr,
            },
            num_vars,
        ))
    }

    /// Each MLE's value once every variable is bound.
    pub(crate) fn finals(&self) -> Vec<Fr> {
        self.mles.iter().map(|m| m[0]).collect()
    }
}

impl<B: Backend + ?Sized> RoundProver for ExpressionProver<'_, B> {
    fn round_evals(&mut self, _round: usize, _running: Fr) -> Result<Vec<Fr>, SumcheckError> {
        let views: Vec<&[Fr]> = self.mles.iter().map(Vec::as_slice).collect();
        Ok(self
            .backend
            .sumcheck_round(&views, &self.expr.terms, self.expr.degree)?)
    }

    fn bind(&mut self, r: Fr) -> Result<(), SumcheckError> {
        for mle in self.mles.iter_mut() {
            self.backend.bind(mle, r, BindSide::Low)?;
        }
        Ok(())
    }
}

/// Proves `Σ_x g(mles(x)) = claim`. All MLEs have the same power-of-two length;
/// they are consumed (bound in place).
pub fn prove<B: Backend + ?Sized>(
    backend: &B,
    transcript: &mut ProofTranscript,
    claim: Fr,
    mles: Vec<Vec<Fr>>,
    expr: &Expression,
) -> Result<ProverOutput, SumcheckError> {
    let (mut prover, num_vars) = ExpressionProver::new(backend, mles, expr)?;
    let (proof, point, running) =
        prove_with(transcript, claim, num_vars, expr.degree, &mut prover)?;
    let final_evals = prover.finals();
    if expr.evaluate(&final_evals) != running {
        return Err(SumcheckError::ProverClaimMismatch { round: num_vars });
    }
    Ok(ProverOutput {
        proof,
        point,
        final_evals,
    })
}

/// Verifies the rounds of a sumcheck for `num_vars` variables and `degree`;
/// returns the challenge point and the reduced claim `g(f(point))` that the
/// caller must check against evaluations it trusts (openings or further
/// reductions). See [`check_final`].
pub fn verify(
    transcript: &mut ProofTranscript,
    claim: Fr,
    num_vars: usize,
    degree: usize,
    proof: &SumcheckProof,
) -> Result<(Vec<Fr>, Fr), SumcheckError> {
    if proof.rounds.len() != num_vars {
        return Err(SumcheckError::RoundCount {
            expected: num_vars,
            actual: proof.rounds.len(),
        });
    }
    absorb_header(transcript, &claim, num_vars, degree);
    let mut running = claim;
    let mut point = Vec::with_capacity(num_vars);
    for (round, compressed) in proof.rounds.iter().enumerate() {
        if compressed.0.len() != degree {
            return Err(SumcheckError::RoundDegree {
                round,
                expected: degree,
                actual: compressed.0.len(),
            });
        }
        let coeffs = compressed.decompress(running);
        transcript.append_scalars(b"sumcheck/round", &compressed.0);
        let r = transcript.challenge(b"sumcheck/challenge");
        running = evaluate_coeffs(&coeffs, r);
        point.push(r);
    }
    Ok((point, running))
}

/// The final check: `g(final_evals) == reduced_claim`.
pub fn check_final(
    expr: &Expression,
    final_evals: &[Fr],
    reduced_claim: Fr,
) -> Result<(), SumcheckError> {
    if final_evals.len() != expr.num_mles || expr.evaluate(final_evals) != reduced_claim {
        return Err(SumcheckError::FinalMismatch);
    }
    Ok(())
}

/// eq(a, b) = Π (a_i b_i + (1 − a_i)(1 − b_i)) for equal-length points.
pub fn eq_eval(a: &[Fr], b: &[Fr]) -> Fr {
    debug_assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| *x * y + (Fr::one() - x) * (Fr::one() - y))
        .product()
}

#[cfg(test)]
mod tests;
