//! Quantization at the edges of the IR: quantizing a real input, reading an
//! input file in ezkl's `{"input_data": [[...]]}` form (one list per model
//! input, in the model's order; a flat list for a model with one input), and
//! the quantization report comparing integer inference with tract's f32
//! reference.
//!
//! An integer input (int64 token ids and the like) is given as its integers:
//! quantizing the integer `v` gives `v·2^s`, which is what the IR's input
//! tensor holds (see [`crate::onnx`]), so it needs no special case here beyond
//! checking that its values are integers ([`check_integer_inputs`]).
//!
//! Report metrics: `max_abs_error = max_i |q_i / 2^s − f_i|`, and
//! `max_rel_error = max_abs_error / max(max_i |f_i|, 2^−s)`, i.e. relative to
//! the output's magnitude (a per-element ratio is meaningless near zero).
//!
//! Observed on the shipped models at scale 2^7 (one quantum = 2^−7 ≈ 0.0078;
//! tests/onnx_import.rs checks the bounds): max abs error 0.0076 (addsubmul0),
//! 0.027 (addsubmul1), 0.0070 (authorization), 0.0059 (perceptron), 0.019
//! (ffn_tanh), 0.030 (article_classification, 512→256→128→8) — at most ~4
//! quanta. Error comes from rounding weights, inputs and every rescale to
//! 2^−7 and grows with depth and fan-in; a finer scale shrinks it (2^12 gives
//! < 0.005 on perceptron).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::{quantize, Model, ModelError, Witness};
use crate::onnx::{run_float, ImportError, ImportedModel};

/// Quantizes real input values at scale 2^s.
pub fn quantize_input(values: &[f32], scale_bits: u32) -> Vec<i64> {
    values
        .iter()
        .map(|&v| quantize(v as f64, scale_bits))
        .collect()
}

/// Real values of integers at scale 2^s.
pub fn dequantize(values: &[i64], scale_bits: u32) -> Vec<f32> {
    let scale = (1u64 << scale_bits) as f64;
    values.iter().map(|&v| (v as f64 / scale) as f32).collect()
}

/// Errors reading an input file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read input file `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input file `{}` is not valid JSON: {message}", path.display())]
    Json { path: PathBuf, message: String },
    #[error("input file `{}`: {what} (expected {{\"input_data\": [[...]]}} or a flat list)", path.display())]
    Layout { path: PathBuf, what: String },
    #[error("input file `{}`: value {value} at index {index}{} is not a number (or is too large for a 32-bit float)", path.display(), list.map(|l| format!(" of list {l}")).unwrap_or_default())]
    NonNumeric {
        path: PathBuf,
        /// Which list of several (0-based), when the field has several.
        list: Option<usize>,
        /// The index within that list, flattened.
        index: usize,
        value: String,
    },
}

/// Writes a real value as a user would: `300`, `-0.5`, `1e30`. A value that
/// is an `f32` (an input as read) prints in `f32`'s shortest form, so `1e30`
/// reads back as written rather than as its nearest `f64`.
pub fn format_value(v: f64) -> String {
    let short = v as f32;
    let exponent = v != 0.0 && !(1e-4..1e7).contains(&v.abs());
    match (short as f64 == v, exponent) {
        (true, true) => format!("{short:e}"),
        (true, false) => format!("{short}"),
        (false, true) => format!("{v:e}"),
        (false, false) => format!("{v}"),
    }
}

/// The real values a model accepts for its input and activations at scale
/// 2^s with an `a`-bit activation bound: `[-2^(a-1-s), 2^(a-1-s))`. Returns the
/// bound `2^(a-1-s)`.
pub fn real_bound(scale_bits: u32, activation_bits: u32) -> f64 {
    2f64.powi(activation_bits as i32 - 1 - scale_bits as i32)
}

/// A real value the model cannot hold at its scale, in the user's units.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{what} {} at index {index} is outside what the model holds at --scale {scale_bits}: \
     [-{bound}, {bound}) (values are integers times 2^-{scale_bits}, bounded by 2^{bits_minus_one}); {hint}",
    format_value(*value),
    bound = format_value(real_bound(*scale_bits, bits_minus_one + 1)),
    hint = scale_hint(*value, *scale_bits, bits_minus_one + 1)
)]
pub struct RangeError {
    /// `input value`, or `node `x` (MatMul): value`.
    pub what: String,
    pub index: usize,
    /// The real value (the one written, for an input).
    pub value: f64,
    pub scale_bits: u32,
    pub bits_minus_one: u32,
}

