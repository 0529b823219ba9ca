//! The test oracle: a naive, obviously-correct implementation of every
//! [`Backend`] primitive, written straight from the definitions.
//!
//! Nothing here is fast and nothing here should be used to prove: the
//! [`conformance`](super::conformance) suite runs a backend and this one on the
//! same seeded inputs and demands identical results (and identical typed errors
//! for bad input). To keep it trustworthy the code avoids every optimisation the
//! real backends use:
//!
//! - MSMs are `Σ s_i·P_i` with a textbook double-and-add over the scalar's bits
//!   (no GLV, no windows, no buckets); small values become field elements with
//!   their sign; batches are loops over rows;
//! - the NTT is the O(n²) evaluation of each polynomial at `coset·ω^j`, the INTT
//!   the O(n²) inverse formula `a_i = c^{−i}/n · Σ_j y_j ω^{−ij}`;
//! - `eq_table` multiplies `r_j x_j + (1 − r_j)(1 − x_j)` over the bits of each
//!   index; `bind` applies its one-line formula;
//! - `sumcheck_round` builds, for every `t ≤ degree`, the vectors bound at `t`
//!   and sums `g` over them.
//!
//! Argument checks mirror the CPU backend's, so both return the same
//! [`BackendError`] for the same bad input.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ff::{BigInteger, FftField, Field, One, PrimeField, Zero};

use crate::backend::{
    check_equal_len, Backend, BackendError, BackendResult, BindSide, Capabilities, DeviceInfo,
    DeviceKind, ProductTerm, SmallScalars,
};

/// The naive oracle backend (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceBackend;

/// `k·p` by double-and-add from the most significant bit.
pub fn scalar_mul<P: SWCurveConfig>(p: &Projective<P>, k: &P::ScalarField) -> Projective<P>
where
    P::ScalarField: PrimeField,
{
    let bits = k.into_bigint().to_bits_be();
    let mut acc = Projective::<P>::zero();
    for bit in bits {
        acc += acc;
        if bit {
            acc += p;
        }
    }
    acc
}

/// `Σ scalars[i]·bases[i]`, one scalar multiplication at a time.
fn naive_msm<P: SWCurveConfig>(bases: &[Affine<P>], scalars: &[P::ScalarField]) -> Projective<P>
where
    P::ScalarField: PrimeField,
{
    bases
        .iter()
        .zip(scalars)
        .fold(Projective::<P>::zero(), |acc, (b, s)| {
            acc + scalar_mul(&Projective::<P>::from(*b), s)
        })
}

