//! `zkinfer worker`: pulls proof jobs for the models it has, proves them,
//! stores each proof once and records the job's state.
//!
//! Per model, one task pulls from the model's durable consumer, one message
//! at a time and only while a proving slot is free (so no message is leased
//! to a worker that cannot start it). For each job:
//!
//! 1. a job already `done`/`failed` (a redelivery after another worker
//!    finished it) is acked and skipped;
//! 2. a job for another version of the model (its verifying-key fingerprint
//!    differs) is released for another worker (`nak`), and on its last
//!    delivery (`max_deliver`) recorded `failed` with the reason;
//! 3. otherwise the record becomes `proving` and the proof runs on a blocking
//!    thread while in-progress acks renew the lease every third of the ack
//!    wait; a worker that dies stops renewing, and JetStream redelivers the
//!    job after the ack wait;
//! 4. the proof is written to the proofs store unless one is there, the
//!    record becomes `done` by compare-and-set, and the message is acked.
//!    A prover error (deterministic) records `failed` at once. When NATS is
//!    unreachable at this point the message is left unacked and redelivered.
//!
//! A heartbeat in `zkinfer_workers` every few seconds tells the service
//! which workers are alive; `/metrics` and `/healthz` are served on the
//! worker's own address.
//!
//! This module owns the worker loop and its metrics; proving is
//! [`crate::proof::prove_on`]'s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, AckKind};
use futures_util::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{consumer_name, put_object_once, subject, FleetError, JobMessage, Layout};
use crate::backend::registry::SelectedBackend;
use crate::proof::{self, ProvingKey};
use crate::service::jobs::{is_job_id, now_ms, JobState};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's id (in records, heartbeats and the NATS connection name).
    pub id: String,
    /// Proofs at once.
    pub slots: usize,
    /// The lease of a job: redelivered when not acked (or renewed) within it.
    pub ack_wait: Duration,
    /// Deliveries of a job before it is given up (`failed`).
    pub max_deliver: i64,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
    /// Device name for heartbeats (`cpu`, `cuda:0`, ...).
    pub device: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: default_id(),
            slots: 1,
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            heartbeat: Duration::from_secs(5),
            device: "cpu".into(),
        }
    }
}

/// `<hostname>-<pid>`.
pub fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{host}-{}", std::process::id())
}

/// A model a worker proves.
#[derive(Debug)]
pub struct WorkerModel {
    pub name: String,
    pub pk: ProvingKey,
    /// Its verifying key's fingerprint (jobs name the one they need).
    pub vk: String,
}

impl WorkerModel {
    pub fn new(name: String, pk: ProvingKey) -> Self {
        let vk = proof::verdict::vk_fingerprint(&pk.vk);
        WorkerModel { name, pk, vk }
    }
}

/// A worker's heartbeat record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: String,
    pub models: Vec<String>,
    pub device: String,
    pub slots: usize,
    pub busy: usize,
    pub proved: u64,
    pub failed: u64,
    pub started_ms: u64,
    pub seen_ms: u64,
    pub heartbeat_s: f64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    model: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 18))
}

/// A worker's metrics (`GET /metrics` on the worker's address).
///
/// - `zkinfer_worker_jobs_total{model,result}`: jobs handled, by result:
///   `done`, `failed`, `duplicate` (already final: a redelivery after
///   another worker finished it), `other_version` (released: this worker
///   has another version of the model), `unstored` (NATS unreachable after
///   proving: left for redelivery), `invalid` (not a job message);
/// - `zkinfer_worker_redeliveries_total{model}`: jobs received again;
/// - `zkinfer_worker_prove_seconds{model}`, `zkinfer_worker_queue_wait_seconds`
///   (acceptance by the service to the start of proving),
///   `zkinfer_worker_store_seconds` (writing proof and record);
/// - gauges `zkinfer_worker_busy`, `zkinfer_worker_slots`.
pub struct WorkerMetrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    redeliveries: Family<ModelLabels, Counter>,
    prove_seconds: HistogramFamily<ModelLabels>,
    queue_wait: Histogram,
    store_seconds: Histogram,
    busy: Gauge,
    proved: AtomicU64,
    failed: AtomicU64,
    busy_now: AtomicUsize,
}

