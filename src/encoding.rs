//! Binary encoding of every proof message, safe to decode from untrusted bytes.
//!
//! # Format rules
//! - Integers are little-endian: `u8`, `u32`, `u64` as 1, 4, 8 bytes.
//! - A field element of BN254's scalar field is 32 bytes, the canonical
//!   little-endian integer in `[0, r)`; any value `≥ r` is rejected.
//! - G1 and G2 points are affine and compressed as ark-serialize writes them
//!   (`serialize_compressed`: 32 and 64 bytes, sign and infinity flags in the top
//!   bits). Decoding validates on-curve and subgroup membership and rejects any
//!   encoding that does not re-encode to the same bytes (so the point at infinity
//!   and every other point has exactly one encoding).
//! - A GT element (`PairingOutput<Bn254>`, Dory commitments and messages) is
//!   ark-serialize's compressed form (the 384-byte `Fq12`); decoding checks it is
//!   in the order-r subgroup and canonical, as for points.
//! - A variable-length sequence is a `u32` element count followed by the
//!   elements. Every count has an explicit maximum fixed by the message type
//!   (see the `MAX_*` constants), checked before anything is allocated; the
//!   remaining input must also hold at least `count × minimum element size`
//!   bytes before the vector is allocated.
//! - Optional values are a tag byte, `0` (absent) or `1` (present, followed by
//!   the value); any other tag is rejected.
//! - A message is decoded from the whole input: [`from_bytes`] rejects trailing
//!   bytes. Every valid message therefore has exactly one encoding, and
//!   `to_bytes(&from_bytes(b)?) == b` for every accepted `b`.
//!
//! Decoding never panics on malformed input; every failure is a [`DecodeError`]
//! naming what was being read and at which byte offset.
//!
//! # Messages
//! [`SumcheckProof`] is its round count then each round's coefficient count and
//! coefficients. [`LayerProof`] is its batched sumcheck, a tree count, then
//! four field elements per tree; [`LookupProof`] is the trees' roots (a count,
//! then two field elements each: the table's first), the layers, then the query
//! values of each query set.
//! [`Commitment`] is one GT element. An [`EvaluationProof`] (Dory, transparent
//! mode) is `nu: u8`, `sigma: u8` (`sigma ≤ 40`, `nu ≤ sigma`), the VMV message
//! (`c`, `d2`: GT; `e1`: G1), the first reduce messages (count = `sigma`; each
//! `d1_left`, `d1_right`, `d2_left`, `d2_right`: GT, `e1_beta`: G1, `e2_beta`:
//! G2), the second reduce messages (count = `sigma`; each `c_plus`, `c_minus`:
//! GT, `e1_plus`, `e1_minus`: G1, `e2_plus`, `e2_minus`: G2), then a tag: `1`
//! and the transparent final message (`e1`: G1, `e2`: G2); or `2` and the
//! hiding mode's fields (`e2`: G2, `y_com`: G1; Σ₁ `a1`: G2, `a2`: G1, `z1..z3`;
//! Σ₂ `a`: GT, `z1`, `z2`; the scalar-product proof `p1`, `p2`, `q`, `r`: GT,
//! `e1`: G1, `e2`: G2, `r1..r3`); or `0` and nothing (rejected by verifiers).

use ark_bn254::{Bn254, Fq12, Fr, G1Affine, G2Affine};
use ark_ec::pairing::PairingOutput;
use ark_ec::CurveGroup;
use ark_ff::{BigInt, CyclotomicMultSubgroup, Field, PrimeField, Zero};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use dory_pcs::backends::arkworks::ArkFr;
use dory_pcs::backends::arkworks::{ArkG1, ArkG2, ArkGT};
use dory_pcs::messages::{
    FirstReduceMessage, ScalarProductMessage, ScalarProductProof, SecondReduceMessage, Sigma1Proof,
    Sigma2Proof, VMVMessage,
};
use dory_pcs::ProofMode;

use crate::lookup::{LayerProof, LookupProof};
use crate::pcs::{Commitment, EvaluationProof};
use crate::sumcheck::{CompressedRound, SumcheckProof};

/// Encoded size of a field element.
pub const FR_LEN: usize = 32;
/// Encoded size of a compressed G1 point.
pub const G1_LEN: usize = 32;
/// Encoded size of a compressed G2 point.
pub const G2_LEN: usize = 64;
/// Encoded size of a compressed GT element.
pub const GT_LEN: usize = 384;
/// Encoded size of a length prefix.
pub const LEN_PREFIX: usize = 4;

/// Most sumcheck rounds (variables) a [`SumcheckProof`] may carry.
pub const MAX_SUMCHECK_ROUNDS: usize = 64;
/// Most coefficients in one compressed sumcheck round (degree ≤ 8).
pub const MAX_ROUND_COEFFICIENTS: usize = 8;
/// Most GKR layers in a [`LookupProof`] (the deepest tree's depth).
pub const MAX_TREE_LAYERS: usize = 64;
/// Most query columns (values) in a [`LookupProof`].
pub const MAX_QUERY_VALUES: usize = 16;
/// Largest Dory σ (log2 of the columns) an [`EvaluationProof`] may claim.
pub const MAX_DORY_SIGMA: usize = 40;
/// Most reduce messages of either kind in an [`EvaluationProof`] (they must
/// also equal σ).
pub const MAX_DORY_ROUNDS: usize = 64;

