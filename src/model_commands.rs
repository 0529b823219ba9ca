//! `preprocess`, `prove` and `verify`: the model commands of the CLI.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use zkinfer::backend::registry::{self, DeviceChoice};
use zkinfer::backend::CpuBackend;
use zkinfer::keys;
use zkinfer::keys::cache::{
    self, KeyLocation, KeyOrigin, KeyParams, KeyPolicy, PreparedModel, Setups,
};
use zkinfer::onnx::model_name;
use zkinfer::proof;
use zkinfer::proof::verdict::{self, ProofSettings};
use zkinfer::quant;

use crate::{ModelOptions, PreprocessArgs, ProveArgs, VerifyArgs};

/// A proof the verifier rejected (exit code 1, unlike errors, which exit 2):
/// the short name of the check, why, and whether to say so as JSON on stdout
/// (`verify --json`, in the shape of the service's `/v1/verify`).
#[derive(Debug)]
pub struct Rejected {
    pub check: &'static str,
    pub reason: String,
    pub json: bool,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Rejected {}

/// The key parameters of a command: what the command line says; where it is
/// silent, the settings of the keys already in `--keys DIR` (so a folder of
/// public-weight keys is used as such, not rebuilt), else the defaults.
fn key_params(options: &ModelOptions) -> anyhow::Result<KeyParams> {
    KeyParams::requested(
        options.scale,
        options.weights,
        options.batch_size,
        options.keys.as_deref(),
    )
    .map_err(anyhow::Error::msg)
}

/// `--keys DIR` is the key folder itself; without it, a per-model folder under
/// `$ZKINFER_KEYS` or the cache directory.
fn key_location(options: &ModelOptions) -> KeyLocation {
    match &options.keys {
        Some(dir) => KeyLocation::Dir(dir.clone()),
        None => KeyLocation::default_root(),
    }
}

/// Imports the model and loads its cached keys (checked), or builds and caches them.
fn prepare(
    path: &Path,
    options: &ModelOptions,
    policy: KeyPolicy,
) -> anyhow::Result<PreparedModel> {
    Ok(cache::prepare(
        CpuBackend::global(),
        path,
        &key_params(options)?,
        &key_location(options),
        &mut Setups::in_default_dir(),
        policy,
    )?)
}

pub fn preprocess(args: &PreprocessArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let prepared = prepare(&args.model, &args.options, KeyPolicy::Rebuild)?;
    let seconds = start.elapsed().as_secs_f64();
    let dir = &prepared.keys.dir;
    let pk = &prepared.keys.pk;
    let vk_path = dir.join("vk.bin");
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": model_name(&args.model),
                "keys": dir,
                "vk": vk_path,
                "weights": cache::visibility_name(prepared.keys.pk.vk.visibility),
                "vk_fingerprint": verdict::vk_fingerprint(&pk.vk),
                "nodes": pk.model.nodes.len(),
                "seconds": seconds,
                "keys_s": prepared.keys.seconds,
            })
        );
    } else {
        println!(
            "model       {} ({} nodes)",
            model_name(&args.model),
            pk.model.nodes.len()
        );
        println!(
            "weights     {}",
            cache::visibility_name(prepared.keys.pk.vk.visibility)
        );
        println!("proving key {}", dir.join("pk.bin").display());
        println!("verify key  {}", vk_path.display());
        println!("fingerprint {}", verdict::vk_fingerprint(&pk.vk));
        println!(
            "time        {seconds:.3} s (keys {:.3} s)",
            prepared.keys.seconds
        );
    }
    Ok(())
}

/// Reads an input file, joins its lists into the model's input (one list
/// per model input, in order) and checks its values against the model's
/// bound, in the units the file uses (and that an integer input's values are
/// integers, when `integer` says which inputs are). Returns the file and the
/// joined input.
fn read_input(
    path: &Path,
    model: &zkinfer::model::Model,
    integer: &[bool],
) -> anyhow::Result<(quant::InputFile, Vec<f32>)> {
    let file = quant::read_input_file(path)?;
    let in_file = |e: String| anyhow::anyhow!("{}: {e}", path.display());
    let input = quant::join_inputs(&file.inputs, model).map_err(in_file)?;
    quant::check_integer_inputs(&input, model, integer).map_err(in_file)?;
    quant::check_input_range(&input, model.scale_bits, model.activation_bits)
        .map_err(|e| in_file(e.to_string()))?;
    Ok((file, input))
}

