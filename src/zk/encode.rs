//! Encodings of the zero-knowledge messages, under the rules of
//! [`crate::encoding`]: compressed, validated G1 points, canonical scalars,
//! counts bounded before allocation, every decode total (an error, never a
//! panic). A sumcheck's final proof is its committed values, its products
//! (commitment and proof each) and its proof of zero.

use ark_bn254::{Fr, G1Affine};

use super::lookup::{RootFraction, ZkLayerProof, ZkLookupProof};
use super::reduction::ZkReductionProof;
use super::sigma::{ProductProof, ZeroProof};
use super::sumcheck::{CommittedRound, FinalProof, ZkRounds, ZkSumcheckProof};
use crate::encoding::{
    Decode, DecodeError, Encode, Reader, Writer, FR_LEN, G1_LEN, LEN_PREFIX, MAX_LOOKUP_TREES,
    MAX_QUERY_SETS, MAX_QUERY_VALUES, MAX_TREE_LAYERS,
};
use crate::pcs::EvaluationProof;

/// Most commitments in one round (the largest sumcheck degree).
pub const MAX_ROUND_COMMITMENTS: usize = crate::encoding::MAX_ROUND_COEFFICIENTS;
/// Most rounds of one zero-knowledge sumcheck.
pub const MAX_ZK_ROUNDS: usize = crate::encoding::MAX_SUMCHECK_ROUNDS;
/// Most committed final values of one sumcheck: four per tree of a lookup layer.
pub const MAX_FINAL_EVALS: usize = 4 * MAX_LOOKUP_TREES + 64;
/// Most product proofs of one final check: three per tree of a lookup layer.
pub const MAX_PRODUCTS: usize = 3 * MAX_LOOKUP_TREES + 256;
/// Most claimed polynomials and layout groups of one reduction.
pub const MAX_REDUCTION_POLYS: usize = 64;

const ZERO_PROOF_LEN: usize = G1_LEN + FR_LEN;
const PRODUCT_PROOF_LEN: usize = 3 * G1_LEN + 5 * FR_LEN;

impl Encode for ZeroProof {
    fn encode(&self, w: &mut Writer) {
        w.write_g1(&self.a);
        w.write_fr(&self.z);
    }
}

impl Decode for ZeroProof {
    const MIN_ENCODED_LEN: usize = ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ZeroProof {
            a: r.read_g1("proof of zero: first message")?,
            z: r.read_fr("proof of zero: response")?,
        })
    }
}

impl Encode for ProductProof {
    fn encode(&self, w: &mut Writer) {
        for p in [&self.alpha, &self.beta, &self.delta] {
            w.write_g1(p);
        }
        for z in &self.z {
            w.write_fr(z);
        }
    }
}

impl Decode for ProductProof {
    const MIN_ENCODED_LEN: usize = PRODUCT_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let alpha = r.read_g1("proof of product: alpha")?;
        let beta = r.read_g1("proof of product: beta")?;
        let delta = r.read_g1("proof of product: delta")?;
        let mut z = [Fr::from(0u64); 5];
        for zi in z.iter_mut() {
            *zi = r.read_fr("proof of product: response")?;
        }
        Ok(ProductProof {
            alpha,
            beta,
            delta,
            z,
        })
    }
}

fn read_points(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<G1Affine>, DecodeError> {
    let len = r.read_count(what, max, G1_LEN)?;
    (0..len).map(|_| r.read_g1(what)).collect()
}

fn write_points(w: &mut Writer, points: &[G1Affine]) {
    w.write_len(points.len());
    for p in points {
        w.write_g1(p);
    }
}

impl Encode for ZkRounds {
    fn encode(&self, w: &mut Writer) {
        w.write_len(self.rounds.len());
        for round in &self.rounds {
            write_points(w, &round.0);
        }
    }
}

impl Decode for ZkRounds {
    const MIN_ENCODED_LEN: usize = LEN_PREFIX;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.read_count("zk sumcheck round count", MAX_ZK_ROUNDS, LEN_PREFIX)?;
        let mut rounds = Vec::with_capacity(count);
        for _ in 0..count {
            rounds.push(CommittedRound(read_points(
                r,
                "zk sumcheck round commitment",
                MAX_ROUND_COMMITMENTS,
            )?));
        }
        Ok(ZkRounds { rounds })
    }
}

