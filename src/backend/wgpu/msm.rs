//! Host side of the G1 MSM (`kernels/msm.wgsl`, `kernels/scan.wgsl`): Pippenger
//! with signed digits for full and small scalars, one or many rows over the same
//! bases.
//!
//! - **Resident bases.** Bases are uploaded once and kept on the device, keyed by
//!   their contents (compared with a host copy, so a hit is exact); a prefix of a
//!   resident set reuses it, which is how Dory's row MSMs (always a prefix of the
//!   setup's generators) find theirs. Only scalars travel per call.
//! - **Race-free buckets.** Points are sorted by bucket key with a counting sort
//!   (atomic counts, prefix sums, atomic slot claims), then summed per key by
//!   threads that own disjoint segments; no two threads add into one point.
//! - **Plan.** The window c minimises (additions in buckets + bucket reduction)
//!   under the storage-binding limit; inputs that do not fit one binding are cut
//!   into column chunks (each over its own resident bases chunk) and row groups.
//!   All rows of a group run in one submission; groups share scratch buffers.
//! - **Reduction.** Bucket sums are folded into window sums on the GPU; the host
//!   combines the windows (Horner, c doublings per window) and the column chunks.

use std::ops::Range;
use std::sync::Arc;

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::AdditiveGroup;
use ark_ff::{PrimeField, Zero};
use rayon::prelude::*;

use super::gpu::{Commands, Gpu, Kernel, ReadId};
use super::words::{
    affine_bytes, jacobian_from_bytes, write_fr_bytes, AFFINE_BYTES, JACOBIAN_BYTES,
};
use super::{shaders, State, WgpuBackend};
use crate::backend::{BackendResult, SmallScalars};

const MODULE: &str = "msm";
const SCAN_MODULE: &str = "scan";

/// Values one workgroup of the scan kernel covers (64 threads × 4).
const SCAN_BLOCK: usize = 256;
/// Chunks of a window folded per thread in each pass of the final reduction.
const REDUCE_GROUP: usize = 16;
/// Resident base sets kept on the device.
const RESIDENT_SETS: usize = 4;

// Offsets into the kernels' params (see kernels/msm.wgsl).
const P_ROWS: usize = 0;
const P_COLS: usize = 1;
const P_WINDOWS: usize = 2;
const P_C: usize = 3;
const P_KIND: usize = 4;
const P_SEG_MIN: usize = 5;
const P_KEYS: usize = 6;
const P_COUNT: usize = 7;
const P_CHUNK: usize = 8;
const P_GROUP: usize = 9;
const P_BASE_OFFSET: usize = 10;
const PARAMS: usize = 11;

