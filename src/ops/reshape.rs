//! `Reshape` (Flatten, Squeeze, Unsqueeze) where the padded layout changes:
//! the row-major order is kept, `Y[i] = X[i]`, but the per-dimension padding
//! moves entries, so the copy is proved by the index-map protocol
//! ([`super::index_map`]). Reshapes that keep the padded layout are not ops:
//! the importer lets both shapes share one tensor.

use serde::{Deserialize, Serialize};

use super::index_map::IndexMap;
use crate::model::{Model, Node};

/// Same entries, another shape (the output tensor's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape;

impl IndexMap for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let (x, y) = (&model.tensors[node.inputs[0]], &model.tensors[node.output]);
        if x.len() != y.len() {
            return Err(format!(
                "input shape {:?} and output shape {:?} hold different counts",
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
}
