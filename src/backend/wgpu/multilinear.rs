//! Host side of the multilinear kernels (`kernels/multilinear.wgsl`): eq-tables,
//! binding a variable, inner products and sumcheck rounds.
//!
//! Inputs larger than one storage binding are processed in pieces; argument
//! checks are the CPU backend's, so both return the same errors.

use ark_bn254::Fr;
use ark_ff::Zero;

use super::gpu::{pieces, Gpu};
use super::words::{fr_bytes, fr_from_bytes, fr_words, u32_bytes, FIELD_BYTES};
use super::{shaders, WgpuBackend};
use crate::backend::cpu::multilinear::check_round;
use crate::backend::{
    check_equal_len, Backend, BackendError, BackendResult, BindSide, ProductTerm,
};

const MODULE: &str = "multilinear";

/// Threads that each fold this many entries in the reduction kernels.
const ENTRIES_PER_THREAD: u64 = 16;
/// At most this many workgroups in a reduction (their partial sums are added on
/// the host).
const MAX_REDUCTION_GROUPS: u64 = 1024;

fn kernel(gpu: &Gpu, entry: &'static str) -> BackendResult<std::sync::Arc<super::gpu::Kernel>> {
    gpu.kernel(MODULE, &shaders::multilinear_module, entry)
}

fn params_with_fr(head: &[u32], value: &Fr) -> Vec<u32> {
    let mut p = head.to_vec();
    p.extend_from_slice(&fr_words(value));
    p
}

/// Threads and workgroups of a reduction over `len` items whose workgroups each
/// write `row` field elements: the partial sums must fit in one binding.
fn reduction_grid(gpu: &Gpu, len: usize, row: usize) -> BackendResult<(u64, u64)> {
    let max_groups = (gpu.items_per_binding(FIELD_BYTES) / row).max(1) as u64;
    let mut threads = (len as u64).div_ceil(ENTRIES_PER_THREAD).clamp(
        1,
        MAX_REDUCTION_GROUPS.min(max_groups) * shaders::WORKGROUP_SIZE as u64,
    );
    loop {
        let (x, y) = gpu.grid(threads)?;
        let groups = x as u64 * y as u64;
        if groups <= max_groups || threads == 1 {
            return Ok((threads, groups));
        }
        threads = threads.div_ceil(2);
    }
}

/// eq(point, x) for every x: the tables of the low and the high half of the
/// variables are built on the CPU (2^(n/2) entries each), their outer product
/// (2^n entries) on the GPU.
pub fn eq_table(backend: &WgpuBackend, point: &[Fr]) -> BackendResult<Vec<Fr>> {
    let n = point.len();
    let cpu = backend.cpu();
    if n > 31 || (1usize << n) < backend.config.offload.multilinear_min_len.max(2) {
        // Over 40 variables the CPU backend returns the contract's error.
        return cpu.eq_table(point);
    }
    let low_bits = n / 2;
    let low = cpu.eq_table(&point[..low_bits])?;
    let high = cpu.eq_table(&point[low_bits..])?;
    let total = 1usize << n;
    backend.run("eq_table", |_| {
        let gpu = &backend.gpu;
        let k = kernel(gpu, "eq_product")?;
        let low_buf = gpu.buffer_with("eq low", &fr_bytes(&low));
        let high_buf = gpu.buffer_with("eq high", &fr_bytes(&high));
        let per_piece = gpu.items_per_binding(FIELD_BYTES).min(total);
        let out = gpu.buffer("eq out", (per_piece * FIELD_BYTES) as u64);
        let mut cmd = gpu.encoder();
        let mut reads = Vec::new();
        for piece in pieces(total, per_piece) {
            let params = [piece.len() as u32, low_bits as u32, piece.start as u32];
            cmd.dispatch(
                &k,
                &params,
                &[(1, &low_buf), (2, &high_buf), (3, &out)],
                piece.len() as u64,
            )?;
            reads.push(cmd.read(&out, 0, (piece.len() * FIELD_BYTES) as u64));
        }
        let mut data = cmd.submit("eq_table")?;
        let mut table = Vec::with_capacity(total);
        for id in reads {
            table.extend(fr_from_bytes(&data.take(id)));
        }
        Ok(table)
    })
}

