//! The proof encoding on real proofs (sumcheck, LogUp-GKR lookup, Dory opening):
//! round trips, every kind of rejection, allocation bounds on hostile length
//! prefixes, and seeded fuzzing (random bytes and mutations of valid encodings)
//! that turns any panic into a failure naming the input. Mutated Dory proofs
//! that still decode must then fail `pcs::verify` without panicking.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use ark_bn254::{Bn254, Fq, Fq12, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::pairing::PairingOutput;
use ark_ff::{Field, PrimeField, UniformRand, Zero};
use ark_serialize::CanonicalSerialize;
use dory_pcs::backends::arkworks::ArkGT;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::encoding::{
    from_bytes, to_bytes, Decode, DecodeError, Encode, FR_LEN, G1_LEN, G2_LEN, GT_LEN,
    MAX_DORY_ROUNDS, MAX_SUMCHECK_ROUNDS,
};
use zkinfer::lookup::{self, LookupProof, Table};
use zkinfer::pcs::{self, Commitment, DorySetup, EvaluationProof, Layout, MultilinearPoly};
use zkinfer::sumcheck::{self, Expression, SumcheckProof};
use zkinfer::transcript::ProofTranscript;

use crate::common::alloc::largest_allocation;

// ---------------------------------------------------------------------------
// Fixtures: real proofs.

fn sumcheck_proof(seed: u64, num_vars: usize, degree: usize) -> SumcheckProof {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mles: Vec<Vec<Fr>> = (0..degree)
        .map(|_| {
            (0..1usize << num_vars)
                .map(|_| Fr::rand(&mut rng))
                .collect()
        })
        .collect();
    let claim: Fr = (0..1usize << num_vars)
        .map(|x| mles.iter().map(|m| m[x]).product::<Fr>())
        .sum();
    let expr = Expression::product(degree).unwrap();
    let out = sumcheck::prove(
        CpuBackend::global(),
        &mut ProofTranscript::new(b"encoding-test"),
        claim,
        mles,
        &expr,
    )
    .unwrap();
    assert_eq!(out.proof.rounds.len(), num_vars);
    out.proof
}

fn lookup_transcript() -> ProofTranscript {
    let mut t = ProofTranscript::new(b"encoding-test/lookup");
    t.append_message(b"commitments", b"queries and multiplicities");
    t
}

/// A proof that 16 values are 4-bit, and its query count (log2).
fn lookup_proof() -> (LookupProof, usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let table = Table::UnsignedRange { bits: 4 };
    let queries = vec![(0..16)
        .map(|_| (rng.next_u64() % 16) as i64)
        .collect::<Vec<_>>()];
    let multiplicities = table.multiplicities(&queries).unwrap();
    let columns: Vec<Vec<Fr>> = queries
        .iter()
        .map(|c| c.iter().map(|&v| Fr::from(v as u64)).collect())
        .collect();
    let (proof, _) = lookup::prove(
        CpuBackend::global(),
        &mut lookup_transcript(),
        &table,
        &[columns],
        &multiplicities,
    )
    .unwrap();
    // The proof verifies before we start encoding it.
    lookup::verify(&mut lookup_transcript(), &table, &[4], &proof).unwrap();
    (proof, 4)
}

struct DoryFixture {
    setup: DorySetup,
    commitment: Commitment,
    layout: Layout,
    point: Vec<Fr>,
    value: Fr,
    proof: EvaluationProof,
}

impl DoryFixture {
    fn verify(&self, proof: &EvaluationProof) -> Result<(), pcs::PcsError> {
        self.verify_as(proof, self.layout, &self.point)
    }

    fn verify_as(
        &self,
        proof: &EvaluationProof,
        layout: Layout,
        point: &[Fr],
    ) -> Result<(), pcs::PcsError> {
        pcs::verify(
            &self.commitment,
            layout,
            point,
            &self.value,
            proof,
            &self.setup.verifier,
            &mut ProofTranscript::new(b"encoding-test/dory"),
        )
    }
}

