//! The `zkinfer` command line: device listing, model commands, the prover
//! service and benchmarks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use zkinfer::backend::registry::{self, DeviceChoice};
use zkinfer::bench::{self, Primitive};
use zkinfer::config::KernelConfig;
use zkinfer::proof::WeightVisibility;

mod bench_commands;
mod fleet_commands;
mod key_commands;
mod model_commands;

#[derive(Parser)]
#[command(
    name = "zkinfer",
    version,
    about = "Prove that a committed ONNX model produced a given output (sumcheck + Dory over BN254)"
)]
struct Cli {
    /// Directory with kernel tuning overrides (cpu.toml, ...); default: the
    /// compiled-in kernels-config, or $ZKINFER_KERNELS_CONFIG.
    #[arg(long, global = true, value_name = "DIR")]
    kernels_config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every backend compiled in, the devices it sees, and why any is unavailable.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Build (or refresh) the proving and verifying keys of a model and cache them.
    Preprocess(PreprocessArgs),
    /// Prove one inference of a model on an input; writes the proof file.
    Prove(ProveArgs),
    /// Check a proof; exit 0 on accept, 1 on reject (naming the failed check).
    Verify(VerifyArgs),
    /// Benchmarks; with no subcommand, the shipped models on every device present.
    Bench(BenchArgs),
    /// Serve models over HTTP: inference or proof per request, deferred proof
    /// jobs, verification, metrics.
    Serve(ServeArgs),
    /// Prove jobs from a fleet's NATS JetStream queue (`serve --nats`).
    Worker(fleet_commands::WorkerArgs),
    /// The API key file of `serve --auth-keys`: add a key (its secret printed
    /// once), remove one, list them.
    Keys {
        #[command(subcommand)]
        command: key_commands::KeysCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// ONNX models to serve; each is named by its file stem (by its folder for
    /// a file called network.onnx).
    #[arg(required = true, value_name = "MODEL.onnx")]
    models: Vec<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Proving threads (each proof also uses every core through rayon).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Proof requests that may wait for a worker; beyond that, 503 + Retry-After.
    #[arg(long, default_value_t = 16)]
    queue: usize,
    /// Device: auto, cpu, cuda[:N], metal or wgpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Key cache root (a per-model folder inside; default $ZKINFER_KEYS or
    /// ~/.cache/zkinfer/keys).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Deadline of every request, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    max_body: usize,
    /// Seconds a connection has to send a request head (and an idle
    /// keep-alive one to start its next request) before it is closed.
    #[arg(long, default_value_t = 10)]
    header_timeout_s: u64,
    /// Fixed-point scale: values are stored as integers times 2^BITS.
    #[arg(long, value_name = "BITS", default_value_t = zkinfer::model::DEFAULT_SCALE_BITS)]
    scale: u32,
    /// Weight visibility of every model: `committed`, `public` or `hidden`
    /// (hidden: zero-knowledge proofs, see docs/zero-knowledge.md).
    #[arg(long, default_value = "committed", value_parser = parse_visibility)]
    weights: WeightVisibility,
    /// One model's weight visibility, overriding --weights for it
    /// (repeatable), e.g. `--weights-of authorization=hidden`.
    #[arg(long, value_name = "MODEL=VISIBILITY", value_parser = parse_weights_of)]
    weights_of: Vec<(String, WeightVisibility)>,
    /// One model's input visibility in its proofs (repeatable): `public`
    /// (the default) or `private` (needs hidden weights: the proof holds no
    /// input values), e.g. `--input-of authorization=private`.
    #[arg(long, value_name = "MODEL=VISIBILITY", value_parser = parse_input_of)]
    input_of: Vec<(String, zkinfer::proof::InputVisibility)>,
    /// Value of a symbolic batch dimension.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// API key file (TOML; `zkinfer keys add` writes it): every route but
    /// /healthz then needs `Authorization: Bearer <key>`. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    auth_keys: Option<PathBuf>,
    /// Allow a non-loopback --addr without --auth-keys: anyone who can reach
    /// it may use the service.
    #[arg(long, conflicts_with = "auth_keys")]
    insecure_no_auth: bool,
    /// With --auth-keys, leave GET /metrics open instead of requiring a key
    /// with the `metrics` scope.
    #[arg(long, requires = "auth_keys")]
    public_metrics: bool,
    /// TLS certificate chain (PEM, leaf first); with --tls-key the service
    /// speaks only HTTPS. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Write each request's input_data to the audit log (never by default).
    #[arg(long)]
    log_inputs: bool,
    /// Finished deferred jobs kept in memory for GET /v1/jobs/{id} (without
    /// --nats; the oldest are forgotten first).
    #[arg(long, default_value_t = 1024)]
    job_history: usize,
    #[command(flatten)]
    nats: fleet_commands::NatsArgs,
    /// With --nats: seconds job records and proofs are kept in NATS.
    #[arg(long, default_value_t = 86_400, requires = "nats")]
    job_ttl_s: u64,
    /// With --nats: replicas of the fleet's streams and stores (3 on a
    /// NATS cluster; 1 for a single server).
    #[arg(long, default_value_t = 1, requires = "nats")]
    nats_replicas: usize,
}

/// How a model is imported and its keys are built; must match between
/// `preprocess`, `prove` and `verify MODEL.onnx`.
#[derive(Args, Clone)]
struct ModelOptions {
    /// Fixed-point scale: values are stored as integers times 2^BITS
    /// [default: the scale of the keys in --keys DIR, else 7].
    #[arg(long, value_name = "BITS")]
    scale: Option<u32>,
    /// Weight visibility: `committed` (the verifying key holds a binding
    /// commitment instead of the weights; proofs are NOT zero-knowledge, so
    /// they do not hide the weights), `public` (weights in the verifying
    /// key; fastest) or `hidden` (a hiding commitment, and zero-knowledge
    /// proofs: `--zk`) [default: the visibility of the keys in --keys DIR,
    /// else committed].
    #[arg(long, value_parser = parse_visibility)]
    weights: Option<WeightVisibility>,
    /// Zero-knowledge proofs: the same as `--weights hidden` (a hiding
    /// commitment to the weights in the verifying key, and proofs that reveal
    /// nothing about them beyond the input and output). Models of MatMul/Gemm,
    /// Add, Sub, Mul, ReLU and activation tables only, so far.
    #[arg(long, conflicts_with = "weights")]
    zk: bool,
    /// Value of a symbolic batch dimension [default: 1; `verify`: the proof's].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Key directory (default: a per-model folder under the cache directory,
    /// $ZKINFER_KEYS or ~/.cache/zkinfer/keys).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
}

impl ModelOptions {
    /// `--zk` is `--weights hidden`.
    fn resolve_zk(&mut self) {
        if self.zk {
            self.weights = Some(WeightVisibility::Hidden);
        }
    }
}

#[derive(Args)]
struct PreprocessArgs {
    /// The ONNX model.
    model: PathBuf,
    #[command(flatten)]
    options: ModelOptions,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ProveArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Input JSON in ezkl's shape: {"input_data": [[...]]}.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the proof.
    #[arg(long)]
    proof: PathBuf,
    /// Keep the input private (keys made with --zk): the proof holds no
    /// input values and shows that some input in the activation range gives
    /// the output.
    #[arg(long)]
    private_input: bool,
    #[command(flatten)]
    options: ModelOptions,
    /// Device: auto, cpu, cuda[:N], metal (ICICLE), wgpu, vulkan, wgpu-metal or wgpu-dx12.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The ONNX model (its verifying key is loaded from the key cache or derived).
    model: Option<PathBuf>,
    /// A verifying key file written by `preprocess` (instead of MODEL).
    #[arg(long, conflicts_with = "model")]
    vk: Option<PathBuf>,
    /// The proof file.
    #[arg(long)]
    proof: PathBuf,
    /// Also require the proof's public input to be this input JSON.
    #[arg(long)]
    input: Option<PathBuf>,
    #[command(flatten)]
    options: ModelOptions,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `NAME=VISIBILITY`: one served model's weight visibility (`--weights-of`).
fn parse_weights_of(s: &str) -> Result<(String, WeightVisibility), String> {
    let (name, visibility) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected MODEL=VISIBILITY, e.g. `perceptron=hidden`"))?;
    if name.is_empty() {
        return Err(format!("`{s}`: the model name before `=` is empty"));
    }
    Ok((name.to_string(), parse_visibility(visibility)?))
}

/// `NAME=VISIBILITY`: one served model's input visibility (`--input-of`).
fn parse_input_of(s: &str) -> Result<(String, zkinfer::proof::InputVisibility), String> {
    let (name, visibility) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected MODEL=VISIBILITY, e.g. `perceptron=private`"))?;
    if name.is_empty() {
        return Err(format!("`{s}`: the model name before `=` is empty"));
    }
    Ok((name.to_string(), visibility.parse()?))
}

fn parse_visibility(s: &str) -> Result<WeightVisibility, String> {
    match s {
        "committed" => Ok(WeightVisibility::Committed),
        "public" => Ok(WeightVisibility::Public),
        "hidden" => Ok(WeightVisibility::Hidden),
        _ => Err(format!("`{s}`: expected `committed`, `public` or `hidden`")),
    }
}

/// `zkinfer bench [OPTIONS]` runs `bench models` on the shipped models.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    run: bench_commands::RunArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time MSM (full and 8/16/32-bit scalars), NTT and Dory commit/open per device.
    Primitives(PrimitivesArgs),
    /// The whole pipeline (import to verify) of ONNX models per device, phase by phase.
    Models(bench_commands::ModelsArgs),
}

#[derive(Args)]
struct PrimitivesArgs {
    /// Devices to compare: all, or a comma-separated list of auto, cpu, cuda[:N], metal,
    /// wgpu, vulkan, wgpu-metal, wgpu-dx12.
    #[arg(long, default_value = "all")]
    device: String,
    /// log2 input sizes: A..B (inclusive) or one number.
    #[arg(long, default_value = "12..16")]
    sizes: String,
    /// Measured runs per cell (after one warm-up); the table shows the median.
    #[arg(long, alias = "repeats", default_value_t = 3)]
    repeat: usize,
    /// Only these primitives (comma-separated names as in the table, e.g. msm_g1/i8).
    #[arg(long)]
    only: Option<String>,
    /// Print JSON (one object per op, size and device) instead of a table.
    #[arg(long)]
    json: bool,
    /// Where the Dory setup is cached (default: $ZKINFER_CACHE_DIR or the user cache dir).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    quiet_device_select();
    let cli = Cli::parse();
    zkinfer::telemetry::init(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<model_commands::Rejected>() {
            Some(rejected) => {
                if rejected.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "accepted": false,
                            "check": rejected.check,
                            "reason": rejected.reason,
                        })
                    );
                }
                eprintln!("proof rejected: {}", rejected.reason);
                ExitCode::from(1)
            }
            None => {
                eprintln!("error: {}", error_chain(&e));
                ExitCode::from(2)
            }
        },
    }
}

