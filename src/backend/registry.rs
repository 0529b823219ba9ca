//! Which backends this build has, which devices they see, and how a `--device`
//! argument picks one. The run-time choice happens here, once, at the edge; hot
//! code is generic over the chosen backend type.

use serde::Serialize;

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
    /// The fastest device present: a discrete GPU through wgpu when there is one
    /// (never a software adapter), else the CPU.
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
    /// The devices it sees.
    pub devices: Vec<DeviceInfo>,
    /// Why it is unavailable (None when available).
    pub reason: Option<String>,
}

const ICICLE_REASON: &str = "this build of zkinfer has no ICICLE backend yet (CUDA/Metal through \
ICICLE's C API is planned; until then GPU work runs on the CPU backend)";
#[cfg(not(feature = "wgpu"))]
const WGPU_REASON: &str = "this zkinfer was built without the `wgpu` cargo feature (it is on by \
default; rebuild without --no-default-features)";

/// The wgpu backend's status: every adapter it sees, or why there is none.
#[cfg(feature = "wgpu")]
fn probe_wgpu() -> BackendStatus {
    use super::wgpu::gpu;
    let adapters = gpu::enumerate(None);
    let devices: Vec<DeviceInfo> = adapters
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
        devices,
        reason,
    }
}

#[cfg(not(feature = "wgpu"))]
fn probe_wgpu() -> BackendStatus {
    BackendStatus {
        backend: "wgpu",
        compiled: false,
        available: false,
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
        probe_wgpu(),
    ]
}

/// A backend chosen at the edge. Generic code is instantiated per variant.
#[derive(Debug, Clone, Copy)]
pub enum SelectedBackend {
    Cpu(&'static CpuBackend),
    #[cfg(feature = "wgpu")]
    Wgpu(&'static super::wgpu::WgpuBackend),
}

impl SelectedBackend {
    /// The backend as a trait object (for listing and plain calls).
    pub fn as_dyn(&self) -> &'static dyn Backend {
        match self {
            SelectedBackend::Cpu(b) => *b,
            #[cfg(feature = "wgpu")]
            SelectedBackend::Wgpu(b) => *b,
        }
    }
}

/// `auto`'s wgpu candidate: a discrete GPU on any API, or Apple's integrated GPU
/// through Metal; never a software adapter. `Err` says why none was taken.
#[cfg(feature = "wgpu")]
fn auto_wgpu() -> Result<SelectedBackend, String> {
    use super::wgpu::{gpu, WgpuBackend};
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
    WgpuBackend::global_for(gpu::api_of(info.backend), false)
        .map(SelectedBackend::Wgpu)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "wgpu"))]
fn auto_wgpu() -> Result<SelectedBackend, String> {
    Err(WGPU_REASON.to_string())
}

/// Resolves a `--device` choice. `auto` takes the fastest device present and
/// logs why others were skipped; an explicit device that is absent is an error
/// naming what is missing.
pub fn select(choice: DeviceChoice) -> Result<SelectedBackend, BackendError> {
    match choice {
        DeviceChoice::Cpu => Ok(SelectedBackend::Cpu(CpuBackend::global())),
        DeviceChoice::Auto => {
            tracing::debug!("device auto: skipping icicle: {ICICLE_REASON}");
            match auto_wgpu() {
                Ok(selected) => Ok(selected),
                Err(reason) => {
                    tracing::info!("device auto: using the CPU backend; wgpu: {reason}");
                    Ok(SelectedBackend::Cpu(CpuBackend::global()))
                }
            }
        }
        DeviceChoice::Cuda(_) | DeviceChoice::Metal => Err(BackendError::Unavailable {
            backend: choice.to_string(),
            reason: ICICLE_REASON.to_string(),
        }),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(api) => {
            super::wgpu::WgpuBackend::global_for(api, true).map(SelectedBackend::Wgpu)
        }
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
        let err = select(DeviceChoice::Cuda(None)).unwrap_err();
        assert!(matches!(err, BackendError::Unavailable { .. }));
        assert!(err.to_string().contains("cuda"), "{err}");
        // `auto` never takes a software adapter: it is the CPU unless a real GPU is present.
        let auto = select(DeviceChoice::Auto).unwrap();
        assert!(auto.as_dyn().device().kind != crate::backend::DeviceKind::SoftwareGpu);
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
    }
}