/// Where `expected` (an input file's `output_data`) differs from a quantized
/// output: the first index, with both values in real units.
fn output_difference(expected: &[f32], output: &[i64], scale_bits: u32) -> Option<String> {
    if expected.len() != output.len() {
        return Some(format!(
            "`output_data` has {} values, the proof's output {}",
            expected.len(),
            output.len()
        ));
    }
    let quantized = quant::quantize_input(expected, scale_bits);
    let i = quantized.iter().zip(output).position(|(a, b)| a != b)?;
    Some(format!(
        "`output_data` differs from the proof's output at index {i}: {} in the file, {} in \
         the proof (compared at --scale {scale_bits}, steps of 2^-{scale_bits})",
        quant::format_value(expected[i] as f64),
        quant::format_value(output[i] as f64 / 2f64.powi(scale_bits as i32)),
    ))
}

pub fn prove(args: &ProveArgs) -> anyhow::Result<()> {
    let device: DeviceChoice = args.device.parse().map_err(anyhow::Error::msg)?;
    let backend = registry::select(device)?;
    let prepared = prepare(&args.model, &args.options, KeyPolicy::LoadOrBuild)?;
    let imported = &prepared.imported;
    let integer: Vec<bool> = (0..imported.model.inputs.len())
        .map(|i| imported.is_integer_input(i))
        .collect();
    let (file, input) = read_input(&args.input, &imported.model, &integer)?;
    let input = &input;
    let (pk, dir) = (&prepared.keys.pk, &prepared.keys.dir);
    let cached = prepared.keys.origin == KeyOrigin::Loaded;
    let scale = imported.model.scale_bits;
    let model = &imported.model;
    let (_, report) = quant::report(imported, input).map_err(|e| match &e {
        quant::ReportError::Model(m) => match quant::explain_model_error(m, scale) {
            Some(r) => anyhow::anyhow!("{}: {r}", args.input.display()),
            None => e.into(),
        },
        _ => e.into(),
    })?;
    let quantized = quant::quantize_input(input, scale);
    let start = Instant::now();
    let proof =
        zkinfer::zk::model::prove_any_on_with(&backend, pk, &quantized, args.private_input)?;
    let prove_s = start.elapsed().as_secs_f64();
    let bytes = proof.to_bytes();
    std::fs::write(&args.proof, &bytes)
        .with_context(|| format!("cannot write {}", args.proof.display()))?;
    let output = quant::dequantize(proof.output(), scale);
    let expected_output = file.output();
    let output_mismatch = expected_output
        .as_ref()
        .and_then(|expected| output_difference(expected, proof.output(), scale));
    if let Some(d) = &output_mismatch {
        tracing::warn!("{}: {d}", args.input.display());
    }
    let fingerprint = verdict::vk_fingerprint(&pk.vk);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": model_name(&args.model),
                "device": backend.as_dyn().name(),
                "output": quant::lists_json(&output, model, &model.outputs),
                "float_output": quant::lists_json(&report.float_output, model, &model.outputs),
                "max_abs_error": report.max_abs_error,
                "max_rel_error": report.max_rel_error,
                "output_data_matches": expected_output.as_ref().map(|_| output_mismatch.is_none()),
                "proof": args.proof,
                "proof_bytes": bytes.len(),
                "prove_s": prove_s,
                "keys": dir,
                "keys_cached": cached,
                "keys_origin": prepared.keys.origin.as_str(),
                "keys_s": prepared.keys.seconds,
                "vk_fingerprint": fingerprint,
                "settings": settings_json(proof.settings()),
                "private_input": proof.private_input(),
            })
        );
    } else {
        println!(
            "output      {}",
            quant::lists_text(&output, model, &model.outputs)
        );
        println!(
            "float ref   {}",
            quant::lists_text(&report.float_output, model, &model.outputs)
        );
        println!(
            "quant error max abs {:.5}, max rel {:.5}",
            report.max_abs_error, report.max_rel_error
        );
        println!(
            "proof       {} ({} bytes)",
            args.proof.display(),
            bytes.len()
        );
        println!(
            "prove time  {prove_s:.3} s on {} (keys {} in {:.3} s)",
            backend.as_dyn().name(),
            prepared.keys.origin.as_str(),
            prepared.keys.seconds
        );
        println!(
            "vk          fingerprint {fingerprint} ({})",
            settings_text(proof.settings())
        );
    }
    Ok(())
}

/// The settings as the flags that select them.
fn settings_text(s: &ProofSettings) -> String {
    format!(
        "--weights {} --scale {} --batch-size {}",
        cache::visibility_name(s.visibility),
        s.scale_bits,
        s.batch_size
    )
}

