//! The ICICLE backend: BN254 MSM (G1, G2, small integers, batched rows), NTT and
//! an inner-product kernel on CUDA or Metal through Ingonyama ICICLE's C API,
//! loaded at run time (see [`loader`]); no build-time dependency on ICICLE.
//!
//! Supported ICICLE versions: v3.0 to v4.0 (the C structs zkinfer mirrors are the
//! same across them, except `VecOpsConfig`, whose v3.1 layout is used only when the
//! v3.1 entry point `bn254_vector_sum` exists). Device backends are ICICLE's
//! licensed CUDA and Metal plugins; ICICLE's own CPU device is used only when a
//! caller asks for it explicitly ([`IcicleDevice::Cpu`], for testing these
//! bindings): it is slower than zkinfer's CPU backend and never a fallback.
//!
//! What runs where:
//! - G1/G2 MSMs, small-integer MSMs (as non-negative scalars of few bits, see
//!   [`convert::SmallPlan`]), batched row MSMs and NTTs run on ICICLE from the
//!   per-operation sizes in `kernels-config/icicle-*.toml` ([`IcicleConfig`]);
//!   smaller calls go to [`CpuBackend::global`], logged at debug.
//! - Full scalars are passed in place in Montgomery form; bases are converted once
//!   and cached on the device ([`cache`]); MSMs that would not fit in the free
//!   device memory are split into chunks (and split further on OUT_OF_MEMORY).
//! - The inner product uses ICICLE's vector kernels above its threshold. The
//!   eq-table, bind and sumcheck-round kernels and the group-vector operations run
//!   on the CPU backend: ICICLE's sumcheck draws its challenges from its own
//!   transcript, and the others are memory-bound passes that a host→device copy
//!   would dominate.
//!
//! Errors from ICICLE are returned as [`BackendError::Device`] naming the
//! operation and the `eIcicleError`; the backend does not silently recompute on
//! the CPU (Dory's routines do, with a warning; see `pcs::routines`).

pub mod cache;
pub mod convert;
pub mod ffi;
pub mod loader;

use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ff::{FftField, Field, One, Zero};
use rayon::prelude::*;

use self::cache::{BasesCache, DeviceBuffer, DevicePoint, Prepared};
use self::convert::{fr_canonical, fr_slice_as_raw, SmallPlan};
use self::ffi::{IcicleStatus, Scalar};
pub use self::loader::{IcicleDevice, IcicleRuntime, LoadError};
use crate::backend::{
    check_equal_len, Backend, BackendError, BackendResult, BindSide, Capabilities, CpuBackend,
    DeviceInfo, DeviceKind, ProductTerm, SmallScalars,
};
use crate::config::{IcicleConfig, IcicleTarget};
use crate::pcs::GlobalBackend;

/// Why the ICICLE backend cannot run on a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcicleError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("ICICLE has no {device_type} backend: {reason}")]
    NoBackend {
        device_type: &'static str,
        reason: String,
    },
    #[error(
        "ICICLE's {device} licence check failed: the backend gets its licence from \
         Ingonyama's licence server unless ICICLE_LICENSE names another (port@host) or a \
         licence file; check that it is set and reachable from this host"
    )]
    Licence { device: IcicleDevice },
    #[error("no ICICLE device {device}: ICICLE sees {count} {} device(s)", device.type_name())]
    NoDevice { device: IcicleDevice, count: usize },
    #[error("ICICLE {op} on {device} failed: {status}")]
    Status {
        op: &'static str,
        device: IcicleDevice,
        status: IcicleStatus,
    },
    #[error("ICICLE already runs on {active} in this process; {requested} cannot be used too")]
    OtherDeviceActive {
        active: IcicleDevice,
        requested: IcicleDevice,
    },
    #[error("{0}")]
    Config(String),
}

/// How many calls went to ICICLE, per operation, and how many were handed to
/// the CPU backend (below a threshold, or a kernel this ICICLE build lacks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcicleStats {
    pub msm_g1: u64,
    pub msm_g1_small: u64,
    pub msm_g2: u64,
    pub msm_g1_batch: u64,
    pub msm_g1_small_batch: u64,
    pub ntt: u64,
    pub intt: u64,
    pub inner_product: u64,
    /// Calls of the operations above that ran on the CPU backend instead.
    pub on_cpu: u64,
    /// ICICLE MSM calls that were split into several chunks to fit in memory.
    pub chunked_msms: u64,
}

