//! Which backends this build has, which devices they see, and how a `--device`
//! argument picks one. The run-time choice happens here, once, at the edge; hot
//! code is generic over the chosen backend type.

use serde::Serialize;

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
    /// The devices it sees.
    pub devices: Vec<DeviceInfo>,
    /// Why it is unavailable (None when available).
    pub reason: Option<String>,
}

const ICICLE_REASON: &str = "this build of zkinfer has no ICICLE backend yet (CUDA/Metal through \
ICICLE's C API is planned; until then GPU work runs on the CPU backend)";
const WGPU_REASON: &str = "this build of zkinfer has no wgpu backend yet (WGSL kernels on \
Vulkan/Metal are planned; until then GPU work runs on the CPU backend)";

/// Every backend this build knows of, with its devices or the reason it is absent.
pub fn probe_all() -> Vec<BackendStatus> {
    let cpu = CpuBackend::global();
    vec![
        BackendStatus {
            backend: "cpu",
            compiled: true,
            available: true,
            devices: vec![cpu.device()],
            reason: None,
        },
        BackendStatus {
            backend: "icicle",
            compiled: false,
            available: false,
            devices: vec![],
            reason: Some(ICICLE_REASON.to_string()),
        },
        BackendStatus {
            backend: "wgpu",
            compiled: false,
            available: false,
            devices: vec![],
            reason: Some(WGPU_REASON.to_string()),
        },
    ]
}

/// A backend chosen at the edge. Generic code is instantiated per variant.
#[derive(Debug, Clone, Copy)]
pub enum SelectedBackend {
    Cpu(&'static CpuBackend),
}

impl SelectedBackend {
    /// The backend as a trait object (for listing and plain calls).
    pub fn as_dyn(&self) -> &'static dyn Backend {
        match self {
            SelectedBackend::Cpu(b) => *b,
        }
    }
}

/// Resolves a `--device` choice. `auto` takes the fastest device present and
/// logs why others were skipped; an explicit device that is absent is an error
/// naming what is missing.
pub fn select(choice: DeviceChoice) -> Result<SelectedBackend, BackendError> {
    match choice {
        DeviceChoice::Cpu => Ok(SelectedBackend::Cpu(CpuBackend::global())),
        DeviceChoice::Auto => {
            for status in probe_all().iter().filter(|s| !s.available) {
                tracing::debug!(
                    "device auto: skipping {}: {}",
                    status.backend,
                    status.reason.as_deref().unwrap_or("unavailable")
                );
            }
            Ok(SelectedBackend::Cpu(CpuBackend::global()))
        }
        DeviceChoice::Cuda(_) | DeviceChoice::Metal => Err(BackendError::Unavailable {
            backend: choice.to_string(),
            reason: ICICLE_REASON.to_string(),
        }),
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
        let err = select(DeviceChoice::Cuda(None)).unwrap_err();
        assert!(matches!(err, BackendError::Unavailable { .. }));
        assert!(err.to_string().contains("cuda"), "{err}");
        assert!(select(DeviceChoice::Wgpu).is_err());
        assert_eq!(select(DeviceChoice::Auto).unwrap().as_dyn().name(), "cpu");
        let all = probe_all();
        assert!(all.iter().any(|s| s.backend == "cpu" && s.available));
        assert!(all
            .iter()
            .filter(|s| !s.available)
            .all(|s| s.reason.is_some()));
    }
}
