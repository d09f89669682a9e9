//! The HTTP side: `/stores/{hash}/...` with BigCommerce's auth, scopes, rate limits and the
//! injected faults; `/admin/...` for tests, loopback clients only.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{Endpoint, Params, Reply, Version, serve, version_of};
use crate::faults::{Faults, Mutations};
use crate::ratelimit::Decision;
use crate::store::{Store, lock};

/// Shared by every connection.
pub struct State {
    /// Stores by hash.
    pub stores: BTreeMap<String, Arc<Store>>,
    /// `http://127.0.0.1:PORT`: the BigCommerce API base URL clients are configured with.
    pub root: String,
}

/// A response body: whole, or cut short of the length it declares (the truncation fault).
pub enum Body {
    /// The whole body.
    Whole(Full<Bytes>),
    /// `data`, then the end, although `declared` bytes were promised: the client sees the
    /// connection end early, as with a real truncated response.
    Truncated {
        /// What is sent.
        data: Option<Bytes>,
        /// The length declared.
        declared: u64,
    },
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Whole(Full::from(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Whole(full) => std::pin::Pin::new(full).poll_frame(cx).map_err(|never| match never {}),
            Body::Truncated { data, .. } => {
                std::task::Poll::Ready(data.take().map(|d| Ok(hyper::body::Frame::data(d))))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Whole(full) => full.size_hint(),
            Body::Truncated { declared, .. } => hyper::body::SizeHint::with_exact(*declared),
        }
    }
}

fn response(status: u16, body: Option<&Value>) -> Response<Body> {
    raw(status, body.map(|b| serde_json::to_vec(b).unwrap_or_default()))
}

fn raw(status: u16, bytes: Option<Vec<u8>>) -> Response<Body> {
    let json = bytes.is_some();
    let mut r = Response::new(Body::from(bytes.unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if json {
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r
}

fn rate_headers(r: &mut Response<Body>, quota: u32, window: Duration, left: u32, reset: Duration) {
    let h = r.headers_mut();
    let mut put = |name: &'static str, value: u128| {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            h.insert(name, v);
        }
    };
    put("x-rate-limit-time-window-ms", window.as_millis());
    put("x-rate-limit-time-reset-ms", reset.as_millis());
    put("x-rate-limit-requests-quota", u128::from(quota));
    put("x-rate-limit-requests-left", u128::from(left));
}

/// Serves `state` on `listener` until `stop` turns true.
pub async fn run(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req, peer).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(state: &State, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["admin", rest @ ..] => {
            if !peer.ip().is_loopback() {
                return response(403, Some(&json!({"error": "the admin API answers loopback clients only"})));
            }
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            admin(state, req, &rest).await
        }
        ["stores", hash, rest @ ..] => {
            let version = version_of(rest);
            let Some(store) = state.stores.get(*hash) else {
                return reply(Reply::error(version, 404, "Store not found"));
            };
            let rest: Vec<&str> = rest.to_vec();
            api(state, store, &req, &rest).await
        }
        _ => reply(Reply::error(Version::V3, 404, "Not Found")),
    }
}

fn reply(r: Reply) -> Response<Body> {
    response(r.status, r.body.as_ref())
}

async fn api(state: &State, store: &Store, req: &Request<Incoming>, rest: &[&str]) -> Response<Body> {
    let _in_flight = store.counters.enter();
    let version = version_of(rest);
    let endpoint = Endpoint::parse(rest);
    let key = endpoint.as_ref().map_or("unknown", Endpoint::key).to_string();
    let token = req.headers().get("x-auth-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let record = |status: u16, spent: Duration| {
        let mut tally = lock(&store.tally);
        *tally.requests.entry(key.clone()).or_default() += 1;
        *tally.statuses.entry(status).or_default() += 1;
        tally.total += 1;
        tally.processing_micros += spent.as_micros() as u64;
    };
    let started = Instant::now();
    let Some(scopes) = store.authenticate(token) else {
        record(401, started.elapsed());
        return reply(Reply::error(version, 401, "Authentication required: a valid X-Auth-Token header is missing"));
    };
    let faults = store.faults();
    let decision = lock(&store.limiter).check(Instant::now());
    let (quota, window) = {
        let limiter = lock(&store.limiter);
        (limiter.quota(), limiter.window())
    };
    let mut out = match decision {
        Decision::Limited { reset } => {
            store.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
            record(429, started.elapsed());
            let mut r = reply(Reply::error(Version::V3, 429, "Too Many Requests"));
            if !faults.no_headers_429 {
                rate_headers(&mut r, quota, window, 0, reset);
                if let Some(secs) = faults.retry_after_secs {
                    r.headers_mut().insert("x-retry-after", HeaderValue::from(secs));
                }
            }
            return r;
        }
        Decision::Allow { left, reset } => {
            let mut r = build(state, store, req, rest, version, endpoint.as_ref(), &scopes, &faults).await;
            rate_headers(&mut r, quota, window, left, reset);
            r
        }
    };
    let spent = started.elapsed().saturating_sub(Duration::from_millis(injected_delay(&out)));
    out.headers_mut().remove("x-sandbox-delay-ms");
    record(out.status().as_u16(), spent);
    out
}

fn injected_delay(r: &Response<Body>) -> u64 {
    r.headers().get("x-sandbox-delay-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
async fn build(
    state: &State,
    store: &Store,
    req: &Request<Incoming>,
    rest: &[&str],
    version: Version,
    endpoint: Option<&Endpoint>,
    scopes: &[crate::config::Scope],
    faults: &Faults,
) -> Response<Body> {
    let fault = |rate: f64| rate > 0.0 && store.draw() < rate;
    let applies = faults.applies_to(&rest.join("/"));
    let mut delay = 0u64;
    if faults.latency_ms > 0 || faults.jitter_ms > 0 {
        let jitter = if faults.jitter_ms > 0 { rand::rng().random_range(0..=faults.jitter_ms) } else { 0 };
        delay += faults.latency_ms + jitter;
    }
    if applies && fault(faults.slow_rate) {
        store.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
        delay += faults.slow_ms;
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut r = respond(state, store, req, version, endpoint, scopes, faults, applies, &fault);
    if delay > 0 {
        r.headers_mut().insert("x-sandbox-delay-ms", HeaderValue::from(delay));
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn respond(
    state: &State,
    store: &Store,
    req: &Request<Incoming>,
    version: Version,
    endpoint: Option<&Endpoint>,
    scopes: &[crate::config::Scope],
    faults: &Faults,
    applies: bool,
    fault: &dyn Fn(f64) -> bool,
) -> Response<Body> {
    let injected = || {
        store.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
    };
    if applies && fault(faults.error_rate) {
        injected();
        let status = [500, 502, 503][(store.draw() * 3.0) as usize % 3];
        return reply(Reply::error(version, status, "Internal Server Error (injected)"));
    }
    let Some(endpoint) = endpoint else {
        return reply(Reply::error(version, 404, "The requested resource was not found."));
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(Reply::error(version, 405, "Method Not Allowed"));
    }
    if !endpoint.scopes().iter().any(|s| scopes.contains(s)) {
        return reply(Reply::missing_scope());
    }
    if applies && matches!(endpoint, Endpoint::Transactions(_)) && fault(faults.transactions_503_rate) {
        injected();
        return reply(Reply::error(Version::V3, 503, "Service Unavailable"));
    }
    let params = Params::parse(req.uri().query());
    let mut page_override = None;
    if endpoint.is_list() {
        if applies && !faults.mutate_per_page.is_empty() {
            store.mutate(faults.mutate_per_page);
        }
        if applies
            && faults.repeat_page
            && params.get("page").and_then(|p| p.parse::<usize>().ok()).is_some_and(|p| p > 1)
        {
            injected();
            page_override = Some(1);
        }
    }
    let base = format!("{}/stores/{}", state.root, store.hash());
    let mut answer = serve(&store.data(), endpoint, &params, &base, page_override);
    let later_page = params.get("page").and_then(|p| p.parse::<usize>().ok()).is_some_and(|p| p > 1)
        || params.get("after").is_some()
        || params.get("before").is_some();
    if applies && faults.short_listing && endpoint.is_list() && later_page && answer.status == 200 {
        injected();
        answer = match (version, answer.body) {
            (Version::V3, Some(mut body)) if body["data"].is_array() => {
                body["data"] = json!([]);
                Reply { status: 200, body: Some(body) }
            }
            _ => Reply::no_content(),
        };
    }
    let bytes = answer.body.as_ref().map(|b| serde_json::to_vec(b).unwrap_or_default());
    match bytes {
        Some(bytes) if applies && answer.status == 200 && fault(faults.malformed_rate) => {
            injected();
            let broken = [&bytes[..bytes.len() / 2], b"\"}{,,".as_slice()].concat();
            raw(200, Some(broken))
        }
        Some(bytes) if applies && answer.status == 200 && fault(faults.truncate_rate) => {
            injected();
            // Declare the full length, send half: the client sees the connection end early.
            let declared = bytes.len();
            let mut r = raw(200, None);
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *r.body_mut() =
                Body::Truncated { data: Some(Bytes::from(bytes[..declared / 2].to_vec())), declared: declared as u64 };
            r
        }
        bytes => raw(answer.status, bytes),
    }
}

async fn read_json(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let bytes = Limited::new(req.into_body(), 1024 * 1024)
        .collect()
        .await
        .map_err(|_| response(413, Some(&json!({"error": "body too large"}))))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| response(400, Some(&json!({"error": format!("invalid JSON: {e}")}))))
}

async fn admin(state: &State, req: Request<Incoming>, rest: &[String]) -> Response<Body> {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let method = req.method().clone();
    if rest.as_slice() == ["stores"] && method == Method::GET {
        let stores: Vec<Value> = state.stores.values().map(|s| describe(state, s)).collect();
        return response(200, Some(&json!(stores)));
    }
    let ["stores", hash, tail @ ..] = rest.as_slice() else {
        return response(404, Some(&json!({"error": "no such admin resource"})));
    };
    let Some(store) = state.stores.get(*hash) else {
        return response(404, Some(&json!({"error": format!("no store {hash}")})));
    };
    match (method, tail) {
        (Method::GET, []) => response(200, Some(&describe(state, store))),
        (Method::GET, ["faults"]) => response(200, Some(&json!(store.faults()))),
        (Method::PUT, ["faults"]) => match read_json(req).await.map(serde_json::from_value::<Faults>) {
            Ok(Ok(faults)) => match store.set_faults(faults) {
                Ok(()) => response(200, Some(&json!(store.faults()))),
                Err(e) => response(400, Some(&json!({"error": e}))),
            },
            Ok(Err(e)) => response(400, Some(&json!({"error": e.to_string()}))),
            Err(r) => r,
        },
        (Method::PUT, ["rate-limit"]) => match read_json(req).await {
            Ok(body) => match (body["quota"].as_u64(), body["window_ms"].as_u64()) {
                (Some(q), Some(w)) if q > 0 && w > 0 => {
                    store.set_rate_limit(u32::try_from(q).unwrap_or(u32::MAX), Duration::from_millis(w));
                    response(200, Some(&json!({"quota": q, "window_ms": w})))
                }
                _ => response(400, Some(&json!({"error": "quota and window_ms must be positive integers"}))),
            },
            Err(r) => r,
        },
        (Method::POST, ["exhaust"]) => {
            store.exhaust();
            response(204, None)
        }
        (Method::POST, ["mutate"]) => match read_json(req).await.map(serde_json::from_value::<Mutations>) {
            Ok(Ok(changes)) => {
                let touched = store.mutate(changes);
                let body = json!({"touched": touched.orders, "deleted_products": touched.products,
                                  "deleted_customers": touched.customers});
                response(200, Some(&body))
            }
            Ok(Err(e)) => response(400, Some(&json!({"error": e.to_string()}))),
            Err(r) => r,
        },
        (Method::PATCH, ["accounts", client_id]) => match read_json(req).await {
            Ok(body) => {
                let mut found = true;
                if let Some(revoked) = body["revoked"].as_bool() {
                    found &= store.set_revoked(client_id, revoked);
                }
                if let Some(scopes) = body.get("scopes") {
                    match serde_json::from_value::<Vec<crate::config::Scope>>(scopes.clone()) {
                        Ok(scopes) => found &= store.set_scopes(client_id, scopes),
                        Err(e) => return response(400, Some(&json!({"error": e.to_string()}))),
                    }
                }
                if found {
                    response(200, Some(&describe(state, store)))
                } else {
                    response(404, Some(&json!({"error": "no such account"})))
                }
            }
            Err(r) => r,
        },
        (Method::GET, ["accounts", client_id, "credentials.txt"]) => {
            let config = store.config();
            match config.accounts.iter().find(|a| a.client_id == *client_id) {
                Some(account) => {
                    let mut r = Response::new(Body::from(config.credentials_file(account).into_bytes()));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                    r
                }
                None => response(404, Some(&json!({"error": "no such account"}))),
            }
        }
        (Method::GET, ["metrics"]) => response(200, Some(&json!(store.metrics()))),
        (Method::DELETE, ["metrics"]) => {
            store.reset_metrics();
            response(204, None)
        }
        (Method::GET, ["export"]) => {
            let mut out = Vec::new();
            let base = format!("{}/stores/{}", state.root, store.hash());
            match crate::api::export(&store.data(), &base, &mut out) {
                Ok(_) => {
                    let mut r = Response::new(Body::from(out));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
                    r
                }
                Err(e) => response(500, Some(&json!({"error": e.to_string()}))),
            }
        }
        _ => response(404, Some(&json!({"error": "no such admin resource"}))),
    }
}

/// A store's public description for the admin API: hash, API base, accounts.
pub fn describe(state: &State, store: &Store) -> Value {
    let config = store.config();
    let limiter = lock(&store.limiter);
    json!({
        "hash": config.hash,
        "name": config.name,
        "api_base": state.root,
        "api_path": config.api_path(),
        "sizes": config.sizes,
        "quota": limiter.quota(),
        "window_ms": limiter.window().as_millis() as u64,
        "accounts": config.accounts,
    })
}
