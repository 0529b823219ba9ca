//! Which backends this build has, which devices they see, and how a `--device`
//! argument picks one. The run-time choice happens here, once, at the edge; hot
//! code is generic over the chosen backend type.
//!
//! `cuda[:N]` and `metal` open the process-wide ICICLE backend
//! ([`super::icicle::init_global`]) with the tuning from the kernels-config
//! directory ([`set_kernels_config_dir`]); `auto` takes an ICICLE GPU when one is
//! present, else the CPU backend, and logs why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

#[cfg(feature = "icicle")]
use super::icicle::{self, IcicleBackend, IcicleDevice, IcicleError};
use super::{Backend, BackendError, CpuBackend, DeviceInfo};

/// A `--device` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The fastest device present (the CPU in this build).
    Auto,
    Cpu,
    /// NVIDIA GPU through ICICLE, optionally by index.
    Cuda(Option<usize>),
    /// Apple GPU through ICICLE.
    Metal,
    /// zkinfer's own WGSL kernels on wgpu.
    Wgpu,
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
            "wgpu" | "vulkan" => Ok(DeviceChoice::Wgpu),
            _ => match lower.strip_prefix("cuda:") {
                Some(index) => index
                    .parse()
                    .map(|i| DeviceChoice::Cuda(Some(i)))
                    .map_err(|_| format!("`{s}`: the CUDA device index must be a number")),
                None => Err(format!(
                    "unknown device `{s}`; expected auto, cpu, cuda, cuda:N, metal or wgpu"
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
            DeviceChoice::Wgpu => write!(f, "wgpu"),
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
const WGPU_REASON: &str = "this build of zkinfer has no wgpu backend yet (WGSL kernels on \
Vulkan/Metal are planned; until then GPU work runs on the CPU backend)";

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
    not(feature = "icicle"),
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
        BackendStatus {
            backend: "wgpu",
            compiled: false,
            available: false,
            version: None,
            location: None,
            devices: vec![],
            reason: Some(WGPU_REASON.to_string()),
        },
    ]
}

/// A backend chosen at the edge. Generic code is instantiated per variant.
#[derive(Debug, Clone, Copy)]
pub enum SelectedBackend {
    Cpu(&'static CpuBackend),
    /// ICICLE on a CUDA or Metal GPU (the process-wide instance).
    #[cfg(feature = "icicle")]
    Icicle(&'static IcicleBackend),
}

impl SelectedBackend {
    /// The backend as a trait object (for listing and plain calls).
    pub fn as_dyn(&self) -> &'static dyn Backend {
        match self {
            SelectedBackend::Cpu(b) => *b,
            #[cfg(feature = "icicle")]
            SelectedBackend::Icicle(b) => *b,
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
                tracing::info!("device auto: no ICICLE GPU ({e}); using the CPU backend");
                return None;
            }
            Err(e) => tracing::info!("device auto: ICICLE {device} unavailable: {e}"),
        }
    }
    tracing::info!("device auto: no ICICLE GPU; using the CPU backend");
    None
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
            tracing::info!("device auto: {ICICLE_REASON}; using the CPU backend");
            tracing::debug!("device auto: skipping wgpu: {WGPU_REASON}");
            Ok(SelectedBackend::Cpu(CpuBackend::global()))
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
        DeviceChoice::Wgpu => Err(BackendError::Unavailable {
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
    }

    #[test]
    fn absent_devices_are_clear_errors_and_auto_falls_back() {
        let all = probe_all();
        assert!(all.iter().any(|s| s.backend == "cpu" && s.available));
        assert!(all
            .iter()
            .filter(|s| !s.available)
            .all(|s| s.reason.is_some()));
        assert!(select(DeviceChoice::Wgpu).is_err());
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
        assert_eq!(select(DeviceChoice::Auto).unwrap().as_dyn().name(), "cpu");
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
