//! The lowering context: walks the decluttered typed tract graph in evaluation
//! order, maps each tract outlet to an IR tensor, and gives op handlers the
//! helpers they share (operands, constants as weights, IR shapes, broadcast
//! layouts).

use std::collections::{HashMap, HashSet};

use tract_onnx::prelude::*;

use super::{ops, ImportError, ImportOptions};
use crate::model::{self, Model, Node, Op, TensorId, TensorKind};

/// An operand of a tract node: an IR tensor, or a constant tract folded.
pub(crate) enum Operand {
    Tensor(TensorId),
    Const(Arc<Tensor>),
}

/// State of one lowering.
pub(crate) struct Lowering<'a> {
    pub typed: &'a TypedModel,
    pub scale_bits: u32,
    pub activation_bits: u32,
    pub tensors: Vec<model::Tensor>,
    pub nodes: Vec<Node>,
    /// IR tensor of each lowered (non-constant) tract outlet.
    pub outlets: HashMap<OutletId, TensorId>,
    /// The outlets of integer model inputs: only a `Cast` to f32 may read them.
    pub integer_outlets: HashSet<OutletId>,
    /// Outlets of `Recip(b)` nodes whose only readers are `Mul`s: no IR node,
    /// the `Mul(a, 1/b)` becomes an exact IR `Div(a, b)` (tract rewrites every
    /// float division into a multiplication by a reciprocal).
    pub reciprocals: HashMap<OutletId, TensorId>,
    /// The float values of every weight, for IR passes that requantize
    /// ([`crate::onnx::fold::fold_score_scales`]).
    pub floats: WeightFloats,
}

/// The float values of each weight tensor, by IR tensor id.
pub(crate) type WeightFloats = HashMap<TensorId, Vec<f32>>;

/// Drops leading size-1 dimensions while the rank exceeds 2.
pub(crate) fn ir_shape(shape: &[usize]) -> Vec<usize> {
    let mut start = 0;
    while shape.len() - start > 2 && shape[start] == 1 {
        start += 1;
    }
    shape[start..].to_vec()
}

/// Drops all leading size-1 dimensions.
pub(crate) fn trim_leading_ones(shape: &[usize]) -> &[usize] {
    let start = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
    &shape[start..]
}

