use super::*;
use crate::backend::CpuBackend;
use crate::pcs::poly::small_to_field;
use ark_ff::AdditiveGroup;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn field_columns(columns: &[Vec<i64>]) -> Vec<Vec<Fr>> {
    columns
        .iter()
        .map(|c| c.iter().map(|&v| small_to_field(v)).collect())
        .collect()
}

fn transcript() -> ProofTranscript {
    let mut t = ProofTranscript::new(b"lookup-test");
    // Stands in for the commitments a caller absorbs first.
    t.append_message(b"commitments", b"queries and multiplicities");
    t
}

fn mle(values: &[Fr], point: &[Fr]) -> Fr {
    let eq = CpuBackend::global().eq_table(point).unwrap();
    eq.iter().zip(values).map(|(e, v)| *e * v).sum()
}

/// Proves with the given multiplicities and verifies; returns the verifier's result.
fn run(
    table: &Table,
    queries: &[Vec<i64>],
    multiplicities: &[u64],
) -> Result<LookupClaims, LookupError> {
    let columns = field_columns(queries);
    let (proof, prover_claims) = prove(
        CpuBackend::global(),
        &mut transcript(),
        table,
        &[columns],
        multiplicities,
    )?;
    let vars = queries[0].len().trailing_zeros() as usize;
    let claims = verify(&mut transcript(), table, &[vars], &proof)?;
    assert_eq!(claims, prover_claims);
    Ok(claims)
}

fn honest(table: &Table, queries: &[Vec<i64>]) -> LookupClaims {
    let m = table.multiplicities(queries).unwrap();
    let claims = run(table, queries, &m).unwrap();
    // The claims left to the caller are true statements about the real vectors.
    let m_field: Vec<Fr> = m.iter().map(|&x| Fr::from(x)).collect();
    assert_eq!(
        mle(&m_field, &claims.multiplicity_point),
        claims.multiplicity_value
    );
    for (c, column) in field_columns(queries).iter().enumerate() {
        assert_eq!(
            mle(column, &claims.query_points[0]),
            claims.query_values[0][c]
        );
    }
    claims
}

fn random_in_range(rng: &mut ChaCha20Rng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
    (0..n)
        .map(|_| lo + (rng.next_u64() % (hi - lo) as u64) as i64)
        .collect()
}

fn relu_queries(xs: Vec<i64>) -> Vec<Vec<i64>> {
    let ys = xs.iter().map(|&x| x.max(0)).collect();
    vec![xs, ys]
}

#[test]
fn completeness_for_every_table_kind() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for qvars in [0, 1, 6] {
        let n = 1 << qvars;
        honest(
            &Table::UnsignedRange { bits: 8 },
            &[random_in_range(&mut rng, n, 0, 256)],
        );
        honest(
            &Table::SignedRange { bits: 8 },
            &[random_in_range(&mut rng, n, -128, 128)],
        );
        honest(
            &Table::Relu { bits: 6 },
            &relu_queries(random_in_range(&mut rng, n, -32, 32)),
        );
        // A function table of (x, x² mod 97) pairs over 64 rows.
        let xs: Vec<i64> = (0..64).collect();
        let ys: Vec<i64> = xs.iter().map(|x| x * x % 97).collect();
        let table = Table::Function {
            columns: vec![xs.clone(), ys.clone()],
        };
        let picks: Vec<usize> = (0..n).map(|_| (rng.next_u64() % 64) as usize).collect();
        honest(
            &table,
            &[
                picks.iter().map(|&i| xs[i]).collect(),
                picks.iter().map(|&i| ys[i]).collect(),
            ],
        );
    }
    // Smallest tables: one bit, and a one-row function table.
    honest(&Table::UnsignedRange { bits: 1 }, &[vec![0, 1, 1, 1]]);
    honest(
        &Table::Function {
            columns: vec![vec![42]],
        },
        &[vec![42, 42]],
    );
}

#[test]
fn closed_form_table_mles_match_their_columns() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    use ark_std::UniformRand;
    for table in [
        Table::UnsignedRange { bits: 5 },
        Table::SignedRange { bits: 5 },
        Table::Relu { bits: 5 },
        Table::Function {
            columns: vec![(0..32).map(|x| 3 * x - 40).collect()],
        },
    ] {
        let point: Vec<Fr> = (0..5).map(|_| Fr::rand(&mut rng)).collect();
        for c in 0..table.arity() {
            assert_eq!(
                table.evaluate_column(c, &point),
                mle(&table.column(c), &point),
                "{table:?} column {c}"
            );
        }
    }
}

