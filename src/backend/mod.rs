//! The backend seam: every heavy primitive of the prover (MSM, NTT, multilinear
//! kernels) goes through the [`Backend`] trait, so that the protocol code is written
//! once and runs on whatever device was chosen at the edge (CLI or service).
//!
//! This module owns the trait, its typed errors and the plain-data types its
//! methods take. It must not hold protocol logic (no transcript, no op semantics):
//! a backend supplies primitives only.
//!
//! Dory's opening adds batched multi-pairings ([`Backend::multi_pairings`]) and
//! element-wise G1/G2 scalar multiplications; their defaults run on the CPU.
//!
//! Implementations:
//! - [`cpu::CpuBackend`]: always compiled, rayon-parallel, the oracle every other
//!   backend is compared against;
//! - [`reference::ReferenceBackend`]: naive, obviously-correct code used only to
//!   check the fast ones;
//! - `icicle::IcicleBackend` (cargo feature `icicle`, on by default): BN254 MSM
//!   and NTT on CUDA or Metal through ICICLE's C API, loaded at run time;
//! - `wgpu::WgpuBackend` (cargo feature `wgpu`, on by default): zkinfer's own WGSL
//!   kernels on any Vulkan, Metal or DX12 device;
//! - the registry in [`registry`] reports every absent backend with the reason.
//!
//! # Conventions
//! - Multilinear vectors hold the evaluations of an n-variate MLE on {0,1}^n; entry
//!   `i` is the evaluation at the point whose variable `j` is bit `j` of `i` (least
//!   significant bit = variable 0). This is the order `dory_pcs` uses for its
//!   evaluation point, so a claim `f(r)` on a vector is exactly a Dory claim at `r`.
//! - "Low" binding fixes variable 0 (pairs `v[2i]`, `v[2i+1]`); "high" binding fixes
//!   the last variable (pairs `v[i]`, `v[i + n/2]`).
//! - Empty inputs are valid wherever the mathematics allows it (an empty MSM is the
//!   identity, an empty inner product is zero).

pub mod conformance;
pub mod cpu;
#[cfg(feature = "icicle")]
pub mod icicle;
pub mod reference;
pub mod registry;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use ark_bn254::{g1::Config as G1Config, g2::Config as G2Config};
use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::PairingOutput;

pub use cpu::fixed_base::FixedBases;
pub use cpu::pairing::{G2Lines, G2Side, PairingProduct};
pub use cpu::CpuBackend;
pub use reference::ReferenceBackend;

/// Errors a backend returns. Lengths and sizes are reported with the names the
/// caller used, never silently truncated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Two inputs that must have related lengths do not.
    #[error(
        "length mismatch in {op}: {left_name} has {left} entries but {right_name} has {right}"
    )]
    LengthMismatch {
        op: &'static str,
        left_name: &'static str,
        left: usize,
        right_name: &'static str,
        right: usize,
    },
    /// An input whose length must be a power of two (or a multiple of one) is not.
    #[error("{op}: {what} has length {len}, which is not {requirement}")]
    BadLength {
        op: &'static str,
        what: &'static str,
        len: usize,
        requirement: &'static str,
    },
    /// A small-scalar value does not fit in the bit width the caller declared.
    #[error("{op}: value {value} at index {index} does not fit in {bits} signed bits")]
    ValueOutOfRange {
        op: &'static str,
        index: usize,
        value: i64,
        bits: u32,
    },
    /// An argument is outside what the operation supports (e.g. an NTT larger than
    /// the field's two-adicity, a degree above the supported maximum).
    #[error("{op}: {reason}")]
    Unsupported { op: &'static str, reason: String },
    /// The backend cannot run here (feature off, library or device absent).
    #[error("backend `{backend}` is unavailable: {reason}")]
    Unavailable { backend: String, reason: String },
    /// The device reported a failure while running an operation.
    #[error("backend `{backend}` failed in {op}: {message}")]
    Device {
        backend: String,
        op: &'static str,
        message: String,
    },
}

/// Result alias for backend operations.
pub type BackendResult<T> = Result<T, BackendError>;

