//! Erasure: what deleting a company or a connection leaves behind, and the job that removes it.
//!
//! A delete marks its subject at once (the company `deleting`, each connection's tombstone, an
//! [`ErasureProgress`]): reads stop, links and syncs are refused, and a worker mid-sync stops
//! before its next page. An [`ErasureJob`] on the sync queue (in the connection's message group,
//! so it runs after the job in flight) then removes the connection's records, summaries,
//! directories and aggregates, its secret (by its deterministic name), its datasets and data
//! statuses (schedule entries with them), waits [`ErasureProgress::settle_until`] for writers
//! that started before the delete, passes again, and removes the tombstone last. The company's
//! own items (its partition, Link token, attempt counters) go when its last connection is gone.
//! An [`ErasureReceipt`] keyed by a hash of the id says it was done, and expires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::job::JOB_FORMAT;

/// Where an erasure stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErasurePhase {
    /// Marked; its job has not started.
    Queued,
    /// Removing data.
    Erasing,
    /// Waiting for writers that started before the delete to end, before the final pass.
    Settling,
    /// The final pass: anything written meanwhile is removed, then the tombstone.
    FinalPass,
}

impl ErasurePhase {
    /// The name shown in the API and the portal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Erasing => "Erasing",
            Self::Settling => "Settling",
            Self::FinalPass => "FinalPass",
        }
    }
}

/// How far the erasure of a connection got (kept on its tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureProgress {
    /// When the delete was asked for.
    pub requested: DateTime<Utc>,
    /// Where it stands.
    pub phase: ErasurePhase,
    /// Data types whose records are gone (of [`super::DataType::ALL`]).
    #[serde(default)]
    pub data_types_done: u32,
    /// Items removed so far (records, summaries, directories, datasets, statuses).
    #[serde(default)]
    pub items_deleted: u64,
    /// When the final pass may start (while [`ErasurePhase::Settling`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_until: Option<DateTime<Utc>>,
}

impl ErasureProgress {
    /// A freshly marked erasure.
    pub fn queued(requested: DateTime<Utc>) -> Self {
        Self { requested, phase: ErasurePhase::Queued, data_types_done: 0, items_deleted: 0, settle_until: None }
    }
}

/// What was erased, kept as a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErasureSubject {
    /// A company (and every connection of it).
    Company,
    /// One connection.
    Connection,
}

/// A receipt that an erasure finished: keyed by [`erasure_receipt_key`] (a hash, never the id),
/// kept for [`RECEIPT_DAYS`] days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    /// Company or connection.
    pub subject: ErasureSubject,
    /// When the delete was asked for.
    pub requested: DateTime<Utc>,
    /// When the last item went.
    pub completed: DateTime<Utc>,
    /// Items removed (a company's: its own and its connections').
    pub items_deleted: u64,
}

/// How long a receipt is kept.
pub const RECEIPT_DAYS: i64 = 30;

/// The key of the receipt of `id`'s erasure: SHA-256 of the id (hex), so the receipt does not
/// name what it erased, while whoever knows the id can ask.
pub fn erasure_receipt_key(id: Uuid) -> String {
    hex::encode(Sha256::digest(format!("erasure/v1/{id}").as_bytes()))
}

/// What an erasure job erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureTarget {
    /// The company.
    pub company_id: Uuid,
    /// The connection; `None` for what a company with no connection left still has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<Uuid>,
}

/// The message of an erasure on the sync queue (message group: the connection, or the company
/// when it has none; carries ids only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureJob {
    /// Message format version.
    pub format: u8,
    /// What to erase.
    pub erase: ErasureTarget,
    /// When the delete was asked for.
    pub requested: DateTime<Utc>,
    /// Which run this message starts (one more for each continuation past the job budget).
    #[serde(default)]
    pub part: u32,
}

impl ErasureJob {
    /// The erasure of `connection` of `company`.
    pub fn connection(company: Uuid, connection: Uuid, requested: DateTime<Utc>) -> Self {
        let erase = ErasureTarget { company_id: company, connection_id: Some(connection) };
        Self { format: JOB_FORMAT, erase, requested, part: 0 }
    }

    /// The erasure of what `company` itself still has (it has no connection).
    pub fn company(company: Uuid, requested: DateTime<Utc>) -> Self {
        let erase = ErasureTarget { company_id: company, connection_id: None };
        Self { format: JOB_FORMAT, erase, requested, part: 0 }
    }

    /// The job that carries on after the budget.
    pub fn continuation(&self) -> Self {
        Self { part: self.part + 1, ..self.clone() }
    }

    /// The FIFO message group: the connection's, so the erasure runs after its job in flight.
    pub fn group(&self) -> String {
        self.erase.connection_id.unwrap_or(self.erase.company_id).to_string()
    }

    /// The queue's de-duplication id: one per (subject, request, part).
    pub fn deduplication_id(&self) -> String {
        format!("erase-{}-{}-{}", self.group(), self.requested.timestamp_millis(), self.part)
    }
}

/// A message on the sync queue: a sync job or an erasure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueueMessage {
    /// A targeted sync or a hooks check, from the fresh queue (has `fresh`).
    Fresh(super::hook::FreshJob),
    /// An erasure (has `erase`).
    Erase(ErasureJob),
    /// A sync job.
    Sync(super::SyncJob),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DataType, JobReason, SyncJob};

    #[test]
    fn messages_tell_erasures_from_syncs_and_carry_ids_only() {
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let erase = ErasureJob::connection(company, connection, Utc::now());
        let text = serde_json::to_string(&erase).expect("json");
        assert_eq!(serde_json::from_str::<QueueMessage>(&text).expect("parse"), QueueMessage::Erase(erase.clone()));
        let sync = SyncJob::new(company, connection, DataType::Orders, JobReason::Refresh, Utc::now());
        let text = serde_json::to_string(&sync).expect("json");
        assert_eq!(serde_json::from_str::<QueueMessage>(&text).expect("parse"), QueueMessage::Sync(sync));
        assert_eq!(erase.group(), connection.to_string());
        assert_eq!(ErasureJob::company(company, erase.requested).group(), company.to_string());
        assert_ne!(erase.deduplication_id(), erase.continuation().deduplication_id());
        assert!(erase.continuation().deduplication_id().len() <= 128, "SQS's limit");
    }

    #[test]
    fn receipts_are_keyed_by_a_hash_that_does_not_name_the_id() {
        let id = Uuid::new_v4();
        let key = erasure_receipt_key(id);
        assert_eq!(key, erasure_receipt_key(id));
        assert_ne!(key, erasure_receipt_key(Uuid::new_v4()));
        assert!(!key.contains(&id.to_string()) && !key.contains(&id.simple().to_string()));
    }
}
