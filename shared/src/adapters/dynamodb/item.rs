//! What every file of the DynamoDB adapter shares: the item type, attribute helpers, the key of
//! each kind of item, SDK error classification, and the outcome of a conditional write.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use uuid::Uuid;

use crate::codat::timestamp;
use crate::domain::DataType;
use crate::domain::integration::PLATFORM_KEY;
use crate::error::StoreError;
use crate::ports::DueSync;

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The key `{pk, sk}`.
pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Only the key attributes of `item` (what a delete needs).
pub(super) fn key_of(item: Item) -> Item {
    item.into_iter().filter(|(k, _)| k == "pk" || k == "sk").collect()
}

/// Serialises a record and adds its keys and kind.
pub(super) fn item<T: Serialize>(record: &T, kind: &str, keys: Item) -> Result<Item, StoreError> {
    let mut item: Item = to_item(record).map_err(|e| StoreError::Backend(format!("serialise {kind}: {e}")))?;
    item.extend(keys);
    item.insert("kind".into(), s(kind));
    Ok(item)
}

/// Deserialises an item into a record.
pub(super) fn record<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("deserialise item: {e}")))
}

/// A string attribute of an item.
pub(super) fn text<'i>(item: &'i Item, name: &str) -> Option<&'i str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// The item's `kind` attribute.
pub(super) fn kind(item: &Item) -> Option<&str> {
    text(item, "kind")
}

/// A map attribute of a serialisable value.
pub(super) fn map<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    to_item(value).map(AttributeValue::M).map_err(|e| StoreError::Backend(e.to_string()))
}

/// Partition of the integration toggle.
pub(super) fn integration_key() -> Item {
    key(format!("INTEGRATION#{PLATFORM_KEY}"), "STATE")
}

/// Partition of a company's items (the company, its connections and settings).
pub(super) fn company_pk(id: Uuid) -> String {
    format!("COMPANY#{id}")
}

/// The company item.
pub(super) fn company_key(id: Uuid) -> Item {
    key(company_pk(id), "COMPANY")
}

/// Sort key of a connection in its company's partition.
pub(super) fn connection_sk(id: Uuid) -> String {
    format!("CONNECTION#{id}")
}

/// A connection item.
pub(super) fn connection_key(company: Uuid, id: Uuid) -> Item {
    key(company_pk(company), &connection_sk(id))
}

/// A company's sync settings item.
pub(super) fn settings_key(company: Uuid) -> Item {
    key(company_pk(company), "SYNCSETTINGS")
}

/// The deployment's default sync settings (`/profile/syncSettings`).
pub(super) fn profile_settings_key() -> Item {
    key("PROFILE".into(), "SYNCSETTINGS")
}

/// A stored API key.
pub(super) fn api_key_key(id: Uuid) -> Item {
    key(super::api_keys::API_KEYS_PK.into(), &format!("KEY#{id}"))
}

/// The count of stored API keys.
pub(super) fn api_keys_count_key() -> Item {
    key(super::api_keys::API_KEYS_PK.into(), "COUNT")
}

/// A Link token item, by the token's hash.
pub(super) fn link_key(token_hash: &str) -> Item {
    key(format!("LINK#{token_hash}"), "LINK")
}

/// The partition of the attempt counters of `attempt_key` (one item per window).
pub(super) fn attempts_pk(attempt_key: &str) -> String {
    format!("ATTEMPTS#{attempt_key}")
}

/// The attempts counter of `attempt_key` in the window starting at `window_start`.
pub(super) fn attempts_key(attempt_key: &str, window_start: i64) -> Item {
    key(attempts_pk(attempt_key), &window_start.to_string())
}

/// The lockouts of `lockout_key` (a client address's Link submissions, say).
pub(super) fn lockout_key(lockout_key: &str) -> Item {
    key(attempts_pk(&format!("lockout#{lockout_key}")), "lockout")
}

/// Partition of a company's datasets and data statuses.
pub(super) fn datasets_pk(company: Uuid) -> String {
    format!("DATASETS#{company}")
}

/// A dataset item.
pub(super) fn dataset_key(company: Uuid, id: Uuid) -> Item {
    key(datasets_pk(company), &format!("DATASET#{id}"))
}

/// The history index (gsi4) partition of a (connection, data type)'s datasets.
pub(super) fn history_pk(connection: Uuid, data_type: DataType) -> String {
    format!("HISTORY#{connection}#{}", data_type.key())
}

/// The status item of a (connection, data type).
pub(super) fn status_key(company: Uuid, connection: Uuid, data_type: DataType) -> Item {
    key(datasets_pk(company), &format!("STATUS#{connection}#{}", data_type.key()))
}

/// The sweep index's (`gsi3`) partition of Queued datasets whose job never reached the queue.
pub(super) const UNSENT_PK: &str = "UNSENT";
/// The sweep index's partition of datasets a run is fetching (sort key: its last sign of life).
pub(super) const LIVE_PK: &str = "LIVE";