/// Signed small integers used as MSM scalars (witness values, quantized weights).
///
/// A value `v` stands for the field element `v mod p`; the MSM negates the base
/// where `v < 0` and runs over `|v|`, so no 254-bit decomposition is ever made.
#[derive(Debug, Clone, Copy)]
pub enum SmallScalars<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl SmallScalars<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            SmallScalars::I32(v) => v.len(),
            SmallScalars::I64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` widened to i64.
    pub fn get(&self, i: usize) -> i64 {
        match self {
            SmallScalars::I32(v) => v[i] as i64,
            SmallScalars::I64(v) => v[i],
        }
    }

    /// The sub-range `start..end` of the values.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        match self {
            SmallScalars::I32(v) => SmallScalars::I32(&v[start..end]),
            SmallScalars::I64(v) => SmallScalars::I64(&v[start..end]),
        }
    }

    /// Number of bits needed for the largest magnitude (0 when all values are 0).
    /// `i64::MIN` has magnitude 2^63 and needs 64 bits.
    pub fn magnitude_bits(&self) -> u32 {
        let max = match self {
            SmallScalars::I32(v) => v.iter().map(|x| x.unsigned_abs() as u64).max(),
            SmallScalars::I64(v) => v.iter().map(|x| x.unsigned_abs()).max(),
        }
        .unwrap_or(0);
        64 - max.leading_zeros()
    }
}

impl<'a> From<&'a [i64]> for SmallScalars<'a> {
    fn from(v: &'a [i64]) -> Self {
        SmallScalars::I64(v)
    }
}

impl<'a> From<&'a [i32]> for SmallScalars<'a> {
    fn from(v: &'a [i32]) -> Self {
        SmallScalars::I32(v)
    }
}

impl<'a> From<&'a Vec<i64>> for SmallScalars<'a> {
    fn from(v: &'a Vec<i64>) -> Self {
        SmallScalars::I64(v)
    }
}

impl<'a> From<&'a Vec<i32>> for SmallScalars<'a> {
    fn from(v: &'a Vec<i32>) -> Self {
        SmallScalars::I32(v)
    }
}

/// Which end of a multilinear vector's variables a bind fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindSide {
    /// Variable 0: `out[i] = v[2i] + r·(v[2i+1] − v[2i])`.
    Low,
    /// The last variable: `out[i] = v[i] + r·(v[i+n/2] − v[i])`.
    High,
}

/// One product term `coeff · Π f_{factors[j]}` of a sumcheck polynomial
/// `g(f_0, …, f_{k−1}) = Σ_terms coeff · Π factors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTerm {
    pub coeff: Fr,
    /// Indices into the MLE list; repeats allowed (a square is `[i, i]`).
    pub factors: Vec<usize>,
}

impl ProductTerm {
    /// A term with coefficient one.
    pub fn product(factors: Vec<usize>) -> Self {
        ProductTerm {
            coeff: Fr::from(1u64),
            factors,
        }
    }
}

/// Largest total degree of a sumcheck expression the round kernels accept.
pub const MAX_SUMCHECK_DEGREE: usize = 8;

/// Kind of device a backend runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Gpu,
    /// A software implementation of a GPU API (e.g. Mesa lavapipe); correct but slow.
    SoftwareGpu,
}

/// What a backend reports about the device it drives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// Human-readable device name (CPU model, GPU name).
    pub name: String,
    /// Worker threads (CPU) or compute units (GPU), when known.
    pub parallelism: Option<usize>,
    /// Device memory in bytes, when known.
    pub memory_bytes: Option<u64>,
    /// Graphics API the device is driven through (`vulkan`, `metal`, `dx12`), for
    /// GPU backends that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Adapter type as the API reports it (`discrete`, `integrated`, `software`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter_type: Option<String>,
    /// Driver name and version, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Key device limits by name (e.g. `max_storage_buffer_binding_size`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub limits: std::collections::BTreeMap<String, u64>,
}

impl DeviceInfo {
    /// A device with only a kind and a name known.
    pub fn new(kind: DeviceKind, name: impl Into<String>) -> Self {
        DeviceInfo {
            kind,
            name: name.into(),
            parallelism: None,
            memory_bytes: None,
            api: None,
            adapter_type: None,
            driver: None,
            limits: Default::default(),
        }
    }
}

/// What a backend accelerates, and below which size it hands work back to the CPU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    pub msm_g1: bool,
    pub msm_g2: bool,
    pub ntt: bool,
    pub multilinear: bool,
    /// Inputs shorter than this run on the CPU backend (0 for the CPU itself).
    pub min_offload_len: usize,
}

/// The device-independent primitives the prover needs.
///
/// Every method checks its arguments and returns a typed error for bad lengths; none
/// panics on caller input. Results must be bit-identical across backends (they are
/// exact group and field computations), which the [`conformance`] suite checks.
pub trait Backend: Send + Sync {
    /// Short stable name (`cpu`, `icicle-cuda`, `wgpu`).
    fn name(&self) -> &str;

    /// The device this backend drives.
    fn device(&self) -> DeviceInfo;

    /// What this backend accelerates.
    fn capabilities(&self) -> Capabilities;

    /// Blocks until all submitted work has finished (a no-op on the CPU).
    fn synchronize(&self) -> BackendResult<()>;

