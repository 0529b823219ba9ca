//! HTTP routes: request parsing, the two tiers, verification, listings, health
//! and metrics, and the middleware that authenticates, times out, counts and
//! audits every request.
//!
//! With API keys, the `authorize` middleware identifies the caller before any
//! body is read (401 `unauthorized`), checks the `metrics` scope (403) and
//! the key's requests per minute (429); the handlers check the model and tier
//! against the key's grants (403 `forbidden`) and admit proofs within its
//! quotas (429 `rate_limited`, before the service's own 503 `queue_full`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::audit::{self, Audit};
use super::auth::{ApiKey, Limited, ProofTicket, Scope};
use super::error::{ApiError, ErrorCode};
use super::pool::{JobError, ProofJob, SubmitError};
use super::{job_routes, ServedModel, Service, Tier};
use crate::proof::{self, ProofError};
use crate::quant;
use crate::zk::model::AnyProof;

/// The service's router (state included).
pub(crate) fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/models/{name}/prove", post(prove))
        .route("/v1/models/{name}/jobs", post(job_routes::submit))
        .route("/v1/jobs/{id}", get(job_routes::status))
        .route("/v1/verify", post(verify))
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(service.config.max_body))
        .layer(middleware::from_fn_with_state(service.clone(), authorize))
        .layer(middleware::from_fn_with_state(service.clone(), observe))
        .with_state(service)
}

/// The route template of a path, for metrics (bounded cardinality).
fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/verify" => "/v1/verify",
        "/v1/models" => "/v1/models",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        p if p.starts_with("/v1/models/") && p.ends_with("/prove") => "/v1/models/{name}/prove",
        p if p.starts_with("/v1/models/") && p.ends_with("/jobs") => "/v1/models/{name}/jobs",
        p if p.starts_with("/v1/jobs/") => "/v1/jobs/{id}",
        _ => "other",
    }
}

