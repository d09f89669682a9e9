//! fn companies' HTTP edge: the Platform API's routes (integrations, companies, connections,
//! sync settings, data status, history, sync requests) in Codat's wire format. Each handler
//! parses its input (`codat::bodies`, `codat::paging`), calls the use case
//! ([`crate::companies::Companies`]) and renders Codat JSON; every error becomes Codat's error
//! JSON through [`ApiError`].

use std::cmp::Ordering;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::edge::Edge;
use super::error::ApiError;
use super::paths::{company_id, company_not_found, connection_id, connection_not_found, shorten};
use super::request::{RequestInfo, json_body};
use super::response::{asset, empty, json};
use crate::codat::paging::{ListParams, by_id};
use crate::codat::reader::FieldReader;
use crate::codat::timestamp;
use crate::codat::{
    self, COMPANY_SCHEMA, CONNECTION_SCHEMA, DATASET_SCHEMA, INTEGRATION_SCHEMA, PublicUrls, TAGS_SCHEMA,
};
use crate::companies::{Companies, CompaniesError, ErasureStatus};
use crate::domain::integration::PLATFORM_KEY;
use crate::domain::webhook::MAX_CONSUMERS;
use crate::domain::{ConnectionStatus, DataType};
use crate::ports::{CompanyRecord, PlatformStore};
use crate::query::Query;

const LOGO_SVG: &[u8] = include_bytes!("../../../assets/bigcommerce-logo.svg");

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
    Erasure(Uuid, Option<Uuid>),
    RotateLink(Uuid),
    ProfileSyncSettings,
    ApiKeys,
    ApiKey(Uuid),
    Webhooks,
    Webhook(Uuid),
    WebhookMessages(Uuid),
    WebhookReplay(Uuid),
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
        ["profile", "syncSettings"] => Route::ProfileSyncSettings,
        ["apiKeys"] => Route::ApiKeys,
        ["apiKeys", id] => Route::ApiKey(
            Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("API key {} not found", shorten(id))))?,
        ),
        ["webhooks"] => Route::Webhooks,
        ["webhooks", id] => Route::Webhook(consumer_id(id)?),
        ["webhooks", id, "messages"] => Route::WebhookMessages(consumer_id(id)?),
        ["webhooks", id, "replay"] => Route::WebhookReplay(consumer_id(id)?),
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
        ["companies", c, "erasure"] => Route::Erasure(company_id(c)?, None),
        ["companies", c, "redirect", "rotate"] => Route::RotateLink(company_id(c)?),
        ["companies", c, "connections", id, "erasure"] => Route::Erasure(company_id(c)?, Some(connection_id(id)?)),
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

fn consumer_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Webhook consumer {id} not found"))
}

fn consumer_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| consumer_not_found(&shorten(id)))
}

/// The erasure extension's answer: where the erasure of `id` (a company or a connection) stands.
fn erasure_json(id: Uuid, status: &ErasureStatus) -> Value {
    match status {
        ErasureStatus::InProgress { connections, progress } => json!({
            "id": id,
            "status": "InProgress",
            "phase": progress.phase.as_str(),
            "requested": timestamp(progress.requested),
            "connectionsRemaining": connections,
            "dataTypesErased": progress.data_types_done,
            "itemsDeleted": progress.items_deleted,
        }),
        ErasureStatus::Complete(receipt) => json!({
            "id": id,
            "status": "Complete",
            "requested": timestamp(receipt.requested),
            "completed": timestamp(receipt.completed),
            "itemsDeleted": receipt.items_deleted,
        }),
    }
}

impl From<CompaniesError> for ApiError {
    fn from(e: CompaniesError) -> Self {
        match e {
            CompaniesError::CompanyNotFound(id) => company_not_found(id),
            CompaniesError::ConnectionNotFound(id) => connection_not_found(id),
            CompaniesError::DatasetNotFound(id) => ApiError::not_found(format!("Dataset {id} not found")),
            CompaniesError::NoLinkedConnection => {
                ApiError::bad_request("The company has no Linked connection to refresh")
            }
            CompaniesError::SeveralLinkedConnections => {
                ApiError::bad_request("The company has several Linked connections; pass connectionId")
            }
            CompaniesError::RefreshNotLinked(status) => ApiError::bad_request(format!(
                "Only a Linked connection can be refreshed; this connection is {}",
                status.as_str()
            )),
            CompaniesError::UnlinkNotLinked(status) => ApiError::bad_request(format!(
                "Only a Linked connection can be unlinked; this connection is {}",
                status.as_str()
            )),
            CompaniesError::IntegrationDisabled => ApiError::bad_request(format!(
                "The BigCommerce integration ('{PLATFORM_KEY}') is disabled, so new connections are refused; enable it with PATCH /integrations/{PLATFORM_KEY}"
            )),
            CompaniesError::TooManyKeys => ApiError::conflict(
                "Maximum number of API keys reached. To create a new API key, delete an unused key and try again.",
            ),
            CompaniesError::ApiKeyNotFound(id) => ApiError::not_found(format!("API key {id} not found")),
            CompaniesError::BootstrapKey(id) => ApiError::bad_request(format!(
                "API key {id} comes from the deploy parameter ApiKeySha256 and cannot be deleted here; remove its digest from the parameter and redeploy"
            )),
            CompaniesError::TooManyConsumers => ApiError::bad_request(format!(
                "Maximum number of webhook consumers ({MAX_CONSUMERS}) reached. Delete an unused consumer and try again."
            )),
            CompaniesError::ConsumerNotFound(id) => consumer_not_found(&id.to_string()),
            CompaniesError::MessageNotFound(id) => {
                ApiError::not_found(format!("Message {id} is not in this consumer's log (the last 14 days)"))
            }
            CompaniesError::Store(e) => e.into(),
        }
    }
}

