//! The service's side of the fleet (`zkinfer serve --nats`): submit jobs,
//! read their records, wait for them, fetch their proofs, share keys, and
//! report the fleet's health.
//!
//! Submitting creates the job's record first (KV `create`: an id that
//! exists is the idempotent replay of an earlier request) and then publishes
//! the job with its id as `Nats-Msg-Id`. A full stream refuses the publish
//! ([`SubmitError::QueueFull`]) and the record is removed again. A replayed
//! job that is still `queued` is published again: JetStream drops it as a
//! duplicate when the first publish arrived, and enqueues it when the
//! service died between the two steps.
//!
//! Jobs whose deliveries run out while their workers die (no worker records
//! a failure) are marked `failed` from JetStream's max-deliveries advisory
//! ([`Fleet::watch_abandoned`]).
//!
//! This module trusts nothing it reads: records are parsed and checked by
//! [`Layout::record`], and proofs are returned as bytes for the service to
//! verify.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use futures_util::StreamExt;
use serde::Serialize;

use super::worker::{live_workers, Heartbeat};
use super::{
    consumer_name, read_object, subject, FleetConfig, FleetError, JobMessage, JobRecord, JobState,
    Layout, NatsOptions, STREAM,
};
use crate::service::jobs::now_ms;

/// Proofs larger than this are refused when fetched (256 MiB).
pub const MAX_PROOF_BYTES: usize = 256 << 20;

/// Why a job was not enqueued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the fleet's queue is full ({queue} jobs)")]
    QueueFull { queue: usize },
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// What [`Fleet::submit`] did.
#[derive(Debug)]
pub enum Submitted {
    /// A new job.
    New,
    /// A job of that id existed (an idempotent replay); its record.
    Existing(Box<JobRecord>),
}

/// The fleet as `/healthz` reports it.
#[derive(Debug, Serialize)]
pub struct FleetHealth {
    /// Workers with a recent heartbeat.
    pub workers: Vec<Heartbeat>,
    /// Jobs in the stream (waiting or being proved).
    pub queue_depth: u64,
    pub queue_capacity: usize,
    /// Per model: jobs not yet delivered, and delivered but not acked.
    pub models: Vec<ModelQueue>,
}

#[derive(Debug, Serialize)]
pub struct ModelQueue {
    pub model: String,
    pub pending: u64,
    pub proving: usize,
}

