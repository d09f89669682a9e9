//! fn link's HTTP edge: the hosted Link pages a merchant completes ([`pages`]), and
//! `PUT .../authorization` for platforms that collect credentials themselves, over the use case
//! ([`crate::link::LinkService`]).

mod pages;

use http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::edge::Edge;
use super::error::ApiError;
use super::paths::{company_id, company_not_found, connection_id, connection_not_found};
use super::request::{RequestInfo, json_body};
use super::response::json;
use crate::bigcommerce::VerifyError;
use crate::codat::reader::FieldReader;
use crate::codat::{self, ValidationItem};
use crate::domain::{ConnectionStatus, LinkToken};
use crate::link::{FIRST_SYNC_HEADER, LinkError, LinkService, Submission};
use crate::ports::{CompanyRecord, LinkFunctionStore};

/// Largest Link form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Form tokens are valid this long.
pub const FORM_TOKEN_SECS: i64 = 2 * 3600;

/// The Link function.
pub struct LinkApi<S> {
    service: LinkService<S>,
    edge: Edge,
}

/// A page or a JSON answer.
type Reply = Result<Response<Body>, ApiError>;

/// What the Link page says when the credentials are for another store than the connection's.
const OTHER_STORE_MESSAGE: &str = "These credentials are for a different store from the one this connection was linked to, and one connection never holds two stores' data. To connect this store, open the link you were given again and choose BigCommerce: that starts a new connection.";

impl<S: LinkFunctionStore> LinkApi<S> {
    /// The function over `service`.
    pub fn new(service: LinkService<S>, edge: Edge) -> Self {
        Self { service, edge }
    }

    /// Answers one request; never fails.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        // The Link token is a credential of sorts: log the route shape, not the path.
        let route = |info: &RequestInfo| match info.segments.first().map(String::as_str) {
            Some("link") => "link page".to_string(),
            _ => "api".to_string(),
        };
        // Every answer carries the page security headers, errors included (a storage failure
        // answers through the shared error path).
        secure(crate::http::handle(req, route, async |req, info| self.dispatch(req, info).await).await)
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Reply {
        let keys = self.edge.ready().await?;
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let method = req.method();
        match segments.as_slice() {
            ["companies", company, "connections", connection, "authorization"] => {
                if self.edge.keys.authorize(req.headers()).await?.is_none() {
                    return Err(ApiError::unauthorized());
                }
                if method != Method::PUT {
                    return Err(ApiError::method_not_allowed(method));
                }
                self.authorize(req, info, company, connection).await
            }
            ["link", "assets", name] if method == Method::GET => pages::asset(name),
            ["link", token, rest @ ..] => {
                let pages = pages::Pages { edge: &self.edge, info, settings: self.service.settings() };
                let Some(token) = LinkToken::parse(token) else { return Ok(pages.invalid_link()) };
                // Found by its nonce, then checked against every key still accepted: a rotated
                // Link URL (a new nonce) or a key past its rotation window is not valid.
                let record = match self.service.company_for(&token).await? {
                    Some(record)
                        if record.company.nonce().is_some_and(|n| keys.check_token(record.company.id, &n, &token)) =>
                    {
                        record
                    }
                    _ => return Ok(pages.invalid_link()),
                };
                let page = pages::LinkPage::new(&pages, &record, &token)?;
                self.page(req, &page, &record, rest).await
            }
            _ => Err(ApiError::not_found("No such resource")),
        }
    }

    async fn page(&self, req: &Request, page: &pages::LinkPage<'_>, record: &CompanyRecord, rest: &[&str]) -> Reply {
        let method = req.method();
        let connection =
            |raw: &str| uuid::Uuid::parse_str(raw).ok().and_then(|id| record.connections.iter().find(|c| c.id == id));
        match (rest, method) {
            ([], &Method::GET) => Ok(page.choose(self.service.integration_enabled().await?)),
            (["connections"], &Method::POST) => {
                if let Some(refused) = page.check_form(req, None) {
                    return Ok(refused);
                }
                if !self.service.integration_enabled().await? {
                    return Ok(page.choose(false));
                }
                let target = self.service.connection_to_link(record).await?;
                Ok(page.redirect(&format!("connections/{target}")))
            }
            (["connections", id], &Method::GET) => match connection(id) {
                Some(c) if c.status == ConnectionStatus::Linked => Ok(page.connected(c, None)),
                Some(c) => Ok(page.permissions(c)),
                None => Ok(page.not_found()),
            },
            (["connections", id, "credentials"], &Method::GET) => match connection(id) {
                Some(c) if c.status == ConnectionStatus::Linked => Ok(page.connected(c, None)),
                Some(c) => Ok(page.credentials(c, &Submission::default(), &[], None, StatusCode::OK)),
                None => Ok(page.not_found()),
            },
            (["connections", id, "credentials"], &Method::POST) => {
                let Some(target) = connection(id) else { return Ok(page.not_found()) };
                let form = match page.check_form(req, Some(MAX_FORM_BYTES)) {
                    Some(refused) => return Ok(refused),
                    None => pages::form_fields(req),
                };
                if target.status == ConnectionStatus::Linked {
                    return Ok(page.connected(target, None));
                }
                let source_ip = page.source_ip();
                if let Some(retry_after) = self.service.over_attempts(&page.token_hash, source_ip).await? {
                    return Ok(page.too_many_attempts(retry_after));
                }
                let mut submission = Submission {
                    client_id: form.get("client_id").cloned().unwrap_or_default(),
                    client_secret: form.get("client_secret").cloned().unwrap_or_default(),
                    access_token: form.get("access_token").cloned().unwrap_or_default(),
                    api_path: form.get("api_path").cloned().unwrap_or_default(),
                };
                if let Some(text) = form.get("credentials_text").filter(|t| !t.trim().is_empty()) {
                    submission.fill_from_file(text);
                }
                match self.service.link(record.company.id, target.id, &submission, page.public_base()).await {
                    Ok(linked) => Ok(page.connected(&linked.connection, Some(linked.first_syncs))),
                    Err(LinkError::Invalid(problems)) => {
                        Ok(page.credentials(target, &submission, &problems, None, StatusCode::UNPROCESSABLE_ENTITY))
                    }
                    Err(LinkError::Verify(e)) => {
                        let field = match &e {
                            VerifyError::TokenRejected => vec![("accessToken", e.merchant_message())],
                            VerifyError::StoreNotFound => vec![("apiPath", e.merchant_message())],
                            _ => Vec::new(),
                        };
                        let status = match e {
                            VerifyError::Busy | VerifyError::Unreachable => StatusCode::SERVICE_UNAVAILABLE,
                            _ => StatusCode::UNPROCESSABLE_ENTITY,
                        };
                        Ok(page.credentials(target, &submission, &field, Some(e.merchant_message()), status))
                    }
                    Err(LinkError::AlreadyLinked) => Ok(page.connected(target, None)),
                    Err(LinkError::InProgress) => Ok(page.credentials(
                        target,
                        &submission,
                        &[],
                        Some(
                            "These credentials are already being checked. Wait a moment, then reload this page.".into(),
                        ),
                        StatusCode::CONFLICT,
                    )),
                    Err(LinkError::OtherStore { .. }) => Ok(page.credentials(
                        target,
                        &submission,
                        &[("apiPath", "This is not the store this connection was linked to.".into())],
                        Some(OTHER_STORE_MESSAGE.into()),
                        StatusCode::CONFLICT,
                    )),
                    Err(LinkError::NotFound) => Ok(page.not_found()),
                    Err(LinkError::Store(e)) => Err(e.into()),
                }
            }
            _ => Ok(page.not_found()),
        }
    }

