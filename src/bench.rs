//! `zkinfer bench primitives`: times every heavy primitive (MSM with full and
//! 8/16/32-bit scalars, NTT, Dory commit and open) on each selected device, and
//! reports medians with the speed-up against the CPU backend. The end-to-end
//! model bench (`zkinfer bench`, `bench models`) is [`models`].
//!
//! This module owns the measurement loop and the result rows; the CLI formats
//! them. Inputs are seeded, so runs are comparable.

use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::PrimeGroup;
use ark_std::UniformRand;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::backend::registry::{self, DeviceChoice, SelectedBackend};
use crate::backend::SmallScalars;
use crate::pcs::{self, DorySetup, GlobalBackend, Layout, MultilinearPoly};

pub mod models;

/// Parses a `--device` list: `all` (every device zkinfer knows of; select them
/// with [`registry::select_present`]), or comma-separated choices
/// (`cpu,cuda:1,wgpu`).
pub fn parse_devices(text: &str) -> Result<Vec<DeviceChoice>, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(vec![
            DeviceChoice::Cpu,
            DeviceChoice::Cuda(None),
            DeviceChoice::Metal,
            DeviceChoice::Wgpu(None),
        ]);
    }
    text.split(',').map(|d| d.trim().parse()).collect()
}

/// One primitive the bench times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    MsmFull,
    MsmI8,
    MsmI16,
    MsmI32,
    Ntt,
    DoryCommitSquare,
    DoryCommitWide,
    DoryOpenSquare,
    /// `dory_pcs::prove` itself (dory-pcs's arkworks routines and polynomial
    /// type) on the same polynomial, point and layout as `DoryOpenSquare`: the
    /// baseline zkinfer's opening is compared with. CPU only.
    DoryOpenDoryPcs,
}

impl Primitive {
    /// Every primitive, in table order.
    pub const ALL: [Primitive; 9] = [
        Primitive::MsmFull,
        Primitive::MsmI8,
        Primitive::MsmI16,
        Primitive::MsmI32,
        Primitive::Ntt,
        Primitive::DoryCommitSquare,
        Primitive::DoryCommitWide,
        Primitive::DoryOpenSquare,
        Primitive::DoryOpenDoryPcs,
    ];

    /// Stable name used in tables and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Primitive::MsmFull => "msm_g1/full",
            Primitive::MsmI8 => "msm_g1/i8",
            Primitive::MsmI16 => "msm_g1/i16",
            Primitive::MsmI32 => "msm_g1/i32",
            Primitive::Ntt => "ntt",
            Primitive::DoryCommitSquare => "dory_commit/i8/square",
            Primitive::DoryCommitWide => "dory_commit/i8/wide",
            Primitive::DoryOpenSquare => "dory_open/square",
            Primitive::DoryOpenDoryPcs => "dory_open/dory_pcs",
        }
    }
}

/// The "wide" layout the bench compares with the square one: 8x fewer rows
/// (cheaper commitments, dearer openings; see `pcs` docs).
pub fn wide_layout(log_size: usize) -> Layout {
    let nu = (log_size / 2).saturating_sub(3);
    Layout::with_rows(log_size, nu).expect("nu <= log_size / 2 <= sigma")
}

/// One measured cell of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub op: &'static str,
    pub log_size: usize,
    pub device: String,
    /// Layout of Dory rows, for Dory ops (`2^nu x 2^sigma`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub runs: usize,
    /// CPU median / this median (1.0 for the CPU itself).
    pub speedup_vs_cpu: Option<f64>,
    /// Median CPU-seconds of all the process's threads per run (Linux), which
    /// other processes on the machine inflate far less than wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_median_s: Option<f64>,
    /// For `dory_open/square`: the `dory_open/dory_pcs` median of the same size
    /// divided by this median (when both were run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_dory_pcs: Option<f64>,
    /// The same ratio of CPU-second medians.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_speedup_vs_dory_pcs: Option<f64>,
    /// For `dory_open/square`: share of the opening's time per kind of work
    /// ([`pcs::OpenProfile`]), over all measured runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<(&'static str, f64)>>,
}

/// A device that could not be benchmarked, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedDevice {
    pub device: String,
    pub reason: String,
}

/// Everything one `bench primitives` run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub measurements: Vec<Measurement>,
    pub skipped: Vec<SkippedDevice>,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    pub devices: Vec<DeviceChoice>,
    /// `devices` came from `--device all`: see [`registry::select_present`].
    pub every_present: bool,
    pub log_sizes: Vec<usize>,
    /// Measured runs per cell (after one warm-up).
    pub repeats: usize,
    pub primitives: Vec<Primitive>,
}