#[derive(Default)]
struct Counters {
    msm_g1: AtomicU64,
    msm_g1_small: AtomicU64,
    msm_g2: AtomicU64,
    msm_g1_batch: AtomicU64,
    msm_g1_small_batch: AtomicU64,
    ntt: AtomicU64,
    intt: AtomicU64,
    inner_product: AtomicU64,
    on_cpu: AtomicU64,
    chunked_msms: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A `ConfigExtension*` owned by the backend (null when no option is set).
struct Extension(ffi::ConfigExtension);

// SAFETY: the extension is created once, only read by ICICLE afterwards, and
// destroyed when the backend is dropped.
unsafe impl Send for Extension {}
unsafe impl Sync for Extension {}

/// zkinfer's ICICLE backend on one device.
pub struct IcicleBackend {
    runtime: &'static IcicleRuntime,
    device: IcicleDevice,
    name: &'static str,
    config: IcicleConfig,
    /// (total, free) device memory when opened; `None` when not reported.
    memory: Option<(u64, u64)>,
    g1_bases: BasesCache<G1Affine>,
    g2_bases: BasesCache<G2Affine>,
    extension: Extension,
    counters: Counters,
}

/// The cache budget when the device reports no memory size (ICICLE's CPU device).
const UNKNOWN_MEMORY_CACHE_BYTES: u64 = 1 << 30;

/// Device memory one MSM point costs beyond its scalar and base: bucket indices
/// and sort buffers, about 16 bytes per point and window, with windows of at
/// least 12 bits (a conservative estimate of ICICLE CUDA's use).
fn msm_bytes_per_point(bitsize: u32, base_bytes: usize, bases_on_device: bool) -> u64 {
    let bits = if bitsize == 0 { 254 } else { bitsize };
    let windows = bits.div_ceil(12) as u64;
    32 + if bases_on_device {
        0
    } else {
        base_bytes as u64
    } + 16 * windows
}

impl IcicleBackend {
    /// Opens `device` with `config`. Fails with the precise reason when the
    /// libraries, the device's backend plugin, its licence or the device itself
    /// is missing; ICICLE is never called after a failed load.
    pub fn open(device: IcicleDevice, config: IcicleConfig) -> Result<Self, IcicleError> {
        let runtime = loader::runtime().map_err(|e| IcicleError::Load(e.clone()))?;
        if !runtime.is_registered(device) {
            return Err(no_backend_reason(runtime, device));
        }
        let status = |op| {
            move |status| match status {
                IcicleStatus::LicenseCheckError => IcicleError::Licence { device },
                status => IcicleError::Status { op, device, status },
            }
        };
        let count = runtime
            .device_count(device)
            .map_err(status("get_device_count"))?;
        if device.id() < 0 || device.id() as usize >= count {
            return Err(IcicleError::NoDevice { device, count });
        }
        runtime.activate(device).map_err(status("set_device"))?;
        let memory = runtime
            .memory(device)
            .map_err(status("get_available_memory"))?;
        let cache_bytes = match memory {
            Some((total, _)) => (total as f64 * config.bases_cache.max_memory_fraction) as u64,
            None => UNKNOWN_MEMORY_CACHE_BYTES,
        };
        let extension = match device {
            IcicleDevice::Cuda(_) => {
                runtime.msm_extension(config.msm.large_bucket_factor, config.msm.big_triangle)
            }
            _ => std::ptr::null_mut(),
        };
        let name = match device {
            IcicleDevice::Cpu => "icicle-cpu",
            IcicleDevice::Cuda(_) => "icicle-cuda",
            IcicleDevice::Metal(_) => "icicle-metal",
        };
        tracing::debug!(
            "ICICLE backend on {device}: memory {memory:?}; eq_table, bind, sumcheck_round and \
             the group-vector operations run on the CPU backend (no ICICLE kernel pays for them)"
        );
        Ok(IcicleBackend {
            runtime,
            device,
            name,
            g1_bases: BasesCache::new(config.bases_cache.max_entries, cache_bytes),
            g2_bases: BasesCache::new(config.bases_cache.max_entries, cache_bytes),
            config,
            memory,
            extension: Extension(extension),
            counters: Counters::default(),
        })
    }

    /// The device this backend runs on.
    pub fn icicle_device(&self) -> IcicleDevice {
        self.device
    }

    /// The tuning in use.
    pub fn config(&self) -> &IcicleConfig {
        &self.config
    }

    /// The loaded ICICLE runtime.
    pub fn runtime(&self) -> &'static IcicleRuntime {
        self.runtime
    }

