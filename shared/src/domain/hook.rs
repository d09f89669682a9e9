//! Freshness from the store's own webhooks: what a connection's hooks are ([`StoreHooks`]),
//! what a callback says ([`Callback`]), the change it leaves to fetch ([`Change`]), and the
//! messages on the fresh queue ([`FreshJob`]): a targeted sync of a connection's pending
//! changes, or a check of its hooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::DataType;
use super::job::JOB_FORMAT;

/// Where a Linked connection's hooks call, and the SHA-256 (hex) of the secret they carry. The
/// secret itself is in the connection's Secrets Manager secret only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreHooks {
    /// The callback URL registered on the store.
    pub destination: String,
    /// Hex SHA-256 of the hook secret.
    pub secret_sha256: String,
}

/// Hex SHA-256 of a hook secret (what [`StoreHooks::secret_sha256`] holds).
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` is the secret whose digest is `digest`, in time independent of where
/// they differ.
pub fn secret_matches(presented: &str, digest: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(expected) = hex::decode(digest) else { return false };
    let actual = Sha256::digest(presented.as_bytes());
    expected.len() == actual.len() && bool::from(actual.as_slice().ct_eq(&expected))
}

/// The kind of record a callback names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    /// An order (and so its payments and transactions).
    Order,
    /// A product.
    Product,
    /// A customer.
    Customer,
}

impl Resource {
    /// The key in change items.
    pub fn key(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Product => "product",
            Self::Customer => "customer",
        }
    }

    /// Parses [`Resource::key`].
    pub fn parse(key: &str) -> Option<Self> {
        [Self::Order, Self::Product, Self::Customer].into_iter().find(|r| r.key() == key)
    }

    /// The data types a change of this resource changes.
    pub fn data_types(self) -> &'static [DataType] {
        match self {
            Self::Order => &[DataType::Orders, DataType::Payments, DataType::Transactions],
            Self::Product => &[DataType::Products],
            Self::Customer => &[DataType::Customers],
        }
    }
}

/// What a callback's body says, as far as we act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The event (`store/order/updated`).
    pub scope: String,
    /// The changed record, when the event is about one we keep.
    pub changed: Option<(Resource, u64)>,
    /// The payload's `hash` (identical on duplicates).
    pub hash: String,
}

/// Why a callback body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallbackError(pub String);

impl Callback {
    /// Reads BigCommerce's envelope `{scope, store_id, data: {type, id, ...}, hash, created_at,
    /// producer}`. Transactions and refunds name their order in `data.order_id`.
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| CallbackError(format!("the body is not JSON: {e}")))?;
        let scope = value["scope"].as_str().ok_or_else(|| CallbackError("no scope".into()))?.to_string();
        let hash = value["hash"].as_str().ok_or_else(|| CallbackError("no hash".into()))?;
        if hash.is_empty() || hash.len() > 128 || !hash.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CallbackError("the hash is not a digest".into()));
        }
        let data = &value["data"];
        let resource = match scope.split('/').nth(1) {
            Some("order") => Some(Resource::Order),
            Some("product") if scope.split('/').count() == 3 => Some(Resource::Product),
            Some("customer") if scope.split('/').count() == 3 => Some(Resource::Customer),
            _ => None,
        };
        let id = match resource {
            Some(Resource::Order) => data["order_id"].as_u64().or_else(|| data["id"].as_u64()),
            Some(_) => data["id"].as_u64(),
            None => None,
        };
        let changed = match (resource, id) {
            (Some(resource), Some(id)) => Some((resource, id)),
            (Some(_), None) => return Err(CallbackError("data.id is not a record id".into())),
            _ => None,
        };
        Ok(Self { scope, changed, hash: hash.to_string() })
    }
}

/// A record to fetch again for a connection, left by a callback. One per record: a second
/// callback about it replaces the first (a new `token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Company.
    pub company: Uuid,
    /// Connection.
    pub connection: Uuid,
    /// What changed.
    pub resource: Resource,
    /// Its source id.
    pub id: u64,
    /// Which callback left it: a change is cleared only if no later callback replaced it.
    pub token: Uuid,
    /// When the callback came.
    pub at: DateTime<Utc>,
}

