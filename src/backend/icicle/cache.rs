//! Device memory and the cache of MSM bases.
//!
//! Dory's generators are fixed for a process, and every commitment runs MSMs over
//! (prefixes of) them, so the ICICLE backend converts a bases vector to ICICLE's
//! layout once and keeps it in device memory. A vector is recognised by its
//! address, its length and a fingerprint of up to 64 evenly spaced points: a
//! vector reallocated at the same address with other contents gets another
//! fingerprint, so it is converted again. The cache assumes bases are not mutated
//! in place between calls while keeping the sampled points — true of zkinfer's
//! callers (the setup's generators never change; every other MSM's bases are a
//! fresh allocation) — and a stale entry could only make an honest proof fail to
//! verify, never make a false one verify (the verifier does not use the backend).
//!
//! A vector rebuilt for every call (Dory's opening converts its vectors to affine
//! per MSM) is converted each time, as without a cache. Entries are evicted
//! least-recently-used beyond `max_entries` or the memory budget, so such vectors
//! hold no memory beyond that bound. A vector larger than the budget, or one that
//! does not fit on the device, is converted into host memory for that call only
//! (ICICLE then copies it chunk by chunk).

use std::collections::hash_map::DefaultHasher;
use std::ffi::c_void;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

use ark_bn254::{G1Projective, G2Projective};
use ark_ec::short_weierstrass::Affine;
use rayon::prelude::*;

use super::convert;
use super::ffi::{G1AffineRaw, G2AffineRaw, IcicleStatus};
use super::loader::{IcicleDevice, IcicleRuntime};

/// Memory on an ICICLE device, freed when dropped.
pub struct DeviceBuffer {
    runtime: &'static IcicleRuntime,
    device: IcicleDevice,
    ptr: NonNull<c_void>,
    bytes: usize,
}

// SAFETY: the buffer is a device allocation only ever passed to ICICLE calls,
// which are thread-safe; freeing makes the owning device current first.
unsafe impl Send for DeviceBuffer {}
unsafe impl Sync for DeviceBuffer {}

impl DeviceBuffer {
    /// Allocates `bytes` (at least one) on `device`.
    pub fn alloc(
        runtime: &'static IcicleRuntime,
        device: IcicleDevice,
        bytes: usize,
    ) -> Result<Self, IcicleStatus> {
        let ptr = runtime.malloc(device, bytes.max(1))?;
        let ptr = NonNull::new(ptr).ok_or(IcicleStatus::AllocationFailed)?;
        Ok(DeviceBuffer {
            runtime,
            device,
            ptr,
            bytes,
        })
    }

    /// A device copy of `data`.
    pub fn upload<T: Copy>(
        runtime: &'static IcicleRuntime,
        device: IcicleDevice,
        data: &[T],
    ) -> Result<Self, IcicleStatus> {
        let bytes = std::mem::size_of_val(data);
        let buffer = Self::alloc(runtime, device, bytes)?;
        // SAFETY: the buffer has room for `bytes`; `data` is `bytes` of host memory.
        unsafe {
            runtime.copy_to_device(
                device,
                buffer.ptr.as_ptr(),
                data.as_ptr().cast::<c_void>(),
                bytes,
            )?;
        }
        Ok(buffer)
    }

    /// The device address, as a pointer to `T`.
    pub fn as_ptr<T>(&self) -> *const T {
        self.ptr.as_ptr().cast::<T>().cast_const()
    }

    /// The device address, writable.
    pub fn as_mut_ptr<T>(&self) -> *mut T {
        self.ptr.as_ptr().cast::<T>()
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `malloc` on this device and dies here.
        if let Err(e) = unsafe { self.runtime.free(self.device, self.ptr.as_ptr()) } {
            tracing::warn!(
                "freeing {} bytes on ICICLE {}: {e}",
                self.bytes,
                self.device
            );
        }
    }
}

/// An arkworks affine point type with an ICICLE layout.
pub trait DevicePoint: Hash + Sync + Sized + 'static {
    /// ICICLE's affine layout.
    type Raw: Copy + Default + Send + Sync + 'static;
    /// The projective sum of a bases vector.
    type Sum: Copy + Send + Sync + 'static;

    fn to_raw(&self) -> Self::Raw;

    fn sum(bases: &[Self]) -> Self::Sum;
}

impl DevicePoint for Affine<ark_bn254::g1::Config> {
    type Raw = G1AffineRaw;
    type Sum = G1Projective;

    fn to_raw(&self) -> G1AffineRaw {
        convert::g1_affine_raw(self)
    }

    fn sum(bases: &[Self]) -> G1Projective {
        convert::sum_of(bases)
    }
}

impl DevicePoint for Affine<ark_bn254::g2::Config> {
    type Raw = G2AffineRaw;
    type Sum = G2Projective;

    fn to_raw(&self) -> G2AffineRaw {
        convert::g2_affine_raw(self)
    }

    fn sum(bases: &[Self]) -> G2Projective {
        convert::sum_of(bases)
    }
}

/// Where a prepared bases vector lives.
pub enum Placement<R> {
    /// In device memory (cached).
    Device(Arc<DeviceBuffer>),
    /// Converted into host memory for this call.
    Host(Vec<R>),
}

