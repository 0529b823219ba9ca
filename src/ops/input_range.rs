//! `InputRange`: the identity on a model input, with its output range-checked
//! into the activation range. ONNX has no such op; keys with hidden weights
//! put one after every model input ([`bound_inputs`]) and every reader of the
//! input reads its output instead, so that a proof whose input stays private
//! (`zkinfer prove --private-input`) still proves that the model ran on an
//! input in `[−2^(a−1), 2^(a−1))`, as integer execution requires. With a
//! public input the verifier checks that range itself and the node costs one
//! range check of the input's size. Proved by the index-map protocol
//! ([`super::index_map`]) with identity terms.
//!
//! A Gather's ids are the exception: Gather reads them from the public input
//! (the verifier checks every id against the table), so its ids operand keeps
//! reading the model input, and an input read only as ids gets no
//! `InputRange`. A proof with a private input of such a model is refused
//! ([`crate::zk::model`]).

use serde::{Deserialize, Serialize};

use super::index_map::IndexMap;
use crate::model::{Model, Node, Op, Tensor, TensorKind};

/// `Y = X`, with `Y` range-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRange;

impl IndexMap for InputRange {
    fn name(&self) -> &'static str {
        "InputRange"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let (x, y) = (&model.tensors[node.inputs[0]], &model.tensors[node.output]);
        if x.shape != y.shape {
            return Err(format!(
                "input shape {:?} and output shape {:?} differ",
                x.shape, y.shape
            ));
        }
        Ok(())
    }

    fn terms(&self, model: &Model, node: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        for i in 0..model.tensors[node.output].len() {
            term(i, 0, i);
        }
    }

    fn range_checks_output(&self) -> bool {
        true
    }
}

/// Whether operand `k` of `node` is a Gather's ids, which must stay a model
/// input (Gather reads them from the public input).
fn reads_ids(node: &Node, k: usize) -> bool {
    matches!(node.op, Op::Gather) && k == 1
}

/// `model` with an [`InputRange`] node first for each model input that has
/// none yet, every other reader of the input reading its output (so calling
/// it twice changes nothing), except a Gather's ids operand, which keeps
/// reading the input; an input read only as Gather ids gets no node. Model
/// outputs that are inputs stay as they are.
pub fn bound_inputs(model: &Model) -> Model {
    let mut out = model.clone();
    let mut first = Vec::new();
    for &input in &model.inputs {
        let bounded = model
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::InputRange(_)) && n.inputs == [input]);
        // Per read of the input: whether it is a Gather's ids.
        let reads: Vec<bool> = model
            .nodes
            .iter()
            .flat_map(|n| (0..n.inputs.len()).map(move |k| (n, k)))
            .filter(|&(n, k)| n.inputs[k] == input)
            .map(|(n, k)| reads_ids(n, k))
            .collect();
        let ids_only = !reads.is_empty() && reads.iter().all(|&ids| ids);
        if bounded || ids_only {
            continue;
        }
        let tensor = &model.tensors[input];
        let y = out.tensors.len();
        out.tensors.push(Tensor {
            name: format!("{}.range_checked", tensor.name),
            shape: tensor.shape.clone(),
            kind: TensorKind::Activation,
        });
        for node in &mut out.nodes {
            for k in 0..node.inputs.len() {
                if node.inputs[k] == input && !reads_ids(node, k) {
                    node.inputs[k] = y;
                }
            }
        }
        first.push(Node {
            name: format!("{}.input_range", tensor.name),
            op: Op::InputRange(InputRange),
            inputs: vec![input],
            output: y,
        });
    }
    first.append(&mut out.nodes);
    out.nodes = first;
    out
}
