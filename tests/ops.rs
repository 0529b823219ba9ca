//! Each op of the framework on small hand-built models: integer semantics
//! against an independent reference, proofs that verify with committed and
//! public weights, and the negative tests every op gets: every value and
//! every sumcheck round of its message changed alone, a wrong public output,
//! and a proof of a witness whose op output is off by one, all rejected.

use crate::common::{node, setup, tensor, weight};
use ark_bn254::Fr;
use zkinfer::backend::CpuBackend;
use zkinfer::model::{Model, Op, TensorKind};
use zkinfer::ops::conv::Conv;
use zkinfer::proof::{self, WeightVisibility};

/// Proves `model` on `input` and runs the negative tests on node `target`.
fn prove_and_tamper(model: Model, input: &[i64], target: usize) {
    model.validate().unwrap();
    let witness = model.execute(input).unwrap();
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk =
            proof::preprocess(CpuBackend::global(), model.clone(), visibility, setup()).unwrap();
        let p = proof::prove(CpuBackend::global(), &pk, input).unwrap();
        assert_eq!(p.output, witness.values[model.outputs[0]]);
        proof::verify(&pk.vk, input, &p).unwrap();
        let bytes = p.to_bytes();
        let decoded = proof::ModelProof::from_bytes(&bytes).unwrap();
        proof::verify(&pk.vk, input, &decoded).unwrap();

        let one = Fr::from(1u64);
        let message = &p.ops[target];
        for i in 0..message.values.len() {
            let mut bad = p.clone();
            bad.ops[target].values[i] += one;
            assert!(
                proof::verify(&pk.vk, input, &bad).is_err(),
                "{visibility:?}: value {i} of node {target} changed and accepted"
            );
        }
        for (s, sc) in message.sumchecks.iter().enumerate() {
            for round in 0..sc.rounds.len() {
                let mut bad = p.clone();
                bad.ops[target].sumchecks[s].rounds[round].0[0] += one;
                assert!(
                    proof::verify(&pk.vk, input, &bad).is_err(),
                    "{visibility:?}: sumcheck {s} round {round} changed and accepted"
                );
            }
        }
        let mut bad = p.clone();
        bad.output[0] += 1;
        assert!(
            proof::verify(&pk.vk, input, &bad).is_err(),
            "wrong output accepted"
        );

        // A witness whose op output is off by one (remainder kept): the
        // prover may refuse it; if it proves, the verifier must not accept.
        let mut forged = witness.clone();
        let out = model.nodes[target].output;
        forged.values[out][0] += 1;
        if let Ok(q) = proof::prove_witness(CpuBackend::global(), &pk, input, &forged) {
            assert!(
                proof::verify(&pk.vk, input, &q).is_err(),
                "{visibility:?}: forged output of node {target} accepted"
            );
        }
    }
}

fn small_input(len: usize, seed: i64) -> Vec<i64> {
    (0..len as i64)
        .map(|i| ((i * 53 + seed * 17) % 255) - 127)
        .collect()
}