/// The non-1 dimensions, in order.
pub(crate) fn non_unit(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

/// The IR shape for an operand of tract shape `b_t` broadcast against `a` of
/// tract shape `a_t` whose IR tensor has shape `a_ir` (same non-1 dimensions as
/// `a_t`, possibly different size-1 dimensions): `b`'s non-1 dimensions placed
/// at the IR positions of the matching dimensions of `a`, so that IR
/// broadcasting of the result against `a_ir` is tract's broadcasting of `b_t`
/// against `a_t`. Leading 1s are dropped (kept as `[1]` when all are 1).
pub(crate) fn aligned_broadcast_shape(
    a_t: &[usize],
    a_ir: &[usize],
    b_t: &[usize],
) -> Result<Vec<usize>, String> {
    let (ra, rb) = (a_t.len(), b_t.len());
    if rb > ra && b_t[..rb - ra].iter().any(|&d| d != 1) {
        return Err(format!(
            "operand of shape {b_t:?} does not broadcast to {a_t:?}"
        ));
    }
    let mut padded = vec![1usize; ra.saturating_sub(rb)];
    padded.extend_from_slice(&b_t[rb.saturating_sub(ra)..]);
    if !model::broadcasts_to(&padded, a_t) {
        return Err(format!(
            "operand of shape {b_t:?} does not broadcast to {a_t:?}"
        ));
    }
    let ir_positions: Vec<usize> = (0..a_ir.len()).filter(|&i| a_ir[i] != 1).collect();
    if non_unit(a_t) != non_unit(a_ir) {
        return Err(format!(
            "internal layout mismatch: tract shape {a_t:?}, IR shape {a_ir:?}"
        ));
    }
    let mut desired = vec![1usize; a_ir.len()];
    let mut k = 0;
    for (j, &d) in a_t.iter().enumerate() {
        if d != 1 {
            if padded[j] != 1 {
                desired[ir_positions[k]] = padded[j];
            }
            k += 1;
        }
    }
    let trimmed = trim_leading_ones(&desired).to_vec();
    Ok(if trimmed.is_empty() && !a_ir.is_empty() {
        vec![1]
    } else {
        trimmed
    })
}

impl<'a> Lowering<'a> {
    /// A node's display name and op name, for errors.
    pub fn unsupported(node: &TypedNode, what: impl Into<String>) -> ImportError {
        ImportError::unsupported(&node.name, node.op().name().to_string(), what)
    }

    /// The concrete tract shape of an outlet. Its element count fits a
    /// `usize`, so every lowering may multiply its dimensions (a mutated model
    /// with dimensions near 2^64 made `product()` overflow; found by
    /// `fuzz/`'s `onnx_mutate`); sizes beyond the IR's limits are refused by
    /// model validation after lowering.
    pub fn shape(&self, node: &TypedNode, outlet: OutletId) -> Result<Vec<usize>, ImportError> {
        let fact = self
            .typed
            .outlet_fact(outlet)
            .map_err(|e| Self::unsupported(node, format!("{e:#}")))?;
        let shape = fact
            .shape
            .as_concrete()
            .map(|s| s.to_vec())
            .ok_or_else(|| Self::unsupported(node, format!("symbolic shape {:?}", fact.shape)))?;
        if shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(Self::unsupported(
                node,
                format!("shape {shape:?} has more elements than fit in memory"),
            ));
        }
        Ok(shape)
    }

    /// The shape of input `slot` of `node`.
    pub fn input_shape(&self, node: &TypedNode, slot: usize) -> Result<Vec<usize>, ImportError> {
        self.shape(node, node.inputs[slot])
    }

    /// The shape of `node`'s first output.
    pub fn output_shape(&self, node: &TypedNode) -> Result<Vec<usize>, ImportError> {
        self.shape(node, OutletId::new(node.id, 0))
    }

    /// Input `slot` of `node`, as a lowered tensor or a constant.
    pub fn operand(&self, node: &TypedNode, slot: usize) -> Result<Operand, ImportError> {
        let outlet = node.inputs[slot];
        let fact = self
            .typed
            .outlet_fact(outlet)
            .map_err(|e| Self::unsupported(node, format!("{e:#}")))?;
        if let Some(k) = &fact.konst {
            return Ok(Operand::Const(k.clone()));
        }
        self.outlets
            .get(&outlet)
            .map(|&t| Operand::Tensor(t))
            .ok_or_else(|| {
                let producer = &self.typed.node(outlet.node).name;
                Self::unsupported(
                    node,
                    format!("input from node `{producer}` that was not lowered"),
                )
            })
    }

    /// A constant's values as f32, row-major.
    pub fn const_values(node: &TypedNode, t: &Tensor) -> Result<Vec<f32>, ImportError> {
        let cast = t.cast_to::<f32>().map_err(|_| {
            Self::unsupported(node, format!("constant of type {:?}", t.datum_type()))
        })?;
        let view = cast
            .to_plain_array_view::<f32>()
            .map_err(|e| Self::unsupported(node, format!("constant: {e:#}")))?;
        let values: Vec<f32> = view.iter().copied().collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Self::unsupported(node, "non-finite constant"));
        }
        Ok(values)
    }

    /// Adds a quantized weight tensor.
    pub fn add_weight(&mut self, name: String, shape: Vec<usize>, floats: &[f32]) -> TensorId {
        let values = floats
            .iter()
            .map(|&v| model::quantize(v as f64, self.scale_bits))
            .collect();
        self.tensors.push(model::Tensor {
            name,
            shape,
            kind: TensorKind::Weight { values },
        });
        let id = self.tensors.len() - 1;
        self.floats.insert(id, floats.to_vec());
        id
    }

    /// Adds the activation tensor of `node`'s first output (IR shape of its
    /// tract shape) and maps the outlet to it.
    pub fn add_output(&mut self, node: &TypedNode) -> Result<TensorId, ImportError> {
        let outlet = OutletId::new(node.id, 0);
        let shape = ir_shape(&self.output_shape(node)?);
        let name = self
            .typed
            .outlet_label(outlet)
            .map(str::to_string)
            .unwrap_or_else(|| node.name.clone());
        self.tensors.push(model::Tensor {
            name,
            shape,
            kind: TensorKind::Activation,
        });
        let id = self.tensors.len() - 1;
        self.outlets.insert(outlet, id);
        Ok(id)
    }

    /// Adds an IR node.
    pub fn push_node(&mut self, node: &TypedNode, op: Op, inputs: Vec<TensorId>, output: TensorId) {
        self.nodes.push(Node {
            name: node.name.clone(),
            op,
            inputs,
            output,
        });
    }

    /// Adds an intermediate activation `{node}.{suffix}` of `shape` computed
    /// by an IR node of the same name (ops that lower to several IR nodes).
    pub fn push_intermediate(
        &mut self,
        node: &TypedNode,
        suffix: &str,
        op: Op,
        inputs: Vec<TensorId>,
        shape: Vec<usize>,
    ) -> TensorId {
        let name = format!("{}.{suffix}", node.name);
        self.tensors.push(model::Tensor {
            name: name.clone(),
            shape,
            kind: TensorKind::Activation,
        });
        let output = self.tensors.len() - 1;
        self.nodes.push(Node {
            name,
            op,
            inputs,
            output,
        });
        output
    }

    /// The IR tensor for operand `b` (input `b_slot`) broadcast against the
    /// lowered tensor `a` (input `a_slot`): a constant becomes a weight of the
    /// aligned shape; a tensor must already have it.
    pub fn broadcast_operand(
        &mut self,
        node: &TypedNode,
        a_slot: usize,
        a: TensorId,
        b_slot: usize,
        b: Operand,
    ) -> Result<TensorId, ImportError> {
        let a_t = self.input_shape(node, a_slot)?;
        let b_t = self.input_shape(node, b_slot)?;
        let a_ir = self.tensors[a].shape.clone();
        let desired =
            aligned_broadcast_shape(&a_t, &a_ir, &b_t).map_err(|e| Self::unsupported(node, e))?;
        match b {
            Operand::Const(k) => {
                let values = Self::const_values(node, &k)?;
                let name = self
                    .typed
                    .outlet_label(node.inputs[b_slot])
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}.const", node.name));
                Ok(self.add_weight(name, desired, &values))
            }
            Operand::Tensor(t) => {
                let have = &self.tensors[t].shape;
                if trim_leading_ones(have) == trim_leading_ones(&desired) {
                    Ok(t)
                } else {
                    Err(Self::unsupported(
                        node,
                        format!(
                            "broadcast of an activation of IR shape {have:?} against {a_ir:?} (needs {desired:?})"
                        ),
                    ))
                }
            }
        }
    }
}

