//! Op handlers: one file per op family, and the registry from tract's
//! decluttered op name (`node.op().name()`) to the handler that lowers it.
//! Each handler checks the op's concrete type with `op_as` and rejects what
//! it cannot lower with [`super::ImportError::Unsupported`].

mod activation;
mod array;
mod binary;
mod cnn;
mod einsum;
mod nn;
mod shape;

use tract_onnx::prelude::*;

use super::lower::Lowering;
use super::ImportError;

/// Lowers one tract node (non-constant, one output) into the IR.
pub(crate) type Handler = fn(&mut Lowering, &TypedNode) -> Result<(), ImportError>;

/// tract op name → handler.
const REGISTRY: &[(&str, Handler)] = &[
    ("EinSum", einsum::lower),
    ("Add", binary::lower),
    ("Sub", binary::lower),
    ("SubF", binary::lower),
    ("Mul", binary::lower),
    ("Max", binary::lower),
    ("Tanh", activation::lower),
    ("Sigmoid", activation::lower),
    ("Erf", activation::lower),
    ("Exp", activation::lower),
    ("GeluExact", activation::lower),
    ("GeluApproximate", activation::lower),
    ("AddAxis", shape::lower),
    ("RmAxis", shape::lower),
    ("MoveAxis", shape::lower),
    ("Reshape", shape::lower),
    ("Square", activation::lower_power),
    ("PowConst", activation::lower_power),
    ("Conv", cnn::lower_conv),
    ("MaxPool", cnn::lower_max_pool),
    ("SumPool", cnn::lower_sum_pool),
    ("Slice", array::lower_slice),
    ("Downsample", array::lower_slice),
    ("Concat", array::lower_concat),
    ("Pad", array::lower_pad),
    ("Reduce<Sum>", array::lower_reduce),
    ("Reduce<Max>", array::lower_reduce),
    ("Softmax", nn::lower_softmax),
    ("RmsNorm", nn::lower_rms_norm),
    ("Iff", nn::lower_iff),
    ("Recip", nn::lower_recip),
    ("Sqrt", activation::lower),
    ("Rsqrt", activation::lower),
];

/// The handler for a tract op name, if any.
pub(crate) fn handler(op_name: &str) -> Option<Handler> {
    REGISTRY
        .iter()
        .find(|(name, _)| *name == op_name)
        .map(|&(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_found() {
        for (i, (name, _)) in REGISTRY.iter().enumerate() {
            assert!(REGISTRY[..i].iter().all(|(n, _)| n != name), "{name}");
            assert!(handler(name).is_some());
        }
        assert!(handler("Cos").is_none());
        assert!(handler("LayerNorm").is_none());
    }
}
