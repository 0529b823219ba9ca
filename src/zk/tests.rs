//! Tests of the zero-knowledge layer: completeness, rejection of every tampered
//! element, a simulator on the interactive protocol, and a statistical
//! witness-independence test that must fail when masking is switched off.

use ark_bn254::{Fr, G1Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, One, Zero};

use ark_std::UniformRand;
use blake2::{Blake2b512, Digest};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::pedersen::SeededBlinds;
use super::sumcheck::{self, ZkProverOutput};
use super::*;
use crate::backend::CpuBackend;
use crate::backend::{Backend, ProductTerm};
use crate::encoding::{from_bytes, to_bytes, Writer};
use crate::sumcheck::{eq_eval, Expression};

/// A verifier whose challenges are fixed in advance (the interactive protocol
/// with an honest verifier's coins): absorbs nothing, answers in order.
struct Scripted {
    challenges: Vec<Fr>,
    next: usize,
}

impl Scripted {
    fn new(challenges: Vec<Fr>) -> Self {
        Scripted {
            challenges,
            next: 0,
        }
    }
}

impl Challenger for Scripted {
    fn absorb_point(&mut self, _: &'static [u8], _: &G1Affine) {}
    fn absorb_points(&mut self, _: &'static [u8], _: &[G1Affine]) {}
    fn absorb_u64(&mut self, _: &'static [u8], _: u64) {}
    fn challenge(&mut self, _: &'static [u8]) -> Fr {
        let c = self.challenges[self.next];
        self.next += 1;
        c
    }
}

/// Blinds that are all zero: masking switched off.
pub(super) struct NoBlinds;

impl BlindSource for NoBlinds {
    fn blind(&mut self) -> Fr {
        Fr::zero()
    }
}

fn transcript() -> ProofTranscript {
    ProofTranscript::new(b"zkinfer/zk-tests")
}

fn random_vec(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

/// `eq(p, x)·a(x)·b(x)`: the zero-check shape of the element-wise ops, with eq public.
fn eq_product() -> Expression {
    Expression::product(3).unwrap()
}

fn sum_of(expr: &Expression, mles: &[Vec<Fr>]) -> Fr {
    (0..mles[0].len())
        .map(|i| expr.evaluate(&mles.iter().map(|m| m[i]).collect::<Vec<_>>()))
        .sum()
}

struct Instance {
    expr: Expression,
    mles: Vec<Vec<Fr>>,
    public: Vec<bool>,
    eq_point: Option<Vec<Fr>>,
}

impl Instance {
    /// eq(p,x)·a·b over `vars` variables, eq public.
    fn zero_check(rng: &mut ChaCha20Rng, vars: usize) -> Self {
        let p = random_vec(rng, vars);
        let eq = CpuBackend::global().eq_table(&p).unwrap();
        let n = 1 << vars;
        Instance {
            expr: eq_product(),
            mles: vec![eq, random_vec(rng, n), random_vec(rng, n)],
            public: vec![true, false, false],
            eq_point: Some(p),
        }
    }

    /// 3·a·b·c + 5·a·a − b + 7 (private only: products chained, a square, a
    /// linear term and a constant term).
    fn mixed(rng: &mut ChaCha20Rng, vars: usize) -> Self {
        let n = 1 << vars;
        let terms = vec![
            ProductTerm {
                coeff: Fr::from(3u64),
                factors: vec![0, 1, 2],
            },
            ProductTerm {
                coeff: Fr::from(5u64),
                factors: vec![0, 0],
            },
            ProductTerm {
                coeff: -Fr::one(),
                factors: vec![1],
            },
            ProductTerm {
                coeff: Fr::from(7u64),
                factors: vec![],
            },
        ];
        Instance {
            expr: Expression::new(3, terms).unwrap(),
            mles: (0..3).map(|_| random_vec(rng, n)).collect(),
            public: vec![false; 3],
            eq_point: None,
        }
    }

    fn sum(&self) -> Fr {
        sum_of(&self.expr, &self.mles)
    }

    fn prove(
        &self,
        ch: &mut impl Challenger,
        claim: Opening,
        blinds: &mut dyn BlindSource,
    ) -> ZkProverOutput {
        sumcheck::prove(
            CpuBackend::global(),
            ch,
            PedersenGens::dory(),
            claim,
            self.mles.clone(),
            &self.expr,
            &self.public,
            blinds,
        )
        .unwrap()
    }

    fn public_at(&self, rho: &[Fr]) -> Vec<Option<Fr>> {
        self.public
            .iter()
            .enumerate()
            .map(|(j, &p)| {
                p.then(|| eq_eval(self.eq_point.as_ref().expect("only eq is public"), rho))
                    .filter(|_| j == 0)
            })
            .collect()
    }

    fn verify(
        &self,
        ch: &mut impl Challenger,
        claim: &G1Affine,
        proof: &ZkSumcheckProof,
    ) -> Result<(Vec<Fr>, Vec<G1Affine>), ZkSumcheckError> {
        let vars = self.mles[0].len().trailing_zeros() as usize;
        sumcheck::verify(
            ch,
            PedersenGens::dory(),
            claim,
            vars,
            &self.expr,
            proof,
            |rho| self.public_at(rho),
        )
    }
}

fn commit(o: Opening) -> G1Affine {
    PedersenGens::dory().commit_opening(o).into_affine()
}

#[test]
fn sigma_proofs_accept_true_statements_and_reject_false_ones() {
    let gens = PedersenGens::dory();
    let mut blinds = SeededBlinds::new(1);
    let x = Opening::new(Fr::from(6u64), blinds.blind());
    let y = Opening::new(Fr::from(7u64), blinds.blind());
    let z = Opening::new(Fr::from(42u64), blinds.blind());
    let (xc, yc, zc) = (commit(x), commit(y), commit(z));
    let proof = ProductProof::prove(
        &mut transcript(),
        gens,
        [&xc, &yc, &zc],
        [x, y, z],
        &mut blinds,
    );
    proof
        .verify(&mut transcript(), gens, [&xc, &yc, &zc])
        .unwrap();
    // A false product (x·y ≠ 43) proven by the honest algorithm is rejected.
    let wrong = Opening::new(Fr::from(43u64), blinds.blind());
    let wc = commit(wrong);
    let bad = ProductProof::prove(
        &mut transcript(),
        gens,
        [&xc, &yc, &wc],
        [x, y, wrong],
        &mut blinds,
    );
    assert!(bad
        .verify(&mut transcript(), gens, [&xc, &yc, &wc])
        .is_err());
    // The honest proof for other statements is rejected.
    assert!(proof
        .verify(&mut transcript(), gens, [&yc, &xc, &zc])
        .is_err());

    let zero = Opening::new(Fr::zero(), blinds.blind());
    let zc0 = commit(zero);
    let proof = ZeroProof::prove(&mut transcript(), gens, &zc0, zero, &mut blinds);
    proof.verify(&mut transcript(), gens, &zc0).unwrap();
    let one = Opening::new(Fr::one(), zero.blind);
    let oc = commit(one);
    let forged = ZeroProof::prove(
        &mut transcript(),
        gens,
        &oc,
        Opening::new(Fr::zero(), one.blind),
        &mut blinds,
    );
    assert!(forged.verify(&mut transcript(), gens, &oc).is_err());
}

#[test]
fn zk_sumchecks_prove_verify_and_round_trip() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut blinds = SeededBlinds::new(4);
    for vars in [1usize, 3, 5] {
        for inst in [
            Instance::zero_check(&mut rng, vars),
            Instance::mixed(&mut rng, vars),
        ] {
            let claim = Opening::new(inst.sum(), blinds.blind());
            let out = inst.prove(&mut transcript(), claim, &mut blinds);
            let bytes = to_bytes(&out.proof);
            let decoded: ZkSumcheckProof = from_bytes(&bytes).unwrap();
            assert_eq!(decoded, out.proof);
            let (rho, evals) = inst
                .verify(&mut transcript(), &commit(claim), &decoded)
                .unwrap();
            assert_eq!(rho, out.point);
            // The committed values are the private MLEs' values at ρ.
            let eqr = CpuBackend::global().eq_table(&rho).unwrap();
            let private: Vec<usize> = (0..inst.public.len())
                .filter(|&j| !inst.public[j])
                .collect();
            assert_eq!(evals.len(), private.len());
            for ((j, c), o) in private.iter().zip(&evals).zip(&out.private_evals) {
                let v = CpuBackend::global()
                    .inner_product(&eqr, &inst.mles[*j])
                    .unwrap();
                assert_eq!(o.value, v);
                assert_eq!(commit(*o), *c);
            }
        }
    }
}

#[test]
fn a_wrong_claim_is_refused_by_the_prover_and_rejected_by_the_verifier() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut blinds = SeededBlinds::new(6);
    let inst = Instance::zero_check(&mut rng, 3);
    let wrong = Opening::new(inst.sum() + Fr::one(), blinds.blind());
    assert!(sumcheck::prove(
        CpuBackend::global(),
        &mut transcript(),
        PedersenGens::dory(),
        wrong,
        inst.mles.clone(),
        &inst.expr,
        &inst.public,
        &mut blinds,
    )
    .is_err());
    // A valid proof checked against another claim's commitment.
    let claim = Opening::new(inst.sum(), blinds.blind());
    let out = inst.prove(&mut transcript(), claim, &mut blinds);
    let other = commit(Opening::new(claim.value + Fr::one(), claim.blind));
    assert!(inst.verify(&mut transcript(), &other, &out.proof).is_err());
    let reblinded = commit(Opening::new(claim.value, claim.blind + Fr::one()));
    assert!(inst
        .verify(&mut transcript(), &reblinded, &out.proof)
        .is_err());
}

/// Every group element and scalar of a proof, as a mutable reference list.
fn mutate_each(proof: &ZkSumcheckProof, mut check: impl FnMut(ZkSumcheckProof, String)) {
    let bump_point =
        |p: &mut G1Affine| *p = (p.into_group() + PedersenGens::dory().g).into_affine();
    for r in 0..proof.rounds.rounds.len() {
        for k in 0..proof.rounds.rounds[r].0.len() {
            let mut m = proof.clone();
            bump_point(&mut m.rounds.rounds[r].0[k]);
            check(m, format!("round {r} commitment {k}"));
        }
    }
    for k in 0..proof.last.evals.len() {
        let mut m = proof.clone();
        bump_point(&mut m.last.evals[k]);
        check(m, format!("committed value {k}"));
    }
    for k in 0..proof.last.products.len() {
        let mut m = proof.clone();
        bump_point(&mut m.last.products[k].0);
        check(m, format!("product {k} commitment"));
        for (name, f) in [("alpha", 0usize), ("beta", 1), ("delta", 2)] {
            let mut m = proof.clone();
            let p = &mut m.last.products[k].1;
            bump_point([&mut p.alpha, &mut p.beta, &mut p.delta][f]);
            check(m, format!("product {k} {name}"));
        }
        for i in 0..5 {
            let mut m = proof.clone();
            m.last.products[k].1.z[i] += Fr::one();
            check(m, format!("product {k} response {i}"));
        }
    }
    let mut m = proof.clone();
    bump_point(&mut m.last.zero.a);
    check(m, "zero proof first message".into());
    let mut m = proof.clone();
    m.last.zero.z += Fr::one();
    check(m, "zero proof response".into());
}

#[test]
fn every_tampered_element_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut blinds = SeededBlinds::new(8);
    for inst in [
        Instance::zero_check(&mut rng, 3),
        Instance::mixed(&mut rng, 2),
    ] {
        let claim = Opening::new(inst.sum(), blinds.blind());
        let out = inst.prove(&mut transcript(), claim, &mut blinds);
        let claim_c = commit(claim);
        inst.verify(&mut transcript(), &claim_c, &out.proof)
            .unwrap();
        let mut count = 0;
        mutate_each(&out.proof, |m, what| {
            count += 1;
            assert!(
                inst.verify(&mut transcript(), &claim_c, &m).is_err(),
                "tampered {what} accepted"
            );
        });
        assert!(count > 10);
        // Shapes: a missing round, a missing value, a missing product.
        let mut m = out.proof.clone();
        m.rounds.rounds.pop();
        assert!(inst.verify(&mut transcript(), &claim_c, &m).is_err());
        let mut m = out.proof.clone();
        m.last.evals.pop();
        assert!(inst.verify(&mut transcript(), &claim_c, &m).is_err());
        let mut m = out.proof.clone();
        m.last.products.pop();
        assert!(inst.verify(&mut transcript(), &claim_c, &m).is_err());
        // Every truncation of the encoding is a decode error, never a panic.
        let bytes = to_bytes(&out.proof);
        for cut in 0..bytes.len() {
            assert!(from_bytes::<ZkSumcheckProof>(&bytes[..cut]).is_err());
        }
    }
}

/// The challenges a run of the protocol draws: `vars` rounds, one per product
/// proof, one for the proof of zero.
fn scripted_challenges(rng: &mut ChaCha20Rng, inst: &Instance) -> Vec<Fr> {
    let vars = inst.mles[0].len().trailing_zeros() as usize;
    let products: usize = inst
        .expr
        .terms()
        .iter()
        .map(|t| {
            t.factors
                .iter()
                .filter(|&&f| !inst.public[f])
                .count()
                .saturating_sub(1)
        })
        .sum();
    random_vec(rng, vars + products + 1)
}

#[test]
fn a_simulator_without_the_witness_produces_accepting_transcripts() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut blinds = SeededBlinds::new(10);
    for inst in [
        Instance::zero_check(&mut rng, 3),
        Instance::mixed(&mut rng, 3),
    ] {
        let claim_c = commit(Opening::new(inst.sum(), blinds.blind()));
        let challenges = scripted_challenges(&mut rng, &inst);
        let vars = inst.mles[0].len().trailing_zeros() as usize;
        // The simulator sees the statement and the verifier's coins, not the MLEs.
        let public_at = |rho: &[Fr]| inst.public_at(rho);
        let simulated = sumcheck::simulate(
            PedersenGens::dory(),
            &claim_c,
            vars,
            &inst.expr,
            &challenges,
            public_at,
            &mut blinds,
        );
        inst.verify(&mut Scripted::new(challenges.clone()), &claim_c, &simulated)
            .expect("the simulated transcript verifies");
        // And it is not a trivial acceptance: the same verifier with other
        // coins rejects it.
        let mut other = challenges.clone();
        other[0] += Fr::one();
        assert!(inst
            .verify(&mut Scripted::new(other), &claim_c, &simulated)
            .is_err());
    }
}

