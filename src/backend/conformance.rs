//! The backend conformance suite, written once and generic over [`Backend`], so
//! that every backend (CPU today; ICICLE and wgpu later) is held to the same
//! contract.
//!
//! Each `check_<primitive>` runs the backend under test on seeded random inputs
//! (ChaCha20, fixed seeds: a failure reproduces exactly) and on edge cases (zero,
//! `p − 1`, extreme small integers, identity and repeated points, empty and
//! length-1 inputs), and compares the results with [`ReferenceBackend`], the
//! naive oracle. Sizes where the oracle is too slow are compared with
//! [`CpuBackend`] and with algebraic identities that need no oracle (linearity of
//! MSMs, `intt ∘ ntt = id`, `Σ eq = 1`, `s(0) + s(1)` = the claim, a full
//! sumcheck ending at `f(r) = Σ_x eq(r, x) f(x)`). Bad input must give the same
//! typed [`BackendError`] as the reference (for `Unsupported`, the same variant
//! and operation; the free-text reason may differ between backends).
//!
//! The checks panic with a message naming the primitive and the case on the
//! first mismatch, which is what a test wants. [`run_all`] runs everything (a
//! few seconds on the CPU backend in release); [`run_small`] runs only the parts
//! cheap enough for the reference backend itself.

use std::fmt::Debug;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{FftField, Field, One, PrimeField, Zero};
use ark_std::rand::Rng;
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::backend::reference::{scalar_mul, small_to_fr};
use crate::backend::{
    Backend, BackendError, BackendResult, BindSide, CpuBackend, ProductTerm, ReferenceBackend,
    SmallScalars, MAX_SUMCHECK_DEGREE,
};

// ---------------------------------------------------------------------------
// Inputs and comparisons
// ---------------------------------------------------------------------------

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn rand_frs(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

/// `n` pseudo-random affine points: sums of three of 32 random multiples of the
/// generator (cheap, and as good as uniform for checking arithmetic).
fn rand_points<P: SWCurveConfig>(rng: &mut ChaCha20Rng, n: usize) -> Vec<Affine<P>>
where
    P::ScalarField: PrimeField,
{
    let g = Projective::<P>::generator();
    let seeds: Vec<Projective<P>> = (0..32).map(|_| g * P::ScalarField::rand(rng)).collect();
    let points: Vec<Projective<P>> = (0..n)
        .map(|_| {
            seeds[rng.gen_range(0..32)] + seeds[rng.gen_range(0..32)] + seeds[rng.gen_range(0..32)]
        })
        .collect();
    Projective::<P>::normalize_batch(&points)
}

/// Random points with the identity, a point and its negation, and a run of
/// repeats mixed in (needs `n >= 8`).
fn edge_points<P: SWCurveConfig>(rng: &mut ChaCha20Rng, n: usize) -> Vec<Affine<P>>
where
    P::ScalarField: PrimeField,
{
    assert!(n >= 8);
    let mut points = rand_points::<P>(rng, n);
    points[0] = Affine::<P>::identity();
    points[2] = -points[1];
    let repeated = points[3];
    points[4] = repeated;
    points[5] = repeated;
    points[n - 1] = repeated;
    points[n - 2] = Affine::<P>::identity();
    points
}

/// Full scalars with zero, one and `p − 1` mixed in (needs `n >= 4`).
fn edge_frs(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    assert!(n >= 4);
    let mut s = rand_frs(rng, n);
    s[0] = Fr::zero();
    s[1] = Fr::one();
    s[2] = -Fr::one();
    s[n - 1] = -Fr::one();
    s
}

fn expect_ok<T>(context: &str, result: BackendResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("{context}: unexpected error {e}"))
}

/// The backend must fail like the reference does: same variant and fields,
/// except that an `Unsupported` reason is free text.
fn assert_same_error<T: Debug>(context: &str, got: BackendResult<T>, want: BackendResult<T>) {
    let want = match want {
        Err(e) => e,
        Ok(v) => panic!("{context}: the reference accepted the input ({v:?}); bad test case"),
    };
    let got = match got {
        Err(e) => e,
        Ok(v) => panic!("{context}: expected error {want:?}, got Ok({v:?})"),
    };
    match (&got, &want) {
        (
            BackendError::Unsupported { op: got_op, .. },
            BackendError::Unsupported { op: want_op, .. },
        ) => assert_eq!(got_op, want_op, "{context}: Unsupported from the wrong op"),
        _ => assert_eq!(got, want, "{context}: wrong error"),
    }
}

fn reference() -> ReferenceBackend {
    ReferenceBackend
}

fn cpu() -> CpuBackend {
    CpuBackend::default()
}

// ---------------------------------------------------------------------------
// Full-scalar MSMs
// ---------------------------------------------------------------------------

/// Σ s_i·P_i over G1 with 254-bit scalars.
pub fn check_msm_g1<B: Backend + ?Sized>(backend: &B) {
    msm_g1_small_sizes(backend);
    msm_g1_large(backend);
}

fn msm_g1_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6d73_6d31);
    let oracle = reference();
    let mut cases: Vec<(String, Vec<G1Affine>, Vec<Fr>)> = vec![
        ("empty".into(), vec![], vec![]),
        (
            "identity base".into(),
            vec![G1Affine::identity()],
            vec![Fr::from(7u64)],
        ),
    ];
    for n in [1usize, 2, 3, 7, 31, 200] {
        cases.push((
            format!("random n={n}"),
            rand_points(&mut rng, n),
            rand_frs(&mut rng, n),
        ));
    }
    let p = rand_points::<ark_bn254::g1::Config>(&mut rng, 1);
    for (name, s) in [
        ("zero", Fr::zero()),
        ("one", Fr::one()),
        ("p-1", -Fr::one()),
    ] {
        cases.push((format!("n=1 scalar {name}"), p.clone(), vec![s]));
    }
    let bases = edge_points(&mut rng, 40);
    cases.push((
        "edge bases, edge scalars".into(),
        bases.clone(),
        edge_frs(&mut rng, 40),
    ));
    cases.push((
        "all scalars zero".into(),
        bases.clone(),
        vec![Fr::zero(); 40],
    ));
    cases.push((
        "all scalars p-1".into(),
        bases.clone(),
        vec![-Fr::one(); 40],
    ));
    cases.push((
        "repeated point, P and -P".into(),
        vec![p[0], p[0], -p[0], p[0]],
        rand_frs(&mut rng, 4),
    ));
    for (name, b, s) in &cases {
        let want = expect_ok("reference msm_g1", oracle.msm_g1(b, s));
        let got = expect_ok(&format!("msm_g1 {name}"), backend.msm_g1(b, s));
        assert_eq!(got, want, "msm_g1 {name}: differs from the reference");
    }
    let b = rand_points::<ark_bn254::g1::Config>(&mut rng, 3);
    for (nb, ns) in [(3usize, 2usize), (2, 3), (0, 1), (1, 0)] {
        let s = rand_frs(&mut rng, ns);
        assert_same_error(
            &format!("msm_g1 with {nb} bases and {ns} scalars"),
            backend.msm_g1(&b[..nb], &s),
            oracle.msm_g1(&b[..nb], &s),
        );
    }
}

