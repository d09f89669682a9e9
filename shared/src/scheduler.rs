//! fn scheduler: on each EventBridge tick, queue the syncs that are due.
//!
//! Every requested sync schedules its data type's next one `syncSchedule` hours later
//! ([`crate::syncs::request_syncs`]), in an index on the due time; a tick reads only what
//! is due. Each due entry is first claimed by a conditional write that moves it a lease ahead,
//! so of two ticks fired at once (EventBridge delivers at least once) exactly one queues it, and
//! a tick that dies before queueing leaves it due again when the lease ends. Then, per
//! connection: not Linked → taken off the schedule (linking again schedules it anew); a data type
//! whose latest dataset is still queued or running → left for a later tick; the rest are
//! requested together, in the company's `syncOrder`. Before that, each tick sweeps the datasets
//! stuck running ([`crate::sweep`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use uuid::Uuid;

use crate::domain::hook::FreshKind;
use crate::domain::{DataType, JobReason, PullStatus, SyncSettings};
use crate::error::StoreError;
use crate::ports::{DueSync, JobQueue, PlatformStore};
use crate::sweep::{SweepPolicy, SweepReport, sweep};
use crate::syncs::request_syncs_with;

/// How long a claimed entry is held before it is due again if its tick did not queue it.
pub const CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(15);
/// How long a tick starts new connections (the Lambda timeout is 300 s).
pub const TICK_BUDGET: Duration = Duration::from_secs(240);
/// Due entries read per tick (a tick that finds more leaves the rest for the next one).
pub const MAX_DUE_PER_TICK: usize = 100_000;
/// Connections handled at once.
const CONCURRENCY: usize = 32;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    /// Due entries found.
    pub due: usize,
    /// Entries another tick claimed first.
    pub claimed_elsewhere: usize,
    /// Syncs queued.
    pub queued: usize,
    /// Entries whose latest dataset was still queued or running (left for a later tick).
    pub still_running: usize,
    /// Entries of connections that are not Linked (taken off the schedule).
    pub unscheduled: usize,
    /// Connections with at least one sync queued.
    pub connections: usize,
    /// Connections left due for the next tick because this one ran out of time.
    pub deferred: usize,
    /// Hooks checks queued (one per connection with store hooks whose syncs were queued).
    pub hooks_checked: usize,
    /// Time the tick took.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// What an EventBridge tick did: the sweep's report (absent when the sweep failed) and the due
/// syncs'.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduledTick {
    /// The sweep of stuck datasets.
    pub sweep: Option<SweepReport>,
    /// The due syncs.
    #[serde(flatten)]
    pub due: TickReport,
}

/// One tick of fn scheduler: first the sweep of stuck datasets ([`crate::sweep`]), so a dead
/// dataset no longer blocks its data type, then [`tick_ahead`]. A failed sweep is logged and
/// the due syncs are queued anyway.
pub async fn scheduled_tick<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
    sweep_policy: &SweepPolicy,
    ahead: chrono::Duration,
    budget: Duration,
) -> Result<ScheduledTick, StoreError> {
    let sweep = match sweep(store, queue, now, sweep_policy).await {
        Ok(report) => Some(report),
        Err(e) => {
            tracing::error!(error = %e, "the sweep failed; due syncs are queued anyway");
            None
        }
    };
    let due = tick_ahead(store, queue, now, ahead, budget).await?;
    Ok(ScheduledTick { sweep, due })
}

/// Queues every sync due at `now`, starting no connection after `budget` (the rest stay due for
/// the next tick). Repeating a tick (or running two at once) queues nothing twice.
pub async fn tick<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
    budget: Duration,
) -> Result<TickReport, StoreError> {
    tick_ahead(store, queue, now, chrono::Duration::zero(), budget).await
}

