//! The binary proof file: `ZKINFPRF`, the format version, the settings of the
//! keys it was made with ([`super::verdict::ProofSettings`]), then the public input
//! and output, the witness commitment, every operator message (the same
//! shape for every op: field elements, then sumchecks), the lookups, the
//! range checks' opened values and the opening reduction, in the rules of [`crate::encoding`] (bounded lengths,
//! canonical field elements, validated points, no trailing bytes).

use crate::encoding::{
    from_bytes, from_bytes_deferred, to_bytes, Decode, DecodeError, DeferredChecks, Encode, Reader,
    Writer, FR_LEN, LEN_PREFIX,
};
use crate::lookup::LookupProof;
use crate::ops::OpMessage;
use crate::pcs::reduction::ReductionProof;
use crate::pcs::{Commitment, EvaluationProof};
use crate::sumcheck::SumcheckProof;

use super::verdict::ProofSettings;
use super::{ModelProof, PROOF_VERSION};

/// First bytes of every proof file.
pub const PROOF_MAGIC: &[u8; 8] = b"ZKINFPRF";
/// Most public input or output values.
pub const MAX_PUBLIC_VALUES: usize = 1 << 24;
/// Most operators in a model.
pub const MAX_OPS: usize = 1 << 16;
/// Most field elements in one operator's message.
pub const MAX_OP_VALUES: usize = 64;
/// Most sumchecks in one operator's message.
pub const MAX_OP_SUMCHECKS: usize = 8;
/// Most lookup tables in a proof.
pub const MAX_LOOKUPS: usize = 16;
/// Most witness chunks ([`super::witness_chunks`]): 2^28 entries at 2^18 each,
/// far past what a key is built for ([`super::preprocess`] refuses more).
pub const MAX_WITNESS_CHUNKS: usize = 1 << 10;
/// Most Dory openings in a reduction.
pub const MAX_REDUCTION_ITEMS: usize = 16;
/// Most claimed polynomials in a reduction: every witness chunk and the model.
pub const MAX_REDUCTION_VALUES: usize = MAX_WITNESS_CHUNKS + 1;
/// Most values a node's range check opens.
pub const MAX_RANGE_INPUTS: usize = crate::ops::range::MAX_CHECK_INPUTS;
/// Largest proof file the CLI and the service read: two sets of
/// [`MAX_PUBLIC_VALUES`] 8-byte values plus the rest of a proof fit under it.
pub const MAX_PROOF_BYTES: u64 = 1 << 28;

pub(crate) fn write_i64s(w: &mut Writer, values: &[i64]) {
    w.write_len(values.len());
    for v in values {
        w.write_u64(*v as u64);
    }
}

pub(crate) fn read_i64s(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<i64>, DecodeError> {
    let len = r.read_count(what, MAX_PUBLIC_VALUES, 8)?;
    (0..len)
        .map(|_| r.read_u64(what).map(|v| v as i64))
        .collect()
}

impl Encode for OpMessage {
    fn encode(&self, w: &mut Writer) {
        w.write_len(self.values.len());
        for v in &self.values {
            w.write_fr(v);
        }
        w.write_len(self.sumchecks.len());
        for sc in &self.sumchecks {
            sc.encode(w);
        }
    }
}

impl Decode for OpMessage {
    const MIN_ENCODED_LEN: usize = 2 * LEN_PREFIX;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_count("operator message value count", MAX_OP_VALUES, FR_LEN)?;
        let values = (0..n)
            .map(|_| r.read_fr("operator message value"))
            .collect::<Result<Vec<_>, _>>()?;
        let sumchecks = r.read_vec::<SumcheckProof>("operator sumcheck count", MAX_OP_SUMCHECKS)?;
        Ok(OpMessage { values, sumchecks })
    }
}

impl Encode for ReductionProof {
    fn encode(&self, w: &mut Writer) {
        self.sumcheck.encode(w);
        w.write_len(self.values.len());
        for v in &self.values {
            w.write_fr(v);
        }
        w.write_len(self.openings.len());
        for o in &self.openings {
            o.encode(w);
        }
    }
}

impl Decode for ReductionProof {
    const MIN_ENCODED_LEN: usize = SumcheckProof::MIN_ENCODED_LEN + 2 * LEN_PREFIX;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sumcheck = SumcheckProof::decode(r)?;
        let n = r.read_count("reduction value count", MAX_REDUCTION_VALUES, FR_LEN)?;
        let values = (0..n)
            .map(|_| r.read_fr("reduction value"))
            .collect::<Result<Vec<_>, _>>()?;
        let openings = r.read_vec::<EvaluationProof>("Dory opening count", MAX_REDUCTION_ITEMS)?;
        Ok(ReductionProof {
            sumcheck,
            values,
            openings,
        })
    }
}

impl Encode for ModelProof {
    fn encode(&self, w: &mut Writer) {
        for b in PROOF_MAGIC {
            w.write_u8(*b);
        }
        w.write_u32(PROOF_VERSION);
        self.settings.encode(w);
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
                w.write_fr(v);
            }
        }
        self.reduction.encode(w);
    }
}

impl Decode for ModelProof {
    const MIN_ENCODED_LEN: usize = 8 + 4 + super::verdict::SETTINGS_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        if r.take("proof magic", 8)? != PROOF_MAGIC {
            return Err(DecodeError::NonCanonical {
                what: "proof magic (not a zkinfer proof file)",
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
        let settings = ProofSettings::decode(r)?;
        let input = read_i64s(r, "public input")?;
        // A batch is a run of whole inputs: more batch entries than input
        // values names keys no proof of this size can be for (and bounds what
        // a verifier builds keys for by the proof's own size).
        if settings.batch_size > input.len().max(1) as u64 {
            return Err(DecodeError::CountMismatch {
                what: "public input values for the proof's batch size",
                expected: settings.batch_size.try_into().unwrap_or(usize::MAX),
                actual: input.len(),
            });
        }
        Ok(ModelProof {
            settings,
            input,
            output: read_i64s(r, "public output")?,
            witness_commitments: r
                .read_vec::<Commitment>("witness commitment count", MAX_WITNESS_CHUNKS)?,
            ops: r.read_vec::<OpMessage>("operator count", MAX_OPS)?,
            lookups: r.read_vec::<LookupProof>("lookup count", MAX_LOOKUPS)?,
            range_inputs: {
                let checks = r.read_count("range check count", MAX_OPS, LEN_PREFIX)?;
                (0..checks)
                    .map(|_| {
                        let n =
                            r.read_count("range check value count", MAX_RANGE_INPUTS, FR_LEN)?;
                        (0..n)
                            .map(|_| r.read_fr("range check value"))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            },
            reduction: ReductionProof::decode(r)?,
        })
    }
}

impl ModelProof {
    /// The proof file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self)
    }

    /// Decodes a proof file; never panics, rejects trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        from_bytes(bytes)
    }

    /// Decodes a proof file but leaves its GT subgroup checks to the caller
    /// (see [`super::verify_with_checks`]); never panics.
    pub fn from_bytes_deferred(bytes: &[u8]) -> Result<(Self, DeferredChecks), DecodeError> {
        from_bytes_deferred(bytes)
    }
}