    /// Calls so far, per operation.
    pub fn stats(&self) -> IcicleStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IcicleStats {
            msm_g1: get(&c.msm_g1),
            msm_g1_small: get(&c.msm_g1_small),
            msm_g2: get(&c.msm_g2),
            msm_g1_batch: get(&c.msm_g1_batch),
            msm_g1_small_batch: get(&c.msm_g1_small_batch),
            ntt: get(&c.ntt),
            intt: get(&c.intt),
            inner_product: get(&c.inner_product),
            on_cpu: get(&c.on_cpu),
            chunked_msms: get(&c.chunked_msms),
        }
    }

    /// Number of bases vectors cached on the device (G1, G2).
    pub fn cached_bases(&self) -> (usize, usize) {
        (self.g1_bases.len(), self.g2_bases.len())
    }

    fn cpu(&self, op: &str, len: usize, reason: &str) -> &'static CpuBackend {
        tracing::debug!("{op} of {len} on the CPU backend: {reason}");
        bump(&self.counters.on_cpu);
        CpuBackend::global()
    }

    fn below(&self, op: &str, len: usize, threshold: usize) -> Option<&'static CpuBackend> {
        (len < threshold).then(|| {
            self.cpu(
                op,
                len,
                &format!("below the ICICLE threshold {threshold} (kernels-config)"),
            )
        })
    }

    fn device_error(&self, op: &'static str, message: impl std::fmt::Display) -> BackendError {
        BackendError::Device {
            backend: self.name.to_string(),
            op,
            message: format!("{message} (ICICLE {})", self.device),
        }
    }

    /// Free device memory an MSM call may use now (`None`: not reported).
    fn msm_budget(&self) -> Option<u64> {
        match self.runtime.memory(self.device) {
            Ok(Some((_, free))) => Some((free as f64 * self.config.msm.memory_fraction) as u64),
            _ => None,
        }
    }

    fn prepare<P: MsmPoint>(&self, op: &'static str, bases: &[P]) -> BackendResult<Prepared<P>> {
        P::cache(self)
            .prepare(self.runtime, self.device, bases)
            .map_err(|e| self.device_error(op, format!("uploading the bases: {e}")))
    }

    /// `rows` MSMs over the same `cols = bases.len()` prepared bases; `scalars` is
    /// row-major, `rows × cols`. Splits into calls that fit in the device memory
    /// budget, and halves them again when ICICLE runs out of memory.
    #[expect(
        clippy::too_many_arguments,
        reason = "one private helper, all plain data"
    )]
    fn msm_rows<P: MsmPoint>(
        &self,
        op: &'static str,
        prepared: &Prepared<P>,
        cols: usize,
        scalars: &[Scalar],
        rows: usize,
        montgomery: bool,
        bitsize: u32,
    ) -> BackendResult<Vec<Projective<P::Curve>>> {
        debug_assert_eq!(scalars.len(), rows * cols);
        let per_point =
            msm_bytes_per_point(bitsize, std::mem::size_of::<P::Raw>(), prepared.on_device());
        // ICICLE indexes with `int`: keep every call's scalar count below 2^30.
        let int_cap = 1usize << 30;
        let cap = match self.config.msm.max_points_per_call {
            0 => int_cap,
            cap => cap.min(int_cap),
        };
        let budget_points = self
            .msm_budget()
            .map(|bytes| (bytes / per_point).max(1) as usize)
            .unwrap_or(usize::MAX)
            .min(cap);
        let mut plan = ChunkPlan::new(rows, cols, budget_points);
        loop {
            match self.msm_chunks(prepared, cols, scalars, rows, montgomery, bitsize, plan) {
                Ok(results) => {
                    if plan.calls(rows, cols) > 1 {
                        bump(&self.counters.chunked_msms);
                    }
                    return Ok(results);
                }
                Err(MsmFailure::Icicle(status)) if status.is_out_of_memory() => {
                    match plan.halve() {
                        Some(smaller) => {
                            tracing::debug!(
                            "{op}: ICICLE ran out of memory with {plan:?}; retrying with {smaller:?}"
                        );
                            plan = smaller;
                        }
                        None => return Err(self.device_error(op, status)),
                    }
                }
                Err(MsmFailure::Icicle(status)) => return Err(self.device_error(op, status)),
                Err(MsmFailure::Result(message)) => return Err(self.device_error(op, message)),
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one private helper, all plain data"
    )]
    fn msm_chunks<P: MsmPoint>(
        &self,
        prepared: &Prepared<P>,
        cols: usize,
        scalars: &[Scalar],
        rows: usize,
        montgomery: bool,
        bitsize: u32,
        plan: ChunkPlan,
    ) -> Result<Vec<Projective<P::Curve>>, MsmFailure> {
        let mut results = vec![Projective::<P::Curve>::zero(); rows];
        let mut row = 0;
        while row < rows {
            let batch = plan.rows.min(rows - row);
            let mut col = 0;
            while col < cols {
                let width = plan.cols.min(cols - col);
                let config = ffi::MsmConfig {
                    c: self.config.msm.window as c_int,
                    bitsize: bitsize as c_int,
                    batch_size: batch as c_int,
                    are_points_shared_in_batch: true,
                    are_scalars_montgomery_form: montgomery,
                    are_points_on_device: prepared.on_device(),
                    ext: self.extension.0,
                    ..ffi::MsmConfig::default()
                };
                let mut out = vec![P::RawResult::default(); batch];
                // A batch of several rows always spans whole rows (plan.cols ==
                // cols), so its scalars are contiguous.
                let start = row * cols + col;
                let chunk = &scalars[start..start + batch * width];
                // SAFETY: `chunk` holds batch × width scalars; the prepared bases
                // hold `cols` points from which `col + width` are in range; `out`
                // has room for `batch` results.
                unsafe {
                    P::msm(
                        self.runtime,
                        self.device,
                        chunk.as_ptr(),
                        prepared.ptr().add(col),
                        width as c_int,
                        &config,
                        out.as_mut_ptr(),
                    )
                }
                .map_err(MsmFailure::Icicle)?;
                for (i, raw) in out.iter().enumerate() {
                    results[row + i] += P::from_raw(raw).map_err(MsmFailure::Result)?;
                }
                col += width;
            }
            row += batch;
        }
        Ok(results)
    }

    fn msm_full<P: MsmPoint>(
        &self,
        op: &'static str,
        bases: &[P],
        scalars: &[Fr],
        rows: usize,
    ) -> BackendResult<Vec<Projective<P::Curve>>> {
        let prepared = self.prepare(op, bases)?;
        self.msm_rows(
            op,
            &prepared,
            bases.len(),
            fr_slice_as_raw(scalars),
            rows,
            true,
            0,
        )
    }

    fn msm_small(
        &self,
        op: &'static str,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
        rows: usize,
    ) -> BackendResult<Vec<G1Projective>> {
        let plan = SmallPlan::new(values);
        if plan.bitsize == 0 {
            return Ok(vec![G1Projective::zero(); rows]);
        }
        let prepared = self.prepare(op, bases)?;
        let results = self.msm_rows(
            op,
            &prepared,
            bases.len(),
            &plan.scalars,
            rows,
            false,
            plan.bitsize,
        )?;
        Ok(results
            .into_iter()
            .map(|r| plan.correct(r, || prepared.sum_of(bases)))
            .collect())
    }

    fn transform(
        &self,
        values: &mut [Fr],
        size: usize,
        coset: Option<Fr>,
        inverse: bool,
    ) -> BackendResult<()> {
        let op = if inverse { "intt" } else { "ntt" };
        // The CPU backend's shape checks, so that errors are the same.
        crate::backend::cpu::ntt::domain(op, values.len(), size, coset)?;
        // A transform of size 1 is the identity, on any coset, both ways. It never
        // reaches ICICLE: its CPU device throws a C++ exception on size 1, which
        // would abort the process.
        if values.is_empty() || size == 1 {
            return Ok(());
        }
        if let Some(cpu) = self.below(op, values.len(), self.config.min_len.ntt) {
            return if inverse {
                cpu.intt(values, size, coset)
            } else {
                cpu.ntt(values, size, coset)
            };
        }
        let batch = values.len() / size;
        if values.len() > i32::MAX as usize {
            return Err(BackendError::Unsupported {
                op,
                reason: format!(
                    "{} values in one call exceed ICICLE's int sizes",
                    values.len()
                ),
            });
        }
        let log = size.trailing_zeros();
        let domain = self.runtime.ntt_domain(self.device);
        let ready = *domain
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            >= log;
        if !ready {
            let mut initialised = domain
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *initialised < log {
                let target = log.max(self.config.ntt.domain_log_size);
                let root = Fr::get_root_of_unity(1u64 << target).ok_or_else(|| {
                    BackendError::Unsupported {
                        op,
                        reason: format!("no root of unity of order 2^{target}"),
                    }
                })?;
                tracing::debug!("ICICLE {}: NTT domain 2^{target}", self.device);
                self.runtime
                    .ntt_init_domain(self.device, &fr_canonical(&root), *initialised > 0)
                    .map_err(|e| self.device_error(op, format!("ntt_init_domain: {e}")))?;
                *initialised = target;
            }
        }
        let _domain = domain
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = ffi::NttConfig {
            stream: std::ptr::null_mut(),
            coset_gen: fr_canonical(&coset.unwrap_or_else(Fr::one)),
            batch_size: batch as c_int,
            columns_batch: false,
            ordering: ffi::Ordering::NN,
            are_inputs_on_device: false,
            are_outputs_on_device: false,
            is_async: false,
            ext: std::ptr::null_mut(),
        };
        let dir = if inverse {
            ffi::NttDir::Inverse
        } else {
            ffi::NttDir::Forward
        };
        // Montgomery limbs in, Montgomery limbs out: the transform is linear and
        // the coset generator multiplies as a canonical constant. Out of place, so
        // that the input is unchanged when ICICLE fails.
        let input = fr_slice_as_raw(values);
        let mut output: Vec<Scalar> = vec![[0; 4]; values.len()];
        // SAFETY: input and output hold size × batch scalars in host memory; the
        // domain (read-locked) covers 2^log.
        unsafe {
            self.runtime.ntt(
                self.device,
                input.as_ptr(),
                size as c_int,
                dir,
                &config,
                output.as_mut_ptr(),
            )
        }
        .map_err(|e| self.device_error(op, e))?;
        let converted: Option<Vec<Fr>> = output
            .par_iter()
            .map(|l| convert::fr_from_montgomery_limbs(*l))
            .collect();
        let converted = converted.ok_or_else(|| {
            self.device_error(op, "ICICLE returned a value that is not below the modulus")
        })?;
        values.copy_from_slice(&converted);
        bump(if inverse {
            &self.counters.intt
        } else {
            &self.counters.ntt
        });
        Ok(())
    }
}

