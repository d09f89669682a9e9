//! Webhook consumers: what a platform subscribes to (event types Codat documents and,
//! optionally, company tags `tagKey:tagValue`, any one matching delivers) and the consumer as
//! stored (its signing secret lives in Secrets Manager, named by its id).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::Tags;

/// An event type a consumer can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A company was created.
    CompanyCreated,
    /// A company was deleted.
    CompanyDeleted,
    /// A connection was created (`PendingAuth`).
    ConnectionCreated,
    /// A connection was linked for the first time (`PendingAuth` to `Linked`).
    ConnectionConnected,
    /// A linked connection was unlinked or deauthorized.
    ConnectionDisconnected,
    /// An unlinked or deauthorized connection was linked again.
    ConnectionReconnected,
    /// A connection was deleted.
    ConnectionDeleted,
    /// Linking failed (the store refused the credentials, lacked a scope, or was not found).
    ConnectionFailed,
    /// A data type's read ended, whatever its outcome.
    ReadCompleted,
    /// Every data type fetched on first link is final after a link or re-link.
    ReadCompletedInitial,
}

impl EventType {
    /// Every event type, in the documentation's order.
    pub const ALL: [Self; 10] = [
        Self::CompanyCreated,
        Self::CompanyDeleted,
        Self::ConnectionCreated,
        Self::ConnectionConnected,
        Self::ConnectionDisconnected,
        Self::ConnectionReconnected,
        Self::ConnectionDeleted,
        Self::ConnectionFailed,
        Self::ReadCompleted,
        Self::ReadCompletedInitial,
    ];

    /// Its name on the wire (`company.created`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CompanyCreated => "company.created",
            Self::CompanyDeleted => "company.deleted",
            Self::ConnectionCreated => "connection.created",
            Self::ConnectionConnected => "connection.connected",
            Self::ConnectionDisconnected => "connection.disconnected",
            Self::ConnectionReconnected => "connection.reconnected",
            Self::ConnectionDeleted => "connection.deleted",
            Self::ConnectionFailed => "connection.failed",
            Self::ReadCompleted => "read.completed",
            Self::ReadCompletedInitial => "read.completed.initial",
        }
    }

    /// The event type named `name` (exactly, as Codat spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown event type '{name}'")))
    }
}

/// Most company tags a consumer may filter on, and their longest text (the Platform spec's).
pub const MAX_COMPANY_TAGS: usize = 10;
/// Longest `companyTags` entry.
pub const MAX_COMPANY_TAG_CHARS: usize = 128;

/// What a consumer receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The event types it receives.
    pub event_types: Vec<EventType>,
    /// `tagKey:tagValue` filters; empty: every company.
    pub company_tags: Vec<String>,
}

impl Subscription {
    /// Whether an event of `event_type` about a company tagged `tags` is delivered.
    pub fn wants(&self, event_type: EventType, tags: &Tags) -> bool {
        self.event_types.contains(&event_type)
            && (self.company_tags.is_empty()
                || tags.as_map().iter().any(|(key, value)| {
                    self.company_tags
                        .iter()
                        .any(|filter| filter.split_once(':') == Some((key.as_str(), value.as_str())))
                }))
    }
}

/// Most consumers a deployment keeps (Codat's limit).
pub const MAX_CONSUMERS: usize = 50;

/// A consumer as a platform asks for it (`POST /webhooks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerDraft {
    /// Where it receives, checked.
    pub url: super::consumer_url::ConsumerUrl,
    /// What it receives.
    pub subscription: Subscription,
    /// Created disabled.
    pub disabled: bool,
}

impl WebhookConsumer {
    /// A new consumer from `draft`, created `now`.
    pub fn create(draft: ConsumerDraft, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            url: draft.url.to_string(),
            subscription: draft.subscription,
            disabled: draft.disabled,
            created: now,
            failing_since: None,
        }
    }
}

/// A webhook consumer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConsumer {
    /// Its id (`webhookId`).
    pub id: Uuid,
    /// Where it receives, as accepted (checked again at each delivery).
    pub url: String,
    /// What it receives.
    pub subscription: Subscription,
    /// Whether deliveries are held (by the platform, or after 5 days of failures).
    pub disabled: bool,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Its first failure since its last success, if it is failing.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).expect("json"), json!(t.as_str()));
        }
        // Legacy rule names and other spellings are not event types.
        for name in ["DataSyncCompleted", "Company.Created", "read.completed ", "company.product.added"] {
            assert_eq!(EventType::parse(name), None, "{name}");
        }
        assert!(serde_json::from_value::<EventType>(json!("DatasetDataChanged")).is_err());
    }

    #[test]
    fn tags_filter_by_any_one_match() {
        let tags = Tags::parse(&json!({"region": "us", "uid": "a:b"})).expect("tags");
        let all = Subscription { event_types: vec![EventType::CompanyCreated], company_tags: vec![] };
        assert!(all.wants(EventType::CompanyCreated, &tags));
        assert!(!all.wants(EventType::CompanyDeleted, &tags));
        let some = |filters: &[&str]| Subscription {
            event_types: vec![EventType::CompanyCreated],
            company_tags: filters.iter().map(|f| f.to_string()).collect(),
        };
        assert!(some(&["region:eu", "region:us"]).wants(EventType::CompanyCreated, &tags));
        assert!(some(&["uid:a:b"]).wants(EventType::CompanyCreated, &tags));
        // Case-sensitive, whole key and whole value.
        assert!(!some(&["region:US"]).wants(EventType::CompanyCreated, &tags));
        assert!(!some(&["regio:us", "region:u", "region"]).wants(EventType::CompanyCreated, &tags));
        assert!(!some(&["region:us"]).wants(EventType::CompanyCreated, &Tags::default()));
    }
}
