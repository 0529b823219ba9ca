//! `dory_pcs::DoryRoutines` on top of a [`Backend`], so Dory's commitment and
//! opening hot paths (MSMs, fixed-base and element-wise scalar multiplications,
//! field folds) run on whatever device was chosen.
//!
//! # Why a type parameter and a per-type instance
//! `dory_pcs` calls its routines as static functions (`M1::msm(bases, scalars)`),
//! so they cannot carry a device handle. zkinfer passes the backend as a **type
//! parameter** (`G1Via<CpuBackend>`, later `G1Via<IcicleBackend>`), and each backend
//! type owns one process-wide instance ([`GlobalBackend::global`]) that the edge
//! (CLI, service) configures once at start. The run-time choice of device is a
//! `match` at the edge that instantiates the generic prover with the chosen type;
//! there is no mutable "current device" that code deep inside could change.
//!
//! A backend error inside a routine (a GPU that fails mid-run) falls back to the
//! CPU backend with a warning: Dory's routines have no error channel, and the
//! CPU result is exact, so the proof is the same.

use std::marker::PhantomData;

use ark_bn254::{Fr, G1Projective, G2Projective};
use dory_pcs::backends::arkworks::{ArkFr, ArkG1, ArkG2};
use dory_pcs::primitives::arithmetic::DoryRoutines;

use crate::backend::{Backend, BackendResult, CpuBackend};

/// A backend type with one process-wide instance, reachable from static code.
pub trait GlobalBackend: Backend + Sized + 'static {
    /// The instance Dory's routines use.
    fn global() -> &'static Self;
}

impl GlobalBackend for CpuBackend {
    fn global() -> &'static Self {
        CpuBackend::global()
    }
}

/// Dory's G1 routines on backend `B`.
pub struct G1Via<B>(PhantomData<B>);

/// Dory's G2 routines on backend `B`.
pub struct G2Via<B>(PhantomData<B>);

fn or_cpu<T>(
    result: BackendResult<T>,
    backend: &dyn Backend,
    op: &str,
    cpu: impl FnOnce(&CpuBackend) -> BackendResult<T>,
) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(
                "{op} failed on {}: {e}; computing it on the CPU",
                backend.name()
            );
            cpu(CpuBackend::global()).unwrap_or_else(|e| panic!("{op} failed on the CPU: {e}"))
        }
    }
}

fn g1_points(points: &[ArkG1]) -> Vec<G1Projective> {
    points.iter().map(|p| p.0).collect()
}

fn g2_points(points: &[ArkG2]) -> Vec<G2Projective> {
    points.iter().map(|p| p.0).collect()
}

fn scalars(values: &[ArkFr]) -> Vec<Fr> {
    values.iter().map(|s| s.0).collect()
}

impl<B: GlobalBackend> DoryRoutines<ArkG1> for G1Via<B> {
    fn msm(bases: &[ArkG1], values: &[ArkFr]) -> ArkG1 {
        assert_eq!(
            bases.len(),
            values.len(),
            "MSM requires equal length vectors"
        );
        let affine = super::to_affine_g1(bases);
        let values = scalars(values);
        let backend = B::global();
        ArkG1(or_cpu(
            backend.msm_g1(&affine, &values),
            backend,
            "msm_g1",
            |cpu| cpu.msm_g1(&affine, &values),
        ))
    }

    fn fixed_base_vector_scalar_mul(base: &ArkG1, values: &[ArkFr]) -> Vec<ArkG1> {
        B::global()
            .g1_fixed_base_mul(&base.0, &scalars(values))
            .into_iter()
            .map(ArkG1)
            .collect()
    }

    fn fixed_scalar_mul_bases_then_add(bases: &[ArkG1], vs: &mut [ArkG1], scalar: &ArkFr) {
        let bases = g1_points(bases);
        let mut points = g1_points(vs);
        B::global().g1_scale_bases_add(&bases, &mut points, &scalar.0);
        vs.iter_mut().zip(points).for_each(|(v, p)| v.0 = p);
    }

    fn fixed_scalar_mul_vs_then_add(vs: &mut [ArkG1], addends: &[ArkG1], scalar: &ArkFr) {
        let addends = g1_points(addends);
        let mut points = g1_points(vs);
        B::global().g1_scale_vs_add(&mut points, &addends, &scalar.0);
        vs.iter_mut().zip(points).for_each(|(v, p)| v.0 = p);
    }

    fn fold_field_vectors(left: &mut [ArkFr], right: &[ArkFr], scalar: &ArkFr) {
        let mut l = scalars(left);
        B::global().fr_scale_add(&mut l, &scalars(right), &scalar.0);
        left.iter_mut().zip(l).for_each(|(x, v)| x.0 = v);
    }
}

impl<B: GlobalBackend> DoryRoutines<ArkG2> for G2Via<B> {
    fn msm(bases: &[ArkG2], values: &[ArkFr]) -> ArkG2 {
        assert_eq!(
            bases.len(),
            values.len(),
            "MSM requires equal length vectors"
        );
        let affine = crate::backend::cpu::group_ops::to_affine(&g2_points(bases));
        let values = scalars(values);
        let backend = B::global();
        ArkG2(or_cpu(
            backend.msm_g2(&affine, &values),
            backend,
            "msm_g2",
            |cpu| cpu.msm_g2(&affine, &values),
        ))
    }

    fn fixed_base_vector_scalar_mul(base: &ArkG2, values: &[ArkFr]) -> Vec<ArkG2> {
        B::global()
            .g2_fixed_base_mul(&base.0, &scalars(values))
            .into_iter()
            .map(ArkG2)
            .collect()
    }

    fn fixed_scalar_mul_bases_then_add(bases: &[ArkG2], vs: &mut [ArkG2], scalar: &ArkFr) {
        let bases = g2_points(bases);
        let mut points = g2_points(vs);
        B::global().g2_scale_bases_add(&bases, &mut points, &scalar.0);
        vs.iter_mut().zip(points).for_each(|(v, p)| v.0 = p);
    }

    fn fixed_scalar_mul_vs_then_add(vs: &mut [ArkG2], addends: &[ArkG2], scalar: &ArkFr) {
        let addends = g2_points(addends);
        let mut points = g2_points(vs);
        B::global().g2_scale_vs_add(&mut points, &addends, &scalar.0);
        vs.iter_mut().zip(points).for_each(|(v, p)| v.0 = p);
    }

    fn fold_field_vectors(left: &mut [ArkFr], right: &[ArkFr], scalar: &ArkFr) {
        let mut l = scalars(left);
        B::global().fr_scale_add(&mut l, &scalars(right), &scalar.0);
        left.iter_mut().zip(l).for_each(|(x, v)| x.0 = v);
    }
}