impl std::fmt::Debug for IcicleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcicleBackend")
            .field("device", &self.device)
            .field("api_version", &self.runtime.api_version)
            .field("dir", &self.runtime.dir)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl Drop for IcicleBackend {
    fn drop(&mut self) {
        // SAFETY: the extension came from `msm_extension` and dies with the backend.
        unsafe { self.runtime.destroy_extension(self.extension.0) };
    }
}

/// How an MSM of `rows × cols` scalars is split into ICICLE calls: `rows` rows
/// per call when whole rows fit, else one row per call in `cols`-wide pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChunkPlan {
    rows: usize,
    cols: usize,
}

/// The smallest column piece worth a call.
const MIN_CHUNK_COLS: usize = 1 << 10;

impl ChunkPlan {
    fn new(rows: usize, cols: usize, budget_points: usize) -> Self {
        if cols <= budget_points {
            ChunkPlan {
                rows: (budget_points / cols).clamp(1, rows.max(1)),
                cols,
            }
        } else {
            ChunkPlan {
                rows: 1,
                cols: budget_points.max(MIN_CHUNK_COLS.min(cols)),
            }
        }
    }

    /// Half as much per call, or `None` when already minimal.
    fn halve(self) -> Option<Self> {
        if self.rows > 1 {
            Some(ChunkPlan {
                rows: self.rows / 2,
                ..self
            })
        } else if self.cols > MIN_CHUNK_COLS {
            Some(ChunkPlan {
                rows: 1,
                cols: (self.cols / 2).max(MIN_CHUNK_COLS),
            })
        } else {
            None
        }
    }

