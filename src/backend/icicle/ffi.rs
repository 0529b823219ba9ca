//! `#[repr(C)]` mirrors of the ICICLE C API's structs, its status codes, the
//! signatures of the entry points zkinfer calls, and the raw point and scalar
//! layouts those entry points read and write.
//!
//! Written from ICICLE's public headers (`icicle/runtime.h`, `msm.h`, `ntt.h`,
//! `vec_ops.h`, `errors.h`, `device.h`). `MSMConfig`, `NTTConfig` and
//! `NTTInitDomainConfig` are unchanged from v3.0.0 to v4.0.0; `VecOpsConfig` gained
//! `batch_size` and `columns_batch` in v3.1.0, so the vector kernels are used only
//! where `bn254_vector_sum` (also new in v3.1.0) exists. The tests pin every size
//! and field offset; they are the C++ compiler's (g++ 12, x86-64) for the v4.0.0
//! headers.
//!
//! This module only describes memory; it calls nothing. Every call goes through
//! [`super::loader`], which checks each returned status.

use std::ffi::{c_char, c_int, c_void};

/// `icicleStreamHandle` (an opaque pointer; zkinfer always passes the default stream).
pub type Stream = *mut c_void;

/// `ConfigExtension*` (an opaque C++ object created by `create_config_extension`).
pub type ConfigExtension = *mut c_void;

/// `icicle::Device`: a device type name and an index.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Device {
    /// NUL-terminated type name: "CPU", "CUDA", "METAL".
    pub device_type: [c_char; 64],
    pub id: c_int,
}

impl Device {
    /// A device of `device_type` (at most 63 bytes, no NUL) and index `id`.
    pub fn new(device_type: &str, id: i32) -> Self {
        let mut name = [0 as c_char; 64];
        for (dst, src) in name.iter_mut().zip(device_type.bytes().take(63)) {
            *dst = src as c_char;
        }
        Device {
            device_type: name,
            id,
        }
    }
}

/// `icicle::MSMConfig`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MsmConfig {
    pub stream: Stream,
    pub precompute_factor: c_int,
    pub c: c_int,
    pub bitsize: c_int,
    pub batch_size: c_int,
    pub are_points_shared_in_batch: bool,
    pub are_scalars_on_device: bool,
    pub are_scalars_montgomery_form: bool,
    pub are_points_on_device: bool,
    pub are_points_montgomery_form: bool,
    pub are_results_on_device: bool,
    pub is_async: bool,
    pub ext: ConfigExtension,
}

impl Default for MsmConfig {
    /// ICICLE's `default_msm_config()`.
    fn default() -> Self {
        MsmConfig {
            stream: std::ptr::null_mut(),
            precompute_factor: 1,
            c: 0,
            bitsize: 0,
            batch_size: 1,
            are_points_shared_in_batch: true,
            are_scalars_on_device: false,
            are_scalars_montgomery_form: false,
            are_points_on_device: false,
            are_points_montgomery_form: false,
            are_results_on_device: false,
            is_async: false,
            ext: std::ptr::null_mut(),
        }
    }
}

/// `icicle::Ordering` of NTT inputs and outputs (a C++ `enum class`, an `int`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    NN = 0,
    NR = 1,
    RN = 2,
    RR = 3,
    NM = 4,
    MN = 5,
}

/// `icicle::NTTDir`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NttDir {
    Forward = 0,
    Inverse = 1,
}

/// `icicle::NTTConfig<scalar_t>` for BN254's scalar field.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NttConfig {
    pub stream: Stream,
    /// Coset generator in canonical (non-Montgomery) form; one for no coset.
    pub coset_gen: Scalar,
    pub batch_size: c_int,
    pub columns_batch: bool,
    pub ordering: Ordering,
    pub are_inputs_on_device: bool,
    pub are_outputs_on_device: bool,
    pub is_async: bool,
    pub ext: ConfigExtension,
}

/// `icicle::NTTInitDomainConfig`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NttInitDomainConfig {
    pub stream: Stream,
    pub is_async: bool,
    pub ext: ConfigExtension,
}

/// `icicle::VecOpsConfig` (v3.1.0 and later).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VecOpsConfig {
    pub stream: Stream,
    pub is_a_on_device: bool,
    pub is_b_on_device: bool,
    pub is_result_on_device: bool,
    pub is_async: bool,
    pub batch_size: c_int,
    pub columns_batch: bool,
    pub ext: ConfigExtension,
}