fn msm_g1_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6d73_6d32);
    let n = 1 << 12;
    let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, n);
    let a = edge_frs(&mut rng, n);
    let b = rand_frs(&mut rng, n);
    let msm = |s: &[Fr]| expect_ok("msm_g1 2^12", backend.msm_g1(&bases, s));
    let got_a = msm(&a);
    let want_a = expect_ok("cpu msm_g1", cpu().msm_g1(&bases, &a));
    assert_eq!(got_a, want_a, "msm_g1 2^12: differs from the CPU backend");
    let sum: Vec<Fr> = a.iter().zip(&b).map(|(x, y)| *x + y).collect();
    assert_eq!(
        got_a + msm(&b),
        msm(&sum),
        "msm_g1 2^12: not linear (msm(a) + msm(b) != msm(a + b))"
    );
    let c = Fr::rand(&mut rng);
    let total: G1Projective = bases.iter().map(|p| G1Projective::from(*p)).sum();
    assert_eq!(
        msm(&vec![c; n]),
        scalar_mul(&total, &c),
        "msm_g1 2^12: constant scalars"
    );
    let i = rng.gen_range(0..n);
    let mut one_hot = vec![Fr::zero(); n];
    one_hot[i] = Fr::one();
    assert_eq!(
        msm(&one_hot),
        G1Projective::from(bases[i]),
        "msm_g1 2^12: one-hot at {i}"
    );
}

/// Σ s_i·Q_i over G2.
pub fn check_msm_g2<B: Backend + ?Sized>(backend: &B) {
    msm_g2_small_sizes(backend);
    msm_g2_large(backend);
}

fn msm_g2_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6d73_6d33);
    let oracle = reference();
    let mut cases: Vec<(String, Vec<G2Affine>, Vec<Fr>)> = vec![
        ("empty".into(), vec![], vec![]),
        (
            "identity base".into(),
            vec![G2Affine::identity()],
            vec![Fr::from(3u64)],
        ),
    ];
    for n in [1usize, 2, 5, 33] {
        cases.push((
            format!("random n={n}"),
            rand_points(&mut rng, n),
            rand_frs(&mut rng, n),
        ));
    }
    let bases = edge_points(&mut rng, 16);
    cases.push((
        "edge bases, edge scalars".into(),
        bases.clone(),
        edge_frs(&mut rng, 16),
    ));
    cases.push(("all scalars p-1".into(), bases, vec![-Fr::one(); 16]));
    for (name, b, s) in &cases {
        let want = expect_ok("reference msm_g2", oracle.msm_g2(b, s));
        let got = expect_ok(&format!("msm_g2 {name}"), backend.msm_g2(b, s));
        assert_eq!(got, want, "msm_g2 {name}: differs from the reference");
    }
    let b = rand_points::<ark_bn254::g2::Config>(&mut rng, 2);
    let s = rand_frs(&mut rng, 3);
    assert_same_error(
        "msm_g2 with 2 bases and 3 scalars",
        backend.msm_g2(&b, &s),
        oracle.msm_g2(&b, &s),
    );
}

fn msm_g2_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6d73_6d34);
    let n = 1 << 10;
    let bases = edge_points::<ark_bn254::g2::Config>(&mut rng, n);
    let a = edge_frs(&mut rng, n);
    let b = rand_frs(&mut rng, n);
    let msm = |s: &[Fr]| expect_ok("msm_g2 2^10", backend.msm_g2(&bases, s));
    let got_a = msm(&a);
    let want_a = expect_ok("cpu msm_g2", cpu().msm_g2(&bases, &a));
    assert_eq!(got_a, want_a, "msm_g2 2^10: differs from the CPU backend");
    let sum: Vec<Fr> = a.iter().zip(&b).map(|(x, y)| *x + y).collect();
    assert_eq!(got_a + msm(&b), msm(&sum), "msm_g2 2^10: not linear");
}

// ---------------------------------------------------------------------------
// Small-scalar MSMs
// ---------------------------------------------------------------------------

/// Random i64 values of magnitude below 2^bits with mixed signs; the first two
/// are ±(2^bits − 1).
fn rand_i64s(rng: &mut ChaCha20Rng, n: usize, bits: u32) -> Vec<i64> {
    let max = if bits >= 63 {
        i64::MAX
    } else {
        (1i64 << bits) - 1
    };
    let mut v: Vec<i64> = (0..n)
        .map(|_| {
            let m = rng.gen_range(0..=max);
            if rng.gen::<bool>() {
                -m
            } else {
                m
            }
        })
        .collect();
    if n >= 2 {
        v[0] = max;
        v[1] = -max;
    }
    v
}

fn small_cases(rng: &mut ChaCha20Rng, n: usize) -> Vec<(String, Vec<i64>)> {
    let mut cases = Vec::new();
    for bits in [1u32, 8, 16, 32, 63] {
        cases.push((format!("{bits}-bit mixed signs"), rand_i64s(rng, n, bits)));
    }
    let positive: Vec<i64> = rand_i64s(rng, n, 16).iter().map(|v| v.abs()).collect();
    let negative: Vec<i64> = positive.iter().map(|v| -v).collect();
    cases.push(("16-bit all positive".into(), positive));
    cases.push(("16-bit all negative".into(), negative));
    cases.push(("all zero".into(), vec![0; n]));
    let mut extremes = rand_i64s(rng, n, 40);
    extremes[0] = i64::MIN;
    extremes[1] = i64::MAX;
    extremes[2] = i64::MIN + 1;
    extremes[3] = 0;
    extremes[4] = -1;
    cases.push(("i64 extremes".into(), extremes));
    cases.push(("all i64::MIN".into(), vec![i64::MIN; n]));
    cases
}

fn i32_cases(rng: &mut ChaCha20Rng, n: usize) -> Vec<(String, Vec<i32>)> {
    let mut cases = Vec::new();
    for bits in [1u32, 8, 16, 31] {
        let v: Vec<i32> = rand_i64s(rng, n, bits).iter().map(|&x| x as i32).collect();
        cases.push((format!("i32 {bits}-bit mixed signs"), v));
    }
    let mut extremes: Vec<i32> = (0..n).map(|_| rng.gen()).collect();
    extremes[0] = i32::MIN;
    extremes[1] = i32::MAX;
    extremes[2] = i32::MIN + 1;
    extremes[3] = 0;
    cases.push(("i32 extremes".into(), extremes));
    cases
}

/// Σ v_i·P_i over G1 for signed small integers of every width.
pub fn check_msm_g1_small<B: Backend + ?Sized>(backend: &B) {
    msm_g1_small_values_small_sizes(backend);
    msm_g1_small_values_large(backend);
}