/// Seeded inputs shared by all devices for one size.
struct Inputs {
    bases: Vec<G1Affine>,
    scalars: Vec<Fr>,
    i8: Vec<i32>,
    i16: Vec<i32>,
    i32: Vec<i32>,
    poly_i8: MultilinearPoly,
    point: Vec<Fr>,
}

impl Inputs {
    fn new(log_size: usize) -> Self {
        let n = 1usize << log_size;
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed + log_size as u64);
        let base_scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let table = BatchMulPreprocessing::new(G1Projective::generator(), n);
        let bases = table.batch_mul(&base_scalars);
        let scalars = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let mut signed = |bits: u32| -> Vec<i32> {
            (0..n)
                .map(|_| {
                    let span = 1u64 << bits;
                    ((rng.next_u64() % span) as i64 - (span / 2) as i64) as i32
                })
                .collect()
        };
        let i8 = signed(8);
        let i16 = signed(16);
        let i32 = signed(32);
        let poly_i8 = MultilinearPoly::from_small(i8.iter().map(|&v| v as i64).collect())
            .expect("power of two");
        let point = (0..log_size).map(|_| Fr::rand(&mut rng)).collect();
        Inputs {
            bases,
            scalars,
            i8,
            i16,
            i32,
            poly_i8,
            point,
        }
    }
}

/// CPU time used so far by every live thread of this process, from Linux's
/// `/proc/self/task/*/schedstat` (nanoseconds); `None` where that is absent.
/// Rayon's workers live as long as the process, so a difference of two readings
/// is the CPU time of the work in between: unlike wall time, it does not grow
/// when other processes share the cores.
pub fn process_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    let mut any = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue; // a thread that just exited
        };
        if let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += ns;
            any = true;
        }
    }
    any.then(|| Duration::from_nanos(total))
}

/// Wall and CPU time of one measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Option<Duration>,
}

fn time_runs(repeats: usize, mut f: impl FnMut()) -> Vec<Run> {
    f(); // warm-up (caches, thread pool, lazily built tables)
    (0..repeats.max(1))
        .map(|_| {
            let cpu_start = process_cpu_time();
            let start = Instant::now();
            f();
            let wall = start.elapsed();
            let cpu = cpu_start
                .zip(process_cpu_time())
                .map(|(a, b)| b.saturating_sub(a));
            Run { wall, cpu }
        })
        .collect()
}

