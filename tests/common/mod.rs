//! Helpers shared by the integration tests that build quantized models by
//! hand: the test Dory setup and tensor/node constructors.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use std::sync::{Arc, OnceLock};

use zkinfer::model::{Node, Op, Tensor, TensorKind};
use zkinfer::pcs::{self, DorySetup};

/// The public-seed setup with 2^10 generators, cached under the temporary
/// directory and loaded once per test binary.
pub fn setup() -> Arc<DorySetup> {
    static SETUP: OnceLock<Arc<DorySetup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let dir = std::env::temp_dir().join("zkinfer-test-cache");
            Arc::new(DorySetup::load_or_derive(pcs::setup::DEFAULT_SEED, 10, &dir).unwrap())
        })
        .clone()
}

pub fn tensor(name: &str, shape: &[usize], kind: TensorKind) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        kind,
    }
}

/// A weight with small deterministic values in [-48, 48] from `seed`.
pub fn weight(name: &str, shape: &[usize], seed: i64) -> Tensor {
    let len: usize = shape.iter().product();
    let values = (0..len as i64)
        .map(|i| ((i * 37 + seed * 11) % 97) - 48)
        .collect();
    tensor(name, shape, TensorKind::Weight { values })
}

pub fn node(name: &str, op: Op, inputs: &[usize], output: usize) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.to_vec(),
        output,
    }
}
