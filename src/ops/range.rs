//! Range checks by byte decomposition: every bound the model proof needs is
//! proved with lookups into one 256-row table.
//!
//! A value `v` (a committed tensor or remainder, plus a public offset) must lie
//! in `[0, 2^bits)`. It is split into limbs of at most 8 bits, low first:
//! `v = Σ_i 2^(o_i)·l_i` with `l_i ∈ [0, 2^(w_i))`. All limbs but one are
//! committed in the witness; the remaining *virtual* limb is
//! `(v − Σ_{i≠v} 2^(o_i)·l_i) / 2^(o_v)`, an affine function of committed
//! polynomials, so it costs no commitment. Each limb is looked up in the byte
//! table `[0, 256)`; a limb narrower than 8 bits is looked up a second time
//! shifted by `256 − 2^w`, which together bound it by `2^w` (for w = 1 that makes
//! it a bit). Because every limb is a small integer and `2^bits ≪ p`, the limbs
//! recombine to `v` over the integers, so `v ∈ [0, 2^bits)`.
//!
//! Which values are checked is each op's [`crate::ops::OpProtocol::bounds`]
//! (for prover and verifier alike); today:
//! - a rescaling node (MatMul, Mul): its remainder `R ∈ [0, 2^s)` and its output
//!   `Y + 2^(a−1) ∈ [0, 2^a)` (`a` = activation bits);
//! - ReLU: its input `X + 2^(a−1) ∈ [0, 2^a)` split as `8, 8, …, 1` bits so that
//!   the top limb is the sign bit `b` (1 for X ≥ 0), committed; the op proof
//!   then shows `Y = b·X` ([`super::relu`]).
//! - Add, Sub: the output `Z + 2^(a−1) ∈ [0, 2^a)`; the sum or difference of two
//!   bounded values may leave the range, and integer execution refuses it.
//! - MaxShift: its output `Y + 2^(a−1) − 1 ∈ [0, 2^(a−1))` (Y ≤ 0) and its
//!   selector in `[0, 2)` ([`super::max_shift`]).
//!
//! # Which check bounds each tensor
//! The proved relation is integer execution ([`crate::model::Model::execute`]),
//! which keeps every input and every activation in `[−2^(a−1), 2^(a−1))`:
//!
//! | tensor | bounded by |
//! |---|---|
//! | the inputs, the outputs | the verifier, on the public values |
//! | MatMul, Mul output | its range check (above) |
//! | Add, Sub output | its range check (above) |
//! | MaxShift output | its range check (above): `Y ∈ [−2^(a−1) + 1, 0]` |
//! | ReLU output | `Y = b·X` with `b ∈ {0, 1}` and X range-checked: `Y ∈ [0, 2^(a−1))` |
//! | Tanh, Sigmoid output | the function table: every output column entry is `f(x)` of a row `x` in range |
//! | ReLU input | its own range check, whoever produced it |
//! | Tanh, Sigmoid input | the function table's input column spans exactly the range |
//!
//! Weights are not activations: with public weights the verifier holds them;
//! with committed weights they are whatever the key's owner committed (see the
//! README's trust model).
//!
//! # One query set per node
//! All blocks of a node (each limb, and each shifted limb) are stacked into one
//! query column, block j occupying the high variables: at the lookup's final
//! point `(r ‖ s)` the column's MLE is `Σ_j eq(s, j)·block_j(r)`. The prover sends
//! the node's committed inputs at `r` ([`RangeCheck::inputs`]); the verifier
//! recomputes each block from them ([`RangeCheck::blocks_at`]), checks the sum
//! against the lookup's claim, and keeps the inputs as claims on the witness.
//! Offsets apply on the whole padded hypercube (where tensors are zero), so
//! every block's MLE is affine in the inputs' MLEs with constant terms.

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};

use crate::layout::{num_vars, Slot};
use crate::model::{Model, Witness};
use crate::pcs::poly::small_to_field;
use crate::poly::pow2;

/// Bits of the byte table every limb is looked up in.
pub const LIMB_BITS: u32 = 8;

/// One value split into limbs: `slot + offset` (offset over the whole padded
/// hypercube) in `[0, 2^(Σ widths))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decomposition {
    /// The committed polynomial decomposed.
    pub slot: Slot,
    /// Added to every entry (padding included) before decomposing.
    pub offset: i64,
    /// Limb widths, low limb first, each in `1..=8`.
    pub widths: Vec<u32>,
    /// The limb that is not committed.
    pub virtual_limb: usize,
    /// The node whose bound this is.
    pub node: usize,
    /// `Slot::Limb(node, first_limb + k)` holds the k-th committed limb.
    pub first_limb: usize,
}

