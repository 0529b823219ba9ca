//! A real `nats-server` for the fleet tests: started by the test on a free
//! loopback port with JetStream storing into a temporary folder, restartable
//! on the same port and folder, killed when dropped. Without `nats-server`
//! on PATH the tests fail saying how to install it, unless
//! `ZKINFER_SKIP_NATS=1` asks to skip them.
//!
//! Also `zkinfer worker` processes on such a server.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Extra server arguments (authentication, TLS).
    args: Vec<String>,
}

/// `Some(server)`, or `None` when `ZKINFER_SKIP_NATS=1` and there is no
/// `nats-server`; panics with the reason otherwise.
pub fn start() -> Option<NatsServer> {
    start_with(&[])
}

/// [`start`] with extra `nats-server` arguments.
pub fn start_with(args: &[&str]) -> Option<NatsServer> {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("ZKINFER_SKIP_NATS").as_deref() == Ok("1") {
            eprintln!("ZKINFER_SKIP_NATS=1 and no nats-server on PATH: skipping this test");
            return None;
        }
        panic!(
            "the fleet tests need `nats-server` on PATH (Debian/Ubuntu: `apt-get install \
             nats-server`; .ci/run installs it); set ZKINFER_SKIP_NATS=1 to skip them"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = NatsServer {
        child: None,
        port,
        dir: tempfile::tempdir().unwrap(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    server.launch();
    Some(server)
}

impl NatsServer {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM, as a restart by an operator would) and
    /// starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a signal to one process by id.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// A `zkinfer worker` process.
pub struct Worker {
    pub child: Child,
    pub metrics: SocketAddr,
    /// Its first line (`worker ID ready: ...`).
    pub ready: String,
}

impl Worker {
    /// Starts a worker proving `model` with a lease of `ack_wait_s`,
    /// `extra` arguments, its key cache root `keys`, and waits until it is
    /// ready (keys loaded, consumers bound).
    pub fn start(
        url: &str,
        id: &str,
        model: &Path,
        keys: &Path,
        ack_wait_s: f64,
        extra: &[&str],
    ) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .arg("worker")
            .args(["--nats", url, "--id", id, "--addr", "127.0.0.1:0"])
            .args([
                "--ack-wait-s",
                &ack_wait_s.to_string(),
                "--heartbeat-s",
                "0.5",
            ])
            .arg("--models")
            .arg(model)
            .arg("--keys")
            .arg(keys)
            .args(extra)
            .env("ZKINFER_CACHE_DIR", super::service::cache_dir())
            .env_remove("ZKINFER_KEYS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("zkinfer worker starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with(&format!("worker {id} ready")),
            "worker {id} did not start: `{line}` (its stderr is above)"
        );
        let metrics = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Worker {
            child,
            metrics,
            ready: line,
        }
    }

    /// SIGKILL (sent directly, no `kill` process: the tests race a proof).
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh key cache root (a worker with no keys of its own).
pub fn empty_keys() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}
