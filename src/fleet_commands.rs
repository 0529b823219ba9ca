//! `zkinfer worker` and the NATS options `serve --nats` shares with it.
//! Without the `fleet` feature both exist and say that the build lacks it.

use std::path::PathBuf;

use clap::Args;
use zkinfer::proof::WeightVisibility;

/// How to reach NATS (`serve --nats`, `worker --nats`).
#[derive(Args, Clone, Default)]
pub struct NatsArgs {
    /// NATS server URL(s): nats://HOST:PORT or tls://HOST:PORT, comma-separated
    /// for a cluster. `serve` then enqueues proofs for `zkinfer worker`s on
    /// JetStream instead of proving them itself.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// NATS credentials file (.creds: user JWT and NKey seed).
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_creds: Option<PathBuf>,
    /// NATS user; the password comes from --nats-password or $ZKINFER_NATS_PASSWORD.
    #[arg(long, requires = "nats", conflicts_with = "nats_creds")]
    pub nats_user: Option<String>,
    /// NATS password (prefer $ZKINFER_NATS_PASSWORD: a flag shows in `ps`).
    #[arg(long, requires = "nats_user")]
    pub nats_password: Option<String>,
    /// Read the NATS token from this file (or $ZKINFER_NATS_TOKEN).
    #[arg(long, value_name = "FILE", requires = "nats", conflicts_with_all = ["nats_creds", "nats_user"])]
    pub nats_token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for a tls:// NATS server.
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS servers that verify clients.
    #[arg(long, value_name = "FILE", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,
    /// Refuse a NATS connection without TLS, even for a nats:// URL.
    #[arg(long, requires = "nats")]
    pub nats_require_tls: bool,
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// ONNX models this worker proves; the service must serve the same files
    /// with the same --scale/--weights/--batch-size (jobs name the verifying
    /// key they need, and a worker with another one does not prove them).
    #[arg(long, required = true, num_args = 1.., value_name = "MODEL.onnx")]
    pub models: Vec<PathBuf>,
    /// Device: auto, cpu, cuda[:N], metal or wgpu.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Proofs at once (each also uses every core through rayon).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Key cache root (default $ZKINFER_KEYS or ~/.cache/zkinfer/keys);
    /// missing keys are fetched from the fleet's key store and checked.
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Address of the worker's /metrics and /healthz (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub addr: std::net::SocketAddr,
    /// A job's lease in seconds: a worker that dies mid-proof loses the job
    /// to another after this long (it renews the lease every third of it).
    #[arg(long, default_value_t = 30.0)]
    pub ack_wait_s: f64,
    /// Deliveries of a job before it is recorded `failed`.
    #[arg(long, default_value_t = 5)]
    pub max_deliver: i64,
    /// Seconds between heartbeats (the service counts a worker alive for
    /// three of them).
    #[arg(long, default_value_t = 5.0)]
    pub heartbeat_s: f64,
    /// The worker's id (default HOSTNAME-PID).
    #[arg(long)]
    pub id: Option<String>,
    /// Fixed-point scale (as the service's --scale).
    #[arg(long, value_name = "BITS", default_value_t = zkinfer::model::DEFAULT_SCALE_BITS)]
    pub scale: u32,
    /// Weight visibility (as the service's --weights).
    #[arg(long, default_value = "committed", value_parser = crate::parse_visibility)]
    pub weights: WeightVisibility,
    /// One model's weight visibility (as the service's --weights-of).
    #[arg(long, value_name = "MODEL=VISIBILITY", value_parser = crate::parse_weights_of)]
    pub weights_of: Vec<(String, WeightVisibility)>,
    /// Value of a symbolic batch dimension (as the service's --batch-size).
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
}

/// The connection options the flags name.
#[cfg(feature = "fleet")]
pub fn nats_options(args: &NatsArgs, name: &str) -> anyhow::Result<zkinfer::fleet::NatsOptions> {
    use anyhow::Context;
    let url = args
        .nats
        .clone()
        .context("--nats URL is required (the NATS server, e.g. nats://127.0.0.1:4222)")?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let password = args.nats_password.clone().or_else(|| {
        args.nats_user
            .as_ref()
            .and_then(|_| env("ZKINFER_NATS_PASSWORD"))
    });
    let token = match &args.nats_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the NATS token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None if args.nats_creds.is_none() && args.nats_user.is_none() => env("ZKINFER_NATS_TOKEN"),
        None => None,
    };
    Ok(zkinfer::fleet::NatsOptions {
        url,
        creds: args.nats_creds.clone(),
        user: args.nats_user.clone(),
        password,
        token,
        tls_ca: args.nats_tls_ca.clone(),
        tls_cert: args.nats_tls_cert.clone(),
        tls_key: args.nats_tls_key.clone(),
        require_tls: args.nats_require_tls,
        name: name.to_string(),
        ..zkinfer::fleet::NatsOptions::default()
    })
}

#[cfg(not(feature = "fleet"))]
pub fn worker(_: WorkerArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "this zkinfer was built without the `fleet` feature (NATS); rebuild with default \
         features or `--features fleet`"
    )
}

