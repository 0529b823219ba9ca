//! Load through the prover fleet: starts its own `nats-server` (free loopback
//! port, JetStream in a temporary folder), then for each worker count starts
//! that many `zkinfer worker` processes and measures
//!
//! - throughput: `--jobs` jobs submitted at once, jobs/s until the last is
//!   `done` (after one warm-up job per worker);
//! - CPU per job: user+system seconds of the workers, of `nats-server` and of
//!   this process (the submitting side), from `/proc/PID/stat`, divided by
//!   the jobs;
//! - queueing overhead per job: `--sequential` jobs one at a time on idle
//!   workers; for each, the wall time from submission (record created,
//!   message published) until the `done` record is seen here, minus the
//!   prover's own time (`prove_s`, measured by the worker around
//!   `prove_on`): publish, delivery, record updates, proof upload and the
//!   notification. Median and maximum.
//!
//! The submitting side is the service's library code ([`Fleet::submit`],
//! [`Fleet::wait_final`]) without HTTP, so the figures are the fleet's.
//!
//! ```sh
//! cargo build --release && cargo run --release --example fleet_load -- --workers 1,2
//! ```
//! Needs `nats-server` on PATH and the `zkinfer` binary next to this
//! example's folder (`target/release/zkinfer`), or `--zkinfer PATH`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use zkinfer::backend::CpuBackend;
use zkinfer::fleet::client::Fleet;
use zkinfer::fleet::{FleetConfig, JobMessage, JobRecord, NatsOptions};
use zkinfer::keys::cache::{self, KeyLocation, KeyParams, KeyPolicy, Setups};
use zkinfer::service::jobs;

#[derive(Parser)]
struct Args {
    /// The model (its input.json beside it is the job input).
    #[arg(long, default_value = "models/authorization/network.onnx")]
    model: PathBuf,
    /// Worker counts to measure, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    workers: Vec<usize>,
    /// Jobs submitted at once per worker count.
    #[arg(long, default_value_t = 20)]
    jobs: usize,
    /// Jobs run one at a time for the queueing overhead.
    #[arg(long, default_value_t = 20)]
    sequential: usize,
    /// The zkinfer binary (default: target/release/zkinfer beside this example).
    #[arg(long)]
    zkinfer: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// user+system seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    let hz = 100.0; // USER_HZ on Linux
    (ticks(11) + ticks(12)) / hz
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats(dir: &std::path::Path) -> anyhow::Result<(Proc, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot start nats-server (apt-get install nats-server): {e}")
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((Proc(child), port))
}

fn start_worker(bin: &PathBuf, url: &str, id: &str, model: &PathBuf) -> anyhow::Result<Proc> {
    use std::io::BufRead;
    let mut child = Command::new(bin)
        .args(["worker", "--nats", url, "--id", id, "--addr", "127.0.0.1:0"])
        .arg("--models")
        .arg(model)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    anyhow::ensure!(line.contains("ready"), "worker {id} did not start: {line}");
    Ok(Proc(child))
}

struct Job {
    record: JobRecord,
    message: JobMessage,
}

fn new_job(name: &str, vk: &str, input: &[i64]) -> Job {
    let id = jobs::job_id(None, name, None);
    let digest = jobs::request_digest(name, input, None);
    let record = JobRecord::queued(
        id.clone(),
        name,
        digest,
        None,
        serde_json::Value::Null,
        None,
    );
    let message = JobMessage {
        id,
        model: name.to_string(),
        vk: vk.to_string(),
        input: input.to_vec(),
        created_ms: record.created_ms,
        private_input: false,
    };
    Job { record, message }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = match &args.zkinfer {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("zkinfer"))
            .ok_or_else(|| anyhow::anyhow!("give --zkinfer PATH"))?,
    };
    anyhow::ensure!(
        bin.exists(),
        "no zkinfer binary at {} (cargo build --release, or --zkinfer)",
        bin.display()
    );
    // The model, its keys (in the user's cache, as the workers' are) and input.
    let params = KeyParams {
        import: Default::default(),
        visibility: Default::default(),
    };
    let prepared = cache::prepare(
        CpuBackend::global(),
        &args.model,
        &params,
        &KeyLocation::default_root(),
        &mut Setups::in_default_dir(),
        KeyPolicy::LoadOrBuild,
    )?;
    let name = prepared.name.clone();
    let vk = zkinfer::proof::verdict::vk_fingerprint(&prepared.keys.pk.vk);
    let input_path = args.model.with_file_name("input.json");
    let values = zkinfer::quant::read_input_json(&input_path).map_err(anyhow::Error::msg)?;
    let input = zkinfer::quant::quantize_input(&values, prepared.keys.pk.model.scale_bits);