    fn calls(&self, rows: usize, cols: usize) -> usize {
        rows.div_ceil(self.rows) * cols.div_ceil(self.cols)
    }
}

enum MsmFailure {
    Icicle(IcicleStatus),
    Result(String),
}

/// A point type ICICLE has an MSM for.
trait MsmPoint: DevicePoint {
    type Curve: SWCurveConfig;
    type RawResult: Copy + Default;

    fn cache(backend: &IcicleBackend) -> &BasesCache<Self>;

    /// # Safety
    /// As for [`IcicleRuntime::msm_g1`].
    unsafe fn msm(
        runtime: &IcicleRuntime,
        device: IcicleDevice,
        scalars: *const Scalar,
        bases: *const Self::Raw,
        size: c_int,
        config: &ffi::MsmConfig,
        out: *mut Self::RawResult,
    ) -> Result<(), IcicleStatus>;

    fn from_raw(raw: &Self::RawResult) -> Result<Projective<Self::Curve>, String>;
}

impl MsmPoint for Affine<ark_bn254::g1::Config> {
    type Curve = ark_bn254::g1::Config;
    type RawResult = ffi::G1ProjectiveRaw;

    fn cache(backend: &IcicleBackend) -> &BasesCache<Self> {
        &backend.g1_bases
    }

    unsafe fn msm(
        runtime: &IcicleRuntime,
        device: IcicleDevice,
        scalars: *const Scalar,
        bases: *const ffi::G1AffineRaw,
        size: c_int,
        config: &ffi::MsmConfig,
        out: *mut ffi::G1ProjectiveRaw,
    ) -> Result<(), IcicleStatus> {
        unsafe { runtime.msm_g1(device, scalars, bases, size, config, out) }
    }

    fn from_raw(raw: &ffi::G1ProjectiveRaw) -> Result<G1Projective, String> {
        convert::g1_from_raw(raw)
    }
}

impl MsmPoint for Affine<ark_bn254::g2::Config> {
    type Curve = ark_bn254::g2::Config;
    type RawResult = ffi::G2ProjectiveRaw;

    fn cache(backend: &IcicleBackend) -> &BasesCache<Self> {
        &backend.g2_bases
    }

    unsafe fn msm(
        runtime: &IcicleRuntime,
        device: IcicleDevice,
        scalars: *const Scalar,
        bases: *const ffi::G2AffineRaw,
        size: c_int,
        config: &ffi::MsmConfig,
        out: *mut ffi::G2ProjectiveRaw,
    ) -> Result<(), IcicleStatus> {
        unsafe { runtime.msm_g2(device, scalars, bases, size, config, out) }
    }

    fn from_raw(raw: &ffi::G2ProjectiveRaw) -> Result<G2Projective, String> {
        convert::g2_from_raw(raw)
    }
}

/// Plugin files under the backend folders whose names mention `device_type`.
fn plugins_for(runtime: &IcicleRuntime, device_type: &str) -> Vec<PathBuf> {
    let key = device_type.to_ascii_lowercase();
    runtime
        .backends
        .plugins
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_ascii_lowercase().contains(&key))
        })
        .cloned()
        .collect()
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "no CUDA backend plugin in ...; set ..." for the device types listed.
fn missing_plugin_reason(runtime: &IcicleRuntime, device_types: &[&str]) -> String {
    let types = device_types.join(" or ");
    format!(
        "no {types} backend plugin (*icicle_backend*) in {}; set {} to the backend folder of \
         ICICLE's {types} release (ICICLE {} from {} registers only: {})",
        join_paths(&runtime.backends.searched),
        loader::BACKEND_DIR_ENV,
        runtime.api_version,
        runtime.dir.display(),
        runtime.backends.registered.join(", "),
    )
}

fn failed_plugin_reason(runtime: &IcicleRuntime, device_type: &str, plugins: &[PathBuf]) -> String {
    format!(
        "{} was found but registered no {device_type} device: it failed to load (a missing \
         driver or runtime library, or a plugin for another ICICLE version than the {} \
         frontend in {})",
        join_paths(plugins),
        runtime.api_version,
        runtime.dir.display(),
    )
}

