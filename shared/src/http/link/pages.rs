//! The Link pages: server-rendered HTML (askama, auto-escaped), working without JavaScript.

use askama::Template;
use chrono::Utc;
use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

use super::{FORM_TOKEN_SECS, secure};
use crate::bigcommerce::Scope;
use crate::bigcommerce::credentials::API_PATH_FORM;
use crate::codat::PublicUrls;
use crate::domain::{Connection, LinkToken};
use crate::http::edge::Edge;
use crate::http::error::ApiError;
use crate::http::request::{RequestInfo, body_bytes, is_url_encoded_form, same_origin_form};
use crate::link::{FIRST_SYNC_HEADER, FirstSyncs, LinkSettings, Submission};
use crate::ports::CompanyRecord;

const CSS: &str = include_str!("../../../assets/link.css");
const JS: &str = include_str!("../../../assets/link.js");
const LOGO: &[u8] = include_bytes!("../../../assets/bigcommerce-logo.svg");

/// Static assets of the pages.
pub(super) fn asset(name: &str) -> Result<Response<Body>, ApiError> {
    let (content_type, body): (&str, Body) = match name {
        "link.css" => ("text/css; charset=utf-8", Body::Text(CSS.into())),
        "link.js" => ("text/javascript; charset=utf-8", Body::Text(JS.into())),
        "bigcommerce-logo.svg" => ("image/svg+xml", Body::Binary(LOGO.to_vec())),
        _ => return Err(ApiError::not_found("No such asset")),
    };
    let mut response = secure(Response::new(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(response)
}

fn html(status: StatusCode, text: String) -> Response<Body> {
    let mut response = secure(Response::new(Body::Text(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

fn render(status: StatusCode, template: &impl Template) -> Response<Body> {
    match template.render() {
        Ok(text) => html(status, text),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".into(),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "link/choose.html")]
struct Choose<'a> {
    company_name: &'a str,
    assets: &'a str,
    step: u8,
    enabled: bool,
    action: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "link/permissions.html")]
struct Permissions<'a> {
    company_name: &'a str,
    assets: &'a str,
    step: u8,
    scopes: Vec<(&'static str, &'static str)>,
    next: &'a str,
    back: &'a str,
}

#[derive(Template)]
#[template(path = "link/credentials.html")]
struct Credentials<'a> {
    company_name: &'a str,
    assets: &'a str,
    step: u8,
    action: &'a str,
    back: &'a str,
    csrf: &'a str,
    has_errors: bool,
    alert: Option<String>,
    errors: Vec<(&'static str, String)>,
    client_id: &'a str,
    api_path: &'a str,
    api_path_form: &'a str,
    client_id_error: Option<String>,
    client_secret_error: Option<String>,
    access_token_error: Option<String>,
    api_path_error: Option<String>,
}

#[derive(Template)]
#[template(path = "link/connected.html")]
struct Connected<'a> {
    company_name: &'a str,
    assets: &'a str,
    step: u8,
    store_name: &'a str,
    already: bool,
    /// `queued`, `waiting`, `not-queued` or `none` (see [`FirstSyncs::header_value`]).
    first_syncs: &'a str,
    finish_url: Option<String>,
}

#[derive(Template)]
#[template(path = "link/message.html")]
struct Message<'a> {
    company_name: &'a str,
    assets: &'a str,
    step: u8,
    title: &'a str,
    message: &'a str,
}

/// What every page of a request needs.
pub(super) struct Pages<'a> {
    pub edge: &'a Edge,
    pub info: &'a RequestInfo,
    pub settings: &'a LinkSettings,
}

impl Pages<'_> {
    fn assets(&self) -> String {
        self.edge.urls(self.info).map(|u| format!("{}link/assets", u.base())).unwrap_or_else(|_| "/link/assets".into())
    }

    /// The page for an unknown or malformed Link URL.
    pub fn invalid_link(&self) -> Response<Body> {
        let assets = self.assets();
        render(
            StatusCode::NOT_FOUND,
            &Message {
                company_name: "your business",
                assets: &assets,
                step: 0,
                title: "This link is not valid",
                message: "This connection link is not valid or has expired. Ask the service that sent it for a new link.",
            },
        )
    }
}

/// The pages of one company's Link URL.
pub(super) struct LinkPage<'a> {
    pages: &'a Pages<'a>,
    urls: PublicUrls,
    company_name: String,
    root: String,
    assets: String,
    /// SHA-256 of the Link token: binds form tokens and counts attempts.
    pub token_hash: String,
}

impl<'a> LinkPage<'a> {
    pub fn new(pages: &'a Pages<'a>, record: &CompanyRecord, token: &LinkToken) -> Result<Self, ApiError> {
        let urls = pages.edge.urls(pages.info)?;
        let root = urls.company_link(&record.company);
        Ok(Self {
            assets: pages.assets(),
            urls,
            company_name: record.company.name.as_str().to_string(),
            root,
            pages,
            token_hash: token.hash(),
        })
    }

    /// The stack's public base URL (where the store's hooks call back).
    pub fn public_base(&self) -> &url::Url {
        self.urls.base()
    }

    /// The client's address, as API Gateway saw it (counts submissions per address).
    pub fn source_ip(&self) -> Option<&str> {
        self.pages.info.source_ip.as_deref()
    }

    fn csrf(&self) -> String {
        self.pages
            .edge
            .link_keys()
            .map(|keys| keys.form_token(&self.token_hash, Utc::now().timestamp()))
            .unwrap_or_default()
    }

    fn message(&self, status: StatusCode, title: &str, message: &str) -> Response<Body> {
        let page = Message { company_name: &self.company_name, assets: &self.assets, step: 0, title, message };
        render(status, &page)
    }

