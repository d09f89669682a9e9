//! Sync jobs: the messages on the sync queue. A job is one data type of one connection; it carries
//! ids and a checkpoint, never a credential (the worker reads those from Secrets Manager).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::DataType;

/// Version of the message format.
pub const JOB_FORMAT: u8 = 1;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Everything (first sync, reconciliation).
    Full,
    /// What changed since the last checkpoint.
    Incremental,
}

/// Why a job exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobReason {
    /// The connection was just linked.
    FirstLink,
    /// A platform asked (`/data/all`, `/data/queue/{dataType}`).
    Refresh,
    /// The scheduler found it due.
    Schedule,
    /// A job ran out of time and continues from its checkpoint.
    Continuation,
}

/// One message on the sync queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncJob {
    /// Message format version.
    pub format: u8,
    /// The pull operation (dataset) id; also the queue's de-duplication id.
    pub dataset_id: Uuid,
    /// Company.
    pub company_id: Uuid,
    /// Connection (the FIFO message group: one job per store at a time).
    pub connection_id: Uuid,
    /// Data type.
    pub data_type: DataType,
    /// Full or incremental.
    pub mode: SyncMode,
    /// Why.
    pub reason: JobReason,
    /// When it was requested.
    pub requested: DateTime<Utc>,
    /// Where a continuation resumes (opaque to everyone but the worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
}

impl SyncJob {
    /// A new job with a fresh dataset id.
    pub fn new(
        company_id: Uuid,
        connection_id: Uuid,
        data_type: DataType,
        mode: SyncMode,
        reason: JobReason,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            format: JOB_FORMAT,
            dataset_id: Uuid::new_v4(),
            company_id,
            connection_id,
            data_type,
            mode,
            reason,
            requested: now,
            checkpoint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_carry_no_secrets() {
        let job = SyncJob::new(
            Uuid::new_v4(),
            Uuid::new_v4(),
            DataType::Orders,
            SyncMode::Full,
            JobReason::FirstLink,
            Utc::now(),
        );
        let text = serde_json::to_string(&job).expect("json");
        assert!(text.contains("\"dataType\":\"commerce-orders\"") && text.contains("\"reason\":\"firstLink\""));
        assert_eq!(serde_json::from_str::<SyncJob>(&text).expect("parse"), job);
        assert!(text.len() < 1024);
    }
}