fn run_primitive<B: GlobalBackend>(
    backend: &B,
    primitive: Primitive,
    inputs: &Inputs,
    log_size: usize,
    setup: &DorySetup,
    repeats: usize,
) -> anyhow::Result<(Vec<Run>, Option<Layout>, Option<pcs::OpenProfile>)> {
    let n = 1usize << log_size;
    let mut profile = None;
    let bases = &inputs.bases[..n];
    let mut failure = None;
    let mut record = |r: Result<(), String>| {
        if let Err(e) = r {
            failure.get_or_insert(e);
        }
    };
    let mut layout = None;
    let times = match primitive {
        Primitive::MsmFull => time_runs(repeats, || {
            record(
                backend
                    .msm_g1(bases, &inputs.scalars)
                    .map(drop)
                    .map_err(|e| e.to_string()),
            )
        }),
        Primitive::MsmI8 | Primitive::MsmI16 | Primitive::MsmI32 => {
            let values = match primitive {
                Primitive::MsmI8 => &inputs.i8,
                Primitive::MsmI16 => &inputs.i16,
                _ => &inputs.i32,
            };
            time_runs(repeats, || {
                record(
                    backend
                        .msm_g1_small(bases, SmallScalars::I32(values))
                        .map(drop)
                        .map_err(|e| e.to_string()),
                )
            })
        }
        Primitive::Ntt => {
            let mut data = inputs.scalars.clone();
            time_runs(repeats, || {
                record(backend.ntt(&mut data, n, None).map_err(|e| e.to_string()))
            })
        }
        Primitive::DoryCommitSquare | Primitive::DoryCommitWide => {
            let l = if primitive == Primitive::DoryCommitSquare {
                Layout::square(log_size)
            } else {
                wide_layout(log_size)
            };
            layout = Some(l);
            time_runs(repeats, || {
                record(
                    pcs::commit(backend, &inputs.poly_i8, l, setup)
                        .map(drop)
                        .map_err(|e| e.to_string()),
                )
            })
        }
        Primitive::DoryOpenSquare => {
            let l = Layout::square(log_size);
            layout = Some(l);
            let (commitment, hint) = pcs::commit(backend, &inputs.poly_i8, l, setup)?;
            let open = |split: Option<&mut pcs::OpenProfile>| {
                let mut transcript =
                    dory_pcs::backends::arkworks::Blake2bTranscript::new(b"zkinfer-bench");
                pcs::open_profiled::<B, _>(
                    &inputs.poly_i8,
                    &commitment,
                    &hint,
                    &inputs.point,
                    setup,
                    &mut transcript,
                    split,
                )
                .map(drop)
                .map_err(|e| e.to_string())
            };
            let times = time_runs(repeats, || record(open(None)));
            // One more, profiled run (its parts one after another) for the split.
            let mut split = pcs::OpenProfile::default();
            open(Some(&mut split)).map_err(|e| anyhow::anyhow!(e))?;
            profile = Some(split);
            times
        }
        Primitive::DoryOpenDoryPcs => {
            use dory_pcs::backends::arkworks::{
                ArkFr, ArkG1, ArkworksPolynomial, Blake2bTranscript, G1Routines, G2Routines, BN254,
            };
            let l = Layout::square(log_size);
            layout = Some(l);
            let (_, hint) = pcs::commit(backend, &inputs.poly_i8, l, setup)?;
            let poly =
                ArkworksPolynomial::new(inputs.poly_i8.to_field().into_iter().map(ArkFr).collect());
            let point: Vec<ArkFr> = inputs.point.iter().map(|p| ArkFr(*p)).collect();
            let rows: Vec<ArkG1> = hint.rows.clone();
            // dory-pcs's prepared-G2 cache, as its own benches use it.
            setup.prepare_pairing_cache();
            time_runs(repeats, || {
                let mut transcript = Blake2bTranscript::<BN254>::new(b"zkinfer-bench");
                record(
                    dory_pcs::prove::<_, BN254, G1Routines, G2Routines, _, _, dory_pcs::Transparent>(
                        &poly,
                        &point,
                        rows.clone(),
                        ArkFr(Fr::from(0u64)),
                        l.nu,
                        l.sigma,
                        &setup.prover,
                        &mut transcript,
                    )
                    .map(drop)
                    .map_err(|e| e.to_string()),
                )
            })
        }
    };
    match failure {
        Some(e) => Err(anyhow::anyhow!("{} at 2^{log_size}: {e}", primitive.name())),
        None => Ok((times, layout, profile)),
    }
}

fn summarize(times: &[Duration]) -> (f64, f64, f64) {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let median = if secs.len() % 2 == 1 {
        secs[secs.len() / 2]
    } else {
        (secs[secs.len() / 2 - 1] + secs[secs.len() / 2]) / 2.0
    };
    (median, secs[0], secs[secs.len() - 1])
}