fn msm_g1_small_values_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x736d_736d);
    let oracle = reference();
    let n = 64;
    let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, n);
    let check = |name: &str, b: &[G1Affine], values: SmallScalars<'_>| {
        let want = expect_ok("reference msm_g1_small", oracle.msm_g1_small(b, values));
        let got = expect_ok(
            &format!("msm_g1_small {name}"),
            backend.msm_g1_small(b, values),
        );
        assert_eq!(got, want, "msm_g1_small {name}: differs from the reference");
    };
    for (name, values) in small_cases(&mut rng, n) {
        check(&name, &bases, SmallScalars::I64(&values));
    }
    for (name, values) in i32_cases(&mut rng, n) {
        check(&name, &bases, SmallScalars::I32(&values));
    }
    check("empty i64", &[], SmallScalars::I64(&[]));
    check("empty i32", &[], SmallScalars::I32(&[]));
    for v in [0i64, 1, -1, i64::MIN, i64::MAX] {
        check(
            &format!("single {v}"),
            &bases[1..2],
            SmallScalars::I64(&[v]),
        );
        check(
            &format!("single {v} on identity"),
            &bases[..1],
            SmallScalars::I64(&[v]),
        );
    }
    for v in [i32::MIN, i32::MAX, -1] {
        check(
            &format!("single i32 {v}"),
            &bases[1..2],
            SmallScalars::I32(&[v]),
        );
    }
    let values = [1i64, 2, 3];
    assert_same_error(
        "msm_g1_small with 2 bases and 3 values",
        backend.msm_g1_small(&bases[..2], SmallScalars::I64(&values)),
        oracle.msm_g1_small(&bases[..2], SmallScalars::I64(&values)),
    );
    let values = [1i32];
    assert_same_error(
        "msm_g1_small with 2 bases and 1 i32 value",
        backend.msm_g1_small(&bases[..2], SmallScalars::I32(&values)),
        oracle.msm_g1_small(&bases[..2], SmallScalars::I32(&values)),
    );
}

fn msm_g1_small_values_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x736d_736e);
    let n = 1 << 12;
    let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, n);
    let cpu = cpu();
    for (name, values) in small_cases(&mut rng, n) {
        let got = expect_ok(
            &format!("msm_g1_small 2^12 {name}"),
            backend.msm_g1_small(&bases, SmallScalars::I64(&values)),
        );
        let scalars: Vec<Fr> = values.iter().map(|&v| small_to_fr(v)).collect();
        let full = expect_ok("msm_g1 2^12", backend.msm_g1(&bases, &scalars));
        assert_eq!(
            got, full,
            "msm_g1_small 2^12 {name}: differs from msm_g1 on the same values"
        );
        let want = expect_ok(
            "cpu msm_g1_small",
            cpu.msm_g1_small(&bases, SmallScalars::I64(&values)),
        );
        assert_eq!(
            got, want,
            "msm_g1_small 2^12 {name}: differs from the CPU backend"
        );
    }
    for (name, values) in i32_cases(&mut rng, n) {
        let got = expect_ok(
            &format!("msm_g1_small 2^12 {name}"),
            backend.msm_g1_small(&bases, SmallScalars::I32(&values)),
        );
        let scalars: Vec<Fr> = values.iter().map(|&v| small_to_fr(v as i64)).collect();
        let full = expect_ok("msm_g1 2^12", backend.msm_g1(&bases, &scalars));
        assert_eq!(
            got, full,
            "msm_g1_small 2^12 {name}: differs from msm_g1 on the same values"
        );
    }
}

// ---------------------------------------------------------------------------
// Batched MSMs
// ---------------------------------------------------------------------------

/// One MSM per row of a row-major scalar matrix.
pub fn check_msm_g1_batch<B: Backend + ?Sized>(backend: &B) {
    msm_g1_batch_small_sizes(backend);
    msm_g1_batch_large(backend);
}

fn msm_g1_batch_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6261_7463);
    let oracle = reference();
    for cols in [1usize, 5, 17] {
        let bases = rand_points::<ark_bn254::g1::Config>(&mut rng, cols);
        for rows in [0usize, 1, 3] {
            let mut scalars = rand_frs(&mut rng, rows * cols);
            if rows * cols >= 2 {
                scalars[0] = -Fr::one();
                scalars[1] = Fr::zero();
            }
            let context = format!("msm_g1_batch {rows} rows × {cols} cols");
            let got = expect_ok(&context, backend.msm_g1_batch(&bases, &scalars));
            let want = expect_ok(
                "reference msm_g1_batch",
                oracle.msm_g1_batch(&bases, &scalars),
            );
            assert_eq!(got.len(), rows, "{context}: wrong number of results");
            assert_eq!(got, want, "{context}: differs from the reference");
        }
    }
    let edge = edge_points::<ark_bn254::g1::Config>(&mut rng, 12);
    let scalars = edge_frs(&mut rng, 24);
    let got = expect_ok("msm_g1_batch edge", backend.msm_g1_batch(&edge, &scalars));
    let want = expect_ok("reference", oracle.msm_g1_batch(&edge, &scalars));
    assert_eq!(
        got, want,
        "msm_g1_batch edge bases: differs from the reference"
    );
    let empty = expect_ok("msm_g1_batch no bases", backend.msm_g1_batch(&[], &[]));
    assert!(
        empty.is_empty(),
        "msm_g1_batch with no bases and no scalars: expected no rows"
    );
    let s = rand_frs(&mut rng, 7);
    for (nb, ns) in [(3usize, 7usize), (0, 7), (5, 3)] {
        assert_same_error(
            &format!("msm_g1_batch with {nb} bases and {ns} scalars"),
            backend.msm_g1_batch(&edge[..nb], &s[..ns]),
            oracle.msm_g1_batch(&edge[..nb], &s[..ns]),
        );
    }
}

fn msm_g1_batch_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6261_7464);
    let (rows, cols) = (6, 1 << 10);
    let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, cols);
    let scalars = rand_frs(&mut rng, rows * cols);
    let got = expect_ok(
        "msm_g1_batch 6 × 2^10",
        backend.msm_g1_batch(&bases, &scalars),
    );
    assert_eq!(
        got.len(),
        rows,
        "msm_g1_batch 6 × 2^10: wrong number of results"
    );
    let want = expect_ok("cpu", cpu().msm_g1_batch(&bases, &scalars));
    assert_eq!(
        got, want,
        "msm_g1_batch 6 × 2^10: differs from the CPU backend"
    );
    for (r, row) in scalars.chunks(cols).enumerate() {
        let single = expect_ok("msm_g1", backend.msm_g1(&bases, row));
        assert_eq!(
            got[r], single,
            "msm_g1_batch 6 × 2^10: row {r} differs from msm_g1"
        );
    }
}

/// One small-scalar MSM per row of a row-major value matrix.
pub fn check_msm_g1_small_batch<B: Backend + ?Sized>(backend: &B) {
    msm_g1_small_batch_small_sizes(backend);
    msm_g1_small_batch_large(backend);
}