impl Encode for FinalProof {
    fn encode(&self, w: &mut Writer) {
        write_points(w, &self.evals);
        w.write_len(self.products.len());
        for (c, p) in &self.products {
            w.write_g1(c);
            p.encode(w);
        }
        self.zero.encode(w);
    }
}

impl Decode for FinalProof {
    const MIN_ENCODED_LEN: usize = 2 * LEN_PREFIX + ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let evals = read_points(r, "zk sumcheck committed value", MAX_FINAL_EVALS)?;
        let count = r.read_count(
            "zk sumcheck product count",
            MAX_PRODUCTS,
            G1_LEN + PRODUCT_PROOF_LEN,
        )?;
        let mut products = Vec::with_capacity(count);
        for _ in 0..count {
            let c = r.read_g1("zk sumcheck product commitment")?;
            products.push((c, ProductProof::decode(r)?));
        }
        let zero = ZeroProof::decode(r)?;
        Ok(FinalProof {
            evals,
            products,
            zero,
        })
    }
}

impl Encode for ZkSumcheckProof {
    fn encode(&self, w: &mut Writer) {
        self.rounds.encode(w);
        self.last.encode(w);
    }
}

impl Decode for ZkSumcheckProof {
    const MIN_ENCODED_LEN: usize = ZkRounds::MIN_ENCODED_LEN + FinalProof::MIN_ENCODED_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ZkSumcheckProof {
            rounds: ZkRounds::decode(r)?,
            last: FinalProof::decode(r)?,
        })
    }
}

impl Encode for ZkLayerProof {
    fn encode(&self, w: &mut Writer) {
        self.rounds.encode(w);
        self.last.encode(w);
    }
}

impl Decode for ZkLayerProof {
    const MIN_ENCODED_LEN: usize = ZkSumcheckProof::MIN_ENCODED_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ZkLayerProof {
            rounds: ZkRounds::decode(r)?,
            last: FinalProof::decode(r)?,
        })
    }
}

impl Encode for RootFraction {
    fn encode(&self, w: &mut Writer) {
        w.write_g1(&self.inverse);
        self.inverse_proof.encode(w);
        w.write_g1(&self.fraction);
        self.fraction_proof.encode(w);
    }
}

impl Decode for RootFraction {
    const MIN_ENCODED_LEN: usize = 2 * (G1_LEN + PRODUCT_PROOF_LEN);

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RootFraction {
            inverse: r.read_g1("zk lookup root inverse")?,
            inverse_proof: ProductProof::decode(r)?,
            fraction: r.read_g1("zk lookup root fraction")?,
            fraction_proof: ProductProof::decode(r)?,
        })
    }
}

/// Layout: roots (a tree count, then two points each), fractions, the root sum's proof of
/// zero, layers, query values (count of sets, then points per set), leaf checks.
impl Encode for ZkLookupProof {
    fn encode(&self, w: &mut Writer) {
        w.write_len(self.roots.len());
        for [p, q] in &self.roots {
            w.write_g1(p);
            w.write_g1(q);
        }
        w.write_len(self.fractions.len());
        for f in &self.fractions {
            f.encode(w);
        }
        self.root_sum.encode(w);
        w.write_len(self.layers.len());
        for l in &self.layers {
            l.encode(w);
        }
        w.write_len(self.query_values.len());
        for v in &self.query_values {
            write_points(w, v);
        }
        w.write_len(self.leaf_checks.len());
        for z in &self.leaf_checks {
            z.encode(w);
        }
    }
}

