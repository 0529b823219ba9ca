//! ONNX import: from an `.onnx` file to the quantized IR of [`crate::model`].
//!
//! The file is parsed by tract-onnx, each input is given a concrete shape (a
//! symbolic leading dimension such as `batch_size` or `N` becomes
//! [`ImportOptions::batch_size`]) and its own datum type (f32, or an integer
//! type: see below), and the graph is typed and *decluttered*
//! (never optimized: optimized ops are CPU kernels). Each decluttered tract op
//! is then lowered by a handler of the registry in [`ops`]:
//!
//! | tract op (decluttered) | IR |
//! |---|---|
//! | `EinSum` of one contracted axis (Gemm, MatMul) | `MatMul` (constant operands transposed at import) |
//! | `Add`, `Mul` (`TypedBinOp`) | `Add`, `Mul`, the broadcast operand second |
//! | `Sub`, `SubF` | `Sub` when the constant (or broadcast) operand is subtracted |
//! | `Max` with a constant 0 | `Relu` |
//! | `Tanh`, `Sigmoid`, `Erf`, `Exp` (`ElementWiseOp`) | the table op of the same name |
//! | `AddAxis`, `RmAxis`, `Reshape`, `MoveAxis` | none: the output aliases the input's IR tensor when only size-1 dimensions change |
//! | `Const` and anything tract folded to a constant | an IR `Weight` per use, quantized at scale 2^s |
//! | `Cast` of an integer model input to f32 | none: the output aliases the input's IR tensor |
//! | `Gather` (axis 0) of a constant table by an integer model input | `Gather` (the ids stay the public input) |
//! | `Softmax` over the last axis | `MaxShift` (`x − max`), `Exp`, `ReduceSum`, `Div` |
//! | `RmsNorm` (tract's form of LayerNorm's variance part and of RMSNorm) | `SumSquares`, (`Add` ε), `Rsqrt`, `Mul` |
//! | `Iff` (`Where`) on a constant condition | `Mul` by the 0/1 mask, `Add` of the (clamped) fill |
//! | `Recip` read only by `Mul`s (tract's form of `a / b`) | `Div(a, b)` at each `Mul`; else the `Reciprocal` table |
//! | `Sqrt`, `Rsqrt`, `Reduce<Max>` over the last axis | `Sqrt`, `Rsqrt`, `ReduceMax` (`MaxShift` with a `Sub` of it from its input, the max read nowhere else) |
//!
//! A model may have several inputs and outputs; the IR lists them in the ONNX
//! graph's order ([`Model::inputs`], [`Model::outputs`]). An integer input
//! (int64, int32, ...: token ids and the like) holds integers `v`; the IR
//! input tensor holds them in the fixed-point convention, `v·2^s`, which is
//! exactly the quantization of the float `v` the graph's `Cast` to f32 makes
//! of it: so that `Cast` is the quantization step and lowers to nothing, and
//! an input file gives the integers themselves. Besides that `Cast`, only a
//! `Gather` of table rows by the ids reads an integer input; any other use
//! (integer arithmetic) is refused naming the node.
//!
//! A pass then folds "MatMul followed by Add of a constant `[n]` bias" into the
//! MatMul's bias input, and another `Sub(x, ReduceMax(x))` (Softmax's lowering,
//! or the same written out) into `MaxShift(x)` when nothing else reads the max
//! (see `fold.rs` for these and the other folds). IR shapes are tract's shapes with leading size-1
//! dimensions dropped while the rank exceeds 2 (so `[1,64]` stays `[1,64]`);
//! a shape op does not change the IR tensor's shape, since only size-1
//! dimensions differ and the row-major layout is the same.
//!
//! Anything else is rejected at import with [`ImportError::Unsupported`] naming
//! the node, its op and what is unsupported. The decluttered typed tract model
//! is kept, runnable, as the f32 reference ([`run_float`]).

mod fold;
mod lower;
mod ops;

use std::fmt;
use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::model::{Model, DEFAULT_ACTIVATION_BITS, DEFAULT_SCALE_BITS};

/// Quantization and shape options of [`import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Fixed-point scale 2^s of every tensor.
    pub scale_bits: u32,
    /// Activation bound: |x| < 2^(activation_bits − 1).
    pub activation_bits: u32,
    /// Value given to a symbolic leading input dimension (`batch_size`, `N`).
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            scale_bits: DEFAULT_SCALE_BITS,
            activation_bits: DEFAULT_ACTIVATION_BITS,
            batch_size: 1,
        }
    }
}

