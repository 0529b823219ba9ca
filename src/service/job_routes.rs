//! The deferred tier's routes (`POST /v1/models/{name}/jobs`, `GET
//! /v1/jobs/{id}`), proving through a fleet for `prove`, and the fleet's
//! part of `/healthz`.
//!
//! A job's proof read back from a fleet is untrusted: before it is answered
//! (or sent to a callback) it must decode, verify under the served model's
//! verifying key, and be for the job's input (its request digest); a proof
//! that fails is never answered.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::callback::{self, CallbackUrl};
use super::error::{ApiError, ErrorCode};
use super::jobs::{self, JobRecord, JobState};
use super::pool::{JobError, ProofJob, SubmitError};
use super::routes::{
    body_bytes, infer, log_input, model_named, output_json, parse_json, quantized_input,
    shapes_json, shutting_down, Caller,
};
use super::{ServedModel, Service, Tier};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    input_data: serde_json::Value,
    /// Accepted for the same body as `prove`; only `proof` makes sense.
    #[serde(default)]
    tier: Tier,
    #[serde(default)]
    callback_url: Option<String>,
}

#[derive(Serialize)]
pub(super) struct JobTiming {
    /// Acceptance, in ms since the Unix epoch.
    created_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prove_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_ms: Option<f64>,
}

/// A job as `GET /v1/jobs/{id}` answers it (and as its callback receives it).
#[derive(Serialize)]
pub(super) struct JobView {
    id: String,
    model: String,
    state: JobState,
    output: serde_json::Value,
    output_shape: serde_json::Value,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof_bytes: Option<usize>,
    timing: JobTiming,
}

fn view(model: &ServedModel, record: &JobRecord, proof: Option<&[u8]>) -> JobView {
    JobView {
        id: record.id.clone(),
        model: record.model.clone(),
        state: record.state,
        output: record.output.clone(),
        output_shape: shapes_json(&model.output_shapes),
        attempts: record.attempts,
        worker: record.worker.clone(),
        error: record.error.clone(),
        proof: proof.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        proof_bytes: proof.map(<[u8]>::len).or(record.proof_bytes),
        timing: JobTiming {
            created_ms: record.created_ms,
            queue_ms: record.queue_ms(),
            prove_ms: record.prove_s.map(|s| s * 1e3),
            total_ms: record.total_ms(),
        },
    }
}

/// The answer to a job submission.
#[derive(Serialize)]
struct Accepted {
    id: String,
    model: String,
    state: JobState,
    output: serde_json::Value,
    output_shape: serde_json::Value,
    status_url: String,
    /// Whether this is an earlier job answered again (same `Idempotency-Key`).
    replayed: bool,
    timing: super::routes::Timing,
}

fn accepted(model: &ServedModel, record: &JobRecord, replayed: bool, start: Instant) -> Response {
    let body = Accepted {
        id: record.id.clone(),
        model: record.model.clone(),
        state: record.state,
        output: record.output.clone(),
        output_shape: shapes_json(&model.output_shapes),
        status_url: format!("/v1/jobs/{}", record.id),
        replayed,
        timing: super::routes::Timing {
            total_ms: start.elapsed().as_secs_f64() * 1e3,
            queue_ms: None,
            prove_ms: None,
        },
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// An earlier job under the same id: the same request is a replay, another
/// is a conflict.
fn replay(
    model: &ServedModel,
    existing: &JobRecord,
    digest: &str,
    start: Instant,
) -> Result<Response, ApiError> {
    if existing.request_digest != digest {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            format!(
                "this `Idempotency-Key` was used for another request (job {}); use a new key \
                 for a new request",
                existing.id
            ),
        ));
    }
    Ok(accepted(model, existing, true, start))
}

