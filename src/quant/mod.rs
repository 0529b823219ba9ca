//! Quantization at the edges of the IR: quantizing a real input, reading an
//! input file in ezkl's `{"input_data": [[...]]}` form, and the quantization
//! report comparing integer inference with tract's f32 reference.
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

use crate::model::{quantize, ModelError, Witness};
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
    #[error("input file `{}`: value {value} at index {index} is not a number (or is too large for a 32-bit float)", path.display())]
    NonNumeric {
        path: PathBuf,
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

/// An input file: its values and, when present, ezkl's `output_data` (the
/// output the file's author expects).
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    pub input: Vec<f32>,
    pub output: Option<Vec<f32>>,
}

/// Flattens nested arrays of numbers, row-major.
fn flatten(value: &serde_json::Value, out: &mut Vec<f32>, path: &Path) -> Result<(), InputError> {
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                flatten(item, out, path)?;
            }
            Ok(())
        }
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() && (v as f32).is_finite() => {
                out.push(v as f32);
                Ok(())
            }
            _ => Err(InputError::NonNumeric {
                path: path.to_path_buf(),
                index: out.len(),
                value: n.to_string(),
            }),
        },
        other => Err(InputError::NonNumeric {
            path: path.to_path_buf(),
            index: out.len(),
            value: other.to_string(),
        }),
    }
}

/// Parses ezkl's input JSON text: the first list of `input_data`, flattened.
/// The length is not checked here (inference checks it against the model).
pub fn parse_input_json(text: &str, path: &Path) -> Result<Vec<f32>, InputError> {
    Ok(parse_input_file(text, path)?.input)
}

/// The values of `field`: ezkl's `[[...]]` (its first list, flattened) or,
/// as the service takes it, a flat list of numbers.
fn data_field(
    json: &serde_json::Value,
    field: &str,
    path: &Path,
) -> Result<Option<Vec<f32>>, InputError> {
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
    let first = lists
        .first()
        .ok_or_else(|| layout(format!("`{field}` is empty")))?;
    let mut out = Vec::new();
    if first.is_array() {
        flatten(first, &mut out, path)?;
    } else {
        flatten(data, &mut out, path)?;
    }
    Ok(Some(out))
}

/// Parses an input file: `input_data` (ezkl's `[[...]]` or a flat list) and
/// the optional `output_data`.
pub fn parse_input_file(text: &str, path: &Path) -> Result<InputFile, InputError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let input = data_field(&json, "input_data", path)?.ok_or_else(|| InputError::Layout {
        path: path.to_path_buf(),
        what: "no `input_data` field".into(),
    })?;
    let output = data_field(&json, "output_data", path)?;
    Ok(InputFile { input, output })
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
    /// tract's f32 output.
    pub float_output: Vec<f32>,
    /// The IR's output, dequantized (÷ 2^s).
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

/// Runs integer inference on the quantized `input` and tract's f32 model,
/// and compares their outputs.
pub fn report(
    imported: &ImportedModel,
    input: &[f32],
) -> Result<(Witness, QuantReport), ReportError> {
    let model = &imported.model;
    let witness = model.execute(&quantize_input(input, model.scale_bits))?;
    let float_output = run_float(imported, input)?;
    let quantized_output = dequantize(&witness.values[model.output], model.scale_bits);
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
        assert_eq!(
            parse(r#"{"input_data": [[[1, 2], [3, 4]], [9]]}"#).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
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
        assert_eq!(f.input, vec![1.0, 2.5]);
        assert_eq!(f.output, Some(vec![0.5]));
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
