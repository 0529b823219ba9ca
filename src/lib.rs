//! zkinfer: proofs that a committed ONNX model produced a given output on a given
//! input, with sumcheck and LogUp-GKR over BN254 and Dory commitments.
//!
//! Layout: [`backend`] holds the device seam every heavy primitive goes through;
//! [`pcs`] is the Dory adapter (setup, commitments, openings) running on a
//! backend; [`config`] reads per-device kernel tuning; [`bench`] times primitives
//! per device for `zkinfer bench primitives`; [`model`] is the quantized IR,
//! [`onnx`] imports an ONNX file into it, and [`quant`] quantizes inputs and
//! reports the quantization error against tract's f32 reference; [`telemetry`]
//! turns the prover's tracing spans into phase timings; [`keys`] holds key files
//! and their cache; [`service`] is the HTTP prover of `zkinfer serve`.

pub mod backend;
pub mod bench;
pub mod config;
pub mod encoding;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod keys;
pub mod layout;
pub mod lookup;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod pcs;
pub mod poly;
pub mod proof;
pub mod quant;
pub mod service;
pub mod sumcheck;
pub mod telemetry;
pub mod transcript;
pub mod zk;