/// Why a byte string is not a valid encoding. `what` names the item being read;
/// `offset` is the byte position in the input where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "truncated input reading {what} at offset {offset}: needs {needed} bytes, {available} left"
    )]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("non-canonical encoding of {what} at offset {offset}")]
    NonCanonical { what: &'static str, offset: usize },
    #[error("invalid group element for {what} at offset {offset} (not on the curve or not in the prime-order subgroup)")]
    InvalidPoint { what: &'static str, offset: usize },
    #[error("{what}: length {len} exceeds the maximum {max}")]
    TooLong {
        what: &'static str,
        len: u64,
        max: usize,
    },
    #[error("{what} at offset {offset} is {value}, above the maximum {max}")]
    OutOfRange {
        what: &'static str,
        offset: usize,
        value: u64,
        max: u64,
    },
    #[error("{what}: expected {expected} entries, found {actual}")]
    CountMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{what}: unknown tag {tag} at offset {offset}")]
    BadTag {
        what: &'static str,
        offset: usize,
        tag: u8,
    },
    /// A file of another format version: says which zkinfer made it.
    #[error("{what} at offset {offset}: {}", version_message(*found, *reads))]
    Version {
        what: &'static str,
        offset: usize,
        found: u32,
        reads: u32,
    },
    #[error("{remaining} trailing bytes after the message at offset {offset}")]
    TrailingBytes { offset: usize, remaining: usize },
}

/// "made by an older zkinfer (format 4); this one reads 5", or newer.
pub fn version_message(found: u32, reads: u32) -> String {
    let age = if found < reads { "an older" } else { "a newer" };
    format!("made by {age} zkinfer (format {found}); this one reads {reads}")
}

/// Appends encoded values to a byte vector.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn write_u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn write_u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn write_u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// A `u32` length prefix.
    ///
    /// # Panics
    /// If `len` does not fit in a `u32` (no proof message comes near that).
    pub fn write_len(&mut self, len: usize) {
        let len = u32::try_from(len).expect("encoded sequences hold fewer than 2^32 elements");
        self.write_u32(len);
    }

    /// 32 bytes, canonical little-endian.
    pub fn write_fr(&mut self, value: &Fr) {
        for limb in value.into_bigint().0 {
            self.bytes.extend_from_slice(&limb.to_le_bytes());
        }
    }

    fn write_canonical<T: CanonicalSerialize>(&mut self, value: &T) {
        value
            .serialize_compressed(&mut self.bytes)
            .expect("serialising into a Vec cannot fail");
    }

    /// A compressed affine G1 point (32 bytes).
    pub fn write_g1(&mut self, point: &G1Affine) {
        self.write_canonical(point);
    }

    /// A compressed affine G2 point (64 bytes).
    pub fn write_g2(&mut self, point: &G2Affine) {
        self.write_canonical(point);
    }

    /// A compressed GT element (384 bytes).
    pub fn write_gt(&mut self, value: &PairingOutput<Bn254>) {
        self.write_canonical(value);
    }
}

