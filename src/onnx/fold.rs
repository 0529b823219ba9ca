//! IR passes after lowering: fold "MatMul then Add of a constant `[n]` bias"
//! into the MatMul's bias input, fold a constant scale of attention scores
//! into the projection that makes Q (or K), fuse a row max and the `Sub` of it
//! into one `MaxShift` (Softmax's `x − max`), and drop tensors no node uses.

use crate::model::{matrix_dims, Model, Op, TensorId, TensorKind};
use crate::onnx::lower::{trim_leading_ones, WeightFloats};

/// How many times each tensor is read (by nodes, or as a model output).
fn uses(model: &Model) -> Vec<usize> {
    let mut uses = vec![0usize; model.tensors.len()];
    for node in &model.nodes {
        for &t in &node.inputs {
            uses[t] += 1;
        }
    }
    for &t in &model.outputs {
        uses[t] += 1;
    }
    uses
}

/// The node producing each tensor, if any.
fn producers(model: &Model) -> Vec<Option<usize>> {
    let mut producer = vec![None; model.tensors.len()];
    for (i, node) in model.nodes.iter().enumerate() {
        producer[node.output] = Some(i);
    }
    producer
}

/// Folds `Add(MatMul(a, w), bias)` into `MatMul(a, w, bias)` when the bias is
/// a weight of `n` values (one per output column, broadcast over rows) and the
/// MatMul's output feeds only that Add.
pub(crate) fn fold_biases(model: &mut Model) {
    let uses = uses(model);
    let mut producer = producers(model);
    let mut removed = vec![false; model.nodes.len()];
    #[allow(clippy::needless_range_loop)] // j indexes nodes, producer and removed.
    for j in 0..model.nodes.len() {
        if model.nodes[j].op != Op::Add {
            continue;
        }
        let (acc, bias) = (model.nodes[j].inputs[0], model.nodes[j].inputs[1]);
        let Some(i) = producer[acc] else { continue };
        let mm = &model.nodes[i];
        if mm.op != Op::MatMul || mm.inputs.len() != 2 || uses[acc] != 1 || uses[bias] != 1 {
            continue;
        }
        let Some((_, cols)) = matrix_dims(&model.tensors[mm.inputs[1]].shape) else {
            continue;
        };
        let bias_tensor = &model.tensors[bias];
        let bias_shape = trim_leading_ones(&bias_tensor.shape);
        let is_row = bias_shape == [cols] || (cols == 1 && bias_shape.is_empty());
        if !matches!(bias_tensor.kind, TensorKind::Weight { .. })
            || !is_row
            || model.tensors[acc].shape.last() != Some(&cols)
        {
            continue;
        }
        let out = model.nodes[j].output;
        model.tensors[bias].shape = vec![cols];
        let mm = &mut model.nodes[i];
        mm.inputs.push(bias);
        mm.output = out;
        producer[out] = Some(i);
        removed[j] = true;
    }
    let mut keep = removed.iter().map(|r| !r);
    model.nodes.retain(|_| keep.next().unwrap_or(true));
}

