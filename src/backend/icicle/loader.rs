//! Finding and loading ICICLE's shared libraries at run time, and the one place
//! that calls into them.
//!
//! zkinfer has no build-time dependency on ICICLE: [`runtime`] looks for the
//! frontend libraries (`libicicle_device`, `libicicle_hash` when present,
//! `libicicle_field_bn254`, `libicicle_curve_bn254`) in `$ICICLE_INSTALL_DIR` (or its
//! `lib/`) and then in the standard prefixes, opens them with `RTLD_NOW |
//! RTLD_GLOBAL` (device first, so the curve library resolves the others'
//! symbols), resolves every entry point zkinfer uses, and asks ICICLE to load its
//! device backends (`icicle_load_backend_from_env_or_default`, which reads
//! `$ICICLE_BACKEND_INSTALL_DIR`, else `/opt/icicle/lib/backend`; zkinfer also
//! tries `<lib dir>/backend`). This happens once per process. When any step fails
//! the result is a [`LoadError`] and no [`IcicleRuntime`] exists, so nothing can
//! call into a half-loaded ICICLE.
//!
//! Every call into ICICLE goes through a method of [`IcicleRuntime`], which makes
//! the calling thread's device current first (ICICLE's current device is
//! per-thread) — after `icicle_is_device_available`, since `icicle_set_device` on
//! an unregistered device throws a C++ exception that aborts the process — and
//! turns every returned status into a typed [`IcicleStatus`].

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::ffi::{self, IcicleStatus, Status};

/// Environment variable naming the ICICLE install folder (or its `lib/`).
pub const INSTALL_DIR_ENV: &str = "ICICLE_INSTALL_DIR";
/// Environment variable ICICLE reads for its device backend plugins.
pub const BACKEND_DIR_ENV: &str = "ICICLE_BACKEND_INSTALL_DIR";
/// ICICLE's own default backend folder.
pub const DEFAULT_BACKEND_DIR: &str = "/opt/icicle/lib/backend";

/// Prefixes searched after `$ICICLE_INSTALL_DIR`, in order.
pub const STANDARD_LIB_DIRS: [&str; 6] = [
    "/opt/icicle/lib",
    "/opt/icicle/icicle/lib",
    "/usr/local/lib",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib/x86_64-linux-gnu",
];

#[cfg(target_os = "macos")]
const LIB_SUFFIX: &str = ".dylib";
#[cfg(not(target_os = "macos"))]
const LIB_SUFFIX: &str = ".so";

/// The frontend libraries, in load order; `hash` is optional (absent from
/// builds without hashes, and unused by zkinfer).
const FRONTEND: [(&str, bool); 4] = [
    ("icicle_device", true),
    ("icicle_hash", false),
    ("icicle_field_bn254", true),
    ("icicle_curve_bn254", true),
];

fn lib_file(stem: &str) -> String {
    format!("lib{stem}{LIB_SUFFIX}")
}

/// Why ICICLE could not be loaded. Nothing of ICICLE is ever called after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(
        "ICICLE libraries not found: no folder holds {device} (searched {}); set \
         ICICLE_INSTALL_DIR to the folder of an ICICLE install (or its lib/)",
        list(searched),
        device = lib_file("icicle_device")
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error(
        "ICICLE install at {} is incomplete: missing {} (zkinfer needs the BN254 curve and \
         field libraries)",
        dir.display(),
        missing.join(", ")
    )]
    Incomplete { dir: PathBuf, missing: Vec<String> },
    #[error("cannot load {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error(
        "{} has no symbol `{symbol}`: not an ICICLE version zkinfer supports (v3.0 to v4.0)",
        library.display()
    )]
    MissingSymbol { library: PathBuf, symbol: String },
    #[error("ICICLE is loaded at run time only on Linux and macOS")]
    UnsupportedPlatform,
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The folders searched for the frontend libraries, in order.
pub fn search_dirs(install_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = install_dir {
        dirs.push(dir.join("lib"));
        dirs.push(dir.to_path_buf());
    }
    dirs.extend(STANDARD_LIB_DIRS.iter().map(PathBuf::from));
    dirs
}

