//! zkinfer's own GPU backend: WGSL kernels run through `wgpu` on any Vulkan,
//! Metal or DX12 device, with no vendor library or licence. CI runs it on Mesa's
//! software Vulkan (lavapipe) for correctness.
//!
//! This module owns the [`WgpuBackend`] type, its options and its process-wide
//! instance; [`gpu`] owns the device (adapters, buffers, dispatch, errors),
//! [`shaders`] the WGSL sources, and `multilinear`, `ntt` and `msm` the host side
//! of each kernel family. It must not hold protocol logic.
//!
//! # What runs where
//! On the GPU: G1 MSMs with full and small signed scalars, single and batched
//! (Pippenger; the bases stay resident between calls), NTT/INTT (radix 2,
//! batched, on cosets), eq-tables, binding, inner products and sumcheck rounds.
//! On the CPU backend, by design:
//! - inputs below the `offload` sizes of `kernels-config/wgpu.toml` (a GPU round
//!   trip costs more than the work);
//! - G2 MSMs and the element-wise group operations of the trait's provided
//!   methods (Dory's `fixed_*` routines): no G2/Fq2 arithmetic in WGSL yet;
//! - an NTT whose single polynomial is larger than one storage binding (2^22
//!   coefficients at 128 MiB), and eq-tables of more than 31 variables;
//! - the final combination of an MSM's window sums (a few hundred doublings,
//!   faster on one CPU core than on one GPU thread), and the O(2^(n/2)) halves of
//!   an eq-table, whose O(2^n) outer product runs on the GPU.
//!
//! # Concurrency
//! One device per backend instance; calls are serialised by a lock (wgpu's error
//! scopes are per thread, and the resident-bases cache is shared).

pub mod gpu;
mod msm;
mod multilinear;
mod ntt;
pub mod shaders;
pub mod words;

use std::sync::{Mutex, MutexGuard, OnceLock};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

use crate::backend::{
    check_equal_len, Backend, BackendError, BackendResult, BindSide, Capabilities, CpuBackend,
    DeviceInfo, ProductTerm, SmallScalars,
};
use crate::config::WgpuConfig;

pub use gpu::{LimitOverrides, WgpuApi, BACKEND};

/// How to open a wgpu backend.
#[derive(Debug, Clone)]
pub struct WgpuOptions {
    /// Only adapters of this API (any of Vulkan, Metal, DX12 when `None`).
    pub api: Option<WgpuApi>,
    /// Whether a software adapter (Mesa lavapipe, WARP) may be used. Explicit
    /// requests allow it; `auto` does not.
    pub allow_software: bool,
    /// Tuning (offload sizes, MSM parameters).
    pub config: WgpuConfig,
    /// Smaller limits than the device's, for tests of the splitting paths.
    pub limits: LimitOverrides,
}

impl Default for WgpuOptions {
    fn default() -> Self {
        WgpuOptions {
            api: None,
            allow_software: true,
            config: installed_config(),
            limits: LimitOverrides::default(),
        }
    }
}

/// Mutable state shared by the calls on one device.
#[derive(Default)]
struct State {
    bases: msm::BaseCache,
    twiddles: ntt::TwiddleCache,
}

/// The wgpu backend on one adapter.
pub struct WgpuBackend {
    gpu: gpu::Gpu,
    api: WgpuApi,
    config: WgpuConfig,
    device: DeviceInfo,
    state: Mutex<State>,
}

impl std::fmt::Debug for WgpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgpuBackend")
            .field("gpu", &self.gpu)
            .field("config", &self.config)
            .finish()
    }
}

static CONFIG: OnceLock<WgpuConfig> = OnceLock::new();
static GLOBAL: OnceLock<WgpuBackend> = OnceLock::new();
static GLOBAL_INIT: Mutex<()> = Mutex::new(());

fn installed_config() -> WgpuConfig {
    CONFIG.get().cloned().unwrap_or_else(WgpuConfig::defaults)
}

fn unavailable(reason: impl Into<String>) -> BackendError {
    BackendError::Unavailable {
        backend: BACKEND.to_string(),
        reason: reason.into(),
    }
}

