//! How tensors become multilinear polynomials, what a committed polynomial
//! block holds ([`Slot`]), and the claims ops and lookups leave on them
//! ([`SlotClaim`]). Below both [`crate::ops`] and [`crate::proof`]: ops read
//! and claim slots, the model prover places them ([`crate::proof::layout`]).
//!
//! A tensor of shape `[d_0, …, d_{k−1}]` is padded per dimension to powers of two
//! with zeros, row-major: the last dimension takes the lowest variables. A
//! tensor's padded values occupy one aligned block of the witness (or model)
//! polynomial; a claim `T(r)` is the claim `P(r ‖ bits(block))` on the polynomial.

use ark_bn254::Fr;
use ark_ff::{One, Zero};

use crate::model::{Model, TensorId, Witness};

/// Padded size of each dimension.
pub fn padded_dims(shape: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .map(|&d| d.max(1).next_power_of_two())
        .collect()
}

/// log2 of the padded element count.
pub fn num_vars(shape: &[usize]) -> usize {
    padded_dims(shape)
        .iter()
        .map(|d| d.trailing_zeros() as usize)
        .sum()
}

/// Row-major values of `shape`, zero-padded per dimension.
pub fn pad(values: &[i64], shape: &[usize]) -> Vec<i64> {
    let padded = padded_dims(shape);
    let total: usize = padded.iter().product();
    let mut out = vec![0i64; total];
    for (i, &v) in values.iter().enumerate() {
        out[padded_index(i, shape, &padded)] = v;
    }
    out
}

/// Index in the padded layout (padded dims `padded`) of row-major index `i` of `shape`.
pub fn padded_index(i: usize, shape: &[usize], padded: &[usize]) -> usize {
    let mut rest = i;
    let mut index = 0;
    let mut stride = 1;
    for d in (0..shape.len()).rev() {
        index += (rest % shape[d]) * stride;
        rest /= shape[d];
        stride *= padded[d];
    }
    index
}

/// The variables of each dimension inside a point of `shape`: `ranges[d]` is the
/// coordinate range of dimension d (last dimension first in the point).
pub fn dim_ranges(shape: &[usize]) -> Vec<std::ops::Range<usize>> {
    let logs: Vec<usize> = padded_dims(shape)
        .iter()
        .map(|d| d.trailing_zeros() as usize)
        .collect();
    let mut ranges = vec![0..0; shape.len()];
    let mut start = 0;
    for d in (0..shape.len()).rev() {
        ranges[d] = start..start + logs[d];
        start += logs[d];
    }
    ranges
}

/// MLE of `[i < m]` over `r.len()` variables (i's bit j is variable j), m ≤ 2^len.
pub fn less_than_mle(m: usize, r: &[Fr]) -> Fr {
    let n = r.len();
    if m >= 1usize << n {
        return Fr::one();
    }
    // i < m iff at the highest bit where they differ, i has 0 and m has 1.
    let mut total = Fr::zero();
    let mut prefix = Fr::one(); // Π_{j > b} eq(r_j, m_j)
    for b in (0..n).rev() {
        let bit = m >> b & 1 == 1;
        if bit {
            total += prefix * (Fr::one() - r[b]);
            prefix *= r[b];
        } else {
            prefix *= Fr::one() - r[b];
        }
    }
    total
}

/// `eq(point, i)` for `i < len` (i's bit j is variable j), `len ≤ 2^point.len()`:
/// the weights of one dimension's real coordinates, in `O(len·vars)`.
pub fn eq_prefix(point: &[Fr], len: usize) -> Vec<Fr> {
    (0..len)
        .map(|i| {
            point
                .iter()
                .enumerate()
                .map(|(bit, &x)| if i >> bit & 1 == 1 { x } else { Fr::one() - x })
                .product()
        })
        .collect()
}

/// `eq(point, pad(i))` for the real entries `i` of a shape, factored over its
/// dimensions: memory `O(Σ shape[d])`, `O(rank)` per entry, whatever the
/// padding (what keeps a verifier's work proportional to real entries).
pub struct EqWeights {
    shape: Vec<usize>,
    tables: Vec<Vec<Fr>>,
}

impl EqWeights {
    /// The weights of `shape`'s entries at `point` (`num_vars(shape)` coordinates).
    pub fn new(shape: &[usize], point: &[Fr]) -> Self {
        let tables = dim_ranges(shape)
            .into_iter()
            .zip(shape)
            .map(|(range, &len)| eq_prefix(&point[range], len))
            .collect();
        EqWeights {
            shape: shape.to_vec(),
            tables,
        }
    }

    /// `eq(point, pad(i))` for row-major index `i`.
    pub fn at(&self, mut i: usize) -> Fr {
        let mut w = Fr::one();
        for d in (0..self.shape.len()).rev() {
            w *= self.tables[d][i % self.shape[d]];
            i /= self.shape[d];
        }
        w
    }
}

