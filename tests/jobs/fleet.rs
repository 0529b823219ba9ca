//! The prover fleet end to end on a real `nats-server` (started here on a
//! free loopback port, JetStream in a temporary folder): the service
//! in-process with `attach` (what `serve --nats` does), `zkinfer worker`
//! processes, and NATS read directly to check what was stored.
//!
//! Needs `nats-server` on PATH (fails saying so; `ZKINFER_SKIP_NATS=1`
//! skips). Leases are 2 s so that redelivery tests stay short.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};
use zkinfer::fleet::client::attach;
use zkinfer::fleet::{FleetConfig, JobRecord, JobState, NatsOptions};
use zkinfer::proof::{self, ModelProof};
use zkinfer::service::{Service, ServiceConfig};

use super::{post_with, JOBS};
use crate::common::nats::{self, empty_keys, NatsServer, Worker};
use crate::common::service::*;

/// The in-process service on the fleet at `nats`, with a queue of `queue`.
async fn fleet_server(nats: &NatsServer, queue: usize) -> Server {
    fleet_server_with(nats, queue, ServiceConfig::default()).await
}

/// [`fleet_server`] with a service configuration of the caller's.
async fn fleet_server_with(nats: &NatsServer, queue: usize, service: ServiceConfig) -> Server {
    let server = Server::start(service).await;
    let options = NatsOptions {
        url: nats.url(),
        name: "zkinfer-serve-test".into(),
        ..NatsOptions::default()
    };
    let config = FleetConfig {
        queue,
        ..FleetConfig::default()
    };
    attach(&server.service, &options, config).await.unwrap();
    server
}

async fn submit(addr: SocketAddr) -> String {
    let answer = post(addr, JOBS, &prove_body("proof")).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()["id"].as_str().unwrap().to_string()
}

/// A job's view; `None` while the fleet is unreachable (503).
async fn job(addr: SocketAddr, id: &str) -> Option<Value> {
    let answer = get(addr, &format!("/v1/jobs/{id}")).await;
    if answer.status == 503 {
        assert_eq!(answer.error_code(), "fleet_unavailable");
        return None;
    }
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    Some(answer.json())
}

