//! Dory through zkinfer's backend: commit / open / verify round trips for square
//! and non-square layouts from 2^4 to 2^16 values, small-integer and field
//! values, and the rejections a commitment scheme must make.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_std::UniformRand;
use dory_pcs::backends::arkworks::{ArkFr, ArkGT, Blake2bTranscript, BN254};
use dory_pcs::primitives::arithmetic::Group;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::pcs::{self, Commitment, DorySetup, Layout, MultilinearPoly, PcsError};

/// Largest column count the tests use: 2^11 (layout 2^5 x 2^11).
const LOG_GENERATORS: usize = 11;

fn setup() -> &'static DorySetup {
    static SETUP: OnceLock<DorySetup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join("zkinfer-test-cache");
        DorySetup::load_or_derive(pcs::setup::DEFAULT_SEED, LOG_GENERATORS, &dir).unwrap()
    })
}

fn transcript() -> Blake2bTranscript<BN254> {
    Blake2bTranscript::new(b"zkinfer-pcs-test")
}

fn small_poly(rng: &mut ChaCha20Rng, num_vars: usize, bits: u32) -> MultilinearPoly {
    use rand_chacha::rand_core::RngCore;
    let half = 1i64 << (bits - 1);
    let values = (0..1usize << num_vars)
        .map(|_| (rng.next_u64() % (2 * half as u64)) as i64 - half)
        .collect();
    MultilinearPoly::from_small(values).unwrap()
}

fn random_point(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

fn round_trip(poly: &MultilinearPoly, layout: Layout, rng: &mut ChaCha20Rng) {
    let setup = setup();
    let cpu = CpuBackend::global();
    let (commitment, hint) = pcs::commit(cpu, poly, layout, setup).unwrap();
    let point = random_point(rng, layout.num_vars());
    let (value, proof) =
        pcs::open::<CpuBackend, _>(poly, &commitment, &hint, &point, setup, &mut transcript())
            .unwrap();
    // The value is the polynomial's evaluation, computed independently.
    let expected: Fr = (0..poly.len())
        .map(|i| {
            let weight: Fr = (0..layout.num_vars())
                .map(|j| {
                    if i >> j & 1 == 1 {
                        point[j]
                    } else {
                        Fr::from(1u64) - point[j]
                    }
                })
                .product();
            weight * poly.value(i)
        })
        .sum();
    assert_eq!(value, expected, "opening value for layout {layout:?}");
    pcs::verify(
        &commitment,
        layout,
        &point,
        &value,
        &proof,
        &setup.verifier,
        &mut transcript(),
    )
    .unwrap_or_else(|e| panic!("honest proof rejected for {layout:?}: {e}"));
    // A wrong value is rejected.
    let wrong = value + Fr::from(1u64);
    assert!(pcs::verify(
        &commitment,
        layout,
        &point,
        &wrong,
        &proof,
        &setup.verifier,
        &mut transcript()
    )
    .is_err());
    // A different point is rejected.
    let mut other_point = point.clone();
    other_point[0] += Fr::from(1u64);
    assert!(pcs::verify(
        &commitment,
        layout,
        &other_point,
        &value,
        &proof,
        &setup.verifier,
        &mut transcript()
    )
    .is_err());
}

#[test]
fn square_layouts_small_values() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for num_vars in [4, 5, 8, 11, 16] {
        let poly = small_poly(&mut rng, num_vars, 8);
        round_trip(&poly, Layout::square(num_vars), &mut rng);
    }
}

#[test]
fn non_square_layouts() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for (num_vars, nu) in [(4, 0), (4, 1), (10, 3), (16, 5)] {
        let poly = small_poly(&mut rng, num_vars, 16);
        round_trip(&poly, Layout::with_rows(num_vars, nu).unwrap(), &mut rng);
    }
}

#[test]
fn field_values_and_extreme_small_values() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let field =
        MultilinearPoly::from_field((0..1 << 8).map(|_| Fr::rand(&mut rng)).collect()).unwrap();
    round_trip(&field, Layout::square(8), &mut rng);
    let mut extremes = vec![0i64; 1 << 6];
    extremes[0] = i64::MIN;
    extremes[1] = i64::MAX;
    extremes[2] = -1;
    extremes[5] = 1 << 40;
    let poly = MultilinearPoly::from_small(extremes).unwrap();
    round_trip(&poly, Layout::square(6), &mut rng);
}