impl Decomposition {
    fn offsets(&self) -> Vec<u32> {
        let mut acc = 0;
        self.widths
            .iter()
            .map(|w| {
                let o = acc;
                acc += w;
                o
            })
            .collect()
    }

    /// The committed limbs: (limb index, slot).
    pub fn committed(&self) -> Vec<(usize, Slot)> {
        (0..self.widths.len())
            .filter(|&i| i != self.virtual_limb)
            .enumerate()
            .map(|(k, i)| (i, Slot::Limb(self.node, self.first_limb + k)))
            .collect()
    }

    /// Query blocks per limb: the limb, and the shifted limb when narrower than 8 bits.
    fn blocks_per_limb(&self) -> impl Iterator<Item = (usize, Option<u32>)> + '_ {
        self.widths.iter().enumerate().flat_map(|(i, &w)| {
            let shift = (w < LIMB_BITS).then_some(w);
            std::iter::once((i, None)).chain(shift.map(|w| (i, Some(w))))
        })
    }

    /// Integer limbs of every entry of `values` (already padded).
    fn limbs(&self, values: &[i64]) -> Result<Vec<Vec<i64>>, String> {
        let total: u32 = self.widths.iter().sum();
        let offsets = self.offsets();
        let mut limbs = vec![Vec::with_capacity(values.len()); self.widths.len()];
        for &v in values {
            let shifted = v
                .checked_add(self.offset)
                .filter(|s| (0..1i64 << total).contains(s))
                .ok_or_else(|| {
                    format!(
                        "{:?} holds {v}, outside [{}, {})",
                        self.slot,
                        -self.offset,
                        (1i64 << total) - self.offset
                    )
                })?;
            for (i, (&w, &o)) in self.widths.iter().zip(&offsets).enumerate() {
                limbs[i].push((shifted >> o) & ((1i64 << w) - 1));
            }
        }
        Ok(limbs)
    }
}

/// Splits `bits` into limb widths of 8, low first; with `sign_bit` the top bit
/// is a limb of its own.
fn widths(bits: u32, sign_bit: bool) -> Vec<u32> {
    let body = if sign_bit { bits - 1 } else { bits };
    let mut out = Vec::new();
    let mut left = body;
    while left > 0 {
        let w = left.min(LIMB_BITS);
        out.push(w);
        left -= w;
    }
    if sign_bit {
        out.push(1);
    }
    out
}

/// Range checks of the same size, proved by one lookup query set: one
/// node's bounds ([`range_check`]), or several nodes' together
/// ([`range_checks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCheck {
    /// The (first) node checked, for messages.
    pub node: usize,
    /// log2 of the padded size of the node's tensors.
    pub vars: usize,
    pub decompositions: Vec<Decomposition>,
}

impl RangeCheck {
    /// The polynomials whose values at `r` the prover sends: each decomposed
    /// slot, then every committed limb.
    pub fn inputs(&self) -> Vec<Slot> {
        let mut out: Vec<Slot> = self.decompositions.iter().map(|d| d.slot).collect();
        for d in &self.decompositions {
            out.extend(d.committed().into_iter().map(|(_, s)| s));
        }
        out
    }

    /// Number of real blocks in the stacked query column.
    pub fn num_blocks(&self) -> usize {
        self.decompositions
            .iter()
            .map(|d| d.blocks_per_limb().count())
            .sum()
    }

    /// log2 of the padded number of blocks (the high variables of the column).
    pub fn block_vars(&self) -> usize {
        self.num_blocks().next_power_of_two().trailing_zeros() as usize
    }

    /// Variables of the stacked query column.
    pub fn query_vars(&self) -> usize {
        self.vars + self.block_vars()
    }

    /// The committed limbs' values (padded), by slot.
    pub fn limb_values(
        &self,
        model: &Model,
        witness: &Witness,
    ) -> Result<Vec<(Slot, Vec<i64>)>, String> {
        let mut out = Vec::new();
        for d in &self.decompositions {
            let limbs = d.limbs(&slot_values(model, witness, d.slot))?;
            for (i, slot) in d.committed() {
                out.push((slot, limbs[i].clone()));
            }
        }
        Ok(out)
    }

    /// The stacked query column (blocks padded with zero blocks).
    pub fn query_column(&self, model: &Model, witness: &Witness) -> Result<Vec<i64>, String> {
        let size = 1usize << self.vars;
        let mut out = Vec::with_capacity(size << self.block_vars());
        for d in &self.decompositions {
            let limbs = d.limbs(&slot_values(model, witness, d.slot))?;
            for (i, shift) in d.blocks_per_limb() {
                let add = shift.map_or(0, |w| (1i64 << LIMB_BITS) - (1i64 << w));
                out.extend(limbs[i].iter().map(|&l| l + add));
            }
        }
        out.resize(size << self.block_vars(), 0);
        Ok(out)
    }

