//! fn portal's HTTP edge: the operators' pages under `/portal` (sign in with an API key,
//! Commerce integrations, Companies, a company's data and history, API keys), server-rendered
//! and usable without JavaScript. Every page but sign-in needs a session ([`session`]); every
//! form is checked for its CSRF token and origin. The use cases are the Platform API's
//! ([`crate::companies::Companies`]) and the data table's reader.

mod pages;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use self::pages::{
    ApiKeysPage, Chart, CompaniesPage, CompanyDelete, CompanyNew, CompanyPage, CompanyRow, ConnectionPage,
    ConnectionRow, Created, DataTable, HistoryRow, Integration, Integrations, KeyRow, Layout, Message, NewKey,
    SettingRow, SignIn, StatusRow, label, render, when,
};
use self::session::{COOKIE, IDLE_SECS, RENEW_AFTER_SECS, Session, check_sign_in_token, set_cookie, sign_in_token};
use super::edge::Edge;
use super::error::ApiError;
use super::link::secure;
use super::request::{RequestInfo, body_bytes, form_fields, is_url_encoded_form, same_origin_form};
use crate::codat::{self, PublicUrls};
use crate::companies::{Companies, CompaniesError};
use crate::domain::api_key::parse_key_name;
use crate::domain::sales::SALES_AGGREGATE;
use crate::domain::sync_settings::MAX_SYNC_SCHEDULE_HOURS;
use crate::domain::{
    CompanyDraft, CompanyName, ConnectionStatus, DataType, PullStatus, SalesByMonth, SyncSetting, SyncSettings, Tags,
};
use crate::ports::{CompanyRecord, LinkFunctionStore, RecordReader, RecordSet};

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Companies per page of the list.
pub const COMPANIES_PER_PAGE: usize = 20;
/// Pulls shown in a company's history.
pub const HISTORY_ROWS: usize = 50;
/// Rows of each data table on a connection's page.
pub const DATA_ROWS: u32 = 10;
/// Failed sign-ins allowed per client address per minute.
pub const SIGN_INS_PER_MINUTE: u32 = 5;
/// How long a failed sign-in waits before it answers.
pub const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(400);

/// The portal function.
pub struct PortalApi<S> {
    companies: Companies<S>,
    store: S,
    records: Arc<dyn RecordReader>,
    edge: Edge,
}

/// One request's context once signed in.
struct Ctx<'a> {
    info: &'a RequestInfo,
    urls: PublicUrls,
    session: Session,
    layout: Layout,
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = secure(Response::new(Body::Empty));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

fn with_cookie(mut response: Response<Body>, cookie: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(http::header::SET_COOKIE, value);
    }
    response
}

fn query_fields(req: &Request) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    fields
}

/// The session cookie's value, if the request carries exactly one.
fn cookie_value(req: &Request) -> Option<String> {
    let mut found = None;
    for header in req.headers().get_all(http::header::COOKIE) {
        for pair in header.to_str().ok()?.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name == COOKIE
            {
                if found.is_some() {
                    return None;
                }
                found = Some(value.to_string());
            }
        }
    }
    found
}

/// Fixed notices a redirect may ask for (never text from the request).
fn notice(code: Option<&String>) -> Option<&'static str> {
    Some(match code?.as_str() {
        "enabled" => "BigCommerce is enabled: companies can connect their stores.",
        "disabled" => "BigCommerce is disabled: Link offers nothing to connect.",
        "settings" => "The default sync settings were saved.",
        "refreshed" => "A sync was queued.",
        "unlinked" => "The connection was unlinked.",
        "deleted" => "The company was deleted. Its data is being erased; the erasure finishes within minutes.",
        "rotated" => "The Link URL was replaced: the old one no longer works. Send the new one to the company.",
        "key-deleted" => "The API key was deleted.",
        _ => return None,
    })
}

