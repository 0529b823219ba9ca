//! Soak test for `zkinfer serve`: for a bounded time, keeps 4x the service's
//! admission capacity (`workers + queue`, read from `/healthz`) of clients busy
//! with a mix of valid and hostile requests, then checks that the server is
//! alive, drained and answering, and that its resident memory stayed bounded.
//!
//! The mix (each client draws a kind per request):
//!
//! | kind                 | what it sends                                              | accepted outcomes            |
//! |----------------------|------------------------------------------------------------|------------------------------|
//! | `proof`              | valid proof-tier request (keep-alive)                      | 200 (output checked), 503 `queue_full`, 504 `timeout` |
//! | `inference`          | valid inference-tier request                               | 200 (output checked)         |
//! | `verify`             | the service's own proof, or garbage, to `/v1/verify`       | 200 (`accepted` as expected), 400 `bad_proof_encoding` |
//! | `bad_json`           | truncated / non-JSON bodies                                | 400 `bad_json`               |
//! | `bad_shape`          | wrong length, types, fields, tier, method, route           | 400 `bad_request`, 422 `bad_input`, 404 `not_found`, 405 |
//! | `unknown_model`      | a model that is not served                                 | 404 `unknown_model`          |
//! | `large_body`         | JSON just under `--max-body`: ~2M numbers for the input    | 422 `bad_input`              |
//! | `oversized`          | `Content-Length` above `--max-body`, body streamed         | 413 `payload_too_large` (or a reset while still sending) |
//! | `oversized_chunked`  | a chunked body that grows past `--max-body`                | 413 (or a reset while still sending) |
//! | `slow_head`          | a request head one byte per `--slow-interval-ms`, never finished | closed by the server, unanswered |
//! | `silent`             | a connection that sends nothing                            | closed by the server, unanswered |
//! | `slow_body`          | a full head, then a body that trickles and never finishes  | 504 `timeout`                |
//! | `disconnect`         | a valid proof request, then the client hangs up unanswered | (client side)                |
//! | `disconnect_mid_body`| half a body, then the client hangs up                      | (client side)                |
//!
//! Every HTTP status must be one the README documents (200, 400, 404, 405, 413,
//! 422, 503, 504; a 500 `internal` is a prover bug and fails the soak) and the
//! one its kind expects, with a matching `{"error": {"code"}}` body. At the end
//! the process must be alive (`--pid`, from `/proc`), `/healthz` must answer 200,
//! the queue must drain to zero and a fresh proof request must succeed. The
//! server's VmRSS/VmHWM is sampled from `/proc/<pid>/status` (or `/metrics`
//! without `--pid`); the run fails if VmHWM exceeds `--max-rss-mib`. Exit status
//! 1 on any failure.
//!
//! ```sh
//! cargo build --release --bin zkinfer --example soak
//! target/release/zkinfer serve models/authorization/network.onnx --addr 127.0.0.1:8080 &
//! target/release/examples/soak --addr 127.0.0.1:8080 --pid $! --duration-s 240
//! ```
//! Only loopback addresses are accepted; the duration and `--give-up-s` bound
//! the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "common/metrics.rs"]
mod metrics;

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The server's process id, for liveness and /proc memory samples.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Model name.
    #[arg(long, default_value = "authorization")]
    pub model: String,
    /// Input JSON ({"input_data": [[...]]}).
    #[arg(long, default_value = "models/authorization/input.json")]
    pub input: String,
    /// How long clients start new requests, in seconds.
    #[arg(long, default_value_t = 240.0)]
    pub duration_s: f64,
    /// Clients per admission slot (`workers + queue`).
    #[arg(long, default_value_t = 4)]
    pub clients_per_slot: usize,
    /// The server's `--max-body` (oversized bodies go 1 MiB past it).
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body: usize,
    /// Fail if the server's VmHWM exceeds this many MiB. The default is twice
    /// the 256 MiB measured with the default limits (README, "Soak"); most of
    /// it is parsing `large_body` requests, about 80 MiB each while parsed.
    #[arg(long, default_value_t = 512.0)]
    pub max_rss_mib: f64,
    /// Pause between the bytes of a slow client.
    #[arg(long, default_value_t = 500)]
    pub slow_interval_ms: u64,
    /// A request that has no outcome after this many seconds fails the soak.
    #[arg(long, default_value_t = 150)]
    pub give_up_s: u64,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object instead of indented JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a soak found: the summary printed, and every failure.
