//! The wgpu backend against the CPU backend and the naive reference: the field
//! and curve formulas against arkworks, the whole conformance suite (every
//! result equal to the CPU's), the same suite with the device's limits shrunk so
//! that inputs are split across storage bindings and dispatched on 2-D grids, a
//! 256 MiB eq-table past the real binding and 65535-workgroup limits, the
//! resident-bases cache, typed device errors, and a shipped model proved with
//! `--device wgpu`.
//!
//! Without a wgpu adapter these tests print why and pass, unless
//! `ZKINFER_REQUIRE_WGPU=1` is set (CI sets it, with Mesa's lavapipe installed),
//! which turns "no adapter" into a failure.
#![cfg(feature = "wgpu")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::{AdditiveGroup, CurveGroup, PrimeGroup};
use ark_ff::{One, Zero};
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::conformance;
use zkinfer::backend::wgpu::{shaders, words, LimitOverrides, WgpuBackend, WgpuOptions};
use zkinfer::backend::{Backend, BackendError, BindSide, CpuBackend, SmallScalars};
use zkinfer::config::{OffloadConfig, WgpuConfig};

/// Set to 1 to make a missing adapter a test failure.
const REQUIRE: &str = "ZKINFER_REQUIRE_WGPU";

fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// Every size goes to the GPU (no hand-back to the CPU below a threshold).
fn all_on_gpu() -> WgpuConfig {
    WgpuConfig {
        offload: OffloadConfig {
            msm_min_len: 0,
            ntt_min_len: 0,
            multilinear_min_len: 0,
        },
        ..WgpuConfig::defaults()
    }
}

fn open(limits: LimitOverrides) -> Option<WgpuBackend> {
    let options = WgpuOptions {
        api: None,
        allow_software: true,
        config: all_on_gpu(),
        limits,
    };
    match WgpuBackend::new(options) {
        Ok(backend) => Some(backend),
        Err(e) if required() => panic!("{REQUIRE}=1 but the wgpu backend cannot open: {e}"),
        Err(e) => {
            eprintln!("skipping the wgpu tests: {e}");
            None
        }
    }
}

/// The backend with the device's own limits.
fn gpu() -> Option<&'static WgpuBackend> {
    static GPU: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    GPU.get_or_init(|| open(LimitOverrides::default())).as_ref()
}

/// The backend with 64 KiB bindings (2048 field elements, 1024 bases) and 16
/// workgroups per dimension: 2-D grids beyond 1024 threads (no dispatch under
/// 64 KiB bindings needs more than the 16 × 16 × 64 threads this allows).
fn tight() -> Option<&'static WgpuBackend> {
    static TIGHT: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    TIGHT
        .get_or_init(|| {
            open(LimitOverrides {
                max_binding_bytes: Some(64 << 10),
                max_workgroups_per_dim: Some(16),
            })
        })
        .as_ref()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Fr and Fq as the GPU stores them: arkworks' Montgomery limbs.
trait GpuField: ark_ff::PrimeField<BigInt = ark_ff::BigInt<4>> {
    fn limbs(&self) -> [u64; 4];
    fn from_limbs(limbs: [u64; 4]) -> Self;
}

impl GpuField for Fr {
    fn limbs(&self) -> [u64; 4] {
        self.0 .0
    }
    fn from_limbs(limbs: [u64; 4]) -> Self {
        Fr::new_unchecked(ark_ff::BigInt(limbs))
    }
}

impl GpuField for Fq {
    fn limbs(&self) -> [u64; 4] {
        self.0 .0
    }
    fn from_limbs(limbs: [u64; 4]) -> Self {
        Fq::new_unchecked(ark_ff::BigInt(limbs))
    }
}

fn field_bytes<F: GpuField>(v: &[F]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| x.limbs().into_iter().flat_map(u64::to_le_bytes))
        .collect()
}