/// The first folder in `dirs` that holds `libicicle_device`; an error naming
/// every folder searched, or the BN254 libraries missing next to it.
pub fn find_install(dirs: &[PathBuf]) -> Result<PathBuf, LoadError> {
    let dir = dirs
        .iter()
        .find(|d| d.join(lib_file("icicle_device")).is_file())
        .ok_or_else(|| LoadError::NotFound {
            searched: dirs.to_vec(),
        })?;
    let missing: Vec<String> = FRONTEND
        .iter()
        .filter(|(stem, required)| *required && !dir.join(lib_file(stem)).is_file())
        .map(|(stem, _)| lib_file(stem))
        .collect();
    if missing.is_empty() {
        Ok(dir.clone())
    } else {
        Err(LoadError::Incomplete {
            dir: dir.clone(),
            missing,
        })
    }
}

/// Device backend plugin files (`*icicle_backend*.so`) under `dir`, recursively.
pub fn backend_plugins(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("icicle_backend") && n.ends_with(LIB_SUFFIX))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A device ICICLE can run on. The ICICLE CPU device exists for testing zkinfer's
/// bindings; the registry never selects it for proving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcicleDevice {
    Cpu,
    Cuda(i32),
    Metal(i32),
}

impl IcicleDevice {
    /// ICICLE's device type name.
    pub fn type_name(self) -> &'static str {
        match self {
            IcicleDevice::Cpu => "CPU",
            IcicleDevice::Cuda(_) => "CUDA",
            IcicleDevice::Metal(_) => "METAL",
        }
    }

    /// The device index.
    pub fn id(self) -> i32 {
        match self {
            IcicleDevice::Cpu => 0,
            IcicleDevice::Cuda(id) | IcicleDevice::Metal(id) => id,
        }
    }

    fn raw(self) -> ffi::Device {
        ffi::Device::new(self.type_name(), self.id())
    }
}

impl std::fmt::Display for IcicleDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.type_name(), self.id())
    }
}

/// The resolved entry points. Function pointers stay valid for the life of the
/// process: the libraries are never unloaded (the runtime lives in a static).
struct Api {
    load_backend_from_env: ffi::LoadBackendFromEnvFn,
    load_backend: ffi::LoadBackendFn,
    is_device_available: ffi::DeviceFn,
    set_device: ffi::DeviceFn,
    get_device_count: ffi::DeviceCountFn,
    get_available_memory: ffi::AvailableMemoryFn,
    get_registered_devices: ffi::RegisteredDevicesFn,
    malloc: ffi::MallocFn,
    free: ffi::FreeFn,
    copy_to_device: ffi::CopyToDeviceFn,
    device_synchronize: ffi::SynchronizeFn,
    create_extension: ffi::CreateExtensionFn,
    destroy_extension: ffi::DestroyExtensionFn,
    extension_set_int: ffi::ExtensionSetIntFn,
    extension_set_bool: ffi::ExtensionSetBoolFn,
    msm: ffi::MsmG1Fn,
    g2_msm: Option<ffi::MsmG2Fn>,
    ntt: ffi::NttFn,
    ntt_init_domain: ffi::NttInitDomainFn,
    ntt_release_domain: ffi::NttReleaseDomainFn,
    vector_mul: Option<ffi::VectorMulFn>,
    vector_sum: Option<ffi::VectorSumFn>,
}

/// What loading ICICLE's device backends found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendLoad {
    /// Folders handed to ICICLE's backend loader.
    pub searched: Vec<PathBuf>,
    /// Plugin files found there.
    pub plugins: Vec<PathBuf>,
    /// Device types registered after loading (always includes "CPU").
    pub registered: Vec<String>,
}

/// The loaded ICICLE frontend. One per process, in a static; see [`runtime`].
pub struct IcicleRuntime {
    #[cfg(unix)]
    _libraries: Vec<libloading::os::unix::Library>,
    /// The folder the libraries came from.
    pub dir: PathBuf,
    /// The library files loaded, in order.
    pub libraries: Vec<PathBuf>,
    /// The device backends found and registered.
    pub backends: BackendLoad,
    /// ICICLE's API level, told from its symbols (ICICLE reports no version):
    /// "v4.x" (`bn254_from_bytes_le`), "v3.1–v3.9" (`bn254_vector_sum`) or "v3.0".
    pub api_version: &'static str,
    api: Api,
    /// Per device, the log2 size of its initialised NTT domain (0: none). ICICLE
    /// keeps one domain per device backend for the whole process.
    ntt_domains: Mutex<HashMap<IcicleDevice, Arc<RwLock<u32>>>>,
}

