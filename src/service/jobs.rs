//! Deferred proofs (`POST /v1/models/{name}/jobs`, `GET /v1/jobs/{id}`): the
//! job record every backend shares, job ids and idempotency keys, and the
//! embedded backend's in-memory job table with its bounded history.
//!
//! A job is answered at once with the model's output and an id; its proof is
//! made later, on the local pool (embedded) or by a fleet worker (`--nats`,
//! [`crate::fleet`]), and its state moves `queued` -> `proving` -> `done` or
//! `failed`. A client that sends `Idempotency-Key` gets an id derived from
//! that key (and its API key and the model), so a retry finds the same job;
//! the same key with another request is a conflict, never a second job.
//!
//! The embedded table keeps every unfinished job (they are bounded by the
//! pool's admission) and the last `history` finished ones; older finished
//! jobs are forgotten (`GET` answers 404 `unknown_job`).
//!
//! This module owns job state and ids; it neither proves nor speaks HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, waiting for a prover.
    Queued,
    /// A prover is working on it.
    Proving,
    /// Proved; the proof is stored.
    Done,
    /// No proof will come; `error` says why.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Proving => "proving",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// `done` or `failed`: the state no longer changes.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

/// A job as stored (in memory, or as JSON in the fleet's KV bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub model: String,
    pub state: JobState,
    /// SHA-256 (hex) of what was asked (model, quantized input, callback):
    /// a repeated idempotency key must come with the same request.
    pub request_digest: String,
    /// The API key that created the job; only it may read the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The model's output (the client's values), answered at submission.
    pub output: serde_json::Value,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// Seconds the prover spent, when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prove_s: Option<f64>,
    /// Deliveries to a prover so far (more than one after a redelivery).
    #[serde(default)]
    pub attempts: u32,
    /// Who proved (or last tried): `local` or a fleet worker's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Why the job failed (or why the last attempt did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// For a model served with private inputs: the digest
    /// ([`output_digest`]) of the quantized output the job's input gives. A
    /// private-input proof cannot be matched with the input, so the service
    /// checks a fleet worker's proof against this instead: a proof that some
    /// input gives this output is what an honest worker would make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
}

impl JobRecord {
    /// The record of a job just accepted.
    pub fn queued(
        id: String,
        model: &str,
        request_digest: String,
        owner: Option<String>,
        output: serde_json::Value,
        callback_url: Option<String>,
    ) -> Self {
        JobRecord {
            id,
            model: model.to_string(),
            state: JobState::Queued,
            request_digest,
            owner,
            output,
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            prove_s: None,
            attempts: 0,
            worker: None,
            error: None,
            proof_bytes: None,
            callback_url,
            expected_output: None,
        }
    }

    /// Milliseconds from acceptance to a prover starting.
    pub fn queue_ms(&self) -> Option<f64> {
        self.started_ms
            .map(|s| s.saturating_sub(self.created_ms) as f64)
    }

    /// Milliseconds from acceptance to the final state.
    pub fn total_ms(&self) -> Option<f64> {
        self.finished_ms
            .map(|f| f.saturating_sub(self.created_ms) as f64)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why an `Idempotency-Key` header is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("`Idempotency-Key` is empty")]
    Empty,
    #[error("`Idempotency-Key` is longer than {max} characters")]
    TooLong { max: usize },
    #[error("`Idempotency-Key` may hold only visible ASCII characters (no spaces)")]
    Characters,
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Checks an `Idempotency-Key` header's value.
pub fn check_idempotency_key(key: &[u8]) -> Result<&str, IdempotencyKeyError> {
    if key.is_empty() {
        return Err(IdempotencyKeyError::Empty);
    }
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(IdempotencyKeyError::TooLong {
            max: MAX_IDEMPOTENCY_KEY,
        });
    }
    if !key.iter().all(|b| b.is_ascii_graphic()) {
        return Err(IdempotencyKeyError::Characters);
    }
    // Visible ASCII is UTF-8.
    std::str::from_utf8(key).map_err(|_| IdempotencyKeyError::Characters)
}

