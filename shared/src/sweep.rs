//! The scheduler's sweep: no dataset stays running for ever.
//!
//! Two kinds of stuck dataset are found through the sweep index ([`Staleness`]):
//! - **unsent**: Queued, but its job never reached the queue (the queue failed, or the function
//!   died between the two writes). Its job is sent again (the queue drops a copy of one that did
//!   arrive within its de-duplication window, and the worker leaves a final dataset alone); one
//!   that still cannot be sent after [`SweepPolicy::give_up_unsent_after`] ends `InternalError`.
//! - **dead**: running, but its run gave no sign of life (a start, a checkpoint) for longer than
//!   a job can live ([`SweepPolicy::dead_after`]): the run timed out, ran out of memory or
//!   crashed on every receive, and its message went to the dead-letter queue. It ends
//!   `InternalError` with a message, with the partners its run was filling, and a new sync of
//!   its data types is queued.
//!
//! Each find is first claimed by a conditional write, so of two sweeps at once exactly one acts.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::{DataType, Dataset, JobReason, PullStatus, SyncJob};
use crate::error::StoreError;
use crate::ports::{JobQueue, PlatformStore, StaleDataset, Staleness};
use crate::reads::Ending;
use crate::sync::{checkpoint_links, partners_of};
use crate::syncs::request_syncs;

/// When the sweep takes a dataset for stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepPolicy {
    /// A Queued dataset still unsent after this is sent again.
    pub unsent_after: Duration,
    /// An unsent dataset that still cannot be sent this long after it was requested ends.
    pub give_up_unsent_after: Duration,
    /// A running dataset without a sign of life for this long is dead: longer than its job can
    /// live (the worker's timeout, 900 s) with a margin.
    pub dead_after: Duration,
    /// Datasets of each kind handled per sweep (the rest wait for the next).
    pub limit: usize,
}

