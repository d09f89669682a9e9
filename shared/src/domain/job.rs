//! Sync jobs: the messages on the sync queue. A job is one data type of one connection; it carries
//! ids and a checkpoint, never a credential (the worker reads those from Secrets Manager). Whether
//! a run is full or incremental is decided by the worker from the stored datasets, not carried.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DataType;

/// Version of the message format.
pub const JOB_FORMAT: u8 = 1;

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
    /// Why.
    pub reason: JobReason,
    /// When it was requested.
    pub requested: DateTime<Utc>,
    /// Where a continuation resumes (opaque to everyone but the worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
    /// Which run of the dataset this message starts: 0 for the job, one more than the run that
    /// queued it for a continuation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub part: u32,
    /// Runs in a row, up to this part, that stored nothing (a store that keeps the job waiting);
    /// the worker ends the dataset once it reaches its limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stalled: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SyncJob {
    /// A new job with a fresh dataset id.
    pub fn new(
        company_id: Uuid,
        connection_id: Uuid,
        data_type: DataType,
        reason: JobReason,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            format: JOB_FORMAT,
            // Time-ordered: the history lists a company's datasets newest first by id.
            dataset_id: Uuid::now_v7(),
            company_id,
            connection_id,
            data_type,
            reason,
            requested: now,
            checkpoint: None,
            part: 0,
            stalled: 0,
        }
    }

    /// The job that carries on from `checkpoint` (same dataset, next part), after a run that
    /// made progress.
    pub fn continuation(&self, checkpoint: Option<serde_json::Value>) -> Self {
        Self { reason: JobReason::Continuation, checkpoint, part: self.part + 1, stalled: 0, ..self.clone() }
    }

    /// The continuation of a run that stored nothing: it counts one more stalled run.
    pub fn stalled_continuation(&self, checkpoint: Option<serde_json::Value>) -> Self {
        Self { stalled: self.stalled + 1, ..self.continuation(checkpoint) }
    }

    /// The queue's de-duplication id: the dataset id, plus the part for a continuation. A
    /// continuation is never dropped as a copy of an earlier part (even one that made no
    /// progress), while the same part sent twice is.
    pub fn deduplication_id(&self) -> String {
        match self.part {
            0 => self.dataset_id.to_string(),
            part => format!("{}-{part}", self.dataset_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> SyncJob {
        SyncJob::new(Uuid::new_v4(), Uuid::new_v4(), DataType::Orders, JobReason::FirstLink, Utc::now())
    }

    #[test]
    fn messages_round_trip_and_carry_no_secrets() {
        let job = job();
        let text = serde_json::to_string(&job).expect("json");
        assert!(text.contains("\"dataType\":\"commerce-orders\"") && text.contains("\"reason\":\"firstLink\""));
        assert_eq!(serde_json::from_str::<SyncJob>(&text).expect("parse"), job);
        assert!(text.len() < 1024);
    }

    #[test]
    fn continuations_have_their_own_deduplication_id() {
        let job = job();
        let next = job.continuation(Some(serde_json::json!({"page": 4, "done": 1000})));
        assert_eq!((next.dataset_id, next.reason, next.part), (job.dataset_id, JobReason::Continuation, 1));
        assert_eq!(job.deduplication_id(), job.dataset_id.to_string());
        assert_ne!(next.deduplication_id(), job.deduplication_id());
        let stalled = next.continuation(next.checkpoint.clone());
        assert_ne!(stalled.deduplication_id(), next.deduplication_id(), "a part that made no progress still goes on");
        assert_eq!(next.deduplication_id(), job.continuation(None).deduplication_id(), "a part sent twice is one");
        assert!(stalled.deduplication_id().len() <= 128, "SQS's limit");
        let text = serde_json::to_string(&stalled).expect("json");
        assert_eq!(serde_json::from_str::<SyncJob>(&text).expect("parse"), stalled);
    }
}
