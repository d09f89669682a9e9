//! When a message is attempted again, and when a failing consumer is disabled: Codat's
//! documented schedule (at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: eight
//! attempts over about 28 hours), and a consumer that has failed every attempt for 5 days is
//! disabled.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The wait before each attempt, the first at once.
pub const DELAYS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Attempts made before a message is given up (its status then `Failure`).
pub const ATTEMPTS: usize = DELAYS.len();

/// How long a consumer may fail without one success before it is disabled.
pub const DISABLE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(5);

/// The wait before the attempt after `made` attempts, or `None` once all [`ATTEMPTS`] are made.
pub fn next_delay(made: usize) -> Option<Duration> {
    DELAYS.get(made).copied()
}

/// Whether a consumer failing since `since` (its first failure after its last success) is
/// disabled at `now`.
pub fn disables(since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - since >= DISABLE_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_over_about_28_hours() {
        assert_eq!(next_delay(0), Some(Duration::ZERO));
        assert_eq!(next_delay(1), Some(Duration::from_secs(5)));
        assert_eq!(next_delay(7), Some(Duration::from_secs(36_000)));
        assert_eq!(next_delay(8), None);
        let total: u64 = DELAYS.iter().map(Duration::as_secs).sum();
        assert_eq!(total, 5 + 300 + 1_800 + 7_200 + 18_000 + 36_000 + 36_000);
        // SQS can hide a message for 12 hours at most: every wait fits one visibility change.
        assert!(DELAYS.iter().all(|d| d.as_secs() <= 12 * 3600));
    }

    #[test]
    fn disabled_after_five_days_of_failure() {
        let since = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").map(|d| d.to_utc()).expect("date");
        assert!(!disables(since, since + chrono::TimeDelta::days(5) - chrono::TimeDelta::seconds(1)));
        assert!(disables(since, since + chrono::TimeDelta::days(5)));
    }
}