/// A bases vector ready for an ICICLE MSM.
pub struct Prepared<P: DevicePoint> {
    pub placement: Placement<P::Raw>,
    /// Σ bases, computed at most once per cached vector.
    pub sum: Arc<OnceLock<P::Sum>>,
}

impl<P: DevicePoint> Prepared<P> {
    /// Address of the first point (device or host memory).
    pub fn ptr(&self) -> *const P::Raw {
        match &self.placement {
            Placement::Device(buffer) => buffer.as_ptr(),
            Placement::Host(v) => v.as_ptr(),
        }
    }

    /// Whether the points are in device memory.
    pub fn on_device(&self) -> bool {
        matches!(self.placement, Placement::Device(_))
    }

    /// Σ bases (`bases` must be the vector this was prepared from).
    pub fn sum_of(&self, bases: &[P]) -> P::Sum {
        *self.sum.get_or_init(|| P::sum(bases))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    addr: usize,
    len: usize,
    fingerprint: u64,
}

impl Key {
    fn of<P: Hash>(bases: &[P]) -> Self {
        let n = bases.len();
        let mut h = DefaultHasher::new();
        n.hash(&mut h);
        let samples = n.min(64);
        for k in 0..samples {
            let i = if samples == 1 {
                0
            } else {
                k * (n - 1) / (samples - 1)
            };
            bases[i].hash(&mut h);
        }
        Key {
            addr: bases.as_ptr() as usize,
            len: n,
            fingerprint: h.finish(),
        }
    }
}

struct Entry<P: DevicePoint> {
    key: Key,
    buffer: Arc<DeviceBuffer>,
    sum: Arc<OnceLock<P::Sum>>,
    last_used: u64,
}

struct State<P: DevicePoint> {
    entries: Vec<Entry<P>>,
    clock: u64,
}

/// Cache of device-resident bases vectors of one point type.
pub struct BasesCache<P: DevicePoint> {
    state: Mutex<State<P>>,
    max_entries: usize,
    max_bytes: u64,
}

impl<P: DevicePoint> BasesCache<P> {
    /// A cache of at most `max_entries` vectors and `max_bytes` of device memory.
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        BasesCache {
            state: Mutex::new(State {
                entries: Vec::new(),
                clock: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<P>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `bases` in ICICLE's layout: from the cache, or converted (and cached when
    /// it fits). `bases` must not be empty.
    pub fn prepare(
        &self,
        runtime: &'static IcicleRuntime,
        device: IcicleDevice,
        bases: &[P],
    ) -> Result<Prepared<P>, IcicleStatus> {
        let key = Key::of(bases);
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some(entry) = state.entries.iter_mut().find(|e| e.key == key) {
            entry.last_used = now;
            return Ok(Prepared {
                placement: Placement::Device(entry.buffer.clone()),
                sum: entry.sum.clone(),
            });
        }
        let raw: Vec<P::Raw> = bases.par_iter().map(P::to_raw).collect();
        let bytes = std::mem::size_of_val(raw.as_slice()) as u64;
        let host = |raw| {
            Ok(Prepared {
                placement: Placement::Host(raw),
                sum: Arc::new(OnceLock::new()),
            })
        };
        if bytes > self.max_bytes {
            tracing::debug!(
                "bases of {} points ({bytes} bytes) exceed the ICICLE bases cache ({} bytes): \
                 converted for this call only",
                bases.len(),
                self.max_bytes
            );
            return host(raw);
        }
        let mut resident: u64 = state.entries.iter().map(|e| e.buffer.bytes() as u64).sum();
        while !state.entries.is_empty()
            && (state.entries.len() >= self.max_entries || resident + bytes > self.max_bytes)
        {
            let oldest = state
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
                .expect("not empty");
            let evicted = state.entries.swap_remove(oldest);
            resident -= evicted.buffer.bytes() as u64;
        }
        let buffer = match DeviceBuffer::upload(runtime, device, &raw) {
            Ok(buffer) => buffer,
            Err(e) if e.is_out_of_memory() => {
                // Make room by dropping every other cached vector, then try once more.
                state.entries.clear();
                match DeviceBuffer::upload(runtime, device, &raw) {
                    Ok(buffer) => buffer,
                    Err(e) if e.is_out_of_memory() => {
                        tracing::debug!(
                            "bases of {} points do not fit on ICICLE {device}: kept on the host",
                            bases.len()
                        );
                        return host(raw);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let buffer = Arc::new(buffer);
        let sum = Arc::new(OnceLock::new());
        state.entries.push(Entry {
            key,
            buffer: buffer.clone(),
            sum: sum.clone(),
            last_used: now,
        });
        Ok(Prepared {
            placement: Placement::Device(buffer),
            sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use ark_bn254::G1Affine;
    use ark_ec::{CurveGroup, PrimeGroup};

    use super::*;

    #[test]
    fn keys_tell_apart_contents_at_the_same_address() {
        let g = G1Projective::generator();
        let mut bases: Vec<G1Affine> = (1..=200u64)
            .map(|i| (g * ark_bn254::Fr::from(i)).into_affine())
            .collect();
        let key = Key::of(&bases);
        assert_eq!(key, Key::of(&bases));
        assert_ne!(key, Key::of(&bases[..199]), "prefix: another length");
        assert_ne!(key, Key::of(&bases[1..]), "another address");
        bases[0] = bases[5];
        assert_ne!(
            key,
            Key::of(&bases),
            "changed contents (first point sampled)"
        );
    }
}
