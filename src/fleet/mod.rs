//! The prover fleet on NATS JetStream (feature `fleet`): `zkinfer serve
//! --nats URL` enqueues proof jobs instead of proving them, and `zkinfer
//! worker --nats URL` on each proving node pulls, proves and stores them.
//!
//! Everything lives in one JetStream account ([`Layout`]):
//!
//! - stream `ZKINFER_JOBS` (work-queue retention, file storage, at most
//!   `queue` messages, new messages refused when full: the service answers
//!   503 `queue_full`), one subject per model, `zkinfer.jobs.<model>`; a job
//!   message ([`JobMessage`]) carries the job id (also its `Nats-Msg-Id`, so
//!   JetStream drops a re-published duplicate), the model's verifying-key
//!   fingerprint and the quantized input;
//! - one durable pull consumer per model, `zkinfer-<model>`, shared by every
//!   worker that has the model: a message is leased to one worker for the
//!   ack wait, kept alive by in-progress acks while it proves, redelivered
//!   when the worker dies, and given up after `max_deliver` deliveries;
//! - KV bucket `zkinfer_jobs`: each job's [`JobRecord`] (state, timings,
//!   error), written with compare-and-set so that a job proved twice is
//!   recorded `done` once;
//! - object store `zkinfer_proofs`: each proof's bytes, named by job id and
//!   written only when absent (stored once);
//! - object store `zkinfer_keys`: proving and verifying keys by cache digest
//!   (`<model>-<digest>/pk.bin`, `vk.bin`), uploaded by whoever built them
//!   first; a worker that fetches keys checks them as the key cache checks
//!   any key file ([`keys`]);
//! - KV bucket `zkinfer_workers`: each worker's heartbeat, for `/healthz`.
//!
//! Proofs and keys read from NATS are untrusted bytes: the service verifies
//! every proof it answers against its own verifying key and the job's input
//! ([`client`]), and a fetched key is used only after the key cache's checks.
//!
//! This module owns the NATS layout, connection options and the job message;
//! the service's side is [`client`], the worker's [`worker`].

pub mod client;
pub mod keys;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};
use serde::{Deserialize, Serialize};

pub use crate::service::jobs::{JobRecord, JobState};

/// The work-queue stream of proof jobs.
pub const STREAM: &str = "ZKINFER_JOBS";
/// Subjects of jobs: `zkinfer.jobs.<model>`.
pub const SUBJECT_PREFIX: &str = "zkinfer.jobs";
/// KV bucket of job records.
pub const JOBS_BUCKET: &str = "zkinfer_jobs";
/// Object store of proofs, by job id.
pub const PROOFS_BUCKET: &str = "zkinfer_proofs";
/// Object store of keys, by cache digest.
pub const KEYS_BUCKET: &str = "zkinfer_keys";
/// KV bucket of worker heartbeats.
pub const WORKERS_BUCKET: &str = "zkinfer_workers";

/// Errors of the fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot read the NATS credentials file {}: {source}", path.display())]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "NATS JetStream: {what}: {reason} (is JetStream enabled on the server: `nats-server -js`?)"
    )]
    Layout { what: String, reason: String },
    #[error("NATS: {what}: {reason}")]
    Nats { what: String, reason: String },
    #[error(
        "model name `{name}` cannot be a NATS subject token: a fleet needs names of \
         letters, digits, `-` and `_` only (rename the file, or its folder for network.onnx)"
    )]
    ModelName { name: String },
    #[error("job {id}: stored record is not valid: {reason}")]
    BadRecord { id: String, reason: String },
    #[error("{0}")]
    Keys(String),
}

impl FleetError {
    pub(crate) fn nats(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        FleetError::Nats {
            what: what.into(),
            reason: e.to_string(),
        }
    }

    fn layout(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        FleetError::Layout {
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// How to reach and authenticate to NATS: `nats://` or `tls://` URLs
/// (several, comma-separated, for a cluster), and at most one of a
/// credentials file (NKey + JWT, `.creds`), a user and password, or a token.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub url: String,
    pub creds: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// CA certificate(s) (PEM) to trust for a `tls://` server.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) when the server asks for one.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Require TLS even for a `nats://` URL.
    pub require_tls: bool,
    /// The connection's name, shown by the server (`zkinfer-serve`, the worker id).
    pub name: String,
    /// How long the first connection is retried (a server that is starting).
    pub connect_retry: Duration,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            url: String::new(),
            creds: None,
            user: None,
            password: None,
            token: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            name: "zkinfer".into(),
            connect_retry: Duration::from_secs(10),
        }
    }
}

