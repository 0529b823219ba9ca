//! Property tests (issue #12): random small quantized models — chains of
//! MatMul (with or without bias), Add/Sub/Mul with every broadcast shape (and
//! with earlier activations as operands), Relu, Tanh and Sigmoid, over random
//! shapes, weights, scales and activation bounds — prove and verify in both
//! weight visibilities; every output entry changed by ±1 is rejected; and a
//! proof for another input is rejected with the original output (and with the
//! original input and output).
//!
//! The proptest configuration is fixed (seed, case count, no persistence), so
//! every run checks the same models. Cases whose integer inference leaves the
//! activation bound are rejected by `prop_assume!` and regenerated.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkinfer::backend::CpuBackend;
use zkinfer::model::{Model, ModelError, Node, Op, Tensor, TensorKind};
use zkinfer::proof::{self, ModelProof, WeightVisibility};

use crate::common::setup;

/// The second operand of an element-wise op, relative to the running tensor's
/// shape `[rows, cols]`.
#[derive(Debug, Clone, Copy)]
enum Operand {
    /// A weight of shape `[rows, cols]`.
    Full,
    /// A weight of shape `[cols]`.
    Row,
    /// A weight of shape `[1, cols]`.
    Row2,
    /// A weight of shape `[rows, 1]`.
    Column,
    /// A weight of shape `[1]`.
    Scalar,
    /// An earlier activation (or the input) of the running shape, else the
    /// running tensor itself.
    Earlier(usize),
}

#[derive(Debug, Clone)]
enum OpSpec {
    MatMul { cols: usize, bias: bool },
    Elementwise { op: Op, operand: Operand },
    Unary(Op),
}

#[derive(Debug, Clone)]
struct Spec {
    rows: usize,
    cols: usize,
    scale_bits: u32,
    /// Above `scale_bits + 4`; at most 13 so function tables stay small.
    activation_bits: u32,
    ops: Vec<OpSpec>,
    /// Weights and inputs.
    seed: u64,
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        Just(Operand::Full),
        Just(Operand::Row),
        Just(Operand::Row2),
        Just(Operand::Column),
        Just(Operand::Scalar),
        (0usize..8).prop_map(Operand::Earlier),
    ]
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        3 => (1usize..=5, any::<bool>()).prop_map(|(cols, bias)| OpSpec::MatMul { cols, bias }),
        3 => (prop_oneof![Just(Op::Add), Just(Op::Sub), Just(Op::Mul)], operand())
            .prop_map(|(op, operand)| OpSpec::Elementwise { op, operand }),
        1 => Just(OpSpec::Unary(Op::Relu)),
        1 => Just(OpSpec::Unary(Op::Tanh)),
        1 => Just(OpSpec::Unary(Op::Sigmoid)),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1usize..=3,
        1usize..=6,
        4u32..=7,
        0u32..=2,
        prop::collection::vec(op_spec(), 1..=4),
        any::<u64>(),
    )
        .prop_map(|(rows, cols, scale_bits, extra, ops, seed)| Spec {
            rows,
            cols,
            scale_bits,
            activation_bits: (scale_bits + 4 + extra).min(13),
            ops,
            seed,
        })
}

/// A value in `[-bound, bound]`.
fn small(rng: &mut ChaCha20Rng, bound: i64) -> i64 {
    (rng.next_u64() % (2 * bound as u64 + 1)) as i64 - bound
}

fn build(spec: &Spec) -> Model {
    let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);
    // Weights up to ±1.0 for MatMul (scaled down by the inner size) and ±2.0
    // for element-wise operands.
    let one = 1i64 << spec.scale_bits;
    let mut tensors = vec![Tensor {
        name: "x".into(),
        shape: vec![spec.rows, spec.cols],
        kind: TensorKind::Input,
    }];
    let mut nodes = Vec::new();
    let mut weight = |tensors: &mut Vec<Tensor>, shape: Vec<usize>, bound: i64| {
        let len: usize = shape.iter().product();
        let values = (0..len).map(|_| small(&mut rng, bound)).collect();
        tensors.push(Tensor {
            name: format!("w{}", tensors.len()),
            shape,
            kind: TensorKind::Weight { values },
        });
        tensors.len() - 1
    };
    let (rows, mut cols) = (spec.rows, spec.cols);
    let mut current = 0usize;
    for (n, op) in spec.ops.iter().enumerate() {
        let (op, inputs, out_cols) = match op.clone() {
            OpSpec::MatMul { cols: out, bias } => {
                let w = weight(&mut tensors, vec![cols, out], one / cols as i64 + 1);
                let mut inputs = vec![current, w];
                if bias {
                    inputs.push(weight(&mut tensors, vec![out], one));
                }
                (Op::MatMul, inputs, out)
            }
            OpSpec::Elementwise { op, operand } => {
                let bound = 2 * one;
                let b = match operand {
                    Operand::Full => weight(&mut tensors, vec![rows, cols], bound),
                    Operand::Row => weight(&mut tensors, vec![cols], bound),
                    Operand::Row2 => weight(&mut tensors, vec![1, cols], bound),
                    Operand::Column => weight(&mut tensors, vec![rows, 1], bound),
                    Operand::Scalar => weight(&mut tensors, vec![1], bound),
                    Operand::Earlier(k) => {
                        let same: Vec<usize> = tensors
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| {
                                !matches!(t.kind, TensorKind::Weight { .. })
                                    && t.shape == [rows, cols]
                            })
                            .map(|(i, _)| i)
                            .collect();
                        same[k % same.len()]
                    }
                };
                (op, vec![current, b], cols)
            }
            OpSpec::Unary(op) => (op, vec![current], cols),
        };
        tensors.push(Tensor {
            name: format!("t{n}"),
            shape: vec![rows, out_cols],
            kind: TensorKind::Activation,
        });
        current = tensors.len() - 1;
        cols = out_cols;
        nodes.push(Node {
            name: format!("n{n}_{op:?}"),
            op,
            inputs,
            output: current,
        });
    }
    Model {
        name: "random".into(),
        scale_bits: spec.scale_bits,
        activation_bits: spec.activation_bits,
        tensors,
        nodes,
        inputs: vec![0],
        outputs: vec![current],
    }
}

