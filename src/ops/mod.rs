//! The op framework: every op zkinfer proves implements [`OpProtocol`] in its
//! own file here, and [`protocol`] is the one registry from [`Op`] to that
//! implementation. The model (integer execution, validation) and the model
//! prover ([`crate::proof`]: layout, range checks, lookups, encoding) ask the
//! trait; they never match on `Op`. See `docs/adding-an-op.md`.
//!
//! Each op proves its local relation between committed tensors at a fresh
//! random point, sends an [`OpMessage`] (field elements and sumchecks) and
//! leaves evaluation claims ([`SlotClaim`]) that the model prover discharges
//! with one opening. Ops today:
//! - [`matmul`]: `MatMul` (Gemm): sumcheck over the inner dimension;
//! - [`add_sub`]: `Add`, `Sub`: a random-point identity;
//! - [`mul`]: `Mul`: a zero-check sumcheck;
//! - [`relu`]: `Relu`: `Y = b·X` by a zero-check, `b` the sign bit of X's range check;
//! - [`activation`]: `Tanh`, `Sigmoid`, `Erf`, `Exp`, `Gelu`, `GeluTanh`, `Sqrt`, `Rsqrt`, `Reciprocal`: (input, output) pairs looked up in a table;
//! - [`conv`]: `Conv` (1-D, 2-D, strides, dilations, pads, groups): two
//!   sumchecks, no im2col;
//! - [`index_map`]: ops whose outputs are sums of chosen inputs, one file each:
//!   [`transpose`], [`reshape`], [`slice`], [`concat`], [`pad`],
//!   [`reduce_sum`], [`sum_pool`], and [`select`] (`Where` with a constant
//!   condition: a masked copy plus constant fills);
//! - [`max_pool`]: `MaxPool`: committed differences to the max, range-checked,
//!   with a product zero-check; [`reduce_max`]: the max over the last axis
//!   (Softmax's), the same idea with one sumcheck; [`max_shift`]: Softmax's
//!   `x − max` with no max committed, the output range-checked ≤ 0 and the
//!   selector sumcheck showing each row's 0 is at its max;
//! - [`div`]: `Div` of two activations: quotient, range-checked remainder;
//! - [`sum_squares`]: a norm's mean square over the last axis, rescaled once;
//! - [`batched_matmul`]: products of two activations batched over heads;
//! - [`gather`]: rows of a constant table by token ids.
//!
//! Rescaling ops relate the accumulator to the committed output Y and remainder
//! R through `Acc + 2^(s−1)·valid = 2^s·Y + R` on the whole padded hypercube
//! (`valid` is 1 on real entries), so every committed tensor is zero-padded.

pub mod activation;
pub mod add_sub;
pub mod batched_matmul;
pub mod concat;
pub mod conv;
pub mod div;
pub mod gather;
pub mod index_map;
pub mod input_range;
pub mod matmul;
pub mod max_pool;
pub mod max_shift;
pub mod mul;
pub mod pad;
pub mod range;
pub mod reduce_max;
pub mod reduce_sum;
pub mod relu;
pub mod reshape;
pub mod select;
pub mod slice;
pub mod sum_pool;
pub mod sum_squares;
pub mod transpose;

use ark_bn254::Fr;

use crate::backend::{Backend, ProductTerm};
use crate::layout::{self, Slot, SlotClaim, TableKind};
use crate::model::{Model, Node, Op, TensorId, Witness};
use crate::pcs::poly::small_to_field;
use crate::sumcheck::{self, eq_eval, Expression, SumcheckError, SumcheckProof};
use crate::transcript::ProofTranscript;
use range::Bound;