/// The small-integer and field paths commit to the same thing, and the commitment
/// equals dory_pcs's own reference commitment over the same generators.
#[test]
fn small_and_field_commitments_agree_with_dory() {
    use dory_pcs::backends::arkworks::{ArkworksPolynomial, G1Routines};
    use dory_pcs::Polynomial;
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let setup = setup();
    let cpu = CpuBackend::global();
    for (num_vars, layout) in [
        (8, Layout::square(8)),
        (10, Layout::with_rows(10, 2).unwrap()),
    ] {
        let small = small_poly(&mut rng, num_vars, 12);
        let field = MultilinearPoly::from_field(small.to_field()).unwrap();
        let (a, _) = pcs::commit(cpu, &small, layout, setup).unwrap();
        let (b, _) = pcs::commit(cpu, &field, layout, setup).unwrap();
        assert_eq!(a, b);
        let reference = ArkworksPolynomial::new(small.to_field().into_iter().map(ArkFr).collect());
        let (c, _, _) = reference
            .commit::<BN254, dory_pcs::Transparent, G1Routines>(
                layout.nu,
                layout.sigma,
                &setup.prover,
            )
            .unwrap();
        assert_eq!(
            a.0, c,
            "zkinfer and dory_pcs commitments differ for {layout:?}"
        );
        // Dory's generic Polynomial::commit on zkinfer's type gives the same result.
        let view = pcs::OnBackend {
            poly: &small,
            backend: cpu,
        };
        let (d, rows, _) = view
            .commit::<BN254, dory_pcs::Transparent, G1Routines>(
                layout.nu,
                layout.sigma,
                &setup.prover,
            )
            .unwrap();
        assert_eq!(a.0, d);
        assert_eq!(rows.len(), 1 << layout.nu);
    }
}

#[test]
fn commitment_swapped_between_polynomials_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let setup = setup();
    let cpu = CpuBackend::global();
    let layout = Layout::square(8);
    let p = small_poly(&mut rng, 8, 8);
    let q = small_poly(&mut rng, 8, 8);
    let (cp, hp) = pcs::commit(cpu, &p, layout, setup).unwrap();
    let (cq, _) = pcs::commit(cpu, &q, layout, setup).unwrap();
    let point = random_point(&mut rng, 8);
    let (value, proof) =
        pcs::open::<CpuBackend, _>(&p, &cp, &hp, &point, setup, &mut transcript()).unwrap();
    let verify = |c: &Commitment| {
        pcs::verify(
            c,
            layout,
            &point,
            &value,
            &proof,
            &setup.verifier,
            &mut transcript(),
        )
    };
    assert!(verify(&cp).is_ok());
    assert!(
        verify(&cq).is_err(),
        "proof for p verified against q's commitment"
    );
    // A commitment shifted by a group element is rejected too.
    let shifted = Commitment(cp.0 + ArkGT::random());
    assert!(verify(&shifted).is_err());
    // A proof checked under another layout is refused before any pairing.
    let err = pcs::verify(
        &cp,
        Layout::with_rows(8, 2).unwrap(),
        &point,
        &value,
        &proof,
        &setup.verifier,
        &mut transcript(),
    )
    .unwrap_err();
    assert!(matches!(err, PcsError::ProofLayout { .. }), "{err}");
}

#[test]
fn homomorphic_combination_opens() {
    // Com(p) + γ·Com(q) opens to p(r) + γ·q(r): the basis of batched openings.
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let setup = setup();
    let cpu = CpuBackend::global();
    let layout = Layout::square(6);
    let p = small_poly(&mut rng, 6, 8);
    let q = small_poly(&mut rng, 6, 8);
    let gamma = Fr::rand(&mut rng);
    let (cp, hp) = pcs::commit(cpu, &p, layout, setup).unwrap();
    let (cq, hq) = pcs::commit(cpu, &q, layout, setup).unwrap();
    let combined_values: Vec<Fr> = p
        .to_field()
        .iter()
        .zip(q.to_field())
        .map(|(a, b)| *a + gamma * b)
        .collect();
    let combined = MultilinearPoly::from_field(combined_values).unwrap();
    let commitment = Commitment(cp.0 + cq.0.scale(&ArkFr(gamma)));
    let hint = pcs::CommitmentHint {
        layout,
        rows: hp
            .rows
            .iter()
            .zip(&hq.rows)
            .map(|(a, b)| *a + b.scale(&ArkFr(gamma)))
            .collect(),
    };
    let point = random_point(&mut rng, 6);
    let (value, proof) = pcs::open::<CpuBackend, _>(
        &combined,
        &commitment,
        &hint,
        &point,
        setup,
        &mut transcript(),
    )
    .unwrap();
    let vp = p.evaluate(cpu, &point).unwrap();
    let vq = q.evaluate(cpu, &point).unwrap();
    assert_eq!(value, vp + gamma * vq);
    pcs::verify(
        &commitment,
        layout,
        &point,
        &value,
        &proof,
        &setup.verifier,
        &mut transcript(),
    )
    .unwrap();
}