/// The id of a job: derived from the idempotency key (scoped by API key and
/// model) when there is one, else random. 32 hex digits either way, which is
/// also a valid NATS KV key and object name.
pub fn job_id(owner: Option<&str>, model: &str, idempotency_key: Option<&str>) -> String {
    let bytes: [u8; 16] = match idempotency_key {
        Some(key) => {
            let mut text = Vec::new();
            for part in [b"zkinfer/job".as_slice(), owner.unwrap_or("").as_bytes()] {
                text.extend_from_slice(&(part.len() as u64).to_le_bytes());
                text.extend_from_slice(part);
            }
            for part in [model.as_bytes(), key.as_bytes()] {
                text.extend_from_slice(&(part.len() as u64).to_le_bytes());
                text.extend_from_slice(part);
            }
            super::auth::sha256(&text)[..16]
                .try_into()
                .expect("16 of 32 bytes")
        }
        None => {
            let mut b = [0u8; 16];
            // OS randomness; if it is unavailable, time and a counter still
            // make ids unique within this process.
            if getrandom::getrandom(&mut b).is_err() {
                use std::sync::atomic::{AtomicU64, Ordering};
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let n = COUNTER.fetch_add(1, Ordering::Relaxed);
                let t = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                b[..8].copy_from_slice(&t.to_le_bytes());
                b[8..].copy_from_slice(&n.to_le_bytes());
            }
            b
        }
    };
    crate::keys::hex(&bytes)
}

/// Whether `id` has the shape of a job id (32 lowercase hex digits), checked
/// before it is used as a key anywhere.
pub fn is_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest of a request, for idempotency conflicts.
pub fn request_digest(model: &str, input: &[i64], callback_url: Option<&str>) -> String {
    let mut text = Vec::with_capacity(input.len() * 8 + 64);
    text.extend_from_slice(&(model.len() as u64).to_le_bytes());
    text.extend_from_slice(model.as_bytes());
    text.extend_from_slice(&(input.len() as u64).to_le_bytes());
    for v in input {
        text.extend_from_slice(&v.to_le_bytes());
    }
    let url = callback_url.unwrap_or("");
    text.extend_from_slice(&(url.len() as u64).to_le_bytes());
    text.extend_from_slice(url.as_bytes());
    crate::keys::hex(&super::auth::sha256(&text))
}

/// The digest of a quantized output ([`JobRecord::expected_output`]).
pub fn output_digest(output: &[i64]) -> String {
    let mut text = Vec::with_capacity(output.len() * 8 + 8);
    text.extend_from_slice(&(output.len() as u64).to_le_bytes());
    for v in output {
        text.extend_from_slice(&v.to_le_bytes());
    }
    crate::keys::hex(&super::auth::sha256(&text))
}

/// Whether a verified proof from outside the service (a fleet worker's) is
/// the one `record` asked for: with a public input, a proof of the job's
/// input (its request digest); with a private input (`served_private`), a
/// private-input proof of the output the job's input gives.
pub fn check_proof_matches(
    record: &JobRecord,
    served_private: bool,
    proof_private: bool,
    input: &[i64],
    output: &[i64],
) -> Result<(), String> {
    match (proof_private, served_private) {
        (false, false) => {
            let digest = request_digest(&record.model, input, record.callback_url.as_deref());
            if digest != record.request_digest {
                return Err("it is a valid proof of another input than the job's".into());
            }
        }
        (true, true) => {
            if record.expected_output.as_deref() != Some(&output_digest(output)) {
                return Err(
                    "it keeps its input private and proves another output than the job's \
                     input gives"
                        .into(),
                );
            }
        }
        (true, false) => {
            return Err(format!(
                "it keeps its input private, but `{}` is served with public inputs",
                record.model
            ))
        }
        (false, true) => {
            return Err(format!(
                "it shows its input, but `{}` is served with private inputs",
                record.model
            ))
        }
    }
    Ok(())
}