#[cfg(feature = "fleet")]
pub fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context;
    use zkinfer::backend::registry::{self, DeviceChoice};
    use zkinfer::backend::CpuBackend;
    use zkinfer::fleet::worker::{self, WorkerConfig, WorkerMetrics, WorkerModel};
    use zkinfer::fleet::{keys, FleetConfig, Layout};
    use zkinfer::keys::cache::{KeyLocation, KeyParams, Setups};

    if args.workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    let positive = |v: f64, flag: &str| -> anyhow::Result<Duration> {
        if v.is_finite() && v > 0.0 && v < 1e7 {
            Ok(Duration::from_secs_f64(v))
        } else {
            anyhow::bail!("{flag} must be a positive number of seconds, not {v}")
        }
    };
    let ack_wait = positive(args.ack_wait_s, "--ack-wait-s")?;
    let heartbeat = positive(args.heartbeat_s, "--heartbeat-s")?;
    if args.max_deliver < 1 {
        anyhow::bail!("--max-deliver must be at least 1");
    }
    let mut names = std::collections::BTreeMap::new();
    for path in &args.models {
        std::fs::metadata(path)
            .with_context(|| format!("cannot read model file `{}`", path.display()))?;
        let name = zkinfer::keys::cache::model_name(path);
        zkinfer::fleet::model_token(&name)?;
        if let Some(first) = names.insert(name.clone(), path) {
            anyhow::bail!(
                "two models are named `{name}`: {} and {}",
                first.display(),
                path.display()
            );
        }
    }
    let weights_of: std::collections::BTreeMap<String, WeightVisibility> =
        args.weights_of.iter().cloned().collect();
    if let Some(name) = weights_of.keys().find(|n| !names.contains_key(*n)) {
        anyhow::bail!(
            "--weights-of names model `{name}`, which this worker does not load (it loads: {})",
            names.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let id = args.id.clone().unwrap_or_else(worker::default_id);
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        anyhow::bail!("--id `{id}`: use letters, digits, `-` and `_` only");
    }
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
    let root = match args.keys.clone() {
        Some(dir) => dir,
        None => match KeyLocation::default_root() {
            KeyLocation::Root(dir) | KeyLocation::Dir(dir) => dir,
        },
    };
    let options = nats_options(&args.nats, &id)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zkinfer-worker")
        .enable_all()
        .build()?;
    let config = WorkerConfig {
        id: id.clone(),
        slots: args.workers,
        ack_wait,
        max_deliver: args.max_deliver,
        heartbeat,
        device: backend.as_dyn().name().to_string(),
    };
    runtime.block_on(async move {
        let client = options.connect().await?;
        let layout = Layout::open(client, &FleetConfig::default(), false).await?;
        let (store, paths) = (layout.keys.clone(), args.models.clone());
        let handle = tokio::runtime::Handle::current();
        let prepared = tokio::task::spawn_blocking(move || {
            let mut setups = Setups::in_default_dir();
            let mut out = Vec::new();
            for path in &paths {
                let mut params = params;
                if let Some(&v) = weights_of.get(&zkinfer::keys::cache::model_name(path)) {
                    params.visibility = v;
                }
                let p = keys::prepare(
                    CpuBackend::global(),
                    &handle,
                    &store,
                    path,
                    &params,
                    &root,
                    &mut setups,
                )?;
                tracing::info!(
                    "model `{}`: keys from {} in {:.3} s ({})",
                    p.name,
                    p.source.as_str(),
                    p.seconds,
                    p.dir.display()
                );
                out.push(p);
            }
            if let Some(largest) = setups.largest() {
                largest.prepare_pairing_cache();
            }
            anyhow::Ok(out)
        })
        .await??;
        let names: Vec<String> = prepared.iter().map(|p| p.name.clone()).collect();
        let sources: Vec<String> = prepared
            .iter()
            .map(|p| format!("{} keys {}", p.name, p.source.as_str()))
            .collect();
        let models: Vec<WorkerModel> = prepared
            .into_iter()
            .map(|p| WorkerModel::new(p.name, p.pk))
            .collect();
        let metrics = Arc::new(WorkerMetrics::new(config.slots));
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics_server = tokio::spawn(worker::serve_metrics(
            listener,
            metrics.clone(),
            id.clone(),
            names.clone(),
            {
                let mut stop = stop_rx.clone();
                async move {
                    let _ = stop.changed().await;
                }
            },
        ));
        println!(
            "worker {id} ready: {} on {} ({}); metrics on http://{addr}",
            names.join(", "),
            config.device,
            sources.join(", ")
        );
        worker::run(
            layout,
            models,
            backend,
            config,
            metrics,
            zkinfer::service::shutdown_signal(),
        )
        .await?;
        let _ = stop_tx.send(true);
        let _ = metrics_server.await;
        eprintln!("stopped");
        anyhow::Ok(())
    })
}

/// Connects a service to its fleet (`serve --nats`); returns the URL.
#[cfg(feature = "fleet")]
pub async fn attach_fleet(
    service: &std::sync::Arc<zkinfer::service::Service>,
    args: &NatsArgs,
    queue: usize,
    job_ttl_s: u64,
    replicas: usize,
) -> anyhow::Result<String> {
    let options = nats_options(args, "zkinfer-serve")?;
    let config = zkinfer::fleet::FleetConfig {
        queue,
        job_ttl: std::time::Duration::from_secs(job_ttl_s.max(1)),
        replicas: replicas.max(1),
    };
    zkinfer::fleet::client::attach(service, &options, config).await?;
    Ok(options.url)
}