/// A random input within ±4.0 (and the activation bound).
fn input(model: &Model, seed: u64) -> Vec<i64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let bound = (4i64 << model.scale_bits).min((1 << (model.activation_bits - 1)) - 1);
    (0..model.input_len())
        .map(|_| small(&mut rng, bound))
        .collect()
}

/// The output of a successful run; `None` when it leaves the activation bound.
fn run(model: &Model, input: &[i64]) -> Option<Vec<i64>> {
    match model.execute(input) {
        Ok(w) => Some(w.values[model.outputs[0]].clone()),
        Err(ModelError::ActivationBound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

fn config() -> Config {
    Config {
        cases: 16,
        max_global_rejects: 1000,
        max_shrink_iters: 32,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x2a_12),
        ..Config::default()
    }
}

fn check(model: &Model, input: &[i64], vis: WeightVisibility) -> Result<(), TestCaseError> {
    let output = run(model, input).expect("checked by the caller");
    let pk = proof::preprocess(CpuBackend::global(), model.clone(), vis, setup())
        .map_err(|e| TestCaseError::fail(format!("{vis:?}: preprocess: {e}")))?;
    let p = proof::prove(CpuBackend::global(), &pk, input)
        .map_err(|e| TestCaseError::fail(format!("{vis:?}: prove: {e}")))?;
    prop_assert_eq!(&p.output, &output);
    if let Err(e) = proof::verify(&pk.vk, input, &p) {
        return Err(TestCaseError::fail(format!("{vis:?}: verify: {e}")));
    }
    let decoded = ModelProof::from_bytes(&p.to_bytes()).unwrap();
    prop_assert!(proof::verify(&pk.vk, input, &decoded).is_ok());

    // Every output entry off by one, either way.
    let bound = 1i64 << (model.activation_bits - 1);
    for j in 0..output.len() {
        for delta in [1, -1] {
            let mut bad = p.clone();
            bad.output[j] += delta;
            if bad.output[j].abs() >= bound {
                continue;
            }
            prop_assert!(
                proof::verify(&pk.vk, input, &bad).is_err(),
                "{:?}: output[{}] {:+} accepted",
                vis,
                j,
                delta
            );
        }
    }

    // A proof for another input, with the original output (and input).
    let other = (1..20u64)
        .map(|k| self::input(model, k.wrapping_mul(0x9e37_79b9) ^ input[0] as u64))
        .find(|x| run(model, x).is_some_and(|y| y != output));
    if vis == WeightVisibility::Committed {
        println!("  other input with a different output: {}", other.is_some());
    }
    if let Some(other) = other {
        let q = proof::prove(CpuBackend::global(), &pk, &other)
            .map_err(|e| TestCaseError::fail(format!("{vis:?}: prove other: {e}")))?;
        prop_assert!(proof::verify(&pk.vk, &other, &q).is_ok());
        let mut bad = q.clone();
        bad.output = output.clone();
        prop_assert!(
            proof::verify(&pk.vk, &other, &bad).is_err(),
            "{:?}: other input's proof accepted with the original output",
            vis
        );
        bad.input = input.to_vec();
        prop_assert!(
            proof::verify(&pk.vk, input, &bad).is_err(),
            "{:?}: other input's proof accepted for the original statement",
            vis
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_models_prove_verify_and_reject_wrong_outputs(spec in spec()) {
        let model = build(&spec);
        prop_assert!(model.validate().is_ok(), "{:?}", model.validate());
        let x = input(&model, spec.seed ^ 0x5eed);
        prop_assume!(run(&model, &x).is_some());
        println!(
            "case: [{}x{}] s={} a={} {:?}",
            spec.rows, spec.cols, spec.scale_bits, spec.activation_bits, spec.ops
        );
        for vis in [WeightVisibility::Committed, WeightVisibility::Public] {
            check(&model, &x, vis)?;
        }
    }
}
