//! The prover service end to end: a server on an ephemeral loopback port inside
//! each test (the library's `serve` on a bound listener), real HTTP requests, and
//! the `zkinfer` binary to check that its proofs verify outside the service.
//! `authorization` proves in about a second, so every test stays short.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use zkinfer::backend::registry::SelectedBackend;
use zkinfer::backend::CpuBackend;
use zkinfer::keys::cache::{KeyLocation, KeyParams, Setups};
use zkinfer::onnx::ImportOptions;
use zkinfer::proof::WeightVisibility;
use zkinfer::service::{Service, ServiceConfig, ServiceError};

use crate::common;

use crate::common::root;
use crate::common::service::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_tiers_and_the_proof_verifies_with_the_cli_and_the_service() {
    let server = Server::start(ServiceConfig::default()).await;
    let expected = expected_output(&server.service);

    let inference = post(server.addr, PROVE, &prove_body("inference")).await;
    assert_eq!(inference.status, 200);
    let json = inference.json();
    assert_eq!(json["tier"], "inference");
    assert!(
        json.get("proof").is_none(),
        "the inference tier never proves"
    );
    assert_eq!(floats(&json["output"]), expected);
    assert_eq!(json["output_shape"], json!([1, 4]));

    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    let bytes = check_proof(&server.service, &answer, &expected);

    // The same proof verifies with the command line, from the model file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("service.proof");
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .arg("verify")
        .arg(model_path("authorization"))
        .arg("--proof")
        .arg(&file)
        .arg("--input")
        .arg(input_path("authorization"))
        .env("ZKINFER_CACHE_DIR", cache_dir())
        .env_remove("ZKINFER_KEYS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // And with the service's own verify route; a tampered proof is rejected
    // naming the check, and a proof for another input is refused.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let ok = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "authorization", "proof": b64(&bytes),
                "input_data": input_json("authorization")["input_data"]}),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["accepted"], true, "{}", ok.json());
    assert_eq!(floats(&ok.json()["output"]), expected);
    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    let rejected = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "authorization", "proof": b64(&tampered)}),
    )
    .await;
    assert_eq!(rejected.status, 200);
    let json = rejected.json();
    assert_eq!(json["accepted"], false);
    assert!(json["check"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(json["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let other_input = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "authorization", "proof": b64(&bytes),
                "input_data": [vec![0.25; 64]]}),
    )
    .await;
    assert_eq!(other_input.json()["accepted"], false);
    assert_eq!(other_input.json()["check"], "input");

    // Listing, health and metrics reflect what happened.
    let models = get(server.addr, "/v1/models").await.json();
    assert_eq!(models["models"][0]["name"], "authorization");
    assert_eq!(models["models"][0]["input_shape"], json!([1, 64]));
    let health = get(server.addr, "/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let metrics = get(server.addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    for needle in [
        r#"zkinfer_requests_total{route="/v1/models/{name}/prove",status="200"} 2"#,
        r#"zkinfer_requests_total{route="/v1/verify",status="200"} 3"#,
        r#"zkinfer_tier_requests_total{model="authorization",tier="inference"} 1"#,
        r#"zkinfer_tier_requests_total{model="authorization",tier="proof"} 1"#,
        r#"zkinfer_prove_phase_seconds_count{phase="opening"} 1"#,
        r#"zkinfer_prove_phase_seconds_count{phase="witness"} 1"#,
        "zkinfer_queue_depth 0",
        "zkinfer_workers 2",
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_input_request_gets_one_list_per_output_and_verifies() {
    let name = "two_inputs_two_outputs";
    let path = root().join("models/ops").join(name).join("network.onnx");
    let server = Server::start_with(vec![path], ServiceConfig::default()).await;
    let route = format!("/v1/models/{name}/prove");
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/ops").join(name).join("input.json")).unwrap(),
    )
    .unwrap();
    let input_data = shipped["input_data"].clone();
    let lists = |v: &Value| -> Vec<Vec<f32>> { v.as_array().unwrap().iter().map(floats).collect() };

    let inference = post(
        server.addr,
        &route,
        &json!({"input_data": input_data, "tier": "inference"}),
    )
    .await;
    assert_eq!(inference.status, 200, "{}", inference.json());
    let outputs = lists(&inference.json()["output"]);
    assert_eq!(outputs.len(), 2);
    assert_eq!(inference.json()["output_shape"], json!([[1, 4], [1, 4]]));
    // a + b and a · b, within the quantization error.
    let a = floats(&input_data[0]);
    let b = floats(&input_data[1]);
    for i in 0..4 {
        assert!((outputs[0][i] - (a[i] + b[i])).abs() < 0.05, "{outputs:?}");
        assert!((outputs[1][i] - a[i] * b[i]).abs() < 0.05, "{outputs:?}");
    }

    let answer = post(
        server.addr,
        &route,
        &json!({"input_data": input_data, "tier": "proof"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json());
    assert_eq!(lists(&answer.json()["output"]), outputs);
    let proof = answer.json()["proof"].as_str().unwrap().to_string();
    let ok = post(
        server.addr,
        "/v1/verify",
        &json!({"model": name, "proof": proof, "input_data": input_data}),
    )
    .await;
    assert_eq!(ok.json()["accepted"], true, "{}", ok.json());
    assert_eq!(lists(&ok.json()["input"]).len(), 2);
    assert_eq!(lists(&ok.json()["output"]), outputs);
    let swapped = json!([input_data[1], input_data[0]]);
    let other = post(
        server.addr,
        "/v1/verify",
        &json!({"model": name, "proof": proof, "input_data": swapped}),
    )
    .await;
    assert_eq!(other.json()["accepted"], false, "{}", other.json());
    assert_eq!(other.json()["check"], "input");

    // One flat list for two inputs is the client's error, saying so.
    let flat = post(
        server.addr,
        &route,
        &json!({"input_data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "tier": "inference"}),
    )
    .await;
    assert_eq!(flat.status, 422);
    assert_eq!(flat.error_code(), "bad_input");
    let message = flat.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("2 inputs"), "{message}");
    let models = get(server.addr, "/v1/models").await.json();
    assert_eq!(models["models"][0]["input_shape"], json!([[1, 4], [1, 4]]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_a_stable_code() {
    let server = Server::start(ServiceConfig {
        max_body: 16 << 10,
        ..ServiceConfig::default()
    })
    .await;
    let addr = server.addr;
    let raw = |body: &str| request(addr, "POST", PROVE, body.as_bytes().to_vec());
    let cases: Vec<(Answer, u16, &str)> = vec![
        (raw("{\"input_data\": [[1, 2,").await, 400, "bad_json"),
        (raw("not json").await, 400, "bad_json"),
        (raw("{\"tier\": \"proof\"}").await, 400, "bad_request"),
        (
            post(addr, PROVE, &json!({"input_data": [[1.0]], "tier": "fast"})).await,
            400,
            "bad_request",
        ),
        (
            post(
                addr,
                PROVE,
                &json!({"input_data": [[1.0]], "teir": "proof"}),
            )
            .await,
            400,
            "bad_request",
        ),
        (
            post(
                addr,
                PROVE,
                &json!({"input_data": [vec![0.5; 63]], "tier": "proof"}),
            )
            .await,
            422,
            "bad_input",
        ),
        (
            post(
                addr,
                PROVE,
                &json!({"input_data": [[1, "x"]], "tier": "inference"}),
            )
            .await,
            422,
            "bad_input",
        ),
        (
            // Far outside the activation bound.
            post(
                addr,
                PROVE,
                &json!({"input_data": [vec![1.0e6; 64]], "tier": "inference"}),
            )
            .await,
            422,
            "bad_input",
        ),
        (
            post(addr, "/v1/models/nope/prove", &prove_body("inference")).await,
            404,
            "unknown_model",
        ),
        (
            post(addr, "/v1/verify", &json!({"model": "nope", "proof": ""})).await,
            404,
            "unknown_model",
        ),
        (
            post(
                addr,
                "/v1/verify",
                &json!({"model": "authorization", "proof": "%%%"}),
            )
            .await,
            400,
            "bad_proof_encoding",
        ),
        (
            request(addr, "POST", PROVE, vec![b' '; 20 << 10]).await,
            413,
            "payload_too_large",
        ),
        (get(addr, "/v2/anything").await, 404, "not_found"),
        (get(addr, PROVE).await, 405, "method_not_allowed"),
    ];
    for (i, (answer, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            answer.status,
            *status,
            "case {i}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.error_code(), *code, "case {i}");
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {i}"
        );
        assert_eq!(
            answer.headers["content-type"], "application/json",
            "case {i}"
        );
    }
    // The wrong length names both lengths.
    let message = cases[5].0.json()["error"]["message"].to_string();
    assert!(
        message.contains("63") && message.contains("64"),
        "{message}"
    );
    let metrics = String::from_utf8(get(addr, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains(r#"zkinfer_errors_total{code="bad_json"} 2"#),
        "{metrics}"
    );
    // Nothing was proved.
    assert!(
        !metrics.contains("zkinfer_prove_seconds_count"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_503_at_once_and_every_accepted_request_correctly() {
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 1,
        ..ServiceConfig::default()
    })
    .await;
    let expected = expected_output(&server.service);
    let start = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move {
                let t = Instant::now();
                let a = post(addr, PROVE, &prove_body("proof")).await;
                (a, t.elapsed())
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut busy = Vec::new();
    for task in tasks {
        let (answer, elapsed) = task.await.unwrap();
        match answer.status {
            200 => {
                check_proof(&server.service, &answer, &expected);
                ok.push(elapsed);
            }
            503 => {
                assert_eq!(answer.error_code(), "queue_full");
                let retry: u64 = answer.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                busy.push(elapsed);
            }
            s => panic!("status {s}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    // Refused at once: every refusal came back sooner than any proof could
    // (a refusal that waited for a worker would take at least one proof's time).
    let fastest_proof = *ok.iter().min().unwrap();
    assert!(
        busy.iter().all(|&t| t < fastest_proof),
        "refusals {busy:?}, proofs {ok:?}"
    );
    let (ok, busy) = (ok.len(), busy.len());
    // One worker and one queue slot: two proofs at most while the first runs.
    assert!(ok >= 2, "{ok} proofs, {busy} refusals");
    assert!(busy >= 1, "{ok} proofs, {busy} refusals");
    assert_eq!(ok + busy, 6);
    eprintln!(
        "overload: {ok} proved, {busy} refused in {:?}",
        start.elapsed()
    );
    // Still serving, and the inference tier is never refused for a busy queue.
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    let inference = post(server.addr, PROVE, &prove_body("inference")).await;
    assert_eq!(inference.status, 200);
    let metrics = String::from_utf8(get(server.addr, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains(&format!(
            r#"zkinfer_errors_total{{code="queue_full"}} {busy}"#
        )),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_running_proof_and_rejects_queued_ones() {
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 2,
        ..ServiceConfig::default()
    })
    .await;
    let expected = expected_output(&server.service);
    let addr = server.addr;
    let tasks: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { post(addr, PROVE, &prove_body("proof")).await }))
        .collect();
    // Wait until one proof runs and two wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = get(addr, "/healthz").await.json();
        if h["workers_busy"] == 1 && h["queue_depth"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw 1 busy + 2 queued: {h}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let service = server.service.clone();
    server.shutdown().await;
    assert!(service.is_shutting_down());
    let mut ok = 0;
    let mut rejected = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                check_proof(&service, &answer, &expected);
                ok += 1;
            }
            503 => {
                assert_eq!(answer.error_code(), "shutting_down");
                rejected += 1;
            }
            s => panic!("status {s}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    assert_eq!((ok, rejected), (1, 2));
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_504() {
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 1,
        timeout: Duration::from_millis(50),
        ..ServiceConfig::default()
    })
    .await;
    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.error_code(), "timeout");
    server.shutdown().await;
}

#[test]
fn duplicate_model_names_are_refused_before_loading() {
    let params = KeyParams {
        import: ImportOptions::default(),
        visibility: WeightVisibility::Committed,
    };
    // Both are named `authorization`; the second file need not even exist.
    let paths = [
        model_path("authorization"),
        Path::new("/elsewhere/authorization.onnx").to_path_buf(),
    ];
    let err = Service::load(
        &paths,
        &params,
        &KeyLocation::Root(cache_dir().join("keys")),
        &mut Setups::new(cache_dir()),
        SelectedBackend::Cpu(CpuBackend::global()),
        ServiceConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ServiceError::DuplicateName { name, .. } if name == "authorization"),
        "{err}"
    );
}

/// `zkinfer serve` as a process: prints its address, answers, and stops cleanly
/// on SIGTERM.
#[cfg(unix)]
#[test]
fn the_binary_serves_and_stops_on_sigterm() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .arg("serve")
        .arg(model_path("authorization"))
        .args(["--addr", "127.0.0.1:0", "--workers", "1", "--queue", "1"])
        .env("ZKINFER_CACHE_DIR", cache_dir())
        .env_remove("ZKINFER_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = common::listening_addr(&line);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_eq!(get(addr, "/healthz").await.status, 200);
        let a = post(addr, PROVE, &prove_body("inference")).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    });
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");

    // Two models of one name are refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .arg("serve")
        .arg(model_path("authorization"))
        .arg(model_path("authorization"))
        .env("ZKINFER_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two models are named"));
}

/// Reads from a raw connection until the server closes it (or `bound` passes):
/// the bytes received and whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, bound: Duration) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (received, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_closed_and_slow_bodies_time_out() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 1,
        timeout: Duration::from_secs(2),
        header_timeout: Duration::from_secs(1),
        ..ServiceConfig::default()
    })
    .await;
    let addr = server.addr;
    // Slow-loris: a request head sent a byte at a time, never finished. The
    // server closes the connection without an answer.
    let slow_head = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {PROVE} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-slow: "
        );
        let start = Instant::now();
        for b in head.bytes().chain(std::iter::repeat(b'a')) {
            if stream.write_all(&[b]).await.is_err() || start.elapsed() > Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        read_until_closed(&mut stream, Duration::from_secs(5)).await
    });
    // A connection that sends nothing is closed too.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (received, closed) = read_until_closed(&mut silent, Duration::from_secs(30)).await;
    assert!(closed, "a silent connection was still open after 30 s");
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    // Meanwhile the service answers.
    assert_eq!(get(addr, "/healthz").await.status, 200);
    let (received, closed) = slow_head.await.unwrap();
    assert!(closed, "the slow request head was not cut off");
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );

    // A complete head whose body never finishes is answered 504 at `timeout`.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PROVE} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"input_data\": ["
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(closed);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    server.shutdown().await;
}

/// Issue #19 through the service: `/v1/models` shows the fingerprint the CLI
/// prints, a proof made with other settings is rejected naming the setting,
/// and an out-of-range input is told in the client's units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_fingerprints_and_ranges_speak_the_users_terms() {
    let server = Server::start(ServiceConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let prove_cli = |file: &Path, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("prove")
            .arg(model_path("authorization"))
            .arg("--input")
            .arg(input_path("authorization"))
            .arg("--proof")
            .arg(file)
            .arg("--json")
            .args(extra)
            .env("ZKINFER_CACHE_DIR", cache_dir())
            .env_remove("ZKINFER_KEYS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let committed = dir.path().join("committed.proof");
    let proved = prove_cli(&committed, &[]);
    let models = get(server.addr, "/v1/models").await.json();
    assert_eq!(
        models["models"][0]["vk_digest"], proved["vk_fingerprint"],
        "{models} {proved}"
    );

    let public = dir.path().join("public.proof");
    prove_cli(&public, &["--weights", "public"]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&public).unwrap());
    let answer = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "authorization", "proof": b64}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["accepted"], false, "{json}");
    assert_eq!(json["check"], "settings", "{json}");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("made with --weights public"),
        "{json}"
    );

    let mut values = vec![0.0; 64];
    values[3] = 300.0;
    let answer = post(
        server.addr,
        PROVE,
        &json!({"input_data": values, "tier": "inference"}),
    )
    .await;
    assert_eq!(answer.status, 422);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    for needle in ["input value 300 at index 3", "[-256, 256)", "--scale 6"] {
        assert!(message.contains(needle), "`{needle}` missing: {message}");
    }
    server.shutdown().await;
}

