//! A local HTTP server standing in for API Gateway: each request becomes an HTTP API (v2)
//! event, is decoded by `lambda_http` exactly as in Lambda, and is answered by the same handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::event::{HttpRequest, api_gateway_event, to_lambda_request};

/// API Gateway's payload limit.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// A Lambda HTTP handler, as the runner calls it.
#[async_trait]
pub trait HttpHandler: Send + Sync {
    /// Answers one decoded request.
    async fn call(&self, req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body>;
}

#[async_trait]
impl<S: shared::ports::PlatformStore + 'static> HttpHandler for shared::platform::PlatformApi<S> {
    async fn call(&self, req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
        self.handle(req).await
    }
}

/// Which function serves which paths, as the template's routes say.
#[derive(Clone, Default)]
pub struct Routes {
    routes: Vec<(&'static str, Arc<dyn HttpHandler>)>,
}

impl Routes {
    /// Sends paths starting with `prefix` (a whole segment) to `handler`; first match wins.
    pub fn with(mut self, prefix: &'static str, handler: Arc<dyn HttpHandler>) -> Self {
        self.routes.push((prefix, handler));
        self
    }

    fn find(&self, path: &str) -> Option<&Arc<dyn HttpHandler>> {
        self.routes
            .iter()
            .find(|(prefix, _)| path == *prefix || path.starts_with(&format!("{prefix}/")))
            .map(|(_, h)| h)
    }
}

fn plain(status: u16, message: &str) -> hyper::Response<Full<hyper::body::Bytes>> {
    let mut response = hyper::Response::new(Full::from(format!("{{\"message\":\"{message}\"}}")));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    response
}

async fn serve_one(
    routes: &Routes,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<hyper::body::Bytes>> {
    let (parts, body) = req.into_parts();
    let Some(handler) = routes.find(parts.uri.path()) else {
        return plain(404, "Not Found");
    };
    let Ok(bytes) = Limited::new(body, MAX_PAYLOAD_BYTES).collect().await.map(|c| c.to_bytes()) else {
        return plain(413, "Request Entity Too Large");
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    let event = api_gateway_event(&HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers,
        body: &bytes,
        source_ip: &peer.ip().to_string(),
    });
    let request = match to_lambda_request(&event) {
        Ok(request) => request,
        Err(_) => return plain(400, "Bad Request"),
    };
    let response = handler.call(request).await;
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    hyper::Response::from_parts(parts, Full::from(bytes))
}

/// A running local API.
pub struct Runner {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Runner {
    /// Serves `routes` on `listener` until stopped.
    pub fn start(listener: TcpListener, routes: Routes) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let routes = Arc::new(routes);
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let Ok((stream, peer)) = accepted else {
                    continue;
                };
                let routes = routes.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let routes = routes.clone();
                        async move { Ok::<_, Infallible>(serve_one(&routes, req, peer).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, stop, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