/// Bucket (of 16) of a proof element's encoding.
fn bucket(bytes: &[u8]) -> usize {
    (Blake2b512::digest(bytes)[0] & 15) as usize
}

/// Every element of a proof, encoded, in a fixed order.
fn point_bytes(p: &G1Affine) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_g1(p);
    w.into_bytes()
}

fn scalar_bytes(z: &Fr) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_fr(z);
    w.into_bytes()
}

fn fields(proof: &ZkSumcheckProof) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let point = point_bytes;
    let scalar = scalar_bytes;
    for r in &proof.rounds.rounds {
        out.extend(r.0.iter().map(point));
    }
    out.extend(proof.last.evals.iter().map(point));
    for (c, p) in &proof.last.products {
        out.push(point(c));
        out.extend([&p.alpha, &p.beta, &p.delta].into_iter().map(point));
        out.extend(p.z.iter().map(scalar));
    }
    out.push(point(&proof.last.zero.a));
    out.push(scalar(&proof.last.zero.z));
    out
}

/// Largest two-sample χ² statistic (15 degrees of freedom) over the proof's
/// elements between `samples` proofs of witness A and of witness B, which have
/// the same statement (the same committed claim and the same public eq).
fn witness_independence_statistic(mut blinds: impl FnMut(u64) -> Box<dyn BlindSource>) -> f64 {
    const SAMPLES: u64 = 256;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let a = Instance::zero_check(&mut rng, 3);
    // Witness B: other MLEs with the same sum.
    let mut b = Instance {
        expr: eq_product(),
        mles: vec![
            a.mles[0].clone(),
            random_vec(&mut rng, 8),
            random_vec(&mut rng, 8),
        ],
        public: a.public.clone(),
        eq_point: a.eq_point.clone(),
    };
    let others: Fr = (1..8)
        .map(|i| b.mles[0][i] * b.mles[1][i] * b.mles[2][i])
        .sum();
    b.mles[2][0] = (a.sum() - others) * (b.mles[0][0] * b.mles[1][0]).inverse().unwrap();
    assert_eq!(a.sum(), b.sum());
    assert_ne!(a.mles[1], b.mles[1]);
    let claim_blind = Fr::from(12345u64);
    let claim = Opening::new(a.sum(), claim_blind);
    let mut counts = Counts::new();
    for (w, inst) in [&a, &b].into_iter().enumerate() {
        for s in 0..SAMPLES {
            let mut source = blinds(s * 2 + w as u64);
            let out = inst.prove(&mut transcript(), claim, source.as_mut());
            add_sample(&mut counts, w, &fields(&out.proof));
        }
    }
    max_chi2(&counts)
}

