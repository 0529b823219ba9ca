//! Multilinear kernels: eq-tables, binding a variable, inner products and sumcheck
//! round evaluation, parallel over chunks of the hypercube.
//!
//! Variable order (see `backend` docs): entry `i` is the evaluation at the point
//! whose variable `j` is bit `j` of `i`.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, One, Zero};
use rayon::prelude::*;

use crate::backend::{
    check_equal_len, BackendError, BackendResult, BindSide, ProductTerm, MAX_SUMCHECK_DEGREE,
};

/// eq(point, x) for all x, built variable by variable from the last to the
/// first so that `point[0]` ends up as the index's lowest bit.
pub fn eq_table(point: &[Fr], chunk_len: usize) -> Vec<Fr> {
    let n = point.len();
    let mut table = Vec::with_capacity(1 << n);
    table.push(Fr::one());
    // Processing variables from the last to the first: after step k the table
    // holds eq over point[n-k..] indexed by those variables (lowest = point[n-k]).
    // Doubling with interleaving keeps the newest variable at bit 0.
    for r in point.iter().rev() {
        let prev = std::mem::take(&mut table);
        let mut next = vec![Fr::zero(); prev.len() * 2];
        next.par_chunks_mut(2)
            .zip(prev.par_iter())
            .with_min_len(chunk_len)
            .for_each(|(pair, v)| {
                let hi = *v * r;
                pair[1] = hi;
                pair[0] = *v - hi;
            });
        table = next;
    }
    table
}

/// Fixes one variable to `r`, halving `values` in place.
pub fn bind(values: &mut Vec<Fr>, r: Fr, side: BindSide, chunk_len: usize) -> BackendResult<()> {
    let len = values.len();
    if len < 2 || !len.is_power_of_two() {
        return Err(BackendError::BadLength {
            op: "bind",
            what: "values",
            len,
            requirement: "a power of two of at least 2",
        });
    }
    let half = len / 2;
    match side {
        BindSide::High => {
            let (lo, hi) = values.split_at_mut(half);
            lo.par_iter_mut()
                .zip(hi.par_iter())
                .with_min_len(chunk_len)
                .for_each(|(a, b)| *a += r * (*b - *a));
        }
        BindSide::Low => {
            let folded: Vec<Fr> = values
                .par_chunks(2)
                .with_min_len(chunk_len)
                .map(|pair| pair[0] + r * (pair[1] - pair[0]))
                .collect();
            values[..half].copy_from_slice(&folded);
        }
    }
    values.truncate(half);
    Ok(())
}

/// Σ a[i]·b[i].
pub fn inner_product(a: &[Fr], b: &[Fr], chunk_len: usize) -> BackendResult<Fr> {
    check_equal_len("inner_product", "a", a.len(), "b", b.len())?;
    Ok(a.par_iter()
        .zip(b.par_iter())
        .with_min_len(chunk_len)
        .map(|(x, y)| *x * y)
        .sum())
}

/// Validates the arguments of a sumcheck round; returns the half length.
pub(crate) fn check_round(
    mles: &[&[Fr]],
    terms: &[ProductTerm],
    degree: usize,
) -> BackendResult<usize> {
    const OP: &str = "sumcheck_round";
    let Some(first) = mles.first() else {
        return Err(BackendError::Unsupported {
            op: OP,
            reason: "no MLEs given".into(),
        });
    };
    let len = first.len();
    if len < 2 || !len.is_power_of_two() {
        return Err(BackendError::BadLength {
            op: OP,
            what: "mles[0]",
            len,
            requirement: "a power of two of at least 2",
        });
    }
    for mle in mles {
        check_equal_len(OP, "mles[0]", len, "another MLE", mle.len())?;
    }
    if degree > MAX_SUMCHECK_DEGREE {
        return Err(BackendError::Unsupported {
            op: OP,
            reason: format!("degree {degree} exceeds the maximum {MAX_SUMCHECK_DEGREE}"),
        });
    }
    for term in terms {
        if term.factors.len() > degree {
            return Err(BackendError::Unsupported {
                op: OP,
                reason: format!(
                    "a term has {} factors but the declared degree is {degree}",
                    term.factors.len()
                ),
            });
        }
        if let Some(bad) = term.factors.iter().find(|&&f| f >= mles.len()) {
            return Err(BackendError::Unsupported {
                op: OP,
                reason: format!("factor index {bad} but only {} MLEs", mles.len()),
            });
        }
    }
    Ok(len / 2)
}

