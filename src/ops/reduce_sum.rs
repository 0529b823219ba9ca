//! `ReduceSum` over any axes (ReduceMean and GlobalAveragePool are a
//! ReduceSum followed by a Mul by the constant 1/n): `Y[c'] = Σ X[c]` over the
//! reduced coordinates. Proved by the index-map protocol
//! ([`super::index_map`]); the sum is range-checked.

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, coords, flat, IndexMap};
use crate::model::{Model, Node};

/// Sums over `axes` of the logical input shape; the output keeps them as 1s
/// (its IR shape may drop them: the row-major order is the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReduceSum {
    pub input: Vec<usize>,
    pub axes: Vec<usize>,
}

impl ReduceSum {
    fn output(&self) -> Vec<usize> {
        let mut out = self.input.clone();
        for &a in &self.axes {
            out[a] = 1;
        }
        out
    }
}

impl IndexMap for ReduceSum {
    fn name(&self) -> &'static str {
        "ReduceSum"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        if self.axes.is_empty() || self.axes.iter().any(|&a| a >= self.input.len()) {
            return Err(format!("axes {:?} of shape {:?}", self.axes, self.input));
        }
        check_len(model, node.inputs[0], &self.input, "input")?;
        check_len(model, node.output, &self.output(), "output")
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let out = self.output();
        for i in 0..self.input.iter().product() {
            let mut c = coords(i, &self.input);
            for &a in &self.axes {
                c[a] = 0;
            }
            term(flat(&c, &out), 0, i);
        }
    }

    fn sums(&self) -> bool {
        true
    }
}