pub struct Report {
    pub summary: Value,
    pub failures: Vec<String>,
}

/// Statuses the README documents for the service.
pub const DOCUMENTED: [u16; 9] = [200, 400, 404, 405, 413, 422, 500, 503, 504];

/// Error codes the README documents, with their statuses.
const CODES: [(&str, u16); 12] = [
    ("bad_json", 400),
    ("bad_request", 400),
    ("bad_proof_encoding", 400),
    ("bad_input", 422),
    ("unknown_model", 404),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("payload_too_large", 413),
    ("queue_full", 503),
    ("shutting_down", 503),
    ("timeout", 504),
    ("internal", 500),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Proof,
    Inference,
    Verify,
    BadJson,
    BadShape,
    UnknownModel,
    LargeBody,
    Oversized,
    OversizedChunked,
    SlowHead,
    Silent,
    SlowBody,
    Disconnect,
    DisconnectMidBody,
}

/// Relative weights of the kinds (slow kinds hold a client for seconds, so
/// they are drawn less often).
const MIX: [(Kind, u32); 14] = [
    (Kind::Proof, 20),
    (Kind::Inference, 20),
    (Kind::Verify, 6),
    (Kind::BadJson, 8),
    (Kind::BadShape, 12),
    (Kind::UnknownModel, 6),
    (Kind::LargeBody, 2),
    (Kind::Oversized, 5),
    (Kind::OversizedChunked, 3),
    (Kind::SlowHead, 2),
    (Kind::Silent, 1),
    (Kind::SlowBody, 2),
    (Kind::Disconnect, 6),
    (Kind::DisconnectMidBody, 3),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Proof => "proof",
            Kind::Inference => "inference",
            Kind::Verify => "verify",
            Kind::BadJson => "bad_json",
            Kind::BadShape => "bad_shape",
            Kind::UnknownModel => "unknown_model",
            Kind::LargeBody => "large_body",
            Kind::Oversized => "oversized",
            Kind::OversizedChunked => "oversized_chunked",
            Kind::SlowHead => "slow_head",
            Kind::Silent => "silent",
            Kind::SlowBody => "slow_body",
            Kind::Disconnect => "disconnect",
            Kind::DisconnectMidBody => "disconnect_mid_body",
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// An HTTP answer: status and body.
    Answer(u16, Bytes),
    /// The server closed the connection without answering.
    Closed,
    /// The connection was reset (or another transport error) without an answer.
    Reset(String),
    /// The client hung up on purpose.
    HungUp,
    /// No outcome within `--give-up-s`.
    GaveUp,
}

impl Outcome {
    fn label(&self) -> String {
        match self {
            Outcome::Answer(status, body) => match error_code(body) {
                Some(code) => format!("{status} {code}"),
                None => status.to_string(),
            },
            Outcome::Closed => "closed_unanswered".into(),
            Outcome::Reset(_) => "reset".into(),
            Outcome::HungUp => "client_hung_up".into(),
            Outcome::GaveUp => "client_gave_up".into(),
        }
    }
}

fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body).ok()?["error"]["code"]
        .as_str()
        .map(str::to_string)
}

