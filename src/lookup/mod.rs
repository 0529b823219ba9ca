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
//! (`p/q + p'/q' = (p q' + p' q) / (q q')`); the prover sends the two roots and the
//! verifier checks `p_T·q_Q + p_Q·q_T = 0` with both denominators non-zero. Each tree
//! is then proved layer by layer from the root down: a degree-3 sumcheck reduces a
//! claim on layer k to claims on the two halves of layer k+1, and a random μ merges
//! those into one claim at a point of layer k+1. At the leaves, the verifier
//! evaluates the table MLEs itself (closed form for range and ReLU tables) and is
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
use ark_ff::{One, Zero};
use rayon::prelude::*;

use crate::backend::{Backend, BackendError, ProductTerm};
use crate::sumcheck::{self, eq_eval, Expression, SumcheckError, SumcheckProof};
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
    #[error(
        "lookup check failed: GKR layer {layer} of the {tree} tree does not match its sumcheck"
    )]
    Layer { tree: &'static str, layer: usize },
    #[error("lookup check failed: GKR layer {layer} of the {tree} tree: {source}")]
    LayerSumcheck {
        tree: &'static str,
        layer: usize,
        source: SumcheckError,
    },
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

/// The values the prover sends for one GKR layer: the sumcheck and the four
/// child evaluations at the sumcheck point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerProof {
    pub sumcheck: SumcheckProof,
    /// `[p(0, ρ), p(1, ρ), q(0, ρ), q(1, ρ)]` of the child layer.
    pub children: [Fr; 4],
}

/// One fraction tree's proof: its root and its layers from the root down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeProof {
    pub root: [Fr; 2],
    pub layers: Vec<LayerProof>,
}

/// A LogUp-GKR proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupProof {
    pub table_tree: TreeProof,
    pub query_tree: TreeProof,
    /// The query columns' MLEs at the query tree's leaf point.
    pub query_values: Vec<Fr>,
}

/// What the verifier is left to check against commitments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupClaims {
    /// The multiplicity MLE must equal `multiplicity_value` at `multiplicity_point`.
    pub multiplicity_point: Vec<Fr>,
    pub multiplicity_value: Fr,
    /// Query column c's MLE must equal `query_values[c]` at `query_point`.
    pub query_point: Vec<Fr>,
    pub query_values: Vec<Fr>,
}

