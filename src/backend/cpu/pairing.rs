//! Batched multi-pairings over BN254: several independent products
//! `Π_i e(P_i, Q_i)` computed in one parallel pass, each ending in its own final
//! exponentiation.
//!
//! This is what Dory's prover spends most of its time on (four products per
//! reduce round, two per fold round). Compared with calling arkworks'
//! `multi_miller_loop` once per product:
//! - all products of a round share one rayon pass (a product of a few pairs no
//!   longer runs alone on one core), and their final exponentiations run in
//!   parallel;
//! - each task accumulates as many pairs as its share of the work into one Fq12
//!   value, so the 63 squarings of the Miller loop are paid once per task rather
//!   than once per 4 pairs (arkworks' fixed chunk);
//! - G2 arguments that are fixed (Dory's Γ₂) come with their line coefficients
//!   precomputed ([`G2Lines`]) and are borrowed, not copied.
//!
//! The result is the same group element as `Bn254::multi_pairing` (tested
//! against it), since the Miller loop's value differs only in how its factors
//! are grouped.

use ark_bn254::{Bn254, Fq12, G1Affine, G2Affine};
use ark_ec::bn::{BnConfig, G2Prepared, TwistType};
use ark_ec::pairing::{MillerLoopOutput, Pairing, PairingOutput};
use ark_ec::AffineRepr;
use ark_ff::{CyclotomicMultSubgroup, Field, One};
use rayon::prelude::*;

type Config = ark_bn254::Config;

/// A G2 point with its Miller-loop line coefficients computed
/// (arkworks' `G2Prepared`, about 17 KiB per point).
pub type G2Lines = G2Prepared<Config>;

/// The G2 side of one product of pairings.
#[derive(Debug, Clone, Copy)]
pub enum G2Side<'a> {
    /// Points whose lines were precomputed (fixed generators).
    Lines(&'a [G2Lines]),
    /// Points whose lines are computed here, once each.
    Points(&'a [G2Affine]),
}

impl G2Side<'_> {
    fn len(&self) -> usize {
        match self {
            G2Side::Lines(l) => l.len(),
            G2Side::Points(p) => p.len(),
        }
    }
}

/// One product `Π_i e(g1[i], g2[i])`; both sides have the same length.
#[derive(Debug, Clone, Copy)]
pub struct PairingProduct<'a> {
    pub g1: &'a [G1Affine],
    pub g2: G2Side<'a>,
}

/// Fewest pairs per task: below this the per-task squarings dominate.
const MIN_PAIRS_PER_TASK: usize = 8;

/// Evaluates one line at `p` into `f` (arkworks' `Bn::ell` for BN254's D-twist).
#[inline]
fn ell(f: &mut Fq12, coeffs: &(ark_bn254::Fq2, ark_bn254::Fq2, ark_bn254::Fq2), p: &G1Affine) {
    let mut c0 = coeffs.0;
    let mut c1 = coeffs.1;
    c0.mul_assign_by_fp(&p.y);
    c1.mul_assign_by_fp(&p.x);
    f.mul_by_034(&c0, &c1, &coeffs.2);
}

/// The Miller loop over `pairs` up to (not including) the last two lines, then
/// conjugated (BN254's x is negative) and finished with the last two lines: the
/// product of these partial values over a partition of the pairs equals
/// arkworks' Miller loop over all of them.
fn miller_chunk(pairs: &[(G1Affine, &G2Lines)]) -> Fq12 {
    debug_assert!(matches!(Config::TWIST_TYPE, TwistType::D));
    let ate = Config::ATE_LOOP_COUNT;
    let mut f = Fq12::one();
    let mut index = 0usize;
    for i in (1..ate.len()).rev() {
        if i != ate.len() - 1 {
            f.square_in_place();
        }
        for (p, q) in pairs {
            ell(&mut f, &q.ell_coeffs[index], p);
        }
        index += 1;
        let bit = ate[i - 1];
        if bit == 1 || bit == -1 {
            for (p, q) in pairs {
                ell(&mut f, &q.ell_coeffs[index], p);
            }
            index += 1;
        }
    }
    if Config::X_IS_NEGATIVE {
        f.cyclotomic_inverse_in_place();
    }
    for _ in 0..2 {
        for (p, q) in pairs {
            ell(&mut f, &q.ell_coeffs[index], p);
        }
        index += 1;
    }
    f
}

/// One task: pairs `range` of product `product`.
struct Task {
    product: usize,
    start: usize,
    end: usize,
}