// SAFETY: the runtime holds only function pointers into libraries that stay
// loaded, paths and a mutex-guarded map; ICICLE's entry points are thread-safe
// (each thread selects its own current device).
unsafe impl Send for IcicleRuntime {}
unsafe impl Sync for IcicleRuntime {}

static RUNTIME: OnceLock<Result<IcicleRuntime, LoadError>> = OnceLock::new();

/// The process-wide ICICLE runtime, loaded on first use from
/// `$ICICLE_INSTALL_DIR` or the standard prefixes. A failure is remembered: ICICLE
/// is never loaded twice, and never called after a failed load.
pub fn runtime() -> Result<&'static IcicleRuntime, &'static LoadError> {
    RUNTIME
        .get_or_init(|| {
            let install = std::env::var_os(INSTALL_DIR_ENV).map(PathBuf::from);
            let dirs = search_dirs(install.as_deref());
            let dir = find_install(&dirs)?;
            let runtime = IcicleRuntime::load(&dir)?;
            tracing::debug!(
                "ICICLE loaded from {}; devices registered: {}",
                dir.display(),
                runtime.backends.registered.join(", ")
            );
            Ok(runtime)
        })
        .as_ref()
}

thread_local! {
    /// The ICICLE device this thread made current (ICICLE's is per-thread too).
    static CURRENT: Cell<Option<IcicleDevice>> = const { Cell::new(None) };
}

/// Turns a status into a result.
fn check(status: Status) -> Result<(), IcicleStatus> {
    if status == ffi::SUCCESS {
        Ok(())
    } else {
        Err(IcicleStatus::from_code(status))
    }
}