/// Reads encoded values from untrusted bytes; every read checks bounds first.
///
/// GT elements are checked for subgroup membership in [`Reader::finish`], all
/// at once and in parallel (they are most of a proof's decoding time): a
/// decode is complete only once `finish` has succeeded (or the
/// [`DeferredChecks`] of [`Reader::finish_deferred`] have passed).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    /// GT elements read but not yet checked: (value, what, offset).
    unchecked_gt: Vec<(Fq12, &'static str, usize)>,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            offset: 0,
            unchecked_gt: Vec::new(),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Fails unless at least `needed` bytes remain (reading `what`).
    pub fn require(&self, what: &'static str, needed: usize) -> Result<(), DecodeError> {
        if self.remaining() < needed {
            return Err(DecodeError::Truncated {
                what,
                offset: self.offset,
                needed,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    /// Consumes `n` bytes.
    pub fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        self.require(what, n)?;
        let bytes = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    pub fn read_u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>(what)?[0])
    }

    pub fn read_u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take_array(what)?))
    }

    pub fn read_u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take_array(what)?))
    }

    /// A `u32` length prefix, rejected above `max`.
    pub fn read_len(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = self.read_u32(what)?;
        match usize::try_from(len) {
            Ok(len) if len <= max => Ok(len),
            _ => Err(DecodeError::TooLong {
                what,
                len: u64::from(len),
                max,
            }),
        }
    }

    /// A length prefix for elements of at least `min_element_len` encoded bytes
    /// each: rejected above `max`, and unless the remaining input can hold that
    /// many elements. Safe to allocate a vector of the returned length.
    pub fn read_count(
        &mut self,
        what: &'static str,
        max: usize,
        min_element_len: usize,
    ) -> Result<usize, DecodeError> {
        let len = self.read_len(what, max)?;
        // len ≤ max, a small constant, so this cannot overflow in practice;
        // saturate anyway so an absurd `max` fails as truncation.
        self.require(what, len.saturating_mul(min_element_len))?;
        Ok(len)
    }

    /// A bounded sequence of `T`s (count prefix, then the elements).
    pub fn read_vec<T: Decode>(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.read_count(what, max, T::MIN_ENCODED_LEN)?;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(T::decode(self)?);
        }
        Ok(out)
    }

    /// A field element: 32 bytes little-endian, which must be `< r`.
    pub fn read_fr(&mut self, what: &'static str) -> Result<Fr, DecodeError> {
        let offset = self.offset;
        let bytes: [u8; FR_LEN] = self.take_array(what)?;
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(word);
        }
        Fr::from_bigint(BigInt::new(limbs)).ok_or(DecodeError::NonCanonical { what, offset })
    }

    /// A validated compressed group element of `len` bytes that must re-encode
    /// to the same bytes.
    fn read_canonical<T: CanonicalSerialize + CanonicalDeserialize>(
        &mut self,
        what: &'static str,
        len: usize,
    ) -> Result<T, DecodeError> {
        let offset = self.offset;
        let bytes = self.take(what, len)?;
        // `deserialize_compressed` validates: on the curve and in the subgroup
        // for points, in the order-r subgroup for GT.
        let value = T::deserialize_compressed(bytes)
            .map_err(|_| DecodeError::InvalidPoint { what, offset })?;
        let mut again = Vec::with_capacity(len);
        value
            .serialize_compressed(&mut again)
            .map_err(|_| DecodeError::InvalidPoint { what, offset })?;
        if again != bytes {
            return Err(DecodeError::NonCanonical { what, offset });
        }
        Ok(value)
    }

    /// A compressed G1 point, validated and canonical.
    pub fn read_g1(&mut self, what: &'static str) -> Result<G1Affine, DecodeError> {
        self.read_canonical(what, G1_LEN)
    }

    /// A compressed G2 point, validated (on curve, in the subgroup) and canonical.
    pub fn read_g2(&mut self, what: &'static str) -> Result<G2Affine, DecodeError> {
        self.read_canonical(what, G2_LEN)
    }

    /// A canonical GT element; its subgroup membership ([`in_gt`]) is checked
    /// by [`Reader::finish`].
    pub fn read_gt(&mut self, what: &'static str) -> Result<PairingOutput<Bn254>, DecodeError> {
        let offset = self.offset;
        let bytes = self.take(what, GT_LEN)?;
        // Coordinates are still checked to be < p; the subgroup check is ours.
        let value = PairingOutput::<Bn254>::deserialize_compressed_unchecked(bytes)
            .map_err(|_| DecodeError::InvalidPoint { what, offset })?;
        // The cheap part now (so later arithmetic only meets group elements of
        // the cyclotomic subgroup), the exponentiation in `finish`.
        if !in_cyclotomic_subgroup(&value.0) {
            return Err(DecodeError::InvalidPoint { what, offset });
        }
        self.unchecked_gt.push((value.0, what, offset));
        let mut again = Vec::with_capacity(GT_LEN);
        value
            .serialize_compressed(&mut again)
            .map_err(|_| DecodeError::InvalidPoint { what, offset })?;
        if again != bytes {
            return Err(DecodeError::NonCanonical { what, offset });
        }
        Ok(value)
    }

    /// Succeeds only if every byte was consumed and every GT element read is in
    /// the order-r subgroup (the first one that is not is named).
    pub fn finish(self) -> Result<(), DecodeError> {
        self.finish_deferred()?.run()
    }

    /// Checks that every byte was consumed and returns the GT subgroup checks
    /// still to run, for a caller that overlaps them with other work. What was
    /// decoded must not be trusted before they pass.
    pub fn finish_deferred(self) -> Result<DeferredChecks, DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                offset: self.offset,
                remaining: self.remaining(),
            });
        }
        Ok(DeferredChecks(self.unchecked_gt))
    }
}

/// Whether `f` lies in the cyclotomic subgroup of Fq12* (order `Φ12(p)`):
/// `f^(p^4)·f == f^(p^2)`, by Frobenius maps (cheap).
pub fn in_cyclotomic_subgroup(f: &Fq12) -> bool {
    if f.is_zero() {
        return false;
    }
    let mut p4 = *f;
    p4.frobenius_map_in_place(4);
    let mut p2 = *f;
    p2.frobenius_map_in_place(2);
    p4 * f == p2
}

/// `6x²` for BN254's curve parameter x: `p ≡ 6x² (mod r)`.
const SIX_X_SQUARED: u128 = {
    let x = <ark_bn254::Config as ark_ec::bn::BnConfig>::X[0] as u128;
    6 * x * x
};

