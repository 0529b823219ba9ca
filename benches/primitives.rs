//! Criterion benches of Dory through zkinfer's backends, with dory_pcs's own
//! commit and prove as the baselines: `dory/<backend>/commit/i8/2^L/<layout>`,
//! `dory/<backend>/open/2^L/square` against `dory/ark/open/2^L/square`
//! (`dory_pcs::prove` with dory-pcs's arkworks routines) at 2^16, 2^18 and 2^20
//! (`DORY_OPEN_SIZES=16,18` picks others).

use ark_bn254::Fr;
use ark_std::UniformRand;
use criterion::{criterion_group, criterion_main, Criterion};
use dory_pcs::backends::arkworks::{
    ArkFr, ArkworksPolynomial, Blake2bTranscript, G1Routines, G2Routines, BN254,
};
use dory_pcs::Polynomial;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::bench::wide_layout;
use zkinfer::pcs::{self, DorySetup, Layout, MultilinearPoly};

const LOG_SIZE: usize = 16;

fn dory(c: &mut Criterion) {
    let setup = DorySetup::load_or_derive(
        pcs::setup::DEFAULT_SEED,
        wide_layout(LOG_SIZE).sigma,
        &DorySetup::default_cache_dir(),
    )
    .expect("setup");
    setup.prepare_pairing_cache();
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let values: Vec<i64> = (0..1usize << LOG_SIZE)
        .map(|_| (rng.next_u32() % 256) as i64 - 128)
        .collect();
    let poly = MultilinearPoly::from_small(values).expect("power of two");
    let cpu = CpuBackend::global();
    let mut group = c.benchmark_group("dory");
    group.sample_size(10);
    for (name, layout) in [
        ("square", Layout::square(LOG_SIZE)),
        ("wide", wide_layout(LOG_SIZE)),
    ] {
        group.bench_function(format!("cpu/commit/i8/2^{LOG_SIZE}/{name}"), |b| {
            b.iter(|| pcs::commit(cpu, &poly, layout, &setup).expect("commit"))
        });
    }
    // Baseline: dory_pcs's own commit of the same values, square layout.
    let square = Layout::square(LOG_SIZE);
    let reference = ArkworksPolynomial::new(poly.to_field().into_iter().map(ArkFr).collect());
    group.bench_function(format!("ark/commit/i8/2^{LOG_SIZE}/square"), |b| {
        b.iter(|| {
            reference
                .commit::<BN254, dory_pcs::Transparent, G1Routines>(
                    square.nu,
                    square.sigma,
                    &setup.prover,
                )
                .expect("commit")
        })
    });
    group.finish();
}

/// Opening sizes: `DORY_OPEN_SIZES` (comma-separated log2 sizes) or 16, 18, 20.
fn open_sizes() -> Vec<usize> {
    std::env::var("DORY_OPEN_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 18, 20])
}

fn dory_open(c: &mut Criterion) {
    let sizes = open_sizes();
    let max_sigma = sizes
        .iter()
        .map(|&l| Layout::square(l).sigma)
        .max()
        .unwrap_or(1);
    let setup = DorySetup::load_or_derive(
        pcs::setup::DEFAULT_SEED,
        max_sigma,
        &DorySetup::default_cache_dir(),
    )
    .expect("setup");
    let cpu = CpuBackend::global();
    let mut group = c.benchmark_group("dory");
    group.sample_size(10);
    for log_size in sizes {
        let mut rng = ChaCha20Rng::seed_from_u64(log_size as u64);
        let values: Vec<i64> = (0..1usize << log_size)
            .map(|_| (rng.next_u32() % 256) as i64 - 128)
            .collect();
        let poly = MultilinearPoly::from_small(values).expect("power of two");
        let square = Layout::square(log_size);
        let (commitment, hint) = pcs::commit(cpu, &poly, square, &setup).expect("commit");
        let point: Vec<Fr> = (0..log_size).map(|_| Fr::rand(&mut rng)).collect();
        group.bench_function(format!("cpu/open/2^{log_size}/square"), |b| {
            b.iter(|| {
                let mut transcript = Blake2bTranscript::<BN254>::new(b"bench");
                pcs::open::<CpuBackend, _>(
                    &poly,
                    &commitment,
                    &hint,
                    &point,
                    &setup,
                    &mut transcript,
                )
                .expect("open")
            })
        });
        // Baseline: dory_pcs::prove itself on the same statement.
        setup.prepare_pairing_cache();
        let reference = ArkworksPolynomial::new(poly.to_field().into_iter().map(ArkFr).collect());
        let ark_point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
        group.bench_function(format!("ark/open/2^{log_size}/square"), |b| {
            b.iter(|| {
                let mut transcript = Blake2bTranscript::<BN254>::new(b"bench");
                dory_pcs::prove::<_, BN254, G1Routines, G2Routines, _, _, dory_pcs::Transparent>(
                    &reference,
                    &ark_point,
                    hint.rows.clone(),
                    ArkFr(Fr::from(0u64)),
                    square.nu,
                    square.sigma,
                    &setup.prover,
                    &mut transcript,
                )
                .expect("prove")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dory, dory_open);
criterion_main!(benches);