/// Miller-loop values (before the final exponentiation) of every product.
pub fn multi_miller_loops(products: &[PairingProduct<'_>]) -> Vec<Fq12> {
    for p in products {
        assert_eq!(
            p.g1.len(),
            p.g2.len(),
            "multi_miller_loops: each product needs as many G1 as G2 points"
        );
    }
    let total: usize = products.iter().map(|p| p.g1.len()).sum();
    let threads = rayon::current_num_threads().max(1);
    // About two tasks per thread over all products: balanced, and each task
    // long enough that its squarings are a small share.
    let per_task = total.div_ceil(2 * threads).max(MIN_PAIRS_PER_TASK);
    let mut tasks = Vec::new();
    for (product, p) in products.iter().enumerate() {
        let len = p.g1.len();
        let pieces = len.div_ceil(per_task).max(1);
        let step = len.div_ceil(pieces).max(1);
        let mut start = 0;
        while start < len {
            let end = (start + step).min(len);
            tasks.push(Task {
                product,
                start,
                end,
            });
            start = end;
        }
    }
    let partial: Vec<(usize, Fq12)> = tasks
        .par_iter()
        .map(|task| {
            let product = &products[task.product];
            let g1 = &product.g1[task.start..task.end];
            let f = match product.g2 {
                G2Side::Lines(lines) => {
                    let pairs: Vec<(G1Affine, &G2Lines)> = g1
                        .iter()
                        .zip(&lines[task.start..task.end])
                        .filter(|(p, q)| !p.is_zero() && !q.infinity)
                        .map(|(p, q)| (*p, q))
                        .collect();
                    miller_chunk(&pairs)
                }
                G2Side::Points(points) => {
                    let prepared: Vec<(G1Affine, G2Lines)> = g1
                        .iter()
                        .zip(&points[task.start..task.end])
                        .filter(|(p, q)| !p.is_zero() && !q.is_zero())
                        .map(|(p, q)| (*p, G2Lines::from(*q)))
                        .collect();
                    let pairs: Vec<(G1Affine, &G2Lines)> =
                        prepared.iter().map(|(p, q)| (*p, q)).collect();
                    miller_chunk(&pairs)
                }
            };
            (task.product, f)
        })
        .collect();
    let mut out = vec![Fq12::one(); products.len()];
    for (product, f) in partial {
        out[product] *= f;
    }
    out
}

/// `Π_i e(g1[i], g2[i])` for every product, final exponentiations in parallel.
pub fn multi_pairings(products: &[PairingProduct<'_>]) -> Vec<PairingOutput<Bn254>> {
    multi_miller_loops(products)
        .into_par_iter()
        .map(|f| {
            Bn254::final_exponentiation(MillerLoopOutput(f))
                .expect("the final exponentiation of a Miller loop value exists")
        })
        .collect()
}

/// Line coefficients of `points`, in parallel.
pub fn prepare_g2(points: &[G2Affine]) -> Vec<G2Lines> {
    points.par_iter().map(|q| G2Lines::from(*q)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn batched_products_match_arkworks() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for sizes in [vec![0usize, 1, 3], vec![37, 5], vec![64, 64, 64, 64]] {
            let data: Vec<(Vec<G1Affine>, Vec<G2Affine>)> = sizes
                .iter()
                .map(|&n| {
                    let mut g1: Vec<G1Affine> = (0..n)
                        .map(|_| G1Projective::rand(&mut rng).into_affine())
                        .collect();
                    let g2: Vec<G2Affine> = (0..n)
                        .map(|_| G2Projective::rand(&mut rng).into_affine())
                        .collect();
                    if n > 2 {
                        // identities are skipped, as arkworks does
                        g1[1] = G1Affine::zero();
                    }
                    (g1, g2)
                })
                .collect();
            let lines: Vec<Vec<G2Lines>> = data.iter().map(|(_, g2)| prepare_g2(g2)).collect();
            let products: Vec<PairingProduct<'_>> = data
                .iter()
                .zip(&lines)
                .enumerate()
                .map(|(i, ((g1, g2), l))| PairingProduct {
                    g1,
                    g2: if i % 2 == 0 {
                        G2Side::Lines(l)
                    } else {
                        G2Side::Points(g2)
                    },
                })
                .collect();
            let got = multi_pairings(&products);
            for ((g1, g2), value) in data.iter().zip(got) {
                assert_eq!(value, Bn254::multi_pairing(g1.clone(), g2.clone()));
            }
        }
        // a single generator pair
        let g1 = [G1Affine::generator()];
        let g2 = [G2Projective::generator().into_affine()];
        let got = multi_pairings(&[PairingProduct {
            g1: &g1,
            g2: G2Side::Points(&g2),
        }]);
        assert_eq!(got[0], Bn254::pairing(g1[0], g2[0]));
    }
}