/// Mesa's Vulkan device-select layer prints `error: XDG_RUNTIME_DIR is
/// invalid or not set` on headless machines whenever wgpu lists adapters
/// (harmless: it only orders devices). Turn the layer off unless the user
/// chose otherwise. Called first thing in `main`, before any thread exists,
/// so nothing can read the environment while it changes.
fn quiet_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

/// An error and its causes, each stated once: a message that already quotes
/// its cause (`cannot write X: Permission denied`) is not followed by it again.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = KernelConfig::cpu_from_dir(cli.kernels_config.as_deref())?;
    zkinfer::backend::CpuBackend::install_global(config);
    registry::set_kernels_config_dir(cli.kernels_config.as_deref());
    match cli.command {
        Command::Devices { json } => devices(json),
        Command::Bench(BenchArgs {
            command: Some(BenchCommand::Primitives(args)),
            ..
        }) => bench_primitives(args),
        Command::Bench(BenchArgs {
            command: Some(BenchCommand::Models(args)),
            ..
        }) => bench_commands::models(&args),
        Command::Bench(BenchArgs { command: None, run }) => {
            bench_commands::models(&bench_commands::ModelsArgs::shipped(run))
        }
        Command::Preprocess(mut args) => {
            args.options.resolve_zk();
            model_commands::preprocess(&args)
        }
        Command::Prove(mut args) => {
            args.options.resolve_zk();
            model_commands::prove(&args)
        }
        Command::Verify(mut args) => {
            args.options.resolve_zk();
            model_commands::verify(&args)
        }
        Command::Serve(args) => serve(args),
        Command::Worker(args) => fleet_commands::worker(args),
        Command::Keys { command } => key_commands::run(command),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use zkinfer::keys::cache::{KeyLocation, KeyParams, Setups};
    use zkinfer::service::{self, Service, ServiceConfig, TlsFiles};
    let config = ServiceConfig {
        workers: args.workers,
        queue: args.queue,
        timeout: std::time::Duration::from_secs(args.timeout_s.max(1)),
        max_body: args.max_body,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_s.max(1)),
        auth_keys: args.auth_keys.clone(),
        public_metrics: args.public_metrics,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        log_inputs: args.log_inputs,
        job_history: args.job_history,
        weights_of: args.weights_of.iter().cloned().collect(),
        input_of: args.input_of.iter().cloned().collect(),
    };
    #[cfg(not(feature = "fleet"))]
    if args.nats.nats.is_some() {
        anyhow::bail!(
            "--nats: this zkinfer was built without the `fleet` feature (NATS); rebuild with \
             default features or `--features fleet`"
        );
    }
    // Before any model is loaded: a refused address fails at once.
    service::check_exposure(args.addr, &config, args.insecure_no_auth)?;
    let device: DeviceChoice = args.device.parse().map_err(anyhow::Error::msg)?;
    zkinfer::quant::check_scale(
        args.scale,
        zkinfer::onnx::ImportOptions::default().activation_bits,
    )
    .map_err(anyhow::Error::msg)?;
    let backend = registry::select(device)?;
    let params = KeyParams {
        import: zkinfer::onnx::ImportOptions {
            scale_bits: args.scale,
            batch_size: args.batch_size,
            ..Default::default()
        },
        visibility: args.weights,
    };
    let keys = match args.keys {
        Some(dir) => KeyLocation::Root(dir),
        None => KeyLocation::default_root(),
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let service = Service::load(
        &args.models,
        &params,
        &keys,
        &mut Setups::in_default_dir(),
        backend,
        config,
    )?;
    // The runtime only parses, routes and waits; proofs run on the workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zkinfer-http")
        .enable_all()
        .build()?;
    let (addr, workers, queue) = (args.addr, args.workers, args.queue);
    runtime.block_on(async move {
        #[cfg_attr(
            not(feature = "fleet"),
            expect(unused_mut, reason = "changed only with a fleet")
        )]
        let mut proving = format!("{} workers, queue {}", workers, queue);
        #[cfg(feature = "fleet")]
        if args.nats.nats.is_some() {
            let url = fleet_commands::attach_fleet(
                &service,
                &args.nats,
                queue,
                args.job_ttl_s,
                args.nats_replicas,
            )
            .await?;
            proving = format!("proofs by the fleet at {url}, queue {queue}");
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let names: Vec<&str> = service.models().map(|m| m.name.as_str()).collect();
        println!(
            "listening on {scheme}://{} ({} on {}; {proving})",
            listener.local_addr()?,
            names.join(", "),
            backend.as_dyn().name(),
        );
        service::serve(listener, service, service::shutdown_signal()).await?;
        eprintln!("stopped");
        anyhow::Ok(())
    })
}

