use super::*;
use crate::backend::CpuBackend;
use ark_std::UniformRand;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn random_mles(rng: &mut ChaCha20Rng, k: usize, num_vars: usize) -> Vec<Vec<Fr>> {
    (0..k)
        .map(|_| (0..1usize << num_vars).map(|_| Fr::rand(rng)).collect())
        .collect()
}

fn brute_sum(expr: &Expression, mles: &[Vec<Fr>]) -> Fr {
    (0..mles[0].len())
        .map(|x| {
            let values: Vec<Fr> = mles.iter().map(|m| m[x]).collect();
            expr.evaluate(&values)
        })
        .sum()
}

fn mle_eval(values: &[Fr], point: &[Fr]) -> Fr {
    let eq = CpuBackend::global().eq_table(point).unwrap();
    eq.iter().zip(values).map(|(e, v)| *e * v).sum()
}

fn mixed_expression() -> Expression {
    // 3·f0·f1·f2 − f3² + 5·f1 + f0·f1·f2·f3
    Expression::new(
        4,
        vec![
            ProductTerm {
                coeff: Fr::from(3u64),
                factors: vec![0, 1, 2],
            },
            ProductTerm {
                coeff: -Fr::one(),
                factors: vec![3, 3],
            },
            ProductTerm {
                coeff: Fr::from(5u64),
                factors: vec![1],
            },
            ProductTerm::product(vec![0, 1, 2, 3]),
        ],
    )
    .unwrap()
}

fn prove_and_verify(expr: &Expression, mles: Vec<Vec<Fr>>) -> (ProverOutput, Fr) {
    let claim = brute_sum(expr, &mles);
    let num_vars = mles[0].len().trailing_zeros() as usize;
    let originals = mles.clone();
    let out = prove(
        CpuBackend::global(),
        &mut ProofTranscript::new(b"t"),
        claim,
        mles,
        expr,
    )
    .unwrap();
    let (point, reduced) = verify(
        &mut ProofTranscript::new(b"t"),
        claim,
        num_vars,
        expr.degree(),
        &out.proof,
    )
    .unwrap();
    assert_eq!(point, out.point);
    check_final(expr, &out.final_evals, reduced).unwrap();
    for (m, v) in originals.iter().zip(&out.final_evals) {
        assert_eq!(
            mle_eval(m, &point),
            *v,
            "final value is the MLE at the point"
        );
    }
    (out, claim)
}

#[test]
fn interpolation_round_trips() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for d in 0..=MAX_DEGREE + 2 {
        let coeffs: Vec<Fr> = (0..=d).map(|_| Fr::rand(&mut rng)).collect();
        let evals: Vec<Fr> = (0..=d)
            .map(|i| evaluate_coeffs(&coeffs, Fr::from(i as u64)))
            .collect();
        assert_eq!(interpolate_coeffs(&evals), coeffs);
    }
}

#[test]
fn completeness_across_sizes_and_expressions() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for num_vars in [0, 1, 2, 5, 10] {
        for k in 1..=4 {
            let expr = Expression::product(k).unwrap();
            prove_and_verify(&expr, random_mles(&mut rng, k, num_vars));
        }
        prove_and_verify(&mixed_expression(), random_mles(&mut rng, 4, num_vars));
    }
}

#[test]
fn padded_non_power_of_two_input() {
    // A caller pads 5 values to 8 with zeros; the sum is unchanged.
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut a: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
    let mut b: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
    let direct: Fr = a.iter().zip(&b).map(|(x, y)| *x * y).sum();
    a.resize(8, Fr::zero());
    b.resize(8, Fr::zero());
    let (_, claim) = prove_and_verify(&Expression::product(2).unwrap(), vec![a, b]);
    assert_eq!(claim, direct);
}

#[test]
fn rejects_tampering() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let expr = mixed_expression();
    let mles = random_mles(&mut rng, 4, 6);
    let (out, claim) = prove_and_verify(&expr, mles);
    let run = |claim: Fr, proof: &SumcheckProof| -> Result<(), SumcheckError> {
        let (_, reduced) = verify(
            &mut ProofTranscript::new(b"t"),
            claim,
            6,
            expr.degree(),
            proof,
        )?;
        check_final(&expr, &out.final_evals, reduced)
    };
    assert!(run(claim, &out.proof).is_ok());
    // Wrong claimed sum.
    assert_eq!(
        run(claim + Fr::one(), &out.proof),
        Err(SumcheckError::FinalMismatch)
    );
    // Every coefficient of every round matters.
    for round in 0..6 {
        for c in 0..expr.degree() {
            let mut bad = out.proof.clone();
            bad.rounds[round].0[c] += Fr::one();
            assert!(run(claim, &bad).is_err(), "round {round} coeff {c}");
        }
    }
    // Wrong shapes are typed errors.
    let mut short = out.proof.clone();
    short.rounds.pop();
    assert!(matches!(
        run(claim, &short),
        Err(SumcheckError::RoundCount { .. })
    ));
    let mut long_round = out.proof.clone();
    long_round.rounds[2].0.push(Fr::zero());
    assert!(matches!(
        run(claim, &long_round),
        Err(SumcheckError::RoundDegree { round: 2, .. })
    ));
    // A wrong final value is caught.
    let mut evals = out.final_evals.clone();
    evals[1] += Fr::one();
    let (_, reduced) = verify(
        &mut ProofTranscript::new(b"t"),
        claim,
        6,
        expr.degree(),
        &out.proof,
    )
    .unwrap();
    assert_eq!(
        check_final(&expr, &evals, reduced),
        Err(SumcheckError::FinalMismatch)
    );
}

#[test]
fn prover_refuses_a_false_claim() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mles = random_mles(&mut rng, 2, 4);
    let expr = Expression::product(2).unwrap();
    let claim = brute_sum(&expr, &mles) + Fr::one();
    let err = prove(
        CpuBackend::global(),
        &mut ProofTranscript::new(b"t"),
        claim,
        mles,
        &expr,
    )
    .unwrap_err();
    assert_eq!(err, SumcheckError::ProverClaimMismatch { round: 0 });
}

#[test]
fn bad_expressions_and_inputs() {
    assert!(Expression::new(2, vec![ProductTerm::product(vec![0, 2])]).is_err());
    assert!(Expression::product(MAX_DEGREE + 1).is_err());
    assert!(Expression::new(1, vec![]).is_err());
    let expr = Expression::product(2).unwrap();
    let err = prove(
        CpuBackend::global(),
        &mut ProofTranscript::new(b"t"),
        Fr::zero(),
        vec![vec![Fr::zero(); 4], vec![Fr::zero(); 8]],
        &expr,
    )
    .unwrap_err();
    assert!(matches!(err, SumcheckError::BadInput(_)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// For a random product of MLEs, the sumcheck's claim is the brute-force sum,
    /// the verifier accepts, and the final values are the MLEs at the point.
    #[test]
    fn random_products_match_brute_force(seed in any::<u64>(), k in 1usize..=4, num_vars in 0usize..=6) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let expr = Expression::product(k).unwrap();
        prove_and_verify(&expr, random_mles(&mut rng, k, num_vars));
    }
}
