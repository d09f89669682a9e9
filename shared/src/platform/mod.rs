//! The Platform API (fn companies): integrations, companies, connections and sync settings in
//! Codat's wire format. Routing is a match over path segments; each handler parses its input
//! into domain types, calls the store through its port, and renders Codat JSON.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::Utc;
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::codat::{
    self, COMPANY_SCHEMA, CONNECTION_SCHEMA, DATASET_SCHEMA, INTEGRATION_SCHEMA, PublicUrls, TAGS_SCHEMA,
};
use crate::domain::company::CompanyPatch;
use crate::domain::integration::PLATFORM_KEY;
use crate::domain::validate::FieldReader;
use crate::domain::{Company, CompanyDraft, Connection, ConnectionStatus, DataType, LinkKey, SyncSettings};
use crate::error::{ApiError, StoreError};
use crate::http::response::asset;
use crate::http::{ApiKeys, RequestInfo, empty, json, json_body, respond};
use crate::jobs::JobReason;
use crate::paging::{ListParams, by_id};
use crate::ports::{CompanyRecord, JobQueue, PlatformStore, SecretStore};
use crate::query::Query;
use crate::sync_requests::request_syncs;

const LOGO_SVG: &[u8] = include_bytes!("../../assets/bigcommerce-logo.svg");

/// The routes of the Platform API.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Logo,
    Integrations,
    Integration,
    Branding,
    Companies,
    Company(Uuid),
    Connections(Uuid),
    Connection(Uuid, Uuid),
    SyncSettings(Uuid),
    DataStatus(Uuid),
    RefreshAll(Uuid),
    RefreshOne(Uuid, String),
    History(Uuid),
    HistoryItem(Uuid, Uuid),
}

fn company_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("No company was found with ID {}", shorten(raw))))
}

fn connection_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("Data connection {} not found", shorten(raw))))
}

fn shorten(raw: &str) -> String {
    raw.chars().take(64).collect()
}

fn integration_key(raw: &str) -> Result<(), ApiError> {
    if raw == PLATFORM_KEY {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Integration '{}' not found; commerce-link offers '{PLATFORM_KEY}' (BigCommerce)",
            shorten(raw)
        )))
    }
}

fn route(segments: &[&str]) -> Result<Route, ApiError> {
    Ok(match segments {
        ["assets", "bigcommerce-logo.svg"] => Route::Logo,
        ["integrations"] => Route::Integrations,
        ["integrations", key] => {
            integration_key(key)?;
            Route::Integration
        }
        ["integrations", key, "branding"] => {
            integration_key(key)?;
            Route::Branding
        }
        ["companies"] => Route::Companies,
        ["companies", c] => Route::Company(company_id(c)?),
        ["companies", c, "connections"] => Route::Connections(company_id(c)?),
        ["companies", c, "connections", id] => Route::Connection(company_id(c)?, connection_id(id)?),
        ["companies", c, "syncSettings"] => Route::SyncSettings(company_id(c)?),
        ["companies", c, "dataStatus"] => Route::DataStatus(company_id(c)?),
        ["companies", c, "data", "all"] => Route::RefreshAll(company_id(c)?),
        ["companies", c, "data", "queue", data_type] => Route::RefreshOne(company_id(c)?, (*data_type).to_string()),
        ["companies", c, "data", "history"] => Route::History(company_id(c)?),
        ["companies", c, "data", "history", id] => Route::HistoryItem(
            company_id(c)?,
            Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("Dataset {} not found", shorten(id))))?,
        ),
        _ => return Err(ApiError::not_found("No such resource")),
    })
}

/// How the HTTP functions present themselves: accepted API keys, public base URL, link key.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Accepted API keys.
    pub keys: ApiKeys,
    /// Public base URL of Link URLs (`None`: the API Gateway domain of the request).
    pub public_base_url: Option<Url>,
    /// Derives Link tokens and form tokens.
    pub link_key: LinkKey,
}