/// The one registry: the protocol of each op.
pub fn protocol(op: &Op) -> &dyn OpProtocol {
    match op {
        Op::MatMul => &matmul::MatMul,
        Op::Add => &add_sub::Add,
        Op::Sub => &add_sub::Sub,
        Op::Mul => &mul::Mul,
        Op::Relu => &relu::Relu,
        Op::Tanh => &activation::Tanh,
        Op::Sigmoid => &activation::Sigmoid,
        Op::Erf => &activation::Erf,
        Op::Exp => &activation::Exp,
        Op::Gelu => &activation::Gelu,
        Op::GeluTanh => &activation::GeluTanh,
        Op::Conv(conv) => conv,
        Op::Transpose(op) => op,
        Op::Reshape(op) => op,
        Op::Slice(op) => op,
        Op::Concat(op) => op,
        Op::Pad(op) => op,
        Op::ReduceSum(op) => op,
        Op::SumPool(op) => op,
        Op::MaxPool(op) => op,
        Op::Gather => &gather::Gather,
        Op::BatchedMatMul => &batched_matmul::BatchedMatMul,
        Op::Div => &div::Div,
        Op::ReduceMax => &reduce_max::ReduceMax,
        Op::MaxShift => &max_shift::MaxShift,
        Op::Sqrt => &activation::Sqrt,
        Op::Rsqrt => &activation::Rsqrt,
        Op::Reciprocal => &activation::Reciprocal,
        Op::SumSquares(op) => op,
        Op::Select(op) => op,
        Op::InputRange(op) => op,
    }
}

/// What an op's integer execution produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The output, row-major, unpadded.
    pub output: Vec<i64>,
    /// The rescale remainder (same shape as the output) when the op rescales.
    pub remainder: Option<Vec<i64>>,
    /// Auxiliary columns, padded to `2^aux_vars[k]` entries.
    pub aux: Vec<Vec<i64>>,
}

/// Why integer execution of a node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("arithmetic overflow in the accumulator")]
    Overflow,
    #[error("{0}")]
    Bad(String),
}

/// Why an op's proof could not be made or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The node's shapes or operands do not fit the op (a key that validation
    /// should have refused).
    #[error("{0}")]
    Shape(String),
    /// The message has the wrong number of values or sumchecks.
    #[error("the proof's message does not fit this node: {0}")]
    Message(String),
    /// A verifier check failed.
    #[error("check failed: {0}")]
    Check(&'static str),
    #[error("{0}")]
    Sumcheck(#[from] SumcheckError),
    /// The prover's witness does not satisfy what the op needs.
    #[error("{0}")]
    Witness(String),
    #[error("backend: {0}")]
    Backend(String),
    /// A zero-knowledge check failed (a Σ-proof, a committed final check).
    #[error("zero-knowledge check failed: {0}")]
    Zk(String),
}

impl From<crate::backend::BackendError> for OpError {
    fn from(e: crate::backend::BackendError) -> Self {
        OpError::Backend(e.to_string())
    }
}

/// An op's message: the field elements and sumchecks it sends, in an order
/// the op defines (its file says which). The encoding is the same for every op.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpMessage {
    pub values: Vec<Fr>,
    pub sumchecks: Vec<SumcheckProof>,
}

impl OpMessage {
    /// Checks the message's shape before the verifier indexes it.
    pub fn expect(&self, values: usize, sumchecks: usize) -> Result<(), OpError> {
        if self.values.len() != values || self.sumchecks.len() != sumchecks {
            return Err(OpError::Message(format!(
                "{} values and {} sumchecks, {values} and {sumchecks} expected",
                self.values.len(),
                self.sumchecks.len()
            )));
        }
        Ok(())
    }
}

/// One op's protocol: its shapes, integer semantics, what it commits and
/// range-checks, and its prover and verifier. The prover and verifier must
/// draw the same challenges and absorb the same values in the same order; an
/// op absorbs every value it sends before drawing a challenge that depends on it.
pub trait OpProtocol: Send + Sync {
    /// The op's name in errors (the ONNX name where there is one).
    fn name(&self) -> &'static str;

    /// Allowed number of inputs.
    fn arity(&self) -> std::ops::RangeInclusive<usize>;

    /// Checks the node's shapes (and attributes) against the op: run on every
    /// model, including ones read from untrusted key files, before any other
    /// method. The reason is written for the user.
    fn check(&self, model: &Model, node: &Node) -> Result<(), String>;

    /// Integer semantics on the node's input values (row-major, unpadded).
    fn execute(&self, model: &Model, node: &Node, inputs: &[&[i64]])
        -> Result<Executed, ExecError>;

    /// Whether the op commits a rescale remainder ([`Slot::Remainder`]).
    fn rescales(&self) -> bool {
        false
    }

