//! Number-theoretic transforms over BN254's Fr, batched, optionally on a coset.
//!
//! Built on ark-poly's radix-2 domain (its in-place FFT is already rayon-parallel
//! for large sizes); a batch of small transforms is parallelised across
//! polynomials instead.

use ark_bn254::Fr;
use ark_ff::FftField;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rayon::prelude::*;

use crate::backend::{BackendError, BackendResult};

/// Direction of a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Inverse,
}

/// Checks the shape of a batched transform and builds its (coset) domain.
pub(crate) fn domain(
    op: &'static str,
    total_len: usize,
    size: usize,
    coset: Option<Fr>,
) -> BackendResult<Radix2EvaluationDomain<Fr>> {
    if size == 0 || !size.is_power_of_two() {
        return Err(BackendError::BadLength {
            op,
            what: "size",
            len: size,
            requirement: "a power of two",
        });
    }
    if !total_len.is_multiple_of(size) {
        return Err(BackendError::BadLength {
            op,
            what: "values",
            len: total_len,
            requirement: "a multiple of size",
        });
    }
    let log_size = size.trailing_zeros();
    if log_size > <Fr as FftField>::TWO_ADICITY {
        return Err(BackendError::Unsupported {
            op,
            reason: format!(
                "size 2^{log_size} exceeds Fr's two-adicity 2^{}",
                <Fr as FftField>::TWO_ADICITY
            ),
        });
    }
    let base =
        Radix2EvaluationDomain::<Fr>::new(size).ok_or_else(|| BackendError::Unsupported {
            op,
            reason: format!("no radix-2 domain of size {size}"),
        })?;
    match coset {
        None => Ok(base),
        Some(offset) => {
            if ark_ff::Zero::is_zero(&offset) {
                return Err(BackendError::Unsupported {
                    op,
                    reason: "coset offset must be non-zero".into(),
                });
            }
            base.get_coset(offset)
                .ok_or_else(|| BackendError::Unsupported {
                    op,
                    reason: "cannot build the coset domain".into(),
                })
        }
    }
}

/// Transforms every `size`-long polynomial in `values` in place.
pub fn transform(
    values: &mut [Fr],
    size: usize,
    coset: Option<Fr>,
    direction: Direction,
    min_parallel_len: usize,
) -> BackendResult<()> {
    let op = match direction {
        Direction::Forward => "ntt",
        Direction::Inverse => "intt",
    };
    let domain = domain(op, values.len(), size, coset)?;
    let run = |poly: &mut [Fr]| match direction {
        Direction::Forward => domain.fft_in_place_slice(poly),
        Direction::Inverse => domain.ifft_in_place_slice(poly),
    };
    if size >= min_parallel_len {
        // Large transforms parallelise internally.
        values.chunks_mut(size).for_each(run);
    } else {
        values.par_chunks_mut(size).for_each(run);
    }
    Ok(())
}

/// In-place transforms on slices. ark-poly 0.5's public `fft_in_place` and
/// `ifft_in_place` take `&mut Vec<T>` (they may resize); the slice versions
/// (`in_order_fft_in_place`) are `pub(crate)`, so each polynomial is copied into a
/// `Vec` and back. The copy is O(n) against the transform's O(n log n).
trait SliceFft {
    fn fft_in_place_slice(&self, poly: &mut [Fr]);
    fn ifft_in_place_slice(&self, poly: &mut [Fr]);
}

impl SliceFft for Radix2EvaluationDomain<Fr> {
    fn fft_in_place_slice(&self, poly: &mut [Fr]) {
        let mut v = poly.to_vec();
        self.fft_in_place(&mut v);
        poly.copy_from_slice(&v);
    }

    fn ifft_in_place_slice(&self, poly: &mut [Fr]) {
        let mut v = poly.to_vec();
        self.ifft_in_place(&mut v);
        poly.copy_from_slice(&v);
    }
}
