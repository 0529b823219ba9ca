//! Which backends this build has, which devices they see, and how a `--device`
//! argument picks one. The run-time choice happens here, once, at the edge; hot
//! code is generic over the chosen backend type.
//!
//! `cuda[:N]` and `metal` open the process-wide ICICLE backend
//! ([`super::icicle::init_global`]) with the tuning from the kernels-config
//! directory ([`set_kernels_config_dir`]); `wgpu`, `vulkan`, `wgpu-metal` and
//! `wgpu-dx12` open the process-wide wgpu backend the same way. `auto` takes an
//! ICICLE GPU when one is present, else a discrete GPU through wgpu (never a
//! software adapter), else the CPU backend, and logs why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

#[cfg(feature = "icicle")]
use super::icicle::{self, IcicleBackend, IcicleDevice, IcicleError};
use super::{Backend, BackendError, CpuBackend, DeviceInfo};

/// A graphics API the wgpu backend can be forced onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WgpuApi {
    Vulkan,
    Metal,
    Dx12,
}

impl WgpuApi {
    /// Lower-case name (`vulkan`, `metal`, `dx12`).
    pub fn name(self) -> &'static str {
        match self {
            WgpuApi::Vulkan => "vulkan",
            WgpuApi::Metal => "metal",
            WgpuApi::Dx12 => "dx12",
        }
    }
}

