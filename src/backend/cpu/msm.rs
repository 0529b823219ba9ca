//! Multi-scalar multiplication on the CPU. (Initial version: arkworks for full
//! scalars; being replaced by a signed-digit Pippenger and a small-scalar bucket
//! method.)

use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::VariableBaseMSM;
use ark_ff::PrimeField;
use rayon::prelude::*;

use crate::backend::SmallScalars;
use crate::config::MsmConfig;

/// Σ scalars[i]·bases[i]; lengths are checked by the caller.
pub fn msm<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[P::ScalarField],
    _config: &MsmConfig,
    _window: u32,
) -> Projective<P> {
    Projective::<P>::msm_unchecked(bases, scalars)
}

/// Σ values[i]·bases[i] for signed small integers; lengths checked by the caller.
pub fn msm_small<P: SWCurveConfig>(
    bases: &[Affine<P>],
    values: SmallScalars<'_>,
    _config: &MsmConfig,
) -> Projective<P>
where
    P::ScalarField: PrimeField,
{
    let scalars: Vec<P::ScalarField> = (0..values.len())
        .into_par_iter()
        .map(|i| {
            let v = values.get(i);
            let magnitude = P::ScalarField::from(v.unsigned_abs());
            if v < 0 {
                -magnitude
            } else {
                magnitude
            }
        })
        .collect();
    Projective::<P>::msm_unchecked(bases, &scalars)
}

/// One MSM per row of a row-major scalar matrix over the same bases.
pub fn msm_batch<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[P::ScalarField],
    rows: usize,
    config: &MsmConfig,
    window: u32,
) -> Vec<Projective<P>> {
    if rows == 0 {
        return Vec::new();
    }
    let cols = bases.len();
    (0..rows)
        .map(|r| msm(bases, &scalars[r * cols..(r + 1) * cols], config, window))
        .collect()
}

/// One small-scalar MSM per row of a row-major value matrix over the same bases.
pub fn msm_small_batch<P: SWCurveConfig>(
    bases: &[Affine<P>],
    values: SmallScalars<'_>,
    rows: usize,
    config: &MsmConfig,
) -> Vec<Projective<P>>
where
    P::ScalarField: PrimeField,
{
    let cols = bases.len();
    (0..rows)
        .map(|r| msm_small(bases, values.slice(r * cols, (r + 1) * cols), config))
        .collect()
}