/// The sweep index partition of a kind of stale dataset.
pub(super) fn sweep_pk(kind: crate::ports::Staleness) -> &'static str {
    match kind {
        crate::ports::Staleness::Unsent => UNSENT_PK,
        crate::ports::Staleness::Live => LIVE_PK,
    }
}

/// The company and dataset of a dataset item's key (`DATASETS#<company>`, `DATASET#<id>`).
pub(super) fn parse_dataset_key(item: &Item) -> Option<(Uuid, Uuid)> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let company = Uuid::parse_str(text("pk")?.strip_prefix("DATASETS#")?).ok()?;
    let id = Uuid::parse_str(text("sk")?.strip_prefix("DATASET#")?).ok()?;
    Some((company, id))
}

/// Partition key of the due index (`gsi2`): every scheduled sync of the deployment.
pub(super) const DUE_PK: &str = "DUE";

/// Sort key of a scheduled sync in the due index: due time first (fixed width), then ids.
pub(super) fn due_key(due: DateTime<Utc>, company: Uuid, connection: Uuid, data_type: DataType) -> String {
    format!("{}#{company}#{connection}#{}", timestamp(due), data_type.key())
}

/// The due key of what the scheduler saw.
pub(super) fn seen_due_key(seen: &DueSync) -> String {
    due_key(seen.due, seen.company, seen.connection, seen.data_type)
}

/// Reads a due key back.
pub(super) fn parse_due_key(raw: &str) -> Option<DueSync> {
    let mut parts = raw.splitn(4, '#');
    let due = chrono::DateTime::parse_from_rfc3339(parts.next()?).ok()?.with_timezone(&Utc);
    let company = Uuid::parse_str(parts.next()?).ok()?;
    let connection = Uuid::parse_str(parts.next()?).ok()?;
    let data_type = DataType::parse(parts.next()?)?;
    Some(DueSync { company, connection, data_type, due })
}

/// Maps an SDK error to a store error: conditions, throttling/transport, the rest.
pub(crate) fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            tracing::warn!(error = ?err, "a storage call did not complete");
            StoreError::Unavailable("the storage call did not complete (timeout, connection or response)".into())
        }
        _ => match err.code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed(err.message().unwrap_or("").into()),
            Some("TransactionCanceledException")
                if err.message().is_some_and(|m| m.contains("ConditionalCheckFailed")) =>
            {
                StoreError::ConditionFailed(err.message().unwrap_or("").into())
            }
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionConflictException"
                | "TransactionCanceledException",
            ) => StoreError::Unavailable(format!("{}: {}", err.code().unwrap_or(""), err.message().unwrap_or(""))),
            // The code and AWS's message only: this may reach a dataset's error message.
            Some(code) => StoreError::Backend(format!("{code}: {}", err.message().unwrap_or(""))),
            None => {
                tracing::warn!(error = ?err, "a storage call failed without an error code");
                match err.raw_response().map(|r| r.status().as_u16()) {
                    Some(403) => StoreError::Backend("AccessDenied (HTTP 403)".into()),
                    Some(status) if status >= 500 => StoreError::Unavailable(format!("HTTP {status}")),
                    Some(status) => StoreError::Backend(format!("HTTP {status}")),
                    None => StoreError::Backend("the storage call failed without an error code".into()),
                }
            }
        },
    }
}

/// The outcome of a conditional write: `true` when it applied, `false` when its condition did
/// not hold; any other failure stays an error.
pub(super) fn condition_ok<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    condition_applied(result).map(|applied| applied.is_some())
}

/// What a conditional write returned when it applied, `None` when its condition did not hold;
/// any other failure stays an error.
pub(super) fn condition_applied<T>(result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(StoreError::ConditionFailed(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `items` (a company's partition) hold its company item marked `deleting`.
pub(super) fn company_deleting(items: &[Item]) -> bool {
    items.iter().any(|i| kind(i) == Some("company") && i.contains_key("deleting"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_round_trip_and_sort_by_time() {
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let early = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").expect("time").with_timezone(&Utc);
        let late = early + chrono::Duration::hours(1);
        let raw = due_key(early, company, connection, DataType::Orders);
        assert_eq!(parse_due_key(&raw), Some(DueSync { company, connection, data_type: DataType::Orders, due: early }));
        assert!(raw < due_key(late, Uuid::nil(), Uuid::nil(), DataType::CompanyInfo));
        assert_eq!(parse_due_key("not a key"), None);
    }

    #[test]
    fn only_a_failed_condition_reads_as_false() {
        assert_eq!(condition_ok::<()>(Ok(())).ok(), Some(true));
        assert_eq!(condition_ok::<()>(Err(StoreError::ConditionFailed("x".into()))).ok(), Some(false));
        assert!(condition_ok::<()>(Err(StoreError::Unavailable("x".into()))).is_err());
    }
}
