//! ONNX import end to end: every shipped model imports, runs in integer
//! arithmetic on its input.json, and matches tract's f32 output within a
//! measured bound; import and input errors name the node, op or file.

use std::path::{Path, PathBuf};

use zkinfer::model::{ModelError, Op, TensorKind};
use zkinfer::onnx::{import, run_float, ImportError, ImportOptions};
use zkinfer::quant::{quantize_input, read_input_json, report, InputError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_path(name: &str) -> PathBuf {
    root().join("models").join(name).join("network.onnx")
}

fn input_path(name: &str) -> PathBuf {
    root().join("models").join(name).join("input.json")
}

/// (model, bound on max |dequantized − f32|, bound on that error relative to
/// the largest |f32 output|), at the default scale 2^7 (one output quantum is
/// 2^−7 ≈ 0.0078). Measured: addsubmul0 0.0076 abs / 0.0011 rel, addsubmul1
/// 0.027 / 0.0025, authorization 0.0070 / 0.011, perceptron 0.0059 / 0.048,
/// ffn_tanh 0.019 / 0.013, article_classification 0.030 / 0.061. The absolute
/// bound 0.05 (≈ 6 quanta) leaves ~1.7× margin over the worst case; relative
/// errors are large only where outputs are small (perceptron's largest |output|
/// is 0.12, so one quantum is already 6%), hence 0.10 for the dense models.
const SHIPPED: &[(&str, f32, f32)] = &[
    ("addsubmul0", 0.05, 0.01),
    ("addsubmul1", 0.05, 0.01),
    ("authorization", 0.05, 0.10),
    ("perceptron", 0.05, 0.10),
    ("ffn_tanh", 0.05, 0.10),
    ("article_classification", 0.05, 0.10),
    // CNNs: 2^-7 weights on fan-ins of 150-576 cost a few % per layer
    // (models/quant_sim.py predicts 0.051 / 2.2% and 0.185 / 6.0%).
    ("lenet5", 0.08, 0.05),
    ("cifar_cnn", 0.25, 0.10),
    // Transformers (PyTorch exports, models/transformers/generate.py):
    // Softmax, LayerNorm and GELU through tables at scale 2^7.
    ("nanogpt", 1.5, 0.10),
    ("encoder", 0.05, 0.10),
    ("gpt2_block", 0.25, 0.10),
];

/// The one-op models of models/ops/ with one input and one output, each
/// within 0.05 of tract's f32 output (measured ≤ 0.039).
const ONE_OP: &[&str] = &[
    "attention_scale",
    "averagepool",
    "batchnorm",
    "broadcast_both_computed",
    "causal_softmax",
    "concat",
    "conv1d",
    "conv2d_depthwise",
    "conv2d_strided_dilated",
    "div",
    "div_const",
    "exp",
    "flatten",
    "gelu_erf",
    "gelu_tanh",
    "globalaveragepool",
    "identity",
    "int_gather",
    "layernorm",
    "layernorm_dense",
    "matmul_heads",
    "matmul_qk",
    "max_shift",
    "maxpool",
    "mul_mask",
    "pad",
    "pow3",
    "reduce_max",
    "reduce_mean",
    "reduce_sum",
    "reshape_layout",
    "slice_steps",
    "softmax",
    "sqrt",
    "square",
    "squeeze_unsqueeze",
    "transpose",
    "where_mask",
];

/// A constant scale of attention scores folds into the projection that makes
/// Q: no `Mul` is left after the batched product.
#[test]
fn a_score_scale_folds_into_the_q_projection() {
    let dir = root().join("models/ops/attention_scale");
    let imported = import(&dir.join("network.onnx"), &ImportOptions::default()).unwrap();
    let ops: Vec<&str> = imported.model.nodes.iter().map(|n| n.op.name()).collect();
    assert!(!ops.contains(&"Mul"), "{ops:?}");
    assert_eq!(ops.last(), Some(&"BatchedMatMul"), "{ops:?}");
}

/// A norm's scale and shift fold into the dense layer that alone reads the
/// norm: the last ops are the normalization's `Mul` by 1/√var and the
/// MatMul, now with a bias (β·W).
#[test]
fn a_norm_affine_folds_into_the_dense_layer_after_it() {
    let dir = root().join("models/ops/layernorm_dense");
    let imported = import(&dir.join("network.onnx"), &ImportOptions::default()).unwrap();
    let m = &imported.model;
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops[ops.len() - 3..], ["Rsqrt", "Mul", "MatMul"], "{ops:?}");
    assert_eq!(m.nodes.last().unwrap().inputs.len(), 3, "{ops:?}");
}