/// A small deterministic generator (xorshift64*), one per client.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn kind(&mut self) -> Kind {
        let total: u32 = MIX.iter().map(|m| m.1).sum();
        let mut x = self.below(total as u64) as u32;
        for (kind, w) in MIX {
            if x < w {
                return kind;
            }
            x -= w;
        }
        unreachable!()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn send(
    sender: &mut Sender,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a fresh connection (for set-up and final checks).
async fn once(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let mut sender = connect(addr).await?;
    send(&mut sender, addr, method, path, body).await
}

/// A client's keep-alive connection for well-formed requests. The server
/// closes a connection idle for its header timeout, so one idle for a while is
/// replaced, and a request that fails on a reused connection before any
/// answer is sent once more on a fresh one (counted as a stale retry).
struct KeepAlive {
    sender: Option<(Sender, Instant)>,
    stale_retries: usize,
}

impl KeepAlive {
    async fn request(
        &mut self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Outcome {
        for attempt in 0..2 {
            let reused = match self.sender.take() {
                Some((s, last)) if last.elapsed() < Duration::from_secs(1) && !s.is_closed() => {
                    Some(s)
                }
                _ => None,
            };
            let was_reused = reused.is_some();
            let mut sender = match reused {
                Some(s) => s,
                None => match connect(addr).await {
                    Ok(s) => s,
                    Err(e) => return Outcome::Reset(format!("connect: {e}")),
                },
            };
            match send(&mut sender, addr, method, path, body.clone()).await {
                Ok((status, answer)) => {
                    self.sender = Some((sender, Instant::now()));
                    return Outcome::Answer(status, answer);
                }
                Err(_) if was_reused && attempt == 0 => self.stale_retries += 1,
                Err(e) => return Outcome::Reset(e.to_string()),
            }
        }
        Outcome::Reset("retry failed".into())
    }
}

/// Reads one HTTP/1.1 response (`Content-Length` bodies) from a raw stream.
async fn read_response(stream: &mut (impl AsyncReadExt + Unpin)) -> Outcome {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) if buf.is_empty() => return Outcome::Closed,
            Ok(0) => {
                return Outcome::Reset(format!(
                    "eof inside a response head: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Outcome::Reset(e.to_string()),
            Err(e) => return Outcome::Reset(format!("inside a response: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = match head.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => return Outcome::Reset(format!("not an HTTP response: {head:?}")),
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Outcome::Answer(status, Bytes::from(body))
}

/// Writes `parts` in order while reading the answer: an oversized body is
/// refused before it is all sent, and the answer is what counts.
async fn stream_while_reading(addr: SocketAddr, parts: Vec<Bytes>) -> Outcome {
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::Reset(format!("connect: {e}")),
    };
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        for p in parts {
            if writer.write_all(&p).await.is_err() {
                return;
            }
        }
        // Keep the write half open until the answer arrives.
        std::future::pending::<()>().await;
    });
    let outcome = read_response(&mut reader).await;
    write.abort();
    outcome
}

/// Sends `head` a byte at a time (then an endless header value) until the
/// server closes or answers.
async fn slow_head(addr: SocketAddr, head: &[u8], interval: Duration) -> (Outcome, Duration) {
    let start = Instant::now();
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return (Outcome::Reset(format!("connect: {e}")), start.elapsed()),
    };
    let mut bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
    loop {
        let b = bytes.next().expect("endless");
        if let Err(e) = stream.write_all(&[b]).await {
            // The server closed; whatever it sent is the outcome.
            let outcome = match read_response(&mut stream).await {
                Outcome::Reset(_) => Outcome::Reset(e.to_string()),
                o => o,
            };
            return (outcome, start.elapsed());
        }
        let mut peek = [0u8; 1];
        match tokio::time::timeout(interval, stream.peek(&mut peek)).await {
            Err(_) => continue,
            Ok(_) => return (read_response(&mut stream).await, start.elapsed()),
        }
    }
}

/// A full head, a little of the body, then a byte per interval, never finished.
async fn slow_body(addr: SocketAddr, path: &str, interval: Duration) -> Outcome {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::Reset(format!("connect: {e}")),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{{\"input_data\": [[0"
    );
    if let Err(e) = stream.write_all(head.as_bytes()).await {
        return Outcome::Reset(e.to_string());
    }
    loop {
        let mut peek = [0u8; 1];
        match tokio::time::timeout(interval, stream.peek(&mut peek)).await {
            Err(_) => {
                if stream.write_all(b",0").await.is_err() {
                    return read_response(&mut stream).await;
                }
            }
            Ok(_) => return read_response(&mut stream).await,
        }
    }
}

/// Writes `bytes`, waits `after`, and hangs up without reading.
async fn hang_up(addr: SocketAddr, bytes: Bytes, after: Duration) -> Outcome {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::Reset(format!("connect: {e}")),
    };
    if let Err(e) = stream.write_all(&bytes).await {
        return Outcome::Reset(e.to_string());
    }
    tokio::time::sleep(after).await;
    drop(stream);
    Outcome::HungUp
}

fn raw_request(addr: SocketAddr, path: &str, body: &[u8]) -> Bytes {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    Bytes::from(r)
}

/// What every client shares.
struct Plan {
    addr: SocketAddr,
    model: String,
    input: Value,
    expected_output: Value,
    proof_b64: String,
    max_body: usize,
    /// Valid JSON just under the body limit, of the wrong input length: the
    /// most numbers the server can be made to parse in one request.
    large_body: Bytes,
    interval: Duration,
    give_up: Duration,
}

impl Plan {
    fn prove_path(&self) -> String {
        format!("/v1/models/{}/prove", self.model)
    }

    fn body(&self, tier: &str) -> Bytes {
        Bytes::from(serde_json::to_vec(&json!({"input_data": self.input, "tier": tier})).unwrap())
    }
}

/// Checks one outcome against what its kind may get; `None` when it is fine.
fn judge(plan: &Plan, kind: Kind, variant: &str, outcome: &Outcome) -> Option<String> {
    let what = format!("{} ({variant})", kind.name());
    if let Outcome::Answer(status, body) = outcome {
        if !DOCUMENTED.contains(status) {
            return Some(format!("{what}: undocumented status {status}"));
        }
        if *status == 500 {
            return Some(format!(
                "{what}: 500 internal: {}",
                String::from_utf8_lossy(body)
            ));
        }
        if *status != 200 {
            // Every error answer is `{"error": {"code"}}` with a documented
            // code of that status.
            let code = error_code(body);
            if !CODES
                .iter()
                .any(|(c, s)| Some(*c) == code.as_deref() && s == status)
            {
                return Some(format!(
                    "{what}: status {status} with body {}",
                    String::from_utf8_lossy(body)
                ));
            }
        }
    }
    let label = outcome.label();
    let allowed: &[&str] = match (kind, variant) {
        (Kind::Proof, _) => &["200", "503 queue_full", "504 timeout"],
        (Kind::Inference, _) => &["200"],
        (Kind::Verify, "bad_base64") => &["400 bad_proof_encoding"],
        (Kind::Verify, _) => &["200"],
        (Kind::BadJson, _) => &["400 bad_json"],
        (Kind::BadShape, "bad_request") => &["400 bad_request"],
        (Kind::BadShape, "bad_input") => &["422 bad_input"],
        (Kind::BadShape, "method") => &["405 method_not_allowed"],
        (Kind::BadShape, "route") => &["404 not_found"],
        (Kind::BadShape, _) => &[],
        (Kind::UnknownModel, _) => &["404 unknown_model"],
        (Kind::LargeBody, _) => &["422 bad_input"],
        (Kind::Oversized | Kind::OversizedChunked, _) => &["413 payload_too_large", "reset"],
        (Kind::SlowHead | Kind::Silent, _) => &["closed_unanswered", "reset"],
        (Kind::SlowBody, _) => &["504 timeout"],
        (Kind::Disconnect | Kind::DisconnectMidBody, _) => &["client_hung_up"],
    };
    if !allowed.contains(&label.as_str()) {
        let detail = match outcome {
            Outcome::Reset(e) => e.clone(),
            Outcome::Answer(_, b) => String::from_utf8_lossy(&b[..b.len().min(300)]).to_string(),
            _ => String::new(),
        };
        return Some(format!(
            "{what}: got `{label}`, expected one of {allowed:?} {detail}"
        ));
    }
    // Answers that succeed must be right.
    if let Outcome::Answer(200, body) = outcome {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("{what}: 200 with a body that is not JSON: {e}")),
        };
        let ok = match (kind, variant) {
            (Kind::Proof, _) => {
                v["output"] == plan.expected_output
                    && v["proof"].as_str().is_some_and(|p| !p.is_empty())
            }
            (Kind::Inference, _) => v["output"] == plan.expected_output,
            (Kind::Verify, "valid") => v["accepted"] == true,
            (Kind::Verify, _) => v["accepted"] == false,
            _ => true,
        };
        if !ok {
            return Some(format!(
                "{what}: wrong answer {}",
                &v.to_string()[..v.to_string().len().min(300)]
            ));
        }
    }
    None
}