    async fn authorize(&self, req: &Request, info: &RequestInfo, company: &str, connection: &str) -> Reply {
        let (company, connection) = (company_id(company)?, connection_id(connection)?);
        let body = json_body(req)?;
        let mut reader = FieldReader::new(&body, &["clientId", "clientSecret", "accessToken", "apiPath"])?;
        let mut read = |field: &str| reader.string(field).unwrap_or_default().to_string();
        let submission = Submission {
            client_id: read("clientId"),
            client_secret: read("clientSecret"),
            access_token: read("accessToken"),
            api_path: read("apiPath"),
        };
        reader.finish()?;
        let Some(record) = self.service.company(company).await? else {
            return Err(company_not_found(company));
        };
        let base = self.edge.urls(info)?.base().clone();
        let linked = match self.service.link(company, connection, &submission, &base).await {
            Ok(linked) => linked,
            Err(LinkError::Invalid(problems)) => {
                return Err(ApiError::validation(
                    problems.into_iter().map(|(f, m)| ValidationItem::new(f, m)).collect(),
                ));
            }
            Err(LinkError::Verify(e)) => return Err(verify_error(&e)),
            Err(LinkError::NotFound) => return Err(connection_not_found(connection)),
            Err(LinkError::AlreadyLinked) => {
                return Err(ApiError::bad_request(
                    "The connection is already Linked; unlink it before submitting new credentials",
                ));
            }
            Err(LinkError::InProgress) => {
                return Err(ApiError::conflict(
                    "Credentials for this connection are being verified; retry in a minute",
                ));
            }
            Err(LinkError::OtherStore { linked, submitted }) => {
                return Err(ApiError::conflict(format!(
                    "This connection was linked to store {linked}; these credentials are for store {submitted}. A connection holds one store's data: create a new connection (POST /companies/{company}/connections) to link another store"
                )));
            }
            Err(LinkError::Store(e)) => return Err(e.into()),
        };
        let urls = self.edge.urls(info)?;
        let rendered = codat::connection(&linked.connection, &record.company, &urls);
        let mut response = json(StatusCode::OK, &rendered, &info.correlation_id);
        response
            .headers_mut()
            .insert(FIRST_SYNC_HEADER, http::HeaderValue::from_static(linked.first_syncs.header_value()));
        Ok(response)
    }
}

fn verify_error(e: &VerifyError) -> ApiError {
    let item = |field: &str| ApiError::validation(vec![ValidationItem::new(field, e.merchant_message())]);
    match e {
        VerifyError::TokenRejected => item("accessToken"),
        VerifyError::StoreNotFound => item("apiPath"),
        VerifyError::MissingScopes(missing) => ApiError::validation(
            missing
                .iter()
                .map(|s| {
                    ValidationItem::new(
                        s.param(),
                        format!("Missing scope {} (read-only): {}", s.ui_name(), e.merchant_message()),
                    )
                })
                .collect(),
        ),
        VerifyError::Busy | VerifyError::Unreachable => {
            let mut error = ApiError::unavailable();
            error.message = e.merchant_message();
            error
        }
    }
}

/// Adds the security headers every Link page carries (a `cache-control` already set, as the
/// assets' `public, max-age=3600`, is kept: only answers without one get `no-store`).
pub fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.entry(http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    let mut put = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    put(
        "content-security-policy",
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    );
    put("x-content-type-options", "nosniff");
    put("referrer-policy", "no-referrer");
    put("strict-transport-security", "max-age=63072000; includeSubDomains");
    put("x-frame-options", "DENY");
    response
}

#[async_trait::async_trait]
impl<S: LinkFunctionStore + 'static> crate::http::Handler for LinkApi<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        Self::handle(self, req).await
    }
}