/// Whether `f` lies in GT, the order-r subgroup of Fq12*: the same answer as
/// arkworks' `f^r == 1`, about four times faster.
///
/// GT lies inside the cyclotomic subgroup G_Φ (order `Φ12(p) = p^4 − p^2 + 1`),
/// whose membership is checked with Frobenius maps (`f^(p^4)·f == f^(p^2)`). G_Φ
/// is cyclic, so for f in it `f^k == 1` iff `ord(f)` divides `gcd(k, Φ12(p))`.
/// With `k = p − 6x²` that gcd is exactly r (checked for BN254's p and x), so
/// `f^p == f^(6x²)` — a Frobenius map against a 127-bit cyclotomic
/// exponentiation — holds exactly on GT (Scott, ePrint 2021/1130, §5).
pub fn in_gt(f: &Fq12) -> bool {
    if !in_cyclotomic_subgroup(f) {
        return false;
    }
    let mut frobenius = *f;
    frobenius.frobenius_map_in_place(1);
    let exponent = [SIX_X_SQUARED as u64, (SIX_X_SQUARED >> 64) as u64];
    frobenius == f.cyclotomic_exp(exponent)
}

/// A proof message's encoding.
pub trait Encode {
    /// Appends the encoding of `self`.
    fn encode(&self, writer: &mut Writer);
}

/// Decoding from untrusted bytes.
pub trait Decode: Sized {
    /// The fewest bytes any encoding of `Self` takes (used to bound allocations).
    const MIN_ENCODED_LEN: usize;

    /// Reads one `Self`, leaving the reader after it.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// The encoding of `value`.
pub fn to_bytes<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut writer = Writer::new();
    value.encode(&mut writer);
    writer.into_bytes()
}

/// Decodes a `T` that must span all of `bytes`.
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, checks) = from_bytes_deferred(bytes)?;
    checks.run()?;
    Ok(value)
}

/// Decodes a `T` that must span all of `bytes`, leaving the GT subgroup checks
/// to the caller: the value must not be trusted before they pass.
pub fn from_bytes_deferred<T: Decode>(bytes: &[u8]) -> Result<(T, DeferredChecks), DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    Ok((value, reader.finish_deferred()?))
}

/// GT subgroup checks left by a decode ([`Reader::finish_deferred`]).
#[derive(Debug, Clone, Default)]
#[must_use = "decoded GT elements are untrusted until these checks pass"]
pub struct DeferredChecks(Vec<(Fq12, &'static str, usize)>);

impl DeferredChecks {
    /// Runs the checks in parallel; names the first element (in reading order)
    /// outside GT.
    pub fn run(self) -> Result<(), DecodeError> {
        use rayon::prelude::*;
        match self.0.par_iter().find_first(|(value, _, _)| !in_gt(value)) {
            Some(&(_, what, offset)) => Err(DecodeError::InvalidPoint { what, offset }),
            None => Ok(()),
        }
    }
}

impl Encode for Fr {
    fn encode(&self, writer: &mut Writer) {
        writer.write_fr(self);
    }
}

impl Decode for Fr {
    const MIN_ENCODED_LEN: usize = FR_LEN;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.read_fr("field element")
    }
}

impl Encode for CompressedRound {
    fn encode(&self, writer: &mut Writer) {
        writer.write_len(self.0.len());
        for c in &self.0 {
            writer.write_fr(c);
        }
    }
}

impl Decode for CompressedRound {
    const MIN_ENCODED_LEN: usize = LEN_PREFIX;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let what = "sumcheck round coefficient";
        let len = reader.read_count(
            "sumcheck round coefficient count",
            MAX_ROUND_COEFFICIENTS,
            FR_LEN,
        )?;
        let mut coeffs = Vec::with_capacity(len);
        for _ in 0..len {
            coeffs.push(reader.read_fr(what)?);
        }
        Ok(CompressedRound(coeffs))
    }
}

impl Encode for SumcheckProof {
    fn encode(&self, writer: &mut Writer) {
        writer.write_len(self.rounds.len());
        for round in &self.rounds {
            round.encode(writer);
        }
    }
}

impl Decode for SumcheckProof {
    const MIN_ENCODED_LEN: usize = LEN_PREFIX;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let rounds = reader.read_vec("sumcheck round count", MAX_SUMCHECK_ROUNDS)?;
        Ok(SumcheckProof { rounds })
    }
}

impl Encode for LayerProof {
    fn encode(&self, writer: &mut Writer) {
        self.sumcheck.encode(writer);
        writer.write_len(self.children.len());
        for child in self.children.iter().flatten() {
            writer.write_fr(child);
        }
    }
}

impl Decode for LayerProof {
    const MIN_ENCODED_LEN: usize = SumcheckProof::MIN_ENCODED_LEN + LEN_PREFIX;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sumcheck = SumcheckProof::decode(reader)?;
        let trees = reader.read_count("GKR layer tree count", MAX_LOOKUP_TREES, 4 * FR_LEN)?;
        let mut children = Vec::with_capacity(trees);
        for _ in 0..trees {
            let mut four = [Fr::from(0u64); 4];
            for child in &mut four {
                *child = reader.read_fr("GKR layer child evaluation")?;
            }
            children.push(four);
        }
        Ok(LayerProof { sumcheck, children })
    }
}

