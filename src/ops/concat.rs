//! `Concat` along one axis of two or more operands (activations or
//! constants), proved by the index-map protocol ([`super::index_map`]) with
//! one sumcheck per operand.

use serde::{Deserialize, Serialize};

use super::index_map::{check_len, coords, flat, IndexMap};
use crate::model::{Model, Node};

/// The logical shapes of the operands, joined along `axis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    pub inputs: Vec<Vec<usize>>,
    pub axis: usize,
}

impl Concat {
    fn output(&self) -> Vec<usize> {
        let mut out = self.inputs[0].clone();
        out[self.axis] = self.inputs.iter().map(|s| s[self.axis]).sum();
        out
    }
}

impl IndexMap for Concat {
    fn name(&self) -> &'static str {
        "Concat"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=crate::proof::encode::MAX_OP_SUMCHECKS
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let first = self.inputs.first().ok_or("no operands")?;
        if self.axis >= first.len()
            || self.inputs.len() != node.inputs.len()
            || self.inputs.iter().any(|s| {
                s.len() != first.len()
                    || s.iter()
                        .zip(first)
                        .enumerate()
                        .any(|(d, (a, b))| d != self.axis && a != b)
            })
        {
            return Err(format!(
                "operand shapes {:?} do not join along axis {}",
                self.inputs, self.axis
            ));
        }
        for (k, s) in self.inputs.iter().enumerate() {
            check_len(model, node.inputs[k], s, "operand")?;
        }
        check_len(model, node.output, &self.output(), "output")
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let out = self.output();
        let mut offset = 0;
        for (k, s) in self.inputs.iter().enumerate() {
            for i in 0..s.iter().product() {
                let mut c = coords(i, s);
                c[self.axis] += offset;
                term(flat(&c, &out), k, i);
            }
            offset += s[self.axis];
        }
    }
}