/// Reference convolution over i128, written independently of the op: pad
/// the input explicitly, then slide.
#[allow(clippy::too_many_arguments)]
fn reference_conv(
    x: &[i64],
    [ic, h, w]: [usize; 3],
    k: &[i64],
    [oc, kh, kw]: [usize; 3],
    bias: Option<&[i64]>,
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [(usize, usize); 2],
    groups: usize,
    scale_bits: u32,
) -> Vec<i64> {
    let (hp, wp) = (h + pads[0].0 + pads[0].1, w + pads[1].0 + pads[1].1);
    let mut padded = vec![0i64; ic * hp * wp];
    for c in 0..ic {
        for i in 0..h {
            for j in 0..w {
                padded[(c * hp + i + pads[0].0) * wp + j + pads[1].0] = x[(c * h + i) * w + j];
            }
        }
    }
    let oh = (hp - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
    let ow = (wp - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
    let (icg, ocg) = (ic / groups, oc / groups);
    let mut out = Vec::new();
    for o in 0..oc {
        for y in 0..oh {
            for z in 0..ow {
                let mut acc: i128 = bias.map_or(0, |b| (b[o] as i128) << scale_bits);
                for c in 0..icg {
                    for a in 0..kh {
                        for b in 0..kw {
                            let input_c = (o / ocg) * icg + c;
                            let v = padded[(input_c * hp + y * stride[0] + a * dilation[0]) * wp
                                + z * stride[1]
                                + b * dilation[1]];
                            acc += v as i128 * k[((o * icg + c) * kh + a) * kw + b] as i128;
                        }
                    }
                }
                out.push(zkinfer::model::rescale(acc, scale_bits).0 as i64);
            }
        }
    }
    out
}

struct ConvCase {
    x: [usize; 3],
    k: [usize; 3],
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [(usize, usize); 2],
    groups: usize,
    bias: bool,
    one_d: bool,
}

fn conv_model(c: &ConvCase) -> (Model, Vec<i64>) {
    let [ic, h, w] = c.x;
    let [oc, kh, kw] = c.k;
    let icg = ic / c.groups;
    let oh = (h + c.pads[0].0 + c.pads[0].1 - c.dilation[0] * (kh - 1) - 1) / c.stride[0] + 1;
    let ow = (w + c.pads[1].0 + c.pads[1].1 - c.dilation[1] * (kw - 1) - 1) / c.stride[1] + 1;
    let (x_shape, k_shape, y_shape) = if c.one_d {
        (vec![ic, w], vec![oc, icg, kw], vec![oc, ow])
    } else {
        (vec![ic, h, w], vec![oc, icg, kh, kw], vec![oc, oh, ow])
    };
    let d = if c.one_d { 1 } else { 2 };
    let mut tensors = vec![
        tensor("x", &x_shape, TensorKind::Input),
        weight("k", &k_shape, 5),
    ];
    let mut inputs = vec![0, 1];
    if c.bias {
        tensors.push(weight("b", &[oc], 6));
        inputs.push(2);
    }
    tensors.push(tensor("y", &y_shape, TensorKind::Activation));
    let out = tensors.len() - 1;
    let op = Op::Conv(Conv {
        strides: c.stride[2 - d..].to_vec(),
        dilations: c.dilation[2 - d..].to_vec(),
        pads: c.pads[2 - d..].to_vec(),
        groups: c.groups,
    });
    let model = Model {
        name: "conv".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors,
        nodes: vec![node("conv", op, &inputs, out)],
        inputs: vec![0],
        outputs: vec![out],
    };
    let input = small_input(ic * h * w, 3);
    (model, input)
}

fn values(model: &Model, t: usize) -> Vec<i64> {
    match &model.tensors[t].kind {
        TensorKind::Weight { values } => values.clone(),
        _ => panic!("not a weight"),
    }
}

#[test]
fn conv_matches_the_reference_and_proves() {
    let cases = [
        // 3x3, stride 1, pad 1, bias.
        ConvCase {
            x: [2, 5, 6],
            k: [3, 3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [(1, 1), (1, 1)],
            groups: 1,
            bias: true,
            one_d: false,
        },
        // Stride 2, dilation 2, asymmetric pads, no bias.
        ConvCase {
            x: [3, 7, 6],
            k: [2, 3, 2],
            stride: [2, 2],
            dilation: [2, 1],
            pads: [(1, 0), (0, 2)],
            groups: 1,
            bias: false,
            one_d: false,
        },
        // Depthwise (groups = channels), bias.
        ConvCase {
            x: [4, 4, 4],
            k: [4, 3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [(1, 1), (1, 1)],
            groups: 4,
            bias: true,
            one_d: false,
        },
        // Two groups of two input and three output channels.
        ConvCase {
            x: [4, 3, 5],
            k: [6, 2, 2],
            stride: [1, 2],
            dilation: [1, 1],
            pads: [(0, 0), (1, 0)],
            groups: 2,
            bias: true,
            one_d: false,
        },
        // 1-D, pad 1, stride 2.
        ConvCase {
            x: [3, 1, 9],
            k: [2, 1, 3],
            stride: [1, 2],
            dilation: [1, 1],
            pads: [(0, 0), (1, 1)],
            groups: 1,
            bias: true,
            one_d: true,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let (model, input) = conv_model(c);
        let got = model.execute(&input).unwrap().values[model.outputs[0]].clone();
        let bias = c.bias.then(|| values(&model, 2));
        let want = reference_conv(
            &input,
            c.x,
            &values(&model, 1),
            c.k,
            bias.as_deref(),
            c.stride,
            c.dilation,
            c.pads,
            c.groups,
            7,
        );
        assert_eq!(got, want, "case {i}");
        prove_and_tamper(model, &input, 0);
    }
}

#[test]
fn conv_shapes_that_do_not_fit_are_refused() {
    let (mut model, _) = conv_model(&ConvCase {
        x: [2, 5, 6],
        k: [3, 3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [(1, 1), (1, 1)],
        groups: 1,
        bias: true,
        one_d: false,
    });
    model.tensors[3].shape = vec![3, 5, 5];
    let err = model.validate().unwrap_err();
    assert!(
        err.contains("conv") && err.contains("output spatial"),
        "{err}"
    );
    if let Op::Conv(c) = &mut model.nodes[0].op {
        c.groups = 3;
    }
    let err = model.validate().unwrap_err();
    assert!(err.contains("groups"), "{err}");
}

/// A one-node model of `op` over activations/weights of the given shapes:
/// tensor 0 is the input; `weights` are added as weights after it.
fn one_node(op: Op, input: &[usize], weights: &[&[usize]], output: &[usize]) -> Model {
    let mut tensors = vec![tensor("x", input, TensorKind::Input)];
    for (i, w) in weights.iter().enumerate() {
        tensors.push(weight(&format!("w{i}"), w, 7 + i as i64));
    }
    tensors.push(tensor("y", output, TensorKind::Activation));
    let out = tensors.len() - 1;
    let inputs: Vec<usize> = (0..out).collect();
    Model {
        name: "one-op".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors,
        nodes: vec![node("op", op, &inputs, out)],
        inputs: vec![0],
        outputs: vec![out],
    }
}

fn run(model: &Model, input: &[i64]) -> Vec<i64> {
    model.execute(input).unwrap().values[model.outputs[0]].clone()
}

/// (channels, spatial input, kernel, strides, pads).
type PoolCase = (
    usize,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    Vec<(usize, usize)>,
);

#[test]
fn max_pool_takes_the_max_of_real_taps_and_proves() {
    use zkinfer::ops::conv::Window;
    use zkinfer::ops::max_pool::MaxPool;
    // 2x2 stride 2; 3x3 stride 2 pad 1 (padding is not a candidate); 1-D.
    let cases: [PoolCase; 3] = [
        (3, vec![4, 6], vec![2, 2], vec![2, 2], vec![(0, 0), (0, 0)]),
        (2, vec![5, 5], vec![3, 3], vec![2, 2], vec![(1, 1), (1, 1)]),
        (2, vec![7], vec![3], vec![2], vec![(1, 1)]),
    ];
    for (i, (c, input, kernel, strides, pads)) in cases.into_iter().enumerate() {
        let window = Window {
            channels: c,
            input: input.clone(),
            kernel: kernel.clone(),
            strides: strides.clone(),
            pads: pads.clone(),
        };
        let out: Vec<usize> = (0..input.len())
            .map(|d| (input[d] + pads[d].0 + pads[d].1 - kernel[d]) / strides[d] + 1)
            .collect();
        let mut x_shape = vec![c];
        x_shape.extend(&input);
        let mut y_shape = vec![c];
        y_shape.extend(&out);
        let model = one_node(Op::MaxPool(MaxPool(window)), &x_shape, &[], &y_shape);
        // All-negative inputs: a zero-padded max would be wrong.
        let x: Vec<i64> = small_input(x_shape.iter().product(), i as i64)
            .into_iter()
            .map(|v| -v.abs() - 1)
            .collect();
        let got = run(&model, &x);
        // Reference: max over in-bounds taps, written per dimension.
        let (h, w) = if input.len() == 2 {
            (input[0], input[1])
        } else {
            (1, input[0])
        };
        let (oh, ow) = if out.len() == 2 {
            (out[0], out[1])
        } else {
            (1, out[0])
        };
        let k = |d: usize| {
            if input.len() == 2 {
                (kernel[d], strides[d], pads[d].0)
            } else if d == 0 {
                (1, 1, 0)
            } else {
                (kernel[0], strides[0], pads[0].0)
            }
        };
        let mut want = Vec::new();
        for ch in 0..c {
            for a in 0..oh {
                for b in 0..ow {
                    let mut best = i64::MIN;
                    for p in 0..k(0).0 {
                        for q in 0..k(1).0 {
                            let (y, z) = (
                                (a * k(0).1 + p) as isize - k(0).2 as isize,
                                (b * k(1).1 + q) as isize - k(1).2 as isize,
                            );
                            if y >= 0 && z >= 0 && (y as usize) < h && (z as usize) < w {
                                best = best.max(x[(ch * h + y as usize) * w + z as usize]);
                            }
                        }
                    }
                    want.push(best);
                }
            }
        }
        assert_eq!(got, want, "case {i}");
        prove_and_tamper(model, &x, 0);
    }
}

#[test]
fn index_map_ops_match_their_references_and_prove() {
    use zkinfer::ops::{
        concat::Concat, conv::Window, pad::Pad, reduce_sum::ReduceSum, reshape::Reshape,
        slice::Slice, sum_pool::SumPool, transpose::Transpose,
    };
    let x: Vec<i64> = small_input(24, 1);
    // Transpose [2,3,4] by [2,0,1] → [4,2,3].
    let m = one_node(
        Op::Transpose(Transpose {
            input: vec![2, 3, 4],
            perm: vec![2, 0, 1],
        }),
        &[2, 3, 4],
        &[],
        &[4, 2, 3],
    );
    let mut want = Vec::new();
    for c in 0..4 {
        for a in 0..2 {
            for b in 0..3 {
                want.push(x[(a * 3 + b) * 4 + c]);
            }
        }
    }
    assert_eq!(run(&m, &x), want);
    prove_and_tamper(m, &x, 0);
    // Reshape [2,3,4] → [4,6] (a new padded layout).
    let m = one_node(Op::Reshape(Reshape), &[2, 3, 4], &[], &[4, 6]);
    assert_eq!(run(&m, &x), x);
    prove_and_tamper(m, &x, 0);
    // Slice axis 2 of [2,3,4] from 1 every 2 → [2,3,2].
    let m = one_node(
        Op::Slice(Slice {
            input: vec![2, 3, 4],
            axis: 2,
            start: 1,
            step: 2,
            count: 2,
        }),
        &[2, 3, 4],
        &[],
        &[2, 3, 2],
    );
    let want: Vec<i64> = (0..6).flat_map(|r| [x[r * 4 + 1], x[r * 4 + 3]]).collect();
    assert_eq!(run(&m, &x), want);
    prove_and_tamper(m, &x, 0);
    // Concat [2,3,4] with a weight [2,1,4] along axis 1 → [2,4,4].
    let m = one_node(
        Op::Concat(Concat {
            inputs: vec![vec![2, 3, 4], vec![2, 1, 4]],
            axis: 1,
        }),
        &[2, 3, 4],
        &[&[2, 1, 4]],
        &[2, 4, 4],
    );
    let k = values(&m, 1);
    let want: Vec<i64> = (0..2)
        .flat_map(|a| {
            x[a * 12..a * 12 + 12]
                .iter()
                .chain(&k[a * 4..a * 4 + 4])
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(run(&m, &x), want);
    prove_and_tamper(m, &x, 0);
    // Pad [2,3,4] by (1,0),(0,2),(1,1) → [3,5,6].
    let m = one_node(
        Op::Pad(Pad {
            input: vec![2, 3, 4],
            pads: vec![(1, 0), (0, 2), (1, 1)],
        }),
        &[2, 3, 4],
        &[],
        &[3, 5, 6],
    );
    let got = run(&m, &x);
    assert_eq!(
        got.iter().filter(|&&v| v != 0).count(),
        x.iter().filter(|&&v| v != 0).count()
    );
    // x[0, 0, 0] lands at [1, 0, 1].
    assert_eq!(got[5 * 6 + 1], x[0]);
    assert_eq!(got[(2 * 5 + 2) * 6 + 4], x[23]);
    prove_and_tamper(m, &x, 0);
    // ReduceSum over axes 0 and 2 of [2,3,4] → [1,3,1] (IR shape [3]).
    let m = one_node(
        Op::ReduceSum(ReduceSum {
            input: vec![2, 3, 4],
            axes: vec![0, 2],
        }),
        &[2, 3, 4],
        &[],
        &[3],
    );
    let want: Vec<i64> = (0..3)
        .map(|b| {
            (0..2)
                .flat_map(|a| (0..4).map(move |c| (a, c)))
                .map(|(a, c)| x[(a * 3 + b) * 4 + c])
                .sum()
        })
        .collect();
    assert_eq!(run(&m, &x), want);
    prove_and_tamper(m, &x, 0);
    // SumPool 2x2 stride 1 pad (0,1) over [2,3,4] → [2,2,4].
    let m = one_node(
        Op::SumPool(SumPool(Window {
            channels: 2,
            input: vec![3, 4],
            kernel: vec![2, 2],
            strides: vec![1, 1],
            pads: vec![(0, 0), (0, 1)],
        })),
        &[2, 3, 4],
        &[],
        &[2, 2, 4],
    );
    let got = run(&m, &x);
    let at = |c: usize, h: usize, w: usize| if w < 4 { x[(c * 3 + h) * 4 + w] } else { 0 };
    assert_eq!(
        got[0],
        at(0, 0, 0) + at(0, 0, 1) + at(0, 1, 0) + at(0, 1, 1)
    );
    assert_eq!(
        got[15],
        at(1, 1, 3) + at(1, 1, 4) + at(1, 2, 3) + at(1, 2, 4)
    );
    prove_and_tamper(m, &x, 0);
}

/// A proof whose max-pool selector leaves the output's padded positions
/// unselected is rejected: padded positions must select tap 0, which is what
/// forces the output's padding to zero (found in review: otherwise a prover
/// could put anything there, and a MatMul of two such outputs over a
/// non-power-of-two inner dimension would sum it into real outputs).
#[test]
fn max_pool_padding_must_select_a_tap() {
    use zkinfer::ops::conv::Window;
    use zkinfer::ops::max_pool::MaxPool;
    let window = Window {
        channels: 3,
        input: vec![4, 6],
        kernel: vec![2, 2],
        strides: vec![2, 2],
        pads: vec![(0, 0), (0, 0)],
    };
    // Output [3, 2, 3]: channels and width pad to 4.
    let model = one_node(Op::MaxPool(MaxPool(window)), &[3, 4, 6], &[], &[3, 2, 3]);
    let x = small_input(72, 2);
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setup(),
    )
    .unwrap();
    let mut witness = model.execute(&x).unwrap();
    let p = proof::prove_witness(CpuBackend::global(), &pk, &x, &witness).unwrap();
    proof::verify(&pk.vk, &x, &p).unwrap();
    // Tap 0's slice of the selector, at the padded output positions.
    let selector = &mut witness.aux[0][1];
    let y_pad = 4 * 2 * 4;
    let real: Vec<usize> = (0..3)
        .flat_map(|c| (0..2).flat_map(move |h| (0..3).map(move |w| (c * 2 + h) * 4 + w)))
        .collect();
    for at in (0..y_pad).filter(|at| !real.contains(at)) {
        assert_eq!(selector[at], 1);
        selector[at] = 0;
    }
    // The prover may refuse it; if it proves, the verifier must not accept.
    if let Ok(q) = proof::prove_witness(CpuBackend::global(), &pk, &x, &witness) {
        assert!(
            proof::verify(&pk.vk, &x, &q).is_err(),
            "unselected padding accepted"
        );
    }
}

/// Keys a verifier may be handed: degenerate or huge geometries are refused
/// by validation (no panic, no unbounded work), and a long chain of ReLUs
/// lays out without deep recursion.
#[test]
fn hostile_geometries_are_refused_and_relu_chains_lay_out() {
    use zkinfer::ops::conv::Window;
    use zkinfer::ops::max_pool::MaxPool;
    use zkinfer::ops::sum_pool::SumPool;
    // A convolution with no input channels.
    let mut model = one_node(
        Op::Conv(Conv {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads: vec![(0, 0), (0, 0)],
            groups: 1,
        }),
        &[0, 3, 3],
        &[&[2, 0, 1, 1]],
        &[2, 3, 3],
    );
    assert!(model.validate().is_err());
    // Pools with kernels whose product overflows.
    for huge in [
        Op::MaxPool(MaxPool(Window {
            channels: 1,
            input: vec![1 << 40, 1 << 40],
            kernel: vec![1 << 40, 1 << 40],
            strides: vec![1, 1],
            pads: vec![(0, 0), (0, 0)],
        })),
        Op::SumPool(SumPool(Window {
            channels: usize::MAX,
            input: vec![2, 2],
            kernel: vec![2, 2],
            strides: vec![1, 1],
            pads: vec![(0, 0), (0, 0)],
        })),
    ] {
        model = one_node(huge, &[1, 2, 2], &[], &[1, 1, 1]);
        assert!(model.validate().is_err());
    }
    // 3,000 ReLUs in a chain.
    let mut tensors = vec![tensor("x", &[1, 4], TensorKind::Input)];
    let mut nodes = Vec::new();
    for i in 0..3000 {
        tensors.push(tensor(&format!("t{i}"), &[1, 4], TensorKind::Activation));
        nodes.push(node(&format!("relu{i}"), Op::Relu, &[i], i + 1));
    }
    let chain = Model {
        name: "chain".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors,
        nodes,
        inputs: vec![0],
        outputs: vec![3000],
    };
    chain.validate().unwrap();
    let (witness_layout, _) = proof::block_layouts(&chain, WeightVisibility::Public);
    assert!(witness_layout.num_vars > 0);
}

/// Gather of table rows by ids that are the model input: the output copies
/// the rows the public ids name; proofs for other ids, forged rows or bad ids
/// are rejected.
#[test]
fn gather_copies_the_rows_the_public_ids_name_and_proves() {
    let rows = 10usize;
    let dim = 3usize;
    let ids_len = 5usize;
    let mut tensors = vec![
        weight("table", &[rows, dim], 3),
        tensor("ids", &[1, ids_len], TensorKind::Input),
        tensor("y", &[ids_len, dim], TensorKind::Activation),
    ];
    tensors.swap(0, 1);
    // tensors: 0 = ids (input), 1 = table (weight), 2 = y.
    let model = Model {
        name: "gather".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors,
        nodes: vec![node("emb", Op::Gather, &[1, 0], 2)],
        inputs: vec![0],
        outputs: vec![2],
    };
    model.validate().unwrap();
    let table = values(&model, 1);
    // Ids are held as id·2^7; -1 is the last row.
    let ids: Vec<i64> = [3i64, 0, 9, -1, 3].iter().map(|v| v << 7).collect();
    let y = run(&model, &ids);
    for (t, &id) in [3usize, 0, 9, 9, 3].iter().enumerate() {
        assert_eq!(&y[t * dim..(t + 1) * dim], &table[id * dim..(id + 1) * dim]);
    }
    prove_and_tamper(model.clone(), &ids, 0);

    // A proof for these ids does not verify for other ids.
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Committed,
        setup(),
    )
    .unwrap();
    let p = proof::prove(CpuBackend::global(), &pk, &ids).unwrap();
    let mut other = ids.clone();
    other[1] = 5 << 7;
    assert!(proof::verify(&pk.vk, &other, &p).is_err());
    let mut swapped = p.clone();
    swapped.input = other.clone();
    assert!(proof::verify(&pk.vk, &other, &swapped).is_err());

    // Ids outside the table or not whole are refused by the prover, and a
    // statement with such an id by the verifier.
    for bad in [10i64 << 7, -11 << 7, (2 << 7) + 1] {
        let mut input = ids.clone();
        input[0] = bad;
        let err = model.execute(&input).unwrap_err().to_string();
        assert!(err.contains("id") && err.contains("emb"), "{err}");
        let mut forged = p.clone();
        forged.input = input.clone();
        assert!(proof::verify(&pk.vk, &input, &forged).is_err());
    }

    // The table must be a constant and the ids a model input.
    let mut computed = model.clone();
    computed.nodes[0].inputs = vec![0, 0];
    assert!(computed.validate().is_err());
}

/// Products of two activations batched over heads, against a direct
/// reference, with non-power-of-two sizes so padding is exercised.
#[test]
fn batched_matmul_multiplies_each_head_and_proves() {
    let (b, m, k, n) = (3usize, 3usize, 5usize, 2usize);
    let model = Model {
        name: "heads".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("q", &[b, m, k], TensorKind::Input),
            tensor("kt", &[b, k, n], TensorKind::Input),
            tensor("scores", &[b, m, n], TensorKind::Activation),
        ],
        nodes: vec![node("scores", Op::BatchedMatMul, &[0, 1], 2)],
        inputs: vec![0, 1],
        outputs: vec![2],
    };
    model.validate().unwrap();
    let input = small_input(b * m * k + b * k * n, 5);
    let (x, w) = input.split_at(b * m * k);
    let y = run(&model, &input);
    for h in 0..b {
        for i in 0..m {
            for j in 0..n {
                let acc: i128 = (0..k)
                    .map(|l| x[(h * m + i) * k + l] as i128 * w[(h * k + l) * n + j] as i128)
                    .sum();
                let (q, _) = zkinfer::model::rescale(acc, 7);
                assert_eq!(y[(h * m + i) * n + j] as i128, q, "head {h} ({i}, {j})");
            }
        }
    }
    prove_and_tamper(model.clone(), &input, 0);

    // Shapes that do not pair up are refused.
    let mut bad = model.clone();
    bad.tensors[1].shape = vec![b, k + 1, n];
    assert!(bad.validate().is_err());
    let mut bad = model;
    bad.tensors[2].shape = vec![b, n, m];
    assert!(bad.validate().is_err());
}

/// The Erf, Exp and GELU tables (Softmax's exponent, GELU's forms): outputs
/// are the rounded functions, Exp saturating at the largest activation; the
/// looked-up pairs reject tampering like every op.
#[test]
fn erf_and_exp_tables_round_their_functions_and_prove() {
    let input: Vec<i64> = (0..12).map(|i| (i - 6) * 97).collect();
    for (op, f) in [
        (Op::Erf, libm::erf as fn(f64) -> f64),
        (Op::Exp, f64::exp as fn(f64) -> f64),
    ] {
        let model = one_node(op.clone(), &[1, 12], &[], &[1, 12]);
        let y = run(&model, &input);
        for (x, y) in input.iter().zip(&y) {
            let want = ((f(*x as f64 / 128.0) * 128.0).round() as i64).min((1 << 15) - 1);
            assert_eq!(*y, want, "{op:?}({x})");
        }
        prove_and_tamper(model, &input, 0);
    }
    // e^(5820/128) ≈ 5·10^19 ≥ 2^15/2^7: saturated.
    let model = one_node(Op::Exp, &[1, 1], &[], &[1, 1]);
    assert_eq!(run(&model, &[5820]), vec![(1 << 15) - 1]);
    // GELU's two forms, against their formulas.
    for (op, f) in [
        (
            Op::Gelu,
            (|x: f64| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as fn(f64) -> f64,
        ),
        (Op::GeluTanh, |x: f64| {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }),
    ] {
        let model = one_node(op.clone(), &[1, 12], &[], &[1, 12]);
        let y = run(&model, &input);
        for (x, y) in input.iter().zip(&y) {
            let want = (f(*x as f64 / 128.0) * 128.0).round() as i64;
            assert_eq!(*y, want, "{op:?}({x})");
        }
        prove_and_tamper(model, &input, 0);
    }
}

/// `Div` of two activations with a broadcast divisor: the quotient rounded
/// half up at the model's scale, a non-positive divisor refused by execution;
/// tampering rejected, and a forged quotient whose remainder is moved out of
/// `[0, 2b)` to keep the identity is refused or rejected.
#[test]
fn div_rounds_the_quotient_of_two_activations_and_proves() {
    let model = Model {
        name: "div".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("a", &[2, 5], TensorKind::Input),
            tensor("b", &[2, 1], TensorKind::Input),
            tensor("q", &[2, 5], TensorKind::Activation),
        ],
        nodes: vec![node("q", Op::Div, &[0, 1], 2)],
        inputs: vec![0, 1],
        outputs: vec![2],
    };
    model.validate().unwrap();
    let a = [-300i64, -129, 0, 1, 640, 500, -7, 99, 255, -256];
    let b = [384i64, 3];
    let input: Vec<i64> = a.iter().chain(&b).copied().collect();
    let y = run(&model, &input);
    for (i, (&a, &q)) in a.iter().zip(&y).enumerate() {
        let divisor = b[i / 5] as f64;
        let want = (a as f64 * 128.0 / divisor + 0.5).floor() as i64;
        assert_eq!(q, want, "{a} / {divisor}");
    }
    prove_and_tamper(model.clone(), &input, 0);

    // The remainder moved by 2b (the identity still holds, the bound does not).
    let witness = model.execute(&input).unwrap();
    let mut forged = witness.clone();
    forged.values[2][0] += 1;
    let r = forged.remainders[0].as_mut().unwrap();
    r[0] -= 2 * b[0];
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setup(),
    )
    .unwrap();
    if let Ok(p) = proof::prove_witness(CpuBackend::global(), &pk, &input, &forged) {
        assert!(proof::verify(&pk.vk, &input, &p).is_err());
    }

    // A zero or negative divisor is an execution error, not a panic.
    for bad in [0i64, -5] {
        let mut input = input.clone();
        input[10] = bad;
        let err = model.execute(&input).unwrap_err().to_string();
        assert!(err.contains("positive divisor"), "{err}");
    }
    // Only the divisor broadcasts.
    let mut bad = model;
    bad.tensors[0].shape = vec![2, 1];
    bad.tensors[1].shape = vec![2, 5];
    assert!(bad.validate().is_err());
}

/// `ReduceMax` over the last axis: the row max (ties and negative rows
/// included); tampering rejected, and a witness claiming one more than the max
/// (differences and selector kept consistent) is refused or rejected.
#[test]
fn reduce_max_takes_the_row_max_and_proves() {
    let model = one_node(Op::ReduceMax, &[3, 5], &[], &[3, 1]);
    model.validate().unwrap();
    let input = vec![
        3, -7, 3, 1, 0, // a tie
        -9, -4, -30, -4, -100, // all negative
        32767, -32768, 5, 6, 7, // the range's ends
    ];
    assert_eq!(run(&model, &input), vec![3, -4, 32767]);
    prove_and_tamper(model.clone(), &input, 0);

    // Y = max + 1 on row 0 with D = Y − X recomputed: D stays in range, so
    // only the selector's "Y is the selected entry" check can catch it.
    let witness = model.execute(&input).unwrap();
    let mut forged = witness.clone();
    forged.values[1][0] += 1;
    let padded_row = 8; // 5 padded to 8
    for c in 0..5 {
        forged.aux[0][0][c] += 1;
    }
    assert_eq!(forged.aux[0][0].len(), 4 * padded_row);
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setup(),
    )
    .unwrap();
    let p = proof::prove_witness(CpuBackend::global(), &pk, &input, &forged);
    if let Ok(p) = p {
        assert!(
            proof::verify(&pk.vk, &input, &p).is_err(),
            "overstated max accepted"
        );
    }

    // The output must be the input with its last axis reduced to 1.
    for shape in [vec![3usize], vec![1, 3], vec![3, 2]] {
        let mut bad = model.clone();
        bad.tensors[1].shape = shape;
        assert!(bad.validate().is_err());
    }
}

/// `MaxShift` (Softmax's `x − max` with no max committed): each row minus
/// its max (ties and negative rows included); tampering rejected, and forged
/// witnesses refused or rejected: a shift by more than the max, by less than
/// it (an entry above 0), by an entry below the max, by another row's max, a
/// selector on a padded position or in a padded row. Alone (its output public)
/// and read by an Exp (its output committed only).
#[test]
fn max_shift_subtracts_the_row_max_and_proves() {
    let alone = one_node(Op::MaxShift, &[3, 5], &[], &[3, 5]);
    let with_exp = Model {
        name: "shift-exp".into(),
        scale_bits: 7,
        activation_bits: 16,
        tensors: vec![
            tensor("x", &[3, 5], TensorKind::Input),
            tensor("d", &[3, 5], TensorKind::Activation),
            tensor("y", &[3, 5], TensorKind::Activation),
        ],
        nodes: vec![
            node("shift", Op::MaxShift, &[0], 1),
            node("exp", Op::Exp, &[1], 2),
        ],
        inputs: vec![0],
        outputs: vec![2],
    };
    let input = vec![
        3, -7, 3, 1, 0, // a tie
        -9, -4, -30, -4, -100, // all negative
        32767, 1, 5, 6, 0, // the range's top; x − max = −32767 at the end
    ];
    let want: Vec<i64> = input
        .chunks(5)
        .flat_map(|row| {
            let max = *row.iter().max().unwrap();
            row.iter().map(move |v| v - max)
        })
        .collect();
    assert_eq!(run(&alone, &input), want);
    assert_eq!(want[14], -32767);
    // Padded layout: rows 3 → 4, columns 5 → 8.
    let at = |i: usize, n: usize| i * 8 + n;
    for model in [alone.clone(), with_exp] {
        prove_and_tamper(model.clone(), &input, 0);
        let pk = proof::preprocess(
            CpuBackend::global(),
            model.clone(),
            WeightVisibility::Public,
            setup(),
        )
        .unwrap();
        let witness = model.execute(&input).unwrap();
        assert_eq!(witness.values[1], want);
        assert_eq!(witness.aux[0][0].len(), 32);
        assert_eq!(witness.aux[0][0][at(0, 0)], 1);
        // Forges tensor 1 (the shift) and recomputes what reads it.
        let prove = |mut forged: zkinfer::model::Witness| {
            if model.nodes.len() == 2 {
                let exp = zkinfer::ops::protocol(&Op::Exp)
                    .execute(&model, &model.nodes[1], &[&forged.values[1]])
                    .unwrap();
                forged.values[2] = exp.output;
            }
            proof::prove_witness(CpuBackend::global(), &pk, &input, &forged)
        };
        let rejected = |forged: zkinfer::model::Witness, what: &str| {
            // The prover may refuse it; if it proves, the verifier must not accept.
            if let Ok(p) = prove(forged) {
                assert!(
                    proof::verify(&pk.vk, &input, &p).is_err(),
                    "{}: {what} accepted",
                    model.name
                );
            }
        };
        // A tie may select either maximal entry: the output is the same.
        let mut tie = witness.clone();
        tie.aux[0][0][at(0, 0)] = 0;
        tie.aux[0][0][at(0, 2)] = 1;
        let p = prove(tie).unwrap();
        proof::verify(&pk.vk, &input, &p).unwrap();
        // Shifted by max + 1 on row 0: every entry ≤ −1 passes the range
        // check, only "the shift is the selected entry" can catch it.
        let mut high = witness.clone();
        for v in &mut high.values[1][0..5] {
            *v -= 1;
        }
        rejected(high, "a shift by more than the max");
        // Shifted by max − 1: the max's entry becomes 1.
        let mut low = witness.clone();
        for v in &mut low.values[1][0..5] {
            *v += 1;
        }
        rejected(low, "a shift by less than the max");
        // Shifted by a smaller entry, which the selector selects: entries
        // above it are positive.
        let mut smaller = witness.clone();
        smaller.aux[0][0][at(0, 0)] = 0;
        smaller.aux[0][0][at(0, 3)] = 1;
        for n in 0..5 {
            smaller.values[1][n] = input[n] - input[3];
        }
        rejected(smaller, "a shift by an entry below the max");
        // Row 1 (all negative) shifted by the padded zero at column 5,
        // selected: every entry stays ≤ 0 and Σ S·X = 0 is the shift; only
        // the padded positions' term catches it.
        let mut padded = witness.clone();
        padded.aux[0][0][at(1, 1)] = 0;
        padded.aux[0][0][at(1, 5)] = 1;
        padded.values[1][5..10].copy_from_slice(&input[5..10]);
        rejected(padded, "a selected padded position");
        // A selector in the padded row 3 (X and Y are 0 there).
        let mut padded_row = witness.clone();
        padded_row.aux[0][0][at(3, 0)] = 1;
        rejected(padded_row, "a selector in a padded row");
        // Row 1 shifted by row 0's max (3): entries stay ≤ 0.
        let mut wrong_row = witness.clone();
        for (y, x) in wrong_row.values[1][5..10].iter_mut().zip(&input[5..10]) {
            *y = x - 3;
        }
        rejected(wrong_row, "another row's max");
    }

    // x − max below −(2^15 − 1) is refused by execution, naming the op; so
    // are output shapes other than the input's.
    let err = alone
        .execute(&[32767, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("MaxShift") && err.contains("-32768"), "{err}");
    for shape in [vec![3usize, 1], vec![5, 3], vec![15]] {
        let mut bad = alone.clone();
        bad.tensors[1].shape = shape;
        assert!(bad.validate().is_err());
    }
}

/// The Sqrt, Rsqrt and Reciprocal tables (LayerNorm's 1/√(var + ε), a
/// model's 1/x): the rounded functions, saturating at the activation bounds
/// where they leave them (1/√0, 1/0) and reading x < 0 as 0 under a root.
#[test]
fn root_and_reciprocal_tables_round_their_functions_and_prove() {
    let input: Vec<i64> = vec![-300, -1, 0, 1, 2, 64, 128, 129, 512, 4000, 32767, -32768];
    let max = (1i64 << 15) - 1;
    let min = -(1i64 << 15);
    let quantize = |v: f64| ((v * 128.0).round() as i64).clamp(min, max);
    type Reference = fn(f64) -> f64;
    let cases: [(Op, Reference); 3] = [
        (Op::Sqrt, |x| x.max(0.0).sqrt()),
        (Op::Rsqrt, |x| 1.0 / x.max(0.0).sqrt()),
        (Op::Reciprocal, |x| 1.0 / x),
    ];
    for (op, f) in cases {
        let model = one_node(op.clone(), &[1, 12], &[], &[1, 12]);
        let y = run(&model, &input);
        for (x, y) in input.iter().zip(&y) {
            assert_eq!(*y, quantize(f(*x as f64 / 128.0)), "{op:?}({x})");
        }
        prove_and_tamper(model, &input, 0);
    }
    let rsqrt = one_node(Op::Rsqrt, &[1, 1], &[], &[1, 1]);
    assert_eq!(run(&rsqrt, &[0]), vec![max]);
    assert_eq!(run(&rsqrt, &[128]), vec![128]);
    let recip = one_node(Op::Reciprocal, &[1, 3], &[], &[1, 3]);
    assert_eq!(run(&recip, &[0, 1, -1]), vec![max, 1 << 14, -(1 << 14)]);
}

/// `SumSquares` (a norm's mean square): `rescale(Σ x², s + shift)` per row,
/// in range even where single squares are not; tampering rejected.
#[test]
fn sum_squares_rescales_the_row_sum_once_and_proves() {
    use zkinfer::ops::sum_squares::SumSquares;
    let model = one_node(
        Op::SumSquares(SumSquares { shift: 2 }),
        &[3, 4],
        &[],
        &[3, 1],
    );
    model.validate().unwrap();
    // Row 2's squares (4·10^6 each) are far outside the activation range;
    // their mean square at the scale is not.
    let input = vec![128, -128, 64, 0, -5, 7, 1, 300, 2000, -2000, 2000, -2000];
    let y = run(&model, &input);
    for (row, &y) in input.chunks(4).zip(&y) {
        let sum: i128 = row.iter().map(|&v| v as i128 * v as i128).sum();
        assert_eq!(y as i128, zkinfer::model::rescale(sum, 7 + 2).0, "{row:?}");
    }
    assert_eq!(y[2], 4 * 2000 * 2000 / 512);
    prove_and_tamper(model.clone(), &input, 0);
    let mut bad = model.clone();
    bad.tensors[1].shape = vec![3, 4];
    assert!(bad.validate().is_err());
    let mut bad = model;
    bad.nodes[0].op = Op::SumSquares(SumSquares { shift: 99 });
    assert!(bad.validate().is_err());
}

/// `Select` (`Where` with a constant condition, and `Mul` by a 0/1 mask): x
/// where the broadcast mask keeps it, the constant fill elsewhere; tampering
/// rejected, a forged entry (kept or filled) rejected, and masks that do not
/// fit, or fills outside the activation range, refused.
#[test]
fn select_copies_kept_entries_and_fills_the_rest_and_proves() {
    use zkinfer::ops::select::Select;
    let x: Vec<i64> = small_input(24, 3);
    // A [3,4] mask broadcast over [2,3,4]: a causal-like pattern, fills of
    // 0, the range's ends and a plain constant.
    let fill: Vec<Option<i64>> = (0..12)
        .map(|i| {
            let (r, c) = (i / 4, i % 4);
            match (c <= r, i % 3) {
                (true, _) => None,
                (false, 0) => Some(-16384),
                (false, 1) => Some(0),
                (false, _) => Some(if c == 3 { 32767 } else { -32768 }),
            }
        })
        .collect();
    let select = Select {
        shape: vec![3, 4],
        fill: fill.clone(),
    };
    let model = one_node(Op::Select(select.clone()), &[2, 3, 4], &[], &[2, 3, 4]);
    let want: Vec<i64> = (0..24).map(|o| fill[o % 12].unwrap_or(x[o])).collect();
    assert_eq!(run(&model, &x), want);
    prove_and_tamper(model.clone(), &x, 0);

    // Forge one filled entry (index 1: row 0, column 1) and one kept entry
    // (index 12): each is rejected.
    let witness = model.execute(&x).unwrap();
    let pk = proof::preprocess(
        CpuBackend::global(),
        model.clone(),
        WeightVisibility::Public,
        setup(),
    )
    .unwrap();
    for at in [1, 12] {
        let mut forged = witness.clone();
        forged.values[1][at] += 5;
        if let Ok(p) = proof::prove_witness(CpuBackend::global(), &pk, &x, &forged) {
            assert!(
                proof::verify(&pk.vk, &x, &p).is_err(),
                "forged entry {at} accepted"
            );
        }
    }

    // A mask with a broadcast axis in the middle, all kept or all zero.
    let m = one_node(
        Op::Select(Select {
            shape: vec![2, 1, 4],
            fill: vec![None, Some(0), None, Some(0), Some(0), Some(0), None, None],
        }),
        &[2, 3, 4],
        &[],
        &[2, 3, 4],
    );
    let keep = [1, 0, 1, 0, 0, 0, 1, 1];
    let want: Vec<i64> = (0..24).map(|o| x[o] * keep[(o / 12) * 4 + o % 4]).collect();
    assert_eq!(run(&m, &x), want);
    prove_and_tamper(m, &x, 0);

    // Refused: a fill outside the range, a mask of the wrong length or one
    // that does not broadcast, an output of another shape.
    let mut out_of_range = select.clone();
    out_of_range.fill[1] = Some(32768);
    let mut short = select.clone();
    short.fill.pop();
    let wide = Select {
        shape: vec![3, 8],
        fill: vec![None; 24],
    };
    let deep = Select {
        shape: vec![1, 2, 3, 4],
        fill: vec![None; 24],
    };
    for bad in [out_of_range, short, wide, deep] {
        let m = one_node(Op::Select(bad), &[2, 3, 4], &[], &[2, 3, 4]);
        assert!(m.validate().is_err());
    }
    let m = one_node(Op::Select(select), &[2, 3, 4], &[], &[6, 4]);
    assert!(m.validate().is_err());
}