/// The precise reason `device`'s type is not registered.
fn no_backend_reason(runtime: &IcicleRuntime, device: IcicleDevice) -> IcicleError {
    let device_type = device.type_name();
    let plugins = plugins_for(runtime, device_type);
    let reason = if plugins.is_empty() {
        missing_plugin_reason(runtime, &[device_type])
    } else {
        failed_plugin_reason(runtime, device_type, &plugins)
    };
    IcicleError::NoBackend {
        device_type,
        reason,
    }
}

/// What `zkinfer devices` shows for ICICLE.
#[derive(Debug, Clone)]
pub struct IcicleProbe {
    /// ICICLE's API level, from its symbols (it reports no version itself).
    pub version: Option<String>,
    /// Where the libraries were loaded from.
    pub location: Option<PathBuf>,
    /// GPU devices found, with their memory.
    pub devices: Vec<DeviceInfo>,
    /// Why there is no usable GPU (None when there is one).
    pub reason: Option<String>,
}

/// Loads ICICLE if needed and lists its CUDA and Metal devices, or why there is
/// none. Never selects ICICLE's CPU device.
pub fn probe() -> IcicleProbe {
    let runtime = match loader::runtime() {
        Ok(r) => r,
        Err(e) => {
            return IcicleProbe {
                version: None,
                location: None,
                devices: Vec::new(),
                reason: Some(e.to_string()),
            }
        }
    };
    let mut devices = Vec::new();
    let mut reasons = Vec::new();
    let mut without_plugin = Vec::new();
    for first in [IcicleDevice::Cuda(0), IcicleDevice::Metal(0)] {
        if !runtime.is_registered(first) {
            let plugins = plugins_for(runtime, first.type_name());
            if plugins.is_empty() {
                without_plugin.push(first.type_name());
            } else {
                reasons.push(failed_plugin_reason(runtime, first.type_name(), &plugins));
            }
            continue;
        }
        let count = match runtime.device_count(first) {
            Ok(count) => count,
            Err(IcicleStatus::LicenseCheckError) => {
                reasons.push(IcicleError::Licence { device: first }.to_string());
                continue;
            }
            Err(status) => {
                reasons.push(
                    IcicleError::Status {
                        op: "get_device_count",
                        device: first,
                        status,
                    }
                    .to_string(),
                );
                continue;
            }
        };
        if count == 0 {
            reasons.push(
                IcicleError::NoDevice {
                    device: first,
                    count,
                }
                .to_string(),
            );
        }
        for id in 0..count as i32 {
            let device = match first {
                IcicleDevice::Cuda(_) => IcicleDevice::Cuda(id),
                _ => IcicleDevice::Metal(id),
            };
            match runtime.memory(device) {
                Ok(memory) => devices.push(device_info(device, memory.map(|m| m.0))),
                Err(IcicleStatus::LicenseCheckError) => {
                    reasons.push(IcicleError::Licence { device }.to_string())
                }
                Err(status) => reasons.push(
                    IcicleError::Status {
                        op: "set_device",
                        device,
                        status,
                    }
                    .to_string(),
                ),
            }
        }
    }
    if !without_plugin.is_empty() {
        reasons.push(missing_plugin_reason(runtime, &without_plugin));
    }
    IcicleProbe {
        version: Some(runtime.api_version.to_string()),
        location: Some(runtime.dir.clone()),
        reason: devices.is_empty().then(|| reasons.join("; ")),
        devices,
    }
}

fn device_info(device: IcicleDevice, memory_bytes: Option<u64>) -> DeviceInfo {
    DeviceInfo {
        kind: match device {
            IcicleDevice::Cpu => DeviceKind::Cpu,
            _ => DeviceKind::Gpu,
        },
        name: format!("ICICLE {device}"),
        parallelism: None,
        memory_bytes,
    }
}

static GLOBAL: OnceLock<IcicleBackend> = OnceLock::new();
static GLOBAL_INIT: Mutex<()> = Mutex::new(());

/// Opens the process-wide ICICLE backend on `device` (once; later calls for the
/// same device return it, for another device fail). `prove::<IcicleBackend>` and
/// `G1Via<IcicleBackend>` use this instance.
pub fn init_global(
    device: IcicleDevice,
    config: IcicleConfig,
) -> Result<&'static IcicleBackend, IcicleError> {
    let _guard = GLOBAL_INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(existing) = GLOBAL.get() {
        return if existing.device == device {
            Ok(existing)
        } else {
            Err(IcicleError::OtherDeviceActive {
                active: existing.device,
                requested: device,
            })
        };
    }
    let backend = IcicleBackend::open(device, config)?;
    Ok(GLOBAL.get_or_init(|| backend))
}

/// [`init_global`] with the tuning of `target` from the kernels-config
/// directory (`dir`, else `$ZKINFER_KERNELS_CONFIG`, else compiled in).
pub fn init_global_from_dir(
    device: IcicleDevice,
    dir: Option<&std::path::Path>,
) -> Result<&'static IcicleBackend, IcicleError> {
    if let Some(existing) = global() {
        if existing.device == device {
            return Ok(existing);
        }
    }
    let target = match device {
        IcicleDevice::Metal(_) => IcicleTarget::Metal,
        IcicleDevice::Cuda(_) | IcicleDevice::Cpu => IcicleTarget::Cuda,
    };
    let config =
        IcicleConfig::from_dir(target, dir).map_err(|e| IcicleError::Config(e.to_string()))?;
    init_global(device, config)
}