/// A real opening of an 8-value polynomial in layout 2^1 x 2^2 (σ = 2 rounds).
fn dory() -> &'static DoryFixture {
    static FIXTURE: OnceLock<DoryFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let setup = DorySetup::derive(pcs::setup::DEFAULT_SEED, 3).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let layout = Layout::square(3);
        assert_eq!((layout.nu, layout.sigma), (1, 2));
        let values = (0..8)
            .map(|_| (rng.next_u64() % 512) as i64 - 256)
            .collect();
        let poly = MultilinearPoly::from_small(values).unwrap();
        let (commitment, hint) = pcs::commit(CpuBackend::global(), &poly, layout, &setup).unwrap();
        let point: Vec<Fr> = (0..3).map(|_| Fr::rand(&mut rng)).collect();
        let (value, proof) = pcs::open::<CpuBackend, _>(
            &poly,
            &commitment,
            &hint,
            &point,
            &setup,
            &mut ProofTranscript::new(b"encoding-test/dory"),
        )
        .unwrap();
        let fixture = DoryFixture {
            setup,
            commitment,
            layout,
            point,
            value,
            proof,
        };
        fixture.verify(&fixture.proof).unwrap();
        fixture
    })
}

// ---------------------------------------------------------------------------
// Helpers.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes `bytes` as `T`, turning a panic into a test failure that prints the input.
fn decode_no_panic<T: Decode>(bytes: &[u8], label: &str) -> Result<T, DecodeError> {
    catch_unwind(AssertUnwindSafe(|| from_bytes::<T>(bytes))).unwrap_or_else(|_| {
        panic!(
            "decoding {label} panicked on {} bytes: {}",
            bytes.len(),
            hex(bytes)
        )
    })
}

/// decode(encode(x)) == x and re-encoding is byte-identical.
fn assert_round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T) -> Vec<u8> {
    let bytes = to_bytes(value);
    let decoded: T = from_bytes(&bytes).unwrap();
    assert_eq!(&decoded, value);
    assert_eq!(to_bytes(&decoded), bytes);
    bytes
}