    /// Every block's MLE at `r`, given the MLEs of [`RangeCheck::inputs`] at `r`.
    pub fn blocks_at(&self, inputs: &[Fr]) -> Vec<Fr> {
        let mut blocks = Vec::with_capacity(self.num_blocks());
        let mut committed_at = self.decompositions.len();
        for (k, d) in self.decompositions.iter().enumerate() {
            let offsets = d.offsets();
            // Limb values: committed ones from the inputs, the virtual one solved for.
            let mut limbs = vec![Fr::zero(); d.widths.len()];
            let mut rest = inputs[k] + small_to_field(d.offset);
            for (i, _) in d.committed() {
                limbs[i] = inputs[committed_at];
                committed_at += 1;
                rest -= pow2(offsets[i] as usize) * limbs[i];
            }
            let inverse = pow2(offsets[d.virtual_limb] as usize)
                .inverse()
                .expect("powers of two are invertible");
            limbs[d.virtual_limb] = rest * inverse;
            for (i, shift) in d.blocks_per_limb() {
                let add = shift.map_or(Fr::zero(), |w| pow2(LIMB_BITS as usize) - pow2(w as usize));
                blocks.push(limbs[i] + add);
            }
        }
        blocks
    }

    /// `Σ_j eq(s, j)·block_j`: the stacked column's MLE at `(r ‖ s)` from the blocks at r.
    pub fn combine(&self, blocks: &[Fr], s: &[Fr]) -> Fr {
        blocks
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let eq: Fr = s
                    .iter()
                    .enumerate()
                    .map(
                        |(bit, x)| {
                            if j >> bit & 1 == 1 {
                                *x
                            } else {
                                Fr::one() - x
                            }
                        },
                    )
                    .product();
                eq * b
            })
            .sum()
    }
}

fn slot_values(model: &Model, witness: &Witness, slot: Slot) -> Vec<i64> {
    crate::layout::padded_slot(model, witness, slot).expect("a tensor or a rescale remainder")
}

/// A bound an op's proof needs: `slot + offset ∈ [0, 2^bits)`. With
/// `sign_bit` the top bit is a committed limb of its own that the op's proof
/// may use (ReLU's `b`, 1 exactly when `slot ≥ 0` for `offset = 2^(bits−1)`).
/// All bounds of one node must cover slots of the same padded size (the
/// check's `vars` are the first bound's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub slot: Slot,
    pub offset: i64,
    pub bits: u32,
    pub sign_bit: bool,
}

impl Bound {
    /// `slot ∈ [−2^(a−1), 2^(a−1))`: the model's activation range. When a
    /// ReLU reads the tensor, its sign is committed as a bit of its own, so that
    /// the ReLU proves `Y = b·X` with it instead of range-checking X again
    /// ([`producer_sign_bit`]); otherwise the top limb is an ordinary limb and
    /// stays virtual (one committed column fewer per bounded tensor: most of
    /// a transformer's tensors).
    pub fn activation(model: &Model, slot: Slot) -> Self {
        let a = model.activation_bits;
        let read_by_relu = match slot {
            Slot::Tensor(t) => model
                .nodes
                .iter()
                .any(|n| n.op == crate::model::Op::Relu && n.inputs.first() == Some(&t)),
            _ => false,
        };
        Bound {
            slot,
            offset: 1i64 << (a - 1),
            bits: a,
            sign_bit: read_by_relu,
        }
    }

    /// A rescale remainder of node `n` in `[0, 2^s)`.
    pub fn remainder(model: &Model, n: usize) -> Self {
        Bound {
            slot: Slot::Remainder(n),
            offset: 0,
            bits: model.scale_bits,
            sign_bit: false,
        }
    }

    /// The bounds every rescaling op needs: its remainder in `[0, 2^s)` and its
    /// output in the activation range.
    pub fn rescale(model: &Model, n: usize) -> Vec<Self> {
        vec![
            Self::remainder(model, n),
            Self::activation(model, Slot::Tensor(model.nodes[n].output)),
        ]
    }
}

/// Variables of a tensor, remainder or auxiliary column.
pub fn slot_vars(model: &Model, slot: Slot) -> usize {
    match slot {
        Slot::Tensor(t) => num_vars(&model.tensors[t].shape),
        Slot::Remainder(n) => num_vars(&model.tensors[model.nodes[n].output].shape),
        Slot::Aux(n, k) => crate::ops::protocol(&model.nodes[n].op).aux_vars(model, n)[k],
        Slot::Limb(..) | Slot::Multiplicity(_) => {
            unreachable!("bounds are on tensors, remainders and auxiliary columns")
        }
    }
}