/// Times out every request after `--timeout-s` (504 `timeout`), counts it,
/// and writes its audit line.
async fn observe(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = route_of(request.uri().path());
    let method = request.method().clone();
    let audit = Audit::default();
    request.extensions_mut().insert(audit.clone());
    let response = match tokio::time::timeout(service.config.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            format!(
                "no answer within {:.1} s (--timeout-s)",
                service.config.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    };
    let seconds = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    let code = response.extensions().get::<ErrorCode>().copied();
    let metrics = &service.metrics;
    metrics.request(route, status, seconds);
    if let Some(code) = code {
        metrics.error(code.as_str());
    }
    let record = audit.snapshot();
    if let Some(key) = &record.key {
        let rejection = code.map(|c| record.reason.unwrap_or(c.as_str()));
        let proved = record.proved.then_some(record.model.as_deref()).flatten();
        metrics.key_request(key, route, status, rejection, proved);
    }
    audit::emit(method.as_str(), route, status, code, seconds, &record);
    response
}

/// Who is calling: the API key (none when the service has no key file, or
/// on the open routes), and the request's audit record.
#[derive(Clone)]
pub(super) struct Caller {
    pub(super) key: Option<Arc<ApiKey>>,
    pub(super) audit: Audit,
}

impl Caller {
    /// A refusal for `reason`, recorded for the audit line and metrics.
    fn refuse(&self, code: ErrorCode, reason: &'static str, message: String) -> ApiError {
        self.audit.record(|r| r.reason = Some(reason));
        ApiError::new(code, message)
    }

    pub(super) fn check_model(&self, model: &str) -> Result<(), ApiError> {
        match &self.key {
            Some(key) if !key.may_use_model(model) => Err(self.refuse(
                ErrorCode::Forbidden,
                "forbidden_model",
                format!("key `{}` may not use model `{model}`", key.name()),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn check_tier(&self, tier: Tier) -> Result<(), ApiError> {
        match &self.key {
            Some(key) if !key.may_request(tier) => {
                let allowed: Vec<&str> = key.entry.tiers.iter().map(|t| t.as_str()).collect();
                Err(self.refuse(
                    ErrorCode::Forbidden,
                    "forbidden_tier",
                    format!(
                        "key `{}` may not request the `{}` tier (it may request: {})",
                        key.name(),
                        tier.as_str(),
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Within the key's proof quotas: its slot in the service, held until
    /// the proof is answered.
    pub(super) fn admit_proof(&self, service: &Service) -> Result<Option<ProofTicket>, ApiError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        key.usage
            .admit_proof(service.pool.capacity())
            .map(Some)
            .map_err(|l| self.rate_limited(key, &l, service.pool.one_proof_s()))
    }

    fn rate_limited(&self, key: &ApiKey, limited: &Limited, one_proof_s: u64) -> ApiError {
        let (message, retry) = match limited.retry_after_s {
            Some(s) => (
                format!(
                    "key `{}` is over its {} quota ({}); retry in {s} s",
                    key.name(),
                    limited.reason,
                    limited.limit
                ),
                s,
            ),
            None => (
                format!(
                    "key `{}` already has {} proof requests in the service, its {} limit; \
                     retry when one is answered",
                    key.name(),
                    limited.limit,
                    limited.reason
                ),
                one_proof_s,
            ),
        };
        self.refuse(ErrorCode::RateLimited, limited.reason, message)
            .retry_after(retry)
    }
}

/// Identifies the caller by its API key when the service has a key file.
/// `/healthz` is always open, and `/metrics` when the metrics are public;
/// everything else needs a valid key, and `/metrics` the `metrics` scope.
async fn authorize(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let audit = request
        .extensions()
        .get::<Audit>()
        .cloned()
        .unwrap_or_default();
    let mut caller = Caller { key: None, audit };
    let path = request.uri().path();
    let open = path == "/healthz" || (path == "/metrics" && service.config.public_metrics);
    if let (Some(auth), false) = (&service.auth, open) {
        let key = match auth
            .authenticate(request.headers().get(header::AUTHORIZATION))
            .await
        {
            Ok(key) => key,
            Err(failure) => {
                return ApiError::new(ErrorCode::Unauthorized, failure.message()).into_response()
            }
        };
        caller
            .audit
            .record(|r| r.key = Some(key.name().to_string()));
        if path == "/metrics" && !key.has_scope(Scope::Metrics) {
            let message = format!(
                "key `{}` lacks the `metrics` scope that GET /metrics needs",
                key.name()
            );
            return caller
                .refuse(ErrorCode::Forbidden, "forbidden_scope", message)
                .into_response();
        }
        if let Err(limited) = key.usage.request() {
            return caller
                .rate_limited(&key, &limited, service.pool.one_proof_s())
                .into_response();
        }
        caller.key = Some(key);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such route; see GET /v1/models, POST /v1/models/{name}/prove, POST /v1/models/{name}/jobs, GET /v1/jobs/{id}, POST /v1/verify, GET /healthz, GET /metrics",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route exists for another method",
    )
}

/// The body's bytes, or `payload_too_large` / `bad_request`.
pub(super) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {limit} bytes (--max-body)"),
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, rejection.body_text())
        }
    })
}

/// Parses a JSON body: syntax errors are `bad_json`, shape errors `bad_request`.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => ErrorCode::BadRequest,
            _ => ErrorCode::BadJson,
        };
        ApiError::new(code, format!("request body: {e}"))
    })
}

/// The served model `name`, once the caller's key may use it (403 before 404,
/// and the 404 lists only the models the key may use).
pub(super) fn model_named(
    service: &Service,
    caller: &Caller,
    name: &str,
) -> Result<Arc<ServedModel>, ApiError> {
    caller.audit.model(name);
    caller.check_model(name)?;
    service.models.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = service
            .models
            .keys()
            .filter(|m| caller.key.as_ref().is_none_or(|k| k.may_use_model(m)))
            .map(String::as_str)
            .collect();
        ApiError::new(
            ErrorCode::UnknownModel,
            format!("no model `{name}`; served: {}", known.join(", ")),
        )
    })
}

/// The request's `input_data` for the audit line, when `--log-inputs`.
pub(super) fn log_input(service: &Service, caller: &Caller, data: Option<&serde_json::Value>) {
    if let (true, Some(data)) = (service.config.log_inputs, data) {
        let text = data.to_string();
        caller.audit.record(|r| r.input = Some(text));
    }
}

/// The proof-digest field of the audit line: SHA-256 of the proof's bytes.
pub(super) fn proof_digest(bytes: &[u8]) -> String {
    crate::keys::hex(&super::auth::sha256(bytes))
}

/// The lists of `input_data`, as the CLI reads input files: ezkl's
/// `[[...], ...]` (one list per model input, each flattened) or a flat list
/// of numbers (a model with one input).
fn input_lists(data: &serde_json::Value) -> Result<Vec<Vec<f32>>, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadInput, format!("`input_data`: {m}"));
    let list = data.as_array().ok_or_else(|| bad("not a list".into()))?;
    quant::data_lists(list).map_err(|(list, index, value)| {
        let of_list = list.map(|l| format!(" of list {l}")).unwrap_or_default();
        let what = if value.parse::<f64>().is_ok() {
            "is out of range"
        } else {
            "is not a number"
        };
        bad(format!("value {value} at index {index}{of_list} {what}"))
    })
}