fn msm_g1_small_batch_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x7362_6174);
    let oracle = reference();
    for cols in [1usize, 9, 24] {
        let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, cols.max(8))[..cols].to_vec();
        for rows in [0usize, 1, 4] {
            let mut values = rand_i64s(&mut rng, rows * cols, 8 * (rows as u32 + 1));
            if values.len() >= 3 {
                values[2] = i64::MIN;
            }
            let v32: Vec<i32> = rand_i64s(&mut rng, rows * cols, 31)
                .iter()
                .map(|&x| x as i32)
                .collect();
            for (kind, values) in [
                ("i64", SmallScalars::I64(&values)),
                ("i32", SmallScalars::I32(&v32)),
            ] {
                let context = format!("msm_g1_small_batch {kind} {rows} rows × {cols} cols");
                let got = expect_ok(&context, backend.msm_g1_small_batch(&bases, values));
                let want = expect_ok("reference", oracle.msm_g1_small_batch(&bases, values));
                assert_eq!(got.len(), rows, "{context}: wrong number of results");
                assert_eq!(got, want, "{context}: differs from the reference");
            }
        }
    }
    let empty = expect_ok(
        "msm_g1_small_batch no bases",
        backend.msm_g1_small_batch(&[], SmallScalars::I64(&[])),
    );
    assert!(
        empty.is_empty(),
        "msm_g1_small_batch with nothing: expected no rows"
    );
    let bases = rand_points::<ark_bn254::g1::Config>(&mut rng, 4);
    let values = [1i64, -2, 3, -4, 5, -6, 7];
    for (nb, nv) in [(4usize, 7usize), (0, 3), (4, 2)] {
        assert_same_error(
            &format!("msm_g1_small_batch with {nb} bases and {nv} values"),
            backend.msm_g1_small_batch(&bases[..nb], SmallScalars::I64(&values[..nv])),
            oracle.msm_g1_small_batch(&bases[..nb], SmallScalars::I64(&values[..nv])),
        );
    }
}

fn msm_g1_small_batch_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x7362_6175);
    let (rows, cols) = (5, 1 << 10);
    let bases = edge_points::<ark_bn254::g1::Config>(&mut rng, cols);
    let values = rand_i64s(&mut rng, rows * cols, 20);
    let got = expect_ok(
        "msm_g1_small_batch 5 × 2^10",
        backend.msm_g1_small_batch(&bases, SmallScalars::I64(&values)),
    );
    assert_eq!(
        got.len(),
        rows,
        "msm_g1_small_batch 5 × 2^10: wrong number of results"
    );
    for (r, row) in values.chunks(cols).enumerate() {
        let single = expect_ok(
            "msm_g1_small",
            backend.msm_g1_small(&bases, SmallScalars::I64(row)),
        );
        assert_eq!(
            got[r], single,
            "msm_g1_small_batch 5 × 2^10: row {r} differs from msm_g1_small"
        );
    }
    let want = expect_ok(
        "cpu",
        cpu().msm_g1_small_batch(&bases, SmallScalars::I64(&values)),
    );
    assert_eq!(
        got, want,
        "msm_g1_small_batch 5 × 2^10: differs from the CPU backend"
    );
}

// ---------------------------------------------------------------------------
// NTT
// ---------------------------------------------------------------------------

/// Bad shapes that both `ntt` and `intt` must reject, as (name, len, size, coset).
fn bad_ntt_shapes(rng: &mut ChaCha20Rng) -> Vec<(&'static str, usize, usize, Option<Fr>)> {
    vec![
        ("size 0", 8, 0, None),
        ("size 3", 6, 3, None),
        ("size 6", 12, 6, None),
        ("size 12 on a coset", 24, 12, Some(Fr::rand(rng))),
        ("values not a multiple of size", 10, 4, None),
        ("size 1 > values", 1, 2, None),
        ("size 2^29 above the two-adicity", 0, 1 << 29, None),
        ("zero coset", 8, 4, Some(Fr::zero())),
    ]
}

/// Horner evaluation of `coeffs` at `x`.
fn horner(coeffs: &[Fr], x: Fr) -> Fr {
    coeffs.iter().rev().fold(Fr::zero(), |acc, a| acc * x + a)
}

fn cosets(rng: &mut ChaCha20Rng) -> [(String, Option<Fr>); 3] {
    [
        ("no coset".into(), None),
        ("coset g".into(), Some(Fr::GENERATOR)),
        ("random coset".into(), Some(Fr::rand(rng))),
    ]
}

/// Forward NTT (batched, optionally on a coset).
pub fn check_ntt<B: Backend + ?Sized>(backend: &B) {
    ntt_small_sizes(backend);
    ntt_large(backend);
}

fn ntt_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6e74_7401);
    let oracle = reference();
    for log in 0..=6 {
        let size = 1usize << log;
        for batch in [1usize, 3] {
            for (coset_name, coset) in cosets(&mut rng) {
                let context = format!("ntt size 2^{log} × {batch} polys, {coset_name}");
                let input = rand_frs(&mut rng, size * batch);
                let mut got = input.clone();
                expect_ok(&context, backend.ntt(&mut got, size, coset));
                let mut want = input.clone();
                expect_ok("reference ntt", oracle.ntt(&mut want, size, coset));
                assert_eq!(got, want, "{context}: differs from the reference");
            }
        }
    }
    // Edge coefficients: zero polynomial, constant p − 1, a single monomial.
    let size = 16;
    let mut monomial = vec![Fr::zero(); size];
    monomial[5] = -Fr::one();
    for (name, input) in [
        ("zero polynomial", vec![Fr::zero(); size]),
        ("constant p-1", {
            let mut v = vec![Fr::zero(); size];
            v[0] = -Fr::one();
            v
        }),
        ("all p-1", vec![-Fr::one(); size]),
        ("-x^5", monomial),
    ] {
        let mut got = input.clone();
        expect_ok(name, backend.ntt(&mut got, size, Some(Fr::from(5u64))));
        let mut want = input;
        expect_ok(
            "reference",
            oracle.ntt(&mut want, size, Some(Fr::from(5u64))),
        );
        assert_eq!(got, want, "ntt {name}: differs from the reference");
    }
    let mut empty: Vec<Fr> = Vec::new();
    expect_ok("ntt of no polynomials", backend.ntt(&mut empty, 8, None));
    for (name, len, size, coset) in bad_ntt_shapes(&mut rng) {
        let input = rand_frs(&mut rng, len);
        let mut got = input.clone();
        let mut want = input.clone();
        assert_same_error(
            &format!("ntt {name}"),
            backend.ntt(&mut got, size, coset),
            oracle.ntt(&mut want, size, coset),
        );
        assert_eq!(
            got, input,
            "ntt {name}: input changed although the call failed"
        );
    }
}

