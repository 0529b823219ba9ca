//! LogUp-GKR ([`crate::lookup`]) with committed layers: the same trees, the
//! same batched layer kernel ([`crate::lookup::LayerProver`]), but every value
//! the clear protocol sends is a Pedersen commitment and every check the
//! clear verifier makes on values is a Σ-proof.
//!
//! - **Roots.** Each tree's root `(p, q)` is committed. The verifier must
//!   learn that `Σ p_i/q_i = 0` with every `q_i ≠ 0`: the prover commits
//!   `u_i = 1/q_i` and `f_i = p_i·u_i`, proves `q_i·u_i = 1` and `p_i·u_i = f_i`
//!   (two proofs of product; the first also shows `q_i ≠ 0`) and that `Σ f_i`
//!   opens to zero.
//! - **Layers.** The batched claim `Σ_j γ^{2j}(P_j + γ·Q_j)` is derived
//!   homomorphically; the layer sumcheck runs with committed rounds
//!   ([`super::sumcheck::prove_rounds`]); its final check
//!   `eq(point, ρ)·Σ_j γ^{2j}(p0·q1 + p1·q0 + γ·q0·q1)` is closed by
//!   [`super::sumcheck::prove_final`] with eq public and the four children of
//!   each tree committed (three proofs of product per tree). μ merges each
//!   tree's halves homomorphically.
//! - **Leaves.** The table tree's leaf denominator must equal the public
//!   `α − fold(T(point))`; a query tree's leaf numerator must be `−1` and its
//!   denominator `α − fold(V)` for its committed query values `V`: each is a
//!   proof of zero. What is left are committed claims: the multiplicities at
//!   the table's leaf point and each query column at its tree's leaf point.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::{Field, One, Zero};

use super::pedersen::{commit_all, BlindSource, Opening, PedersenGens};
use super::sigma::{ProductProof, ZeroProof};
use super::sumcheck::{
    prove_final, prove_rounds, verify_final, verify_rounds, FinalProof, ZkRounds,
};
use super::Challenger;
use crate::backend::{Backend, ProductTerm};
use crate::lookup::{
    absorb_instance, fold, layer_weights, prepare, split_even_odd, LayerProver, LookupError, Table,
    Tree,
};
use crate::sumcheck::{eq_eval, Expression};
use crate::transcript::ProofTranscript;

/// One batched layer: committed rounds and the committed final check, whose
/// committed values are `[p0, p1, q0, q1]` per active tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkLayerProof {
    pub rounds: ZkRounds,
    pub last: FinalProof,
}

/// The proof that a root denominator is invertible and of the root's fraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFraction {
    /// `U = Com(1/q)`.
    pub inverse: G1Affine,
    /// `q·u = 1`.
    pub inverse_proof: ProductProof,
    /// `F = Com(p/q)`.
    pub fraction: G1Affine,
    /// `p·u = f`.
    pub fraction_proof: ProductProof,
}

/// A zero-knowledge LogUp-GKR proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkLookupProof {
    /// `[P, Q]` of each tree's root: the table's, then one per query set.
    pub roots: Vec<[G1Affine; 2]>,
    pub fractions: Vec<RootFraction>,
    /// `Σ F_i` opens to zero.
    pub root_sum: ZeroProof,
    pub layers: Vec<ZkLayerProof>,
    /// Per query set: its columns' committed values at its leaf point.
    pub query_values: Vec<Vec<G1Affine>>,
    /// In order of the trees reaching their leaves: the table's denominator
    /// check; per query tree its numerator check, then its denominator check.
    pub leaf_checks: Vec<ZeroProof>,
}

/// The committed claims a zero-knowledge lookup leaves (verifier's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedLookupClaims {
    pub multiplicity_point: Vec<Fr>,
    pub multiplicity_value: G1Affine,
    pub query_points: Vec<Vec<Fr>>,
    pub query_values: Vec<Vec<G1Affine>>,
}