/// `--weights-of perceptron=hidden` beside a committed model: the hidden one
/// answers with a zero-knowledge proof that the library's zero-knowledge
/// verifier and the verify route accept, and that the route rejects when a
/// byte is flipped; the committed one still answers transparently. A
/// `--weights-of` name that is not served is refused before loading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_hidden_weights_is_served_with_zero_knowledge_proofs() {
    use zkinfer::zk::model::{self as zk_model, ZkModelProof};
    let config = ServiceConfig {
        weights_of: [("perceptron".to_string(), WeightVisibility::Hidden)].into(),
        ..ServiceConfig::default()
    };
    let server = Server::start_with(
        vec![model_path("authorization"), model_path("perceptron")],
        config,
    )
    .await;
    let served: Vec<_> = server.service.models().collect();
    let perceptron = served.iter().find(|m| m.name == "perceptron").unwrap();
    let authorization = served.iter().find(|m| m.name == "authorization").unwrap();
    assert_eq!(perceptron.pk.vk.visibility, WeightVisibility::Hidden);
    assert_eq!(authorization.pk.vk.visibility, WeightVisibility::Committed);

    let data = input_json("perceptron")["input_data"].clone();
    let (_, bytes) = prove_zk(server.addr, "perceptron").await;
    let proof = ZkModelProof::from_bytes(&bytes).expect("a zero-knowledge proof file");
    zk_model::verify(&perceptron.pk.vk, &proof.input, &proof).unwrap();

    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let ok = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "perceptron", "proof": b64(&bytes), "input_data": data}),
    )
    .await;
    assert_eq!(ok.json()["accepted"], true, "{}", ok.json());
    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    let rejected = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "perceptron", "proof": b64(&tampered)}),
    )
    .await;
    assert_eq!(rejected.json()["accepted"], false, "{}", rejected.json());

    // The committed model beside it still makes transparent proofs.
    let expected = expected_output(&server.service);
    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    check_proof(&server.service, &answer, &expected);
    server.shutdown().await;

    let Err(err) = load(
        &[model_path("perceptron")],
        ServiceConfig {
            weights_of: [("lenet".to_string(), WeightVisibility::Hidden)].into(),
            ..ServiceConfig::default()
        },
    ) else {
        panic!("an unknown --weights-of model is refused");
    };
    assert!(
        matches!(&err, ServiceError::UnknownModel { name, .. } if name == "lenet"),
        "{err}"
    );
}

