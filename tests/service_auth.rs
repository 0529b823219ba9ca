//! Access control of the prover service (issue #20): API keys (401/403), per-key
//! quotas (429), TLS, reloading on SIGHUP, the loopback rule, key-file errors,
//! the key tool and the audit log, and a statistical check that comparing keys
//! takes the same time wherever (and whether) the presented key matches.
//!
//! Servers run in-process on ephemeral loopback ports (`common::service`), or
//! as `zkinfer serve` children for the command-line flags. `authorization`
//! proves in about a second, and no test here proves more than twice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use zkinfer::service::auth::{sha256, KeyFile, KeyRing, SecretHash};
use zkinfer::service::{check_exposure, ServiceConfig, ServiceError, TlsFiles};

use crate::common;

use crate::common::service::*;

/// A `[[key]]` entry for `secret` (stored as its SHA-256) with `grants`
/// (TOML lines: models, tiers, scopes, quotas).
fn entry(name: &str, secret: &str, grants: &str) -> String {
    format!(
        "[[key]]\nname = \"{name}\"\nhash = \"{}\"\n{grants}\n\n",
        SecretHash::sha256_of(secret)
    )
}

/// Replaces `path` at once (write beside it, then rename), as an operator's
/// editor or `zkinfer keys` would, so a reload never reads half a file.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn keyed_config(path: &Path) -> ServiceConfig {
    ServiceConfig {
        auth_keys: Some(path.to_path_buf()),
        ..ServiceConfig::default()
    }
}