/// [`tick`], counting as due at `now` what is due within `ahead` of it. For local development
/// only (`make dev`): with `ahead` at least a day, every data type not running is synced again
/// at each tick instead of `syncSchedule` hours after its last sync.
pub async fn tick_ahead<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
    ahead: chrono::Duration,
    budget: Duration,
) -> Result<TickReport, StoreError> {
    let started = Instant::now();
    let due = store.due_syncs(now + ahead, MAX_DUE_PER_TICK).await?;
    let mut by_connection: BTreeMap<(Uuid, Uuid), Vec<DueSync>> = BTreeMap::new();
    for entry in &due {
        by_connection.entry((entry.company, entry.connection)).or_default().push(entry.clone());
    }
    let mut report = TickReport { due: due.len(), ..TickReport::default() };
    // The deployment's defaults, read once a tick rather than once a connection.
    let profile =
        if due.is_empty() { SyncSettings::default() } else { store.profile_sync_settings().await?.unwrap_or_default() };
    let profile = &profile;
    let outcomes: Vec<Result<TickReport, StoreError>> = futures::stream::iter(by_connection)
        .map(|((company, connection), entries)| async move {
            if started.elapsed() >= budget {
                return Ok(TickReport { deferred: 1, ..TickReport::default() });
            }
            connection_tick(store, queue, profile, company, connection, entries, now).await
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(part) => {
                report.claimed_elsewhere += part.claimed_elsewhere;
                report.queued += part.queued;
                report.still_running += part.still_running;
                report.unscheduled += part.unscheduled;
                report.connections += part.connections;
                report.hooks_checked += part.hooks_checked;
                report.deferred += part.deferred;
            }
            // One connection's failure does not stop the others; its claims come due again.
            Err(e) => {
                tracing::error!(error = %e, "scheduling a connection failed");
                first_error.get_or_insert(e);
            }
        }
    }
    report.elapsed = started.elapsed();
    tracing::info!(
        due = report.due,
        queued = report.queued,
        claimed_elsewhere = report.claimed_elsewhere,
        still_running = report.still_running,
        unscheduled = report.unscheduled,
        connections = report.connections,
        deferred = report.deferred,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "schedule tick"
    );
    match first_error {
        Some(e) if report.queued == 0 && report.unscheduled == 0 => Err(e),
        _ => Ok(report),
    }
}