/// `[s(0), …, s(degree)]` for the low variable; see `Backend::sumcheck_round`.
pub fn sumcheck_round(
    mles: &[&[Fr]],
    terms: &[ProductTerm],
    degree: usize,
    chunk_len: usize,
) -> BackendResult<Vec<Fr>> {
    let half = check_round(mles, terms, degree)?;
    let points = degree + 1;
    let k = mles.len();
    let sums = (0..half)
        .into_par_iter()
        .with_min_len(chunk_len.div_ceil(2).max(1))
        .fold(
            || (vec![Fr::zero(); points], vec![Fr::zero(); k * points]),
            |(mut acc, mut evals), i| {
                // evals[j*points + t] = f_j(t, x'), extended linearly in t.
                for (j, mle) in mles.iter().enumerate() {
                    let a = mle[2 * i];
                    let d = mle[2 * i + 1] - a;
                    let row = &mut evals[j * points..(j + 1) * points];
                    row[0] = a;
                    for t in 1..points {
                        row[t] = row[t - 1] + d;
                    }
                }
                for term in terms {
                    for t in 0..points {
                        let mut product = term.coeff;
                        for &f in &term.factors {
                            product *= evals[f * points + t];
                        }
                        acc[t] += product;
                    }
                }
                (acc, evals)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(
            || vec![Fr::zero(); points],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    Ok(sums)
}

/// One round of a batched fraction-tree (LogUp-GKR) layer sumcheck with the eq
/// factor split off: `[S(0), S(2)]` where
/// `S(t) = Σ_m e[m] · Σ_j weights[j] · (p0·q1 + q0·(p1 + γ·q1))(t, m)` and each
/// of tree j's MLEs `[p0, p1, q0, q1]` is extended linearly in its low variable t.
/// See `Backend::fraction_layer_round`.
pub fn fraction_layer_round(
    e: &[Fr],
    trees: &[[&[Fr]; 4]],
    weights: &[Fr],
    gamma: Fr,
    chunk_len: usize,
) -> BackendResult<[Fr; 2]> {
    const OP: &str = "fraction_layer_round";
    let half = e.len();
    check_equal_len(OP, "trees", trees.len(), "weights", weights.len())?;
    for tree in trees {
        for mle in tree {
            check_equal_len(OP, "2 × e", 2 * half, "a tree MLE", mle.len())?;
        }
    }
    // The first weight is 1 in the batched layers: skip its products.
    let first_is_one = weights.first().is_some_and(One::is_one);
    let sums = (0..half)
        .into_par_iter()
        .with_min_len(chunk_len.div_ceil(2).max(1))
        .fold(
            || [Fr::zero(); 2],
            |mut acc, m| {
                let (mut s0, mut s2) = (Fr::zero(), Fr::zero());
                for (j, [p0, p1, q0, q1]) in trees.iter().enumerate() {
                    let (a_p0, a_p1, a_q0, a_q1) = (p0[2 * m], p1[2 * m], q0[2 * m], q1[2 * m]);
                    // f(2) = 2·f(1) − f(0) for each linear MLE.
                    let b_p0 = p0[2 * m + 1].double() - a_p0;
                    let b_p1 = p1[2 * m + 1].double() - a_p1;
                    let b_q0 = q0[2 * m + 1].double() - a_q0;
                    let b_q1 = q1[2 * m + 1].double() - a_q1;
                    let f0 = a_p0 * a_q1 + a_q0 * (a_p1 + gamma * a_q1);
                    let f2 = b_p0 * b_q1 + b_q0 * (b_p1 + gamma * b_q1);
                    if j == 0 && first_is_one {
                        s0 += f0;
                        s2 += f2;
                    } else {
                        s0 += weights[j] * f0;
                        s2 += weights[j] * f2;
                    }
                }
                acc[0] += e[m] * s0;
                acc[1] += e[m] * s2;
                acc
            },
        )
        .reduce(|| [Fr::zero(); 2], |a, b| [a[0] + b[0], a[1] + b[1]]);
    Ok(sums)
}