    /// Σ scalars[i]·bases[i] over G1 with full 254-bit scalars.
    /// Invariant: `bases.len() == scalars.len()`.
    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<G1Projective>;

    /// Σ values[i]·bases[i] over G1 for signed small integers (`v` means `v mod p`).
    /// Invariant: `bases.len() == values.len()`. Runs over the actual bit width of
    /// the values, negating the base where a value is negative.
    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective>;

    /// Σ scalars[i]·bases[i] over G2.
    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective>;

    /// Many G1 MSMs over the same bases: `scalars` is a row-major matrix whose rows
    /// have `bases.len()` entries; returns one result per row. This is Dory's
    /// tier-1 commitment (one MSM per matrix row over the column generators).
    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>>;

    /// [`Backend::msm_g1_batch`] for small signed integers.
    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>>;

    /// Forward NTT, in place, of `values.len() / size` polynomials of `size`
    /// coefficients stored one after another. Output `j` of a polynomial is its
    /// evaluation at `coset · ω^j` (`coset = 1` when `None`), ω the principal
    /// `size`-th root of unity of Fr's two-adic subgroup. `size` is a power of two.
    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()>;

    /// Inverse of [`Backend::ntt`] with the same `size` and `coset`.
    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()>;

    /// eq(point, x) for every x in {0,1}^n, n = point.len(): a vector of 2^n
    /// entries (one entry, 1, for the empty point). Variable order as in the
    /// module docs: `point[0]` is bit 0 of the index.
    fn eq_table(&self, point: &[Fr]) -> BackendResult<Vec<Fr>>;

    /// Fixes one variable of the MLE in `values` to `r`, halving it in place.
    /// Invariant: the length is a power of two and at least 2.
    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()>;

    /// Σ a[i]·b[i]. Invariant: equal lengths.
    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr>;

    /// One sumcheck round for `Σ_x g(f_0(x), …, f_{k−1}(x))` with
    /// `g = Σ_terms coeff · Π f_factor`, binding the **low** variable next:
    /// returns `[s(0), s(1), …, s(degree)]` where
    /// `s(t) = Σ_{x'} g(f_0(t, x'), …)` and `f(t, x')` interpolates `v[2i]`, `v[2i+1]`
    /// linearly in t. `degree` must be at least the largest term degree and at most
    /// [`MAX_SUMCHECK_DEGREE`]. Invariant: `s(0) + s(1)` equals the running claim.
    /// All MLEs have the same power-of-two length ≥ 2.
    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>>;

    /// One round of a batched fraction-tree (LogUp-GKR) layer sumcheck, the eq
    /// factor split off: returns `[S(0), S(2)]` with
    /// `S(t) = Σ_m e[m] · Σ_j weights[j] · (p0·q1 + q0·(p1 + γ·q1))(t, m)`,
    /// where tree j's MLEs `trees[j] = [p0, p1, q0, q1]` are extended linearly
    /// in their low variable t (entries `2m`, `2m + 1`) and `e` has half their
    /// length. The caller gets `S(1)` from the running claim (see `lookup`).
    fn fraction_layer_round(
        &self,
        e: &[Fr],
        trees: &[[&[Fr]; 4]],
        weights: &[Fr],
        gamma: Fr,
    ) -> BackendResult<[Fr; 2]> {
        cpu::multilinear::fraction_layer_round(e, trees, weights, gamma, 1 << 10)
    }

