//! The wgpu device under the backend: adapter enumeration and choice, device
//! creation, error capture, buffers, uploads and read-backs, the 2-D dispatch
//! that lifts the 65535-workgroups-per-dimension limit, and the split of large
//! inputs into pieces that fit one storage binding.
//!
//! Errors never panic: wgpu's default handler for uncaptured errors panics, so a
//! handler that records them is installed, every operation runs inside
//! validation and out-of-memory error scopes, and device loss is recorded; all
//! of them become [`BackendError::Device`] naming the operation.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wgpu::util::DeviceExt;

use super::shaders::WORKGROUP_SIZE;
use crate::backend::{BackendError, BackendResult, DeviceInfo, DeviceKind};

/// The backend's name in errors and listings.
pub const BACKEND: &str = "wgpu";

/// Binding sizes are capped here even where a driver allows more, so that every
/// byte offset and element index in the kernels fits in 32 bits.
const BINDING_CAP: u64 = 1 << 30;

/// Smallest buffer: one element of every array type the kernels bind (a
/// Jacobian point is the largest, 96 bytes).
const MIN_BUFFER: u64 = 128;

/// A read-back that takes longer than this is reported as a device failure
/// rather than waited on forever.
const POLL_TIMEOUT: Duration = Duration::from_secs(600);

pub use crate::backend::registry::WgpuApi;

/// The wgpu backend set for an API.
pub fn backends_of(api: WgpuApi) -> wgpu::Backends {
    match api {
        WgpuApi::Vulkan => wgpu::Backends::VULKAN,
        WgpuApi::Metal => wgpu::Backends::METAL,
        WgpuApi::Dx12 => wgpu::Backends::DX12,
    }
}

/// The API of a wgpu backend, when it is one zkinfer drives.
pub fn api_of(backend: wgpu::Backend) -> Option<WgpuApi> {
    match backend {
        wgpu::Backend::Vulkan => Some(WgpuApi::Vulkan),
        wgpu::Backend::Metal => Some(WgpuApi::Metal),
        wgpu::Backend::Dx12 => Some(WgpuApi::Dx12),
        _ => None,
    }
}

/// The wgpu backends this build can drive (Vulkan and Metal always, DX12 with the
/// `wgpu-dx12` feature; wgpu itself compiles each only on its platforms).
fn compiled_backends() -> wgpu::Backends {
    wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends & compiled_backends();
    // Validation layers only when asked for (WGPU_VALIDATION=1, WGPU_DEBUG=1).
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds for `api` (all APIs when `None`).
pub fn enumerate(api: Option<WgpuApi>) -> Vec<wgpu::Adapter> {
    let backends = api.map_or(compiled_backends(), backends_of);
    let instance = instance(backends);
    pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .filter(|a| api_of(a.get_info().backend).is_some())
        .collect()
}

/// How an adapter ranks for `auto` and explicit choices (higher is better).
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    }
}

/// Whether an adapter is a software implementation (e.g. Mesa lavapipe).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// The best adapter: discrete before integrated before virtual before others,
/// software last (and only when `allow_software`).
pub fn best_adapter(adapters: Vec<wgpu::Adapter>, allow_software: bool) -> Option<wgpu::Adapter> {
    adapters
        .into_iter()
        .filter(|a| allow_software || !is_software(&a.get_info()))
        .enumerate()
        .max_by_key(|(i, a)| (rank(a.get_info().device_type), std::cmp::Reverse(*i)))
        .map(|(_, a)| a)
}

fn device_kind(info: &wgpu::AdapterInfo) -> DeviceKind {
    if is_software(info) {
        DeviceKind::SoftwareGpu
    } else {
        DeviceKind::Gpu
    }
}

fn type_name(device_type: wgpu::DeviceType) -> &'static str {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Other => "other",
        wgpu::DeviceType::Cpu => "software",
    }
}

