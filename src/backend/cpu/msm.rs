//! Multi-scalar multiplication on the CPU.
//!
//! This module owns every CPU MSM kernel:
//! - [`msm`]: full-scalar Pippenger with signed digits (digits in
//!   `[-2^(c-1), 2^(c-1)]`, so `2^(c-1)` buckets per window, the affine base negated
//!   for negative digits). Bucket sets of at least `MIN_AFFINE_BUCKETS` buckets are
//!   kept affine and updated by batched affine additions sharing one inversion
//!   (`AffineBuckets`), with an XYZZ overflow bucket for collisions; smaller sets
//!   are XYZZ buckets fed by mixed additions;
//! - [`msm_small`]: the bucket method over the *actual* bit width of signed small
//!   integers (`v` means `v mod p`): the base is negated where `v < 0` and the digits
//!   come from `|v|`, so no 254-bit decomposition is ever made;
//! - [`msm_batch`] / [`msm_small_batch`]: one MSM per row of a row-major matrix
//!   over the same bases (Dory's tier-1 row commitments).
//!
//! The point arithmetic (`Xyzz`) is written over `P::BaseField`, so G1 (over Fq)
//! and G2 (over Fq2) share every line. XYZZ ("extended Jacobian") coordinates
//! `(X, Y, ZZ, ZZZ)` stand for the affine point `(X/ZZ, Y/ZZZ)` with
//! `ZZ^3 = ZZZ^2`; `ZZ = 0` is the identity. Formulas are from the Explicit-Formulas
//! Database (`madd-2008-s`, `add-2008-s`, `dbl-2008-s-1`, `mdbl-2008-s-1`), with the
//! exceptional cases (equal points double, opposite points cancel) handled.
//!
//! Parallelism is rayon: full-scalar MSMs split into (window × point-chunk) tasks,
//! small-scalar MSMs into point chunks, batches across rows when there are enough
//! rows to keep every thread busy.

use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::AdditiveGroup;
use ark_ff::{Field, PrimeField, Zero};
use rayon::prelude::*;

use crate::backend::SmallScalars;
use crate::config::MsmConfig;

/// Points per digit block of the full-scalar path. Digits are stored window-major
/// inside each block so a window's scan reads them sequentially; point chunks of
/// the parallel split are whole blocks.
const DIGIT_BLOCK: usize = 2048;

/// Largest window this module accepts; larger requests are clamped (the config
/// validation already caps windows at 24, and digits must fit an `i32`).
const MAX_WINDOW: u32 = 24;

/// A point in XYZZ coordinates: affine `(X/ZZ, Y/ZZZ)`, identity when `ZZ = 0`.
struct Xyzz<P: SWCurveConfig> {
    x: P::BaseField,
    y: P::BaseField,
    zz: P::BaseField,
    zzz: P::BaseField,
}

// Manual impls: a derive would require `P: Clone + Copy` on the curve marker.
impl<P: SWCurveConfig> Clone for Xyzz<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: SWCurveConfig> Copy for Xyzz<P> {}

impl<P: SWCurveConfig> Xyzz<P> {
    /// The identity.
    fn identity() -> Self {
        Xyzz {
            x: P::BaseField::ONE,
            y: P::BaseField::ONE,
            zz: P::BaseField::ZERO,
            zzz: P::BaseField::ZERO,
        }
    }

    fn is_identity(&self) -> bool {
        self.zz.is_zero()
    }

    /// `2·(x, y)` for an affine point (`mdbl-2008-s-1`). A point with `y = 0`
    /// (order two) gives `ZZ = 0`, the identity.
    fn double_affine(x: &P::BaseField, y: &P::BaseField) -> Self {
        let u = y.double();
        let v = u.square();
        let w = u * v;
        let s = *x * v;
        let x_sq = x.square();
        let m = x_sq.double() + x_sq + P::COEFF_A;
        let x3 = m.square() - s.double();
        let y3 = m * (s - x3) - w * y;
        Xyzz {
            x: x3,
            y: y3,
            zz: v,
            zzz: w,
        }
    }

    /// `self = 2·self` (`dbl-2008-s-1`).
    fn double_in_place(&mut self) {
        if self.is_identity() {
            return;
        }
        let u = self.y.double();
        let v = u.square();
        let w = u * v;
        let s = self.x * v;
        let x_sq = self.x.square();
        let mut m = x_sq.double() + x_sq;
        if !P::COEFF_A.is_zero() {
            m += P::mul_by_a(self.zz.square());
        }
        let x3 = m.square() - s.double();
        let y3 = m * (s - x3) - w * self.y;
        self.x = x3;
        self.y = y3;
        self.zz *= v;
        self.zzz *= w;
    }

    /// `self += (x2, y2)` for a finite affine point (`madd-2008-s`, 8M + 2S).
    #[inline]
    fn add_affine_assign(&mut self, x2: &P::BaseField, y2: &P::BaseField) {
        if self.is_identity() {
            self.x = *x2;
            self.y = *y2;
            self.zz = P::BaseField::ONE;
            self.zzz = P::BaseField::ONE;
            return;
        }
        let u2 = *x2 * self.zz;
        let s2 = *y2 * self.zzz;
        let p = u2 - self.x;
        let r = s2 - self.y;
        if p.is_zero() {
            // Same x: either the same point (double) or its negative (identity).
            *self = if r.is_zero() {
                Self::double_affine(x2, y2)
            } else {
                Self::identity()
            };
            return;
        }
        let pp = p.square();
        let ppp = p * pp;
        let q = self.x * pp;
        let x3 = r.square() - ppp - q.double();
        let y3 = r * (q - x3) - self.y * ppp;
        self.x = x3;
        self.y = y3;
        self.zz *= pp;
        self.zzz *= ppp;
    }

