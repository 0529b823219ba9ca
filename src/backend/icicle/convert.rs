//! Conversions between arkworks 0.5's BN254 types and ICICLE's memory layouts.
//!
//! - Scalars: an arkworks `Fr` is four little-endian u64 limbs in Montgomery form,
//!   the same bytes as ICICLE's eight u32 limbs, so full-scalar MSMs and NTTs read
//!   `&[Fr]` in place ([`fr_slice_as_raw`]; the layout is asserted at compile time).
//! - Bases: ICICLE's affine point is (x, y) in canonical form, the identity (0, 0);
//!   arkworks' carries an infinity flag and Montgomery limbs, so bases are copied
//!   once ([`g1_affine_raw`], [`g2_affine_raw`]) and cached by the backend.
//! - Results: ICICLE's projective point is homogeneous (x = X/Z, y = Y/Z),
//!   canonical; arkworks' is Jacobian (x = X/Z², y = Y/Z³), so (X, Y, Z) becomes
//!   (X·Z, Y·Z², Z). Every result is checked to lie on the curve, which catches a
//!   layout mismatch with an unsupported ICICLE version.
//! - Small integers: [`SmallPlan`] turns signed values into non-negative canonical
//!   scalars of few bits (ICICLE's `bitsize`), with the correction to apply.
//!
//! Pure data conversion: nothing here calls ICICLE.

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::CurveGroup;
use ark_ff::{AdditiveGroup, BigInt, Field, PrimeField, Zero};
use rayon::prelude::*;

use super::ffi::{
    Fq2Raw, G1AffineRaw, G1ProjectiveRaw, G2AffineRaw, G2ProjectiveRaw, Limbs, Scalar,
};
use crate::backend::SmallScalars;

#[cfg(target_endian = "big")]
compile_error!(
    "ICICLE's limb layout is little-endian; zkinfer's ICICLE backend needs a little-endian host"
);

// `Fr` is `Fp(BigInt<4>, PhantomData)` with no `#[repr]`: pin that its bytes are
// exactly its four limbs, so that a `&[Fr]` may be read as `&[Scalar]`.
const _: () = {
    assert!(std::mem::size_of::<Fr>() == std::mem::size_of::<Scalar>());
    assert!(std::mem::align_of::<Fr>() == std::mem::align_of::<Scalar>());
    assert!(std::mem::offset_of!(Fr, 0) == 0);
    assert!(std::mem::size_of::<BigInt<4>>() == 32);
};

/// `Fr`s as ICICLE scalars in Montgomery form, without copying.
pub fn fr_slice_as_raw(values: &[Fr]) -> &[Scalar] {
    // SAFETY: `Fr` is 32 bytes, 8-aligned, and its only non-zero-sized field (the
    // limb array) sits at offset 0 (asserted above), so each `Fr` is one `[u64; 4]`.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<Scalar>(), values.len()) }
}

/// Mutable form of [`fr_slice_as_raw`].
pub fn fr_slice_as_raw_mut(values: &mut [Fr]) -> &mut [Scalar] {
    // SAFETY: as in `fr_slice_as_raw`; any limbs ICICLE writes back are field
    // elements below the modulus (checked by the caller where it matters).
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<Scalar>(), values.len()) }
}

/// An Fr in canonical (non-Montgomery) limbs.
pub fn fr_canonical(x: &Fr) -> Scalar {
    x.into_bigint().0
}

/// Montgomery limbs read back as an `Fr` (`None` when not below the modulus).
pub fn fr_from_montgomery_limbs(limbs: Scalar) -> Option<Fr> {
    (BigInt(limbs) < Fr::MODULUS).then(|| Fr::new_unchecked(BigInt(limbs)))
}

fn fq_canonical(x: &Fq) -> Limbs {
    x.into_bigint().0
}

fn fq_from_canonical(limbs: &Limbs) -> Option<Fq> {
    Fq::from_bigint(BigInt(*limbs))
}

fn fq2_canonical(x: &Fq2) -> Fq2Raw {
    Fq2Raw {
        c0: fq_canonical(&x.c0),
        c1: fq_canonical(&x.c1),
    }
}