/// Polls every job until all are final; returns their views.
async fn wait_all(addr: SocketAddr, ids: &[String], within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut views = Vec::new();
        for id in ids {
            match job(addr, id).await {
                Some(v) if v["state"] == "done" || v["state"] == "failed" => views.push(v),
                _ => break,
            }
        }
        if views.len() == ids.len() {
            return views;
        }
        assert!(
            Instant::now() < deadline,
            "jobs not final in {within:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A done job's proof verifies under the service's key, for the shipped input.
fn check_done(service: &Service, view: &Value) {
    assert_eq!(view["state"], "done", "{view}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(view["proof"].as_str().unwrap())
        .unwrap();
    let proof = ModelProof::from_bytes(&bytes).unwrap();
    let model = service.models().next().unwrap();
    proof::verify(&model.pk.vk, &proof.input, &proof).unwrap();
    let values = zkinfer::quant::read_input_json(&input_path("authorization")).unwrap();
    let input = zkinfer::quant::quantize_input(&values, model.pk.model.scale_bits);
    assert_eq!(proof.input, input);
}

/// NATS read directly: the proofs stored, and each job's record history.
struct Store {
    js: async_nats::jetstream::Context,
}

impl Store {
    async fn connect(nats: &NatsServer) -> Store {
        let client = async_nats::connect(nats.url()).await.unwrap();
        Store {
            js: async_nats::jetstream::new(client),
        }
    }

    async fn proof_names(&self) -> Vec<String> {
        let store = self.js.get_object_store("zkinfer_proofs").await.unwrap();
        let mut list = store.list().await.unwrap();
        let mut names = Vec::new();
        while let Some(info) = list.next().await {
            names.push(info.unwrap().name);
        }
        names.sort();
        names
    }

    /// How many times the job's record was written `done`.
    async fn times_done(&self, id: &str) -> usize {
        let kv = self.js.get_key_value("zkinfer_jobs").await.unwrap();
        let mut history = kv.history(id).await.unwrap();
        let mut done = 0;
        while let Some(entry) = history.next().await {
            let entry = entry.unwrap();
            if let Ok(r) = serde_json::from_slice::<JobRecord>(&entry.value) {
                done += usize::from(r.state == JobState::Done);
            }
        }
        done
    }

    async fn stream_messages(&self) -> u64 {
        let mut stream = self.js.get_stream("ZKINFER_JOBS").await.unwrap();
        stream.info().await.unwrap().state.messages
    }
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn worker_metrics(w: &Worker) -> String {
    String::from_utf8(get(w.metrics, "/metrics").await.body).unwrap()
}

const DONE: &str = r#"zkinfer_worker_jobs_total{model="authorization",result="done"} "#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_prove_every_job_and_the_proofs_verify() {
    let Some(nats) = nats::start() else { return };
    let server = fleet_server(&nats, 16).await;
    // One worker has no keys: it fetches them from the fleet's store (the
    // service shared them) and checks them; the other has them cached.
    let (_keys, fresh) = empty_keys();
    let model = model_path("authorization");
    let a = Worker::start(&nats.url(), "wa", &model, &fresh, 5.0, &[]);
    let b = Worker::start(
        &nats.url(),
        "wb",
        &model,
        &cache_dir().join("keys"),
        5.0,
        &[],
    );
    assert!(
        a.ready.contains("authorization keys fetched"),
        "{}",
        a.ready
    );
    assert!(b.ready.contains("authorization keys cache"), "{}", b.ready);

    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(submit(server.addr).await);
    }
    // A synchronous proof through the fleet, as `prove` answers it.
    let expected = expected_output(&server.service);
    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    check_proof(&server.service, &answer, &expected);
    assert!(answer.json()["timing"]["prove_ms"].as_f64().is_some());

    let views = wait_all(server.addr, &ids, Duration::from_secs(60)).await;
    for v in &views {
        check_done(&server.service, v);
        assert!(["wa", "wb"].contains(&v["worker"].as_str().unwrap()), "{v}");
    }
    let store = Store::connect(&nats).await;
    assert_eq!(store.proof_names().await.len(), 5);
    let (ma, mb) = (worker_metrics(&a).await, worker_metrics(&b).await);
    assert_eq!(metric(&ma, DONE) + metric(&mb, DONE), 5.0, "{ma}\n{mb}");

    let health = get(server.addr, "/healthz").await.json();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["fleet"]["workers_seen"], 2, "{health}");
    assert_eq!(health["fleet"]["queue_depth"], 0, "{health}");
    let worker_health = get(a.metrics, "/healthz").await.json();
    assert_eq!(worker_health["id"], "wa");
    server.shutdown().await;
}

/// A model served with hidden weights (`--weights-of`) and a worker started
/// with `--weights hidden`: the fleet's proofs are zero-knowledge ones that
/// verify under the service's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_proves_hidden_weights_and_a_private_input_with_zero_knowledge() {
    use zkinfer::zk::model::{self as zk_model, ZkModelProof};
    let Some(nats) = nats::start() else { return };
    let config = ServiceConfig {
        weights_of: [(
            "authorization".to_string(),
            zkinfer::proof::WeightVisibility::Hidden,
        )]
        .into(),
        input_of: [(
            "authorization".to_string(),
            zkinfer::proof::InputVisibility::Private,
        )]
        .into(),
        ..ServiceConfig::default()
    };
    let server = fleet_server_with(&nats, 16, config).await;
    let model = model_path("authorization");
    let _w = Worker::start(
        &nats.url(),
        "wz",
        &model,
        &cache_dir().join("keys"),
        5.0,
        &["--weights", "hidden"],
    );
    let ids = [submit(server.addr).await];
    let views = wait_all(server.addr, &ids, Duration::from_secs(60)).await;
    assert_eq!(views[0]["state"], "done", "{}", views[0]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(views[0]["proof"].as_str().unwrap())
        .unwrap();
    let proof = ZkModelProof::from_bytes(&bytes).expect("a zero-knowledge proof file");
    let vk = &server.service.models().next().unwrap().pk.vk;
    assert!(vk.visibility.is_zk());
    // The service serves the model with private inputs: the job told the
    // worker, whose proof holds no input, and the service checked its output.
    assert!(proof.private_input && proof.input.is_empty());
    zk_model::verify(vk, &[], &proof).unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_proof_loses_its_job_to_another() {
    let Some(nats) = nats::start() else { return };
    let server = fleet_server(&nats, 16).await;
    let model = model_path("authorization");
    let keys = cache_dir().join("keys");
    let mut a = Worker::start(&nats.url(), "wk", &model, &keys, 2.0, &[]);
    let ids = [
        submit(server.addr).await,
        submit(server.addr).await,
        submit(server.addr).await,
    ];
    // Kill `wk` while it proves one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let victim = 'found: loop {
        for id in &ids {
            if let Some(v) = job(server.addr, id).await {
                if v["state"] == "proving" && v["worker"] == "wk" {
                    break 'found id.clone();
                }
            }
        }
        assert!(Instant::now() < deadline, "wk never started a job");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    a.kill();
    let b = Worker::start(&nats.url(), "ws", &model, &keys, 2.0, &[]);
    let views = wait_all(server.addr, &ids, Duration::from_secs(60)).await;
    for v in &views {
        check_done(&server.service, v);
    }
    let lost = views.iter().find(|v| v["id"] == victim.as_str()).unwrap();
    assert_eq!(lost["worker"], "ws", "{lost}");
    assert!(lost["attempts"].as_u64().unwrap() >= 2, "{lost}");
    // Every job stored once, recorded done once.
    let store = Store::connect(&nats).await;
    let mut expected: Vec<String> = ids.to_vec();
    expected.sort();
    let stored = store.proof_names().await;
    assert!(
        expected.iter().all(|id| stored.contains(id)),
        "{stored:?} lacks one of {expected:?}"
    );
    for id in &ids {
        assert_eq!(store.times_done(id).await, 1, "job {id}");
    }
    assert_eq!(store.stream_messages().await, 0, "every job acked");
    let mb = worker_metrics(&b).await;
    assert!(
        metric(
            &mb,
            r#"zkinfer_worker_redeliveries_total{model="authorization"} "#
        ) >= 1.0,
        "{mb}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_run_loses_no_job() {
    let Some(mut nats) = nats::start() else {
        return;
    };
    let server = fleet_server(&nats, 16).await;
    let model = model_path("authorization");
    let w = Worker::start(
        &nats.url(),
        "wr",
        &model,
        &cache_dir().join("keys"),
        2.0,
        &[],
    );
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(server.addr).await);
    }
    // Restart once the first proof is underway, while most jobs wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(job(server.addr, &ids[0]).await, Some(v) if v["state"] != "queued") {
        assert!(Instant::now() < deadline, "no job started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::block_in_place(|| nats.restart());
    let mut waiting = 0;
    for id in &ids {
        let state = loop {
            if let Some(v) = job(server.addr, id).await {
                break v["state"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        waiting += usize::from(state == "queued" || state == "proving");
    }
    assert!(
        waiting >= 2,
        "the restart came too late to matter ({waiting} jobs left)"
    );
    let views = wait_all(server.addr, &ids, Duration::from_secs(90)).await;
    for v in &views {
        check_done(&server.service, v);
    }
    // And the service still proves through the fleet after the restart.
    let expected = expected_output(&server.service);
    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    check_proof(&server.service, &answer, &expected);
    let store = Store::connect(&nats).await;
    for id in &ids {
        assert_eq!(store.times_done(id).await, 1, "job {id}");
    }
    drop(w);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_is_one_job_and_a_full_stream_is_queue_full() {
    let Some(nats) = nats::start() else { return };
    // No workers: jobs stay queued, so the stream's contents can be counted.
    let server = fleet_server(&nats, 3).await;
    let key = [("idempotency-key", "payment-0042")];
    let body = prove_body("proof");
    let (x, y, z) = tokio::join!(
        post_with(server.addr, JOBS, &body, &key),
        post_with(server.addr, JOBS, &body, &key),
        post_with(server.addr, JOBS, &body, &key),
    );
    let answers: Vec<Value> = [x, y, z]
        .into_iter()
        .map(|a| {
            assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
            a.json()
        })
        .collect();
    let id = answers[0]["id"].as_str().unwrap();
    assert!(answers.iter().all(|a| a["id"] == id), "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a["replayed"] == false).count(), 1);
    let store = Store::connect(&nats).await;
    assert_eq!(store.stream_messages().await, 1, "one job enqueued");
    let conflict = post_with(
        server.addr,
        JOBS,
        &json!({"input_data": [vec![0.25; 64]]}),
        &key,
    )
    .await;
    assert_eq!(conflict.error_code(), "idempotency_conflict");
    assert_eq!(job(server.addr, id).await.unwrap()["state"], "queued");

    // Two more fill the stream of 3; the next is refused, and not recorded.
    submit(server.addr).await;
    submit(server.addr).await;
    let full = post(server.addr, JOBS, &prove_body("proof")).await;
    assert_eq!((full.status, full.error_code()), (503, "queue_full".into()));
    assert!(full.headers.contains_key("retry-after"));
    assert_eq!(store.stream_messages().await, 3);
    let health = get(server.addr, "/healthz").await.json();
    assert_eq!(health["fleet"]["queue_depth"], 3, "{health}");
    assert_eq!(health["fleet"]["status"], "no_workers", "{health}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_worker_can_prove_ends_failed_with_the_reason() {
    let Some(nats) = nats::start() else { return };
    let server = fleet_server(&nats, 16).await;
    // This worker has the model with public weights: another verifying key
    // than the service's, so it must not prove the service's jobs.
    let (_keys, fresh) = empty_keys();
    let _w = Worker::start(
        &nats.url(),
        "wp",
        &model_path("authorization"),
        &fresh,
        2.0,
        &["--weights", "public", "--max-deliver", "2"],
    );
    let id = submit(server.addr).await;
    let views = wait_all(
        server.addr,
        std::slice::from_ref(&id),
        Duration::from_secs(30),
    )
    .await;
    let v = &views[0];
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    let reason = v["error"].as_str().unwrap();
    assert!(reason.contains("verifying key"), "{reason}");
    assert!(v.get("proof").is_none());
    // A synchronous proof fails the same way, naming the reason.
    let answer = post(server.addr, PROVE, &prove_body("proof")).await;
    assert_eq!(answer.status, 500);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("verifying key"),
        "{}",
        answer.json()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_every_worker_dies_ends_failed() {
    let Some(nats) = nats::start() else { return };
    let server = fleet_server(&nats, 16).await;
    // One delivery allowed: when the only worker dies mid-proof, JetStream
    // gives the job up and the service records why (max-deliveries advisory).
    let mut w = Worker::start(
        &nats.url(),
        "wd",
        &model_path("authorization"),
        &cache_dir().join("keys"),
        1.0,
        &["--max-deliver", "1"],
    );
    let id = submit(server.addr).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(job(server.addr, &id).await, Some(v) if v["state"] == "proving") {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.kill();
    // JetStream notices the exhausted job when a live worker next asks for
    // work: another one starts, and must not get it.
    let other = Worker::start(
        &nats.url(),
        "wl",
        &model_path("authorization"),
        &cache_dir().join("keys"),
        1.0,
        &["--max-deliver", "1"],
    );
    let views = wait_all(
        server.addr,
        std::slice::from_ref(&id),
        Duration::from_secs(30),
    )
    .await;
    let v = &views[0];
    assert_eq!(v["state"], "failed", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("without an outcome"),
        "{v}"
    );
    let store = Store::connect(&nats).await;
    assert_eq!(
        store.stream_messages().await,
        0,
        "the abandoned job left the stream"
    );
    let m = worker_metrics(&other).await;
    assert_eq!(metric(&m, DONE), 0.0, "{m}");
    server.shutdown().await;
}

#[test]
fn worker_arguments_are_checked_before_it_connects() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("worker")
            .args(args)
            .env("ZKINFER_CACHE_DIR", cache_dir())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let model = model_path("authorization");
    let model = model.to_str().unwrap();
    // Port 1 refuses connections: none of these may get that far.
    let nats = ["--nats", "nats://127.0.0.1:1"];
    let e = run(&[&nats[..], &["--models", "/nonexistent/m.onnx"]].concat());
    assert!(
        e.contains("cannot read model file `/nonexistent/m.onnx`"),
        "{e}"
    );
    let e = run(&[&nats[..], &["--models", model, model]].concat());
    assert!(e.contains("two models are named `authorization`"), "{e}");
    let e = run(&[&nats[..], &["--models", model, "--workers", "0"]].concat());
    assert!(e.contains("--workers must be at least 1"), "{e}");
    let e = run(&[&nats[..], &["--models", model, "--max-deliver", "0"]].concat());
    assert!(e.contains("--max-deliver must be at least 1"), "{e}");
    let e = run(&[&nats[..], &["--models", model, "--ack-wait-s", "0"]].concat());
    assert!(e.contains("--ack-wait-s must be a positive number"), "{e}");
    let e = run(&[&nats[..], &["--models", model, "--id", "a.b"]].concat());
    assert!(e.contains("--id `a.b`"), "{e}");
    let e = run(&["--models", model]);
    assert!(e.contains("--nats URL is required"), "{e}");
    let e = run(&["--nats", "not a url", "--models", model]);
    assert!(e.contains("not a NATS URL"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_user_password_token_and_tls_are_used() {
    let connect = |url: String, f: &dyn Fn(&mut NatsOptions)| {
        let mut o = NatsOptions {
            url,
            name: "auth-test".into(),
            // Refusals are final: no retrying them.
            connect_retry: Duration::ZERO,
            ..NatsOptions::default()
        };
        f(&mut o);
        async move { o.connect().await.map(|_| ()).map_err(|e| e.to_string()) }
    };
    // User and password.
    let Some(nats) = nats::start_with(&["--user", "zk", "--pass", "s3cret"]) else {
        return;
    };
    let ok = connect(nats.url(), &|o| {
        o.user = Some("zk".into());
        o.password = Some("s3cret".into());
    });
    ok.await.unwrap();
    let wrong = connect(nats.url(), &|o| {
        o.user = Some("zk".into());
        o.password = Some("guess".into());
    });
    let e = wrong.await.unwrap_err();
    assert!(e.contains("cannot connect to NATS"), "{e}");
    let e = connect(nats.url(), &|o| o.user = Some("zk".into()))
        .await
        .unwrap_err();
    assert!(e.contains("needs a password"), "{e}");
    drop(nats);
    // A token.
    let nats = nats::start_with(&["--auth", "t0ken"]).unwrap();
    connect(nats.url(), &|o| o.token = Some("t0ken".into()))
        .await
        .unwrap();
    assert!(connect(nats.url(), &|_| {}).await.is_err());
    drop(nats);
    // TLS with a CA of our own: tls:// and --nats-tls-ca.
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let nats = nats::start_with(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ])
    .unwrap();
    let tls_url = format!("tls://127.0.0.1:{}", nats.port);
    let ca = cert.clone();
    connect(tls_url.clone(), &|o| o.tls_ca = Some(ca.clone()))
        .await
        .unwrap();
    // Without our CA the server's certificate is not trusted.
    assert!(connect(tls_url, &|_| {}).await.is_err());
}