fn ntt_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6e74_7402);
    let log = 12;
    let size = 1usize << log;
    let omega = Fr::get_root_of_unity(size as u64).expect("2^12 divides p − 1");
    for (coset_name, coset) in cosets(&mut rng) {
        let context = format!("ntt 2^{log} × 2 polys, {coset_name}");
        let input = rand_frs(&mut rng, 2 * size);
        let mut got = input.clone();
        expect_ok(&context, backend.ntt(&mut got, size, coset));
        let mut want = input.clone();
        expect_ok("cpu ntt", cpu().ntt(&mut want, size, coset));
        assert_eq!(got, want, "{context}: differs from the CPU backend");
        let c = coset.unwrap_or(Fr::one());
        for _ in 0..4 {
            let poly = rng.gen_range(0..2);
            let j = rng.gen_range(0..size);
            let x = c * omega.pow([j as u64]);
            assert_eq!(
                got[poly * size + j],
                horner(&input[poly * size..(poly + 1) * size], x),
                "{context}: output {j} of poly {poly} is not the evaluation at coset·ω^{j}"
            );
        }
    }
}

/// Inverse NTT, and the round trips `intt ∘ ntt = id = ntt ∘ intt`.
pub fn check_intt<B: Backend + ?Sized>(backend: &B) {
    intt_small_sizes(backend);
    intt_large(backend);
}

fn intt_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6e74_7403);
    let oracle = reference();
    for log in 0..=6 {
        let size = 1usize << log;
        for batch in [1usize, 2] {
            for (coset_name, coset) in cosets(&mut rng) {
                let context = format!("intt size 2^{log} × {batch} polys, {coset_name}");
                let input = rand_frs(&mut rng, size * batch);
                let mut got = input.clone();
                expect_ok(&context, backend.intt(&mut got, size, coset));
                let mut want = input.clone();
                expect_ok("reference intt", oracle.intt(&mut want, size, coset));
                assert_eq!(got, want, "{context}: differs from the reference");
                expect_ok(&context, backend.ntt(&mut got, size, coset));
                assert_eq!(got, input, "{context}: ntt(intt(x)) != x");
            }
        }
    }
    let mut empty: Vec<Fr> = Vec::new();
    expect_ok("intt of no polynomials", backend.intt(&mut empty, 8, None));
    for (name, len, size, coset) in bad_ntt_shapes(&mut rng) {
        let input = rand_frs(&mut rng, len);
        let mut got = input.clone();
        let mut want = input.clone();
        assert_same_error(
            &format!("intt {name}"),
            backend.intt(&mut got, size, coset),
            oracle.intt(&mut want, size, coset),
        );
        assert_eq!(
            got, input,
            "intt {name}: input changed although the call failed"
        );
    }
}

fn intt_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6e74_7404);
    let size = 1usize << 12;
    for (coset_name, coset) in cosets(&mut rng) {
        for batch in [1usize, 3] {
            let context = format!("2^12 × {batch} polys, {coset_name}");
            let input = rand_frs(&mut rng, batch * size);
            let mut v = input.clone();
            expect_ok(&context, backend.ntt(&mut v, size, coset));
            expect_ok(&context, backend.intt(&mut v, size, coset));
            assert_eq!(v, input, "{context}: intt(ntt(x)) != x");
            expect_ok(&context, backend.intt(&mut v, size, coset));
            let mut want = input.clone();
            expect_ok("cpu intt", cpu().intt(&mut want, size, coset));
            assert_eq!(v, want, "{context}: intt differs from the CPU backend");
            expect_ok(&context, backend.ntt(&mut v, size, coset));
            assert_eq!(v, input, "{context}: ntt(intt(x)) != x");
        }
    }
}

// ---------------------------------------------------------------------------
// Multilinear kernels
// ---------------------------------------------------------------------------

/// eq(r, x) by the product formula, for one index.
fn eq_at(point: &[Fr], x: usize) -> Fr {
    point
        .iter()
        .enumerate()
        .map(|(j, r)| if (x >> j) & 1 == 1 { *r } else { Fr::one() - r })
        .product()
}

/// The eq-table of a point.
pub fn check_eq_table<B: Backend + ?Sized>(backend: &B) {
    eq_table_small_sizes(backend);
    eq_table_large(backend);
}

fn eq_table_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6571_0001);
    let oracle = reference();
    for n in 0..=10 {
        let point = rand_frs(&mut rng, n);
        let context = format!("eq_table n={n}");
        let got = expect_ok(&context, backend.eq_table(&point));
        assert_eq!(got.len(), 1 << n, "{context}: wrong length");
        let want = expect_ok("reference eq_table", oracle.eq_table(&point));
        assert_eq!(got, want, "{context}: differs from the reference");
        assert_eq!(
            got.iter().sum::<Fr>(),
            Fr::one(),
            "{context}: entries do not sum to 1"
        );
    }
    // A Boolean point selects exactly its own index.
    let n = 6;
    let index = 0b101101usize;
    let point: Vec<Fr> = (0..n)
        .map(|j| Fr::from(((index >> j) & 1) as u64))
        .collect();
    let got = expect_ok("eq_table boolean point", backend.eq_table(&point));
    for (x, v) in got.iter().enumerate() {
        let want = if x == index { Fr::one() } else { Fr::zero() };
        assert_eq!(*v, want, "eq_table at boolean point {index:#b}: entry {x}");
    }
    // Points with p − 1 and 2 (outside {0,1}).
    let point = vec![-Fr::one(), Fr::from(2u64), Fr::zero(), -Fr::one()];
    let got = expect_ok("eq_table edge point", backend.eq_table(&point));
    let want = expect_ok("reference", oracle.eq_table(&point));
    assert_eq!(got, want, "eq_table edge point: differs from the reference");
    let point = vec![Fr::one(); 41];
    assert_same_error(
        "eq_table with 41 variables",
        backend.eq_table(&point),
        oracle.eq_table(&point),
    );
}

fn eq_table_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6571_0002);
    let n = 16;
    let point = rand_frs(&mut rng, n);
    let got = expect_ok("eq_table n=16", backend.eq_table(&point));
    assert_eq!(got.len(), 1 << n, "eq_table n=16: wrong length");
    assert_eq!(
        got.iter().sum::<Fr>(),
        Fr::one(),
        "eq_table n=16: entries do not sum to 1"
    );
    for _ in 0..16 {
        let x = rng.gen_range(0..1usize << n);
        assert_eq!(
            got[x],
            eq_at(&point, x),
            "eq_table n=16: entry {x} is not Π eq(r_j, x_j)"
        );
    }
    let want = expect_ok("cpu", cpu().eq_table(&point));
    assert_eq!(got, want, "eq_table n=16: differs from the CPU backend");
}

/// Binding the low or the high variable.
pub fn check_bind<B: Backend + ?Sized>(backend: &B) {
    bind_small_sizes(backend);
    bind_large(backend);
}