/// The quantized input of a request (every input's values, concatenated in
/// the model's order), checked against the model's inputs.
pub(super) fn quantized_input(
    model: &ServedModel,
    data: &serde_json::Value,
) -> Result<Vec<i64>, ApiError> {
    let lists = input_lists(data)?;
    let m = &model.pk.model;
    let bad = |e: String| ApiError::new(ErrorCode::BadInput, e);
    let values = quant::join_inputs(&lists, m).map_err(bad)?;
    quant::check_integer_inputs(&values, m, &model.integer_inputs)
        .map_err(|e| bad(format!("`input_data`: {e}")))?;
    quant::check_input_range(&values, m.scale_bits, m.activation_bits)
        .map_err(|e| bad(format!("`input_data`: {e}")))?;
    Ok(quant::quantize_input(&values, m.scale_bits))
}

/// A shape as JSON, or one shape per tensor when there are several.
pub(super) fn shapes_json(shapes: &[Vec<usize>]) -> serde_json::Value {
    match shapes {
        [one] => serde_json::json!(one),
        _ => serde_json::json!(shapes),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProveRequest {
    input_data: serde_json::Value,
    #[serde(default)]
    tier: Tier,
}

#[derive(Serialize)]
pub(super) struct Timing {
    pub(super) total_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) queue_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) prove_ms: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct ProveResponse {
    pub(super) model: String,
    pub(super) tier: &'static str,
    /// The output, or one list per output when the model has several.
    pub(super) output: serde_json::Value,
    /// Its shape, or one shape per output.
    pub(super) output_shape: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) proof: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) proof_bytes: Option<usize>,
    pub(super) timing: Timing,
}

/// An input the model refuses, in the client's units where it is a bound.
pub(super) fn model_error(e: &crate::model::ModelError, scale_bits: u32) -> ApiError {
    let message = match quant::explain_model_error(e, scale_bits) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    };
    ApiError::new(ErrorCode::BadInput, message)
}

/// An input the model refuses (activation bounds) is the client's; anything
/// else from the prover is ours.
pub(super) fn prove_error(model: &str, scale_bits: u32, e: ProofError) -> ApiError {
    match e {
        ProofError::Model(m) => model_error(&m, scale_bits),
        other => ApiError::new(
            ErrorCode::Internal,
            format!("proving `{model}` failed: {other}"),
        ),
    }
}

async fn prove(
    State(service): State<Arc<Service>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProveResponse>, ApiError> {
    let start = Instant::now();
    let body = body_bytes(body, service.config.max_body)?;
    let model = model_named(&service, &caller, &name)?;
    let request: ProveRequest = parse_json(&body)?;
    caller
        .audit
        .record(|r| r.tier = Some(request.tier.as_str()));
    log_input(&service, &caller, Some(&request.input_data));
    caller.check_tier(request.tier)?;
    let input = quantized_input(&model, &request.input_data)?;
    let scale = model.pk.model.scale_bits;
    let response = match request.tier {
        Tier::Inference => {
            let output = infer(&service, &model, input).await?;
            ProveResponse {
                model: model.name.clone(),
                tier: "inference",
                output: output_json(&model, &output),
                output_shape: shapes_json(&model.output_shapes),
                proof: None,
                proof_bytes: None,
                timing: Timing {
                    total_ms: start.elapsed().as_secs_f64() * 1e3,
                    queue_ms: None,
                    prove_ms: None,
                },
            }
        }
        #[cfg(feature = "fleet")]
        Tier::Proof if service.fleet().is_some() => {
            job_routes::prove_in_fleet(&service, &caller, &model, input, start).await?
        }
        Tier::Proof => {
            let ticket = caller.admit_proof(&service)?;
            let (reply, answer) = oneshot::channel();
            let job = ProofJob {
                model: model.clone(),
                input,
                reply,
                enqueued: Instant::now(),
                ticket,
                on_start: None,
            };
            service.pool.submit(job).map_err(|e| match e {
                SubmitError::QueueFull => ApiError::new(
                    ErrorCode::QueueFull,
                    format!(
                        "all {} workers are busy and the queue of {} is full",
                        service.config.workers, service.config.queue
                    ),
                )
                .retry_after(service.pool.retry_after_s()),
                SubmitError::ShuttingDown => shutting_down(),
            })?;
            let done = answer
                .await
                .map_err(|_| ApiError::new(ErrorCode::Internal, "the proving worker stopped"))?
                .map_err(|e| match e {
                    JobError::ShuttingDown => shutting_down(),
                    JobError::Prove(e) => prove_error(&model.name, scale, e),
                    JobError::Panicked(m) => ApiError::new(
                        ErrorCode::Internal,
                        format!("proving `{}` panicked: {m}", model.name),
                    ),
                })?;
            let digest = proof_digest(&done.bytes);
            caller.audit.record(|r| {
                r.proof_digest = Some(digest);
                r.proved = true;
            });
            ProveResponse {
                model: model.name.clone(),
                tier: "proof",
                output: output_json(&model, done.proof.output()),
                output_shape: shapes_json(&model.output_shapes),
                proof_bytes: Some(done.bytes.len()),
                proof: Some(base64::engine::general_purpose::STANDARD.encode(&done.bytes)),
                timing: Timing {
                    total_ms: start.elapsed().as_secs_f64() * 1e3,
                    queue_ms: Some(done.queue_s * 1e3),
                    prove_ms: Some(done.prove_s * 1e3),
                },
            }
        }
    };
    service.metrics.tier(&model.name, response.tier);
    Ok(Json(response))
}

/// The fast path: integer inference only, never queued behind proofs.
pub(super) async fn infer(
    service: &Service,
    model: &Arc<ServedModel>,
    input: Vec<i64>,
) -> Result<Vec<i64>, ApiError> {
    let _permit = service
        .fast_lane
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorCode::ShuttingDown, "shutting down"))?;
    let m = model.clone();
    let scale = model.pk.model.scale_bits;
    tokio::task::spawn_blocking(move || {
        m.pk.model
            .execute(&input)
            .map(|w| m.pk.model.output_values(&w))
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("inference task: {e}")))?
    .map_err(|e| model_error(&e, scale))
}