/// What `zkinfer devices` shows for an adapter.
pub fn describe(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> DeviceInfo {
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    DeviceInfo {
        api: api_of(info.backend).map(|a| a.name().to_string()),
        adapter_type: Some(type_name(info.device_type).to_string()),
        driver: (!driver.is_empty()).then_some(driver),
        limits: [
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
            ("max_buffer_size", limits.max_buffer_size),
            (
                "max_compute_workgroups_per_dimension",
                limits.max_compute_workgroups_per_dimension.into(),
            ),
            (
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup.into(),
            ),
            (
                "max_compute_workgroup_storage_size",
                limits.max_compute_workgroup_storage_size.into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        ..DeviceInfo::new(device_kind(info), info.name.clone())
    }
}

fn device_error(op: &'static str, message: impl Into<String>) -> BackendError {
    BackendError::Device {
        backend: BACKEND.to_string(),
        op,
        message: message.into(),
    }
}

/// Test hooks that shrink the device's limits so that the splitting and 2-D
/// dispatch paths run on small inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitOverrides {
    /// Bytes per storage binding (rounded down to a multiple of 256).
    pub max_binding_bytes: Option<u64>,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dim: Option<u32>,
}

/// A compute pipeline and the name of its entry point (for errors).
pub struct Kernel {
    pipeline: wgpu::ComputePipeline,
    name: &'static str,
}

/// The device, its queue, and the error state.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    max_binding: u64,
    max_workgroups: u32,
    uncaptured: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<(&'static str, &'static str), Arc<Kernel>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("max_binding", &self.max_binding)
            .field("max_workgroups", &self.max_workgroups)
            .finish()
    }
}