impl Default for VecOpsConfig {
    /// ICICLE's `default_vec_ops_config()`.
    fn default() -> Self {
        VecOpsConfig {
            stream: std::ptr::null_mut(),
            is_a_on_device: false,
            is_b_on_device: false,
            is_result_on_device: false,
            is_async: false,
            batch_size: 1,
            columns_batch: false,
            ext: std::ptr::null_mut(),
        }
    }
}

/// A BN254 base- or scalar-field element as ICICLE stores it: 256 bits, little-endian
/// limbs (ICICLE declares eight `u32`; on a little-endian host that is the same
/// memory as four `u64`). Canonical or Montgomery form depending on the call.
pub type Limbs = [u64; 4];

/// ICICLE `scalar_t` (BN254 Fr).
pub type Scalar = Limbs;

/// ICICLE `affine_t` for G1: x, y in canonical form; the identity is (0, 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct G1AffineRaw {
    pub x: Limbs,
    pub y: Limbs,
}

/// ICICLE `projective_t` for G1: homogeneous X, Y, Z (x = X/Z, y = Y/Z), canonical.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct G1ProjectiveRaw {
    pub x: Limbs,
    pub y: Limbs,
    pub z: Limbs,
}

/// An Fq2 element as ICICLE stores it: c0 (real) then c1 (imaginary).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fq2Raw {
    pub c0: Limbs,
    pub c1: Limbs,
}

/// ICICLE `g2_affine_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct G2AffineRaw {
    pub x: Fq2Raw,
    pub y: Fq2Raw,
}

/// ICICLE `g2_projective_t` (homogeneous).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct G2ProjectiveRaw {
    pub x: Fq2Raw,
    pub y: Fq2Raw,
    pub z: Fq2Raw,
}

/// `eIcicleError` as returned by every entry point (a C++ `enum class`, an `int`).
pub type Status = c_int;

/// `eIcicleError::SUCCESS`.
pub const SUCCESS: Status = 0;

/// The `eIcicleError` codes, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcicleStatus {
    InvalidDevice,
    OutOfMemory,
    InvalidPointer,
    AllocationFailed,
    DeallocationFailed,
    CopyFailed,
    SynchronizationFailed,
    StreamCreationFailed,
    StreamDestructionFailed,
    ApiNotImplemented,
    InvalidArgument,
    BackendLoadFailed,
    LicenseCheckError,
    UnknownError,
    /// A code this version of zkinfer does not know.
    Other(c_int),
}

impl IcicleStatus {
    /// The typed error for a non-zero status code.
    pub fn from_code(code: Status) -> Self {
        match code {
            1 => IcicleStatus::InvalidDevice,
            2 => IcicleStatus::OutOfMemory,
            3 => IcicleStatus::InvalidPointer,
            4 => IcicleStatus::AllocationFailed,
            5 => IcicleStatus::DeallocationFailed,
            6 => IcicleStatus::CopyFailed,
            7 => IcicleStatus::SynchronizationFailed,
            8 => IcicleStatus::StreamCreationFailed,
            9 => IcicleStatus::StreamDestructionFailed,
            10 => IcicleStatus::ApiNotImplemented,
            11 => IcicleStatus::InvalidArgument,
            12 => IcicleStatus::BackendLoadFailed,
            13 => IcicleStatus::LicenseCheckError,
            14 => IcicleStatus::UnknownError,
            other => IcicleStatus::Other(other),
        }
    }

    /// Whether a smaller piece of work might succeed (memory ran out).
    pub fn is_out_of_memory(self) -> bool {
        matches!(
            self,
            IcicleStatus::OutOfMemory | IcicleStatus::AllocationFailed
        )
    }
}

impl std::fmt::Display for IcicleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            IcicleStatus::InvalidDevice => "INVALID_DEVICE",
            IcicleStatus::OutOfMemory => "OUT_OF_MEMORY",
            IcicleStatus::InvalidPointer => "INVALID_POINTER",
            IcicleStatus::AllocationFailed => "ALLOCATION_FAILED",
            IcicleStatus::DeallocationFailed => "DEALLOCATION_FAILED",
            IcicleStatus::CopyFailed => "COPY_FAILED",
            IcicleStatus::SynchronizationFailed => "SYNCHRONIZATION_FAILED",
            IcicleStatus::StreamCreationFailed => "STREAM_CREATION_FAILED",
            IcicleStatus::StreamDestructionFailed => "STREAM_DESTRUCTION_FAILED",
            IcicleStatus::ApiNotImplemented => "API_NOT_IMPLEMENTED",
            IcicleStatus::InvalidArgument => "INVALID_ARGUMENT",
            IcicleStatus::BackendLoadFailed => "BACKEND_LOAD_FAILED",
            IcicleStatus::LicenseCheckError => {
                "LICENSE_CHECK_ERROR (no licence: check ICICLE_LICENSE and that the licence server is reachable)"
            }
            IcicleStatus::UnknownError => "UNKNOWN_ERROR",
            IcicleStatus::Other(code) => return write!(f, "unknown eIcicleError code {code}"),
        };
        write!(f, "eIcicleError::{text}")
    }
}

