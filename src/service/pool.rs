//! The proving pool: a fixed number of OS threads that prove, off the async
//! runtime, fed by a queue whose length is bounded at admission.
//!
//! A request is admitted only while fewer than `workers + queue` proof requests
//! are admitted and unanswered; otherwise [`ProvingPool::submit`] refuses at once
//! (the handler answers 503 with `Retry-After`), so memory cannot grow with load.
//! A job whose client has gone (timed out, disconnected) before a worker picks it
//! up is dropped unproved. On [`ProvingPool::close`] running proofs finish and
//! every job still queued is answered `ShuttingDown`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::auth::ProofTicket;
use super::metrics::Metrics;
use super::ServedModel;
use crate::backend::registry::SelectedBackend;
use crate::proof::ProofError;
use crate::telemetry::{self, PhaseTiming};
use crate::zk::model::{self as zk_model, AnyProof};

/// A proof to make.
pub(crate) struct ProofJob {
    pub model: Arc<ServedModel>,
    pub input: Vec<i64>,
    pub reply: oneshot::Sender<Result<ProofDone, JobError>>,
    pub enqueued: Instant,
    /// The API key's slot, when the service has keys: held until the job is
    /// answered or dropped, so a proof still running for a client that left
    /// still counts against its key.
    pub ticket: Option<ProofTicket>,
    /// Called on the worker thread when proving starts (a deferred job's
    /// `proving` state).
    pub on_start: Option<Box<dyn FnOnce() + Send>>,
}

/// A finished proof.
pub(crate) struct ProofDone {
    /// Transparent, or zero-knowledge for a model with hidden weights.
    pub proof: AnyProof,
    pub bytes: Vec<u8>,
    pub queue_s: f64,
    pub prove_s: f64,
}

/// Why a job produced no proof.
#[derive(Debug)]
pub(crate) enum JobError {
    ShuttingDown,
    Prove(ProofError),
    Panicked(String),
}

/// Why a job was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubmitError {
    QueueFull,
    ShuttingDown,
}

struct Shared {
    /// Jobs admitted and not yet answered (queued + running).
    admitted: AtomicUsize,
    busy: AtomicUsize,
    closing: AtomicBool,
    /// Exponential moving average of proof seconds (f64 bits), for `Retry-After`.
    mean_prove_s: AtomicU64,
    metrics: Arc<Metrics>,
    backend: SelectedBackend,
}

pub(crate) struct ProvingPool {
    workers: usize,
    capacity: usize,
    shared: Arc<Shared>,
    sender: Mutex<Option<mpsc::Sender<ProofJob>>>,
    receiver: Arc<Mutex<mpsc::Receiver<ProofJob>>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl ProvingPool {
    /// Starts `workers` proving threads with room for `queue` more waiting jobs.
    pub(crate) fn start(
        workers: usize,
        queue: usize,
        backend: SelectedBackend,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<ProofJob>();
        let receiver = Arc::new(Mutex::new(receiver));
        let shared = Arc::new(Shared {
            admitted: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            mean_prove_s: AtomicU64::new(1f64.to_bits()),
            metrics,
            backend,
        });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let receiver = receiver.clone();
            let shared = shared.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("zkinfer-prover-{i}"))
                    .spawn(move || worker(&receiver, &shared))?,
            );
        }
        Ok(ProvingPool {
            workers,
            capacity: workers + queue,
            shared,
            sender: Mutex::new(Some(sender)),
            receiver,
            handles: Mutex::new(handles),
        })
    }

    /// Admits a job or refuses it at once.
    pub(crate) fn submit(&self, job: ProofJob) -> Result<(), SubmitError> {
        if self.shared.closing.load(Ordering::SeqCst) {
            return Err(SubmitError::ShuttingDown);
        }
        self.shared
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map_err(|_| SubmitError::QueueFull)?;
        let sender = self.sender.lock().expect("pool sender lock");
        match sender.as_ref().map(|s| s.send(job)) {
            Some(Ok(())) => Ok(()),
            _ => {
                self.shared.admitted.fetch_sub(1, Ordering::SeqCst);
                Err(SubmitError::ShuttingDown)
            }
        }
    }

    /// (waiting, proving) now.
    pub(crate) fn load(&self) -> (usize, usize) {
        let admitted = self.shared.admitted.load(Ordering::SeqCst);
        let busy = self.shared.busy.load(Ordering::SeqCst);
        (admitted.saturating_sub(busy), busy)
    }

    /// Seconds a refused client should wait: the time to drain a full queue at
    /// the recent mean proof time, at least 1.
    pub(crate) fn retry_after_s(&self) -> u64 {
        let drain = self.mean_prove_s() * self.capacity as f64 / self.workers.max(1) as f64;
        (drain.ceil() as u64).clamp(1, 300)
    }

    /// Seconds until one proof is likely done (the recent mean proof time, at
    /// least 1): the wait for a key at its limit of proofs in the service.
    pub(crate) fn one_proof_s(&self) -> u64 {
        (self.mean_prove_s().ceil() as u64).clamp(1, 300)
    }

    fn mean_prove_s(&self) -> f64 {
        f64::from_bits(self.shared.mean_prove_s.load(Ordering::Relaxed))
    }

    /// Proof requests the pool admits at once (`workers + queue`).
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stops admitting; running proofs finish, queued jobs are answered
    /// `ShuttingDown`, and the workers exit once the queue is empty.
    pub(crate) fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.sender.lock().expect("pool sender lock").take();
        // Answer the queued jobs now rather than when a worker frees up. A
        // worker holds the receiver only while the queue is empty, and one that
        // takes a job after this sees `closing` and rejects it itself.
        if let Ok(receiver) = self.receiver.try_lock() {
            while let Ok(job) = receiver.try_recv() {
                self.shared.admitted.fetch_sub(1, Ordering::SeqCst);
                let _ = job.reply.send(Err(JobError::ShuttingDown));
            }
        }
    }

    /// Closes the pool and waits for every worker to exit.
    pub(crate) fn join(&self) {
        self.close();
        let handles = std::mem::take(&mut *self.handles.lock().expect("pool handles lock"));
        for h in handles {
            let _ = h.join();
        }
    }
}