/// Sends SIGHUP to this test process: the in-process server's handler
/// (registered by `serve` before its first connection) reloads.
fn sighup_self() {
    let status = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never saw: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metrics_text(addr: SocketAddr, key: &str) -> String {
    let answer = get_as(addr, key, "/metrics").await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    String::from_utf8(answer.body).unwrap()
}

fn retry_after(answer: &Answer) -> u64 {
    answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

const ALICE: &str = "alice-secret";
const OPS: &str = "ops-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_get_401_without_a_valid_key_and_403_outside_their_grants() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    replace(
        &keys,
        &[
            entry(
                "alice",
                ALICE,
                "models = [\"authorization\"]\ntiers = [\"inference\"]",
            ),
            entry(
                "ops",
                OPS,
                "models = [\"*\"]\ntiers = [\"inference\", \"proof\"]\nscopes = [\"metrics\"]",
            ),
        ]
        .concat(),
    );
    let server = Server::start_with(
        vec![model_path("authorization"), model_path("perceptron")],
        keyed_config(&keys),
    )
    .await;
    let addr = server.addr;
    let inference = prove_body("inference");
    let body = serde_json::to_vec(&inference).unwrap();

    // 401: no key, a wrong key, another scheme, on any route but /healthz
    // (unknown routes too, so they reveal nothing).
    let unauthenticated = [
        request(addr, "POST", PROVE, body.clone()).await,
        request_as(addr, Some("wrong"), "POST", PROVE, body.clone()).await,
        request_as(addr, Some(&ALICE[..5]), "POST", PROVE, body.clone()).await,
        request(addr, "GET", "/v1/models", Vec::new()).await,
        request(addr, "GET", "/metrics", Vec::new()).await,
        request(addr, "GET", "/v2/anything", Vec::new()).await,
    ];
    for (i, answer) in unauthenticated.iter().enumerate() {
        assert_eq!(answer.status, 401, "case {i}");
        assert_eq!(answer.error_code(), "unauthorized", "case {i}");
        assert!(
            answer.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "case {i}"
        );
    }
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let other_scheme = exchange(
        TokioIo::new(stream),
        &addr.to_string(),
        "GET",
        "/v1/models",
        Vec::new(),
        &[("authorization", "Basic YWxpY2U6eA==")],
    )
    .await
    .unwrap();
    assert_eq!(other_scheme.status, 401);
    assert_eq!(get(addr, "/healthz").await.status, 200);

    // Within its grants alice is served; the model list shows only hers.
    let ok = post_as(addr, ALICE, PROVE, &inference).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let listed = get_as(addr, ALICE, "/v1/models").await.json();
    assert_eq!(listed["models"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["models"][0]["name"], "authorization");
    assert_eq!(
        get_as(addr, OPS, "/v1/models").await.json()["models"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // 403: a tier, a model, a scope she lacks. A model she may not use is
    // 403 whether or not it is served; one nobody serves is 404 to ops.
    let forbidden = [
        post_as(addr, ALICE, PROVE, &prove_body("proof")).await,
        post_as(
            addr,
            ALICE,
            "/v1/models/perceptron/prove",
            &json!({"input_data": [[0.5]], "tier": "inference"}),
        )
        .await,
        post_as(
            addr,
            ALICE,
            "/v1/models/nothing/prove",
            &json!({"input_data": [[0.5]], "tier": "inference"}),
        )
        .await,
        post_as(
            addr,
            ALICE,
            "/v1/verify",
            &json!({"model": "perceptron", "proof": "AAAA"}),
        )
        .await,
        get_as(addr, ALICE, "/metrics").await,
    ];
    for (i, answer) in forbidden.iter().enumerate() {
        assert_eq!(
            answer.status,
            403,
            "case {i}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.error_code(), "forbidden", "case {i}");
        let message = answer.json()["error"]["message"].to_string();
        assert!(message.contains("`alice`"), "case {i}: {message}");
    }
    assert!(forbidden[0].json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("may not request the `proof` tier"));
    let unknown = post_as(
        addr,
        OPS,
        "/v1/models/nothing/prove",
        &json!({"input_data": [[0.5]], "tier": "inference"}),
    )
    .await;
    assert_eq!(unknown.error_code(), "unknown_model");

    let text = metrics_text(addr, OPS).await;
    for needle in [
        r#"zkinfer_errors_total{code="unauthorized"} 7"#,
        r#"zkinfer_key_rejections_total{key="alice",reason="forbidden_tier"} 1"#,
        r#"zkinfer_key_rejections_total{key="alice",reason="forbidden_model"} 3"#,
        r#"zkinfer_key_rejections_total{key="alice",reason="forbidden_scope"} 1"#,
        r#"zkinfer_key_rejections_total{key="ops",reason="unknown_model"} 1"#,
        r#"zkinfer_key_requests_total{key="alice",route="/v1/models/{name}/prove",status="200"} 1"#,
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_quota_gets_429_while_other_keys_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let grants = "models = [\"authorization\"]\ntiers = [\"inference\", \"proof\"]";
    replace(
        &keys,
        &[
            entry(
                "chatty",
                "chatty-secret",
                &format!("{grants}\nrequests_per_minute = 2"),
            ),
            // One of the service's 4 slots, and one proof a minute.
            entry(
                "hog",
                "hog-secret",
                &format!("{grants}\nqueue_share = 0.25\nproofs_per_minute = 1"),
            ),
            entry(
                "other",
                "other-secret",
                &format!("{grants}\nscopes = [\"metrics\"]"),
            ),
        ]
        .concat(),
    );
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 3,
        ..keyed_config(&keys)
    })
    .await;
    let addr = server.addr;
    let expected = expected_output(&server.service);
    let inference = prove_body("inference");

    // Requests per minute: a burst of 2, then 429 with a wait; others go on.
    for _ in 0..2 {
        assert_eq!(
            post_as(addr, "chatty-secret", PROVE, &inference)
                .await
                .status,
            200
        );
    }
    let limited = post_as(addr, "chatty-secret", PROVE, &inference).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error_code(), "rate_limited");
    assert!(
        (1..=60).contains(&retry_after(&limited)),
        "{:?}",
        limited.headers
    );
    assert!(limited.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("requests_per_minute"));
    assert_eq!(
        post_as(addr, "other-secret", PROVE, &inference)
            .await
            .status,
        200
    );

    // A share of the queue: while hog's proof runs, its second is refused at
    // once (429, not the service's 503), and another key's proof is admitted.
    let first =
        tokio::spawn(async move { post_as(addr, "hog-secret", PROVE, &prove_body("proof")).await });
    eventually("hog's proof running", || async {
        get(addr, "/healthz").await.json()["workers_busy"] == 1
    })
    .await;
    let second = post_as(addr, "hog-secret", PROVE, &prove_body("proof")).await;
    assert_eq!(
        second.status,
        429,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert_eq!(second.error_code(), "rate_limited");
    assert!(retry_after(&second) >= 1);
    assert!(second.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("queue_share"));
    let other =
        tokio::spawn(
            async move { post_as(addr, "other-secret", PROVE, &prove_body("proof")).await },
        );
    check_proof(&server.service, &first.await.unwrap(), &expected);
    check_proof(&server.service, &other.await.unwrap(), &expected);

    // Proofs per minute: its slot is free now, but its one proof is spent.
    let third = post_as(addr, "hog-secret", PROVE, &prove_body("proof")).await;
    assert_eq!(third.status, 429);
    assert!(
        (30..=60).contains(&retry_after(&third)),
        "{:?}",
        third.headers
    );
    assert!(third.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("proofs_per_minute"));
    // ... and the inference tier is not a proof.
    assert_eq!(
        post_as(addr, "hog-secret", PROVE, &inference).await.status,
        200
    );

    // Metrics by key: the reasons are told apart.
    let text = metrics_text(addr, "other-secret").await;
    for needle in [
        r#"zkinfer_key_rejections_total{key="chatty",reason="requests_per_minute"} 1"#,
        r#"zkinfer_key_rejections_total{key="hog",reason="queue_share"} 1"#,
        r#"zkinfer_key_rejections_total{key="hog",reason="proofs_per_minute"} 1"#,
        r#"zkinfer_key_proofs_total{key="hog",model="authorization"} 1"#,
        r#"zkinfer_key_proofs_total{key="other",model="authorization"} 1"#,
        r#"zkinfer_errors_total{code="rate_limited"} 3"#,
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
    assert!(!text.contains(r#"code="queue_full""#), "{text}");
    server.shutdown().await;
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert PEM, key
/// PEM, cert DER).
fn self_signed() -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().clone(),
    )
}

/// A TLS client that trusts only `cert`.
fn tls_client(cert: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A request over TLS to `localhost` at `addr`, or why it failed.
async fn https(
    client: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = client
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let bearer = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    exchange(TokioIo::new(tls), "localhost", method, path, body, &headers)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_refuses_plain_http_and_reloads_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem, cert_der) = self_signed();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    replace(&files.cert, &cert_pem);
    replace(&files.key, &key_pem);
    let keys = dir.path().join("keys.toml");
    replace(
        &keys,
        &entry(
            "alice",
            ALICE,
            "models = [\"authorization\"]\ntiers = [\"inference\"]",
        ),
    );
    let server = Server::start(ServiceConfig {
        tls: Some(files.clone()),
        ..keyed_config(&keys)
    })
    .await;
    let addr = server.addr;
    let client = tls_client(cert_der.clone());
    let body = serde_json::to_vec(&prove_body("inference")).unwrap();

    let health = https(&client, addr, None, "GET", "/healthz", Vec::new())
        .await
        .unwrap();
    assert_eq!(health.status, 200);
    let answer = https(&client, addr, Some(ALICE), "POST", PROVE, body.clone())
        .await
        .unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        floats(&answer.json()["output"]),
        expected_output(&server.service)
    );
    let refused = https(&client, addr, None, "POST", PROVE, body.clone())
        .await
        .unwrap();
    assert_eq!(refused.status, 401);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let plain = tokio::time::timeout(
        Duration::from_secs(30),
        exchange(
            TokioIo::new(tcp),
            &addr.to_string(),
            "GET",
            "/healthz",
            Vec::new(),
            &[],
        ),
    )
    .await
    .expect("the server ends a plain-HTTP connection");
    assert!(
        plain.is_err(),
        "plain HTTP was answered: {}",
        plain.unwrap().status
    );

    // A new certificate: a client that trusts only it fails until the reload
    // (the entry point SIGHUP calls), then succeeds; the old one stops working.
    let (cert2_pem, key2_pem, cert2_der) = self_signed();
    let client2 = tls_client(cert2_der);
    replace(&files.cert, &cert2_pem);
    replace(&files.key, &key2_pem);
    assert!(https(&client2, addr, None, "GET", "/healthz", Vec::new())
        .await
        .is_err());
    let report = server.service.reload();
    assert!(report.ok(), "{report:?}");
    assert!(matches!(report.tls, Some(Ok(()))));
    let after = https(&client2, addr, None, "GET", "/healthz", Vec::new())
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    // A client that trusts only the old certificate now fails (a fresh one:
    // the first client could resume its TLS session without a certificate).
    assert!(https(
        &tls_client(cert_der),
        addr,
        None,
        "GET",
        "/healthz",
        Vec::new()
    )
    .await
    .is_err());

    // A key that does not match the certificate is refused on reload and the
    // pair in use stays.
    let (_, other_key, _) = self_signed();
    replace(&files.key, &other_key);
    let report = server.service.reload();
    let Some(Err(e)) = &report.tls else {
        panic!("a mismatched key reloaded: {report:?}")
    };
    assert!(e.to_string().contains("key.pem"), "{e}");
    let still = https(&client2, addr, None, "GET", "/healthz", Vec::new())
        .await
        .unwrap();
    assert_eq!(still.status, 200);
    server.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_keys_without_dropping_in_flight_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    replace(
        &keys,
        &entry(
            "old",
            "old-secret",
            "models = [\"authorization\"]\ntiers = [\"proof\"]",
        ),
    );
    let server = Server::start(ServiceConfig {
        workers: 1,
        queue: 1,
        ..keyed_config(&keys)
    })
    .await;
    let addr = server.addr;
    let expected = expected_output(&server.service);
    // The server answers, so `serve` has registered its SIGHUP handler.
    assert_eq!(get_as(addr, "old-secret", "/v1/models").await.status, 200);

    let in_flight =
        tokio::spawn(async move { post_as(addr, "old-secret", PROVE, &prove_body("proof")).await });
    eventually("the proof running", || async {
        get(addr, "/healthz").await.json()["workers_busy"] == 1
    })
    .await;
    // The old key is revoked and a new one added while it proves.
    replace(
        &keys,
        &entry(
            "new",
            "new-secret",
            "models = [\"*\"]\ntiers = [\"inference\"]\nscopes = [\"metrics\"]",
        ),
    );
    sighup_self();
    eventually("the new key accepted", || async {
        get_as(addr, "new-secret", "/v1/models").await.status == 200
    })
    .await;
    assert_eq!(get_as(addr, "old-secret", "/v1/models").await.status, 401);
    // The proof admitted under the old key is answered.
    check_proof(&server.service, &in_flight.await.unwrap(), &expected);

    // A broken file is refused on reload: the keys in use stay.
    replace(&keys, "[[key]]\nname = \"broken\"\nmodels = [\"*\"]\n");
    sighup_self();
    eventually("the failed reload counted", || async {
        metrics_text(addr, "new-secret")
            .await
            .contains(r#"zkinfer_reloads_total{what="keys",result="error"}"#)
    })
    .await;
    assert_eq!(get_as(addr, "new-secret", "/v1/models").await.status, 200);
    assert_eq!(get_as(addr, "old-secret", "/v1/models").await.status, 401);
    let text = metrics_text(addr, "new-secret").await;
    assert!(
        text.contains(r#"zkinfer_reloads_total{what="keys",result="ok"}"#),
        "{text}"
    );
    // The reload entry point says why.
    let report = server.service.reload();
    let Some(Err(e)) = &report.keys else {
        panic!("{report:?}")
    };
    let message = e.to_string();
    assert!(
        message.contains("keys.toml") && message.contains("entry 1") && message.contains("hash"),
        "{message}"
    );
    server.shutdown().await;
}

/// The time to find a presented key among 256 does not depend on which key
/// it matches, whether it matches any, or how many leading bytes it shares
/// with a stored one.
///
/// This measures `KeyRing::lookup_digest` (the comparison the service runs
/// on every request) with digests equal to the first and the last key, one
/// differing from the first in its last byte only (31 bytes in common) and
/// one differing in its first byte, interleaved, many trials each, and
/// compares the medians. An early exit at the matching key would make the
/// first key's lookups about 256 times faster; the bound allows 1.5x, and the
/// measurement is repeated up to 3 times, so a loaded machine cannot fail it.
/// It cannot prove constant time (that is `subtle`'s job); it catches code
/// that stops comparing early (an early-exit lookup measured about 18x here).
/// It is the one test that looks at time, as issue #20 asks: it compares
/// times with each other, never with a number of seconds.
#[test]
fn key_comparison_time_does_not_depend_on_the_matching_key_or_prefix() {
    use std::hint::black_box;
    let secret = |i: usize| format!("secret {i}");
    let text: String = (0..256)
        .map(|i| entry(&format!("k{i}"), &secret(i), "models = [\"*\"]"))
        .collect();
    let file = KeyFile::parse(Path::new("timing.toml"), &text).unwrap();
    let ring = KeyRing::new(&file);
    let first = sha256(secret(0).as_bytes());
    let last = sha256(secret(255).as_bytes());
    let mut prefix_31 = first;
    prefix_31[31] ^= 1;
    let mut prefix_0 = first;
    prefix_0[0] ^= 1;
    let cases = [
        ("first key", first),
        ("last key", last),
        ("31-byte prefix", prefix_31),
        ("0-byte prefix", prefix_0),
    ];
    assert_eq!(ring.lookup_digest(&first).unwrap().name(), "k0");
    assert_eq!(ring.lookup_digest(&last).unwrap().name(), "k255");
    assert!(ring.lookup_digest(&prefix_31).is_none());
    assert!(ring.lookup_digest(&prefix_0).is_none());

    const TRIALS: usize = 201;
    const LOOKUPS: usize = 20;
    let mut spread = Vec::new();
    for attempt in 0..3 {
        let mut times = vec![Vec::with_capacity(TRIALS); cases.len()];
        for trial in 0..TRIALS {
            // Rotate the order so no case always runs first.
            for k in 0..cases.len() {
                let i = (trial + k) % cases.len();
                let digest = cases[i].1;
                let start = Instant::now();
                for _ in 0..LOOKUPS {
                    black_box(ring.lookup_digest(black_box(&digest)));
                }
                times[i].push(start.elapsed());
            }
        }
        let medians: Vec<Duration> = times
            .iter_mut()
            .map(|t| {
                t.sort();
                t[t.len() / 2]
            })
            .collect();
        let max = medians.iter().max().unwrap().as_secs_f64();
        let min = medians.iter().min().unwrap().as_secs_f64();
        let ratio = max / min;
        let named: Vec<String> = cases
            .iter()
            .zip(&medians)
            .map(|((name, _), m)| {
                format!("{name} {:.1} µs", m.as_secs_f64() * 1e6 / LOOKUPS as f64)
            })
            .collect();
        eprintln!(
            "attempt {attempt}: {} (max/min {ratio:.3})",
            named.join(", ")
        );
        if ratio < 1.5 {
            return;
        }
        spread.push(ratio);
    }
    panic!("lookup time depends on the presented key: max/min medians {spread:?}");
}

#[test]
fn a_public_address_without_keys_is_refused_unless_insecure() {
    let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let open = ServiceConfig::default();
    let keyed = ServiceConfig {
        auth_keys: Some(PathBuf::from("keys.toml")),
        ..ServiceConfig::default()
    };
    for loopback in ["127.0.0.1:8080", "127.9.9.9:1", "[::1]:8080"] {
        check_exposure(addr(loopback), &open, false).unwrap();
    }
    for public in ["0.0.0.0:8080", "[::]:8080", "192.0.2.1:80"] {
        let e = check_exposure(addr(public), &open, false).unwrap_err();
        assert!(matches!(e, ServiceError::OpenToNetwork { .. }), "{e}");
        assert!(e.to_string().contains("--insecure-no-auth"), "{e}");
        check_exposure(addr(public), &open, true).unwrap();
        check_exposure(addr(public), &keyed, false).unwrap();
    }

    // The binary refuses before loading anything (nothing is bound) ...
    let serve = |extra: &[&str], model: &Path| {
        Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("serve")
            .arg(model)
            .args(extra)
            .env("ZKINFER_CACHE_DIR", cache_dir())
            .env_remove("ZKINFER_KEYS")
            .output()
            .unwrap()
    };
    let out = serve(&["--addr", "0.0.0.0:0"], &model_path("authorization"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without API keys"),
        "{stderr}"
    );
    // ... and with --insecure-no-auth goes on, with a warning, to load the
    // model (here one that does not exist, so nothing is bound either).
    let missing = Path::new("/nonexistent/model.onnx");
    let out = serve(&["--addr", "0.0.0.0:0", "--insecure-no-auth"], missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
    assert!(stderr.contains("/nonexistent/model.onnx"), "{stderr}");
}

#[test]
fn bad_key_and_tls_files_are_refused_naming_the_file_the_entry_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let load = |config: ServiceConfig| {
        load(&[model_path("authorization")], config)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let keys = dir.path().join("keys.toml");
    let good = entry("good", "s", "models = [\"*\"]");
    for (text, needles) in [
        (
            format!("{good}[[key]]\nname = \"leaky\"\nhash = \"zki_abcdef\"\nmodels = [\"*\"]\n"),
            vec!["entry 2", "line 6", "key `leaky`", "looks like a secret"],
        ),
        (
            format!("{good}[[key]]\nname = \"t\"\nhash = \"sha256:{}\"\nmodels = [\"*\"]\ntiers = [\"fast\"]\n", "0".repeat(64)),
            vec!["entry 2", "key `t`", "`fast` is not a tier"],
        ),
        (format!("{good}{good}"), vec!["entry 2", "key `good`", "already used by entry 1"]),
        ("[[key]]\nname = 1\n".to_string(), vec!["line 2", "name"]),
        (
            format!("{good}[[key]]\nmodels = [\"*\"]\n"),
            vec!["entry 2", "no name", "`name` is missing"],
        ),
        ("not toml at all".to_string(), vec!["line 1"]),
    ] {
        replace(&keys, &text);
        let e = load(keyed_config(&keys));
        assert!(e.contains(&keys.display().to_string()), "{e}");
        for needle in needles {
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        }
    }
    let e = load(keyed_config(&dir.path().join("missing.toml")));
    assert!(
        e.contains("cannot read key file") && e.contains("missing.toml"),
        "{e}"
    );

    // TLS: a missing file, a file with no certificate, a key of another certificate.
    let (cert, _, _) = self_signed();
    let (_, other_key, _) = self_signed();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let tls = |cert: &Path, key: &Path| ServiceConfig {
        tls: Some(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        ..ServiceConfig::default()
    };
    replace(&key_path, &other_key);
    let e = load(tls(&dir.path().join("nope.pem"), &key_path));
    assert!(
        e.contains("TLS certificate") && e.contains("nope.pem"),
        "{e}"
    );
    replace(&cert_path, "hello");
    let e = load(tls(&cert_path, &key_path));
    assert!(
        e.contains("cert.pem") && e.contains("no PEM certificate"),
        "{e}"
    );
    replace(&cert_path, &cert);
    let e = load(tls(&cert_path, &key_path));
    assert!(e.contains("cert.pem") && e.contains("key.pem"), "{e}");

    // The binary says the same and exits 2, without a panic.
    replace(&keys, &format!("{good}{good}"));
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .arg("serve")
        .arg(model_path("authorization"))
        .arg("--auth-keys")
        .arg(&keys)
        .env("ZKINFER_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already used by entry 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A `zkinfer serve` child that prints its address first; killed if the test
/// fails before stopping it.
struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_serve(args: &[&str], log: &Path) -> (Child_, SocketAddr) {
    use std::io::BufRead;
    let mut child = Child_(
        Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("serve")
            .arg(model_path("authorization"))
            .args(["--addr", "127.0.0.1:0", "--workers", "1", "--queue", "1"])
            .args(args)
            .env("ZKINFER_CACHE_DIR", cache_dir())
            .env_remove("ZKINFER_KEYS")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = common::listening_addr(&line);
    (child, addr)
}

/// SIGTERM, then the child's log once it has exited.
fn stop(mut child: Child_, log: &Path) -> String {
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(log).unwrap()
}

fn keys_tool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .arg("keys")
        .args(args)
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn the_key_tool_writes_keys_that_serve_accepts_and_every_request_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let file = keys.to_str().unwrap();
    let add = |args: &[&str]| {
        let mut all = vec!["add", file];
        all.extend_from_slice(args);
        keys_tool(&all)
    };

    // `add` prints the secret once and stores only its hash.
    let out = add(&["--name", "ci", "--models", "authorization"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(secret.starts_with("zki_") && secret.len() > 40, "{secret}");
    let stored = std::fs::read_to_string(&keys).unwrap();
    assert!(!stored.contains(&secret), "{stored}");
    assert!(
        stored.contains(&SecretHash::sha256_of(&secret).to_string()),
        "{stored}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a new key file is private: {mode:o}");
    }
    let out = add(&[
        "--name",
        "scraper",
        "--scopes",
        "metrics",
        "--argon2",
        "--proofs-per-minute",
        "5",
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let scraper = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // Mistakes are refused and leave the file as it was.
    let before = std::fs::read_to_string(&keys).unwrap();
    for (args, needle) in [
        (
            vec!["--name", "ci", "--models", "x"],
            "already used by entry 1",
        ),
        (
            vec!["--name", "q", "--models", "x", "--queue-share", "2"],
            "`queue_share` must be in (0, 1]",
        ),
        (
            vec!["--name", "t", "--models", "x", "--tiers", "fast"],
            "--tiers: `fast`",
        ),
        (vec!["--name", "nothing"], "grants nothing"),
    ] {
        let out = add(&args);
        assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
        assert!(
            common::text(&out).contains(needle),
            "{}",
            common::text(&out)
        );
        assert!(out.stdout.is_empty(), "no secret printed for a refused key");
    }
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), before);
    let list = keys_tool(&["list", file, "--json"]);
    assert!(list.status.success(), "{}", common::text(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["name"], "ci");
    assert_eq!(listed[0]["tiers"], json!(["inference", "proof"]));
    assert_eq!(listed[1]["hash"], "argon2");
    assert_eq!(listed[1]["proofs_per_minute"], 5);
    assert!(!common::text(&list).contains(&secret));

    // `serve` takes the file; a proof and a refusal each leave one audit line.
    let log = dir.path().join("serve.log");
    let (child, addr) = spawn_serve(&["--auth-keys", file], &log);
    let input = input_json("authorization")["input_data"].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proof_b64 = runtime.block_on(async {
        assert_eq!(
            post(addr, PROVE, &prove_body("inference")).await.status,
            401
        );
        let answer = post_as(addr, &secret, PROVE, &prove_body("proof")).await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        // The Argon2 key verifies, and has the metrics scope only.
        assert_eq!(get_as(addr, &scraper, "/metrics").await.status, 200);
        assert_eq!(
            get_as(addr, &scraper, "/v1/models").await.json()["models"],
            json!([])
        );
        answer.json()["proof"].as_str().unwrap().to_string()
    });
    let proof = base64::engine::general_purpose::STANDARD
        .decode(proof_b64)
        .unwrap();
    let digest: String = sha256(&proof).iter().map(|b| format!("{b:02x}")).collect();
    let text = stop(child, &log);
    let audit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("zkinfer::audit"))
        .collect();
    assert_eq!(audit.len(), 4, "{text}");
    let refused = audit[0];
    for needle in [
        "key=\"-\"",
        "status=401",
        "error=\"unauthorized\"",
        "route=\"/v1/models/{name}/prove\"",
    ] {
        assert!(refused.contains(needle), "`{needle}` not in {refused}");
    }
    let proved = audit[1];
    for needle in [
        "key=\"ci\"",
        "model=\"authorization\"",
        "tier=\"proof\"",
        "status=200",
        "duration_ms=",
        &format!("proof_digest=\"{digest}\""),
    ] {
        assert!(proved.contains(needle), "`{needle}` not in {proved}");
    }
    assert!(audit[2].contains("key=\"scraper\"") && audit[2].contains("route=\"/metrics\""));
    let input_text = input.to_string();
    assert!(!text.contains("input="), "{text}");
    assert!(
        !text.contains(&input_text[..40]),
        "input values logged: {text}"
    );

    // With --log-inputs the request's input_data is in its line.
    let (child, addr) = spawn_serve(&["--auth-keys", file, "--log-inputs"], &log);
    runtime.block_on(async {
        let answer = post_as(addr, &secret, PROVE, &prove_body("inference")).await;
        assert_eq!(answer.status, 200);
    });
    let text = stop(child, &log);
    let line = text
        .lines()
        .find(|l| l.contains("zkinfer::audit") && l.contains("key=\"ci\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("input="), "{line}");
    assert!(
        line.contains(&input_text[..40].replace('"', "\\\"")),
        "{line}"
    );

    // `remove` takes a key out.
    let out = keys_tool(&["remove", file, "scraper"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let names: Vec<String> = KeyFile::load(&keys)
        .unwrap()
        .entries
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(names, ["ci"]);
}
