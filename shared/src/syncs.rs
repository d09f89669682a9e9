//! Requesting syncs: record Queued datasets, then put their jobs on the queue. Used by the first
//! link, `POST /data/all`, `POST /data/queue/{dataType}` and the scheduler.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{DataType, DataTypeStatus, Dataset, JobReason, PullStatus, SyncJob, SyncSetting};
use crate::error::StoreError;
use crate::ports::{DatasetStore, JobQueue, ScheduleStore, SyncSettingsStore};

/// How long a Queued dataset answers for the refreshes of its data type. One older than this
/// (its job lost with a crashed worker, or waiting behind hours of continuations) gets a new
/// one: at most one more per hour, and never a data type stuck behind a job that is gone.
pub const COALESCE_WITHIN: chrono::Duration = chrono::Duration::hours(1);

/// Records a Queued dataset per data type and enqueues its job. The datasets are stored first,
/// marked unsent, so a queue failure (or a crash before the marks are cleared) leaves them for the
/// scheduler's sweep to send again rather than lost. Then
/// each data type BigCommerce provides is scheduled again `syncSchedule` hours from `now`, under
/// the company's sync settings.
pub async fn request_syncs(
    store: &(impl DatasetStore + SyncSettingsStore + ScheduleStore),
    queue: &dyn JobQueue,
    company: Uuid,
    connection: Uuid,
    data_types: &[DataType],
    reason: JobReason,
    now: DateTime<Utc>,
) -> Result<Vec<Dataset>, StoreError> {
    let settings = store.settings_in_force(company).await?.effective();
    let statuses = store.data_statuses(company).await?;
    let known = Known { settings: &settings, statuses: &statuses };
    request_syncs_with(store, queue, company, connection, data_types, reason, now, known).await
}

/// What a caller of [`request_syncs_with`] has read already.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// The company's effective sync settings.
    pub settings: &'a [SyncSetting],
    /// The company's data statuses.
    pub statuses: &'a [DataTypeStatus],
}

/// [`request_syncs`] with the settings and statuses already read (the scheduler's tick).
#[allow(clippy::too_many_arguments)]
pub async fn request_syncs_with(
    store: &(impl DatasetStore + SyncSettingsStore + ScheduleStore),
    queue: &dyn JobQueue,
    company: Uuid,
    connection: Uuid,
    data_types: &[DataType],
    reason: JobReason,
    now: DateTime<Utc>,
    known: Known<'_>,
) -> Result<Vec<Dataset>, StoreError> {
    let (settings, statuses) = (known.settings, known.statuses);
    // A data type whose latest dataset is still Queued (for less than COALESCE_WITHIN) is not
    // queued again: the request gets that dataset. One that is running gets one follow-up
    // (which is then the Queued latest).
    let mut waiting = Vec::new();
    let mut fresh = Vec::new();
    for data_type in data_types {
        let queued = statuses.iter().find(|s| {
            s.connection_id == connection
                && s.data_type == *data_type
                && s.current_status == PullStatus::Queued
                && now - s.latest_requested < COALESCE_WITHIN
        });
        match queued {
            Some(status) => match store.dataset(company, status.latest_sync_id).await? {
                Some(dataset) => waiting.push(dataset),
                None => fresh.push(*data_type),
            },
            None => fresh.push(*data_type),
        }
    }
    let jobs: Vec<SyncJob> = fresh.iter().map(|d| SyncJob::new(company, connection, *d, reason, now)).collect();
    let datasets: Vec<Dataset> =
        jobs.iter().map(|j| Dataset::queued(j.dataset_id, company, connection, j.data_type, now)).collect();
    if !waiting.is_empty() {
        tracing::info!(connection_id = %connection, coalesced = waiting.len(), "data types already queued: not queued again");
    }
    if jobs.is_empty() {
        return Ok(order_as(data_types, waiting));
    }
    store.queue_datasets(&datasets).await?;
    queue.enqueue(&jobs).await?;
    // Until this, the scheduler's sweep sends again whatever it finds unsent.
    store.mark_sent(company, &jobs.iter().map(|j| j.dataset_id).collect::<Vec<_>>()).await?;
    // One write per data type, all at once.
    futures::future::try_join_all(data_types.iter().filter(|d| d.supported()).map(|data_type| {
        let hours = settings.iter().find(|s| s.data_type == *data_type).map_or(24, |s| s.sync_schedule);
        store.schedule_sync(company, connection, *data_type, now + chrono::Duration::hours(i64::from(hours)))
    }))
    .await?;
    Ok(order_as(data_types, datasets.into_iter().chain(waiting).collect()))
}

/// `datasets` in the order of `data_types`.
fn order_as(data_types: &[DataType], mut datasets: Vec<Dataset>) -> Vec<Dataset> {
    datasets.sort_by_key(|d| data_types.iter().position(|t| *t == d.data_type));
    datasets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemoryStore};

    #[tokio::test]
    async fn datasets_and_jobs_match_one_to_one() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let types = [DataType::Orders, DataType::Customers];
        let datasets = request_syncs(&store, &queue, company, connection, &types, JobReason::Refresh, Utc::now())
            .await
            .expect("queued");
        let jobs = queue.jobs();
        assert_eq!(datasets.len(), 2);
        assert_eq!(
            datasets.iter().map(|d| d.id).collect::<Vec<_>>(),
            jobs.iter().map(|j| j.dataset_id).collect::<Vec<_>>()
        );
        assert_eq!(store.data_statuses(company).await.expect("statuses").len(), 2);
    }

    #[tokio::test]
    async fn a_data_type_still_queued_is_not_queued_again_and_a_running_one_gets_one_follow_up() {
        let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let request = |types: &'static [DataType]| {
            request_syncs(&store, &queue, company, connection, types, JobReason::Refresh, Utc::now())
        };
        let first = request(&[DataType::Orders]).await.expect("queued");
        for _ in 0..5 {
            let again = request(&[DataType::Orders]).await.expect("coalesced");
            assert_eq!(again, first, "the queued dataset answers");
        }
        assert_eq!(queue.jobs().len(), 1, "one job for six refreshes");
        let both = request(&[DataType::Customers, DataType::Orders]).await.expect("queued");
        assert_eq!(both.iter().map(|d| d.data_type).collect::<Vec<_>>(), [DataType::Customers, DataType::Orders]);
        assert_eq!(both[1], first[0]);
        assert_eq!(queue.jobs().len(), 2, "only customers was new");
        // Running: one follow-up, then that one answers.
        store.advance_dataset(company, first[0].id, PullStatus::Fetching, 10, None, Utc::now()).await.expect("running");
        let follow_up = request(&[DataType::Orders]).await.expect("follow-up");
        assert_ne!(follow_up[0].id, first[0].id);
        assert_eq!(request(&[DataType::Orders]).await.expect("coalesced"), follow_up);
        assert_eq!(queue.jobs().len(), 3);
    }
}