/// `POST /v1/models/{name}/jobs`.
pub(super) async fn submit(
    State(service): State<Arc<Service>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let body = body_bytes(body, service.config.max_body)?;
    let model = model_named(&service, &caller, &name)?;
    let request: JobRequest = parse_json(&body)?;
    caller.audit.record(|r| r.tier = Some("proof"));
    log_input(&service, &caller, Some(&request.input_data));
    if request.tier != Tier::Proof {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "a job is a deferred proof: `tier` must be `proof` or absent (the inference tier \
             answers at once from POST /v1/models/{name}/prove)",
        ));
    }
    caller.check_tier(Tier::Proof)?;
    let callback = request
        .callback_url
        .as_deref()
        .map(callback::parse)
        .transpose()
        .map_err(|m| ApiError::new(ErrorCode::BadRequest, m))?;
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| jobs::check_idempotency_key(v.as_bytes()))
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let input = quantized_input(&model, &request.input_data)?;
    let owner = caller.key.as_ref().map(|k| k.name().to_string());
    let id = jobs::job_id(owner.as_deref(), &model.name, idempotency_key);
    let callback_text = callback.as_ref().map(ToString::to_string);
    let digest = jobs::request_digest(&model.name, &input, callback_text.as_deref());
    // A replay is answered before any work (and without a quota slot).
    if idempotency_key.is_some() {
        if let Some(existing) = existing_record(&service, &id).await? {
            return replay(&model, &existing, &digest, start);
        }
    }
    let output = infer(&service, &model, input.clone()).await?;
    let mut record = JobRecord::queued(
        id.clone(),
        &model.name,
        digest.clone(),
        owner,
        output_json(&model, &output),
        callback_text,
    );
    if model.input.is_private() {
        record.expected_output = Some(jobs::output_digest(&output));
    }
    let ticket = caller.admit_proof(&service)?;
    #[cfg(feature = "fleet")]
    if let Some(fleet) = service.fleet() {
        let message = crate::fleet::JobMessage {
            id: id.clone(),
            model: model.name.clone(),
            vk: crate::proof::verdict::vk_fingerprint(&model.pk.vk),
            input,
            created_ms: record.created_ms,
            private_input: model.input.is_private(),
        };
        return match fleet.submit(&record, &message).await {
            Ok(crate::fleet::client::Submitted::New) => {
                service.metrics.job_submitted(&model.name);
                service.metrics.tier(&model.name, "deferred");
                if callback.is_some() || ticket.is_some() {
                    let (service, model, fleet) = (service.clone(), model.clone(), fleet.clone());
                    tokio::spawn(async move {
                        let final_record = fleet.wait_final(&id).await;
                        drop(ticket);
                        if let (Some(url), Ok(Some(mut record))) = (callback, final_record) {
                            let proof = match record.state {
                                JobState::Done => {
                                    match fleet_proof(&service, &fleet, &model, &record).await {
                                        Ok((bytes, output)) => {
                                            record.output = output_json(&model, &output);
                                            Some(bytes)
                                        }
                                        Err(e) => {
                                            // Never sent: the callback gets the failure.
                                            record.state = JobState::Failed;
                                            record.error = Some(e.message);
                                            None
                                        }
                                    }
                                }
                                _ => None,
                            };
                            send_callback(&service, &url, &model, &record, proof.as_deref()).await;
                        }
                    });
                }
                Ok(accepted(&model, &record, false, start))
            }
            Ok(crate::fleet::client::Submitted::Existing(existing)) => {
                replay(&model, &existing, &digest, start)
            }
            Err(crate::fleet::client::SubmitError::QueueFull { queue }) => Err(ApiError::new(
                ErrorCode::QueueFull,
                format!("the fleet's queue of {queue} jobs is full"),
            )
            .retry_after(1)),
            Err(crate::fleet::client::SubmitError::Fleet(e)) => Err(fleet_unavailable(&e)),
        };
    }
    if let Err(existing) = service.jobs.insert(record.clone()) {
        return replay(&model, &existing, &digest, start);
    }
    let (reply, answer) = oneshot::channel();
    let started = {
        let service = service.clone();
        let id = id.clone();
        Box::new(move || service.jobs.started(&id)) as Box<dyn FnOnce() + Send>
    };
    let job = ProofJob {
        model: model.clone(),
        input,
        reply,
        enqueued: Instant::now(),
        ticket,
        on_start: Some(started),
    };
    if let Err(e) = service.pool.submit(job) {
        service.jobs.remove(&id);
        return Err(match e {
            SubmitError::QueueFull => ApiError::new(
                ErrorCode::QueueFull,
                format!(
                    "all {} workers are busy and the queue of {} is full",
                    service.config.workers, service.config.queue
                ),
            )
            .retry_after(service.pool.retry_after_s()),
            SubmitError::ShuttingDown => shutting_down(),
        });
    }
    service.metrics.job_submitted(&model.name);
    service.metrics.tier(&model.name, "deferred");
    {
        let (service, model) = (service.clone(), model.clone());
        tokio::spawn(async move {
            let outcome = match answer.await {
                Ok(Ok(done)) => Ok((done.bytes, done.prove_s)),
                Ok(Err(JobError::ShuttingDown)) => {
                    Err("the service shut down before proving it".to_string())
                }
                Ok(Err(JobError::Prove(e))) => Err(format!("proving failed: {e}")),
                Ok(Err(JobError::Panicked(m))) => Err(format!("the prover panicked: {m}")),
                Err(_) => Err("the proving worker stopped".to_string()),
            };
            let Some(job) = service.jobs.finish(&id, outcome) else {
                return;
            };
            if let Some(url) = callback {
                send_callback(
                    &service,
                    &url,
                    &model,
                    &job.record,
                    job.proof.as_deref().map(|p| p.as_slice()),
                )
                .await;
            }
        });
    }
    Ok(accepted(&model, &record, false, start))
}

