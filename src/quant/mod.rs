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
    #[error("input file `{}`: {what} (expected {{\"input_data\": [[...]]}})", path.display())]
    Layout { path: PathBuf, what: String },
    #[error("input file `{}`: value {value} at index {index} of input_data[0] is not a number", path.display())]
    NonNumeric {
        path: PathBuf,
        index: usize,
        value: String,
    },
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
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let layout = |what: &str| InputError::Layout {
        path: path.to_path_buf(),
        what: what.into(),
    };
    let data = json
        .get("input_data")
        .ok_or_else(|| layout("no `input_data` field"))?;
    let lists = data
        .as_array()
        .ok_or_else(|| layout("`input_data` is not a list"))?;
    let first = lists
        .first()
        .ok_or_else(|| layout("`input_data` is empty"))?;
    if !first.is_array() {
        return Err(layout("`input_data` is not a list of lists"));
    }
    let mut out = Vec::new();
    flatten(first, &mut out, path)?;
    Ok(out)
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
            r#"{"input_data": [1, 2]}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(InputError::Layout { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn quantizes_and_dequantizes() {
        let q = quantize_input(&[1.0, -0.5, 2.71, 0.5 / 128.0], 7);
        assert_eq!(q, vec![128, -64, 347, 1]);
        assert_eq!(dequantize(&q[..2], 7), vec![1.0, -0.5]);
    }
}