/// A quantized output as the client's values: a list, or one per output.
pub(super) fn output_json(model: &ServedModel, output: &[i64]) -> serde_json::Value {
    let m = &model.pk.model;
    quant::lists_json(&quant::dequantize(output, m.scale_bits), m, &m.outputs)
}

pub(super) fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorCode::ShuttingDown,
        "the service is shutting down; queued work is not proved",
    )
    .retry_after(1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    model: String,
    proof: String,
    /// When given, the proof must be for this input.
    #[serde(default)]
    input_data: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct VerifyResponse {
    model: String,
    accepted: bool,
    /// The failed check, when rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The proof's public input (the statement is about it), when accepted:
    /// a list, or one list per input when the model has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<serde_json::Value>,
    /// The proof's public output, when accepted (likewise per output).
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<serde_json::Value>,
    verify_ms: f64,
}

async fn verify(
    State(service): State<Arc<Service>>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let start = Instant::now();
    let body = body_bytes(body, service.config.max_body)?;
    let request: VerifyRequest = parse_json(&body)?;
    let model = model_named(&service, &caller, &request.model)?;
    log_input(&service, &caller, request.input_data.as_ref());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(request.proof.trim())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::BadProofEncoding,
                format!("`proof` is not base64: {e}"),
            )
        })?;
    let digest = proof_digest(&bytes);
    caller.audit.record(|r| r.proof_digest = Some(digest));
    let expected_input = match &request.input_data {
        Some(data) => Some(quantized_input(&model, data)?),
        None => None,
    };
    let _permit = service
        .fast_lane
        .acquire()
        .await
        .map_err(|_| shutting_down())?;
    let m = model.clone();
    let outcome =
        tokio::task::spawn_blocking(move || -> Result<AnyProof, (&'static str, String)> {
            let (proof, checks) = AnyProof::from_bytes_deferred(&bytes)
                .map_err(|e| ("decode", format!("malformed proof: {e}")))?;
            if let Some(input) = expected_input {
                if proof.private_input() {
                    return Err((
                        "input",
                        "the proof keeps its input private: it cannot be checked against \
                         `input_data`"
                            .into(),
                    ));
                }
                if input != proof.input() {
                    return Err((
                        "input",
                        "the proof is for another input than `input_data`".into(),
                    ));
                }
            }
            proof::verdict::verify_any_file(&m.pk.vk, &proof, checks).map_err(|r| {
                let reason = match r.check {
                    "settings" => format!(
                        "{}; model `{}` is served with other settings: verify it with \
                         `zkinfer verify` and the proof's settings, or serve the model with them",
                        r.reason, m.name
                    ),
                    _ => r.reason,
                };
                (r.check, reason)
            })?;
            Ok(proof)
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("verification task: {e}")))?;
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    let scale = model.pk.model.scale_bits;
    Ok(Json(match outcome {
        Ok(proof) => VerifyResponse {
            model: model.name.clone(),
            accepted: true,
            check: None,
            reason: None,
            input: (!proof.private_input()).then(|| {
                quant::lists_json(
                    &quant::dequantize(proof.input(), scale),
                    &model.pk.model,
                    &model.pk.model.inputs,
                )
            }),
            output: Some(output_json(&model, proof.output())),
            verify_ms,
        },
        Err((check, reason)) => VerifyResponse {
            model: model.name.clone(),
            accepted: false,
            check: Some(check),
            reason: Some(reason),
            input: None,
            output: None,
            verify_ms,
        },
    }))
}