impl std::fmt::Display for WgpuApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--device` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The fastest device present: an ICICLE GPU, else a discrete GPU through
    /// wgpu (never a software adapter), else the CPU.
    Auto,
    Cpu,
    /// NVIDIA GPU through ICICLE, optionally by index.
    Cuda(Option<usize>),
    /// Apple GPU through ICICLE.
    Metal,
    /// zkinfer's own WGSL kernels on wgpu: any API (`wgpu`), or forced onto one
    /// (`vulkan`, `wgpu-metal`, `wgpu-dx12`). Explicit requests accept software
    /// adapters such as Mesa's lavapipe.
    Wgpu(Option<WgpuApi>),
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(None)),
            "metal" => Ok(DeviceChoice::Metal),
            "wgpu" => Ok(DeviceChoice::Wgpu(None)),
            "vulkan" | "wgpu-vulkan" => Ok(DeviceChoice::Wgpu(Some(WgpuApi::Vulkan))),
            "wgpu-metal" => Ok(DeviceChoice::Wgpu(Some(WgpuApi::Metal))),
            "dx12" | "wgpu-dx12" => Ok(DeviceChoice::Wgpu(Some(WgpuApi::Dx12))),
            _ => match lower.strip_prefix("cuda:") {
                Some(index) => index
                    .parse()
                    .map(|i| DeviceChoice::Cuda(Some(i)))
                    .map_err(|_| format!("`{s}`: the CUDA device index must be a number")),
                None => Err(format!(
                    "unknown device `{s}`; expected auto, cpu, cuda, cuda:N, metal (ICICLE), \
                     wgpu, vulkan, wgpu-metal or wgpu-dx12"
                )),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(None) => write!(f, "cuda"),
            DeviceChoice::Cuda(Some(i)) => write!(f, "cuda:{i}"),
            DeviceChoice::Metal => write!(f, "metal"),
            DeviceChoice::Wgpu(None) => write!(f, "wgpu"),
            DeviceChoice::Wgpu(Some(WgpuApi::Vulkan)) => write!(f, "vulkan"),
            DeviceChoice::Wgpu(Some(api)) => write!(f, "wgpu-{api}"),
        }
    }
}

/// One backend as this build sees it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendStatus {
    /// Backend name (`cpu`, `icicle`, `wgpu`).
    pub backend: &'static str,
    /// Whether this binary contains the backend.
    pub compiled: bool,
    /// Whether it can run here.
    pub available: bool,
    /// The backend library's version, when it can be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where its libraries were loaded from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The devices it sees.
    pub devices: Vec<DeviceInfo>,
    /// Why it is unavailable (None when available).
    pub reason: Option<String>,
}

#[cfg(not(feature = "icicle"))]
const ICICLE_REASON: &str = "this build of zkinfer was compiled without the `icicle` feature \
(it is on by default; build with --features icicle)";
#[cfg(not(feature = "wgpu"))]
const WGPU_REASON: &str = "this build of zkinfer was compiled without the `wgpu` feature \
(it is on by default; build with --features wgpu)";

static KERNELS_CONFIG_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The kernels-config directory given on the command line, used when a GPU
/// backend is opened (unset: `$ZKINFER_KERNELS_CONFIG`, else compiled in). Call
/// once at start; a second call changes nothing.
pub fn set_kernels_config_dir(dir: Option<&Path>) {
    if let Some(dir) = dir {
        let _ = KERNELS_CONFIG_DIR.set(dir.to_path_buf());
    }
}

#[cfg_attr(
    not(any(feature = "icicle", feature = "wgpu")),
    expect(dead_code, reason = "read by the GPU backends only")
)]
fn kernels_config_dir() -> Option<&'static Path> {
    KERNELS_CONFIG_DIR.get().map(PathBuf::as_path)
}

#[cfg(feature = "icicle")]
fn icicle_status() -> BackendStatus {
    let probe = icicle::probe();
    BackendStatus {
        backend: "icicle",
        compiled: true,
        available: !probe.devices.is_empty(),
        version: probe.version,
        location: probe.location.map(|p| p.display().to_string()),
        devices: probe.devices,
        reason: probe.reason,
    }
}

#[cfg(not(feature = "icicle"))]
fn icicle_status() -> BackendStatus {
    BackendStatus {
        backend: "icicle",
        compiled: false,
        available: false,
        version: None,
        location: None,
        devices: vec![],
        reason: Some(ICICLE_REASON.to_string()),
    }
}

/// The wgpu backend's status: every adapter it sees, or why there is none.
#[cfg(feature = "wgpu")]
fn wgpu_status() -> BackendStatus {
    use super::wgpu::gpu;
    let devices: Vec<DeviceInfo> = gpu::enumerate(None)
        .iter()
        .map(|a| gpu::describe(&a.get_info(), &a.limits()))
        .collect();
    let reason = devices.is_empty().then(|| {
        "no Vulkan, Metal or DX12 adapter found (on Linux install a Vulkan driver, e.g. \
         Mesa's `mesa-vulkan-drivers` with `libvulkan1`)"
            .to_string()
    });
    BackendStatus {
        backend: "wgpu",
        compiled: true,
        available: !devices.is_empty(),
        version: None,
        location: None,
        devices,
        reason,
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_status() -> BackendStatus {
    BackendStatus {
        backend: "wgpu",
        compiled: false,
        available: false,
        version: None,
        location: None,
        devices: vec![],
        reason: Some(WGPU_REASON.to_string()),
    }
}

/// Every backend this build knows of, with its devices or the reason it is absent.
pub fn probe_all() -> Vec<BackendStatus> {
    let cpu = CpuBackend::global();
    vec![
        BackendStatus {
            backend: "cpu",
            compiled: true,
            available: true,
            version: None,
            location: None,
            devices: vec![cpu.device()],
            reason: None,
        },
        icicle_status(),
        wgpu_status(),
    ]
}

/// A backend chosen at the edge. Generic code is instantiated per variant.
#[derive(Debug, Clone, Copy)]
pub enum SelectedBackend {
    Cpu(&'static CpuBackend),
    /// ICICLE on a CUDA or Metal GPU (the process-wide instance).
    #[cfg(feature = "icicle")]
    Icicle(&'static IcicleBackend),
    /// zkinfer's WGSL kernels through wgpu (the process-wide instance).
    #[cfg(feature = "wgpu")]
    Wgpu(&'static super::wgpu::WgpuBackend),
}

impl SelectedBackend {
    /// The backend as a trait object (for listing and plain calls).
    pub fn as_dyn(&self) -> &'static dyn Backend {
        match self {
            SelectedBackend::Cpu(b) => *b,
            #[cfg(feature = "icicle")]
            SelectedBackend::Icicle(b) => *b,
            #[cfg(feature = "wgpu")]
            SelectedBackend::Wgpu(b) => *b,
        }
    }
}

/// Opens ICICLE on an explicitly requested GPU.
#[cfg(feature = "icicle")]
fn select_icicle(
    choice: DeviceChoice,
    device: IcicleDevice,
) -> Result<SelectedBackend, BackendError> {
    icicle::init_global_from_dir(device, kernels_config_dir())
        .map(SelectedBackend::Icicle)
        .map_err(|e| BackendError::Unavailable {
            backend: choice.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(not(feature = "icicle"))]
fn select_icicle(choice: DeviceChoice) -> Result<SelectedBackend, BackendError> {
    Err(BackendError::Unavailable {
        backend: choice.to_string(),
        reason: ICICLE_REASON.to_string(),
    })
}

/// The first ICICLE GPU that opens (CUDA, then Metal), logging why others did not.
#[cfg(feature = "icicle")]
fn auto_gpu() -> Option<SelectedBackend> {
    for device in [IcicleDevice::Cuda(0), IcicleDevice::Metal(0)] {
        match icicle::init_global_from_dir(device, kernels_config_dir()) {
            Ok(backend) => {
                tracing::info!("device auto: ICICLE on {device}");
                return Some(SelectedBackend::Icicle(backend));
            }
            Err(IcicleError::Load(e)) => {
                tracing::info!("device auto: no ICICLE GPU ({e})");
                return None;
            }
            Err(e) => tracing::info!("device auto: ICICLE {device} unavailable: {e}"),
        }
    }
    tracing::info!("device auto: no ICICLE GPU");
    None
}

/// Opens the process-wide wgpu backend with the kernels-config directory's
/// tuning (`DIR/wgpu.toml`, else `$ZKINFER_KERNELS_CONFIG`, else compiled in).
#[cfg(feature = "wgpu")]
fn open_wgpu(
    api: Option<WgpuApi>,
    allow_software: bool,
) -> Result<&'static super::wgpu::WgpuBackend, BackendError> {
    let config = crate::config::WgpuConfig::from_dir(kernels_config_dir()).map_err(|e| {
        BackendError::Unavailable {
            backend: "wgpu".into(),
            reason: e.to_string(),
        }
    })?;
    super::wgpu::WgpuBackend::install_config(config);
    super::wgpu::WgpuBackend::global_for(api, allow_software)
}

/// `auto`'s wgpu candidate: a discrete GPU on any API, or Apple's integrated GPU
/// through Metal; never a software adapter. `Err` says why none was taken.
#[cfg(feature = "wgpu")]
fn auto_wgpu() -> Result<SelectedBackend, String> {
    use super::wgpu::gpu;
    let adapters = gpu::enumerate(None);
    let pick = adapters.iter().map(|a| a.get_info()).find(|i| {
        i.device_type == ::wgpu::DeviceType::DiscreteGpu
            || (i.device_type == ::wgpu::DeviceType::IntegratedGpu
                && i.backend == ::wgpu::Backend::Metal)
    });
    let Some(info) = pick else {
        let seen: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?})", i.name, i.device_type)
            })
            .collect();
        return Err(if seen.is_empty() {
            "no wgpu adapter".to_string()
        } else {
            format!(
                "no discrete GPU among the wgpu adapters ({}); software and integrated \
                 adapters are used only when asked for (--device wgpu)",
                seen.join(", ")
            )
        });
    };
    open_wgpu(gpu::api_of(info.backend), false)
        .map(SelectedBackend::Wgpu)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "wgpu"))]
fn auto_wgpu() -> Result<SelectedBackend, String> {
    Err(WGPU_REASON.to_string())
}

/// Like [`select`], for a list meant as "every device present" (`--device
/// all`): there wgpu counts only with a GPU adapter `auto` would take, since a
/// software rasterizer such as lavapipe is the CPU again, slowly. Named
/// explicitly (`--device wgpu`), a software adapter is still used.
pub fn select_present(choice: DeviceChoice) -> Result<SelectedBackend, BackendError> {
    match choice {
        DeviceChoice::Wgpu(None) => auto_wgpu().map_err(|reason| BackendError::Unavailable {
            backend: choice.to_string(),
            reason,
        }),
        other => select(other),
    }
}