    /// `self += other` (`add-2008-s`, 12M + 2S).
    fn add_assign(&mut self, other: &Self) {
        if other.is_identity() {
            return;
        }
        if self.is_identity() {
            *self = *other;
            return;
        }
        let u1 = self.x * other.zz;
        let u2 = other.x * self.zz;
        let s1 = self.y * other.zzz;
        let s2 = other.y * self.zzz;
        let p = u2 - u1;
        let r = s2 - s1;
        if p.is_zero() {
            if r.is_zero() {
                self.double_in_place();
            } else {
                *self = Self::identity();
            }
            return;
        }
        let pp = p.square();
        let ppp = p * pp;
        let q = u1 * pp;
        let x3 = r.square() - ppp - q.double();
        let y3 = r * (q - x3) - s1 * ppp;
        self.x = x3;
        self.y = y3;
        self.zz = self.zz * other.zz * pp;
        self.zzz = self.zzz * other.zzz * ppp;
    }

    /// The same point in arkworks' Jacobian coordinates: with `z = ZZZ/ZZ`,
    /// `(X·ZZ², Y·ZZ³, ZZZ)` is `(x·Z², y·Z³, Z)` for `Z = z·ZZ = ZZZ`.
    fn into_projective(self) -> Projective<P> {
        if self.is_identity() {
            return Projective::<P>::zero();
        }
        let zz_sq = self.zz.square();
        let zz_cube = zz_sq * self.zz;
        Projective::<P>::new_unchecked(self.x * zz_sq, self.y * zz_cube, self.zzz)
    }
}

/// Largest number of additions sharing one batched inversion.
const MAX_AFFINE_BATCH: usize = 256;

/// Bucket sets smaller than this use XYZZ buckets only: with few buckets, batches
/// would be short (little to amortise the inversion over) and collide often.
const MIN_AFFINE_BUCKETS: usize = 1024;

/// How a queued affine addition is resolved once the batch runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    /// Distinct x: the chord rule.
    Add,
    /// The same point: the tangent rule.
    Double,
    /// Opposite points (or doubling a point of order two): the bucket empties.
    Cancel,
}

/// Buckets kept in affine coordinates and updated by batched affine additions:
/// additions are queued (at most one per bucket per batch) and run together with
/// one shared field inversion (Montgomery's trick), about 6M + 1S each instead of
/// the 8M + 2S of an XYZZ mixed addition. A point whose bucket already has an
/// addition queued goes into that bucket's XYZZ overflow instead, so skewed digit
/// distributions (repeated bases, many equal scalars) never stall the batch.
struct AffineBuckets<P: SWCurveConfig> {
    x: Vec<P::BaseField>,
    y: Vec<P::BaseField>,
    occupied: Vec<bool>,
    busy: Vec<bool>,
    overflow: Vec<Xyzz<P>>,
    batch: usize,
    pending_bucket: Vec<usize>,
    pending_x: Vec<P::BaseField>,
    pending_y: Vec<P::BaseField>,
    pending_kind: Vec<PendingKind>,
    scratch: Vec<P::BaseField>,
}

impl<P: SWCurveConfig> AffineBuckets<P> {
    fn new(len: usize) -> Self {
        let batch = (len / 16).clamp(1, MAX_AFFINE_BATCH);
        AffineBuckets {
            x: vec![P::BaseField::ZERO; len],
            y: vec![P::BaseField::ZERO; len],
            occupied: vec![false; len],
            busy: vec![false; len],
            overflow: vec![Xyzz::<P>::identity(); len],
            batch,
            pending_bucket: Vec::with_capacity(batch),
            pending_x: Vec::with_capacity(batch),
            pending_y: Vec::with_capacity(batch),
            pending_kind: Vec::with_capacity(batch),
            scratch: Vec::with_capacity(batch),
        }
    }

    /// Adds the finite affine point `(px, py)` into bucket `k`.
    #[inline]
    fn add(&mut self, k: usize, px: &P::BaseField, py: &P::BaseField) {
        if self.busy[k] {
            self.overflow[k].add_affine_assign(px, py);
        } else if !self.occupied[k] {
            self.x[k] = *px;
            self.y[k] = *py;
            self.occupied[k] = true;
        } else {
            self.busy[k] = true;
            self.pending_bucket.push(k);
            self.pending_x.push(*px);
            self.pending_y.push(*py);
            if self.pending_bucket.len() == self.batch {
                self.flush();
            }
        }
    }