impl Decode for ZkLookupProof {
    const MIN_ENCODED_LEN: usize = 5 * LEN_PREFIX + ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let trees = r.read_count("zk lookup root count", MAX_LOOKUP_TREES, 2 * G1_LEN)?;
        let mut roots = Vec::with_capacity(trees);
        for _ in 0..trees {
            roots.push([
                r.read_g1("zk lookup root numerator")?,
                r.read_g1("zk lookup root denominator")?,
            ]);
        }
        let fractions = r.read_vec("zk lookup fraction count", MAX_LOOKUP_TREES)?;
        let root_sum = ZeroProof::decode(r)?;
        let layers = r.read_vec("zk lookup layer count", MAX_TREE_LAYERS)?;
        let sets = r.read_count("zk lookup query set count", MAX_QUERY_SETS, LEN_PREFIX)?;
        let mut query_values = Vec::with_capacity(sets);
        for _ in 0..sets {
            query_values.push(read_points(r, "zk lookup query value", MAX_QUERY_VALUES)?);
        }
        let leaf_checks = r.read_vec("zk lookup leaf check count", 2 * MAX_QUERY_SETS + 1)?;
        Ok(ZkLookupProof {
            roots,
            fractions,
            root_sum,
            layers,
            query_values,
            leaf_checks,
        })
    }
}

impl Encode for ZkReductionProof {
    fn encode(&self, w: &mut Writer) {
        self.rounds.encode(w);
        write_points(w, &self.values);
        self.final_check.encode(w);
        w.write_len(self.openings.len());
        for (opening, link) in &self.openings {
            opening.encode(w);
            link.encode(w);
        }
    }
}

impl Decode for ZkReductionProof {
    const MIN_ENCODED_LEN: usize = 3 * LEN_PREFIX + ZERO_PROOF_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let rounds = ZkRounds::decode(r)?;
        let values = read_points(r, "zk reduction value", MAX_REDUCTION_POLYS)?;
        let final_check = ZeroProof::decode(r)?;
        let count = r.read_count(
            "zk reduction opening count",
            MAX_REDUCTION_POLYS,
            EvaluationProof::MIN_ENCODED_LEN + ZERO_PROOF_LEN,
        )?;
        let mut openings = Vec::with_capacity(count);
        for _ in 0..count {
            openings.push((EvaluationProof::decode(r)?, ZeroProof::decode(r)?));
        }
        Ok(ZkReductionProof {
            rounds,
            values,
            final_check,
            openings,
        })
    }
}

/// First bytes of every zero-knowledge proof file (a transparent one starts
/// with [`crate::proof::encode::PROOF_MAGIC`]).
pub const ZK_PROOF_MAGIC: &[u8; 8] = b"ZKINFZKP";

impl Encode for super::ops::ZkOpMessage {
    fn encode(&self, w: &mut Writer) {
        w.write_len(self.values.len());
        for v in &self.values {
            w.write_g1(v);
        }
        w.write_len(self.sumchecks.len());
        for s in &self.sumchecks {
            s.encode(w);
        }
    }
}

impl Decode for super::ops::ZkOpMessage {
    const MIN_ENCODED_LEN: usize = 2 * LEN_PREFIX;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use crate::proof::encode::{MAX_OP_SUMCHECKS, MAX_OP_VALUES};
        let n = r.read_count("operator commitment count", MAX_OP_VALUES, G1_LEN)?;
        let values = (0..n)
            .map(|_| r.read_g1("operator commitment"))
            .collect::<Result<Vec<_>, _>>()?;
        let sumchecks =
            r.read_vec::<ZkSumcheckProof>("operator sumcheck count", MAX_OP_SUMCHECKS)?;
        Ok(super::ops::ZkOpMessage { values, sumchecks })
    }
}