/// [`select_present`] for a `--device all` list, else [`select`].
pub fn select_in_list(
    choice: DeviceChoice,
    every_present: bool,
) -> Result<SelectedBackend, BackendError> {
    if every_present {
        select_present(choice)
    } else {
        select(choice)
    }
}

/// Resolves a `--device` choice. `auto` takes the fastest device present and
/// logs why others were skipped; an explicit device that is absent is an error
/// naming what is missing.
pub fn select(choice: DeviceChoice) -> Result<SelectedBackend, BackendError> {
    match choice {
        DeviceChoice::Cpu => Ok(SelectedBackend::Cpu(CpuBackend::global())),
        DeviceChoice::Auto => {
            #[cfg(feature = "icicle")]
            if let Some(gpu) = auto_gpu() {
                return Ok(gpu);
            }
            #[cfg(not(feature = "icicle"))]
            tracing::info!("device auto: {ICICLE_REASON}");
            match auto_wgpu() {
                Ok(selected) => {
                    tracing::info!("device auto: wgpu on {}", selected.as_dyn().device().name);
                    Ok(selected)
                }
                Err(reason) => {
                    tracing::info!("device auto: using the CPU backend; wgpu: {reason}");
                    Ok(SelectedBackend::Cpu(CpuBackend::global()))
                }
            }
        }
        #[cfg(feature = "icicle")]
        DeviceChoice::Cuda(index) => {
            let id = i32::try_from(index.unwrap_or(0)).map_err(|_| BackendError::Unavailable {
                backend: choice.to_string(),
                reason: "the CUDA device index is too large".into(),
            })?;
            select_icicle(choice, IcicleDevice::Cuda(id))
        }
        #[cfg(feature = "icicle")]
        DeviceChoice::Metal => select_icicle(choice, IcicleDevice::Metal(0)),
        #[cfg(not(feature = "icicle"))]
        DeviceChoice::Cuda(_) | DeviceChoice::Metal => select_icicle(choice),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(api) => open_wgpu(api, true).map(SelectedBackend::Wgpu),
        #[cfg(not(feature = "wgpu"))]
        DeviceChoice::Wgpu(_) => Err(BackendError::Unavailable {
            backend: choice.to_string(),
            reason: WGPU_REASON.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_choices() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(Some(1))
        );
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert!("tpu".parse::<DeviceChoice>().unwrap_err().contains("tpu"));
        assert_eq!(
            "metal".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Metal
        );
        for (text, api) in [
            ("wgpu", None),
            ("vulkan", Some(WgpuApi::Vulkan)),
            ("wgpu-metal", Some(WgpuApi::Metal)),
            ("wgpu-dx12", Some(WgpuApi::Dx12)),
        ] {
            let choice = text.parse::<DeviceChoice>().unwrap();
            assert_eq!(choice, DeviceChoice::Wgpu(api));
            assert_eq!(choice.to_string(), text);
        }
    }

    #[test]
    fn absent_devices_are_clear_errors_and_auto_falls_back() {
        let all = probe_all();
        assert!(all.iter().any(|s| s.backend == "cpu" && s.available));
        assert!(all
            .iter()
            .filter(|s| !s.available)
            .all(|s| s.reason.is_some()));
        let wgpu = all.iter().find(|s| s.backend == "wgpu").unwrap();
        assert_eq!(wgpu.compiled, cfg!(feature = "wgpu"));
        match select(DeviceChoice::Wgpu(None)) {
            Ok(b) => assert!(wgpu.available && b.as_dyn().name() == "wgpu"),
            Err(e) => {
                assert!(!wgpu.available);
                assert!(matches!(e, BackendError::Unavailable { .. }), "{e}");
            }
        }
        // `auto` never takes a software adapter.
        let auto = select(DeviceChoice::Auto).unwrap();
        assert!(auto.as_dyn().device().kind != crate::backend::DeviceKind::SoftwareGpu);
        let icicle = all.iter().find(|s| s.backend == "icicle").unwrap();
        if icicle.available {
            eprintln!("an ICICLE GPU is present: the absent-device checks do not apply");
            return;
        }
        let err = select(DeviceChoice::Cuda(None)).unwrap_err();
        assert!(matches!(err, BackendError::Unavailable { .. }));
        assert!(err.to_string().contains("cuda"), "{err}");
        assert!(err.to_string().contains("ICICLE"), "{err}");
        let err = select(DeviceChoice::Metal).unwrap_err();
        assert!(err.to_string().contains("metal"), "{err}");
        let discrete_wgpu = wgpu
            .devices
            .iter()
            .any(|d| d.adapter_type.as_deref() == Some("discrete"));
        if !discrete_wgpu {
            assert_eq!(select(DeviceChoice::Auto).unwrap().as_dyn().name(), "cpu");
        }
    }

    #[cfg(feature = "icicle")]
    #[test]
    fn absent_icicle_libraries_are_reported_with_the_folders_searched() {
        let status = probe_all()
            .into_iter()
            .find(|s| s.backend == "icicle")
            .unwrap();
        assert!(status.compiled);
        if status.location.is_none() {
            let reason = status.reason.unwrap();
            assert!(reason.contains("not found"), "{reason}");
            assert!(reason.contains("/opt/icicle/lib"), "{reason}");
            assert!(reason.contains("ICICLE_INSTALL_DIR"), "{reason}");
            let err = select(DeviceChoice::Cuda(Some(1))).unwrap_err();
            assert!(err.to_string().contains("not found"), "{err}");
        }
    }
}
