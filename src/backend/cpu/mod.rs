//! The CPU backend: rayon-parallel implementations of every [`Backend`] primitive.
//! Always compiled, always tested, and the oracle GPU backends are checked against.
//!
//! Tuning (MSM windows, chunk sizes) comes from a [`KernelConfig`], by default the
//! compiled-in `kernels-config/cpu.toml`.

pub mod fixed_base;
pub mod group_ops;
pub mod msm;
pub mod multilinear;
pub mod ntt;
pub mod pairing;

use std::sync::OnceLock;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

use crate::backend::{
    check_equal_len, Backend, BackendError, BackendResult, BindSide, Capabilities, DeviceInfo,
    DeviceKind, ProductTerm, SmallScalars,
};
use crate::config::KernelConfig;

/// zkinfer's CPU backend.
#[derive(Debug, Clone)]
pub struct CpuBackend {
    config: KernelConfig,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new(KernelConfig::cpu_defaults())
    }
}

static GLOBAL: OnceLock<CpuBackend> = OnceLock::new();

impl CpuBackend {
    /// A CPU backend with the given tuning.
    pub fn new(config: KernelConfig) -> Self {
        CpuBackend { config }
    }

    /// The tuning in use.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Sets the process-wide instance used by Dory's static routines
    /// ([`crate::pcs::routines`]). Call once at start, before any proving; returns
    /// `false` (and changes nothing) if an instance was already in use.
    pub fn install_global(config: KernelConfig) -> bool {
        GLOBAL.set(CpuBackend::new(config)).is_ok()
    }

    /// The process-wide instance (compiled-in defaults unless
    /// [`CpuBackend::install_global`] ran first).
    pub fn global() -> &'static CpuBackend {
        GLOBAL.get_or_init(CpuBackend::default)
    }

    /// Rows of a batched MSM (`values_len / bases.len()`), with the errors every
    /// backend returns for shapes that do not divide.
    pub(crate) fn small_batch_rows(
        bases: &[G1Affine],
        values_len: usize,
        op: &'static str,
    ) -> BackendResult<usize> {
        if bases.is_empty() {
            return if values_len == 0 {
                Ok(0)
            } else {
                Err(BackendError::BadLength {
                    op,
                    what: "scalars",
                    len: values_len,
                    requirement: "empty when there are no bases",
                })
            };
        }
        if !values_len.is_multiple_of(bases.len()) {
            return Err(BackendError::LengthMismatch {
                op,
                left_name: "scalars (rows × bases)",
                left: values_len,
                right_name: "bases",
                right: bases.len(),
            });
        }
        Ok(values_len / bases.len())
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl Backend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn device(&self) -> DeviceInfo {
        DeviceInfo {
            parallelism: Some(rayon::current_num_threads()),
            ..DeviceInfo::new(DeviceKind::Cpu, cpu_name())
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
        if bases.len() <= group_ops::STRAUS_MAX_LEN {
            return Ok(group_ops::msm_straus_glv(bases, scalars));
        }
        let window = self.config.full_window(bases.len());
        Ok(msm::msm(bases, scalars, &self.config.msm, window))
    }

    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1_small", "bases", bases.len(), "values", values.len())?;
        Ok(msm::msm_small(bases, values, &self.config.msm))
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective> {
        check_equal_len("msm_g2", "bases", bases.len(), "scalars", scalars.len())?;
        if bases.len() <= group_ops::STRAUS_MAX_LEN {
            return Ok(group_ops::msm_straus_glv(bases, scalars));
        }
        let window = self.config.full_window(bases.len());
        Ok(msm::msm(bases, scalars, &self.config.msm, window))
    }

    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>> {
        let rows = Self::small_batch_rows(bases, scalars.len(), "msm_g1_batch")?;
        let window = self.config.full_window(bases.len());
        Ok(msm::msm_batch(
            bases,
            scalars,
            rows,
            &self.config.msm,
            window,
        ))
    }

    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>> {
        let rows = Self::small_batch_rows(bases, values.len(), "msm_g1_small_batch")?;
        Ok(msm::msm_small_batch(bases, values, rows, &self.config.msm))
    }

    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        ntt::transform(
            values,
            size,
            coset,
            ntt::Direction::Forward,
            self.config.ntt.min_parallel_len,
        )
    }

    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        ntt::transform(
            values,
            size,
            coset,
            ntt::Direction::Inverse,
            self.config.ntt.min_parallel_len,
        )
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
        Ok(multilinear::eq_table(
            point,
            self.config.multilinear.chunk_len,
        ))
    }

    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()> {
        multilinear::bind(values, r, side, self.config.multilinear.chunk_len)
    }

    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
        multilinear::inner_product(a, b, self.config.multilinear.chunk_len)
    }

    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>> {
        multilinear::sumcheck_round(mles, terms, degree, self.config.multilinear.chunk_len)
    }

    fn fraction_layer_round(
        &self,
        e: &[Fr],
        trees: &[[&[Fr]; 4]],
        weights: &[Fr],
        gamma: Fr,
    ) -> BackendResult<[Fr; 2]> {
        multilinear::fraction_layer_round(
            e,
            trees,
            weights,
            gamma,
            self.config.multilinear.chunk_len,
        )
    }
}