/// An imported model: the quantized IR and tract's f32 plan of the same graph.
pub struct ImportedModel {
    /// The quantized IR.
    pub model: Model,
    /// The decluttered typed tract model, runnable in f32 (the reference).
    pub float_model: Arc<TypedRunnableModel>,
    /// The concrete shape of each input the model was typed with, in order.
    pub input_shapes: Vec<Vec<usize>>,
    /// The datum type of each input (f32, or an integer type).
    pub input_types: Vec<DatumType>,
    /// tract's shape of each output (each IR output has the same element count).
    pub output_shapes: Vec<Vec<usize>>,
    /// Whether an input has a symbolic leading dimension, so that
    /// [`ImportOptions::batch_size`] shaped the model.
    pub batch_dependent: bool,
}

impl ImportedModel {
    /// `options` as they matter for this model: a batch size that shaped
    /// nothing (no symbolic leading dimension) is the default 1, so that
    /// keys made with any `--batch-size` are found in one cache folder (a
    /// proof's header states the batch as its first input's leading
    /// dimension, which a verifier passes back).
    pub fn effective_options(&self, options: &ImportOptions) -> ImportOptions {
        let mut options = *options;
        if !self.batch_dependent {
            options.batch_size = 1;
        }
        options
    }

    /// Whether input `i` is of an integer type: its values are the integers
    /// themselves (the IR holds them times 2^s).
    pub fn is_integer_input(&self, i: usize) -> bool {
        self.input_types.get(i).is_some_and(|t| t.is_integer())
    }
}

impl fmt::Debug for ImportedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedModel")
            .field("model", &self.model)
            .field("input_shapes", &self.input_shapes)
            .field("input_types", &self.input_types)
            .field("output_shapes", &self.output_shapes)
            .finish_non_exhaustive()
    }
}

/// Import errors; each names the file, or the node and op at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse `{}` as ONNX: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("node `{node}` ({op}): unsupported {what}")]
    Unsupported {
        node: String,
        op: String,
        what: String,
    },
    #[error("`{}` has {inputs} input(s) and {outputs} output(s); zkinfer needs at least one of each", path.display())]
    Arity {
        path: PathBuf,
        inputs: usize,
        outputs: usize,
    },
    #[error("tract could not {stage} `{}`: {message}", path.display())]
    Tract {
        path: PathBuf,
        stage: &'static str,
        message: String,
    },
    #[error("invalid import options: {0}")]
    Options(String),
    #[error(
        "input has {actual} values, the model expects {expected} ({})",
        crate::model::shapes_text(shapes)
    )]
    InputLength {
        expected: usize,
        actual: usize,
        shapes: Vec<Vec<usize>>,
    },
    #[error("f32 reference run failed: {0}")]
    Float(String),
    #[error("`{}` imports to an invalid model: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

impl ImportError {
    pub(crate) fn unsupported(
        node: impl Into<String>,
        op: impl Into<String>,
        what: impl Into<String>,
    ) -> Self {
        ImportError::Unsupported {
            node: node.into(),
            op: op.into(),
            what: what.into(),
        }
    }
}

fn check_options(options: &ImportOptions) -> Result<(), ImportError> {
    if !(1..=30).contains(&options.scale_bits) {
        return Err(ImportError::Options(format!(
            "scale_bits = {} (must be in 1..=30)",
            options.scale_bits
        )));
    }
    if options.activation_bits <= options.scale_bits || options.activation_bits > 48 {
        return Err(ImportError::Options(format!(
            "activation_bits = {} (must exceed scale_bits = {} and be at most 48)",
            options.activation_bits, options.scale_bits
        )));
    }
    if options.batch_size == 0 {
        return Err(ImportError::Options("batch_size = 0".into()));
    }
    Ok(())
}

/// Formats a tract error with its whole context chain (node names included).
fn chain(e: &TractError) -> String {
    format!("{e:#}")
}

/// Runs a tract call on an untrusted model, a panic inside it becoming an
/// error: tract-onnx 0.23 panics on some malformed graphs (a graph output
/// naming no value, out-of-range axes), found by `fuzz/`'s ONNX targets.
fn guarded<T>(call: impl FnOnce() -> TractResult<T>) -> TractResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(anyhow::anyhow!("tract panicked: {message}"))
    })
}