/// Lowers a `Cast` of an integer model input to f32: the IR input already
/// holds `v·2^s`, the quantization of the float `v` the cast makes, so the
/// output aliases it. Any other reader of an integer input is refused.
fn lower_integer_use(cx: &mut Lowering, node: &TypedNode) -> Result<(), ImportError> {
    let integer = node
        .inputs
        .iter()
        .find(|o| cx.integer_outlets.contains(o))
        .copied()
        .expect("called for a reader of an integer input");
    let input_name = cx.typed.node(integer.node).name.clone();
    if let Some(gather) = node.op_as::<tract_onnx::tract_core::ops::array::Gather>() {
        return lower_gather_by_ids(cx, node, gather.axis, integer);
    }
    let cast = node.op_as::<tract_onnx::tract_core::ops::cast::Cast>();
    match cast {
        Some(cast) if cast.to == f32::datum_type() && node.inputs.len() == 1 => {
            let tensor = cx.outlets[&integer];
            cx.outlets.insert(OutletId::new(node.id, 0), tensor);
            Ok(())
        }
        _ => Err(Lowering::unsupported(
            node,
            format!(
                "use of the integer input `{input_name}` (an integer input may only be cast to \
                 float, which is where zkinfer quantizes it; {} on integers is not supported)",
                node.op().name()
            ),
        )),
    }
}