/// The Platform API (fn companies).
pub struct CompaniesApi<S> {
    companies: Companies<S>,
    edge: Edge,
}

impl<S: PlatformStore> CompaniesApi<S> {
    /// The API over the use cases `companies`, presented as `edge` says.
    pub fn new(companies: Companies<S>, edge: Edge) -> Self {
        Self { companies, edge }
    }

    /// Answers one request. Never fails: every error becomes Codat's error JSON.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        super::handle(req, |info| info.path.clone(), async |req, info| self.dispatch(req, info).await).await
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Result<Response<Body>, ApiError> {
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let route = route(&segments);
        if route == Ok(Route::Logo) && req.method() == Method::GET {
            return Ok(asset("image/svg+xml", LOGO_SVG, &info.correlation_id));
        }
        let principal = self.edge.keys.authorize(req.headers()).await?.ok_or_else(ApiError::unauthorized)?;
        let route = route?;
        let keys = self.edge.ready().await?;
        let urls = self.edge.urls(info)?;
        let cid = info.correlation_id.as_str();
        let ok = |value: Value| json(StatusCode::OK, &value, cid);
        let service = &self.companies;
        let m = req.method().clone();
        Ok(match (route, m) {
            (Route::Integrations, Method::GET) => {
                let params = ListParams::parse(&RequestInfo::query(req)?, &INTEGRATION_SCHEMA)?;
                let state = service.integration_state().await?;
                ok(params.page(vec![codat::integration(&state, &urls)], &info.path, by_key))
            }
            (Route::Integration, Method::GET) => ok(codat::integration(&service.integration_state().await?, &urls)),
            (Route::Integration, Method::PATCH) => ok(self.set_integration(req, &urls).await?),
            (Route::Branding, Method::GET) => ok(codat::branding(&urls)),
            (Route::Companies, Method::GET) => ok(self.list_companies(req, info, &urls).await?),
            (Route::Companies, Method::POST) => {
                let draft = codat::bodies::company_draft(&json_body(req)?)?;
                ok(codat::company(&service.create_company(draft).await?, &[], &urls))
            }
            (Route::Company(id), Method::GET) => ok(company_json(&service.company(id).await?, &urls)),
            (Route::Company(id), Method::PUT) => {
                let draft = codat::bodies::company_draft(&json_body(req)?)?;
                ok(company_json(&service.edit_company(id, |c| c.replace(draft)).await?, &urls))
            }
            (Route::Company(id), Method::PATCH) => {
                let patch = codat::bodies::company_patch(&json_body(req)?)?;
                ok(company_json(&service.edit_company(id, |c| c.update(patch)).await?, &urls))
            }
            (Route::Company(id), Method::DELETE) => {
                service.delete_company(id).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::Connections(id), Method::GET) => {
                let params = ListParams::parse(&RequestInfo::query(req)?, &CONNECTION_SCHEMA)?;
                let record = service.company(id).await?;
                let records = record.connections.iter().map(|c| codat::connection(c, &record.company, &urls)).collect();
                ok(params.page(records, &info.path, by_created))
            }
            (Route::Connections(id), Method::POST) => {
                read_platform_key(&json_body(req)?)?;
                let created = service.create_connection(id).await?;
                ok(codat::connection(&created, &service.company(id).await?.company, &urls))
            }
            (Route::Connection(c, id), Method::GET) => {
                let (company, connection) = service.company_connection(c, id).await?;
                ok(codat::connection(&connection, &company, &urls))
            }
            (Route::Connection(c, id), Method::PATCH) => {
                read_unlink(&json_body(req)?)?;
                let unlinked = service.unlink(c, id).await?;
                ok(codat::connection(&unlinked, &service.company(c).await?.company, &urls))
            }
            (Route::Connection(c, id), Method::DELETE) => {
                service.delete_connection(c, id).await?;
                empty(StatusCode::OK, cid)
            }
            (Route::RotateLink(id), Method::POST) => ok(company_json(&service.rotate_link(id).await?, &urls)),
            (Route::Erasure(c, connection), Method::GET) => {
                ok(erasure_json(connection.unwrap_or(c), &service.erasure(c, connection).await?))
            }
            (Route::SyncSettings(id), Method::GET) => {
                let settings = service.sync_settings(id).await?;
                ok(json!({
                    "companyId": id,
                    "settings": settings.effective().iter().map(codat::sync_setting).collect::<Vec<_>>(),
                    "overridesDefaults": settings.overrides_defaults,
                }))
            }
            (Route::SyncSettings(id), Method::POST) => {
                let body = json_body(req)?;
                service.company(id).await?;
                let settings = codat::bodies::sync_settings(&body, id)?;
                service.set_sync_settings(id, &settings).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::DataStatus(id), Method::GET) => ok(codat::data_statuses(&service.data_statuses(id).await?)),
            (Route::History(id), Method::GET) => {
                let params = ListParams::parse(&RequestInfo::query(req)?, &DATASET_SCHEMA)?;
                if params.query.is_none() && params.order_by.is_none() {
                    // Newest first, a page read from the store (dataset ids are time-ordered).
                    let size = params.page_size as usize;
                    let offset = (params.page as usize - 1) * size;
                    let (page, total) = service.history_page(id, offset, size).await?;
                    let records = page.iter().map(codat::pull_operation).collect();
                    return Ok(ok(params.envelope(records, total as usize, &info.path)));
                }
                let records: Vec<Value> = service.datasets(id).await?.iter().map(codat::pull_operation).collect();
                ok(params.page(records, &info.path, by_requested))
            }
            (Route::HistoryItem(c, id), Method::GET) => ok(codat::pull_operation(&service.dataset(c, id).await?)),
            (Route::RefreshAll(id), Method::POST) => {
                service.refresh_all(id).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::RefreshOne(id, data_type), Method::POST) => ok(self.refresh_one(req, id, &data_type).await?),
            (Route::ProfileSyncSettings, Method::GET) => {
                let settings = service.profile_sync_settings().await?;
                ok(json!({
                    "clientId": keys.client_id(),
                    "settings": settings.effective().iter().map(codat::sync_setting).collect::<Vec<_>>(),
                    "overridesDefaults": settings.overrides_defaults,
                }))
            }
            (Route::ProfileSyncSettings, Method::POST) => {
                let settings = codat::bodies::profile_sync_settings(&json_body(req)?, keys.client_id())?;
                service.set_profile_sync_settings(&settings).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::ApiKeys, Method::GET) => {
                let mut results: Vec<Value> =
                    self.edge.keys.bootstrap_ids().into_iter().map(codat::bootstrap_key).collect();
                results.extend(service.api_keys().await?.iter().map(|k| codat::api_key(k, None)));
                ok(json!({ "results": results }))
            }
            (Route::ApiKeys, Method::POST) => {
                let no_body = match req.body() {
                    Body::Text(text) => text.is_empty(),
                    Body::Binary(bytes) => bytes.is_empty(),
                    _ => true,
                };
                let body = match (no_body, req.headers().contains_key(http::header::CONTENT_TYPE)) {
                    (true, false) => None,
                    _ => Some(json_body(req)?),
                };
                let name = codat::bodies::api_key_name(body.as_ref())?;
                let created = service.create_api_key(name, self.edge.keys.bootstrap_ids().len()).await?;
                self.edge.keys.forget_cache();
                json(StatusCode::CREATED, &codat::api_key(&created.stored, Some(&created.key)), cid)
            }
            (Route::ApiKey(id), Method::DELETE) => {
                service.delete_api_key(id, &self.edge.keys.bootstrap_ids()).await?;
                self.edge.keys.forget_cache();
                tracing::info!(by = %principal.key_id, "API key deleted through the API");
                empty(StatusCode::NO_CONTENT, cid)
            }
            (Route::Webhooks, Method::GET) => {
                let consumers = service.webhook_consumers().await?;
                ok(json!({ "results": consumers.iter().map(|c| codat::webhook_consumer(c, None)).collect::<Vec<_>>() }))
            }
            (Route::Webhooks, Method::POST) => {
                let draft = codat::bodies::consumer_draft(&json_body(req)?, service.webhook_transport())?;
                let (created, secret) = service.create_webhook_consumer(draft).await?;
                json(StatusCode::CREATED, &codat::webhook_consumer(&created, Some(&secret)), cid)
            }
            (Route::Webhook(id), Method::GET) => {
                let consumers = service.webhook_consumers().await?;
                let consumer =
                    consumers.iter().find(|c| c.id == id).ok_or_else(|| consumer_not_found(&id.to_string()))?;
                ok(codat::webhook_consumer(consumer, None))
            }
            (Route::WebhookMessages(id), Method::GET) => {
                let (_, messages) = service.webhook_messages(id, 100).await?;
                ok(json!({ "results": messages.iter().map(codat::webhook_message).collect::<Vec<_>>() }))
            }
            (Route::WebhookReplay(id), Method::POST) => {
                let what = codat::bodies::webhook_replay(&json_body(req)?)?;
                let queued = service.replay_webhook_messages(id, what).await?;
                json(StatusCode::ACCEPTED, &json!({ "queued": queued }), cid)
            }
            (Route::Webhook(id), Method::PATCH) => {
                let disabled = codat::bodies::consumer_patch(&json_body(req)?)?;
                ok(codat::webhook_consumer(&service.set_webhook_consumer_disabled(id, disabled).await?, None))
            }
            (Route::Webhook(id), Method::DELETE) => {
                service.delete_webhook_consumer(id).await?;
                empty(StatusCode::NO_CONTENT, cid)
            }
            (_, method) => return Err(ApiError::method_not_allowed(&method)),
        })
    }

