//! The service's error responses: every 4xx/5xx is `{"error": {"code": ..,
//! "message": ..}}` with a stable `code` that clients can match on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Stable error codes. The HTTP status follows from the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    BadJson,
    /// 400: JSON, but not the request's shape (missing or unknown field, wrong type, unknown tier).
    BadRequest,
    /// 400: the proof is not base64.
    BadProofEncoding,
    /// 422: the input has the wrong length, a non-number, or a value outside the model's bounds.
    BadInput,
    /// 401: no API key, not `Bearer <key>`, or a key that is not valid.
    Unauthorized,
    /// 403: the key may not use this model, tier or route.
    Forbidden,
    /// 429: the key is over one of its quotas; retry after `Retry-After` seconds.
    RateLimited,
    /// 404: no model of that name is served (to this key).
    UnknownModel,
    /// 404: no such route.
    NotFound,
    /// 404: no job of that id (or not this key's, or forgotten).
    UnknownJob,
    /// 409: the `Idempotency-Key` was used for another request.
    IdempotencyConflict,
    /// 405: the route exists for another method.
    MethodNotAllowed,
    /// 413: the body is larger than `--max-body`.
    PayloadTooLarge,
    /// 503: the proving queue is full; retry after `Retry-After` seconds.
    QueueFull,
    /// 503: the service is shutting down; queued work is rejected with this code.
    ShuttingDown,
    /// 503: the proving fleet (NATS) cannot be reached; retry after `Retry-After` seconds.
    FleetUnavailable,
    /// 504: the request took longer than `--timeout-s`.
    Timeout,
    /// 500: the prover failed (a bug); the message says where.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in responses and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadProofEncoding => "bad_proof_encoding",
            ErrorCode::BadInput => "bad_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnknownModel => "unknown_model",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnknownJob => "unknown_job",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::FleetUnavailable => "fleet_unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadJson | ErrorCode::BadRequest | ErrorCode::BadProofEncoding => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::BadInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::UnknownModel | ErrorCode::NotFound | ErrorCode::UnknownJob => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::IdempotencyConflict => StatusCode::CONFLICT,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::QueueFull | ErrorCode::ShuttingDown | ErrorCode::FleetUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: a code, a message for people, and for 429s and 503s how
/// long to wait. A 401 also carries `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for the `Retry-After` header.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
            },
        })
        .expect("error bodies serialize");
        let mut response = (
            self.code.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"zkinfer\""),
            );
        }
        // The metrics middleware counts errors by code.
        response.extensions_mut().insert(self.code);
        response
    }
}