/// Lowers a `Gather` of a constant table's rows (axis 0) by an integer model
/// input (token ids, position ids) to [`Op::Gather`]: the ids stay the public
/// input the verifier reads.
fn lower_gather_by_ids(
    cx: &mut Lowering,
    node: &TypedNode,
    axis: usize,
    ids: OutletId,
) -> Result<(), ImportError> {
    if node.inputs.len() != 2 || node.inputs[1] != ids {
        return Err(Lowering::unsupported(
            node,
            "Gather whose table is the integer input (only a constant table gathered by ids)",
        ));
    }
    if axis != 0 {
        return Err(Lowering::unsupported(
            node,
            format!("Gather on axis {axis} by ids (only axis 0, a table's rows)"),
        ));
    }
    let table = match cx.operand(node, 0)? {
        Operand::Const(t) => t,
        Operand::Tensor(_) => {
            return Err(Lowering::unsupported(
                node,
                "Gather by ids from a computed tensor (only a constant table)",
            ))
        }
    };
    let values = Lowering::const_values(node, &table)?;
    let name = cx
        .typed
        .outlet_label(node.inputs[0])
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.table", node.name));
    let w = cx.add_weight(name, table.shape().to_vec(), &values);
    let ids_tensor = cx.outlets[&ids];
    let output = cx.add_output(node)?;
    cx.push_node(node, Op::Gather, vec![w, ids_tensor], output);
    Ok(())
}