fn bind_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6269_6e64);
    let oracle = reference();
    for n in 1..=8 {
        for side in [BindSide::Low, BindSide::High] {
            let input = rand_frs(&mut rng, 1 << n);
            for (r_name, r) in [
                ("random", Fr::rand(&mut rng)),
                ("0", Fr::zero()),
                ("1", Fr::one()),
                ("p-1", -Fr::one()),
            ] {
                let context = format!("bind {side:?} n={n} r={r_name}");
                let mut got = input.clone();
                expect_ok(&context, backend.bind(&mut got, r, side));
                let mut want = input.clone();
                expect_ok("reference bind", oracle.bind(&mut want, r, side));
                assert_eq!(got, want, "{context}: differs from the reference");
            }
            // Binding every variable gives f(r) = Σ_x eq(r, x) f(x).
            let point = rand_frs(&mut rng, n);
            let eq = expect_ok("reference eq_table", oracle.eq_table(&point));
            let want: Fr = eq.iter().zip(&input).map(|(e, f)| *e * f).sum();
            let mut v = input.clone();
            for j in 0..n {
                let r = match side {
                    BindSide::Low => point[j],
                    BindSide::High => point[n - 1 - j],
                };
                expect_ok("bind", backend.bind(&mut v, r, side));
                assert_eq!(
                    v.len(),
                    1 << (n - 1 - j),
                    "bind {side:?}: wrong length after a bind"
                );
            }
            assert_eq!(
                v,
                vec![want],
                "bind {side:?} n={n}: binding all variables is not f(r)"
            );
        }
    }
    for len in [0usize, 1, 3, 6, 12] {
        for side in [BindSide::Low, BindSide::High] {
            let input = rand_frs(&mut rng, len);
            let mut got = input.clone();
            let mut want = input.clone();
            assert_same_error(
                &format!("bind {side:?} on length {len}"),
                backend.bind(&mut got, Fr::one(), side),
                oracle.bind(&mut want, Fr::one(), side),
            );
            assert_eq!(
                got, input,
                "bind {side:?} length {len}: input changed although the call failed"
            );
        }
    }
}

fn bind_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6269_6e65);
    let n = 16;
    let input = rand_frs(&mut rng, 1 << n);
    let r = Fr::rand(&mut rng);
    for side in [BindSide::Low, BindSide::High] {
        let mut got = input.clone();
        expect_ok("bind 2^16", backend.bind(&mut got, r, side));
        let mut want = input.clone();
        expect_ok("cpu bind", cpu().bind(&mut want, r, side));
        assert_eq!(
            got, want,
            "bind {side:?} 2^16: differs from the CPU backend"
        );
        for _ in 0..8 {
            let i = rng.gen_range(0..got.len());
            let (lo, hi) = match side {
                BindSide::Low => (input[2 * i], input[2 * i + 1]),
                BindSide::High => (input[i], input[i + got.len()]),
            };
            assert_eq!(got[i], lo + r * (hi - lo), "bind {side:?} 2^16: entry {i}");
        }
    }
}

/// Σ a_i·b_i.
pub fn check_inner_product<B: Backend + ?Sized>(backend: &B) {
    inner_product_small_sizes(backend);
    inner_product_large(backend);
}

fn inner_product_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6970_0001);
    let oracle = reference();
    for n in [0usize, 1, 2, 5, 100, 1000] {
        let a = rand_frs(&mut rng, n);
        let b = rand_frs(&mut rng, n);
        let got = expect_ok("inner_product", backend.inner_product(&a, &b));
        let want = expect_ok("reference", oracle.inner_product(&a, &b));
        assert_eq!(got, want, "inner_product n={n}: differs from the reference");
    }
    // (p − 1)² = 1, so n copies give n.
    let ones = vec![-Fr::one(); 77];
    let got = expect_ok("inner_product p-1", backend.inner_product(&ones, &ones));
    assert_eq!(
        got,
        Fr::from(77u64),
        "inner_product of (p − 1)s with themselves"
    );
    let zeros = vec![Fr::zero(); 9];
    let a = rand_frs(&mut rng, 9);
    let got = expect_ok("inner_product zeros", backend.inner_product(&a, &zeros));
    assert_eq!(got, Fr::zero(), "inner_product with zeros");
    let b = rand_frs(&mut rng, 8);
    for (na, nb) in [(9usize, 8usize), (0, 8), (8, 0)] {
        assert_same_error(
            &format!("inner_product of {na} and {nb} entries"),
            backend.inner_product(&a[..na], &b[..nb]),
            oracle.inner_product(&a[..na], &b[..nb]),
        );
    }
}

fn inner_product_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6970_0002);
    let n = (1 << 16) + 3;
    let a = rand_frs(&mut rng, n);
    let b = rand_frs(&mut rng, n);
    let got = expect_ok("inner_product", backend.inner_product(&a, &b));
    let want: Fr = a.iter().zip(&b).map(|(x, y)| *x * y).sum();
    assert_eq!(got, want, "inner_product n=2^16+3: differs from Σ a_i·b_i");
}

// ---------------------------------------------------------------------------
// Sumcheck rounds
// ---------------------------------------------------------------------------

/// `Σ_terms coeff · Π f_factor` at one point of the hypercube.
fn eval_g(mles: &[Vec<Fr>], terms: &[ProductTerm], x: usize) -> Fr {
    terms
        .iter()
        .map(|t| t.factors.iter().fold(t.coeff, |acc, &f| acc * mles[f][x]))
        .sum()
}

fn hypercube_sum(mles: &[Vec<Fr>], terms: &[ProductTerm]) -> Fr {
    (0..mles[0].len()).map(|x| eval_g(mles, terms, x)).sum()
}

/// The polynomial of degree ≤ evals.len() − 1 through (t, evals[t]), at `r`.
fn interpolate(evals: &[Fr], r: Fr) -> Fr {
    let mut total = Fr::zero();
    for (i, y) in evals.iter().enumerate() {
        let mut num = Fr::one();
        let mut den = Fr::one();
        for j in 0..evals.len() {
            if j != i {
                num *= r - Fr::from(j as u64);
                den *= Fr::from(i as u64) - Fr::from(j as u64);
            }
        }
        total += *y * num * den.inverse().expect("distinct nodes");
    }
    total
}

/// Random terms over `k` MLEs of degree at most `degree`, one of them exactly
/// `degree` (with a repeated factor when possible), coefficients including 0 and
/// `p − 1`.
fn rand_terms(rng: &mut ChaCha20Rng, k: usize, degree: usize) -> Vec<ProductTerm> {
    let count = rng.gen_range(1..=3);
    let mut terms: Vec<ProductTerm> = (0..count)
        .map(|_| {
            let len = rng.gen_range(0..=degree);
            let coeff = match rng.gen_range(0..6) {
                0 => Fr::zero(),
                1 => -Fr::one(),
                2 => Fr::one(),
                _ => Fr::rand(rng),
            };
            ProductTerm {
                coeff,
                factors: (0..len).map(|_| rng.gen_range(0..k)).collect(),
            }
        })
        .collect();
    let mut top: Vec<usize> = (0..degree).map(|_| rng.gen_range(0..k)).collect();
    if degree >= 2 {
        top[1] = top[0];
    }
    terms.push(ProductTerm {
        coeff: Fr::rand(rng),
        factors: top,
    });
    terms
}