/// Why no adapter fits `options`, naming what was found.
fn no_adapter_reason(api: Option<WgpuApi>, found: &[wgpu::AdapterInfo]) -> String {
    if found.is_empty() {
        let hint = "on Linux install a Vulkan driver, e.g. Mesa's `mesa-vulkan-drivers` \
                    with `libvulkan1`";
        return match api {
            None => format!("no Vulkan, Metal or DX12 adapter found ({hint})"),
            Some(WgpuApi::Vulkan) => format!("no Vulkan adapter found ({hint})"),
            Some(WgpuApi::Metal) => "no Metal adapter found (Metal exists on macOS only)".into(),
            Some(WgpuApi::Dx12) => "no DX12 adapter found (DX12 exists on Windows only, in \
                                    builds with the `wgpu-dx12` feature)"
                .into(),
        };
    }
    let names: Vec<String> = found
        .iter()
        .map(|i| format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type))
        .collect();
    format!(
        "only software adapters found ({}); they are used only when asked for \
         explicitly (--device wgpu)",
        names.join(", ")
    )
}

impl WgpuBackend {
    /// Opens the best adapter that `options` allows: discrete GPUs first, then
    /// integrated, virtual and other ones, software adapters last.
    pub fn new(options: WgpuOptions) -> BackendResult<Self> {
        let adapters = gpu::enumerate(options.api);
        let found: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        let adapter = gpu::best_adapter(adapters, options.allow_software)
            .ok_or_else(|| unavailable(no_adapter_reason(options.api, &found)))?;
        let info = adapter.get_info();
        let api = gpu::api_of(info.backend)
            .ok_or_else(|| unavailable(format!("adapter `{}` has no supported API", info.name)))?;
        let device = gpu::describe(&info, &adapter.limits());
        let gpu = gpu::Gpu::open(&adapter, options.limits)?;
        tracing::info!(
            "wgpu backend on `{}` ({api}, {:?}), storage bindings up to {} bytes",
            info.name,
            info.device_type,
            gpu.max_binding()
        );
        Ok(WgpuBackend {
            gpu,
            api,
            config: options.config,
            device,
            state: Mutex::new(State::default()),
        })
    }

    /// Sets the tuning used by backends opened afterwards (the process-wide one
    /// included). Call once at start; returns `false` if a tuning was already set.
    pub fn install_config(config: WgpuConfig) -> bool {
        CONFIG.set(config).is_ok()
    }

    /// The process-wide instance, opened on first use with `api` (any when
    /// `None`); a later request for a different API than the one open is an
    /// error, as is a software adapter when `allow_software` is false.
    pub fn global_for(
        api: Option<WgpuApi>,
        allow_software: bool,
    ) -> BackendResult<&'static WgpuBackend> {
        let _guard = GLOBAL_INIT.lock().unwrap_or_else(|e| e.into_inner());
        if GLOBAL.get().is_none() {
            let backend = WgpuBackend::new(WgpuOptions {
                api,
                allow_software,
                ..WgpuOptions::default()
            })?;
            // Cannot fail: initialisation is serialised by GLOBAL_INIT.
            let _ = GLOBAL.set(backend);
        }
        let backend = GLOBAL
            .get()
            .ok_or_else(|| unavailable("the wgpu backend failed to initialise"))?;
        if let Some(wanted) = api {
            if wanted != backend.api {
                return Err(unavailable(format!(
                    "this process already drives `{}` through {}; it cannot switch to {wanted}",
                    backend.gpu.info().name,
                    backend.api
                )));
            }
        }
        if !allow_software && backend.is_software() {
            return Err(unavailable(format!(
                "`{}` is a software adapter",
                backend.gpu.info().name
            )));
        }
        Ok(backend)
    }

    /// Whether this backend runs on a software adapter.
    pub fn is_software(&self) -> bool {
        gpu::is_software(self.gpu.info())
    }

    /// The API this backend drives.
    pub fn api(&self) -> WgpuApi {
        self.api
    }

    /// The tuning in use.
    pub fn config(&self) -> &WgpuConfig {
        &self.config
    }

    /// The device (for the crate's kernels and tests).
    pub fn gpu(&self) -> &gpu::Gpu {
        &self.gpu
    }

    fn cpu(&self) -> &'static CpuBackend {
        CpuBackend::global()
    }

    fn state(&self, op: &'static str) -> BackendResult<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| BackendError::Device {
            backend: BACKEND.to_string(),
            op,
            message: "a previous call panicked while holding the device".into(),
        })
    }

    /// Runs `f` with the device locked and wgpu's errors captured.
    fn run<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State) -> BackendResult<T>,
    ) -> BackendResult<T> {
        let mut state = self.state(op)?;
        self.gpu.scoped(op, || f(&mut state))
    }

    /// The CPU backend's shape check, so every backend returns the same errors.
    fn small_batch_rows(
        bases: &[G1Affine],
        values_len: usize,
        op: &'static str,
    ) -> BackendResult<usize> {
        CpuBackend::small_batch_rows(bases, values_len, op)
    }

    /// `batch`: a batched MSM, whose bases the resident cache keeps first.
    fn msm_rows(
        &self,
        op: &'static str,
        bases: &[G1Affine],
        scalars: msm::Scalars<'_>,
        rows: usize,
        batch: bool,
    ) -> BackendResult<Vec<G1Projective>> {
        self.run(op, |state| {
            msm::msm_rows(self, state, bases, scalars, rows, batch)
        })
    }
}

