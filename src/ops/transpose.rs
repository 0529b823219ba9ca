//! `Transpose` (ONNX Transpose, tract's MoveAxis chains): any permutation of
//! the axes, `Y[c] = X[c∘perm⁻¹]`, proved by the shared index-map protocol
//! ([`super::index_map`]).

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, coords, flat, IndexMap};
use crate::model::{Model, Node};

/// Output axis `d` is input axis `perm[d]`; `input` is the logical input shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    pub input: Vec<usize>,
    pub perm: Vec<usize>,
}

impl Transpose {
    fn output(&self) -> Vec<usize> {
        self.perm.iter().map(|&p| self.input[p]).collect()
    }
}

impl IndexMap for Transpose {
    fn name(&self) -> &'static str {
        "Transpose"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let mut seen = vec![false; self.input.len()];
        if self.perm.len() != self.input.len()
            || self
                .perm
                .iter()
                .any(|&p| p >= seen.len() || std::mem::replace(&mut seen[p], true))
        {
            return Err(format!(
                "{:?} is not a permutation of {} axes",
                self.perm,
                self.input.len()
            ));
        }
        check_len(model, node.inputs[0], &self.input, "input")?;
        check_len(model, node.output, &self.output(), "output")
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let out = self.output();
        let len: usize = out.iter().product();
        let mut c = vec![0; self.input.len()];
        for o in 0..len {
            for (d, x) in coords(o, &out).into_iter().enumerate() {
                c[self.perm[d]] = x;
            }
            term(o, 0, flat(&c, &self.input));
        }
    }
}
