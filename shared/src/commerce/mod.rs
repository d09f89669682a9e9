//! The Commerce API (fn data): Codat's commerce endpoints under
//! `/companies/{companyId}/connections/{connectionId}/data/`, served from the data table.
//!
//! A list without `query` or `orderBy` is read through the directory (docs/storage.md): page N
//! costs about one page of items whatever N is. A `query` or `orderBy` on light properties reads
//! every record's summary (small items) and then the page's records; one that reads a heavy
//! property ([`HEAVY_FIELDS`]) reads every record. Data stays readable after the connection is
//! Unlinked or Deauthorized; a data type that has never synced successfully answers 409.

pub mod fields;

use std::sync::Arc;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::{DataType, DataTypeStatus, PullStatus};
use crate::error::ApiError;
use crate::http::{ApiKeys, RequestInfo, json_text, respond};
use crate::paging::ListParams;
use crate::ports::{CompanyStore, DatasetStore, RecordReader, RecordSummary};
use crate::query::Schema;

/// Top-level properties left out of record summaries: arrays of lines, variants, addresses and
/// the like, long text, and supplemental data. Filtering or sorting on one of them reads whole
/// records.
pub const HEAVY_FIELDS: &[&str] = &[
    "orderLineItems",
    "serviceCharges",
    "payments",
    "variants",
    "description",
    "supplementalData",
    "addresses",
    "phoneNumbers",
    "webLinks",
    "ancestorRefs",
];

