//! `Where` with a constant condition (ONNX Where, tract's `Iff`; and `Mul` by
//! a constant 0/1 mask): `Y[o] = X[o]` where the condition keeps x, a
//! constant `F[o]` of the model elsewhere. A causal attention mask is this
//! op: scores kept below the diagonal, a large negative fill above it.
//!
//! Proved by the index-map protocol ([`super::index_map`]): the kept entries
//! are the terms `Y[o] += X[o]`, the fill values its constants, which the
//! verifier evaluates itself. No product, so no rescale, remainder or limbs;
//! and no range check on Y: every entry is either an entry of X (bounded by
//! whoever produced X) or a fill value, which [`IndexMap::check`] keeps inside
//! the activation range.

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, IndexMap, MAX_ENTRIES};
use crate::model::{broadcast_index, broadcast_shape, Model, Node};

/// The condition and fill over `shape`, which broadcasts (numpy) to the
/// output's shape: `None` keeps x's entry, `Some(c)` puts the constant `c`
/// (an integer at the model's scale) in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Select {
    pub shape: Vec<usize>,
    pub fill: Vec<Option<i64>>,
}

impl Select {
    /// Calls `f(o, choice)` for every output entry: the mask's choice there.
    fn each(&self, model: &Model, node: &Node, f: &mut dyn FnMut(usize, Option<i64>)) {
        let y = &model.tensors[node.output].shape;
        for o in 0..y.iter().product() {
            f(o, self.fill[broadcast_index(o, y, &self.shape)]);
        }
    }
}

impl IndexMap for Select {
    fn name(&self) -> &'static str {
        "Where"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let y = &model.tensors[node.output].shape;
        check_len(model, node.inputs[0], y, "input")?;
        if model.tensors[node.inputs[0]].shape != *y {
            return Err(format!(
                "input shape {:?} and output shape {y:?} differ",
                model.tensors[node.inputs[0]].shape
            ));
        }
        let len = self
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= MAX_ENTRIES);
        if len != Some(self.fill.len()) {
            return Err(format!(
                "condition of {} entries for shape {:?}",
                self.fill.len(),
                self.shape
            ));
        }
        if self.shape.len() > y.len() || broadcast_shape(&self.shape, y).as_ref() != Some(y) {
            return Err(format!(
                "condition shape {:?} does not broadcast to the output shape {y:?}",
                self.shape
            ));
        }
        let range = model.activation_range();
        if let Some(c) = self.fill.iter().flatten().find(|c| !range.contains(c)) {
            return Err(format!(
                "fill value {c} is outside the activation range {range:?}"
            ));
        }
        Ok(())
    }

    fn terms(&self, model: &Model, node: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        self.each(model, node, &mut |o, choice| {
            if choice.is_none() {
                term(o, 0, o)
            }
        });
    }

    fn constants(&self, model: &Model, node: &Node, constant: &mut dyn FnMut(usize, i64)) {
        self.each(model, node, &mut |o, choice| match choice {
            Some(c) if c != 0 => constant(o, c),
            _ => {}
        });
    }
}
