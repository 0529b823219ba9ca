//! Helpers shared by the integration tests: the test Dory setup and
//! tensor/node constructors for models built by hand, the CLI runner,
//! ([`service`]) the prover service's in-process server and HTTP clients,
//! ([`nats`]) a real NATS server for the fleet tests, and ([`alloc`]) the
//! allocation-tracking global allocator.

use std::sync::{Arc, OnceLock};

use zkinfer::model::{Model, Node, Op, Tensor, TensorKind};
use zkinfer::pcs::{self, DorySetup};

pub mod alloc;
#[cfg(feature = "fleet")]
pub mod nats;
pub mod service;

/// The public-seed setup with 2^10 generators, cached under the temporary
/// directory and loaded once per test run.
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

/// x[1,5] → Gemm(5→3, bias) → ReLU → Mul by c[3] → Add d[3] → Sub x2 → Tanh → Sigmoid.
pub fn every_op_model_with(scale_bits: u32, activation_bits: u32) -> Model {
    use TensorKind::Activation as A;
    let tensors = vec![
        tensor("x", &[1, 5], TensorKind::Input), // 0
        weight("W", &[5, 3], 1),                 // 1
        weight("b", &[3], 2),                    // 2
        tensor("h", &[1, 3], A),                 // 3
        tensor("r", &[1, 3], A),                 // 4
        weight("c", &[3], 3),                    // 5
        tensor("m", &[1, 3], A),                 // 6
        weight("d", &[1, 3], 4),                 // 7
        tensor("a", &[1, 3], A),                 // 8
        tensor("s", &[1, 3], A),                 // 9
        tensor("t", &[1, 3], A),                 // 10
        tensor("y", &[1, 3], A),                 // 11
    ];
    let nodes = vec![
        node("gemm", Op::MatMul, &[0, 1, 2], 3),
        node("relu", Op::Relu, &[3], 4),
        node("mul", Op::Mul, &[4, 5], 6),
        node("add", Op::Add, &[6, 7], 8),
        node("sub", Op::Sub, &[8, 4], 9),
        node("tanh", Op::Tanh, &[9], 10),
        node("sigmoid", Op::Sigmoid, &[10], 11),
    ];
    Model {
        name: "every-op".into(),
        scale_bits,
        activation_bits,
        tensors,
        nodes,
        inputs: vec![0],
        outputs: vec![11],
    }
}

/// The address from a `zkinfer serve` process's first line
/// (`listening on http://ADDR ...`, or `https://` with TLS).
pub fn listening_addr(line: &str) -> std::net::SocketAddr {
    line.strip_prefix("listening on http://")
        .or_else(|| line.strip_prefix("listening on https://"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
        .parse()
        .unwrap()
}

/// The repository root.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the zkinfer binary with a shared cache (setup and keys) under the
/// target directory.
pub fn zkinfer(args: &[&str]) -> std::process::Output {
    let cache = root().join("target").join("test-cache");
    std::process::Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(args)
        .env("ZKINFER_CACHE_DIR", &cache)
        .env_remove("ZKINFER_KEYS")
        .output()
        .expect("zkinfer runs")
}

/// A process's stdout and stderr, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