/// The process-wide instance, when [`init_global`] has succeeded.
pub fn global() -> Option<&'static IcicleBackend> {
    GLOBAL.get()
}

impl GlobalBackend for IcicleBackend {
    /// The instance from [`init_global`]. The registry hands out
    /// `SelectedBackend::Icicle` only after it succeeded, so generic code
    /// instantiated with `IcicleBackend` always finds it.
    fn global() -> &'static Self {
        global().expect(
            "the ICICLE backend is used before icicle::init_global (select it with \
             backend::registry::select)",
        )
    }
}

impl Backend for IcicleBackend {
    fn name(&self) -> &str {
        self.name
    }

    fn device(&self) -> DeviceInfo {
        device_info(self.device, self.memory.map(|m| m.0))
    }

    fn capabilities(&self) -> Capabilities {
        let t = &self.config.min_len;
        Capabilities {
            msm_g1: true,
            msm_g2: self.runtime.has_g2(),
            ntt: true,
            multilinear: false,
            min_offload_len: t.msm_g1.min(t.msm_g1_small).min(t.msm_g1_batch),
        }
    }

    fn synchronize(&self) -> BackendResult<()> {
        self.runtime
            .synchronize(self.device)
            .map_err(|e| self.device_error("synchronize", e))
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1", "bases", bases.len(), "scalars", scalars.len())?;
        if let Some(cpu) = self.below("msm_g1", bases.len(), self.config.min_len.msm_g1) {
            return cpu.msm_g1(bases, scalars);
        }
        if bases.is_empty() {
            return Ok(G1Projective::zero());
        }
        let result = self.msm_full("msm_g1", bases, scalars, 1)?;
        bump(&self.counters.msm_g1);
        Ok(result[0])
    }

    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1_small", "bases", bases.len(), "values", values.len())?;
        if let Some(cpu) = self.below(
            "msm_g1_small",
            bases.len(),
            self.config.min_len.msm_g1_small,
        ) {
            return cpu.msm_g1_small(bases, values);
        }
        if bases.is_empty() {
            return Ok(G1Projective::zero());
        }
        let result = self.msm_small("msm_g1_small", bases, values, 1)?;
        bump(&self.counters.msm_g1_small);
        Ok(result[0])
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective> {
        check_equal_len("msm_g2", "bases", bases.len(), "scalars", scalars.len())?;
        if let Some(cpu) = self.below("msm_g2", bases.len(), self.config.min_len.msm_g2) {
            return cpu.msm_g2(bases, scalars);
        }
        if !self.runtime.has_g2() {
            return self
                .cpu("msm_g2", bases.len(), "this ICICLE build has no G2 MSM")
                .msm_g2(bases, scalars);
        }
        if bases.is_empty() {
            return Ok(G2Projective::zero());
        }
        let result = self.msm_full("msm_g2", bases, scalars, 1)?;
        bump(&self.counters.msm_g2);
        Ok(result[0])
    }

    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>> {
        let rows = CpuBackend::small_batch_rows(bases, scalars.len(), "msm_g1_batch")?;
        if let Some(cpu) = self.below(
            "msm_g1_batch",
            scalars.len(),
            self.config.min_len.msm_g1_batch,
        ) {
            return cpu.msm_g1_batch(bases, scalars);
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let results = self.msm_full("msm_g1_batch", bases, scalars, rows)?;
        bump(&self.counters.msm_g1_batch);
        Ok(results)
    }

    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>> {
        let rows = CpuBackend::small_batch_rows(bases, values.len(), "msm_g1_small_batch")?;
        if let Some(cpu) = self.below(
            "msm_g1_small_batch",
            values.len(),
            self.config.min_len.msm_g1_batch,
        ) {
            return cpu.msm_g1_small_batch(bases, values);
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let results = self.msm_small("msm_g1_small_batch", bases, values, rows)?;
        bump(&self.counters.msm_g1_small_batch);
        Ok(results)
    }

    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        self.transform(values, size, coset, false)
    }

    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        self.transform(values, size, coset, true)
    }

