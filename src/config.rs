//! Per-device kernel tuning read from `kernels-config/*.toml`.
//!
//! This module owns the schema (what keys exist, their ranges, their defaults) and
//! the loading and validation of the files. The tuned CPU defaults ship in
//! `kernels-config/cpu.toml` and are compiled in, so the binary works from any
//! directory; `ZKINFER_KERNELS_CONFIG=DIR` (or `--kernels-config DIR`) points at a
//! directory of overrides. A malformed file is an error naming the file and key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The compiled-in CPU tuning (the file shipped in `kernels-config/cpu.toml`).
pub const CPU_DEFAULTS_TOML: &str = include_str!("../kernels-config/cpu.toml");

/// The compiled-in wgpu tuning (the file shipped in `kernels-config/wgpu.toml`).
pub const WGPU_DEFAULTS_TOML: &str = include_str!("../kernels-config/wgpu.toml");

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
        let env_dir = std::env::var_os(CONFIG_DIR_ENV).map(PathBuf::from);
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
        let env_dir = std::env::var_os(CONFIG_DIR_ENV).map(PathBuf::from);
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
}
