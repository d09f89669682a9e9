//! Codat's Platform wire model (`Codat-Platform.json`): the JSON callers read. Domain types are
//! rendered here, in one place, and request bodies are parsed in [`super::bodies`], so the JSON
//! shape never leaks into the domain.

use serde_json::Value;
use url::Url;

use super::timestamp;
use crate::domain::integration::{INTEGRATION_ID, LOGO_PATH, PLATFORM_KEY, PLATFORM_NAME, SOURCE_ID};
use crate::domain::{
    Company, Connection, DataTypeStatus, Dataset, IntegrationState, LinkKeys, StoredApiKey, SyncSetting,
};
use crate::query::{Field, FieldKind, Schema};
use std::sync::Arc;

/// Codat's `sourceType` of every integration here.
pub const SOURCE_TYPE: &str = "Commerce";

/// Public URLs of this deployment: Link pages and assets.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    base: Url,
    keys: Arc<LinkKeys>,
}

impl PublicUrls {
    /// From the public base URL (scheme and host, optionally a path prefix) and the link keys.
    pub fn new(mut base: Url, keys: Arc<LinkKeys>) -> Self {
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self { base, keys }
    }

    fn join(&self, path: &str) -> String {
        let mut url = self.base.clone();
        let full = format!("{}{}", self.base.path(), path.trim_start_matches('/'));
        url.set_path(&full);
        url.to_string()
    }

    /// The company's Link token under the current key (empty for a company stored before Link
    /// nonces: its Link URL must be rotated).
    fn token(&self, company: &Company) -> String {
        company.nonce().map(|nonce| self.keys.token_for(company.id, &nonce).as_str().to_string()).unwrap_or_default()
    }

    /// A company's Link URL (`redirect`).
    pub fn company_link(&self, company: &Company) -> String {
        self.join(&format!("link/{}", self.token(company)))
    }