#[cfg(unix)]
impl IcicleRuntime {
    fn load(dir: &Path) -> Result<Self, LoadError> {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        let mut libraries = Vec::new();
        let mut paths = Vec::new();
        for (stem, required) in FRONTEND {
            let path = dir.join(lib_file(stem));
            if !required && !path.is_file() {
                continue;
            }
            // SAFETY: loading runs the library's static initialisers (ICICLE
            // registers its CPU device there); these are ICICLE's frontend
            // libraries, found by their exact file names.
            let library =
                unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| {
                    LoadError::Open {
                        path: path.clone(),
                        message: e.to_string(),
                    }
                })?;
            libraries.push(library);
            paths.push(path);
        }
        let api_version = {
            let has = |symbol: &str| {
                let name = CString::new(symbol).expect("symbol names have no NUL");
                libraries.iter().any(|lib| {
                    // SAFETY: a lookup only; the pointer is not used.
                    unsafe { lib.get::<*mut c_void>(name.as_bytes_with_nul()) }.is_ok()
                })
            };
            if has("bn254_from_bytes_le") {
                "v4.x"
            } else if has("bn254_vector_sum") {
                "v3.1–v3.9"
            } else {
                "v3.0"
            }
        };
        let api = {
            let find = |symbol: &str| -> Option<*mut c_void> {
                let name = CString::new(symbol).expect("symbol names have no NUL");
                libraries.iter().rev().find_map(|lib| {
                    // SAFETY: looking a symbol up has no side effect; the pointer is
                    // only cast to the signature of the ICICLE header it comes from.
                    unsafe { lib.get::<*mut c_void>(name.as_bytes_with_nul()) }
                        .ok()
                        .map(|s| *s)
                })
            };
            let need = |symbol: &str| -> Result<*mut c_void, LoadError> {
                find(symbol).ok_or_else(|| LoadError::MissingSymbol {
                    library: if symbol.starts_with("bn254_") {
                        paths.last().cloned().unwrap_or_default()
                    } else {
                        paths[0].clone()
                    },
                    symbol: symbol.to_string(),
                })
            };
            // SAFETY (every transmute below): the symbol has exactly the C signature
            // of the ffi type it is cast to (see ffi.rs), a function pointer is
            // pointer-sized, and the library stays loaded for the process's life.
            macro_rules! required {
                ($ty:ty, $name:literal) => {
                    unsafe { std::mem::transmute::<*mut c_void, $ty>(need($name)?) }
                };
            }
            macro_rules! optional {
                ($ty:ty, $name:literal) => {
                    find($name).map(|p| unsafe { std::mem::transmute::<*mut c_void, $ty>(p) })
                };
            }
            Api {
                load_backend_from_env: required!(
                    ffi::LoadBackendFromEnvFn,
                    "icicle_load_backend_from_env_or_default"
                ),
                load_backend: required!(ffi::LoadBackendFn, "icicle_load_backend"),
                is_device_available: required!(ffi::DeviceFn, "icicle_is_device_available"),
                set_device: required!(ffi::DeviceFn, "icicle_set_device"),
                get_device_count: required!(ffi::DeviceCountFn, "icicle_get_device_count"),
                get_available_memory: required!(
                    ffi::AvailableMemoryFn,
                    "icicle_get_available_memory"
                ),
                get_registered_devices: required!(
                    ffi::RegisteredDevicesFn,
                    "icicle_get_registered_devices"
                ),
                malloc: required!(ffi::MallocFn, "icicle_malloc"),
                free: required!(ffi::FreeFn, "icicle_free"),
                copy_to_device: required!(ffi::CopyToDeviceFn, "icicle_copy_to_device"),
                device_synchronize: required!(ffi::SynchronizeFn, "icicle_device_synchronize"),
                create_extension: required!(ffi::CreateExtensionFn, "create_config_extension"),
                destroy_extension: required!(ffi::DestroyExtensionFn, "destroy_config_extension"),
                extension_set_int: required!(ffi::ExtensionSetIntFn, "config_extension_set_int"),
                extension_set_bool: required!(ffi::ExtensionSetBoolFn, "config_extension_set_bool"),
                msm: required!(ffi::MsmG1Fn, "bn254_msm"),
                g2_msm: optional!(ffi::MsmG2Fn, "bn254_g2_msm"),
                ntt: required!(ffi::NttFn, "bn254_ntt"),
                ntt_init_domain: required!(ffi::NttInitDomainFn, "bn254_ntt_init_domain"),
                ntt_release_domain: required!(ffi::NttReleaseDomainFn, "bn254_ntt_release_domain"),
                vector_mul: optional!(ffi::VectorMulFn, "bn254_vector_mul"),
                // New in v3.1.0, together with VecOpsConfig's current layout: the
                // vector kernels are used only when it exists.
                vector_sum: optional!(ffi::VectorSumFn, "bn254_vector_sum"),
            }
        };
        let mut runtime = IcicleRuntime {
            _libraries: libraries,
            dir: dir.to_path_buf(),
            libraries: paths,
            backends: BackendLoad {
                searched: Vec::new(),
                plugins: Vec::new(),
                registered: Vec::new(),
            },
            api_version,
            api,
            ntt_domains: Mutex::new(HashMap::new()),
        };
        runtime.backends = runtime.load_device_backends();
        Ok(runtime)
    }
}

#[cfg(not(unix))]
impl IcicleRuntime {
    fn load(_dir: &Path) -> Result<Self, LoadError> {
        Err(LoadError::UnsupportedPlatform)
    }
}

impl IcicleRuntime {
    /// Runs ICICLE's backend loader, plus `<lib dir>/backend` when
    /// `$ICICLE_BACKEND_INSTALL_DIR` is unset, and lists what registered.
    fn load_device_backends(&self) -> BackendLoad {
        let mut searched = Vec::new();
        let env_dir = std::env::var_os(BACKEND_DIR_ENV).map(PathBuf::from);
        if let Some(dir) = &env_dir {
            searched.push(dir.clone());
        }
        searched.push(PathBuf::from(DEFAULT_BACKEND_DIR));
        // SAFETY: no arguments; ICICLE dlopens plugin files and returns a status.
        let status = unsafe { (self.api.load_backend_from_env)() };
        if let Err(e) = check(status) {
            tracing::debug!("icicle_load_backend_from_env_or_default: {e}");
        }
        let own_dir = self.dir.join("backend");
        if env_dir.is_none() && own_dir.is_dir() && own_dir != Path::new(DEFAULT_BACKEND_DIR) {
            searched.push(own_dir.clone());
            if let Some(path) = own_dir.to_str().and_then(|s| CString::new(s).ok()) {
                // SAFETY: a NUL-terminated path that outlives the call.
                let status = unsafe { (self.api.load_backend)(path.as_ptr(), true) };
                if let Err(e) = check(status) {
                    tracing::debug!("icicle_load_backend({}): {e}", own_dir.display());
                }
            }
        }
        let plugins = searched.iter().flat_map(|d| backend_plugins(d)).collect();
        BackendLoad {
            searched,
            plugins,
            registered: self.registered_devices(),
        }
    }

