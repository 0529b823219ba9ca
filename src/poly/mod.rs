//! Dense multilinear polynomials over Fr and the variable-order convention every
//! protocol in zkinfer uses.
//!
//! # Variable order
//! A vector `v` of 2^n values is the MLE `f` with `f(x) = v[Σ_j x_j 2^j]` on the
//! hypercube: variable `j` is bit `j` of the index (variable 0 is the least
//! significant bit). `dory_pcs` evaluates a committed vector at a point in exactly
//! this order (its columns are the low σ variables), and sumcheck binds variable 0
//! first, so its challenges form the evaluation point without reordering.
//!
//! # Embedding
//! A tensor placed in block `b` of a larger vector (block size 2^n, so it occupies
//! indices `b·2^n .. (b+1)·2^n`) satisfies `F(r ‖ bits(b)) = f(r)`: the low n
//! variables are the tensor's own, the high ones spell the block index in binary
//! (least significant first). [`block_point`] builds that point.

use ark_bn254::Fr;
use ark_ff::{One, Zero};

use crate::backend::{Backend, BackendError, BindSide};

/// A multilinear polynomial given by its 2^n values on the hypercube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseMle {
    values: Vec<Fr>,
}

/// Errors building or using an MLE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MleError {
    #[error("an MLE needs a power-of-two number of values, got {0}")]
    NotPowerOfTwo(usize),
    #[error("point has {actual} coordinates, the MLE has {expected} variables")]
    PointLength { expected: usize, actual: usize },
    #[error("cannot bind a variable of a constant (0-variable) MLE")]
    NothingToBind,
    #[error("block {block} of size 2^{block_vars} does not fit in 2^{total_vars} values")]
    BlockOutOfRange {
        block: usize,
        block_vars: usize,
        total_vars: usize,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl DenseMle {
    /// An MLE from its values; the length must be a power of two.
    pub fn new(values: Vec<Fr>) -> Result<Self, MleError> {
        if values.is_empty() || !values.len().is_power_of_two() {
            return Err(MleError::NotPowerOfTwo(values.len()));
        }
        Ok(DenseMle { values })
    }

    /// Pads `values` with zeros to the next power of two (at least one value).
    pub fn padded(mut values: Vec<Fr>) -> Self {
        let len = values.len().max(1).next_power_of_two();
        values.resize(len, Fr::zero());
        DenseMle { values }
    }

    /// Number of variables.
    pub fn num_vars(&self) -> usize {
        self.values.len().trailing_zeros() as usize
    }

    /// The values.
    pub fn values(&self) -> &[Fr] {
        &self.values
    }

    /// Consumes the MLE, returning its values.
    pub fn into_values(self) -> Vec<Fr> {
        self.values
    }

    /// f(point) via the backend's eq-table and inner product.
    pub fn evaluate<B: Backend + ?Sized>(&self, backend: &B, point: &[Fr]) -> Result<Fr, MleError> {
        if point.len() != self.num_vars() {
            return Err(MleError::PointLength {
                expected: self.num_vars(),
                actual: point.len(),
            });
        }
        let eq = backend.eq_table(point)?;
        Ok(backend.inner_product(&eq, &self.values)?)
    }

    /// Fixes variable 0 to `r`.
    pub fn bind_bottom<B: Backend + ?Sized>(&mut self, backend: &B, r: Fr) -> Result<(), MleError> {
        self.bind(backend, r, BindSide::Low)
    }

    /// Fixes the last variable to `r`.
    pub fn bind_top<B: Backend + ?Sized>(&mut self, backend: &B, r: Fr) -> Result<(), MleError> {
        self.bind(backend, r, BindSide::High)
    }

    fn bind<B: Backend + ?Sized>(
        &mut self,
        backend: &B,
        r: Fr,
        side: BindSide,
    ) -> Result<(), MleError> {
        if self.values.len() < 2 {
            return Err(MleError::NothingToBind);
        }
        backend.bind(&mut self.values, r, side)?;
        Ok(())
    }

    /// Places this MLE in block `block` of a zero vector of 2^`total_vars` values.
    pub fn embed(&self, block: usize, total_vars: usize) -> Result<DenseMle, MleError> {
        let n = self.num_vars();
        if total_vars < n || block >= 1usize << (total_vars - n) {
            return Err(MleError::BlockOutOfRange {
                block,
                block_vars: n,
                total_vars,
            });
        }
        let mut values = vec![Fr::zero(); 1 << total_vars];
        values[block << n..(block + 1) << n].copy_from_slice(&self.values);
        Ok(DenseMle { values })
    }
}

/// The point of the big polynomial that a claim `f(point)` on block `block`
/// (of 2^point.len() values) in a vector of 2^`total_vars` values becomes:
/// `point ‖ bits(block)`.
pub fn block_point(point: &[Fr], block: usize, total_vars: usize) -> Result<Vec<Fr>, MleError> {
    let n = point.len();
    if total_vars < n || block >= 1usize << (total_vars - n) {
        return Err(MleError::BlockOutOfRange {
            block,
            block_vars: n,
            total_vars,
        });
    }
    let mut full = point.to_vec();
    full.extend((0..total_vars - n).map(|j| {
        if block >> j & 1 == 1 {
            Fr::one()
        } else {
            Fr::zero()
        }
    }));
    Ok(full)
}

/// `2^k` as a field element (scale factors of fixed-point values and of sums over
/// variables a polynomial does not depend on).
pub fn pow2(k: usize) -> Fr {
    ark_ff::Field::pow(&Fr::from(2u64), [k as u64])
}

/// eq(r, ·) as a dense table (2^r.len() values).
pub fn eq_table<B: Backend + ?Sized>(backend: &B, r: &[Fr]) -> Result<Vec<Fr>, MleError> {
    Ok(backend.eq_table(r)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn random(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
        (0..n).map(|_| Fr::rand(rng)).collect()
    }

    #[test]
    fn variable_zero_is_the_lowest_bit() {
        // f(x0, x1) with values [f00, f10, f01, f11] (index = x0 + 2·x1).
        let v = [1u64, 2, 3, 4].map(Fr::from).to_vec();
        let f = DenseMle::new(v).unwrap();
        let cpu = CpuBackend::global();
        let at = |x0: u64, x1: u64| f.evaluate(cpu, &[Fr::from(x0), Fr::from(x1)]).unwrap();
        assert_eq!(at(1, 0), Fr::from(2u64));
        assert_eq!(at(0, 1), Fr::from(3u64));
    }

    #[test]
    fn binding_matches_evaluation() {
        let cpu = CpuBackend::global();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let f = DenseMle::new(random(&mut rng, 16)).unwrap();
        let r = random(&mut rng, 4);
        let expected = f.evaluate(cpu, &r).unwrap();
        let mut low = f.clone();
        for x in &r {
            low.bind_bottom(cpu, *x).unwrap();
        }
        assert_eq!(low.values(), &[expected]);
        let mut high = f.clone();
        for x in r.iter().rev() {
            high.bind_top(cpu, *x).unwrap();
        }
        assert_eq!(high.values(), &[expected]);
        assert_eq!(high.bind_top(cpu, r[0]), Err(MleError::NothingToBind));
    }

    #[test]
    fn embedded_block_claims_carry_over() {
        let cpu = CpuBackend::global();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let small = DenseMle::new(random(&mut rng, 4)).unwrap();
        let r = random(&mut rng, 2);
        for block in 0..8 {
            let big = small.embed(block, 5).unwrap();
            let point = block_point(&r, block, 5).unwrap();
            assert_eq!(
                big.evaluate(cpu, &point).unwrap(),
                small.evaluate(cpu, &r).unwrap()
            );
        }
        assert!(small.embed(8, 5).is_err());
        assert!(block_point(&r, 8, 5).is_err());
    }

    #[test]
    fn padding_and_errors() {
        assert_eq!(DenseMle::padded(vec![Fr::one(); 5]).num_vars(), 3);
        assert_eq!(DenseMle::padded(vec![]).num_vars(), 0);
        assert_eq!(
            DenseMle::new(vec![Fr::one(); 3]),
            Err(MleError::NotPowerOfTwo(3))
        );
        let f = DenseMle::new(vec![Fr::one(); 4]).unwrap();
        assert!(matches!(
            f.evaluate(CpuBackend::global(), &[Fr::one()]),
            Err(MleError::PointLength { .. })
        ));
    }
}
