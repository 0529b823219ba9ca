//! `zkinfer serve`: a long-running HTTP prover with risk tiers.
//!
//! Models and their keys are loaded once at start ([`Service::load`], through the
//! key cache of [`crate::keys::cache`]); a model is named by its file stem, or by
//! its folder for a file called `network.onnx`, and two models of one name are an
//! error. Routes ([`router`]):
//!
//! - `POST /v1/models/{name}/prove` with `{"input_data": …, "tier": "inference" |
//!   "proof"}`. `inference` runs the quantized model only and answers its
//!   dequantized output (the fast path: a blocking task beside the runtime, never
//!   behind proofs); `proof` (the default) also proves it and answers the proof
//!   file's bytes in base64 — only this tier pays for proving.
//! - `POST /v1/verify` with `{"model": name, "proof": base64, "input_data"?: …}`:
//!   `accepted`, or the failed `check` and its `reason`.
//! - `POST /v1/models/{name}/jobs` with the body of `prove` (and an optional
//!   `callback_url`): a deferred proof. Answers 202 at once with the output
//!   and a job id (`Idempotency-Key` makes retries find the same job); `GET
//!   /v1/jobs/{id}` gives `queued|proving|done|failed`, timings and, when
//!   done, the proof; the `callback_url` is POSTed the same when it is final
//!   ([`jobs`], `callback.rs`, `job_routes.rs`).
//! - `GET /v1/models`, `GET /healthz`, `GET /metrics` (OpenMetrics text, see
//!   [`metrics`]).
//!
//! With a fleet ([`Service::attach_fleet`], `serve --nats`, feature `fleet`)
//! proofs are not made here: `prove` and jobs are enqueued on NATS JetStream
//! for `zkinfer worker`s ([`crate::fleet`]), `prove` waits for its job within
//! the request's deadline, and every proof read back from NATS is verified
//! against the served model's verifying key and the request's input before it
//! is answered. Without one, jobs run on the local pool and live in memory
//! (the last [`ServiceConfig::job_history`] finished ones are kept).
//!
//! Proofs run on a fixed pool of OS threads ([`pool`]); a proof request is admitted
//! only while fewer than `workers + queue` are unanswered, else it gets 503
//! `queue_full` with `Retry-After` at once. Bodies are limited (`max_body`, 413),
//! every request has a deadline (`timeout`, 504), and every 4xx/5xx is
//! `{"error": {"code", "message"}}` with a stable code ([`error::ErrorCode`]).
//! A connection has `header_timeout` to send a complete request head (and an
//! idle keep-alive connection as long to start its next request); past it the
//! connection is closed without an answer, so slow or silent clients cannot
//! hold connections open (a slow body is bounded by `timeout` instead).
//! On shutdown the listener closes, proofs already running finish and are
//! answered, proof requests still queued are answered 503 `shutting_down`, and
//! [`serve`] returns once every connection is done and every worker has exited.
//!
//! Access control ([`ServiceConfig::auth_keys`], [`auth`]): with a key file,
//! every route but `/healthz` needs `Authorization: Bearer <key>` (401
//! `unauthorized`), a key may use only its models, tiers and scopes (403
//! `forbidden`; `/metrics` needs the `metrics` scope unless
//! [`ServiceConfig::public_metrics`]), and its quotas answer 429 `rate_limited`
//! with `Retry-After`. [`check_exposure`] refuses a non-loopback address
//! without keys unless the operator insists. With [`ServiceConfig::tls`] the
//! listener speaks TLS only (`tls.rs`). [`Service::reload`] re-reads the key
//! file and the certificate (on SIGHUP, from [`serve`]). Every request is
//! written to the audit log (`audit.rs`: target `zkinfer::audit`).
//!
//! This module owns the HTTP surface, the pool and the metrics; it calls the
//! prover ([`crate::proof`]) and the model's integer semantics
//! ([`crate::model::Model::execute`]) and changes neither.

mod audit;
pub mod auth;
mod callback;
mod error;
mod job_routes;
pub mod jobs;
mod metrics;
mod pool;
mod routes;
mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, ErrorCode};
pub use tls::{TlsError, TlsFiles};

use crate::backend::registry::SelectedBackend;
use crate::backend::CpuBackend;
use crate::keys::cache::{self, CacheError, KeyLocation, KeyParams, KeyPolicy, Setups};
use crate::proof::{InputVisibility, ProvingKey, WeightVisibility};
use auth::{Authenticator, KeyFileError, KeyRing};
use metrics::Metrics;
use pool::ProvingPool;
use tls::Tls;