    /// A connection's Link URL (`linkUrl`) of `company`.
    pub fn connection_link(&self, company: &Company, connection: uuid::Uuid) -> String {
        self.join(&format!("link/{}/connections/{connection}", self.token(company)))
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The BigCommerce logo.
    pub fn logo(&self) -> String {
        self.join(LOGO_PATH)
    }
}

/// Codat's Connection (of `company`, whose Link URL it extends).
pub fn connection(conn: &Connection, company: &Company, urls: &PublicUrls) -> Value {
    let mut value = serde_json::json!({
        "id": conn.id,
        "integrationId": INTEGRATION_ID,
        "integrationKey": PLATFORM_KEY,
        "sourceId": SOURCE_ID,
        "sourceType": SOURCE_TYPE,
        "platformName": PLATFORM_NAME,
        "linkUrl": urls.connection_link(company, conn.id),
        "status": conn.status.as_str(),
        "lastSync": conn.last_sync.map(timestamp),
        "created": timestamp(conn.created),
        "dataConnectionErrors": [],
    });
    if !conn.info.is_empty() {
        value["connectionInfo"] = serde_json::json!(conn.info);
    }
    value
}

/// Codat's Company, with its connections.
pub fn company(company: &Company, connections: &[Connection], urls: &PublicUrls) -> Value {
    let connections: Vec<Value> = connections.iter().map(|c| connection(c, company, urls)).collect();
    serde_json::json!({
        "id": company.id,
        "name": company.name.as_str(),
        "description": company.description.clone().unwrap_or_default(),
        "redirect": urls.company_link(company),
        "lastSync": company.last_sync.map(timestamp),
        "created": timestamp(company.created),
        "createdByUserName": null,
        "products": [],
        "tags": company.tags.as_map(),
        "referenceSubsidiaryCompanies": [],
        "dataConnections": connections,
    })
}

/// Codat's Integration for BigCommerce. `datatypeFeatures` is left out: the spec requires a
/// `datatype` key that its own `dataType` property contradicts, so no value would validate.
pub fn integration(state: &IntegrationState, urls: &PublicUrls) -> Value {
    serde_json::json!({
        "key": PLATFORM_KEY,
        "logoUrl": urls.logo(),
        "name": PLATFORM_NAME,
        "enabled": state.enabled,
        "sourceId": SOURCE_ID,
        "sourceType": SOURCE_TYPE,
        "integrationId": INTEGRATION_ID,
        "isOfflineConnector": false,
        "isBeta": false,
        "dataProvidedBy": PLATFORM_NAME,
    })
}

/// Codat's Branding for BigCommerce.
pub fn branding(urls: &PublicUrls) -> Value {
    let image = serde_json::json!({"image": {"src": urls.logo(), "alt": "BigCommerce logo"}});
    serde_json::json!({
        "logo": {"full": image, "square": image},
        "button": {"default": image, "hover": image},
        "sourceId": SOURCE_ID,
    })
}

/// Codat's SyncSetting.
pub fn sync_setting(setting: &SyncSetting) -> Value {
    let mut value = serde_json::json!({
        "dataType": setting.data_type.key(),
        "fetchOnFirstLink": setting.fetch_on_first_link,
        "syncSchedule": setting.sync_schedule,
        "syncOrder": setting.sync_order,
        "isLocked": setting.is_locked,
    });
    if let Some(from) = setting.sync_from_utc {
        value["syncFromUtc"] = Value::String(timestamp(from));
    }
    if let Some(window) = setting.sync_from_window {
        value["syncFromWindow"] = window.into();
    }
    if let Some(months) = setting.months_to_sync {
        value["monthsToSync"] = months.into();
    }
    value
}

/// Codat's PullOperation.
pub fn pull_operation(d: &Dataset) -> Value {
    let mut value = serde_json::json!({
        "id": d.id,
        "companyId": d.company_id,
        "connectionId": d.connection_id,
        "dataType": d.data_type.key(),
        "status": d.status.as_str(),
        "statusDescription": null,
        "errorMessage": d.error_message,
        "requested": timestamp(d.requested),
        "progress": d.progress,
        "isCompleted": d.status.is_final() && !d.status.is_errored(),
        "isErrored": d.status.is_errored(),
    });
    if let Some(completed) = d.completed {
        value["completed"] = Value::String(timestamp(completed));
    }
    value
}

/// Codat's DataStatuses: one entry per data type ever queued, the latest across connections.
pub fn data_statuses(statuses: &[DataTypeStatus]) -> Value {
    let mut latest: std::collections::BTreeMap<&str, &DataTypeStatus> = std::collections::BTreeMap::new();
    for status in statuses {
        let key = status.data_type.key();
        if latest.get(key).is_none_or(|l| l.latest_requested < status.latest_requested) {
            latest.insert(key, status);
        }
    }
    let entries: serde_json::Map<String, Value> = latest
        .into_iter()
        .map(|(key, s)| {
            let mut entry = serde_json::json!({
                "dataType": key,
                "currentStatus": s.current_status.as_str(),
                "latestSyncId": s.latest_sync_id,
            });
            if let Some(id) = s.latest_successful_sync_id {
                entry["latestSuccessfulSyncId"] = serde_json::json!(id);
            }
            if let Some(at) = s.last_successful_sync {
                entry["lastSuccessfulSync"] = Value::String(timestamp(at));
            }
            (key.to_string(), entry)
        })
        .collect();
    Value::Object(entries)
}

const fn number(path: &'static str) -> Field {
    Field { path, kind: FieldKind::Number }
}

/// Queryable properties of pull operations.
pub const DATASET_SCHEMA: Schema = Schema {
    entity: "Dataset",
    fields: &[
        text("id"),
        text("companyId"),
        text("connectionId"),
        text("dataType"),
        text("status"),
        text("errorMessage"),
        date("requested"),
        date("completed"),
        number("progress"),
        boolean("isCompleted"),
        boolean("isErrored"),
    ],
};

const fn text(path: &'static str) -> Field {
    Field { path, kind: FieldKind::Text }
}

const fn date(path: &'static str) -> Field {
    Field { path, kind: FieldKind::DateTime }
}

const fn boolean(path: &'static str) -> Field {
    Field { path, kind: FieldKind::Bool }
}

/// Queryable properties of companies.
pub const COMPANY_SCHEMA: Schema = Schema {
    entity: "Company",
    fields: &[
        text("id"),
        text("name"),
        text("description"),
        text("redirect"),
        date("created"),
        date("lastSync"),
        text("tags.*"),
        text("dataConnections.id"),
        text("dataConnections.status"),
        text("dataConnections.platformName"),
        text("dataConnections.integrationKey"),
        text("dataConnections.sourceType"),
        date("dataConnections.created"),
        date("dataConnections.lastSync"),
    ],
};

/// Queryable properties of connections.
pub const CONNECTION_SCHEMA: Schema = Schema {
    entity: "DataConnection",
    fields: &[
        text("id"),
        text("integrationId"),
        text("integrationKey"),
        text("sourceId"),
        text("sourceType"),
        text("platformName"),
        text("status"),
        text("linkUrl"),
        date("created"),
        date("lastSync"),
        text("connectionInfo.*"),
    ],
};

/// Queryable properties of integrations.
pub const INTEGRATION_SCHEMA: Schema = Schema {
    entity: "Integration",
    fields: &[
        text("key"),
        text("name"),
        boolean("enabled"),
        text("sourceType"),
        text("sourceId"),
        text("integrationId"),
        text("logoUrl"),
        text("dataProvidedBy"),
        boolean("isBeta"),
        boolean("isOfflineConnector"),
    ],
};

/// Tags a company list can be filtered by with the `tags` parameter (`region=uk && team=x`):
/// parsed as a query over the tag map.
pub const TAGS_SCHEMA: Schema = Schema { entity: "Tags", fields: &[text("*")] };

/// Name listed for a key of the deploy parameter.
pub const BOOTSTRAP_KEY_NAME: &str = "Bootstrap key (deploy parameter ApiKeySha256)";

/// Codat's `ApiKeyDetails` of a stored key; `key` only in the creation answer (never listed).
pub fn api_key(stored: &StoredApiKey, key: Option<&str>) -> Value {
    let mut value = serde_json::json!({"id": stored.id, "createdDate": timestamp(stored.created)});
    if let Some(name) = &stored.name {
        value["name"] = Value::String(name.clone());
    }
    if let Some(key) = key {
        value["apiKey"] = Value::String(key.to_string());
    }
    value
}

/// Codat's `WebhookConsumer`; `secret` (`whsec_…`, an extension) only in the answer that
/// created it.
pub fn webhook_consumer(consumer: &crate::domain::WebhookConsumer, secret: Option<&secrecy::SecretString>) -> Value {
    let mut value = serde_json::json!({
        "id": consumer.id,
        "url": consumer.url,
        "eventTypes": consumer.subscription.event_types,
        "companyTags": consumer.subscription.company_tags,
        "disabled": consumer.disabled,
    });
    if let Some(secret) = secret {
        value["secret"] = Value::String(secrecy::ExposeSecret::expose_secret(secret).to_string());
    }
    value
}

/// **Extension**: one message of a consumer's delivery log.
pub fn webhook_message(delivery: &crate::domain::event::Delivery) -> Value {
    serde_json::json!({
        "id": delivery.event_id,
        "eventType": delivery.event_type,
        "generatedDate": timestamp(delivery.generated),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "lastAttempt": timestamp(delivery.last_attempt),
    })
}

/// Codat's `ApiKeyDetails` of a bootstrap key: its id and a name saying where it comes from.
pub fn bootstrap_key(id: uuid::Uuid) -> Value {
    serde_json::json!({"id": id, "name": BOOTSTRAP_KEY_NAME})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_keep_a_path_prefix() {
        let keys = Arc::new(LinkKeys::generate());
        let draft = crate::codat::bodies::company_draft(&serde_json::json!({"name": "Acme"})).expect("draft");
        let company = Company::create(draft, chrono::Utc::now());
        let token = keys.token_for(company.id, &company.nonce().expect("nonce"));
        let urls = PublicUrls::new(Url::parse("https://api.example.com/prod").expect("url"), keys.clone());
        assert_eq!(urls.company_link(&company), format!("https://api.example.com/prod/link/{}", token.as_str()));
        assert_eq!(urls.logo(), "https://api.example.com/prod/assets/bigcommerce-logo.svg");
        let root = PublicUrls::new(Url::parse("http://127.0.0.1:3000").expect("url"), keys);
        assert_eq!(root.company_link(&company), format!("http://127.0.0.1:3000/link/{}", token.as_str()));
    }
}
