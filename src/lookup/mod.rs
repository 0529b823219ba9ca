//! LogUp-GKR lookup arguments (Papini–Haböck, eprint 2023/1284).
//!
//! Claim: every query tuple `q_j` is a row of table `T`. With multiplicities `m_i`
//! (how often row i is queried), this holds iff, for a random α,
//!
//! ```text
//! Σ_i m_i / (α − t_i)  −  Σ_j 1 / (α − q_j)  =  0
//! ```
//!
//! where tuples are folded to one value with a random β (`t_i = Σ_c β^c T_c[i]`).
//! Each side is a binary tree of fractions `p/q`, combined pairwise
//! (`p/q + p'/q' = (p q' + p' q) / (q q')`), the table's and one per query set;
//! the prover sends every tree's root and the verifier checks that the root fractions sum to zero with every denominator
//! non-zero. The trees are then proved layer by layer from the root down: layer k
//! has k variables in every tree, so one degree-3 sumcheck, batched over the trees
//! that reach layer k with powers of a random γ, reduces their claims on layer k
//! to claims on the two halves of layer k+1, and one random μ merges each tree's
//! halves into one claim at the shared point of layer k+1. A proof thus carries
//! the deepest tree's d(d−1)/2 sumcheck rounds once, not once per tree. At the
//! leaves, the verifier evaluates the table MLEs itself (closed form for range and ReLU tables) and is
//! left with claims on the multiplicities and on the query columns at random
//! points, which the caller checks against commitments (only the multiplicities
//! are committed by the lookup itself; queries are committed witness tensors).
//!
//! # Transcript
//! Before calling [`prove`]/[`verify`], the caller must have absorbed the
//! commitments to the query columns and to the multiplicities: β and α are drawn
//! here, after them.
//!
//! # Layers and variables
//! Layer k+1 entry `2i + b` is child `b` of layer k entry `i`, so the child bit is
//! variable 0 of layer k+1 and the point of layer k+1 is `(μ, ρ)`, with ρ the
//! sumcheck point over layer k's variables (zkinfer's variable order throughout).

pub mod table;

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field, One, Zero};
use rayon::prelude::*;

use crate::backend::{Backend, BackendError, BindSide};
use crate::sumcheck::{self, eq_eval, SumcheckError, SumcheckProof};
use crate::transcript::ProofTranscript;
pub use table::{fold, Table};

/// Errors of the lookup argument; verification errors name the failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("bad lookup table: {0}")]
    BadTable(String),
    #[error("table rows have {table} values but queries have {queries} columns")]
    Arity { table: usize, queries: usize },
    #[error("bad lookup queries: {0}")]
    BadQueries(String),
    #[error("query {query} = {values:?} is not a row of the table")]
    NotInTable { query: usize, values: Vec<i64> },
    #[error("multiplicities have {actual} entries, the table has {expected} rows")]
    MultiplicityLength { expected: usize, actual: usize },
    #[error("a denominator α − t is zero (negligible probability); retry with another transcript")]
    ZeroDenominator,
    #[error("lookup proof shape: {0}")]
    Shape(String),
    #[error("lookup check failed: the fraction sums of table and queries do not cancel")]
    RootSum,
    #[error("lookup check failed: a root denominator is zero")]
    RootDenominator,
    #[error("lookup check failed: GKR layer {layer} does not match its sumcheck")]
    Layer { layer: usize },
    #[error("lookup check failed: GKR layer {layer} sumcheck: {source}")]
    LayerSumcheck { layer: usize, source: SumcheckError },
    #[error("lookup check failed: the table tree's leaf denominator does not match the table")]
    TableLeaf,
    #[error("lookup check failed: the query tree's leaf numerator is not −1")]
    QueryNumerator,
    #[error(
        "lookup check failed: the query tree's leaf denominator does not match the query values"
    )]
    QueryLeaf,
    #[error(transparent)]
    Sumcheck(#[from] SumcheckError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// One GKR layer of every tree still descending: one batched sumcheck over
/// the layer's variables and, per such tree (table first, then query sets in
/// order), the four child evaluations at the sumcheck point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerProof {
    pub sumcheck: SumcheckProof,
    /// Per active tree: `[p(0, ρ), p(1, ρ), q(0, ρ), q(1, ρ)]` of its child layer.
    pub children: Vec<[Fr; 4]>,
}