/// The same claims with their openings (prover's view).
#[derive(Debug, Clone)]
pub struct OpenedLookupClaims {
    pub multiplicity_point: Vec<Fr>,
    pub multiplicity_value: Opening,
    pub query_points: Vec<Vec<Fr>>,
    pub query_values: Vec<Vec<Opening>>,
}

/// The layer's final-check expression over `[eq, (p0, p1, q0, q1) per tree]`.
fn layer_expression(weights: &[Fr], gamma: Fr) -> Result<Expression, LookupError> {
    let mut terms = Vec::with_capacity(3 * weights.len());
    for (j, w) in weights.iter().enumerate() {
        let [p0, p1, q0, q1] = std::array::from_fn(|c| 1 + 4 * j + c);
        terms.push(ProductTerm {
            coeff: *w,
            factors: vec![0, p0, q1],
        });
        terms.push(ProductTerm {
            coeff: *w,
            factors: vec![0, p1, q0],
        });
        terms.push(ProductTerm {
            coeff: *w * gamma,
            factors: vec![0, q0, q1],
        });
    }
    Ok(Expression::new(1 + 4 * weights.len(), terms)?)
}

/// `v·g` as an affine point (a public value as a commitment with blind 0).
fn constant(gens: &PedersenGens, v: Fr) -> G1Projective {
    gens.constant(v)
}