#[derive(Serialize)]
struct ModelInfo {
    name: String,
    path: String,
    /// The input's shape, or one shape per input when there are several.
    input_shape: serde_json::Value,
    /// Likewise for the outputs.
    output_shape: serde_json::Value,
    scale_bits: u32,
    weights: proof::WeightVisibility,
    /// Whether its proofs show the input (`public`) or keep it `private`.
    input: proof::InputVisibility,
    keys: &'static str,
    vk_digest: String,
}

async fn models(
    State(service): State<Arc<Service>>,
    Extension(caller): Extension<Caller>,
) -> Json<serde_json::Value> {
    let list: Vec<ModelInfo> = service
        .models
        .values()
        .filter(|m| caller.key.as_ref().is_none_or(|k| k.may_use_model(&m.name)))
        .map(|m| ModelInfo {
            name: m.name.clone(),
            path: m.path.display().to_string(),
            input_shape: shapes_json(&m.input_shapes),
            output_shape: shapes_json(&m.output_shapes),
            scale_bits: m.pk.model.scale_bits,
            weights: m.pk.vk.visibility,
            input: m.input,
            keys: m.keys_origin,
            vk_digest: proof::verdict::vk_fingerprint(&m.pk.vk),
        })
        .collect();
    Json(serde_json::json!({ "models": list }))
}

async fn healthz(State(service): State<Arc<Service>>) -> Response {
    if service.is_shutting_down() {
        return shutting_down().into_response();
    }
    let (queued, busy) = service.pool.load();
    let (jobs_open, jobs_finished) = service.jobs.counts();
    #[cfg_attr(
        not(feature = "fleet"),
        expect(unused_mut, reason = "changed only with a fleet")
    )]
    let mut health = serde_json::json!({
        "status": "ok",
        "models": service.models.len(),
        "workers": service.config.workers,
        "workers_busy": busy,
        "queue_depth": queued,
        "queue_capacity": service.config.queue,
        "jobs": {"open": jobs_open, "finished_kept": jobs_finished},
    });
    #[cfg(feature = "fleet")]
    if let Some(fleet) = service.fleet() {
        health["fleet"] = job_routes::fleet_health(&service, fleet).await;
        if health["fleet"]["status"] != "ok" {
            health["status"] = "degraded".into();
        }
    }
    Json(health).into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    #[cfg(feature = "fleet")]
    if let Some(fleet) = service.fleet() {
        // Refreshes the fleet gauges.
        let _ = job_routes::fleet_health(&service, fleet).await;
    }
    let (queued, busy) = service.pool.load();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        service.metrics.encode(queued, busy),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_data_shapes() {
        let v = |s: &str| input_lists(&serde_json::from_str(s).unwrap());
        assert_eq!(v("[[1, 2.5, -3]]").unwrap(), [vec![1.0, 2.5, -3.0]]);
        assert_eq!(v("[1, 2]").unwrap(), [vec![1.0, 2.0]]);
        assert_eq!(v("[[[1, 2], [3, 4]]]").unwrap(), [vec![1.0, 2.0, 3.0, 4.0]]);
        assert_eq!(v("[[1, 2], [3]]").unwrap(), [vec![1.0, 2.0], vec![3.0]]);
        assert_eq!(v("[]").unwrap(), [Vec::<f32>::new()]);
        for bad in ["{}", "[[1, \"x\"]]", "[[1e300]]", "[null]", "3"] {
            let e = v(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadInput, "{bad}");
        }
    }

    #[test]
    fn routes_are_templates() {
        assert_eq!(route_of("/v1/models/x/prove"), "/v1/models/{name}/prove");
        assert_eq!(route_of("/v1/models"), "/v1/models");
        assert_eq!(route_of("/nope/../x"), "other");
    }
}