impl WorkerMetrics {
    pub fn new(slots: usize) -> Self {
        let mut registry = Registry::with_prefix("zkinfer_worker");
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Jobs handled, by model and result", jobs.clone());
        let redeliveries = Family::<ModelLabels, Counter>::default();
        registry.register(
            "redeliveries",
            "Jobs received more than once",
            redeliveries.clone(),
        );
        let prove_seconds =
            HistogramFamily::<ModelLabels>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register(
            "prove_seconds",
            "Time proving, by model",
            prove_seconds.clone(),
        );
        let queue_wait = seconds_histogram();
        registry.register(
            "queue_wait_seconds",
            "Time from acceptance by the service to the start of proving",
            queue_wait.clone(),
        );
        let store_seconds = seconds_histogram();
        registry.register(
            "store_seconds",
            "Time writing a proof and its record",
            store_seconds.clone(),
        );
        let busy = Gauge::default();
        registry.register("busy", "Proofs running now", busy.clone());
        let slots_gauge = Gauge::<i64>::default();
        slots_gauge.set(slots as i64);
        registry.register("slots", "Proofs the worker runs at once", slots_gauge);
        WorkerMetrics {
            registry,
            jobs,
            redeliveries,
            prove_seconds,
            queue_wait,
            store_seconds,
            busy,
            proved: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            busy_now: AtomicUsize::new(0),
        }
    }