/// Which `--scale` would hold `value` (the largest, since a coarser scale
/// loses precision), or that none does.
fn scale_hint(value: f64, scale_bits: u32, activation_bits: u32) -> String {
    let fits = |s: u32| {
        let q = (value * 2f64.powi(s as i32)).round();
        let half = 2f64.powi(activation_bits as i32 - 1);
        q >= -half && q < half
    };
    match (1..scale_bits).rev().find(|&s| fits(s)) {
        Some(s) => format!(
            "a smaller --scale holds it: --scale {s} accepts [-{b}, {b}) (coarser steps of 2^-{s})",
            b = format_value(real_bound(s, activation_bits))
        ),
        None => format!(
            "no --scale holds it (--scale 1 accepts [-{b}, {b})): scale the input down",
            b = format_value(real_bound(1, activation_bits))
        ),
    }
}

/// Checks every input value against the model's bound at its scale, before
/// quantization, and names the first one outside it in the user's units.
pub fn check_input_range(
    values: &[f32],
    scale_bits: u32,
    activation_bits: u32,
) -> Result<(), RangeError> {
    let half = 1i64 << (activation_bits - 1);
    match values
        .iter()
        .position(|&v| !(-half..half).contains(&quantize(v as f64, scale_bits)))
    {
        None => Ok(()),
        Some(index) => Err(RangeError {
            what: "input value".into(),
            index,
            value: values[index] as f64,
            scale_bits,
            bits_minus_one: activation_bits - 1,
        }),
    }
}

/// An activation bound error of integer inference, in the user's units (the
/// model names the quantized value and no flag that helps).
pub fn explain_model_error(e: &ModelError, scale_bits: u32) -> Option<RangeError> {
    match e {
        ModelError::ActivationBound {
            node,
            op,
            index,
            value,
            bits_minus_one,
        } => Some(RangeError {
            what: format!("node `{node}` ({op:?}): value"),
            index: *index,
            value: *value as f64 / 2f64.powi(scale_bits as i32),
            scale_bits,
            bits_minus_one: *bits_minus_one,
        }),
        ModelError::InputBound {
            index,
            value,
            bits_minus_one,
        } => Some(RangeError {
            what: "input value".into(),
            index: *index,
            value: *value as f64 / 2f64.powi(scale_bits as i32),
            scale_bits,
            bits_minus_one: *bits_minus_one,
        }),
        _ => None,
    }
}

/// Checks a `--scale` against the activation bound before anything is
/// imported, in terms of the flag.
pub fn check_scale(scale_bits: u32, activation_bits: u32) -> Result<(), String> {
    let max = activation_bits.saturating_sub(1).min(30);
    if (1..=max).contains(&scale_bits) {
        return Ok(());
    }
    Err(format!(
        "--scale {scale_bits} is not possible: values are {activation_bits}-bit integers \
         times 2^-SCALE, so --scale must be between 1 and {max} (default {}; at --scale \
         {max} inputs must lie in [-{b}, {b}), and each step down doubles that)",
        crate::model::DEFAULT_SCALE_BITS,
        b = format_value(real_bound(max.max(1), activation_bits))
    ))
}

/// An input file: its values, one list per model input, and, when present,
/// ezkl's `output_data` (the output the file's author expects), one list per
/// model output.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    /// `input_data`: one flattened list per input (a flat list is one input).
    pub inputs: Vec<Vec<f32>>,
    /// `output_data`, likewise one list per output.
    pub outputs: Option<Vec<Vec<f32>>>,
}

impl InputFile {
    /// Every input list, concatenated in order.
    pub fn input(&self) -> Vec<f32> {
        self.inputs.concat()
    }

    /// Every `output_data` list, concatenated in order.
    pub fn output(&self) -> Option<Vec<f32>> {
        self.outputs.as_ref().map(|o| o.concat())
    }
}

/// A JSON value of nested lists of numbers, flattened row-major; the error
/// is `(index within the flattened list, the value)`.
pub fn flatten_numbers(
    value: &serde_json::Value,
    out: &mut Vec<f32>,
) -> Result<(), (usize, String)> {
    match value {
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| flatten_numbers(i, out)),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() && (v as f32).is_finite() => {
                out.push(v as f32);
                Ok(())
            }
            _ => Err((out.len(), n.to_string())),
        },
        other => Err((out.len(), other.to_string())),
    }
}