/// A LogUp-GKR proof: every tree's root, then the trees' layers proved
/// together from the root down (layer k of every tree has k variables, so the
/// trees that reach layer k share its sumcheck), then the query values at each
/// query tree's leaf point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupProof {
    /// `[p, q]` of each tree's root: the table tree, then one per query set.
    pub roots: Vec<[Fr; 2]>,
    /// Layer k reduces claims on layer k of every tree deeper than k to layer k+1.
    pub layers: Vec<LayerProof>,
    /// `query_values[k][c]`: query set k's column c at its tree's leaf point.
    pub query_values: Vec<Vec<Fr>>,
}

/// What the verifier is left to check against commitments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupClaims {
    /// The multiplicity MLE must equal `multiplicity_value` at `multiplicity_point`.
    pub multiplicity_point: Vec<Fr>,
    pub multiplicity_value: Fr,
    /// Query set k's column c must equal `query_values[k][c]` at `query_points[k]`.
    pub query_points: Vec<Vec<Fr>>,
    pub query_values: Vec<Vec<Fr>>,
}

/// Layers of a fraction tree, leaves first: `layers[k+1][i] = layers[k][2i] ⊕ layers[k][2i+1]`.
pub(crate) fn build_tree(p: Vec<Fr>, q: Vec<Fr>) -> Vec<(Vec<Fr>, Vec<Fr>)> {
    let mut layers = vec![(p, q)];
    while layers.last().expect("non-empty").0.len() > 1 {
        let (p, q) = layers.last().expect("non-empty");
        let (np, nq): (Vec<Fr>, Vec<Fr>) = p
            .par_chunks(2)
            .zip(q.par_chunks(2))
            .map(|(p, q)| (p[0] * q[1] + p[1] * q[0], q[0] * q[1]))
            .unzip();
        layers.push((np, nq));
    }
    layers
}

/// `γ^{2j}` for the `trees` active trees: tree j's weight in a batched layer.
pub(crate) fn layer_weights(gamma: Fr, trees: usize) -> Vec<Fr> {
    let step = gamma * gamma;
    std::iter::successors(Some(Fr::one()), |w| Some(*w * step))
        .take(trees)
        .collect()
}

/// The prover of one batched layer sumcheck,
/// `Σ_x eq(point, x) · Σ_j γ^{2j} (p0·q1 + p1·q0 + γ·q0·q1)_j(x)`, with the eq
/// factor split off variable by variable (Gruen): round i's polynomial is
/// `prefix · eq(point_i, t) · S(t)`, `prefix` the eq factor of the variables
/// already bound and S of degree 2, so the backend evaluates S at 0 and 2 only
/// and S(1) follows from the running claim. Same transcript and proof as the
/// generic degree-3 sumcheck of that expression.
pub(crate) struct LayerProver<'a, B: Backend + ?Sized> {
    pub(crate) backend: &'a B,
    pub(crate) point: &'a [Fr],
    /// Per active tree: `[p0, p1, q0, q1]` of its child layer.
    pub(crate) trees: Vec<[Vec<Fr>; 4]>,
    pub(crate) weights: Vec<Fr>,
    pub(crate) gamma: Fr,
    /// `Π eq(point_k, ρ_k)` over the `bound` variables bound so far.
    pub(crate) prefix: Fr,
    pub(crate) bound: usize,
}

impl<B: Backend + ?Sized> LayerProver<'_, B> {
    /// `Σ_j w_j (p0·q1 + q0·(p1 + γ·q1))_j` at the bound point (all MLEs bound).
    fn final_value(&self) -> Fr {
        self.trees
            .iter()
            .zip(&self.weights)
            .map(|([p0, p1, q0, q1], w)| {
                *w * (p0[0] * q1[0] + q0[0] * (p1[0] + self.gamma * q1[0]))
            })
            .sum()
    }
}