/// `--input-of perceptron=private`: the proof tier answers zero-knowledge
/// proofs that hold no input; `/v1/verify` accepts them without an input and
/// refuses to check them against one; `/v1/models` says the input is
/// private. A private input without hidden weights, or for a model not
/// served, is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_served_with_private_inputs_answers_proofs_without_the_input() {
    use zkinfer::proof::InputVisibility;
    use zkinfer::zk::model::{self as zk_model, ZkModelProof};
    let config = ServiceConfig {
        weights_of: [("perceptron".to_string(), WeightVisibility::Hidden)].into(),
        input_of: [("perceptron".to_string(), InputVisibility::Private)].into(),
        ..ServiceConfig::default()
    };
    let server = Server::start_with(vec![model_path("perceptron")], config).await;
    let listed = get(server.addr, "/v1/models").await.json();
    assert_eq!(listed["models"][0]["input"], "private", "{listed}");
    let data = input_json("perceptron")["input_data"].clone();
    let (answer, bytes) = prove_zk(server.addr, "perceptron").await;
    let proof = ZkModelProof::from_bytes(&bytes).expect("a zero-knowledge proof file");
    assert!(proof.private_input && proof.input.is_empty());
    let perceptron = server.service.models().next().unwrap();
    zk_model::verify(&perceptron.pk.vk, &[], &proof).unwrap();
    assert_eq!(
        answer["output"],
        json!(zkinfer::quant::dequantize(
            &proof.output,
            perceptron.pk.model.scale_bits
        )),
    );

    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let ok = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "perceptron", "proof": b64}),
    )
    .await
    .json();
    assert_eq!(ok["accepted"], true, "{ok}");
    assert!(ok.get("input").is_none_or(Value::is_null), "{ok}");
    let against_input = post(
        server.addr,
        "/v1/verify",
        &json!({"model": "perceptron", "proof": b64, "input_data": data}),
    )
    .await
    .json();
    assert_eq!(against_input["accepted"], false, "{against_input}");
    server.shutdown().await;

    let load = |config: ServiceConfig| load(&[model_path("perceptron")], config);
    let Err(err) = load(ServiceConfig {
        input_of: [("perceptron".to_string(), InputVisibility::Private)].into(),
        ..ServiceConfig::default()
    }) else {
        panic!("a private input with committed weights is refused");
    };
    assert!(
        matches!(&err, ServiceError::PrivateInputNeedsZk { name } if name == "perceptron"),
        "{err}"
    );
    assert!(
        err.to_string().contains("--weights-of perceptron=hidden"),
        "{err}"
    );
    let Err(err) = load(ServiceConfig {
        input_of: [("lenet".to_string(), InputVisibility::Private)].into(),
        ..ServiceConfig::default()
    }) else {
        panic!("an unknown --input-of model is refused");
    };
    assert!(
        matches!(&err, ServiceError::UnknownModel { flag: "--input-of", name, .. } if name == "lenet"),
        "{err}"
    );
}