#[test]
fn query_outside_the_table_is_refused_and_rejected() {
    let table = Table::UnsignedRange { bits: 4 };
    let queries = vec![vec![1, 2, 16, 3]];
    assert_eq!(
        table.multiplicities(&queries).unwrap_err(),
        LookupError::NotInTable {
            query: 2,
            values: vec![16]
        }
    );
    // A cheating prover counts 16 as row 0: the fraction sums no longer cancel.
    let mut m = vec![0u64; 16];
    for q in [1, 2, 0, 3] {
        m[q] += 1;
    }
    assert_eq!(run(&table, &queries, &m).unwrap_err(), LookupError::RootSum);
    // Negative values are not in an unsigned range either.
    assert!(table.multiplicities(&[vec![-1, 0, 0, 0]]).is_err());
}

#[test]
fn wrong_multiplicity_is_rejected() {
    let table = Table::SignedRange { bits: 4 };
    let queries = vec![vec![-8, 7, 0, 0]];
    let mut m = table.multiplicities(&queries).unwrap();
    assert!(run(&table, &queries, &m).is_ok());
    m[8] -= 1;
    m[9] += 1;
    assert_eq!(run(&table, &queries, &m).unwrap_err(), LookupError::RootSum);
}

#[test]
fn tuple_that_folds_into_the_table_under_another_challenge_is_rejected() {
    // (6, 0) is not a ReLU row, but under β = 1 it folds to 6 like the row (3, 3).
    let table = Table::Relu { bits: 4 };
    let queries = vec![vec![6, -2], vec![0, 0]];
    assert!(table.multiplicities(&queries).is_err());
    let mut m = vec![0u64; 16];
    m[3 + 8] += 1; // counted as row (3, 3)
    m[(-2i64 + 8) as usize] += 1;
    assert_eq!(run(&table, &queries, &m).unwrap_err(), LookupError::RootSum);
}

#[test]
fn tampered_proofs_are_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let table = Table::Relu { bits: 5 };
    let queries = relu_queries(random_in_range(&mut rng, 8, -16, 16));
    let columns = field_columns(&queries);
    let m = table.multiplicities(&queries).unwrap();
    let (proof, _) = prove(
        CpuBackend::global(),
        &mut transcript(),
        &table,
        &[columns],
        &m,
    )
    .unwrap();
    let check = |p: &LookupProof| verify(&mut transcript(), &table, &[3], p);
    assert!(check(&proof).is_ok());

    let mut bad = proof.clone();
    bad.query_values[0][1] += Fr::one();
    assert_eq!(check(&bad).unwrap_err(), LookupError::QueryLeaf);

    let mut bad = proof.clone();
    bad.roots[0][1] = Fr::zero();
    assert_eq!(check(&bad).unwrap_err(), LookupError::RootDenominator);

    // Scaling a root keeps p/q but breaks the layer below.
    let mut bad = proof.clone();
    bad.roots[1] = [bad.roots[1][0].double(), bad.roots[1][1].double()];
    assert!(check(&bad).is_err());

    for layer in 0..proof.layers.len() {
        for tree in 0..proof.layers[layer].children.len() {
            for child in 0..4 {
                let mut bad = proof.clone();
                bad.layers[layer].children[tree][child] += Fr::one();
                assert!(
                    check(&bad).is_err(),
                    "layer {layer} tree {tree} child {child}"
                );
            }
        }
        if layer > 0 {
            let mut bad = proof.clone();
            bad.layers[layer].sumcheck.rounds[0].0[0] += Fr::one();
            assert!(check(&bad).is_err(), "layer {layer} sumcheck");
        }
    }
    let mut bad = proof.clone();
    bad.layers.pop();
    assert!(matches!(check(&bad).unwrap_err(), LookupError::Shape(_)));
    let mut bad = proof.clone();
    bad.layers[1].children.pop();
    assert!(matches!(check(&bad).unwrap_err(), LookupError::Shape(_)));
    // Claimed for a different number of queries.
    assert!(verify(&mut transcript(), &table, &[4], &proof).is_err());
    // Checked against another table.
    assert!(verify(&mut transcript(), &Table::Relu { bits: 6 }, &[3], &proof).is_err());
    // Claimed with an extra query set.
    assert!(matches!(
        verify(&mut transcript(), &table, &[3, 3], &proof).unwrap_err(),
        LookupError::Shape(_)
    ));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let cpu = CpuBackend::global();
    let table = Table::UnsignedRange { bits: 4 };
    let col = vec![Fr::one(); 4];
    assert!(matches!(
        prove(
            cpu,
            &mut transcript(),
            &table,
            &[vec![col.clone(), col.clone()]],
            &[0; 16]
        ),
        Err(LookupError::Arity { .. })
    ));
    assert!(matches!(
        prove(
            cpu,
            &mut transcript(),
            &table,
            &[vec![vec![Fr::one(); 3]]],
            &[0; 16]
        ),
        Err(LookupError::BadQueries(_))
    ));
    assert!(matches!(
        prove(cpu, &mut transcript(), &table, &[vec![col]], &[0; 8]),
        Err(LookupError::MultiplicityLength { .. })
    ));
    assert!(Table::UnsignedRange { bits: 0 }.validate().is_err());
    assert!(Table::Function {
        columns: vec![vec![1, 2, 3]]
    }
    .validate()
    .is_err());
}