/// The field element a signed small value stands for.
pub fn small_to_fr(v: i64) -> Fr {
    let magnitude = Fr::from(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}

fn small_to_fr_vec(values: SmallScalars<'_>) -> Vec<Fr> {
    (0..values.len())
        .map(|i| small_to_fr(values.get(i)))
        .collect()
}

/// Row count of a batched MSM, with the CPU backend's errors.
fn batch_rows(op: &'static str, bases_len: usize, values_len: usize) -> BackendResult<usize> {
    if bases_len == 0 {
        if values_len == 0 {
            return Ok(0);
        }
        return Err(BackendError::BadLength {
            op,
            what: "scalars",
            len: values_len,
            requirement: "empty when there are no bases",
        });
    }
    if !values_len.is_multiple_of(bases_len) {
        return Err(BackendError::LengthMismatch {
            op,
            left_name: "scalars (rows × bases)",
            left: values_len,
            right_name: "bases",
            right: bases_len,
        });
    }
    Ok(values_len / bases_len)
}

/// Validates a batched transform's shape with the contract checks the CPU
/// backend uses (so both report the same errors); returns ω for `size`, derived
/// here independently of ark-poly's domain.
fn ntt_shape(
    op: &'static str,
    total_len: usize,
    size: usize,
    coset: Option<Fr>,
) -> BackendResult<Fr> {
    crate::backend::cpu::ntt::domain(op, total_len, size, coset)?;
    Fr::get_root_of_unity(size as u64).ok_or_else(|| BackendError::Unsupported {
        op,
        reason: format!("no radix-2 domain of size {size}"),
    })
}

fn bad_power_of_two(op: &'static str, what: &'static str, len: usize) -> BackendError {
    BackendError::BadLength {
        op,
        what,
        len,
        requirement: "a power of two of at least 2",
    }
}

impl Backend for ReferenceBackend {
    fn name(&self) -> &str {
        "reference"
    }

    fn device(&self) -> DeviceInfo {
        DeviceInfo {
            parallelism: Some(1),
            ..DeviceInfo::new(DeviceKind::Cpu, "naive reference (single thread)")
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            msm_g1: true,
            msm_g2: true,
            ntt: true,
            multilinear: true,
            min_offload_len: 0,
        }
    }

    fn synchronize(&self) -> BackendResult<()> {
        Ok(())
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1", "bases", bases.len(), "scalars", scalars.len())?;
        Ok(naive_msm(bases, scalars))
    }

    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1_small", "bases", bases.len(), "values", values.len())?;
        Ok(naive_msm(bases, &small_to_fr_vec(values)))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective> {
        check_equal_len("msm_g2", "bases", bases.len(), "scalars", scalars.len())?;
        Ok(naive_msm(bases, scalars))
    }

    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>> {
        let rows = batch_rows("msm_g1_batch", bases.len(), scalars.len())?;
        let cols = bases.len();
        Ok((0..rows)
            .map(|r| naive_msm(bases, &scalars[r * cols..(r + 1) * cols]))
            .collect())
    }

    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>> {
        let rows = batch_rows("msm_g1_small_batch", bases.len(), values.len())?;
        let scalars = small_to_fr_vec(values);
        let cols = bases.len();
        Ok((0..rows)
            .map(|r| naive_msm(bases, &scalars[r * cols..(r + 1) * cols]))
            .collect())
    }

    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        let omega = ntt_shape("ntt", values.len(), size, coset)?;
        let c = coset.unwrap_or(Fr::one());
        for poly in values.chunks_mut(size) {
            let coeffs = poly.to_vec();
            // Evaluation point x_j = c·ω^j; Horner over the coefficients.
            let mut x = c;
            for out in poly.iter_mut() {
                *out = coeffs.iter().rev().fold(Fr::zero(), |acc, a| acc * x + a);
                x *= omega;
            }
        }
        Ok(())
    }

    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        let omega = ntt_shape("intt", values.len(), size, coset)?;
        let omega_inv = omega.inverse().expect("ω is non-zero");
        let c_inv = coset
            .unwrap_or(Fr::one())
            .inverse()
            .expect("offset checked non-zero");
        let n_inv = Fr::from(size as u64).inverse().expect("size < p");
        for poly in values.chunks_mut(size) {
            let evals = poly.to_vec();
            // a_i = c^{-i}/n · Σ_j y_j ω^{-ij}
            let mut c_pow = Fr::one();
            let mut w_i = Fr::one(); // ω^{-i}
            for out in poly.iter_mut() {
                let mut w_ij = Fr::one(); // ω^{-ij}
                let mut sum = Fr::zero();
                for y in &evals {
                    sum += *y * w_ij;
                    w_ij *= w_i;
                }
                *out = sum * n_inv * c_pow;
                c_pow *= c_inv;
                w_i *= omega_inv;
            }
        }
        Ok(())
    }

    fn eq_table(&self, point: &[Fr]) -> BackendResult<Vec<Fr>> {
        if point.len() > 40 {
            return Err(BackendError::Unsupported {
                op: "eq_table",
                reason: format!(
                    "{} variables is more than this kernel supports (40)",
                    point.len()
                ),
            });
        }
        let n = point.len();
        Ok((0..1usize << n)
            .map(|x| {
                point
                    .iter()
                    .enumerate()
                    .map(|(j, r)| {
                        let xj = Fr::from(((x >> j) & 1) as u64);
                        *r * xj + (Fr::one() - r) * (Fr::one() - xj)
                    })
                    .product()
            })
            .collect())
    }

    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()> {
        let len = values.len();
        if len < 2 || !len.is_power_of_two() {
            return Err(bad_power_of_two("bind", "values", len));
        }
        let half = len / 2;
        let bound: Vec<Fr> = (0..half)
            .map(|i| {
                let (lo, hi) = match side {
                    BindSide::Low => (values[2 * i], values[2 * i + 1]),
                    BindSide::High => (values[i], values[i + half]),
                };
                (Fr::one() - r) * lo + r * hi
            })
            .collect();
        *values = bound;
        Ok(())
    }

    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
        check_equal_len("inner_product", "a", a.len(), "b", b.len())?;
        Ok(a.iter().zip(b).map(|(x, y)| *x * y).sum())
    }

    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>> {
        // The argument contract is shared with the CPU backend (same errors);
        // the arithmetic below is independent.
        let half = crate::backend::cpu::multilinear::check_round(mles, terms, degree)?;
        Ok((0..=degree)
            .map(|t| {
                let t = Fr::from(t as u64);
                // f_j(t, x') = (1 − t)·v[2x'] + t·v[2x' + 1]
                let bound: Vec<Vec<Fr>> = mles
                    .iter()
                    .map(|v| {
                        (0..half)
                            .map(|i| (Fr::one() - t) * v[2 * i] + t * v[2 * i + 1])
                            .collect()
                    })
                    .collect();
                (0..half)
                    .map(|i| {
                        terms
                            .iter()
                            .map(|term| {
                                term.factors
                                    .iter()
                                    .fold(term.coeff, |acc, &f| acc * bound[f][i])
                            })
                            .sum::<Fr>()
                    })
                    .sum()
            })
            .collect())
    }

    fn g2_fixed_base_mul(&self, base: &G2Projective, scalars: &[Fr]) -> Vec<G2Projective> {
        scalars.iter().map(|s| scalar_mul(base, s)).collect()
    }

    fn g1_fixed_base_mul(&self, base: &G1Projective, scalars: &[Fr]) -> Vec<G1Projective> {
        scalars.iter().map(|s| scalar_mul(base, s)).collect()
    }

    fn g1_scale_bases_add(&self, bases: &[G1Projective], vs: &mut [G1Projective], scalar: &Fr) {
        assert_eq!(bases.len(), vs.len(), "scale_bases_add: lengths must match");
        for (v, b) in vs.iter_mut().zip(bases) {
            *v += scalar_mul(b, scalar);
        }
    }

    fn g2_scale_bases_add(&self, bases: &[G2Projective], vs: &mut [G2Projective], scalar: &Fr) {
        assert_eq!(bases.len(), vs.len(), "scale_bases_add: lengths must match");
        for (v, b) in vs.iter_mut().zip(bases) {
            *v += scalar_mul(b, scalar);
        }
    }

    fn g1_scale_vs_add(&self, vs: &mut [G1Projective], addends: &[G1Projective], scalar: &Fr) {
        assert_eq!(vs.len(), addends.len(), "scale_vs_add: lengths must match");
        for (v, a) in vs.iter_mut().zip(addends) {
            *v = scalar_mul(v, scalar) + a;
        }
    }

    fn g2_scale_vs_add(&self, vs: &mut [G2Projective], addends: &[G2Projective], scalar: &Fr) {
        assert_eq!(vs.len(), addends.len(), "scale_vs_add: lengths must match");
        for (v, a) in vs.iter_mut().zip(addends) {
            *v = scalar_mul(v, scalar) + a;
        }
    }

    fn fr_scale_add(&self, left: &mut [Fr], right: &[Fr], scalar: &Fr) {
        assert_eq!(left.len(), right.len(), "fr_scale_add: lengths must match");
        for (l, r) in left.iter_mut().zip(right) {
            *l = *l * scalar + r;
        }
    }
}
