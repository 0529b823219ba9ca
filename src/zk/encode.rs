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