#[test]
fn several_query_sets_share_one_multiplicity_vector() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let table = Table::SignedRange { bits: 6 };
    let sets: Vec<Vec<Vec<i64>>> = [0usize, 3, 5]
        .iter()
        .map(|&v| vec![random_in_range(&mut rng, 1 << v, -32, 32)])
        .collect();
    let m = table.multiplicities_of_sets(&sets).unwrap();
    let columns: Vec<Vec<Vec<Fr>>> = sets.iter().map(|s| field_columns(s)).collect();
    let cpu = CpuBackend::global();
    let (proof, _) = prove(cpu, &mut transcript(), &table, &columns, &m).unwrap();
    let claims = verify(&mut transcript(), &table, &[0, 3, 5], &proof).unwrap();
    for (k, set) in columns.iter().enumerate() {
        assert_eq!(
            mle(&set[0], &claims.query_points[k]),
            claims.query_values[k][0]
        );
    }
    // Dropping one set's queries from the multiplicities breaks the sum.
    let partial = table.multiplicities_of_sets(&sets[..2]).unwrap();
    let (bad, _) = prove(cpu, &mut transcript(), &table, &columns, &partial).unwrap();
    assert_eq!(
        verify(&mut transcript(), &table, &[0, 3, 5], &bad).unwrap_err(),
        LookupError::RootSum
    );
}

/// The split-eq layer kernel against the generic degree-3 sumcheck round of the
/// same expression: `s(t) = eq(r, t) · S(t)` at t = 0 and 2, summed with the
/// eq table of the remaining variables.
#[test]
fn fraction_layer_round_matches_the_generic_round() {
    use crate::backend::ProductTerm;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut random = |n: usize| -> Vec<Fr> { (0..n).map(|_| Fr::from(rng.next_u64())).collect() };
    let cpu = CpuBackend::global();
    for (vars, trees) in [(1usize, 1usize), (3, 2), (6, 5)] {
        let point = random(vars);
        let gamma = random(1)[0];
        let mles: Vec<[Vec<Fr>; 4]> = (0..trees)
            .map(|_| std::array::from_fn(|_| random(1 << vars)))
            .collect();
        let weights = layer_weights(gamma, trees);
        let e = cpu.eq_table(&point[1..]).unwrap();
        let views: Vec<[&[Fr]; 4]> = mles
            .iter()
            .map(|[a, b, c, d]| [a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice()])
            .collect();
        let [s0, s2] = cpu
            .fraction_layer_round(&e, &views, &weights, gamma)
            .unwrap();
        // Generic: eq(point, x) · Σ_j w_j (p0 q1 + p1 q0 + γ q0 q1).
        let full_eq = cpu.eq_table(&point).unwrap();
        let mut generic_mles: Vec<&[Fr]> = vec![&full_eq];
        let mut terms = Vec::new();
        for (j, tree) in mles.iter().enumerate() {
            generic_mles.extend(tree.iter().map(Vec::as_slice));
            let [p0, p1, q0, q1] = [1 + 4 * j, 2 + 4 * j, 3 + 4 * j, 4 + 4 * j];
            for (coeff, factors) in [
                (weights[j], vec![0, p0, q1]),
                (weights[j], vec![0, p1, q0]),
                (weights[j] * gamma, vec![0, q0, q1]),
            ] {
                terms.push(ProductTerm { coeff, factors });
            }
        }
        let generic = cpu.sumcheck_round(&generic_mles, &terms, 3).unwrap();
        let r = point[0];
        let eq_at = |t: u64| (Fr::one() - r) + (r.double() - Fr::one()) * Fr::from(t);
        assert_eq!(generic[0], eq_at(0) * s0, "vars {vars} trees {trees}");
        assert_eq!(generic[2], eq_at(2) * s2, "vars {vars} trees {trees}");
    }
}
