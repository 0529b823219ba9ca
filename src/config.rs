//! Per-device kernel tuning read from `kernels-config/*.toml`.
//!
//! This module owns the schema (what keys exist, their ranges, their defaults) and
//! the loading and validation of the files. The tuned CPU defaults ship in
//! `kernels-config/cpu.toml` and are compiled in, so the binary works from any
//! directory; `ZKINFER_KERNELS_CONFIG=DIR` (or `--kernels-config DIR`) points at a
//! directory of overrides. A malformed file is an error naming the file and key.
//!
//! The ICICLE backend has its own schema ([`IcicleConfig`]: per-operation offload
//! thresholds, MSM and NTT options, the bases cache), shipped as
//! `kernels-config/icicle-cuda.toml` and `kernels-config/icicle-metal.toml`, also
//! compiled in and overridable from the same directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The compiled-in CPU tuning (the file shipped in `kernels-config/cpu.toml`).
pub const CPU_DEFAULTS_TOML: &str = include_str!("../kernels-config/cpu.toml");

/// The compiled-in wgpu tuning (the file shipped in `kernels-config/wgpu.toml`).
pub const WGPU_DEFAULTS_TOML: &str = include_str!("../kernels-config/wgpu.toml");

/// The compiled-in ICICLE tuning for CUDA (`kernels-config/icicle-cuda.toml`).
pub const ICICLE_CUDA_DEFAULTS_TOML: &str = include_str!("../kernels-config/icicle-cuda.toml");

/// The compiled-in ICICLE tuning for Metal (`kernels-config/icicle-metal.toml`).
pub const ICICLE_METAL_DEFAULTS_TOML: &str = include_str!("../kernels-config/icicle-metal.toml");

/// Environment variable naming a directory of kernel-config overrides.
pub const CONFIG_DIR_ENV: &str = "ZKINFER_KERNELS_CONFIG";

/// Errors from reading or validating a kernel-config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read kernel config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed kernel config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid kernel config {path}: key `{key}` = {value}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
}

/// One rule of a window table: inputs with `log2(len) <= max_log_len` use `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRule {
    pub max_log_len: u32,
    pub window: u32,
}

/// MSM tuning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsmConfig {
    /// Window sizes for full 254-bit scalars, by input size; rules sorted by
    /// `max_log_len`, the first that covers the input applies, the last covers
    /// everything larger.
    pub full_windows: Vec<WindowRule>,
    /// Largest window the small-scalar path may pick (it chooses the window from a
    /// cost model over the values' true bit width, capped here).
    pub small_max_window: u32,
    /// Below this many points an MSM runs on one thread.
    pub min_parallel_len: usize,
}

/// NTT tuning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NttConfig {
    /// Below this size a batch of NTTs is parallelised across polynomials only.
    pub min_parallel_len: usize,
}

/// Multilinear-kernel tuning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilinearConfig {
    /// Entries per rayon task in eq-table, bind, inner-product and round kernels.
    pub chunk_len: usize,
}

/// When a GPU backend hands work back to the CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffloadConfig {
    /// MSMs shorter than this stay on the CPU (0: never hand back).
    pub msm_min_len: usize,
    /// NTTs shorter than this stay on the CPU.
    pub ntt_min_len: usize,
    /// Multilinear vectors shorter than this stay on the CPU.
    pub multilinear_min_len: usize,
}

/// A whole kernel-config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    /// The backend the file tunes (`cpu`, `icicle-cuda`, `wgpu`, …).
    pub backend: String,
    pub msm: MsmConfig,
    pub ntt: NttConfig,
    pub multilinear: MultilinearConfig,
    pub offload: OffloadConfig,
}

impl KernelConfig {
    /// The compiled-in CPU defaults.
    pub fn cpu_defaults() -> Self {
        Self::parse(CPU_DEFAULTS_TOML, Path::new("kernels-config/cpu.toml"))
            .expect("the shipped kernels-config/cpu.toml is valid (checked by a test)")
    }