    /// Runs the queued additions with one inversion.
    fn flush(&mut self) {
        let count = self.pending_bucket.len();
        if count == 0 {
            return;
        }
        self.scratch.clear();
        self.pending_kind.clear();
        // Denominators and their running products (Montgomery's trick).
        let mut product = P::BaseField::ONE;
        for i in 0..count {
            let k = self.pending_bucket[i];
            let dx = self.pending_x[i] - self.x[k];
            let (kind, denominator) = if !dx.is_zero() {
                (PendingKind::Add, dx)
            } else if self.pending_y[i] == self.y[k] && !self.y[k].is_zero() {
                (PendingKind::Double, self.y[k].double())
            } else {
                (PendingKind::Cancel, P::BaseField::ONE)
            };
            self.pending_kind.push(kind);
            self.scratch.push(product);
            product *= denominator;
        }
        // Every denominator is non-zero, so the product is invertible.
        let mut inverse = product.inverse().unwrap_or(P::BaseField::ZERO);
        for i in (0..count).rev() {
            let k = self.pending_bucket[i];
            let (px, py) = (self.pending_x[i], self.pending_y[i]);
            self.busy[k] = false;
            let kind = self.pending_kind[i];
            let denominator = match kind {
                PendingKind::Add => px - self.x[k],
                PendingKind::Double => self.y[k].double(),
                PendingKind::Cancel => P::BaseField::ONE,
            };
            // 1/denominator_i = (product of the earlier ones) / (product up to i).
            let inv = inverse * self.scratch[i];
            inverse *= denominator;
            let lambda = match kind {
                PendingKind::Add => (py - self.y[k]) * inv,
                PendingKind::Double => {
                    let x_sq = self.x[k].square();
                    (x_sq.double() + x_sq + P::COEFF_A) * inv
                }
                PendingKind::Cancel => {
                    self.occupied[k] = false;
                    continue;
                }
            };
            let x3 = lambda.square() - self.x[k] - px;
            let y3 = lambda * (self.x[k] - x3) - self.y[k];
            self.x[k] = x3;
            self.y[k] = y3;
        }
        self.pending_bucket.clear();
        self.pending_x.clear();
        self.pending_y.clear();
    }

    /// Σ_k (k+1)·bucket[k] over `range` (affine part plus overflow), by running sums.
    fn reduce(&mut self, range: std::ops::Range<usize>) -> Xyzz<P> {
        self.flush();
        let mut running = Xyzz::<P>::identity();
        let mut acc = Xyzz::<P>::identity();
        let start = range.start;
        let top = range
            .rev()
            .find(|&k| self.occupied[k] || !self.overflow[k].is_identity())
            .map_or(start, |k| k + 1);
        for k in (start..top).rev() {
            if self.occupied[k] {
                running.add_affine_assign(&self.x[k], &self.y[k]);
            }
            running.add_assign(&self.overflow[k]);
            acc.add_assign(&running);
        }
        acc
    }
}

/// A bucket set of either kind: batched affine when large, XYZZ otherwise.
enum Buckets<P: SWCurveConfig> {
    Affine(Box<AffineBuckets<P>>),
    Xyzz(Vec<Xyzz<P>>),
}

impl<P: SWCurveConfig> Buckets<P> {
    fn new(len: usize) -> Self {
        if len >= MIN_AFFINE_BUCKETS {
            Buckets::Affine(Box::new(AffineBuckets::new(len)))
        } else {
            Buckets::Xyzz(vec![Xyzz::<P>::identity(); len])
        }
    }

    /// Adds the finite affine point `(px, py)` into bucket `k`.
    #[inline]
    fn add(&mut self, k: usize, px: &P::BaseField, py: &P::BaseField) {
        match self {
            Buckets::Affine(b) => b.add(k, px, py),
            Buckets::Xyzz(b) => b[k].add_affine_assign(px, py),
        }
    }

    /// Σ_j (j+1)·bucket[range.start + j], as an arkworks point.
    fn reduce(&mut self, range: std::ops::Range<usize>) -> Projective<P> {
        match self {
            Buckets::Affine(b) => b.reduce(range),
            Buckets::Xyzz(b) => reduce_buckets(&b[range]),
        }
        .into_projective()
    }
}

/// Σ_k (k+1)·buckets[k] by the running-sum method (2 additions per bucket).
fn reduce_buckets<P: SWCurveConfig>(buckets: &[Xyzz<P>]) -> Xyzz<P> {
    let top = buckets
        .iter()
        .rposition(|b| !b.is_identity())
        .map_or(0, |i| i + 1);
    let mut running = Xyzz::<P>::identity();
    let mut acc = Xyzz::<P>::identity();
    for bucket in buckets[..top].iter().rev() {
        running.add_assign(bucket);
        acc.add_assign(&running);
    }
    acc
}

/// Σ_w 2^(w·c)·window_sums[w] by Horner's rule from the top window.
fn combine_windows<P: SWCurveConfig>(window_sums: &[Projective<P>], c: u32) -> Projective<P> {
    let mut total = Projective::<P>::zero();
    for (i, sum) in window_sums.iter().enumerate().rev() {
        if i + 1 != window_sums.len() {
            for _ in 0..c {
                total.double_in_place();
            }
        }
        total += sum;
    }
    total
}

/// Number of signed-digit windows of width `c` that cover any value below
/// `2^bits`: the top digit absorbs the last carry without leaving `[0, 2^(c-1)]`
/// as long as `windows·c ≥ bits + 1`.
fn signed_window_count(bits: u32, c: u32) -> u32 {
    (bits + 1).div_ceil(c)
}