/// `Σ_i eq(point, i)·values[i]`: the MLE at `point` of one dimension's
/// values over its real coordinates (zero beyond them).
pub fn prefix_mle(values: &[Fr], point: &[Fr]) -> Fr {
    eq_prefix(point, values.len())
        .iter()
        .zip(values)
        .map(|(e, v)| *e * v)
        .sum()
}

/// The part of `point` that belongs to each dimension of `shape`.
pub fn dim_points<'a>(shape: &[usize], point: &'a [Fr]) -> Vec<&'a [Fr]> {
    dim_ranges(shape).into_iter().map(|r| &point[r]).collect()
}

/// MLE of the valid-region indicator of `shape` (1 on real entries, 0 on padding).
pub fn valid_mle(shape: &[usize], point: &[Fr]) -> Fr {
    dim_ranges(shape)
        .into_iter()
        .zip(shape)
        .map(|(range, &d)| less_than_mle(d, &point[range]))
        .product()
}

/// The point of a broadcast operand `b` (shape right-aligned to `a`) given a
/// point of `a`, and the product of valid-masks over `a`'s broadcast dimensions.
pub fn broadcast_point(a_shape: &[usize], b_shape: &[usize], a_point: &[Fr]) -> (Vec<Fr>, Fr) {
    let a_ranges = dim_ranges(a_shape);
    let offset = a_shape.len() - b_shape.len();
    let mut mask = Fr::one();
    // Collect b's coordinates in variable order (last dimension first).
    let mut b_point = Vec::new();
    for d in (0..a_shape.len()).rev() {
        let range = a_ranges[d].clone();
        let broadcast = d < offset || b_shape[d - offset] == 1;
        if broadcast {
            mask *= less_than_mle(a_shape[d], &a_point[range]);
        } else {
            b_point.extend_from_slice(&a_point[range]);
        }
    }
    (b_point, mask)
}

/// `b`'s padded values laid out over `a`'s padded hypercube by numpy
/// broadcasting (no mask: padded coordinates of a broadcast dimension repeat
/// `b`'s values; multiply by the valid mask where that matters).
pub fn expand_broadcast<T: Copy>(b_padded: &[T], a_shape: &[usize], b_shape: &[usize]) -> Vec<T> {
    let a_pad = padded_dims(a_shape);
    let b_pad = padded_dims(b_shape);
    let offset = a_shape.len() - b_shape.len();
    let total: usize = a_pad.iter().product();
    (0..total)
        .map(|mut i| {
            let mut index = 0;
            let mut stride = 1;
            for d in (0..a_pad.len()).rev() {
                let coord = i % a_pad[d];
                i /= a_pad[d];
                if d >= offset && b_shape[d - offset] != 1 {
                    index += coord * stride;
                }
                if d >= offset {
                    stride *= b_pad[d - offset];
                }
            }
            b_padded[index]
        })
        .collect()
}

/// A claim `slot(point) = value` on a committed tensor, remainder, limb or
/// multiplicity column, before the model prover routes it to a polynomial.
/// The value is a field element in a transparent proof; in a zero-knowledge
/// proof it is a Pedersen commitment (verifier) or its opening (prover).
#[derive(Debug, Clone)]
pub struct SlotClaim<V = Fr> {
    pub slot: Slot,
    pub point: Vec<Fr>,
    pub value: V,
}

/// What a block of the witness polynomial holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Slot {
    /// A tensor (the input or a node output; in the model polynomial, a weight).
    Tensor(TensorId),
    /// The rescale remainder of node n.
    Remainder(usize),
    /// Committed limb k of node n's range check ([`crate::ops::range`]).
    Limb(usize, usize),
    /// The multiplicities of a lookup table.
    Multiplicity(TableKind),
    /// Auxiliary column k that node n's op commits
    /// ([`crate::ops::OpProtocol::aux_vars`]).
    Aux(usize, usize),
}

/// The lookup tables a model uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TableKind {
    /// `[0, 256)`: every limb of every range check ([`crate::ops::range`]).
    Byte,
    /// `(x, tanh(x))` pairs over the activation range.
    Tanh,
    /// `(x, sigmoid(x))` pairs over the activation range.
    Sigmoid,
    /// `(x, erf(x))` pairs over the activation range (GELU's exact form).
    Erf,
    /// `(x, exp(x))` pairs over the activation range, saturating at the
    /// largest activation.
    Exp,
    /// `(x, x·(1 + erf(x/√2))/2)` pairs: GELU, exact form.
    Gelu,
    /// `(x, x·(1 + tanh(√(2/π)·(x + 0.044715x³)))/2)` pairs: GELU, tanh form.
    GeluTanh,
    /// `(x, √max(x, 0))` pairs.
    Sqrt,
    /// `(x, 1/√x)` pairs, saturating at the largest activation for x ≤ 0.
    Rsqrt,
    /// `(x, 1/x)` pairs, saturating at the activation bounds near 0.
    Reciprocal,
}