/// Proves the lookup of `query_sets` into `table` with committed layers. The
/// caller must have absorbed the (hiding) commitments to the queries and the
/// multiplicities.
pub fn prove<B: Backend + ?Sized>(
    backend: &B,
    t: &mut ProofTranscript,
    table: &Table,
    query_sets: &[Vec<Vec<Fr>>],
    multiplicities: &[u64],
    blinds: &mut dyn BlindSource,
) -> Result<(ZkLookupProof, OpenedLookupClaims), LookupError> {
    let gens = PedersenGens::dory();
    let (trees, (alpha, beta)) = prepare(t, table, query_sets, multiplicities)?;
    let depths: Vec<usize> = trees.iter().map(|layers| layers.len() - 1).collect();

    // Roots, their inverses and fractions.
    let root_openings: Vec<[Opening; 2]> = trees
        .iter()
        .map(|layers| {
            let (p, q) = layers.last().expect("non-empty");
            [
                Opening::new(p[0], blinds.blind()),
                Opening::new(q[0], blinds.blind()),
            ]
        })
        .collect();
    let root_points = commit_all(gens, root_openings.as_flattened());
    let roots: Vec<[G1Affine; 2]> = root_points.chunks(2).map(|c| [c[0], c[1]]).collect();
    t.absorb_points(b"zk-lookup/roots", &root_points);
    let mut fractions = Vec::with_capacity(trees.len());
    let mut fraction_sum = Opening::zero();
    let one = Opening::constant(Fr::one());
    let one_c = constant(gens, Fr::one()).into_affine();
    for ([p, q], [pc, qc]) in root_openings.iter().zip(&roots) {
        let u_value = q.value.inverse().ok_or(LookupError::ZeroDenominator)?;
        let u = Opening::new(u_value, blinds.blind());
        let f = Opening::new(p.value * u_value, blinds.blind());
        let [uc, fc] = <[G1Affine; 2]>::try_from(commit_all(gens, &[u, f])).expect("two");
        let inverse_proof = ProductProof::prove(t, gens, [qc, &uc, &one_c], [*q, u, one], blinds);
        let fraction_proof = ProductProof::prove(t, gens, [pc, &uc, &fc], [*p, u, f], blinds);
        fraction_sum = fraction_sum + f;
        fractions.push(RootFraction {
            inverse: uc,
            inverse_proof,
            fraction: fc,
            fraction_proof,
        });
    }
    if !fraction_sum.value.is_zero() {
        return Err(LookupError::RootSum);
    }
    let sum_c = gens.commit_opening(fraction_sum).into_affine();
    let root_sum = ZeroProof::prove(t, gens, &sum_c, fraction_sum, blinds);

    let mut claims: Vec<(Opening, Opening)> = root_openings.iter().map(|[p, q]| (*p, *q)).collect();
    let mut leaf_points: Vec<Vec<Fr>> = vec![Vec::new(); trees.len()];
    let mut query_values: Vec<Vec<Opening>> = vec![Vec::new(); query_sets.len()];
    let mut query_value_points: Vec<Vec<G1Affine>> = vec![Vec::new(); query_sets.len()];
    let mut leaf_checks = Vec::new();
    let mut point: Vec<Fr> = Vec::new();
    let mut on_leaf = |i: usize,
                       point: &[Fr],
                       (p, q): (Opening, Opening),
                       t: &mut ProofTranscript,
                       leaf_checks: &mut Vec<ZeroProof>,
                       blinds: &mut dyn BlindSource|
     -> Result<(), LookupError> {
        if i == 0 {
            let values: Vec<Fr> = (0..table.arity())
                .map(|c| table.evaluate_column(c, point))
                .collect();
            let diff = q - Opening::constant(alpha - fold(&values, beta));
            let c = gens.commit_opening(diff).into_affine();
            leaf_checks.push(ZeroProof::prove(t, gens, &c, diff, blinds));
            return Ok(());
        }
        let numerator = p + one;
        let c = gens.commit_opening(numerator).into_affine();
        leaf_checks.push(ZeroProof::prove(t, gens, &c, numerator, blinds));
        let eq = backend.eq_table(point)?;
        let values = query_sets[i - 1]
            .iter()
            .map(|c| Ok(Opening::new(backend.inner_product(&eq, c)?, blinds.blind())))
            .collect::<Result<Vec<_>, LookupError>>()?;
        let committed = commit_all(gens, &values);
        t.absorb_points(b"zk-lookup/query_values", &committed);
        let folded = values
            .iter()
            .rev()
            .fold(Opening::zero(), |acc, v| acc * beta + *v);
        let diff = q - (Opening::constant(alpha) - folded);
        let c = gens.commit_opening(diff).into_affine();
        leaf_checks.push(ZeroProof::prove(t, gens, &c, diff, blinds));
        query_values[i - 1] = values;
        query_value_points[i - 1] = committed;
        Ok(())
    };
    for i in (0..trees.len()).filter(|&i| depths[i] == 0) {
        on_leaf(i, &point, claims[i], t, &mut leaf_checks, blinds)?;
    }

    let depth = depths.iter().copied().max().unwrap_or(0);
    let mut layers = Vec::with_capacity(depth);
    for layer in 0..depth {
        let active: Vec<usize> = (0..trees.len()).filter(|&i| depths[i] > layer).collect();
        let gamma = t.challenge(b"zk-gkr/gamma");
        let weights = layer_weights(gamma, active.len());
        let batched = active
            .iter()
            .zip(&weights)
            .fold(Opening::zero(), |acc, (&i, w)| {
                acc + (claims[i].0 + claims[i].1 * gamma) * *w
            });
        let layer_trees: Vec<[Vec<Fr>; 4]> = active
            .iter()
            .map(|&i| child_halves(&trees[i], depths[i], layer))
            .collect();
        let mut prover = LayerProver {
            backend,
            point: &point,
            trees: layer_trees,
            weights: weights.clone(),
            gamma,
            prefix: Fr::one(),
            bound: 0,
        };
        let (rounds, rho, reduced) = prove_rounds(t, gens, batched, layer, 3, &mut prover, blinds)
            .map_err(|e| LookupError::Shape(e.to_string()))?;
        let mut finals = vec![prover.prefix];
        for tree in &prover.trees {
            finals.extend(tree.iter().map(|m| m[0]));
        }
        let mut public = vec![None; finals.len()];
        public[0] = Some(prover.prefix);
        let expr = layer_expression(&weights, gamma)?;
        let (last, children) = prove_final(t, gens, &expr, &finals, &public, reduced, blinds)
            .map_err(|e| LookupError::Shape(e.to_string()))?;
        let mu = t.challenge(b"zk-gkr/mu");
        point = std::iter::once(mu).chain(rho).collect();
        for (k, &i) in active.iter().enumerate() {
            let [p0, p1, q0, q1] = std::array::from_fn(|c| children[4 * k + c]);
            claims[i] = (p0 + (p1 - p0) * mu, q0 + (q1 - q0) * mu);
            if depths[i] == layer + 1 {
                leaf_points[i] = point.clone();
                on_leaf(i, &point, claims[i], t, &mut leaf_checks, blinds)?;
            }
        }
        layers.push(ZkLayerProof { rounds, last });
    }
    let multiplicity_point = std::mem::take(&mut leaf_points[0]);
    Ok((
        ZkLookupProof {
            roots,
            fractions,
            root_sum,
            layers,
            query_values: query_value_points,
            leaf_checks,
        },
        OpenedLookupClaims {
            multiplicity_point,
            multiplicity_value: claims[0].0,
            query_points: leaf_points.split_off(1),
            query_values,
        },
    ))
}

