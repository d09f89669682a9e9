//! What the sandbox saw: requests per endpoint, 429s, peak concurrency, politeness.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one store.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Most requests in flight at once.
    pub peak_in_flight: AtomicU64,
    /// 429s sent.
    pub rate_limited: AtomicU64,
    /// Faults injected.
    pub faults_injected: AtomicU64,
}

impl Counters {
    /// Marks a request started; returns a guard that marks it finished.
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }
}

/// Decrements the in-flight count when dropped.
pub struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A snapshot, as the admin endpoint serves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Requests by endpoint (`GET v2/orders`, ...), including refused ones.
    pub requests: BTreeMap<String, u64>,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Total requests.
    pub total_requests: u64,
    /// 429s sent.
    pub rate_limited: u64,
    /// Most requests in flight at once.
    pub peak_concurrency: u64,
    /// Requests received after a 429 and before that window reset.
    pub requests_before_reset_after_429: u64,
    /// Faults injected.
    pub faults_injected: u64,
    /// Time spent building responses, microseconds (wall time, excluding injected latency).
    pub processing_micros: u64,
}