fn limbs_of(bytes: &[u8]) -> Vec<[u64; 4]> {
    bytes
        .chunks_exact(32)
        .map(|b| {
            let mut l = [0u64; 4];
            for (limb, w) in l.iter_mut().zip(b.chunks_exact(8)) {
                *limb = u64::from_le_bytes(w.try_into().unwrap());
            }
            l
        })
        .collect()
}

/// Random pairs, with 0, 1, 2, p − 1 and p − 2 against each other first.
fn field_pairs<F: GpuField>(rng: &mut ChaCha20Rng, n: usize) -> (Vec<F>, Vec<F>) {
    let edges = [
        F::zero(),
        F::one(),
        F::from(2u64),
        -F::one(),
        -F::from(2u64),
    ];
    let mut a: Vec<F> = (0..n).map(|_| F::rand(rng)).collect();
    let mut b: Vec<F> = (0..n).map(|_| F::rand(rng)).collect();
    for (i, x) in edges.iter().enumerate() {
        for (j, y) in edges.iter().enumerate() {
            a[i * edges.len() + j] = *x;
            b[i * edges.len() + j] = *y;
        }
    }
    (a, b)
}

/// Runs a `*_ops` self-test kernel and checks a + b, a − b, a·b, from_mont(a), −a.
fn check_field_ops<F: GpuField>(backend: &WgpuBackend, entry: &'static str, seed: u64) {
    let g = backend.gpu();
    let n = 4096;
    let (a, b) = field_pairs::<F>(&mut rng(seed), n);
    let k = g
        .kernel("selftest", &shaders::selftest_module, entry)
        .unwrap();
    let buf_a = g.buffer_with("a", &field_bytes(&a));
    let buf_b = g.buffer_with("b", &field_bytes(&b));
    let out = g.buffer("out", (5 * n * 32) as u64);
    let mut cmd = g.encoder();
    cmd.dispatch(
        &k,
        &[n as u32],
        &[(1, &buf_a), (2, &buf_b), (3, &out)],
        n as u64,
    )
    .unwrap();
    let id = cmd.read(&out, 0, (5 * n * 32) as u64);
    let got = limbs_of(&cmd.submit("selftest").unwrap().take(id));
    let modulus = F::MODULUS.0;
    let reduced = |l: &[u64; 4]| {
        (0..4)
            .rev()
            .find(|&i| l[i] != modulus[i])
            .is_some_and(|i| l[i] < modulus[i])
    };
    for i in 0..n {
        let row = &got[5 * i..5 * i + 5];
        assert!(
            row.iter().all(reduced),
            "{entry} pair {i}: a result is not below p"
        );
        let want = [a[i] + b[i], a[i] - b[i], a[i] * b[i]];
        for (k, w) in want.iter().enumerate() {
            assert_eq!(F::from_limbs(row[k]), *w, "{entry} pair {i}, op {k}");
        }
        assert_eq!(row[3], a[i].into_bigint().0, "{entry} pair {i}: from_mont");
        assert_eq!(F::from_limbs(row[4]), -a[i], "{entry} pair {i}: negation");
    }
}

#[test]
fn field_formulas_match_arkworks() {
    let Some(backend) = gpu() else { return };
    check_field_ops::<Fr>(backend, "fr_ops", 1);
    check_field_ops::<Fq>(backend, "fq_ops", 2);
}

