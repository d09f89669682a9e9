//! BigCommerce's per-store rate limit: a fixed window of `quota` requests per `window`,
//! reported on every response by the four `X-Rate-Limit-*` headers.

use std::time::{Duration, Instant};

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served; `left` requests remain in the window, which resets in `reset`.
    Allow {
        /// Requests left in this window.
        left: u32,
        /// Time until the window resets.
        reset: Duration,
    },
    /// Quota exhausted: answer 429; the window resets in `reset`.
    Limited {
        /// Time until the window resets.
        reset: Duration,
    },
}

/// One store's window.
#[derive(Debug, Clone)]
pub struct Limiter {
    quota: u32,
    window: Duration,
    started: Option<Instant>,
    used: u32,
    /// Set once a 429 was sent in the current window.
    limited_window: Option<Instant>,
    /// Requests that arrived after a 429 and before that window reset.
    impolite: u64,
}

impl Limiter {
    /// `quota` requests per `window`.
    pub fn new(quota: u32, window: Duration) -> Self {
        Self {
            quota: quota.max(1),
            window: window.max(Duration::from_millis(1)),
            started: None,
            used: 0,
            limited_window: None,
            impolite: 0,
        }
    }

    /// The configured quota.
    pub fn quota(&self) -> u32 {
        self.quota
    }

    /// The configured window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Changes quota and window, starting a fresh window.
    pub fn reconfigure(&mut self, quota: u32, window: Duration) {
        *self = Self { impolite: self.impolite, ..Self::new(quota, window) };
    }

    /// Decides for a request arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Decision {
        let start = match self.started {
            Some(start) if now < start + self.window => start,
            _ => {
                self.started = Some(now);
                self.used = 0;
                now
            }
        };
        let reset = (start + self.window).saturating_duration_since(now);
        if self.limited_window == Some(start) {
            self.impolite += 1;
        }
        if self.used < self.quota {
            self.used += 1;
            Decision::Allow { left: self.quota - self.used, reset }
        } else {
            self.limited_window = Some(start);
            Decision::Limited { reset }
        }
    }

    /// Forces the rest of the current window to be exhausted (a 429 storm).
    pub fn exhaust(&mut self, now: Instant) {
        self.check(now);
        self.used = self.quota;
    }

    /// Requests that came after a 429 but before the window reset.
    pub fn impolite(&self) -> u64 {
        self.impolite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_down_then_limits_then_resets() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(3, Duration::from_secs(30));
        assert_eq!(limiter.check(t0), Decision::Allow { left: 2, reset: Duration::from_secs(30) });
        assert_eq!(
            limiter.check(t0 + Duration::from_secs(10)),
            Decision::Allow { left: 1, reset: Duration::from_secs(20) }
        );
        assert_eq!(
            limiter.check(t0 + Duration::from_secs(10)),
            Decision::Allow { left: 0, reset: Duration::from_secs(20) }
        );
        assert_eq!(limiter.check(t0 + Duration::from_secs(29)), Decision::Limited { reset: Duration::from_secs(1) });
        assert_eq!(limiter.impolite(), 0, "the first 429 is not impolite");
        assert!(matches!(limiter.check(t0 + Duration::from_millis(29_500)), Decision::Limited { .. }));
        assert_eq!(limiter.impolite(), 1);
        assert_eq!(
            limiter.check(t0 + Duration::from_secs(30)),
            Decision::Allow { left: 2, reset: Duration::from_secs(30) }
        );
        assert_eq!(limiter.impolite(), 1, "after the reset requests are polite again");
    }

    #[test]
    fn exhaust_forces_429_until_reset() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(100, Duration::from_secs(1));
        limiter.exhaust(t0);
        assert!(matches!(limiter.check(t0 + Duration::from_millis(10)), Decision::Limited { .. }));
        assert!(matches!(limiter.check(t0 + Duration::from_secs(1)), Decision::Allow { left: 99, .. }));
    }
}
