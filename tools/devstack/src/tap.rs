//! A tap on a function's outgoing calls: an HTTP proxy on loopback that forwards each request
//! unchanged (the `Host` header included, so AWS signatures still verify) to its upstream, and
//! asks a [`TapHook`] first, so a test can count the calls and kill the function before a call
//! leaves or after it landed but before its answer arrives.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One call through the tap.
#[derive(Debug, Clone)]
pub struct TapCall {
    /// Which tap (e.g. `aws`, `bigcommerce`).
    pub tap: &'static str,
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The AWS JSON protocol operation (`X-Amz-Target`), e.g. `DynamoDB_20120810.BatchWriteItem`.
    pub target: Option<String>,
    /// The request body.
    pub body: Bytes,
}

/// What the hook decides for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapAction {
    /// Forward it and pass the answer back.
    Forward,
    /// Run `then` instead of forwarding, and never answer.
    StopBefore,
    /// Forward it, then run `then` instead of answering: the call landed, its caller never
    /// learns so.
    StopAfter,
}

/// Decides each call ([`TapHook::decide`]) and what stopping means ([`TapHook::stop`]).
pub trait TapHook: Send + Sync {
    /// The action for `call`.
    fn decide(&self, call: &TapCall) -> TapAction;
    /// Called where a call is stopped (e.g. kills the function).
    fn stop(&self, call: &TapCall);
}

/// A running tap.
pub struct Tap {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"];

async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<hyper::Response<Full<Bytes>>, reqwest::Error> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = http.request(method, format!("{upstream}{path}")).body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = request.send().await?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await?;
    let mut response = hyper::Response::new(Full::new(bytes));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str())
            && let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                hyper::header::HeaderValue::from_bytes(value.as_bytes()),
            )
        {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

async fn serve(
    name: &'static str,
    http: reqwest::Client,
    upstream: Arc<String>,
    hook: Arc<dyn TapHook>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let call = TapCall {
        tap: name,
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        target: parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string),
        body: body.clone(),
    };
    let action = hook.decide(&call);
    if action == TapAction::StopBefore {
        hook.stop(&call);
        std::future::pending::<()>().await;
    }
    let response = forward(&http, &upstream, &parts, body).await;
    if action == TapAction::StopAfter {
        hook.stop(&call);
        std::future::pending::<()>().await;
    }
    response.unwrap_or_else(|e| {
        let mut failed = hyper::Response::new(Full::new(Bytes::from(e.to_string())));
        *failed.status_mut() = hyper::StatusCode::BAD_GATEWAY;
        failed
    })
}

impl Tap {
    /// Taps `upstream` (a base URL, e.g. `http://127.0.0.1:5000`) as `name`, asking `hook`.
    pub async fn start(name: &'static str, upstream: &str, hook: Arc<dyn TapHook>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        // Bodies pass through as they are (no decompression, no redirects followed).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_gzip()
            .build()
            .map_err(std::io::Error::other)?;
        let upstream = Arc::new(upstream.trim_end_matches('/').to_string());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (http, upstream, hook) = (http.clone(), upstream.clone(), hook.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (http, upstream, hook) = (http.clone(), upstream.clone(), hook.clone());
                        async move { Ok::<_, Infallible>(serve(name, http, upstream, hook, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { url, task })
    }

    /// The tap's base URL (what the function is pointed at).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}