impl<B: Backend + ?Sized> sumcheck::RoundProver for LayerProver<'_, B> {
    fn round_evals(&mut self, round: usize, running: Fr) -> Result<Vec<Fr>, SumcheckError> {
        let r = self.point[round];
        let e = self.backend.eq_table(&self.point[round + 1..])?;
        let views: Vec<[&[Fr]; 4]> = self
            .trees
            .iter()
            .map(|[a, b, c, d]| [a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice()])
            .collect();
        let [s0, s2] = self
            .backend
            .fraction_layer_round(&e, &views, &self.weights, self.gamma)?;
        // running = prefix · ((1 − r)·S(0) + r·S(1)).
        let one_minus_r = Fr::one() - r;
        let inverse = (self.prefix * r).inverse().ok_or_else(|| {
            SumcheckError::BadInput(
                "a GKR layer's point has a zero coordinate (negligible probability)".into(),
            )
        })?;
        let s1 = (running - self.prefix * one_minus_r * s0) * inverse;
        // S has degree 2: its third difference vanishes.
        let s3 = s0 - Fr::from(3u64) * (s1 - s2);
        let slope = r.double() - Fr::one();
        Ok([s0, s1, s2, s3]
            .iter()
            .enumerate()
            .map(|(t, s)| self.prefix * (one_minus_r + slope * Fr::from(t as u64)) * s)
            .collect())
    }

    fn bind(&mut self, rho: Fr) -> Result<(), SumcheckError> {
        let r = self.point[self.bound];
        self.prefix *= (Fr::one() - r) * (Fr::one() - rho) + r * rho;
        self.bound += 1;
        for mle in self.trees.iter_mut().flatten() {
            self.backend.bind(mle, rho, BindSide::Low)?;
        }
        Ok(())
    }
}

/// `Σ_j γ^{2j} (p_j + γ q_j)`: the batched claim of the active trees.
fn batched_claim(gamma: Fr, claims: &[(Fr, Fr)]) -> Fr {
    let mut weight = Fr::one();
    let mut sum = Fr::zero();
    for (p, q) in claims {
        sum += weight * (*p + gamma * q);
        weight *= gamma * gamma;
    }
    sum
}

pub(crate) fn split_even_odd(v: &[Fr]) -> (Vec<Fr>, Vec<Fr>) {
    v.par_chunks(2).map(|c| (c[0], c[1])).unzip()
}

/// Where a tree's descent ends: the leaf point and `(p, q)` claimed there.
type Leaf = (Vec<Fr>, Fr, Fr);

/// What [`prove_trees`] returns: the roots, the layer proofs and each tree's
/// leaf point.
type ProvedTrees = (Vec<[Fr; 2]>, Vec<LayerProof>, Vec<Vec<Fr>>);

/// Proves every tree from the root down, the trees reaching each layer in one
/// sumcheck. `on_leaf(i, point)` runs when tree i reaches its leaves, before
/// the next challenge (query trees append their query values there).
fn prove_trees<B: Backend + ?Sized>(
    backend: &B,
    transcript: &mut ProofTranscript,
    trees: &[Vec<(Vec<Fr>, Vec<Fr>)>],
    mut on_leaf: impl FnMut(usize, &[Fr], &mut ProofTranscript) -> Result<(), LookupError>,
) -> Result<ProvedTrees, LookupError> {
    let depths: Vec<usize> = trees.iter().map(|layers| layers.len() - 1).collect();
    let roots: Vec<[Fr; 2]> = trees
        .iter()
        .map(|layers| {
            let (p, q) = layers.last().expect("non-empty");
            [p[0], q[0]]
        })
        .collect();
    transcript.append_scalars(b"lookup/roots", roots.as_flattened());
    let mut claims: Vec<(Fr, Fr)> = roots.iter().map(|[p, q]| (*p, *q)).collect();
    let mut leaf_points = vec![Vec::new(); trees.len()];
    let mut point: Vec<Fr> = Vec::new();
    for (i, _) in depths.iter().enumerate().filter(|(_, &d)| d == 0) {
        on_leaf(i, &point, transcript)?;
    }
    let depth = depths.iter().copied().max().unwrap_or(0);
    let mut proofs = Vec::with_capacity(depth);
    for layer in 0..depth {
        let active: Vec<usize> = (0..trees.len()).filter(|&i| depths[i] > layer).collect();
        let gamma = transcript.challenge(b"gkr/gamma");
        let active_claims: Vec<(Fr, Fr)> = active.iter().map(|&i| claims[i]).collect();
        let mut layer_trees = Vec::with_capacity(active.len());
        for &i in &active {
            // Layers are stored leaves first; layer `layer + 1` from the root.
            let (child_p, child_q) = &trees[i][depths[i] - layer - 1];
            let (p0, p1) = split_even_odd(child_p);
            let (q0, q1) = split_even_odd(child_q);
            layer_trees.push([p0, p1, q0, q1]);
        }
        let mut prover = LayerProver {
            backend,
            point: &point,
            trees: layer_trees,
            weights: layer_weights(gamma, active.len()),
            gamma,
            prefix: Fr::one(),
            bound: 0,
        };
        let (sumcheck_proof, rho, running) = sumcheck::prove_with(
            transcript,
            batched_claim(gamma, &active_claims),
            layer,
            3,
            &mut prover,
        )?;
        if prover.prefix * prover.final_value() != running {
            return Err(SumcheckError::ProverClaimMismatch { round: layer }.into());
        }
        let children: Vec<[Fr; 4]> = prover
            .trees
            .iter()
            .map(|tree| std::array::from_fn(|c| tree[c][0]))
            .collect();
        transcript.append_scalars(b"gkr/children", children.as_flattened());
        let mu = transcript.challenge(b"gkr/mu");
        point = std::iter::once(mu).chain(rho).collect();
        for (&i, [p0, p1, q0, q1]) in active.iter().zip(&children) {
            claims[i] = (*p0 + mu * (*p1 - p0), *q0 + mu * (*q1 - q0));
            if depths[i] == layer + 1 {
                leaf_points[i] = point.clone();
                on_leaf(i, &point, transcript)?;
            }
        }
        proofs.push(LayerProof {
            sumcheck: sumcheck_proof,
            children,
        });
    }
    Ok((roots, proofs, leaf_points))
}

