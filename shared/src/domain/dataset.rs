//! Datasets (Codat's pull operations): one sync of one data type of one connection, and the
//! per-data-type status the platform polls.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DataType;

/// Codat's dataset status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PullStatus {
    /// Created, not yet queued.
    Initial,
    /// Waiting on the sync queue.
    Queued,
    /// Reading from the store.
    Fetching,
    /// Waiting to be mapped.
    MapQueued,
    /// Mapping and storing.
    Mapping,
    /// Done.
    Complete,
    /// The store failed.
    FetchError,
    /// Mapping failed.
    MapError,
    /// Our failure.
    InternalError,
    /// Codat processing states (unused here, kept for the enum's completeness).
    ProcessingQueued,
    /// See above.
    Processing,
    /// See above.
    ProcessingError,
    /// See above.
    ValidationQueued,
    /// See above.
    Validating,
    /// See above.
    ValidationError,
    /// The store rejected the credentials.
    AuthError,
    /// Cancelled.
    Cancelled,
    /// BigCommerce does not provide this data type.
    NotSupported,
    /// Rate limits stopped the sync.
    RateLimitError,
    /// A scope is missing for this data type.
    PermissionsError,
    /// Something this data type needs is missing.
    PrerequisiteNotMet,
}

impl PullStatus {
    /// Codat's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "Initial",
            Self::Queued => "Queued",
            Self::Fetching => "Fetching",
            Self::MapQueued => "MapQueued",
            Self::Mapping => "Mapping",
            Self::Complete => "Complete",
            Self::FetchError => "FetchError",
            Self::MapError => "MapError",
            Self::InternalError => "InternalError",
            Self::ProcessingQueued => "ProcessingQueued",
            Self::Processing => "Processing",
            Self::ProcessingError => "ProcessingError",
            Self::ValidationQueued => "ValidationQueued",
            Self::Validating => "Validating",
            Self::ValidationError => "ValidationError",
            Self::AuthError => "AuthError",
            Self::Cancelled => "Cancelled",
            Self::NotSupported => "NotSupported",
            Self::RateLimitError => "RateLimitError",
            Self::PermissionsError => "PermissionsError",
            Self::PrerequisiteNotMet => "PrerequisiteNotMet",
        }
    }

    /// Whether the dataset ended in an error.
    pub fn is_errored(self) -> bool {
        matches!(
            self,
            Self::FetchError
                | Self::MapError
                | Self::InternalError
                | Self::ProcessingError
                | Self::ValidationError
                | Self::AuthError
                | Self::RateLimitError
                | Self::PermissionsError
                | Self::PrerequisiteNotMet
                | Self::Cancelled
        )
    }

    /// Whether the dataset is finished (successfully, unsupported, or in error).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::NotSupported) || self.is_errored()
    }

    /// Statuses a running dataset may be in (queued or in progress).
    pub const RUNNING: [PullStatus; 4] = [Self::Queued, Self::Fetching, Self::MapQueued, Self::Mapping];
}

/// A pull operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Dataset id (also the job's de-duplication id).
    pub id: Uuid,
    /// Company.
    pub company_id: Uuid,
    /// Connection.
    pub connection_id: Uuid,
    /// Data type.
    pub data_type: DataType,
    /// Status.
    pub status: PullStatus,
    /// When it was requested.
    pub requested: DateTime<Utc>,
    /// When it finished.
    #[serde(default)]
    pub completed: Option<DateTime<Utc>>,
    /// 0..=100.
    #[serde(default)]
    pub progress: u8,
    /// What went wrong (never a credential).
    #[serde(default)]
    pub error_message: Option<String>,
    /// Where the sync got to (JSON, opaque to all but the worker): a continuation or a redelivered
    /// job resumes from here. It only moves after the records before it are stored.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Records of its data type stored when it ended (the sealed count).
    #[serde(default)]
    pub records: Option<u64>,
    /// Whether its run stored or removed at least one record (`read.completed`'s
    /// `recordsModified`): set when the run seals what it wrote, never unset.
    #[serde(default)]
    pub records_modified: bool,
    /// When it leaves the history (Unix seconds; the table's TTL attribute): set once a newer
    /// dataset of its data type supersedes it, never on the latest or the latest successful one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// A targeted sync: the records named by the store's callbacks, not a listing. It becomes
    /// its data type's latest only when no other sync of it is running (which keeps saying
    /// where it is), and its checkpoint carries where the last listing started (`listed_at`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub targeted: bool,
}

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// How long a superseded dataset stays in the history.
    pub retention: chrono::Duration,
    /// The most datasets kept per (connection, data type); older ones go at the next sync.
    pub per_data_type: usize,
}

impl Default for History {
    fn default() -> Self {
        Self { retention: chrono::Duration::days(90), per_data_type: 500 }
    }
}

impl Dataset {
    /// Whether it has left the history at `now` (DynamoDB deletes expired items within days,
    /// moto never: reads skip them).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now.timestamp())
    }
}

impl Dataset {
    /// A queued dataset.
    pub fn queued(id: Uuid, company_id: Uuid, connection_id: Uuid, data_type: DataType, now: DateTime<Utc>) -> Self {
        Self {
            id,
            company_id,
            connection_id,
            data_type,
            status: PullStatus::Queued,
            requested: now,
            completed: None,
            progress: 0,
            error_message: None,
            checkpoint: None,
            records: None,
            records_modified: false,
            expires_at: None,
            targeted: false,
        }
    }
}

/// The latest state of one data type of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTypeStatus {
    /// Connection.
    pub connection_id: Uuid,
    /// Data type.
    pub data_type: DataType,
    /// Status of the latest dataset.
    pub current_status: PullStatus,
    /// The latest dataset.
    pub latest_sync_id: Uuid,
    /// When the latest dataset was requested.
    pub latest_requested: DateTime<Utc>,
    /// The latest Complete dataset.
    #[serde(default)]
    pub latest_successful_sync_id: Option<Uuid>,
    /// When it completed.
    #[serde(default)]
    pub last_successful_sync: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errored_and_final_states() {
        assert!(PullStatus::AuthError.is_errored() && PullStatus::AuthError.is_final());
        assert!(!PullStatus::Complete.is_errored() && PullStatus::Complete.is_final());
        assert!(PullStatus::NotSupported.is_final() && !PullStatus::NotSupported.is_errored());
        assert!(PullStatus::RUNNING.iter().all(|s| !s.is_final()));
        assert_eq!(serde_json::to_string(&PullStatus::RateLimitError).expect("json"), "\"RateLimitError\"");
    }
}
