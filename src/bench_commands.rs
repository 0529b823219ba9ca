//! `zkinfer bench` and `zkinfer bench models`: arguments, progress bars and
//! output files around [`zkinfer::bench::models`], which runs and formats.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use zkinfer::bench::models::{self, ModelSpec, Progress, Status};
use zkinfer::bench::parse_devices;
use zkinfer::onnx::ImportOptions;
use zkinfer::pcs::DorySetup;
use zkinfer::proof::WeightVisibility;

/// Options shared by `zkinfer bench` and `zkinfer bench models`.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// Devices: all, or a comma-separated list of cpu, cuda[:N], metal, wgpu.
    /// The CPU always runs (speed-ups are against it); absent devices are listed
    /// with the reason.
    #[arg(long, default_value = "all")]
    device: String,
    /// Measured runs per model and device; the table shows their median.
    #[arg(long, alias = "repeats", default_value_t = 3)]
    repeat: usize,
    /// Unrecorded runs before the measured ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Weight visibility the keys are built for: `committed`, `public` or
    /// `hidden` (zero-knowledge proofs; compare with a `committed` run via
    /// `--json` and `--compare`).
    #[arg(long, default_value = "committed", value_parser = crate::parse_visibility)]
    weights: WeightVisibility,
    /// Fixed-point scale: values are stored as integers times 2^BITS.
    #[arg(long, value_name = "BITS", default_value_t = zkinfer::model::DEFAULT_SCALE_BITS)]
    scale: u32,
    /// Print a JSON array of one object per model, device and phase instead of
    /// the table (an absent device: one row per model, phase `all`).
    #[arg(long)]
    json: bool,
    /// Give an absent device one row per phase in --json and --csv.
    #[arg(long)]
    absent_per_phase: bool,
    /// Also write the rows as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Print the per-phase change against an earlier `--json` output.
    #[arg(long, value_name = "OLD.json")]
    compare: Option<PathBuf>,
    /// Where the Dory setup is cached (default: $ZKINFER_CACHE_DIR or the user cache dir).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct ModelsArgs {
    /// ONNX models, each with an input.json beside it (default: the shipped models).
    models: Vec<PathBuf>,
    /// The shipped models (models/*/network.onnx; $ZKINFER_MODELS_DIR overrides the folder).
    #[arg(long, conflicts_with = "models")]
    all_shipped: bool,
    #[command(flatten)]
    run: RunArgs,
}

impl ModelsArgs {
    /// `bench models --all-shipped` with these options (what bare `bench` runs).
    pub fn shipped(run: RunArgs) -> Self {
        ModelsArgs {
            models: Vec::new(),
            all_shipped: true,
            run,
        }
    }
}

pub fn models(args: &ModelsArgs) -> anyhow::Result<()> {
    let run = &args.run;
    let specs = if args.models.is_empty() {
        models::shipped_models(&models::default_models_dir()?)?
    } else {
        args.models
            .iter()
            .map(|m| ModelSpec::from_onnx(m))
            .collect::<Result<_, _>>()?
    };
    // Read the old file and open the CSV file first: a bad one should not
    // cost a whole run.
    let old = run.compare.as_deref().map(models::read_rows).transpose()?;
    let csv_file = run
        .csv
        .as_ref()
        .map(|path| {
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))
        })
        .transpose()?;
    let options = models::Options {
        devices: parse_devices(&run.device).map_err(anyhow::Error::msg)?,
        every_present: run.device.trim().eq_ignore_ascii_case("all"),
        repeat: run.repeat,
        warmup: run.warmup,
        weights: run.weights,
        import: ImportOptions {
            scale_bits: run.scale,
            ..ImportOptions::default()
        },
        setup_cache_dir: run
            .cache_dir
            .clone()
            .unwrap_or_else(DorySetup::default_cache_dir),
        absent_per_phase: run.absent_per_phase,
    };

    // One progress bar per model, on stderr when it is a terminal.
    let multi = MultiProgress::with_draw_target(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:>24} {bar:30} {pos}/{len} {msg} {elapsed}")
        .expect("valid template");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let start = Instant::now();
    let rows = models::run(&specs, &options, |event| match event {
        Progress::Model { model, runs } => {
            let bar = multi.add(ProgressBar::new(runs as u64));
            bar.set_style(style.clone());
            bar.set_prefix(model.to_string());
            bars.insert(model.to_string(), bar);
        }
        Progress::Run {
            model,
            device,
            index,
            of,
            warmup,
        } => {
            if let Some(bar) = bars.get(model) {
                bar.set_message(format!(
                    "{device} run {index}/{of}{}",
                    if warmup { " (warm-up)" } else { "" }
                ));
            }
        }
        Progress::RunDone { model } => {
            if let Some(bar) = bars.get(model) {
                bar.inc(1);
            }
        }
        Progress::ModelDone { model } => {
            if let Some(bar) = bars.get(model) {
                bar.finish_with_message("done");
            }
        }
    })?;
    let wall = start.elapsed().as_secs_f64();
    multi.clear().ok();

    if run.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", models::format_table(&rows));
        println!("wall time {:.1} s for {} model(s)", wall, specs.len());
    }
    if let (Some(path), Some(mut file)) = (&run.csv, csv_file) {
        use std::io::Write;
        file.write_all(models::to_csv(&rows).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {} rows to {}", rows.len(), path.display());
    }
    if let (Some(old), Some(path)) = (old, &run.compare) {
        let text =
            models::format_comparison(&models::compare(&old, &rows), &path.display().to_string());
        // Keep stdout a pure JSON array under --json.
        if run.json {
            eprint!("\n{text}");
        } else {
            print!("\n{text}");
        }
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.status == Status::Failed && r.phase == models::PHASES[0].name)
        .map(|r| format!("{} on {}", r.model, r.device))
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("the pipeline failed for {}", failed.join(", "));
    }
    Ok(())
}