/// `c` bits of the little-endian limbs starting at bit `offset` (zero past the end).
#[inline]
fn bits_at(limbs: &[u64], offset: usize, c: u32) -> u64 {
    let limb = offset / 64;
    let shift = offset % 64;
    if limb >= limbs.len() {
        return 0;
    }
    let mut word = limbs[limb] >> shift;
    if shift != 0 && limb + 1 < limbs.len() {
        word |= limbs[limb + 1] << (64 - shift);
    }
    word & ((1u64 << c) - 1)
}

/// One step of the signed-digit recoding: from the raw window bits and the
/// incoming carry, the digit and the outgoing carry. Digits lie in
/// `[-(2^(c-1) - 1), 2^(c-1)]`; `last` keeps the top digit unsigned (it never
/// exceeds `2^(c-1)` when the window count is [`signed_window_count`]).
#[inline]
fn signed_digit(raw: u64, carry: u64, c: u32, last: bool) -> (i32, u64) {
    let coef = raw + carry;
    let half = 1u64 << (c - 1);
    if last || coef <= half {
        (coef as i32, 0)
    } else {
        (coef as i32 - (1i32 << c), 1)
    }
}

/// Rayon threads available to this call.
fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// `Σ scalars[i]·bases[i]` with full field scalars and window `window` (bits per
/// signed digit, taken from the config's `full_windows` table by the caller).
/// Lengths are checked by the caller; an empty input gives the identity.
pub fn msm<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[P::ScalarField],
    config: &MsmConfig,
    window: u32,
) -> Projective<P> {
    let parallel = bases.len() >= config.min_parallel_len;
    msm_full(bases, scalars, window, parallel)
}

/// Full-scalar Pippenger; `parallel` false runs on the calling thread only.
fn msm_full<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[P::ScalarField],
    window: u32,
    parallel: bool,
) -> Projective<P> {
    let n = bases.len().min(scalars.len());
    if n == 0 {
        return Projective::<P>::zero();
    }
    let (bases, scalars) = (&bases[..n], &scalars[..n]);
    let c = window.clamp(1, MAX_WINDOW);
    let num_bits = P::ScalarField::MODULUS_BIT_SIZE;
    let num_windows = signed_window_count(num_bits, c) as usize;
    let num_buckets = 1usize << (c - 1);

    // Signed digits, window-major inside each block of DIGIT_BLOCK points.
    let mut digits = vec![0i32; n * num_windows];
    let fill_block = |(scalar_block, digit_block): (&[P::ScalarField], &mut [i32])| {
        let len = scalar_block.len();
        for (j, scalar) in scalar_block.iter().enumerate() {
            let bigint = scalar.into_bigint();
            let limbs = bigint.as_ref();
            let mut carry = 0u64;
            for w in 0..num_windows {
                let raw = bits_at(limbs, w * c as usize, c);
                let (digit, next) = signed_digit(raw, carry, c, w + 1 == num_windows);
                carry = next;
                digit_block[w * len + j] = digit;
            }
        }
    };
    if parallel {
        scalars
            .par_chunks(DIGIT_BLOCK)
            .zip(digits.par_chunks_mut(DIGIT_BLOCK * num_windows))
            .for_each(fill_block);
    } else {
        scalars
            .chunks(DIGIT_BLOCK)
            .zip(digits.chunks_mut(DIGIT_BLOCK * num_windows))
            .for_each(fill_block);
    }

    // Split the points into chunks (whole digit blocks) when the windows alone
    // would leave threads idle or unevenly loaded.
    let blocks = n.div_ceil(DIGIT_BLOCK);
    let chunks = if parallel {
        choose_chunks(num_windows, n, num_buckets, blocks)
    } else {
        1
    };
    let blocks_per_chunk = blocks.div_ceil(chunks);
    let chunks = blocks.div_ceil(blocks_per_chunk);

    let window_chunk_sum = |task: usize| -> Projective<P> {
        let w = task / chunks;
        let chunk = task % chunks;
        let mut buckets = Buckets::<P>::new(num_buckets);
        let first_block = chunk * blocks_per_chunk;
        let last_block = ((chunk + 1) * blocks_per_chunk).min(blocks);
        for block in first_block..last_block {
            let start = block * DIGIT_BLOCK;
            let len = DIGIT_BLOCK.min(n - start);
            let block_digits = &digits[start * num_windows + w * len..][..len];
            for (digit, base) in block_digits.iter().zip(&bases[start..start + len]) {
                let digit = *digit;
                if digit != 0 && !base.infinity {
                    let index = digit.unsigned_abs() as usize - 1;
                    if digit < 0 {
                        buckets.add(index, &base.x, &-base.y);
                    } else {
                        buckets.add(index, &base.x, &base.y);
                    }
                }
            }
        }
        buckets.reduce(0..num_buckets)
    };
    let tasks = num_windows * chunks;
    let task_sums: Vec<Projective<P>> = if parallel {
        (0..tasks).into_par_iter().map(window_chunk_sum).collect()
    } else {
        (0..tasks).map(window_chunk_sum).collect()
    };
    let window_sums: Vec<Projective<P>> = task_sums
        .chunks(chunks)
        .map(|parts| parts.iter().sum())
        .collect();
    combine_windows(&window_sums, c)
}