    /// `POST /companies/{id}/data/queue/{dataType}?connectionId=`: one data type; the
    /// connection may be omitted when the company has exactly one Linked connection.
    async fn refresh_one(&self, req: &Request, id: Uuid, data_type: &str) -> Result<Value, ApiError> {
        let params = RequestInfo::query(req)?;
        let record = self.companies.company(id).await?;
        let data_type = DataType::parse(data_type).ok_or_else(|| {
            let keys: Vec<_> = DataType::ALL.iter().map(|d| d.key()).collect();
            ApiError::bad_request(format!(
                "'{}' is not a commerce data type; use one of {}",
                shorten(data_type),
                keys.join(", ")
            ))
        })?;
        let connection = params
            .get("connectionId")
            .map(|raw| Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("'connectionId' must be a UUID")))
            .transpose()?;
        let dataset = self.companies.refresh_one(&record, data_type, connection).await?;
        Ok(codat::pull_operation(&dataset))
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
        Ok(codat::integration(&self.companies.set_integration(enabled).await?, urls))
    }

    async fn list_companies(&self, req: &Request, info: &RequestInfo, urls: &PublicUrls) -> Result<Value, ApiError> {
        let query = RequestInfo::query(req)?;
        let params = ListParams::parse(&query, &COMPANY_SCHEMA)?;
        let tags =
            query.get("tags").filter(|t| !t.trim().is_empty()).map(|t| Query::parse(t, &TAGS_SCHEMA)).transpose()?;
        let records: Vec<Value> = self
            .companies
            .companies()
            .await?
            .iter()
            .filter(|r| tags.as_ref().is_none_or(|t| t.matches(&json!(r.company.tags.as_map()))))
            .map(|r| company_json(r, urls))
            .collect();
        Ok(params.page(records, &info.path, by_created))
    }
}