impl NatsOptions {
    /// Connects, retrying the first connection (a server that is starting)
    /// for up to [`NatsOptions::connect_retry`]; later disconnections
    /// reconnect without limit.
    pub async fn connect(&self) -> Result<async_nats::Client, FleetError> {
        let connect_error = |reason: String| FleetError::Connect {
            url: self.url.clone(),
            reason,
        };
        let mut options = async_nats::ConnectOptions::new()
            .name(&self.name)
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!("NATS: disconnected"),
                    async_nats::Event::Connected => tracing::info!("NATS: connected"),
                    other => tracing::debug!("NATS: {other}"),
                }
            });
        let methods = [
            self.creds.is_some(),
            self.user.is_some(),
            self.token.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(connect_error(
                "give one of --nats-creds, --nats-user/--nats-password and --nats-token".into(),
            ));
        }
        if let Some(path) = &self.creds {
            options =
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| FleetError::Credentials {
                        path: path.clone(),
                        source,
                    })?;
        }
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                options = options.user_and_password(user.clone(), password.clone())
            }
            (Some(_), None) => {
                return Err(connect_error(
                    "--nats-user needs a password (--nats-password or $ZKINFER_NATS_PASSWORD)"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(connect_error("a NATS password without --nats-user".into()))
            }
            (None, None) => {}
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                options = options.add_client_certificate(cert.clone(), key.clone())
            }
            (None, None) => {}
            _ => {
                return Err(connect_error(
                    "--nats-tls-cert and --nats-tls-key go together".into(),
                ))
            }
        }
        if self.require_tls {
            options = options.require_tls(true);
        }
        let urls: Vec<async_nats::ServerAddr> = self
            .url
            .split(',')
            .map(|u| u.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| connect_error(format!("not a NATS URL: {e}")))?;
        if urls.is_empty() {
            return Err(connect_error("no URL".into()));
        }
        let deadline = tokio::time::Instant::now() + self.connect_retry;
        loop {
            match options.clone().connect(urls.clone()).await {
                Ok(client) => return Ok(client),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!("NATS at {}: {e}; retrying", self.url);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(connect_error(e.to_string())),
            }
        }
    }
}

/// Sizes and timings of the fleet's NATS objects.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Jobs the stream holds (waiting and being proved) before it refuses more.
    pub queue: usize,
    /// How long job records and proofs are kept.
    pub job_ttl: Duration,
    /// Replicas of every stream and bucket (1 for a single server; 3 in a
    /// cluster).
    pub replicas: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            queue: 16,
            job_ttl: Duration::from_secs(24 * 3600),
            replicas: 1,
        }
    }
}

/// A proof job on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub id: String,
    pub model: String,
    /// The fingerprint of the verifying key the proof must verify under:
    /// a worker with another version of the model does not prove it.
    pub vk: String,
    /// The quantized input.
    pub input: Vec<i64>,
    /// When the service accepted it (ms since the Unix epoch).
    pub created_ms: u64,
    /// Keep the input out of the proof (zero-knowledge keys only): the
    /// served model's `--input-of` visibility. Absent in older messages.
    #[serde(default)]
    pub private_input: bool,
}

/// The subject of a model's jobs.
pub fn subject(model: &str) -> Result<String, FleetError> {
    Ok(format!("{SUBJECT_PREFIX}.{}", model_token(model)?))
}

/// The durable consumer of a model's jobs.
pub fn consumer_name(model: &str) -> Result<String, FleetError> {
    Ok(format!("zkinfer-{}", model_token(model)?))
}

/// `model` when it can be a subject token and part of a consumer name.
pub fn model_token(model: &str) -> Result<&str, FleetError> {
    let ok = !model.is_empty()
        && model.len() <= 200
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(model)
    } else {
        Err(FleetError::ModelName {
            name: model.to_string(),
        })
    }
}

/// Handles on the fleet's stream, buckets and stores, created when absent.
#[derive(Clone)]
pub struct Layout {
    pub js: jetstream::Context,
    pub jobs: kv::Store,
    pub workers: kv::Store,
    pub proofs: object_store::ObjectStore,
    pub keys: object_store::ObjectStore,
}