/// How many point chunks to split each window into: the count (at most one per
/// block) minimising the critical path `⌈windows·k / threads⌉ · (n/k + 3·buckets)`
/// (a bucket-reduction addition costs about 1.5 mixed additions, two per bucket).
fn choose_chunks(num_windows: usize, n: usize, num_buckets: usize, blocks: usize) -> usize {
    let threads = threads();
    let max_chunks = blocks.min(4 * threads).max(1);
    let cost = |k: usize| (num_windows * k).div_ceil(threads) * (n.div_ceil(k) + 3 * num_buckets);
    (1..=max_chunks).min_by_key(|&k| cost(k)).unwrap_or(1)
}

/// `Σ values[i]·bases[i]` for signed small integers (`v` means `v mod p`). The
/// window comes from a cost model over the values' actual bit width, capped at
/// `config.small_max_window`. Lengths are checked by the caller; an empty or
/// all-zero input gives the identity.
pub fn msm_small<P: SWCurveConfig>(
    bases: &[Affine<P>],
    values: SmallScalars<'_>,
    config: &MsmConfig,
) -> Projective<P>
where
    P::ScalarField: PrimeField,
{
    let parallel = bases.len() >= config.min_parallel_len;
    msm_small_impl(bases, values, config.small_max_window, parallel)
}

/// Window for a small-scalar MSM of `chunk_len` points per chunk and values of
/// `bits` bits: minimises `windows · (chunk_len + 2·buckets)` over `1..=max_window`.
fn small_window(bits: u32, chunk_len: usize, max_window: u32) -> u32 {
    let max_window = max_window.clamp(1, MAX_WINDOW).min(bits + 1);
    (1..=max_window)
        .min_by_key(|&c| {
            let windows = signed_window_count(bits, c) as usize;
            windows * (chunk_len + 2 * (1usize << (c - 1)))
        })
        .unwrap_or(1)
}

fn msm_small_impl<P: SWCurveConfig>(
    bases: &[Affine<P>],
    values: SmallScalars<'_>,
    max_window: u32,
    parallel: bool,
) -> Projective<P> {
    let n = bases.len().min(values.len());
    if n == 0 {
        return Projective::<P>::zero();
    }
    let bits = values.slice(0, n).magnitude_bits();
    if bits == 0 {
        return Projective::<P>::zero();
    }
    let chunks = if parallel { threads().min(n) } else { 1 };
    let chunk_len = n.div_ceil(chunks);
    let c = small_window(bits, chunk_len, max_window);
    let num_windows = signed_window_count(bits, c) as usize;
    let num_buckets = 1usize << (c - 1);
    let mask = (1u128 << c) - 1;

    let chunk_sum = |chunk: usize| -> Projective<P> {
        let start = chunk * chunk_len;
        let end = (start + chunk_len).min(n);
        // Buckets of all windows, window-major.
        let mut buckets = Buckets::<P>::new(num_windows * num_buckets);
        for (i, base) in bases.iter().enumerate().take(end).skip(start) {
            let v = values.get(i);
            if v == 0 || base.infinity {
                continue;
            }
            let magnitude = v.unsigned_abs() as u128;
            let negative = v < 0;
            let neg_y = -base.y;
            let mut carry = 0u64;
            for w in 0..num_windows {
                let raw = ((magnitude >> (w as u32 * c)) & mask) as u64;
                let (digit, next) = signed_digit(raw, carry, c, w + 1 == num_windows);
                carry = next;
                if digit != 0 {
                    let index = w * num_buckets + digit.unsigned_abs() as usize - 1;
                    let y = if (digit < 0) != negative {
                        &neg_y
                    } else {
                        &base.y
                    };
                    buckets.add(index, &base.x, y);
                }
            }
        }
        let window_sums: Vec<Projective<P>> = (0..num_windows)
            .map(|w| buckets.reduce(w * num_buckets..(w + 1) * num_buckets))
            .collect();
        combine_windows(&window_sums, c)
    };
    if parallel {
        (0..chunks).into_par_iter().map(chunk_sum).sum()
    } else {
        (0..chunks).map(chunk_sum).sum()
    }
}

/// Whether a batch of `rows` MSMs should run one row per task (each row on one
/// thread) rather than row after row with each row parallel inside.
fn rows_in_parallel(rows: usize, cols: usize, config: &MsmConfig) -> bool {
    rows >= threads() || cols < config.min_parallel_len
}

/// One full-scalar MSM per row of the row-major `scalars` matrix (`rows` rows of
/// `bases.len()` entries) over the same bases. Lengths are checked by the caller.
pub fn msm_batch<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[P::ScalarField],
    rows: usize,
    config: &MsmConfig,
    window: u32,
) -> Vec<Projective<P>> {
    let cols = bases.len();
    if rows == 0 {
        return Vec::new();
    }
    if cols == 0 {
        return vec![Projective::<P>::zero(); rows];
    }
    let row = |r: usize, parallel: bool| {
        msm_full(bases, &scalars[r * cols..(r + 1) * cols], window, parallel)
    };
    if rows_in_parallel(rows, cols, config) {
        (0..rows).into_par_iter().map(|r| row(r, false)).collect()
    } else {
        (0..rows).map(|r| row(r, true)).collect()
    }
}