/// Every proper prefix is rejected as truncated; one extra byte is rejected as trailing.
fn assert_truncations_and_trailing<T: Decode + std::fmt::Debug>(bytes: &[u8], label: &str) {
    for len in 0..bytes.len() {
        match decode_no_panic::<T>(&bytes[..len], label) {
            Err(DecodeError::Truncated { .. }) => {}
            other => panic!(
                "{label} truncated to {len} of {} bytes: {other:?}",
                bytes.len()
            ),
        }
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(
        decode_no_panic::<T>(&longer, label).unwrap_err(),
        DecodeError::TrailingBytes {
            offset: bytes.len(),
            remaining: 1
        }
    );
}

enum Mutation {
    SetByte(usize, u8),
    FlipBit(usize, u8),
}

fn random_mutation(rng: &mut ChaCha20Rng, len: usize) -> Mutation {
    let at = (rng.next_u64() % len as u64) as usize;
    if rng.next_u32().is_multiple_of(2) {
        Mutation::SetByte(at, rng.next_u32() as u8)
    } else {
        Mutation::FlipBit(at, (rng.next_u32() % 8) as u8)
    }
}

fn apply(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match *mutation {
        Mutation::SetByte(at, value) => out[at] = value,
        Mutation::FlipBit(at, bit) => out[at] ^= 1 << bit,
    }
    out
}

/// Decodes `count` random mutations of a valid encoding: none may panic, and any
/// that decodes must be a different value whose encoding is exactly the mutated
/// bytes (one encoding per value). Returns the decoded mutants.
fn fuzz_mutations<T: Encode + Decode + PartialEq + std::fmt::Debug>(
    original: &T,
    seed: u64,
    count: usize,
    label: &str,
) -> Vec<T> {
    let bytes = to_bytes(original);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut decoded = Vec::new();
    for _ in 0..count {
        let mutated = apply(&bytes, &random_mutation(&mut rng, bytes.len()));
        if mutated == bytes {
            continue;
        }
        if let Ok(value) = decode_no_panic::<T>(&mutated, label) {
            assert_ne!(&value, original, "{label}: two encodings of one value");
            assert_eq!(
                to_bytes(&value),
                mutated,
                "{label}: non-canonical bytes accepted"
            );
            decoded.push(value);
        }
    }
    decoded
}

fn fr_bytes(limbs: [u64; 4]) -> Vec<u8> {
    limbs.iter().flat_map(|l| l.to_le_bytes()).collect()
}

/// Offset of the first G1 point (the VMV message's e1) in an encoded Dory proof.
const DORY_VMV_E1: usize = 2 + 2 * GT_LEN;
/// Offset of the first first-reduce message's e2_beta.
const DORY_FIRST_E2_BETA: usize = DORY_VMV_E1 + G1_LEN + 4 + 4 * GT_LEN + G1_LEN;

/// (offset, length) of every G1 and G2 point in an encoded Dory proof of σ
/// rounds with a final message.
fn dory_point_slots(sigma: usize) -> Vec<(usize, usize)> {
    let mut slots = vec![(DORY_VMV_E1, G1_LEN)];
    let mut at = DORY_VMV_E1 + G1_LEN + 4;
    for _ in 0..sigma {
        at += 4 * GT_LEN;
        slots.extend([(at, G1_LEN), (at + G1_LEN, G2_LEN)]);
        at += G1_LEN + G2_LEN;
    }
    at += 4;
    for _ in 0..sigma {
        at += 2 * GT_LEN;
        for len in [G1_LEN, G1_LEN, G2_LEN, G2_LEN] {
            slots.push((at, len));
            at += len;
        }
    }
    at += 1;
    slots.extend([(at, G1_LEN), (at + G1_LEN, G2_LEN)]);
    slots
}

// ---------------------------------------------------------------------------
// Round trips.

#[test]
fn sumcheck_proofs_round_trip() {
    for (seed, num_vars, degree) in [(1, 1, 1), (2, 4, 2), (3, 6, 3), (4, 3, 4)] {
        let proof = sumcheck_proof(seed, num_vars, degree);
        let bytes = assert_round_trip(&proof);
        assert_eq!(bytes.len(), 4 + num_vars * (4 + degree * FR_LEN));
    }
    assert_round_trip(&SumcheckProof::default());
}

#[test]
fn lookup_proof_round_trips() {
    let (proof, _) = lookup_proof();
    assert!(!proof.layers.is_empty() && proof.roots.len() == 2);
    let bytes = assert_round_trip(&proof);
    // The decoded proof still verifies.
    let decoded: LookupProof = from_bytes(&bytes).unwrap();
    lookup::verify(
        &mut lookup_transcript(),
        &Table::UnsignedRange { bits: 4 },
        &[4],
        &decoded,
    )
    .unwrap();
}

#[test]
fn dory_proof_and_commitment_round_trip() {
    let d = dory();
    let bytes = assert_round_trip(&d.proof);
    // nu, sigma, VMV, two counts, 2 first + 2 second messages, tagged final message.
    let expected = 2
        + (2 * GT_LEN + G1_LEN)
        + 8
        + 2 * (4 * GT_LEN + G1_LEN + G2_LEN)
        + 2 * (2 * GT_LEN + 2 * G1_LEN + 2 * G2_LEN)
        + 1
        + (G1_LEN + G2_LEN);
    assert_eq!(bytes.len(), expected);
    let decoded: EvaluationProof = from_bytes(&bytes).unwrap();
    d.verify(&decoded).unwrap();
    let commitment_bytes = assert_round_trip(&d.commitment);
    assert_eq!(commitment_bytes.len(), GT_LEN);
    let mut short = d.proof.clone();
    short.final_message = None;
    assert_round_trip(&short);
}

// ---------------------------------------------------------------------------
// Rejections.

#[test]
fn truncations_and_trailing_bytes_are_rejected() {
    let sumcheck = to_bytes(&sumcheck_proof(5, 4, 3));
    assert_truncations_and_trailing::<SumcheckProof>(&sumcheck, "sumcheck");
    let lookup = to_bytes(&lookup_proof().0);
    assert_truncations_and_trailing::<LookupProof>(&lookup, "lookup");
    assert_truncations_and_trailing::<Commitment>(&to_bytes(&dory().commitment), "commitment");
    assert_truncations_and_trailing::<EvaluationProof>(&to_bytes(&dory().proof), "dory");
    assert_truncations_and_trailing::<Fr>(&to_bytes(&Fr::from(5u64)), "field element");
}

#[test]
fn non_canonical_field_elements_are_rejected() {
    let proof = sumcheck_proof(6, 3, 2);
    let bytes = to_bytes(&proof);
    let modulus = fr_bytes(Fr::MODULUS.0);
    // First coefficient of round 0: after the round count and the coefficient count.
    for bad in [modulus.clone(), vec![0xff; 32]] {
        let mut b = bytes.clone();
        b[8..40].copy_from_slice(&bad);
        assert_eq!(
            from_bytes::<SumcheckProof>(&b).unwrap_err(),
            DecodeError::NonCanonical {
                what: "sumcheck round coefficient",
                offset: 8
            }
        );
    }
    // The last query value of a lookup proof.
    let lookup = to_bytes(&lookup_proof().0);
    let at = lookup.len() - FR_LEN;
    for bad in [modulus, vec![0xff; 32]] {
        let mut b = lookup.clone();
        b[at..].copy_from_slice(&bad);
        assert_eq!(
            from_bytes::<LookupProof>(&b).unwrap_err(),
            DecodeError::NonCanonical {
                what: "lookup query value",
                offset: at
            }
        );
    }
}

#[test]
fn invalid_group_elements_are_rejected() {
    let d = dory();
    let bytes = to_bytes(&d.proof);

    // A G1 x-coordinate with no point on the curve.
    let x = (0u64..)
        .map(Fq::from)
        .find(|x| G1Affine::get_point_from_x_unchecked(*x, false).is_none())
        .unwrap();
    let mut b = bytes.clone();
    let mut x_bytes = Vec::new();
    x.serialize_compressed(&mut x_bytes).unwrap();
    b[DORY_VMV_E1..DORY_VMV_E1 + G1_LEN].copy_from_slice(&x_bytes);
    assert_eq!(
        from_bytes::<EvaluationProof>(&b).unwrap_err(),
        DecodeError::InvalidPoint {
            what: "Dory VMV e1",
            offset: DORY_VMV_E1
        }
    );

    // A G2 point on the curve but outside the prime-order subgroup.
    let off_subgroup = (0u64..)
        .filter_map(|i| {
            G2Affine::get_point_from_x_unchecked(Fq2::new(Fq::from(i), Fq::from(1u64)), false)
        })
        .find(|p| !p.is_in_correct_subgroup_assuming_on_curve())
        .unwrap();
    assert!(off_subgroup.is_on_curve());
    let mut p_bytes = Vec::new();
    off_subgroup.serialize_compressed(&mut p_bytes).unwrap();
    let mut b = bytes.clone();
    b[DORY_FIRST_E2_BETA..DORY_FIRST_E2_BETA + G2_LEN].copy_from_slice(&p_bytes);
    assert_eq!(
        from_bytes::<EvaluationProof>(&b).unwrap_err(),
        DecodeError::InvalidPoint {
            what: "Dory first reduce e2_beta",
            offset: DORY_FIRST_E2_BETA
        }
    );

    // A random Fq12 element is not in GT.
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut gt_bytes = Vec::new();
    Fq12::rand(&mut rng)
        .serialize_compressed(&mut gt_bytes)
        .unwrap();
    assert_eq!(
        from_bytes::<Commitment>(&gt_bytes).unwrap_err(),
        DecodeError::InvalidPoint {
            what: "Dory commitment",
            offset: 0
        }
    );
    let mut b = bytes.clone();
    b[2..2 + GT_LEN].copy_from_slice(&gt_bytes);
    assert_eq!(
        from_bytes::<EvaluationProof>(&b).unwrap_err(),
        DecodeError::InvalidPoint {
            what: "Dory VMV c",
            offset: 2
        }
    );

    // An element of the cyclotomic subgroup outside GT passes the eager check
    // and is caught by the deferred exponentiation, by name.
    let f = Fq12::rand(&mut rng);
    let mut conj = f;
    conj.conjugate_in_place();
    let mut cyclotomic = conj * f.inverse().unwrap();
    let mut p2 = cyclotomic;
    p2.frobenius_map_in_place(2);
    cyclotomic *= p2;
    assert!(zkinfer::encoding::in_cyclotomic_subgroup(&cyclotomic));
    let mut gt_bytes = Vec::new();
    cyclotomic.serialize_compressed(&mut gt_bytes).unwrap();
    let mut b = bytes.clone();
    b[2..2 + GT_LEN].copy_from_slice(&gt_bytes);
    let expected = DecodeError::InvalidPoint {
        what: "Dory VMV c",
        offset: 2,
    };
    assert_eq!(from_bytes::<EvaluationProof>(&b).unwrap_err(), expected);
    let (_, checks) = zkinfer::encoding::from_bytes_deferred::<EvaluationProof>(&b).unwrap();
    assert_eq!(checks.run().unwrap_err(), expected);

    // The identity of GT is a valid commitment (it is the commitment to zero).
    let identity = Commitment(ArkGT(PairingOutput::<Bn254>::zero()));
    assert_eq!(identity.0 .0 .0, <Fq12 as ark_ff::One>::one());
    assert_round_trip(&identity);
    // G1's point at infinity round-trips inside a proof.
    let mut p = d.proof.clone();
    p.vmv_message.e1 = dory_pcs::backends::arkworks::ArkG1(G1Affine::identity().into());
    assert_round_trip(&p);
}

#[test]
fn oversize_length_prefixes_allocate_nothing() {
    // u32::MAX rounds.
    let (result, largest) = largest_allocation(|| from_bytes::<SumcheckProof>(&[0xff; 4]));
    assert_eq!(
        result.unwrap_err(),
        DecodeError::TooLong {
            what: "sumcheck round count",
            len: u64::from(u32::MAX),
            max: MAX_SUMCHECK_ROUNDS
        }
    );
    assert_eq!(
        largest, 0,
        "rejecting a length prefix allocated {largest} bytes"
    );

    // An allowed count with too few bytes behind it fails before allocating.
    let (result, largest) = largest_allocation(|| {
        from_bytes::<SumcheckProof>(&(MAX_SUMCHECK_ROUNDS as u32).to_le_bytes())
    });
    assert!(matches!(
        result,
        Err(DecodeError::Truncated {
            what: "sumcheck round count",
            offset: 4,
            ..
        })
    ));
    assert_eq!(largest, 0);

    // Nine coefficients in a round (max 8).
    let mut b = 1u32.to_le_bytes().to_vec();
    b.extend_from_slice(&9u32.to_le_bytes());
    b.extend_from_slice(&vec![0; 9 * FR_LEN]);
    assert!(matches!(
        from_bytes::<SumcheckProof>(&b),
        Err(DecodeError::TooLong {
            what: "sumcheck round coefficient count",
            len: 9,
            max: 8
        })
    ));

    // One root, then 65 GKR layers; 17 query values.
    let mut roots = 1u32.to_le_bytes().to_vec();
    roots.extend_from_slice(&[0u8; 2 * FR_LEN]);
    let mut tree = roots.clone();
    tree.extend_from_slice(&65u32.to_le_bytes());
    assert!(matches!(
        from_bytes::<LookupProof>(&tree),
        Err(DecodeError::TooLong {
            what: "GKR layer count",
            len: 65,
            max: 64
        })
    ));
    // One root, no layers, one query set, then one value too many.
    let mut lookup = roots.clone();
    lookup.extend_from_slice(&0u32.to_le_bytes());
    lookup.extend_from_slice(&1u32.to_le_bytes());
    lookup.extend_from_slice(&17u32.to_le_bytes());
    assert!(matches!(
        from_bytes::<LookupProof>(&lookup),
        Err(DecodeError::TooLong {
            what: "lookup query value count",
            len: 17,
            max: 16
        })
    ));
    // With the count at most 16, the same layout decodes once the values are there.
    let at = lookup.len() - 4;
    lookup[at..].copy_from_slice(&1u32.to_le_bytes());
    lookup.extend_from_slice(&[0; FR_LEN]);
    from_bytes::<LookupProof>(&lookup).unwrap();

    // Dory message count u32::MAX, after a valid VMV message.
    let bytes = to_bytes(&dory().proof);
    let count_at = DORY_VMV_E1 + G1_LEN;
    let mut b = bytes.clone();
    b[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let (result, largest) = largest_allocation(|| from_bytes::<EvaluationProof>(&b));
    assert_eq!(
        result.unwrap_err(),
        DecodeError::TooLong {
            what: "Dory first reduce message count",
            len: u64::from(u32::MAX),
            max: MAX_DORY_ROUNDS
        }
    );
    // Nothing in proportion to the hostile count: the largest allocation is the
    // queue of GT elements read so far, awaiting the batched subgroup check.
    assert!(largest <= 8 * GT_LEN, "largest allocation {largest}");
}

#[test]
fn dory_shape_fields_are_checked() {
    let bytes = to_bytes(&dory().proof);
    let decode = |b: &[u8]| from_bytes::<EvaluationProof>(b).unwrap_err();
    // sigma above 40.
    let mut b = bytes.clone();
    b[1] = 41;
    assert_eq!(
        decode(&b),
        DecodeError::OutOfRange {
            what: "Dory sigma",
            offset: 1,
            value: 41,
            max: 40
        }
    );
    // nu above sigma.
    let mut b = bytes.clone();
    b[0] = 3;
    assert!(matches!(
        decode(&b),
        DecodeError::OutOfRange {
            offset: 0,
            value: 3,
            max: 2,
            ..
        }
    ));
    // Message counts must equal sigma.
    let count_at = DORY_VMV_E1 + G1_LEN;
    let mut b = bytes.clone();
    b[count_at] = 1;
    assert_eq!(
        decode(&b),
        DecodeError::CountMismatch {
            what: "Dory first reduce message count",
            expected: 2,
            actual: 1
        }
    );
    let mut b = bytes.clone();
    b[count_at..count_at + 4].copy_from_slice(&65u32.to_le_bytes());
    assert!(matches!(
        decode(&b),
        DecodeError::TooLong {
            len: 65,
            max: 64,
            ..
        }
    ));
    // A sigma that does not match the messages is a truncation or a mismatch, never a panic.
    let mut b = bytes.clone();
    b[1] = 3;
    assert!(matches!(decode(&b), DecodeError::Truncated { .. }));
    // Final message tag must be 0, 1 or 2 (the hiding mode's fields, which
    // these bytes are too short for).
    let tag_at = bytes.len() - (G1_LEN + G2_LEN) - 1;
    let mut b = bytes.clone();
    b[tag_at] = 3;
    assert_eq!(
        decode(&b),
        DecodeError::BadTag {
            what: "Dory final message tag",
            offset: tag_at,
            tag: 3
        }
    );
    let mut b = bytes.clone();
    b[tag_at] = 2;
    assert!(matches!(decode(&b), DecodeError::Truncated { .. }));
    // Tag 0 with the final message's bytes left over is trailing data.
    let mut b = bytes.clone();
    b[tag_at] = 0;
    assert_eq!(
        decode(&b),
        DecodeError::TrailingBytes {
            offset: tag_at + 1,
            remaining: G1_LEN + G2_LEN
        }
    );
}

// ---------------------------------------------------------------------------
// Fuzzing.

#[test]
fn random_bytes_never_panic() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    let dory_len = to_bytes(&dory().proof).len();
    for i in 0..4000 {
        // Mostly short strings, some as long as a real Dory proof.
        let len = match i % 4 {
            0 => (rng.next_u64() % 16) as usize,
            1 => (rng.next_u64() % 256) as usize,
            2 => (rng.next_u64() % 2048) as usize,
            _ => dory_len,
        };
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        // Small leading counts make the structured decoders go deeper.
        if len >= 4 && i % 3 == 0 {
            bytes[1..4].fill(0);
            bytes[0] %= 4;
        }
        let _ = decode_no_panic::<Fr>(&bytes, "field element");
        let _ = decode_no_panic::<SumcheckProof>(&bytes, "sumcheck");
        let _ = decode_no_panic::<LookupProof>(&bytes, "lookup");
        let _ = decode_no_panic::<Commitment>(&bytes, "commitment");
        if len >= 2 {
            bytes[0] %= 3;
            bytes[1] %= 3;
        }
        let _ = decode_no_panic::<EvaluationProof>(&bytes, "dory");
    }
}

#[test]
fn mutated_sumcheck_and_lookup_proofs_never_panic() {
    let sumcheck = sumcheck_proof(9, 5, 3);
    let decoded = fuzz_mutations(&sumcheck, 10, 5000, "sumcheck");
    // Most single-byte changes to a coefficient leave a valid (different) encoding.
    assert!(
        decoded.len() > 1000,
        "only {} mutants decoded",
        decoded.len()
    );
    let (lookup, _) = lookup_proof();
    let decoded = fuzz_mutations(&lookup, 11, 5000, "lookup");
    assert!(
        decoded.len() > 1000,
        "only {} mutants decoded",
        decoded.len()
    );
}

#[test]
fn mutated_dory_proofs_decode_to_rejected_proofs() {
    let d = dory();
    let mut decoded = fuzz_mutations(&d.proof, 12, 1500, "dory");
    // Every mutation of the shape bytes, and of the final message tag.
    let bytes = to_bytes(&d.proof);
    let tag_at = bytes.len() - (G1_LEN + G2_LEN) - 1;
    for at in [0, 1, tag_at] {
        for value in 0..=255u8 {
            let mut b = bytes.clone();
            b[at] = value;
            if b != bytes {
                if let Ok(p) = decode_no_panic::<EvaluationProof>(&b, "dory") {
                    decoded.push(p);
                }
            }
        }
    }
    // Flipping the sign flag (top bit of the last byte) of any finite G1/G2
    // point negates the point: it still decodes.
    let slots = dory_point_slots(d.proof.sigma);
    assert_eq!(slots.len(), 1 + 6 * d.proof.sigma + 2);
    assert_eq!(slots.last().map(|(at, len)| at + len), Some(bytes.len()));
    for (at, len) in slots {
        if bytes[at + len - 1] & 0x40 != 0 {
            // The point at infinity (flag bit 6) has no sign to flip.
            continue;
        }
        let mut b = bytes.clone();
        b[at + len - 1] ^= 0x80;
        let p = decode_no_panic::<EvaluationProof>(&b, "dory").unwrap();
        assert_ne!(p, d.proof);
        decoded.push(p);
    }
    assert!(decoded.len() > 40, "only {} mutants decoded", decoded.len());
    for (i, proof) in decoded.iter().enumerate() {
        for (layout, point) in [
            (d.layout, d.point.clone()),
            // The layout the proof claims, to reach Dory's own shape checks.
            (
                Layout {
                    nu: proof.nu,
                    sigma: proof.sigma,
                },
                vec![Fr::from(3u64); proof.nu + proof.sigma],
            ),
        ] {
            let result = catch_unwind(AssertUnwindSafe(|| d.verify_as(proof, layout, &point)))
                .unwrap_or_else(|_| {
                    panic!(
                        "pcs::verify panicked on mutant {i}: {}",
                        hex(&to_bytes(proof))
                    )
                });
            assert!(
                result.is_err(),
                "mutant {i} verified: {}",
                hex(&to_bytes(proof))
            );
        }
    }
}

#[test]
fn dory_verifier_rejects_every_shape_without_panicking() {
    // Proofs of every shape the decoder admits near the setup's capacity
    // (σ ≤ 4 > the setup's 3 rounds, any ν ≤ σ, final message present or not),
    // built from the real proof's messages, checked against their own layout.
    let d = dory();
    for sigma in 0..=4usize {
        for nu in 0..=sigma {
            for with_final in [true, false] {
                let mut proof = d.proof.clone();
                proof.nu = nu;
                proof.sigma = sigma;
                proof.first_messages = (0..sigma)
                    .map(|i| d.proof.first_messages[i % 2].clone())
                    .collect();
                proof.second_messages = (0..sigma)
                    .map(|i| d.proof.second_messages[i % 2].clone())
                    .collect();
                if !with_final {
                    proof.final_message = None;
                }
                let proof: EvaluationProof = from_bytes(&assert_round_trip(&proof)).unwrap();
                let layout = Layout { nu, sigma };
                let point = &d.point;
                let point: Vec<Fr> = (0..nu + sigma).map(|i| point[i % point.len()]).collect();
                let result = catch_unwind(AssertUnwindSafe(|| d.verify_as(&proof, layout, &point)))
                    .unwrap_or_else(|_| {
                        panic!("pcs::verify panicked for nu {nu} sigma {sigma} final {with_final}")
                    });
                let honest = (nu, sigma, with_final) == (1, 2, true);
                assert_eq!(
                    result.is_ok(),
                    honest,
                    "nu {nu} sigma {sigma} final {with_final}: {result:?}"
                );
            }
        }
    }
}