fn devices(json: bool) -> anyhow::Result<()> {
    let statuses = registry::probe_all();
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<10} {:<12} details",
        "backend", "compiled", "available"
    );
    for s in &statuses {
        let mut details = if s.available {
            s.devices
                .iter()
                .map(describe_device)
                .collect::<Vec<_>>()
                .join("\n                               ")
        } else {
            s.reason.clone().unwrap_or_default()
        };
        if let (Some(version), Some(location)) = (&s.version, &s.location) {
            details = format!("[{version} API, {location}] {details}");
        }
        println!(
            "{:<8} {:<10} {:<12} {details}",
            s.backend,
            if s.compiled { "yes" } else { "no" },
            if s.available { "yes" } else { "no" },
        );
    }
    Ok(())
}

/// One device on one line: kind, name, and for GPUs the API, adapter type,
/// driver and key limits.
fn describe_device(d: &zkinfer::backend::DeviceInfo) -> String {
    let mut text = format!("{}: {}", format!("{:?}", d.kind).to_lowercase(), d.name);
    if let Some(p) = d.parallelism {
        text.push_str(&format!(", {p} threads"));
    }
    if let Some(b) = d.memory_bytes {
        text.push_str(&format!(", {:.1} GiB", b as f64 / (1u64 << 30) as f64));
    }
    if let Some(api) = &d.api {
        text.push_str(&format!(", {api}"));
    }
    if let Some(t) = &d.adapter_type {
        text.push_str(&format!(", {t}"));
    }
    if let Some(driver) = &d.driver {
        text.push_str(&format!(", driver {driver}"));
    }
    let limit = |key: &str| d.limits.get(key).copied();
    if let Some(b) = limit("max_storage_buffer_binding_size") {
        text.push_str(&format!(", max binding {} MiB", b >> 20));
    }
    if let Some(w) = limit("max_compute_workgroups_per_dimension") {
        text.push_str(&format!(", max workgroups/dim {w}"));
    }
    if let Some(i) = limit("max_compute_invocations_per_workgroup") {
        text.push_str(&format!(", max threads/workgroup {i}"));
    }
    text
}

