//! The HTTP side: `/stores/{hash}/...` with BigCommerce's auth, scopes, rate limits and the
//! injected faults; `/admin/...` for tests, loopback clients only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{Caller, Endpoint, Params, Reply, Version, serve, version_of};
use crate::faults::Faults;
use crate::ratelimit::Decision;
use crate::store::{Store, lock};
use crate::wire::{Body, State, raw, response};

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
            crate::admin::admin(state, req, &rest).await
        }
        ["stores", hash, rest @ ..] => {
            let version = version_of(rest);
            let Some(store) = state.stores.get(*hash) else {
                return reply(Reply::error(version, 404, "Store not found"));
            };
            let rest: Vec<&str> = rest.to_vec();
            api(state, store, req, &rest).await
        }
        _ => reply(Reply::error(Version::V3, 404, "Not Found")),
    }
}

fn reply(r: Reply) -> Response<Body> {
    response(r.status, r.body.as_ref())
}

/// The largest JSON body the hooks endpoints read.
const BODY_LIMIT: usize = 1024 * 1024;

/// Reads a JSON request body: 413 past [`BODY_LIMIT`], 400 if it is not JSON (v3 errors).
async fn read_body(body: Incoming) -> Result<Value, Reply> {
    let bytes = Limited::new(body, BODY_LIMIT)
        .collect()
        .await
        .map_err(|_| Reply::error(Version::V3, 413, "The request body is larger than 1 MiB"))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| Reply::error(Version::V3, 400, &format!("The request body is not valid JSON: {e}")))
}

async fn api(state: &State, store: &Store, req: Request<Incoming>, rest: &[&str]) -> Response<Body> {
    let _in_flight = store.counters.enter();
    let (parts, incoming) = req.into_parts();
    let req = &parts;
    let version = version_of(rest);
    let endpoint = Endpoint::parse(rest);
    let key = endpoint.as_ref().map_or_else(|| "unknown".to_string(), |e| e.metrics_key(&req.method));
    let token = req.headers.get("x-auth-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let record = |status: u16, spent: Duration| {
        let mut tally = lock(&store.tally);
        *tally.requests.entry(key.clone()).or_default() += 1;
        *tally.statuses.entry(status).or_default() += 1;
        tally.total += 1;
        tally.processing_micros += spent.as_micros() as u64;
    };
    let started = Instant::now();
    let Some(account) = store.account_of(token) else {
        record(401, started.elapsed());
        return reply(Reply::error(version, 401, "Authentication required: a valid X-Auth-Token header is missing"));
    };
    let scopes: Vec<crate::config::Scope> = account.scopes.iter().copied().collect();
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
            let body = match endpoint.as_ref() {
                Some(e) if e.takes_body(&req.method) => read_body(incoming).await.map(Some),
                _ => Ok(None),
            };
            let call = Call {
                state,
                store,
                req,
                rest,
                version,
                endpoint: endpoint.as_ref(),
                scopes: &scopes,
                client_id: &account.client_id,
                body: &body,
                faults: &faults,
            };
            let mut r = build(&call).await;
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

/// One authenticated API request within the rate limit, and what answering it needs.
struct Call<'a> {
    state: &'a State,
    store: &'a Store,
    req: &'a Parts,
    /// The path below `/stores/{hash}/`.
    rest: &'a [&'a str],
    version: Version,
    endpoint: Option<&'a Endpoint>,
    /// The scopes of the request's token.
    scopes: &'a [crate::config::Scope],
    /// The API account of the request's token.
    client_id: &'a str,
    /// The JSON body, for the endpoints that take one (or the error reading it).
    body: &'a Result<Option<Value>, Reply>,
    faults: &'a Faults,
}

/// Answers `call` after any injected delay (latency, jitter, slow responses).
async fn build(call: &Call<'_>) -> Response<Body> {
    let Call { store, rest, faults, .. } = *call;
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
    let mut r = respond(call, applies, &fault);
    if delay > 0 {
        r.headers_mut().insert("x-sandbox-delay-ms", HeaderValue::from(delay));
    }
    r
}

/// The answer to `call`, with the faults that `applies` to its path drawn by `fault`.
fn respond(call: &Call<'_>, applies: bool, fault: &dyn Fn(f64) -> bool) -> Response<Body> {
    let Call { state, store, req, version, endpoint, scopes, client_id, body, faults, .. } = *call;
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
    if !endpoint.allows(&req.method) {
        return reply(Reply::error(version, 405, "Method Not Allowed"));
    }
    let needed = endpoint.scopes();
    if !needed.is_empty() && !needed.iter().any(|s| scopes.contains(s)) {
        return reply(Reply::missing_scope());
    }
    if applies && matches!(endpoint, Endpoint::Transactions(_)) && fault(faults.transactions_503_rate) {
        injected();
        return reply(Reply::error(Version::V3, 503, "Service Unavailable"));
    }
    let params = Params::parse(req.uri.query());
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
    let mut answer = if endpoint.is_hooks() {
        let body = match body {
            Ok(body) => body.as_ref(),
            Err(refused) => return reply(refused.clone()),
        };
        let caller = Caller { store, client_id, loopback: state.loopback_hooks };
        crate::api::hooks(&caller, endpoint, &req.method, &params, body)
    } else {
        let base = format!("{}/stores/{}", state.root, store.hash());
        serve(&store.data(), endpoint, &params, &base, page_override)
    };
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