fn check_bind_len(len: usize) -> BackendResult<()> {
    if len < 2 || !len.is_power_of_two() {
        return Err(BackendError::BadLength {
            op: "bind",
            what: "values",
            len,
            requirement: "a power of two of at least 2",
        });
    }
    Ok(())
}

/// Fixes one variable to `r`, halving `values` in place.
pub fn bind(
    backend: &WgpuBackend,
    values: &mut Vec<Fr>,
    r: Fr,
    side: BindSide,
) -> BackendResult<()> {
    let len = values.len();
    check_bind_len(len)?;
    if len < backend.config.offload.multilinear_min_len {
        return backend.cpu().bind(values, r, side);
    }
    let half = len / 2;
    let folded = backend.run("bind", |_| {
        let gpu = &backend.gpu;
        let per_binding = gpu.items_per_binding(FIELD_BYTES);
        let mut folded = Vec::with_capacity(half);
        match side {
            BindSide::Low => {
                let k = kernel(gpu, "bind_low")?;
                // Output i reads inputs 2i and 2i + 1.
                let per_piece = (per_binding / 2).min(half);
                let input = gpu.buffer("bind input", (2 * per_piece * FIELD_BYTES) as u64);
                let out = gpu.buffer("bind out", (per_piece * FIELD_BYTES) as u64);
                for piece in pieces(half, per_piece) {
                    gpu.write(
                        &input,
                        0,
                        &fr_bytes(&values[2 * piece.start..2 * piece.end]),
                    );
                    let mut cmd = gpu.encoder();
                    cmd.dispatch(
                        &k,
                        &params_with_fr(&[piece.len() as u32], &r),
                        &[(4, &input), (3, &out)],
                        piece.len() as u64,
                    )?;
                    let id = cmd.read(&out, 0, (piece.len() * FIELD_BYTES) as u64);
                    folded.extend(fr_from_bytes(&cmd.submit("bind")?.take(id)));
                }
            }
            BindSide::High => {
                let k = kernel(gpu, "bind_high")?;
                let per_piece = per_binding.min(half);
                let lo = gpu.buffer("bind lo", (per_piece * FIELD_BYTES) as u64);
                let hi = gpu.buffer("bind hi", (per_piece * FIELD_BYTES) as u64);
                let out = gpu.buffer("bind out", (per_piece * FIELD_BYTES) as u64);
                for piece in pieces(half, per_piece) {
                    gpu.write(&lo, 0, &fr_bytes(&values[piece.clone()]));
                    gpu.write(
                        &hi,
                        0,
                        &fr_bytes(&values[half + piece.start..half + piece.end]),
                    );
                    let mut cmd = gpu.encoder();
                    cmd.dispatch(
                        &k,
                        &params_with_fr(&[piece.len() as u32], &r),
                        &[(5, &lo), (6, &hi), (3, &out)],
                        piece.len() as u64,
                    )?;
                    let id = cmd.read(&out, 0, (piece.len() * FIELD_BYTES) as u64);
                    folded.extend(fr_from_bytes(&cmd.submit("bind")?.take(id)));
                }
            }
        }
        Ok(folded)
    })?;
    values.truncate(half);
    values.copy_from_slice(&folded);
    Ok(())
}

