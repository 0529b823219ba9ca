//! The quantized model zkinfer proves: a small typed graph over fixed-point
//! integer tensors, and its integer semantics, written once.
//!
//! Every tensor holds integers at scale 2^s (`scale_bits`): a real value `v` is
//! stored as `round_half_away_from_zero(v · 2^s)`. Ops:
//!
//! | op | inputs | output (integers) |
//! |---|---|---|
//! | `MatMul` | `a [m,k]`, `b [k,n]`, optional `bias [n]` | `rescale(Σ_k a·b + 2^s·bias)` |
//! | `Add` / `Sub` | `a`, `b` (b broadcast to a's shape) | `a ± b` |
//! | `Mul` | `a`, `b` (b broadcast to a's shape) | `rescale(a·b)` |
//! | `Relu` | `x` | `max(x, 0)` |
//! | `Tanh` / `Sigmoid` / `Erf` / `Exp` / `Gelu` / `GeluTanh` / `Sqrt` / `Rsqrt` / `Reciprocal` | `x` | `round_half_away(f(x / 2^s) · 2^s)` (a table over the activation range, saturating at its bounds: Exp, Rsqrt and Reciprocal leave it; Sqrt and Rsqrt read x < 0 as 0) |
//! | `Div` | `a`, `b > 0` (b broadcast to a's shape) | `floor((a·2^(s+1) + b) / 2b)` = `round(a/b · 2^s)`, half up |
//! | `ReduceMax` | `x [.., N]` | `max_n x` per row, shape `[.., 1]` |
//! | `MaxShift` | `x [.., N]` | `x − max_n x` per row, shape `[.., N]` (≤ 0; refused below `−2^(a−1) + 1`) |
//! | `SumSquares{k}` | `x [.., N]` | `rescale(Σ_n x², s + k)` per row, shape `[.., 1]` |
//! | `BatchedMatMul` | `a [b,m,k]`, `b [b,k,n]` | `rescale(Σ_k a·b)` per head |
//! | `Select` (`Where`) | `x` | `x` where a constant mask keeps it, a constant fill elsewhere |
//!
//! `rescale(acc) = floor((acc + 2^(s−1)) / 2^s)` (round half up), with remainder
//! `acc + 2^(s−1) − 2^s·rescale(acc) ∈ [0, 2^s)`; the prover checks that remainder
//! and the output's activation bound by lookups. Every activation, and the
//! input, must lie in `[−2^(a−1), 2^(a−1))` (`a` = `activation_bits`: the
//! range of an `a`-bit two's-complement integer, [`Model::activation_range`]);
//! [`Model::execute`] fails naming the node otherwise, and the proof checks
//! exactly this range (see [`crate::ops::range`] for which check bounds which
//! tensor).
//! Shapes are row-major; the last dimension is the fastest. Broadcasting follows
//! numpy: `b`'s shape, right-aligned against `a`'s, has each dimension equal to
//! `a`'s or 1.

use serde::{Deserialize, Serialize};

/// Index of a tensor in [`Model::tensors`].
pub type TensorId = usize;

/// Default fixed-point scale: 2^7.
pub const DEFAULT_SCALE_BITS: u32 = 7;
/// Default activation bound: |x| < 2^15.
pub const DEFAULT_ACTIVATION_BITS: u32 = 16;

/// What a tensor is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TensorKind {
    /// A (public) model input; [`Model::inputs`] lists every one, in order.
    Input,
    /// A constant (weight, bias, folded constant), quantized, row-major.
    Weight { values: Vec<i64> },
    /// Computed by a node.
    Activation,
}

