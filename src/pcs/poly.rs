//! Multilinear polynomials as Dory sees them: a coefficient matrix of 2^ν rows and
//! 2^σ columns (row-major; entry `i` is the evaluation at the point whose
//! variable `j` is bit `j` of `i`, so the low σ variables select the column).
//!
//! Values are kept as small signed integers when they are (witness tensors,
//! quantized weights), so commitments use the small-scalar MSM; or as field
//! elements otherwise.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ff::Zero;
use dory_pcs::backends::arkworks::{ArkFr, ArkG1};
use dory_pcs::error::DoryError;
use dory_pcs::mode::Mode;
use dory_pcs::primitives::arithmetic::{DoryRoutines, Group, PairingCurve};
use dory_pcs::primitives::poly::{MultilinearLagrange, Polynomial};
use dory_pcs::primitives::serialization::{Compress, DoryDeserialize, DorySerialize, Validate};
use dory_pcs::setup::ProverSetup;
use rayon::prelude::*;

use super::{Layout, PcsError};
use crate::backend::{Backend, SmallScalars};

/// The values of a multilinear polynomial on the hypercube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coefficients {
    /// Signed small integers (`v` stands for `v mod p`).
    Small(Vec<i64>),
    /// Arbitrary field elements.
    Field(Vec<Fr>),
}

/// A multilinear polynomial with 2^`num_vars` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultilinearPoly {
    coefficients: Coefficients,
    num_vars: usize,
}

fn power_of_two_vars(len: usize) -> Result<usize, PcsError> {
    if len == 0 || !len.is_power_of_two() {
        return Err(PcsError::NotPowerOfTwo { len });
    }
    Ok(len.trailing_zeros() as usize)
}

impl MultilinearPoly {
    /// A polynomial of small signed integers; the length must be a power of two.
    pub fn from_small(values: Vec<i64>) -> Result<Self, PcsError> {
        let num_vars = power_of_two_vars(values.len())?;
        Ok(MultilinearPoly {
            coefficients: Coefficients::Small(values),
            num_vars,
        })
    }

    /// A polynomial of field elements; the length must be a power of two.
    pub fn from_field(values: Vec<Fr>) -> Result<Self, PcsError> {
        let num_vars = power_of_two_vars(values.len())?;
        Ok(MultilinearPoly {
            coefficients: Coefficients::Field(values),
            num_vars,
        })
    }

    /// Number of variables.
    pub fn num_vars(&self) -> usize {
        self.num_vars
    }

    /// Number of values (2^num_vars).
    pub fn len(&self) -> usize {
        1 << self.num_vars
    }

    /// Never true: a polynomial has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The values.
    pub fn coefficients(&self) -> &Coefficients {
        &self.coefficients
    }

    /// Value `i` as a field element.
    pub fn value(&self, i: usize) -> Fr {
        match &self.coefficients {
            Coefficients::Small(v) => small_to_field(v[i]),
            Coefficients::Field(v) => v[i],
        }
    }

    /// All values as field elements.
    pub fn to_field(&self) -> Vec<Fr> {
        match &self.coefficients {
            Coefficients::Small(v) => v.par_iter().map(|&x| small_to_field(x)).collect(),
            Coefficients::Field(v) => v.clone(),
        }
    }

    /// f(point) = Σ_x eq(point, x)·f(x) (point[0] is variable 0).
    pub fn evaluate<B: Backend + ?Sized>(&self, backend: &B, point: &[Fr]) -> Result<Fr, PcsError> {
        if point.len() != self.num_vars {
            return Err(PcsError::PointLength {
                expected: self.num_vars,
                actual: point.len(),
            });
        }
        let eq = backend.eq_table(point)?;
        Ok(match &self.coefficients {
            Coefficients::Field(v) => backend.inner_product(&eq, v)?,
            Coefficients::Small(v) => eq
                .par_iter()
                .zip(v.par_iter())
                .map(|(e, &x)| *e * small_to_field(x))
                .sum(),
        })
    }

    /// Tier-1 commitments: one MSM per row over the first 2^σ column generators.
    pub fn row_commitments<B: Backend + ?Sized>(
        &self,
        backend: &B,
        layout: Layout,
        g1: &[G1Affine],
    ) -> Result<Vec<G1Projective>, PcsError> {
        layout.check_len(self.len())?;
        let cols = 1usize << layout.sigma;
        if g1.len() < cols {
            return Err(PcsError::SetupTooSmall {
                needed_log: layout.sigma,
                have: g1.len(),
            });
        }
        let bases = &g1[..cols];
        Ok(match &self.coefficients {
            Coefficients::Small(v) => backend.msm_g1_small_batch(bases, SmallScalars::I64(v))?,
            Coefficients::Field(v) => backend.msm_g1_batch(bases, v)?,
        })
    }