/// Σ a[i]·b[i]: partial sums per workgroup on the GPU, added on the host.
pub fn inner_product(backend: &WgpuBackend, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
    check_equal_len("inner_product", "a", a.len(), "b", b.len())?;
    if a.len() < backend.config.offload.multilinear_min_len.max(1) {
        return backend.cpu().inner_product(a, b);
    }
    backend.run("inner_product", |_| {
        let gpu = &backend.gpu;
        let k = kernel(gpu, "inner_product")?;
        let per_piece = gpu.items_per_binding(FIELD_BYTES).min(a.len());
        let buf_a = gpu.buffer("ip a", (per_piece * FIELD_BYTES) as u64);
        let buf_b = gpu.buffer("ip b", (per_piece * FIELD_BYTES) as u64);
        let mut total = Fr::zero();
        for piece in pieces(a.len(), per_piece) {
            gpu.write(&buf_a, 0, &fr_bytes(&a[piece.clone()]));
            gpu.write(&buf_b, 0, &fr_bytes(&b[piece.clone()]));
            let (threads, groups) = reduction_grid(gpu, piece.len(), 1)?;
            let out = gpu.buffer("ip partials", groups * FIELD_BYTES as u64);
            let mut cmd = gpu.encoder();
            cmd.dispatch(
                &k,
                &[piece.len() as u32],
                &[(7, &buf_a), (8, &buf_b), (3, &out)],
                threads,
            )?;
            let id = cmd.read(&out, 0, groups * FIELD_BYTES as u64);
            let partials = fr_from_bytes(&cmd.submit("inner_product")?.take(id));
            total += partials.iter().sum::<Fr>();
        }
        Ok(total)
    })
}

/// One sumcheck round; see `Backend::sumcheck_round`.
pub fn sumcheck_round(
    backend: &WgpuBackend,
    mles: &[&[Fr]],
    terms: &[ProductTerm],
    degree: usize,
) -> BackendResult<Vec<Fr>> {
    let half = check_round(mles, terms, degree)?;
    let k = mles.len();
    let per_binding = backend.gpu.items_per_binding(FIELD_BYTES);
    let pairs_per_piece = (per_binding / (2 * k)).min(half);
    if 2 * half < backend.config.offload.multilinear_min_len || pairs_per_piece == 0 {
        return backend.cpu().sumcheck_round(mles, terms, degree);
    }
    let mut encoded: Vec<u32> = Vec::new();
    for term in terms {
        encoded.push(term.factors.len() as u32);
        encoded.extend(term.factors.iter().map(|&f| f as u32));
    }
    let coeffs: Vec<Fr> = terms.iter().map(|t| t.coeff).collect();
    let points = degree + 1;
    backend.run("sumcheck_round", |_| {
        let gpu = &backend.gpu;
        let kern = gpu.kernel(
            shaders::SUMCHECK_MODULES[degree],
            &|| shaders::sumcheck_module(degree),
            "sumcheck_round",
        )?;
        let stride = 2 * pairs_per_piece;
        let mle_buf = gpu.buffer("round mles", (k * stride * FIELD_BYTES) as u64);
        let terms_buf = gpu.buffer_with("round terms", &u32_bytes(&encoded));
        let coeff_buf = gpu.buffer_with("round coeffs", &fr_bytes(&coeffs));
        let mut sums = vec![Fr::zero(); points];
        for piece in pieces(half, pairs_per_piece) {
            for (j, mle) in mles.iter().enumerate() {
                gpu.write(
                    &mle_buf,
                    (j * stride * FIELD_BYTES) as u64,
                    &fr_bytes(&mle[2 * piece.start..2 * piece.end]),
                );
            }
            let (threads, rows) = reduction_grid(gpu, piece.len(), points)?;
            let out = gpu.buffer("round partials", rows * (points * FIELD_BYTES) as u64);
            let mut cmd = gpu.encoder();
            cmd.dispatch(
                &kern,
                &[
                    piece.len() as u32,
                    stride as u32,
                    degree as u32,
                    terms.len() as u32,
                ],
                &[(9, &mle_buf), (10, &terms_buf), (11, &coeff_buf), (3, &out)],
                threads,
            )?;
            let id = cmd.read(&out, 0, rows * (points * FIELD_BYTES) as u64);
            let partials = fr_from_bytes(&cmd.submit("sumcheck_round")?.take(id));
            for row in partials.chunks_exact(points) {
                for (s, v) in sums.iter_mut().zip(row) {
                    *s += v;
                }
            }
        }
        Ok(sums)
    })
}