    /// The device types ICICLE has registered ("CPU", "CUDA", ...).
    pub fn registered_devices(&self) -> Vec<String> {
        let mut buf = vec![0 as c_char; 1024];
        // SAFETY: the buffer is writable for its whole length, which is passed.
        let status = unsafe { (self.api.get_registered_devices)(buf.as_mut_ptr(), buf.len()) };
        if check(status).is_err() {
            return Vec::new();
        }
        let bytes: Vec<u8> = buf
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether ICICLE has a backend registered for the device's type.
    pub fn is_registered(&self, device: IcicleDevice) -> bool {
        let raw = device.raw();
        // SAFETY: `raw` is a valid Device for the duration of the call.
        check(unsafe { (self.api.is_device_available)(&raw) }).is_ok()
    }

    /// Makes `device` the calling thread's current ICICLE device. Checks that its
    /// type is registered first (`icicle_set_device` would abort the process).
    pub fn activate(&self, device: IcicleDevice) -> Result<(), IcicleStatus> {
        if CURRENT.with(Cell::get) == Some(device) {
            return Ok(());
        }
        if !self.is_registered(device) {
            return Err(IcicleStatus::InvalidDevice);
        }
        let raw = device.raw();
        // SAFETY: the type is registered (checked above); `raw` outlives the call.
        check(unsafe { (self.api.set_device)(&raw) })?;
        CURRENT.with(|c| c.set(Some(device)));
        Ok(())
    }

    /// Number of devices of `device`'s type (makes index 0 of that type current).
    pub fn device_count(&self, device: IcicleDevice) -> Result<usize, IcicleStatus> {
        let first = match device {
            IcicleDevice::Cpu => IcicleDevice::Cpu,
            IcicleDevice::Cuda(_) => IcicleDevice::Cuda(0),
            IcicleDevice::Metal(_) => IcicleDevice::Metal(0),
        };
        self.activate(first)?;
        let mut count: c_int = 0;
        // SAFETY: `count` is a valid out-pointer.
        check(unsafe { (self.api.get_device_count)(&mut count) })?;
        Ok(count.max(0) as usize)
    }

    /// (total, free) memory of `device` in bytes; `None` when the device does not
    /// report it (ICICLE's CPU device).
    pub fn memory(&self, device: IcicleDevice) -> Result<Option<(u64, u64)>, IcicleStatus> {
        self.activate(device)?;
        let (mut total, mut free) = (0usize, 0usize);
        // SAFETY: both are valid out-pointers.
        match check(unsafe { (self.api.get_available_memory)(&mut total, &mut free) }) {
            Ok(()) => Ok(Some((total as u64, free as u64))),
            Err(IcicleStatus::ApiNotImplemented) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for all work on `device`.
    pub fn synchronize(&self, device: IcicleDevice) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        // SAFETY: no arguments.
        check(unsafe { (self.api.device_synchronize)() })
    }

    /// Whether the G2 MSM entry point exists (built with G2).
    pub fn has_g2(&self) -> bool {
        self.api.g2_msm.is_some()
    }

    /// Whether the vector kernels zkinfer uses exist (v3.1.0 and later).
    pub fn has_vec_ops(&self) -> bool {
        self.api.vector_mul.is_some() && self.api.vector_sum.is_some()
    }

    /// Allocates `bytes` on `device`.
    pub fn malloc(&self, device: IcicleDevice, bytes: usize) -> Result<*mut c_void, IcicleStatus> {
        self.activate(device)?;
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: `ptr` is a valid out-pointer.
        check(unsafe { (self.api.malloc)(&mut ptr, bytes) })?;
        if ptr.is_null() {
            return Err(IcicleStatus::AllocationFailed);
        }
        Ok(ptr)
    }

    /// Frees memory from [`IcicleRuntime::malloc`].
    ///
    /// # Safety
    /// `ptr` came from `malloc` on `device` and is not used afterwards.
    pub unsafe fn free(&self, device: IcicleDevice, ptr: *mut c_void) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        check(unsafe { (self.api.free)(ptr) })
    }

    /// Copies host memory to device memory.
    ///
    /// # Safety
    /// `dst` is device memory of `device` with room for `bytes`; `src` is readable
    /// host memory of `bytes`.
    pub unsafe fn copy_to_device(
        &self,
        device: IcicleDevice,
        dst: *mut c_void,
        src: *const c_void,
        bytes: usize,
    ) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        check(unsafe { (self.api.copy_to_device)(dst, src, bytes) })
    }