/// A job of the embedded backend: its record and, when done, the proof.
#[derive(Debug, Clone)]
pub struct LocalJob {
    pub record: JobRecord,
    pub proof: Option<Arc<Vec<u8>>>,
}

/// The embedded backend's jobs: every unfinished one, and the last
/// `history` finished ones.
#[derive(Debug)]
pub struct LocalJobs {
    history: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<String, LocalJob>,
    /// Finished job ids, oldest first.
    finished: VecDeque<String>,
}

impl LocalJobs {
    /// A table that remembers `history` finished jobs (at least 1).
    pub fn new(history: usize) -> Self {
        LocalJobs {
            history: history.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The table holds plain data; a panic elsewhere cannot leave it torn.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a job, or returns the one already under its id.
    pub fn insert(&self, record: JobRecord) -> Result<(), Box<JobRecord>> {
        let mut inner = self.lock();
        if let Some(existing) = inner.jobs.get(&record.id) {
            return Err(Box::new(existing.record.clone()));
        }
        inner.jobs.insert(
            record.id.clone(),
            LocalJob {
                record,
                proof: None,
            },
        );
        Ok(())
    }

    /// Forgets a job that was never admitted (the pool refused it).
    pub fn remove(&self, id: &str) {
        self.lock().jobs.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<LocalJob> {
        self.lock().jobs.get(id).cloned()
    }

    /// Marks a job as being proved.
    pub fn started(&self, id: &str) {
        if let Some(job) = self.lock().jobs.get_mut(id) {
            job.record.state = JobState::Proving;
            job.record.started_ms = Some(now_ms());
            job.record.attempts += 1;
            job.record.worker = Some("local".into());
        }
    }

    /// Records a job's outcome (a proof, or why there is none) and returns
    /// its final record; the oldest finished jobs beyond `history` are
    /// forgotten.
    pub fn finish(&self, id: &str, outcome: Result<(Vec<u8>, f64), String>) -> Option<LocalJob> {
        let mut inner = self.lock();
        let job = inner.jobs.get_mut(id)?;
        let now = now_ms();
        job.record.finished_ms = Some(now);
        job.record.started_ms.get_or_insert(now);
        match outcome {
            Ok((bytes, prove_s)) => {
                job.record.state = JobState::Done;
                job.record.prove_s = Some(prove_s);
                job.record.proof_bytes = Some(bytes.len());
                job.proof = Some(Arc::new(bytes));
            }
            Err(reason) => {
                job.record.state = JobState::Failed;
                job.record.error = Some(reason);
            }
        }
        let done = job.clone();
        inner.finished.push_back(id.to_string());
        while inner.finished.len() > self.history {
            if let Some(old) = inner.finished.pop_front() {
                inner.jobs.remove(&old);
            }
        }
        Some(done)
    }

    /// (unfinished, finished) jobs held.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let finished = inner.finished.len();
        (inner.jobs.len() - finished, finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's proof matches its job: by input when the input is public,
    /// by output when it is private; a proof of another input or output, or
    /// of the other visibility, does not.
    #[test]
    fn a_fleet_proof_must_match_its_job() {
        let mut public = JobRecord::queued(
            "j".into(),
            "m",
            request_digest("m", &[1, 2], None),
            None,
            serde_json::Value::Null,
            None,
        );
        assert_eq!(
            check_proof_matches(&public, false, false, &[1, 2], &[7]),
            Ok(())
        );
        assert!(check_proof_matches(&public, false, false, &[1, 3], &[7])
            .unwrap_err()
            .contains("another input"));
        assert!(check_proof_matches(&public, false, true, &[], &[7])
            .unwrap_err()
            .contains("served with public inputs"));
        public.expected_output = Some(output_digest(&[7]));
        let private = public;
        assert_eq!(check_proof_matches(&private, true, true, &[], &[7]), Ok(()));
        assert!(check_proof_matches(&private, true, true, &[], &[8])
            .unwrap_err()
            .contains("another output"));
        assert!(check_proof_matches(&private, true, false, &[1, 2], &[7])
            .unwrap_err()
            .contains("served with private inputs"));
        let mut unrecorded = private;
        unrecorded.expected_output = None;
        assert!(check_proof_matches(&unrecorded, true, true, &[], &[7]).is_err());
    }

    fn record(id: &str) -> JobRecord {
        JobRecord::queued(
            id.into(),
            "m",
            "d".into(),
            None,
            serde_json::json!([1.0]),
            None,
        )
    }

    #[test]
    fn ids_follow_idempotency_keys() {
        let a = job_id(Some("k"), "m", Some("order-1"));
        assert_eq!(a, job_id(Some("k"), "m", Some("order-1")));
        assert!(is_job_id(&a));
        assert_ne!(a, job_id(Some("other"), "m", Some("order-1")));
        assert_ne!(a, job_id(Some("k"), "m2", Some("order-1")));
        assert_ne!(a, job_id(None, "m", Some("order-1")));
        // Length-prefixed parts: shifting a boundary changes the id.
        assert_ne!(
            job_id(Some("ab"), "c", Some("x")),
            job_id(Some("a"), "bc", Some("x"))
        );
        let r1 = job_id(None, "m", None);
        assert!(is_job_id(&r1));
        assert_ne!(r1, job_id(None, "m", None));
        assert!(!is_job_id("../etc"));
        assert!(!is_job_id(&a.to_uppercase()));
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert_eq!(check_idempotency_key(b"order-17"), Ok("order-17"));
        assert_eq!(check_idempotency_key(b""), Err(IdempotencyKeyError::Empty));
        assert_eq!(
            check_idempotency_key(b"a b"),
            Err(IdempotencyKeyError::Characters)
        );
        assert_eq!(
            check_idempotency_key("é".as_bytes()),
            Err(IdempotencyKeyError::Characters)
        );
        assert!(matches!(
            check_idempotency_key(&[b'a'; 256]),
            Err(IdempotencyKeyError::TooLong { .. })
        ));
    }

    #[test]
    fn request_digests_differ_by_request() {
        let d = request_digest("m", &[1, 2], None);
        assert_eq!(d, request_digest("m", &[1, 2], None));
        assert_ne!(d, request_digest("m", &[1, 3], None));
        assert_ne!(d, request_digest("m", &[1, 2], Some("http://x")));
        assert_ne!(d, request_digest("n", &[1, 2], None));
    }

    #[test]
    fn history_is_bounded_and_keeps_unfinished_jobs() {
        let jobs = LocalJobs::new(2);
        for id in ["a", "b", "c", "d"] {
            jobs.insert(record(id)).unwrap();
        }
        assert_eq!(jobs.insert(record("a")).unwrap_err().id, "a");
        jobs.started("a");
        assert_eq!(jobs.get("a").unwrap().record.state, JobState::Proving);
        jobs.finish("a", Ok((vec![1, 2, 3], 0.5))).unwrap();
        jobs.finish("b", Err("no".into())).unwrap();
        assert_eq!(jobs.counts(), (2, 2));
        let a = jobs.get("a").unwrap();
        assert_eq!(a.record.state, JobState::Done);
        assert_eq!(a.proof.as_deref(), Some(&vec![1, 2, 3]));
        assert_eq!(jobs.get("b").unwrap().record.error.as_deref(), Some("no"));
        // A third finished job pushes out the oldest; unfinished ones stay.
        jobs.finish("c", Err("x".into())).unwrap();
        assert!(jobs.get("a").is_none());
        assert!(jobs.get("b").is_some() && jobs.get("d").is_some());
        assert_eq!(jobs.counts(), (1, 2));
    }
}