#[test]
fn bad_arguments_are_typed_errors() {
    let setup = setup();
    let cpu = CpuBackend::global();
    assert!(matches!(
        MultilinearPoly::from_small(vec![1, 2, 3]),
        Err(PcsError::NotPowerOfTwo { len: 3 })
    ));
    assert!(matches!(
        Layout::with_rows(8, 5),
        Err(PcsError::BadLayout { .. })
    ));
    let poly = MultilinearPoly::from_small(vec![1; 16]).unwrap();
    assert!(matches!(
        pcs::commit(cpu, &poly, Layout::square(6), setup),
        Err(PcsError::LayoutMismatch { .. })
    ));
    let big = MultilinearPoly::from_small(vec![1; 1 << 12]).unwrap();
    assert!(matches!(
        pcs::commit(cpu, &big, Layout::with_rows(12, 0).unwrap(), setup),
        Err(PcsError::SetupTooSmall { .. })
    ));
    let (c, h) = pcs::commit(cpu, &poly, Layout::square(4), setup).unwrap();
    assert!(matches!(
        pcs::open::<CpuBackend, _>(
            &poly,
            &c,
            &h,
            &[Fr::from(1u64); 3],
            setup,
            &mut transcript()
        ),
        Err(PcsError::PointLength { .. })
    ));
}

/// zkinfer's Dory prover makes exactly the proof `dory_pcs::prove` makes (with
/// dory-pcs's own arkworks routines and polynomial type), for the same statement
/// and transcript, and dory-pcs's verifier accepts it; square, non-square,
/// single-row and single-entry layouts, small and field values.
#[test]
fn own_prover_matches_dory_pcs_byte_for_byte() {
    use ark_serialize::CanonicalSerialize;
    use dory_pcs::backends::arkworks::{ArkG1, ArkworksPolynomial, G1Routines, G2Routines};
    use dory_pcs::primitives::transcript::Transcript;
    let setup = setup();
    let cpu = CpuBackend::global();
    let mut rng = ChaCha20Rng::seed_from_u64(0xd0e1);
    let cases = [
        (0, 0),
        (0, 1),
        (1, 1),
        (0, 3),
        (2, 3),
        (3, 3),
        (3, 7),
        (5, 6),
    ];
    let mut profile = pcs::OpenProfile::default();
    for (i, &(nu, sigma)) in cases.iter().enumerate() {
        let layout = Layout { nu, sigma };
        let poly = if i % 2 == 0 {
            small_poly(&mut rng, nu + sigma, 8)
        } else {
            MultilinearPoly::from_field(
                (0..1usize << (nu + sigma))
                    .map(|_| Fr::rand(&mut rng))
                    .collect(),
            )
            .unwrap()
        };
        let (commitment, hint) = pcs::commit(cpu, &poly, layout, setup).unwrap();
        let point = random_point(&mut rng, nu + sigma);
        let mut ours_transcript = transcript();
        let ours = pcs::prover::prove(
            cpu,
            &poly,
            &point,
            &hint,
            setup,
            &mut ours_transcript,
            if i % 3 == 0 { Some(&mut profile) } else { None },
        )
        .unwrap();
        let reference = ArkworksPolynomial::new(poly.to_field().into_iter().map(ArkFr).collect());
        let ark_point: Vec<ArkFr> = point.iter().map(|p| ArkFr(*p)).collect();
        let mut theirs_transcript = transcript();
        let (theirs, _) =
            dory_pcs::prove::<_, BN254, G1Routines, G2Routines, _, _, dory_pcs::Transparent>(
                &reference,
                &ark_point,
                hint.rows.iter().map(|r| ArkG1(r.0)).collect(),
                ArkFr(Fr::from(0u64)),
                nu,
                sigma,
                &setup.prover,
                &mut theirs_transcript,
            )
            .unwrap();
        let bytes = |p: &pcs::EvaluationProof| {
            let mut out = Vec::new();
            p.serialize_compressed(&mut out).unwrap();
            out
        };
        assert_eq!(bytes(&ours), bytes(&theirs), "layout {layout:?}");
        assert_eq!(ours, theirs, "layout {layout:?}");
        // Both transcripts end in the same state.
        assert_eq!(
            ours_transcript.challenge_scalar(b"after"),
            theirs_transcript.challenge_scalar(b"after")
        );
        let value = poly.evaluate(cpu, &point).unwrap();
        dory_pcs::verify::<_, BN254, G1Routines, G2Routines, _>(
            commitment.0,
            ArkFr(value),
            &ark_point,
            &ours,
            setup.verifier.clone(),
            &mut transcript(),
        )
        .unwrap_or_else(|e| panic!("dory-pcs rejects our proof for {layout:?}: {e}"));
        assert!(dory_pcs::verify::<_, BN254, G1Routines, G2Routines, _>(
            commitment.0,
            ArkFr(value + Fr::from(1u64)),
            &ark_point,
            &ours,
            setup.verifier.clone(),
            &mut transcript(),
        )
        .is_err());
    }
}