    fn job(&self, model: &str, result: &'static str) {
        self.jobs
            .get_or_create(&JobLabels {
                model: model.to_string(),
                result,
            })
            .inc();
        match result {
            "done" => self.proved.fetch_add(1, Ordering::Relaxed),
            "failed" => self.failed.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// (busy, proved, failed).
    pub fn counts(&self) -> (usize, u64, u64) {
        (
            self.busy_now.load(Ordering::Relaxed),
            self.proved.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

struct Shared {
    layout: Layout,
    config: WorkerConfig,
    backend: SelectedBackend,
    metrics: Arc<WorkerMetrics>,
    slots: Arc<Semaphore>,
}

/// Runs a worker until `shutdown` completes: then it stops pulling, lets
/// running proofs finish and record, and returns.
pub async fn run(
    layout: Layout,
    models: Vec<WorkerModel>,
    backend: SelectedBackend,
    config: WorkerConfig,
    metrics: Arc<WorkerMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), FleetError> {
    let stream = layout
        .js
        .get_stream(super::STREAM)
        .await
        .map_err(|e| FleetError::nats(format!("stream {}", super::STREAM), e))?;
    let mut consumers = Vec::new();
    for model in &models {
        consumers.push(model_consumer(&stream, &model.name, &config).await?);
    }
    let shared = Arc::new(Shared {
        layout,
        slots: Arc::new(Semaphore::new(config.slots.max(1))),
        config,
        backend,
        metrics,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let heartbeat = tokio::spawn(heartbeats(
        shared.clone(),
        models.iter().map(|m| m.name.clone()).collect(),
        stop_rx.clone(),
    ));
    let mut pullers = tokio::task::JoinSet::new();
    for (model, consumer) in models.into_iter().zip(consumers) {
        pullers.spawn(pull(
            shared.clone(),
            Arc::new(model),
            consumer,
            stop_rx.clone(),
        ));
    }
    while pullers.join_next().await.is_some() {}
    heartbeat.abort();
    // Remove this worker's heartbeat: it is gone, not silent.
    let _ = shared.layout.workers.delete(&shared.config.id).await;
    Ok(())
}

/// The model's durable pull consumer, created or updated to this worker's
/// ack wait and max deliveries.
async fn model_consumer(
    stream: &jetstream::stream::Stream,
    model: &str,
    config: &WorkerConfig,
) -> Result<consumer::PullConsumer, FleetError> {
    let name = consumer_name(model)?;
    let consumer_config = consumer::pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: subject(model)?,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        description: Some(format!("zkinfer workers proving `{model}`")),
        ..Default::default()
    };
    match stream.create_consumer(consumer_config).await {
        Ok(c) => Ok(c),
        Err(create_error) => {
            // An older server refuses to change an existing consumer: use it
            // as it is, and say so.
            let c: consumer::PullConsumer = stream
                .get_consumer(&name)
                .await
                .map_err(|_| FleetError::nats(format!("consumer {name}"), &create_error))?;
            let info = c.cached_info();
            if info.config.ack_wait != config.ack_wait
                || info.config.max_deliver != config.max_deliver
            {
                tracing::warn!(
                    "consumer {name} keeps ack wait {:?} and max deliveries {} (the server \
                     would not change them: {create_error})",
                    info.config.ack_wait,
                    info.config.max_deliver
                );
            }
            Ok(c)
        }
    }
}

/// Pulls one model's jobs while slots are free.
async fn pull(
    shared: Arc<Shared>,
    model: Arc<WorkerModel>,
    consumer: consumer::PullConsumer,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // The consumer's own limit (another worker may have created it with
    // another one, and an older server keeps it).
    let max_deliver = match consumer.cached_info().config.max_deliver {
        n if n > 0 => n,
        _ => i64::MAX,
    };
    // Likewise its lease: renewals follow the shorter of the two.
    let lease = match consumer.cached_info().config.ack_wait {
        d if d.is_zero() => shared.config.ack_wait,
        d => d.min(shared.config.ack_wait),
    };
    tracing::info!(
        "`{}`: lease {:?}, at most {} deliveries",
        model.name,
        lease,
        max_deliver
    );
    let mut running = tokio::task::JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = shared.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let fetched = tokio::select! {
            f = next_message(&consumer) => f,
            _ = stop.changed() => break,
        };
        match fetched {
            Ok(Some(message)) => {
                let (shared, model) = (shared.clone(), model.clone());
                running.spawn(async move {
                    handle(&shared, &model, Limits { max_deliver, lease }, message).await;
                    drop(permit);
                });
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::warn!("pulling `{}` jobs: {e}; retrying in 1 s", model.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        // Reap finished jobs so the set stays small.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// One message, or none within a few seconds.
async fn next_message(
    consumer: &consumer::PullConsumer,
) -> Result<Option<jetstream::Message>, String> {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    match batch.next().await {
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(None),
    }
}

/// A consumer's delivery limits, as the server holds them.
#[derive(Clone, Copy)]
struct Limits {
    max_deliver: i64,
    lease: Duration,
}

async fn handle(shared: &Shared, model: &WorkerModel, limits: Limits, message: jetstream::Message) {
    let metrics = &shared.metrics;
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    if delivered > 1 {
        metrics
            .redeliveries
            .get_or_create(&ModelLabels {
                model: model.name.clone(),
            })
            .inc();
    }
    let job = match serde_json::from_slice::<JobMessage>(&message.payload) {
        Ok(job) if is_job_id(&job.id) && job.model == model.name => job,
        Ok(job) => {
            tracing::warn!(
                "dropping a message on `{}` that is not a valid job (id {:?}, model {:?})",
                model.name,
                job.id,
                job.model
            );
            metrics.job(&model.name, "invalid");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
        Err(e) => {
            tracing::warn!(
                "dropping a message on `{}` that is not a job: {e}",
                model.name
            );
            metrics.job(&model.name, "invalid");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let layout = &shared.layout;
    let id = job.id.as_str();
    let worker_id = shared.config.id.clone();
    let record = match layout.record(id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("job {id}: {e}; releasing it");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
    };
    match &record {
        None => {
            // No record: it expired (older than the job TTL) or was never
            // admitted; nobody can read a proof of it.
            tracing::warn!("job {id} has no record; dropping it");
            metrics.job(&model.name, "invalid");
            let _ = message.ack().await;
            return;
        }
        Some((r, _)) if r.state.is_final() => {
            metrics.job(&model.name, "duplicate");
            let _ = message.ack().await;
            return;
        }
        Some(_) => {}
    }
    if job.vk != model.vk {
        let reason = format!(
            "worker {worker_id} has model `{}` with verifying key {}, but the job needs {}: \
             no worker that received it has this version of the model (or these key settings)",
            model.name, model.vk, job.vk
        );
        let last = delivered >= limits.max_deliver;
        let result = layout
            .update_record(id, |r| {
                r.attempts = delivered.max(0) as u32;
                r.error = Some(reason.clone());
                if last {
                    r.state = JobState::Failed;
                    r.finished_ms = Some(now_ms());
                }
            })
            .await;
        if last && result.is_ok() {
            tracing::warn!("job {id} failed: {reason}");
            metrics.job(&model.name, "failed");
            let _ = message.ack().await;
        } else {
            metrics.job(&model.name, "other_version");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_millis(200))))
                .await;
        }
        return;
    }
    let started = now_ms();
    match layout
        .update_record(id, |r| {
            r.state = JobState::Proving;
            r.started_ms = Some(started);
            r.attempts = delivered.max(0) as u32;
            r.worker = Some(worker_id.clone());
        })
        .await
    {
        Ok(Some((r, false))) if r.state.is_final() => {
            // Finished by another worker meanwhile.
            metrics.job(&model.name, "duplicate");
            let _ = message.ack().await;
            return;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("job {id}: cannot record `proving` ({e}); proving anyway"),
    }
    metrics
        .queue_wait
        .observe(started.saturating_sub(job.created_ms) as f64 / 1e3);
    metrics.busy.inc();
    metrics.busy_now.fetch_add(1, Ordering::Relaxed);
    let outcome = prove_with_lease(shared, model, limits.lease, &job, &message).await;
    metrics.busy.dec();
    metrics.busy_now.fetch_sub(1, Ordering::Relaxed);
    match outcome {
        Ok((bytes, prove_s)) => {
            metrics
                .prove_seconds
                .get_or_create(&ModelLabels {
                    model: model.name.clone(),
                })
                .observe(prove_s);
            let store_start = Instant::now();
            match store(layout, id, &bytes, prove_s).await {
                Ok(()) => {
                    metrics
                        .store_seconds
                        .observe(store_start.elapsed().as_secs_f64());
                    metrics.job(&model.name, "done");
                    if let Err(e) = message.double_ack().await {
                        tracing::warn!("job {id}: proof stored, but the ack failed ({e}); a redelivery will find it done");
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "job {id}: proved, but cannot store it ({e}); leaving it for redelivery"
                    );
                    metrics.job(&model.name, "unstored");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                }
            }
        }
        Err(reason) => {
            tracing::warn!("job {id} failed: {reason}");
            let recorded = layout
                .update_record(id, |r| {
                    r.state = JobState::Failed;
                    r.finished_ms = Some(now_ms());
                    r.error = Some(reason.clone());
                })
                .await;
            match recorded {
                Ok(_) => {
                    metrics.job(&model.name, "failed");
                    let _ = message.ack().await;
                }
                Err(e) => {
                    tracing::warn!(
                        "job {id}: cannot record the failure ({e}); leaving it for redelivery"
                    );
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                }
            }
        }
    }
}

/// Proves on a blocking thread while renewing the message's lease.
async fn prove_with_lease(
    shared: &Shared,
    model: &WorkerModel,
    lease: Duration,
    job: &JobMessage,
    message: &jetstream::Message,
) -> Result<(Vec<u8>, f64), String> {
    let backend = shared.backend;
    let pk = model.pk.clone();
    let input = job.input.clone();
    let private_input = job.private_input;
    let mut task = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            crate::zk::model::prove_any_on_with(&backend, &pk, &input, private_input)
        }));
        let seconds = start.elapsed().as_secs_f64();
        match outcome {
            Ok(Ok(proof)) => Ok((proof.to_bytes(), seconds)),
            Ok(Err(e)) => Err(format!("proving failed: {e}")),
            Err(panic) => Err(format!(
                "the prover panicked: {}",
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            )),
        }
    });
    let renew = (lease / 3).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + renew, renew);
    loop {
        tokio::select! {
            done = &mut task => {
                return done.map_err(|e| format!("the proving task failed: {e}"))?;
            }
            _ = ticker.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!("job {}: lease renewal failed: {e}", job.id);
                }
            }
        }
    }
}

/// Writes the proof (once) and the `done` record, retrying while NATS is
/// briefly unreachable.
async fn store(layout: &Layout, id: &str, bytes: &[u8], prove_s: f64) -> Result<(), FleetError> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            put_object_once(&layout.proofs, id, bytes).await?;
            layout
                .update_record(id, |r| {
                    r.state = JobState::Done;
                    r.finished_ms = Some(now_ms());
                    r.prove_s = Some(prove_s);
                    r.proof_bytes = Some(bytes.len());
                    r.error = None;
                })
                .await
        }
        .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 6 => return Err(e),
            Err(e) => {
                tracing::debug!("job {id}: storing failed ({e}); retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
        }
    }
}

async fn heartbeats(
    shared: Arc<Shared>,
    models: Vec<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let started_ms = now_ms();
    let mut ticker = tokio::time::interval(shared.config.heartbeat);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let (busy, proved, failed) = shared.metrics.counts();
        let beat = Heartbeat {
            id: shared.config.id.clone(),
            models: models.clone(),
            device: shared.config.device.clone(),
            slots: shared.config.slots,
            busy,
            proved,
            failed,
            started_ms,
            seen_ms: now_ms(),
            heartbeat_s: shared.config.heartbeat.as_secs_f64(),
        };
        let bytes = serde_json::to_vec(&beat).expect("heartbeats serialize");
        if let Err(e) = shared
            .layout
            .workers
            .put(&shared.config.id, bytes.into())
            .await
        {
            tracing::debug!("heartbeat: {e}");
        }
    }
}

