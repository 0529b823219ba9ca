//! Host side of the NTT (`kernels/ntt.wgsl`): radix-2 Cooley–Tukey on
//! bit-reversed input, batched, optionally on a coset.
//!
//! Forward on a coset c: scale coefficient j by c^j, bit-reverse, log₂(size)
//! butterfly stages with ω^j. Inverse: bit-reverse, stages with ω^−j, scale entry
//! j by c^−j/size. Twiddle and scaling tables are computed on the GPU (entry j =
//! factor·base^j from the base's repeated squares); twiddles stay resident per
//! size and direction. The shape checks and the domain (ω, its inverse, 1/size)
//! are the CPU backend's, so both backends agree on errors and roots.

use std::sync::Arc;

use ark_bn254::Fr;
use ark_ff::{Field, One};
use ark_poly::Radix2EvaluationDomain;

use super::gpu::{pieces, Gpu, Kernel};
use super::words::{fr_bytes, fr_from_bytes, fr_words, write_fr_bytes, FIELD_BYTES};
use super::{shaders, WgpuBackend};
use crate::backend::cpu::ntt::domain;
use crate::backend::{Backend, BackendResult};

const MODULE: &str = "ntt";

/// Twiddle tables kept on the device, at most this many.
const TWIDDLE_TABLES: usize = 4;

/// Resident twiddle tables, keyed by (log size, inverse).
#[derive(Default)]
pub struct TwiddleCache {
    tables: Vec<((u32, bool), Arc<wgpu::Buffer>)>,
}

fn kernel(gpu: &Gpu, entry: &'static str) -> BackendResult<Arc<Kernel>> {
    gpu.kernel(MODULE, &shaders::ntt_module, entry)
}

/// A table `factor·base^j`, j < len (len a power of two), computed on the GPU.
fn powers_table(
    gpu: &Gpu,
    cmd: &mut super::gpu::Commands<'_>,
    base: Fr,
    factor: Fr,
    len: usize,
) -> BackendResult<wgpu::Buffer> {
    let bits = len.trailing_zeros() as usize;
    let mut squares = Vec::with_capacity(bits.max(1));
    let mut b = base;
    for _ in 0..bits.max(1) {
        squares.push(b);
        b.square_in_place();
    }
    let squares_buf = gpu.buffer_with("powers bases", &fr_bytes(&squares));
    let out = gpu.buffer("powers", (len * FIELD_BYTES) as u64);
    let mut params = vec![len as u32, bits as u32, 0, 0];
    params.extend_from_slice(&fr_words(&factor));
    cmd.dispatch(
        &*kernel(gpu, "powers")?,
        &params,
        &[(5, &out), (6, &squares_buf)],
        len as u64,
    )?;
    Ok(out)
}

/// Transforms every polynomial of `size` coefficients in `values` in place.
pub fn transform(
    backend: &WgpuBackend,
    values: &mut [Fr],
    size: usize,
    coset: Option<Fr>,
    inverse: bool,
) -> BackendResult<()> {
    let op = if inverse { "intt" } else { "ntt" };
    let dom = domain(op, values.len(), size, coset)?;
    if values.is_empty() || size == 1 {
        // A transform of one coefficient is the identity (c^0 = 1, 1/1 = 1).
        return Ok(());
    }
    let gpu = &backend.gpu;
    let per_binding = gpu.items_per_binding(FIELD_BYTES);
    if size < backend.config.offload.ntt_min_len || size > per_binding {
        // Below the offload size, or one polynomial larger than a storage
        // binding: the CPU backend (documented in the module docs).
        let cpu = backend.cpu();
        return if inverse {
            cpu.intt(values, size, coset)
        } else {
            cpu.ntt(values, size, coset)
        };
    }
    backend.run(op, |state| {
        run_pieces(
            backend,
            &mut state.twiddles,
            values,
            size,
            coset,
            inverse,
            &dom,
        )
    })
}

fn run_pieces(
    backend: &WgpuBackend,
    cache: &mut TwiddleCache,
    values: &mut [Fr],
    size: usize,
    coset: Option<Fr>,
    inverse: bool,
    dom: &Radix2EvaluationDomain<Fr>,
) -> BackendResult<()> {
    let op = if inverse { "intt" } else { "ntt" };
    let gpu = &backend.gpu;
    let log_size = size.trailing_zeros();
    let per_piece = (gpu.items_per_binding(FIELD_BYTES) / size * size).min(values.len());
    let scale_k = kernel(gpu, "scale")?;
    let reverse_k = kernel(gpu, "bit_reverse")?;
    let butterfly_k = kernel(gpu, "butterfly")?;

    let mut cmd = gpu.encoder();
    let cached = cache
        .tables
        .iter()
        .find(|(key, _)| *key == (log_size, inverse))
        .map(|(_, table)| Arc::clone(table));
    // A new table joins the cache only once the work that built it succeeded.
    let (twiddles, new_table) = match cached {
        Some(table) => (table, false),
        None => {
            let omega = if inverse {
                dom.group_gen_inv
            } else {
                dom.group_gen
            };
            let table = powers_table(gpu, &mut cmd, omega, Fr::one(), size / 2)?;
            (Arc::new(table), true)
        }
    };
    // Scaling: c^j before a forward transform, c^−j/size after an inverse one
    // (the domain's offset is c, or 1 without a coset).
    let scale = if inverse {
        Some(powers_table(
            gpu,
            &mut cmd,
            dom.offset_inv,
            dom.size_inv,
            size,
        )?)
    } else if coset.is_some() {
        Some(powers_table(gpu, &mut cmd, dom.offset, Fr::one(), size)?)
    } else {
        None
    };
    let input = gpu.buffer("ntt input", (per_piece * FIELD_BYTES) as u64);
    let data = gpu.buffer("ntt data", (per_piece * FIELD_BYTES) as u64);
    for piece in pieces(values.len(), per_piece) {
        let count = piece.len();
        let mut bytes = vec![0u8; count * FIELD_BYTES];
        write_fr_bytes(&mut bytes, &values[piece.clone()]);
        gpu.write(&input, 0, &bytes);
        if let (Some(table), false) = (&scale, inverse) {
            cmd.dispatch(
                &scale_k,
                &[count as u32, log_size],
                &[(1, &input), (4, table)],
                count as u64,
            )?;
        }
        cmd.dispatch(
            &reverse_k,
            &[count as u32, log_size],
            &[(3, &input), (1, &data)],
            count as u64,
        )?;
        let butterflies = (count / 2) as u64;
        for log_half in 0..log_size {
            cmd.dispatch(
                &butterfly_k,
                &[butterflies as u32, log_size, log_half],
                &[(1, &data), (2, &twiddles)],
                butterflies,
            )?;
        }
        if let (Some(table), true) = (&scale, inverse) {
            cmd.dispatch(
                &scale_k,
                &[count as u32, log_size],
                &[(1, &data), (4, table)],
                count as u64,
            )?;
        }
        let id = cmd.read(&data, 0, (count * FIELD_BYTES) as u64);
        let out = fr_from_bytes(
            &std::mem::replace(&mut cmd, gpu.encoder())
                .submit(op)?
                .take(id),
        );
        values[piece].copy_from_slice(&out);
    }
    if new_table {
        if cache.tables.len() >= TWIDDLE_TABLES {
            cache.tables.remove(0);
        }
        cache.tables.push(((log_size, inverse), twiddles));
    }
    Ok(())
}
