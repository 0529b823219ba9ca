//! Load generator for `zkinfer serve`: N requests from C concurrent clients (one
//! keep-alive connection each), then a summary: answers by status, latency
//! percentiles of the successful ones, throughput, how many outputs differed
//! from the inference tier's (a 200 whose output differs; a request refused or
//! closed without an answer, as at server shutdown, is `unanswered` instead), and the server's resident memory sampled from
//! `/metrics` while the load ran. With `--retries N` a client answered 503 waits
//! for `Retry-After` and tries again (latency then includes the waits).
//!
//! ```sh
//! zkinfer serve models/authorization/network.onnx --workers 2 &
//! cargo run --release --example load -- --tier proof --requests 200 --concurrency 16
//! cargo run --release --example load -- --tier inference --requests 500 --concurrency 1
//! ```
//! Only loopback addresses are expected; the request count bounds the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

#[path = "common/metrics.rs"]
mod metrics;

#[derive(Parser)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Model name.
    #[arg(long, default_value = "authorization")]
    model: String,
    /// Input JSON ({"input_data": [[...]]}).
    #[arg(long, default_value = "models/authorization/input.json")]
    input: String,
    /// `proof` or `inference`.
    #[arg(long, default_value = "proof")]
    tier: String,
    /// Total requests.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Retry a request answered 503 up to this many times, after its
    /// `Retry-After` (as a well-behaved client would); 0 reports the 503.
    #[arg(long, default_value_t = 0)]
    retries: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request: (status, body, Retry-After seconds).
async fn send_full(
    sender: &mut Sender,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes, Option<u64>)> {
    sender.ready().await?;
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body, retry_after))
}

async fn send(
    sender: &mut Sender,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let (status, body, _) = send_full(sender, addr, method, path, body).await?;
    Ok((status, body))
}

/// (VmRSS, VmHWM) of the server from its metrics.
async fn server_memory(addr: SocketAddr) -> Option<(f64, f64)> {
    let mut sender = connect(addr).await.ok()?;
    let (_, body) = send(&mut sender, addr, "GET", "/metrics", Bytes::new())
        .await
        .ok()?;
    metrics::memory_from_metrics(&String::from_utf8_lossy(&body))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&args.input)?)?;
    let path = format!("/v1/models/{}/prove", args.model);
    let body = |tier: &str| {
        Bytes::from(
            serde_json::to_vec(&json!({"input_data": input["input_data"], "tier": tier})).unwrap(),
        )
    };

    // The expected output, from the inference tier.
    let mut sender = connect(args.addr).await?;
    let (status, reference) =
        send(&mut sender, args.addr, "POST", &path, body("inference")).await?;
    anyhow::ensure!(
        status == 200,
        "inference request: {status} {}",
        String::from_utf8_lossy(&reference)
    );
    let expected = serde_json::from_slice::<Value>(&reference)?["output"].clone();

    let memory_before = server_memory(args.addr).await;
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<f64>::new()));
    let sampler = {
        let (done, samples, addr) = (done.clone(), samples.clone(), args.addr);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Some((rss, _)) = server_memory(addr).await {
                    samples.lock().unwrap().push(rss);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let next = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(AtomicUsize::new(0));
    let request_body = body(&args.tier);
    let start = Instant::now();
    let clients: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (next, body, path, expected, refusals) = (
                next.clone(),
                request_body.clone(),
                path.clone(),
                expected.clone(),
                refusals.clone(),
            );
            let (addr, total, retries) = (args.addr, args.requests, args.retries);
            tokio::spawn(async move {
                // (status or 0 for no answer, latency, a 200 with a wrong output)
                let mut results: Vec<(u16, f64, bool)> = Vec::new();
                let mut sender: Option<Sender> = None;
                while next.fetch_add(1, Ordering::SeqCst) < total {
                    let t = Instant::now();
                    if sender.is_none() {
                        sender = connect(addr).await.ok();
                    }
                    let mut attempt = 0;
                    let outcome = loop {
                        let outcome = match sender.as_mut() {
                            Some(s) => send_full(s, addr, "POST", &path, body.clone()).await.ok(),
                            None => None,
                        };
                        match outcome {
                            Some((503, _, retry_after)) if attempt < retries => {
                                attempt += 1;
                                refusals.fetch_add(1, Ordering::SeqCst);
                                let wait = retry_after.unwrap_or(1).min(5);
                                tokio::time::sleep(Duration::from_secs(wait)).await;
                            }
                            other => break other.map(|(status, answer, _)| (status, answer)),
                        }
                    };
                    let latency = t.elapsed().as_secs_f64();
                    match outcome {
                        Some((status, answer)) => {
                            let wrong = status == 200
                                && serde_json::from_slice::<Value>(&answer)
                                    .map(|v| v["output"] != expected)
                                    .unwrap_or(true);
                            results.push((status, latency, wrong));
                        }
                        // Refused or closed without an answer (e.g. the server
                        // is shutting down): no output, so not a wrong one.
                        None => {
                            sender = None;
                            results.push((0, latency, false));
                        }
                    }
                }
                results
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in clients {
        results.extend(c.await?);
    }
    let wall = start.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    sampler.await?;
    let memory_after = server_memory(args.addr).await;

    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (s, _, _) in &results {
        *by_status.entry(*s).or_default() += 1;
    }
    let mut ok: Vec<f64> = results.iter().filter(|r| r.0 == 200).map(|r| r.1).collect();
    ok.sort_by(f64::total_cmp);
    let mismatched = results.iter().filter(|r| r.2).count();
    let unanswered = results.iter().filter(|r| r.0 == 0).count();
    let failures = results
        .iter()
        .filter(|r| r.0 != 0 && r.0 != 200 && r.0 != 503)
        .count();
    let samples = samples.lock().unwrap().clone();
    let mib = |b: f64| b / (1 << 20) as f64;
    let rss_min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let rss_max = samples.iter().copied().fold(0.0, f64::max);
    let summary = json!({
        "tier": args.tier,
        "requests": results.len(),
        "concurrency": args.concurrency,
        "by_status": by_status,
        "failures_other_than_503": failures,
        "unanswered": unanswered,
        "retried_503s": refusals.load(Ordering::SeqCst),
        "wrong_outputs": mismatched,
        "wall_s": wall,
        "throughput_per_s": ok.len() as f64 / wall,
        "latency_ms": {
            "median": percentile(&ok, 0.5) * 1e3,
            "p90": percentile(&ok, 0.9) * 1e3,
            "p99": percentile(&ok, 0.99) * 1e3,
            "max": ok.last().copied().unwrap_or(f64::NAN) * 1e3,
        },
        "server_memory_mib": {
            "rss_before": memory_before.map(|m| mib(m.0)),
            "peak_before": memory_before.map(|m| mib(m.1)),
            "rss_during_min": mib(rss_min),
            "rss_during_max": mib(rss_max),
            "rss_after": memory_after.map(|m| mib(m.0)),
            "peak_after": memory_after.map(|m| mib(m.1)),
        },
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    anyhow::ensure!(
        failures == 0 && mismatched == 0 && unanswered == 0,
        "{failures} failures, {mismatched} wrong outputs, {unanswered} requests unanswered \
         (connection refused or closed: did the server stop?)"
    );
    Ok(())
}