/// The range check of node `n`, if its op needs one: its op's
/// [`crate::ops::OpProtocol::bounds`], each split into limbs. The virtual limb
/// is the top one, or the one below the sign bit (so the sign bit is committed).
pub fn range_check(model: &Model, n: usize) -> Option<RangeCheck> {
    let node = &model.nodes[n];
    let bounds = crate::ops::protocol(&node.op).bounds(model, n);
    if bounds.is_empty() {
        return None;
    }
    let mut first_limb = 0;
    let decompositions = bounds
        .iter()
        .map(|b| {
            let w = widths(b.bits, b.sign_bit);
            let virtual_limb = if b.sign_bit { w.len() - 2 } else { w.len() - 1 };
            let d = Decomposition {
                slot: b.slot,
                offset: b.offset,
                virtual_limb,
                widths: w,
                node: n,
                first_limb,
            };
            first_limb += d.widths.len() - 1;
            d
        })
        .collect();
    Some(RangeCheck {
        node: n,
        vars: slot_vars(model, bounds[0].slot),
        decompositions,
    })
}

/// Most values one check opens (its inputs): what a proof may carry per check.
pub const MAX_CHECK_INPUTS: usize = 64;

/// The query sets of a proof: every node's range check, those of one size
/// merged (in node order, up to [`MAX_CHECK_INPUTS`] opened values each), so
/// that a model with many layers of one size pays for one lookup tree, not
/// one per layer.
pub fn range_checks(model: &Model) -> Vec<RangeCheck> {
    let mut checks: Vec<RangeCheck> = Vec::new();
    for check in (0..model.nodes.len()).filter_map(|n| range_check(model, n)) {
        let fits = |c: &RangeCheck| {
            c.vars == check.vars && c.inputs().len() + check.inputs().len() <= MAX_CHECK_INPUTS
        };
        match checks.iter_mut().find(|c| fits(c)) {
            Some(group) => group.decompositions.extend(check.decompositions),
            None => checks.push(check),
        }
    }
    checks
}

/// The committed sign bit of tensor `t` from the range check of the node that
/// produces it, when that node bounds it in the activation range with a sign
/// bit (rescaling ops, Add, Sub, sums): 1 where the value is ≥ 0.
pub fn producer_sign_bit(model: &Model, t: crate::model::TensorId) -> Option<Slot> {
    let m = model.nodes.iter().position(|node| node.output == t)?;
    // A ReLU bounds its input, never its output (and asking it would recurse
    // down a chain of ReLUs).
    if model.nodes[m].op == crate::model::Op::Relu {
        return None;
    }
    let check = range_check(model, m)?;
    let k = check
        .decompositions
        .iter()
        .position(|d| d.slot == Slot::Tensor(t))?;
    sign_bit(model, m, k)
}

