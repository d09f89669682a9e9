//! Ending a read: a dataset's final status is written with its `read.completed` event in one
//! transaction, and once every data type fetched on first link is final after a link, that
//! link's `read.completed.initial` is written (once: the connection's `initial_read` mark is
//! cleared in the same transaction). Used by the sync worker and by the scheduler's sweep.
//!
//! A run killed between the two steps converges on redelivery: the job finds its dataset final
//! and calls [`converge`], which brings the data type's status in line and settles the link's
//! initial read if it is due.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::event::{ReadOutcome, ReadReport};
use crate::domain::{Dataset, Event, EventType, PullStatus};
use crate::error::StoreError;
use crate::ports::PlatformStore;

/// How a dataset ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// Its final status.
    pub status: PullStatus,
    /// Its progress (100 when Complete).
    pub progress: u8,
    /// What went wrong, if anything (never a credential).
    pub message: Option<String>,
    /// The start of an incremental read (`modifiedFromDate`); `None` for a full one.
    pub modified_from: Option<DateTime<Utc>>,
}

impl Ending {
    /// An ending with `status` and `message`, from a full read.
    pub fn new(status: PullStatus, message: Option<String>) -> Self {
        let progress = if status == PullStatus::Complete { 100 } else { 0 };
        Self { status, progress, message, modified_from: None }
    }

    /// The same, of an incremental read from `since`.
    pub fn since(self, since: Option<DateTime<Utc>>) -> Self {
        Self { modified_from: since, ..self }
    }
}

/// Ends dataset `id` of `company` as `ending` says, with its `read.completed` (none when the
/// company is gone: nothing is left to report to). A dataset final already is left as it is
/// ([`converge`]). Returns the dataset as stored afterwards.
pub async fn end_dataset<S: PlatformStore + ?Sized>(
    store: &S,
    company: Uuid,
    id: Uuid,
    ending: Ending,
    now: DateTime<Utc>,
) -> Result<Option<Dataset>, StoreError> {
    let Some(dataset) = store.dataset(company, id).await? else { return Ok(None) };
    if dataset.status.is_final() {
        converge(store, &dataset, now).await?;
        return Ok(Some(dataset));
    }
    let events: Vec<Event> = match store.get_company(company).await? {
        Some(record) => {
            let outcome = ReadOutcome { status: ending.status, ..ReadOutcome::of(&dataset) };
            let read = ReadReport { modified_from: ending.modified_from, data_types: vec![outcome] };
            vec![Event::about_read(EventType::ReadCompleted, &record.company, read, now)]
        }
        None => Vec::new(),
    };
    let ended = store
        .advance_dataset_reporting(company, id, ending.status, ending.progress, ending.message, now, &events)
        .await?;
    settle_initial_read(store, company, dataset.connection_id, now).await?;
    Ok(ended)
}

/// What a redelivered job does for its dataset found final: its data type's status is brought
/// in line with it, and the link's initial read settled if it is due.
pub async fn converge<S: PlatformStore + ?Sized>(
    store: &S,
    dataset: &Dataset,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (company, id) = (dataset.company_id, dataset.id);
    store.advance_dataset(company, id, dataset.status, dataset.progress, dataset.error_message.clone(), now).await?;
    settle_initial_read(store, company, dataset.connection_id, now).await?;
    Ok(())
}

/// Writes `read.completed.initial` for `connection`'s last link if it is due: every data type
/// fetched on first link has a dataset that ended after the link. Returns whether this call
/// wrote it (of concurrent callers, one does).
pub async fn settle_initial_read<S: PlatformStore + ?Sized>(
    store: &S,
    company: Uuid,
    connection: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(linked) = store.get_connection(company, connection).await? else { return Ok(false) };
    let Some(due) = linked.initial_read.filter(|_| linked.erasure.is_none()) else { return Ok(false) };
    let types = store.settings_in_force(company).await?.fetched_on_first_link();
    if types.is_empty() {
        return Ok(false);
    }
    let statuses = store.data_statuses(company).await?;
    // Every first-link type final first (no further read while one runs: the usual case).
    let mut latest = Vec::with_capacity(types.len());
    for data_type in types {
        match statuses.iter().find(|s| s.connection_id == connection && s.data_type == data_type) {
            Some(status) if status.current_status.is_final() => latest.push(status.latest_sync_id),
            _ => return Ok(false),
        }
    }
    let mut outcomes = Vec::with_capacity(latest.len());
    for id in latest {
        // A dataset that ended before the link is not a read of it.
        match store.dataset(company, id).await? {
            Some(dataset) if dataset.status.is_final() && dataset.completed.is_some_and(|at| at >= due) => {
                outcomes.push(ReadOutcome::of(&dataset));
            }
            _ => return Ok(false),
        }
    }
    let Some(record) = store.get_company(company).await? else { return Ok(false) };
    let read = ReadReport { modified_from: None, data_types: outcomes };
    let event = Event::about_read(EventType::ReadCompletedInitial, &record.company, read, now);
    let settled = store.settle_initial_read(company, connection, due, &[event]).await?;
    if settled {
        tracing::info!(connection_id = %connection, "every first-link data type is final: read.completed.initial");
    }
    Ok(settled)
}