#[test]
fn curve_formulas_match_arkworks() {
    let Some(backend) = gpu() else { return };
    let g = backend.gpu();
    let mut rng = rng(3);
    let n = 64;
    // Doubling, Jacobian and mixed additions (P = Q, P = −Q, identities, equal
    // points with different Z) and k·P for small k.
    let gen = G1Projective::generator();
    let mut p: Vec<G1Projective> = (0..n).map(|_| gen * Fr::rand(&mut rng)).collect();
    let mut q: Vec<G1Projective> = (0..n).map(|_| gen * Fr::rand(&mut rng)).collect();
    p[0] = G1Projective::zero();
    q[1] = G1Projective::zero();
    q[2] = p[2];
    q[3] = -p[3];
    q[4] = p[4].double() - p[4];
    p[5] = G1Projective::zero();
    q[5] = G1Projective::zero();
    let qa: Vec<G1Affine> = q.iter().map(|x| x.into_affine()).collect();
    let ks: Vec<u32> = (0..n as u32)
        .map(|i| if i < 4 { i } else { 65535 - i * 7 })
        .collect();
    let k = g
        .kernel("selftest", &shaders::selftest_module, "g1_ops")
        .unwrap();
    let buf_p = g.buffer_with("p", &words::jacobian_bytes(&p));
    let buf_q = g.buffer_with("q", &words::jacobian_bytes(&q));
    let buf_qa = g.buffer_with("qa", &words::affine_bytes(&qa));
    let out = g.buffer("out", (4 * n * 96) as u64);
    let mut params = vec![n as u32];
    params.extend(&ks);
    let mut cmd = g.encoder();
    cmd.dispatch(
        &k,
        &params,
        &[(4, &buf_p), (5, &buf_q), (6, &buf_qa), (7, &out)],
        n as u64,
    )
    .unwrap();
    let id = cmd.read(&out, 0, (4 * n * 96) as u64);
    let got = words::jacobian_from_bytes(&cmd.submit("g1 selftest").unwrap().take(id));
    for i in 0..n {
        let want = [
            p[i].double(),
            p[i] + q[i],
            p[i] + qa[i],
            p[i] * Fr::from(ks[i] as u64),
        ];
        assert_eq!(&got[4 * i..4 * i + 4], &want, "G1 ops on case {i}");
    }
}

/// One test per primitive on the device's own limits.
macro_rules! conformance_tests {
    ($($name:ident => $check:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(backend) = gpu() {
                    conformance::$check(backend);
                }
            }
        )*
    };
}

conformance_tests! {
    msm_g1 => check_msm_g1,
    msm_g1_small => check_msm_g1_small,
    msm_g1_batch => check_msm_g1_batch,
    msm_g1_small_batch => check_msm_g1_small_batch,
    ntt => check_ntt,
    intt => check_intt,
    eq_table => check_eq_table,
    bind => check_bind,
    inner_product => check_inner_product,
    sumcheck_round => check_sumcheck_round,
}

/// Shrunk limits: every small-size check (with 64 KiB bindings even the
/// 200-point MSMs are cut into column chunks, and batches into row groups)...
#[test]
fn tight_limits_small_sizes() {
    if let Some(backend) = tight() {
        conformance::run_small(backend);
    }
}

/// ... and the large sizes of the field kernels, which span many bindings
/// (2^16-entry eq-tables, binds and sumcheck rounds; 2^12-point NTT batches).
#[test]
fn tight_limits_large_field_kernels() {
    if let Some(backend) = tight() {
        conformance::check_ntt(backend);
        conformance::check_intt(backend);
        conformance::check_eq_table(backend);
        conformance::check_bind(backend);
        conformance::check_inner_product(backend);
        conformance::check_sumcheck_round(backend);
    }
}

#[test]
fn metadata_and_delegated_operations() {
    let Some(backend) = gpu() else { return };
    conformance::check_metadata(backend);
    // G2 MSMs and the element-wise group operations run on the CPU backend.
    conformance::check_msm_g2(backend);
    conformance::check_fixed_base_mul(backend);
    conformance::check_scale_ops(backend);
    let caps = backend.capabilities();
    assert!(caps.msm_g1 && caps.ntt && caps.multilinear && !caps.msm_g2);
    assert_eq!(backend.name(), "wgpu");
}