fn worker(receiver: &Mutex<mpsc::Receiver<ProofJob>>, shared: &Shared) {
    // Phase timings need the telemetry layer. The binary installs it in its
    // global subscriber; where the subscriber this thread would use has none
    // (a library user's, or none at all), the worker keeps one of its own.
    let has_phase_layer =
        tracing::dispatcher::get_default(|d| d.downcast_ref::<telemetry::PhaseLayer>().is_some());
    let _telemetry = (!has_phase_layer).then(telemetry::scoped);
    loop {
        let job = {
            let receiver = receiver.lock().expect("pool receiver lock");
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if shared.closing.load(Ordering::SeqCst) {
            shared.admitted.fetch_sub(1, Ordering::SeqCst);
            let _ = job.reply.send(Err(JobError::ShuttingDown));
            continue;
        }
        if job.reply.is_closed() {
            // The client stopped waiting; nobody would read this proof.
            shared.admitted.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        shared.busy.fetch_add(1, Ordering::SeqCst);
        let mut job = job;
        if let Some(on_start) = job.on_start.take() {
            on_start();
        }
        let queue_s = job.enqueued.elapsed().as_secs_f64();
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            telemetry::collect_phases(|| {
                zk_model::prove_any_on_with(
                    &shared.backend,
                    &job.model.pk,
                    &job.input,
                    job.model.input.is_private(),
                )
            })
        }));
        let prove_s = start.elapsed().as_secs_f64();
        let result = match outcome {
            Ok((Ok(proof), phases)) => {
                record(shared, &job.model.name, queue_s, prove_s, &phases);
                let bytes = proof.to_bytes();
                Ok(ProofDone {
                    proof,
                    bytes,
                    queue_s,
                    prove_s,
                })
            }
            Ok((Err(e), _)) => Err(JobError::Prove(e)),
            Err(panic) => Err(JobError::Panicked(
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the prover panicked".into()),
            )),
        };
        shared.busy.fetch_sub(1, Ordering::SeqCst);
        // Free the slots (the pool's and the key's) before answering, so a
        // client that sends its next request as soon as it has this answer
        // finds room.
        shared.admitted.fetch_sub(1, Ordering::SeqCst);
        drop(job.ticket);
        let _ = job.reply.send(result);
    }
}

fn record(shared: &Shared, model: &str, queue_s: f64, prove_s: f64, phases: &[PhaseTiming]) {
    shared.metrics.proof(model, queue_s, prove_s, phases);
    let _ = shared
        .mean_prove_s
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let mean = f64::from_bits(bits);
            Some((0.8 * mean + 0.2 * prove_s).to_bits())
        });
}
