//! Phase timings from `tracing` spans, and the process's log subscriber.
//!
//! The prover marks its phases with spans (`witness`, `commit`, `operator_proofs`,
//! `lookups`, `opening`, `dory_open`, ...). [`PhaseLayer`] measures every span of
//! this crate from creation to close, and [`collect_phases`] hands the spans that
//! closed on the calling thread while a closure ran back to the caller. So the
//! names in `-vv` logs, in `zkinfer bench` tables and in the service's metrics are
//! the same names, defined once where the work happens.
//!
//! Only spans that close on the calling thread are collected: the prover opens
//! its phase spans on the thread that calls it (rayon workers run inside them),
//! so every phase is seen once, and concurrent provers on other threads (the
//! service's workers) do not mix their timings.
//!
//! Nothing is recorded unless a subscriber with [`PhaseLayer`] is installed;
//! [`init`] installs one for the binary, tests can use [`scoped`].

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tracing::span;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter, Layer};

/// One closed span: its name and how long it was open.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseTiming {
    /// The span's name, e.g. `commit`.
    pub name: &'static str,
    /// Wall time from the span's creation to its close.
    pub elapsed: Duration,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Vec<PhaseTiming>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns, with its result, every span of this crate that closed
/// on this thread meanwhile, in closing order (inner spans before outer ones).
/// Nested calls each see only their own spans.
pub fn collect_phases<T>(f: impl FnOnce() -> T) -> (T, Vec<PhaseTiming>) {
    let outer = COLLECTOR.with(|c| c.borrow_mut().replace(Vec::new()));
    // Restore the outer collector even if `f` unwinds.
    struct Restore(Option<Option<Vec<PhaseTiming>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                COLLECTOR.with(|c| *c.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let value = f();
    let mine = COLLECTOR
        .with(|c| std::mem::replace(&mut *c.borrow_mut(), restore.0.take().flatten()))
        .unwrap_or_default();
    (value, mine)
}

/// Sums the durations of the spans called `name`.
pub fn total(phases: &[PhaseTiming], name: &str) -> Duration {
    phases
        .iter()
        .filter(|p| p.name == name)
        .map(|p| p.elapsed)
        .sum()
}

struct Created(Instant);

/// A layer that times every span from creation to close and reports it to the
/// thread's [`collect_phases`] call, if any.
pub struct PhaseLayer;

impl<S> Layer<S> for PhaseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Created(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(created) = span.extensions().get::<Created>().map(|c| c.0) else {
            return;
        };
        let timing = PhaseTiming {
            name: span.name(),
            elapsed: created.elapsed(),
        };
        COLLECTOR.with(|c| {
            if let Some(list) = c.borrow_mut().as_mut() {
                list.push(timing);
            }
        });
    }
}

/// The phase layer, limited to this crate's spans at debug level and above.
fn phase_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    PhaseLayer.with_filter(filter::Targets::new().with_target("zkinfer", tracing::Level::DEBUG))
}

/// Installs the process's subscriber: logs on stderr filtered by `RUST_LOG` or the
/// verbosity (0 warn, 1 info, 2+ debug with each span's duration when it closes;
/// the service's audit log, target `zkinfer::audit`, at info always), and the
/// [`PhaseLayer`], which sees the prover's spans whatever the log level.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn,zkinfer::audit=info",
        1 => "info",
        _ => "debug",
    };
    let log_filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let span_events = if verbose >= 2 {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    // Colour only for a person at a terminal: not in files or pipes, and
    // never when NO_COLOR is set to anything (https://no-color.org).
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_span_events(span_events)
        .with_writer(std::io::stderr)
        .with_filter(log_filter);
    // A second call (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(phase_layer())
        .try_init();
}

/// A subscriber with only the [`PhaseLayer`], set as this thread's default until
/// the guard drops (for tests and library users who want timings without logs).
///
/// tracing-core 0.1 caches each callsite's interest process-wide. While exactly
/// one dispatcher is registered, a callsite first reached on a thread *without*
/// a subscriber is cached as "never" (tokio-rs/tracing#3611), so a span this
/// thread later opens would be lost when tests run in parallel. A second,
/// permanent (no-op) dispatcher makes tracing combine the interest of every live
/// dispatcher instead, which includes this one.
pub fn scoped() -> tracing::subscriber::DefaultGuard {
    static SECOND_DISPATCHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND_DISPATCHER
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    tracing_subscriber::registry()
        .with(phase_layer())
        .set_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_spans_closed_on_this_thread_in_order() {
        let _guard = scoped();
        let ((), phases) = collect_phases(|| {
            let _outer = tracing::info_span!("outer").entered();
            {
                let _inner = tracing::debug_span!("inner").entered();
                std::thread::sleep(Duration::from_millis(2));
            }
            // A nested collection sees only its own spans.
            let ((), nested) = collect_phases(|| {
                let _n = tracing::info_span!("nested").entered();
            });
            assert_eq!(nested.len(), 1);
            assert_eq!(nested[0].name, "nested");
        });
        let names: Vec<_> = phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["inner", "outer"]);
        assert!(total(&phases, "inner") >= Duration::from_millis(2));
        assert!(total(&phases, "outer") >= total(&phases, "inner"));
        // Outside a collection nothing is kept.
        let _ignored = tracing::info_span!("outside").entered();
    }

    #[test]
    fn other_threads_do_not_leak_in() {
        let _guard = scoped();
        let ((), phases) = collect_phases(|| {
            std::thread::spawn(|| {
                let _guard = scoped();
                let _s = tracing::info_span!("elsewhere").entered();
            })
            .join()
            .unwrap();
        });
        assert!(phases.is_empty(), "{phases:?}");
    }
}