/// Layers of a fraction tree, leaves first: `layers[k+1][i] = layers[k][2i] ⊕ layers[k][2i+1]`.
fn build_tree(p: Vec<Fr>, q: Vec<Fr>) -> Vec<(Vec<Fr>, Vec<Fr>)> {
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

fn layer_expression(lambda: Fr) -> Expression {
    // MLEs: 0 = eq, 1 = p0, 2 = p1, 3 = q0, 4 = q1.
    Expression::new(
        5,
        vec![
            ProductTerm::product(vec![0, 1, 4]),
            ProductTerm::product(vec![0, 2, 3]),
            ProductTerm {
                coeff: lambda,
                factors: vec![0, 3, 4],
            },
        ],
    )
    .expect("valid degree-3 expression")
}

fn split_even_odd(v: &[Fr]) -> (Vec<Fr>, Vec<Fr>) {
    v.par_chunks(2).map(|c| (c[0], c[1])).unzip()
}

/// Proves a tree from the root down; returns the leaf point and leaf claims.
fn prove_tree<B: Backend + ?Sized>(
    backend: &B,
    transcript: &mut ProofTranscript,
    layers: &[(Vec<Fr>, Vec<Fr>)],
    name: &'static [u8],
) -> Result<(TreeProof, Vec<Fr>), LookupError> {
    let (root_p, root_q) = layers.last().expect("non-empty");
    let root = [root_p[0], root_q[0]];
    transcript.append_scalars(name, &root);
    let mut point: Vec<Fr> = Vec::new();
    let mut claim_p = root[0];
    let mut claim_q = root[1];
    let mut proofs = Vec::with_capacity(layers.len() - 1);
    for (child_p, child_q) in layers[..layers.len() - 1].iter().rev() {
        let lambda = transcript.challenge(b"gkr/lambda");
        let eq = backend.eq_table(&point)?;
        let (p0, p1) = split_even_odd(child_p);
        let (q0, q1) = split_even_odd(child_q);
        let expr = layer_expression(lambda);
        let out = sumcheck::prove(
            backend,
            transcript,
            claim_p + lambda * claim_q,
            vec![eq, p0, p1, q0, q1],
            &expr,
        )?;
        let children = [
            out.final_evals[1],
            out.final_evals[2],
            out.final_evals[3],
            out.final_evals[4],
        ];
        transcript.append_scalars(b"gkr/children", &children);
        let mu = transcript.challenge(b"gkr/mu");
        claim_p = children[0] + mu * (children[1] - children[0]);
        claim_q = children[2] + mu * (children[3] - children[2]);
        point = std::iter::once(mu).chain(out.point).collect();
        proofs.push(LayerProof {
            sumcheck: out.proof,
            children,
        });
    }
    Ok((
        TreeProof {
            root,
            layers: proofs,
        },
        point,
    ))
}

/// Verifies a tree from the root down; returns the leaf point and the claims
/// `(p(point), q(point))` on the leaves.
fn verify_tree(
    transcript: &mut ProofTranscript,
    proof: &TreeProof,
    depth: usize,
    name: &'static [u8],
    tree: &'static str,
) -> Result<(Vec<Fr>, Fr, Fr), LookupError> {
    if proof.layers.len() != depth {
        return Err(LookupError::Shape(format!(
            "{tree} tree has {} layers, expected {depth}",
            proof.layers.len()
        )));
    }
    transcript.append_scalars(name, &proof.root);
    let mut point: Vec<Fr> = Vec::new();
    let mut claim_p = proof.root[0];
    let mut claim_q = proof.root[1];
    for (layer, layer_proof) in proof.layers.iter().enumerate() {
        let lambda = transcript.challenge(b"gkr/lambda");
        let (rho, reduced) = sumcheck::verify(
            transcript,
            claim_p + lambda * claim_q,
            layer,
            3,
            &layer_proof.sumcheck,
        )
        .map_err(|source| LookupError::LayerSumcheck {
            tree,
            layer,
            source,
        })?;
        let [p0, p1, q0, q1] = layer_proof.children;
        let expected = eq_eval(&point, &rho) * (p0 * q1 + p1 * q0 + lambda * q0 * q1);
        if expected != reduced {
            return Err(LookupError::Layer { tree, layer });
        }
        transcript.append_scalars(b"gkr/children", &layer_proof.children);
        let mu = transcript.challenge(b"gkr/mu");
        claim_p = p0 + mu * (p1 - p0);
        claim_q = q0 + mu * (q1 - q0);
        point = std::iter::once(mu).chain(rho).collect();
    }
    Ok((point, claim_p, claim_q))
}

fn absorb_instance(transcript: &mut ProofTranscript, table: &Table, query_vars: usize) -> (Fr, Fr) {
    transcript.append_message(b"lookup", b"logup-gkr/v1");
    table.absorb(transcript);
    transcript.append_u64(b"lookup/query_vars", query_vars as u64);
    let beta = transcript.challenge(b"lookup/beta");
    let alpha = transcript.challenge(b"lookup/alpha");
    (alpha, beta)
}

/// Proves that every query (column `c` of query `j` is `query_columns[c][j]`) is a
/// row of `table`, given the multiplicities (from [`Table::multiplicities`]). The
/// number of queries must be a power of two: pad with a row of the table and count
/// it in the multiplicities.
pub fn prove<B: Backend + ?Sized>(
    backend: &B,
    transcript: &mut ProofTranscript,
    table: &Table,
    query_columns: &[Vec<Fr>],
    multiplicities: &[u64],
) -> Result<(LookupProof, LookupClaims), LookupError> {
    table.validate()?;
    if query_columns.len() != table.arity() {
        return Err(LookupError::Arity {
            table: table.arity(),
            queries: query_columns.len(),
        });
    }
    let n = query_columns[0].len();
    if n == 0 || !n.is_power_of_two() || query_columns.iter().any(|c| c.len() != n) {
        return Err(LookupError::BadQueries(format!(
            "query columns need one power-of-two length, got {n}"
        )));
    }
    if multiplicities.len() != table.len() {
        return Err(LookupError::MultiplicityLength {
            expected: table.len(),
            actual: multiplicities.len(),
        });
    }
    let query_vars = n.trailing_zeros() as usize;
    let (alpha, beta) = absorb_instance(transcript, table, query_vars);

    let columns: Vec<Vec<Fr>> = (0..table.arity()).map(|c| table.column(c)).collect();
    let fold_rows = |cols: &[Vec<Fr>], len: usize| -> Vec<Fr> {
        (0..len)
            .into_par_iter()
            .map(|i| {
                let row: Vec<Fr> = cols.iter().map(|c| c[i]).collect();
                alpha - fold(&row, beta)
            })
            .collect()
    };
    let table_q = fold_rows(&columns, table.len());
    let query_q = fold_rows(query_columns, n);
    if table_q.iter().chain(&query_q).any(Zero::is_zero) {
        return Err(LookupError::ZeroDenominator);
    }
    let table_p: Vec<Fr> = multiplicities.iter().map(|&m| Fr::from(m)).collect();
    let query_p = vec![-Fr::one(); n];
    let table_layers = build_tree(table_p, table_q);
    let query_layers = build_tree(query_p, query_q);

    let (table_tree, multiplicity_point) =
        prove_tree(backend, transcript, &table_layers, b"lookup/table_root")?;
    let (query_tree, query_point) =
        prove_tree(backend, transcript, &query_layers, b"lookup/query_root")?;

    let eq_m = backend.eq_table(&multiplicity_point)?;
    let multiplicity_value = backend.inner_product(&eq_m, &table_layers[0].0)?;
    let eq_q = backend.eq_table(&query_point)?;
    let query_values = query_columns
        .iter()
        .map(|c| backend.inner_product(&eq_q, c))
        .collect::<Result<Vec<_>, _>>()?;
    transcript.append_scalars(b"lookup/query_values", &query_values);
    Ok((
        LookupProof {
            table_tree,
            query_tree,
            query_values: query_values.clone(),
        },
        LookupClaims {
            multiplicity_point,
            multiplicity_value,
            query_point,
            query_values,
        },
    ))
}

/// Verifies a lookup of 2^`query_vars` queries into `table`. On success returns the
/// claims on the multiplicities and query columns the caller must check against
/// their commitments; the lookup is sound only once those hold.
pub fn verify(
    transcript: &mut ProofTranscript,
    table: &Table,
    query_vars: usize,
    proof: &LookupProof,
) -> Result<LookupClaims, LookupError> {
    table.validate()?;
    if proof.query_values.len() != table.arity() {
        return Err(LookupError::Shape(format!(
            "{} query values for a table of arity {}",
            proof.query_values.len(),
            table.arity()
        )));
    }
    let (alpha, beta) = absorb_instance(transcript, table, query_vars);
    let [tp, tq] = proof.table_tree.root;
    let [qp, qq] = proof.query_tree.root;
    if tq.is_zero() || qq.is_zero() {
        return Err(LookupError::RootDenominator);
    }
    if tp * qq + qp * tq != Fr::zero() {
        return Err(LookupError::RootSum);
    }
    let (multiplicity_point, multiplicity_value, table_leaf_q) = verify_tree(
        transcript,
        &proof.table_tree,
        table.num_vars(),
        b"lookup/table_root",
        "table",
    )?;
    let (query_point, query_leaf_p, query_leaf_q) = verify_tree(
        transcript,
        &proof.query_tree,
        query_vars,
        b"lookup/query_root",
        "query",
    )?;
    let table_values: Vec<Fr> = (0..table.arity())
        .map(|c| table.evaluate_column(c, &multiplicity_point))
        .collect();
    if table_leaf_q != alpha - fold(&table_values, beta) {
        return Err(LookupError::TableLeaf);
    }
    if query_leaf_p != -Fr::one() {
        return Err(LookupError::QueryNumerator);
    }
    if query_leaf_q != alpha - fold(&proof.query_values, beta) {
        return Err(LookupError::QueryLeaf);
    }
    transcript.append_scalars(b"lookup/query_values", &proof.query_values);
    Ok(LookupClaims {
        multiplicity_point,
        multiplicity_value,
        query_point,
        query_values: proof.query_values.clone(),
    })
}

#[cfg(test)]
mod tests;