/// ezkl's lists: `[[...], [...]]` is one list per tensor (each flattened),
/// and a flat list of numbers `[...]` is one tensor's values. `Err` is
/// `(list when there are several, index in it, value)`.
#[allow(clippy::type_complexity)]
pub fn data_lists(
    list: &[serde_json::Value],
) -> Result<Vec<Vec<f32>>, (Option<usize>, usize, String)> {
    if !list.first().is_some_and(|v| v.is_array()) {
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            flatten_numbers(v, &mut out).map_err(|(i, v)| (None, i, v))?;
        }
        return Ok(vec![out]);
    }
    let several = list.len() > 1;
    list.iter()
        .enumerate()
        .map(|(k, item)| {
            let mut out = Vec::new();
            flatten_numbers(item, &mut out).map_err(|(i, v)| (several.then_some(k), i, v))?;
            Ok(out)
        })
        .collect()
}

/// Parses ezkl's input JSON text: every list of `input_data`, flattened and
/// concatenated (the model's inputs in order). The length is not checked
/// here (see [`join_inputs`]).
pub fn parse_input_json(text: &str, path: &Path) -> Result<Vec<f32>, InputError> {
    Ok(parse_input_file(text, path)?.input())
}

/// The lists of `field` (see [`data_lists`]).
fn data_field(
    json: &serde_json::Value,
    field: &str,
    path: &Path,
) -> Result<Option<Vec<Vec<f32>>>, InputError> {
    let layout = |what: String| InputError::Layout {
        path: path.to_path_buf(),
        what,
    };
    let Some(data) = json.get(field) else {
        return Ok(None);
    };
    let lists = data
        .as_array()
        .ok_or_else(|| layout(format!("`{field}` is not a list")))?;
    if lists.is_empty() {
        return Err(layout(format!("`{field}` is empty")));
    }
    data_lists(lists)
        .map(Some)
        .map_err(|(list, index, value)| InputError::NonNumeric {
            path: path.to_path_buf(),
            list,
            index,
            value,
        })
}

/// Parses an input file: `input_data` (ezkl's `[[...], ...]`, one list per
/// input, or a flat list) and the optional `output_data` (likewise).
pub fn parse_input_file(text: &str, path: &Path) -> Result<InputFile, InputError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let inputs = data_field(&json, "input_data", path)?.ok_or_else(|| InputError::Layout {
        path: path.to_path_buf(),
        what: "no `input_data` field".into(),
    })?;
    let outputs = data_field(&json, "output_data", path)?;
    Ok(InputFile { inputs, outputs })
}

/// Joins one list per model input (in the model's order) into the model's
/// input, checking the count and each list's length; the message is the
/// user's.
pub fn join_inputs(lists: &[Vec<f32>], model: &Model) -> Result<Vec<f32>, String> {
    let shapes = model.input_shapes();
    if lists.len() != model.inputs.len() {
        return Err(format!(
            "`input_data` has {} list(s) and model `{}` has {} inputs ({}): give one list per \
             input, in the model's order",
            lists.len(),
            model.name,
            model.inputs.len(),
            crate::model::shapes_text(&shapes),
        ));
    }
    for (k, (list, &t)) in lists.iter().zip(&model.inputs).enumerate() {
        let tensor = &model.tensors[t];
        if list.len() != tensor.len() {
            let which = if lists.len() == 1 {
                "input".to_string()
            } else {
                format!("input {k} (`{}`)", tensor.name)
            };
            return Err(format!(
                "{which} has {} values, model `{}` expects {} (shape {:?})",
                list.len(),
                model.name,
                tensor.len(),
                tensor.shape
            ));
        }
    }
    Ok(lists.concat())
}

/// Values of `tensors` (row-major, concatenated in order) as JSON: a flat
/// list for one tensor, one list per tensor for several (how `input_data`
/// is written, and how outputs are printed and answered).
pub fn lists_json(
    values: &[f32],
    model: &Model,
    tensors: &[crate::model::TensorId],
) -> serde_json::Value {
    match model.split(tensors, values) {
        Some(parts) if parts.len() > 1 => serde_json::json!(parts),
        _ => serde_json::json!(values),
    }
}