/// The record of job `id` where jobs live (fleet or memory).
async fn existing_record(service: &Service, id: &str) -> Result<Option<JobRecord>, ApiError> {
    #[cfg(feature = "fleet")]
    if let Some(fleet) = service.fleet() {
        return fleet.record(id).await.map_err(|e| fleet_unavailable(&e));
    }
    Ok(service.jobs.get(id).map(|j| j.record))
}

/// POSTs a final job to its callback URL (with retries), counting the result.
async fn send_callback(
    service: &Service,
    url: &CallbackUrl,
    model: &ServedModel,
    record: &JobRecord,
    proof: Option<&[u8]>,
) {
    let body = serde_json::to_vec(&view(model, record, proof)).expect("views serialize");
    match callback::deliver(url, &body).await {
        Ok(attempts) => {
            tracing::info!(
                "job {}: callback delivered to {url} ({attempts} attempts)",
                record.id
            );
            service.metrics.callback("delivered");
        }
        Err(e) => {
            tracing::warn!("job {}: callback to {url} failed: {e}", record.id);
            service.metrics.callback("failed");
        }
    }
}

/// `GET /v1/jobs/{id}`: a job of this caller (another key's job is not
/// found), with its proof when done.
pub(super) async fn status(
    State(service): State<Arc<Service>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let unknown = || {
        ApiError::new(
            ErrorCode::UnknownJob,
            format!(
                "no job `{id}` (ids are 32 hex digits; finished jobs are kept for a bounded \
                 time, see the README)"
            ),
        )
    };
    if !jobs::is_job_id(&id) {
        return Err(unknown());
    }
    let owner = caller.key.as_ref().map(|k| k.name().to_string());
    #[cfg(feature = "fleet")]
    if let Some(fleet) = service.fleet() {
        let record = fleet
            .record(&id)
            .await
            .map_err(|e| fleet_unavailable(&e))?
            .filter(|r| r.owner == owner)
            .ok_or_else(unknown)?;
        let mut record = record;
        let model = model_named(&service, &caller, &record.model)?;
        let proof = match record.state {
            JobState::Done => {
                let (bytes, output) = fleet_proof(&service, fleet, &model, &record).await?;
                // The output the verified proof states, not the stored one.
                record.output = output_json(&model, &output);
                Some(bytes)
            }
            _ => None,
        };
        return Ok(Json(view(&model, &record, proof.as_deref())));
    }
    let job = service
        .jobs
        .get(&id)
        .filter(|j| j.record.owner == owner)
        .ok_or_else(unknown)?;
    let model = model_named(&service, &caller, &job.record.model)?;
    Ok(Json(view(
        &model,
        &job.record,
        job.proof.as_deref().map(|p| p.as_slice()),
    )))
}

