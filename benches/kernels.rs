//! Criterion benchmarks of the CPU backend's field kernels: NTT, eq-table, bind
//! and a degree-2 sumcheck round (the MSMs are benchmarked in `primitives`).
//!
//! Run with `cargo bench --bench kernels`; names are `<kernel>/cpu/<shape>`.

use std::time::Duration;

use ark_bn254::Fr;
use ark_std::UniformRand;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::{Backend, BindSide, CpuBackend, ProductTerm};

fn rand_frs(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

/// Few samples and a short measurement: these kernels take milliseconds.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

fn kernels(c: &mut Criterion) {
    let backend = CpuBackend::default();
    let mut rng = ChaCha20Rng::seed_from_u64(0x6b65_726e);
    let mut group = c.benchmark_group("ntt");
    configure(&mut group);
    for log in [16u32, 20] {
        let input = rand_frs(&mut rng, 1 << log);
        group.bench_function(format!("cpu/2^{log}"), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |v| backend.ntt(v, 1 << log, None).expect("ntt"),
                BatchSize::LargeInput,
            )
        });
    }

    group.finish();

    let log = 20u32;
    let mut group = c.benchmark_group("eq_table");
    configure(&mut group);
    let point = rand_frs(&mut rng, log as usize);
    group.bench_function(format!("cpu/2^{log}"), |b| {
        b.iter(|| backend.eq_table(&point).expect("eq_table"))
    });

    group.finish();

    let mut group = c.benchmark_group("bind");
    configure(&mut group);
    let values = rand_frs(&mut rng, 1 << log);
    let r = Fr::rand(&mut rng);
    group.bench_function(format!("cpu/2^{log}"), |b| {
        b.iter_batched_ref(
            || values.clone(),
            |v| backend.bind(v, r, BindSide::Low).expect("bind"),
            BatchSize::LargeInput,
        )
    });

    group.finish();

    let mut group = c.benchmark_group("sumcheck_round");
    configure(&mut group);
    let other = rand_frs(&mut rng, 1 << log);
    let terms = [ProductTerm::product(vec![0, 1])];
    group.bench_function(format!("cpu/prod2/2^{log}"), |b| {
        b.iter(|| {
            backend
                .sumcheck_round(&[&values, &other], &terms, 2)
                .expect("sumcheck_round")
        })
    });
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