/// The committed sign-bit limb of bound `k` of node `n` (declared with
/// `sign_bit`): 1 where the bounded value is ≥ 0.
pub fn sign_bit(model: &Model, n: usize, k: usize) -> Option<Slot> {
    let check = range_check(model, n)?;
    let d = check.decompositions.get(k)?;
    let bits: u32 = d.widths.iter().sum();
    if d.virtual_limb + 2 != d.widths.len()
        || d.widths.last() != Some(&1)
        || d.offset != 1i64 << (bits - 1)
    {
        return None;
    }
    d.committed()
        .into_iter()
        .find(|&(i, _)| i == d.widths.len() - 1)
        .map(|(_, slot)| slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, CpuBackend};
    use crate::model::{Node, Op, Tensor, TensorKind};
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;

    fn mle(values: &[i64], point: &[Fr]) -> Fr {
        let eq = CpuBackend::global().eq_table(point).unwrap();
        eq.iter()
            .zip(values)
            .map(|(e, &v)| *e * small_to_field(v))
            .sum()
    }

    fn model() -> Model {
        let t = |name: &str, shape: &[usize], kind| Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            kind,
        };
        Model {
            name: "range".into(),
            tensors: vec![
                t("x", &[1, 3], TensorKind::Input),
                t("w", &[3, 3], TensorKind::Weight { values: vec![0; 9] }),
                t("h", &[1, 3], TensorKind::Activation),
                t("y", &[1, 3], TensorKind::Activation),
            ],
            nodes: vec![
                Node {
                    name: "mm".into(),
                    op: Op::MatMul,
                    inputs: vec![0, 1],
                    output: 2,
                },
                Node {
                    name: "relu".into(),
                    op: Op::Relu,
                    inputs: vec![2],
                    output: 3,
                },
            ],
            inputs: vec![0],
            outputs: vec![3],
            scale_bits: 7,
            activation_bits: 16,
        }
    }

    fn witness() -> Witness {
        Witness {
            aux: vec![Vec::new(); 2],
            values: vec![
                vec![1, 2, 3],
                vec![0; 9],
                vec![-32768, 5, 32767],
                vec![0, 5, 32767],
            ],
            remainders: vec![Some(vec![0, 127, 64]), None],
        }
    }

    #[test]
    fn widths_split_into_bytes_with_a_sign_bit() {
        assert_eq!(widths(16, false), [8, 8]);
        assert_eq!(widths(7, false), [7]);
        assert_eq!(widths(16, true), [8, 7, 1]);
        assert_eq!(widths(20, true), [8, 8, 3, 1]);
    }

    #[test]
    fn field_blocks_match_the_prover_column() {
        let model = model();
        let witness = witness();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for check in range_checks(&model) {
            let column = check.query_column(&model, &witness).unwrap();
            assert!(column.iter().all(|v| (0..256).contains(v)));
            let limbs = check.limb_values(&model, &witness).unwrap();
            let r: Vec<Fr> = (0..check.vars).map(|_| Fr::rand(&mut rng)).collect();
            let s: Vec<Fr> = (0..check.block_vars())
                .map(|_| Fr::rand(&mut rng))
                .collect();
            let inputs: Vec<Fr> = check
                .inputs()
                .iter()
                .map(|&slot| match slot {
                    Slot::Limb(..) => mle(&limbs.iter().find(|(l, _)| *l == slot).unwrap().1, &r),
                    _ => mle(&slot_values(&model, &witness, slot), &r),
                })
                .collect();
            let point: Vec<Fr> = r.iter().chain(&s).copied().collect();
            assert_eq!(
                check.combine(&check.blocks_at(&inputs), &s),
                mle(&column, &point)
            );
        }
    }

    /// The value of a field element if it is a byte.
    fn byte(v: &Fr) -> Option<i64> {
        use ark_ff::PrimeField;
        let limbs = v.into_bigint().0;
        (limbs[1..].iter().all(|&l| l == 0) && limbs[0] < 256).then_some(limbs[0] as i64)
    }

    #[test]
    fn only_honest_limbs_fit_the_byte_table() {
        let model = model();
        // The MatMul's check: inputs (R, Y, lo, sign) — Y + 2^15 split as
        // 8 + 7 + 1 bits with the sign committed (the ReLU after it uses it).
        // Every (lo, sign) is tried, including non-bits, and only the true
        // decomposition puts every block in [0, 256).
        let check = range_check(&model, 0).unwrap();
        let fitting = |r: i64, y: i64| {
            let mut fits = Vec::new();
            for lo in 0..256 {
                for sign in [0i64, 1, 2, -1] {
                    let inputs = [r, y, lo, sign].map(small_to_field);
                    if check.blocks_at(&inputs).iter().all(|b| byte(b).is_some()) {
                        fits.push((lo, sign));
                    }
                }
            }
            fits
        };
        for y in [-32768i64, -300, -5, -1, 0, 1, 255, 300, 32767] {
            let t = y + 32768;
            assert_eq!(fitting(0, y), [(t & 255, t >> 15)], "y = {y}");
        }
        // Out of range: no limbs fit at all.
        for y in [-32769i64, 32768, 1 << 40] {
            assert!(fitting(0, y).is_empty(), "y = {y}");
        }
        // The remainder in [0, 2^7).
        for (r, ok) in [(0, true), (127, true), (128, false), (-1, false)] {
            assert_eq!(fitting(r, 5).len(), ok as usize, "R = {r}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused_by_the_prover() {
        let model = model();
        let mut witness = witness();
        witness.remainders[0] = Some(vec![0, 128, 0]);
        let check = range_check(&model, 0).unwrap();
        let err = check.query_column(&model, &witness).unwrap_err();
        assert!(err.contains("128"), "{err}");
        // The output's sign bit is the MatMul's; the ReLU has no check of its own.
        assert_eq!(sign_bit(&model, 0, 1), Some(Slot::Limb(0, 1)));
        assert_eq!(sign_bit(&model, 0, 0), None);
        assert!(range_check(&model, 1).is_none());
        assert_eq!(producer_sign_bit(&model, 2), Some(Slot::Limb(0, 1)));
        assert_eq!(producer_sign_bit(&model, 0), None);
    }
}
