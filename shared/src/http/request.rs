//! Reading requests as API Gateway delivers them: path, query, correlation id, JSON bodies.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

use super::error::ApiError;
use crate::codat::paging::QueryParams;

/// Largest request body accepted (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler needs to know about a request besides its body.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Id for logs and error bodies (API Gateway's request id when there is one).
    pub correlation_id: String,
    /// Path segments without the leading slash, percent-decoded.
    pub segments: Vec<String>,
    /// The raw path, for `_links`.
    pub path: String,
    /// The custom or execute-api domain API Gateway received the request on.
    pub domain: Option<String>,
    /// The client's address, as API Gateway saw it.
    pub source_ip: Option<String>,
}

impl RequestInfo {
    /// Extracts the request's routing facts.
    pub fn new(req: &Request) -> Self {
        let (request_id, domain, source_ip) = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                (ctx.request_id.clone(), ctx.domain_name.clone(), ctx.http.source_ip.clone())
            }
            _ => (None, None, None),
        };
        let correlation_id =
            request_id.filter(|id| !id.is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let path = req.raw_http_path().to_string();
        let path = if path.is_empty() { req.uri().path().to_string() } else { path };
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        Self { correlation_id, segments, path, domain, source_ip }
    }

    /// The decoded query string.
    pub fn query(req: &Request) -> Result<QueryParams, ApiError> {
        Ok(QueryParams::parse(req.uri().query())?)
    }
}

/// The raw body bytes of a request.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The URL-encoded form fields of a request body (first value of each name).
pub fn form_fields(req: &Request) -> std::collections::HashMap<String, String> {
    let mut fields = std::collections::HashMap::new();
    for (key, value) in url::form_urlencoded::parse(body_bytes(req)) {
        fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    fields
}

/// Whether a browser form post comes from `expected` (an origin): `Origin` is absent, equal, or
/// `null` (sent under `Referrer-Policy: no-referrer`), and `Sec-Fetch-Site` is absent,
/// `same-origin` or `none`. The form token decides the rest.
pub fn same_origin_form(req: &Request, expected: &str) -> bool {
    let headers = req.headers();
    let origin_ok =
        headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|o| o == expected || o == "null");
    let site_ok =
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_none_or(|s| s == "same-origin" || s == "none");
    origin_ok && site_ok
}

/// Whether the request's body is declared URL-encoded.
pub fn is_url_encoded_form(req: &Request) -> bool {
    req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Whether a `Content-Type` value is JSON (`application/json` or `application/*+json`).
pub fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// The request body as JSON: 413 over [`MAX_BODY_BYTES`], 415 unless `Content-Type` is JSON,
/// 400 when missing or malformed.
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if bytes.is_empty() && content_type.is_none() {
        return Err(ApiError::bad_request("A JSON request body is required"));
    }
    if !content_type.is_some_and(is_json) {
        return Err(ApiError::unsupported_media_type());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON request body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().uri("/companies");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(Body::Text(body.to_string())).expect("request")
    }

    #[test]
    fn bodies_are_checked_in_order_size_type_syntax() {
        let big = format!("{{\"name\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(json_body(&request(Some("text/plain"), &big)).unwrap_err().status, 413);
        assert_eq!(json_body(&request(Some("text/plain"), "{}")).unwrap_err().status, 415);
        assert_eq!(json_body(&request(None, "{}")).unwrap_err().status, 415);
        assert_eq!(json_body(&request(None, "")).unwrap_err().status, 400);
        assert_eq!(json_body(&request(Some("application/json"), "  ")).unwrap_err().status, 400);
        assert_eq!(json_body(&request(Some("application/json"), "{\"a\":")).unwrap_err().status, 400);
        let deep = "[".repeat(10_000);
        assert_eq!(json_body(&request(Some("application/json"), &deep)).unwrap_err().status, 400);
        assert!(json_body(&request(Some("application/json; charset=utf-8"), "{\"a\":1}")).is_ok());
        assert!(json_body(&request(Some("application/merge-patch+json"), "{}")).is_ok());
    }

    #[test]
    fn segments_are_decoded() {
        let req = http::Request::builder().uri("/companies/a%20b/connections/").body(Body::Empty).expect("request");
        assert_eq!(RequestInfo::new(&req).segments, ["companies", "a b", "connections"]);
    }
}