/// Layer `layer + 1` (from the root) of a tree of depth `depth`, split into
/// the halves `[p0, p1, q0, q1]`.
fn child_halves(tree: &Tree, depth: usize, layer: usize) -> [Vec<Fr>; 4] {
    let (child_p, child_q) = &tree[depth - layer - 1];
    let (p0, p1) = split_even_odd(child_p);
    let (q0, q1) = split_even_odd(child_q);
    [p0, p1, q0, q1]
}

/// Verifies a zero-knowledge lookup into `table` of query sets with
/// 2^`query_vars[k]` queries; returns the committed claims the caller must
/// open against the witness.
pub fn verify(
    t: &mut ProofTranscript,
    table: &Table,
    query_vars: &[usize],
    proof: &ZkLookupProof,
) -> Result<CommittedLookupClaims, LookupError> {
    let gens = PedersenGens::dory();
    table.validate()?;
    let trees = 1 + query_vars.len();
    let depths: Vec<usize> = std::iter::once(table.num_vars())
        .chain(query_vars.iter().copied())
        .collect();
    let depth = depths.iter().copied().max().unwrap_or(0);
    let leaf_checks = 1 + 2 * query_vars.len();
    if query_vars.is_empty()
        || proof.roots.len() != trees
        || proof.fractions.len() != trees
        || proof.layers.len() != depth
        || proof.query_values.len() != query_vars.len()
        || proof.query_values.iter().any(|v| v.len() != table.arity())
        || proof.leaf_checks.len() != leaf_checks
    {
        return Err(LookupError::Shape(format!(
            "{} roots, {} fractions, {} layers, {} query value sets, {} leaf checks for {} query sets \
             (expected {trees}, {trees}, {depth}, {}, {leaf_checks})",
            proof.roots.len(),
            proof.fractions.len(),
            proof.layers.len(),
            proof.query_values.len(),
            proof.leaf_checks.len(),
            query_vars.len(),
            query_vars.len()
        )));
    }
    let (alpha, beta) = absorb_instance(t, table, query_vars);
    t.absorb_points(b"zk-lookup/roots", proof.roots.as_flattened());
    let one_c = constant(gens, Fr::one()).into_affine();
    let mut sum = G1Projective::zero();
    for ([pc, qc], fraction) in proof.roots.iter().zip(&proof.fractions) {
        fraction
            .inverse_proof
            .verify(t, gens, [qc, &fraction.inverse, &one_c])
            .map_err(|_| LookupError::RootDenominator)?;
        fraction
            .fraction_proof
            .verify(t, gens, [pc, &fraction.inverse, &fraction.fraction])
            .map_err(|_| LookupError::RootSum)?;
        sum += fraction.fraction;
    }
    proof
        .root_sum
        .verify(t, gens, &sum.into_affine())
        .map_err(|_| LookupError::RootSum)?;

    let mut claims: Vec<(G1Projective, G1Projective)> = proof
        .roots
        .iter()
        .map(|[p, q]| (G1Projective::from(*p), G1Projective::from(*q)))
        .collect();
    let mut leaf_points: Vec<Vec<Fr>> = vec![Vec::new(); trees];
    let mut next_check = 0usize;
    let mut point: Vec<Fr> = Vec::new();
    let on_leaf = |i: usize,
                   point: &[Fr],
                   (p, q): (G1Projective, G1Projective),
                   t: &mut ProofTranscript,
                   next_check: &mut usize|
     -> Result<(), LookupError> {
        let mut check = |c: G1Projective, t: &mut ProofTranscript, err: LookupError| {
            let proof_of_zero = &proof.leaf_checks[*next_check];
            *next_check += 1;
            proof_of_zero
                .verify(t, gens, &c.into_affine())
                .map_err(|_| err)
        };
        if i == 0 {
            let values: Vec<Fr> = (0..table.arity())
                .map(|c| table.evaluate_column(c, point))
                .collect();
            return check(
                q - constant(gens, alpha - fold(&values, beta)),
                t,
                LookupError::TableLeaf,
            );
        }
        check(
            p + constant(gens, Fr::one()),
            t,
            LookupError::QueryNumerator,
        )?;
        let values = &proof.query_values[i - 1];
        t.absorb_points(b"zk-lookup/query_values", values);
        let folded = values
            .iter()
            .rev()
            .fold(G1Projective::zero(), |acc, v| acc * beta + v);
        check(
            q - (constant(gens, alpha) - folded),
            t,
            LookupError::QueryLeaf,
        )
    };
    for i in (0..trees).filter(|&i| depths[i] == 0) {
        on_leaf(i, &point, claims[i], t, &mut next_check)?;
    }
    for (layer, layer_proof) in proof.layers.iter().enumerate() {
        let active: Vec<usize> = (0..trees).filter(|&i| depths[i] > layer).collect();
        let gamma = t.challenge(b"zk-gkr/gamma");
        let weights = layer_weights(gamma, active.len());
        let batched = active
            .iter()
            .zip(&weights)
            .fold(G1Projective::zero(), |acc, (&i, w)| {
                acc + (claims[i].0 + claims[i].1 * gamma) * *w
            })
            .into_affine();
        let layer_error = |_| LookupError::Layer { layer };
        let (rho, reduced) =
            verify_rounds(t, &batched, layer, 3, &layer_proof.rounds).map_err(layer_error)?;
        let mut public = vec![None; 1 + 4 * active.len()];
        public[0] = Some(eq_eval(&point, &rho));
        let expr = layer_expression(&weights, gamma)?;
        let children = verify_final(t, gens, &expr, &public, &layer_proof.last, &reduced)
            .map_err(layer_error)?;
        let mu = t.challenge(b"zk-gkr/mu");
        point = std::iter::once(mu).chain(rho).collect();
        for (k, &i) in active.iter().enumerate() {
            let [p0, p1, q0, q1]: [G1Projective; 4] =
                std::array::from_fn(|c| G1Projective::from(children[4 * k + c]));
            claims[i] = (p0 + (p1 - p0) * mu, q0 + (q1 - q0) * mu);
            if depths[i] == layer + 1 {
                leaf_points[i] = point.clone();
                on_leaf(i, &point, claims[i], t, &mut next_check)?;
            }
        }
    }
    let multiplicity_point = std::mem::take(&mut leaf_points[0]);
    Ok(CommittedLookupClaims {
        multiplicity_point,
        multiplicity_value: claims[0].0.into_affine(),
        query_points: leaf_points.split_off(1),
        query_values: proof.query_values.clone(),
    })
}