/// The scalars of one or more MSMs (row-major when there are several rows).
#[derive(Debug, Clone, Copy)]
pub enum Scalars<'a> {
    /// Field elements, uploaded as their Montgomery limbs.
    Full(&'a [Fr]),
    /// Signed small integers (`v` stands for `v mod p`).
    Small(SmallScalars<'a>),
}

impl Scalars<'_> {
    /// Bits of the largest magnitude the recoding must cover.
    fn bits(&self) -> u32 {
        match self {
            Scalars::Full(_) => Fr::MODULUS_BIT_SIZE,
            Scalars::Small(v) => v.magnitude_bits(),
        }
    }

    /// The kernels' encoding tag.
    fn kind(&self) -> u32 {
        match self {
            Scalars::Full(_) => 0,
            Scalars::Small(SmallScalars::I64(_)) => 1,
            Scalars::Small(SmallScalars::I32(_)) => 2,
        }
    }

    /// Bytes per scalar on the device.
    fn bytes_per(&self) -> usize {
        match self {
            Scalars::Full(_) => 32,
            Scalars::Small(SmallScalars::I64(_)) => 8,
            Scalars::Small(SmallScalars::I32(_)) => 4,
        }
    }

    /// The values of `rows` restricted to the columns `cols` of a matrix with
    /// `n` columns, as device bytes.
    fn bytes(&self, rows: Range<usize>, cols: Range<usize>, n: usize) -> Vec<u8> {
        let width = cols.len();
        let mut out = vec![0u8; rows.len() * width * self.bytes_per()];
        let row_bytes = width * self.bytes_per();
        out.par_chunks_mut(row_bytes.max(1))
            .zip(rows.into_par_iter())
            .for_each(|(dst, r)| {
                let range = r * n + cols.start..r * n + cols.end;
                match self {
                    Scalars::Full(v) => write_fr_bytes(dst, &v[range]),
                    Scalars::Small(SmallScalars::I64(v)) => {
                        for (d, x) in dst.chunks_exact_mut(8).zip(&v[range]) {
                            d.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                    Scalars::Small(SmallScalars::I32(v)) => {
                        for (d, x) in dst.chunks_exact_mut(4).zip(&v[range]) {
                            d.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                }
            });
        out
    }
}

/// One base set on the device, in chunks of `chunk_points` points.
struct Resident {
    host: Vec<G1Affine>,
    chunks: Vec<wgpu::Buffer>,
    chunk_points: usize,
}

/// A cached set with its bookkeeping.
struct Entry {
    set: Arc<Resident>,
    /// Used by a batched MSM (Dory's row commitments over its fixed generators).
    batch: bool,
    hits: u64,
    last_use: u64,
}

/// The resident base sets.
///
/// Sets used by batched MSMs (Dory's commitments, always over a prefix of the
/// setup's generators) are kept in preference to sets of single MSMs (Dory's
/// opening folds a fresh base vector every round): a single MSM's bases never
/// evict a batch's; when there is no room they are uploaded for that call only.
#[derive(Default)]
pub struct BaseCache {
    entries: Vec<Entry>,
    clock: u64,
}

/// `a == b` for long slices, compared in parallel.
fn same_points(a: &[G1Affine], b: &[G1Affine]) -> bool {
    a.len() == b.len()
        && a.first() == b.first()
        && a.last() == b.last()
        && a.par_chunks(1 << 12)
            .zip(b.par_chunks(1 << 12))
            .all(|(x, y)| x == y)
}

impl BaseCache {
    /// The resident set whose first `bases.len()` points are `bases`; `bases`
    /// is uploaded (and cached when the rules above allow) when none is.
    fn get(
        &mut self,
        gpu: &Gpu,
        bases: &[G1Affine],
        chunk_points: usize,
        batch: bool,
    ) -> Arc<Resident> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.iter_mut().find(|e| {
            e.set.chunk_points == chunk_points
                && e.set.host.len() >= bases.len()
                && same_points(&e.set.host[..bases.len()], bases)
        }) {
            entry.hits += 1;
            entry.batch |= batch;
            entry.last_use = clock;
            return Arc::clone(&entry.set);
        }
        let set = Arc::new(Resident {
            host: bases.to_vec(),
            chunks: bases
                .chunks(chunk_points)
                .map(|c| gpu.buffer_with("msm bases", &affine_bytes(c)))
                .collect(),
            chunk_points,
        });
        if self.entries.len() >= RESIDENT_SETS {
            // The least used evictable set, the oldest among equals.
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| batch || !e.batch)
                .min_by_key(|(_, e)| (e.batch, e.hits, e.last_use))
                .map(|(i, _)| i);
            match victim {
                Some(i) => {
                    self.entries.swap_remove(i);
                }
                None => return set,
            }
        }
        self.entries.push(Entry {
            set: Arc::clone(&set),
            batch,
            hits: 0,
            last_use: clock,
        });
        set
    }

    /// Forgets every resident set (after a failed call, whose uploads may not
    /// have completed).
    fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Largest power of two ≤ x (x ≥ 1).
fn floor_pow2(x: usize) -> usize {
    1usize << (usize::BITS - 1 - x.max(1).leading_zeros())
}

/// How an MSM of `rows` × `n` scalars is cut up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    c: u32,
    windows: u32,
    buckets: usize,
    col_chunk: usize,
    group_rows: usize,
    seg_min: u32,
    chunk: usize,
}

impl Plan {
    fn keys(&self, rows: usize) -> usize {
        rows * self.windows as usize * self.buckets
    }

    /// Upper bound on the segments of a group of `rows` rows and `cols` columns.
    fn max_segments(&self, rows: usize, cols: usize) -> usize {
        self.keys(rows) + (rows * cols * self.windows as usize).div_ceil(self.seg_min as usize)
    }
}

/// Picks the window and the cuts. `binding` is the largest storage binding in
/// bytes, `resident_chunk` the points per resident bases buffer.
fn plan(
    rows: usize,
    n: usize,
    bits: u32,
    scalar_bytes: usize,
    binding: usize,
    resident_chunk: usize,
    config: &crate::config::WgpuMsmConfig,
) -> Option<Plan> {
    let mut best: Option<(u128, Plan)> = None;
    for c in 2..=config.max_window {
        let windows = (bits + 1).div_ceil(c);
        let buckets = 1usize << (c - 1);
        let keys_per_row = windows as usize * buckets;
        // Bucket sums (and, with the same bound, the segment sums' key part)
        // take at most half a binding.
        if keys_per_row * JACOBIAN_BYTES > binding / 2 {
            continue;
        }
        let col_limit = resident_chunk
            .min(binding / (4 * windows as usize))
            .min(binding / scalar_bytes);
        if col_limit == 0 {
            continue;
        }
        let col_chunk = floor_pow2(col_limit).min(n.next_power_of_two());
        let cols = n.min(col_chunk);
        let group_rows = rows
            .min(binding / 2 / (keys_per_row * JACOBIAN_BYTES))
            .min(binding / (cols * 4 * windows as usize))
            .min(binding / (cols * scalar_bytes));
        if group_rows == 0 {
            continue;
        }
        // Segments: keys part ≤ half a binding (above), entries part ≤ the other half.
        let entries = group_rows * cols * windows as usize;
        let seg_min = (config.segment_min as usize)
            .max((2 * JACOBIAN_BYTES * entries).div_ceil(binding))
            .min(1 << 16) as u32;
        let chunk = (config.bucket_chunk as usize).min(buckets);
        let candidate = Plan {
            c,
            windows,
            buckets,
            col_chunk,
            group_rows,
            seg_min,
            chunk,
        };
        if candidate.max_segments(group_rows, cols) * JACOBIAN_BYTES > binding {
            continue;
        }
        // Point additions: one per (nonzero) digit, plus about two per bucket in
        // the reduction.
        let cost = (rows as u128) * (windows as u128) * (n as u128 + 2 * buckets as u128);
        if best.as_ref().is_none_or(|(b, _)| cost < *b) {
            best = Some((cost, candidate));
        }
    }
    best.map(|(_, p)| p)
}

fn msm_kernel(gpu: &Gpu, entry: &'static str) -> BackendResult<Arc<Kernel>> {
    gpu.kernel(MODULE, &shaders::msm_module, entry)
}

fn scan_kernel(gpu: &Gpu, entry: &'static str) -> BackendResult<Arc<Kernel>> {
    gpu.kernel(SCAN_MODULE, &shaders::scan_module, entry)
}

/// Buffers for the recursive exclusive scan of up to `len` u32 values.
struct ScanLevels {
    levels: Vec<wgpu::Buffer>,
}

impl ScanLevels {
    fn new(gpu: &Gpu, len: usize) -> Self {
        let mut levels = Vec::new();
        let mut count = len;
        while count > 1 {
            let blocks = count.div_ceil(SCAN_BLOCK);
            levels.push(gpu.buffer("scan blocks", (blocks * 4) as u64));
            count = blocks;
        }
        ScanLevels { levels }
    }

    /// Records an in-place exclusive scan of the first `count` values of `data`.
    fn record(
        &self,
        gpu: &Gpu,
        cmd: &mut Commands<'_>,
        data: &wgpu::Buffer,
        count: usize,
        level: usize,
    ) -> BackendResult<()> {
        let blocks = count.div_ceil(SCAN_BLOCK);
        let sums = &self.levels[level];
        cmd.dispatch(
            &*scan_kernel(gpu, "scan_blocks")?,
            &[count as u32, blocks as u32],
            &[(1, data), (2, sums)],
            (blocks * shaders::WORKGROUP_SIZE as usize) as u64,
        )?;
        if blocks > 1 {
            self.record(gpu, cmd, sums, blocks, level + 1)?;
            cmd.dispatch(
                &*scan_kernel(gpu, "add_block_offsets")?,
                &[count as u32],
                &[(1, data), (3, sums)],
                count as u64,
            )?;
        }
        Ok(())
    }
}

/// Scratch buffers shared by the jobs of one submission.
struct Scratch {
    counts: wgpu::Buffer,
    offsets: wgpu::Buffer,
    cursor: wgpu::Buffer,
    segment_counts: wgpu::Buffer,
    segment_offsets: wgpu::Buffer,
    entries: wgpu::Buffer,
    segment_sums: wgpu::Buffer,
    points_a: wgpu::Buffer,
    points_b: wgpu::Buffer,
    scan: ScanLevels,
}

impl Scratch {
    fn new(gpu: &Gpu, plan: &Plan, rows: usize, cols: usize) -> Self {
        let keys = plan.keys(rows);
        let u32s = |label: &str, len: usize| gpu.buffer(label, (len * 4) as u64);
        Scratch {
            counts: u32s("msm counts", keys),
            offsets: u32s("msm offsets", keys),
            cursor: u32s("msm cursor", keys),
            segment_counts: u32s("msm segment counts", keys),
            segment_offsets: u32s("msm segment offsets", keys),
            entries: u32s("msm entries", rows * cols * plan.windows as usize),
            segment_sums: gpu.buffer(
                "msm segment sums",
                (plan.max_segments(rows, cols) * JACOBIAN_BYTES) as u64,
            ),
            points_a: gpu.buffer("msm bucket sums", (keys * JACOBIAN_BYTES) as u64),
            points_b: gpu.buffer(
                "msm chunk sums",
                (keys / plan.chunk * JACOBIAN_BYTES) as u64,
            ),
            scan: ScanLevels::new(gpu, keys),
        }
    }
}

/// One group of rows over one column chunk.
struct Job {
    rows: Range<usize>,
    cols: Range<usize>,
}

/// Records one job; returns the read-back of its window sums (rows × windows).
#[expect(
    clippy::too_many_arguments,
    reason = "one job's buffers and parameters, passed as they are"
)]
fn record_job(
    gpu: &Gpu,
    cmd: &mut Commands<'_>,
    plan: &Plan,
    job: &Job,
    kind: u32,
    scalars: &wgpu::Buffer,
    bases: &wgpu::Buffer,
    base_offset: usize,
    s: &Scratch,
) -> BackendResult<ReadId> {
    let rows = job.rows.len();
    let cols = job.cols.len();
    let keys = plan.keys(rows);
    let windows = plan.windows as usize;
    let mut params = [0u32; PARAMS];
    params[P_ROWS] = rows as u32;
    params[P_COLS] = cols as u32;
    params[P_WINDOWS] = plan.windows;
    params[P_C] = plan.c;
    params[P_KIND] = kind;
    params[P_SEG_MIN] = plan.seg_min;
    params[P_KEYS] = keys as u32;
    params[P_CHUNK] = plan.chunk as u32;
    params[P_BASE_OFFSET] = base_offset as u32;
    let with_count = |count: usize| {
        let mut p = params;
        p[P_COUNT] = count as u32;
        p
    };
    let values = rows * cols;

    cmd.clear(&s.counts);
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_count")?,
        &with_count(values),
        &[(1, scalars), (2, &s.counts)],
        values as u64,
    )?;
    cmd.copy(&s.counts, 0, &s.offsets, 0, (keys * 4) as u64);
    s.scan.record(gpu, cmd, &s.offsets, keys, 0)?;
    cmd.copy(&s.offsets, 0, &s.cursor, 0, (keys * 4) as u64);
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_scatter")?,
        &with_count(values),
        &[(1, scalars), (3, &s.cursor), (4, &s.entries)],
        values as u64,
    )?;
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_segment_counts")?,
        &with_count(keys),
        &[(5, &s.counts), (7, &s.segment_counts)],
        keys as u64,
    )?;
    cmd.copy(
        &s.segment_counts,
        0,
        &s.segment_offsets,
        0,
        (keys * 4) as u64,
    );
    s.scan.record(gpu, cmd, &s.segment_offsets, keys, 0)?;
    let segments = plan.max_segments(rows, cols);
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_segment_sums")?,
        &with_count(segments),
        &[
            (4, &s.entries),
            (5, &s.counts),
            (6, &s.offsets),
            (8, &s.segment_offsets),
            (9, bases),
            (10, &s.segment_sums),
        ],
        segments as u64,
    )?;
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_bucket_sums")?,
        &with_count(keys),
        &[
            (5, &s.counts),
            (8, &s.segment_offsets),
            (11, &s.segment_sums),
            (12, &s.points_a),
        ],
        keys as u64,
    )?;
    let mut per_window = plan.buckets / plan.chunk;
    let chunk_outputs = rows * windows * per_window;
    cmd.dispatch(
        &*msm_kernel(gpu, "msm_bucket_chunks")?,
        &with_count(chunk_outputs),
        &[(13, &s.points_a), (12, &s.points_b)],
        chunk_outputs as u64,
    )?;
    // Fold each window's chunk sums, ping-ponging between the two point buffers.
    let mut current = &s.points_b;
    let mut other = &s.points_a;
    while per_window > 1 {
        let group = per_window.min(REDUCE_GROUP);
        let outputs = rows * windows * per_window / group;
        let mut p = with_count(outputs);
        p[P_GROUP] = group as u32;
        cmd.dispatch(
            &*msm_kernel(gpu, "msm_reduce_points")?,
            &p,
            &[(13, current), (12, other)],
            outputs as u64,
        )?;
        std::mem::swap(&mut current, &mut other);
        per_window /= group;
    }
    Ok(cmd.read(current, 0, (rows * windows * JACOBIAN_BYTES) as u64))
}