#[cfg(feature = "fleet")]
/// Checks proof bytes read from outside the service: they decode, verify
/// under `model`'s verifying key, and prove the request `record` digests.
/// Returns the proof's output.
async fn check_untrusted_proof(
    service: &Service,
    model: &Arc<ServedModel>,
    record: &JobRecord,
    bytes: Vec<u8>,
) -> Result<(Vec<u8>, Vec<i64>), String> {
    let _permit = service
        .fast_lane
        .acquire()
        .await
        .map_err(|_| "shutting down".to_string())?;
    let m = model.clone();
    let record = record.clone();
    tokio::task::spawn_blocking(move || {
        let (proof, checks) = crate::zk::model::AnyProof::from_bytes_deferred(&bytes)
            .map_err(|e| format!("malformed proof: {e}"))?;
        crate::proof::verdict::verify_any_file(&m.pk.vk, &proof, checks)
            .map_err(|r| format!("check `{}` failed: {}", r.check, r.reason))?;
        jobs::check_proof_matches(
            &record,
            m.input.is_private(),
            proof.private_input(),
            proof.input(),
            proof.output(),
        )?;
        Ok((bytes, proof.output().to_vec()))
    })
    .await
    .map_err(|e| format!("verification task: {e}"))?
}

#[cfg(feature = "fleet")]
fn fleet_unavailable(e: &crate::fleet::FleetError) -> ApiError {
    ApiError::new(
        ErrorCode::FleetUnavailable,
        format!("the proving fleet cannot be reached: {e}"),
    )
    .retry_after(1)
}

/// The verified proof of a `done` fleet job, and the output it proves.
#[cfg(feature = "fleet")]
async fn fleet_proof(
    service: &Service,
    fleet: &crate::fleet::client::Fleet,
    model: &Arc<ServedModel>,
    record: &JobRecord,
) -> Result<(Vec<u8>, Vec<i64>), ApiError> {
    let bytes = fleet
        .proof(&record.id)
        .await
        .map_err(|e| fleet_unavailable(&e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                format!(
                    "job {} is done but its proof is not in the store (expired?)",
                    record.id
                ),
            )
        })?;
    check_untrusted_proof(service, model, record, bytes)
        .await
        .map_err(|reason| {
            tracing::error!("job {}: the stored proof was rejected: {reason}", record.id);
            ApiError::new(
                ErrorCode::Internal,
                format!(
                    "job {}: the proof in the fleet's store was rejected ({reason}); it is \
                     not answered",
                    record.id
                ),
            )
        })
}