/// A row max read only by a `Sub` from its input fuses into one `MaxShift`,
/// written out (`max_shift`) or inside a Softmax; a max that is the model's
/// output stays a `ReduceMax`.
#[test]
fn a_max_and_its_sub_fuse_into_a_max_shift() {
    for (name, want) in [
        ("max_shift", vec!["MaxShift"]),
        ("softmax", vec!["MaxShift", "Exp", "ReduceSum", "Div"]),
        ("reduce_max", vec!["ReduceMax"]),
    ] {
        let dir = root().join("models/ops").join(name);
        let imported = import(&dir.join("network.onnx"), &ImportOptions::default()).unwrap();
        let ops: Vec<&str> = imported.model.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, want, "{name}");
    }
}

/// `Where` on a constant condition and `Mul` by a constant 0/1 mask lower to
/// the masked copy `Select` (no product, remainder or range check), as does
/// the causal mask before a Softmax.
#[test]
fn constant_masks_lower_to_a_masked_copy() {
    for (name, want) in [
        ("where_mask", vec!["Where"]),
        ("mul_mask", vec!["Where"]),
        (
            "causal_softmax",
            vec!["Where", "MaxShift", "Exp", "ReduceSum", "Div"],
        ),
    ] {
        let dir = root().join("models/ops").join(name);
        let imported = import(&dir.join("network.onnx"), &ImportOptions::default()).unwrap();
        let ops: Vec<&str> = imported.model.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, want, "{name}");
        assert!(!imported
            .model
            .tensors
            .iter()
            .any(|t| matches!(t.kind, TensorKind::Weight { .. })));
    }
}