/// The real limits, with a cheap kernel: a 2^23-entry eq-table is 256 MiB, two
/// pieces on a device with 128 MiB storage bindings (lavapipe, most GPUs), and
/// each piece of 2^22 entries needs 65536 workgroups of 64 threads, one more than
/// a dimension allows, so it goes out on a 2-D grid.
#[test]
fn eq_table_past_the_real_limits() {
    let Some(backend) = gpu() else { return };
    let g = backend.gpu();
    let n = 23;
    let per_piece = g.items_per_binding(32).min(1 << n);
    let limit = g.limits().max_compute_workgroups_per_dimension as usize;
    assert!(per_piece / 64 > limit, "limit {limit}, piece {per_piece}");
    if g.max_binding() <= 128 << 20 {
        assert!(per_piece < 1 << n, "2^{n} entries fit one binding");
    }
    let mut rng = rng(4);
    let point: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    let got = backend.eq_table(&point).unwrap();
    let want = CpuBackend::default().eq_table(&point).unwrap();
    assert!(got == want, "eq_table 2^{n} differs from the CPU backend");
}

/// MSM inputs the conformance suite does not stress: one very heavy bucket
/// (all scalars equal), maximal scalars, i64::MIN everywhere, all on both limits.
#[test]
fn msm_heavy_buckets_and_extremes() {
    let cpu = CpuBackend::default();
    for backend in [gpu(), tight()].into_iter().flatten() {
        let mut rng = rng(5);
        // More than the 1024 points a 64 KiB binding holds.
        let n = 1200;
        let gen = G1Projective::generator();
        let mut bases: Vec<G1Affine> = (0..n)
            .map(|_| (gen * Fr::rand(&mut rng)).into_affine())
            .collect();
        bases[7] = G1Affine::identity();
        let c = Fr::rand(&mut rng);
        for (name, scalars) in [
            ("all equal", vec![c; n]),
            ("all one", vec![Fr::one(); n]),
            ("all p-1", vec![-Fr::one(); n]),
        ] {
            assert_eq!(
                backend.msm_g1(&bases, &scalars).unwrap(),
                cpu.msm_g1(&bases, &scalars).unwrap(),
                "msm_g1 {name}"
            );
        }
        for (name, values) in [
            ("all i64::MIN", vec![i64::MIN; n]),
            ("all 1", vec![1i64; n]),
            ("all -3", vec![-3i64; n]),
        ] {
            assert_eq!(
                backend
                    .msm_g1_small(&bases, SmallScalars::I64(&values))
                    .unwrap(),
                cpu.msm_g1_small(&bases, SmallScalars::I64(&values))
                    .unwrap(),
                "msm_g1_small {name}"
            );
        }
    }
}

/// Bases stay resident between calls, keyed by their contents: a prefix reuses
/// them, and a changed point of the same length is never served stale.
#[test]
fn resident_bases_are_exact() {
    let Some(backend) = gpu() else { return };
    let cpu = CpuBackend::default();
    let mut rng = rng(6);
    let n = 1024;
    let gen = G1Projective::generator();
    let mut bases: Vec<G1Affine> = (0..n)
        .map(|_| (gen * Fr::rand(&mut rng)).into_affine())
        .collect();
    let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    for round in 0..3 {
        let prefix = n >> round;
        assert_eq!(
            backend
                .msm_g1(&bases[..prefix], &scalars[..prefix])
                .unwrap(),
            cpu.msm_g1(&bases[..prefix], &scalars[..prefix]).unwrap(),
            "prefix of {prefix} points"
        );
    }
    bases[n / 2] = (gen * Fr::rand(&mut rng)).into_affine();
    assert_eq!(
        backend.msm_g1(&bases, &scalars).unwrap(),
        cpu.msm_g1(&bases, &scalars).unwrap(),
        "one base changed"
    );
    let rows: Vec<i64> = (0..4 * n as i64).map(|i| (i * 37) % 255 - 127).collect();
    assert_eq!(
        backend
            .msm_g1_small_batch(&bases, SmallScalars::I64(&rows))
            .unwrap(),
        cpu.msm_g1_small_batch(&bases, SmallScalars::I64(&rows))
            .unwrap(),
        "batch over the changed bases"
    );
    // Fill the cache with the bases of batched MSMs (kept first), then run single
    // MSMs over new bases: they are uploaded for the call only, and still exact.
    let sets: Vec<Vec<G1Affine>> = (0..6)
        .map(|_| {
            (0..256)
                .map(|_| (gen * Fr::rand(&mut rng)).into_affine())
                .collect()
        })
        .collect();
    let values: Vec<i64> = (0..2 * 256).map(|i| (i * 7919) % 1001 - 500).collect();
    for (i, set) in sets.iter().enumerate() {
        let want_batch = cpu
            .msm_g1_small_batch(set, SmallScalars::I64(&values))
            .unwrap();
        let want_single = cpu.msm_g1(set, &scalars[..256]).unwrap();
        if i < 4 {
            let got = backend
                .msm_g1_small_batch(set, SmallScalars::I64(&values))
                .unwrap();
            assert_eq!(got, want_batch, "batch over set {i}");
        }
        let got = backend.msm_g1(set, &scalars[..256]).unwrap();
        assert_eq!(got, want_single, "single MSM over set {i}");
    }
}