    /// A config extension with the CUDA MSM options set, or null when none is.
    /// The caller destroys it with [`IcicleRuntime::destroy_extension`].
    pub fn msm_extension(
        &self,
        large_bucket_factor: Option<u32>,
        big_triangle: Option<bool>,
    ) -> ffi::ConfigExtension {
        if large_bucket_factor.is_none() && big_triangle.is_none() {
            return std::ptr::null_mut();
        }
        // SAFETY: creates a fresh C++ object; the setters take it and a
        // NUL-terminated key that outlives the call.
        unsafe {
            let ext = (self.api.create_extension)();
            if ext.is_null() {
                return ext;
            }
            if let Some(factor) = large_bucket_factor {
                (self.api.extension_set_int)(ext, c"large_bucket_factor".as_ptr(), factor as c_int);
            }
            if let Some(big) = big_triangle {
                (self.api.extension_set_bool)(ext, c"is_big_triangle".as_ptr(), big);
            }
            ext
        }
    }

    /// Destroys an extension from [`IcicleRuntime::msm_extension`] (null is fine).
    ///
    /// # Safety
    /// `ext` is null or came from `msm_extension` and is not used afterwards.
    pub unsafe fn destroy_extension(&self, ext: ffi::ConfigExtension) {
        if !ext.is_null() {
            unsafe { (self.api.destroy_extension)(ext) }
        }
    }