/// Runs the benchmark. `on_step` is called after each cell (for a progress bar)
/// with a short description.
pub fn run(
    options: &Options,
    setup_cache_dir: &std::path::Path,
    mut on_step: impl FnMut(&str),
) -> anyhow::Result<Report> {
    let mut selected: Vec<(String, SelectedBackend)> = Vec::new();
    let mut skipped = Vec::new();
    for choice in &options.devices {
        match registry::select_in_list(*choice, options.every_present) {
            Ok(backend) => {
                let name = backend.as_dyn().name().to_string();
                if !selected.iter().any(|(n, _)| *n == name) {
                    selected.push((name, backend));
                }
            }
            Err(e) => skipped.push(SkippedDevice {
                device: choice.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    let max_sigma = options
        .log_sizes
        .iter()
        .map(|&l| Layout::square(l).sigma.max(wide_layout(l).sigma))
        .max()
        .unwrap_or(1);
    let setup = DorySetup::load_or_derive(pcs::setup::DEFAULT_SEED, max_sigma, setup_cache_dir)?;
    setup.prepare_pairing_cache();

    let mut measurements = Vec::new();
    for &log_size in &options.log_sizes {
        let inputs = Inputs::new(log_size);
        for &primitive in &options.primitives {
            let mut cpu_median = None;
            for (name, backend) in &selected {
                if primitive == Primitive::DoryOpenDoryPcs && name != "cpu" {
                    continue; // the baseline does not use the backend
                }
                let (times, layout, profile) = match backend {
                    SelectedBackend::Cpu(b) => {
                        run_primitive(*b, primitive, &inputs, log_size, &setup, options.repeats)?
                    }
                    #[cfg(feature = "icicle")]
                    SelectedBackend::Icicle(b) => {
                        run_primitive(*b, primitive, &inputs, log_size, &setup, options.repeats)?
                    }
                    #[cfg(feature = "wgpu")]
                    SelectedBackend::Wgpu(b) => {
                        run_primitive(*b, primitive, &inputs, log_size, &setup, options.repeats)?
                    }
                };
                let walls: Vec<Duration> = times.iter().map(|r| r.wall).collect();
                let (median, min, max) = summarize(&walls);
                let cpus: Option<Vec<Duration>> = times.iter().map(|r| r.cpu).collect();
                let cpu_seconds = cpus.map(|c| summarize(&c).0);
                if name == "cpu" {
                    cpu_median = Some(median);
                }
                measurements.push(Measurement {
                    op: primitive.name(),
                    log_size,
                    device: name.clone(),
                    layout: layout.map(|l| format!("2^{} x 2^{}", l.nu, l.sigma)),
                    median_s: median,
                    min_s: min,
                    max_s: max,
                    runs: times.len(),
                    speedup_vs_cpu: None,
                    cpu_median_s: cpu_seconds,
                    speedup_vs_dory_pcs: None,
                    cpu_speedup_vs_dory_pcs: None,
                    profile: profile.map(|p| {
                        let total = p.total().as_secs_f64().max(f64::MIN_POSITIVE);
                        p.parts()
                            .iter()
                            .map(|(name, t)| (*name, t.as_secs_f64() / total))
                            .collect()
                    }),
                });
                on_step(&format!("{} 2^{log_size} on {name}", primitive.name()));
            }
            // Speed-ups are relative to the CPU row of the same cell.
            if let Some(cpu) = cpu_median {
                let cell = measurements
                    .iter_mut()
                    .rev()
                    .take(selected.len())
                    .filter(|m| m.op == primitive.name() && m.log_size == log_size);
                for m in cell {
                    m.speedup_vs_cpu = Some(cpu / m.median_s);
                }
            }
        }
    }
    let baselines: Vec<(usize, f64, Option<f64>)> = measurements
        .iter()
        .filter(|m| m.op == Primitive::DoryOpenDoryPcs.name())
        .map(|m| (m.log_size, m.median_s, m.cpu_median_s))
        .collect();
    for m in measurements
        .iter_mut()
        .filter(|m| m.op == Primitive::DoryOpenSquare.name())
    {
        if let Some((_, base, base_cpu)) = baselines.iter().find(|(l, ..)| *l == m.log_size) {
            m.speedup_vs_dory_pcs = Some(base / m.median_s);
            m.cpu_speedup_vs_dory_pcs = base_cpu
                .zip(m.cpu_median_s)
                .filter(|(_, ours)| *ours > 0.0)
                .map(|(base, ours)| base / ours);
        }
    }
    Ok(Report {
        measurements,
        skipped,
    })
}

/// Parses `A..B` (inclusive), `A..=B` or a single number into log2 sizes.
pub fn parse_sizes(text: &str) -> Result<Vec<usize>, String> {
    let parse = |s: &str| {
        s.trim().parse::<usize>().map_err(|_| {
            format!("`{text}`: `{s}` is not a whole number (sizes are log2, e.g. 10..20)")
        })
    };
    let (lo, hi) = match text.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b.trim_start_matches('='))?),
        None => {
            let v = parse(text)?;
            (v, v)
        }
    };
    if lo == 0 || hi > 24 || lo > hi {
        return Err(format!(
            "`{text}`: sizes must satisfy 1 <= low <= high <= 24 (log2 of the input length)"
        ));
    }
    Ok((lo..=hi).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_size_ranges() {
        assert_eq!(parse_sizes("10..12").unwrap(), vec![10, 11, 12]);
        assert_eq!(parse_sizes("10..=11").unwrap(), vec![10, 11]);
        assert_eq!(parse_sizes("8").unwrap(), vec![8]);
        assert!(parse_sizes("12..10").is_err());
        assert!(parse_sizes("a..b")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(parse_sizes("0..30").is_err());
    }

    #[test]
    fn small_run_reports_every_cell() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            devices: vec![DeviceChoice::Cpu, DeviceChoice::Cuda(None)],
            every_present: false,
            log_sizes: vec![4, 5],
            repeats: 1,
            primitives: Primitive::ALL.to_vec(),
        };
        let report = run(&options, dir.path(), |_| {}).unwrap();
        assert_eq!(report.measurements.len(), 2 * Primitive::ALL.len());
        assert!(report
            .measurements
            .iter()
            .filter(|m| m.op == "dory_open/square")
            .all(|m| m.speedup_vs_dory_pcs.is_some() && m.profile.is_some()));
        assert!(report
            .measurements
            .iter()
            .all(|m| m.median_s > 0.0 && m.speedup_vs_cpu == Some(1.0)));
        assert_eq!(report.skipped.len(), 1);
        assert!(report.skipped[0].reason.contains("ICICLE"));
    }
}
