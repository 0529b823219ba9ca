//! Element-wise group and field vector operations (Dory's `fixed_*` routines and
//! field folds), parallel with rayon.
//!
//! Scalar multiplications use the GLV endomorphism (both BN254 groups have one);
//! arkworks 0.5 applies it to G1 by default but not to G2, so this module calls
//! `glv_mul_projective` explicitly. A fixed base multiplied by many scalars uses a
//! precomputed window table instead.

use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::short_weierstrass::{Projective, SWCurveConfig};
use ark_ec::CurveGroup;
use ark_ff::PrimeField;
use rayon::prelude::*;

/// Below this many scalars a fixed-base table does not pay for itself.
const FIXED_BASE_TABLE_MIN: usize = 16;
/// Field element operations per rayon task.
const FIELD_CHUNK: usize = 1 << 10;

/// `k·p` with the GLV endomorphism.
#[inline]
pub fn glv_mul<P: GLVConfig>(p: &Projective<P>, k: &P::ScalarField) -> Projective<P> {
    P::glv_mul_projective(*p, *k)
}

/// `[base·s for s in scalars]`.
pub fn fixed_base_mul<P>(base: &Projective<P>, scalars: &[P::ScalarField]) -> Vec<Projective<P>>
where
    P: GLVConfig,
    P::ScalarField: PrimeField,
{
    if scalars.len() < FIXED_BASE_TABLE_MIN {
        return scalars.par_iter().map(|s| glv_mul(base, s)).collect();
    }
    let table = BatchMulPreprocessing::new(*base, scalars.len());
    let affine = table.batch_mul(scalars);
    affine.into_par_iter().map(Projective::<P>::from).collect()
}

/// `vs[i] += scalar·bases[i]`.
pub fn scale_bases_add<P: GLVConfig>(
    bases: &[Projective<P>],
    vs: &mut [Projective<P>],
    scalar: &P::ScalarField,
) {
    assert_eq!(bases.len(), vs.len(), "scale_bases_add: lengths must match");
    vs.par_iter_mut()
        .zip(bases.par_iter())
        .for_each(|(v, b)| *v += glv_mul(b, scalar));
}

/// `vs[i] = scalar·vs[i] + addends[i]`.
pub fn scale_vs_add<P: GLVConfig>(
    vs: &mut [Projective<P>],
    addends: &[Projective<P>],
    scalar: &P::ScalarField,
) {
    assert_eq!(vs.len(), addends.len(), "scale_vs_add: lengths must match");
    vs.par_iter_mut()
        .zip(addends.par_iter())
        .for_each(|(v, a)| *v = glv_mul(v, scalar) + a);
}

/// `left[i] = left[i]·scalar + right[i]`.
pub fn fr_scale_add<F: PrimeField>(left: &mut [F], right: &[F], scalar: &F) {
    assert_eq!(left.len(), right.len(), "fr_scale_add: lengths must match");
    left.par_iter_mut()
        .zip(right.par_iter())
        .with_min_len(FIELD_CHUNK)
        .for_each(|(l, r)| *l = *l * scalar + r);
}

/// Converts projective points to affine with one shared inversion; points already
/// normalised (z = 1, e.g. setup generators) are copied without arithmetic.
pub fn to_affine<P: SWCurveConfig>(
    points: &[Projective<P>],
) -> Vec<ark_ec::short_weierstrass::Affine<P>> {
    use ark_ff::One;
    if points.iter().all(|p| p.z.is_one()) {
        points
            .par_iter()
            .map(|p| ark_ec::short_weierstrass::Affine::new_unchecked(p.x, p.y))
            .collect()
    } else {
        Projective::normalize_batch(points)
    }
}
