//! `SumPool`: window sums over the spatial axes of `[C, H, W]` (or `[C, L]`),
//! with strides and zero padding. AveragePool is a SumPool followed by a Mul
//! by the per-position constant 1/count (so `count_include_pad` both ways is
//! exact up to that constant's quantization). Proved by the index-map
//! protocol ([`super::index_map`]); the sums are range-checked.

use serde::{Deserialize, Serialize};

use super::conv::Window;
use super::index_map::IndexMap;
use crate::model::{Model, Node};

/// Most taps in a window (the verifier's work is taps times the output).
pub const MAX_TAPS: usize = 256;

/// Window sums over `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumPool(pub Window);

impl IndexMap for SumPool {
    fn name(&self) -> &'static str {
        "SumPool"
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        let axes = self.0.check(model, node)?;
        let taps = axes[0].kernel.saturating_mul(axes[1].kernel);
        if taps > MAX_TAPS {
            return Err(format!("{taps} taps per window (at most {MAX_TAPS})"));
        }
        Ok(())
    }

    fn terms(&self, _: &Model, _: &Node, term: &mut dyn FnMut(usize, usize, usize)) {
        let [ah, aw] = self.0.axes().expect("checked");
        for c in 0..self.0.channels {
            for oh in 0..ah.output {
                for ow in 0..aw.output {
                    let o = (c * ah.output + oh) * aw.output + ow;
                    for kh in 0..ah.kernel {
                        let Some(h) = ah.source(oh, kh) else { continue };
                        for kw in 0..aw.kernel {
                            if let Some(w) = aw.source(ow, kw) {
                                term(o, 0, (c * ah.input + h) * aw.input + w);
                            }
                        }
                    }
                }
            }
        }
    }

    fn sums(&self) -> bool {
        true
    }
}