/// Verifies every tree from the root down (see [`prove_trees`]); returns each
/// tree's leaf point and the claims `(p, q)` on its leaves. `on_leaf` runs as
/// in the prover, with the tree's leaf claims.
fn verify_trees(
    transcript: &mut ProofTranscript,
    roots: &[[Fr; 2]],
    layers: &[LayerProof],
    depths: &[usize],
    mut on_leaf: impl FnMut(usize, &Leaf, &mut ProofTranscript) -> Result<(), LookupError>,
) -> Result<Vec<Leaf>, LookupError> {
    let depth = depths.iter().copied().max().unwrap_or(0);
    if layers.len() != depth {
        return Err(LookupError::Shape(format!(
            "{} GKR layers, the deepest tree has {depth}",
            layers.len()
        )));
    }
    transcript.append_scalars(b"lookup/roots", roots.as_flattened());
    let mut claims: Vec<(Fr, Fr)> = roots.iter().map(|[p, q]| (*p, *q)).collect();
    let mut leaves: Vec<Leaf> = claims.iter().map(|&(p, q)| (Vec::new(), p, q)).collect();
    let mut point: Vec<Fr> = Vec::new();
    for (i, _) in depths.iter().enumerate().filter(|(_, &d)| d == 0) {
        on_leaf(i, &leaves[i], transcript)?;
    }
    for (layer, layer_proof) in layers.iter().enumerate() {
        let active: Vec<usize> = (0..depths.len()).filter(|&i| depths[i] > layer).collect();
        if layer_proof.children.len() != active.len() {
            return Err(LookupError::Shape(format!(
                "GKR layer {layer} has children for {} trees, {} reach it",
                layer_proof.children.len(),
                active.len()
            )));
        }
        let gamma = transcript.challenge(b"gkr/gamma");
        let active_claims: Vec<(Fr, Fr)> = active.iter().map(|&i| claims[i]).collect();
        let (rho, reduced) = sumcheck::verify(
            transcript,
            batched_claim(gamma, &active_claims),
            layer,
            3,
            &layer_proof.sumcheck,
        )
        .map_err(|source| LookupError::LayerSumcheck { layer, source })?;
        let mut combined = Fr::zero();
        let mut weight = Fr::one();
        for [p0, p1, q0, q1] in &layer_proof.children {
            combined += weight * (*p0 * q1 + *p1 * q0 + gamma * q0 * q1);
            weight *= gamma * gamma;
        }
        if eq_eval(&point, &rho) * combined != reduced {
            return Err(LookupError::Layer { layer });
        }
        transcript.append_scalars(b"gkr/children", layer_proof.children.as_flattened());
        let mu = transcript.challenge(b"gkr/mu");
        point = std::iter::once(mu).chain(rho).collect();
        for (&i, [p0, p1, q0, q1]) in active.iter().zip(&layer_proof.children) {
            claims[i] = (*p0 + mu * (*p1 - p0), *q0 + mu * (*q1 - q0));
            if depths[i] == layer + 1 {
                leaves[i] = (point.clone(), claims[i].0, claims[i].1);
                on_leaf(i, &leaves[i], transcript)?;
            }
        }
    }
    Ok(leaves)
}

