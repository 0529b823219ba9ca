//! ONNX import: from an `.onnx` file to the quantized IR of [`crate::model`].
//!
//! The file is parsed by tract-onnx, its single input is given a concrete f32
//! shape (a symbolic leading dimension such as `batch_size` or `N` becomes
//! [`ImportOptions::batch_size`]), and the graph is typed and *decluttered*
//! (never optimized: optimized ops are CPU kernels). Each decluttered tract op
//! is then lowered by a handler of the registry in [`ops`]:
//!
//! | tract op (decluttered) | IR |
//! |---|---|
//! | `EinSum` of one contracted axis (Gemm, MatMul) | `MatMul` (constant operands transposed at import) |
//! | `Add`, `Mul` (`TypedBinOp`) | `Add`, `Mul`, the broadcast operand second |
//! | `Sub`, `SubF` | `Sub` when the constant (or broadcast) operand is subtracted |
//! | `Max` with a constant 0 | `Relu` |
//! | `Tanh`, `Sigmoid` (`ElementWiseOp`) | `Tanh`, `Sigmoid` |
//! | `AddAxis`, `RmAxis`, `Reshape`, `MoveAxis` | none: the output aliases the input's IR tensor when only size-1 dimensions change |
//! | `Const` and anything tract folded to a constant | an IR `Weight` per use, quantized at scale 2^s |
//!
//! A pass then folds "MatMul followed by Add of a constant `[n]` bias" into the
//! MatMul's bias input. IR shapes are tract's shapes with leading size-1
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
    /// The concrete input shape the model was typed with.
    pub input_shape: Vec<usize>,
    /// tract's output shape (the IR output has the same element count).
    pub output_shape: Vec<usize>,
}

impl fmt::Debug for ImportedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedModel")
            .field("model", &self.model)
            .field("input_shape", &self.input_shape)
            .field("output_shape", &self.output_shape)
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
    #[error("`{}` has {inputs} input(s) and {outputs} output(s); zkinfer supports exactly one of each", path.display())]
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
    #[error("input has {actual} values, the model expects {expected} (shape {shape:?})")]
    InputLength {
        expected: usize,
        actual: usize,
        shape: Vec<usize>,
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
    if inputs != 1 || outputs != 1 {
        return Err(ImportError::Arity {
            path: path.to_path_buf(),
            inputs,
            outputs,
        });
    }
    let input_name = model.node(model.inputs[0].node).name.clone();
    let input_shape = concrete_input_shape(&model, &input_name, options.batch_size)?;
    let tract_err = |stage| {
        move |e: TractError| ImportError::Tract {
            path: path.to_path_buf(),
            stage,
            message: chain(&e),
        }
    };
    model = guarded(|| model.with_input_fact(0, f32::fact(&input_shape).into()))
        .map_err(tract_err("set the input shape of"))?;
    let typed = guarded(|| model.into_typed())
        .map_err(tract_err("type"))
        .and_then(|typed| guarded(|| typed.into_decluttered()).map_err(tract_err("declutter")))?;
    let output_fact = typed
        .output_fact(0)
        .map_err(tract_err("read the output of"))?;
    let output_shape = output_fact
        .shape
        .as_concrete()
        .map(|s| s.to_vec())
        .ok_or_else(|| {
            ImportError::unsupported(
                "output",
                "Output",
                format!("symbolic output shape {:?}", output_fact.shape),
            )
        })?;
    if output_fact.datum_type != f32::datum_type() {
        return Err(ImportError::unsupported(
            "output",
            "Output",
            format!("output datum type {:?} (only f32)", output_fact.datum_type),
        ));
    }
    drop(import_span);
    let quantize_span = tracing::info_span!("quantize").entered();
    let mut ir = lower::lower(&typed, model_name(path), options)?;
    fold::fold_biases(&mut ir);
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
        input_shape,
        output_shape,
    })
}

/// The input shape with symbolic dimension 0 replaced by `batch_size`.
fn concrete_input_shape(
    model: &InferenceModel,
    input_name: &str,
    batch_size: usize,
) -> Result<Vec<usize>, ImportError> {
    let fact = model
        .input_fact(0)
        .map_err(|e| ImportError::unsupported(input_name, "Source", chain(&e)))?;
    match fact.datum_type.concretize() {
        Some(dt) if dt == f32::datum_type() => {}
        other => {
            return Err(ImportError::unsupported(
                input_name,
                "Source",
                format!("input datum type {other:?} (only f32)"),
            ))
        }
    }
    if fact.shape.is_open() {
        return Err(ImportError::unsupported(
            input_name,
            "Source",
            "input of unknown rank",
        ));
    }
    fact.shape
        .dims()
        .enumerate()
        .map(|(axis, d)| match d.concretize() {
            Some(dim) => match dim.to_usize() {
                Ok(n) => Ok(n),
                Err(_) if axis == 0 => Ok(batch_size),
                Err(_) => Err(ImportError::unsupported(
                    input_name,
                    "Source",
                    format!("symbolic input dimension `{dim}` at axis {axis} (only axis 0 may be symbolic)"),
                )),
            },
            None if axis == 0 => Ok(batch_size),
            None => Err(ImportError::unsupported(
                input_name,
                "Source",
                format!("unknown input dimension at axis {axis}"),
            )),
        })
        .collect()
}

/// Runs tract's f32 reference on `input` (row-major, the model's input shape).
pub fn run_float(imported: &ImportedModel, input: &[f32]) -> Result<Vec<f32>, ImportError> {
    let expected: usize = imported.input_shape.iter().product();
    if input.len() != expected {
        return Err(ImportError::InputLength {
            expected,
            actual: input.len(),
            shape: imported.input_shape.clone(),
        });
    }
    let float = |e: TractError| ImportError::Float(chain(&e));
    let tensor = Tensor::from_shape(&imported.input_shape, input).map_err(float)?;
    let outputs =
        guarded(|| imported.float_model.run(tvec![tensor.into_tvalue()])).map_err(float)?;
    let out = outputs
        .first()
        .ok_or_else(|| ImportError::Float("no output".into()))?;
    let out = out.cast_to::<f32>().map_err(float)?;
    let view = out.to_plain_array_view::<f32>().map_err(float)?;
    Ok(view.iter().copied().collect())
}