impl Layout {
    /// Opens (creating when absent) everything the fleet uses. With
    /// `own_stream`, the stream's limits are set to `config` (the service
    /// owns them); a worker only creates the stream when it is absent.
    pub async fn open(
        client: async_nats::Client,
        config: &FleetConfig,
        own_stream: bool,
    ) -> Result<Self, FleetError> {
        let js = jetstream::new(client);
        let stream_config = stream::Config {
            name: STREAM.to_string(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            max_messages: config.queue.max(1) as i64,
            discard: stream::DiscardPolicy::New,
            duplicate_window: Duration::from_secs(120),
            num_replicas: config.replicas.max(1),
            description: Some("zkinfer proof jobs".into()),
            ..Default::default()
        };
        if own_stream {
            js.create_or_update_stream(stream_config)
                .await
                .map_err(|e| FleetError::layout(format!("stream {STREAM}"), e))?;
        } else {
            js.get_or_create_stream(stream_config)
                .await
                .map_err(|e| FleetError::layout(format!("stream {STREAM}"), e))?;
        }
        let jobs = open_kv(
            &js,
            kv::Config {
                bucket: JOBS_BUCKET.into(),
                description: "zkinfer job records".into(),
                history: 8,
                max_age: config.job_ttl,
                storage: stream::StorageType::File,
                num_replicas: config.replicas.max(1),
                ..Default::default()
            },
        )
        .await?;
        let workers = open_kv(
            &js,
            kv::Config {
                bucket: WORKERS_BUCKET.into(),
                description: "zkinfer worker heartbeats".into(),
                history: 1,
                max_age: Duration::from_secs(300),
                storage: stream::StorageType::File,
                num_replicas: config.replicas.max(1),
                ..Default::default()
            },
        )
        .await?;
        let proofs = open_objects(
            &js,
            object_store::Config {
                bucket: PROOFS_BUCKET.into(),
                description: Some("zkinfer proofs by job id".into()),
                max_age: config.job_ttl,
                storage: stream::StorageType::File,
                num_replicas: config.replicas.max(1),
                ..Default::default()
            },
        )
        .await?;
        let keys = open_objects(
            &js,
            object_store::Config {
                bucket: KEYS_BUCKET.into(),
                description: Some("zkinfer proving and verifying keys by cache digest".into()),
                storage: stream::StorageType::File,
                num_replicas: config.replicas.max(1),
                ..Default::default()
            },
        )
        .await?;
        if own_stream {
            // Whoever created them first set their TTL: the service's wins.
            for name in [format!("KV_{JOBS_BUCKET}"), format!("OBJ_{PROOFS_BUCKET}")] {
                set_max_age(&js, &name, config.job_ttl).await?;
            }
        }
        Ok(Layout {
            js,
            jobs,
            workers,
            proofs,
            keys,
        })
    }

    /// A job's record and its KV revision.
    pub async fn record(&self, id: &str) -> Result<Option<(JobRecord, u64)>, FleetError> {
        let entry = self
            .jobs
            .entry(id)
            .await
            .map_err(|e| FleetError::nats(format!("reading job {id}"), e))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let record: JobRecord =
                    serde_json::from_slice(&e.value).map_err(|err| FleetError::BadRecord {
                        id: id.to_string(),
                        reason: err.to_string(),
                    })?;
                if record.id != id {
                    return Err(FleetError::BadRecord {
                        id: id.to_string(),
                        reason: format!("it names job {}", record.id),
                    });
                }
                Ok(Some((record, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Changes a job's record with `change` by compare-and-set, retrying on
    /// concurrent writes; a record already final is left as it is. Returns
    /// the record as it is now and whether `change` was written.
    pub async fn update_record(
        &self,
        id: &str,
        change: impl Fn(&mut JobRecord),
    ) -> Result<Option<(JobRecord, bool)>, FleetError> {
        for _ in 0..16 {
            let Some((mut record, revision)) = self.record(id).await? else {
                return Ok(None);
            };
            if record.state.is_final() {
                return Ok(Some((record, false)));
            }
            change(&mut record);
            let bytes = serde_json::to_vec(&record).expect("records serialize");
            match self.jobs.update(id, bytes.into(), revision).await {
                Ok(_) => return Ok(Some((record, true))),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(FleetError::nats(format!("writing job {id}"), e)),
            }
        }
        Err(FleetError::nats(
            format!("writing job {id}"),
            "too many concurrent writers",
        ))
    }
}

/// Opens a KV bucket, creating it when absent. The bucket's stream is
/// created here with the settings async-nats would use: its own
/// `create_key_value` first asks for the account's info, whose answer from a
/// 2.9 server (Debian's) it cannot parse.
async fn open_kv(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store, FleetError> {
    let bucket = config.bucket.clone();
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    let stream_config = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(config.description),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: config.history.max(1),
        max_age: config.max_age,
        storage: config.storage,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: config.num_replicas.max(1),
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    if let Err(e) = js.get_or_create_stream(stream_config).await {
        return Err(FleetError::layout(format!("KV bucket {bucket}"), e));
    }
    js.get_key_value(&bucket)
        .await
        .map_err(|e| FleetError::layout(format!("KV bucket {bucket}"), e))
}

async fn open_objects(
    js: &jetstream::Context,
    config: object_store::Config,
) -> Result<object_store::ObjectStore, FleetError> {
    let bucket = config.bucket.clone();
    match js.get_object_store(&bucket).await {
        Ok(store) => Ok(store),
        Err(_) => match js.create_object_store(config).await {
            Ok(store) => Ok(store),
            Err(e) => js
                .get_object_store(&bucket)
                .await
                .map_err(|_| FleetError::layout(format!("object store {bucket}"), e)),
        },
    }
}

/// Sets a stream's `max_age` when it differs.
async fn set_max_age(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> Result<(), FleetError> {
    let mut stream = js
        .get_stream(name)
        .await
        .map_err(|e| FleetError::layout(format!("stream {name}"), e))?;
    let info = stream
        .info()
        .await
        .map_err(|e| FleetError::layout(format!("stream {name}"), e))?;
    if info.config.max_age == max_age {
        return Ok(());
    }
    let mut config = info.config.clone();
    config.max_age = max_age;
    js.update_stream(config)
        .await
        .map_err(|e| FleetError::layout(format!("setting the TTL of {name}"), e))?;
    Ok(())
}

/// Reads a whole object from a store, at most `limit` bytes.
pub(crate) async fn read_object(
    store: &object_store::ObjectStore,
    name: &str,
    limit: usize,
) -> Result<Option<Vec<u8>>, FleetError> {
    use tokio::io::AsyncReadExt;
    let object = match store.get(name).await {
        Ok(o) => o,
        Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FleetError::nats(format!("reading object {name}"), e)),
    };
    if object.info().size > limit {
        return Err(FleetError::nats(
            format!("reading object {name}"),
            format!(
                "{} bytes, more than the {limit} allowed",
                object.info().size
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(object.info().size);
    let mut object = object;
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| FleetError::nats(format!("reading object {name}"), e))?;
    Ok(Some(bytes))
}

/// Writes an object unless one of that name exists; returns whether it wrote.
pub(crate) async fn put_object_once(
    store: &object_store::ObjectStore,
    name: &str,
    bytes: &[u8],
) -> Result<bool, FleetError> {
    match store.info(name).await {
        Ok(info) if !info.deleted => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => {}
        Err(e) => return Err(FleetError::nats(format!("looking up object {name}"), e)),
    }
    let mut reader = bytes;
    store
        .put(name, &mut reader)
        .await
        .map_err(|e| FleetError::nats(format!("writing object {name}"), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_must_be_subject_tokens() {
        assert_eq!(
            subject("authorization").unwrap(),
            "zkinfer.jobs.authorization"
        );
        assert_eq!(consumer_name("a-b_c").unwrap(), "zkinfer-a-b_c");
        for bad in ["", "a.b", "a b", "a*", ">", "é"] {
            assert!(
                matches!(model_token(bad), Err(FleetError::ModelName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn job_messages_round_trip() {
        let m = JobMessage {
            id: "0".repeat(32),
            model: "m".into(),
            vk: "abc".into(),
            input: vec![-1, 2],
            created_ms: 5,
            private_input: true,
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(serde_json::from_slice::<JobMessage>(&bytes).unwrap(), m);
        // A message from before private inputs proves with a public input.
        let older = r#"{"id":"0","model":"m","vk":"abc","input":[1],"created_ms":5}"#;
        assert!(
            !serde_json::from_str::<JobMessage>(older)
                .unwrap()
                .private_input
        );
    }
}
