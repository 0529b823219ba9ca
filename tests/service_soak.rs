//! A short soak of `zkinfer serve` (the binary, as a child process) with the
//! driver of `examples/soak.rs`: for about 20 s, 4x the admission capacity of
//! clients send valid, malformed, oversized, slow-loris and abandoned requests
//! over loopback. Every answer must be a documented status of the kind its
//! request expects, the server must stay alive, drain and prove afterwards, and
//! its peak resident memory must stay under a bound. Nothing here depends on
//! how fast the machine is.

#[path = "../examples/soak.rs"]
#[allow(dead_code)]
mod soak;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// Peak resident memory (VmHWM) the short soak may reach. The server holds
/// the keys of one small model, proves on one worker and takes bodies of at
/// most 64 KiB; it peaked at 32 MiB when this was written.
const MAX_RSS_MIB: f64 = 256.0;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Kills the server if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_short_soak_gets_documented_answers_and_bounded_memory() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let max_body = 64 << 10;
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("serve")
            .arg(root().join("models/authorization/network.onnx"))
            .args(["--addr", "127.0.0.1:0", "--workers", "1", "--queue", "2"])
            .args(["--timeout-s", "5", "--header-timeout-s", "2"])
            .args(["--max-body", &max_body.to_string()])
            .env(
                "ZKINFER_CACHE_DIR",
                std::env::temp_dir().join("zkinfer-test-cache"),
            )
            .env_remove("ZKINFER_KEYS")
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap(),
    );
    let mut stdout = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: SocketAddr = common::listening_addr(&line);

    let args = soak::Args {
        addr,
        pid: Some(server.0.id()),
        model: "authorization".into(),
        input: root()
            .join("models/authorization/input.json")
            .display()
            .to_string(),
        duration_s: 20.0,
        clients_per_slot: 4,
        max_body,
        max_rss_mib: MAX_RSS_MIB,
        slow_interval_ms: 300,
        give_up_s: 60,
        seed: 7,
        json: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(soak::run(&args)).unwrap();
    let summary = &report.summary;
    eprintln!("{}", serde_json::to_string_pretty(summary).unwrap());
    let server_log = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        report.failures.is_empty(),
        "{:#?}\nserver log:\n{server_log}",
        report.failures
    );
    assert_eq!(summary["clients"], 12, "4 x (1 worker + queue 2)");
    // The hostile kinds were all sent and the slow ones were cut off by the
    // server, not by the client giving up.
    let kinds = summary["by_kind"].as_object().unwrap();
    for kind in [
        "proof",
        "inference",
        "bad_json",
        "bad_shape",
        "oversized",
        "slow_head",
        "slow_body",
        "disconnect",
    ] {
        assert!(kinds.contains_key(kind), "no `{kind}` requests: {summary}");
    }
    assert!(kinds["proof"].get("200").is_some(), "no proof answered 200");
    assert!(
        summary["slow_connections_closed_by_server"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(summary["server_memory_mib"]["samples"].as_u64().unwrap() > 0);

    // And it still stops cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    drop(stdout);
}