// Entry-point signatures. C++ references (`const Device&`, `int&`) are pointers at
// the ABI level.
pub type LoadBackendFromEnvFn = unsafe extern "C" fn() -> Status;
pub type LoadBackendFn = unsafe extern "C" fn(path: *const c_char, recursive: bool) -> Status;
pub type DeviceFn = unsafe extern "C" fn(device: *const Device) -> Status;
pub type DeviceCountFn = unsafe extern "C" fn(count: *mut c_int) -> Status;
pub type AvailableMemoryFn = unsafe extern "C" fn(total: *mut usize, free: *mut usize) -> Status;
pub type RegisteredDevicesFn = unsafe extern "C" fn(out: *mut c_char, len: usize) -> Status;
pub type MallocFn = unsafe extern "C" fn(ptr: *mut *mut c_void, size: usize) -> Status;
pub type FreeFn = unsafe extern "C" fn(ptr: *mut c_void) -> Status;
pub type CopyToDeviceFn =
    unsafe extern "C" fn(dst: *mut c_void, src: *const c_void, size: usize) -> Status;
pub type SynchronizeFn = unsafe extern "C" fn() -> Status;
pub type CreateExtensionFn = unsafe extern "C" fn() -> ConfigExtension;
pub type DestroyExtensionFn = unsafe extern "C" fn(ext: ConfigExtension);
pub type ExtensionSetIntFn =
    unsafe extern "C" fn(ext: ConfigExtension, key: *const c_char, value: c_int);
pub type ExtensionSetBoolFn =
    unsafe extern "C" fn(ext: ConfigExtension, key: *const c_char, value: bool);
pub type MsmG1Fn = unsafe extern "C" fn(
    scalars: *const Scalar,
    bases: *const G1AffineRaw,
    msm_size: c_int,
    config: *const MsmConfig,
    out: *mut G1ProjectiveRaw,
) -> Status;
pub type MsmG2Fn = unsafe extern "C" fn(
    scalars: *const Scalar,
    bases: *const G2AffineRaw,
    msm_size: c_int,
    config: *const MsmConfig,
    out: *mut G2ProjectiveRaw,
) -> Status;
pub type NttFn = unsafe extern "C" fn(
    input: *const Scalar,
    size: c_int,
    dir: NttDir,
    config: *const NttConfig,
    output: *mut Scalar,
) -> Status;
pub type NttInitDomainFn =
    unsafe extern "C" fn(root: *const Scalar, config: *const NttInitDomainConfig) -> Status;