/// What a prove request asks for.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The quantized model's output only.
    Inference,
    /// The output and a proof.
    #[default]
    Proof,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Inference => "inference",
            Tier::Proof => "proof",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inference" => Some(Tier::Inference),
            "proof" => Some(Tier::Proof),
            _ => None,
        }
    }
}

/// Limits and sizes of a service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Proving threads.
    pub workers: usize,
    /// Proof requests that may wait for a worker beyond the busy ones.
    pub queue: usize,
    /// Deadline of every request.
    pub timeout: Duration,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Time to receive a request head (or, on an idle keep-alive connection,
    /// the start of the next one, or a TLS handshake) before the connection is
    /// closed unanswered.
    pub header_timeout: Duration,
    /// The API key file ([`auth`]); `None` answers every client.
    pub auth_keys: Option<PathBuf>,
    /// With keys, leave `GET /metrics` open instead of requiring the `metrics` scope.
    pub public_metrics: bool,
    /// Serve TLS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Write each request's `input_data` to the audit log (off: never).
    pub log_inputs: bool,
    /// Finished deferred jobs remembered in memory (embedded mode; a fleet
    /// keeps them in NATS for its job TTL).
    pub job_history: usize,
    /// Weight visibility per model name, overriding the key parameters'
    /// (`--weights-of`); every name must be a served model's.
    pub weights_of: BTreeMap<String, WeightVisibility>,
    /// Input visibility per model name (`--input-of`); unnamed models'
    /// inputs are public. A private input needs hidden weights.
    pub input_of: BTreeMap<String, InputVisibility>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            workers: 2,
            queue: 16,
            timeout: Duration::from_secs(60),
            max_body: 4 << 20,
            header_timeout: Duration::from_secs(10),
            auth_keys: None,
            public_metrics: false,
            tls: None,
            log_inputs: false,
            job_history: 1024,
            weights_of: BTreeMap::new(),
            input_of: BTreeMap::new(),
        }
    }
}

/// Errors of starting a service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no model to serve")]
    NoModels,
    #[error("two models are named `{name}`: {} and {} (a model is named by its file stem, or its folder for network.onnx); rename one", first.display(), second.display())]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("--workers must be at least 1")]
    NoWorkers,
    #[error("{flag} names model `{name}`, which is not served (served: {served})")]
    UnknownModel {
        flag: &'static str,
        name: String,
        served: String,
    },
    #[error(
        "--input-of {name}=private: a private input needs zero-knowledge proofs; give the \
         model hidden weights (--weights hidden, or --weights-of {name}=hidden)"
    )]
    PrivateInputNeedsZk { name: String },
    #[error("model `{}`: {source}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: Box<CacheError>,
    },
    #[error("cannot start the proving workers: {0}")]
    Threads(#[from] std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("refusing to listen on {addr} without API keys: it is not a loopback address, so anyone who can reach it could use the service; give --auth-keys FILE (see `zkinfer keys add`), or --insecure-no-auth to confirm")]
    OpenToNetwork { addr: SocketAddr },
}

/// Whether a service configured as `config` may listen on `addr`: without
/// API keys only a loopback address is allowed, unless `insecure_no_auth`.
/// Logs a warning for every allowed setup that is weaker than keys over TLS
/// on a public address would be (no keys at all; keys in clear text off the
/// machine).
pub fn check_exposure(
    addr: SocketAddr,
    config: &ServiceConfig,
    insecure_no_auth: bool,
) -> Result<(), ServiceError> {
    let loopback = addr.ip().is_loopback();
    match (&config.auth_keys, loopback) {
        (None, true) => tracing::warn!(
            "no --auth-keys: every process on this machine that can connect to {addr} may \
             use the service"
        ),
        (None, false) if insecure_no_auth => tracing::warn!(
            "--insecure-no-auth: {addr} is not a loopback address and there are no API keys; \
             anyone who can reach it may use the service"
        ),
        (None, false) => return Err(ServiceError::OpenToNetwork { addr }),
        (Some(_), false) if config.tls.is_none() => tracing::warn!(
            "API keys will cross the network in clear text to {addr}: add --tls-cert and \
             --tls-key, or put a TLS proxy in front"
        ),
        (Some(_), _) => {}
    }
    Ok(())
}

/// The outcome of [`Service::reload`]: for each file the service reloads,
/// whether it loaded (the number of keys) or why it did not (the old one
/// stays in use).
#[derive(Debug)]
pub struct ReloadReport {
    pub keys: Option<Result<usize, KeyFileError>>,
    pub tls: Option<Result<(), TlsError>>,
}

