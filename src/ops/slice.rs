//! `Slice` along one axis with a positive step (ONNX Slice with steps,
//! tract's Slice and Downsample; Split is one Slice per output):
//! `Y[…, j, …] = X[…, start + j·step, …]`, proved by the index-map protocol
//! ([`super::index_map`]).

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, coords, flat, IndexMap};
use crate::model::{Model, Node};

/// `count` entries from `start` every `step` along `axis` of the logical
/// input shape `input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    pub input: Vec<usize>,
    pub axis: usize,
    pub start: usize,
    pub step: usize,
    pub count: usize,
}

impl Slice {
    fn output(&self) -> Vec<usize> {
        let mut out = self.input.clone();
        out[self.axis] = self.count;
        out
    }
}

impl IndexMap for Slice {
    fn name(&self) -> &'static str {
        "Slice"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let fits = self.axis < self.input.len()
            && self.step > 0
            && self.count > 0
            && (self.count - 1)
                .checked_mul(self.step)
                .and_then(|x| x.checked_add(self.start))
                .is_some_and(|last| last < self.input[self.axis]);
        if !fits {
            return Err(format!(
                "{} entries from {} every {} along axis {} of {:?} do not fit",
                self.count, self.start, self.step, self.axis, self.input
            ));
        }
        check_len(model, node.inputs[0], &self.input, "input")?;
        check_len(model, node.output, &self.output(), "output")
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let out = self.output();
        for o in 0..out.iter().product() {
            let mut c = coords(o, &out);
            c[self.axis] = self.start + c[self.axis] * self.step;
            term(o, 0, flat(&c, &self.input));
        }
    }
}
