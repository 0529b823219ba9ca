//! `Tanh`, `Sigmoid`, `Erf`, `Exp`, GELU (exact and tanh forms), `Sqrt`,
//! `Rsqrt` (LayerNorm's `1/√(var + ε)`) and `Reciprocal`:
//! `y = round_half_away(f(x / 2^s)·2^s)`
//! (saturating at the activation bounds where f leaves them: Exp for large x,
//! Rsqrt and Reciprocal near 0; Sqrt and Rsqrt read x < 0 as 0),
//! proved by
//! looking every (input, output) pair up in a table of `f` over the whole
//! activation range (the model prover's LogUp lookup, [`crate::lookup`]). The
//! op sends no message of its own: the lookup leaves the claims on both
//! tensors. The function semantics are written once, here ([`function`]).
//!
//! Message: empty.

use super::{
    same_shape, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{SlotClaim, TableKind};
use crate::model::{quantize, Model, Node, MAX_FUNCTION_TABLE_BITS};
use crate::transcript::ProofTranscript;

/// `tanh`.
pub struct Tanh;
/// `1 / (1 + e^−x)`.
pub struct Sigmoid;
/// The error function (GELU's exact form is `x·(1 + erf(x/√2))/2`).
pub struct Erf;
/// `e^x`, saturating at the largest activation.
pub struct Exp;
/// GELU, exact form `x·(1 + erf(x/√2))/2`.
pub struct Gelu;
/// GELU, tanh form `x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2`.
pub struct GeluTanh;
/// `√x`, 0 for x < 0.
pub struct Sqrt;
/// `1/√x`, saturating at the largest activation for x ≤ 0 (LayerNorm's).
pub struct Rsqrt;
/// `1/x`, saturating at the activation bounds for x near 0.
pub struct Reciprocal;

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

/// The real function of a function table.
pub fn function(kind: TableKind) -> Option<fn(f64) -> f64> {
    match kind {
        TableKind::Tanh => Some(f64::tanh),
        TableKind::Sigmoid => Some(|x| 1.0 / (1.0 + (-x).exp())),
        TableKind::Erf => Some(libm::erf),
        TableKind::Exp => Some(f64::exp),
        TableKind::Gelu => Some(gelu),
        TableKind::GeluTanh => Some(gelu_tanh),
        TableKind::Sqrt => Some(|x| x.max(0.0).sqrt()),
        TableKind::Rsqrt => Some(|x| 1.0 / x.max(0.0).sqrt()),
        TableKind::Reciprocal => Some(|x| 1.0 / x),
        TableKind::Byte => None,
    }
}

/// The integer function of a table at input `x` (scale 2^s in and out).
pub fn table_value(kind: TableKind, x: i64, scale_bits: u32, activation_bits: u32) -> i64 {
    let f = function(kind).expect("a function table");
    let y = quantize(f(x as f64 / (1u64 << scale_bits) as f64), scale_bits);
    // Exp, Rsqrt and Reciprocal leave the activation range (e^x for large x,
    // 1/x near 0; ±∞ quantizes to i64's bounds): saturate.
    let half = 1i64 << (activation_bits - 1);
    y.clamp(-half, half - 1)
}

macro_rules! table_protocol {
    ($ty:ident, $name:literal, $kind:expr) => {
        impl OpProtocol for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn arity(&self) -> std::ops::RangeInclusive<usize> {
                1..=1
            }

            fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
                if model.activation_bits > MAX_FUNCTION_TABLE_BITS {
                    return Err(format!(
                        "its table needs activation_bits ≤ {MAX_FUNCTION_TABLE_BITS}"
                    ));
                }
                same_shape(model, node, 0)
            }

            fn execute(
                &self,
                model: &Model,
                _: &Node,
                inputs: &[&[i64]],
            ) -> Result<Executed, ExecError> {
                Ok(Executed {
                    output: inputs[0]
                        .iter()
                        .map(|&x| table_value($kind, x, model.scale_bits, model.activation_bits))
                        .collect(),
                    remainder: None,
                    aux: Vec::new(),
                })
            }

            fn table(&self) -> Option<TableKind> {
                Some($kind)
            }

            fn zk(&self) -> Option<&dyn crate::zk::ops::ZkOpProtocol> {
                Some(&crate::zk::ops::NothingToSend)
            }

            fn prove(
                &self,
                _: &ProverContext<'_>,
                _: usize,
                _: &mut ProofTranscript,
                _: &mut Vec<SlotClaim>,
            ) -> Result<OpMessage, OpError> {
                Ok(OpMessage::default())
            }

            fn verify(
                &self,
                _: &Model,
                _: PublicInput<'_>,
                _: usize,
                message: &OpMessage,
                _: &mut ProofTranscript,
                _: &mut Vec<SlotClaim>,
            ) -> Result<(), OpError> {
                message.expect(0, 0)
            }
        }
    };
}

table_protocol!(Tanh, "Tanh", TableKind::Tanh);
table_protocol!(Sigmoid, "Sigmoid", TableKind::Sigmoid);
table_protocol!(Erf, "Erf", TableKind::Erf);
table_protocol!(Exp, "Exp", TableKind::Exp);
table_protocol!(Gelu, "Gelu", TableKind::Gelu);
table_protocol!(GeluTanh, "GeluTanh", TableKind::GeluTanh);
table_protocol!(Sqrt, "Sqrt", TableKind::Sqrt);
table_protocol!(Rsqrt, "Rsqrt", TableKind::Rsqrt);
table_protocol!(Reciprocal, "Reciprocal", TableKind::Reciprocal);