/// A model's name: the folder of a file called `network.onnx` (the ezkl and
/// shipped-model convention), else the file stem.
pub fn model_name(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .filter(|_| path.file_stem().is_some_and(|s| s == "network"))
        .or_else(|| path.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Imports an ONNX file as a quantized IR model plus its f32 reference.
///
/// Phases (tracing spans): `import` (tract parses, types and declutters the
/// graph; later, the f32 plan) and `quantize` (lowering to the fixed-point IR).
pub fn import(path: &Path, options: &ImportOptions) -> Result<ImportedModel, ImportError> {
    check_options(options)?;
    let import_span = tracing::info_span!("import").entered();
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut model =
        guarded(|| tract_onnx::onnx().model_for_path(path)).map_err(|e| ImportError::Parse {
            path: path.to_path_buf(),
            message: chain(&e),
        })?;
    for node in model.nodes() {
        if node.op().name().starts_with("Unimplemented") {
            let onnx_op = node
                .op()
                .info()
                .ok()
                .and_then(|i| i.into_iter().next())
                .unwrap_or_default();
            return Err(ImportError::unsupported(
                &node.name,
                node.op().name().to_string(),
                format!("ONNX operator (not implemented by tract) {onnx_op}"),
            ));
        }
    }
    let (inputs, outputs) = (model.inputs.len(), model.outputs.len());
    if inputs == 0 || outputs == 0 {
        return Err(ImportError::Arity {
            path: path.to_path_buf(),
            inputs,
            outputs,
        });
    }
    let tract_err = |stage| {
        move |e: TractError| ImportError::Tract {
            path: path.to_path_buf(),
            stage,
            message: chain(&e),
        }
    };
    let mut input_shapes = Vec::with_capacity(inputs);
    let mut input_types = Vec::with_capacity(inputs);
    let mut batch_dependent = false;
    for i in 0..inputs {
        let input_name = model.node(model.inputs[i].node).name.clone();
        let (dt, shape, symbolic) =
            concrete_input_fact(&model, i, &input_name, options.batch_size)?;
        batch_dependent |= symbolic;
        let fact = InferenceFact::dt_shape(dt, &shape);
        model = guarded(|| model.with_input_fact(i, fact))
            .map_err(tract_err("set the input shape of"))?;
        input_shapes.push(shape);
        input_types.push(dt);
    }
    let typed = guarded(|| model.into_typed())
        .map_err(tract_err("type"))
        .and_then(|typed| guarded(|| typed.into_decluttered()).map_err(tract_err("declutter")))?;
    let mut output_shapes = Vec::with_capacity(outputs);
    for (i, &outlet) in typed.outputs.iter().enumerate() {
        let name = typed
            .outlet_label(outlet)
            .map(str::to_string)
            .unwrap_or_else(|| format!("output {i}"));
        let output_fact = typed
            .outlet_fact(outlet)
            .map_err(tract_err("read the outputs of"))?;
        let output_shape = output_fact
            .shape
            .as_concrete()
            .map(|s| s.to_vec())
            .ok_or_else(|| {
                ImportError::unsupported(
                    &name,
                    "Output",
                    format!("symbolic output shape {:?}", output_fact.shape),
                )
            })?;
        if output_fact.datum_type != f32::datum_type() {
            return Err(ImportError::unsupported(
                &name,
                "Output",
                format!("output datum type {:?} (only f32)", output_fact.datum_type),
            ));
        }
        output_shapes.push(output_shape);
    }
    drop(import_span);
    let quantize_span = tracing::info_span!("quantize").entered();
    let (mut ir, mut floats) = lower::lower(&typed, model_name(path), options)?;
    fold::fold_biases(&mut ir);
    fold::fold_norm_affines(&mut ir, &mut floats);
    fold::fold_score_scales(&mut ir, &floats);
    fold::fold_reshapes(&mut ir);
    fold::fold_max_shifts(&mut ir);
    fold::compact(&mut ir);
    // What handles an IR model relies on (keys, the prover) holds for every
    // import: one that would not is an error, not a later panic (`fuzz/` found
    // operands that do not broadcast and tensors too large to prove).
    ir.validate().map_err(|reason| ImportError::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    drop(quantize_span);
    let float_model = {
        let _span = tracing::info_span!("import").entered();
        guarded(|| typed.into_runnable()).map_err(tract_err("make a runnable plan of"))?
    };
    Ok(ImportedModel {
        model: ir,
        float_model,
        input_shapes,
        batch_dependent,
        input_types,
        output_shapes,
    })
}

/// Integer input types zkinfer accepts (values used as-is after a `Cast`).
const INTEGER_INPUTS: [DatumType; 6] = [
    DatumType::I64,
    DatumType::I32,
    DatumType::I16,
    DatumType::I8,
    DatumType::U16,
    DatumType::U8,
];

/// Input `i`'s datum type (f32 or an integer type), its shape with
/// symbolic dimension 0 replaced by `batch_size`, and whether it had one.
fn concrete_input_fact(
    model: &InferenceModel,
    i: usize,
    input_name: &str,
    batch_size: usize,
) -> Result<(DatumType, Vec<usize>, bool), ImportError> {
    let fact = model
        .input_fact(i)
        .map_err(|e| ImportError::unsupported(input_name, "Source", chain(&e)))?;
    let dt = match fact.datum_type.concretize() {
        Some(dt) if dt == f32::datum_type() || INTEGER_INPUTS.contains(&dt) => dt,
        other => {
            return Err(ImportError::unsupported(
                input_name,
                "Source",
                format!(
                    "input datum type {other:?} (only f32 and the integer types {INTEGER_INPUTS:?})"
                ),
            ))
        }
    };
    if fact.shape.is_open() {
        return Err(ImportError::unsupported(
            input_name,
            "Source",
            "input of unknown rank",
        ));
    }
    let mut symbolic = false;
    let shape = fact
        .shape
        .dims()
        .enumerate()
        .map(|(axis, d)| match d.concretize() {
            Some(dim) => match dim.to_usize() {
                Ok(n) => Ok(n),
                Err(_) if axis == 0 => {
                    symbolic = true;
                    Ok(batch_size)
                }
                Err(_) => Err(ImportError::unsupported(
                    input_name,
                    "Source",
                    format!("symbolic input dimension `{dim}` at axis {axis} (only axis 0 may be symbolic)"),
                )),
            },
            None if axis == 0 => {
                symbolic = true;
                Ok(batch_size)
            }
            None => Err(ImportError::unsupported(
                input_name,
                "Source",
                format!("unknown input dimension at axis {axis}"),
            )),
        })
        .collect::<Result<Vec<usize>, _>>()?;
    Ok((dt, shape, symbolic))
}

/// Runs tract's f32 reference on `input`: every input's values (row-major,
/// the model's input shapes) concatenated in order, an integer input's as
/// integers. Returns every output's values (as f32) concatenated in order.
pub fn run_float(imported: &ImportedModel, input: &[f32]) -> Result<Vec<f32>, ImportError> {
    let expected: usize = imported
        .input_shapes
        .iter()
        .map(|s| s.iter().product::<usize>())
        .sum();
    if input.len() != expected {
        return Err(ImportError::InputLength {
            expected,
            actual: input.len(),
            shapes: imported.input_shapes.clone(),
        });
    }
    let float = |e: TractError| ImportError::Float(chain(&e));
    let mut tensors = TVec::new();
    let mut rest = input;
    for (i, (shape, &dt)) in imported
        .input_shapes
        .iter()
        .zip(&imported.input_types)
        .enumerate()
    {
        let (values, tail) = rest.split_at(shape.iter().product());
        rest = tail;
        let tensor = Tensor::from_shape(shape, values).map_err(float)?;
        let tensor = if dt.is_integer() {
            if let Some(k) = values.iter().position(|v| v.fract() != 0.0) {
                return Err(ImportError::Float(format!(
                    "input {i} is of type {dt:?}: value {} at index {k} is not an integer",
                    values[k]
                )));
            }
            tensor.cast_to_dt(dt).map_err(float)?.into_owned()
        } else {
            tensor
        };
        tensors.push(tensor.into_tvalue());
    }
    let outputs = guarded(|| imported.float_model.run(tensors)).map_err(float)?;
    if outputs.is_empty() {
        return Err(ImportError::Float("no output".into()));
    }
    let mut all = Vec::new();
    for out in &outputs {
        let out = out.cast_to::<f32>().map_err(float)?;
        let view = out.to_plain_array_view::<f32>().map_err(float)?;
        all.extend(view.iter().copied());
    }
    Ok(all)
}