impl Edge {
    /// Public URLs for a request.
    pub fn urls(&self, info: &RequestInfo) -> Result<PublicUrls, ApiError> {
        let base = match (&self.public_base_url, &info.domain) {
            (Some(base), _) => base.clone(),
            (None, Some(domain)) => Url::parse(&format!("https://{domain}")).map_err(|_| ApiError::internal())?,
            (None, None) => {
                tracing::error!("PUBLIC_BASE_URL is unset and the request has no API Gateway domain");
                return Err(ApiError::internal());
            }
        };
        Ok(PublicUrls::new(base, self.link_key.clone()))
    }
}

/// The Platform API over a store.
pub struct PlatformApi<S> {
    store: S,
    secrets: Arc<dyn SecretStore>,
    queue: Arc<dyn JobQueue>,
    edge: Edge,
}

impl<S: PlatformStore> PlatformApi<S> {
    /// The API over `store`; `secrets` is used only to delete the secrets of deleted
    /// connections, `queue` to request syncs.
    pub fn new(store: S, secrets: Arc<dyn SecretStore>, queue: Arc<dyn JobQueue>, edge: Edge) -> Self {
        Self { store, secrets, queue, edge }
    }

    /// Answers one request. Never fails: every error becomes Codat's error JSON.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let info = RequestInfo::new(&req);
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %info.path,
            correlation_id = %info.correlation_id,
        );
        respond(&info, span, self.dispatch(&req, &info)).await
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Result<Response<Body>, ApiError> {
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let route = route(&segments);
        if route == Ok(Route::Logo) && req.method() == Method::GET {
            return Ok(asset("image/svg+xml", LOGO_SVG, &info.correlation_id));
        }
        if !self.edge.keys.authorize(req.headers()) {
            return Err(ApiError::unauthorized());
        }
        let route = route?;
        let urls = self.edge.urls(info)?;
        let cid = info.correlation_id.as_str();
        let ok = |value: Value| json(StatusCode::OK, &value, cid);
        let m = req.method().clone();
        Ok(match (route, m) {
            (Route::Integrations, Method::GET) => {
                let params = ListParams::parse(&RequestInfo::query(req)?, &INTEGRATION_SCHEMA)?;
                let state = self.store.integration_state().await?;
                ok(params.page(vec![codat::integration(&state, &urls)], &info.path, by_key))
            }
            (Route::Integration, Method::GET) => ok(codat::integration(&self.store.integration_state().await?, &urls)),
            (Route::Integration, Method::PATCH) => ok(self.set_integration(req, &urls).await?),
            (Route::Branding, Method::GET) => ok(codat::branding(&urls)),
            (Route::Companies, Method::GET) => ok(self.list_companies(req, info, &urls).await?),
            (Route::Companies, Method::POST) => ok(self.create_company(req, &urls).await?),
            (Route::Company(id), Method::GET) => ok(self.company_json(&self.company(id).await?, &urls)),
            (Route::Company(id), Method::PUT) => {
                let draft = CompanyDraft::from_json(&json_body(req)?)?;
                ok(self.edit_company(id, &urls, |c| c.replace(draft)).await?)
            }
            (Route::Company(id), Method::PATCH) => {
                let patch = CompanyPatch::from_json(&json_body(req)?)?;
                ok(self.edit_company(id, &urls, |c| c.update(patch)).await?)
            }
            (Route::Company(id), Method::DELETE) => {
                self.delete_company(id).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::Connections(id), Method::GET) => ok(self.list_connections(req, info, id, &urls).await?),
            (Route::Connections(id), Method::POST) => ok(self.create_connection(req, id, &urls).await?),
            (Route::Connection(c, id), Method::GET) => {
                let record = self.company(c).await?;
                let connection = find_connection(&record, id)?;
                ok(codat::connection(connection, &urls))
            }
            (Route::Connection(c, id), Method::PATCH) => ok(self.unlink(req, c, id, &urls).await?),
            (Route::Connection(c, id), Method::DELETE) => {
                let record = self.company(c).await?;
                let connection = find_connection(&record, id)?;
                if let Some(secret) = &connection.secret_name {
                    self.secrets.delete_secret(secret).await?;
                }
                if !self.store.delete_connection(c, id).await? {
                    return Err(connection_not_found(id));
                }
                tracing::info!(company_id = %c, connection_id = %id, "connection deleted");
                empty(StatusCode::OK, cid)
            }
            (Route::SyncSettings(id), Method::GET) => {
                self.company(id).await?;
                let settings = self.store.sync_settings(id).await?.unwrap_or_default();
                ok(serde_json::json!({
                    "companyId": id,
                    "settings": settings.effective().iter().map(codat::sync_setting).collect::<Vec<_>>(),
                    "overridesDefaults": settings.overrides_defaults,
                }))
            }
            (Route::SyncSettings(id), Method::POST) => {
                let body = json_body(req)?;
                self.company(id).await?;
                let settings = SyncSettings::from_json(&body, id)?;
                self.store.put_sync_settings(id, &settings).await.map_err(|e| not_found_if_condition(e, id))?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::DataStatus(id), Method::GET) => {
                self.company(id).await?;
                ok(codat::data_statuses(&self.store.data_statuses(id).await?))
            }
            (Route::History(id), Method::GET) => {
                let params = ListParams::parse(&RequestInfo::query(req)?, &DATASET_SCHEMA)?;
                self.company(id).await?;
                let records: Vec<Value> = self.store.datasets(id).await?.iter().map(codat::pull_operation).collect();
                ok(params.page(records, &info.path, by_requested))
            }
            (Route::HistoryItem(c, id), Method::GET) => {
                self.company(c).await?;
                let dataset = self
                    .store
                    .dataset(c, id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("Dataset {id} not found")))?;
                ok(codat::pull_operation(&dataset))
            }
            (Route::RefreshAll(id), Method::POST) => {
                self.refresh_all(id).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::RefreshOne(id, data_type), Method::POST) => ok(self.refresh_one(req, id, &data_type).await?),
            (_, method) => return Err(ApiError::method_not_allowed(&method)),
        })
    }

    /// Deletes a company: mark it (reads stop, no new children), delete its connections'
    /// secrets, then everything stored under it. A failure part-way can be retried.
    async fn delete_company(&self, id: Uuid) -> Result<(), ApiError> {
        let record = self.store.mark_company_deleting(id).await?.ok_or_else(|| company_not_found(id))?;
        for secret in record.connections.iter().filter_map(|c| c.secret_name.as_deref()) {
            self.secrets.delete_secret(secret).await?;
        }
        self.store.purge_company(id).await?;
        tracing::info!(company_id = %id, connections = record.connections.len(), "company deleted");
        Ok(())
    }

    /// `POST /companies/{id}/data/all`: every data type with `fetchOnFirstLink`, for every
    /// Linked connection.
    async fn refresh_all(&self, id: Uuid) -> Result<(), ApiError> {
        let record = self.company(id).await?;
        let linked: Vec<&Connection> =
            record.connections.iter().filter(|c| c.status == ConnectionStatus::Linked).collect();
        if linked.is_empty() {
            return Err(ApiError::bad_request("The company has no Linked connection to refresh"));
        }
        let settings = self.store.sync_settings(id).await?.unwrap_or_default();
        let types: Vec<DataType> =
            settings.effective().iter().filter(|s| s.fetch_on_first_link).map(|s| s.data_type).collect();
        for connection in linked {
            request_syncs(&self.store, self.queue.as_ref(), id, connection.id, &types, JobReason::Refresh, Utc::now())
                .await?;
        }
        Ok(())
    }

    /// `POST /companies/{id}/data/queue/{dataType}?connectionId=`: one data type; the
    /// connection may be omitted when the company has exactly one Linked connection.
    async fn refresh_one(&self, req: &Request, id: Uuid, data_type: &str) -> Result<Value, ApiError> {
        let params = RequestInfo::query(req)?;
        let record = self.company(id).await?;
        let data_type = DataType::parse(data_type).ok_or_else(|| {
            let keys: Vec<_> = DataType::ALL.iter().map(|d| d.key()).collect();
            ApiError::bad_request(format!(
                "'{}' is not a commerce data type; use one of {}",
                shorten(data_type),
                keys.join(", ")
            ))
        })?;
        let connection = match params.get("connectionId") {
            Some(raw) => {
                let wanted =
                    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("'connectionId' must be a UUID"))?;
                find_connection(&record, wanted)?
            }
            None => {
                let mut linked = record.connections.iter().filter(|c| c.status == ConnectionStatus::Linked);
                match (linked.next(), linked.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(ApiError::bad_request("The company has no Linked connection to refresh")),
                    (Some(_), Some(_)) => {
                        return Err(ApiError::bad_request(
                            "The company has several Linked connections; pass connectionId",
                        ));
                    }
                }
            }
        };
        if connection.status != ConnectionStatus::Linked {
            return Err(ApiError::bad_request(format!(
                "Only a Linked connection can be refreshed; this connection is {}",
                connection.status.as_str()
            )));
        }
        let datasets = request_syncs(
            &self.store,
            self.queue.as_ref(),
            id,
            connection.id,
            &[data_type],
            JobReason::Refresh,
            Utc::now(),
        )
        .await?;
        let dataset = datasets.first().ok_or_else(ApiError::internal)?;
        Ok(codat::pull_operation(dataset))
    }

    async fn company(&self, id: Uuid) -> Result<CompanyRecord, ApiError> {
        self.store.get_company(id).await?.ok_or_else(|| company_not_found(id))
    }

    fn company_json(&self, record: &CompanyRecord, urls: &PublicUrls) -> Value {
        codat::company(&record.company, &record.connections, urls)
    }

    async fn set_integration(&self, req: &Request, urls: &PublicUrls) -> Result<Value, ApiError> {
        let body = json_body(req)?;
        let mut reader = FieldReader::new(&body, &["enabled"])?;
        let enabled = reader.bool("enabled");
        if reader.raw("enabled").is_none() {
            reader.error("enabled", "'enabled' is required");
        }
        reader.finish()?;
        let enabled = enabled.ok_or_else(|| ApiError::bad_request("'enabled' is required"))?;
        let state = self.store.set_integration_enabled(enabled, Utc::now()).await?;
        tracing::info!(enabled, "integration toggled");
        Ok(codat::integration(&state, urls))
    }

    async fn list_companies(&self, req: &Request, info: &RequestInfo, urls: &PublicUrls) -> Result<Value, ApiError> {
        let query = RequestInfo::query(req)?;
        let params = ListParams::parse(&query, &COMPANY_SCHEMA)?;
        let tags =
            query.get("tags").filter(|t| !t.trim().is_empty()).map(|t| Query::parse(t, &TAGS_SCHEMA)).transpose()?;
        let records: Vec<Value> = self
            .store
            .list_companies()
            .await?
            .iter()
            .filter(|r| tags.as_ref().is_none_or(|t| t.matches(&serde_json::json!(r.company.tags.as_map()))))
            .map(|r| self.company_json(r, urls))
            .collect();
        Ok(params.page(records, &info.path, by_created))
    }

    async fn create_company(&self, req: &Request, urls: &PublicUrls) -> Result<Value, ApiError> {
        let draft = CompanyDraft::from_json(&json_body(req)?)?;
        let company = Company::create(draft, Utc::now(), &self.edge.link_key);
        self.store.create_company(&company).await?;
        tracing::info!(company_id = %company.id, "company created");
        Ok(codat::company(&company, &[], urls))
    }

    /// Applies `edit` to a stored company and writes its details back.
    async fn edit_company(
        &self,
        id: Uuid,
        urls: &PublicUrls,
        edit: impl FnOnce(&mut Company),
    ) -> Result<Value, ApiError> {
        let mut record = self.company(id).await?;
        edit(&mut record.company);
        self.store.update_company_details(&record.company).await.map_err(|e| not_found_if_condition(e, id))?;
        Ok(self.company_json(&record, urls))
    }

    async fn list_connections(
        &self,
        req: &Request,
        info: &RequestInfo,
        id: Uuid,
        urls: &PublicUrls,
    ) -> Result<Value, ApiError> {
        let params = ListParams::parse(&RequestInfo::query(req)?, &CONNECTION_SCHEMA)?;
        let record = self.company(id).await?;
        let records = record.connections.iter().map(|c| codat::connection(c, urls)).collect();
        Ok(params.page(records, &info.path, by_created))
    }

    async fn create_connection(&self, req: &Request, id: Uuid, urls: &PublicUrls) -> Result<Value, ApiError> {
        let body = json_body(req)?;
        let mut reader = FieldReader::new(&body, &["platformKey"])?;
        if let Some(key) = reader.required_string("platformKey")
            && key != PLATFORM_KEY
        {
            reader.error(
                "platformKey",
                format!(
                    "Integration '{}' is not supported; the supported platformKey is '{PLATFORM_KEY}' (BigCommerce)",
                    shorten(key)
                ),
            );
        }
        reader.finish()?;
        self.company(id).await?;
        if !self.store.integration_state().await?.enabled {
            return Err(ApiError::bad_request(format!(
                "The BigCommerce integration ('{PLATFORM_KEY}') is disabled, so new connections are refused; enable it with PATCH /integrations/{PLATFORM_KEY}"
            )));
        }
        let connection = Connection::create(id, Utc::now());
        self.store.create_connection(&connection).await.map_err(|e| not_found_if_condition(e, id))?;
        tracing::info!(company_id = %id, connection_id = %connection.id, "connection created");
        Ok(codat::connection(&connection, urls))
    }

    async fn unlink(&self, req: &Request, company: Uuid, id: Uuid, urls: &PublicUrls) -> Result<Value, ApiError> {
        let body = json_body(req)?;
        let mut reader = FieldReader::new(&body, &["status"])?;
        let status = reader.required_string("status").map(|raw| (raw, ConnectionStatus::parse(raw)));
        match status {
            Some((_, Some(ConnectionStatus::Unlinked))) | None => {}
            Some((raw, _)) => reader.error(
                "status",
                format!(
                    "'status' may only be set to 'Unlinked', got '{}'; connections are linked through Link",
                    shorten(raw)
                ),
            ),
        }
        reader.finish()?;
        let record = self.company(company).await?;
        let current = find_connection(&record, id)?;
        if current.status != ConnectionStatus::Linked {
            return Err(ApiError::bad_request(format!(
                "Only a Linked connection can be unlinked; this connection is {}",
                current.status.as_str()
            )));
        }
        let updated = match self
            .store
            .set_connection_status(company, id, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
            .await
        {
            Ok(updated) => updated,
            Err(StoreError::ConditionFailed(_)) => {
                let now = self.store.get_connection(company, id).await?.ok_or_else(|| connection_not_found(id))?;
                return Err(ApiError::bad_request(format!(
                    "Only a Linked connection can be unlinked; this connection is {}",
                    now.status.as_str()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(company_id = %company, connection_id = %id, "connection unlinked");
        Ok(codat::connection(&updated, urls))
    }
}

fn find_connection(record: &CompanyRecord, id: Uuid) -> Result<&Connection, ApiError> {
    record.connections.iter().find(|c| c.id == id).ok_or_else(|| connection_not_found(id))
}

fn company_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("No company was found with ID {id}"))
}

fn connection_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("Data connection {id} not found"))
}

fn not_found_if_condition(e: StoreError, company: Uuid) -> ApiError {
    match e {
        StoreError::ConditionFailed(_) => company_not_found(company),
        other => other.into(),
    }
}

/// Pull operations: newest first, then by id.
fn by_requested(a: &Value, b: &Value) -> Ordering {
    b["requested"].as_str().cmp(&a["requested"].as_str()).then_with(|| by_id(a, b))
}

/// Default list order: oldest first, then by id.
fn by_created(a: &Value, b: &Value) -> Ordering {
    a["created"].as_str().cmp(&b["created"].as_str()).then_with(|| by_id(a, b))
}

fn by_key(a: &Value, b: &Value) -> Ordering {
    a["key"].as_str().cmp(&b["key"].as_str())
}

#[cfg(test)]
mod tests;
