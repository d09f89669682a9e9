//! API Gateway HTTP API (payload 2.0) events: built from a local HTTP request the way API
//! Gateway builds them, and turned into `lambda_http` requests the way the Lambda runtime does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// A request as the local runner or a test sees it.
pub struct HttpRequest<'a> {
    /// Method, e.g. `GET`.
    pub method: &'a str,
    /// Path without query.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: &'a str,
    /// Header name/value pairs.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: &'a [u8],
    /// Client address.
    pub source_ip: &'a str,
}

/// The API Gateway v2 event for a request.
pub fn api_gateway_event(req: &HttpRequest<'_>) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &req.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_string())));
            continue;
        }
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(existing) => format!("{existing},{value}"),
            None => value.clone(),
        };
        headers.insert(name, Value::String(joined));
    }
    let host = headers.get("host").and_then(Value::as_str).unwrap_or("127.0.0.1").to_string();
    let user_agent = headers.get("user-agent").and_then(Value::as_str).unwrap_or_default().to_string();
    let now = chrono_like_now();
    let (body, is_base64) = match std::str::from_utf8(req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => (Value::String(STANDARD.encode(req.body)), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.0,
            "timeEpoch": now.1,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    event
}

fn chrono_like_now() -> (String, i64) {
    let now = chrono::Utc::now();
    (now.format("%d/%b/%Y:%H:%M:%S %z").to_string(), now.timestamp_millis())
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not an API Gateway event: {0}")]
pub struct EventError(String);

/// The `lambda_http` request the Lambda runtime would hand the handler for `event`.
pub fn to_lambda_request(event: &Value) -> Result<lambda_http::Request, EventError> {
    lambda_http::request::from_str(&event.to_string()).map_err(|e| EventError(e.to_string()))
}

/// The names (without `.json`) of the event files of `function` (`events/<function>/`), sorted:
/// what a function's replay test must cover, one case each.
pub fn event_names(function: &str) -> Vec<String> {
    let dir = crate::repo_root().join("events").join(function);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
}