/// A tensor of the quantized model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    /// Name from the ONNX graph (for error messages).
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: TensorKind,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Operations with their attributes. Each op's semantics, shapes and proof
/// live in its file under [`crate::ops`]; [`crate::ops::protocol`] maps a
/// variant to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    MatMul,
    Add,
    Sub,
    Mul,
    Relu,
    Tanh,
    Sigmoid,
    Conv(crate::ops::conv::Conv),
    Transpose(crate::ops::transpose::Transpose),
    Reshape(crate::ops::reshape::Reshape),
    Slice(crate::ops::slice::Slice),
    Concat(crate::ops::concat::Concat),
    Pad(crate::ops::pad::Pad),
    ReduceSum(crate::ops::reduce_sum::ReduceSum),
    SumPool(crate::ops::sum_pool::SumPool),
    MaxPool(crate::ops::max_pool::MaxPool),
    /// Rows of a constant table by token ids that are a model input.
    Gather,
    /// Products of two activations batched over the leading axis (heads).
    BatchedMatMul,
    /// The error function, by table.
    Erf,
    /// `e^x` by table, saturating at the largest activation.
    Exp,
    /// GELU (exact form) by table.
    Gelu,
    /// GELU (tanh form) by table.
    GeluTanh,
    /// `round(a / b · 2^s)` of two activations, b > 0 (broadcast).
    Div,
    /// The max over the last axis.
    ReduceMax,
    /// `√x` by table (0 for x < 0).
    Sqrt,
    /// `1/√x` by table, saturating at the largest activation for x ≤ 0.
    Rsqrt,
    /// `1/x` by table, saturating at the activation bounds at 0.
    Reciprocal,
    /// The rescaled sum of squares over the last axis (a norm's variance).
    SumSquares(crate::ops::sum_squares::SumSquares),
    /// `Where` with a constant condition: x's entry or a constant fill.
    Select(crate::ops::select::Select),
    /// `x − max(x)` over the last axis (Softmax's shift), with no max committed.
    MaxShift,
    /// The identity on a model input, range-checked (keys with hidden
    /// weights, for private inputs).
    InputRange(crate::ops::input_range::InputRange),
}

