//! `preprocess`, `prove` and `verify`: the model commands of the CLI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use blake2::{Blake2b512, Digest};
use zkinfer::backend::registry::{self, DeviceChoice, SelectedBackend};
use zkinfer::backend::CpuBackend;
use zkinfer::keys;
use zkinfer::onnx::{self, model_name, ImportOptions, ImportedModel};
use zkinfer::pcs::{setup::DEFAULT_SEED, DorySetup};
use zkinfer::proof::{self, ModelProof, ProvingKey, PROOF_VERSION};
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

/// Environment variable naming the key cache directory.
pub const KEYS_ENV: &str = "ZKINFER_KEYS";

fn import(path: &Path, options: &ModelOptions) -> anyhow::Result<ImportedModel> {
    let import_options = ImportOptions {
        scale_bits: options.scale,
        batch_size: options.batch_size,
        ..ImportOptions::default()
    };
    Ok(onnx::import(path, &import_options)?)
}

/// The key directory for a model file and options: `--keys`, else a folder named
/// after the model and a digest of its bytes, the options and the key format.
fn key_dir(path: &Path, options: &ModelOptions) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &options.keys {
        return Ok(dir.clone());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Blake2b512::new();
    h.update(&bytes);
    h.update(options.scale.to_le_bytes());
    h.update((options.batch_size as u64).to_le_bytes());
    h.update(serde_json::to_vec(&options.weights)?);
    h.update(PROOF_VERSION.to_le_bytes());
    let digest: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let base = std::env::var_os(KEYS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| DorySetup::default_cache_dir().join("keys"));
    Ok(base.join(format!("{}-{digest}", model_name(path))))
}

fn setup_for(model: &zkinfer::model::Model) -> anyhow::Result<Arc<DorySetup>> {
    let needed = proof::required_generators(model);
    Ok(Arc::new(DorySetup::load_or_derive(
        DEFAULT_SEED,
        needed,
        &DorySetup::default_cache_dir(),
    )?))
}

/// Loads cached keys when present and valid, else builds and caches them.
fn keys_for(
    imported: &ImportedModel,
    path: &Path,
    options: &ModelOptions,
) -> anyhow::Result<(ProvingKey, PathBuf, bool)> {
    let dir = key_dir(path, options)?;
    let setup = setup_for(&imported.model)?;
    let pk_path = dir.join("pk.bin");
    if pk_path.exists() && dir.join("vk.bin").exists() {
        match keys::read_pk(&pk_path, setup.clone()) {
            Ok(pk) if pk.model == imported.model && pk.vk.visibility == options.weights => {
                return Ok((pk, dir, true));
            }
            Ok(_) => tracing::warn!(
                "cached keys in {} are for another model; rebuilding",
                dir.display()
            ),
            Err(e) => tracing::warn!("ignoring cached keys: {e}; rebuilding"),
        }
    }
    let pk = keys::preprocess_to_dir(
        CpuBackend::global(),
        imported.model.clone(),
        options.weights,
        setup,
        &dir,
    )?;
    Ok((pk, dir, false))
}

pub fn preprocess(args: &PreprocessArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let imported = import(&args.model, &args.options)?;
    let dir = key_dir(&args.model, &args.options)?;
    let setup = setup_for(&imported.model)?;
    let pk = keys::preprocess_to_dir(
        CpuBackend::global(),
        imported.model,
        args.options.weights,
        setup,
        &dir,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let vk_path = dir.join("vk.bin");
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": model_name(&args.model),
                "keys": dir,
                "vk": vk_path,
                "weights": args.options.weights,
                "nodes": pk.model.nodes.len(),
                "seconds": seconds,
            })
        );
    } else {
        println!(
            "model       {} ({} nodes)",
            model_name(&args.model),
            pk.model.nodes.len()
        );
        println!("weights     {:?}", args.options.weights);
        println!("proving key {}", dir.join("pk.bin").display());
        println!("verify key  {}", vk_path.display());
        println!("time        {seconds:.3} s");
    }
    Ok(())
}

fn input_values(path: &Path) -> anyhow::Result<Vec<f32>> {
    Ok(quant::read_input_json(path)?)
}

pub fn prove(args: &ProveArgs) -> anyhow::Result<()> {
    let device: DeviceChoice = args.device.parse().map_err(anyhow::Error::msg)?;
    let backend = registry::select(device)?;
    let imported = import(&args.model, &args.options)?;
    let input = input_values(&args.input)?;
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
    let (pk, dir, cached) = keys_for(&imported, &args.model, &args.options)?;
    let (_, report) = quant::report(&imported, &input)?;
    let quantized = quant::quantize_input(&input, imported.model.scale_bits);
    let start = Instant::now();
    let proof = match backend {
        SelectedBackend::Cpu(_) => proof::prove::<CpuBackend>(&pk, &quantized)?,
        #[cfg(feature = "icicle")]
        SelectedBackend::Icicle(_) => {
            proof::prove::<zkinfer::backend::icicle::IcicleBackend>(&pk, &quantized)?
        }
        #[cfg(feature = "wgpu")]
        SelectedBackend::Wgpu(_) => {
            proof::prove::<zkinfer::backend::wgpu::WgpuBackend>(&pk, &quantized)?
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
            "prove time  {prove_s:.3} s on {} (keys {})",
            backend.as_dyn().name(),
            if cached { "cached" } else { "built" }
        );
    }
    Ok(())
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let vk = match (&args.vk, &args.model) {
        (Some(path), _) => {
            let mut vk = keys::read_vk(path)?;
            // Dory is sound only over the public setup: a key file could carry
            // generators whose discrete logarithms its maker knows. Verify with
            // the setup derived here from zkinfer's public seed instead.
            if vk.log_generators != proof::required_generators(&vk.model) {
                anyhow::bail!(
                    "{}: the key's Dory setup size (2^{}) does not fit its model",
                    path.display(),
                    vk.log_generators
                );
            }
            let setup = setup_for(&vk.model)?;
            if setup.seed_digest != vk.seed_digest {
                anyhow::bail!(
                    "{}: the key was made with a Dory setup from another seed than zkinfer's public one",
                    path.display()
                );
            }
            vk.dory = setup.verifier.clone();
            vk
        }
        (None, Some(model)) => {
            let imported = import(model, &args.options)?;
            keys_for(&imported, model, &args.options)?.0.vk
        }
        (None, None) => {
            anyhow::bail!("give the model (zkinfer verify MODEL.onnx --proof P) or --vk VK")
        }
    };
    let bytes = std::fs::read(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let start = Instant::now();
    let proof = ModelProof::from_bytes(&bytes)
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
    proof::verify(&vk, &proof.input, &proof).map_err(|e| Rejected(e.to_string()))?;
    let verify_s = start.elapsed().as_secs_f64();
    let output = quant::dequantize(&proof.output, vk.model.scale_bits);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"accepted": true, "model": vk.model.name, "output": output, "verify_s": verify_s})
        );
    } else {
        println!("proof accepted ({verify_s:.3} s)");
        println!("output {output:?}");
    }
    Ok(())
}