impl Encode for super::model::ZkModelProof {
    fn encode(&self, w: &mut Writer) {
        use crate::proof::encode::write_i64s;
        for b in ZK_PROOF_MAGIC {
            w.write_u8(*b);
        }
        w.write_u32(crate::proof::PROOF_VERSION);
        self.settings.encode(w);
        w.write_u8(u8::from(self.private_input));
        write_i64s(w, &self.input);
        write_i64s(w, &self.output);
        w.write_len(self.witness_commitments.len());
        for c in &self.witness_commitments {
            c.encode(w);
        }
        w.write_len(self.ops.len());
        for op in &self.ops {
            op.encode(w);
        }
        w.write_len(self.lookups.len());
        for l in &self.lookups {
            l.encode(w);
        }
        w.write_len(self.range_inputs.len());
        for values in &self.range_inputs {
            w.write_len(values.len());
            for v in values {
                w.write_g1(v);
            }
        }
        w.write_len(self.range_links.len());
        for link in &self.range_links {
            link.encode(w);
        }
        self.reduction.encode(w);
    }
}

impl Decode for super::model::ZkModelProof {
    const MIN_ENCODED_LEN: usize = 8 + 4 + crate::proof::verdict::SETTINGS_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use crate::proof::encode::{read_i64s, MAX_OPS, MAX_RANGE_INPUTS};
        use crate::proof::PROOF_VERSION;
        let offset = r.offset();
        if r.take("proof magic", 8)? != ZK_PROOF_MAGIC {
            return Err(DecodeError::NonCanonical {
                what: "proof magic (not a zkinfer zero-knowledge proof file)",
                offset,
            });
        }
        let version_offset = r.offset();
        let version = r.read_u32("proof format version")?;
        if version != PROOF_VERSION {
            return Err(DecodeError::Version {
                what: "proof file",
                offset: version_offset,
                found: version,
                reads: PROOF_VERSION,
            });
        }
        let settings = crate::proof::verdict::ProofSettings::decode(r)?;
        let flag_offset = r.offset();
        let private_input = match r.read_u8("private input flag")? {
            0 => false,
            1 => true,
            tag => {
                return Err(DecodeError::BadTag {
                    what: "private input flag",
                    offset: flag_offset,
                    tag,
                })
            }
        };
        let input = read_i64s(r, "public input")?;
        if private_input && !input.is_empty() {
            return Err(DecodeError::CountMismatch {
                what: "public input values of a proof with a private input",
                expected: 0,
                actual: input.len(),
            });
        }
        if !private_input && settings.batch_size > input.len().max(1) as u64 {
            return Err(DecodeError::CountMismatch {
                what: "public input values for the proof's batch size",
                expected: settings.batch_size.try_into().unwrap_or(usize::MAX),
                actual: input.len(),
            });
        }
        Ok(super::model::ZkModelProof {
            settings,
            private_input,
            input,
            output: read_i64s(r, "public output")?,
            witness_commitments: r.read_vec::<crate::pcs::Commitment>(
                "witness commitment count",
                crate::proof::encode::MAX_WITNESS_CHUNKS,
            )?,
            ops: r.read_vec::<super::ops::ZkOpMessage>("operator count", MAX_OPS)?,
            lookups: r
                .read_vec::<ZkLookupProof>("lookup count", crate::proof::encode::MAX_LOOKUPS)?,
            range_inputs: {
                let checks = r.read_count("range check count", MAX_OPS, LEN_PREFIX)?;
                (0..checks)
                    .map(|_| {
                        let n =
                            r.read_count("range check commitment count", MAX_RANGE_INPUTS, G1_LEN)?;
                        (0..n)
                            .map(|_| r.read_g1("range check commitment"))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            },
            range_links: r.read_vec::<ZeroProof>("range link count", MAX_OPS)?,
            reduction: ZkReductionProof::decode(r)?,
        })
    }
}

impl super::model::ZkModelProof {
    /// The proof file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encoding::to_bytes(self)
    }

    /// Decodes a zero-knowledge proof file; never panics, rejects trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        crate::encoding::from_bytes(bytes)
    }
}
