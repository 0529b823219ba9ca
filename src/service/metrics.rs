//! The service's Prometheus metrics (OpenMetrics text at `GET /metrics`).
//!
//! - `zkinfer_requests_total{route,status}` and
//!   `zkinfer_request_duration_seconds{route}`: every HTTP request, by route
//!   template (`/v1/models/{name}/prove`, ...; `other` for unknown paths);
//! - `zkinfer_errors_total{code}`: error answers by their stable code;
//! - `zkinfer_tier_requests_total{model,tier}`: answered prove requests by tier;
//! - `zkinfer_prove_seconds{model}`, `zkinfer_queue_wait_seconds`: proof time on a
//!   worker and time waiting for one;
//! - `zkinfer_prove_phase_seconds{phase}`: the prover's phases (`witness`,
//!   `commit`, `operator_proofs`, `lookups`, `opening`, ...), the span names of
//!   [`crate::telemetry`];
//! - gauges `zkinfer_queue_depth`, `zkinfer_workers_busy`, `zkinfer_workers`,
//!   `zkinfer_queue_capacity`, and on Linux `zkinfer_resident_memory_bytes` and
//!   `zkinfer_peak_resident_memory_bytes` (VmRSS, VmHWM);
//! - with API keys, by key name: `zkinfer_key_requests_total{key,route,status}`,
//!   `zkinfer_key_proofs_total{key,model}` and
//!   `zkinfer_key_rejections_total{key,reason}` (an error answer to that key:
//!   `forbidden_model`, `forbidden_tier`, `forbidden_scope`,
//!   `requests_per_minute`, `proofs_per_minute`, `concurrent_proofs`,
//!   `queue_share`, else its error code); requests with no valid key count in
//!   `zkinfer_errors_total{code="unauthorized"}`;
//! - `zkinfer_reloads_total{what,result}`: SIGHUP reloads of `keys` and `tls`,
//!   `ok` or `error`;
//! - `zkinfer_jobs_submitted_total{model}`: deferred jobs accepted (new, not
//!   replays; `tier="deferred"` in `zkinfer_tier_requests_total` too), and
//!   `zkinfer_callbacks_total{result}`: job callbacks `delivered` or `failed`
//!   (after every retry);
//! - with a fleet, `zkinfer_fleet_queue_depth` (jobs in the JetStream stream)
//!   and `zkinfer_fleet_workers` (workers with a recent heartbeat), read at
//!   each `/healthz` and `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::telemetry::PhaseTiming;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    model: String,
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyRequestLabels {
    key: String,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyModelLabels {
    key: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyReasonLabels {
    key: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    what: &'static str,
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.25 ms to ~8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Every metric the service keeps, and the registry that encodes them.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<RouteLabels>,
    errors: Family<CodeLabels, Counter>,
    tiers: Family<TierLabels, Counter>,
    prove_seconds: HistogramFamily<ModelLabels>,
    queue_wait: Histogram,
    phases: HistogramFamily<PhaseLabels>,
    queue_depth: Gauge,
    workers_busy: Gauge,
    resident: Gauge,
    peak_resident: Gauge,
    key_requests: Family<KeyRequestLabels, Counter>,
    key_proofs: Family<KeyModelLabels, Counter>,
    key_rejections: Family<KeyReasonLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    jobs_submitted: Family<ModelLabels, Counter>,
    callbacks: Family<ResultLabels, Counter>,
    fleet_queue_depth: Gauge,
    fleet_workers: Gauge,
}

impl Metrics {
    pub(crate) fn new(workers: usize, queue: usize) -> Self {
        let mut registry = Registry::with_prefix("zkinfer");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        let request_seconds = HistogramFamily::<RouteLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "HTTP request latency by route template",
            request_seconds.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "errors",
            "Error answers by stable error code",
            errors.clone(),
        );
        let tiers = Family::<TierLabels, Counter>::default();
        registry.register(
            "tier_requests",
            "Successful prove requests by model and tier",
            tiers.clone(),
        );
        let prove_seconds = HistogramFamily::<ModelLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "prove_seconds",
            "Time a worker spent proving, by model",
            prove_seconds.clone(),
        );
        let queue_wait = latency_histogram();
        registry.register(
            "queue_wait_seconds",
            "Time a proof request waited for a worker",
            queue_wait.clone(),
        );
        let phases = HistogramFamily::<PhaseLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "prove_phase_seconds",
            "Duration of each prover phase (tracing span names)",
            phases.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let queue_depth = gauge(
            &mut registry,
            "queue_depth",
            "Proof requests admitted and waiting for a worker",
        );
        let workers_busy = gauge(&mut registry, "workers_busy", "Workers proving now");
        let workers_gauge = gauge(&mut registry, "workers", "Proving workers");
        let queue_capacity = gauge(
            &mut registry,
            "queue_capacity",
            "Proof requests that may wait beyond the busy workers",
        );
        let resident = gauge(
            &mut registry,
            "resident_memory_bytes",
            "Resident memory of the process (VmRSS; Linux)",
        );
        let peak_resident = gauge(
            &mut registry,
            "peak_resident_memory_bytes",
            "Peak resident memory of the process (VmHWM; Linux)",
        );
        let key_requests = Family::<KeyRequestLabels, Counter>::default();
        registry.register(
            "key_requests",
            "HTTP requests by API key name, route template and status",
            key_requests.clone(),
        );
        let key_proofs = Family::<KeyModelLabels, Counter>::default();
        registry.register(
            "key_proofs",
            "Proofs answered by API key name and model",
            key_proofs.clone(),
        );
        let key_rejections = Family::<KeyReasonLabels, Counter>::default();
        registry.register(
            "key_rejections",
            "Error answers to an API key by reason (grant, quota, or error code)",
            key_rejections.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the key file and TLS certificate (SIGHUP) by outcome",
            reloads.clone(),
        );
        let jobs_submitted = Family::<ModelLabels, Counter>::default();
        registry.register(
            "jobs_submitted",
            "Deferred proof jobs accepted, by model",
            jobs_submitted.clone(),
        );
        let callbacks = Family::<ResultLabels, Counter>::default();
        registry.register(
            "callbacks",
            "Job callbacks by result (delivered, failed after every retry)",
            callbacks.clone(),
        );
        let fleet_queue_depth = gauge(
            &mut registry,
            "fleet_queue_depth",
            "Jobs in the fleet's JetStream stream (waiting or being proved)",
        );
        let fleet_workers = gauge(
            &mut registry,
            "fleet_workers",
            "Fleet workers with a recent heartbeat",
        );
        workers_gauge.set(workers as i64);
        queue_capacity.set(queue as i64);
        Metrics {
            registry,
            requests,
            request_seconds,
            errors,
            tiers,
            prove_seconds,
            queue_wait,
            phases,
            queue_depth,
            workers_busy,
            resident,
            peak_resident,
            key_requests,
            key_proofs,
            key_rejections,
            reloads,
            jobs_submitted,
            callbacks,
            fleet_queue_depth,
            fleet_workers,
        }
    }

    pub(crate) fn job_submitted(&self, model: &str) {
        self.jobs_submitted
            .get_or_create(&ModelLabels {
                model: model.to_string(),
            })
            .inc();
    }

    pub(crate) fn callback(&self, result: &'static str) {
        self.callbacks.get_or_create(&ResultLabels { result }).inc();
    }

    #[cfg_attr(not(feature = "fleet"), expect(dead_code, reason = "fleet only"))]
    pub(crate) fn fleet(&self, queue_depth: u64, workers: usize) {
        self.fleet_queue_depth.set(queue_depth as i64);
        self.fleet_workers.set(workers as i64);
    }

    /// A request answered to the key `key`: counted, and counted as a
    /// rejection for `reason` when it was an error, as a proof when one was made.
    pub(crate) fn key_request(
        &self,
        key: &str,
        route: &'static str,
        status: u16,
        rejection: Option<&'static str>,
        proved_model: Option<&str>,
    ) {
        self.key_requests
            .get_or_create(&KeyRequestLabels {
                key: key.to_string(),
                route,
                status,
            })
            .inc();
        if let Some(reason) = rejection {
            self.key_rejections
                .get_or_create(&KeyReasonLabels {
                    key: key.to_string(),
                    reason,
                })
                .inc();
        }
        if let Some(model) = proved_model {
            self.key_proofs
                .get_or_create(&KeyModelLabels {
                    key: key.to_string(),
                    model: model.to_string(),
                })
                .inc();
        }
    }

    pub(crate) fn reload(&self, what: &'static str, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                what,
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    pub(crate) fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub(crate) fn error(&self, code: &'static str) {
        self.errors.get_or_create(&CodeLabels { code }).inc();
    }

    pub(crate) fn tier(&self, model: &str, tier: &'static str) {
        self.tiers
            .get_or_create(&TierLabels {
                model: model.to_string(),
                tier,
            })
            .inc();
    }

    pub(crate) fn proof(&self, model: &str, queue_s: f64, prove_s: f64, phases: &[PhaseTiming]) {
        self.queue_wait.observe(queue_s);
        self.prove_seconds
            .get_or_create(&ModelLabels {
                model: model.to_string(),
            })
            .observe(prove_s);
        for p in phases {
            self.phases
                .get_or_create(&PhaseLabels { phase: p.name })
                .observe(p.elapsed.as_secs_f64());
        }
    }

    /// The metrics as OpenMetrics text, with the gauges read now.
    pub(crate) fn encode(&self, queue_depth: usize, busy: usize) -> String {
        self.queue_depth.set(queue_depth as i64);
        self.workers_busy.set(busy as i64);
        if let Some((rss, hwm)) = memory() {
            self.resident.set(rss as i64);
            self.peak_resident.set(hwm as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// (VmRSS, VmHWM) in bytes from `/proc/self/status`, where there is one.
pub(crate) fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