/// Per-element bucket counts of two samples: `counts[k][w][bucket]`.
pub(super) type Counts = Vec<[[u32; 16]; 2]>;

pub(super) fn add_sample(counts: &mut Counts, w: usize, fields: &[Vec<u8>]) {
    if counts.is_empty() {
        *counts = vec![[[0; 16]; 2]; fields.len()];
    }
    assert_eq!(fields.len(), counts.len(), "proofs of one shape");
    for (k, bytes) in fields.iter().enumerate() {
        counts[k][w][bucket(bytes)] += 1;
    }
}

/// The largest two-sample χ² over the elements.
pub(super) fn max_chi2(counts: &Counts) -> f64 {
    counts
        .iter()
        .map(|[ca, cb]| {
            ca.iter()
                .zip(cb)
                .filter(|(x, y)| **x + **y > 0)
                .map(|(&x, &y)| {
                    let d = x as f64 - y as f64;
                    d * d / (x + y) as f64
                })
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// χ² with 15 degrees of freedom exceeds 50.5 with probability 1e-5; over the
/// ~25 elements of these proofs the chance of a false alarm is below 3e-4
/// (and the seeds are fixed, so the test is reproducible).
const CHI2_THRESHOLD: f64 = 50.5;

#[test]
fn proofs_of_two_witnesses_are_indistinguishable() {
    let stat = witness_independence_statistic(|s| Box::new(SeededBlinds::new(1000 + s)));
    eprintln!("masked: largest χ² {stat:.1}");
    assert!(
        stat < CHI2_THRESHOLD,
        "χ² {stat:.1} ≥ {CHI2_THRESHOLD}: proofs depend on the witness"
    );
}

#[test]
fn the_statistical_test_detects_unmasked_proofs() {
    let stat = witness_independence_statistic(|_| Box::new(NoBlinds));
    eprintln!("unmasked: largest χ² {stat:.1}");
    assert!(
        stat > CHI2_THRESHOLD,
        "χ² {stat:.1}: the test cannot tell witnesses apart without masking"
    );
}

mod hiding_dory {
    use super::*;
    use crate::pcs::setup::{DorySetup, DEFAULT_SEED};
    use crate::pcs::{self, hiding, Layout, MultilinearPoly, PcsError};

    fn setup() -> DorySetup {
        DorySetup::derive(DEFAULT_SEED, 3).unwrap()
    }

    fn poly(rng: &mut ChaCha20Rng, vars: usize) -> MultilinearPoly {
        MultilinearPoly::from_field(random_vec(rng, 1 << vars)).unwrap()
    }

    /// A zero-knowledge sumcheck leaves a committed claim on a hidden
    /// polynomial; the hiding opening's `y_com` is linked to it by a proof of
    /// zero. This is the commit-and-prove pattern `--zk` model proofs will use.
    #[test]
    fn a_committed_claim_is_discharged_by_a_hiding_opening() {
        let setup = setup();
        let gens = PedersenGens::dory();
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        let mut blinds = SeededBlinds::new(22);
        let layout = Layout { nu: 2, sigma: 3 };
        let w = poly(&mut rng, 5);
        let public = random_vec(&mut rng, 32);
        let (commitment, hint) =
            hiding::commit(CpuBackend::global(), &w, layout, &setup, &mut blinds).unwrap();
        // Σ_x W(x)·P(x) = H, with P public and H committed.
        let expr = Expression::product(2).unwrap();
        let sum: Fr = w.to_field().iter().zip(&public).map(|(a, b)| *a * b).sum();
        let claim = Opening::new(sum, blinds.blind());

        let mut t = transcript();
        let out = sumcheck::prove(
            CpuBackend::global(),
            &mut t,
            gens,
            claim,
            vec![w.to_field(), public.clone()],
            &expr,
            &[false, true],
            &mut blinds,
        )
        .unwrap();
        let (opening, proof) =
            hiding::open(&w, &commitment, &hint, &out.point, &setup, &mut t).unwrap();
        assert_eq!(opening.value, out.private_evals[0].value);
        let y_com = commit(opening);
        let link = out.private_evals[0] - opening;
        let link_c = (commit(out.private_evals[0]).into_group() - y_com).into_affine();
        let link_proof = ZeroProof::prove(&mut t, gens, &link_c, link, &mut blinds);
        let bytes = to_bytes(&proof);
        let proof: pcs::EvaluationProof = from_bytes(&bytes).unwrap();

        let verify = |claim_c: &G1Affine, zk: &ZkSumcheckProof, dory: &pcs::EvaluationProof| {
            let mut t = transcript();
            let (rho, evals) = sumcheck::verify(&mut t, gens, claim_c, 5, &expr, zk, |rho| {
                let eq = CpuBackend::global().eq_table(rho).unwrap();
                vec![
                    None,
                    Some(CpuBackend::global().inner_product(&eq, &public).unwrap()),
                ]
            })
            .map_err(|e| e.to_string())?;
            let y_com = hiding::verify(&commitment, layout, &rho, dory, &setup.verifier, &mut t)
                .map_err(|e| e.to_string())?;
            let link_c = (evals[0].into_group() - y_com).into_affine();
            link_proof
                .verify(&mut t, gens, &link_c)
                .map_err(|e| e.to_string())
        };
        let claim_c = commit(claim);
        verify(&claim_c, &out.proof, &proof).unwrap();
        // Another claim is rejected.
        let other = commit(Opening::new(sum + Fr::one(), claim.blind));
        assert!(verify(&other, &out.proof, &proof).is_err());
        // A different committed value at ρ breaks the link.
        let mut forged = out.proof.clone();
        forged.last.evals[0] = (forged.last.evals[0].into_group() + gens.g).into_affine();
        assert!(verify(&claim_c, &forged, &proof).is_err());
        // A y_com for another value is rejected by Dory's own Σ-proofs.
        let mut bad = proof.clone();
        bad.y_com = bad
            .y_com
            .map(|y| dory_pcs::backends::arkworks::ArkG1(y.0 + gens.g));
        assert!(verify(&claim_c, &out.proof, &bad).is_err());
    }

    #[test]
    fn hiding_and_transparent_openings_are_never_confused() {
        let setup = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(23);
        let mut blinds = SeededBlinds::new(24);
        let layout = Layout { nu: 1, sigma: 2 };
        let w = poly(&mut rng, 3);
        let point = random_vec(&mut rng, 3);
        let (c1, hint) =
            hiding::commit(CpuBackend::global(), &w, layout, &setup, &mut blinds).unwrap();
        let (c2, _) =
            hiding::commit(CpuBackend::global(), &w, layout, &setup, &mut blinds).unwrap();
        let (clear, clear_hint) = pcs::commit(CpuBackend::global(), &w, layout, &setup).unwrap();
        assert_ne!(c1, c2, "two hiding commitments to one polynomial differ");
        assert_ne!(c1, clear);

        let (_, hiding_proof) =
            hiding::open(&w, &c1, &hint, &point, &setup, &mut transcript()).unwrap();
        let (value, clear_proof) =
            pcs::open::<CpuBackend, _>(&w, &clear, &clear_hint, &point, &setup, &mut transcript())
                .unwrap();
        let y_com = hiding::verify(
            &c1,
            layout,
            &point,
            &hiding_proof,
            &setup.verifier,
            &mut transcript(),
        )
        .unwrap();
        assert_ne!(y_com, commit(Opening::constant(value)), "y_com is blinded");
        // The transparent verifier must not read a hiding proof (it would
        // ignore the value), nor the hiding verifier a transparent one.
        assert!(matches!(
            pcs::verify(
                &c1,
                layout,
                &point,
                &value,
                &hiding_proof,
                &setup.verifier,
                &mut transcript()
            ),
            Err(PcsError::NotTransparent)
        ));
        assert!(matches!(
            hiding::verify(
                &clear,
                layout,
                &point,
                &clear_proof,
                &setup.verifier,
                &mut transcript()
            ),
            Err(PcsError::NotHiding)
        ));
        // Wrong commitment, wrong point.
        assert!(hiding::verify(
            &c2,
            layout,
            &point,
            &hiding_proof,
            &setup.verifier,
            &mut transcript()
        )
        .is_err());
        let mut moved = point.clone();
        moved[0] += Fr::one();
        assert!(hiding::verify(
            &c1,
            layout,
            &moved,
            &hiding_proof,
            &setup.verifier,
            &mut transcript()
        )
        .is_err());
        // The hiding encoding round-trips and no truncation decodes.
        let bytes = to_bytes(&hiding_proof);
        let back: pcs::EvaluationProof = from_bytes(&bytes).unwrap();
        assert_eq!(to_bytes(&back), bytes);
        for cut in (0..bytes.len()).step_by(7) {
            assert!(from_bytes::<pcs::EvaluationProof>(&bytes[..cut]).is_err());
        }
    }
}

mod zk_reduction {
    use super::*;
    use crate::pcs::reduction::{ReductionError, VerifierPoly};
    use crate::pcs::setup::{DorySetup, DEFAULT_SEED};
    use crate::pcs::{hiding, Layout, MultilinearPoly};
    use crate::zk::reduction::{self, CommittedClaim, HiddenPoly, OpenedClaim};

    /// Three hidden polynomials in two layout groups (two share σ = 2 with
    /// different ν), several claims each, one on an aligned block (boolean
    /// high coordinates).
    #[test]
    fn committed_claims_reduce_to_hiding_openings_and_tampering_is_rejected() {
        let setup = DorySetup::derive(DEFAULT_SEED, 3).unwrap();
        let gens = PedersenGens::dory();
        let mut rng = ChaCha20Rng::seed_from_u64(31);
        let mut blinds = SeededBlinds::new(32);
        let layouts = [
            Layout { nu: 1, sigma: 2 },
            Layout { nu: 2, sigma: 2 },
            Layout { nu: 1, sigma: 1 },
        ];
        let polys: Vec<MultilinearPoly> = layouts
            .iter()
            .map(|l| MultilinearPoly::from_field(random_vec(&mut rng, l.len())).unwrap())
            .collect();
        let committed: Vec<_> = polys
            .iter()
            .zip(&layouts)
            .map(|(p, l)| hiding::commit(CpuBackend::global(), p, *l, &setup, &mut blinds).unwrap())
            .collect();
        let mut claims = Vec::new();
        for (k, p) in polys.iter().enumerate() {
            for _ in 0..2 {
                let mut point = random_vec(&mut rng, layouts[k].num_vars());
                if k == 1 && claims.len() % 2 == 0 {
                    // An aligned block: the top coordinate is boolean.
                    *point.last_mut().unwrap() = Fr::one();
                }
                let value = p.evaluate(CpuBackend::global(), &point).unwrap();
                claims.push(OpenedClaim {
                    poly: k,
                    point,
                    value: Opening::new(value, blinds.blind()),
                });
            }
        }
        let hidden: Vec<HiddenPoly<'_>> = polys
            .iter()
            .zip(&committed)
            .map(|(poly, (commitment, hint))| HiddenPoly {
                poly,
                commitment,
                hint,
            })
            .collect();
        let proof =
            reduction::prove(&mut transcript(), &hidden, &claims, &setup, &mut blinds).unwrap();
        let verifier_polys: Vec<VerifierPoly> = committed
            .iter()
            .zip(&layouts)
            .map(|((commitment, _), layout)| VerifierPoly {
                commitment: *commitment,
                layout: *layout,
            })
            .collect();
        let public_claims: Vec<CommittedClaim> = claims
            .iter()
            .map(|c| CommittedClaim {
                poly: c.poly,
                point: c.point.clone(),
                value: commit(c.value),
            })
            .collect();
        let verify = |claims: &[CommittedClaim], proof: &reduction::ZkReductionProof| {
            reduction::verify(
                &mut transcript(),
                &verifier_polys,
                claims,
                proof,
                &setup.verifier,
            )
        };
        let bytes = to_bytes(&proof);
        let proof: reduction::ZkReductionProof = from_bytes(&bytes).unwrap();
        assert_eq!(to_bytes(&proof), bytes);
        for cut in (0..bytes.len()).step_by(1009) {
            assert!(from_bytes::<reduction::ZkReductionProof>(&bytes[..cut]).is_err());
        }
        verify(&public_claims, &proof).unwrap();
        assert_eq!(proof.openings.len(), 2);

        // A claim committed to another value.
        for i in 0..public_claims.len() {
            let mut bad = public_claims.clone();
            bad[i].value = (bad[i].value.into_group() + gens.g).into_affine();
            assert!(verify(&bad, &proof).is_err(), "claim {i} changed");
        }
        // Every committed value, the final check and each link.
        for k in 0..proof.values.len() {
            let mut bad = proof.clone();
            bad.values[k] = (bad.values[k].into_group() + gens.g).into_affine();
            assert!(verify(&public_claims, &bad).is_err(), "value {k} changed");
        }
        let mut bad = proof.clone();
        bad.final_check.z += Fr::one();
        assert!(matches!(
            verify(&public_claims, &bad),
            Err(ReductionError::FinalMismatch)
        ));
        for g in 0..proof.openings.len() {
            let mut bad = proof.clone();
            bad.openings[g].1.z += Fr::one();
            assert!(matches!(
                verify(&public_claims, &bad),
                Err(ReductionError::HidingLink { group }) if group == g
            ));
            let mut bad = proof.clone();
            bad.openings.swap(0, 1);
            assert!(verify(&public_claims, &bad).is_err());
        }
        // The prover refuses a false claim.
        let mut false_claims = claims.clone();
        false_claims[3].value.value += Fr::one();
        assert!(matches!(
            reduction::prove(
                &mut transcript(),
                &hidden,
                &false_claims,
                &setup,
                &mut blinds
            ),
            Err(ReductionError::FalseClaim { claim: 3 })
        ));
    }
}

mod zk_lookup {
    use super::*;
    use crate::lookup::{LookupError, Table};
    use crate::pcs::poly::small_to_field;
    use crate::zk::lookup::{self, ZkLookupProof};

    fn columns(queries: &[Vec<i64>]) -> Vec<Vec<Fr>> {
        queries
            .iter()
            .map(|c| c.iter().map(|&v| small_to_field(v)).collect())
            .collect()
    }

    fn mle(values: &[Fr], point: &[Fr]) -> Fr {
        let eq = CpuBackend::global().eq_table(point).unwrap();
        eq.iter().zip(values).map(|(e, v)| *e * v).sum()
    }

    /// Two query sets of different depths (one shallower, one deeper than the
    /// table) into an 8-bit range table, and a pair table of arity 2.
    fn instances() -> Vec<(Table, Vec<Vec<Vec<i64>>>)> {
        let mut rng = ChaCha20Rng::seed_from_u64(41);
        let mut draw = |n: usize, modulus: u32| -> Vec<i64> {
            (0..n).map(|_| (rng.next_u32() % modulus) as i64).collect()
        };
        let byte = Table::UnsignedRange { bits: 8 };
        let sets = vec![vec![draw(16, 256)], vec![draw(512, 256)]];
        let relu = Table::Relu { bits: 4 };
        let xs: Vec<i64> = draw(32, 16).into_iter().map(|x| x - 8).collect();
        let ys: Vec<i64> = xs.iter().map(|&x| x.max(0)).collect();
        vec![(byte, sets), (relu, vec![vec![xs, ys]])]
    }
    use rand_chacha::rand_core::RngCore;

    fn prove(
        table: &Table,
        sets: &[Vec<Vec<i64>>],
        multiplicities: &[u64],
        blinds: &mut dyn BlindSource,
    ) -> Result<(ZkLookupProof, lookup::OpenedLookupClaims), LookupError> {
        let field_sets: Vec<Vec<Vec<Fr>>> = sets.iter().map(|s| columns(s)).collect();
        lookup::prove(
            CpuBackend::global(),
            &mut transcript(),
            table,
            &field_sets,
            multiplicities,
            blinds,
        )
    }

    #[test]
    fn committed_lookups_verify_leave_true_claims_and_reject_tampering() {
        let gens = PedersenGens::dory();
        let mut blinds = SeededBlinds::new(42);
        for (table, sets) in instances() {
            let m = table.multiplicities_of_sets(&sets).unwrap();
            let (proof, opened) = prove(&table, &sets, &m, &mut blinds).unwrap();
            let vars: Vec<usize> = sets
                .iter()
                .map(|s| s[0].len().trailing_zeros() as usize)
                .collect();
            let bytes = to_bytes(&proof);
            let proof: ZkLookupProof = from_bytes(&bytes).unwrap();
            assert_eq!(to_bytes(&proof), bytes);
            for cut in (0..bytes.len()).step_by(101) {
                assert!(from_bytes::<ZkLookupProof>(&bytes[..cut]).is_err());
            }
            let claims = lookup::verify(&mut transcript(), &table, &vars, &proof).unwrap();
            // The committed claims open to the true MLE values.
            let m_field: Vec<Fr> = m.iter().map(|&x| Fr::from(x)).collect();
            assert_eq!(claims.multiplicity_point, opened.multiplicity_point);
            assert_eq!(
                opened.multiplicity_value.value,
                mle(&m_field, &claims.multiplicity_point)
            );
            assert_eq!(commit(opened.multiplicity_value), claims.multiplicity_value);
            for (k, set) in sets.iter().enumerate() {
                for (c, column) in columns(set).iter().enumerate() {
                    let o = opened.query_values[k][c];
                    assert_eq!(o.value, mle(column, &claims.query_points[k]));
                    assert_eq!(commit(o), claims.query_values[k][c]);
                }
            }
            // Tampering: each root, fraction, sumcheck element, child, query
            // value and leaf check.
            let bump = |p: &mut G1Affine| *p = (p.into_group() + gens.g).into_affine();
            let rejects = |bad: &ZkLookupProof, what: &str| {
                assert!(
                    lookup::verify(&mut transcript(), &table, &vars, bad).is_err(),
                    "tampered {what} accepted"
                );
            };
            for k in 0..proof.roots.len() {
                for side in 0..2 {
                    let mut bad = proof.clone();
                    bump(&mut bad.roots[k][side]);
                    rejects(&bad, "root");
                }
                let mut bad = proof.clone();
                bump(&mut bad.fractions[k].inverse);
                rejects(&bad, "root inverse");
                let mut bad = proof.clone();
                bump(&mut bad.fractions[k].fraction);
                rejects(&bad, "root fraction");
            }
            let mut bad = proof.clone();
            bad.root_sum.z += Fr::one();
            rejects(&bad, "root sum");
            for l in 0..proof.layers.len() {
                for r in 0..proof.layers[l].rounds.rounds.len() {
                    let mut bad = proof.clone();
                    bump(&mut bad.layers[l].rounds.rounds[r].0[0]);
                    rejects(&bad, "layer round");
                }
                for e in 0..proof.layers[l].last.evals.len() {
                    let mut bad = proof.clone();
                    bump(&mut bad.layers[l].last.evals[e]);
                    rejects(&bad, "layer child");
                }
            }
            for k in 0..proof.query_values.len() {
                let mut bad = proof.clone();
                bump(&mut bad.query_values[k][0]);
                rejects(&bad, "query value");
            }
            for k in 0..proof.leaf_checks.len() {
                let mut bad = proof.clone();
                bad.leaf_checks[k].z += Fr::one();
                rejects(&bad, "leaf check");
            }
            let mut bad = proof.clone();
            bad.layers.pop();
            rejects(&bad, "missing layer");
        }
    }

    /// A query outside the table: with honest multiplicities the prover
    /// refuses; with multiplicities that make the roots cancel nothing does,
    /// so the forged root sum is rejected.
    #[test]
    fn a_query_outside_the_table_cannot_be_proven() {
        let mut blinds = SeededBlinds::new(43);
        let table = Table::UnsignedRange { bits: 4 };
        let sets = vec![vec![vec![1, 2, 3, 16]]];
        assert!(table.multiplicities_of_sets(&sets).is_err());
        // Pretend 16 was a 15.
        let m = table
            .multiplicities_of_sets(&[vec![vec![1, 2, 3, 15]]])
            .unwrap();
        assert!(matches!(
            prove(&table, &sets, &m, &mut blinds),
            Err(LookupError::RootSum)
        ));
    }
}

/// The lookup's proofs for two different query multisets of one shape (same
/// table, same sizes) are indistinguishable element by element, and the same
/// statistic flags them when masking is off.
#[test]
fn lookup_proofs_of_two_query_sets_are_indistinguishable() {
    use crate::lookup::Table;
    use crate::pcs::poly::small_to_field;
    use crate::zk::lookup::{self, ZkLookupProof};
    const SAMPLES: u64 = 128;
    let table = Table::UnsignedRange { bits: 3 };
    let sets_a = vec![vec![(0..16).map(|i| i % 8).collect::<Vec<i64>>()]];
    let sets_b = vec![vec![(0..16).map(|i| (i * 3 + 1) % 5).collect::<Vec<i64>>()]];
    let lookup_fields = |p: &ZkLookupProof| -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = p.roots.as_flattened().iter().map(point_bytes).collect();
        for f in &p.fractions {
            out.push(point_bytes(&f.inverse));
            out.push(point_bytes(&f.fraction));
            for proof in [&f.inverse_proof, &f.fraction_proof] {
                out.extend([&proof.alpha, &proof.beta, &proof.delta].map(point_bytes));
                out.extend(proof.z.iter().map(scalar_bytes));
            }
        }
        for layer in &p.layers {
            let as_sumcheck = ZkSumcheckProof {
                rounds: layer.rounds.clone(),
                last: layer.last.clone(),
            };
            out.extend(fields(&as_sumcheck));
        }
        out.extend(p.query_values.iter().flatten().map(point_bytes));
        for z in &p.leaf_checks {
            out.push(point_bytes(&z.a));
            out.push(scalar_bytes(&z.z));
        }
        out
    };
    let run = |masked: bool| -> f64 {
        let mut counts = Counts::new();
        for (w, sets) in [&sets_a, &sets_b].into_iter().enumerate() {
            let m = table.multiplicities_of_sets(sets).unwrap();
            let field_sets: Vec<Vec<Vec<Fr>>> = sets
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|c| c.iter().map(|&v| small_to_field(v)).collect())
                        .collect()
                })
                .collect();
            for s in 0..SAMPLES {
                let mut source: Box<dyn BlindSource> = if masked {
                    Box::new(SeededBlinds::new(5000 + 2 * s + w as u64))
                } else {
                    Box::new(NoBlinds)
                };
                let (proof, _) = lookup::prove(
                    CpuBackend::global(),
                    &mut transcript(),
                    &table,
                    &field_sets,
                    &m,
                    source.as_mut(),
                )
                .unwrap();
                add_sample(&mut counts, w, &lookup_fields(&proof));
            }
        }
        max_chi2(&counts)
    };
    let masked = run(true);
    let unmasked = run(false);
    eprintln!("lookup: largest χ² masked {masked:.1}, unmasked {unmasked:.1}");
    // Over ~200 elements the Bonferroni bound needs p = 1e-6 per element: 56.0.
    assert!(
        masked < 56.0,
        "χ² {masked:.1}: lookup proofs depend on the queries"
    );
    assert!(
        unmasked > 56.0,
        "χ² {unmasked:.1}: unmasked proofs not detected"
    );
}