    /// Parses and validates TOML text; `path` is used in error messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: KernelConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The CPU config: `DIR/cpu.toml` when `dir` (or `$ZKINFER_KERNELS_CONFIG`) is
    /// given and holds one, else the compiled-in defaults.
    pub fn cpu_from_dir(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let env_dir = std::env::var_os(CONFIG_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        match dir.map(Path::to_path_buf).or(env_dir) {
            Some(dir) => {
                let path = dir.join("cpu.toml");
                if path.exists() {
                    Self::load(&path)
                } else {
                    Ok(Self::cpu_defaults())
                }
            }
            None => Ok(Self::cpu_defaults()),
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            value,
            reason: reason.to_string(),
        };
        if self.msm.full_windows.is_empty() {
            return Err(invalid(
                "msm.full_windows",
                "[]".into(),
                "needs at least one rule",
            ));
        }
        let mut previous = None;
        for (i, rule) in self.msm.full_windows.iter().enumerate() {
            if !(1..=24).contains(&rule.window) {
                return Err(invalid(
                    &format!("msm.full_windows[{i}].window"),
                    rule.window.to_string(),
                    "must be between 1 and 24",
                ));
            }
            if rule.max_log_len > 40 {
                return Err(invalid(
                    &format!("msm.full_windows[{i}].max_log_len"),
                    rule.max_log_len.to_string(),
                    "must be at most 40",
                ));
            }
            if previous.is_some_and(|p| rule.max_log_len <= p) {
                return Err(invalid(
                    &format!("msm.full_windows[{i}].max_log_len"),
                    rule.max_log_len.to_string(),
                    "rules must be sorted by strictly increasing max_log_len",
                ));
            }
            previous = Some(rule.max_log_len);
        }
        if !(1..=24).contains(&self.msm.small_max_window) {
            return Err(invalid(
                "msm.small_max_window",
                self.msm.small_max_window.to_string(),
                "must be between 1 and 24",
            ));
        }
        if self.multilinear.chunk_len == 0 {
            return Err(invalid(
                "multilinear.chunk_len",
                "0".into(),
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The full-scalar MSM window for an input of `len` points.
    pub fn full_window(&self, len: usize) -> u32 {
        let log_len = usize::BITS - len.max(1).leading_zeros() - 1;
        self.msm
            .full_windows
            .iter()
            .find(|rule| log_len <= rule.max_log_len)
            .or(self.msm.full_windows.last())
            .map(|rule| rule.window)
            .unwrap_or(8)
    }
}

/// Which ICICLE tuning file applies: one per GPU device type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcicleTarget {
    Cuda,
    Metal,
}

impl IcicleTarget {
    /// The file name in a kernels-config directory.
    pub fn file_name(self) -> &'static str {
        match self {
            IcicleTarget::Cuda => "icicle-cuda.toml",
            IcicleTarget::Metal => "icicle-metal.toml",
        }
    }

    /// The `backend` value the file must declare.
    pub fn backend_name(self) -> &'static str {
        match self {
            IcicleTarget::Cuda => "icicle-cuda",
            IcicleTarget::Metal => "icicle-metal",
        }
    }

    fn defaults_toml(self) -> &'static str {
        match self {
            IcicleTarget::Cuda => ICICLE_CUDA_DEFAULTS_TOML,
            IcicleTarget::Metal => ICICLE_METAL_DEFAULTS_TOML,
        }
    }
}

/// Per-operation sizes below which the ICICLE backend hands the work to zkinfer's
/// CPU backend (the transfer and launch cost is larger than the CPU's time there).
/// 0 sends every call of that operation to ICICLE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcicleThresholds {
    /// Full-scalar G1 MSM, in points.
    pub msm_g1: usize,
    /// Small-integer G1 MSM, in points.
    pub msm_g1_small: usize,
    /// G2 MSM, in points.
    pub msm_g2: usize,
    /// Batched (row) G1 MSMs, full or small scalars, in scalars over all rows.
    pub msm_g1_batch: usize,
    /// NTT / inverse NTT, in values over the whole batch.
    pub ntt: usize,
    /// Inner product, in entries.
    pub inner_product: usize,
}