fn fq2_from_canonical(raw: &Fq2Raw) -> Option<Fq2> {
    Some(Fq2::new(
        fq_from_canonical(&raw.c0)?,
        fq_from_canonical(&raw.c1)?,
    ))
}

/// A G1 base in ICICLE's layout.
pub fn g1_affine_raw(p: &G1Affine) -> G1AffineRaw {
    if p.infinity {
        G1AffineRaw::default()
    } else {
        G1AffineRaw {
            x: fq_canonical(&p.x),
            y: fq_canonical(&p.y),
        }
    }
}

/// A G2 base in ICICLE's layout.
pub fn g2_affine_raw(p: &G2Affine) -> G2AffineRaw {
    if p.infinity {
        G2AffineRaw::default()
    } else {
        G2AffineRaw {
            x: fq2_canonical(&p.x),
            y: fq2_canonical(&p.y),
        }
    }
}

/// Homogeneous (X, Y, Z) to Jacobian, with the on-curve check.
fn from_homogeneous<P: SWCurveConfig>(
    x: P::BaseField,
    y: P::BaseField,
    z: P::BaseField,
) -> Result<Projective<P>, String> {
    if z.is_zero() {
        // On the curve Y²Z = X³ + aXZ² + bZ³, Z = 0 forces X = 0: the identity.
        return if x.is_zero() {
            Ok(Projective::<P>::zero())
        } else {
            Err("a point with Z = 0 and X ≠ 0 is not on the curve".into())
        };
    }
    let point = Projective::<P>::new_unchecked(x * z, y * z.square(), z);
    let affine: Affine<P> = point.into_affine();
    if affine.is_on_curve() {
        Ok(point)
    } else {
        Err("the result is not on the curve (wrong layout or ICICLE version?)".into())
    }
}

/// An ICICLE G1 result as an arkworks point.
pub fn g1_from_raw(raw: &G1ProjectiveRaw) -> Result<G1Projective, String> {
    let coordinate = |l: &Limbs| {
        fq_from_canonical(l).ok_or_else(|| "a coordinate is not below the modulus".to_string())
    };
    from_homogeneous::<ark_bn254::g1::Config>(
        coordinate(&raw.x)?,
        coordinate(&raw.y)?,
        coordinate(&raw.z)?,
    )
}

/// An ICICLE G2 result as an arkworks point.
pub fn g2_from_raw(raw: &G2ProjectiveRaw) -> Result<G2Projective, String> {
    let coordinate = |c: &Fq2Raw| {
        fq2_from_canonical(c).ok_or_else(|| "a coordinate is not below the modulus".to_string())
    };
    from_homogeneous::<ark_bn254::g2::Config>(
        coordinate(&raw.x)?,
        coordinate(&raw.y)?,
        coordinate(&raw.z)?,
    )
}

/// How a small-integer MSM's result is corrected after ICICLE computed it over
/// the non-negative scalars of a [`SmallPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// The values were all non-negative: the result as is.
    None,
    /// The values were all non-positive and were negated: negate the result.
    Negate,
    /// Mixed signs: every value was shifted by 2^`log`; subtract 2^`log`·Σ bases.
    SubtractOffset { log: u32 },
}

/// Small signed integers as canonical non-negative scalars of `bitsize` bits.
#[derive(Debug, Clone)]
pub struct SmallPlan {
    pub scalars: Vec<Scalar>,
    /// Every scalar is below 2^bitsize; 0 when all values are zero.
    pub bitsize: u32,
    pub correction: Correction,
}

impl SmallPlan {
    /// Plans `values`: with m the bit width of the largest magnitude, non-negative
    /// values go in as they are (m bits), non-positive ones negated (m bits), mixed
    /// ones shifted by 2^m into [1, 2^(m+1)) (m + 1 bits) — one MSM either way,
    /// instead of a 254-bit MSM over `v mod p`.
    pub fn new(values: SmallScalars<'_>) -> Self {
        let bits = values.magnitude_bits();
        let n = values.len();
        let any_negative = (0..n).into_par_iter().any(|i| values.get(i) < 0);
        let any_positive = (0..n).into_par_iter().any(|i| values.get(i) > 0);
        let (correction, bitsize) = match (any_negative, any_positive) {
            (false, _) => (Correction::None, bits),
            (true, false) => (Correction::Negate, bits),
            (true, true) => (Correction::SubtractOffset { log: bits }, bits + 1),
        };
        let scalars = (0..n)
            .into_par_iter()
            .map(|i| {
                let v = values.get(i) as i128;
                let shifted: u128 = match correction {
                    Correction::None => v as u128,
                    Correction::Negate => (-v) as u128,
                    Correction::SubtractOffset { log } => (v + (1i128 << log)) as u128,
                };
                [shifted as u64, (shifted >> 64) as u64, 0, 0]
            })
            .collect();
        SmallPlan {
            scalars,
            bitsize,
            correction,
        }
    }

