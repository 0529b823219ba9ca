//! Per-operator proofs: each op proves its local relation between committed
//! tensors at a fresh random point and leaves evaluation claims. One file per
//! op family holds its prover and verifier side:
//! - [`matmul`]: `MatMul` (Gemm) — sumcheck over the inner dimension;
//! - [`elementwise`]: `Add`, `Sub` (a random-point identity) and `Mul` (a
//!   zero-check sumcheck);
//! - [`relu`]: `Relu` — `Y = b·X` by a zero-check, with the sign bit `b` from
//!   the input's range check ([`crate::proof::range`]);
//! - Tanh and Sigmoid have no per-op message: their (input, output) pairs are
//!   looked up in tables by the model prover ([`crate::proof`]).
//!
//! Rescaling ops (MatMul, Mul) relate the accumulator to the committed output Y
//! and remainder R through `Acc + 2^(s−1)·valid = 2^s·Y + R` on the whole padded
//! hypercube (`valid` is 1 on real entries), so every committed tensor is
//! zero-padded.

pub mod elementwise;
pub mod matmul;
pub mod relu;

use ark_bn254::Fr;

use crate::backend::Backend;
use crate::model::{Model, Op, Witness};
use crate::pcs::poly::small_to_field;
use crate::proof::layout::{self, Slot};
use crate::proof::SlotClaim;
use crate::sumcheck::SumcheckProof;
use crate::transcript::ProofTranscript;

/// What the prover needs to prove an op.
pub struct ProverContext<'a, B: ?Sized> {
    pub backend: &'a B,
    pub model: &'a Model,
    pub witness: &'a Witness,
    /// Committed range-check limbs (padded), by slot.
    pub limbs: &'a std::collections::BTreeMap<Slot, Vec<i64>>,
}

impl<B: Backend + ?Sized> ProverContext<'_, B> {
    /// Padded values of a committed tensor, remainder or limb.
    pub fn padded_values(&self, slot: Slot) -> Vec<i64> {
        match slot {
            Slot::Limb(..) => self
                .limbs
                .get(&slot)
                .cloned()
                .expect("every committed limb is in the context"),
            _ => layout::padded_slot(self.model, self.witness, slot)
                .expect("tensor or remainder slot"),
        }
    }

    /// Padded field values of a committed tensor, remainder or limb.
    pub fn padded_field(&self, slot: Slot) -> Vec<Fr> {
        self.padded_values(slot)
            .into_iter()
            .map(small_to_field)
            .collect()
    }

    /// MLE of a slot's padded values at `point`.
    pub fn evaluate(&self, slot: Slot, point: &[Fr]) -> Result<Fr, String> {
        let values = self.padded_field(slot);
        let eq = self.backend.eq_table(point).map_err(|e| e.to_string())?;
        self.backend
            .inner_product(&eq, &values)
            .map_err(|e| e.to_string())
    }
}

/// The message an op sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpProof {
    /// `MatMul`: output and remainder at the random point, the bias at its
    /// column coordinates, the inner-dimension sumcheck and its two final values.
    MatMul {
        output: Fr,
        remainder: Fr,
        bias: Option<Fr>,
        sumcheck: SumcheckProof,
        left: Fr,
        right: Fr,
    },
    /// `Add`/`Sub`: both operands at the random point.
    AddSub { left: Fr, right: Fr },
    /// `Mul`: output and remainder at the random point, the zero-check sumcheck
    /// and the operands at its final point.
    Mul {
        output: Fr,
        remainder: Fr,
        sumcheck: SumcheckProof,
        left: Fr,
        right: Fr,
    },
    /// `Relu`: the output at the random point, the zero-check and the sign bit
    /// and input at its final point.
    Relu {
        output: Fr,
        sumcheck: SumcheckProof,
        sign: Fr,
        input: Fr,
    },
    /// Tanh / Sigmoid: proved by the table lookups alone.
    Lookup,
}

/// Proves node `n`, appending its claims.
pub fn prove<B: Backend + ?Sized>(
    ctx: &ProverContext<'_, B>,
    n: usize,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<OpProof, String> {
    match ctx.model.nodes[n].op {
        Op::MatMul => matmul::prove(ctx, n, t, claims),
        Op::Add | Op::Sub | Op::Mul => elementwise::prove(ctx, n, t, claims),
        Op::Relu => relu::prove(ctx, n, t, claims),
        Op::Tanh | Op::Sigmoid => Ok(OpProof::Lookup),
    }
}

/// Verifies node `n`'s message, appending the claims it leaves.
pub fn verify(
    model: &Model,
    n: usize,
    proof: &OpProof,
    t: &mut ProofTranscript,
    claims: &mut Vec<SlotClaim>,
) -> Result<(), String> {
    match (model.nodes[n].op, proof) {
        (Op::MatMul, OpProof::MatMul { .. }) => matmul::verify(model, n, proof, t, claims),
        (Op::Add | Op::Sub, OpProof::AddSub { .. }) | (Op::Mul, OpProof::Mul { .. }) => {
            elementwise::verify(model, n, proof, t, claims)
        }
        (Op::Relu, OpProof::Relu { .. }) => relu::verify(model, n, proof, t, claims),
        (Op::Tanh | Op::Sigmoid, OpProof::Lookup) => Ok(()),
        (op, _) => Err(format!("the proof's message does not fit a {op:?} node")),
    }
}

/// `2^bits` as a field element.
pub(crate) fn pow2(bits: u32) -> Fr {
    crate::poly::pow2(bits as usize)
}

/// The rescale identity's accumulator value at a point of the output:
/// `Acc(r) = 2^s·Y(r) + R(r) − 2^(s−1)·valid(r)`.
pub(crate) fn accumulator(model: &Model, output_shape: &[usize], point: &[Fr], y: Fr, r: Fr) -> Fr {
    let s = model.scale_bits;
    pow2(s) * y + r - pow2(s - 1) * layout::valid_mle(output_shape, point)
}
