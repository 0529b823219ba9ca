//! Each op of the framework on small hand-built models: integer semantics
//! against an independent reference, proofs that verify with committed and
//! public weights, and the negative tests every op gets: every value and
//! every sumcheck round of its message changed alone, a wrong public output,
//! and a proof of a witness whose op output is off by one, all rejected.

mod common;

use ark_bn254::Fr;
use common::{node, setup, tensor, weight};
use zkinfer::backend::CpuBackend;
use zkinfer::model::{Model, Op, TensorKind};
use zkinfer::ops::conv::Conv;
use zkinfer::proof::{self, WeightVisibility};

/// Proves `model` on `input` and runs the negative tests on node `target`.
fn prove_and_tamper(model: Model, input: &[i64], target: usize) {
    model.validate().unwrap();
    let witness = model.execute(input).unwrap();
    for visibility in [WeightVisibility::Committed, WeightVisibility::Public] {
        let pk = proof::preprocess(CpuBackend::global(), model.clone(), visibility, setup())
            .unwrap();
        let p = proof::prove::<CpuBackend>(&pk, input).unwrap();
        assert_eq!(p.output, witness.values[model.output]);
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
        assert!(proof::verify(&pk.vk, input, &bad).is_err(), "wrong output accepted");

        // A witness whose op output is off by one (remainder kept): the
        // prover may refuse it; if it proves, the verifier must not accept.
        let mut forged = witness.clone();
        let out = model.nodes[target].output;
        forged.values[out][0] += 1;
        if let Ok(q) = proof::prove_witness::<CpuBackend>(&pk, input, &forged) {
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
        input: 0,
        output: out,
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
        let got = model.execute(&input).unwrap().values[model.output].clone();
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
    assert!(err.contains("conv") && err.contains("output spatial"), "{err}");
    if let Op::Conv(c) = &mut model.nodes[0].op {
        c.groups = 3;
    }
    let err = model.validate().unwrap_err();
    assert!(err.contains("groups"), "{err}");
}