impl Gpu {
    /// Opens a device on `adapter` with the adapter's own limits.
    pub fn open(adapter: &wgpu::Adapter, overrides: LimitOverrides) -> BackendResult<Self> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("zkinfer"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            BackendError::Unavailable {
                backend: BACKEND.to_string(),
                reason: format!("cannot open a device on `{}`: {e}", info.name),
            }
        })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut errors) = sink.lock() {
                errors.push(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_sink.lock() {
                *slot = Some(format!("device lost ({reason:?}): {message}"));
            }
        });
        let device_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(BINDING_CAP);
        let max_binding = overrides
            .max_binding_bytes
            .map_or(device_binding, |b| b.min(device_binding))
            / 256
            * 256;
        let max_workgroups = overrides
            .max_workgroups_per_dim
            .map_or(limits.max_compute_workgroups_per_dimension, |w| {
                w.clamp(1, limits.max_compute_workgroups_per_dimension)
            });
        if max_binding < 4096 {
            return Err(BackendError::Unavailable {
                backend: BACKEND.to_string(),
                reason: format!(
                    "`{}` allows storage bindings of only {max_binding} bytes",
                    info.name
                ),
            });
        }
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            max_binding,
            max_workgroups,
            uncaptured,
            lost,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        })
    }

    /// The adapter's description.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The device's limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Largest storage binding used, in bytes.
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// How many items of `item_bytes` fit in one storage binding.
    pub fn items_per_binding(&self, item_bytes: usize) -> usize {
        (self.max_binding / item_bytes as u64) as usize
    }

    /// Runs `f` inside validation and out-of-memory error scopes; any error wgpu
    /// reports during it (or that arrived uncaptured, or a lost device) fails the
    /// operation with [`BackendError::Device`].
    pub fn scoped<T>(
        &self,
        op: &'static str,
        f: impl FnOnce() -> BackendResult<T>,
    ) -> BackendResult<T> {
        self.check_health(op)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = validation {
            return Err(device_error(op, format!("validation error: {e}")));
        }
        if let Some(e) = oom {
            return Err(device_error(op, format!("out of memory: {e}")));
        }
        self.check_health(op)?;
        result
    }

    fn check_health(&self, op: &'static str) -> BackendResult<()> {
        if let Some(message) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(device_error(op, message));
        }
        let errors: Vec<String> = match self.uncaptured.lock() {
            Ok(mut errors) => std::mem::take(&mut *errors),
            Err(_) => vec!["the error log's lock was poisoned".into()],
        };
        if !errors.is_empty() {
            return Err(device_error(op, errors.join("; ")));
        }
        Ok(())
    }

    /// The compute pipeline of `entry` in module `module` (source built by
    /// `source` on first use), compiled once and cached.
    pub fn kernel(
        &self,
        module: &'static str,
        source: &dyn Fn() -> String,
        entry: &'static str,
    ) -> BackendResult<Arc<Kernel>> {
        let key = (module, entry);
        if let Some(k) = self.kernels.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(k);
        }
        let start = std::time::Instant::now();
        let kernel = self.scoped("compile kernel", || {
            let mut modules = self
                .modules
                .lock()
                .map_err(|_| device_error("compile kernel", "module cache lock poisoned"))?;
            let shader = modules.entry(module).or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(module),
                        source: wgpu::ShaderSource::Wgsl(source().into()),
                    })
            });
            let pipeline = self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: shader,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
            Ok(Arc::new(Kernel {
                pipeline,
                name: entry,
            }))
        });
        match kernel {
            Ok(k) => {
                tracing::debug!(
                    "wgpu: compiled {module}::{entry} in {:.1} ms",
                    start.elapsed().as_secs_f64() * 1e3
                );
                if let Ok(mut map) = self.kernels.lock() {
                    map.insert(key, Arc::clone(&k));
                }
                Ok(k)
            }
            Err(e) => {
                // A module that failed to compile is not kept.
                if let Ok(mut modules) = self.modules.lock() {
                    modules.remove(module);
                }
                Err(e)
            }
        }
    }

    /// A storage buffer of at least `bytes` bytes (and at least one Jacobian
    /// point, the largest element a kernel binds), readable, writable and copyable.
    pub fn buffer(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(MIN_BUFFER).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data` (padded like [`Gpu::buffer`]).
    pub fn buffer_with(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        if data.len() >= MIN_BUFFER as usize && data.len().is_multiple_of(4) {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: data,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                })
        } else {
            let mut padded = data.to_vec();
            padded.resize(data.len().max(MIN_BUFFER as usize).next_multiple_of(4), 0);
            self.buffer_with(label, &padded)
        }
    }

    /// Queues `data` to be written at `offset` of `buffer` before the next submission.
    pub fn write(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        if !data.is_empty() {
            self.queue.write_buffer(buffer, offset, data);
        }
    }

    /// Starts recording commands.
    pub fn encoder(&self) -> Commands<'_> {
        Commands {
            gpu: self,
            encoder: self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("zkinfer"),
                }),
            reads: Vec::new(),
        }
    }

    /// Workgroup grid for `threads` threads: (x, y) with x·y·64 ≥ threads and
    /// both within the per-dimension limit (2-D once x alone would exceed it).
    pub fn grid(&self, threads: u64) -> BackendResult<(u32, u32)> {
        let groups = threads.div_ceil(WORKGROUP_SIZE as u64).max(1);
        let max = self.max_workgroups as u64;
        if groups <= max {
            return Ok((groups as u32, 1));
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(BackendError::Unsupported {
                op: "dispatch",
                reason: format!("{threads} threads exceed the device's 2-D dispatch grid"),
            });
        }
        Ok((max as u32, y as u32))
    }
}

/// Commands being recorded, with the read-backs to do after they run.
pub struct Commands<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    reads: Vec<(wgpu::Buffer, u64)>,
}

/// Index of a read-back requested with [`Commands::read`].
#[derive(Debug, Clone, Copy)]
pub struct ReadId(usize);

impl Commands<'_> {
    /// Records one dispatch of `kernel` over `threads` threads with `params` (u32
    /// words, bound at binding 0) and `buffers` bound at their binding numbers.
    /// Returns the workgroup grid used.
    pub fn dispatch(
        &mut self,
        kernel: &Kernel,
        params: &[u32],
        buffers: &[(u32, &wgpu::Buffer)],
        threads: u64,
    ) -> BackendResult<(u32, u32)> {
        let (x, y) = self.gpu.grid(threads)?;
        let mut words = params.to_vec();
        words.resize(params.len().max(4), 0);
        let params_buffer = self
            .gpu
            .buffer_with("params", &super::words::u32_bytes(&words));
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params_buffer.as_entire_binding(),
        }];
        for (binding, buffer) in buffers {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.name),
                layout: &kernel.pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name),
                timestamp_writes: None,
            });
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        Ok((x, y))
    }

    /// Records a copy of `bytes` bytes between buffers.
    pub fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) {
        if bytes > 0 {
            self.encoder
                .copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
        }
    }

    /// Records zeroing a whole buffer.
    pub fn clear(&mut self, buffer: &wgpu::Buffer) {
        self.encoder.clear_buffer(buffer, 0, None);
    }

    /// Records a copy of `bytes` bytes at `offset` of `src` into a host-visible
    /// buffer, read back by [`Commands::submit`].
    /// `bytes` is a multiple of 4 (every layout here is made of u32 words).
    pub fn read(&mut self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> ReadId {
        debug_assert!(bytes.is_multiple_of(4));
        let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if bytes > 0 {
            self.encoder
                .copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
        }
        self.reads.push((staging, bytes));
        ReadId(self.reads.len() - 1)
    }

    /// Submits the commands, waits for them, and returns the read-backs in the
    /// order they were requested (index with the [`ReadId`]s).
    pub fn submit(self, op: &'static str) -> BackendResult<Reads> {
        let gpu = self.gpu;
        let index = gpu.queue.submit([self.encoder.finish()]);
        let mut receivers = Vec::with_capacity(self.reads.len());
        for (staging, bytes) in &self.reads {
            let (tx, rx) = mpsc::channel();
            if *bytes > 0 {
                staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
            }
            receivers.push(rx);
        }
        gpu.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(POLL_TIMEOUT),
            })
            .map_err(|e| device_error(op, format!("waiting for the GPU: {e}")))?;
        let mut out = Vec::with_capacity(self.reads.len());
        for ((staging, bytes), rx) in self.reads.iter().zip(receivers) {
            if *bytes == 0 {
                out.push(Vec::new());
                continue;
            }
            rx.recv()
                .map_err(|_| device_error(op, "a read-back was never completed"))?
                .map_err(|e| device_error(op, format!("mapping a read-back failed: {e}")))?;
            let slice = staging.slice(..);
            let view = slice
                .get_mapped_range()
                .map_err(|e| device_error(op, format!("reading a mapped buffer: {e}")))?;
            out.push(view[..*bytes as usize].to_vec());
            drop(view);
            staging.unmap();
        }
        Ok(Reads(out))
    }
}

/// Bytes read back by one submission.
pub struct Reads(Vec<Vec<u8>>);

impl Reads {
    /// The bytes of one read-back.
    pub fn take(&mut self, id: ReadId) -> Vec<u8> {
        std::mem::take(&mut self.0[id.0])
    }
}

/// Splits `0..len` into consecutive ranges of at most `max` items (`max ≥ 1`).
pub fn pieces(len: usize, max: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let max = max.max(1);
    (0..len.div_ceil(max)).map(move |i| i * max..((i + 1) * max).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range() {
        assert_eq!(pieces(0, 4).count(), 0);
        assert_eq!(pieces(10, 4).collect::<Vec<_>>(), vec![0..4, 4..8, 8..10]);
        assert_eq!(pieces(8, 4).collect::<Vec<_>>(), vec![0..4, 4..8]);
        assert_eq!(pieces(3, 0).collect::<Vec<_>>(), vec![0..1, 1..2, 2..3]);
    }
}