fn settings_json(s: &ProofSettings) -> serde_json::Value {
    serde_json::json!({
        "weights": cache::visibility_name(s.visibility),
        "scale": s.scale_bits,
        "activation_bits": s.activation_bits,
        "batch_size": s.batch_size,
        "vk_fingerprint": s.fingerprint(),
    })
}

/// The flags given on the command line that set key settings, as written.
fn forced_flags(options: &ModelOptions) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(w) = options.weights {
        flags.push(format!("--weights {}", cache::visibility_name(w)));
    }
    if let Some(s) = options.scale {
        flags.push(format!("--scale {s}"));
    }
    if let Some(b) = options.batch_size {
        flags.push(format!("--batch-size {b}"));
    }
    flags
}

/// With `--vk`, the key fixes every setting: a flag that says otherwise is a
/// mistake to point out, not to ignore.
fn check_flags_against_vk(options: &ModelOptions, vk: &proof::VerifyingKey) -> anyhow::Result<()> {
    let key = ProofSettings::of(vk);
    let mut conflicts = Vec::new();
    if let Some(w) = options.weights.filter(|w| *w != key.visibility) {
        conflicts.push(format!(
            "--weights {} (the key is for --weights {})",
            cache::visibility_name(w),
            cache::visibility_name(key.visibility)
        ));
    }
    if let Some(s) = options.scale.filter(|s| *s != key.scale_bits) {
        conflicts.push(format!(
            "--scale {s} (the key is for --scale {})",
            key.scale_bits
        ));
    }
    if let Some(b) = options.batch_size.filter(|b| *b as u64 != key.batch_size) {
        conflicts.push(format!(
            "--batch-size {b} (the key is for --batch-size {})",
            key.batch_size
        ));
    }
    if options.keys.is_some() {
        conflicts.push("--keys (the verifying key file is the key)".into());
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "--vk fixes the settings, and {} contradict{} it; drop {}",
        conflicts.join(", "),
        if conflicts.len() == 1 { "s" } else { "" },
        if conflicts.len() == 1 {
            "that flag"
        } else {
            "those flags"
        }
    )
}