    /// Products of pairings `Π_i e(g1[i], g2[i])`, one result per product, each
    /// with its own final exponentiation (Dory's per-round messages D₁, D₂, C±).
    /// Invariant: in each product both sides have the same length; identities
    /// contribute 1. Results equal arkworks' `multi_pairing` of each product.
    fn multi_pairings(
        &self,
        products: &[PairingProduct<'_>],
    ) -> BackendResult<Vec<PairingOutput<Bn254>>> {
        for (i, p) in products.iter().enumerate() {
            let g2 = match p.g2 {
                G2Side::Lines(l) => l.len(),
                G2Side::Points(q) => q.len(),
            };
            if p.g1.len() != g2 {
                return Err(BackendError::LengthMismatch {
                    op: "multi_pairings",
                    left_name: "g1",
                    left: p.g1.len(),
                    right_name: if i == 0 { "g2" } else { "g2 (a later product)" },
                    right: g2,
                });
            }
        }
        Ok(cpu::pairing::multi_pairings(products))
    }

    /// `vs[i] += scalar·bases[i]` for `i < vs.len()` over fixed G1 bases with
    /// precomputed tables (Dory's `v₁ += β·Γ₁`). Invariant: `vs.len() <= bases.len()`.
    /// A backend without its own version runs the CPU one.
    fn g1_scale_fixed_add(
        &self,
        bases: &FixedBases<G1Config>,
        vs: &mut [G1Projective],
        scalar: &Fr,
    ) {
        add_into(vs, bases.mul_same_scalar(vs.len(), scalar));
    }

    /// [`Backend::g1_scale_fixed_add`] over G2 (Dory's `v₂ += β⁻¹·Γ₂`).
    fn g2_scale_fixed_add(
        &self,
        bases: &FixedBases<G2Config>,
        vs: &mut [G2Projective],
        scalar: &Fr,
    ) {
        add_into(vs, bases.mul_same_scalar(vs.len(), scalar));
    }

    /// `Σ_{i < scalars.len()} scalars[i]·bases[i]` over fixed G1 bases with
    /// precomputed tables. Invariant: `scalars.len() <= bases.len()`.
    fn msm_g1_fixed(
        &self,
        bases: &FixedBases<G1Config>,
        scalars: &[Fr],
    ) -> BackendResult<G1Projective> {
        check_at_most("msm_g1_fixed", scalars.len(), bases.len())?;
        Ok(bases.msm(scalars))
    }

    /// [`Backend::msm_g1_fixed`] over G2.
    fn msm_g2_fixed(
        &self,
        bases: &FixedBases<G2Config>,
        scalars: &[Fr],
    ) -> BackendResult<G2Projective> {
        check_at_most("msm_g2_fixed", scalars.len(), bases.len())?;
        Ok(bases.msm(scalars))
    }

    /// G2 vector: `[base·s for s in scalars]` (Dory's `v₂ = v·Γ₂,fin`).
    fn g2_fixed_base_mul(&self, base: &G2Projective, scalars: &[Fr]) -> Vec<G2Projective> {
        cpu::group_ops::fixed_base_mul(base, scalars)
    }

    /// G1 vector: `[base·s for s in scalars]`.
    fn g1_fixed_base_mul(&self, base: &G1Projective, scalars: &[Fr]) -> Vec<G1Projective> {
        cpu::group_ops::fixed_base_mul(base, scalars)
    }

    /// `vs[i] += scalar·bases[i]` over G1. Invariant: equal lengths.
    fn g1_scale_bases_add(&self, bases: &[G1Projective], vs: &mut [G1Projective], scalar: &Fr) {
        cpu::group_ops::scale_bases_add(bases, vs, scalar)
    }

    /// `vs[i] += scalar·bases[i]` over G2. Invariant: equal lengths.
    fn g2_scale_bases_add(&self, bases: &[G2Projective], vs: &mut [G2Projective], scalar: &Fr) {
        cpu::group_ops::scale_bases_add(bases, vs, scalar)
    }

    /// `vs[i] = scalar·vs[i] + addends[i]` over G1. Invariant: equal lengths.
    fn g1_scale_vs_add(&self, vs: &mut [G1Projective], addends: &[G1Projective], scalar: &Fr) {
        cpu::group_ops::scale_vs_add(vs, addends, scalar)
    }

    /// `vs[i] = scalar·vs[i] + addends[i]` over G2. Invariant: equal lengths.
    fn g2_scale_vs_add(&self, vs: &mut [G2Projective], addends: &[G2Projective], scalar: &Fr) {
        cpu::group_ops::scale_vs_add(vs, addends, scalar)
    }

    /// `left[i] = left[i]·scalar + right[i]` over Fr. Invariant: equal lengths.
    fn fr_scale_add(&self, left: &mut [Fr], right: &[Fr], scalar: &Fr) {
        cpu::group_ops::fr_scale_add(left, right, scalar)
    }
}

fn add_into<P: ark_ec::short_weierstrass::SWCurveConfig>(
    vs: &mut [ark_ec::short_weierstrass::Projective<P>],
    addends: Vec<ark_ec::short_weierstrass::Projective<P>>,
) {
    use rayon::prelude::*;
    vs.par_iter_mut()
        .zip(addends.par_iter())
        .for_each(|(v, a)| *v += a);
}

fn check_at_most(op: &'static str, scalars: usize, bases: usize) -> BackendResult<()> {
    if scalars <= bases {
        Ok(())
    } else {
        Err(BackendError::LengthMismatch {
            op,
            left_name: "scalars",
            left: scalars,
            right_name: "bases (at least as many needed)",
            right: bases,
        })
    }
}

/// Shorthand for a [`BackendError::LengthMismatch`] check.
pub(crate) fn check_equal_len(
    op: &'static str,
    left_name: &'static str,
    left: usize,
    right_name: &'static str,
    right: usize,
) -> BackendResult<()> {
    if left == right {
        Ok(())
    } else {
        Err(BackendError::LengthMismatch {
            op,
            left_name,
            left,
            right_name,
            right,
        })
    }
}