/// `prove` through the fleet: enqueue, wait within the request's deadline
/// (the `observe` middleware answers 504 past it; the job still completes),
/// then answer the verified proof.
#[cfg(feature = "fleet")]
pub(super) async fn prove_in_fleet(
    service: &Arc<Service>,
    caller: &Caller,
    model: &Arc<ServedModel>,
    input: Vec<i64>,
    start: Instant,
) -> Result<super::routes::ProveResponse, ApiError> {
    let fleet = service.fleet().expect("called with a fleet");
    let _ticket = caller.admit_proof(service)?;
    let owner = caller.key.as_ref().map(|k| k.name().to_string());
    let id = jobs::job_id(owner.as_deref(), &model.name, None);
    let digest = jobs::request_digest(&model.name, &input, None);
    let mut record = JobRecord::queued(
        id.clone(),
        &model.name,
        digest,
        owner,
        serde_json::Value::Null,
        None,
    );
    if model.input.is_private() {
        let output = super::routes::infer(service, model, input.clone()).await?;
        record.expected_output = Some(jobs::output_digest(&output));
    }
    let message = crate::fleet::JobMessage {
        id: id.clone(),
        model: model.name.clone(),
        vk: crate::proof::verdict::vk_fingerprint(&model.pk.vk),
        input,
        created_ms: record.created_ms,
        private_input: model.input.is_private(),
    };
    match fleet.submit(&record, &message).await {
        Ok(_) => {}
        Err(crate::fleet::client::SubmitError::QueueFull { queue }) => {
            return Err(ApiError::new(
                ErrorCode::QueueFull,
                format!("the fleet's queue of {queue} jobs is full"),
            )
            .retry_after(1))
        }
        Err(crate::fleet::client::SubmitError::Fleet(e)) => return Err(fleet_unavailable(&e)),
    }
    let record = fleet
        .wait_final(&id)
        .await
        .map_err(|e| fleet_unavailable(&e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                format!("job {id} disappeared from the fleet"),
            )
        })?;
    if record.state == JobState::Failed {
        return Err(ApiError::new(
            ErrorCode::Internal,
            format!(
                "proving `{}` in the fleet failed: {}",
                model.name,
                record.error.as_deref().unwrap_or("no reason recorded")
            ),
        ));
    }
    let bytes = fleet
        .proof(&id)
        .await
        .map_err(|e| fleet_unavailable(&e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                format!("job {id} is done but its proof is not in the store"),
            )
        })?;
    let (bytes, output) = check_untrusted_proof(service, model, &record, bytes)
        .await
        .map_err(|reason| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the fleet's proof of job {id} was rejected: {reason}"),
            )
        })?;
    let digest = super::routes::proof_digest(&bytes);
    caller.audit.record(|r| {
        r.proof_digest = Some(digest);
        r.proved = true;
    });
    Ok(super::routes::ProveResponse {
        model: model.name.clone(),
        tier: "proof",
        output: output_json(model, &output),
        output_shape: shapes_json(&model.output_shapes),
        proof_bytes: Some(bytes.len()),
        proof: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
        timing: super::routes::Timing {
            total_ms: start.elapsed().as_secs_f64() * 1e3,
            queue_ms: record.queue_ms(),
            prove_ms: record.prove_s.map(|s| s * 1e3),
        },
    })
}

/// The fleet's part of `/healthz`: workers seen recently and the queue, or
/// why they cannot be read.
#[cfg(feature = "fleet")]
pub(super) async fn fleet_health(
    service: &Service,
    fleet: &crate::fleet::client::Fleet,
) -> serde_json::Value {
    let names: Vec<&str> = service.models.keys().map(String::as_str).collect();
    let health = tokio::time::timeout(std::time::Duration::from_secs(3), fleet.health(&names));
    match health.await {
        Ok(Ok(h)) => {
            service.metrics.fleet(h.queue_depth, h.workers.len());
            let status = if h.workers.is_empty() {
                "no_workers"
            } else {
                "ok"
            };
            serde_json::json!({
                "status": status,
                "workers_seen": h.workers.len(),
                "workers": h.workers,
                "queue_depth": h.queue_depth,
                "queue_capacity": h.queue_capacity,
                "models": h.models,
            })
        }
        Ok(Err(e)) => serde_json::json!({"status": "unreachable", "error": e.to_string()}),
        Err(_) => {
            serde_json::json!({"status": "unreachable", "error": "no answer from NATS within 3 s"})
        }
    }
}
