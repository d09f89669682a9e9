//! The erasure job (see [`crate::domain::erasure`]): a connection's records, summaries,
//! directories and aggregates in the data table, its secret, its datasets and statuses; then,
//! after the settle time, the same again (whatever was written by a writer that started before
//! the delete) and the tombstone; then, for the last connection of a deleted company, the
//! company's own items. Every step is a delete, so a repeat (redelivery, continuation) only
//! finds less to do; the tombstone records how far it got.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use uuid::Uuid;

use super::{Retry, SyncWorker};
use crate::domain::erasure::erasure_receipt_key;
use crate::domain::{DataType, ErasureJob, ErasurePhase, ErasureProgress, ErasureReceipt, ErasureSubject};
use crate::error::StoreError;
use crate::ports::{PlatformStore, RecordSet};

/// Items deleted per call into the data table, between checks of the time budget.
const ERASE_CHUNK: usize = 1000;

/// What one run of an erasure job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erased {
    /// Everything is gone (or was already).
    Done,
    /// The first pass is done: the job comes back for its final pass after this wait.
    Settle(Duration),
    /// The time budget ran out: a continuation is queued.
    Continued,
}

impl<S: PlatformStore> SyncWorker<S> {
    /// Runs one erasure job within the job budget and `lambda_deadline`.
    pub async fn erase(
        &self,
        job: &ErasureJob,
        lambda_deadline: Option<std::time::SystemTime>,
    ) -> Result<Erased, Retry> {
        let company = job.erase.company_id;
        let Some(connection) = job.erase.connection_id else {
            self.erase_company(job).await?;
            return Ok(Erased::Done);
        };
        let (yield_after, _) = self.time_box(lambda_deadline);
        let yield_at = Instant::now() + yield_after;
        let stored = self.store.get_connection(company, connection).await?;
        let Some(mut progress) = stored.and_then(|c| c.erasure) else {
            // The tombstone is gone: erased already (a redelivery), or never marked. What is
            // left of a company being deleted still goes.
            if self.store.erasing_company(company).await?.is_some_and(|r| r.connections.is_empty()) {
                self.erase_company(job).await?;
            }
            return Ok(Erased::Done);
        };
        let now = Utc::now();
        let final_pass = match (progress.phase, progress.settle_until) {
            (ErasurePhase::Settling, Some(until)) if until > now => {
                return Ok(Erased::Settle((until - now).to_std().unwrap_or_default()));
            }
            (ErasurePhase::Settling | ErasurePhase::FinalPass, _) => true,
            _ => false,
        };
        progress.phase = if final_pass { ErasurePhase::FinalPass } else { ErasurePhase::Erasing };
        self.store.record_erasure(company, connection, &progress).await?;
        let start = if final_pass { 0 } else { progress.data_types_done as usize };
        for (n, data_type) in DataType::ALL.iter().enumerate().skip(start) {
            let set = RecordSet::new(connection, *data_type);
            loop {
                let (deleted, more) = self.records.erase(set, ERASE_CHUNK).await?;
                progress.items_deleted += deleted;
                if !more {
                    break;
                }
                if Instant::now() >= yield_at {
                    return self.erasure_continues(job, &progress).await;
                }
            }
            if !final_pass {
                progress.data_types_done = n as u32 + 1;
                self.store.record_erasure(company, connection, &progress).await?;
            }
        }
        progress.items_deleted += self.records.erase_aggregates(connection).await?;
        // The store's hooks go before the secret whose token can remove them.
        if let Some(hooked) = self.store.get_connection(company, connection).await? {
            self.remove_hooks(&hooked).await;
        }
        self.vault()?.forget(&self.vault()?.secret_name(connection)).await?;
        progress.items_deleted += self.store.erase_connection_history(company, connection).await?;
        if !final_pass {
            let until = Utc::now() + chrono::Duration::from_std(self.erasure_settle).unwrap_or_default();
            progress.phase = ErasurePhase::Settling;
            progress.settle_until = Some(until);
            self.store.record_erasure(company, connection, &progress).await?;
            tracing::info!(company_id = %company, connection_id = %connection, items = progress.items_deleted, settle_secs = self.erasure_settle.as_secs(), "connection erased; final pass after the settle time");
            return Ok(Erased::Settle(self.erasure_settle));
        }
        // The receipt first: a run killed between the two repeats the (empty) final pass and
        // removes the tombstone then, and `.../erasure` never answers 404 for a finished erasure.
        self.receipt(connection, ErasureSubject::Connection, &progress, progress.items_deleted + 1).await?;
        let company_left = self.store.remove_connection(company, connection).await?;
        tracing::info!(company_id = %company, connection_id = %connection, items = progress.items_deleted + 1, "connection erasure complete");
        if company_left {
            self.erase_company(job).await?;
        }
        Ok(Erased::Done)
    }

    /// Queues the rest of a connection's erasure (the tombstone says how far it got).
    async fn erasure_continues(&self, job: &ErasureJob, progress: &ErasureProgress) -> Result<Erased, Retry> {
        if let Some(connection) = job.erase.connection_id {
            self.store.record_erasure(job.erase.company_id, connection, progress).await?;
        }
        self.queue.enqueue_erasures(&[job.continuation()]).await?;
        tracing::info!(company_id = %job.erase.company_id, items = progress.items_deleted, part = job.part + 1, "erasure continues in a new run");
        Ok(Erased::Continued)
    }

    /// The company's own items, once it has no connection left.
    async fn erase_company(&self, job: &ErasureJob) -> Result<(), StoreError> {
        let company = job.erase.company_id;
        // A receipt before the company item goes (a run killed after the purge still leaves
        // one), then the count once it is known.
        let progress = ErasureProgress::queued(job.requested);
        self.receipt(company, ErasureSubject::Company, &progress, 0).await?;
        let deleted = self.store.purge_company(company).await?;
        self.receipt(company, ErasureSubject::Company, &progress, deleted).await?;
        tracing::info!(company_id = %company, items = deleted, "company erasure complete");
        Ok(())
    }

    async fn receipt(
        &self,
        subject_id: Uuid,
        subject: ErasureSubject,
        progress: &ErasureProgress,
        items_deleted: u64,
    ) -> Result<(), StoreError> {
        let receipt = ErasureReceipt { subject, requested: progress.requested, completed: Utc::now(), items_deleted };
        self.store.put_erasure_receipt(&erasure_receipt_key(subject_id), &receipt).await
    }

    fn vault(&self) -> Result<&crate::vault::CredentialVault, StoreError> {
        self.vault
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the worker has no credential vault to erase with".into()))
    }
}