impl crate::pcs::GlobalBackend for WgpuBackend {
    /// The instance [`WgpuBackend::global_for`] opened (`registry::select` opens
    /// it for `--device wgpu`); when nothing opened it yet, the best adapter
    /// present, software ones included.
    ///
    /// # Panics
    /// When no wgpu adapter exists and none was opened before: generic code is
    /// only instantiated with this type after a successful selection.
    fn global() -> &'static Self {
        if let Some(backend) = GLOBAL.get() {
            return backend;
        }
        WgpuBackend::global_for(None, true)
            .unwrap_or_else(|e| panic!("WgpuBackend::global() with no usable adapter: {e}"))
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> &str {
        BACKEND
    }

    fn device(&self) -> DeviceInfo {
        self.device.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            msm_g1: true,
            msm_g2: false,
            ntt: true,
            multilinear: true,
            min_offload_len: self.config.offload.msm_min_len,
        }
    }

    fn synchronize(&self) -> BackendResult<()> {
        // Every call waits for its own work; this checks the device is healthy.
        self.run("synchronize", |_| Ok(()))
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1", "bases", bases.len(), "scalars", scalars.len())?;
        if bases.len() < self.config.offload.msm_min_len {
            return self.cpu().msm_g1(bases, scalars);
        }
        let mut out = self.msm_rows("msm_g1", bases, msm::Scalars::Full(scalars), 1, false)?;
        Ok(out.pop().unwrap_or_default())
    }

    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective> {
        check_equal_len("msm_g1_small", "bases", bases.len(), "values", values.len())?;
        if bases.len() < self.config.offload.msm_min_len {
            return self.cpu().msm_g1_small(bases, values);
        }
        let mut out =
            self.msm_rows("msm_g1_small", bases, msm::Scalars::Small(values), 1, false)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// On the CPU backend (no G2 arithmetic in WGSL yet).
    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective> {
        self.cpu().msm_g2(bases, scalars)
    }

    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>> {
        let rows = Self::small_batch_rows(bases, scalars.len(), "msm_g1_batch")?;
        if rows == 0 || scalars.len() < self.config.offload.msm_min_len {
            return self.cpu().msm_g1_batch(bases, scalars);
        }
        self.msm_rows(
            "msm_g1_batch",
            bases,
            msm::Scalars::Full(scalars),
            rows,
            true,
        )
    }

    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>> {
        let rows = Self::small_batch_rows(bases, values.len(), "msm_g1_small_batch")?;
        if rows == 0 || values.len() < self.config.offload.msm_min_len {
            return self.cpu().msm_g1_small_batch(bases, values);
        }
        self.msm_rows(
            "msm_g1_small_batch",
            bases,
            msm::Scalars::Small(values),
            rows,
            true,
        )
    }

    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        ntt::transform(self, values, size, coset, false)
    }

    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        ntt::transform(self, values, size, coset, true)
    }

    fn eq_table(&self, point: &[Fr]) -> BackendResult<Vec<Fr>> {
        multilinear::eq_table(self, point)
    }

    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()> {
        multilinear::bind(self, values, r, side)
    }

    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
        multilinear::inner_product(self, a, b)
    }

    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>> {
        multilinear::sumcheck_round(self, mles, terms, degree)
    }
}