/// A record's summary: the record without its [`HEAVY_FIELDS`].
pub fn summarize(record: &Value) -> Value {
    match record {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !HEAVY_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// A commerce resource of the API: its data type, path name and schema.
#[derive(Debug, Clone, Copy)]
struct Resource {
    data_type: DataType,
    schema: &'static Schema,
}

impl Resource {
    fn parse(name: &str) -> Option<Self> {
        let (data_type, schema) = match name {
            "commerce-info" => (DataType::CompanyInfo, &fields::COMPANY_INFO),
            "commerce-customers" => (DataType::Customers, &fields::CUSTOMER),
            "commerce-orders" => (DataType::Orders, &fields::ORDER),
            "commerce-products" => (DataType::Products, &fields::PRODUCT),
            "commerce-productCategories" => (DataType::ProductCategories, &fields::PRODUCT_CATEGORY),
            "commerce-payments" => (DataType::Payments, &fields::PAYMENT),
            "commerce-paymentMethods" => (DataType::PaymentMethods, &fields::PAYMENT_METHOD),
            "commerce-transactions" => (DataType::Transactions, &fields::TRANSACTION),
            "commerce-locations" => (DataType::Locations, &fields::LOCATION),
            "commerce-taxComponents" => (DataType::TaxComponents, &fields::TAX_COMPONENT),
            "commerce-disputes" => (DataType::Disputes, &fields::DISPUTE),
            _ => return None,
        };
        Some(Self { data_type, schema })
    }
}

#[derive(Debug)]
enum Route {
    /// `commerce-info`, or the list of another resource.
    Collection(Uuid, Uuid, Resource),
    /// One record.
    Item(Uuid, Uuid, Resource, String),
}

/// Longest record id looked up (longer ids cannot exist).
const MAX_ID_LEN: usize = 256;

fn route(segments: &[&str]) -> Result<Route, ApiError> {
    let (company, connection, rest) = match segments {
        ["companies", company, "connections", connection, "data", rest @ ..] => (company, connection, rest),
        _ => return Err(ApiError::not_found("No such resource")),
    };
    let company = Uuid::parse_str(company)
        .map_err(|_| ApiError::not_found(format!("No company was found with ID {}", shorten(company))))?;
    let connection = Uuid::parse_str(connection)
        .map_err(|_| ApiError::not_found(format!("Data connection {} not found", shorten(connection))))?;
    let unknown = |name: &str| {
        ApiError::not_found(format!(
            "No commerce resource '{}'; use commerce-info, commerce-customers, commerce-orders, commerce-products, \
             commerce-productCategories, commerce-payments, commerce-paymentMethods, commerce-transactions, \
             commerce-locations, commerce-taxComponents or commerce-disputes",
            shorten(name)
        ))
    };
    match rest {
        [name] => Ok(Route::Collection(company, connection, Resource::parse(name).ok_or_else(|| unknown(name))?)),
        [name, id] => {
            let resource = Resource::parse(name).ok_or_else(|| unknown(name))?;
            if resource.data_type == DataType::CompanyInfo {
                return Err(ApiError::not_found("commerce-info is a single object; it has no records by id"));
            }
            Ok(Route::Item(company, connection, resource, (*id).to_string()))
        }
        _ => Err(ApiError::not_found("No such resource")),
    }
}

fn shorten(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// The largest response body Lambda can return through API Gateway is 6 MB; this leaves room
/// for headers and encoding.
pub const MAX_RESPONSE_BYTES: usize = 5_500_000;

/// The Commerce API over the platform store (companies, statuses) and the records.
pub struct CommerceApi<S> {
    store: S,
    records: Arc<dyn RecordReader>,
    keys: ApiKeys,
    max_response: usize,
}

impl<S: CompanyStore + DatasetStore> CommerceApi<S> {
    /// The API reading `store` and `records`, for callers holding one of `keys`.
    pub fn new(store: S, records: Arc<dyn RecordReader>, keys: ApiKeys) -> Self {
        Self { store, records, keys, max_response: MAX_RESPONSE_BYTES }
    }

    /// Refuses responses above `bytes` instead of [`MAX_RESPONSE_BYTES`] (tests).
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
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
        if !self.keys.authorize(req.headers()) {
            return Err(ApiError::unauthorized());
        }
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let route = route(&segments)?;
        if req.method() != Method::GET {
            return Err(ApiError::method_not_allowed(req.method()));
        }
        let before = self.records.stats();
        let body = match route {
            Route::Collection(company, connection, resource) => {
                // Parameters first: a malformed request is a 400 whatever the data's state.
                let params = match resource.data_type {
                    DataType::CompanyInfo => None,
                    _ => Some(ListParams::parse(&RequestInfo::query(req)?, resource.schema)?),
                };
                self.readable(company, connection, resource.data_type).await?;
                match params {
                    None => self.company_info(connection).await?,
                    Some(params) => self.list(connection, resource, &params, &info.path).await?,
                }
            }
            Route::Item(company, connection, resource, id) => {
                self.readable(company, connection, resource.data_type).await?;
                self.item(connection, resource, &id).await?
            }
        };
        let cost = self.records.stats().since(&before);
        tracing::info!(
            read_calls = cost.calls,
            items_read = cost.items,
            bytes_read = cost.bytes,
            read_capacity = cost.capacity,
            "data read"
        );
        let text = body.to_string();
        if text.len() > self.max_response {
            return Err(too_large(&body, text.len(), self.max_response));
        }
        Ok(json_text(StatusCode::OK, text, &info.correlation_id))
    }

    /// 404 for an unknown company or connection, 409 unless the data type has synced
    /// successfully at least once (the connection's status does not matter: data stays readable).
    async fn readable(&self, company: Uuid, connection: Uuid, data_type: DataType) -> Result<(), ApiError> {
        let record = self
            .store
            .get_company(company)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("No company was found with ID {company}")))?;
        if !record.connections.iter().any(|c| c.id == connection) {
            return Err(ApiError::not_found(format!("Data connection {connection} not found")));
        }
        if !data_type.supported() {
            return Err(ApiError::conflict(format!(
                "{} is not supported by the BigCommerce integration: its datasets end NotSupported.",
                data_type.key()
            )));
        }
        let statuses = self.store.data_statuses(company).await?;
        let status = statuses.iter().find(|s| s.connection_id == connection && s.data_type == data_type);
        match status {
            Some(DataTypeStatus { latest_successful_sync_id: Some(_), .. }) => Ok(()),
            None => Err(ApiError::conflict("The data set has not been requested.")),
            Some(status) => Err(not_synced(data_type, status.current_status)),
        }
    }

    async fn company_info(&self, connection: Uuid) -> Result<Value, ApiError> {
        let records = self.records.every_record(connection, DataType::CompanyInfo).await?;
        records
            .into_iter()
            .next()
            .map(|r| r.record)
            .ok_or_else(|| ApiError::not_found("No company information was synced for this connection"))
    }

    async fn item(&self, connection: Uuid, resource: Resource, id: &str) -> Result<Value, ApiError> {
        let missing =
            || ApiError::not_found(format!("No {} record with id '{}' was found", resource.schema.entity, shorten(id)));
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(missing());
        }
        let record = self.records.record(connection, resource.data_type, id).await?;
        record.map(|r| r.record).ok_or_else(missing)
    }

    async fn list(
        &self,
        connection: Uuid,
        resource: Resource,
        params: &ListParams,
        path: &str,
    ) -> Result<Value, ApiError> {
        let data_type = resource.data_type;
        let offset = u64::from(params.page - 1) * u64::from(params.page_size);
        let plain = params.query.is_none() && params.order_by.is_none();
        if plain && let Some(page) = self.records.page(connection, data_type, offset, params.page_size).await? {
            let results = page.records.into_iter().map(|r| r.record).collect();
            return Ok(params.envelope(results, page.total as usize, path));
        }
        let (skip, take) = (offset.min(usize::MAX as u64) as usize, params.page_size as usize);
        let order_roots: Vec<&str> = params.order_by.iter().flat_map(|o| o.roots()).collect();
        let heavy = params
            .query
            .iter()
            .flat_map(|q| q.roots())
            .chain(order_roots.iter().copied())
            .any(|root| HEAVY_FIELDS.contains(&root));
        // Every summary (small items) is read, or every record when the query or sort reads a
        // heavy property, or for a plain list without a directory (records stored before
        // directories existed). Only the matches' ids and sort properties are kept.
        let mut matches: Vec<RecordSummary> = Vec::new();
        let mut keep = |candidate: RecordSummary| {
            if params.query.as_ref().is_none_or(|q| q.matches(&candidate.summary)) {
                let summary = match &candidate.summary {
                    Value::Object(map) => Value::Object(
                        order_roots.iter().filter_map(|r| map.get(*r).map(|v| (r.to_string(), v.clone()))).collect(),
                    ),
                    _ => Value::Null,
                };
                matches.push(RecordSummary { id: candidate.id, summary });
            }
        };
        self.records.scan(connection, data_type, heavy || plain, &mut keep).await?;
        if let Some(order) = &params.order_by {
            // Stable: ties keep the source id order.
            matches.sort_by(|a, b| order.compare(&a.summary, &b.summary));
        }
        let total = matches.len();
        let ids: Vec<String> = matches.into_iter().skip(skip).take(take).map(|s| s.id).collect();
        let records = self.records.records(connection, data_type, &ids).await?;
        Ok(params.envelope(records.into_iter().map(|r| r.record).collect(), total, path))
    }
}