    fn eq_table(&self, point: &[Fr]) -> BackendResult<Vec<Fr>> {
        CpuBackend::global().eq_table(point)
    }

    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()> {
        CpuBackend::global().bind(values, r, side)
    }

    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
        check_equal_len("inner_product", "a", a.len(), "b", b.len())?;
        if let Some(cpu) = self.below("inner_product", a.len(), self.config.min_len.inner_product) {
            return cpu.inner_product(a, b);
        }
        if !self.runtime.has_vec_ops() {
            return self
                .cpu(
                    "inner_product",
                    a.len(),
                    "this ICICLE (before v3.1) has no vector_sum",
                )
                .inner_product(a, b);
        }
        if a.is_empty() {
            return Ok(Fr::zero());
        }
        let op = "inner_product";
        let n = a.len();
        let products = DeviceBuffer::alloc(self.runtime, self.device, n * 32)
            .map_err(|e| self.device_error(op, format!("allocating {n} products: {e}")))?;
        let (a_raw, b_raw) = (fr_slice_as_raw(a), fr_slice_as_raw(b));
        let mul_config = ffi::VecOpsConfig {
            is_result_on_device: true,
            ..ffi::VecOpsConfig::default()
        };
        let sum_config = ffi::VecOpsConfig {
            is_a_on_device: true,
            ..ffi::VecOpsConfig::default()
        };
        let mut sum: Scalar = [0; 4];
        // SAFETY: a and b hold n host scalars, `products` n device scalars; `sum`
        // is one host scalar.
        unsafe {
            self.runtime.vector_mul(
                self.device,
                a_raw.as_ptr(),
                b_raw.as_ptr(),
                n as u64,
                &mul_config,
                products.as_mut_ptr(),
            )
        }
        .map_err(|e| self.device_error(op, format!("vector_mul: {e}")))?;
        unsafe {
            self.runtime.vector_sum(
                self.device,
                products.as_ptr(),
                n as u64,
                &sum_config,
                &mut sum,
            )
        }
        .map_err(|e| self.device_error(op, format!("vector_sum: {e}")))?;
        // ICICLE multiplied the Montgomery limbs as canonical values: each product
        // is a·b·R² where a·b·R was wanted, so the sum carries one extra factor R.
        let raw = convert::fr_from_montgomery_limbs(sum)
            .ok_or_else(|| self.device_error(op, "the sum is not below the modulus"))?;
        bump(&self.counters.inner_product);
        Ok(raw * montgomery_r_inverse())
    }

    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>> {
        CpuBackend::global().sumcheck_round(mles, terms, degree)
    }
}

/// R⁻¹ for Fr's Montgomery radix R = 2^256.
fn montgomery_r_inverse() -> Fr {
    static R_INV: OnceLock<Fr> = OnceLock::new();
    *R_INV.get_or_init(|| {
        Fr::from(2u64)
            .pow([256])
            .inverse()
            .expect("2^256 is invertible mod p")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_plans_fit_the_budget_and_shrink_to_a_floor() {
        let plan = ChunkPlan::new(8, 1 << 12, usize::MAX);
        assert_eq!(
            plan,
            ChunkPlan {
                rows: 8,
                cols: 1 << 12
            }
        );
        assert_eq!(plan.calls(8, 1 << 12), 1);
        let plan = ChunkPlan::new(8, 1 << 12, 3 << 12);
        assert_eq!(
            plan,
            ChunkPlan {
                rows: 3,
                cols: 1 << 12
            }
        );
        assert_eq!(plan.calls(8, 1 << 12), 3);
        let plan = ChunkPlan::new(2, 1 << 20, 1 << 18);
        assert_eq!(
            plan,
            ChunkPlan {
                rows: 1,
                cols: 1 << 18
            }
        );
        assert_eq!(plan.calls(2, 1 << 20), 8);
        let mut plan = ChunkPlan::new(4, 1 << 12, usize::MAX);
        let mut steps = 0;
        while let Some(smaller) = plan.halve() {
            assert!(smaller.calls(4, 1 << 12) > plan.calls(4, 1 << 12));
            plan = smaller;
            steps += 1;
        }
        assert_eq!(
            plan,
            ChunkPlan {
                rows: 1,
                cols: MIN_CHUNK_COLS
            }
        );
        assert_eq!(steps, 4);
        // Tiny inputs are never split below their size.
        assert_eq!(ChunkPlan::new(1, 10, 1), ChunkPlan { rows: 1, cols: 10 });
    }

    #[test]
    fn memory_estimate_grows_with_bits_and_host_bases() {
        let full = msm_bytes_per_point(0, 64, true);
        let small = msm_bytes_per_point(9, 64, true);
        assert!(small < full);
        assert_eq!(msm_bytes_per_point(0, 64, false), full + 64);
    }

    #[test]
    fn montgomery_correction_undoes_the_extra_factor() {
        let a = Fr::from(7u64);
        let b = Fr::from(9u64);
        // What ICICLE computes from Montgomery limbs read as canonical values.
        use ark_ff::PrimeField;
        let as_canonical = |x: Fr| Fr::from_bigint(ark_ff::BigInt(x.0 .0)).unwrap();
        let product = as_canonical(a) * as_canonical(b);
        let limbs = product.into_bigint().0;
        let read_back = convert::fr_from_montgomery_limbs(limbs).unwrap();
        assert_eq!(read_back * montgomery_r_inverse(), a * b);
    }

    #[test]
    fn without_libraries_nothing_opens_and_the_reason_is_precise() {
        // CI has no ICICLE; where it is installed this checks nothing about absence.
        if let Err(e) = loader::runtime() {
            let err = IcicleBackend::open(
                IcicleDevice::Cuda(0),
                IcicleConfig::defaults(IcicleTarget::Cuda),
            )
            .expect_err("no runtime, no backend");
            assert_eq!(err, IcicleError::Load(e.clone()));
            let probe = probe();
            assert!(probe.devices.is_empty());
            assert_eq!(probe.reason, Some(e.to_string()));
            assert!(global().is_none());
        }
    }
}
