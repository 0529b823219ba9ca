//! HTTP routes: request parsing, the two tiers, verification, listings, health
//! and metrics, and the middleware that times out and counts every request.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::error::{ApiError, ErrorCode};
use super::pool::{JobError, ProofJob, SubmitError};
use super::{ServedModel, Service};
use crate::proof::{self, ModelProof, ProofError};
use crate::quant;

/// The service's router (state included).
pub(crate) fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/models/{name}/prove", post(prove))
        .route("/v1/verify", post(verify))
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(service.config.max_body))
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
        _ => "other",
    }
}

/// Times out every request after `--timeout-s` (504 `timeout`) and counts it.
async fn observe(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_of(request.uri().path());
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
    let metrics = &service.metrics;
    metrics.request(
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        metrics.error(code.as_str());
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such route; see GET /v1/models, POST /v1/models/{name}/prove, POST /v1/verify, GET /healthz, GET /metrics",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route exists for another method",
    )
}

/// The body's bytes, or `payload_too_large` / `bad_request`.
fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
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
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => ErrorCode::BadRequest,
            _ => ErrorCode::BadJson,
        };
        ApiError::new(code, format!("request body: {e}"))
    })
}

fn model_named(service: &Service, name: &str) -> Result<Arc<ServedModel>, ApiError> {
    service.models.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = service.models.keys().map(String::as_str).collect();
        ApiError::new(
            ErrorCode::UnknownModel,
            format!("no model `{name}`; served: {}", known.join(", ")),
        )
    })
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
fn quantized_input(model: &ServedModel, data: &serde_json::Value) -> Result<Vec<i64>, ApiError> {
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
fn shapes_json(shapes: &[Vec<usize>]) -> serde_json::Value {
    match shapes {
        [one] => serde_json::json!(one),
        _ => serde_json::json!(shapes),
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Tier {
    /// The quantized model's output only.
    Inference,
    /// The output and a proof.
    #[default]
    Proof,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProveRequest {
    input_data: serde_json::Value,
    #[serde(default)]
    tier: Tier,
}

#[derive(Serialize)]
struct Timing {
    total_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prove_ms: Option<f64>,
}

#[derive(Serialize)]
struct ProveResponse {
    model: String,
    tier: &'static str,
    /// The output, or one list per output when the model has several.
    output: serde_json::Value,
    /// Its shape, or one shape per output.
    output_shape: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof_bytes: Option<usize>,
    timing: Timing,
}

/// An input the model refuses, in the client's units where it is a bound.
fn model_error(e: &crate::model::ModelError, scale_bits: u32) -> ApiError {
    let message = match quant::explain_model_error(e, scale_bits) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    };
    ApiError::new(ErrorCode::BadInput, message)
}

/// An input the model refuses (activation bounds) is the client's; anything
/// else from the prover is ours.
fn prove_error(model: &str, scale_bits: u32, e: ProofError) -> ApiError {
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
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProveResponse>, ApiError> {
    let start = Instant::now();
    let body = body_bytes(body, service.config.max_body)?;
    let model = model_named(&service, &name)?;
    let request: ProveRequest = parse_json(&body)?;
    let input = quantized_input(&model, &request.input_data)?;
    let scale = model.pk.model.scale_bits;
    let response = match request.tier {
        Tier::Inference => {
            // The fast path: integer inference only, never queued behind proofs.
            let _permit = service
                .fast_lane
                .acquire()
                .await
                .map_err(|_| ApiError::new(ErrorCode::ShuttingDown, "shutting down"))?;
            let m = model.clone();
            let output = tokio::task::spawn_blocking(move || {
                m.pk.model
                    .execute(&input)
                    .map(|w| m.pk.model.output_values(&w))
            })
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("inference task: {e}")))?
            .map_err(|e| model_error(&e, scale))?;
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
        Tier::Proof => {
            let (reply, answer) = oneshot::channel();
            let job = ProofJob {
                model: model.clone(),
                input,
                reply,
                enqueued: Instant::now(),
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
            ProveResponse {
                model: model.name.clone(),
                tier: "proof",
                output: output_json(&model, &done.proof.output),
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

/// A quantized output as the client's values: a list, or one per output.
fn output_json(model: &ServedModel, output: &[i64]) -> serde_json::Value {
    let m = &model.pk.model;
    quant::lists_json(&quant::dequantize(output, m.scale_bits), m, &m.outputs)
}

fn shutting_down() -> ApiError {
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
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let start = Instant::now();
    let body = body_bytes(body, service.config.max_body)?;
    let request: VerifyRequest = parse_json(&body)?;
    let model = model_named(&service, &request.model)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(request.proof.trim())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::BadProofEncoding,
                format!("`proof` is not base64: {e}"),
            )
        })?;
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
        tokio::task::spawn_blocking(move || -> Result<ModelProof, (&'static str, String)> {
            let (proof, checks) = ModelProof::from_bytes_deferred(&bytes)
                .map_err(|e| ("decode", format!("malformed proof: {e}")))?;
            if let Some(input) = expected_input {
                if input != proof.input {
                    return Err((
                        "input",
                        "the proof is for another input than `input_data`".into(),
                    ));
                }
            }
            proof::verdict::verify_file(&m.pk.vk, &proof, checks).map_err(|r| {
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
            input: Some(quant::lists_json(
                &quant::dequantize(&proof.input, scale),
                &model.pk.model,
                &model.pk.model.inputs,
            )),
            output: Some(output_json(&model, &proof.output)),
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
    keys: &'static str,
    vk_digest: String,
}

async fn models(State(service): State<Arc<Service>>) -> Json<serde_json::Value> {
    let list: Vec<ModelInfo> = service
        .models
        .values()
        .map(|m| ModelInfo {
            name: m.name.clone(),
            path: m.path.display().to_string(),
            input_shape: shapes_json(&m.input_shapes),
            output_shape: shapes_json(&m.output_shapes),
            scale_bits: m.pk.model.scale_bits,
            weights: m.pk.vk.visibility,
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
    Json(serde_json::json!({
        "status": "ok",
        "models": service.models.len(),
        "workers": service.config.workers,
        "workers_busy": busy,
        "queue_depth": queued,
        "queue_capacity": service.config.queue,
    }))
    .into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
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