/// One small-scalar MSM per row of the row-major `values` matrix (`rows` rows of
/// `bases.len()` entries) over the same bases. Lengths are checked by the caller.
pub fn msm_small_batch<P: SWCurveConfig>(
    bases: &[Affine<P>],
    values: SmallScalars<'_>,
    rows: usize,
    config: &MsmConfig,
) -> Vec<Projective<P>>
where
    P::ScalarField: PrimeField,
{
    let cols = bases.len();
    if rows == 0 {
        return Vec::new();
    }
    if cols == 0 {
        return vec![Projective::<P>::zero(); rows];
    }
    let max_window = config.small_max_window;
    let row = |r: usize, parallel: bool| {
        msm_small_impl(
            bases,
            values.slice(r * cols, (r + 1) * cols),
            max_window,
            parallel,
        )
    };
    if rows_in_parallel(rows, cols, config) {
        (0..rows).into_par_iter().map(|r| row(r, false)).collect()
    } else {
        (0..rows).map(|r| row(r, true)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Affine, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use crate::config::KernelConfig;

    fn config() -> MsmConfig {
        KernelConfig::cpu_defaults().msm
    }

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    fn random_points<P: SWCurveConfig>(n: usize, rng: &mut ChaCha20Rng) -> Vec<Affine<P>> {
        let g = Projective::<P>::generator();
        let points: Vec<Projective<P>> = (0..n).map(|_| g * P::ScalarField::rand(rng)).collect();
        Projective::<P>::normalize_batch(&points)
    }

    fn naive<P: SWCurveConfig>(bases: &[Affine<P>], scalars: &[P::ScalarField]) -> Projective<P> {
        bases.iter().zip(scalars).map(|(b, s)| *b * s).sum()
    }

    fn small_to_field<F: PrimeField>(v: i64) -> F {
        let m = F::from(v.unsigned_abs());
        if v < 0 {
            -m
        } else {
            m
        }
    }

    fn naive_small<P: SWCurveConfig>(bases: &[Affine<P>], values: &[i64]) -> Projective<P> {
        let scalars: Vec<P::ScalarField> = values.iter().map(|&v| small_to_field(v)).collect();
        naive(bases, &scalars)
    }

    /// Scalars exercising the edge cases: 0, 1, −1 = p−1, p−2, 2^253, maximal
    /// digits (all ones in the low limbs), and random values.
    fn edge_scalars(n: usize, rng: &mut ChaCha20Rng) -> Vec<Fr> {
        let specials = [
            Fr::zero(),
            Fr::ONE,
            -Fr::ONE,
            -Fr::from(2u64),
            Fr::from(2u64).pow([253u64]),
            Fr::from(u64::MAX),
            Fr::from(u128::MAX),
            -Fr::from(u128::MAX),
        ];
        (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    specials[(i / 3) % specials.len()]
                } else {
                    Fr::rand(rng)
                }
            })
            .collect()
    }

    fn check_full<P: SWCurveConfig>(seed: u64) {
        let cfg = config();
        let mut r = rng(seed);
        for &n in &[0usize, 1, 2, 3, 31, 100, 1000, 5000] {
            let bases = random_points::<P>(n, &mut r);
            let scalars: Vec<P::ScalarField> = (0..n)
                .map(|i| match i % 4 {
                    0 => P::ScalarField::zero(),
                    1 => -P::ScalarField::ONE,
                    _ => P::ScalarField::rand(&mut r),
                })
                .collect();
            let expected = naive(&bases, &scalars);
            // The tuned window, and windows with batched-affine buckets.
            let window = KernelConfig::cpu_defaults().full_window(n);
            for w in [window, 12, 14] {
                let got = msm(&bases, &scalars, &cfg, w);
                assert_eq!(got, expected, "n = {n}, window = {w}");
            }
        }
    }

    #[test]
    fn full_g1_matches_naive() {
        check_full::<ark_bn254::g1::Config>(1);
    }

    #[test]
    fn full_g2_matches_naive() {
        check_full::<ark_bn254::g2::Config>(2);
    }

    #[test]
    fn full_edge_scalars_every_window() {
        let mut r = rng(3);
        let n = 300;
        let bases = random_points::<ark_bn254::g1::Config>(n, &mut r);
        let scalars = edge_scalars(n, &mut r);
        let expected = naive(&bases, &scalars);
        let mut cfg = config();
        for window in 1..=18 {
            for min_parallel_len in [0, usize::MAX] {
                cfg.min_parallel_len = min_parallel_len;
                assert_eq!(
                    msm(&bases, &scalars, &cfg, window),
                    expected,
                    "window {window}, min_parallel_len {min_parallel_len}"
                );
            }
        }
    }

    #[test]
    fn full_repeated_and_opposite_bases() {
        // The same point many times (doubling inside buckets), points next to their
        // negatives (cancellation), the point at infinity, and sums that cancel.
        let mut r = rng(4);
        let p = random_points::<ark_bn254::g1::Config>(3, &mut r);
        let mut bases = Vec::new();
        let mut scalars = Vec::new();
        for i in 0..4500 {
            let s = Fr::rand(&mut r);
            match i % 5 {
                0 | 1 => {
                    bases.push(p[0]);
                    scalars.push(Fr::from(7u64));
                }
                2 => {
                    bases.push(p[1]);
                    scalars.push(s);
                    bases.push(-p[1]);
                    scalars.push(s);
                }
                3 => {
                    bases.push(G1Affine::identity());
                    scalars.push(s);
                }
                _ => {
                    bases.push(p[2]);
                    scalars.push(-Fr::ONE);
                }
            }
        }
        let expected = naive(&bases, &scalars);
        let mut cfg = config();
        for window in [2, 5, 8, 11, 13, 16] {
            for min_parallel_len in [0, usize::MAX] {
                cfg.min_parallel_len = min_parallel_len;
                assert_eq!(msm(&bases, &scalars, &cfg, window), expected);
            }
        }
        // A sum that cancels to the identity.
        let bases = vec![p[0], p[0], -p[0], p[1]];
        let scalars = vec![Fr::from(3u64), Fr::from(5u64), Fr::from(8u64), Fr::zero()];
        for window in 1..=6 {
            assert!(msm(&bases, &scalars, &cfg, window).is_zero());
        }
    }

    #[test]
    fn full_all_zero_scalars() {
        let mut r = rng(5);
        let bases = random_points::<ark_bn254::g1::Config>(1000, &mut r);
        let scalars = vec![Fr::zero(); 1000];
        assert!(msm(&bases, &scalars, &config(), 10).is_zero());
    }

    #[test]
    fn xyzz_arithmetic_matches_arkworks() {
        let mut r = rng(6);
        let pts = random_points::<ark_bn254::g2::Config>(2, &mut r);
        let (a, b) = (pts[0], pts[1]);
        let mut acc = Xyzz::<ark_bn254::g2::Config>::identity();
        acc.add_affine_assign(&a.x, &a.y);
        acc.add_affine_assign(&a.x, &a.y); // doubling branch
        assert_eq!(acc.into_projective(), G2Projective::from(a).double());
        acc.add_affine_assign(&b.x, &b.y);
        let expected = G2Projective::from(a).double() + b;
        assert_eq!(acc.into_projective(), expected);
        let mut twice = acc;
        twice.add_assign(&acc); // doubling branch of the full addition
        assert_eq!(twice.into_projective(), expected.double());
        let mut neg = acc;
        neg.y = -neg.y;
        let mut cancel = acc;
        cancel.add_assign(&neg);
        assert!(cancel.is_identity());
        let mut opposite = Xyzz::<ark_bn254::g2::Config>::identity();
        opposite.add_affine_assign(&b.x, &b.y);
        opposite.add_affine_assign(&b.x, &-b.y);
        assert!(opposite.is_identity());
    }

    #[test]
    fn affine_buckets_double_cancel_and_overflow() {
        type G2 = ark_bn254::g2::Config;
        let mut r = rng(13);
        let pts = random_points::<G2>(3, &mut r);
        let (a, b, c) = (pts[0], pts[1], pts[2]);
        let mut buckets = AffineBuckets::<G2>::new(MIN_AFFINE_BUCKETS);
        // Bucket 0: a + a (doubling in the batch) + a (overflow) = 3a.
        buckets.add(0, &a.x, &a.y);
        buckets.add(0, &a.x, &a.y);
        buckets.add(0, &a.x, &a.y);
        // Bucket 1: b + (−b) cancels, then c lands in the emptied bucket.
        buckets.add(1, &b.x, &b.y);
        buckets.add(1, &b.x, &-b.y);
        buckets.flush();
        assert!(!buckets.occupied[1]);
        buckets.add(1, &c.x, &c.y);
        // Bucket 2: b + c (chord), then − b − c queued in later batches: empty.
        buckets.add(2, &b.x, &b.y);
        buckets.add(2, &c.x, &c.y);
        buckets.flush();
        buckets.add(2, &b.x, &-b.y);
        buckets.flush();
        buckets.add(2, &c.x, &-c.y);
        // Σ (k+1)·bucket[k] = 1·3a + 2·c + 3·O.
        let expected = G2Projective::from(a) * Fr::from(3u64) + G2Projective::from(c).double();
        assert_eq!(buckets.reduce(0..3).into_projective(), expected);
        assert!(!buckets.occupied[2]);
    }

    fn check_small<P: SWCurveConfig>(seed: u64) {
        let cfg = config();
        let mut r = rng(seed);
        for &n in &[0usize, 1, 2, 3, 31, 100, 1000, 5000] {
            let bases = random_points::<P>(n, &mut r);
            for bits in [1u32, 8, 16, 32, 63] {
                let values: Vec<i64> = (0..n)
                    .map(|_| {
                        let raw = u64::rand(&mut r);
                        if bits == 1 {
                            (raw % 3) as i64 - 1
                        } else {
                            (raw as i64) >> (64 - bits)
                        }
                    })
                    .collect();
                let got = msm_small(&bases, SmallScalars::I64(&values), &cfg);
                assert_eq!(got, naive_small(&bases, &values), "n = {n}, bits = {bits}");
            }
        }
    }

    #[test]
    fn small_g1_matches_naive() {
        check_small::<ark_bn254::g1::Config>(7);
    }

    #[test]
    fn small_g2_matches_naive() {
        check_small::<ark_bn254::g2::Config>(8);
    }

    #[test]
    fn small_extremes_and_caps() {
        let mut r = rng(9);
        let n = 600;
        let bases = random_points::<ark_bn254::g1::Config>(n, &mut r);
        let extremes = [
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            i32::MIN as i64,
            i32::MAX as i64,
            -1,
            1,
            0,
        ];
        let values: Vec<i64> = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    extremes[(i / 2) % extremes.len()]
                } else {
                    i64::rand(&mut r)
                }
            })
            .collect();
        let expected = naive_small(&bases, &values);
        let mut cfg = config();
        for cap in [1, 2, 5, 8, 11, 16] {
            for min_parallel_len in [0, usize::MAX] {
                cfg.small_max_window = cap;
                cfg.min_parallel_len = min_parallel_len;
                assert_eq!(
                    msm_small(&bases, SmallScalars::I64(&values), &cfg),
                    expected,
                    "cap {cap}, min_parallel_len {min_parallel_len}"
                );
            }
        }
        // i32 extremes through the I32 variant.
        let values32: Vec<i32> = (0..n)
            .map(|i| match i % 4 {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => -(i as i32),
                _ => i32::rand(&mut r),
            })
            .collect();
        let wide: Vec<i64> = values32.iter().map(|&v| v as i64).collect();
        assert_eq!(
            msm_small(&bases, SmallScalars::I32(&values32), &config()),
            naive_small(&bases, &wide)
        );
        // Only i64::MIN (magnitude 2^63).
        let only_min = vec![i64::MIN; 3];
        assert_eq!(
            msm_small(&bases[..3], SmallScalars::I64(&only_min), &config()),
            naive_small(&bases[..3], &only_min)
        );
    }

    #[test]
    fn small_zero_repeated_and_opposite() {
        let mut r = rng(10);
        let p = random_points::<ark_bn254::g1::Config>(2, &mut r);
        let cfg = config();
        // All zero and empty.
        let bases = vec![p[0]; 500];
        assert!(msm_small(&bases, SmallScalars::I64(&[0; 500]), &cfg).is_zero());
        assert!(msm_small::<ark_bn254::g1::Config>(&[], SmallScalars::I32(&[]), &cfg).is_zero());
        // Repeated bases with equal digits (doubling in buckets), and opposites.
        let mut bases = Vec::new();
        let mut values = Vec::new();
        for i in 0..2000i64 {
            bases.push(p[0]);
            values.push(if i % 3 == 0 { -5 } else { 5 + i % 2 });
            bases.push(p[1]);
            values.push(9);
            bases.push(-p[1]);
            values.push(9);
        }
        bases.push(G1Affine::identity());
        values.push(12345);
        assert_eq!(
            msm_small(&bases, SmallScalars::I64(&values), &cfg),
            naive_small(&bases, &values)
        );
    }

    #[test]
    fn small_window_model_uses_actual_width() {
        assert_eq!(signed_window_count(8, small_window(8, 1 << 15, 16)), 1);
        assert!(small_window(1, 1 << 15, 16) <= 2);
        assert_eq!(small_window(64, 1 << 20, 3), 3);
        assert!(small_window(32, 1 << 15, 16) <= 16);
    }

    #[test]
    fn batches_match_single_msms() {
        let mut r = rng(11);
        let cfg = config();
        for &(rows, cols) in &[(0usize, 7usize), (1, 300), (5, 64), (3, 1), (0, 0), (4, 0)] {
            let bases = random_points::<ark_bn254::g1::Config>(cols, &mut r);
            let scalars: Vec<Fr> = (0..rows * cols).map(|_| Fr::rand(&mut r)).collect();
            let values: Vec<i32> = (0..rows * cols)
                .map(|i| (i32::rand(&mut r)) >> (i % 31))
                .collect();
            let window = KernelConfig::cpu_defaults().full_window(cols);
            let full = msm_batch(&bases, &scalars, rows, &cfg, window);
            let small = msm_small_batch(&bases, SmallScalars::I32(&values), rows, &cfg);
            assert_eq!(full.len(), rows);
            assert_eq!(small.len(), rows);
            for row in 0..rows {
                let range = row * cols..(row + 1) * cols;
                assert_eq!(full[row], naive(&bases, &scalars[range.clone()]));
                let wide: Vec<i64> = values[range].iter().map(|&v| v as i64).collect();
                assert_eq!(small[row], naive_small(&bases, &wide));
            }
        }
    }

    #[test]
    fn batch_many_rows_parallel_and_serial_agree() {
        let mut r = rng(12);
        let (rows, cols) = (16, 512);
        let bases = random_points::<ark_bn254::g1::Config>(cols, &mut r);
        let scalars: Vec<Fr> = (0..rows * cols).map(|_| Fr::rand(&mut r)).collect();
        let values: Vec<i64> = (0..rows * cols).map(|_| i64::rand(&mut r) >> 40).collect();
        let mut cfg = config();
        let mut results = Vec::new();
        for min_parallel_len in [0, usize::MAX] {
            cfg.min_parallel_len = min_parallel_len;
            results.push((
                msm_batch(&bases, &scalars, rows, &cfg, 9),
                msm_small_batch(&bases, SmallScalars::I64(&values), rows, &cfg),
            ));
        }
        assert_eq!(results[0], results[1]);
        for row in [0, 7, 15] {
            let range = row * cols..(row + 1) * cols;
            assert_eq!(results[0].0[row], naive(&bases, &scalars[range.clone()]));
            assert_eq!(results[0].1[row], naive_small(&bases, &values[range]));
        }
    }
}