    /// `bn254_msm`.
    ///
    /// # Safety
    /// `scalars` holds `size × batch_size` scalars and `bases` `size` points (or
    /// `size × batch_size` when not shared), each in host or device memory as the
    /// config says; `out` has room for `batch_size` results.
    pub unsafe fn msm_g1(
        &self,
        device: IcicleDevice,
        scalars: *const ffi::Scalar,
        bases: *const ffi::G1AffineRaw,
        size: c_int,
        config: &ffi::MsmConfig,
        out: *mut ffi::G1ProjectiveRaw,
    ) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        check(unsafe { (self.api.msm)(scalars, bases, size, config, out) })
    }

    /// `bn254_g2_msm`; `ApiNotImplemented` when the library has no G2.
    ///
    /// # Safety
    /// As for [`IcicleRuntime::msm_g1`], with G2 points.
    pub unsafe fn msm_g2(
        &self,
        device: IcicleDevice,
        scalars: *const ffi::Scalar,
        bases: *const ffi::G2AffineRaw,
        size: c_int,
        config: &ffi::MsmConfig,
        out: *mut ffi::G2ProjectiveRaw,
    ) -> Result<(), IcicleStatus> {
        let f = self.api.g2_msm.ok_or(IcicleStatus::ApiNotImplemented)?;
        self.activate(device)?;
        check(unsafe { f(scalars, bases, size, config, out) })
    }

    /// The NTT domain lock of `device`, holding the log2 size initialised (0: none).
    pub fn ntt_domain(&self, device: IcicleDevice) -> Arc<RwLock<u32>> {
        let mut domains = self
            .ntt_domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        domains.entry(device).or_default().clone()
    }

    /// (Re-)initialises `device`'s NTT domain from a primitive root of unity in
    /// canonical form, releasing a previous one. Call with the domain's write lock.
    pub fn ntt_init_domain(
        &self,
        device: IcicleDevice,
        root: &ffi::Scalar,
        had_domain: bool,
    ) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        if had_domain {
            // SAFETY: no arguments.
            check(unsafe { (self.api.ntt_release_domain)() })?;
        }
        let config = ffi::NttInitDomainConfig {
            stream: std::ptr::null_mut(),
            is_async: false,
            ext: std::ptr::null_mut(),
        };
        // SAFETY: `root` and `config` are valid for the call.
        check(unsafe { (self.api.ntt_init_domain)(root, &config) })
    }

    /// `bn254_ntt`. Call with the domain's read lock held and the domain large enough.
    ///
    /// # Safety
    /// `input` and `output` hold `size × config.batch_size` scalars (they may be
    /// the same buffer) in host memory.
    pub unsafe fn ntt(
        &self,
        device: IcicleDevice,
        input: *const ffi::Scalar,
        size: c_int,
        dir: ffi::NttDir,
        config: &ffi::NttConfig,
        output: *mut ffi::Scalar,
    ) -> Result<(), IcicleStatus> {
        self.activate(device)?;
        check(unsafe { (self.api.ntt)(input, size, dir, config, output) })
    }

    /// `bn254_vector_mul`.
    ///
    /// # Safety
    /// `a`, `b` and `out` hold `size` scalars where the config says.
    pub unsafe fn vector_mul(
        &self,
        device: IcicleDevice,
        a: *const ffi::Scalar,
        b: *const ffi::Scalar,
        size: u64,
        config: &ffi::VecOpsConfig,
        out: *mut ffi::Scalar,
    ) -> Result<(), IcicleStatus> {
        let f = self.api.vector_mul.ok_or(IcicleStatus::ApiNotImplemented)?;
        self.activate(device)?;
        check(unsafe { f(a, b, size, config, out) })
    }

    /// `bn254_vector_sum`.
    ///
    /// # Safety
    /// `a` holds `size` scalars where the config says; `out` one scalar on the host.
    pub unsafe fn vector_sum(
        &self,
        device: IcicleDevice,
        a: *const ffi::Scalar,
        size: u64,
        config: &ffi::VecOpsConfig,
        out: *mut ffi::Scalar,
    ) -> Result<(), IcicleStatus> {
        let f = self.api.vector_sum.ok_or(IcicleStatus::ApiNotImplemented)?;
        self.activate(device)?;
        check(unsafe { f(a, size, config, out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_puts_the_install_dir_first() {
        let dirs = search_dirs(Some(Path::new("/x/icicle")));
        assert_eq!(dirs[0], Path::new("/x/icicle/lib"));
        assert_eq!(dirs[1], Path::new("/x/icicle"));
        assert_eq!(dirs[2], Path::new("/opt/icicle/lib"));
        assert_eq!(search_dirs(None)[0], Path::new("/opt/icicle/lib"));
    }

    #[test]
    fn absent_libraries_list_every_folder_searched() {
        let empty = tempfile::tempdir().unwrap();
        let dirs = search_dirs(Some(empty.path()));
        let err = find_install(&dirs[..2]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, LoadError::NotFound { .. }));
        assert!(
            message.contains(&empty.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("ICICLE_INSTALL_DIR"), "{message}");
        assert!(message.contains(&lib_file("icicle_device")), "{message}");
    }

    #[test]
    fn an_install_without_bn254_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(lib_file("icicle_device")), b"").unwrap();
        let err = find_install(&[dir.path().to_path_buf()]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, LoadError::Incomplete { .. }), "{message}");
        assert!(
            message.contains(&lib_file("icicle_curve_bn254")),
            "{message}"
        );
        assert!(
            message.contains(&lib_file("icicle_field_bn254")),
            "{message}"
        );
        assert!(
            !message.contains("icicle_hash"),
            "the hash library is optional"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_that_is_not_a_library_is_a_load_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (stem, _) in FRONTEND {
            std::fs::write(dir.path().join(lib_file(stem)), b"not an ELF file").unwrap();
        }
        let found = find_install(&[dir.path().to_path_buf()]).unwrap();
        let err = match IcicleRuntime::load(&found) {
            Err(e) => e,
            Ok(_) => panic!("a text file loaded as a library"),
        };
        assert!(matches!(err, LoadError::Open { .. }), "{err}");
        assert!(
            err.to_string().contains(&lib_file("icicle_device")),
            "{err}"
        );
    }

    #[test]
    fn plugins_are_found_recursively_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cuda");
        std::fs::create_dir_all(&nested).unwrap();
        let plugin = nested.join(format!("libicicle_backend_cuda_device{LIB_SUFFIX}"));
        std::fs::write(&plugin, b"").unwrap();
        std::fs::write(nested.join("README"), b"").unwrap();
        std::fs::write(dir.path().join(lib_file("icicle_device")), b"").unwrap();
        assert_eq!(backend_plugins(dir.path()), vec![plugin]);
        assert!(backend_plugins(Path::new("/nonexistent/icicle")).is_empty());
    }
}