impl ReloadReport {
    /// Whether everything that was reloaded loaded.
    pub fn ok(&self) -> bool {
        self.keys.as_ref().is_none_or(Result::is_ok) && self.tls.as_ref().is_none_or(Result::is_ok)
    }
}

/// The key file and TLS pair of a service, loaded before any model so that a
/// bad file is reported at once.
struct Access {
    auth: Option<Authenticator>,
    tls: Option<Tls>,
}

impl Access {
    fn load(config: &ServiceConfig) -> Result<Self, ServiceError> {
        let auth = match &config.auth_keys {
            Some(path) => Some(Authenticator::load(path)?),
            None => None,
        };
        let tls = match &config.tls {
            Some(files) => Some(Tls::load(files)?),
            None => None,
        };
        Ok(Access { auth, tls })
    }
}

/// A model the service holds: its keys and shapes.
#[derive(Debug)]
pub struct ServedModel {
    pub name: String,
    pub path: PathBuf,
    pub pk: ProvingKey,
    /// The shape of each input, in the model's order.
    pub input_shapes: Vec<Vec<usize>>,
    /// Whether each input is of an integer type (its values must be integers).
    pub integer_inputs: Vec<bool>,
    /// The shape of each output, in the model's order.
    pub output_shapes: Vec<Vec<usize>>,
    /// How its keys were obtained at start (`loaded`, `built`, `rebuilt`).
    pub keys_origin: &'static str,
    /// `<name>-<cache digest>`: the key cache folder's name under a cache
    /// root, and the name a fleet shares the keys under (`None` when unknown).
    pub key_folder: Option<String>,
    /// Whether its proofs keep the input private (`--input-of NAME=private`;
    /// set by the service from [`ServiceConfig::input_of`]).
    pub input: InputVisibility,
}

impl ServedModel {
    /// Number of input values a request must carry (all inputs together).
    pub fn input_len(&self) -> usize {
        self.pk.model.input_len()
    }

    /// Builds a served model from a prepared (imported, keyed) one.
    pub fn from_prepared(prepared: cache::PreparedModel) -> Self {
        let imported = &prepared.imported;
        let integer_inputs = (0..imported.input_shapes.len())
            .map(|i| imported.is_integer_input(i))
            .collect();
        ServedModel {
            name: prepared.name,
            path: prepared.path,
            input_shapes: prepared.imported.input_shapes.clone(),
            integer_inputs,
            output_shapes: prepared.imported.output_shapes.clone(),
            keys_origin: prepared.keys.origin.as_str(),
            pk: prepared.keys.pk,
            key_folder: None,
            input: InputVisibility::Public,
        }
    }
}