fn bench_primitives(args: PrimitivesArgs) -> anyhow::Result<()> {
    let mut devices = bench::parse_devices(&args.device).map_err(anyhow::Error::msg)?;
    // Speed-ups are relative to the CPU, so it always runs.
    if !devices.contains(&DeviceChoice::Cpu) {
        devices.insert(0, DeviceChoice::Cpu);
    }
    let primitives = match &args.only {
        None => Primitive::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|name| {
                Primitive::ALL
                    .iter()
                    .copied()
                    .find(|p| p.name() == name.trim())
                    .ok_or_else(|| {
                        let names: Vec<_> = Primitive::ALL.iter().map(|p| p.name()).collect();
                        anyhow::anyhow!("unknown primitive `{name}`; known: {}", names.join(", "))
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let options = bench::Options {
        devices,
        every_present: args.device.trim().eq_ignore_ascii_case("all"),
        log_sizes: bench::parse_sizes(&args.sizes).map_err(anyhow::Error::msg)?,
        repeats: args.repeat,
        primitives,
    };
    let cache_dir = args
        .cache_dir
        .unwrap_or_else(zkinfer::pcs::DorySetup::default_cache_dir);
    let steps = options.log_sizes.len() * options.primitives.len();
    let bar = if std::io::stderr().is_terminal() && !args.json {
        indicatif::ProgressBar::new(steps as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let report = bench::run(&options, &cache_dir, |step| {
        bar.set_message(step.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>6} {:<8} {:>12} {:>12} {:>10}  layout",
        "op", "size", "device", "median", "spread", "vs cpu"
    );
    for m in &report.measurements {
        println!(
            "{:<24} {:>6} {:<8} {:>12} {:>12} {:>10}  {}",
            m.op,
            format!("2^{}", m.log_size),
            m.device,
            format_secs(m.median_s),
            format!("±{}", format_secs((m.max_s - m.min_s) / 2.0)),
            m.speedup_vs_cpu
                .map(|s| format!("{s:.2}x"))
                .unwrap_or_else(|| "-".into()),
            m.layout.clone().unwrap_or_default(),
        );
        if let Some(ratio) = m.speedup_vs_dory_pcs {
            let cpu = m
                .cpu_speedup_vs_dory_pcs
                .map(|r| format!(", {r:.2}x fewer CPU-seconds"))
                .unwrap_or_default();
            println!("{:<24} {ratio:.2}x faster than dory_pcs::prove{cpu}", "");
        }
        if let Some(cpu) = m.cpu_median_s {
            println!("{:<24} CPU time {}", "", format_secs(cpu));
        }
        if let Some(profile) = &m.profile {
            let parts: Vec<String> = profile
                .iter()
                .map(|(name, share)| format!("{name} {:.0}%", share * 100.0))
                .collect();
            println!("{:<24} split: {}", "", parts.join(", "));
        }
    }
    for s in &report.skipped {
        println!("{:<8} not run: {}", s.device, s.reason);
    }
    Ok(())
}

fn format_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}
