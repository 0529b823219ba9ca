//! The backend conformance suite against the ICICLE backend, on ICICLE's own CPU
//! device (the device under test here; never a fallback for real work) with every
//! offload threshold at 0, so each call really goes through ICICLE and is
//! compared with the CPU backend and the reference; plus chunked MSMs, the
//! thresholds, and a model proof made on ICICLE that must equal the CPU's byte
//! for byte.
//!
//! These run when `ZKINFER_ICICLE_TESTS=1` and ICICLE is found
//! (`ICICLE_INSTALL_DIR` or the standard prefixes); with the variable set, a
//! missing ICICLE fails them. Without it each test prints that it was skipped.
#![cfg(feature = "icicle")]

use std::path::PathBuf;
use std::sync::Arc;

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::conformance;
use zkinfer::backend::icicle::{self, IcicleBackend, IcicleDevice, IcicleStats};
use zkinfer::backend::{Backend, CpuBackend, SmallScalars};
use zkinfer::config::{IcicleConfig, IcicleTarget};
use zkinfer::pcs::{self, DorySetup};
use zkinfer::proof::{self, WeightVisibility};

const ENABLE: &str = "ZKINFER_ICICLE_TESTS";

/// The process-wide ICICLE backend on ICICLE's CPU device, every call offloaded;
/// `None` (with a printed note) when the tests are not enabled.
fn icicle_cpu(test: &str) -> Option<&'static IcicleBackend> {
    if std::env::var_os(ENABLE).is_none() {
        eprintln!(
            "{test}: skipped (set {ENABLE}=1 and ICICLE_INSTALL_DIR to run it against ICICLE)"
        );
        return None;
    }
    let config = IcicleConfig::defaults(IcicleTarget::Cuda).offload_everything();
    match icicle::init_global(IcicleDevice::Cpu, config) {
        Ok(backend) => Some(backend),
        Err(e) => panic!("{ENABLE} is set but the ICICLE backend does not open: {e}"),
    }
}

/// A separate backend on ICICLE's CPU device with `config` (tests enabled only).
fn open_cpu_device(config: IcicleConfig) -> IcicleBackend {
    IcicleBackend::open(IcicleDevice::Cpu, config)
        .unwrap_or_else(|e| panic!("{ENABLE} is set but the ICICLE backend does not open: {e}"))
}

/// Runs `check` and asserts that it made ICICLE calls of the kind `count` reads.
fn on_icicle(test: &str, check: impl FnOnce(&IcicleBackend), count: fn(&IcicleStats) -> u64) {
    let Some(backend) = icicle_cpu(test) else {
        return;
    };
    let before = count(&backend.stats());
    check(backend);
    let after = count(&backend.stats());
    assert!(after > before, "{test}: no call reached ICICLE");
    eprintln!("{test}: {} ICICLE calls", after - before);
}

#[test]
fn icicle_metadata() {
    let Some(backend) = icicle_cpu("icicle_metadata") else {
        return;
    };
    conformance::check_metadata(backend);
    assert_eq!(backend.name(), "icicle-cpu");
    assert!(backend.device().name.contains("ICICLE CPU"));
    eprintln!(
        "ICICLE {} API from {}",
        backend.runtime().api_version,
        backend.runtime().dir.display()
    );
}

#[test]
fn icicle_msm_g1() {
    on_icicle(
        "icicle_msm_g1",
        conformance::check_msm_g1::<IcicleBackend>,
        |s| s.msm_g1,
    );
}

#[test]
fn icicle_msm_g1_small() {
    on_icicle(
        "icicle_msm_g1_small",
        conformance::check_msm_g1_small::<IcicleBackend>,
        |s| s.msm_g1_small,
    );
}

#[test]
fn icicle_msm_g2() {
    on_icicle(
        "icicle_msm_g2",
        |b| {
            assert!(b.runtime().has_g2(), "this ICICLE build has no G2 MSM");
            conformance::check_msm_g2(b)
        },
        |s| s.msm_g2,
    );
}

#[test]
fn icicle_msm_g1_batch() {
    on_icicle(
        "icicle_msm_g1_batch",
        conformance::check_msm_g1_batch::<IcicleBackend>,
        |s| s.msm_g1_batch,
    );
}

#[test]
fn icicle_msm_g1_small_batch() {
    on_icicle(
        "icicle_msm_g1_small_batch",
        conformance::check_msm_g1_small_batch::<IcicleBackend>,
        |s| s.msm_g1_small_batch,
    );
}

#[test]
fn icicle_ntt() {
    on_icicle("icicle_ntt", conformance::check_ntt::<IcicleBackend>, |s| {
        s.ntt
    });
}

#[test]
fn icicle_intt() {
    on_icicle(
        "icicle_intt",
        conformance::check_intt::<IcicleBackend>,
        |s| s.intt,
    );
}

#[test]
fn icicle_inner_product() {
    on_icicle(
        "icicle_inner_product",
        |b| {
            assert!(
                b.runtime().has_vec_ops(),
                "ICICLE before v3.1 has no vector_sum"
            );
            conformance::check_inner_product(b)
        },
        |s| s.inner_product,
    );
}

#[test]
fn icicle_cpu_kernels_and_group_ops() {
    let Some(backend) = icicle_cpu("icicle_cpu_kernels_and_group_ops") else {
        return;
    };
    conformance::check_eq_table(backend);
    conformance::check_bind(backend);
    conformance::check_sumcheck_round(backend);
    conformance::check_fixed_base_mul(backend);
    conformance::check_scale_ops(backend);
}