    pub fn not_found(&self) -> Response<Body> {
        self.message(
            StatusCode::NOT_FOUND,
            "Page not found",
            "This page does not exist. Start again from the link you were sent.",
        )
    }

    pub fn too_many_attempts(&self, retry_after: i64) -> Response<Body> {
        let wait = match (retry_after.max(1) + 59) / 60 {
            1 => "a minute".to_string(),
            minutes => format!("{minutes} minutes"),
        };
        let text = format!("Credentials were submitted too many times. Wait {wait}, then try again.");
        let mut response = self.message(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", &text);
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        response
    }

    /// A 303 to a page below the Link URL.
    pub fn redirect(&self, relative: &str) -> Response<Body> {
        let mut response = secure(Response::new(Body::Empty));
        *response.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(location) = HeaderValue::from_str(&format!("{}/{relative}", self.root)) {
            response.headers_mut().insert(http::header::LOCATION, location);
        }
        response
    }

    pub fn choose(&self, enabled: bool) -> Response<Body> {
        let action = format!("{}/connections", self.root);
        let csrf = self.csrf();
        let page = Choose {
            company_name: &self.company_name,
            assets: &self.assets,
            step: 1,
            enabled,
            action: &action,
            csrf: &csrf,
        };
        render(StatusCode::OK, &page)
    }

    pub fn permissions(&self, connection: &Connection) -> Response<Body> {
        let next = format!("{}/connections/{}/credentials", self.root, connection.id);
        let page = Permissions {
            company_name: &self.company_name,
            assets: &self.assets,
            step: 2,
            scopes: Scope::ALL.iter().map(|s| (s.ui_name(), s.param())).collect(),
            next: &next,
            back: &self.root,
        };
        render(StatusCode::OK, &page)
    }

    /// The credentials form, with the merchant's non-secret values kept and problems shown.
    pub fn credentials(
        &self,
        connection: &Connection,
        submission: &Submission,
        problems: &[(&'static str, String)],
        alert: Option<String>,
        status: StatusCode,
    ) -> Response<Body> {
        let action = format!("{}/connections/{}/credentials", self.root, connection.id);
        let back = format!("{}/connections/{}", self.root, connection.id);
        let csrf = self.csrf();
        let error = |field: &str| problems.iter().find(|(f, _)| *f == field).map(|(_, m)| m.clone());
        let anchor = |field: &str| match field {
            "clientId" => "client_id",
            "clientSecret" => "client_secret",
            "accessToken" => "access_token",
            _ => "api_path",
        };
        let page = Credentials {
            company_name: &self.company_name,
            assets: &self.assets,
            step: 3,
            action: &action,
            back: &back,
            csrf: &csrf,
            has_errors: !problems.is_empty() || alert.is_some(),
            alert,
            errors: problems.iter().map(|(f, m)| (anchor(f), m.clone())).collect(),
            client_id: submission.client_id.trim(),
            api_path: submission.api_path.trim(),
            api_path_form: API_PATH_FORM,
            client_id_error: error("clientId"),
            client_secret_error: error("clientSecret"),
            access_token_error: error("accessToken"),
            api_path_error: error("apiPath"),
        };
        render(status, &page)
    }

    /// The Connected page: `first_syncs` is how the first syncs of a link just made fared
    /// (`None`: the store was connected before).
    pub fn connected(&self, connection: &Connection, first_syncs: Option<FirstSyncs>) -> Response<Body> {
        let store_name = connection.info.get("storeName").cloned().unwrap_or_else(|| "your store".into());
        let page = Connected {
            company_name: &self.company_name,
            assets: &self.assets,
            step: 4,
            store_name: &store_name,
            already: first_syncs.is_none(),
            first_syncs: first_syncs.map_or("", FirstSyncs::header_value),
            finish_url: self.pages.settings.finish_url.as_ref().map(|u| u.to_string()),
        };
        let mut response = render(StatusCode::OK, &page);
        if let Some(first_syncs) = first_syncs {
            response
                .headers_mut()
                .insert(FIRST_SYNC_HEADER, http::HeaderValue::from_static(first_syncs.header_value()));
        }
        response
    }

    /// Refuses cross-site or stale form posts (403), bodies over `limit` (413) and bodies
    /// that are not URL-encoded forms (415). `None` when the post may proceed.
    pub fn check_form(&self, req: &Request, limit: Option<usize>) -> Option<Response<Body>> {
        let expected = self.urls.base().origin().ascii_serialization();
        if !same_origin_form(req, &expected) {
            return Some(self.message(
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form must be sent from the connection page itself.",
            ));
        }
        let bytes = body_bytes(req);
        if bytes.len() > limit.unwrap_or(MAX_SMALL_FORM) {
            return Some(self.message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much data",
                "The form sent was too large. Paste only the four values or the credentials file.",
            ));
        }
        let form_type = is_url_encoded_form(req);
        if !form_type {
            return Some(self.message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported form",
                "Send the form from the connection page.",
            ));
        }
        let csrf = form_fields(req).get("csrf").cloned().unwrap_or_default();
        let fresh =
            self.pages.edge.link_keys().is_ok_and(|keys| {
                keys.check_form_token(&self.token_hash, &csrf, Utc::now().timestamp(), FORM_TOKEN_SECS)
            });
        if !fresh {
            return Some(self.message(
                StatusCode::FORBIDDEN,
                "This page has expired",
                "For your security this page expired. Go back, reload the page and try again.",
            ));
        }
        None
    }
}

const MAX_SMALL_FORM: usize = 4096;

/// The URL-encoded form fields (first value of each name).
pub(super) use crate::http::request::form_fields;
