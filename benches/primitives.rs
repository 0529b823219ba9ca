//! Criterion benches of Dory through zkinfer's backends, with dory_pcs's own
//! commit as the baseline: `dory/<backend>/commit/i8/2^L/<layout>`,
//! `dory/<backend>/open/2^L/square`.

use ark_bn254::Fr;
use ark_std::UniformRand;
use criterion::{criterion_group, criterion_main, Criterion};
use dory_pcs::backends::arkworks::{
    ArkFr, ArkworksPolynomial, Blake2bTranscript, G1Routines, BN254,
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
    let (commitment, hint) = pcs::commit(cpu, &poly, square, &setup).expect("commit");
    let point: Vec<Fr> = (0..LOG_SIZE).map(|_| Fr::rand(&mut rng)).collect();
    group.bench_function(format!("cpu/open/2^{LOG_SIZE}/square"), |b| {
        b.iter(|| {
            let mut transcript = Blake2bTranscript::<BN254>::new(b"bench");
            pcs::open::<CpuBackend, _>(&poly, &commitment, &hint, &point, &setup, &mut transcript)
                .expect("open")
        })
    });
    group.finish();
}

criterion_group!(benches, dory);
criterion_main!(benches);