/// A running service's state: models, pool, metrics, limits.
pub struct Service {
    models: BTreeMap<String, Arc<ServedModel>>,
    config: ServiceConfig,
    pool: ProvingPool,
    metrics: Arc<Metrics>,
    /// Bounds concurrent inference and verification tasks (one per core).
    fast_lane: tokio::sync::Semaphore,
    shutting_down: AtomicBool,
    auth: Option<Authenticator>,
    tls: Option<Tls>,
    /// Deferred jobs of the embedded mode.
    jobs: jobs::LocalJobs,
    #[cfg(feature = "fleet")]
    fleet: std::sync::OnceLock<Arc<crate::fleet::client::Fleet>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Imports every model and loads its keys from the cache (building and caching
    /// any that are missing or unusable), then starts the workers. Names, the
    /// API key file and the TLS files are checked before any model is loaded.
    pub fn load(
        paths: &[PathBuf],
        params: &KeyParams,
        keys: &KeyLocation,
        setups: &mut Setups,
        backend: SelectedBackend,
        config: ServiceConfig,
    ) -> Result<Arc<Self>, ServiceError> {
        let mut names: BTreeMap<String, &PathBuf> = BTreeMap::new();
        for path in paths {
            let name = cache::model_name(path);
            if let Some(first) = names.insert(name.clone(), path) {
                return Err(ServiceError::DuplicateName {
                    name,
                    first: first.clone(),
                    second: path.clone(),
                });
            }
        }
        if let Some(name) = config.weights_of.keys().find(|n| !names.contains_key(*n)) {
            return Err(ServiceError::UnknownModel {
                flag: "--weights-of",
                name: name.clone(),
                served: names.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let access = Access::load(&config)?;
        let mut models = Vec::with_capacity(paths.len());
        for path in paths {
            let mut params = *params;
            if let Some(&visibility) = config.weights_of.get(&cache::model_name(path)) {
                params.visibility = visibility;
            }
            let params = &params;
            let prepared = cache::prepare(
                CpuBackend::global(),
                path,
                params,
                keys,
                setups,
                KeyPolicy::LoadOrBuild,
            )
            .map_err(|source| ServiceError::Model {
                path: path.clone(),
                source: Box::new(source),
            })?;
            tracing::info!(
                "model `{}`: keys {} in {:.3} s ({})",
                prepared.name,
                prepared.keys.origin.as_str(),
                prepared.keys.seconds,
                prepared.keys.dir.display()
            );
            let params = &KeyParams {
                import: prepared.imported.effective_options(&params.import),
                ..*params
            };
            let mut served = ServedModel::from_prepared(prepared);
            served.key_folder = cache::key_dir(path, params, &KeyLocation::Root(PathBuf::new()))
                .ok()
                .and_then(|d| d.file_name().map(|f| f.to_string_lossy().into_owned()));
            models.push(served);
        }
        // Γ₂'s Miller-loop lines and the generators' fixed-base tables are
        // built per setup on first use; build them before the first request.
        for setup in setups.all() {
            setup.warm_caches();
        }
        Self::assemble(models, backend, config, access)
    }

    /// A service over models already loaded.
    pub fn new(
        models: Vec<ServedModel>,
        backend: SelectedBackend,
        config: ServiceConfig,
    ) -> Result<Arc<Self>, ServiceError> {
        let access = Access::load(&config)?;
        Self::assemble(models, backend, config, access)
    }

    fn assemble(
        models: Vec<ServedModel>,
        backend: SelectedBackend,
        config: ServiceConfig,
        access: Access,
    ) -> Result<Arc<Self>, ServiceError> {
        if models.is_empty() {
            return Err(ServiceError::NoModels);
        }
        if config.workers == 0 {
            return Err(ServiceError::NoWorkers);
        }
        if let Some(name) = config
            .input_of
            .keys()
            .find(|n| !models.iter().any(|m| &&m.name == n))
        {
            return Err(ServiceError::UnknownModel {
                flag: "--input-of",
                name: name.clone(),
                served: models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut by_name = BTreeMap::new();
        for mut m in models {
            if let Some(&input) = config.input_of.get(&m.name) {
                if input.is_private() && !m.pk.vk.visibility.is_zk() {
                    return Err(ServiceError::PrivateInputNeedsZk { name: m.name });
                }
                m.input = input;
            }
            if let Some(first) = by_name.get(&m.name) {
                let first: &Arc<ServedModel> = first;
                return Err(ServiceError::DuplicateName {
                    name: m.name.clone(),
                    first: first.path.clone(),
                    second: m.path,
                });
            }
            by_name.insert(m.name.clone(), Arc::new(m));
        }
        let metrics = Arc::new(Metrics::new(config.workers, config.queue));
        let config_history = config.job_history;
        let pool = ProvingPool::start(config.workers, config.queue, backend, metrics.clone())?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let service = Service {
            models: by_name,
            config,
            pool,
            metrics,
            fast_lane: tokio::sync::Semaphore::new(cores),
            shutting_down: AtomicBool::new(false),
            auth: access.auth,
            tls: access.tls,
            jobs: jobs::LocalJobs::new(config_history),
            #[cfg(feature = "fleet")]
            fleet: std::sync::OnceLock::new(),
        };
        if let Some(auth) = &service.auth {
            service.describe_keys(auth.path(), &auth.ring());
        }
        Ok(Arc::new(service))
    }

    /// Logs how many keys were loaded, and warns of keys naming a model that
    /// is not served (a typo would otherwise show only as 403s).
    fn describe_keys(&self, path: &std::path::Path, ring: &KeyRing) {
        tracing::info!("{} API keys from {}", ring.keys().len(), path.display());
        if ring.keys().is_empty() {
            tracing::warn!(
                "{} has no keys: every request but /healthz is refused",
                path.display()
            );
        }
        for key in ring.keys() {
            if let auth::ModelGrant::Only(names) = &key.entry.models {
                for name in names.iter().filter(|n| !self.models.contains_key(*n)) {
                    tracing::warn!(
                        "{}: key `{}` names model `{name}`, which is not served here",
                        path.display(),
                        key.name()
                    );
                }
            }
        }
    }

    /// The API keys in use, when the service has a key file.
    pub fn keys(&self) -> Option<Arc<KeyRing>> {
        self.auth.as_ref().map(Authenticator::ring)
    }

    /// Whether [`Service::reload`] has anything to re-read.
    pub fn has_reloadable_files(&self) -> bool {
        self.auth.is_some() || self.tls.is_some()
    }

    /// Re-reads the API key file and the TLS certificate and key (what SIGHUP
    /// does). Each that loads replaces the one in use for new requests and
    /// connections; each that does not is logged and the old one stays.
    /// Requests in flight keep the key they were admitted with.
    pub fn reload(&self) -> ReloadReport {
        let keys = self.auth.as_ref().map(|auth| {
            let outcome = auth.reload();
            match &outcome {
                Ok(ring) => self.describe_keys(auth.path(), ring),
                Err(e) => tracing::error!(
                    "reload: {e}; the {} keys loaded before stay in use",
                    auth.ring().keys().len()
                ),
            }
            self.metrics.reload("keys", outcome.is_ok());
            outcome.map(|ring| ring.keys().len())
        });
        let tls = self.tls.as_ref().map(|tls| {
            let outcome = tls.reload();
            match &outcome {
                Ok(()) => tracing::info!("reloaded TLS certificate {}", tls.cert_path().display()),
                Err(e) => {
                    tracing::error!("reload: {e}; the certificate loaded before stays in use")
                }
            }
            self.metrics.reload("tls", outcome.is_ok());
            outcome
        });
        ReloadReport { keys, tls }
    }

    /// Sends proofs to a fleet from now on (`serve --nats`): `prove` and
    /// jobs are enqueued for `zkinfer worker`s instead of the local pool.
    /// A service has at most one fleet; a second is refused (returned).
    #[cfg(feature = "fleet")]
    pub fn attach_fleet(
        &self,
        fleet: Arc<crate::fleet::client::Fleet>,
    ) -> Result<(), Arc<crate::fleet::client::Fleet>> {
        self.fleet.set(fleet)
    }

    /// The fleet proofs go to, if any.
    #[cfg(feature = "fleet")]
    pub fn fleet(&self) -> Option<&Arc<crate::fleet::client::Fleet>> {
        self.fleet.get()
    }

    /// The served models by name.
    pub fn models(&self) -> impl Iterator<Item = &ServedModel> {
        self.models.values().map(|m| m.as_ref())
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Stops admitting proof requests and rejects queued ones; running proofs finish.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.pool.close();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// The HTTP routes of a service.
pub fn router(service: Arc<Service>) -> axum::Router {
    routes::router(service)
}

/// Serves `service` on `listener` until `shutdown` completes, then shuts down
/// gracefully (see the module docs) and returns once every worker has exited.
///
/// Each connection is HTTP/1.1 with a request-head deadline
/// ([`ServiceConfig::header_timeout`]), inside TLS when the service has a
/// certificate (the handshake has the same deadline). When the service has a
/// key file or a certificate, SIGHUP calls [`Service::reload`] (Unix).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let app = router(service.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(service.config.header_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let tls = service.tls.as_ref().map(Tls::acceptor);
    // Registered before the first connection is accepted, so a SIGHUP sent
    // once the service answers is never the default (terminating) one.
    let reloader = reload_on_sighup(&service)?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // A connection that failed before it was accepted is the
                    // client's; anything else (out of descriptors) passes.
                    if !is_connection_error(&e) {
                        tracing::warn!("accept failed: {e}; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = hyper_util::service::TowerToHyperService::new(app.clone());
        match &tls {
            None => {
                let connection =
                    connections.watch(http.serve_connection(TokioIo::new(stream), app));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                let (watcher, http) = (connections.watcher(), http.clone());
                let deadline = service.config.header_timeout;
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(deadline, handshake).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!("TLS handshake timed out"),
                    };
                    let connection = http.serve_connection(TokioIo::new(stream), app);
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
        }
    }
    tracing::info!("shutting down: finishing running proofs, rejecting queued ones");
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    service.begin_shutdown();
    drop(listener);
    connections.shutdown().await;
    let joiner = service.clone();
    tokio::task::spawn_blocking(move || joiner.pool.join())
        .await
        .map_err(std::io::Error::other)
}

/// A task that calls [`Service::reload`] on each SIGHUP, when the service has
/// files to reload (Unix).
fn reload_on_sighup(
    service: &Arc<Service>,
) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    if !service.has_reloadable_files() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup())?;
        let service = service.clone();
        Ok(Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                let s = service.clone();
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
        })))
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