/// ICICLE MSM options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcicleMsmConfig {
    /// Bucket-method window `c` in bits; 0 lets ICICLE choose per call.
    pub window: u32,
    /// Share of the device's free memory one MSM call may use; larger MSMs are
    /// split into chunks that fit.
    pub memory_fraction: f64,
    /// Most scalars one ICICLE MSM call takes (0: as many as fit in memory).
    #[serde(default)]
    pub max_points_per_call: usize,
    /// CUDA only: ICICLE's `large_bucket_factor` extension option (unset: ICICLE's default).
    #[serde(default)]
    pub large_bucket_factor: Option<u32>,
    /// CUDA only: ICICLE's `is_big_triangle` extension option (unset: ICICLE's default).
    #[serde(default)]
    pub big_triangle: Option<bool>,
}

/// ICICLE NTT options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcicleNttConfig {
    /// The NTT domain is initialised once, for 2^max(this, first size) points;
    /// a larger transform later re-initialises it at that size.
    pub domain_log_size: u32,
}

/// The device-resident cache of MSM bases (converted once to ICICLE's layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcicleBasesCacheConfig {
    /// Most base vectors kept (least recently used evicted first).
    pub max_entries: usize,
    /// Share of the device's total memory the cached bases may occupy.
    pub max_memory_fraction: f64,
}

/// A whole ICICLE kernel-config file (`icicle-cuda.toml`, `icicle-metal.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcicleConfig {
    /// `icicle-cuda` or `icicle-metal`, matching the file name.
    pub backend: String,
    pub min_len: IcicleThresholds,
    pub msm: IcicleMsmConfig,
    pub ntt: IcicleNttConfig,
    pub bases_cache: IcicleBasesCacheConfig,
}

impl IcicleConfig {
    /// The compiled-in defaults for a target.
    pub fn defaults(target: IcicleTarget) -> Self {
        let path = PathBuf::from("kernels-config").join(target.file_name());
        Self::parse(target.defaults_toml(), &path, target)
            .expect("the shipped kernels-config/icicle-*.toml files are valid (checked by a test)")
    }

    /// Parses and validates TOML text for `target`; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path, target: IcicleTarget) -> Result<Self, ConfigError> {
        let config: IcicleConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path, target)?;
        Ok(config)
    }

    /// `DIR/icicle-cuda.toml` (or `-metal`) when `dir` (or `$ZKINFER_KERNELS_CONFIG`)
    /// holds one, else the compiled-in defaults.
    pub fn from_dir(target: IcicleTarget, dir: Option<&Path>) -> Result<Self, ConfigError> {
        let env_dir = std::env::var_os(CONFIG_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        if let Some(dir) = dir.map(Path::to_path_buf).or(env_dir) {
            let path = dir.join(target.file_name());
            if path.exists() {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
                    path: path.clone(),
                    source,
                })?;
                return Self::parse(&text, &path, target);
            }
        }
        Ok(Self::defaults(target))
    }

    /// The same options with every threshold at 0: every call goes to ICICLE.
    /// For testing a device (ICICLE's CPU device included), never for proving.
    pub fn offload_everything(mut self) -> Self {
        self.min_len = IcicleThresholds {
            msm_g1: 0,
            msm_g1_small: 0,
            msm_g2: 0,
            msm_g1_batch: 0,
            ntt: 0,
            inner_product: 0,
        };
        self
    }

    fn validate(&self, path: &Path, target: IcicleTarget) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            value,
            reason: reason.to_string(),
        };
        if self.backend != target.backend_name() {
            return Err(invalid(
                "backend",
                format!("{:?}", self.backend),
                &format!(
                    "must be \"{}\" in {}",
                    target.backend_name(),
                    target.file_name()
                ),
            ));
        }
        if self.msm.window > 24 {
            return Err(invalid(
                "msm.window",
                self.msm.window.to_string(),
                "must be between 0 (ICICLE chooses) and 24",
            ));
        }
        let fraction_ok = |f: f64| f > 0.0 && f <= 1.0;
        if !fraction_ok(self.msm.memory_fraction) {
            return Err(invalid(
                "msm.memory_fraction",
                self.msm.memory_fraction.to_string(),
                "must be in (0, 1]",
            ));
        }
        if let Some(factor) = self.msm.large_bucket_factor {
            if !(1..=64).contains(&factor) {
                return Err(invalid(
                    "msm.large_bucket_factor",
                    factor.to_string(),
                    "must be between 1 and 64",
                ));
            }
        }
        let two_adicity = <ark_bn254::Fr as ark_ff::FftField>::TWO_ADICITY;
        if !(1..=two_adicity).contains(&self.ntt.domain_log_size) {
            return Err(invalid(
                "ntt.domain_log_size",
                self.ntt.domain_log_size.to_string(),
                &format!("must be between 1 and {two_adicity} (Fr's two-adicity)"),
            ));
        }
        if self.bases_cache.max_entries == 0 {
            return Err(invalid(
                "bases_cache.max_entries",
                "0".into(),
                "must be at least 1",
            ));
        }
        if !fraction_ok(self.bases_cache.max_memory_fraction) {
            return Err(invalid(
                "bases_cache.max_memory_fraction",
                self.bases_cache.max_memory_fraction.to_string(),
                "must be in (0, 1]",
            ));
        }
        Ok(())
    }
}

