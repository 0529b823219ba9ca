//! MSM benchmarks: zkinfer's CPU MSM against arkworks' `VariableBaseMSM::msm` on
//! the same points, and the small-scalar path at several bit widths.
//!
//! Set `MSM_TUNE=1` to run, instead, an interleaved min-of-5 comparison of the
//! full-scalar kernel at windows 10..=17 against arkworks (robust to a machine
//! shared with other jobs); this is how the `full_windows` table in
//! `kernels-config/cpu.toml` is chosen.

use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{PrimeGroup, ScalarMul, VariableBaseMSM};
use ark_std::UniformRand;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::cpu::msm::msm;
use zkinfer::backend::{Backend, CpuBackend, SmallScalars};

/// `n` pseudo-random points (random multiples of the generator, in one batch).
fn points(n: usize, rng: &mut ChaCha20Rng) -> Vec<G1Affine> {
    let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(rng)).collect();
    G1Projective::generator().batch_mul(&scalars)
}

/// Interleaved min-of-`reps` timings (ms) of arkworks and of our kernel per window.
fn tune() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let config = CpuBackend::default().config().msm.clone();
    let reps = 5;
    for log_n in [12usize, 14, 16, 18] {
        let n = 1 << log_n;
        let bases = points(n, &mut rng);
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let windows: Vec<u32> = (log_n as u32 - 5..=log_n as u32).collect();
        let mut best = vec![f64::MAX; windows.len() + 1];
        for _ in 0..reps {
            let t = Instant::now();
            let _ = std::hint::black_box(G1Projective::msm(&bases, &scalars).unwrap());
            best[0] = best[0].min(t.elapsed().as_secs_f64() * 1e3);
            for (i, &w) in windows.iter().enumerate() {
                let t = Instant::now();
                let _ = std::hint::black_box(msm(&bases, &scalars, &config, w));
                best[i + 1] = best[i + 1].min(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let ours: Vec<String> = windows
            .iter()
            .zip(&best[1..])
            .map(|(w, ms)| format!("c={w}: {ms:.1}"))
            .collect();
        eprintln!("2^{log_n}: ark {:.1} ms | {}", best[0], ours.join(", "));
    }
}

fn bench_msm(c: &mut Criterion) {
    if std::env::var_os("MSM_TUNE").is_some() {
        tune();
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let backend = CpuBackend::default();
    let mut group = c.benchmark_group("msm");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let bases = points(1 << 18, &mut rng);
    let scalars: Vec<Fr> = (0..1 << 18).map(|_| Fr::rand(&mut rng)).collect();
    for log_n in [16usize, 18] {
        let n = 1 << log_n;
        let (b, s) = (&bases[..n], &scalars[..n]);
        let label = format!("2^{log_n}");
        group.bench_function(BenchmarkId::new("cpu/full", &label), |bench| {
            bench.iter(|| backend.msm_g1(b, s).unwrap())
        });
        group.bench_function(BenchmarkId::new("ark/full", &label), |bench| {
            bench.iter(|| G1Projective::msm(b, s).unwrap())
        });
    }

    let n = 1 << 16;
    let b = &bases[..n];
    for (name, bits) in [("i8", 8u32), ("i16", 16), ("i32", 32)] {
        let values: Vec<i32> = (0..n)
            .map(|_| (rng.next_u32() as i32) >> (32 - bits))
            .collect();
        group.bench_function(BenchmarkId::new(format!("cpu/{name}"), "2^16"), |bench| {
            bench.iter(|| backend.msm_g1_small(b, SmallScalars::I32(&values)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_msm);
criterion_main!(benches);
