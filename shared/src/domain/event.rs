//! Events, as the outbox keeps them: written in the same operation as the state change they
//! report, then relayed to consumers ([`crate::webhooks`]). An event holds snapshots of the
//! company and connection it is about, never a credential nor a Link token: the payload Codat
//! documents is rendered from it at delivery ([`crate::codat::event_body`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Company, Connection, ConnectionStatus, DataType, PullStatus, Tags, webhook::EventType};

/// How long events (and their delivery log) are kept: the replay window, and all that a
/// company's erasure leaves behind.
pub const EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// The company an event is about (`referenceCompany`, or `company.*`'s payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyRef {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its tags (what consumers' `companyTags` filter on).
    #[serde(default)]
    pub tags: Tags,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Its last successful sync.
    #[serde(default)]
    pub last_sync: Option<DateTime<Utc>>,
}

impl From<&Company> for CompanyRef {
    fn from(company: &Company) -> Self {
        Self {
            id: company.id,
            name: company.name.as_str().to_string(),
            description: company.description.clone(),
            tags: company.tags.clone(),
            created: company.created,
            last_sync: company.last_sync,
        }
    }
}

/// The connection an event is about, as it stood after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRef {
    /// Its id.
    pub id: Uuid,
    /// Its status after the change.
    pub status: ConnectionStatus,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Its last successful sync.
    #[serde(default)]
    pub last_sync: Option<DateTime<Utc>>,
    /// Its non-secret facts (`connectionInfo`).
    #[serde(default)]
    pub info: BTreeMap<String, String>,
}

impl From<&Connection> for ConnectionRef {
    fn from(connection: &Connection) -> Self {
        Self {
            id: connection.id,
            status: connection.status,
            created: connection.created,
            last_sync: connection.last_sync,
            info: connection.info.clone(),
        }
    }
}

/// Why linking failed (`connection.failed`'s `dataConnectionErrors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFailure {
    /// The HTTP status the store's answer maps to ("401", "403", "404").
    pub status_code: String,
    /// Its reason phrase.
    pub status_text: String,
    /// What the merchant was told.
    pub message: String,
}

/// What a read reports (`read.completed`, `read.completed.initial`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReport {
    /// The start of an incremental read (changes since then); `None` for a full read.
    #[serde(default)]
    pub modified_from: Option<DateTime<Utc>>,
    /// Each data type's outcome: one for `read.completed`, every first-link type for
    /// `read.completed.initial`.
    pub data_types: Vec<ReadOutcome>,
}

/// How one data type's read ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOutcome {
    /// The connection read.
    pub connection_id: Uuid,
    /// The dataset that ended.
    pub dataset_id: Uuid,
    /// Its data type.
    pub data_type: DataType,
    /// Its final status.
    pub status: PullStatus,
    /// Whether the read stored or removed at least one record.
    pub records_modified: bool,
}

impl ReadOutcome {
    /// The outcome of `dataset` (final).
    pub fn of(dataset: &super::Dataset) -> Self {
        Self {
            connection_id: dataset.connection_id,
            dataset_id: dataset.id,
            data_type: dataset.data_type,
            status: dataset.status,
            records_modified: dataset.records_modified,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its id: the envelope's `id` and the `webhook-id` of every delivery of it.
    pub id: Uuid,
    /// Its type.
    pub event_type: EventType,
    /// When the change happened.
    pub generated: DateTime<Utc>,
    /// The company it is about.
    pub company: CompanyRef,
    /// The connection it is about (`connection.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionRef>,
    /// Why linking failed (`connection.failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<LinkFailure>,
    /// What a read did (`read.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadReport>,
}

impl Event {
    /// A `company.*` event about `company`, at `now`.
    pub fn about_company(event_type: EventType, company: &Company, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            event_type,
            generated: now,
            company: company.into(),
            connection: None,
            failure: None,
            read: None,
        }
    }

    /// A `read.*` event about `company`'s read, at `now`.
    pub fn about_read(event_type: EventType, company: &Company, read: ReadReport, now: DateTime<Utc>) -> Self {
        Self { read: Some(read), ..Self::about_company(event_type, company, now) }
    }

    /// A `connection.*` event about `connection` of `company` (as it stands after the change).
    pub fn about_connection(
        event_type: EventType,
        company: &Company,
        connection: &Connection,
        now: DateTime<Utc>,
    ) -> Self {
        Self { connection: Some(connection.into()), ..Self::about_company(event_type, company, now) }
    }

    /// The same with why linking failed.
    pub fn with_failure(self, failure: LinkFailure) -> Self {
        Self { failure: Some(failure), ..self }
    }

    /// The `connection.*` event of a status change, if the change is one Codat reports:
    /// `PendingAuth -> Linked` connected, `Linked ->` Unlinked or Deauthorized disconnected,
    /// back to `Linked` reconnected.
    pub fn status_change(from: ConnectionStatus, to: ConnectionStatus) -> Option<EventType> {
        use ConnectionStatus::{Deauthorized, Linked, PendingAuth, Unlinked};
        match (from, to) {
            (PendingAuth, Linked) => Some(EventType::ConnectionConnected),
            (Linked, Unlinked | Deauthorized) => Some(EventType::ConnectionDisconnected),
            (Unlinked | Deauthorized, Linked) => Some(EventType::ConnectionReconnected),
            _ => None,
        }
    }

    /// Unix time after which the event (and its delivery log) expires.
    pub fn expires_at(&self) -> i64 {
        (self.generated + EVENT_RETENTION).timestamp()
    }
}

/// How a message (one event for one consumer) stands, in Codat's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// The consumer answered 2xx.
    Success,
    /// Failed so far; another attempt is scheduled.
    Attempting,
    /// Every attempt failed (or the consumer was disabled or its address refused).
    Failure,
}

/// One message's delivery log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The consumer.
    pub consumer: Uuid,
    /// The event (and `webhook-id`).
    pub event_id: Uuid,
    /// Its type.
    pub event_type: EventType,
    /// When the event happened (the log's order).
    pub generated: DateTime<Utc>,
    /// How it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The consumer's last status code, if it answered.
    #[serde(default)]
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed, when it did (never a header or body of the request).
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the last attempt was made.
    pub last_attempt: DateTime<Utc>,
}

/// A later attempt of one event for one consumer, as the retry queue carries it (the event's
/// snapshots only: no credential, no Link token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryMessage {
    /// The event.
    pub event: Event,
    /// The consumer to attempt.
    pub consumer: Uuid,
    /// Sent again on request (`POST /webhooks/{id}/replay`): attempted whatever the log says,
    /// as the first of a new series of attempts.
    #[serde(default)]
    pub replay: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionStatus::*;

    #[test]
    fn status_changes_name_codats_events() {
        assert_eq!(Event::status_change(PendingAuth, Linked), Some(EventType::ConnectionConnected));
        assert_eq!(Event::status_change(Linked, Unlinked), Some(EventType::ConnectionDisconnected));
        assert_eq!(Event::status_change(Linked, Deauthorized), Some(EventType::ConnectionDisconnected));
        assert_eq!(Event::status_change(Unlinked, Linked), Some(EventType::ConnectionReconnected));
        assert_eq!(Event::status_change(Deauthorized, Linked), Some(EventType::ConnectionReconnected));
        assert_eq!(Event::status_change(Linked, Linked), None);
        assert_eq!(Event::status_change(PendingAuth, Unlinked), None);
    }
}