/// Most query sets one lookup proof may carry.
pub const MAX_QUERY_SETS: usize = 1024;
/// Most fraction trees in one lookup proof: the table's and one per query set.
pub const MAX_LOOKUP_TREES: usize = MAX_QUERY_SETS + 1;

impl Encode for LookupProof {
    fn encode(&self, writer: &mut Writer) {
        writer.write_len(self.roots.len());
        for root in self.roots.iter().flatten() {
            writer.write_fr(root);
        }
        writer.write_len(self.layers.len());
        for layer in &self.layers {
            layer.encode(writer);
        }
        writer.write_len(self.query_values.len());
        for values in &self.query_values {
            writer.write_len(values.len());
            for v in values {
                writer.write_fr(v);
            }
        }
    }
}

impl Decode for LookupProof {
    const MIN_ENCODED_LEN: usize = 3 * LEN_PREFIX;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let trees = reader.read_count("lookup tree count", MAX_LOOKUP_TREES, 2 * FR_LEN)?;
        let mut roots = Vec::with_capacity(trees);
        for _ in 0..trees {
            roots.push([
                reader.read_fr("fraction tree root numerator")?,
                reader.read_fr("fraction tree root denominator")?,
            ]);
        }
        let layers = reader.read_vec("GKR layer count", MAX_TREE_LAYERS)?;
        let sets = reader.read_count("lookup query set count", MAX_QUERY_SETS, LEN_PREFIX)?;
        let mut query_values = Vec::with_capacity(sets);
        for _ in 0..sets {
            let len = reader.read_count("lookup query value count", MAX_QUERY_VALUES, FR_LEN)?;
            let mut values = Vec::with_capacity(len);
            for _ in 0..len {
                values.push(reader.read_fr("lookup query value")?);
            }
            query_values.push(values);
        }
        Ok(LookupProof {
            roots,
            layers,
            query_values,
        })
    }
}

impl Encode for Commitment {
    fn encode(&self, writer: &mut Writer) {
        writer.write_gt(&self.0 .0);
    }
}

impl Decode for Commitment {
    const MIN_ENCODED_LEN: usize = GT_LEN;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Commitment(ArkGT(reader.read_gt("Dory commitment")?)))
    }
}

fn write_ark_g1(writer: &mut Writer, point: &ArkG1) {
    writer.write_g1(&point.0.into_affine());
}

fn write_ark_g2(writer: &mut Writer, point: &ArkG2) {
    writer.write_g2(&point.0.into_affine());
}

fn read_ark_g1(reader: &mut Reader<'_>, what: &'static str) -> Result<ArkG1, DecodeError> {
    Ok(ArkG1(reader.read_g1(what)?.into()))
}

fn read_ark_g2(reader: &mut Reader<'_>, what: &'static str) -> Result<ArkG2, DecodeError> {
    Ok(ArkG2(reader.read_g2(what)?.into()))
}

fn read_ark_gt(reader: &mut Reader<'_>, what: &'static str) -> Result<ArkGT, DecodeError> {
    Ok(ArkGT(reader.read_gt(what)?))
}

/// Encoded sizes of Dory's messages.
const VMV_LEN: usize = 2 * GT_LEN + G1_LEN;
const FIRST_REDUCE_LEN: usize = 4 * GT_LEN + G1_LEN + G2_LEN;
const SECOND_REDUCE_LEN: usize = 2 * GT_LEN + 2 * G1_LEN + 2 * G2_LEN;
const FINAL_LEN: usize = G1_LEN + G2_LEN;
/// The hiding mode's fields: e2, y_com, Σ₁ (a1, a2, 3 scalars), Σ₂ (a, 2
/// scalars), the scalar-product proof (4 GT, e1, e2, 3 scalars).
const HIDING_LEN: usize = 3 * G2_LEN + 3 * G1_LEN + 5 * GT_LEN + 8 * FR_LEN;

fn encode_vmv(writer: &mut Writer, m: &VMVMessage<ArkG1, ArkGT>) {
    writer.write_gt(&m.c.0);
    writer.write_gt(&m.d2.0);
    write_ark_g1(writer, &m.e1);
}

fn decode_vmv(reader: &mut Reader<'_>) -> Result<VMVMessage<ArkG1, ArkGT>, DecodeError> {
    Ok(VMVMessage {
        c: read_ark_gt(reader, "Dory VMV c")?,
        d2: read_ark_gt(reader, "Dory VMV d2")?,
        e1: read_ark_g1(reader, "Dory VMV e1")?,
    })
}

fn encode_first(writer: &mut Writer, m: &FirstReduceMessage<ArkG1, ArkG2, ArkGT>) {
    writer.write_gt(&m.d1_left.0);
    writer.write_gt(&m.d1_right.0);
    writer.write_gt(&m.d2_left.0);
    writer.write_gt(&m.d2_right.0);
    write_ark_g1(writer, &m.e1_beta);
    write_ark_g2(writer, &m.e2_beta);
}