/// [`lists_json`] as text, for the CLI's plain output.
pub fn lists_text(values: &[f32], model: &Model, tensors: &[crate::model::TensorId]) -> String {
    match model.split(tensors, values) {
        Some(parts) if parts.len() > 1 => format!("{parts:?}"),
        _ => format!("{values:?}"),
    }
}

/// Checks that every value of an integer input is an integer (`integer[k]`
/// says whether input `k` is one); `values` is every input's, concatenated.
pub fn check_integer_inputs(values: &[f32], model: &Model, integer: &[bool]) -> Result<(), String> {
    let Some(parts) = model.split(&model.inputs, values) else {
        return Ok(());
    };
    for (k, part) in parts.into_iter().enumerate() {
        if !integer.get(k).copied().unwrap_or(false) {
            continue;
        }
        if let Some(i) = part.iter().position(|v| v.fract() != 0.0) {
            return Err(format!(
                "input {k} (`{}`) is of an integer type: value {} at index {i} is not an integer",
                model.tensors[model.inputs[k]].name,
                format_value(part[i] as f64)
            ));
        }
    }
    Ok(())
}

/// Reads an input file with its optional `output_data`.
pub fn read_input_file(path: &Path) -> Result<InputFile, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_input_file(&text, path)
}

/// Reads an input file in ezkl's `{"input_data": [[...]]}` form.
pub fn read_input_json(path: &Path) -> Result<Vec<f32>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_input_json(&text, path)
}

/// How far integer inference is from tract's f32 inference on one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantReport {
    /// `max_i |quantized_i − float_i|`.
    pub max_abs_error: f32,
    /// `max_abs_error / max(max_i |float_i|, 2^−s)`.
    pub max_rel_error: f32,
    /// tract's f32 output (every output's values, concatenated in order).
    pub float_output: Vec<f32>,
    /// The IR's output, dequantized (÷ 2^s), likewise concatenated.
    pub quantized_output: Vec<f32>,
}

/// Errors of [`report`].
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("the IR output has {ir} values but tract's has {float}")]
    OutputLength { ir: usize, float: usize },
}