/// Folds `Mul(BatchedMatMul(a, b), c)`, `c` a constant scalar with
/// `|c| ≤ 1` (attention's `1/√d` on Q·Kᵀ), into the constant-weight `MatMul`
/// (and bias) that makes `a`, or `b`, through rearrangements only
/// (`Reshape`, `Transpose`): `(c·Q)·Kᵀ = c·(Q·Kᵀ)`, and `c·Q` is the MatMul with
/// weights and bias times c, requantized from their float values (one
/// rounding, as any weight). When both operands come from such projections,
/// each takes `√|c|` (Q the sign): scaling one projection down by c costs it
/// `log2(1/c)` bits of resolution, splitting halves that loss. Every tensor on that path, the weights and the
/// scores included, must be read only there. The rescaling Mul (its output,
/// remainder and range check) disappears; `|c| ≤ 1` keeps the scaled
/// projection inside the activation range whenever the original was.
pub(crate) fn fold_score_scales(model: &mut Model, floats: &WeightFloats) {
    let uses = uses(model);
    let producer = producers(model);
    let weight = |t: TensorId| {
        matches!(model.tensors[t].kind, TensorKind::Weight { .. })
            && uses[t] == 1
            && floats.contains_key(&t)
    };
    // The MatMul reached from `t` through single-use rearrangements.
    let projection = |mut t: TensorId| -> Option<usize> {
        loop {
            if uses[t] != 1 {
                return None;
            }
            let p = producer[t]?;
            let node = &model.nodes[p];
            match &node.op {
                Op::Reshape(_) | Op::Transpose(_) => t = node.inputs[0],
                Op::MatMul if node.inputs[1..].iter().all(|&w| weight(w)) => return Some(p),
                _ => return None,
            }
        }
    };
    let mut folds = Vec::new();
    for (j, node) in model.nodes.iter().enumerate() {
        if node.op != Op::Mul {
            continue;
        }
        let (scores, c) = (node.inputs[0], node.inputs[1]);
        let Some(scale) = floats.get(&c).filter(|v| v.len() == 1).map(|v| v[0]) else {
            continue;
        };
        if !weight(c) || scale.abs() > 1.0 || uses[scores] != 1 {
            continue;
        }
        let Some(b) = producer[scores] else { continue };
        let bmm = &model.nodes[b];
        if bmm.op != Op::BatchedMatMul
            || model.tensors[scores].shape != model.tensors[node.output].shape
        {
            continue;
        }
        let mms: Vec<usize> = bmm.inputs.iter().filter_map(|&o| projection(o)).collect();
        if mms.is_empty() {
            continue;
        }
        folds.push((j, b, mms, scale));
    }
    let mut removed = vec![false; model.nodes.len()];
    for (j, b, mms, scale) in folds {
        // Both operands' projections share the scale (√c each) when both
        // can: each loses half the resolution one alone would.
        let share = (scale as f64).abs().powf(1.0 / mms.len() as f64);
        for (i, &mm) in mms.iter().enumerate() {
            let factor = if i == 0 {
                share * (scale as f64).signum()
            } else {
                share
            };
            for &w in &model.nodes[mm].inputs[1..] {
                let values = floats[&w]
                    .iter()
                    .map(|&v| crate::model::quantize(v as f64 * factor, model.scale_bits))
                    .collect();
                model.tensors[w].kind = TensorKind::Weight { values };
            }
        }
        model.nodes[b].output = model.nodes[j].output;
        removed[j] = true;
    }
    let mut keep = removed.iter().map(|r| !r);
    model.nodes.retain(|_| keep.next().unwrap_or(true));
}

/// The float values of weight `t` as one per column of `cols` (a `[cols]`
/// row or a scalar, leading 1s aside), when `t` is a weight read once.
fn per_column(
    model: &Model,
    floats: &WeightFloats,
    uses: &[usize],
    t: TensorId,
    cols: usize,
) -> Option<Vec<f32>> {
    if !matches!(model.tensors[t].kind, TensorKind::Weight { .. }) || uses[t] != 1 {
        return None;
    }
    let values = floats.get(&t)?;
    match trim_leading_ones(&model.tensors[t].shape) {
        [n] if *n == cols => Some(values.clone()),
        [] | [1] => Some(vec![values[0]; cols]),
        _ => None,
    }
}