fn decode_first(
    reader: &mut Reader<'_>,
) -> Result<FirstReduceMessage<ArkG1, ArkG2, ArkGT>, DecodeError> {
    Ok(FirstReduceMessage {
        d1_left: read_ark_gt(reader, "Dory first reduce d1_left")?,
        d1_right: read_ark_gt(reader, "Dory first reduce d1_right")?,
        d2_left: read_ark_gt(reader, "Dory first reduce d2_left")?,
        d2_right: read_ark_gt(reader, "Dory first reduce d2_right")?,
        e1_beta: read_ark_g1(reader, "Dory first reduce e1_beta")?,
        e2_beta: read_ark_g2(reader, "Dory first reduce e2_beta")?,
    })
}

fn encode_second(writer: &mut Writer, m: &SecondReduceMessage<ArkG1, ArkG2, ArkGT>) {
    writer.write_gt(&m.c_plus.0);
    writer.write_gt(&m.c_minus.0);
    write_ark_g1(writer, &m.e1_plus);
    write_ark_g1(writer, &m.e1_minus);
    write_ark_g2(writer, &m.e2_plus);
    write_ark_g2(writer, &m.e2_minus);
}

fn decode_second(
    reader: &mut Reader<'_>,
) -> Result<SecondReduceMessage<ArkG1, ArkG2, ArkGT>, DecodeError> {
    Ok(SecondReduceMessage {
        c_plus: read_ark_gt(reader, "Dory second reduce c_plus")?,
        c_minus: read_ark_gt(reader, "Dory second reduce c_minus")?,
        e1_plus: read_ark_g1(reader, "Dory second reduce e1_plus")?,
        e1_minus: read_ark_g1(reader, "Dory second reduce e1_minus")?,
        e2_plus: read_ark_g2(reader, "Dory second reduce e2_plus")?,
        e2_minus: read_ark_g2(reader, "Dory second reduce e2_minus")?,
    })
}

/// Reads a Dory message count: bounded by [`MAX_DORY_ROUNDS`], equal to σ, and
/// backed by enough input for that many messages.
fn read_dory_count(
    reader: &mut Reader<'_>,
    what: &'static str,
    sigma: usize,
    message_len: usize,
) -> Result<usize, DecodeError> {
    let count = reader.read_len(what, MAX_DORY_ROUNDS)?;
    if count != sigma {
        return Err(DecodeError::CountMismatch {
            what,
            expected: sigma,
            actual: count,
        });
    }
    reader.require(what, count * message_len)?;
    Ok(count)
}

impl Encode for EvaluationProof {
    /// # Panics
    /// If `nu` or `sigma` exceeds 255 (no setup supports that).
    fn encode(&self, writer: &mut Writer) {
        writer.write_u8(u8::try_from(self.nu).expect("Dory nu fits in a byte"));
        writer.write_u8(u8::try_from(self.sigma).expect("Dory sigma fits in a byte"));
        encode_vmv(writer, &self.vmv_message);
        writer.write_len(self.first_messages.len());
        for m in &self.first_messages {
            encode_first(writer, m);
        }
        writer.write_len(self.second_messages.len());
        for m in &self.second_messages {
            encode_second(writer, m);
        }
        match (&self.final_message, self.mode()) {
            (Some(m), _) => {
                writer.write_u8(1);
                write_ark_g1(writer, &m.e1);
                write_ark_g2(writer, &m.e2);
            }
            (
                None,
                Ok(ProofMode::Zk {
                    e2,
                    y_com,
                    sigma1,
                    sigma2,
                    scalar_product: sp,
                }),
            ) => {
                writer.write_u8(2);
                write_ark_g2(writer, e2);
                write_ark_g1(writer, y_com);
                write_ark_g2(writer, &sigma1.a1);
                write_ark_g1(writer, &sigma1.a2);
                for z in [&sigma1.z1, &sigma1.z2, &sigma1.z3] {
                    writer.write_fr(&z.0);
                }
                writer.write_gt(&sigma2.a.0);
                writer.write_fr(&sigma2.z1.0);
                writer.write_fr(&sigma2.z2.0);
                for gt in [&sp.p1, &sp.p2, &sp.q, &sp.r] {
                    writer.write_gt(&gt.0);
                }
                write_ark_g1(writer, &sp.e1);
                write_ark_g2(writer, &sp.e2);
                for z in [&sp.r1, &sp.r2, &sp.r3] {
                    writer.write_fr(&z.0);
                }
            }
            (None, _) => writer.write_u8(0),
        }
    }
}

/// The hiding mode's fields (after tag 2), in encoding order.
struct HidingFields {
    e2: ArkG2,
    y_com: ArkG1,
    sigma1: Sigma1Proof<ArkG1, ArkG2, ArkFr>,
    sigma2: Sigma2Proof<ArkFr, ArkGT>,
    scalar_product: ScalarProductProof<ArkG1, ArkG2, ArkFr, ArkGT>,
}

fn read_ark_fr(reader: &mut Reader<'_>, what: &'static str) -> Result<ArkFr, DecodeError> {
    Ok(ArkFr(reader.read_fr(what)?))
}