/// The key parameters to verify a proof with: the command line's where it
/// speaks, else the proof's own settings (a hint: keys built from them must
/// still have the digest the proof's transcript starts from).
fn verify_params(options: &ModelOptions, settings: &ProofSettings) -> anyhow::Result<KeyParams> {
    let mut params = key_params(options)?;
    let named_keys = options
        .keys
        .as_ref()
        .is_some_and(|d| d.join("pk.bin").exists());
    if options.scale.is_none() && !named_keys {
        params.import.scale_bits = settings.scale_bits;
    }
    if options.weights.is_none() && !named_keys {
        params.visibility = settings.visibility;
    }
    if options.batch_size.is_none() {
        // Bounded by the proof's input length when it was decoded.
        params.import.batch_size = settings.batch_size as usize;
    }
    params.import.activation_bits = settings.activation_bits;
    Ok(params)
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let reject = |check: &'static str, reason: String| -> anyhow::Error {
        Rejected {
            check,
            reason,
            json: args.json,
        }
        .into()
    };
    // The proof first: its header says which keys it was made with.
    let proof_len = std::fs::metadata(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?
        .len();
    if proof_len > proof::encode::MAX_PROOF_BYTES {
        return Err(reject(
            "decode",
            format!(
                "{}: {proof_len} bytes, more than the limit of {} for a proof",
                args.proof.display(),
                proof::encode::MAX_PROOF_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let start = Instant::now();
    let (proof, checks) =
        zkinfer::zk::model::AnyProof::from_bytes_deferred(&bytes).map_err(|e| {
            reject(
                "decode",
                format!("{}: malformed proof: {e}", args.proof.display()),
            )
        })?;
    let vk = match (&args.vk, &args.model) {
        (Some(path), _) => {
            let vk = keys::read_vk_over_public_setup(path)?;
            check_flags_against_vk(&args.options, &vk)?;
            vk
        }
        (None, Some(model)) => {
            let params = verify_params(&args.options, proof.settings())?;
            cache::prepare(
                CpuBackend::global(),
                model,
                &params,
                &key_location(&args.options),
                &mut Setups::in_default_dir(),
                KeyPolicy::LoadOrBuild,
            )?
            .keys
            .pk
            .vk
        }
        (None, None) => {
            anyhow::bail!("give the model (zkinfer verify MODEL.onnx --proof P) or --vk VK")
        }
    };
    // Made for other keys: say which setting differs (or that the key is
    // another one), not which sumcheck failed.
    if let Some(m) = verdict::mismatch(proof.settings(), &vk) {
        let how = match (&args.vk, forced_flags(&args.options)) {
            (Some(_), _) if m.differences.is_empty() => {
                "; ask the prover for the verifying key it used".to_string()
            }
            (Some(_), _) => "; this verifying key cannot check it: ask the prover for the \
                             verifying key it used"
                .to_string(),
            (None, flags) if !m.differences.is_empty() && !flags.is_empty() => format!(
                "; drop {} to verify it with keys of the proof's settings",
                flags.join(" ")
            ),
            (None, _) if args.options.keys.is_some() && !m.differences.is_empty() => {
                "; the keys in --keys DIR have other settings: verify without --keys".into()
            }
            (None, _) => String::new(),
        };
        return Err(reject(m.check(), format!("{m}{how}")));
    }
    let scale = vk.model.scale_bits;
    let mut input_file = None;
    if let (Some(input_path), true) = (&args.input, proof.private_input()) {
        return Err(reject(
            "input",
            format!(
                "the proof keeps its input private (made with --private-input): it shows that \
                 some input gives its output and cannot be checked against {}; verify without \
                 --input",
                input_path.display()
            ),
        ));
    }
    if let Some(input_path) = &args.input {
        let file = quant::read_input_file(input_path)?;
        // Lists that do not fit the model's inputs are another input too.
        let input = quant::join_inputs(&file.inputs, &vk.model).map_err(|e| {
            reject(
                "input",
                format!(
                    "the proof is for another input than {}: {e}",
                    input_path.display()
                ),
            )
        })?;
        quant::check_input_range(&input, scale, vk.model.activation_bits)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input_path.display()))?;
        if quant::quantize_input(&input, scale) != proof.input() {
            return Err(reject(
                "input",
                format!(
                    "the proof is for another input than {}",
                    input_path.display()
                ),
            ));
        }
        if let Some(d) = file
            .output()
            .as_ref()
            .and_then(|expected| output_difference(expected, proof.output(), scale))
        {
            return Err(reject("output", format!("{}: {d}", input_path.display())));
        }
        input_file = Some(file);
    }
    verdict::verify_any_file(&vk, &proof, checks).map_err(|r| {
        let reason = if r.check == "decode" {
            format!("{}: {}", args.proof.display(), r.reason)
        } else {
            r.reason
        };
        reject(r.check, reason)
    })?;
    let verify_s = start.elapsed().as_secs_f64();
    let output = quant::dequantize(proof.output(), scale);
    // The statement proved is about the proof's own public input: say which.
    let input = quant::dequantize(proof.input(), scale);
    let output_checked = input_file.as_ref().is_some_and(|f| f.outputs.is_some());
    let model = &vk.model;
    if args.json {
        let mut json = serde_json::json!({
            "accepted": true,
            "model": vk.model.name,
            "input": if proof.private_input() {
                serde_json::Value::Null
            } else {
                quant::lists_json(&input, model, &model.inputs)
            },
            "private_input": proof.private_input(),
            "output": quant::lists_json(&output, model, &model.outputs),
            "verify_s": verify_s,
            "vk_fingerprint": verdict::vk_fingerprint(&vk),
            "settings": settings_json(proof.settings()),
        });
        if args.input.is_some() {
            json["input_matched"] = true.into();
        }
        if output_checked {
            json["output_data_matched"] = true.into();
        }
        println!("{json}");
    } else {
        println!("proof accepted ({verify_s:.3} s)");
        println!(
            "vk     fingerprint {} ({})",
            verdict::vk_fingerprint(&vk),
            settings_text(proof.settings())
        );
        match &args.input {
            None if proof.private_input() => {
                println!("input  private: some input in the activation range gives this output")
            }
            Some(path) => println!(
                "input  matches {}{}",
                path.display(),
                if output_checked {
                    " (and so does its output_data)"
                } else {
                    ""
                }
            ),
            None if input.len() <= 16 => {
                println!("input  {}", quant::lists_text(&input, model, &model.inputs))
            }
            None => println!(
                "input  {} values, starting {:?} (check it with --input FILE)",
                input.len(),
                &input[..8]
            ),
        }
        println!(
            "output {}",
            quant::lists_text(&output, model, &model.outputs)
        );
    }
    Ok(())
}