/// Σ_w 2^(w·c)·sums[w] (Horner from the top window).
fn combine_windows(sums: &[G1Projective], c: u32) -> G1Projective {
    let mut acc = G1Projective::zero();
    for s in sums.iter().rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += s;
    }
    acc
}

/// One MSM per row of `scalars` (row-major, `rows` rows of `bases.len()`
/// values) over `bases`; `batch` says the call is a batched MSM (whose bases the
/// cache keeps first). Lengths were checked by the caller.
pub fn msm_rows(
    backend: &WgpuBackend,
    state: &mut State,
    bases: &[G1Affine],
    scalars: Scalars<'_>,
    rows: usize,
    batch: bool,
) -> BackendResult<Vec<G1Projective>> {
    let n = bases.len();
    let bits = scalars.bits();
    if rows == 0 || n == 0 || bits == 0 {
        return Ok(vec![G1Projective::zero(); rows]);
    }
    let gpu = &backend.gpu;
    let binding = gpu.max_binding() as usize;
    let resident_chunk = floor_pow2(gpu.items_per_binding(AFFINE_BYTES));
    let Some(plan) = plan(
        rows,
        n,
        bits,
        scalars.bytes_per(),
        binding,
        resident_chunk,
        &backend.config.msm,
    ) else {
        tracing::debug!("msm: no GPU plan fits {binding}-byte bindings; using the CPU backend");
        return cpu_rows(bases, scalars, rows);
    };
    let result = run_plan(
        backend,
        state,
        bases,
        scalars,
        rows,
        &plan,
        resident_chunk,
        batch,
    );
    if result.is_err() {
        state.bases.clear();
    }
    result
}