pub type NttReleaseDomainFn = unsafe extern "C" fn() -> Status;
pub type VectorMulFn = unsafe extern "C" fn(
    a: *const Scalar,
    b: *const Scalar,
    size: u64,
    config: *const VecOpsConfig,
    out: *mut Scalar,
) -> Status;
pub type VectorSumFn = unsafe extern "C" fn(
    a: *const Scalar,
    size: u64,
    config: *const VecOpsConfig,
    out: *mut Scalar,
) -> Status;

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use super::*;

    #[test]
    fn device_layout() {
        assert_eq!(size_of::<Device>(), 68);
        assert_eq!(align_of::<Device>(), 4);
        assert_eq!(offset_of!(Device, device_type), 0);
        assert_eq!(offset_of!(Device, id), 64);
        let d = Device::new("CUDA", 3);
        assert_eq!(
            &d.device_type[..5],
            &[67, 85, 68, 65, 0].map(|b| b as c_char)
        );
        // Over-long names are cut and stay NUL-terminated.
        let long = Device::new(&"X".repeat(100), 0);
        assert_eq!(long.device_type[63], 0);
    }

    #[test]
    fn msm_config_layout() {
        assert_eq!(size_of::<MsmConfig>(), 40);
        assert_eq!(offset_of!(MsmConfig, stream), 0);
        assert_eq!(offset_of!(MsmConfig, precompute_factor), 8);
        assert_eq!(offset_of!(MsmConfig, c), 12);
        assert_eq!(offset_of!(MsmConfig, bitsize), 16);
        assert_eq!(offset_of!(MsmConfig, batch_size), 20);
        assert_eq!(offset_of!(MsmConfig, are_points_shared_in_batch), 24);
        assert_eq!(offset_of!(MsmConfig, are_scalars_on_device), 25);
        assert_eq!(offset_of!(MsmConfig, are_scalars_montgomery_form), 26);
        assert_eq!(offset_of!(MsmConfig, are_points_on_device), 27);
        assert_eq!(offset_of!(MsmConfig, are_points_montgomery_form), 28);
        assert_eq!(offset_of!(MsmConfig, are_results_on_device), 29);
        assert_eq!(offset_of!(MsmConfig, is_async), 30);
        assert_eq!(offset_of!(MsmConfig, ext), 32);
    }

    #[test]
    fn ntt_config_layout() {
        assert_eq!(size_of::<NttConfig>(), 64);
        assert_eq!(offset_of!(NttConfig, stream), 0);
        assert_eq!(offset_of!(NttConfig, coset_gen), 8);
        assert_eq!(offset_of!(NttConfig, batch_size), 40);
        assert_eq!(offset_of!(NttConfig, columns_batch), 44);
        assert_eq!(offset_of!(NttConfig, ordering), 48);
        assert_eq!(offset_of!(NttConfig, are_inputs_on_device), 52);
        assert_eq!(offset_of!(NttConfig, are_outputs_on_device), 53);
        assert_eq!(offset_of!(NttConfig, is_async), 54);
        assert_eq!(offset_of!(NttConfig, ext), 56);
        assert_eq!(size_of::<Ordering>(), 4);
        assert_eq!(size_of::<NttDir>(), 4);
        assert_eq!(Ordering::NN as i32, 0);
        assert_eq!(Ordering::MN as i32, 5);
        assert_eq!(NttDir::Inverse as i32, 1);
    }

    #[test]
    fn ntt_init_domain_config_layout() {
        assert_eq!(size_of::<NttInitDomainConfig>(), 24);
        assert_eq!(offset_of!(NttInitDomainConfig, stream), 0);
        assert_eq!(offset_of!(NttInitDomainConfig, is_async), 8);
        assert_eq!(offset_of!(NttInitDomainConfig, ext), 16);
    }

    #[test]
    fn vec_ops_config_layout() {
        assert_eq!(size_of::<VecOpsConfig>(), 32);
        assert_eq!(offset_of!(VecOpsConfig, stream), 0);
        assert_eq!(offset_of!(VecOpsConfig, is_a_on_device), 8);
        assert_eq!(offset_of!(VecOpsConfig, is_b_on_device), 9);
        assert_eq!(offset_of!(VecOpsConfig, is_result_on_device), 10);
        assert_eq!(offset_of!(VecOpsConfig, is_async), 11);
        assert_eq!(offset_of!(VecOpsConfig, batch_size), 12);
        assert_eq!(offset_of!(VecOpsConfig, columns_batch), 16);
        assert_eq!(offset_of!(VecOpsConfig, ext), 24);
    }

    #[test]
    fn point_layouts() {
        assert_eq!(size_of::<Scalar>(), 32);
        assert_eq!(size_of::<G1AffineRaw>(), 64);
        assert_eq!(size_of::<G1ProjectiveRaw>(), 96);
        assert_eq!(offset_of!(G1ProjectiveRaw, z), 64);
        assert_eq!(size_of::<Fq2Raw>(), 64);
        assert_eq!(offset_of!(Fq2Raw, c1), 32);
        assert_eq!(size_of::<G2AffineRaw>(), 128);
        assert_eq!(offset_of!(G2AffineRaw, y), 64);
        assert_eq!(size_of::<G2ProjectiveRaw>(), 192);
        assert_eq!(offset_of!(G2ProjectiveRaw, z), 128);
    }

    #[test]
    fn status_codes_are_typed() {
        assert_eq!(IcicleStatus::from_code(2), IcicleStatus::OutOfMemory);
        assert!(IcicleStatus::from_code(2).is_out_of_memory());
        assert!(IcicleStatus::from_code(4).is_out_of_memory());
        assert_eq!(IcicleStatus::from_code(13), IcicleStatus::LicenseCheckError);
        assert!(IcicleStatus::from_code(13)
            .to_string()
            .contains("ICICLE_LICENSE"));
        assert_eq!(IcicleStatus::from_code(14), IcicleStatus::UnknownError);
        assert_eq!(IcicleStatus::from_code(99), IcicleStatus::Other(99));
        for code in 1..=14 {
            assert!(!matches!(
                IcicleStatus::from_code(code),
                IcicleStatus::Other(_)
            ));
        }
    }
}