/// Aligned blocks inside one polynomial.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockLayout {
    /// `(slot, offset, log_len)`, offsets aligned to their length.
    pub blocks: Vec<(Slot, usize, usize)>,
    /// log2 of the polynomial's length.
    pub num_vars: usize,
}

impl BlockLayout {
    /// Places blocks of the given sizes, largest first (so every block is aligned).
    pub fn new(mut slots: Vec<(Slot, usize)>) -> Self {
        slots.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut offset = 0usize;
        let mut blocks = Vec::with_capacity(slots.len());
        for (slot, log_len) in slots {
            blocks.push((slot, offset, log_len));
            offset += 1 << log_len;
        }
        let num_vars = offset.max(1).next_power_of_two().trailing_zeros() as usize;
        BlockLayout { blocks, num_vars }
    }

    /// `(offset, log_len)` of a slot.
    pub fn find(&self, slot: Slot) -> Option<(usize, usize)> {
        self.blocks
            .iter()
            .find(|(s, _, _)| *s == slot)
            .map(|&(_, offset, log_len)| (offset, log_len))
    }

    /// The polynomial's point for a claim on `slot` at `point`.
    pub fn point(&self, slot: Slot, point: &[Fr]) -> Option<Vec<Fr>> {
        let (offset, log_len) = self.find(slot)?;
        if point.len() != log_len {
            return None;
        }
        crate::poly::block_point(point, offset >> log_len, self.num_vars).ok()
    }

    /// Assembles the polynomial's values from each slot's padded values.
    pub fn assemble(&self, mut values_of: impl FnMut(Slot) -> Vec<i64>) -> Vec<i64> {
        let mut out = vec![0i64; 1 << self.num_vars];
        for &(slot, offset, log_len) in &self.blocks {
            let v = values_of(slot);
            debug_assert_eq!(v.len(), 1 << log_len);
            out[offset..offset + v.len()].copy_from_slice(&v);
        }
        out
    }
}

/// Padded values of a slot from the witness (tensors and remainders; limbs come
/// from [`crate::ops::range::RangeCheck::limb_values`]).
pub fn padded_slot(model: &Model, witness: &Witness, slot: Slot) -> Option<Vec<i64>> {
    match slot {
        Slot::Tensor(t) => Some(pad(&witness.values[t], &model.tensors[t].shape)),
        Slot::Remainder(n) => witness.remainders[n]
            .as_ref()
            .map(|r| pad(r, &model.tensors[model.nodes[n].output].shape)),
        Slot::Aux(n, k) => witness.aux[n].get(k).cloned(),
        Slot::Limb(..) | Slot::Multiplicity(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, CpuBackend};
    use crate::pcs::poly::small_to_field;
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;

    fn mle(values: &[i64], point: &[Fr]) -> Fr {
        let eq = CpuBackend::global().eq_table(point).unwrap();
        eq.iter()
            .zip(values)
            .map(|(e, &v)| *e * small_to_field(v))
            .sum()
    }

    #[test]
    fn masks_and_padding_agree_with_brute_force() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        for m in 0..=8 {
            let r: Vec<Fr> = (0..3).map(|_| Fr::rand(&mut rng)).collect();
            let ind: Vec<i64> = (0..8).map(|i| (i < m) as i64).collect();
            assert_eq!(less_than_mle(m, &r), mle(&ind, &r), "m = {m}");
        }
        let shape = [3, 5];
        let ones = pad(&[1; 15], &shape);
        let r: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
        assert_eq!(valid_mle(&shape, &r), mle(&ones, &r));
    }

    #[test]
    fn broadcast_operand_point() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let a_shape = [3, 5];
        let b_shape = [5];
        let b: Vec<i64> = (1..=5).collect();
        // Expanded and masked b over a's padded layout.
        let expanded: Vec<i64> = (0..15).map(|i| b[i % 5]).collect();
        let expanded = pad(&expanded, &a_shape);
        let r: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
        let (b_point, mask) = broadcast_point(&a_shape, &b_shape, &r);
        assert_eq!(mask * mle(&pad(&b, &b_shape), &b_point), mle(&expanded, &r));
    }

    #[test]
    fn blocks_are_aligned() {
        let layout = BlockLayout::new(vec![
            (Slot::Tensor(0), 2),
            (Slot::Tensor(1), 5),
            (Slot::Remainder(0), 3),
        ]);
        for &(_, offset, log_len) in &layout.blocks {
            assert_eq!(offset % (1 << log_len), 0);
        }
        assert_eq!(layout.num_vars, 6);
    }
}