/// Folds a norm's affine part, `z = x·γ + β` (γ, β constant per column;
/// `+ β` optional), into the constant-weight `MatMul`s that read z, when
/// they are z's only readers: `z·W + b = x·(diag(γ)·W) + (β·W + b)`, the new
/// weights and bias computed from the float values and quantized once (a
/// MatMul without a bias gets one). The `Mul` and `Add` disappear, with
/// their outputs, remainder and range checks.
pub(crate) fn fold_norm_affines(model: &mut Model, floats: &mut WeightFloats) {
    let uses = uses(model);
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); model.tensors.len()];
    for (i, node) in model.nodes.iter().enumerate() {
        for &t in &node.inputs {
            readers[t].push(i);
        }
    }
    let is_output = |t: TensorId| model.outputs.contains(&t);
    // (mul, add, gamma, beta, matmuls)
    let mut folds = Vec::new();
    for (j, node) in model.nodes.iter().enumerate() {
        if node.op != Op::Mul {
            continue;
        }
        let (x, g) = (node.inputs[0], node.inputs[1]);
        let shape = &model.tensors[x].shape;
        let Some(&cols) = shape.last() else { continue };
        if model.tensors[node.output].shape != *shape
            || !matches!(
                model.tensors[x].kind,
                TensorKind::Activation | TensorKind::Input
            )
        {
            continue;
        }
        let Some(gamma) = per_column(model, floats, &uses, g, cols) else {
            continue;
        };
        let mut z = node.output;
        let mut add = None;
        let mut beta = vec![0f32; cols];
        if let [a] = readers[z][..] {
            let next = &model.nodes[a];
            if next.op == Op::Add && next.inputs[0] == z && !is_output(z) {
                if let Some(b) = per_column(model, floats, &uses, next.inputs[1], cols) {
                    add = Some(a);
                    beta = b;
                    z = next.output;
                }
            }
        }
        let matmuls = &readers[z];
        let foldable = |&m: &usize| {
            let mm = &model.nodes[m];
            mm.op == Op::MatMul
                && mm.inputs.len() >= 2
                && mm.inputs[0] == z
                && model.tensors[mm.inputs[1]].shape.len() == 2
                && model.tensors[mm.inputs[1]].shape[0] == cols
                && mm.inputs[1..].iter().all(|&t| {
                    matches!(model.tensors[t].kind, TensorKind::Weight { .. })
                        && uses[t] == 1
                        && floats.contains_key(&t)
                })
        };
        if is_output(z)
            || matmuls.is_empty()
            || uses[z] != matmuls.len()
            || !matmuls.iter().all(foldable)
        {
            continue;
        }
        folds.push((j, add, gamma, beta, matmuls.clone()));
    }
    let bits = model.scale_bits;
    let quantize = |v: &[f32]| -> Vec<i64> {
        v.iter()
            .map(|&f| crate::model::quantize(f as f64, bits))
            .collect()
    };
    let mut removed = vec![false; model.nodes.len()];
    for (j, add, gamma, beta, matmuls) in folds {
        let x = model.nodes[j].inputs[0];
        for m in matmuls {
            let w = model.nodes[m].inputs[1];
            let n = model.tensors[w].shape[1];
            let old = &floats[&w];
            let scaled: Vec<f32> = (0..gamma.len() * n)
                .map(|at| gamma[at / n] * old[at])
                .collect();
            let shift: Vec<f32> = (0..n)
                .map(|c| {
                    (0..gamma.len())
                        .map(|i| beta[i] as f64 * old[i * n + c] as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            model.tensors[w].kind = TensorKind::Weight {
                values: quantize(&scaled),
            };
            floats.insert(w, scaled);
            let bias: Vec<f32> = match model.nodes[m].inputs.get(2) {
                Some(&b) => floats[&b].iter().zip(&shift).map(|(b, s)| b + s).collect(),
                None => shift,
            };
            let b = match model.nodes[m].inputs.get(2) {
                Some(&b) => b,
                None => {
                    model.tensors.push(crate::model::Tensor {
                        name: format!("{}.bias", model.nodes[m].name),
                        shape: vec![n],
                        kind: TensorKind::Weight { values: Vec::new() },
                    });
                    let b = model.tensors.len() - 1;
                    model.nodes[m].inputs.push(b);
                    b
                }
            };
            model.tensors[b].kind = TensorKind::Weight {
                values: quantize(&bias),
            };
            floats.insert(b, bias);
            model.nodes[m].inputs[0] = x;
        }
        removed[j] = true;
        if let Some(a) = add {
            removed[a] = true;
        }
    }
    let mut keep = removed.iter().map(|r| !r);
    model.nodes.retain(|_| keep.next().unwrap_or(true));
}

/// Drops a `Reshape` whose output only a `Transpose` or another `Reshape`
/// reads: both read their input by row-major index (a Transpose under the
/// logical shape it carries), which a reshape does not change, so the reader
/// takes the reshape's input directly and the copy (a committed tensor)
/// disappears.
pub(crate) fn fold_reshapes(model: &mut Model) {
    let uses = uses(model);
    let mut readers = vec![None; model.tensors.len()];
    for (i, node) in model.nodes.iter().enumerate() {
        for &t in &node.inputs {
            readers[t] = Some(i);
        }
    }
    let mut removed = vec![false; model.nodes.len()];
    #[allow(clippy::needless_range_loop)] // r indexes nodes (mutated below) and removed.
    for r in 0..model.nodes.len() {
        let node = &model.nodes[r];
        if !matches!(node.op, Op::Reshape(_)) || uses[node.output] != 1 {
            continue;
        }
        let (x, y) = (node.inputs[0], node.output);
        let Some(reader) = readers[y] else { continue };
        if !matches!(model.nodes[reader].op, Op::Transpose(_) | Op::Reshape(_))
            || model.tensors[x].len() != model.tensors[y].len()
        {
            continue;
        }
        model.nodes[reader].inputs[0] = x;
        removed[r] = true;
    }
    let mut keep = removed.iter().map(|r| !r);
    model.nodes.retain(|_| keep.next().unwrap_or(true));
}

/// Fuses `Sub(x, ReduceMax(x))` into `MaxShift(x)` when the max is read by
/// that `Sub` alone (not by another node, not a model output): Softmax's
/// `x − max`, and the same written out in a graph. The max, the `Sub`'s
/// range-check limbs and ReduceMax's committed differences (the same values
/// as the `Sub`'s output, negated) disappear; the `Sub`'s output, now
/// MaxShift's, is the one committed copy ([`crate::ops::max_shift`]).
pub(crate) fn fold_max_shifts(model: &mut Model) {
    let uses = uses(model);
    let producer = producers(model);
    let mut folds = Vec::new();
    for (j, node) in model.nodes.iter().enumerate() {
        if node.op != Op::Sub || node.inputs.len() != 2 {
            continue;
        }
        let (x, max) = (node.inputs[0], node.inputs[1]);
        let Some(i) = producer[max] else { continue };
        if model.nodes[i].op != Op::ReduceMax
            || model.nodes[i].inputs != [x]
            || uses[max] != 1
            || model.tensors[node.output].shape != model.tensors[x].shape
        {
            continue;
        }
        folds.push((i, j));
    }
    let mut removed = vec![false; model.nodes.len()];
    for (i, j) in folds {
        let sub = &mut model.nodes[j];
        sub.op = Op::MaxShift;
        sub.inputs.truncate(1);
        removed[i] = true;
    }
    let mut keep = removed.iter().map(|r| !r);
    model.nodes.retain(|_| keep.next().unwrap_or(true));
}

/// Removes tensors that are neither an input, an output, nor used or
/// produced by a node, renumbering the rest in order.
pub(crate) fn compact(model: &mut Model) {
    let mut used = vec![false; model.tensors.len()];
    for &t in model.inputs.iter().chain(&model.outputs) {
        used[t] = true;
    }
    for node in &model.nodes {
        used[node.output] = true;
        for &t in &node.inputs {
            used[t] = true;
        }
    }
    let mut new_id = vec![usize::MAX; model.tensors.len()];
    let mut next = 0;
    for (t, &u) in used.iter().enumerate() {
        if u {
            new_id[t] = next;
            next += 1;
        }
    }
    let mut it = used.iter();
    model.tensors.retain(|_| *it.next().unwrap_or(&false));
    for t in model.inputs.iter_mut().chain(&mut model.outputs) {
        *t = new_id[*t];
    }
    for node in &mut model.nodes {
        node.output = new_id[node.output];
        for t in &mut node.inputs {
            *t = new_id[*t];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, Tensor};

    fn tensor(name: &str, shape: &[usize], kind: TensorKind) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            kind,
        }
    }

    fn dense(bias_shape: &[usize], extra_use: bool) -> Model {
        let w = TensorKind::Weight {
            values: vec![128, 64, -128, 32, 0, 256],
        };
        let b = TensorKind::Weight {
            values: vec![10, -20],
        };
        let mut nodes = vec![
            Node {
                name: "mm".into(),
                op: Op::MatMul,
                inputs: vec![0, 1],
                output: 2,
            },
            Node {
                name: "bias".into(),
                op: Op::Add,
                inputs: vec![2, 3],
                output: 4,
            },
        ];
        if extra_use {
            nodes.push(Node {
                name: "relu".into(),
                op: Op::Relu,
                inputs: vec![2],
                output: 5,
            });
            nodes.push(Node {
                name: "sum".into(),
                op: Op::Add,
                inputs: vec![4, 5],
                output: 6,
            });
        }
        let mut tensors = vec![
            tensor("x", &[1, 3], TensorKind::Input),
            tensor("w", &[3, 2], w),
            tensor("h", &[1, 2], TensorKind::Activation),
            tensor("b", bias_shape, b),
            tensor("y", &[1, 2], TensorKind::Activation),
        ];
        if extra_use {
            tensors.push(tensor("r", &[1, 2], TensorKind::Activation));
            tensors.push(tensor("z", &[1, 2], TensorKind::Activation));
        }
        Model {
            name: "dense".into(),
            scale_bits: 7,
            activation_bits: 16,
            outputs: vec![tensors.len() - 1],
            tensors,
            nodes,
            inputs: vec![0],
        }
    }

    #[test]
    fn folds_a_row_bias_and_keeps_the_semantics() {
        for shape in [&[2][..], &[1, 2][..]] {
            let original = dense(shape, false);
            let mut folded = original.clone();
            fold_biases(&mut folded);
            compact(&mut folded);
            assert_eq!(folded.nodes.len(), 1);
            assert_eq!(folded.nodes[0].inputs.len(), 3);
            assert_eq!(folded.tensors.len(), 4);
            let x = [300, -100, 50];
            let want = original.execute(&x).unwrap();
            let got = folded.execute(&x).unwrap();
            assert_eq!(
                original.output_values(&want),
                folded.output_values(&got),
                "bias shape {shape:?}"
            );
        }
    }

    #[test]
    fn does_not_fold_a_shared_accumulator_or_a_column_bias() {
        let mut shared = dense(&[2], true);
        fold_biases(&mut shared);
        assert_eq!(shared.nodes.len(), 4);
        let mut column = dense(&[2, 1], false);
        column.tensors[0].shape = vec![2, 3];
        column.tensors[2].shape = vec![2, 2];
        column.tensors[4].shape = vec![2, 2];
        fold_biases(&mut column);
        assert_eq!(column.nodes.len(), 2);
    }

    /// `y = (Q·Kᵀ)·c` per head: `Q = x·wq + bq` split into 2 heads by a
    /// Reshape and a Transpose, K the input itself, rearranged; `extra` makes
    /// Q's projection a model output as well (read twice).
    fn scaled_scores(scale: f32, extra: bool) -> (Model, WeightFloats) {
        let wq: Vec<f32> = (0..16).map(|i| (i as f32 - 7.5) / 10.0).collect();
        let bq = vec![0.25f32, -0.5, 0.125, 0.0];
        let quantize = |v: &[f32]| TensorKind::Weight {
            values: v
                .iter()
                .map(|&f| crate::model::quantize(f as f64, 7))
                .collect(),
        };
        let act = TensorKind::Activation;
        let tensors = vec![
            tensor("x", &[2, 4], TensorKind::Input),
            tensor("wq", &[4, 4], quantize(&wq)),
            tensor("bq", &[4], quantize(&bq)),
            tensor("q", &[2, 4], act.clone()),
            tensor("q_heads", &[2, 2, 2], act.clone()),
            tensor("q_t", &[2, 2, 2], act.clone()),
            tensor("k_heads", &[2, 2, 2], act.clone()),
            tensor("k_t", &[2, 2, 2], act.clone()),
            tensor("scores", &[2, 2, 2], act.clone()),
            tensor("c", &[1], quantize(&[scale])),
            tensor("y", &[2, 2, 2], act),
        ];
        let node = |name: &str, op: Op, inputs: Vec<usize>, output: usize| Node {
            name: name.into(),
            op,
            inputs,
            output,
        };
        let transpose = |perm: Vec<usize>| {
            Op::Transpose(crate::ops::transpose::Transpose {
                input: vec![2, 2, 2],
                perm,
            })
        };
        let reshape = Op::Reshape(crate::ops::reshape::Reshape);
        let nodes = vec![
            node("q", Op::MatMul, vec![0, 1, 2], 3),
            node("q_heads", reshape.clone(), vec![3], 4),
            node("q_t", transpose(vec![1, 0, 2]), vec![4], 5),
            node("k_heads", reshape, vec![0], 6),
            node("k_t", transpose(vec![1, 2, 0]), vec![6], 7),
            node("scores", Op::BatchedMatMul, vec![5, 7], 8),
            node("scale", Op::Mul, vec![8, 9], 10),
        ];
        let floats = [(1, wq), (2, bq), (9, vec![scale])].into_iter().collect();
        let model = Model {
            name: "scores".into(),
            scale_bits: 7,
            activation_bits: 16,
            outputs: if extra { vec![10, 3] } else { vec![10] },
            tensors,
            nodes,
            inputs: vec![0],
        };
        model.validate().unwrap();
        (model, floats)
    }

    #[test]
    fn folds_a_score_scale_into_the_projection_that_makes_q() {
        let (original, floats) = scaled_scores(1.0 / 3f32.sqrt(), false);
        let mut folded = original.clone();
        fold_score_scales(&mut folded, &floats);
        compact(&mut folded);
        folded.validate().unwrap();
        assert_eq!(folded.nodes.len(), original.nodes.len() - 1);
        assert!(folded.nodes.iter().all(|n| n.op != Op::Mul));
        // The projection's weights are the float ones times c, rounded once.
        let TensorKind::Weight { values } = &folded.tensors[1].kind else {
            panic!("wq is a weight")
        };
        assert_eq!(values[0], crate::model::quantize(-0.75 / 3f64.sqrt(), 7));
        let x = [100, -60, 30, 128, -128, 7, 64, -20];
        let want = original.output_values(&original.execute(&x).unwrap());
        let got = folded.output_values(&folded.execute(&x).unwrap());
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 2, "{want:?} vs {got:?}");
        }
    }

    #[test]
    fn does_not_fold_a_shared_projection_or_a_scale_above_one() {
        for (scale, extra) in [(0.5, true), (2.0, false)] {
            let (original, floats) = scaled_scores(scale, extra);
            let mut folded = original.clone();
            fold_score_scales(&mut folded, &floats);
            assert_eq!(folded, original, "scale {scale}, shared {extra}");
        }
    }

    /// `z = x·γ + β` read by two dense layers (one with a bias, one
    /// without); `relu` adds a third reader of z that is not a MatMul.
    fn affine_then_dense(relu: bool) -> (Model, WeightFloats) {
        let f = |v: &[f32]| TensorKind::Weight {
            values: v
                .iter()
                .map(|&x| crate::model::quantize(x as f64, 7))
                .collect(),
        };
        let gamma = vec![0.5f32, 1.25, -0.75, 2.0];
        let beta = vec![0.1f32, -0.2, 0.3, 0.05];
        let w1: Vec<f32> = (0..12).map(|i| (i as f32 - 6.0) / 8.0).collect();
        let b1 = vec![0.5f32, -0.25, 0.0];
        let w2: Vec<f32> = (0..8).map(|i| (3.0 - i as f32) / 5.0).collect();
        let act = TensorKind::Activation;
        let mut tensors = vec![
            tensor("x", &[2, 4], TensorKind::Input),
            tensor("gamma", &[4], f(&gamma)),
            tensor("h", &[2, 4], act.clone()),
            tensor("beta", &[4], f(&beta)),
            tensor("z", &[2, 4], act.clone()),
            tensor("w1", &[4, 3], f(&w1)),
            tensor("b1", &[3], f(&b1)),
            tensor("y1", &[2, 3], act.clone()),
            tensor("w2", &[4, 2], f(&w2)),
            tensor("y2", &[2, 2], act.clone()),
        ];
        let node = |name: &str, op: Op, inputs: Vec<usize>, output: usize| Node {
            name: name.into(),
            op,
            inputs,
            output,
        };
        let mut nodes = vec![
            node("scale", Op::Mul, vec![0, 1], 2),
            node("shift", Op::Add, vec![2, 3], 4),
            node("dense1", Op::MatMul, vec![4, 5, 6], 7),
            node("dense2", Op::MatMul, vec![4, 8], 9),
        ];
        let mut outputs = vec![7, 9];
        if relu {
            tensors.push(tensor("r", &[2, 4], act));
            nodes.push(node("relu", Op::Relu, vec![4], 10));
            outputs.push(10);
        }
        let floats = [(1, gamma), (3, beta), (5, w1), (6, b1), (8, w2)]
            .into_iter()
            .collect();
        let model = Model {
            name: "affine".into(),
            scale_bits: 7,
            activation_bits: 16,
            tensors,
            nodes,
            inputs: vec![0],
            outputs,
        };
        model.validate().unwrap();
        (model, floats)
    }

    #[test]
    fn folds_a_norm_affine_into_the_dense_layers_that_read_it() {
        let (original, mut floats) = affine_then_dense(false);
        let mut folded = original.clone();
        fold_norm_affines(&mut folded, &mut floats);
        compact(&mut folded);
        folded.validate().unwrap();
        let ops: Vec<&Op> = folded.nodes.iter().map(|n| &n.op).collect();
        assert_eq!(ops, [&Op::MatMul, &Op::MatMul]);
        assert!(folded
            .nodes
            .iter()
            .all(|n| n.inputs[0] == 0 && n.inputs.len() == 3));
        let x = [100, -60, 30, 128, -128, 7, 64, -20];
        let want = original.output_values(&original.execute(&x).unwrap());
        let got = folded.output_values(&folded.execute(&x).unwrap());
        for (w, g) in want.iter().zip(&got) {
            assert!((w - g).abs() <= 3, "{want:?} vs {got:?}");
        }
    }

    #[test]
    fn does_not_fold_an_affine_read_by_another_op() {
        let (original, mut floats) = affine_then_dense(true);
        let mut folded = original.clone();
        fold_norm_affines(&mut folded, &mut floats);
        assert_eq!(folded, original);
    }

    /// A Softmax over `[2, 3, 5]` as [`crate::onnx::ops`] lowers it
    /// (ReduceMax, Sub, Exp, ReduceSum, Div); `shared` makes the max a model
    /// output as well, `other_reader` has a second node read it.
    fn softmax(shared: bool, other_reader: bool) -> Model {
        let act = TensorKind::Activation;
        let node = |name: &str, op: Op, inputs: Vec<usize>, output: usize| Node {
            name: name.into(),
            op,
            inputs,
            output,
        };
        let mut tensors = vec![
            tensor("x", &[2, 3, 5], TensorKind::Input),
            tensor("max", &[2, 3, 1], act.clone()),
            tensor("shifted", &[2, 3, 5], act.clone()),
            tensor("exp", &[2, 3, 5], act.clone()),
            tensor("sum", &[2, 3, 1], act.clone()),
            tensor("y", &[2, 3, 5], act.clone()),
        ];
        let mut nodes = vec![
            node("max", Op::ReduceMax, vec![0], 1),
            node("shifted", Op::Sub, vec![0, 1], 2),
            node("exp", Op::Exp, vec![2], 3),
            node(
                "sum",
                Op::ReduceSum(crate::ops::reduce_sum::ReduceSum {
                    input: vec![2, 3, 5],
                    axes: vec![2],
                }),
                vec![3],
                4,
            ),
            node("y", Op::Div, vec![3, 4], 5),
        ];
        let mut outputs = vec![5];
        if shared {
            outputs.push(1);
        }
        if other_reader {
            tensors.push(tensor("max2", &[2, 3, 1], act));
            nodes.push(node("max2", Op::Add, vec![1, 1], 6));
            outputs.push(6);
        }
        let model = Model {
            name: "softmax".into(),
            scale_bits: 7,
            activation_bits: 16,
            tensors,
            nodes,
            inputs: vec![0],
            outputs,
        };
        model.validate().unwrap();
        model
    }

    #[test]
    fn a_softmax_max_and_its_sub_fuse_into_a_max_shift() {
        let original = softmax(false, false);
        let mut folded = original.clone();
        fold_max_shifts(&mut folded);
        compact(&mut folded);
        folded.validate().unwrap();
        let ops: Vec<&str> = folded.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, ["MaxShift", "Exp", "ReduceSum", "Div"]);
        assert_eq!(folded.nodes[0].inputs, [0]);
        assert_eq!(folded.tensors.len(), original.tensors.len() - 1);
        // The same integers: x − max, then the rest unchanged.
        let x: Vec<i64> = (0..30).map(|i| (i * 37 % 61) * 9 - 270).collect();
        let want = original.execute(&x).unwrap();
        let got = folded.execute(&x).unwrap();
        assert_eq!(original.output_values(&want), folded.output_values(&got));
        assert_eq!(want.values[2], got.values[1]);
    }

    #[test]
    fn a_max_read_elsewhere_is_not_fused() {
        for (shared, other) in [(true, false), (false, true)] {
            let original = softmax(shared, other);
            let mut folded = original.clone();
            fold_max_shifts(&mut folded);
            assert_eq!(folded, original, "output {shared}, second reader {other}");
        }
        // A Sub of the max of another tensor is not a shift of x.
        let mut other_input = softmax(false, false);
        other_input
            .tensors
            .push(tensor("z", &[2, 3, 5], TensorKind::Input));
        other_input.inputs.push(6);
        other_input.nodes[0].inputs = vec![6];
        other_input.validate().unwrap();
        let mut folded = other_input.clone();
        fold_max_shifts(&mut folded);
        assert_eq!(folded, other_input);
    }

    #[test]
    fn a_transpose_reads_through_a_reshape_only_it_reads() {
        let node = |name: &str, op: Op, inputs: Vec<usize>, output: usize| Node {
            name: name.into(),
            op,
            inputs,
            output,
        };
        let act = TensorKind::Activation;
        let model = |shared: bool| Model {
            name: "heads".into(),
            scale_bits: 7,
            activation_bits: 16,
            tensors: vec![
                tensor("x", &[2, 4], TensorKind::Input),
                tensor("heads", &[2, 2, 2], act.clone()),
                tensor("y", &[2, 2, 2], act.clone()),
            ],
            nodes: vec![
                node(
                    "heads",
                    Op::Reshape(crate::ops::reshape::Reshape),
                    vec![0],
                    1,
                ),
                node(
                    "swap",
                    Op::Transpose(crate::ops::transpose::Transpose {
                        input: vec![2, 2, 2],
                        perm: vec![1, 0, 2],
                    }),
                    vec![1],
                    2,
                ),
            ],
            inputs: vec![0],
            outputs: if shared { vec![2, 1] } else { vec![2] },
        };
        let original = model(false);
        let mut folded = original.clone();
        fold_reshapes(&mut folded);
        compact(&mut folded);
        folded.validate().unwrap();
        assert_eq!(folded.nodes.len(), 1);
        let x = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            original.output_values(&original.execute(&x).unwrap()),
            folded.output_values(&folded.execute(&x).unwrap())
        );
        let shared = model(true);
        let mut kept = shared.clone();
        fold_reshapes(&mut kept);
        assert_eq!(kept, shared);
    }
}