pub(crate) fn absorb_instance(
    transcript: &mut ProofTranscript,
    table: &Table,
    query_vars: &[usize],
) -> (Fr, Fr) {
    transcript.append_message(b"lookup", b"logup-gkr/v1");
    table.absorb(transcript);
    transcript.append_u64(b"lookup/query_sets", query_vars.len() as u64);
    for &v in query_vars {
        transcript.append_u64(b"lookup/query_vars", v as u64);
    }
    let beta = transcript.challenge(b"lookup/beta");
    let alpha = transcript.challenge(b"lookup/alpha");
    (alpha, beta)
}

/// A fraction tree's layers, leaves first ([`build_tree`]).
pub(crate) type Tree = Vec<(Vec<Fr>, Vec<Fr>)>;

/// Checks the instance, absorbs it, draws β and α and builds the trees: the
/// table's (multiplicities over `α − t_i`) then one per query set (`−1` over
/// `α − q_j`). Shared by the clear and the zero-knowledge prover.
pub(crate) fn prepare(
    transcript: &mut ProofTranscript,
    table: &Table,
    query_sets: &[Vec<Vec<Fr>>],
    multiplicities: &[u64],
) -> Result<(Vec<Tree>, (Fr, Fr)), LookupError> {
    table.validate()?;
    if query_sets.is_empty() {
        return Err(LookupError::BadQueries("no query sets".into()));
    }
    let mut query_vars = Vec::with_capacity(query_sets.len());
    for (k, columns) in query_sets.iter().enumerate() {
        if columns.len() != table.arity() {
            return Err(LookupError::Arity {
                table: table.arity(),
                queries: columns.len(),
            });
        }
        let n = columns[0].len();
        if n == 0 || !n.is_power_of_two() || columns.iter().any(|c| c.len() != n) {
            return Err(LookupError::BadQueries(format!(
                "query set {k}: columns need one power-of-two length, got {n}"
            )));
        }
        query_vars.push(n.trailing_zeros() as usize);
    }
    if multiplicities.len() != table.len() {
        return Err(LookupError::MultiplicityLength {
            expected: table.len(),
            actual: multiplicities.len(),
        });
    }
    let (alpha, beta) = absorb_instance(transcript, table, &query_vars);

    let fold_rows = |cols: &[Vec<Fr>]| -> Vec<Fr> {
        (0..cols[0].len())
            .into_par_iter()
            .map(|i| {
                let row: Vec<Fr> = cols.iter().map(|c| c[i]).collect();
                alpha - fold(&row, beta)
            })
            .collect()
    };
    let table_columns: Vec<Vec<Fr>> = (0..table.arity()).map(|c| table.column(c)).collect();
    let table_q = fold_rows(&table_columns);
    let query_qs: Vec<Vec<Fr>> = query_sets.iter().map(|cols| fold_rows(cols)).collect();
    if table_q
        .iter()
        .chain(query_qs.iter().flatten())
        .any(Zero::is_zero)
    {
        return Err(LookupError::ZeroDenominator);
    }
    let table_p: Vec<Fr> = multiplicities.iter().map(|&m| Fr::from(m)).collect();
    let table_layers = build_tree(table_p, table_q);
    let query_layers: Vec<_> = query_qs
        .into_iter()
        .map(|q| build_tree(vec![-Fr::one(); q.len()], q))
        .collect();

    let mut trees = Vec::with_capacity(1 + query_layers.len());
    trees.push(table_layers);
    trees.extend(query_layers);
    Ok((trees, (alpha, beta)))
}