/// Sends one request of `kind`: (variant, outcome).
async fn exchange(
    plan: &Plan,
    kind: Kind,
    rng: &mut Rng,
    conn: &mut KeepAlive,
    slow_closed: &Mutex<Vec<f64>>,
) -> (&'static str, Outcome) {
    let addr = plan.addr;
    let path = plan.prove_path();
    let post = |body: Vec<u8>| Bytes::from(body);
    match kind {
        Kind::Proof => (
            "valid",
            conn.request(addr, "POST", &path, plan.body("proof")).await,
        ),
        Kind::Inference => (
            "valid",
            conn.request(addr, "POST", &path, plan.body("inference"))
                .await,
        ),
        Kind::Verify => {
            let (variant, body) = match rng.below(3) {
                0 => (
                    "valid",
                    json!({"model": plan.model, "proof": plan.proof_b64, "input_data": plan.input}),
                ),
                1 => {
                    let junk: Vec<u8> = (0..256).map(|_| rng.next() as u8).collect();
                    (
                        "garbage",
                        json!({"model": plan.model, "proof": base64::engine::general_purpose::STANDARD.encode(junk)}),
                    )
                }
                _ => (
                    "bad_base64",
                    json!({"model": plan.model, "proof": "%%% not base64 %%%"}),
                ),
            };
            (
                variant,
                conn.request(
                    addr,
                    "POST",
                    "/v1/verify",
                    post(serde_json::to_vec(&body).unwrap()),
                )
                .await,
            )
        }
        Kind::BadJson => {
            let bodies: [&[u8]; 4] = [
                b"{\"input_data\": [[1, 2,",
                b"not json",
                b"",
                b"{\"input_data\": [[1, 2]], \"tier\": }",
            ];
            let body = bodies[rng.below(4) as usize];
            (
                "bad_json",
                conn.request(addr, "POST", &path, post(body.to_vec())).await,
            )
        }
        Kind::BadShape => {
            let n = plan
                .input
                .as_array()
                .and_then(|a| a.first())
                .and_then(|a| a.as_array())
                .map_or(64, |a| a.len());
            let (variant, method, route, body) = match rng.below(9) {
                0 => (
                    "bad_input",
                    "POST",
                    path.clone(),
                    json!({"input_data": [vec![0.5; n - 1]], "tier": "inference"}),
                ),
                1 => (
                    "bad_input",
                    "POST",
                    path.clone(),
                    json!({"input_data": [[1, "x"]], "tier": "proof"}),
                ),
                2 => (
                    "bad_input",
                    "POST",
                    path.clone(),
                    json!({"input_data": {"a": 1}, "tier": "inference"}),
                ),
                3 => (
                    "bad_input",
                    "POST",
                    path.clone(),
                    json!({"input_data": [vec![1.0e6; n]], "tier": "inference"}),
                ),
                4 => (
                    "bad_request",
                    "POST",
                    path.clone(),
                    json!({"input_data": plan.input, "tier": "fast"}),
                ),
                5 => (
                    "bad_request",
                    "POST",
                    path.clone(),
                    json!({"input_data": plan.input, "teir": "proof"}),
                ),
                6 => (
                    "bad_request",
                    "POST",
                    path.clone(),
                    json!({"tier": "proof"}),
                ),
                7 => ("method", "GET", path.clone(), Value::Null),
                _ => ("route", "POST", "/v2/prove".to_string(), json!({})),
            };
            let body = if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).unwrap()
            };
            (
                variant,
                conn.request(addr, method, &route, post(body)).await,
            )
        }
        Kind::UnknownModel => (
            "valid_body",
            conn.request(
                addr,
                "POST",
                "/v1/models/no-such-model/prove",
                plan.body("inference"),
            )
            .await,
        ),
        Kind::LargeBody => (
            "wrong_length",
            conn.request(addr, "POST", &path, plan.large_body.clone())
                .await,
        ),
        Kind::Oversized => {
            let length = plan.max_body + (1 << 20);
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
            );
            let mut parts = vec![
                Bytes::from(head),
                Bytes::from_static(b"{\"input_data\": [["),
            ];
            let chunk = Bytes::from(vec![b' '; 64 << 10]);
            let mut sent = 16;
            while sent < length {
                let n = (length - sent).min(chunk.len());
                parts.push(chunk.slice(..n));
                sent += n;
            }
            ("content_length", stream_while_reading(addr, parts).await)
        }
        Kind::OversizedChunked => {
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            );
            let mut parts = vec![Bytes::from(head)];
            let data = vec![b' '; 64 << 10];
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            let chunk = Bytes::from(chunk);
            for _ in 0..(plan.max_body / data.len() + 2) {
                parts.push(chunk.clone());
            }
            parts.push(Bytes::from_static(b"0\r\n\r\n"));
            ("chunked", stream_while_reading(addr, parts).await)
        }
        Kind::SlowHead => {
            let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-slow: ");
            let (outcome, took) = slow_head(addr, head.as_bytes(), plan.interval).await;
            if matches!(outcome, Outcome::Closed | Outcome::Reset(_)) {
                slow_closed.lock().unwrap().push(took.as_secs_f64());
            }
            ("byte_by_byte", outcome)
        }
        Kind::Silent => {
            let start = Instant::now();
            let outcome = match TcpStream::connect(addr).await {
                Ok(mut s) => read_response(&mut s).await,
                Err(e) => Outcome::Reset(format!("connect: {e}")),
            };
            if matches!(outcome, Outcome::Closed | Outcome::Reset(_)) {
                slow_closed
                    .lock()
                    .unwrap()
                    .push(start.elapsed().as_secs_f64());
            }
            ("nothing", outcome)
        }
        Kind::SlowBody => ("trickle", slow_body(addr, &path, plan.interval).await),
        Kind::Disconnect => {
            let after = Duration::from_millis(rng.below(500));
            let tier = if rng.below(4) == 0 {
                "inference"
            } else {
                "proof"
            };
            (
                "after_request",
                hang_up(addr, raw_request(addr, &path, &plan.body(tier)), after).await,
            )
        }
        Kind::DisconnectMidBody => {
            let full = raw_request(addr, &path, &plan.body("proof"));
            let cut = full.len() - rng.below(full.len() as u64 / 4) as usize - 1;
            (
                "mid_body",
                hang_up(
                    addr,
                    full.slice(..cut),
                    Duration::from_millis(rng.below(200)),
                )
                .await,
            )
        }
    }
}