/// MSM tuning of the wgpu backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WgpuMsmConfig {
    /// Largest window (bits per signed digit) the MSM's cost model may choose, 2..=16.
    pub max_window: u32,
    /// Fewest points one thread adds when a bucket's points are split among
    /// threads (a bucket of n points is cut into pieces of max(this, ⌈√n⌉)).
    pub segment_min: u32,
    /// Buckets one thread folds in the bucket reduction (a power of two).
    pub bucket_chunk: u32,
}

/// A wgpu kernel-config file (`kernels-config/wgpu.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WgpuConfig {
    /// Always `wgpu`.
    pub backend: String,
    /// Below these sizes the wgpu backend hands work to the CPU backend.
    pub offload: OffloadConfig,
    pub msm: WgpuMsmConfig,
}

impl WgpuConfig {
    /// The compiled-in wgpu defaults.
    pub fn defaults() -> Self {
        Self::parse(WGPU_DEFAULTS_TOML, Path::new("kernels-config/wgpu.toml"))
            .expect("the shipped kernels-config/wgpu.toml is valid (checked by a test)")
    }

    /// Parses and validates TOML text; `path` is used in error messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: WgpuConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            value,
            reason: reason.to_string(),
        };
        if config.backend != "wgpu" {
            return Err(invalid(
                "backend",
                format!("{:?}", config.backend),
                "a wgpu config must say backend = \"wgpu\"",
            ));
        }
        if !(2..=16).contains(&config.msm.max_window) {
            return Err(invalid(
                "msm.max_window",
                config.msm.max_window.to_string(),
                "must be between 2 and 16",
            ));
        }
        if !(1..=1 << 16).contains(&config.msm.segment_min) {
            return Err(invalid(
                "msm.segment_min",
                config.msm.segment_min.to_string(),
                "must be between 1 and 65536",
            ));
        }
        if !config.msm.bucket_chunk.is_power_of_two() || config.msm.bucket_chunk > 1024 {
            return Err(invalid(
                "msm.bucket_chunk",
                config.msm.bucket_chunk.to_string(),
                "must be a power of two no larger than 1024",
            ));
        }
        Ok(config)
    }

    /// `DIR/wgpu.toml` when `dir` (or `$ZKINFER_KERNELS_CONFIG`) is given and holds
    /// one, else the compiled-in defaults.
    pub fn from_dir(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let env_dir = std::env::var_os(CONFIG_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        match dir.map(Path::to_path_buf).or(env_dir) {
            Some(dir) if dir.join("wgpu.toml").exists() => {
                let path = dir.join("wgpu.toml");
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text, &path)
            }
            _ => Ok(Self::defaults()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_cpu_config_is_valid() {
        let config = KernelConfig::cpu_defaults();
        assert_eq!(config.backend, "cpu");
        assert!(config.full_window(1 << 16) >= 8);
    }

    #[test]
    fn shipped_wgpu_config_is_valid() {
        let config = WgpuConfig::defaults();
        assert_eq!(config.backend, "wgpu");
        let text = WGPU_DEFAULTS_TOML.replace("bucket_chunk = ", "bucket_chunk = 12 #");
        let err = WgpuConfig::parse(&text, Path::new("w.toml")).unwrap_err();
        assert!(err.to_string().contains("msm.bucket_chunk"), "{err}");
        let text = WGPU_DEFAULTS_TOML.replace("backend = \"wgpu\"", "backend = \"cpu\"");
        assert!(WgpuConfig::parse(&text, Path::new("w.toml")).is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let text = CPU_DEFAULTS_TOML.replace("small_max_window", "small_max_windw");
        let err = KernelConfig::parse(&text, Path::new("x.toml")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("small_max_windw"), "{message}");
        assert!(message.contains("x.toml"), "{message}");
    }

    #[test]
    fn out_of_range_value_is_named() {
        let text = CPU_DEFAULTS_TOML.replace("small_max_window = ", "small_max_window = 99 #");
        let err = KernelConfig::parse(&text, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("msm.small_max_window"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let text = CPU_DEFAULTS_TOML.replace("chunk_len = ", "chunk_len = \"many\" #");
        let err = KernelConfig::parse(&text, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("chunk_len"), "{err}");
    }

    #[test]
    fn shipped_icicle_configs_are_valid() {
        for target in [IcicleTarget::Cuda, IcicleTarget::Metal] {
            let config = IcicleConfig::defaults(target);
            assert_eq!(config.backend, target.backend_name());
            assert!(
                config.min_len.msm_g1 > 0,
                "{target:?}: GPU thresholds are set"
            );
            let all = config.offload_everything();
            assert_eq!(all.min_len.msm_g1, 0);
            assert_eq!(all.min_len.ntt, 0);
        }
    }

    #[test]
    fn icicle_config_errors_name_file_and_key() {
        let path = Path::new("dir/icicle-cuda.toml");
        let text =
            ICICLE_CUDA_DEFAULTS_TOML.replace("memory_fraction = ", "memory_fraction = 1.5 #");
        let err = IcicleConfig::parse(&text, path, IcicleTarget::Cuda).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("msm.memory_fraction"), "{message}");
        assert!(message.contains("dir/icicle-cuda.toml"), "{message}");
        let text = ICICLE_CUDA_DEFAULTS_TOML.replace("msm_g2 =", "msm_g3 =");
        let err = IcicleConfig::parse(&text, path, IcicleTarget::Cuda).unwrap_err();
        assert!(err.to_string().contains("msm_g3"), "{err}");
        let err =
            IcicleConfig::parse(ICICLE_CUDA_DEFAULTS_TOML, path, IcicleTarget::Metal).unwrap_err();
        assert!(err.to_string().contains("`backend`"), "{err}");
        let text =
            ICICLE_CUDA_DEFAULTS_TOML.replace("domain_log_size = ", "domain_log_size = 29 #");
        let err = IcicleConfig::parse(&text, path, IcicleTarget::Cuda).unwrap_err();
        assert!(err.to_string().contains("ntt.domain_log_size"), "{err}");
    }

    #[test]
    fn icicle_config_override_is_read_from_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let text = ICICLE_METAL_DEFAULTS_TOML.replace("max_entries = ", "max_entries = 3 #");
        std::fs::write(dir.path().join("icicle-metal.toml"), text).unwrap();
        let config = IcicleConfig::from_dir(IcicleTarget::Metal, Some(dir.path())).unwrap();
        assert_eq!(config.bases_cache.max_entries, 3);
        // No CUDA file there: the compiled-in defaults.
        let cuda = IcicleConfig::from_dir(IcicleTarget::Cuda, Some(dir.path())).unwrap();
        assert_eq!(cuda, IcicleConfig::defaults(IcicleTarget::Cuda));
    }
}