/// A connected fleet.
pub struct Fleet {
    pub layout: Layout,
    config: FleetConfig,
    url: String,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Connects and opens (creating when absent) the fleet's stream and
    /// stores, setting the stream's limits to `config`.
    pub async fn connect(options: &NatsOptions, config: FleetConfig) -> Result<Self, FleetError> {
        let client = options.connect().await?;
        let layout = Layout::open(client, &config, true).await?;
        Ok(Fleet {
            layout,
            config,
            url: options.url.clone(),
        })
    }

    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// Records and enqueues a job (see the module docs).
    pub async fn submit(
        &self,
        record: &JobRecord,
        message: &JobMessage,
    ) -> Result<Submitted, SubmitError> {
        let id = record.id.as_str();
        let subject = subject(&message.model)?;
        let bytes = serde_json::to_vec(record).expect("records serialize");
        let existing = match self.layout.jobs.create(id, bytes.into()).await {
            Ok(_) => None,
            Err(e) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                match self.layout.record(id).await? {
                    Some((r, _)) => Some(r),
                    None => {
                        return Err(FleetError::nats(
                            format!("creating job {id}"),
                            "it exists and cannot be read",
                        )
                        .into())
                    }
                }
            }
            Err(e) => return Err(FleetError::nats(format!("creating job {id}"), e).into()),
        };
        if let Some(r) = &existing {
            if r.state != JobState::Queued || r.request_digest != record.request_digest {
                return Ok(Submitted::Existing(Box::new(r.clone())));
            }
        }
        let payload = serde_json::to_vec(message).expect("jobs serialize");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let published = match self
            .layout
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match published {
            Ok(_) => Ok(match existing {
                Some(r) => Submitted::Existing(Box::new(r)),
                None => Submitted::New,
            }),
            Err(e) => {
                if existing.is_none() {
                    if let Err(d) = self.layout.jobs.delete(id).await {
                        tracing::warn!("job {id}: not enqueued, and its record stays: {d}");
                    }
                }
                if is_stream_full(&e) {
                    Err(SubmitError::QueueFull {
                        queue: self.config.queue,
                    })
                } else {
                    Err(FleetError::nats(format!("enqueueing job {id}"), e).into())
                }
            }
        }
    }

    /// A job's record.
    pub async fn record(&self, id: &str) -> Result<Option<JobRecord>, FleetError> {
        Ok(self.layout.record(id).await?.map(|(r, _)| r))
    }

    /// Waits until a job is final (or its record disappears: `None`).
    /// Follows the record with one watch, and re-reads it every second in
    /// case the watch misses an update across a reconnection (a watch that
    /// ends is opened again).
    pub async fn wait_final(&self, id: &str) -> Result<Option<JobRecord>, FleetError> {
        let mut watch = None;
        loop {
            match self.layout.record(id).await {
                Ok(Some((r, _))) if r.state.is_final() => return Ok(Some(r)),
                Ok(None) => return Ok(None),
                Ok(Some(_)) => {}
                Err(e @ FleetError::BadRecord { .. }) => return Err(e),
                Err(e) => tracing::debug!("waiting for job {id}: {e}"),
            }
            if watch.is_none() {
                watch = self.layout.jobs.watch(id).await.ok();
            }
            let Some(w) = watch.as_mut() else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut ended = false;
            loop {
                match tokio::time::timeout_at(deadline, w.next()).await {
                    Ok(Some(Ok(entry))) => {
                        if let Ok(r) = serde_json::from_slice::<JobRecord>(&entry.value) {
                            if r.id == id && r.state.is_final() {
                                return Ok(Some(r));
                            }
                        }
                    }
                    Ok(Some(Err(_)) | None) => {
                        ended = true;
                        break;
                    }
                    // A second without news: read the record again.
                    Err(_) => break,
                }
            }
            if ended {
                watch = None;
            }
        }
    }

    /// A job's stored proof bytes (untrusted: verify before use).
    pub async fn proof(&self, id: &str) -> Result<Option<Vec<u8>>, FleetError> {
        read_object(&self.layout.proofs, id, MAX_PROOF_BYTES).await
    }

    /// Uploads a model's keys to the fleet's key store unless they are there.
    pub async fn share_keys(
        &self,
        folder: &str,
        pk: &crate::proof::ProvingKey,
    ) -> Result<bool, FleetError> {
        super::keys::upload(&self.layout.keys, folder, pk, false).await
    }

    /// The fleet's workers and queue.
    pub async fn health(&self, models: &[&str]) -> Result<FleetHealth, FleetError> {
        let mut stream = self
            .layout
            .js
            .get_stream(STREAM)
            .await
            .map_err(|e| FleetError::nats(format!("stream {STREAM}"), e))?;
        let info = stream
            .info()
            .await
            .map_err(|e| FleetError::nats(format!("stream {STREAM}"), e))?;
        let queue_depth = info.state.messages;
        let mut queues = Vec::new();
        for model in models {
            let Ok(name) = consumer_name(model) else {
                continue;
            };
            if let Ok(c) = stream.consumer_info(&name).await {
                queues.push(ModelQueue {
                    model: model.to_string(),
                    pending: c.num_pending,
                    proving: c.num_ack_pending,
                });
            }
        }
        Ok(FleetHealth {
            workers: live_workers(&self.layout).await?,
            queue_depth,
            queue_capacity: self.config.queue,
            models: queues,
        })
    }

    /// Marks `failed` the jobs JetStream gives up on after `max_deliver`
    /// deliveries with no worker recording an outcome (every worker that
    /// took them died or overran its lease), and removes their messages
    /// from the stream. Runs until the connection is closed.
    pub async fn watch_abandoned(&self) -> Result<(), FleetError> {
        let client = self.layout.js.client();
        let mut advisories = client
            .subscribe(format!(
                "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{STREAM}.*"
            ))
            .await
            .map_err(|e| FleetError::nats("subscribing to advisories", e))?;
        let stream = self
            .layout
            .js
            .get_stream(STREAM)
            .await
            .map_err(|e| FleetError::nats(format!("stream {STREAM}"), e))?;
        while let Some(advisory) = advisories.next().await {
            #[derive(serde::Deserialize)]
            struct MaxDeliveries {
                stream_seq: u64,
                deliveries: u64,
            }
            let Ok(a) = serde_json::from_slice::<MaxDeliveries>(&advisory.payload) else {
                continue;
            };
            let Ok(message) = stream.get_raw_message(a.stream_seq).await else {
                continue;
            };
            let Ok(job) = serde_json::from_slice::<JobMessage>(&message.payload) else {
                continue;
            };
            if !crate::service::jobs::is_job_id(&job.id) {
                continue;
            }
            let reason = format!(
                "delivered {} times without an outcome: every worker that took it stopped \
                 (died, or exceeded its ack wait without renewing it)",
                a.deliveries
            );
            match self
                .layout
                .update_record(&job.id, |r| {
                    r.state = JobState::Failed;
                    r.finished_ms = Some(now_ms());
                    r.error = Some(reason.clone());
                })
                .await
            {
                Ok(Some((_, true))) => tracing::warn!("job {} failed: {reason}", job.id),
                Ok(_) => {}
                Err(e) => tracing::warn!("job {}: cannot record its failure: {e}", job.id),
            }
            let _ = stream.delete_message(a.stream_seq).await;
        }
        Ok(())
    }
}

