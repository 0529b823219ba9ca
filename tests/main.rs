//! The integration tests, as one test binary: each `tests/<name>.rs` is the
//! module `<name>` here (`cargo test --release --test integration ops::` runs
//! the tests of `tests/ops.rs`), and `tests/common/` holds what they share.
//!
//! One binary instead of one per file: each binary links the whole library
//! with its dependencies (tract, arkworks, wgpu, axum, async-nats) and
//! instantiates its generic code again, which made linking the tests most of
//! CI's test stage. All tests now share one process and run on parallel
//! threads, so none may change process-wide state (environment variables,
//! the current directory, a global subscriber or allocator) for itself:
//! child processes get their environment with `Command::env`, and the one
//! global allocator ([`common::alloc`]) measures per thread.

mod common;

mod backend_cpu;
mod backend_icicle;
mod cli_bench;
mod cli_messages;
mod cli_models;
mod cli_multi_io;
mod conformance_detects_bugs;
mod encoding;
mod fuzz_regressions;
mod jobs;
mod lookup_with_commitments;
mod model_proof;
mod onnx_import;
mod opening_reduction;
mod ops;
mod pcs;
mod proof_mutation;
mod random_models;
mod service;
mod service_auth;
mod service_soak;
mod trust;
mod wgpu_backend;