/// A bad sumcheck-round call: (case, MLEs, terms, degree).
type BadRound<'a> = (&'static str, Vec<&'a [Fr]>, Vec<ProductTerm>, usize);

/// One sumcheck round `[s(0), …, s(degree)]` for a sum of product terms.
pub fn check_sumcheck_round<B: Backend + ?Sized>(backend: &B) {
    sumcheck_round_small_sizes(backend);
    sumcheck_round_large(backend);
}

fn sumcheck_round_small_sizes<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x7363_0001);
    let oracle = reference();
    for k in 1..=4 {
        for degree in 1..=4 {
            for n in 1..=5 {
                let mles: Vec<Vec<Fr>> = (0..k).map(|_| rand_frs(&mut rng, 1 << n)).collect();
                let refs: Vec<&[Fr]> = mles.iter().map(Vec::as_slice).collect();
                let terms = rand_terms(&mut rng, k, degree);
                let context = format!("sumcheck_round k={k} degree={degree} n={n} terms={terms:?}");
                let got = expect_ok(&context, backend.sumcheck_round(&refs, &terms, degree));
                assert_eq!(
                    got.len(),
                    degree + 1,
                    "{context}: wrong number of evaluations"
                );
                let want = expect_ok("reference", oracle.sumcheck_round(&refs, &terms, degree));
                assert_eq!(got, want, "{context}: differs from the reference");
                assert_eq!(
                    got[0] + got[1],
                    hypercube_sum(&mles, &terms),
                    "{context}: s(0) + s(1) != Σ_x g(x)"
                );
            }
        }
    }
    let mles: Vec<Vec<Fr>> = (0..3).map(|_| rand_frs(&mut rng, 8)).collect();
    let refs: Vec<&[Fr]> = mles.iter().map(Vec::as_slice).collect();
    // Declared degree above every term's degree, a constant term, no terms.
    let cases: Vec<(&str, Vec<ProductTerm>, usize)> = vec![
        (
            "degree above the terms'",
            vec![ProductTerm::product(vec![0, 2])],
            4,
        ),
        (
            "constant term at degree 0",
            vec![ProductTerm {
                coeff: Fr::from(9u64),
                factors: vec![],
            }],
            0,
        ),
        ("no terms", vec![], 3),
        (
            "cube with p-1",
            vec![ProductTerm {
                coeff: -Fr::one(),
                factors: vec![1, 1, 1],
            }],
            3,
        ),
        (
            "maximal degree",
            vec![ProductTerm::product(vec![0, 1, 2, 0, 1, 2, 0, 1])],
            MAX_SUMCHECK_DEGREE,
        ),
    ];
    for (name, terms, degree) in cases {
        let got = expect_ok(name, backend.sumcheck_round(&refs, &terms, degree));
        let want = expect_ok("reference", oracle.sumcheck_round(&refs, &terms, degree));
        assert_eq!(
            got, want,
            "sumcheck_round {name}: differs from the reference"
        );
        assert_eq!(got.len(), degree + 1, "sumcheck_round {name}: wrong length");
        // At degree 0, s is the constant s(0).
        assert_eq!(
            got[0] + interpolate(&got, Fr::one()),
            hypercube_sum(&mles, &terms),
            "sumcheck_round {name}: s(0) + s(1)"
        );
    }
    // Bad input.
    let short = rand_frs(&mut rng, 4);
    let odd = rand_frs(&mut rng, 6);
    let one = rand_frs(&mut rng, 1);
    let prod = vec![ProductTerm::product(vec![0, 1])];
    let bad: Vec<BadRound<'_>> = vec![
        ("no MLEs", vec![], prod.clone(), 2),
        ("empty MLE", vec![&[][..], &[][..]], prod.clone(), 2),
        (
            "length-1 MLE",
            vec![one.as_slice(), one.as_slice()],
            prod.clone(),
            2,
        ),
        (
            "length 6",
            vec![odd.as_slice(), odd.as_slice()],
            prod.clone(),
            2,
        ),
        (
            "mismatched lengths",
            vec![refs[0], short.as_slice()],
            prod.clone(),
            2,
        ),
        (
            "degree above the maximum",
            vec![refs[0], refs[1]],
            prod.clone(),
            MAX_SUMCHECK_DEGREE + 1,
        ),
        (
            "term above the degree",
            vec![refs[0], refs[1]],
            vec![ProductTerm::product(vec![0, 1, 1])],
            2,
        ),
        (
            "factor out of range",
            vec![refs[0], refs[1]],
            vec![ProductTerm::product(vec![0, 2])],
            2,
        ),
    ];
    for (name, mles, terms, degree) in bad {
        assert_same_error(
            &format!("sumcheck_round {name}"),
            backend.sumcheck_round(&mles, &terms, degree),
            oracle.sumcheck_round(&mles, &terms, degree),
        );
    }
    full_sumcheck(backend, &mut rng, 3, 6);
}

/// A whole sumcheck on the backend: each round's `s(0) + s(1)` is the claim,
/// the next claim is `s(r)`, and after binding every variable the claim is
/// `g(f_0(r), …)` with `f(r) = Σ_x eq(r, x) f(x)`.
fn full_sumcheck<B: Backend + ?Sized>(backend: &B, rng: &mut ChaCha20Rng, k: usize, n: usize) {
    let mles: Vec<Vec<Fr>> = (0..k).map(|_| rand_frs(rng, 1 << n)).collect();
    let terms = rand_terms(rng, k, 3);
    let degree = 3;
    let mut claim = hypercube_sum(&mles, &terms);
    let mut bound = mles.clone();
    let mut point = Vec::new();
    for round in 0..n {
        let refs: Vec<&[Fr]> = bound.iter().map(Vec::as_slice).collect();
        let s = expect_ok(
            "sumcheck_round",
            backend.sumcheck_round(&refs, &terms, degree),
        );
        assert_eq!(
            s[0] + s[1],
            claim,
            "full sumcheck round {round}: s(0) + s(1) != claim"
        );
        let r = Fr::rand(rng);
        claim = interpolate(&s, r);
        point.push(r);
        for v in &mut bound {
            expect_ok("bind", backend.bind(v, r, BindSide::Low));
        }
    }
    let eq = expect_ok("reference eq_table", reference().eq_table(&point));
    let at_r: Vec<Vec<Fr>> = mles
        .iter()
        .map(|f| vec![eq.iter().zip(f).map(|(e, v)| *e * v).sum()])
        .collect();
    assert_eq!(
        claim,
        eval_g(&at_r, &terms, 0),
        "full sumcheck: final claim != g(f(r))"
    );
}