/// (VmRSS, VmHWM) in bytes of `pid` from /proc; `None` once it is gone or a zombie.
fn proc_memory(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|k| k * 1024.0)
    };
    Some((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// (VmRSS, VmHWM) from the server's /metrics.
async fn metrics_memory(addr: SocketAddr) -> Option<(f64, f64)> {
    let (_, body) = once(addr, "GET", "/metrics", Bytes::new()).await.ok()?;
    metrics::memory_from_metrics(&String::from_utf8_lossy(&body))
}

async fn memory(addr: SocketAddr, pid: Option<u32>) -> Option<(f64, f64)> {
    match pid {
        Some(pid) => proc_memory(pid),
        None => metrics_memory(addr).await,
    }
}

fn mib(b: f64) -> f64 {
    (b / (1 << 20) as f64 * 10.0).round() / 10.0
}

/// Runs the soak against a server already listening at `args.addr`.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "the soak only targets loopback addresses, not {}",
        args.addr
    );
    let input_file: Value = serde_json::from_str(&std::fs::read_to_string(&args.input)?)?;
    let input = input_file["input_data"].clone();
    let addr = args.addr;
    // Failures of single requests (the first 30) and of the final checks.
    let mut failures = Vec::new();
    let mut checks = Vec::new();

    // Set-up: capacity, the expected output and one proof to verify.
    let (status, health) = once(addr, "GET", "/healthz", Bytes::new()).await?;
    anyhow::ensure!(status == 200, "/healthz answered {status}");
    let health: Value = serde_json::from_slice(&health)?;
    let workers = health["workers"].as_u64().unwrap_or(0) as usize;
    let queue = health["queue_capacity"].as_u64().unwrap_or(0) as usize;
    let capacity = workers + queue;
    let clients = args.clients_per_slot * capacity.max(1);
    let path = format!("/v1/models/{}/prove", args.model);
    let body = |tier: &str| {
        Bytes::from(serde_json::to_vec(&json!({"input_data": input, "tier": tier})).unwrap())
    };
    let (status, reference) = once(addr, "POST", &path, body("inference")).await?;
    anyhow::ensure!(
        status == 200,
        "inference: {status} {}",
        String::from_utf8_lossy(&reference)
    );
    let expected_output = serde_json::from_slice::<Value>(&reference)?["output"].clone();
    let mut proof_b64 = None;
    for _ in 0..60 {
        let (status, answer) = once(addr, "POST", &path, body("proof")).await?;
        if status == 200 {
            proof_b64 = serde_json::from_slice::<Value>(&answer)?["proof"]
                .as_str()
                .map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let proof_b64 = proof_b64.ok_or_else(|| anyhow::anyhow!("no proof for the verify requests"))?;
    let memory_before = memory(addr, args.pid).await;

    let plan = Arc::new(Plan {
        addr,
        model: args.model.clone(),
        input: input.clone(),
        expected_output,
        proof_b64,
        max_body: args.max_body,
        large_body: {
            let mut body = b"{\"tier\": \"inference\", \"input_data\": [[0".to_vec();
            while body.len() + 2 + 3 <= args.max_body {
                body.extend_from_slice(b",0");
            }
            body.extend_from_slice(b"]]}");
            Bytes::from(body)
        },
        interval: Duration::from_millis(args.slow_interval_ms.max(1)),
        give_up: Duration::from_secs(args.give_up_s),
    });

    // Memory and liveness samples.
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(f64, f64, f64)>::new()));
    let died = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (done, samples, died, pid) = (done.clone(), samples.clone(), died.clone(), args.pid);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                match memory(addr, pid).await {
                    Some((rss, hwm)) => {
                        samples
                            .lock()
                            .unwrap()
                            .push((start.elapsed().as_secs_f64(), rss, hwm))
                    }
                    None if pid.is_some() => died.store(true, Ordering::SeqCst),
                    None => {}
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let end = start + Duration::from_secs_f64(args.duration_s);
    let slow_closed = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stale = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (plan, slow_closed, stale) = (plan.clone(), slow_closed.clone(), stale.clone());
            let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (i as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03)
                | 1);
            tokio::spawn(async move {
                let mut conn = KeepAlive {
                    sender: None,
                    stale_retries: 0,
                };
                let mut results: Vec<(Kind, String, Option<String>)> = Vec::new();
                while Instant::now() < end {
                    let kind = rng.kind();
                    let outcome = tokio::time::timeout(
                        plan.give_up,
                        exchange(&plan, kind, &mut rng, &mut conn, &slow_closed),
                    )
                    .await;
                    let (variant, outcome) = outcome.unwrap_or(("timed", Outcome::GaveUp));
                    let failure = judge(&plan, kind, variant, &outcome);
                    results.push((kind, outcome.label(), failure));
                    if !matches!(outcome, Outcome::Answer(..)) {
                        // Hostile kinds leave the keep-alive connection alone,
                        // but a transport error on it means it is gone.
                        if matches!(
                            kind,
                            Kind::Proof
                                | Kind::Inference
                                | Kind::Verify
                                | Kind::BadJson
                                | Kind::BadShape
                                | Kind::UnknownModel
                        ) {
                            conn.sender = None;
                        }
                    }
                }
                stale.fetch_add(conn.stale_retries, Ordering::SeqCst);
                results
            })
        })
        .collect();
    let mut by_kind: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut requests = 0usize;
    let mut failure_count = 0usize;
    for t in tasks {
        for (kind, label, failure) in t.await? {
            requests += 1;
            *by_kind
                .entry(kind.name())
                .or_default()
                .entry(label.clone())
                .or_default() += 1;
            let status = label.split_whitespace().next().unwrap_or("").to_string();
            *by_status.entry(status).or_default() += 1;
            if let Some(f) = failure {
                failure_count += 1;
                if failures.len() < 30 {
                    failures.push(f);
                }
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();

    // After the load: alive, answering, drained, and proving again.
    let mut health_after = Value::Null;
    let mut drained = false;
    let drain_start = Instant::now();
    while drain_start.elapsed() < Duration::from_secs(120) {
        if let Ok((200, b)) = once(addr, "GET", "/healthz", Bytes::new()).await {
            health_after = serde_json::from_slice(&b).unwrap_or(Value::Null);
            if health_after["queue_depth"] == 0 && health_after["workers_busy"] == 0 {
                drained = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if health_after["status"] != "ok" {
        checks.push(format!("/healthz after the soak: {health_after}"));
    } else if !drained {
        checks.push(format!(
            "the queue did not drain within 120 s: {health_after}"
        ));
    }
    let final_proof = once(addr, "POST", &path, body("proof")).await;
    let final_status = final_proof.as_ref().map(|a| a.0).unwrap_or(0);
    if final_status != 200 {
        checks.push(format!(
            "a proof request after the soak: {:?}",
            final_proof.map(|a| (a.0, String::from_utf8_lossy(&a.1).to_string()))
        ));
    }
    let memory_after = memory(addr, args.pid).await;
    done.store(true, Ordering::SeqCst);
    sampler.await?;
    if died.load(Ordering::SeqCst) || (args.pid.is_some() && memory_after.is_none()) {
        checks.push("the server process died".to_string());
    }

    let samples = samples.lock().unwrap().clone();
    let rss_peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let hwm_end = memory_after.map_or(samples.iter().map(|s| s.2).fold(0.0, f64::max), |m| m.1);
    // Growth check: the last quarter's mean RSS against the second quarter's.
    let quarter = |q: usize| {
        let n = samples.len();
        let part = &samples[n * q / 4..n * (q + 1) / 4];
        part.iter().map(|s| s.1).sum::<f64>() / part.len().max(1) as f64
    };
    if mib(hwm_end) > args.max_rss_mib {
        checks.push(format!(
            "peak resident memory {} MiB is over the bound of {} MiB",
            mib(hwm_end),
            args.max_rss_mib
        ));
    }
    let slow = slow_closed.lock().unwrap().clone();
    let summary = json!({
        "addr": addr.to_string(),
        "capacity": {"workers": workers, "queue": queue},
        "clients": clients,
        "duration_s": args.duration_s,
        "wall_s": (wall * 10.0).round() / 10.0,
        "requests": requests,
        "by_status": by_status,
        "by_kind": by_kind,
        "stale_keep_alive_retries": stale.load(Ordering::SeqCst),
        "slow_connections_closed_by_server": {
            "count": slow.len(),
            "max_s": (slow.iter().copied().fold(0.0, f64::max) * 10.0).round() / 10.0,
        },
        "after": {"healthz": health_after, "drained": drained, "proof_status": final_status},
        "server_memory_mib": {
            "source": if args.pid.is_some() { "/proc/<pid>/status" } else { "/metrics" },
            "samples": samples.len(),
            "rss_before": memory_before.map(|m| mib(m.0)),
            "hwm_before": memory_before.map(|m| mib(m.1)),
            "rss_peak_sampled": mib(rss_peak),
            "rss_mean_2nd_quarter": mib(quarter(1)),
            "rss_mean_4th_quarter": mib(quarter(3)),
            "rss_after": memory_after.map(|m| mib(m.0)),
            "hwm_after": mib(hwm_end),
            "bound": args.max_rss_mib,
        },
        "failed_requests": failure_count,
        "failed_checks": checks,
        "failures": failures,
    });
    failures.extend(checks);
    Ok(Report { summary, failures })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let report = run(&args).await?;
    if args.json {
        println!("{}", report.summary);
    } else {
        println!("{}", serde_json::to_string_pretty(&report.summary)?);
    }
    if !report.failures.is_empty() {
        eprintln!("soak failed:");
        for f in &report.failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
    Ok(())
}