    /// Variables of each auxiliary column the op commits ([`Slot::Aux`]),
    /// whose values its [`OpProtocol::execute`] returns.
    fn aux_vars(&self, _model: &Model, _n: usize) -> Vec<usize> {
        Vec::new()
    }

    /// The bounds the op's proof needs range-checked ([`range`]).
    fn bounds(&self, _model: &Model, _n: usize) -> Vec<Bound> {
        Vec::new()
    }

    /// The function table its (input, output) pairs are looked up in, if any.
    fn table(&self) -> Option<TableKind> {
        None
    }

    /// Proves node `n`, appending the claims it leaves.
    fn prove(
        &self,
        ctx: &ProverContext<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<OpMessage, OpError>;

    /// The op's zero-knowledge proof, if it has one ([`crate::zk::ops`]).
    fn zk(&self) -> Option<&dyn crate::zk::ops::ZkOpProtocol> {
        None
    }

    /// Verifies node `n`'s message, appending the claims it leaves. `public`
    /// is the statement's input, for ops whose structure depends on it.
    fn verify(
        &self,
        model: &Model,
        public: PublicInput<'_>,
        n: usize,
        message: &OpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<(), OpError>;
}

/// The model's public input as the verifier holds it (every input tensor's
/// values, concatenated in [`Model::inputs`] order, as the proof states them):
/// what an op whose structure depends on the input reads (a Gather by token
/// ids). Part of the statement, so nothing read here needs a proof.
#[derive(Debug, Clone, Copy)]
pub struct PublicInput<'a> {
    pub values: &'a [i64],
}

impl<'a> PublicInput<'a> {
    /// The values of input tensor `t`, if it is one of the model's inputs.
    pub fn tensor(&self, model: &Model, t: TensorId) -> Option<&'a [i64]> {
        let mut start = 0usize;
        for &input in &model.inputs {
            let len = model.tensors[input].len();
            if input == t {
                return self.values.get(start..start.checked_add(len)?);
            }
            start = start.checked_add(len)?;
        }
        None
    }
}

/// What the prover needs to prove an op.
pub struct ProverContext<'a> {
    pub backend: &'a dyn Backend,
    pub model: &'a Model,
    pub witness: &'a Witness,
    /// Committed range-check limbs (padded), by slot.
    pub limbs: &'a std::collections::BTreeMap<Slot, Vec<i64>>,
}

impl ProverContext<'_> {
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
    pub fn evaluate(&self, slot: Slot, point: &[Fr]) -> Result<Fr, OpError> {
        let values = self.padded_field(slot);
        let eq = self.backend.eq_table(point)?;
        Ok(self.backend.inner_product(&eq, &values)?)
    }
}

/// Appends `slot(point) = value` to the claims.
pub fn claim<V>(claims: &mut Vec<SlotClaim<V>>, slot: Slot, point: &[Fr], value: V) {
    claims.push(SlotClaim {
        slot,
        point: point.to_vec(),
        value,
    });
}

/// The product zero-check shared by element-wise ops: proves
/// `Σ_x eq(point, x)·Π_j f_j(x) = claim` and returns the sumcheck, its final
/// point ρ and each `f_j(ρ)` (not absorbed: the op absorbs what it sends).
pub fn prove_eq_product(
    ctx: &ProverContext<'_>,
    t: &mut ProofTranscript,
    claim: Fr,
    point: &[Fr],
    factors: Vec<Vec<Fr>>,
) -> Result<(SumcheckProof, Vec<Fr>, Vec<Fr>), OpError> {
    let count = factors.len() + 1;
    let mut mles = Vec::with_capacity(count);
    mles.push(ctx.backend.eq_table(point)?);
    mles.extend(factors);
    let expr = Expression::new(count, vec![ProductTerm::product((0..count).collect())])?;
    let out = sumcheck::prove(ctx.backend, t, claim, mles, &expr)?;
    let finals = out.final_evals[1..].to_vec();
    Ok((out.proof, out.point, finals))
}

