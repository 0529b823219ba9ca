//! Criterion benches of the proof-system core on the CPU backend:
//! `sumcheck/cpu/prod2/2^20`, `lookup/cpu/prove/2^16x2^16`, `lookup/cpu/verify/2^16x2^16`.

use ark_bn254::Fr;
use ark_std::UniformRand;
use criterion::{criterion_group, criterion_main, Criterion};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::lookup::{self, Table};
use zkinfer::sumcheck::{self, Expression};
use zkinfer::transcript::ProofTranscript;

fn sumcheck_prod2(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let n = 1usize << 20;
    let a: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    let b: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    let claim: Fr = a.iter().zip(&b).map(|(x, y)| *x * y).sum();
    let expr = Expression::product(2).expect("degree 2");
    let mut group = c.benchmark_group("sumcheck");
    group.sample_size(10);
    group.bench_function("cpu/prod2/2^20", |bench| {
        bench.iter_batched(
            || vec![a.clone(), b.clone()],
            |mles| {
                sumcheck::prove(
                    CpuBackend::global(),
                    &mut ProofTranscript::new(b"bench"),
                    claim,
                    mles,
                    &expr,
                )
                .expect("prove")
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn lookup_16(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let table = Table::UnsignedRange { bits: 16 };
    let queries: Vec<i64> = (0..1 << 16)
        .map(|_| (rng.next_u32() % (1 << 16)) as i64)
        .collect();
    let multiplicities = table
        .multiplicities(std::slice::from_ref(&queries))
        .expect("in range");
    let column: Vec<Fr> = queries.iter().map(|&q| Fr::from(q as u64)).collect();
    let columns = vec![vec![column]];
    let mut group = c.benchmark_group("lookup");
    group.sample_size(10);
    group.bench_function("cpu/prove/2^16x2^16", |bench| {
        bench.iter(|| {
            lookup::prove(
                CpuBackend::global(),
                &mut ProofTranscript::new(b"bench"),
                &table,
                &columns,
                &multiplicities,
            )
            .expect("prove")
        })
    });
    let (proof, _) = lookup::prove(
        CpuBackend::global(),
        &mut ProofTranscript::new(b"bench"),
        &table,
        &columns,
        &multiplicities,
    )
    .expect("prove");
    group.bench_function("cpu/verify/2^16x2^16", |bench| {
        bench.iter(|| {
            lookup::verify(&mut ProofTranscript::new(b"bench"), &table, &[16], &proof)
                .expect("verify")
        })
    });
    group.finish();
}

criterion_group!(benches, sumcheck_prod2, lookup_16);
criterion_main!(benches);