    /// v[j] = Σ_i left[i]·M[i][j] for the 2^ν × 2^σ matrix.
    pub fn vector_matrix_product(&self, left: &[Fr], layout: Layout) -> Vec<Fr> {
        let cols = 1usize << layout.sigma;
        let rows = (1usize << layout.nu).min(left.len());
        const COL_CHUNK: usize = 256;
        let mut out = vec![Fr::zero(); cols];
        out.par_chunks_mut(COL_CHUNK)
            .enumerate()
            .for_each(|(chunk, acc)| {
                let start = chunk * COL_CHUNK;
                let width = acc.len();
                for (i, l) in left[..rows].iter().enumerate() {
                    if l.is_zero() {
                        continue;
                    }
                    let row = i * cols + start;
                    match &self.coefficients {
                        Coefficients::Small(v) => {
                            for (a, &x) in acc.iter_mut().zip(&v[row..row + width]) {
                                if x != 0 {
                                    *a += *l * small_to_field(x);
                                }
                            }
                        }
                        Coefficients::Field(v) => {
                            for (a, x) in acc.iter_mut().zip(&v[row..row + width]) {
                                *a += *l * x;
                            }
                        }
                    }
                }
            });
        out
    }
}

/// `v mod p` for a signed integer.
pub fn small_to_field(v: i64) -> Fr {
    let magnitude = Fr::from(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// A polynomial paired with the backend its Dory operations run on; this is the
/// type handed to `dory_pcs::prove`.
pub struct OnBackend<'a, B: ?Sized> {
    pub poly: &'a MultilinearPoly,
    pub backend: &'a B,
}

impl<B: Backend + ?Sized> Polynomial<ArkFr> for OnBackend<'_, B> {
    fn num_vars(&self) -> usize {
        self.poly.num_vars
    }

    fn evaluate(&self, point: &[ArkFr]) -> ArkFr {
        let point: Vec<Fr> = point.iter().map(|p| p.0).collect();
        ArkFr(
            self.poly
                .evaluate(self.backend, &point)
                .expect("dory evaluates at a point with num_vars coordinates"),
        )
    }

    /// Dory's generic commit entry point. zkinfer calls [`super::commit`], which
    /// runs the same row MSMs on cached affine generators; this path converts the
    /// generic setup points through their canonical bytes (an identity for BN254)
    /// and exists so the type is a complete `dory_pcs` polynomial.
    fn commit<E, Mo, M1>(
        &self,
        nu: usize,
        sigma: usize,
        setup: &ProverSetup<E>,
    ) -> Result<(E::GT, Vec<E::G1>, ArkFr), DoryError>
    where
        E: PairingCurve,
        Mo: Mode,
        M1: DoryRoutines<E::G1>,
        E::G1: Group<Scalar = ArkFr>,
        E::GT: Group<Scalar = ArkFr>,
    {
        let layout = Layout { nu, sigma };
        let cols = 1usize << sigma;
        if setup.g1_vec.len() < cols || setup.g2_vec.len() < (1 << nu) {
            return Err(DoryError::InvalidSize {
                expected: cols,
                actual: setup.g1_vec.len(),
            });
        }
        let g1: Vec<ArkG1> = bridge(&setup.g1_vec[..cols])?;
        let g1_affine = super::to_affine_g1(&g1);
        let rows = self
            .poly
            .row_commitments(self.backend, layout, &g1_affine)
            .map_err(|e| DoryError::InvalidInput(e.to_string()))?;
        let rows: Vec<ArkG1> = rows.into_iter().map(ArkG1).collect();
        let rows: Vec<E::G1> = bridge(&rows)?;
        let tier_2 = E::multi_pair_g2_setup(&rows, &setup.g2_vec[..1 << nu]);
        let blind: ArkFr = Mo::sample();
        Ok((Mo::mask(tier_2, &setup.ht, &blind), rows, blind))
    }
}

/// Converts group elements between two `dory_pcs` group types through their
/// uncompressed canonical bytes; for the same curve this is the identity.
fn bridge<S: DorySerialize, T: DoryDeserialize>(points: &[S]) -> Result<Vec<T>, DoryError> {
    points
        .iter()
        .map(|p| {
            let mut bytes = Vec::new();
            p.serialize_with_mode(&mut bytes, Compress::No)
                .map_err(|e| DoryError::InvalidInput(format!("cannot encode a point: {e}")))?;
            T::deserialize_with_mode(&bytes[..], Compress::No, Validate::No)
                .map_err(|e| DoryError::InvalidInput(format!("cannot decode a point: {e}")))
        })
        .collect()
}

impl<B: Backend + ?Sized> MultilinearLagrange<ArkFr> for OnBackend<'_, B> {
    fn vector_matrix_product(&self, left_vec: &[ArkFr], nu: usize, sigma: usize) -> Vec<ArkFr> {
        let left: Vec<Fr> = left_vec.iter().map(|x| x.0).collect();
        self.poly
            .vector_matrix_product(&left, Layout { nu, sigma })
            .into_iter()
            .map(ArkFr)
            .collect()
    }
}
