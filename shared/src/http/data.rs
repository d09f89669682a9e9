//! fn data's HTTP edge: Codat's commerce endpoints under
//! `/companies/{companyId}/connections/{connectionId}/data/`, read through the use case
//! ([`crate::data::Data`]): routes, list parameters, Codat's error JSON, and the 6 MB limit of one
//! Lambda response.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use uuid::Uuid;

use super::auth::ApiKeys;
use super::error::ApiError;
use super::paths::{company_id, company_not_found, connection_id, connection_not_found, shorten};
use super::request::RequestInfo;
use super::response::json_text;
use crate::codat::commerce_fields;
use crate::codat::paging::ListParams;
use crate::data::{Data, DataError};
use crate::domain::{DataType, PullStatus};
use crate::ports::{CompanyStore, DatasetStore};
use crate::query::Schema;

/// A commerce resource of the API: its data type, path name and schema.
#[derive(Debug, Clone, Copy)]
struct Resource {
    data_type: DataType,
    schema: &'static Schema,
}

impl Resource {
    fn parse(name: &str) -> Option<Self> {
        let (data_type, schema) = match name {
            "commerce-info" => (DataType::CompanyInfo, &commerce_fields::COMPANY_INFO),
            "commerce-customers" => (DataType::Customers, &commerce_fields::CUSTOMER),
            "commerce-orders" => (DataType::Orders, &commerce_fields::ORDER),
            "commerce-products" => (DataType::Products, &commerce_fields::PRODUCT),
            "commerce-productCategories" => (DataType::ProductCategories, &commerce_fields::PRODUCT_CATEGORY),
            "commerce-payments" => (DataType::Payments, &commerce_fields::PAYMENT),
            "commerce-paymentMethods" => (DataType::PaymentMethods, &commerce_fields::PAYMENT_METHOD),
            "commerce-transactions" => (DataType::Transactions, &commerce_fields::TRANSACTION),
            "commerce-locations" => (DataType::Locations, &commerce_fields::LOCATION),
            "commerce-taxComponents" => (DataType::TaxComponents, &commerce_fields::TAX_COMPONENT),
            "commerce-disputes" => (DataType::Disputes, &commerce_fields::DISPUTE),
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

fn route(segments: &[&str]) -> Result<Route, ApiError> {
    let (company, connection, rest) = match segments {
        ["companies", company, "connections", connection, "data", rest @ ..] => (company, connection, rest),
        _ => return Err(ApiError::not_found("No such resource")),
    };
    let (company, connection) = (company_id(company)?, connection_id(connection)?);
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

/// The largest response body Lambda can return through API Gateway is 6 MB; this leaves room
/// for headers and encoding.
pub const MAX_RESPONSE_BYTES: usize = 5_500_000;

/// The Commerce API (fn data).
pub struct DataApi<S> {
    data: Data<S>,
    keys: ApiKeys,
    max_response: usize,
}

impl<S: CompanyStore + DatasetStore> DataApi<S> {
    /// The API over the use case `data`, for callers holding one of `keys`.
    pub fn new(data: Data<S>, keys: ApiKeys) -> Self {
        Self { data, keys, max_response: MAX_RESPONSE_BYTES }
    }

    /// Answers one request. Never fails: every error becomes Codat's error JSON.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        super::handle(req, |info| info.path.clone(), async |req, info| self.dispatch(req, info).await).await
    }

    /// Refuses responses above `bytes` instead of [`MAX_RESPONSE_BYTES`] (tests).
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Result<Response<Body>, ApiError> {
        if self.keys.authorize(req.headers()).await?.is_none() {
            return Err(ApiError::unauthorized());
        }
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let route = route(&segments)?;
        if req.method() != Method::GET {
            return Err(ApiError::method_not_allowed(req.method()));
        }
        let before = self.data.read_stats();
        let body = match route {
            Route::Collection(company, connection, resource) => {
                // Parameters first: a malformed request is a 400 whatever the data's state.
                let params = match resource.data_type {
                    DataType::CompanyInfo => None,
                    _ => Some(ListParams::parse(&RequestInfo::query(req)?, resource.schema)?),
                };
                self.data.readable(company, connection, resource.data_type).await.map_err(data_error)?;
                match params {
                    None => self.data.company_info(connection).await.map_err(data_error)?,
                    Some(params) => {
                        let page = self.data.list(connection, resource.data_type, &params).await.map_err(data_error)?;
                        params.envelope(page.records, page.total, &info.path)
                    }
                }
            }
            Route::Item(company, connection, resource, id) => {
                self.data.readable(company, connection, resource.data_type).await.map_err(data_error)?;
                self.data.item(connection, resource.data_type, &id).await.map_err(|e| match e {
                    DataError::RecordNotFound => ApiError::not_found(format!(
                        "No {} record with id '{}' was found",
                        resource.schema.entity,
                        shorten(&id)
                    )),
                    other => data_error(other),
                })?
            }
        };
        let cost = self.data.read_stats().since(&before);
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
}

/// The Codat error of a read that cannot be served (a missing record is answered by the caller,
/// which knows the resource).
fn data_error(e: DataError) -> ApiError {
    match e {
        DataError::CompanyNotFound(id) => company_not_found(id),
        DataError::ConnectionNotFound(id) => connection_not_found(id),
        DataError::NotSupported(data_type) => ApiError::conflict(format!(
            "{} is not supported by the BigCommerce integration: its datasets end NotSupported.",
            data_type.key()
        )),
        DataError::NeverRequested => ApiError::conflict("The data set has not been requested."),
        DataError::NotSynced(data_type, status) => not_synced(data_type, status),
        DataError::RecordNotFound => ApiError::not_found("No such record was found"),
        DataError::NoCompanyInfo => ApiError::not_found("No company information was synced for this connection"),
        DataError::Store(e) => e.into(),
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

#[async_trait::async_trait]
impl<S: CompanyStore + DatasetStore + 'static> super::Handler for DataApi<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        Self::handle(self, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