/// Proves that every query of every query set is a row of `table`: query set k
/// has columns `query_sets[k][c]` (column c of query j is `query_sets[k][c][j]`),
/// one power-of-two length per set (pad with a row of the table and count it).
/// `multiplicities` (from [`Table::multiplicities`] over all sets) count how often
/// each row is queried in total: one multiplicity vector per table.
pub fn prove<B: Backend + ?Sized>(
    backend: &B,
    transcript: &mut ProofTranscript,
    table: &Table,
    query_sets: &[Vec<Vec<Fr>>],
    multiplicities: &[u64],
) -> Result<(LookupProof, LookupClaims), LookupError> {
    let (trees, _) = prepare(transcript, table, query_sets, multiplicities)?;
    let mut query_values = vec![Vec::new(); query_sets.len()];
    let (roots, layers, mut leaf_points) =
        prove_trees(backend, transcript, &trees, |i, point, t| {
            if i > 0 {
                let eq = backend.eq_table(point)?;
                let values = query_sets[i - 1]
                    .iter()
                    .map(|c| backend.inner_product(&eq, c))
                    .collect::<Result<Vec<_>, _>>()?;
                t.append_scalars(b"lookup/query_values", &values);
                query_values[i - 1] = values;
            }
            Ok(())
        })?;
    let multiplicity_point = std::mem::take(&mut leaf_points[0]);
    let eq_m = backend.eq_table(&multiplicity_point)?;
    let multiplicity_value = backend.inner_product(&eq_m, &trees[0][0].0)?;
    Ok((
        LookupProof {
            roots,
            layers,
            query_values: query_values.clone(),
        },
        LookupClaims {
            multiplicity_point,
            multiplicity_value,
            query_points: leaf_points.split_off(1),
            query_values,
        },
    ))
}

/// Verifies a lookup into `table` of query sets with 2^`query_vars[k]` queries
/// each. On success returns the claims on the multiplicities and the query columns
/// that the caller must check against their commitments; the lookup is sound only
/// once those hold.
pub fn verify(
    transcript: &mut ProofTranscript,
    table: &Table,
    query_vars: &[usize],
    proof: &LookupProof,
) -> Result<LookupClaims, LookupError> {
    table.validate()?;
    if query_vars.is_empty()
        || proof.roots.len() != 1 + query_vars.len()
        || proof.query_values.len() != query_vars.len()
    {
        return Err(LookupError::Shape(format!(
            "{} tree roots and {} value sets for {} query sets",
            proof.roots.len(),
            proof.query_values.len(),
            query_vars.len()
        )));
    }
    if proof.query_values.iter().any(|v| v.len() != table.arity()) {
        return Err(LookupError::Shape(format!(
            "query values must have the table's arity {}",
            table.arity()
        )));
    }
    let (alpha, beta) = absorb_instance(transcript, table, query_vars);
    // Σ of all root fractions must be 0, with every denominator non-zero.
    let (mut sum_p, mut sum_q) = (Fr::zero(), Fr::one());
    for [p, q] in &proof.roots {
        if q.is_zero() {
            return Err(LookupError::RootDenominator);
        }
        (sum_p, sum_q) = (sum_p * q + *p * sum_q, sum_q * q);
    }
    if !sum_p.is_zero() {
        return Err(LookupError::RootSum);
    }
    let depths: Vec<usize> = std::iter::once(table.num_vars())
        .chain(query_vars.iter().copied())
        .collect();
    let mut leaves = verify_trees(
        transcript,
        &proof.roots,
        &proof.layers,
        &depths,
        |i, (point, leaf_p, leaf_q), t| {
            if i == 0 {
                let table_values: Vec<Fr> = (0..table.arity())
                    .map(|c| table.evaluate_column(c, point))
                    .collect();
                if *leaf_q != alpha - fold(&table_values, beta) {
                    return Err(LookupError::TableLeaf);
                }
                return Ok(());
            }
            let values = &proof.query_values[i - 1];
            if *leaf_p != -Fr::one() {
                return Err(LookupError::QueryNumerator);
            }
            if *leaf_q != alpha - fold(values, beta) {
                return Err(LookupError::QueryLeaf);
            }
            t.append_scalars(b"lookup/query_values", values);
            Ok(())
        },
    )?;
    let query_points = leaves
        .split_off(1)
        .into_iter()
        .map(|(point, _, _)| point)
        .collect();
    let (multiplicity_point, multiplicity_value, _) = leaves.pop().expect("the table tree");
    Ok(LookupClaims {
        multiplicity_point,
        multiplicity_value,
        query_points,
        query_values: proof.query_values.clone(),
    })
}

#[cfg(test)]
mod tests;