/// 400 for a page too large for one response, with the page size that would fit.
fn too_large(body: &Value, size: usize, limit: usize) -> ApiError {
    let mb = |bytes: usize| bytes as f64 / 1_000_000.0;
    match body["pageSize"].as_u64() {
        Some(page_size) => {
            let fits = ((page_size as usize * limit) / size).max(1);
            ApiError::bad_request(format!(
                "This page is {:.1} MB, more than the {:.1} MB one response may carry; ask for pageSize={fits} or less",
                mb(size),
                mb(limit)
            ))
        }
        None => ApiError::bad_request(format!(
            "This record is {:.1} MB, more than the {:.1} MB one response may carry",
            mb(size),
            mb(limit)
        )),
    }
}

fn not_synced(data_type: DataType, status: PullStatus) -> ApiError {
    let key = data_type.key();
    if !status.is_final() {
        ApiError::conflict(format!(
            "The first sync of {key} is still in progress ({}); read it once it completes.",
            status.as_str()
        ))
    } else {
        ApiError::conflict(format!(
            "{key} has not synced successfully yet (latest status {}); see the data history for the reason.",
            status.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_keep_light_properties_only() {
        let order = json!({"id": "1", "totalAmount": 5.5, "customerRef": {"id": "9"},
            "orderLineItems": [{"id": "l1"}], "supplementalData": {"content": {}}});
        assert_eq!(summarize(&order), json!({"id": "1", "totalAmount": 5.5, "customerRef": {"id": "9"}}));
    }

    #[test]
    fn routes() {
        let company = Uuid::new_v4().to_string();
        let connection = Uuid::new_v4().to_string();
        let base = ["companies", company.as_str(), "connections", connection.as_str(), "data"];
        let with = |rest: &[&'static str]| -> Vec<&str> { base.iter().copied().chain(rest.iter().copied()).collect() };
        assert!(matches!(route(&with(&["commerce-orders"])), Ok(Route::Collection(..))));
        assert!(matches!(route(&with(&["commerce-orders", "17"])), Ok(Route::Item(_, _, _, id)) if id == "17"));
        assert!(matches!(route(&with(&["commerce-info"])), Ok(Route::Collection(..))));
        for bad in [&["commerce-info", "1"][..], &["commerce-bills"], &["commerce-orders", "1", "x"], &[]] {
            assert_eq!(route(&with(bad)).expect_err("refused").status, StatusCode::NOT_FOUND, "{bad:?}");
        }
        let bad_company = ["companies", "nope", "connections", connection.as_str(), "data", "commerce-orders"];
        assert!(route(&bad_company).expect_err("404").message.contains("No company was found"));
    }
}