impl Default for SweepPolicy {
    fn default() -> Self {
        Self {
            unsent_after: Duration::minutes(2),
            give_up_unsent_after: Duration::hours(1),
            dead_after: Duration::minutes(20),
            limit: 500,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Unsent jobs sent again.
    pub resent: usize,
    /// Unsent datasets ended: they could not be sent, or their connection is no longer Linked.
    pub unsent_ended: usize,
    /// Dead datasets ended (partners included).
    pub dead_ended: usize,
    /// New syncs queued in place of dead ones.
    pub requeued: usize,
    /// Finds another sweep took first, or that moved on before this one acted.
    pub skipped: usize,
}

/// Sweeps the unsent, then the dead datasets as of `now`. A failure with one dataset is logged
/// and leaves it for the next sweep (its claim moved its mark to `now`); a failure to read the
/// index is returned.
pub async fn sweep<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
    policy: &SweepPolicy,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    for found in store.stale_datasets(Staleness::Unsent, now - policy.unsent_after, policy.limit).await? {
        if let Err(e) = unsent(store, queue, &found, now, policy, &mut report).await {
            tracing::error!(error = %e, dataset_id = %found.dataset, "sending an unsent sync failed");
        }
    }
    for found in store.stale_datasets(Staleness::Live, now - policy.dead_after, policy.limit).await? {
        if let Err(e) = dead(store, queue, &found, now, policy, &mut report).await {
            tracing::error!(error = %e, dataset_id = %found.dataset, "ending a dead sync failed");
        }
    }
    tracing::info!(
        resent = report.resent,
        unsent_ended = report.unsent_ended,
        dead_ended = report.dead_ended,
        requeued = report.requeued,
        skipped = report.skipped,
        "sweep"
    );
    Ok(report)
}

/// The dataset of a claimed find, if it is still running.
async fn claimed<S: PlatformStore>(
    store: &S,
    kind: Staleness,
    found: &StaleDataset,
    now: DateTime<Utc>,
) -> Result<Option<Dataset>, StoreError> {
    if !store.claim_stale(kind, found, now).await? {
        return Ok(None);
    }
    Ok(store.dataset(found.company, found.dataset).await?.filter(|d| !d.status.is_final()))
}

async fn linked<S: PlatformStore>(store: &S, dataset: &Dataset) -> Result<bool, StoreError> {
    let connection = store.get_connection(dataset.company_id, dataset.connection_id).await?;
    Ok(connection.is_some_and(|c| c.syncable()))
}

async fn end<S: PlatformStore>(
    store: &S,
    company: Uuid,
    id: Uuid,
    status: PullStatus,
    message: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(dataset) = store.dataset(company, id).await? else { return Ok(false) };
    if dataset.status.is_final() {
        return Ok(false);
    }
    let ending = Ending { progress: dataset.progress, ..Ending::new(status, Some(message.to_string())) };
    let ended = crate::reads::end_dataset(store, company, id, ending, now).await?;
    tracing::warn!(dataset_id = %id, data_type = dataset.data_type.key(), status = status.as_str(), message, "sweep ended a dataset");
    Ok(ended.is_some_and(|d| d.status == status))
}

async fn unsent<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    found: &StaleDataset,
    now: DateTime<Utc>,
    policy: &SweepPolicy,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let Some(dataset) = claimed(store, Staleness::Unsent, found, now).await? else {
        report.skipped += 1;
        return Ok(());
    };
    if !linked(store, &dataset).await? {
        let message = "The connection is not Linked";
        report.unsent_ended +=
            usize::from(end(store, dataset.company_id, dataset.id, PullStatus::Cancelled, message, now).await?);
        return Ok(());
    }
    let job = SyncJob {
        dataset_id: dataset.id,
        requested: dataset.requested,
        ..SyncJob::new(dataset.company_id, dataset.connection_id, dataset.data_type, JobReason::Schedule, now)
    };
    match queue.enqueue(std::slice::from_ref(&job)).await {
        Ok(()) => {
            store.mark_sent(dataset.company_id, &[dataset.id]).await?;
            tracing::info!(dataset_id = %dataset.id, data_type = dataset.data_type.key(), "unsent sync sent again");
            report.resent += 1;
        }
        Err(e) if now - dataset.requested >= policy.give_up_unsent_after => {
            let message = format!("The sync could not be queued: {e}");
            report.unsent_ended += usize::from(
                end(store, dataset.company_id, dataset.id, PullStatus::InternalError, &message, now).await?,
            );
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

async fn dead<S: PlatformStore>(
    store: &S,
    queue: &dyn JobQueue,
    found: &StaleDataset,
    now: DateTime<Utc>,
    policy: &SweepPolicy,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let Some(dataset) = claimed(store, Staleness::Live, found, now).await? else {
        report.skipped += 1;
        return Ok(());
    };
    let (_, driver) = checkpoint_links(dataset.checkpoint.as_deref());
    if let Some(driver) = driver {
        // Filled by another run, which gives the sign of life: it is judged by that run.
        let driving = store.dataset(dataset.company_id, driver).await?;
        if driving.is_some_and(|d| !d.status.is_final()) {
            report.skipped += 1;
            return Ok(());
        }
    }
    let linked = linked(store, &dataset).await?;
    let message = format!(
        "The sync stopped without finishing: its run gave no sign of life for {} minutes (a timeout, running out of memory or a crash on every attempt){}",
        policy.dead_after.num_minutes(),
        if linked { "; a new sync was queued" } else { "" }
    );
    let partners = partners_of(store, &dataset).await?;
    let mut types: Vec<DataType> = vec![dataset.data_type];
    for (partner, data_type) in &partners {
        if end(store, dataset.company_id, *partner, PullStatus::InternalError, &message, now).await? {
            report.dead_ended += 1;
            types.push(*data_type);
        }
    }
    if end(store, dataset.company_id, dataset.id, PullStatus::InternalError, &message, now).await? {
        report.dead_ended += 1;
    }
    if linked {
        request_syncs(store, queue, dataset.company_id, dataset.connection_id, &types, JobReason::Schedule, now)
            .await?;
        report.requeued += types.len();
    }
    Ok(())
}