    let store = tempfile::tempdir()?;
    let (nats, port) = start_nats(store.path())?;
    let url = format!("nats://127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let options = NatsOptions {
        url: url.clone(),
        name: "fleet-load".into(),
        ..Default::default()
    };
    let fleet = Arc::new(runtime.block_on(Fleet::connect(
        &options,
        FleetConfig {
            queue: args.jobs.max(args.sequential) + 8,
            ..Default::default()
        },
    ))?);
    let mut results = Vec::new();
    for &count in &args.workers {
        let workers: Vec<Proc> = (0..count)
            .map(|i| start_worker(&bin, &url, &format!("load{count}-{i}"), &args.model))
            .collect::<anyhow::Result<_>>()?;
        let run = |n: usize, at_once: bool| -> anyhow::Result<(f64, Vec<f64>)> {
            runtime.block_on(async {
                let batch: Vec<Job> = (0..n).map(|_| new_job(&name, &vk, &input)).collect();
                let start = Instant::now();
                let mut overheads = Vec::new();
                if at_once {
                    for j in &batch {
                        fleet.submit(&j.record, &j.message).await?;
                    }
                    for j in &batch {
                        let r = fleet.wait_final(&j.record.id).await?;
                        anyhow::ensure!(
                            r.as_ref().is_some_and(|r| r.state == jobs::JobState::Done),
                            "job {} did not complete: {r:?}",
                            j.record.id
                        );
                    }
                } else {
                    for j in &batch {
                        let t = Instant::now();
                        fleet.submit(&j.record, &j.message).await?;
                        let r = fleet.wait_final(&j.record.id).await?;
                        let wall = t.elapsed().as_secs_f64();
                        let r = r.ok_or_else(|| anyhow::anyhow!("job vanished"))?;
                        anyhow::ensure!(r.state == jobs::JobState::Done, "job failed: {r:?}");
                        overheads.push(wall - r.prove_s.unwrap_or(0.0));
                    }
                }
                Ok((start.elapsed().as_secs_f64(), overheads))
            })
        };
        // Warm-up: one job per worker.
        run(count, true)?;
        let pids: Vec<u32> = workers
            .iter()
            .map(|w| w.0.id())
            .chain([nats.0.id(), std::process::id()])
            .collect();
        let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
        let (seconds, _) = run(args.jobs, true)?;
        let after: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
        let used: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        let worker_cpu: f64 = used[..count].iter().sum();
        let nats_cpu = used[count];
        let own_cpu = used[count + 1];
        let (_, mut overheads) = run(args.sequential, false)?;
        let max_overhead = overheads.iter().cloned().fold(0.0, f64::max);
        let med = median(&mut overheads);
        results.push(serde_json::json!({
            "workers": count,
            "jobs": args.jobs,
            "seconds": seconds,
            "jobs_per_s": args.jobs as f64 / seconds,
            "cpu_s_per_job": {
                "workers": worker_cpu / args.jobs as f64,
                "nats_server": nats_cpu / args.jobs as f64,
                "submitter": own_cpu / args.jobs as f64,
            },
            "queueing_overhead_ms": {"median": med * 1e3, "max": max_overhead * 1e3, "jobs": args.sequential},
        }));
        drop(workers);
    }
    let report = serde_json::json!({
        "model": name,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "results": results,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("model {name}, {} cores", report["cores"]);
        println!("workers  jobs/s   CPU s/job: workers  nats-server  submitter   queueing overhead ms: median  max");
        for r in report["results"].as_array().unwrap() {
            println!(
                "{:>7}  {:>6.2}   {:>18.3}  {:>11.4}  {:>9.4}   {:>28.2}  {:>4.1}",
                r["workers"],
                r["jobs_per_s"].as_f64().unwrap(),
                r["cpu_s_per_job"]["workers"].as_f64().unwrap(),
                r["cpu_s_per_job"]["nats_server"].as_f64().unwrap(),
                r["cpu_s_per_job"]["submitter"].as_f64().unwrap(),
                r["queueing_overhead_ms"]["median"].as_f64().unwrap(),
                r["queueing_overhead_ms"]["max"].as_f64().unwrap(),
            );
        }
    }
    drop(nats);
    Ok(())
}
