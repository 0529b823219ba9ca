//! The proof-system pieces composed: query values and multiplicities are committed
//! with Dory, their commitments enter the transcript, the LogUp-GKR lookup runs, and
//! its leftover claims are discharged by the batched opening reduction.

use ark_bn254::Fr;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::lookup::{self, Table};
use zkinfer::pcs::reduction::{self, Claim, ProverPoly, VerifierPoly};
use zkinfer::pcs::{self, Commitment, DorySetup, Layout, MultilinearPoly};
use zkinfer::transcript::ProofTranscript;

struct Proof {
    commitments: [Commitment; 2],
    lookup: lookup::LookupProof,
    reduction: reduction::ReductionProof,
}

fn prove(setup: &DorySetup, table: &Table, queries: &[i64], multiplicities: &[u64]) -> Proof {
    let cpu = CpuBackend::global();
    let q_poly = MultilinearPoly::from_small(queries.to_vec()).unwrap();
    let m_poly =
        MultilinearPoly::from_small(multiplicities.iter().map(|&m| m as i64).collect()).unwrap();
    let (cq, hq) = pcs::commit(cpu, &q_poly, Layout::square(q_poly.num_vars()), setup).unwrap();
    let (cm, hm) = pcs::commit(cpu, &m_poly, Layout::square(m_poly.num_vars()), setup).unwrap();
    let mut t = ProofTranscript::new(b"composed");
    t.append_point(b"commitment", &cq.0 .0);
    t.append_point(b"commitment", &cm.0 .0);
    let (lookup_proof, claims) = lookup::prove(
        cpu,
        &mut t,
        table,
        &[vec![q_poly.to_field()]],
        multiplicities,
    )
    .unwrap();
    let opening_claims = vec![
        Claim {
            poly: 0,
            point: claims.query_points[0].clone(),
            value: claims.query_values[0][0],
        },
        Claim {
            poly: 1,
            point: claims.multiplicity_point,
            value: claims.multiplicity_value,
        },
    ];
    let polys = [
        ProverPoly {
            poly: &q_poly,
            commitment: &cq,
            hint: &hq,
        },
        ProverPoly {
            poly: &m_poly,
            commitment: &cm,
            hint: &hm,
        },
    ];
    let reduction = reduction::prove::<CpuBackend>(&mut t, &polys, &opening_claims, setup).unwrap();
    Proof {
        commitments: [cq, cm],
        lookup: lookup_proof,
        reduction,
    }
}

fn verify(
    setup: &DorySetup,
    table: &Table,
    query_vars: usize,
    proof: &Proof,
) -> Result<(), String> {
    let mut t = ProofTranscript::new(b"composed");
    t.append_point(b"commitment", &proof.commitments[0].0 .0);
    t.append_point(b"commitment", &proof.commitments[1].0 .0);
    let claims =
        lookup::verify(&mut t, table, &[query_vars], &proof.lookup).map_err(|e| e.to_string())?;
    let polys = [
        VerifierPoly {
            commitment: proof.commitments[0],
            layout: Layout::square(query_vars),
        },
        VerifierPoly {
            commitment: proof.commitments[1],
            layout: Layout::square(table.num_vars()),
        },
    ];
    let opening_claims = vec![
        Claim {
            poly: 0,
            point: claims.query_points[0].clone(),
            value: claims.query_values[0][0],
        },
        Claim {
            poly: 1,
            point: claims.multiplicity_point,
            value: claims.multiplicity_value,
        },
    ];
    reduction::verify(
        &mut t,
        &polys,
        &opening_claims,
        &proof.reduction,
        &setup.verifier,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn committed_range_check_end_to_end() {
    let setup = DorySetup::derive(pcs::setup::DEFAULT_SEED, 4).unwrap();
    let table = Table::UnsignedRange { bits: 8 };
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let queries: Vec<i64> = (0..64).map(|_| (rng.next_u32() % 256) as i64).collect();
    let m = table
        .multiplicities(std::slice::from_ref(&queries))
        .unwrap();
    let proof = prove(&setup, &table, &queries, &m);
    verify(&setup, &table, 6, &proof).unwrap();

    // Another commitment to the queries (a different witness) breaks the proof.
    let mut other = queries.clone();
    other[0] = (other[0] + 1) % 256;
    let other_proof = prove(
        &setup,
        &table,
        &other,
        &table.multiplicities(&[other.clone()]).unwrap(),
    );
    let mut mixed = prove(&setup, &table, &queries, &m);
    mixed.commitments[0] = other_proof.commitments[0];
    assert!(verify(&setup, &table, 6, &mixed).is_err());

    // Lying about a query value consistently with the leaf check is caught by the
    // opening: shift the claimed value and the lookup's own value together.
    let mut lying = prove(&setup, &table, &queries, &m);
    lying.lookup.query_values[0][0] += Fr::from(1u64);
    assert!(verify(&setup, &table, 6, &lying).is_err());
}