/// The tick time of an EventBridge scheduled event (`time`), or `None` when the event has none.
/// Using the event's own time makes a redelivered event the same tick.
pub fn event_time(event: &serde_json::Value) -> Option<DateTime<Utc>> {
    event["time"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

async fn connection_tick<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    profile: &SyncSettings,
    company: Uuid,
    connection: Uuid,
    entries: Vec<DueSync>,
    now: DateTime<Utc>,
) -> Result<TickReport, StoreError> {
    let mut report = TickReport::default();
    let found = store.get_connection(company, connection).await?;
    let linked = found.as_ref().is_some_and(|c| c.syncable());
    if !linked {
        for entry in &entries {
            store.unschedule(entry).await?;
        }
        report.unscheduled = entries.len();
        return Ok(report);
    }
    // Each entry's claim is its own conditional write: all of a connection's at once.
    let claims =
        futures::future::try_join_all(entries.iter().map(|entry| store.claim_due(entry, now + CLAIM_LEASE))).await?;
    let mut claimed = Vec::new();
    for (entry, won) in entries.iter().zip(claims) {
        if won {
            claimed.push(entry.data_type);
        } else {
            report.claimed_elsewhere += 1;
        }
    }
    if claimed.is_empty() {
        return Ok(report);
    }
    let statuses = store.data_statuses(company).await?;
    let running = |data_type: DataType| {
        statuses.iter().any(|s| {
            s.connection_id == connection && s.data_type == data_type && PullStatus::RUNNING.contains(&s.current_status)
        })
    };
    let (busy, mut ready): (Vec<DataType>, Vec<DataType>) = claimed.into_iter().partition(|d| running(*d));
    report.still_running = busy.len();
    if ready.is_empty() {
        return Ok(report);
    }
    let settings = store.sync_settings(company).await?.unwrap_or_default().over(profile).effective();
    let order = |d: &DataType| settings.iter().find(|s| s.data_type == *d).map_or(u32::MAX, |s| s.sync_order);
    ready.sort_by_key(|d| (order(d), d.key()));
    let known = crate::syncs::Known { settings: &settings, statuses: &statuses };
    request_syncs_with(store, queue, company, connection, &ready, JobReason::Schedule, now, known).await?;
    // Each scheduled sync checks the store's hooks too (the schedule is their safety net).
    if let (Some(fresh), Some(_)) = (queue.fresh(), found.as_ref().and_then(|c| c.hooks.as_ref())) {
        let check = crate::domain::hook::FreshJob::new(FreshKind::Hooks, company, connection, now);
        if let Err(e) = fresh.enqueue_fresh(&[check]).await {
            tracing::warn!(error = %e, connection_id = %connection, "the hooks check could not be queued: the next tick tries");
        } else {
            report.hooks_checked += 1;
        }
    }
    report.queued = ready.len();
    report.connections = 1;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemoryStore};
    use crate::domain::{Company, CompanyName, Connection, ConnectionStatus, Tags};
    use crate::ports::{CompanyStore, ConnectionStore, DatasetStore, SyncSettingsStore};
    use crate::syncs::request_syncs;
    use proptest::prelude::*;

    async fn linked(store: &MemoryStore, now: DateTime<Utc>) -> (Uuid, Uuid) {
        let company = Company {
            id: Uuid::new_v4(),
            name: CompanyName::parse("Scheduled Ltd").expect("name"),
            description: None,
            tags: Tags::default(),
            link_token_hash: "x".into(),
            link_nonce: String::new(),
            created: now,
            last_sync: None,
        };
        store.create_company(&company).await.expect("company");
        let connection = Connection::create(company.id, now);
        store.create_connection(&connection).await.expect("connection");
        store
            .set_connection_status(
                company.id,
                connection.id,
                &[ConnectionStatus::PendingAuth],
                ConnectionStatus::Linked,
            )
            .await
            .expect("linked");
        (company.id, connection.id)
    }

    async fn complete_all(store: &MemoryStore, company: Uuid, at: DateTime<Utc>) {
        for status in store.data_statuses(company).await.expect("statuses") {
            store
                .advance_dataset(company, status.latest_sync_id, PullStatus::Complete, 100, None, at)
                .await
                .expect("complete");
        }
    }

    const FOREVER: Duration = Duration::from_secs(3600);

    /// A linked connection whose first orders sync was requested and completed at [`t0`].
    async fn orders_synced_at_t0() -> (MemoryStore, MemoryQueue) {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
        let (company, connection) = linked(&store, t0()).await;
        request_syncs(&store, &queue, company, connection, &[DataType::Orders], JobReason::FirstLink, t0())
            .await
            .expect("first");
        complete_all(&store, company, t0()).await;
        (store, queue)
    }

    #[tokio::test]
    async fn a_tick_out_of_time_leaves_the_rest_due_for_the_next() {
        let (store, queue) = orders_synced_at_t0().await;
        let at = t0() + chrono::Duration::hours(24);
        let spent = tick(&store, &queue, at, Duration::ZERO).await.expect("tick");
        assert_eq!((spent.due, spent.queued, spent.deferred), (1, 0, 1));
        assert_eq!(tick(&store, &queue, at, FOREVER).await.expect("tick").queued, 1);
    }

    #[tokio::test]
    async fn a_tick_ahead_counts_as_due_what_comes_due_within_its_reach() {
        let (store, queue) = orders_synced_at_t0().await;
        let soon = t0() + chrono::Duration::minutes(1);
        assert_eq!(tick(&store, &queue, soon, FOREVER).await.expect("tick").queued, 0, "due in 24 h, not now");
        let short = tick_ahead(&store, &queue, soon, chrono::Duration::hours(23), FOREVER).await.expect("tick");
        assert_eq!(short.queued, 0, "23 h ahead does not reach it");
        let day = tick_ahead(&store, &queue, soon, chrono::Duration::hours(24), FOREVER).await.expect("tick");
        assert_eq!((day.due, day.queued), (1, 1));
        // Queued now and still running: the next reaching tick leaves it alone.
        let again = tick_ahead(&store, &queue, soon, chrono::Duration::days(2), FOREVER).await.expect("tick");
        assert_eq!((again.queued, again.still_running), (0, 1));
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z").expect("t0").with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_synced_type_is_queued_again_after_its_schedule_and_a_repeated_tick_queues_nothing() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
        let (company, connection) = linked(&store, t0()).await;
        let types = [DataType::Orders, DataType::Customers, DataType::Locations];
        request_syncs(&store, &queue, company, connection, &types, JobReason::FirstLink, t0()).await.expect("first");
        complete_all(&store, company, t0()).await;
        let before = queue.jobs().len();
        // Default schedule: every 24 hours. Nothing before, both supported types at 24 h.
        assert_eq!(tick(&store, &queue, t0() + chrono::Duration::hours(23), FOREVER).await.expect("tick").queued, 0);
        let at = t0() + chrono::Duration::hours(24);
        let report = tick(&store, &queue, at, FOREVER).await.expect("tick");
        assert_eq!((report.due, report.queued, report.connections), (2, 2, 1));
        let again = tick(&store, &queue, at, FOREVER).await.expect("tick");
        assert_eq!((again.due, again.queued), (0, 0), "the same firing twice queues once");
        let jobs = queue.jobs();
        assert_eq!(jobs.len(), before + 2);
        assert!(jobs[before..].iter().all(|j| j.reason == JobReason::Schedule));
        // Orders before customers: the default syncOrder.
        let order: Vec<DataType> = jobs[before..].iter().map(|j| j.data_type).collect();
        let settings = crate::domain::SyncSettings::default().effective();
        let rank = |d: DataType| settings.iter().find(|s| s.data_type == d).expect("setting").sync_order;
        assert!(rank(order[0]) <= rank(order[1]), "{order:?}");
    }

    #[tokio::test]
    async fn running_datasets_are_left_alone_and_unlinked_connections_leave_the_schedule() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
        let (company, connection) = linked(&store, t0()).await;
        request_syncs(&store, &queue, company, connection, &[DataType::Orders], JobReason::FirstLink, t0())
            .await
            .expect("first");
        // Still Queued a day later: not queued again.
        let day = t0() + chrono::Duration::hours(24);
        let report = tick(&store, &queue, day, FOREVER).await.expect("tick");
        assert_eq!((report.due, report.queued, report.still_running), (1, 0, 1));
        // It comes back after the lease; once done, it is queued.
        complete_all(&store, company, day).await;
        assert_eq!(tick(&store, &queue, day + CLAIM_LEASE, FOREVER).await.expect("tick").queued, 1);
        // Unlinked: taken off the schedule, never queued.
        complete_all(&store, company, day + CLAIM_LEASE).await;
        store
            .set_connection_status(company, connection, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
            .await
            .expect("unlinked");
        let later = day + chrono::Duration::hours(48);
        let report = tick(&store, &queue, later, FOREVER).await.expect("tick");
        assert_eq!((report.queued, report.unscheduled), (0, 1));
        assert_eq!(tick(&store, &queue, later + chrono::Duration::hours(48), FOREVER).await.expect("tick").due, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Over any schedule and any tick times, each data type is queued exactly once per
        /// elapsed period that a tick fell into, and never before its time.
        #[test]
        fn due_times_follow_each_types_schedule(
            hours in proptest::collection::vec(1u32..=72, 2),
            ticks in proptest::collection::vec(1u32..=96, 1..12),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
                let (company, connection) = linked(&store, t0()).await;
                let types = [DataType::Orders, DataType::Products];
                let body = serde_json::json!({"companyId": company, "overridesDefaults": true, "settings": types.iter().zip(&hours).map(|(t, h)| serde_json::json!({
                    "dataType": t.key(), "fetchOnFirstLink": true, "syncSchedule": h, "syncOrder": 0, "isLocked": false
                })).collect::<Vec<_>>()});
                let settings = crate::codat::bodies::sync_settings(&body, company).expect("settings");
                store.put_sync_settings(company, &settings).await.expect("settings");
                request_syncs(&store, &queue, company, connection, &types, JobReason::FirstLink, t0()).await.expect("first");
                complete_all(&store, company, t0()).await;
                // Expected: simulate the rule "due at last queued + hours" for each type.
                let mut last = [t0(), t0()];
                let mut expected = 0;
                let mut elapsed = 0;
                for step in &ticks {
                    elapsed += step;
                    let now = t0() + chrono::Duration::hours(i64::from(elapsed));
                    for (i, h) in hours.iter().enumerate() {
                        if last[i] + chrono::Duration::hours(i64::from(*h)) <= now {
                            last[i] = now;
                            expected += 1;
                        }
                    }
                    let before = queue.jobs().len();
                    tick(&store, &queue, now, FOREVER).await.expect("tick");
                    complete_all(&store, company, now).await;
                    prop_assert_eq!(queue.jobs().len() - 2, expected, "after {} h", elapsed);
                    prop_assert!(queue.jobs().len() >= before);
                }
                Ok(())
            })?;
        }
    }
}
