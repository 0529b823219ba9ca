//! `Pad` with zeros (ONNX Pad, constant mode, value 0): `Y` is X placed at
//! offset `before` in every axis, zero elsewhere; proved by the index-map
//! protocol ([`super::index_map`]).

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, coords, flat, IndexMap};
use crate::model::{Model, Node};

/// `(before, after)` zeros per axis of the logical input shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pad {
    pub input: Vec<usize>,
    pub pads: Vec<(usize, usize)>,
}

impl Pad {
    fn output(&self) -> Option<Vec<usize>> {
        self.input
            .iter()
            .zip(&self.pads)
            .map(|(&d, &(b, a))| d.checked_add(b)?.checked_add(a))
            .collect()
    }
}

impl IndexMap for Pad {
    fn name(&self) -> &'static str {
        "Pad"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let out = self
            .output()
            .filter(|_| self.pads.len() == self.input.len())
            .ok_or_else(|| format!("pads {:?} do not fit shape {:?}", self.pads, self.input))?;
        check_len(model, node.inputs[0], &self.input, "input")?;
        check_len(model, node.output, &out, "output")
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let out = self.output().expect("checked");
        for i in 0..self.input.iter().product() {
            let mut c = coords(i, &self.input);
            for (x, &(b, _)) in c.iter_mut().zip(&self.pads) {
                *x += b;
            }
            term(flat(&c, &out), 0, i);
        }
    }
}