fn decode_hiding(reader: &mut Reader<'_>) -> Result<HidingFields, DecodeError> {
    reader.require("Dory hiding-mode fields", HIDING_LEN)?;
    Ok(HidingFields {
        e2: read_ark_g2(reader, "Dory hiding e2")?,
        y_com: read_ark_g1(reader, "Dory hiding y_com")?,
        sigma1: Sigma1Proof {
            a1: read_ark_g2(reader, "Dory sigma1 a1")?,
            a2: read_ark_g1(reader, "Dory sigma1 a2")?,
            z1: read_ark_fr(reader, "Dory sigma1 z1")?,
            z2: read_ark_fr(reader, "Dory sigma1 z2")?,
            z3: read_ark_fr(reader, "Dory sigma1 z3")?,
        },
        sigma2: Sigma2Proof {
            a: read_ark_gt(reader, "Dory sigma2 a")?,
            z1: read_ark_fr(reader, "Dory sigma2 z1")?,
            z2: read_ark_fr(reader, "Dory sigma2 z2")?,
        },
        scalar_product: ScalarProductProof {
            p1: read_ark_gt(reader, "Dory scalar product p1")?,
            p2: read_ark_gt(reader, "Dory scalar product p2")?,
            q: read_ark_gt(reader, "Dory scalar product q")?,
            r: read_ark_gt(reader, "Dory scalar product r")?,
            e1: read_ark_g1(reader, "Dory scalar product e1")?,
            e2: read_ark_g2(reader, "Dory scalar product e2")?,
            r1: read_ark_fr(reader, "Dory scalar product r1")?,
            r2: read_ark_fr(reader, "Dory scalar product r2")?,
            r3: read_ark_fr(reader, "Dory scalar product r3")?,
        },
    })
}