fn points(n: usize, seed: u64) -> Vec<G1Affine> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let g = G1Projective::generator();
    let seeds: Vec<G1Projective> = (0..16).map(|_| g * Fr::rand(&mut rng)).collect();
    let all: Vec<G1Projective> = (0..n)
        .map(|i| seeds[i % 16] + seeds[(i * 7 + 3) % 16] * Fr::from(i as u64 + 1))
        .collect();
    G1Projective::normalize_batch(&all)
}

#[test]
fn msms_split_into_calls_give_the_same_results() {
    if std::env::var_os(ENABLE).is_none() {
        eprintln!("msms_split_into_calls_give_the_same_results: skipped (set {ENABLE}=1)");
        return;
    }
    let mut config = IcicleConfig::defaults(IcicleTarget::Cuda).offload_everything();
    config.msm.max_points_per_call = 1024;
    let backend = open_cpu_device(config);
    let cpu = CpuBackend::default();
    let (rows, cols) = (3, 4096);
    let bases = points(cols, 7);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let scalars: Vec<Fr> = (0..rows * cols).map(|_| Fr::rand(&mut rng)).collect();
    let values: Vec<i64> = (0..rows * cols)
        .map(|i| ((i as i64 * 7919) % 20001) - 10000)
        .collect();
    assert_eq!(
        backend.msm_g1(&bases, &scalars[..cols]).unwrap(),
        cpu.msm_g1(&bases, &scalars[..cols]).unwrap(),
        "one MSM in four pieces"
    );
    assert_eq!(
        backend.msm_g1_batch(&bases, &scalars).unwrap(),
        cpu.msm_g1_batch(&bases, &scalars).unwrap(),
        "three rows, each in four pieces"
    );
    let small = SmallScalars::I64(&values);
    assert_eq!(
        backend.msm_g1_small_batch(&bases, small).unwrap(),
        cpu.msm_g1_small_batch(&bases, small).unwrap(),
        "small values, rows in pieces"
    );
    let narrow = points(256, 9);
    assert_eq!(
        backend.msm_g1_batch(&narrow, &scalars[..12 * 256]).unwrap(),
        cpu.msm_g1_batch(&narrow, &scalars[..12 * 256]).unwrap(),
        "twelve short rows, four per call"
    );
    let stats = backend.stats();
    assert_eq!(stats.chunked_msms, 4, "{stats:?}");
    assert_eq!(stats.on_cpu, 0, "{stats:?}");
    assert_eq!(backend.cached_bases().0, 2, "two bases vectors cached");
}

#[test]
fn below_the_thresholds_work_stays_on_the_cpu_backend() {
    if std::env::var_os(ENABLE).is_none() {
        eprintln!("below_the_thresholds_work_stays_on_the_cpu_backend: skipped (set {ENABLE}=1)");
        return;
    }
    let config = IcicleConfig::defaults(IcicleTarget::Cuda);
    let threshold = config.min_len.msm_g1;
    let backend = open_cpu_device(config);
    let bases = points(64, 11);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let scalars: Vec<Fr> = (0..64).map(|_| Fr::rand(&mut rng)).collect();
    assert!(64 < threshold);
    assert_eq!(
        backend.msm_g1(&bases, &scalars).unwrap(),
        CpuBackend::default().msm_g1(&bases, &scalars).unwrap()
    );
    let mut values = scalars.clone();
    backend.ntt(&mut values, 64, None).unwrap();
    let stats = backend.stats();
    assert_eq!(
        (stats.msm_g1, stats.ntt, stats.on_cpu),
        (0, 0, 2),
        "{stats:?}"
    );
    assert_eq!(backend.cached_bases(), (0, 0));
}

#[test]
fn a_model_proof_made_on_icicle_equals_the_cpu_proof_and_verifies() {
    let Some(backend) =
        icicle_cpu("a_model_proof_made_on_icicle_equals_the_cpu_proof_and_verifies")
    else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir = root.join("models").join("addsubmul0");
    let imported = zkinfer::onnx::import(
        &model_dir.join("network.onnx"),
        &zkinfer::onnx::ImportOptions::default(),
    )
    .unwrap();
    let input = zkinfer::quant::quantize_input(
        &zkinfer::quant::read_input_json(&model_dir.join("input.json")).unwrap(),
        imported.model.scale_bits,
    );
    let cache = std::env::temp_dir().join("zkinfer-test-cache");
    let setup = Arc::new(
        DorySetup::load_or_derive(
            pcs::setup::DEFAULT_SEED,
            proof::required_generators(&imported.model),
            &cache,
        )
        .unwrap(),
    );
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk =
            proof::preprocess(backend, imported.model.clone(), visibility, setup.clone()).unwrap();
        let before = backend.stats();
        let on_icicle = proof::prove(
            <IcicleBackend as zkinfer::pcs::GlobalBackend>::global(),
            &pk,
            &input,
        )
        .unwrap();
        let after = backend.stats();
        assert!(
            after.msm_g1_small_batch + after.msm_g1 + after.msm_g2
                > before.msm_g1_small_batch + before.msm_g1 + before.msm_g2,
            "the proof made no ICICLE MSM"
        );
        let on_cpu = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
        assert!(
            on_icicle.to_bytes() == on_cpu.to_bytes(),
            "{visibility:?}: the ICICLE proof differs from the CPU proof"
        );
        proof::verify(&pk.vk, &input, &on_icicle).unwrap_or_else(|e| panic!("{visibility:?}: {e}"));
    }
}