fn cpu_rows(
    bases: &[G1Affine],
    scalars: Scalars<'_>,
    rows: usize,
) -> BackendResult<Vec<G1Projective>> {
    use crate::backend::Backend;
    let cpu = crate::backend::CpuBackend::global();
    match (scalars, rows) {
        (Scalars::Full(s), 1) => Ok(vec![cpu.msm_g1(bases, s)?]),
        (Scalars::Full(s), _) => cpu.msm_g1_batch(bases, s),
        (Scalars::Small(v), 1) => Ok(vec![cpu.msm_g1_small(bases, v)?]),
        (Scalars::Small(v), _) => cpu.msm_g1_small_batch(bases, v),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the call's inputs and the plan's choices, passed as they are"
)]
fn run_plan(
    backend: &WgpuBackend,
    state: &mut State,
    bases: &[G1Affine],
    scalars: Scalars<'_>,
    rows: usize,
    plan: &Plan,
    resident_chunk: usize,
    batch: bool,
) -> BackendResult<Vec<G1Projective>> {
    let gpu = &backend.gpu;
    let n = bases.len();
    let binding = gpu.max_binding() as usize;
    let resident = state.bases.get(gpu, bases, resident_chunk, batch);
    let mut jobs = Vec::new();
    for start in (0..n).step_by(plan.col_chunk) {
        let cols = start..(start + plan.col_chunk).min(n);
        for first in (0..rows).step_by(plan.group_rows) {
            jobs.push(Job {
                rows: first..(first + plan.group_rows).min(rows),
                cols: cols.clone(),
            });
        }
    }
    let first_cols = n.min(plan.col_chunk);
    let scratch = Scratch::new(gpu, plan, plan.group_rows.min(rows), first_cols);
    let mut results = vec![G1Projective::zero(); rows];
    // Jobs go out in waves whose scalars take at most two bindings' worth of
    // device memory; the scratch buffers are reused job after job.
    let mut pending: Vec<(Job, wgpu::Buffer)> = Vec::new();
    let mut pending_bytes = 0usize;
    let flush = |pending: &mut Vec<(Job, wgpu::Buffer)>,
                 results: &mut Vec<G1Projective>|
     -> BackendResult<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut cmd = gpu.encoder();
        let mut reads = Vec::with_capacity(pending.len());
        for (job, buffer) in pending.iter() {
            let chunk_index = job.cols.start / resident.chunk_points;
            let base_offset = job.cols.start - chunk_index * resident.chunk_points;
            let id = record_job(
                gpu,
                &mut cmd,
                plan,
                job,
                scalars.kind(),
                buffer,
                &resident.chunks[chunk_index],
                base_offset,
                &scratch,
            )?;
            reads.push(id);
        }
        let mut data = cmd.submit("msm")?;
        let windows = plan.windows as usize;
        for ((job, _), id) in pending.iter().zip(reads) {
            let sums = jacobian_from_bytes(&data.take(id));
            let combined: Vec<G1Projective> = sums
                .par_chunks(windows)
                .map(|w| combine_windows(w, plan.c))
                .collect();
            for (r, point) in job.rows.clone().zip(combined) {
                results[r] += point;
            }
        }
        pending.clear();
        Ok(())
    };
    for job in jobs {
        let bytes = scalars.bytes(job.rows.clone(), job.cols.clone(), n);
        if pending_bytes + bytes.len() > 2 * binding {
            flush(&mut pending, &mut results)?;
            pending_bytes = 0;
        }
        pending_bytes += bytes.len();
        let buffer = gpu.buffer_with("msm scalars", &bytes);
        pending.push((job, buffer));
    }
    flush(&mut pending, &mut results)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WgpuConfig;

    #[test]
    fn plans_fit_the_binding() {
        let config = WgpuConfig::defaults().msm;
        for (rows, n, bits, sb) in [
            (1usize, 1usize << 20, 254u32, 32usize),
            (1024, 1024, 8, 8),
            (1024, 1024, 254, 32),
            (1, 1 << 12, 64, 8),
            (3, 17, 1, 4),
        ] {
            for binding in [1usize << 16, 1 << 27] {
                let resident = floor_pow2(binding / AFFINE_BYTES);
                let p = plan(rows, n, bits, sb, binding, resident, &config).unwrap();
                let cols = n.min(p.col_chunk);
                let g = p.group_rows;
                assert!(p.windows * p.c > bits, "{p:?}");
                assert!(p.keys(g) * JACOBIAN_BYTES <= binding, "{p:?}");
                assert!(p.max_segments(g, cols) * JACOBIAN_BYTES <= binding, "{p:?}");
                assert!(g * cols * p.windows as usize * 4 <= binding, "{p:?}");
                assert!(g * cols * sb <= binding, "{p:?}");
                assert!(p.col_chunk <= resident && p.col_chunk.is_power_of_two());
            }
        }
    }
}