/// Connects `service` to a fleet: checks that every model name can be a
/// subject, opens the stream and stores (setting the stream's limits),
/// shares every model's keys, watches for abandoned jobs, and attaches the
/// fleet so that proofs go to it from now on.
pub async fn attach(
    service: &Arc<crate::service::Service>,
    options: &NatsOptions,
    config: FleetConfig,
) -> Result<Arc<Fleet>, FleetError> {
    for m in service.models() {
        super::model_token(&m.name)?;
    }
    let fleet = Arc::new(Fleet::connect(options, config).await?);
    for m in service.models() {
        if let Some(folder) = &m.key_folder {
            match fleet.share_keys(folder, &m.pk).await {
                Ok(true) => tracing::info!("shared the keys of `{}` as {folder}", m.name),
                Ok(false) => {}
                Err(e) => tracing::warn!("cannot share the keys of `{}`: {e}", m.name),
            }
        }
    }
    let watcher = fleet.clone();
    tokio::spawn(async move {
        if let Err(e) = watcher.watch_abandoned().await {
            tracing::warn!("not watching for abandoned jobs: {e}");
        }
    });
    service
        .attach_fleet(fleet.clone())
        .map_err(|_| FleetError::Nats {
            what: "attaching the fleet".into(),
            reason: "the service already has one".into(),
        })?;
    Ok(fleet)
}

/// Whether a publish was refused because the stream is at its limits.
fn is_stream_full(e: &async_nats::jetstream::context::PublishError) -> bool {
    if e.kind() != PublishErrorKind::Other {
        return false;
    }
    let source =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>());
    match source {
        // 10077: maximum messages exceeded; 10078: maximum bytes; the
        // description is the fallback for servers that send other codes.
        Some(js) => {
            let code = js.error_code().0;
            code == 10077
                || code == 10078
                || js.to_string().contains("maximum messages")
                || js.to_string().contains("maximum bytes")
        }
        None => e.to_string().contains("maximum messages"),
    }
}