impl Op {
    /// The op's name in messages.
    pub fn name(&self) -> &'static str {
        crate::ops::protocol(self).name()
    }

    /// Whether the op's output is a rescaled accumulator (with a remainder).
    pub fn rescales(&self) -> bool {
        crate::ops::protocol(self).rescales()
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One node: `output = op(inputs)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// ONNX node name (for error messages).
    pub name: String,
    pub op: Op,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
}

/// A quantized model: tensors, nodes in topological order, its inputs and
/// outputs (at least one of each) in the ONNX graph's declared order.
///
/// Where one list of values stands for all inputs (or all outputs), as in
/// [`Model::execute`] and a proof's public input and output, it is the
/// concatenation of each tensor's row-major values in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub scale_bits: u32,
    pub activation_bits: u32,
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    /// The input tensors (kind [`TensorKind::Input`], each once, all of them).
    pub inputs: Vec<TensorId>,
    /// The output tensors (each produced by a node, each once).
    pub outputs: Vec<TensorId>,
}

/// Errors of integer inference and model checks; each names the node or tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error(
        "input has {actual} values, model `{model}` expects {expected} ({})",
        shapes_text(shapes)
    )]
    InputLength {
        model: String,
        expected: usize,
        actual: usize,
        /// The shape of each input.
        shapes: Vec<Vec<usize>>,
    },
    #[error("node `{node}` ({op}): value {value} at index {index} is outside the activation range [-2^{bits_minus_one}, 2^{bits_minus_one}); use a smaller --scale or a wider bound")]
    ActivationBound {
        node: String,
        op: &'static str,
        index: usize,
        value: i64,
        bits_minus_one: u32,
    },
    #[error(
        "input value {value} at index {index} is outside the activation range [-2^{bits_minus_one}, 2^{bits_minus_one})"
    )]
    InputBound {
        index: usize,
        value: i64,
        bits_minus_one: u32,
    },
    #[error("node `{node}` ({op}): {reason}")]
    BadNode {
        node: String,
        op: &'static str,
        reason: String,
    },
    #[error("node `{node}` ({op}): arithmetic overflow in the accumulator")]
    Overflow { node: String, op: &'static str },
}

/// `shape [1, 4]`, or `shapes [1, 4] + [1, 4]` for several inputs.
pub fn shapes_text(shapes: &[Vec<usize>]) -> String {
    match shapes {
        [one] => format!("shape {one:?}"),
        _ => format!(
            "shapes {}",
            shapes
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" + ")
        ),
    }
}

/// Every tensor's integer values after inference (the witness), and the
/// rescale remainders of the nodes that rescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// `values[t]` is tensor t (weights included), row-major, unpadded.
    pub values: Vec<Vec<i64>>,
    /// `remainders[n]` for node n, when it rescales (same shape as its output).
    pub remainders: Vec<Option<Vec<i64>>>,
    /// `aux[n]`: node n's auxiliary columns, padded (see
    /// [`crate::ops::OpProtocol::aux_vars`]).
    pub aux: Vec<Vec<Vec<i64>>>,
}

/// `floor((acc + 2^(s−1)) / 2^s)` and its remainder in `[0, 2^s)`.
pub fn rescale(acc: i128, scale_bits: u32) -> (i128, i128) {
    let shifted = acc + (1i128 << (scale_bits - 1));
    let q = shifted.div_euclid(1i128 << scale_bits);
    (q, shifted - q * (1i128 << scale_bits))
}

/// Quantizes a real value: `round_half_away_from_zero(v · 2^s)`.
pub fn quantize(v: f64, scale_bits: u32) -> i64 {
    (v * (1u64 << scale_bits) as f64).round() as i64
}

/// Index into `b` (shape `b_shape`) of element `i` of a tensor of shape `a_shape`
/// under numpy broadcasting.
pub fn broadcast_index(i: usize, a_shape: &[usize], b_shape: &[usize]) -> usize {
    let mut rest = i;
    let mut index = 0usize;
    let mut stride = 1usize;
    let offset = a_shape.len() - b_shape.len();
    for d in (0..a_shape.len()).rev() {
        let coord = rest % a_shape[d];
        rest /= a_shape[d];
        if d >= offset {
            let bd = b_shape[d - offset];
            if bd != 1 {
                index += coord * stride;
            }
            stride *= bd;
        }
    }
    index
}

/// The numpy broadcast of two shapes (right-aligned; each dimension equal or
/// 1), or `None` when they do not broadcast.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], d: usize| (d + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
    (0..rank)
        .map(|d| match (dim(a, d), dim(b, d)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Whether `b` broadcasts to `a` (numpy rules, b's rank ≤ a's).
pub fn broadcasts_to(b: &[usize], a: &[usize]) -> bool {
    b.len() <= a.len()
        && b.iter()
            .rev()
            .zip(a.iter().rev())
            .all(|(&x, &y)| x == y || x == 1)
}

/// Most variables of any tensor (2^32 padded entries).
pub const MAX_TENSOR_VARS: usize = 32;
/// Most activation bits for which Tanh/Sigmoid tables (2^bits rows) are built.
pub const MAX_FUNCTION_TABLE_BITS: u32 = 16;

impl Model {
    /// Checks what code handling a model from an untrusted file (a key) relies
    /// on before indexing it: the quantization parameters, tensor ids, each
    /// op's arity and element-wise shapes, tensor sizes. The reason names the
    /// node or tensor. Imported models pass by construction.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=30).contains(&self.scale_bits)
            || self.activation_bits <= self.scale_bits
            || self.activation_bits > 48
        {
            return Err(format!(
                "scale_bits = {} and activation_bits = {} (need 1 ≤ scale ≤ 30 < activation ≤ 48)",
                self.scale_bits, self.activation_bits
            ));
        }
        let count = self.tensors.len();
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err(format!(
                "{} input(s) and {} output(s) (need at least one of each)",
                self.inputs.len(),
                self.outputs.len()
            ));
        }
        if self.inputs.iter().chain(&self.outputs).any(|&t| t >= count) {
            return Err("input or output tensor id out of range".into());
        }
        for (what, ids) in [("input", &self.inputs), ("output", &self.outputs)] {
            if let Some(k) = (1..ids.len()).find(|&k| ids[..k].contains(&ids[k])) {
                return Err(format!(
                    "tensor `{}` is listed twice as a model {what}",
                    self.tensors[ids[k]].name
                ));
            }
        }
        for (id, t) in self.tensors.iter().enumerate() {
            let vars: Option<usize> = t.shape.iter().try_fold(0usize, |acc, &d| {
                let log = d.max(1).checked_next_power_of_two()?.trailing_zeros() as usize;
                acc.checked_add(log)
            });
            if vars.is_none_or(|v| v > MAX_TENSOR_VARS) {
                return Err(format!(
                    "tensor `{}` of shape {:?} is too large: its padded size exceeds the limit of 2^{MAX_TENSOR_VARS} entries",
                    t.name, t.shape
                ));
            }
            if let TensorKind::Weight { values } = &t.kind {
                if !values.is_empty() && values.len() != t.len() {
                    return Err(format!(
                        "weight `{}` has {} values for shape {:?}",
                        t.name,
                        values.len(),
                        t.shape
                    ));
                }
            }
            if matches!(t.kind, TensorKind::Input) != self.inputs.contains(&id) {
                return Err(format!(
                    "tensor `{}`: the model inputs must be exactly the tensors of kind Input",
                    t.name
                ));
            }
        }
        self.validate_graph()?;
        for node in &self.nodes {
            crate::ops::protocol(&node.op)
                .check(self, node)
                .map_err(|reason| format!("node `{}` ({}): {reason}", node.name, node.op))?;
        }
        Ok(())
    }

    /// The graph's structure: arities and tensor ids in range, nodes in
    /// topological order (every operand is an input, a weight, or the output
    /// of an earlier node), one producer per activation, nothing written into
    /// an input or a weight, and no node whose output nobody uses (every node
    /// leads to a model output; a node produces each). A cyclic graph fails
    /// the order check: some node reads an activation no earlier node produced.
    fn validate_graph(&self) -> Result<(), String> {
        let count = self.tensors.len();
        let mut produced_by: Vec<Option<usize>> = vec![None; count];
        let mut used = vec![false; count];
        for (n, node) in self.nodes.iter().enumerate() {
            let bad = |reason: String| Err(format!("node `{}` ({}): {reason}", node.name, node.op));
            if !crate::ops::protocol(&node.op)
                .arity()
                .contains(&node.inputs.len())
            {
                return bad(format!("{} inputs", node.inputs.len()));
            }
            if node.output >= count || node.inputs.iter().any(|&i| i >= count) {
                return bad("tensor id out of range".into());
            }
            for &i in &node.inputs {
                let defined = match self.tensors[i].kind {
                    TensorKind::Input | TensorKind::Weight { .. } => true,
                    TensorKind::Activation => produced_by[i].is_some(),
                };
                if !defined {
                    return bad(format!(
                        "reads `{}` before any earlier node produces it (nodes out of \
                         topological order, or a cycle)",
                        self.tensors[i].name
                    ));
                }
                used[i] = true;
            }
            let out = &self.tensors[node.output];
            if out.kind != TensorKind::Activation {
                return bad(format!(
                    "writes `{}`, which is an input or a weight",
                    out.name
                ));
            }
            if let Some(first) = produced_by[node.output] {
                return bad(format!(
                    "`{}` is already produced by node `{}`",
                    out.name, self.nodes[first].name
                ));
            }
            produced_by[node.output] = Some(n);
        }
        for &output in &self.outputs {
            if produced_by[output].is_none() {
                return Err(format!(
                    "the model output `{}` is not produced by any node",
                    self.tensors[output].name
                ));
            }
            used[output] = true;
        }
        if let Some(node) = self.nodes.iter().find(|node| !used[node.output]) {
            return Err(format!(
                "node `{}` ({}): its output `{}` is used by no node and is not a model output",
                node.name, node.op, self.tensors[node.output].name
            ));
        }
        Ok(())
    }

    /// The range every activation and every input must lie in:
    /// `[−2^(a−1), 2^(a−1))` for `a` = `activation_bits`.
    pub fn activation_range(&self) -> std::ops::Range<i64> {
        let half = 1i64 << (self.activation_bits - 1);
        -half..half
    }

    /// The shape of each input, in order.
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.inputs
            .iter()
            .map(|&t| self.tensors[t].shape.clone())
            .collect()
    }

    /// The shape of each output, in order.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.outputs
            .iter()
            .map(|&t| self.tensors[t].shape.clone())
            .collect()
    }

    /// Number of input values, all inputs together.
    pub fn input_len(&self) -> usize {
        self.inputs.iter().map(|&t| self.tensors[t].len()).sum()
    }

    /// Number of output values, all outputs together.
    pub fn output_len(&self) -> usize {
        self.outputs.iter().map(|&t| self.tensors[t].len()).sum()
    }

    /// Splits a concatenation of `tensors`' values (row-major, in order) into
    /// one slice per tensor; `None` when the length is not their total.
    pub fn split<'v, T>(&self, tensors: &[TensorId], values: &'v [T]) -> Option<Vec<&'v [T]>> {
        let mut rest = values;
        let mut parts = Vec::with_capacity(tensors.len());
        for &t in tensors {
            let len = self.tensors[t].len();
            if rest.len() < len {
                return None;
            }
            let (part, tail) = rest.split_at(len);
            parts.push(part);
            rest = tail;
        }
        rest.is_empty().then_some(parts)
    }

    /// The outputs' values in a witness, concatenated in order.
    pub fn output_values(&self, witness: &Witness) -> Vec<i64> {
        self.outputs
            .iter()
            .flat_map(|&t| witness.values[t].iter().copied())
            .collect()
    }

    /// Runs integer inference on quantized inputs (every input's values,
    /// row-major, concatenated in [`Model::inputs`] order), recording every
    /// tensor.
    pub fn execute(&self, input: &[i64]) -> Result<Witness, ModelError> {
        let Some(parts) = self.split(&self.inputs, input) else {
            return Err(ModelError::InputLength {
                model: self.name.clone(),
                expected: self.input_len(),
                actual: input.len(),
                shapes: self.input_shapes(),
            });
        };
        let range = self.activation_range();
        if let Some((index, &value)) = input.iter().enumerate().find(|(_, v)| !range.contains(v)) {
            return Err(ModelError::InputBound {
                index,
                value,
                bits_minus_one: self.activation_bits - 1,
            });
        }
        let mut values: Vec<Vec<i64>> = self
            .tensors
            .iter()
            .map(|t| match &t.kind {
                TensorKind::Weight { values } => values.clone(),
                _ => Vec::new(),
            })
            .collect();
        for (&t, part) in self.inputs.iter().zip(parts) {
            values[t] = part.to_vec();
        }
        let mut remainders = vec![None; self.nodes.len()];
        let mut aux = vec![Vec::new(); self.nodes.len()];
        for (n, node) in self.nodes.iter().enumerate() {
            let out_shape = &self.tensors[node.output].shape;
            let op = node.op.name();
            let bad = |reason: String| ModelError::BadNode {
                node: node.name.clone(),
                op,
                reason,
            };
            let inputs: Vec<&[i64]> = node.inputs.iter().map(|&i| values[i].as_slice()).collect();
            let executed = crate::ops::protocol(&node.op)
                .execute(self, node, &inputs)
                .map_err(|e| match e {
                    crate::ops::ExecError::Overflow => ModelError::Overflow {
                        node: node.name.clone(),
                        op,
                    },
                    crate::ops::ExecError::Bad(reason) => bad(reason),
                })?;
            let (out, rem) = (executed.output, executed.remainder);
            aux[n] = executed.aux;
            if out.len() != out_shape.iter().product::<usize>() {
                return Err(bad(format!(
                    "produced {} values for output shape {out_shape:?}",
                    out.len()
                )));
            }
            if let Some((index, &value)) = out.iter().enumerate().find(|(_, v)| !range.contains(v))
            {
                return Err(ModelError::ActivationBound {
                    node: node.name.clone(),
                    op,
                    index,
                    value,
                    bits_minus_one: self.activation_bits - 1,
                });
            }
            values[node.output] = out;
            remainders[n] = rem;
        }
        Ok(Witness {
            values,
            remainders,
            aux,
        })
    }
}

/// `(rows, cols)` of a matrix shape; a vector `[k]` is one row.
pub fn matrix_dims(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [k] => Some((1, *k)),
        [m, k] => Some((*m, *k)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_half_up_with_remainder_in_range() {
        for acc in -1000i128..1000 {
            let (q, r) = rescale(acc, 7);
            assert!((0..128).contains(&r));
            assert_eq!(acc + 64, q * 128 + r);
            let exact = acc as f64 / 128.0;
            assert!((q as f64 - exact).abs() <= 0.5 + 1e-12);
        }
    }

    #[test]
    #[allow(clippy::approx_constant)] // 3.14 is the value under test, not π.
    fn quantize_rounds_half_away_from_zero() {
        assert_eq!(quantize(0.5 / 128.0, 7), 1);
        assert_eq!(quantize(-0.5 / 128.0, 7), -1);
        assert_eq!(quantize(2.5, 7), 320);
    }

    #[test]
    fn broadcasting_indices() {
        assert_eq!(broadcast_index(5, &[2, 3], &[3]), 2);
        assert_eq!(broadcast_index(5, &[2, 3], &[2, 1]), 1);
        assert_eq!(broadcast_index(5, &[2, 3], &[1]), 0);
        assert!(broadcasts_to(&[1, 3], &[2, 3]));
        assert!(!broadcasts_to(&[2], &[2, 3]));
    }

    fn tiny() -> Model {
        // y = relu(x·W + b) with x [1,2], W [2,2], b [2].
        Model {
            name: "tiny".into(),
            scale_bits: 7,
            activation_bits: 16,
            tensors: vec![
                Tensor {
                    name: "x".into(),
                    shape: vec![1, 2],
                    kind: TensorKind::Input,
                },
                Tensor {
                    name: "W".into(),
                    shape: vec![2, 2],
                    kind: TensorKind::Weight {
                        values: vec![128, -128, 64, 256],
                    },
                },
                Tensor {
                    name: "b".into(),
                    shape: vec![2],
                    kind: TensorKind::Weight {
                        values: vec![10, -1000],
                    },
                },
                Tensor {
                    name: "h".into(),
                    shape: vec![1, 2],
                    kind: TensorKind::Activation,
                },
                Tensor {
                    name: "y".into(),
                    shape: vec![1, 2],
                    kind: TensorKind::Activation,
                },
            ],
            nodes: vec![
                Node {
                    name: "gemm".into(),
                    op: Op::MatMul,
                    inputs: vec![0, 1, 2],
                    output: 3,
                },
                Node {
                    name: "relu".into(),
                    op: Op::Relu,
                    inputs: vec![3],
                    output: 4,
                },
            ],
            inputs: vec![0],
            outputs: vec![4],
        }
    }

    #[test]
    fn executes_a_tiny_model() {
        let w = tiny().execute(&[256, 128]).unwrap();
        // x = (2, 1): h = (2·1 + 1·0.5 + 10/128, 2·(−1) + 1·2 − 1000/128)
        assert_eq!(w.values[3], vec![330, -1000]);
        assert_eq!(w.values[4], vec![330, 0]);
        assert!(w.remainders[0]
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| (0..128).contains(r)));
    }

    #[test]
    fn bound_violations_name_the_node() {
        let err = tiny().execute(&[30000, 30000]).unwrap_err();
        assert!(
            matches!(err, ModelError::ActivationBound { ref node, .. } if node == "gemm"),
            "{err}"
        );
        assert!(matches!(
            tiny().execute(&[1]),
            Err(ModelError::InputLength { .. })
        ));
        assert!(matches!(
            tiny().execute(&[40000, 0]),
            Err(ModelError::InputBound { .. })
        ));
    }
}
