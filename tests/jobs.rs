//! Deferred proofs. Here, on the embedded pool (no NATS): `POST
//! /v1/models/{name}/jobs` answers the output at once, `GET /v1/jobs/{id}`
//! follows the job to a proof that verifies, `Idempotency-Key` makes one
//! job of retries, `callback_url` receives the result, and the in-memory
//! history is bounded. In [`fleet`] (feature `fleet`), the same through a
//! real `nats-server` and `zkinfer worker` processes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zkinfer::proof::{self, ModelProof};
use zkinfer::service::{Service, ServiceConfig};

#[cfg(feature = "fleet")]
mod fleet;

use crate::common::service::*;

const JOBS: &str = "/v1/models/authorization/jobs";

/// A POST with extra headers.
async fn post_with(addr: SocketAddr, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(
        TokioIo::new(stream),
        &addr.to_string(),
        "POST",
        path,
        serde_json::to_vec(body).unwrap(),
        headers,
    )
    .await
    .unwrap()
}

/// Polls a job until it is final.
async fn wait_final(addr: SocketAddr, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = get(addr, &format!("/v1/jobs/{id}")).await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let json = answer.json();
        let state = json["state"].as_str().unwrap().to_string();
        assert!(
            ["queued", "proving", "done", "failed"].contains(&state.as_str()),
            "{json}"
        );
        if state == "done" || state == "failed" {
            return json;
        }
        assert!(Instant::now() < deadline, "job {id} not final: {json}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The job's proof verifies under the service's key and is for `input`.
fn check_job_proof(service: &Service, job: &Value) -> Vec<u8> {
    assert_eq!(job["state"], "done", "{job}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(job["proof"].as_str().unwrap())
        .unwrap();
    assert_eq!(job["proof_bytes"].as_u64().unwrap() as usize, bytes.len());
    let proof = ModelProof::from_bytes(&bytes).unwrap();
    let vk = &service.models().next().unwrap().pk.vk;
    proof::verify(vk, &proof.input, &proof).unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_answers_at_once_and_its_proof_follows() {
    let server = Server::start(ServiceConfig::default()).await;
    let expected = expected_output(&server.service);
    let answer = post(server.addr, JOBS, &prove_body("proof")).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    assert_eq!(floats(&json["output"]), expected);
    assert_eq!(json["replayed"], false);
    let id = json["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(json["status_url"], format!("/v1/jobs/{id}"));
    assert!(["queued", "proving"].contains(&json["state"].as_str().unwrap()));

    let job = wait_final(server.addr, &id).await;
    check_job_proof(&server.service, &job);
    assert_eq!(floats(&job["output"]), expected);
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["worker"], "local");
    for t in ["queue_ms", "prove_ms", "total_ms"] {
        assert!(job["timing"][t].as_f64().is_some(), "{t}: {job}");
    }

    // Unknown, malformed and foreign ids are all 404 unknown_job.
    for path in ["/v1/jobs/00000000000000000000000000000000", "/v1/jobs/nope"] {
        let a = get(server.addr, path).await;
        assert_eq!((a.status, a.error_code()), (404, "unknown_job".into()));
    }
    // `tier: inference` is not a job; bad callback URLs and keys are named.
    let a = post(server.addr, JOBS, &prove_body("inference")).await;
    assert_eq!((a.status, a.error_code()), (400, "bad_request".into()));
    let mut body = prove_body("proof");
    body["callback_url"] = json!("ftp://example.com/x");
    let a = post(server.addr, JOBS, &body).await;
    assert_eq!((a.status, a.error_code()), (400, "bad_request".into()));
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("callback_url"));
    let a = post_with(
        server.addr,
        JOBS,
        &prove_body("proof"),
        &[("idempotency-key", "a b")],
    )
    .await;
    assert_eq!((a.status, a.error_code()), (400, "bad_request".into()));
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    // A bad input fails at submission, like `prove`.
    let a = post(server.addr, JOBS, &json!({"input_data": [[1.0]]})).await;
    assert_eq!((a.status, a.error_code()), (422, "bad_input".into()));

    let metrics = String::from_utf8(get(server.addr, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains(r#"zkinfer_jobs_submitted_total{model="authorization"} 1"#),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_is_one_job_and_another_request_is_a_conflict() {
    let server = Server::start(ServiceConfig::default()).await;
    let key = [("idempotency-key", "order-17")];
    let answers = futures_join(server.addr, &key).await;
    let ids: Vec<&str> = answers.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        answers.iter().filter(|a| a["replayed"] == false).count(),
        1,
        "exactly one submission made the job: {answers:?}"
    );
    let job = wait_final(server.addr, ids[0]).await;
    check_job_proof(&server.service, &job);
    // The same key again, after the job is done: the same job, proof included.
    let again = post_with(server.addr, JOBS, &prove_body("proof"), &key).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], ids[0]);
    assert_eq!(again.json()["state"], "done");
    // The same key with another input is refused.
    let other = json!({"input_data": [vec![0.25; 64]]});
    let conflict = post_with(server.addr, JOBS, &other, &key).await;
    assert_eq!(
        (conflict.status, conflict.error_code()),
        (409, "idempotency_conflict".into())
    );
    let metrics = String::from_utf8(get(server.addr, "/metrics").await.body).unwrap();
    assert!(
        metrics.contains(r#"zkinfer_jobs_submitted_total{model="authorization"} 1"#),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_belongs_to_the_api_key_that_made_it() {
    use zkinfer::service::auth::SecretHash;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let entry = |name: &str, secret: &str, tiers: &str| {
        format!(
            "[[key]]\nname = \"{name}\"\nhash = \"{}\"\nmodels = [\"*\"]\ntiers = [{tiers}]\n\n",
            SecretHash::sha256_of(secret)
        )
    };
    let text = [
        entry("alice", "alice-secret", "\"proof\""),
        entry("bob", "bob-secret", "\"proof\""),
        entry("carol", "carol-secret", "\"inference\""),
    ]
    .concat();
    std::fs::write(&keys, text).unwrap();
    let server = Server::start(ServiceConfig {
        auth_keys: Some(keys),
        ..ServiceConfig::default()
    })
    .await;
    let as_key = |secret: &'static str| {
        [
            ("authorization", format!("Bearer {secret}")),
            ("idempotency-key", "same-key".to_string()),
        ]
    };
    let send = |secret: &'static str| {
        let headers = as_key(secret);
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_with(server.addr, JOBS, &prove_body("proof"), &h).await
        }
    };
    let alice = send("alice-secret").await;
    assert_eq!(
        alice.status,
        202,
        "{}",
        String::from_utf8_lossy(&alice.body)
    );
    let bob = send("bob-secret").await;
    assert_eq!(bob.status, 202);
    let (a, b) = (alice.json()["id"].clone(), bob.json()["id"].clone());
    assert_ne!(a, b, "one idempotency key, two API keys: two jobs");
    assert_eq!(bob.json()["replayed"], false);
    let path = format!("/v1/jobs/{}", a.as_str().unwrap());
    let as_bob = request_as(server.addr, Some("bob-secret"), "GET", &path, Vec::new()).await;
    assert_eq!(
        (as_bob.status, as_bob.error_code()),
        (404, "unknown_job".into())
    );
    let as_alice = request_as(server.addr, Some("alice-secret"), "GET", &path, Vec::new()).await;
    assert_eq!(as_alice.status, 200);
    // A key without the proof tier may not make jobs.
    let carol = send("carol-secret").await;
    assert_eq!(
        (carol.status, carol.error_code()),
        (403, "forbidden".into())
    );
    for id in [a, b] {
        let path = format!("/v1/jobs/{}", id.as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let secret = if id == alice.json()["id"] {
            "alice-secret"
        } else {
            "bob-secret"
        };
        loop {
            let v = request_as(server.addr, Some(secret), "GET", &path, Vec::new())
                .await
                .json();
            if v["state"] == "done" {
                check_job_proof(&server.service, &v);
                break;
            }
            assert!(Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    server.shutdown().await;
}

/// Three concurrent submissions with one key.
async fn futures_join(addr: SocketAddr, headers: &[(&str, &str)]) -> Vec<Value> {
    let body = prove_body("proof");
    let (a, b, c) = tokio::join!(
        post_with(addr, JOBS, &body, headers),
        post_with(addr, JOBS, &body, headers),
        post_with(addr, JOBS, &body, headers),
    );
    [a, b, c]
        .into_iter()
        .map(|a| {
            assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
            a.json()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_receives_the_proof_and_history_is_bounded() {
    let config = ServiceConfig {
        job_history: 1,
        ..ServiceConfig::default()
    };
    let server = Server::start(config).await;
    // A loopback receiver that refuses the first attempt: the service retries.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = tokio::spawn(async move {
        let mut bodies = Vec::new();
        for status in [500, 200] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(at) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    if got.len() >= at + 4 + length {
                        bodies.push(got[at + 4..].to_vec());
                        break;
                    }
                }
                assert!(n > 0, "the callback closed early");
            }
            s.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await
                .unwrap();
        }
        bodies
    });
    let mut body = prove_body("proof");
    body["callback_url"] = json!(format!("http://127.0.0.1:{port}/proofs"));
    let answer = post(server.addr, JOBS, &body).await;
    assert_eq!(answer.status, 202);
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let bodies = tokio::time::timeout(Duration::from_secs(60), receiver)
        .await
        .expect("the callback arrives")
        .unwrap();
    let delivered: Value = serde_json::from_slice(&bodies[1]).unwrap();
    assert_eq!(delivered["id"], id.as_str());
    check_job_proof(&server.service, &delivered);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = String::from_utf8(get(server.addr, "/metrics").await.body).unwrap();
        if metrics.contains(r#"zkinfer_callbacks_total{result="delivered"} 1"#) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // History of one finished job: a second job pushes the first out.
    let second = post(server.addr, JOBS, &prove_body("proof")).await.json();
    wait_final(server.addr, second["id"].as_str().unwrap()).await;
    let forgotten = get(server.addr, &format!("/v1/jobs/{id}")).await;
    assert_eq!(
        (forgotten.status, forgotten.error_code()),
        (404, "unknown_job".into())
    );
    server.shutdown().await;
}