impl Decode for EvaluationProof {
    const MIN_ENCODED_LEN: usize = 2 + VMV_LEN + 2 * LEN_PREFIX + 1;

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let nu_offset = reader.offset();
        let nu = usize::from(reader.read_u8("Dory nu")?);
        let sigma_offset = reader.offset();
        let sigma = usize::from(reader.read_u8("Dory sigma")?);
        if sigma > MAX_DORY_SIGMA {
            return Err(DecodeError::OutOfRange {
                what: "Dory sigma",
                offset: sigma_offset,
                value: sigma as u64,
                max: MAX_DORY_SIGMA as u64,
            });
        }
        if nu > sigma {
            return Err(DecodeError::OutOfRange {
                what: "Dory nu (at most sigma)",
                offset: nu_offset,
                value: nu as u64,
                max: sigma as u64,
            });
        }
        // σ fixes the size of everything but the final message: fail on
        // truncation before validating any group element.
        reader.require(
            "Dory evaluation proof",
            VMV_LEN + 2 * LEN_PREFIX + sigma * (FIRST_REDUCE_LEN + SECOND_REDUCE_LEN) + 1,
        )?;
        let vmv_message = decode_vmv(reader)?;
        let count = read_dory_count(
            reader,
            "Dory first reduce message count",
            sigma,
            FIRST_REDUCE_LEN,
        )?;
        let mut first_messages = Vec::with_capacity(count);
        for _ in 0..count {
            first_messages.push(decode_first(reader)?);
        }
        let count = read_dory_count(
            reader,
            "Dory second reduce message count",
            sigma,
            SECOND_REDUCE_LEN,
        )?;
        let mut second_messages = Vec::with_capacity(count);
        for _ in 0..count {
            second_messages.push(decode_second(reader)?);
        }
        let tag_offset = reader.offset();
        let mut hiding = None;
        let final_message = match reader.read_u8("Dory final message tag")? {
            0 => None,
            1 => {
                reader.require("Dory final message", FINAL_LEN)?;
                Some(ScalarProductMessage {
                    e1: read_ark_g1(reader, "Dory final e1")?,
                    e2: read_ark_g2(reader, "Dory final e2")?,
                })
            }
            2 => {
                hiding = Some(decode_hiding(reader)?);
                None
            }
            tag => {
                return Err(DecodeError::BadTag {
                    what: "Dory final message tag",
                    offset: tag_offset,
                    tag,
                })
            }
        };
        Ok(EvaluationProof {
            vmv_message,
            first_messages,
            second_messages,
            final_message,
            nu,
            sigma,
            e2: hiding.as_ref().map(|h| h.e2),
            y_com: hiding.as_ref().map(|h| h.y_com),
            sigma1_proof: hiding.as_ref().map(|h| h.sigma1.clone()),
            sigma2_proof: hiding.as_ref().map(|h| h.sigma2.clone()),
            scalar_product_proof: hiding.map(|h| h.scalar_product),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::pairing::Pairing;
    use ark_ec::AffineRepr;

    #[test]
    fn encoded_sizes_match_ark_serialize() {
        assert_eq!(Fr::from(7u64).compressed_size(), FR_LEN);
        assert_eq!(G1Affine::generator().compressed_size(), G1_LEN);
        assert_eq!(G2Affine::generator().compressed_size(), G2_LEN);
        let gt = Bn254::pairing(G1Affine::generator(), G2Affine::generator());
        assert_eq!(gt.compressed_size(), GT_LEN);
        // Our Fr encoding is ark's compressed encoding.
        let x = Fr::from(123456789u64) - Fr::from(1u64 << 40);
        let mut ark = Vec::new();
        x.serialize_compressed(&mut ark).unwrap();
        assert_eq!(to_bytes(&x), ark);
    }

    #[test]
    fn gt_membership_agrees_with_arkworks() {
        use ark_ff::One;
        use ark_serialize::Valid;
        use ark_std::UniformRand;
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let ark = |f: Fq12| PairingOutput::<Bn254>(f).check().is_ok();
        let gt = Bn254::pairing(G1Affine::generator(), G2Affine::generator()).0;
        let mut cases = vec![Fq12::one(), Fq12::zero(), gt, -gt, -Fq12::one()];
        for _ in 0..4 {
            // Random elements, their GT multiples, and random cyclotomic
            // elements f^((p^6 − 1)(p^2 + 1)), which are almost never in GT.
            let f = Fq12::rand(&mut rng);
            let mut conj = f;
            conj.conjugate_in_place();
            let mut cyclotomic = conj * f.inverse().unwrap();
            let mut p2 = cyclotomic;
            p2.frobenius_map_in_place(2);
            cyclotomic *= p2;
            let in_group = gt.pow(Fr::rand(&mut rng).into_bigint());
            // Cyclotomic elements whose order divides Φ12(p)/r (no GT part).
            let cofactor_part = cyclotomic.cyclotomic_exp(Fr::MODULUS);
            cases.extend([
                f,
                f * in_group,
                cyclotomic,
                cyclotomic * in_group,
                cofactor_part,
                cofactor_part * in_group,
                in_group,
            ]);
        }
        let mut members = 0;
        for f in cases {
            assert_eq!(in_gt(&f), ark(f), "{f}");
            members += ark(f) as usize;
        }
        assert_eq!(members, 2 + 4, "one, gt and the four random GT elements");
    }

    #[test]
    fn reader_primitives_and_bounds() {
        let mut w = Writer::new();
        w.write_u8(7);
        w.write_u32(0x0102_0304);
        w.write_u64(u64::MAX - 1);
        w.write_len(3);
        let bytes = w.into_bytes();
        assert_eq!(&bytes[1..5], &[4, 3, 2, 1]);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_u8("a").unwrap(), 7);
        assert_eq!(r.read_u32("b").unwrap(), 0x0102_0304);
        assert_eq!(r.read_u64("c").unwrap(), u64::MAX - 1);
        assert_eq!(
            r.clone().read_len("d", 2),
            Err(DecodeError::TooLong {
                what: "d",
                len: 3,
                max: 2
            })
        );
        // Three elements of 1 byte each do not fit in the 0 bytes left.
        assert_eq!(
            r.clone().read_count("d", 3, 1),
            Err(DecodeError::Truncated {
                what: "d",
                offset: 17,
                needed: 3,
                available: 0
            })
        );
        assert_eq!(r.read_len("d", 3).unwrap(), 3);
        r.finish().unwrap();
        let mut r = Reader::new(&bytes[..3]);
        assert!(matches!(
            r.read_u32("x"),
            Err(DecodeError::Truncated {
                offset: 0,
                needed: 4,
                available: 3,
                ..
            })
        ));
        let r = Reader::new(&bytes);
        assert_eq!(
            r.finish(),
            Err(DecodeError::TrailingBytes {
                offset: 0,
                remaining: 17
            })
        );
    }

    #[test]
    fn field_elements_reject_non_canonical() {
        let mut r_bytes = Vec::new();
        for limb in Fr::MODULUS.0 {
            r_bytes.extend_from_slice(&limb.to_le_bytes());
        }
        assert_eq!(
            from_bytes::<Fr>(&r_bytes),
            Err(DecodeError::NonCanonical {
                what: "field element",
                offset: 0
            })
        );
        assert!(matches!(
            from_bytes::<Fr>(&[0xff; 32]),
            Err(DecodeError::NonCanonical { .. })
        ));
        // r − 1 is the largest canonical value.
        let minus_one = -Fr::from(1u64);
        r_bytes[0] -= 1;
        assert_eq!(from_bytes::<Fr>(&r_bytes), Ok(minus_one));
        assert_eq!(to_bytes(&minus_one), r_bytes);
    }

    #[test]
    fn point_at_infinity_has_one_encoding() {
        let mut w = Writer::new();
        w.write_g1(&G1Affine::identity());
        let mut bytes = w.into_bytes();
        assert_eq!(Reader::new(&bytes).read_g1("p"), Ok(G1Affine::identity()));
        // ark-serialize ignores x when the infinity flag is set; we do not.
        bytes[0] ^= 1;
        assert_eq!(
            Reader::new(&bytes).read_g1("p"),
            Err(DecodeError::NonCanonical {
                what: "p",
                offset: 0
            })
        );
    }
}
