//! fn link: the hosted Link pages a merchant completes, and `PUT .../authorization` for
//! platforms that collect credentials themselves. Only this function writes secrets.

mod pages;
pub mod service;

use chrono::Utc;
use http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use url::Url;
use uuid::Uuid;

pub use service::{LinkError, LinkService, Submission};

use crate::bigcommerce::VerifyError;
use crate::codat::{self, ValidationItem};
use crate::domain::validate::FieldReader;
use crate::domain::{Connection, ConnectionStatus, LinkToken};
use crate::error::ApiError;
use crate::http::{RequestInfo, json, json_body, respond};
use crate::platform::Edge;
use crate::ports::{CompanyRecord, LinkFunctionStore};

/// Largest Link form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Form tokens are valid this long.
pub const FORM_TOKEN_SECS: i64 = 2 * 3600;

/// Settings of the Link pages.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Where Finish leads after success (the platform's page), if anywhere.
    pub finish_url: Option<Url>,
    /// Credential submissions allowed per Link URL per minute.
    pub attempts_per_minute: u32,
}

/// The Link function.
pub struct LinkApi<S> {
    service: LinkService<S>,
    edge: Edge,
    settings: LinkSettings,
}

/// A page or a JSON answer.
type Reply = Result<Response<Body>, ApiError>;

impl<S: LinkFunctionStore> LinkApi<S> {
    /// The function over `service`.
    pub fn new(service: LinkService<S>, edge: Edge, settings: LinkSettings) -> Self {
        Self { service, edge, settings }
    }

    /// Answers one request; never fails.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let info = RequestInfo::new(&req);
        // The Link token is a credential of sorts: log the route shape, not the path.
        let route = match info.segments.first().map(String::as_str) {
            Some("link") => "link page",
            _ => "api",
        };
        let span = tracing::info_span!("request", method = %req.method(), route, correlation_id = %info.correlation_id);
        respond(&info, span, self.dispatch(&req, &info)).await
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Reply {
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let method = req.method();
        match segments.as_slice() {
            ["companies", company, "connections", connection, "authorization"] => {
                if !self.edge.keys.authorize(req.headers()) {
                    return Err(ApiError::unauthorized());
                }
                if method != Method::PUT {
                    return Err(ApiError::method_not_allowed(method));
                }
                self.authorize(req, info, company, connection).await
            }
            ["link", "assets", name] if method == Method::GET => pages::asset(name),
            ["link", token, rest @ ..] => {
                let pages = pages::Pages { edge: &self.edge, info, settings: &self.settings };
                let Some(token) = LinkToken::parse(token) else { return Ok(pages.invalid_link()) };
                let Some(record) = self.service.store.company_by_link_hash(&token.hash()).await? else {
                    return Ok(pages.invalid_link());
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
            |raw: &str| Uuid::parse_str(raw).ok().and_then(|id| record.connections.iter().find(|c| c.id == id));
        match (rest, method) {
            ([], &Method::GET) => Ok(page.choose(self.service.store.integration_state().await?.enabled)),
            (["connections"], &Method::POST) => {
                if let Some(refused) = page.check_form(req, None) {
                    return Ok(refused);
                }
                if !self.service.store.integration_state().await?.enabled {
                    return Ok(page.choose(false));
                }
                let reuse = record.connections.iter().rev().find(|c| c.status == ConnectionStatus::PendingAuth);
                let target = match reuse {
                    Some(c) => c.id,
                    None => {
                        let created = Connection::create(record.company.id, Utc::now());
                        self.service.store.create_connection(&created).await?;
                        created.id
                    }
                };
                Ok(page.redirect(&format!("connections/{target}")))
            }
            (["connections", id], &Method::GET) => match connection(id) {
                Some(c) if c.status == ConnectionStatus::Linked => Ok(page.connected(c, true)),
                Some(c) => Ok(page.permissions(c)),
                None => Ok(page.not_found()),
            },
            (["connections", id, "credentials"], &Method::GET) => match connection(id) {
                Some(c) if c.status == ConnectionStatus::Linked => Ok(page.connected(c, true)),
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
                    return Ok(page.connected(target, true));
                }
                let now = Utc::now().timestamp();
                let window = now - now % 60;
                let attempts = self.service.store.count_attempt(&page.token_hash, window, window + 120).await?;
                if attempts > self.settings.attempts_per_minute {
                    return Ok(page.too_many_attempts(60 - (now - window)));
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
                match self.service.link(record.company.id, target.id, &submission).await {
                    Ok(linked) => Ok(page.connected(&linked, false)),
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
                    Err(LinkError::AlreadyLinked) => Ok(page.connected(target, true)),
                    Err(LinkError::InProgress) => Ok(page.credentials(
                        target,
                        &submission,
                        &[],
                        Some(
                            "These credentials are already being checked. Wait a moment, then reload this page.".into(),
                        ),
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
        let company = Uuid::parse_str(company)
            .map_err(|_| ApiError::not_found(format!("No company was found with ID {company}")))?;
        let connection = Uuid::parse_str(connection)
            .map_err(|_| ApiError::not_found(format!("Data connection {connection} not found")))?;
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
        if self.service.store.get_company(company).await?.is_none() {
            return Err(ApiError::not_found(format!("No company was found with ID {company}")));
        }
        let linked = match self.service.link(company, connection, &submission).await {
            Ok(linked) => linked,
            Err(LinkError::Invalid(problems)) => {
                return Err(ApiError::validation(
                    problems.into_iter().map(|(f, m)| ValidationItem::new(f, m)).collect(),
                ));
            }
            Err(LinkError::Verify(e)) => return Err(verify_error(&e)),
            Err(LinkError::NotFound) => {
                return Err(ApiError::not_found(format!("Data connection {connection} not found")));
            }
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
            Err(LinkError::Store(e)) => return Err(e.into()),
        };
        let urls = self.edge.urls(info)?;
        Ok(json(StatusCode::OK, &codat::connection(&linked, &urls), &info.correlation_id))
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

/// Adds the security headers every Link page carries.
pub fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    put(
        "content-security-policy",
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    );
    put("x-content-type-options", "nosniff");
    put("referrer-policy", "no-referrer");
    put("cache-control", "no-store");
    put("strict-transport-security", "max-age=63072000; includeSubDomains");
    put("x-frame-options", "DENY");
    response
}

/// For tests: the JSON of a reply.
pub fn body_json(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}