/// The workers whose heartbeat is recent (within three of their intervals).
pub async fn live_workers(layout: &Layout) -> Result<Vec<Heartbeat>, FleetError> {
    let mut keys = layout
        .workers
        .keys()
        .await
        .map_err(|e| FleetError::nats("listing workers", e))?;
    let mut out = BTreeMap::new();
    let now = now_ms();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        let Ok(Some(bytes)) = layout.workers.get(&key).await else {
            continue;
        };
        let Ok(beat) = serde_json::from_slice::<Heartbeat>(&bytes) else {
            continue;
        };
        let window = (beat.heartbeat_s * 3.0 * 1e3) as u64;
        if now.saturating_sub(beat.seen_ms) <= window.max(1000) {
            out.insert(beat.id.clone(), beat);
        }
    }
    Ok(out.into_values().collect())
}

/// Serves the worker's `/metrics` and `/healthz` on `listener` until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<WorkerMetrics>,
    worker_id: String,
    models: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get;
    let m = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let (m, id, models) = (metrics.clone(), worker_id.clone(), models.clone());
                async move {
                    let (busy, proved, failed) = m.counts();
                    axum::Json(serde_json::json!({
                        "status": "ok", "id": id, "models": models,
                        "busy": busy, "proved": proved, "failed": failed,
                    }))
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The address `zkinfer worker` serves its metrics on by default.
pub fn default_metrics_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