impl<S: LinkFunctionStore + Clone + 'static> PortalApi<S> {
    /// The portal over the Platform use cases `companies`, `store` (sign-in attempts) and the
    /// data table's `records`, presented as `edge` says.
    pub fn new(companies: Companies<S>, store: S, records: Arc<dyn RecordReader>, edge: Edge) -> Self {
        Self { companies, store, records, edge }
    }

    /// Answers one request; never fails.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let route = |info: &RequestInfo| info.segments.iter().take(2).map(String::as_str).collect::<Vec<_>>().join("/");
        crate::http::handle(req, route, async |req, info| Ok(self.dispatch(req, info).await)).await
    }

    fn root(&self, urls: &PublicUrls) -> String {
        format!("{}portal", urls.base())
    }

    fn layout(&self, urls: &PublicUrls, csrf: String, signed_in: bool, nav: &'static str) -> Layout {
        let root = self.root(urls);
        Layout { assets: format!("{root}/assets"), root, csrf, signed_in, nav, notice: None }
    }

    /// The link keys [`Edge::ready`] loaded at the start of the request (if they were not, a
    /// random set: nothing then verifies, and forms are refused).
    fn keys(&self) -> std::sync::Arc<crate::domain::LinkKeys> {
        self.edge.link_keys.snapshot().unwrap_or_else(|| {
            tracing::error!("the portal's link keys were used before they were loaded");
            std::sync::Arc::new(crate::domain::LinkKeys::generate())
        })
    }

    /// Whether cookies may go without `Secure`: only on plain HTTP to loopback (the dev stack).
    fn secure_cookies(urls: &PublicUrls) -> bool {
        let base = urls.base();
        !(base.scheme() == "http"
            && matches!(base.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                | matches!(base.host(), Some(url::Host::Domain("localhost"))))
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Response<Body> {
        if let Err(e) = self.edge.ready().await {
            return self.error_page(None, &e);
        }
        let urls = match self.edge.urls(info) {
            Ok(urls) => urls,
            Err(e) => return self.error_page(None, &e),
        };
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        match (segments.as_slice(), &method) {
            (["portal", "assets", name], &Method::GET) => {
                return pages::asset(name).unwrap_or_else(|| {
                    self.message(&urls, StatusCode::NOT_FOUND, "Page not found", "There is no such page.")
                });
            }
            (["portal", "sign-in"], &Method::GET) => return self.sign_in_page(&urls, None, StatusCode::OK),
            (["portal", "sign-in"], &Method::POST) => return self.sign_in(req, info, &urls).await,
            _ => {}
        }
        let now = Utc::now().timestamp();
        let session = cookie_value(req).and_then(|v| Session::decode(&v, &self.keys(), now));
        let session = match session {
            Some(session) => match self.edge.keys.still_valid(session.key_id).await {
                Ok(true) => session,
                Ok(false) => return self.to_sign_in(&urls, true),
                Err(e) => return self.error_page(Some(&urls), &e.into()),
            },
            None => return self.to_sign_in(&urls, cookie_value(req).is_some()),
        };
        let csrf = session.csrf(&self.keys());
        let mut layout = self.layout(&urls, csrf, true, "");
        layout.notice = notice(query_fields(req).get("done"));
        let renew = now - session.seen > RENEW_AFTER_SECS;
        let error_urls = urls.clone();
        let ctx = Ctx { info, urls, session, layout };
        if method == Method::POST
            && let Some(refused) = self.check_form(req, &ctx)
        {
            return refused;
        }
        let response = match self.route(req, &segments, &method, ctx).await {
            Ok(response) => response,
            Err(e) => self.error_page(Some(&error_urls), &e.0),
        };
        if renew && !response.headers().contains_key(http::header::SET_COOKIE) {
            let Some(value) = cookie_value(req).and_then(|v| Session::decode(&v, &self.keys(), now)) else {
                return response;
            };
            let renewed = Session { seen: now, ..value };
            let urls = self.edge.urls(info).ok();
            let secure = urls.as_ref().is_none_or(Self::secure_cookies);
            return with_cookie(response, &set_cookie(&renewed.encode(&self.keys()), IDLE_SECS, secure));
        }
        response
    }

    async fn route(
        &self,
        req: &Request,
        segments: &[&str],
        method: &Method,
        mut ctx: Ctx<'_>,
    ) -> Result<Response<Body>, PortalError> {
        let fail = |e: ApiError| PortalError(e);
        let company = |raw: &str| Uuid::parse_str(raw).map_err(|_| fail(ApiError::not_found("No such company")));
        match (segments, method) {
            (["portal"], &Method::GET) => Ok(redirect(&format!("{}/companies", ctx.layout.root))),
            (["portal", "sign-out"], &Method::POST) => {
                let to = redirect(&format!("{}/sign-in", ctx.layout.root));
                Ok(with_cookie(to, &set_cookie("", 0, Self::secure_cookies(&ctx.urls))))
            }
            (["portal", "integrations"], &Method::GET) => {
                ctx.layout.nav = "integrations";
                self.integrations(&ctx).await
            }
            (["portal", "integrations", "vqzp"], &Method::GET) => {
                ctx.layout.nav = "integrations";
                self.integration(&ctx, None, StatusCode::OK).await
            }
            (["portal", "integrations", "vqzp"], &Method::POST) => self.toggle(req, &ctx).await,
            (["portal", "integrations", "vqzp", "settings"], &Method::POST) => {
                ctx.layout.nav = "integrations";
                self.save_settings(req, &ctx).await
            }
            (["portal", "companies"], &Method::GET) => {
                ctx.layout.nav = "companies";
                self.companies_page(req, &ctx).await
            }
            (["portal", "companies"], &Method::POST) => {
                ctx.layout.nav = "companies";
                self.create_company(req, &ctx).await
            }
            (["portal", "companies", "new"], &Method::GET) => {
                ctx.layout.nav = "companies";
                Ok(render(StatusCode::OK, &CompanyNew { l: &ctx.layout, created: None, error: None, form_id: "page" }))
            }
            (["portal", "companies", id], &Method::GET) => {
                ctx.layout.nav = "companies";
                self.company_page(company(id)?, &ctx).await
            }
            (["portal", "companies", id, "status"], &Method::GET) => self.status_json(company(id)?, &ctx).await,
            (["portal", "companies", id, "refresh"], &Method::POST) => self.refresh(req, company(id)?, &ctx).await,
            (["portal", "companies", id, "rotate-link"], &Method::POST) => {
                let id = company(id)?;
                self.companies.rotate_link(id).await?;
                tracing::info!(by = %ctx.session.key_id, company_id = %id, "Link URL rotated in the portal");
                Ok(redirect(&format!("{}/companies/{id}?done=rotated", ctx.layout.root)))
            }
            (["portal", "companies", id, "delete"], &Method::GET) => {
                ctx.layout.nav = "companies";
                let record = self.companies.company(company(id)?).await?;
                Ok(render(
                    StatusCode::OK,
                    &CompanyDelete {
                        l: &ctx.layout,
                        id: record.company.id.to_string(),
                        name: record.company.name.as_str().to_string(),
                        connections: record.connections.len(),
                    },
                ))
            }
            (["portal", "companies", id, "delete"], &Method::POST) => {
                let id = company(id)?;
                self.companies.delete_company(id).await?;
                tracing::info!(by = %ctx.session.key_id, company_id = %id, "company deleted in the portal");
                Ok(redirect(&format!("{}/companies?done=deleted", ctx.layout.root)))
            }
            (["portal", "companies", id, "connections", connection], &Method::GET) => {
                ctx.layout.nav = "companies";
                let connection =
                    Uuid::parse_str(connection).map_err(|_| fail(ApiError::not_found("No such connection")))?;
                self.connection_page(company(id)?, connection, &ctx).await
            }
            (["portal", "companies", id, "connections", connection, "unlink"], &Method::POST) => {
                let (id, connection) = (
                    company(id)?,
                    Uuid::parse_str(connection).map_err(|_| fail(ApiError::not_found("No such connection")))?,
                );
                self.companies.unlink(id, connection).await?;
                Ok(redirect(&format!("{}/companies/{id}?done=unlinked", ctx.layout.root)))
            }
            (["portal", "api-keys"], &Method::GET) => {
                ctx.layout.nav = "keys";
                self.keys_page(&ctx, None, None, StatusCode::OK).await
            }
            (["portal", "api-keys"], &Method::POST) => {
                ctx.layout.nav = "keys";
                self.create_key(req, &ctx).await
            }
            (["portal", "api-keys", id, "delete"], &Method::POST) => {
                let id = Uuid::parse_str(id).map_err(|_| fail(ApiError::not_found("No such API key")))?;
                self.companies.delete_api_key(id, &self.edge.keys.bootstrap_ids()).await?;
                self.edge.keys.forget_cache();
                tracing::info!(by = %ctx.session.key_id, api_key_id = %id, "API key deleted in the portal");
                if id == ctx.session.key_id {
                    let to = redirect(&format!("{}/sign-in", ctx.layout.root));
                    return Ok(with_cookie(to, &set_cookie("", 0, Self::secure_cookies(&ctx.urls))));
                }
                Ok(redirect(&format!("{}/api-keys?done=key-deleted", ctx.layout.root)))
            }
            _ => Ok(self.message(&ctx.urls, StatusCode::NOT_FOUND, "Page not found", "There is no such page.")),
        }
    }

    fn message(&self, urls: &PublicUrls, status: StatusCode, title: &str, message: &str) -> Response<Body> {
        let layout = self.layout(urls, String::new(), false, "");
        render(status, &Message { l: &layout, title, message })
    }

    fn error_page(&self, urls: Option<&PublicUrls>, e: &ApiError) -> Response<Body> {
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_client_error() => "That did not work",
            _ => "Something went wrong",
        };
        match urls {
            Some(urls) => self.message(urls, e.status, title, &e.message),
            None => render(
                e.status,
                &Message {
                    l: &Layout {
                        assets: "/portal/assets".into(),
                        root: "/portal".into(),
                        csrf: String::new(),
                        signed_in: false,
                        nav: "",
                        notice: None,
                    },
                    title,
                    message: &e.message,
                },
            ),
        }
    }

    fn to_sign_in(&self, urls: &PublicUrls, clear: bool) -> Response<Body> {
        let to = redirect(&format!("{}/sign-in", self.root(urls)));
        if clear { with_cookie(to, &set_cookie("", 0, Self::secure_cookies(urls))) } else { to }
    }

    fn sign_in_page(&self, urls: &PublicUrls, error: Option<&'static str>, status: StatusCode) -> Response<Body> {
        let layout = self.layout(urls, String::new(), false, "");
        let token = sign_in_token(&self.keys(), Utc::now().timestamp());
        render(status, &SignIn { l: &layout, token, error })
    }

    /// Refuses a form from another origin or site, too large, not URL-encoded, or without the
    /// session's CSRF token: 403 (413, 415), and nothing changes.
    fn check_form(&self, req: &Request, ctx: &Ctx<'_>) -> Option<Response<Body>> {
        if let Some(refused) = self.check_origin(req, &ctx.urls) {
            return Some(refused);
        }
        let token = form_fields(req).get("csrf").cloned().unwrap_or_default();
        if !ctx.session.check_csrf(&self.keys(), &token) {
            return Some(self.message(
                &ctx.urls,
                StatusCode::FORBIDDEN,
                "This page has expired",
                "For your security this form expired. Go back, reload the page and try again.",
            ));
        }
        None
    }

    fn check_origin(&self, req: &Request, urls: &PublicUrls) -> Option<Response<Body>> {
        let expected = urls.base().origin().ascii_serialization();
        if !same_origin_form(req, &expected) {
            return Some(self.message(
                urls,
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form must be sent from the portal itself.",
            ));
        }
        if body_bytes(req).len() > MAX_FORM_BYTES {
            return Some(self.message(
                urls,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much data",
                "The form sent was too large.",
            ));
        }
        let form_type = is_url_encoded_form(req);
        if !form_type {
            return Some(self.message(
                urls,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported form",
                "Send the form from the portal.",
            ));
        }
        None
    }

    async fn sign_in(&self, req: &Request, info: &RequestInfo, urls: &PublicUrls) -> Response<Body> {
        if let Some(refused) = self.check_origin(req, urls) {
            return refused;
        }
        let form = form_fields(req);
        let now = Utc::now();
        if !check_sign_in_token(&self.keys(), form.get("token").map_or("", String::as_str), now.timestamp()) {
            return self.sign_in_page(urls, Some("The sign-in page expired. Try again."), StatusCode::FORBIDDEN);
        }
        let client = info.source_ip.clone().unwrap_or_default();
        let window = now.timestamp() - now.timestamp() % 60;
        // Counted under the address's SHA-256 (no address is stored), as Link's are.
        let attempt_key = format!("portal-sign-in#{}", crate::link::address_hash(&client).unwrap_or_default());
        let key = form.get("api_key").map(|k| k.trim().to_string()).unwrap_or_default();
        let principal = if key.is_empty() { Ok(None) } else { self.edge.keys.check(key.as_bytes()).await };
        match principal {
            Ok(Some(principal)) => {
                let session = Session::new(principal.key_id, now.timestamp());
                tracing::info!(api_key_id = %principal.key_id, "portal sign-in");
                let to = redirect(&format!("{}/companies", self.root(urls)));
                with_cookie(to, &set_cookie(&session.encode(&self.keys()), IDLE_SECS, Self::secure_cookies(urls)))
            }
            Ok(None) => {
                let attempts = self.store.count_attempt(&attempt_key, window, window + 120).await.unwrap_or(u32::MAX);
                tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
                tracing::warn!(attempts, "portal sign-in refused");
                if attempts > SIGN_INS_PER_MINUTE {
                    let mut page = self.sign_in_page(
                        urls,
                        Some("Too many failed sign-ins from your address. Wait a minute, then try again."),
                        StatusCode::TOO_MANY_REQUESTS,
                    );
                    page.headers_mut()
                        .insert(http::header::RETRY_AFTER, HeaderValue::from(60 - (now.timestamp() - window)));
                    return page;
                }
                self.sign_in_page(
                    urls,
                    Some("That API key was not accepted. Check it and try again."),
                    StatusCode::UNAUTHORIZED,
                )
            }
            Err(e) => self.error_page(Some(urls), &e.into()),
        }
    }

    async fn integrations(&self, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let enabled = self.companies.integration_state().await?.enabled;
        Ok(render(StatusCode::OK, &Integrations { l: &ctx.layout, enabled, back: "integrations" }))
    }

    async fn integration(
        &self,
        ctx: &Ctx<'_>,
        error: Option<String>,
        status: StatusCode,
    ) -> Result<Response<Body>, PortalError> {
        let enabled = self.companies.integration_state().await?.enabled;
        let settings = self
            .companies
            .profile_sync_settings()
            .await?
            .effective()
            .into_iter()
            .map(|s| SettingRow {
                key: s.data_type.key(),
                name: label(s.data_type),
                fetch: s.fetch_on_first_link,
                hours: s.sync_schedule,
                from: s.sync_from_utc.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            })
            .collect();
        Ok(render(status, &Integration { l: &ctx.layout, enabled, back: "manage", settings, error }))
    }

    async fn toggle(&self, req: &Request, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let form = form_fields(req);
        let enabled = match form.get("enabled").map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(ApiError::bad_request("The toggle sent no state").into()),
        };
        self.companies.set_integration(enabled).await?;
        tracing::info!(by = %ctx.session.key_id, enabled, "integration toggled in the portal");
        let page =
            if form.get("back").map(String::as_str) == Some("manage") { "integrations/vqzp" } else { "integrations" };
        let done = if enabled { "enabled" } else { "disabled" };
        Ok(redirect(&format!("{}/{page}?done={done}", ctx.layout.root)))
    }

    async fn save_settings(&self, req: &Request, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let form = form_fields(req);
        let mut settings = Vec::new();
        let mut problems = Vec::new();
        for (order, data_type) in DataType::ALL.into_iter().enumerate() {
            let key = data_type.key();
            let hours = form.get(&format!("hours-{key}")).and_then(|h| h.trim().parse::<u64>().ok());
            let hours = match hours {
                Some(h) if (1..=MAX_SYNC_SCHEDULE_HOURS).contains(&h) => h as u32,
                _ => {
                    problems.push(format!(
                        "{}: hours between syncs must be a whole number from 1 to {MAX_SYNC_SCHEDULE_HOURS}",
                        label(data_type)
                    ));
                    continue;
                }
            };
            let from = match form.get(&format!("from-{key}")).map(|f| f.trim()).filter(|f| !f.is_empty()) {
                None => None,
                Some(raw) => match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                    Ok(date) => date.and_hms_opt(0, 0, 0).map(|d| d.and_utc()),
                    Err(_) => {
                        problems.push(format!("{}: sync from must be a date (YYYY-MM-DD)", label(data_type)));
                        continue;
                    }
                },
            };
            settings.push(SyncSetting {
                fetch_on_first_link: form.contains_key(&format!("fetch-{key}")) && data_type.supported(),
                sync_schedule: hours,
                sync_order: order as u32,
                sync_from_utc: from,
                ..SyncSetting::default_for(data_type)
            });
        }
        if !problems.is_empty() {
            return self.integration(ctx, Some(problems.join(". ")), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        self.companies.set_profile_sync_settings(&SyncSettings { settings, overrides_defaults: true }).await?;
        Ok(redirect(&format!("{}/integrations/vqzp?done=settings", ctx.layout.root)))
    }

    async fn companies_page(&self, req: &Request, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let query = query_fields(req);
        let q = query.get("q").map(|q| q.trim().to_string()).unwrap_or_default();
        let tag = query.get("tag").map(|t| t.trim().to_string()).unwrap_or_default();
        let needle = q.to_lowercase();
        let (tag_key, tag_value) = match tag.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (tag.clone(), None),
        };
        let mut records: Vec<CompanyRecord> = self
            .companies
            .companies()
            .await?
            .into_iter()
            .filter(|r| needle.is_empty() || r.company.name.as_str().to_lowercase().contains(&needle))
            .filter(|r| {
                tag_key.is_empty()
                    || r.company
                        .tags
                        .as_map()
                        .get(&tag_key)
                        .is_some_and(|v| tag_value.as_ref().is_none_or(|want| v == want))
            })
            .collect();
        // Newest first.
        records.sort_by(|a, b| b.company.created.cmp(&a.company.created).then(a.company.id.cmp(&b.company.id)));
        let total = records.len();
        let pages = total.div_ceil(COMPANIES_PER_PAGE).max(1);
        let page = query.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).clamp(1, pages);
        let link = |page: usize| {
            let mut params = url::form_urlencoded::Serializer::new(String::new());
            if !q.is_empty() {
                params.append_pair("q", &q);
            }
            if !tag.is_empty() {
                params.append_pair("tag", &tag);
            }
            params.append_pair("page", &page.to_string());
            format!("{}/companies?{}", ctx.layout.root, params.finish())
        };
        let rows = records
            .iter()
            .skip((page - 1) * COMPANIES_PER_PAGE)
            .take(COMPANIES_PER_PAGE)
            .map(|r| CompanyRow {
                id: r.company.id.to_string(),
                name: r.company.name.as_str().to_string(),
                tags: tags_text(&r.company.tags),
                pills: r.connections.iter().map(|c| c.status.as_str()).collect(),
                last_sync: when(r.company.last_sync),
                created: when(Some(r.company.created)),
            })
            .collect();
        let page_view = CompaniesPage {
            l: &ctx.layout,
            q: q.clone(),
            tag: tag.clone(),
            rows,
            total,
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
            form_id: "dialog",
        };
        Ok(render(StatusCode::OK, &page_view))
    }

    async fn create_company(&self, req: &Request, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let form = form_fields(req);
        let name = form.get("name").map(|n| n.trim()).unwrap_or_default();
        let description = form.get("description").map(|d| d.trim()).filter(|d| !d.is_empty());
        let fail = |error: String| {
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &CompanyNew { l: &ctx.layout, created: None, error: Some(error), form_id: "page" },
            )
        };
        let name = match CompanyName::parse(name) {
            Ok(name) => name,
            Err(e) => return Ok(fail(e)),
        };
        if description.is_some_and(|d| d.chars().count() > crate::domain::company::MAX_DESCRIPTION_CHARS) {
            return Ok(fail("The description is too long (at most 2,000 characters).".into()));
        }
        let draft = CompanyDraft { name, description: description.map(str::to_string), tags: None::<Tags> };
        let company = self.companies.create_company(draft).await?;
        tracing::info!(by = %ctx.session.key_id, company_id = %company.id, "company created in the portal");
        let created = Created {
            id: company.id.to_string(),
            name: company.name.as_str().to_string(),
            link_url: ctx.urls.company_link(&company),
        };
        Ok(render(StatusCode::OK, &CompanyNew { l: &ctx.layout, created: Some(created), error: None, form_id: "page" }))
    }

    async fn company_page(&self, id: Uuid, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let record = self.companies.company(id).await?;
        let statuses = self.companies.data_statuses(id).await?;
        let mut datasets = self.companies.datasets(id).await?;
        datasets.sort_by(|a, b| b.requested.cmp(&a.requested).then(b.id.cmp(&a.id)));
        let several = record.connections.len() > 1;
        let linked: Vec<Uuid> =
            record.connections.iter().filter(|c| c.status == ConnectionStatus::Linked).map(|c| c.id).collect();
        let progress_of = |dataset: Uuid| datasets.iter().find(|d| d.id == dataset).map_or(0, |d| d.progress);
        let mut rows: Vec<StatusRow> = statuses
            .iter()
            .map(|s| StatusRow {
                slot: format!("{}-{}", s.connection_id.simple(), s.data_type.key()),
                key: s.data_type.key(),
                name: if several {
                    format!("{} ({})", label(s.data_type), &s.connection_id.simple().to_string()[..8])
                } else {
                    label(s.data_type).to_string()
                },
                connection: s.connection_id.to_string(),
                status: s.current_status.as_str(),
                progress: if s.current_status == PullStatus::Complete { 100 } else { progress_of(s.latest_sync_id) },
                last_success: when(s.last_successful_sync),
                refreshable: linked.contains(&s.connection_id) && s.data_type.supported(),
            })
            .collect();
        rows.sort_by_key(|r| {
            (r.connection.clone(), DataType::parse(r.key).map(|d| DataType::ALL.iter().position(|x| *x == d)))
        });
        let running = statuses.iter().any(|s| PullStatus::RUNNING.contains(&s.current_status));
        let history = datasets
            .iter()
            .take(HISTORY_ROWS)
            .map(|d| HistoryRow {
                name: label(d.data_type),
                status: d.status.as_str(),
                started: when(Some(d.requested)),
                duration: d.completed.map_or_else(
                    || "running".to_string(),
                    |c| {
                        let secs = (c - d.requested).num_seconds().max(0);
                        if secs < 120 { format!("{secs} s") } else { format!("{} min", secs / 60) }
                    },
                ),
                records: d.records.map_or_else(|| "—".to_string(), |n| n.to_string()),
                error: d.error_message.clone().unwrap_or_default(),
            })
            .collect();
        let connections = record
            .connections
            .iter()
            .map(|c| ConnectionRow {
                id: c.id.to_string(),
                status: c.status.as_str(),
                store: c.info.get("storeName").cloned().unwrap_or_else(|| "—".into()),
                last_sync: when(c.last_sync),
                linked: c.status == ConnectionStatus::Linked,
            })
            .collect();
        let page = CompanyPage {
            l: &ctx.layout,
            id: id.to_string(),
            name: record.company.name.as_str().to_string(),
            description: record.company.description.clone(),
            created: when(Some(record.company.created)),
            last_sync: when(record.company.last_sync),
            tags: tags_text(&record.company.tags),
            link_url: ctx.urls.company_link(&record.company),
            connections,
            has_linked: !linked.is_empty(),
            statuses: rows,
            running,
            history,
            history_more: datasets.len() > HISTORY_ROWS,
        };
        Ok(render(StatusCode::OK, &page))
    }

    /// The live progress the company page's script polls: each data type's status and progress.
    async fn status_json(&self, id: Uuid, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let statuses = self.companies.data_statuses(id).await?;
        let datasets = self.companies.datasets(id).await?;
        let items: Vec<Value> = statuses
            .iter()
            .map(|s| {
                let progress = match s.current_status {
                    PullStatus::Complete => 100,
                    _ => datasets.iter().find(|d| d.id == s.latest_sync_id).map_or(0, |d| d.progress),
                };
                json!({
                    "slot": format!("{}-{}", s.connection_id.simple(), s.data_type.key()),
                    "status": s.current_status.as_str(),
                    "progress": progress,
                })
            })
            .collect();
        let running = statuses.iter().any(|s| PullStatus::RUNNING.contains(&s.current_status));
        let mut response =
            crate::http::json(StatusCode::OK, &json!({"running": running, "items": items}), &ctx.info.correlation_id);
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    async fn refresh(&self, req: &Request, id: Uuid, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let form = form_fields(req);
        match form.get("data_type").filter(|d| !d.is_empty()) {
            None => self.companies.refresh_all(id).await?,
            Some(raw) => {
                let data_type = DataType::parse(raw).ok_or_else(|| ApiError::bad_request("Unknown data type"))?;
                let connection = form
                    .get("connection")
                    .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::bad_request("Unknown connection")))
                    .transpose()?;
                let record = self.companies.company(id).await?;
                self.companies.refresh_one(&record, data_type, connection).await?;
            }
        }
        tracing::info!(by = %ctx.session.key_id, company_id = %id, "refresh requested in the portal");
        Ok(redirect(&format!("{}/companies/{id}?done=refreshed", ctx.layout.root)))
    }

    async fn connection_page(&self, id: Uuid, connection: Uuid, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let record = self.companies.company(id).await?;
        let found = record
            .connections
            .iter()
            .find(|c| c.id == connection)
            .ok_or(CompaniesError::ConnectionNotFound(connection))?;
        let sales: Option<SalesByMonth> =
            self.records.aggregate(connection, SALES_AGGREGATE).await?.and_then(|v| serde_json::from_value(v).ok());
        let mut tables = Vec::new();
        for (data_type, columns) in [
            (
                DataType::Orders,
                &[
                    ("Order", "orderNumber"),
                    ("Created", "createdDate"),
                    ("Currency", "currency"),
                    ("Total", "totalAmount"),
                    ("Refunded", "totalRefund"),
                ][..],
            ),
            (
                DataType::Customers,
                &[("Customer", "id"), ("Name", "customerName"), ("Email", "emailAddress"), ("Created", "createdDate")]
                    [..],
            ),
            (
                DataType::Products,
                &[("Product", "id"), ("Name", "name"), ("Gift card", "isGiftCard"), ("Modified", "sourceModifiedDate")]
                    [..],
            ),
            (
                DataType::Payments,
                &[
                    ("Payment", "id"),
                    ("Status", "status"),
                    ("Amount", "amount"),
                    ("Currency", "currency"),
                    ("Created", "createdDate"),
                ][..],
            ),
        ] {
            let page = self.records.page(RecordSet::new(connection, data_type), 0, DATA_ROWS).await?;
            let (rows, total, note) = match page {
                None => (Vec::new(), 0, Some("Not synced yet.".to_string())),
                Some(page) if page.total == 0 => (Vec::new(), 0, Some("None in the store.".to_string())),
                Some(page) => (
                    page.records
                        .iter()
                        .map(|r| columns.iter().map(|(_, field)| cell(&r.record[*field])).collect())
                        .collect(),
                    page.total,
                    None,
                ),
            };
            tables.push(DataTable {
                key: data_type.key(),
                name: label(data_type),
                note,
                columns: columns.iter().map(|(name, _)| *name).collect(),
                rows,
                total,
            });
        }
        let page = ConnectionPage {
            l: &ctx.layout,
            company_id: id.to_string(),
            company_name: record.company.name.as_str().to_string(),
            store: found.info.get("storeName").cloned().unwrap_or_else(|| "Store".into()),
            chart: sales.as_ref().and_then(Chart::of),
            tables,
        };
        Ok(render(StatusCode::OK, &page))
    }

    async fn keys_page(
        &self,
        ctx: &Ctx<'_>,
        created: Option<NewKey>,
        error: Option<String>,
        status: StatusCode,
    ) -> Result<Response<Body>, PortalError> {
        let mut keys: Vec<KeyRow> = self
            .edge
            .keys
            .bootstrap_ids()
            .into_iter()
            .map(|id| KeyRow {
                id: id.to_string(),
                name: codat::platform::BOOTSTRAP_KEY_NAME.into(),
                created: "—".into(),
                bootstrap: true,
                current: id == ctx.session.key_id,
            })
            .collect();
        keys.extend(self.companies.api_keys().await?.into_iter().map(|k| KeyRow {
            id: k.id.to_string(),
            name: k.name.unwrap_or_else(|| "Unnamed".into()),
            created: when(Some(k.created)),
            bootstrap: false,
            current: k.id == ctx.session.key_id,
        }));
        Ok(render(status, &ApiKeysPage { l: &ctx.layout, keys, created, error }))
    }

    async fn create_key(&self, req: &Request, ctx: &Ctx<'_>) -> Result<Response<Body>, PortalError> {
        let form = form_fields(req);
        let name = match parse_key_name(form.get("name").map_or("", String::as_str)) {
            Ok(name) => name,
            Err(e) => return self.keys_page(ctx, None, Some(e), StatusCode::UNPROCESSABLE_ENTITY).await,
        };
        match self.companies.create_api_key(name, self.edge.keys.bootstrap_ids().len()).await {
            Ok(created) => {
                self.edge.keys.forget_cache();
                tracing::info!(by = %ctx.session.key_id, api_key_id = %created.stored.id, "API key created in the portal");
                let shown = NewKey { name: created.stored.name.clone(), key: created.key };
                self.keys_page(ctx, Some(shown), None, StatusCode::OK).await
            }
            Err(CompaniesError::TooManyKeys) => {
                let message =
                    "Maximum number of API keys reached. To create a new API key, delete an unused key and try again.";
                self.keys_page(ctx, None, Some(message.into()), StatusCode::CONFLICT).await
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A table cell of a JSON value.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "Yes".into()
            } else {
                "No".into()
            }
        }
        other => other.to_string(),
    }
}

fn tags_text(tags: &Tags) -> String {
    tags.as_map().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// An error of a portal page, shown as a page.
struct PortalError(ApiError);

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<CompaniesError> for PortalError {
    fn from(e: CompaniesError) -> Self {
        Self(e.into())
    }
}

impl From<crate::error::StoreError> for PortalError {
    fn from(e: crate::error::StoreError) -> Self {
        Self(e.into())
    }
}

#[async_trait::async_trait]
impl<S: LinkFunctionStore + Clone + 'static> crate::http::Handler for PortalApi<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        Self::handle(self, req).await
    }
}
