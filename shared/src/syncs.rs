//! Requesting syncs: record Queued datasets, then put their jobs on the queue. Used by the first
//! link, `POST /data/all`, `POST /data/queue/{dataType}` and the scheduler.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{DataType, Dataset, JobReason, SyncJob, SyncSetting};
use crate::error::StoreError;
use crate::ports::{DatasetStore, JobQueue, ScheduleStore, SyncSettingsStore};

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
    request_syncs_with(store, queue, company, connection, data_types, reason, now, &settings).await
}

/// [`request_syncs`] under `settings` (the company's effective settings, already read).
#[allow(clippy::too_many_arguments)]
pub async fn request_syncs_with(
    store: &(impl DatasetStore + SyncSettingsStore + ScheduleStore),
    queue: &dyn JobQueue,
    company: Uuid,
    connection: Uuid,
    data_types: &[DataType],
    reason: JobReason,
    now: DateTime<Utc>,
    settings: &[SyncSetting],
) -> Result<Vec<Dataset>, StoreError> {
    let jobs: Vec<SyncJob> = data_types.iter().map(|d| SyncJob::new(company, connection, *d, reason, now)).collect();
    let datasets: Vec<Dataset> =
        jobs.iter().map(|j| Dataset::queued(j.dataset_id, company, connection, j.data_type, now)).collect();
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
    Ok(datasets)
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
}