fn sumcheck_round_large<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x7363_0002);
    let n = 16;
    let mles: Vec<Vec<Fr>> = (0..3).map(|_| rand_frs(&mut rng, 1 << n)).collect();
    let refs: Vec<&[Fr]> = mles.iter().map(Vec::as_slice).collect();
    let cases = [
        ("prod2", vec![ProductTerm::product(vec![0, 1])], 2),
        (
            "eq·(a·b − c)",
            vec![
                ProductTerm::product(vec![2, 0, 1]),
                ProductTerm {
                    coeff: -Fr::one(),
                    factors: vec![2, 2],
                },
            ],
            3,
        ),
    ];
    for (name, terms, degree) in cases {
        let context = format!("sumcheck_round 2^16 {name}");
        let got = expect_ok(&context, backend.sumcheck_round(&refs, &terms, degree));
        let want = expect_ok("cpu", cpu().sumcheck_round(&refs, &terms, degree));
        assert_eq!(got, want, "{context}: differs from the CPU backend");
        assert_eq!(
            got[0] + got[1],
            hypercube_sum(&mles, &terms),
            "{context}: s(0) + s(1)"
        );
    }
}

// ---------------------------------------------------------------------------
// Group and field vector operations (the trait's provided methods)
// ---------------------------------------------------------------------------

/// `[base·s]` over G1 and G2.
pub fn check_fixed_base_mul<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x6662_6d00);
    let oracle = reference();
    for n in [0usize, 1, 5, 40] {
        let scalars = if n >= 4 {
            edge_frs(&mut rng, n)
        } else {
            rand_frs(&mut rng, n)
        };
        let g1 = G1Projective::generator() * Fr::rand(&mut rng);
        assert_eq!(
            backend.g1_fixed_base_mul(&g1, &scalars),
            oracle.g1_fixed_base_mul(&g1, &scalars),
            "g1_fixed_base_mul n={n}: differs from the reference"
        );
        let g2 = G2Projective::generator() * Fr::rand(&mut rng);
        assert_eq!(
            backend.g2_fixed_base_mul(&g2, &scalars),
            oracle.g2_fixed_base_mul(&g2, &scalars),
            "g2_fixed_base_mul n={n}: differs from the reference"
        );
    }
    let scalars = rand_frs(&mut rng, 20);
    assert!(
        backend
            .g1_fixed_base_mul(&G1Projective::zero(), &scalars)
            .iter()
            .all(Zero::is_zero),
        "g1_fixed_base_mul of the identity must be the identity"
    );
}

/// `vs += s·bases`, `vs = s·vs + addends` over G1 and G2, and `left = left·s + right` over Fr.
pub fn check_scale_ops<B: Backend + ?Sized>(backend: &B) {
    let mut rng = rng(0x7363_6c00);
    let oracle = reference();
    for n in [0usize, 1, 9] {
        for scalar in [Fr::rand(&mut rng), Fr::zero(), -Fr::one()] {
            let to_proj1 =
                |v: Vec<G1Affine>| -> Vec<G1Projective> { v.into_iter().map(Into::into).collect() };
            let to_proj2 =
                |v: Vec<G2Affine>| -> Vec<G2Projective> { v.into_iter().map(Into::into).collect() };
            let b1 = to_proj1(rand_points(&mut rng, n));
            let v1 = to_proj1(rand_points(&mut rng, n));
            let (mut got, mut want) = (v1.clone(), v1.clone());
            backend.g1_scale_bases_add(&b1, &mut got, &scalar);
            oracle.g1_scale_bases_add(&b1, &mut want, &scalar);
            assert_eq!(
                got, want,
                "g1_scale_bases_add n={n}: differs from the reference"
            );
            let (mut got, mut want) = (v1.clone(), v1.clone());
            backend.g1_scale_vs_add(&mut got, &b1, &scalar);
            oracle.g1_scale_vs_add(&mut want, &b1, &scalar);
            assert_eq!(
                got, want,
                "g1_scale_vs_add n={n}: differs from the reference"
            );
            let b2 = to_proj2(rand_points(&mut rng, n));
            let v2 = to_proj2(rand_points(&mut rng, n));
            let (mut got, mut want) = (v2.clone(), v2.clone());
            backend.g2_scale_bases_add(&b2, &mut got, &scalar);
            oracle.g2_scale_bases_add(&b2, &mut want, &scalar);
            assert_eq!(
                got, want,
                "g2_scale_bases_add n={n}: differs from the reference"
            );
            let (mut got, mut want) = (v2.clone(), v2);
            backend.g2_scale_vs_add(&mut got, &b2, &scalar);
            oracle.g2_scale_vs_add(&mut want, &b2, &scalar);
            assert_eq!(
                got, want,
                "g2_scale_vs_add n={n}: differs from the reference"
            );
        }
    }
    for n in [0usize, 1, 100, 5000] {
        let scalar = Fr::rand(&mut rng);
        let left = rand_frs(&mut rng, n);
        let right = rand_frs(&mut rng, n);
        let (mut got, mut want) = (left.clone(), left);
        backend.fr_scale_add(&mut got, &right, &scalar);
        oracle.fr_scale_add(&mut want, &right, &scalar);
        assert_eq!(got, want, "fr_scale_add n={n}: differs from the reference");
    }
}

/// Name, device report and `synchronize`.
pub fn check_metadata<B: Backend + ?Sized>(backend: &B) {
    assert!(!backend.name().is_empty(), "backend name must not be empty");
    assert!(
        !backend.device().name.is_empty(),
        "{}: device name must not be empty",
        backend.name()
    );
    expect_ok("synchronize", backend.synchronize());
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Every check, including the large sizes compared with the CPU backend.
pub fn run_all<B: Backend + ?Sized>(backend: &B) {
    check_metadata(backend);
    check_msm_g1(backend);
    check_msm_g1_small(backend);
    check_msm_g2(backend);
    check_msm_g1_batch(backend);
    check_msm_g1_small_batch(backend);
    check_ntt(backend);
    check_intt(backend);
    check_eq_table(backend);
    check_bind(backend);
    check_inner_product(backend);
    check_sumcheck_round(backend);
    check_fixed_base_mul(backend);
    check_scale_ops(backend);
}

/// The checks against the reference at small sizes, edge cases and typed errors
/// only: cheap enough to run the reference backend against itself.
pub fn run_small<B: Backend + ?Sized>(backend: &B) {
    check_metadata(backend);
    msm_g1_small_sizes(backend);
    msm_g1_small_values_small_sizes(backend);
    msm_g2_small_sizes(backend);
    msm_g1_batch_small_sizes(backend);
    msm_g1_small_batch_small_sizes(backend);
    ntt_small_sizes(backend);
    intt_small_sizes(backend);
    eq_table_small_sizes(backend);
    bind_small_sizes(backend);
    inner_product_small_sizes(backend);
    sumcheck_round_small_sizes(backend);
    check_fixed_base_mul(backend);
    check_scale_ops(backend);
}