/// Runs integer inference on the quantized `input` (every input's values,
/// concatenated in order) and tract's f32 model, and compares their outputs
/// (every output's, concatenated in order).
pub fn report(
    imported: &ImportedModel,
    input: &[f32],
) -> Result<(Witness, QuantReport), ReportError> {
    let model = &imported.model;
    let witness = model.execute(&quantize_input(input, model.scale_bits))?;
    let float_output = run_float(imported, input)?;
    let quantized_output = dequantize(&model.output_values(&witness), model.scale_bits);
    if quantized_output.len() != float_output.len() {
        return Err(ReportError::OutputLength {
            ir: quantized_output.len(),
            float: float_output.len(),
        });
    }
    let max_abs_error = quantized_output
        .iter()
        .zip(&float_output)
        .map(|(q, f)| (q - f).abs())
        .fold(0.0f32, f32::max);
    let magnitude = float_output
        .iter()
        .map(|f| f.abs())
        .fold(0.0f32, f32::max)
        .max(1.0 / (1u64 << model.scale_bits) as f32);
    Ok((
        witness,
        QuantReport {
            max_abs_error,
            max_rel_error: max_abs_error / magnitude,
            float_output,
            quantized_output,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<f32>, InputError> {
        parse_input_json(text, Path::new("in.json"))
    }

    #[test]
    fn parses_ezkl_inputs() {
        assert_eq!(
            parse(r#"{"input_data": [[1, -2.5, 0.25]]}"#).unwrap(),
            vec![1.0, -2.5, 0.25]
        );
        // One list per input, each flattened; parse_input_json concatenates.
        assert_eq!(
            parse(r#"{"input_data": [[[1, 2], [3, 4]], [9]]}"#).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 9.0]
        );
        let f = parse_input_file(
            r#"{"input_data": [[[1, 2], [3, 4]], [9]], "output_data": [[1], [2, 3]]}"#,
            Path::new("in.json"),
        )
        .unwrap();
        assert_eq!(f.inputs, vec![vec![1.0, 2.0, 3.0, 4.0], vec![9.0]]);
        assert_eq!(f.outputs, Some(vec![vec![1.0], vec![2.0, 3.0]]));
    }

    fn two_inputs() -> Model {
        use crate::model::{Node, Op, Tensor, TensorKind};
        let t = |name: &str, shape: &[usize], kind| Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            kind,
        };
        Model {
            name: "two".into(),
            scale_bits: 7,
            activation_bits: 16,
            tensors: vec![
                t("a", &[1, 2], TensorKind::Input),
                t("ids", &[3], TensorKind::Input),
                t("y", &[1, 2], TensorKind::Activation),
            ],
            nodes: vec![Node {
                name: "relu".into(),
                op: Op::Relu,
                inputs: vec![0],
                output: 2,
            }],
            inputs: vec![0, 1],
            outputs: vec![2],
        }
    }

    #[test]
    fn input_lists_are_joined_in_the_models_order() {
        let m = two_inputs();
        let lists = vec![vec![0.5, 1.0], vec![3.0, 0.0, 7.0]];
        assert_eq!(
            join_inputs(&lists, &m).unwrap(),
            vec![0.5, 1.0, 3.0, 0.0, 7.0]
        );
        let e = join_inputs(&lists[..1], &m).unwrap_err();
        assert!(e.contains("1 list(s)") && e.contains("2 inputs"), "{e}");
        let e = join_inputs(&[vec![0.5, 1.0], vec![3.0]], &m).unwrap_err();
        assert!(e.contains("input 1 (`ids`) has 1 values"), "{e}");
        let values = join_inputs(&lists, &m).unwrap();
        assert!(check_integer_inputs(&values, &m, &[false, true]).is_ok());
        let e = check_integer_inputs(&[0.5, 1.0, 3.0, 0.5, 7.0], &m, &[false, true]).unwrap_err();
        assert!(e.contains("`ids`") && e.contains("index 1"), "{e}");
        let e = parse(r#"{"input_data": [[1], [2, "x"]]}"#).unwrap_err();
        assert!(e.to_string().contains("index 1 of list 1"), "{e}");
    }

    #[test]
    fn input_errors_name_the_problem() {
        let e = parse(r#"{"input_data": [[1, "x", 3]]}"#).unwrap_err();
        assert!(matches!(e, InputError::NonNumeric { index: 1, .. }), "{e}");
        assert!(e.to_string().contains("index 1"), "{e}");
        let e = parse(r#"{"input_data": [[1, null]]}"#).unwrap_err();
        assert!(matches!(e, InputError::NonNumeric { index: 1, .. }), "{e}");
        let e = parse(r#"{"input_data": [[1, 2]"#).unwrap_err();
        assert!(matches!(e, InputError::Json { .. }), "{e}");
        assert!(e.to_string().contains("in.json"), "{e}");
        for bad in [
            r#"{"data": [[1]]}"#,
            r#"{"input_data": []}"#,
            r#"{"input_data": 3}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(InputError::Layout { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn flat_lists_and_output_data_are_read() {
        let f = parse_input_file(
            r#"{"input_data": [1, 2.5], "output_data": [[0.5]]}"#,
            Path::new("in.json"),
        )
        .unwrap();
        assert_eq!(f.inputs, vec![vec![1.0, 2.5]]);
        assert_eq!(f.output(), Some(vec![0.5]));
        assert_eq!(parse(r#"{"input_data": [[1]]}"#).unwrap(), vec![1.0]);
    }

    #[test]
    fn range_errors_are_in_the_users_units() {
        let e = check_input_range(&[0.0, 300.0], 7, 16).unwrap_err();
        assert_eq!(e.index, 1);
        let text = e.to_string();
        assert!(text.contains("input value 300 at index 1"), "{text}");
        assert!(text.contains("[-256, 256)"), "{text}");
        assert!(text.contains("--scale 6 accepts [-512, 512)"), "{text}");
        assert!(check_input_range(&[255.9, -256.0], 7, 16).is_ok());
        let text = check_input_range(&[1e30], 7, 16).unwrap_err().to_string();
        assert!(
            text.contains("1e30") && text.contains("no --scale"),
            "{text}"
        );
        assert!(check_scale(15, 16).is_ok());
        assert!(check_scale(16, 16)
            .unwrap_err()
            .contains("between 1 and 15"));
        assert!(check_scale(0, 16).is_err());
    }

    #[test]
    fn quantizes_and_dequantizes() {
        let q = quantize_input(&[1.0, -0.5, 2.71, 0.5 / 128.0], 7);
        assert_eq!(q, vec![128, -64, 347, 1]);
        assert_eq!(dequantize(&q[..2], 7), vec![1.0, -0.5]);
    }
}
