//! IR passes after lowering: fold "MatMul then Add of a constant `[n]` bias"
//! into the MatMul's bias input, and drop tensors no node uses.

use crate::model::{matrix_dims, Model, Op, TensorKind};
use crate::onnx::lower::trim_leading_ones;

/// Folds `Add(MatMul(a, w), bias)` into `MatMul(a, w, bias)` when the bias is
/// a weight of `n` values (one per output column, broadcast over rows) and the
/// MatMul's output feeds only that Add.
pub(crate) fn fold_biases(model: &mut Model) {
    let mut uses = vec![0usize; model.tensors.len()];
    for node in &model.nodes {
        for &t in &node.inputs {
            uses[t] += 1;
        }
    }
    for &t in &model.outputs {
        uses[t] += 1;
    }
    let mut producer = vec![None; model.tensors.len()];
    for (i, node) in model.nodes.iter().enumerate() {
        producer[node.output] = Some(i);
    }
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
}