/// Lowers a decluttered typed model to the IR (before bias folding).
pub(crate) fn lower(
    typed: &TypedModel,
    name: String,
    options: &ImportOptions,
) -> Result<(Model, WeightFloats), ImportError> {
    let mut cx = Lowering {
        typed,
        scale_bits: options.scale_bits,
        tensors: Vec::new(),
        nodes: Vec::new(),
        outlets: HashMap::new(),
        integer_outlets: HashSet::new(),
        reciprocals: HashMap::new(),
        activation_bits: options.activation_bits,
        floats: HashMap::new(),
    };
    let order = typed
        .eval_order()
        .map_err(|e| ImportError::unsupported("graph", "EvalOrder", format!("{e:#}")))?;
    // Every input gets an IR tensor, in the graph's input order (eval order
    // may differ, and may skip an input nothing reads).
    let mut inputs = Vec::with_capacity(typed.inputs.len());
    for &outlet in &typed.inputs {
        let node = typed.node(outlet.node);
        let shape = ir_shape(&cx.shape(node, outlet)?);
        cx.tensors.push(model::Tensor {
            name: node.name.clone(),
            shape,
            kind: TensorKind::Input,
        });
        let id = cx.tensors.len() - 1;
        cx.outlets.insert(outlet, id);
        let fact = typed
            .outlet_fact(outlet)
            .map_err(|e| Lowering::unsupported(node, format!("{e:#}")))?;
        if fact.datum_type.is_integer() {
            cx.integer_outlets.insert(outlet);
        }
        inputs.push(id);
    }
    for id in order {
        let node = typed.node(id);
        if typed.inputs.iter().any(|o| o.node == id) {
            continue;
        }
        // Constants (and whatever tract folded to one) are read by consumers.
        let all_const = node.outputs.iter().all(|o| o.fact.konst.is_some());
        if all_const {
            continue;
        }
        if node.inputs.iter().any(|o| cx.integer_outlets.contains(o)) {
            lower_integer_use(&mut cx, node)?;
            continue;
        }
        if node.outputs.len() != 1 {
            return Err(Lowering::unsupported(
                node,
                format!("op with {} outputs", node.outputs.len()),
            ));
        }
        let name = node.op().name();
        let handler = ops::handler(&name).ok_or_else(|| {
            Lowering::unsupported(node, "operation (no lowering to the zkinfer IR)")
        })?;
        handler(&mut cx, node)?;
    }
    let mut outputs = Vec::with_capacity(typed.outputs.len());
    for &outlet in &typed.outputs {
        let node = typed.node(outlet.node);
        let unsupported =
            |what: &str| ImportError::unsupported(&node.name, node.op().name().to_string(), what);
        let output = *cx
            .outlets
            .get(&outlet)
            .ok_or_else(|| unsupported("constant model output"))?;
        let output = if inputs.contains(&output) {
            // Identity, Squeeze, Unsqueeze…: the output is an input's entries,
            // proved as a copy into the output's shape.
            let shape = ir_shape(&cx.shape(node, outlet)?);
            let name = typed
                .outlet_label(outlet)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}.output", node.name));
            cx.tensors.push(model::Tensor {
                name: name.clone(),
                shape,
                kind: TensorKind::Activation,
            });
            let copy = cx.tensors.len() - 1;
            cx.nodes.push(Node {
                name,
                op: Op::Reshape(crate::ops::reshape::Reshape),
                inputs: vec![output],
                output: copy,
            });
            copy
        } else {
            output
        };
        outputs.push(output);
    }
    let model = Model {
        name,
        scale_bits: options.scale_bits,
        activation_bits: options.activation_bits,
        tensors: cx.tensors,
        nodes: cx.nodes,
        inputs,
        outputs,
    };
    Ok((model, cx.floats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ir_shapes_keep_rank_two() {
        assert_eq!(ir_shape(&[1, 64]), vec![1, 64]);
        assert_eq!(ir_shape(&[1, 1, 64]), vec![1, 64]);
        assert_eq!(ir_shape(&[1, 3, 4, 5]), vec![3, 4, 5]);
        assert_eq!(ir_shape(&[10]), vec![10]);
    }

    #[test]
    fn broadcast_shapes_follow_the_ir_layout() {
        // Same layout: bias [n] against [1, n].
        assert_eq!(
            aligned_broadcast_shape(&[1, 8], &[1, 8], &[8]).unwrap(),
            vec![8]
        );
        assert_eq!(
            aligned_broadcast_shape(&[1, 8], &[1, 8], &[1, 8]).unwrap(),
            vec![8]
        );
        // Scalar-like constant.
        assert_eq!(
            aligned_broadcast_shape(&[1, 8], &[1, 8], &[1]).unwrap(),
            vec![1]
        );
        // Column broadcast keeps its trailing 1.
        assert_eq!(
            aligned_broadcast_shape(&[3, 4], &[3, 4], &[3, 1]).unwrap(),
            vec![3, 1]
        );
        // a aliased from [3, 1, 4] to IR [3, 4]: b [1, 1, 4] lines up with the last axis.
        assert_eq!(
            aligned_broadcast_shape(&[3, 1, 4], &[3, 4], &[1, 1, 4]).unwrap(),
            vec![4]
        );
        assert_eq!(
            aligned_broadcast_shape(&[3, 1, 4], &[3, 4], &[3, 1, 1]).unwrap(),
            vec![3, 1]
        );
        // a [10] aliased to IR [10, 1]: b [10] must follow a's 10.
        assert_eq!(
            aligned_broadcast_shape(&[10], &[10, 1], &[10]).unwrap(),
            vec![10, 1]
        );
        assert!(aligned_broadcast_shape(&[1, 8], &[1, 8], &[4]).is_err());
        assert!(aligned_broadcast_shape(&[8], &[8], &[2, 8]).is_err());
    }
}