/// A device error (here a buffer larger than the device allows) is returned as
/// `BackendError::Device`, never a panic, and the device keeps working.
#[test]
fn device_errors_are_typed() {
    let Some(backend) = gpu() else { return };
    let g = backend.gpu();
    let too_big = g.limits().max_buffer_size.saturating_add(1 << 20);
    let err = g
        .scoped("oversized buffer", || {
            let _buffer = g.buffer("too big", too_big);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Device { .. }), "{err}");
    let mut v: Vec<Fr> = (0..1u64 << 14).map(Fr::from).collect();
    let mut w = v.clone();
    backend
        .bind(&mut v, Fr::from(3u64), BindSide::High)
        .unwrap();
    CpuBackend::default()
        .bind(&mut w, Fr::from(3u64), BindSide::High)
        .unwrap();
    assert_eq!(v, w, "the device works after an error");
}

/// Runs zkinfer with the shared test cache and `kernels` as the tuning directory.
fn zkinfer(args: &[&str], kernels: &std::path::Path) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(args)
        .env("ZKINFER_CACHE_DIR", root.join("target").join("test-cache"))
        .env("ZKINFER_KERNELS_CONFIG", kernels)
        .env_remove("ZKINFER_KEYS")
        .output()
        .expect("zkinfer runs")
}

/// The shipped payment-authorization model proves on the wgpu backend, the
/// proof verifies in another process, and it is byte for byte the CPU's proof
/// (the prover is deterministic and every backend result is exact). The wgpu
/// run uses a tuning with no offload sizes, so every MSM, eq-table, bind, inner
/// product and sumcheck round of the proof runs on the GPU.
#[test]
fn shipped_model_proves_with_device_wgpu() {
    if gpu().is_none() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/authorization/network.onnx");
    let input = root.join("models/authorization/input.json");
    let dir = tempfile::tempdir().unwrap();
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    std::fs::write(
        kernels.join("wgpu.toml"),
        toml::to_string(&all_on_gpu()).unwrap(),
    )
    .unwrap();
    let mut proofs = Vec::new();
    for device in ["wgpu", "cpu"] {
        let proof = dir.path().join(format!("{device}.proof"));
        let out = zkinfer(
            &[
                "prove",
                model.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--proof",
                proof.to_str().unwrap(),
                "--device",
                device,
                "--json",
            ],
            &kernels,
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "prove --device {device}: {text}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["device"], device, "{text}");
        let out = zkinfer(
            &[
                "verify",
                model.to_str().unwrap(),
                "--proof",
                proof.to_str().unwrap(),
            ],
            &kernels,
        );
        assert!(
            out.status.success(),
            "verify the {device} proof: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        proofs.push(std::fs::read(&proof).unwrap());
    }
    assert!(
        proofs[0] == proofs[1],
        "the wgpu proof differs from the CPU proof"
    );
}
