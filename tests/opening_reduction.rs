//! Batched opening reduction: many claims on committed polynomials of different
//! sizes and layouts, one Dory opening per column count.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_std::UniformRand;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::pcs::reduction::{self, Claim, ProverPoly, ReductionError, VerifierPoly};
use zkinfer::pcs::{self, Commitment, CommitmentHint, DorySetup, Layout, MultilinearPoly};
use zkinfer::transcript::ProofTranscript;

fn setup() -> &'static DorySetup {
    static SETUP: OnceLock<DorySetup> = OnceLock::new();
    SETUP.get_or_init(|| DorySetup::derive(pcs::setup::DEFAULT_SEED, 4).unwrap())
}

struct Instance {
    polys: Vec<MultilinearPoly>,
    committed: Vec<(Commitment, CommitmentHint)>,
    claims: Vec<Claim>,
}

fn instance(seed: u64) -> Instance {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let cpu = CpuBackend::global();
    // (num_vars, layout): two polys share the square 2^4 layout, one 2^4 is wide.
    let shapes = [
        Layout::square(4),
        Layout::square(4),
        Layout::square(6),
        Layout::square(2),
        Layout::with_rows(4, 1).unwrap(),
        Layout::square(0),
    ];
    let polys: Vec<MultilinearPoly> = shapes
        .iter()
        .map(|l| {
            MultilinearPoly::from_small(
                (0..l.len())
                    .map(|_| (rng.next_u32() % 512) as i64 - 256)
                    .collect(),
            )
            .unwrap()
        })
        .collect();
    let committed: Vec<(Commitment, CommitmentHint)> = polys
        .iter()
        .zip(&shapes)
        .map(|(p, l)| pcs::commit(cpu, p, *l, setup()).unwrap())
        .collect();
    let mut claims = Vec::new();
    for (poly, count) in [(0, 2), (1, 1), (2, 2), (3, 1), (4, 1), (5, 1)] {
        for _ in 0..count {
            let point: Vec<Fr> = (0..polys[poly].num_vars())
                .map(|_| Fr::rand(&mut rng))
                .collect();
            let value = polys[poly].evaluate(cpu, &point).unwrap();
            claims.push(Claim { poly, point, value });
        }
    }
    Instance {
        polys,
        committed,
        claims,
    }
}

fn prove(inst: &Instance) -> reduction::ReductionProof {
    let provers: Vec<ProverPoly> = inst
        .polys
        .iter()
        .zip(&inst.committed)
        .map(|(poly, (commitment, hint))| ProverPoly {
            poly,
            commitment,
            hint,
        })
        .collect();
    reduction::prove::<CpuBackend>(
        &mut ProofTranscript::new(b"reduction-test"),
        &provers,
        &inst.claims,
        setup(),
    )
    .unwrap()
}

fn verifier_polys(inst: &Instance) -> Vec<VerifierPoly> {
    inst.committed
        .iter()
        .map(|(commitment, hint)| VerifierPoly {
            commitment: *commitment,
            layout: hint.layout,
        })
        .collect()
}

fn verify(
    polys: &[VerifierPoly],
    claims: &[Claim],
    proof: &reduction::ReductionProof,
) -> Result<(), ReductionError> {
    reduction::verify(
        &mut ProofTranscript::new(b"reduction-test"),
        polys,
        claims,
        proof,
        &setup().verifier,
    )
}

#[test]
fn honest_reduction_verifies_with_one_opening_per_layout() {
    let inst = instance(1);
    let proof = prove(&inst);
    // Groups by column count: σ = 2 (polys 0, 1), σ = 3 (the square 2^6 and the
    // wide 2^4, whose 2 rows are zero-extended to 8), σ = 1 and σ = 0.
    assert_eq!(proof.openings.len(), 4);
    assert_eq!(proof.values.len(), 6);
    verify(&verifier_polys(&inst), &inst.claims, &proof).unwrap();
}

#[test]
fn wrong_opening_value_is_rejected() {
    let inst = instance(2);
    let proof = prove(&inst);
    let polys = verifier_polys(&inst);
    for i in 0..inst.claims.len() {
        let mut claims = inst.claims.clone();
        claims[i].value += Fr::from(1u64);
        assert!(
            verify(&polys, &claims, &proof).is_err(),
            "claim {i} with a wrong value accepted"
        );
    }
    // The prover refuses to prove a false claim.
    let mut bad = instance(2);
    bad.claims[3].value += Fr::from(1u64);
    let provers: Vec<ProverPoly> = bad
        .polys
        .iter()
        .zip(&bad.committed)
        .map(|(poly, (commitment, hint))| ProverPoly {
            poly,
            commitment,
            hint,
        })
        .collect();
    let err = reduction::prove::<CpuBackend>(
        &mut ProofTranscript::new(b"reduction-test"),
        &provers,
        &bad.claims,
        setup(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ReductionError::FalseClaim { claim: 3 }),
        "{err}"
    );
}

#[test]
fn commitment_swapped_between_polynomials_is_rejected() {
    let inst = instance(3);
    let proof = prove(&inst);
    let mut polys = verifier_polys(&inst);
    polys.swap(0, 1); // same layout, different polynomials
    assert!(verify(&polys, &inst.claims, &proof).is_err());
}

#[test]
fn tampered_values_and_openings_are_rejected() {
    let inst = instance(4);
    let proof = prove(&inst);
    let polys = verifier_polys(&inst);
    for k in 0..proof.values.len() {
        let mut bad = proof.clone();
        bad.values[k] += Fr::from(1u64);
        assert!(matches!(
            verify(&polys, &inst.claims, &bad),
            Err(ReductionError::FinalMismatch)
        ));
    }
    let mut bad = proof.clone();
    bad.sumcheck.rounds[0].0[1] += Fr::from(1u64);
    assert!(verify(&polys, &inst.claims, &bad).is_err());
    let mut bad = proof.clone();
    bad.openings.swap(0, 3);
    assert!(verify(&polys, &inst.claims, &bad).is_err());
    let mut bad = proof.clone();
    bad.openings.pop();
    assert!(matches!(
        verify(&polys, &inst.claims, &bad),
        Err(ReductionError::Shape(_))
    ));
}

#[test]
fn malformed_claims_are_typed_errors() {
    let inst = instance(5);
    let proof = prove(&inst);
    let polys = verifier_polys(&inst);
    let mut claims = inst.claims.clone();
    claims[0].poly = 99;
    assert!(matches!(
        verify(&polys, &claims, &proof),
        Err(ReductionError::UnknownPoly { .. })
    ));
    let mut claims = inst.claims.clone();
    claims[0].point.pop();
    assert!(matches!(
        verify(&polys, &claims, &proof),
        Err(ReductionError::PointLength { .. })
    ));
    assert!(matches!(
        verify(&polys, &[], &proof),
        Err(ReductionError::NoClaims)
    ));
}
