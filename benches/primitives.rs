//! Criterion benches of Dory through zkinfer's backends, with dory_pcs's own
//! commit and prove as the baselines: `dory/<backend>/commit/i8/2^L/<layout>`,
//! `dory/<backend>/open/2^L/square` against `dory/ark/open/2^L/square`
//! (`dory_pcs::prove` with dory-pcs's arkworks routines) at 2^16, 2^18 and 2^20
//! (`DORY_OPEN_SIZES=16,18` picks others).
//!
//! Zero-knowledge layer (`src/zk`, issue #16), each beside its transparent
//! counterpart: `zk/sumcheck/{clear,committed}/{prove,verify}/2^L` (the
//! element-wise zero-check `Σ eq·a·b`, eq public) at 2^12 and 2^16, and
//! `zk/open/{transparent,hiding}/2^L/square` at 2^16 and 2^18 (`ZK_OPEN_SIZES`).

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

fn zk_sumcheck(c: &mut Criterion) {
    use zkinfer::sumcheck::{self, eq_eval, Expression};
    use zkinfer::transcript::ProofTranscript;
    use zkinfer::zk::{self, Opening, OsBlinds, PedersenGens};
    let cpu = CpuBackend::global();
    let gens = PedersenGens::dory();
    let mut blinds = OsBlinds::new().expect("OS randomness");
    let expr = Expression::product(3).expect("degree 3");
    let mut group = c.benchmark_group("zk");
    group.sample_size(10);
    for log_size in [12usize, 16] {
        let mut rng = ChaCha20Rng::seed_from_u64(log_size as u64);
        let p: Vec<Fr> = (0..log_size).map(|_| Fr::rand(&mut rng)).collect();
        let eq = zkinfer::backend::Backend::eq_table(cpu, &p).expect("eq");
        let a: Vec<Fr> = (0..1 << log_size).map(|_| Fr::rand(&mut rng)).collect();
        let b: Vec<Fr> = (0..1 << log_size).map(|_| Fr::rand(&mut rng)).collect();
        let sum: Fr = eq
            .iter()
            .zip(&a)
            .zip(&b)
            .map(|((e, x), y)| *e * x * y)
            .sum();
        let mles = vec![eq.clone(), a.clone(), b.clone()];
        group.bench_function(format!("sumcheck/clear/prove/2^{log_size}"), |bench| {
            bench.iter(|| {
                let mut t = ProofTranscript::new(b"bench");
                sumcheck::prove(cpu, &mut t, sum, mles.clone(), &expr).expect("prove")
            })
        });
        let clear = sumcheck::prove(
            cpu,
            &mut ProofTranscript::new(b"bench"),
            sum,
            mles.clone(),
            &expr,
        )
        .expect("prove");
        group.bench_function(format!("sumcheck/clear/verify/2^{log_size}"), |bench| {
            bench.iter(|| {
                let mut t = ProofTranscript::new(b"bench");
                let (rho, reduced) =
                    sumcheck::verify(&mut t, sum, log_size, 3, &clear.proof).expect("verify");
                let finals = [
                    eq_eval(&p, &rho),
                    clear.final_evals[1],
                    clear.final_evals[2],
                ];
                sumcheck::check_final(&expr, &finals, reduced).expect("final")
            })
        });
        let claim = Opening::new(sum, Fr::rand(&mut rng));
        let claim_c = gens.commit_opening(claim).into();
        group.bench_function(format!("sumcheck/committed/prove/2^{log_size}"), |bench| {
            bench.iter(|| {
                let mut t = ProofTranscript::new(b"bench");
                zk::sumcheck::prove(
                    cpu,
                    &mut t,
                    gens,
                    claim,
                    mles.clone(),
                    &expr,
                    &[true, false, false],
                    &mut blinds,
                )
                .expect("prove")
            })
        });
        let committed = zk::sumcheck::prove(
            cpu,
            &mut ProofTranscript::new(b"bench"),
            gens,
            claim,
            mles.clone(),
            &expr,
            &[true, false, false],
            &mut blinds,
        )
        .expect("prove");
        group.bench_function(format!("sumcheck/committed/verify/2^{log_size}"), |bench| {
            bench.iter(|| {
                let mut t = ProofTranscript::new(b"bench");
                zk::sumcheck::verify(
                    &mut t,
                    gens,
                    &claim_c,
                    log_size,
                    &expr,
                    &committed.proof,
                    |rho| vec![Some(eq_eval(&p, rho)), None, None],
                )
                .expect("verify")
            })
        });
        eprintln!(
            "zk/sumcheck 2^{log_size}: clear proof {} B, committed proof {} B",
            zkinfer::encoding::to_bytes(&clear.proof).len() + 2 * 32,
            zkinfer::encoding::to_bytes(&committed.proof).len()
        );
    }
    group.finish();
}

fn zk_open(c: &mut Criterion) {
    use zkinfer::pcs::hiding;
    use zkinfer::zk::OsBlinds;
    let sizes: Vec<usize> = std::env::var("ZK_OPEN_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 18]);
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
    setup.prepare_pairing_cache();
    let cpu = CpuBackend::global();
    let mut blinds = OsBlinds::new().expect("OS randomness");
    let mut group = c.benchmark_group("zk");
    group.sample_size(10);
    for log_size in sizes {
        let mut rng = ChaCha20Rng::seed_from_u64(log_size as u64);
        let values: Vec<i64> = (0..1usize << log_size)
            .map(|_| (rng.next_u32() % 256) as i64 - 128)
            .collect();
        let poly = MultilinearPoly::from_small(values).expect("power of two");
        let square = Layout::square(log_size);
        let point: Vec<Fr> = (0..log_size).map(|_| Fr::rand(&mut rng)).collect();
        let (commitment, hint) = pcs::commit(cpu, &poly, square, &setup).expect("commit");
        group.bench_function(format!("open/transparent/2^{log_size}/square"), |b| {
            b.iter(|| {
                let mut t = zkinfer::transcript::ProofTranscript::new(b"bench");
                pcs::open::<CpuBackend, _>(&poly, &commitment, &hint, &point, &setup, &mut t)
                    .expect("open")
            })
        });
        let (hidden, hiding_hint) =
            hiding::commit(cpu, &poly, square, &setup, &mut blinds).expect("commit");
        group.bench_function(format!("open/hiding/2^{log_size}/square"), |b| {
            b.iter(|| {
                let mut t = zkinfer::transcript::ProofTranscript::new(b"bench");
                hiding::open(&poly, &hidden, &hiding_hint, &point, &setup, &mut t).expect("open")
            })
        });
        let (_, transparent_proof) = pcs::open::<CpuBackend, _>(
            &poly,
            &commitment,
            &hint,
            &point,
            &setup,
            &mut zkinfer::transcript::ProofTranscript::new(b"bench"),
        )
        .expect("open");
        let (_, hiding_proof) = hiding::open(
            &poly,
            &hidden,
            &hiding_hint,
            &point,
            &setup,
            &mut zkinfer::transcript::ProofTranscript::new(b"bench"),
        )
        .expect("open");
        eprintln!(
            "zk/open 2^{log_size}: transparent proof {} B, hiding proof {} B",
            zkinfer::encoding::to_bytes(&transparent_proof).len(),
            zkinfer::encoding::to_bytes(&hiding_proof).len()
        );
    }
    group.finish();
}

criterion_group!(benches, dory, dory_open, zk_sumcheck, zk_open);
criterion_main!(benches);
