//! The backend conformance suite run on the CPU backend, one test per primitive
//! so a failure names what broke, plus the reference backend checked against
//! itself on the cheap (small-size, edge-case and error) checks.

use zkinfer::backend::conformance;
use zkinfer::backend::{CpuBackend, ReferenceBackend};
use zkinfer::config::KernelConfig;

fn cpu() -> CpuBackend {
    CpuBackend::default()
}

#[test]
fn cpu_metadata() {
    conformance::check_metadata(&cpu());
}

#[test]
fn cpu_msm_g1() {
    conformance::check_msm_g1(&cpu());
}

#[test]
fn cpu_msm_g1_small() {
    conformance::check_msm_g1_small(&cpu());
}

#[test]
fn cpu_msm_g2() {
    conformance::check_msm_g2(&cpu());
}

#[test]
fn cpu_msm_g1_batch() {
    conformance::check_msm_g1_batch(&cpu());
}

#[test]
fn cpu_msm_g1_small_batch() {
    conformance::check_msm_g1_small_batch(&cpu());
}

#[test]
fn cpu_ntt() {
    conformance::check_ntt(&cpu());
}

#[test]
fn cpu_intt() {
    conformance::check_intt(&cpu());
}

#[test]
fn cpu_eq_table() {
    conformance::check_eq_table(&cpu());
}

#[test]
fn cpu_bind() {
    conformance::check_bind(&cpu());
}

#[test]
fn cpu_inner_product() {
    conformance::check_inner_product(&cpu());
}

#[test]
fn cpu_sumcheck_round() {
    conformance::check_sumcheck_round(&cpu());
}

#[test]
fn cpu_fixed_base_mul() {
    conformance::check_fixed_base_mul(&cpu());
}

#[test]
fn cpu_scale_ops() {
    conformance::check_scale_ops(&cpu());
}

/// Extreme tuning (one entry per rayon task, every NTT "large") must not change
/// any result: the whole suite, large sizes compared with the default tuning.
#[test]
fn cpu_with_tiny_chunks_run_all() {
    let mut config = KernelConfig::cpu_defaults();
    config.multilinear.chunk_len = 1;
    config.ntt.min_parallel_len = 1;
    config.msm.min_parallel_len = 1;
    conformance::run_all(&CpuBackend::new(config));
}

/// A dyn backend goes through the same suite (how the registry hands them out).
#[test]
fn cpu_as_dyn_backend_small() {
    let backend: Box<dyn zkinfer::backend::Backend> = Box::new(cpu());
    conformance::run_small(backend.as_ref());
}

#[test]
fn reference_against_itself_small() {
    conformance::run_small(&ReferenceBackend);
}