#[test]
fn one_op_models_match_the_f32_reference_and_prove() {
    use zkinfer::backend::CpuBackend;
    use zkinfer::proof::{self, WeightVisibility};
    let setup = std::sync::Arc::new(
        zkinfer::pcs::DorySetup::load_or_derive(
            zkinfer::pcs::setup::DEFAULT_SEED,
            10,
            &std::env::temp_dir().join("zkinfer-test-cache"),
        )
        .unwrap(),
    );
    for name in ONE_OP {
        let dir = root().join("models/ops").join(name);
        let imported = import(&dir.join("network.onnx"), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = read_input_json(&dir.join("input.json")).unwrap();
        let (_, rep) = report(&imported, &input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            rep.max_abs_error <= 0.05,
            "{name}: max abs error {}",
            rep.max_abs_error
        );
        let ops: Vec<&str> = imported.model.nodes.iter().map(|n| n.op.name()).collect();
        println!("{name}: {ops:?}, max abs error {:.5}", rep.max_abs_error);
        let quantized = quantize_input(&input, imported.model.scale_bits);
        let pk = proof::preprocess(
            CpuBackend::global(),
            imported.model.clone(),
            WeightVisibility::Committed,
            setup.clone(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = proof::prove(CpuBackend::global(), &pk, &quantized)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        proof::verify(&pk.vk, &quantized, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut bad = p.clone();
        bad.output[0] += 1;
        assert!(
            proof::verify(&pk.vk, &quantized, &bad).is_err(),
            "{name}: wrong output accepted"
        );
    }
}

#[test]
fn shipped_models_match_the_f32_reference() {
    for &(name, abs_bound, rel_bound) in SHIPPED {
        let imported = import(&model_path(name), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = read_input_json(&input_path(name)).unwrap();
        let (witness, rep) = report(&imported, &input).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name}: {} IR nodes, max abs error {:.5}, max rel error {:.5}, float {:?}, quantized {:?}",
            imported.model.nodes.len(),
            rep.max_abs_error,
            rep.max_rel_error,
            &rep.float_output[..rep.float_output.len().min(4)],
            &rep.quantized_output[..rep.quantized_output.len().min(4)],
        );
        assert_eq!(rep.float_output.len(), rep.quantized_output.len());
        assert!(!rep.float_output.is_empty());
        assert!(
            rep.max_abs_error <= abs_bound,
            "{name}: max abs error {} > {abs_bound}",
            rep.max_abs_error
        );
        assert!(
            rep.max_rel_error <= rel_bound,
            "{name}: max rel error {} > {rel_bound}",
            rep.max_rel_error
        );
        assert_eq!(witness.values.len(), imported.model.tensors.len());
        assert_eq!(witness.remainders.len(), imported.model.nodes.len());
    }
}

/// (model, IR ops in order, weight shapes of its MatMuls).
type DenseCase = (&'static str, &'static [Op], &'static [&'static [usize]]);

#[test]
fn dense_layers_lower_to_matmuls_with_folded_biases() {
    let cases: &[DenseCase] = &[
        (
            "authorization",
            &[Op::MatMul, Op::Relu, Op::MatMul, Op::Relu, Op::MatMul],
            &[&[64, 32], &[32, 16], &[16, 4]],
        ),
        (
            "perceptron",
            &[
                Op::MatMul,
                Op::Relu,
                Op::MatMul,
                Op::Relu,
                Op::MatMul,
                Op::Relu,
                Op::MatMul,
            ],
            &[&[4, 30], &[30, 30], &[30, 30], &[30, 3]],
        ),
        (
            "ffn_tanh",
            &[Op::MatMul, Op::Tanh, Op::MatMul],
            &[&[30, 31], &[31, 30]],
        ),
        (
            "article_classification",
            &[Op::MatMul, Op::Relu, Op::MatMul, Op::Relu, Op::MatMul],
            &[&[512, 256], &[256, 128], &[128, 8]],
        ),
    ];
    for &(name, ops, weights) in cases {
        let m = import(&model_path(name), &ImportOptions::default())
            .unwrap()
            .model;
        let got: Vec<Op> = m.nodes.iter().map(|n| n.op.clone()).collect();
        assert_eq!(got, ops, "{name}");
        let matmuls: Vec<_> = m.nodes.iter().filter(|n| n.op == Op::MatMul).collect();
        for (node, &shape) in matmuls.iter().zip(weights) {
            assert_eq!(
                node.inputs.len(),
                3,
                "{name}: `{}` has no folded bias",
                node.name
            );
            let w = &m.tensors[node.inputs[1]];
            assert!(matches!(w.kind, TensorKind::Weight { .. }), "{name}");
            assert_eq!(w.shape, shape, "{name}: `{}`", node.name);
            assert_eq!(m.tensors[node.inputs[2]].shape, vec![shape[1]], "{name}");
        }
        assert_eq!(m.tensors[m.inputs[0]].kind, TensorKind::Input);
        assert_eq!(
            m.tensors[m.inputs[0]].shape,
            vec![1, weights[0][0]],
            "{name}"
        );
    }
}

#[test]
fn constant_first_add_is_swapped() {
    let m = import(&model_path("addsubmul1"), &ImportOptions::default())
        .unwrap()
        .model;
    let ops: Vec<Op> = m.nodes.iter().map(|n| n.op.clone()).collect();
    assert_eq!(ops, vec![Op::Add, Op::Sub, Op::Mul]);
    for node in &m.nodes[..2] {
        assert_eq!(node.inputs[0], m.inputs[0], "`{}`", node.name);
        assert!(matches!(
            m.tensors[node.inputs[1]].kind,
            TensorKind::Weight { .. }
        ));
    }
}

#[test]
fn symbolic_batch_takes_the_batch_size_option() {
    let path = model_path("authorization");
    let single = import(&path, &ImportOptions::default()).unwrap();
    let options = ImportOptions {
        batch_size: 3,
        ..ImportOptions::default()
    };
    let batched = import(&path, &options).unwrap();
    assert_eq!(batched.input_shapes, vec![vec![3, 64]]);
    assert_eq!(
        batched.model.tensors[batched.model.inputs[0]].shape,
        vec![3, 64]
    );
    let row = read_input_json(&input_path("authorization")).unwrap();
    let rows: Vec<f32> = row.iter().chain(&row).chain(&row).copied().collect();
    let one = single
        .model
        .execute(&quantize_input(&row, 7))
        .unwrap()
        .values[single.model.outputs[0]]
        .clone();
    let three = batched
        .model
        .execute(&quantize_input(&rows, 7))
        .unwrap()
        .values[batched.model.outputs[0]]
        .clone();
    assert_eq!(three.len(), 12);
    for chunk in three.chunks(4) {
        assert_eq!(chunk, &one[..]);
    }
    assert_eq!(run_float(&batched, &rows).unwrap().len(), 12);
}

#[test]
fn other_scales_stay_close_to_f32() {
    // Finer scale → smaller error.
    let path = model_path("perceptron");
    let input = read_input_json(&input_path("perceptron")).unwrap();
    let coarse = import(&path, &ImportOptions::default()).unwrap();
    let fine = import(
        &path,
        &ImportOptions {
            scale_bits: 12,
            activation_bits: 24,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    let (_, c) = report(&coarse, &input).unwrap();
    let (_, f) = report(&fine, &input).unwrap();
    assert!(
        f.max_abs_error < c.max_abs_error,
        "{} vs {}",
        f.max_abs_error,
        c.max_abs_error
    );
    assert!(f.max_abs_error < 0.005, "{}", f.max_abs_error);
}

#[test]
fn unsupported_op_is_rejected_naming_node_and_op() {
    let path = root().join("tests/fixtures/unsupported_op.onnx");
    let err = import(&path, &ImportOptions::default()).unwrap_err();
    let msg = err.to_string();
    match &err {
        ImportError::Unsupported { node, op, .. } => {
            assert!(node.contains("cosine_node"), "{msg}");
            assert_eq!(op, "Cos", "{msg}");
        }
        other => panic!("expected Unsupported, got {other}"),
    }
    assert!(msg.contains("cosine_node") && msg.contains("Cos"), "{msg}");
}

/// `c − x` (a constant minus an activation): both operands broadcast in the
/// IR, so the constant goes first as it is.
#[test]
fn constant_minus_activation_imports() {
    let path = root().join("tests/fixtures/sub_const_first.onnx");
    let imported = import(&path, &ImportOptions::default()).unwrap();
    assert!(imported.model.nodes.iter().any(|n| n.op == Op::Sub));
    let len: usize = imported.model.tensors[imported.model.inputs[0]].len();
    let input: Vec<f32> = (0..len).map(|i| i as f32 / 4.0 - 1.0).collect();
    let (_, rep) = report(&imported, &input).unwrap();
    assert!(rep.max_abs_error <= 0.02, "{}", rep.max_abs_error);
}

#[test]
fn several_inputs_and_outputs_are_imported_in_the_graphs_order() {
    let path = root().join("tests/fixtures/two_inputs.onnx");
    let imported = import(&path, &ImportOptions::default()).unwrap();
    let m = &imported.model;
    let names: Vec<&str> = m
        .inputs
        .iter()
        .map(|&t| m.tensors[t].name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(imported.input_shapes, vec![vec![1, 3], vec![1, 3]]);
    assert_eq!(m.input_len(), 6);
    // The inputs in order, concatenated: a + b.
    let float = run_float(&imported, &[1.0, 2.0, 3.0, 0.5, 0.25, -1.0]).unwrap();
    assert_eq!(float, vec![1.5, 2.25, 2.0]);
    let w = m
        .execute(&quantize_input(&[1.0, 2.0, 3.0, 0.5, 0.25, -1.0], 7))
        .unwrap();
    assert_eq!(m.output_values(&w), quantize_input(&float, 7));

    let split = import(
        &root().join("models/ops/split/network.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(split.model.outputs.len(), 2);
    assert_eq!(split.output_shapes, vec![vec![1, 2, 4], vec![1, 4, 4]]);
}

#[test]
fn integer_inputs_are_quantized_where_the_graph_casts_them() {
    let imported = import(
        &root().join("models/ops/int_input/network.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(imported.is_integer_input(0));
    // The Cast lowers to nothing: the input feeds the Mul directly.
    let m = &imported.model;
    assert_eq!(m.nodes.len(), 1);
    assert_eq!(m.nodes[0].inputs[0], m.inputs[0]);
    let ids = [3.0, 0.0, 7.0, 1.0, 9.0, 4.0];
    let (_, r) = report(&imported, &ids).unwrap();
    assert!(r.max_abs_error < 0.05, "{r:?}");
    let err = run_float(&imported, &[3.5, 0.0, 7.0, 1.0, 9.0, 4.0]).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");

    // Gather of table rows by the integer ids: the ids stay the input.
    let imported = import(
        &root().join("models/ops/int_gather/network.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let m = &imported.model;
    assert_eq!(m.nodes.len(), 1);
    assert_eq!(m.nodes[0].op, Op::Gather);
    assert_eq!(m.nodes[0].inputs[1], m.inputs[0]);
    let (_, r) = report(&imported, &ids).unwrap();
    assert!(r.max_abs_error < 0.01, "{r:?}");
}

#[test]
fn malformed_and_missing_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    // Deterministic junk that is not a protobuf ModelProto.
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let err = import(&garbage, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("garbage.onnx"), "{err}");

    let missing = dir.path().join("nowhere/network.onnx");
    let err = import(&missing, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nowhere/network.onnx"), "{err}");

    let err = import(dir.path(), &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
}

#[test]
fn bad_options_are_rejected() {
    for options in [
        ImportOptions {
            scale_bits: 0,
            ..ImportOptions::default()
        },
        ImportOptions {
            activation_bits: 7,
            ..ImportOptions::default()
        },
        ImportOptions {
            batch_size: 0,
            ..ImportOptions::default()
        },
    ] {
        let err = import(&model_path("perceptron"), &options).unwrap_err();
        assert!(matches!(err, ImportError::Options(_)), "{err}");
    }
}

#[test]
fn input_errors_are_reported() {
    let imported = import(&model_path("perceptron"), &ImportOptions::default()).unwrap();
    // Wrong length: caught by inference and by the f32 reference.
    let err = report(&imported, &[0.5; 5]).unwrap_err();
    assert!(
        err.to_string().contains("5 values") && err.to_string().contains("expects 4"),
        "{err}"
    );
    assert!(matches!(
        imported.model.execute(&[1, 2, 3]),
        Err(ModelError::InputLength {
            expected: 4,
            actual: 3,
            ..
        })
    ));
    assert!(matches!(
        run_float(&imported, &[1.0; 7]),
        Err(ImportError::InputLength {
            expected: 4,
            actual: 7,
            ..
        })
    ));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("input.json");
    std::fs::write(&bad, r#"{"input_data": [[0.1, 0.2, true, 0.4]]}"#).unwrap();
    let err = read_input_json(&bad).unwrap_err();
    assert!(
        matches!(err, InputError::NonNumeric { index: 2, .. }),
        "{err}"
    );
    std::fs::write(&bad, "{not json").unwrap();
    let err = read_input_json(&bad).unwrap_err();
    assert!(matches!(err, InputError::Json { .. }), "{err}");
    assert!(err.to_string().contains("input.json"), "{err}");
    let err = read_input_json(Path::new("/nonexistent/input.json")).unwrap_err();
    assert!(matches!(err, InputError::Io { .. }), "{err}");
}

#[test]
fn activation_bound_violations_name_the_node() {
    let imported = import(&model_path("addsubmul0"), &ImportOptions::default()).unwrap();
    // (x + 3.14)(x − 3.14) at x = 200 is ~40000 > 256: the Mul overflows the bound.
    let err = report(&imported, &[200.0]).unwrap_err();
    assert!(err.to_string().contains("mul"), "{err}");
}

/// The transformer accuracy the README reports: on held-out 64-token
/// contexts (models/nanogpt/contexts.json, written by the model's generator),
/// nanoGPT's quantized next token (the argmax of the last position's logits)
/// equals tract's f32 one. 20 contexts here (ZKINFER_ACCURACY_CONTEXTS=100 for
/// the README's figure; ZKINFER_ACCURACY_SCALE picks another scale); at least
/// 95% must agree.
#[test]
fn nanogpt_next_token_matches_the_float_model() {
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/nanogpt/contexts.json")).unwrap(),
    )
    .unwrap();
    let all_contexts = file["contexts"].as_array().unwrap();
    let contexts: usize = std::env::var("ZKINFER_ACCURACY_CONTEXTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(all_contexts.len());
    let mut options = ImportOptions::default();
    if let Some(scale) = std::env::var("ZKINFER_ACCURACY_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.scale_bits = scale;
    }
    let imported = import(&model_path("nanogpt"), &options).unwrap();
    let vocab = 65usize;
    let argmax = |row: &[f32]| {
        row.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap()
    };
    let (mut next_agree, mut all_agree, mut all) = (0usize, 0usize, 0usize);
    for context in &all_contexts[..contexts] {
        let tokens: Vec<f32> = context
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as f32)
            .collect();
        let (_, rep) = report(&imported, &tokens).unwrap();
        let positions = tokens.len();
        assert_eq!(rep.float_output.len(), positions * vocab);
        for position in 0..positions {
            let at = position * vocab..(position + 1) * vocab;
            let same = argmax(&rep.float_output[at.clone()]) == argmax(&rep.quantized_output[at]);
            all += 1;
            all_agree += usize::from(same);
            if position == positions - 1 {
                next_agree += usize::from(same);
            }
        }
    }
    println!(
        "nanogpt: next token agrees on {next_agree}/{contexts} contexts, argmax on {all_agree}/{all} positions"
    );
    assert!(
        next_agree * 100 >= contexts * 95,
        "next token agrees on only {next_agree} of {contexts} contexts"
    );
}

/// The transformer end to end through the library: nanoGPT (token-id Gather,
/// decomposed LayerNorm, causal Softmax, batched attention, GELU) proves with
/// public weights, verifies, and a proof whose first logit is changed is
/// rejected. The one-op models cover each op's tamper tests; this is the one
/// heavy model in the suite.
#[test]
fn nanogpt_proves_and_rejects_a_wrong_logit() {
    use zkinfer::backend::CpuBackend;
    use zkinfer::proof::{self, WeightVisibility};
    let imported = import(&model_path("nanogpt"), &ImportOptions::default()).unwrap();
    let input = read_input_json(&input_path("nanogpt")).unwrap();
    let input = quantize_input(&input, imported.model.scale_bits);
    let log = proof::required_generators(&imported.model).max(10);
    let setup = std::sync::Arc::new(
        zkinfer::pcs::DorySetup::load_or_derive(
            zkinfer::pcs::setup::DEFAULT_SEED,
            log,
            &std::env::temp_dir().join("zkinfer-test-cache"),
        )
        .unwrap(),
    );
    let pk = proof::preprocess(
        CpuBackend::global(),
        imported.model.clone(),
        WeightVisibility::Public,
        setup,
    )
    .unwrap();
    let p = proof::prove(CpuBackend::global(), &pk, &input).unwrap();
    proof::verify(&pk.vk, &input, &p).unwrap();
    let mut bad = p.clone();
    bad.output[0] += 1;
    assert!(proof::verify(&pk.vk, &input, &bad).is_err());
    let mut bad_input = input.clone();
    bad_input[0] += 128; // another token id
    assert!(proof::verify(&pk.vk, &bad_input, &p).is_err());
}