/// The verifier's side of [`prove_eq_product`] with `degree − 1` factors:
/// checks the sumcheck and that `eq(point, ρ)·Π factors(ρ)` is its reduced
/// value, where `factors_at(ρ)` derives the factors' values at ρ from the
/// message; returns ρ.
pub fn verify_eq_product(
    t: &mut ProofTranscript,
    claim: Fr,
    point: &[Fr],
    degree: usize,
    proof: &SumcheckProof,
    factors_at: impl FnOnce(&[Fr]) -> Vec<Fr>,
    failed: &'static str,
) -> Result<Vec<Fr>, OpError> {
    let (rho, reduced) = sumcheck::verify(t, claim, point.len(), degree, proof)?;
    let factors = factors_at(&rho);
    if eq_eval(point, &rho) * factors.iter().product::<Fr>() != reduced {
        return Err(OpError::Check(failed));
    }
    Ok(rho)
}

/// The inner-product sumcheck: proves `Σ_x a(x)·b(x) = claim`, returns the
/// sumcheck, ρ and `(a(ρ), b(ρ))` (not absorbed).
pub fn prove_inner_product(
    ctx: &ProverContext<'_>,
    t: &mut ProofTranscript,
    claim: Fr,
    a: Vec<Fr>,
    b: Vec<Fr>,
) -> Result<(SumcheckProof, Vec<Fr>, [Fr; 2]), OpError> {
    let expr = Expression::product(2)?;
    let out = sumcheck::prove(ctx.backend, t, claim, vec![a, b], &expr)?;
    let finals = [out.final_evals[0], out.final_evals[1]];
    Ok((out.proof, out.point, finals))
}

/// The verifier's side of [`prove_inner_product`] over `vars` variables; returns ρ.
pub fn verify_inner_product(
    t: &mut ProofTranscript,
    claim: Fr,
    vars: usize,
    proof: &SumcheckProof,
    finals: [Fr; 2],
    failed: &'static str,
) -> Result<Vec<Fr>, OpError> {
    let (rho, reduced) = sumcheck::verify(t, claim, vars, 2, proof)?;
    if finals[0] * finals[1] != reduced {
        return Err(OpError::Check(failed));
    }
    Ok(rho)
}

/// `E_r(x) = eq(r, row(x))` over the padded hypercube of `x_shape` (rows are
/// every axis but the last; `r` a point of the rows), times `[n(x) < N]` when
/// `real_only`: the weights of a per-row reduction over the last axis
/// ([`reduce_max`], [`sum_squares`]).
pub(crate) fn row_weights(
    ctx: &ProverContext<'_>,
    r: &[Fr],
    x_shape: &[usize],
    real_only: bool,
) -> Result<Vec<Fr>, OpError> {
    let len = *x_shape.last().expect("a reduction's input has an axis");
    let padded_len = *layout::padded_dims(x_shape).last().expect("as above");
    let eq_rows = ctx.backend.eq_table(r)?;
    let mut e = Vec::with_capacity(eq_rows.len() * padded_len);
    for &w in &eq_rows {
        e.extend((0..padded_len).map(|k| {
            if real_only && k >= len {
                Fr::from(0u64)
            } else {
                w
            }
        }));
    }
    Ok(e)
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

/// Rescales integer accumulators (see [`crate::model::rescale`]) into an
/// output and its remainder.
pub(crate) fn rescale_all(
    accumulators: impl IntoIterator<Item = i128>,
    scale_bits: u32,
) -> Result<Executed, ExecError> {
    let mut output = Vec::new();
    let mut remainder = Vec::new();
    for acc in accumulators {
        let (q, r) = crate::model::rescale(acc, scale_bits);
        output.push(i64::try_from(q).map_err(|_| ExecError::Overflow)?);
        remainder.push(r as i64);
    }
    Ok(Executed {
        output,
        remainder: Some(remainder),
        aux: Vec::new(),
    })
}

/// Checks that the node's input `i` and output share a shape (unary ops).
pub(crate) fn same_shape(model: &Model, node: &Node, i: usize) -> Result<(), String> {
    let (a, y) = (
        &model.tensors[node.inputs[i]].shape,
        &model.tensors[node.output].shape,
    );
    if a != y {
        return Err(format!("input shape {a:?} and output shape {y:?} differ"));
    }
    Ok(())
}
