//! A webhook consumer on loopback for the demo and the tests: it verifies each delivery's
//! signature with the `standardwebhooks` crate (a verifier this project did not write), records
//! what arrived, and can be told to fail its next deliveries, to answer with a redirect, or to
//! act (e.g. kill the deliverer) while a delivery waits for its answer.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// The body, parsed (`Null` when it was not JSON).
    pub body: Value,
    /// Whether `standardwebhooks` verified the signature under the secret set then.
    pub verified: bool,
    /// Whether the `svix-` headers carried the same id, timestamp and signature.
    pub svix_alike: bool,
    /// The status the receiver answered.
    pub answered: u16,
    /// When it arrived.
    pub arrived: chrono::DateTime<chrono::Utc>,
}

/// What runs as a chosen delivery arrives.
type ArrivalHook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    secret: Option<String>,
    fail_next: usize,
    redirect_to: Option<String>,
    received: Vec<Received>,
    /// Run as the given delivery (1-based) arrives, whose answer then waits the given time.
    on_arrival: Option<(usize, std::time::Duration, ArrivalHook)>,
}

/// A receiver listening on `127.0.0.1` until dropped.
pub struct Receiver {
    url: String,
    state: Arc<Mutex<State>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (state.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(receive(&state, request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { url: format!("http://127.0.0.1:{port}/webhooks"), state, connections, task })
    }

    /// Its URL (plain http on loopback: the dev stack's setting).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.url.trim_start_matches("http://127.0.0.1:").split('/').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }

    /// Verifies what arrives from now on under `secret` (`whsec_…`).
    pub fn set_secret(&self, secret: &str) {
        self.lock().secret = Some(secret.to_string());
    }

    /// Answers 500 to the next `n` deliveries.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Answers every delivery with a 302 to `location`.
    pub fn redirect_to(&self, location: &str) {
        self.lock().redirect_to = Some(location.to_string());
    }

    /// Runs `hook` as the `nth` delivery from now on arrives (1-based, counting every
    /// delivery), and holds that delivery's answer for `hold`: e.g. to kill the deliverer while
    /// it waits for the answer.
    pub fn on_arrival(&self, nth: usize, hold: std::time::Duration, hook: impl FnOnce() + Send + 'static) {
        let mut state = self.lock();
        let at = state.received.len() + nth;
        state.on_arrival = Some((at, hold, Box::new(hook)));
    }

    /// What has arrived, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(state: &Mutex<State>, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let headers = request.headers().clone();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, location, hook) = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let verified = state
            .secret
            .as_deref()
            .and_then(|secret| standardwebhooks::Webhook::new(secret).ok())
            .is_some_and(|hook| hook.verify(&body, &headers).is_ok());
        let svix_alike = ["id", "timestamp", "signature"]
            .iter()
            .all(|part| header(&format!("webhook-{part}")).is_some_and(|v| Some(v) == header(&format!("svix-{part}"))));
        let (status, location) = match (&state.redirect_to, state.fail_next) {
            (Some(to), _) => (302, Some(to.clone())),
            (None, 0) => (204, None),
            (None, n) => {
                state.fail_next = n - 1;
                (500, None)
            }
        };
        state.received.push(Received {
            id: header("webhook-id").unwrap_or_default(),
            timestamp: header("webhook-timestamp").and_then(|t| t.parse().ok()).unwrap_or_default(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            verified,
            svix_alike,
            answered: status,
            arrived: chrono::Utc::now(),
        });
        let due = state.on_arrival.as_ref().is_some_and(|(at, _, _)| *at == state.received.len());
        let hook = if due { state.on_arrival.take() } else { None };
        (status, location, hook)
    };
    if let Some((_, hold, hook)) = hook {
        hook();
        tokio::time::sleep(hold).await;
    }
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(location) = location.and_then(|l| hyper::header::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(hyper::header::LOCATION, location);
    }
    response
}