/// What a [`FreshJob`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FreshKind {
    /// Fetch the connection's pending changes (a targeted sync).
    Changes,
    /// Check the store's hooks, and repair them.
    Hooks,
    /// Remove the store's hooks, then the connection's secret (after an unlink or a delete).
    Unhook,
}

/// A message on the fresh queue (a FIFO queue of its own, message group = connection: never
/// behind a full sync of the connection on the sync queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreshJob {
    /// Message format version.
    pub format: u8,
    /// What to do.
    pub fresh: FreshKind,
    /// Company.
    pub company_id: Uuid,
    /// Connection.
    pub connection_id: Uuid,
    /// When it was asked for.
    pub requested: DateTime<Utc>,
}

/// Callbacks within this window of one connection become one targeted sync (the fresh queue's
/// delivery delay; its messages are de-duplicated per window).
pub const CHANGE_WINDOW_SECS: i64 = 2;

impl FreshJob {
    /// A job of `fresh` for `connection`.
    pub fn new(fresh: FreshKind, company: Uuid, connection: Uuid, now: DateTime<Utc>) -> Self {
        Self { format: JOB_FORMAT, fresh, company_id: company, connection_id: connection, requested: now }
    }

    /// The FIFO group: the connection.
    pub fn group(&self) -> String {
        self.connection_id.to_string()
    }

    /// One message per connection and window: callbacks in the same window share it (the
    /// queue's delay makes it wait until the window has ended, so it finds every change left in
    /// it). A hooks check: one per connection and minute.
    pub fn deduplication_id(&self) -> String {
        let secs = self.requested.timestamp();
        match self.fresh {
            FreshKind::Changes => format!("changes-{}-{}", self.connection_id, secs.div_euclid(CHANGE_WINDOW_SECS)),
            FreshKind::Hooks => format!("hooks-{}-{}", self.connection_id, secs.div_euclid(60)),
            FreshKind::Unhook => format!("unhook-{}-{}", self.connection_id, self.requested.timestamp_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_their_digest_only() {
        let digest = secret_digest("s3cret");
        assert!(secret_matches("s3cret", &digest));
        assert!(!secret_matches("s3cres", &digest));
        assert!(!secret_matches("", &digest));
        assert!(!secret_matches("s3cret", "not hex"));
    }

    #[test]
    fn callbacks_name_the_record_they_change() {
        let body = br#"{"scope":"store/order/statusUpdated","store_id":"1001","data":{"type":"order","id":42,
            "status":{"previous_status_id":1,"new_status_id":2}},"hash":"a1b2","created_at":1,"producer":"stores/x"}"#;
        let callback = Callback::parse(body).expect("parsed");
        assert_eq!(callback.changed, Some((Resource::Order, 42)));
        assert_eq!(callback.hash, "a1b2");
        let refund = br#"{"scope":"store/order/refund/created","data":{"type":"order","id":7,"order_id":42,"refund_id":7},"hash":"ff"}"#;
        assert_eq!(Callback::parse(refund).expect("parsed").changed, Some((Resource::Order, 42)));
        let product = br#"{"scope":"store/product/deleted","data":{"type":"product","id":9},"hash":"ee"}"#;
        assert_eq!(Callback::parse(product).expect("parsed").changed, Some((Resource::Product, 9)));
        let address = br#"{"scope":"store/customer/address/updated","data":{"type":"customer","id":9},"hash":"ee"}"#;
        assert_eq!(Callback::parse(address).expect("parsed").changed, None, "not a record we keep");
        assert!(Callback::parse(b"not json").is_err());
        assert!(Callback::parse(br#"{"scope":"store/order/created","data":{"id":"x"},"hash":"aa"}"#).is_err());
        assert!(Callback::parse(br#"{"scope":"store/order/created","data":{"id":1},"hash":"a/b"}"#).is_err());
    }

    #[test]
    fn callbacks_of_one_window_share_a_message() {
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time");
        let job = |s| FreshJob::new(FreshKind::Changes, company, connection, at(s));
        assert_eq!(job(0).deduplication_id(), job(1).deduplication_id());
        assert_ne!(job(1).deduplication_id(), job(2).deduplication_id());
        let text = serde_json::to_string(&job(0)).expect("json");
        assert!(text.contains("\"fresh\":\"changes\""), "{text}");
        assert_eq!(serde_json::from_str::<FreshJob>(&text).expect("parse"), job(0));
    }
}
