//! Enforcing a key's quotas: requests and proofs per minute (governor's GCRA
//! limiters), and how many of its proof requests may be in the service at once
//! (an absolute `concurrent_proofs` and a `queue_share` of the service's
//! capacity), so one client cannot take every worker and queue slot.
//!
//! The state of a key survives a key-file reload while its name stays: its
//! limiters are kept when its quotas are unchanged, and its count of proof
//! requests in the service is always kept, so proofs admitted before a reload
//! are still counted after it. This file decides nothing about HTTP answers.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::keyfile::Quotas;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

fn per_minute(n: Option<u32>) -> Option<Limiter> {
    n.and_then(NonZeroU32::new)
        .map(|n| RateLimiter::direct(Quota::per_minute(n)))
}

/// Why a request of a key was refused by its quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limited {
    /// The quota: `requests_per_minute`, `proofs_per_minute`,
    /// `concurrent_proofs` or `queue_share` (also the metrics' reason label).
    pub reason: &'static str,
    /// The limit that was reached.
    pub limit: usize,
    /// When a per-minute limit frees up, in whole seconds (at least 1); `None`
    /// for the in-service limits, which free up when a proof finishes.
    pub retry_after_s: Option<u64>,
}

/// A key's live quota state.
pub(crate) struct KeyUsage {
    quotas: Quotas,
    requests: Option<Limiter>,
    proofs: Option<Limiter>,
    /// This key's proof requests admitted and not yet done.
    in_service: Arc<AtomicUsize>,
}

impl std::fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUsage")
            .field("quotas", &self.quotas)
            .field("in_service", &self.in_service.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One proof request of a key counted as in the service; dropping it (when the
/// proof is answered, fails or is abandoned) frees the slot.
#[derive(Debug)]
pub(crate) struct ProofTicket(Arc<AtomicUsize>);

impl Drop for ProofTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn wait_s(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl KeyUsage {
    pub(crate) fn new(quotas: Quotas) -> Arc<Self> {
        Arc::new(KeyUsage {
            quotas,
            requests: per_minute(quotas.requests_per_minute),
            proofs: per_minute(quotas.proofs_per_minute),
            in_service: Arc::default(),
        })
    }

    /// The state for a reloaded key that had `old`: the same when its quotas
    /// are unchanged; else new limiters, the in-service count kept.
    pub(crate) fn carry_over(old: &Arc<KeyUsage>, quotas: Quotas) -> Arc<Self> {
        if old.quotas == quotas {
            return old.clone();
        }
        Arc::new(KeyUsage {
            quotas,
            requests: per_minute(quotas.requests_per_minute),
            proofs: per_minute(quotas.proofs_per_minute),
            in_service: old.in_service.clone(),
        })
    }

    /// Counts one request against `requests_per_minute`.
    pub(crate) fn request(&self) -> Result<(), Limited> {
        match &self.requests {
            Some(l) => l.check().map_err(|n| Limited {
                reason: "requests_per_minute",
                limit: self.quotas.requests_per_minute.unwrap_or_default() as usize,
                retry_after_s: Some(wait_s(&n)),
            }),
            None => Ok(()),
        }
    }

    /// Admits one proof request in a service of `capacity` (`workers +
    /// queue`) slots: within the in-service limits first (which cost nothing
    /// when refused), then `proofs_per_minute`.
    pub(crate) fn admit_proof(&self, capacity: usize) -> Result<ProofTicket, Limited> {
        if let Some((slots, reason)) = self.quotas.proof_slots(capacity) {
            self.in_service
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < slots).then_some(n + 1)
                })
                .map_err(|_| Limited {
                    reason,
                    limit: slots,
                    retry_after_s: None,
                })?;
        } else {
            self.in_service.fetch_add(1, Ordering::SeqCst);
        }
        let ticket = ProofTicket(self.in_service.clone());
        if let Some(l) = &self.proofs {
            l.check().map_err(|n| Limited {
                reason: "proofs_per_minute",
                limit: self.quotas.proofs_per_minute.unwrap_or_default() as usize,
                retry_after_s: Some(wait_s(&n)),
            })?;
        }
        Ok(ticket)
    }

    /// Proof requests of this key in the service now.
    #[cfg(test)]
    pub(crate) fn in_service(&self) -> usize {
        self.in_service.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_minute_limits_allow_a_burst_then_refuse_with_a_wait() {
        let usage = KeyUsage::new(Quotas {
            proofs_per_minute: Some(2),
            ..Quotas::default()
        });
        let a = usage.admit_proof(10).unwrap();
        let b = usage.admit_proof(10).unwrap();
        let refused = usage.admit_proof(10).unwrap_err();
        assert_eq!(refused.reason, "proofs_per_minute");
        let wait = refused.retry_after_s.unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        // The refused request holds no slot.
        assert_eq!(usage.in_service(), 2);
        drop((a, b));
        assert_eq!(usage.in_service(), 0);
        // Requests of other kinds are not limited by it.
        usage.request().unwrap();
    }

    #[test]
    fn in_service_limits_free_up_when_tickets_drop_and_survive_reload() {
        let quotas = Quotas {
            concurrent_proofs: Some(3),
            queue_share: Some(0.25),
            ..Quotas::default()
        };
        let usage = KeyUsage::new(quotas);
        // A quarter of 8 slots is 2, fewer than 3.
        let a = usage.admit_proof(8).unwrap();
        let _b = usage.admit_proof(8).unwrap();
        let refused = usage.admit_proof(8).unwrap_err();
        assert_eq!((refused.reason, refused.limit), ("queue_share", 2));
        assert_eq!(refused.retry_after_s, None);
        // A reload with other quotas keeps the count of admitted proofs.
        let reloaded = KeyUsage::carry_over(
            &usage,
            Quotas {
                concurrent_proofs: Some(2),
                ..Quotas::default()
            },
        );
        assert_eq!(reloaded.in_service(), 2);
        let refused = reloaded.admit_proof(8).unwrap_err();
        assert_eq!((refused.reason, refused.limit), ("concurrent_proofs", 2));
        drop(a);
        let _c = reloaded.admit_proof(8).unwrap();
        // Unchanged quotas keep the very same state.
        assert!(Arc::ptr_eq(&KeyUsage::carry_over(&usage, quotas), &usage));
    }
}