    /// Applies the correction to an MSM result `r` over these scalars, given the
    /// sum of the bases (needed only for [`Correction::SubtractOffset`]).
    pub fn correct<P: SWCurveConfig>(
        &self,
        r: Projective<P>,
        bases_sum: impl FnOnce() -> Projective<P>,
    ) -> Projective<P> {
        match self.correction {
            Correction::None => r,
            Correction::Negate => -r,
            Correction::SubtractOffset { log } => {
                let mut offset = bases_sum();
                for _ in 0..log {
                    offset.double_in_place();
                }
                r - offset
            }
        }
    }
}

/// Σ bases, for [`Correction::SubtractOffset`].
pub fn sum_of<P: SWCurveConfig>(bases: &[Affine<P>]) -> Projective<P> {
    bases
        .par_iter()
        .fold(Projective::<P>::zero, |acc, p| acc + p)
        .reduce(Projective::<P>::zero, |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use ark_ec::{PrimeGroup, VariableBaseMSM};
    use ark_ff::{BigInteger, One, UniformRand};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::backend::reference::small_to_fr;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(0x1c1c1e)
    }

    #[test]
    fn fr_slices_are_read_in_place_as_montgomery_limbs() {
        let mut rng = rng();
        let values: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
        let raw = fr_slice_as_raw(&values);
        for (v, r) in values.iter().zip(raw) {
            assert_eq!(v.0 .0, *r);
            assert_eq!(fr_from_montgomery_limbs(*r), Some(*v));
        }
        assert_eq!(fr_from_montgomery_limbs([u64::MAX; 4]), None);
        assert_eq!(fr_canonical(&Fr::one()), [1, 0, 0, 0]);
    }

    /// ICICLE's homogeneous form of an arkworks point, with a random Z.
    fn homogeneous_g1(p: &G1Projective, z: Fq) -> G1ProjectiveRaw {
        if p.is_zero() {
            return G1ProjectiveRaw {
                x: [0; 4],
                y: fq_canonical(&Fq::one()),
                z: [0; 4],
            };
        }
        let a = p.into_affine();
        G1ProjectiveRaw {
            x: fq_canonical(&(a.x * z)),
            y: fq_canonical(&(a.y * z)),
            z: fq_canonical(&z),
        }
    }

    #[test]
    fn g1_results_convert_from_homogeneous_to_jacobian() {
        let mut rng = rng();
        let p = G1Projective::generator() * Fr::rand(&mut rng);
        let z = Fq::rand(&mut rng);
        assert_eq!(g1_from_raw(&homogeneous_g1(&p, z)).unwrap(), p);
        assert!(g1_from_raw(&homogeneous_g1(&G1Projective::zero(), z))
            .unwrap()
            .is_zero());
        let mut off_curve = homogeneous_g1(&p, z);
        off_curve.y[0] ^= 1;
        assert!(g1_from_raw(&off_curve)
            .unwrap_err()
            .contains("not on the curve"));
        let mut too_big = homogeneous_g1(&p, z);
        too_big.x = [u64::MAX; 4];
        assert!(g1_from_raw(&too_big).unwrap_err().contains("modulus"));
        let bad_identity = G1ProjectiveRaw {
            x: [1, 0, 0, 0],
            y: [1, 0, 0, 0],
            z: [0; 4],
        };
        assert!(g1_from_raw(&bad_identity).is_err());
    }

    #[test]
    fn g2_results_convert_from_homogeneous_to_jacobian() {
        let mut rng = rng();
        let p = G2Projective::generator() * Fr::rand(&mut rng);
        let a = p.into_affine();
        let z = Fq2::rand(&mut rng);
        let raw = G2ProjectiveRaw {
            x: fq2_canonical(&(a.x * z)),
            y: fq2_canonical(&(a.y * z)),
            z: fq2_canonical(&z),
        };
        assert_eq!(g2_from_raw(&raw).unwrap(), p);
        let identity = G2ProjectiveRaw {
            x: Fq2Raw::default(),
            y: fq2_canonical(&Fq2::one()),
            z: Fq2Raw::default(),
        };
        assert!(g2_from_raw(&identity).unwrap().is_zero());
    }

    #[test]
    fn bases_are_canonical_with_the_identity_as_zeros() {
        let mut rng = rng();
        let p = (G1Projective::generator() * Fr::rand(&mut rng)).into_affine();
        let raw = g1_affine_raw(&p);
        assert_eq!(raw.x, p.x.into_bigint().0);
        assert_eq!(raw.y, p.y.into_bigint().0);
        assert_eq!(g1_affine_raw(&G1Affine::identity()), G1AffineRaw::default());
        let q = (G2Projective::generator() * Fr::rand(&mut rng)).into_affine();
        let raw = g2_affine_raw(&q);
        assert_eq!(raw.x.c1, q.x.c1.into_bigint().0);
        assert_eq!(raw.y.c0, q.y.c0.into_bigint().0);
        assert_eq!(g2_affine_raw(&G2Affine::identity()), G2AffineRaw::default());
    }

    /// The MSM a device would compute over a plan's scalars, done with arkworks.
    fn msm_of_plan(bases: &[G1Affine], plan: &SmallPlan) -> G1Projective {
        let scalars: Vec<Fr> = plan
            .scalars
            .iter()
            .map(|l| {
                assert!(
                    BigInt(*l).num_bits() <= plan.bitsize,
                    "scalar above its bitsize"
                );
                Fr::from_bigint(BigInt(*l)).unwrap()
            })
            .collect();
        G1Projective::msm(bases, &scalars).unwrap()
    }

    #[test]
    fn small_plans_are_exact_for_every_sign_pattern() {
        let mut rng = rng();
        let n = 24;
        let bases: Vec<G1Affine> = (0..n)
            .map(|i| {
                if i == 3 {
                    G1Affine::identity()
                } else {
                    (G1Projective::generator() * Fr::rand(&mut rng)).into_affine()
                }
            })
            .collect();
        let cases: Vec<(Vec<i64>, Correction, u32)> = vec![
            ((0..n as i64).collect(), Correction::None, 5),
            ((0..n as i64).map(|v| -v).collect(), Correction::Negate, 5),
            (
                (0..n as i64).map(|v| v - 12).collect(),
                Correction::SubtractOffset { log: 4 },
                5,
            ),
            (
                (0..n as i64)
                    .map(|v| match v % 3 {
                        0 => i64::MIN,
                        1 => i64::MAX,
                        _ => -v,
                    })
                    .collect(),
                Correction::SubtractOffset { log: 64 },
                65,
            ),
            (vec![0; n], Correction::None, 0),
        ];
        for (values, correction, bitsize) in cases {
            let plan = SmallPlan::new(SmallScalars::I64(&values));
            assert_eq!(plan.correction, correction, "{values:?}");
            assert_eq!(plan.bitsize, bitsize, "{values:?}");
            let got = plan.correct(msm_of_plan(&bases, &plan), || sum_of(&bases));
            let fr: Vec<Fr> = values.iter().map(|&v| small_to_fr(v)).collect();
            assert_eq!(got, G1Projective::msm(&bases, &fr).unwrap(), "{values:?}");
        }
        let values: Vec<i32> = vec![i32::MIN, i32::MAX, 0, -1, 1, 7];
        let plan = SmallPlan::new(SmallScalars::I32(&values));
        assert_eq!(plan.bitsize, 33);
        let got = plan.correct(msm_of_plan(&bases[..6], &plan), || sum_of(&bases[..6]));
        let fr: Vec<Fr> = values.iter().map(|&v| small_to_fr(v as i64)).collect();
        assert_eq!(got, G1Projective::msm(&bases[..6], &fr).unwrap());
    }
}
