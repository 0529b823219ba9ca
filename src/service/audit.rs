//! The audit log: one structured `tracing` event per request, target
//! `zkinfer::audit`, level INFO, message `request`, with the fields
//!
//! `key` (the API key's name, `-` without one), `method`, `route` (the route
//! template), `model`, `tier`, `status`, `error` (the stable code of an error
//! answer), `reason` (which grant or quota refused it), `duration_ms`,
//! `proof_digest` (SHA-256 of the proof's bytes, for a proof answered or
//! verified) and, only with `--log-inputs`, `input` (the request's
//! `input_data` as JSON). Fields that do not apply are left out.
//!
//! The routes fill an [`Audit`] record as they learn each field (so a refused
//! or timed-out request still names what it got to); the outermost middleware
//! writes the line once the answer is known. Nothing else is logged here.

use std::sync::{Arc, Mutex};

use super::error::ErrorCode;

/// What is known of a request so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct AuditRecord {
    pub key: Option<String>,
    pub model: Option<String>,
    pub tier: Option<&'static str>,
    pub reason: Option<&'static str>,
    pub proof_digest: Option<String>,
    pub input: Option<String>,
    /// A proof was made and answered.
    pub proved: bool,
}

/// A request's shared record (in its extensions).
#[derive(Debug, Clone, Default)]
pub(crate) struct Audit(Arc<Mutex<AuditRecord>>);

impl Audit {
    pub(crate) fn record(&self, f: impl FnOnce(&mut AuditRecord)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// A model name as the client sent it, cut to 128 characters (string
    /// fields are quoted and escaped by the log formatter).
    pub(crate) fn model(&self, name: &str) {
        let shown: String = name.chars().take(128).collect();
        self.record(|r| r.model = Some(shown));
    }

    pub(crate) fn snapshot(&self) -> AuditRecord {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Writes the request's audit line.
pub(crate) fn emit(
    method: &str,
    route: &str,
    status: u16,
    code: Option<ErrorCode>,
    seconds: f64,
    r: &AuditRecord,
) {
    tracing::info!(
        target: "zkinfer::audit",
        key = r.key.as_deref().unwrap_or("-"),
        method,
        route,
        model = r.model.as_deref(),
        tier = r.tier,
        status,
        error = code.map(ErrorCode::as_str),
        reason = r.reason,
        duration_ms = (seconds * 1e6).round() / 1e3,
        proof_digest = r.proof_digest.as_deref(),
        input = r.input.as_deref(),
        "request"
    );
}