/// `POST .../connections`: `{"platformKey": "vqzp"}`.
fn read_platform_key(body: &Value) -> Result<(), ApiError> {
    let mut reader = FieldReader::new(body, &["platformKey"])?;
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
    Ok(reader.finish()?)
}

/// `PATCH .../connections/{id}`: `{"status": "Unlinked"}`, the only change allowed.
fn read_unlink(body: &Value) -> Result<(), ApiError> {
    let mut reader = FieldReader::new(body, &["status"])?;
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
    Ok(reader.finish()?)
}

fn company_json(record: &CompanyRecord, urls: &PublicUrls) -> Value {
    codat::company(&record.company, &record.connections, urls)
}

/// Pull operations: newest first, then by id.
fn by_requested(a: &Value, b: &Value) -> Ordering {
    // Ties: the later id first, as the history's own order (time-ordered ids, newest first).
    b["requested"].as_str().cmp(&a["requested"].as_str()).then_with(|| by_id(b, a))
}

/// Default list order: oldest first, then by id.
fn by_created(a: &Value, b: &Value) -> Ordering {
    a["created"].as_str().cmp(&b["created"].as_str()).then_with(|| by_id(a, b))
}

fn by_key(a: &Value, b: &Value) -> Ordering {
    a["key"].as_str().cmp(&b["key"].as_str())
}

#[async_trait::async_trait]
impl<S: PlatformStore + 'static> super::Handler for CompaniesApi<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        Self::handle(self, req).await
    }
}

#[cfg(test)]
mod tests;
