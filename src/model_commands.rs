//! `preprocess`, `prove` and `verify`: the model commands of the CLI.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use zkinfer::backend::registry::{self, DeviceChoice, SelectedBackend};
use zkinfer::backend::CpuBackend;
use zkinfer::keys;
use zkinfer::keys::cache::{
    self, KeyLocation, KeyOrigin, KeyParams, KeyPolicy, PreparedModel, Setups,
};
use zkinfer::onnx::{model_name, ImportOptions};
use zkinfer::proof::{self, ModelProof};
use zkinfer::quant;

use crate::{ModelOptions, PreprocessArgs, ProveArgs, VerifyArgs};

/// A proof the verifier rejected (exit code 1, unlike errors, which exit 2).
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

/// The key parameters of a command: what the command line says; where it is
/// silent, the settings of the keys already in `--keys DIR` (so a folder of
/// public-weight keys is used as such, not rebuilt), else the defaults.
fn key_params(options: &ModelOptions) -> KeyParams {
    let existing = options
        .keys
        .as_ref()
        .map(|dir| dir.join("pk.bin"))
        .filter(|pk| pk.exists())
        .and_then(|pk| keys::read_pk_settings(&pk).ok());
    KeyParams {
        import: ImportOptions {
            scale_bits: options
                .scale
                .or(existing.as_ref().map(|k| k.scale_bits))
                .unwrap_or(zkinfer::model::DEFAULT_SCALE_BITS),
            batch_size: options.batch_size,
            ..ImportOptions::default()
        },
        visibility: options
            .weights
            .or(existing.as_ref().map(|k| k.visibility))
            .unwrap_or_default(),
    }
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
        &key_params(options),
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
        println!(
            "time        {seconds:.3} s (keys {:.3} s)",
            prepared.keys.seconds
        );
    }
    Ok(())
}

fn input_values(path: &Path) -> anyhow::Result<Vec<f32>> {
    Ok(quant::read_input_json(path)?)
}

pub fn prove(args: &ProveArgs) -> anyhow::Result<()> {
    let device: DeviceChoice = args.device.parse().map_err(anyhow::Error::msg)?;
    let backend = registry::select(device)?;
    let input = input_values(&args.input)?;
    let prepared = prepare(&args.model, &args.options, KeyPolicy::LoadOrBuild)?;
    let imported = &prepared.imported;
    let expected = imported.model.tensors[imported.model.input].len();
    if input.len() != expected {
        anyhow::bail!(
            "{}: input has {} values, model `{}` expects {expected} (shape {:?})",
            args.input.display(),
            input.len(),
            model_name(&args.model),
            imported.model.tensors[imported.model.input].shape
        );
    }
    let (pk, dir) = (&prepared.keys.pk, &prepared.keys.dir);
    let cached = prepared.keys.origin == KeyOrigin::Loaded;
    let (_, report) = quant::report(imported, &input)?;
    let quantized = quant::quantize_input(&input, imported.model.scale_bits);
    let start = Instant::now();
    let proof = match backend {
        SelectedBackend::Cpu(_) => proof::prove::<CpuBackend>(pk, &quantized)?,
        #[cfg(feature = "icicle")]
        SelectedBackend::Icicle(_) => {
            proof::prove::<zkinfer::backend::icicle::IcicleBackend>(pk, &quantized)?
        }
        #[cfg(feature = "wgpu")]
        SelectedBackend::Wgpu(_) => {
            proof::prove::<zkinfer::backend::wgpu::WgpuBackend>(pk, &quantized)?
        }
    };
    let prove_s = start.elapsed().as_secs_f64();
    let bytes = proof.to_bytes();
    std::fs::write(&args.proof, &bytes)
        .with_context(|| format!("cannot write {}", args.proof.display()))?;
    let output = quant::dequantize(&proof.output, imported.model.scale_bits);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": model_name(&args.model),
                "device": backend.as_dyn().name(),
                "output": output,
                "float_output": report.float_output,
                "max_abs_error": report.max_abs_error,
                "max_rel_error": report.max_rel_error,
                "proof": args.proof,
                "proof_bytes": bytes.len(),
                "prove_s": prove_s,
                "keys": dir,
                "keys_cached": cached,
                "keys_origin": prepared.keys.origin.as_str(),
                "keys_s": prepared.keys.seconds,
            })
        );
    } else {
        println!("output      {output:?}");
        println!("float ref   {:?}", report.float_output);
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
    }
    Ok(())
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let vk = match (&args.vk, &args.model) {
        (Some(path), _) => keys::read_vk_over_public_setup(path)?,
        (None, Some(model)) => {
            prepare(model, &args.options, KeyPolicy::LoadOrBuild)?
                .keys
                .pk
                .vk
        }
        (None, None) => {
            anyhow::bail!("give the model (zkinfer verify MODEL.onnx --proof P) or --vk VK")
        }
    };
    let proof_len = std::fs::metadata(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?
        .len();
    if proof_len > proof::encode::MAX_PROOF_BYTES {
        return Err(Rejected(format!(
            "{}: {proof_len} bytes, more than the limit of {} for a proof",
            args.proof.display(),
            proof::encode::MAX_PROOF_BYTES
        ))
        .into());
    }
    let bytes = std::fs::read(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let start = Instant::now();
    let (proof, checks) = ModelProof::from_bytes_deferred(&bytes)
        .map_err(|e| Rejected(format!("{}: malformed proof: {e}", args.proof.display())))?;
    if let Some(input_path) = &args.input {
        let input = quant::quantize_input(&input_values(input_path)?, vk.model.scale_bits);
        if input != proof.input {
            return Err(Rejected(format!(
                "the proof is for another input than {}",
                input_path.display()
            ))
            .into());
        }
    }
    proof::verify_with_checks(&vk, &proof.input, &proof, checks).map_err(|e| match e {
        proof::ProofError::Decode(e) => {
            Rejected(format!("{}: malformed proof: {e}", args.proof.display()))
        }
        e => Rejected(e.to_string()),
    })?;
    let verify_s = start.elapsed().as_secs_f64();
    let output = quant::dequantize(&proof.output, vk.model.scale_bits);
    // The statement proved is about the proof's own public input: say which.
    let input = quant::dequantize(&proof.input, vk.model.scale_bits);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"accepted": true, "model": vk.model.name, "input": input, "output": output, "verify_s": verify_s})
        );
    } else {
        println!("proof accepted ({verify_s:.3} s)");
        if input.len() <= 16 {
            println!("input  {input:?}");
        } else {
            println!(
                "input  {} values, starting {:?} (check it with --input FILE)",
                input.len(),
                &input[..8]
            );
        }
        println!("output {output:?}");
    }
    Ok(())
}
