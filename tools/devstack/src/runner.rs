//! A local HTTP server standing in for API Gateway: each request becomes an HTTP API (v2)
//! event, is decoded by `lambda_http` exactly as in Lambda, and is answered by the same handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::http::Handler;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::event::{HttpRequest, api_gateway_event, to_lambda_request};

/// API Gateway's payload limit.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Which function serves which paths, as the template's routes say. A route is a path pattern
/// whose `{name}` segments match any one segment and whose trailing `{proxy+}` matches the
/// rest (API Gateway's syntax); the first matching route wins.
#[derive(Clone, Default)]
pub struct Routes {
    routes: Vec<(String, Arc<dyn Handler>)>,
}

fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for (i, p) in pattern.iter().enumerate() {
        if p.ends_with("+}") {
            return path.len() > i;
        }
        match path.get(i) {
            Some(segment) if p.starts_with('{') || p == segment => {}
            _ => return false,
        }
    }
    pattern.len() == path.len()
}

impl Routes {
    /// Sends paths matching `pattern` to `handler`. As in API Gateway, the most specific
    /// pattern wins: more literal segments first, greedy `{proxy+}` patterns last.
    pub fn with(mut self, pattern: impl Into<String>, handler: Arc<dyn Handler>) -> Self {
        self.routes.push((pattern.into(), handler));
        let specificity = |p: &str| {
            let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
            let literal = segments.iter().filter(|s| !s.starts_with('{')).count();
            (p.contains("+}"), std::cmp::Reverse(segments.len()), std::cmp::Reverse(literal))
        };
        self.routes.sort_by_key(|(p, _)| specificity(p));
        self
    }

    fn find(&self, path: &str) -> Option<&Arc<dyn Handler>> {
        self.routes.iter().find(|(pattern, _)| matches(pattern, path)).map(|(_, h)| h)
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
    let response = handler.handle(request).await;
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

/// What the event source mapping hands a batch to: the worker in this process, or its binary
/// run as Lambda runs it ([`crate::lambda`]).
#[async_trait::async_trait]
pub trait SqsTarget: Send + Sync {
    /// Handles `event` before `deadline`. `None` when the invocation failed as a whole (it timed
    /// out, ran out of memory, crashed): every message of the batch stays on the queue.
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
        deadline: std::time::SystemTime,
    ) -> Option<aws_lambda_events::event::sqs::SqsBatchResponse>;
}

#[async_trait::async_trait]
impl<S: shared::ports::PlatformStore + 'static> SqsTarget for shared::sync::SyncWorker<S> {
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
        deadline: std::time::SystemTime,
    ) -> Option<aws_lambda_events::event::sqs::SqsBatchResponse> {
        Some(self.handle_within(event, Some(deadline)).await)
    }
}

/// How the local event source mapping polls.
#[derive(Clone)]
pub struct PollerSettings {
    /// The queue.
    pub queue_url: String,
    /// Its ARN (`eventSourceARN` of each record).
    pub queue_arn: String,
    /// Messages per event (the mapping's `BatchSize`).
    pub batch_size: i32,
    /// The function's timeout: each invocation's deadline.
    pub timeout: std::time::Duration,
    /// Tests only: after a failed invocation, make its messages visible again at once (as
    /// this client, the admin), as if the wait for their visibility had passed.
    pub fast_forward: Option<aws_sdk_sqs::Client>,
}

/// Polls a queue and hands batches to the sync worker as the SQS event source mapping does:
/// up to `BatchSize` messages per event with the attributes Lambda passes
/// (`ApproximateReceiveCount` included), successful messages deleted, failed ones left to
/// reappear after their visibility timeout (and reach the DLQ after the receive count).
pub struct SqsPoller {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SqsPoller {
    /// Starts polling as `sqs` (the mapping's principal) for `target`.
    pub fn start(sqs: aws_sdk_sqs::Client, settings: PollerSettings, target: Arc<dyn SqsTarget>) -> Self {
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let PollerSettings { queue_url, queue_arn, batch_size, timeout, fast_forward } = settings;
            loop {
                let receive = sqs
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(batch_size.clamp(1, 10))
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .wait_time_seconds(1)
                    .send();
                let received = tokio::select! {
                    received = receive => received,
                    _ = stopped.changed() => break,
                };
                let messages = match received {
                    Ok(out) => out.messages.unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "receiving sync jobs failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if messages.is_empty() {
                    continue;
                }
                let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
                for m in &messages {
                    let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
                    message.message_id = m.message_id.clone();
                    message.receipt_handle = m.receipt_handle.clone();
                    message.body = m.body.clone();
                    message.md5_of_body = m.md5_of_body.clone();
                    message.event_source = Some("aws:sqs".into());
                    message.event_source_arn = Some(queue_arn.clone());
                    message.aws_region = Some(crate::iam::REGION.into());
                    for (name, value) in m.attributes.iter().flatten() {
                        message.attributes.insert(name.as_str().to_string(), value.clone());
                    }
                    event.records.push(message);
                }
                let deadline = std::time::SystemTime::now() + timeout;
                let Some(response) = target.invoke(event, deadline).await else {
                    // The invocation failed: the messages come back when their visibility ends.
                    if let Some(admin) = &fast_forward {
                        for receipt in messages.iter().filter_map(|m| m.receipt_handle.as_deref()) {
                            let _ = admin
                                .change_message_visibility()
                                .queue_url(&queue_url)
                                .receipt_handle(receipt)
                                .visibility_timeout(0)
                                .send()
                                .await;
                        }
                    }
                    continue;
                };
                let failed: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
                for m in messages {
                    if failed.iter().any(|f| Some(f.as_str()) == m.message_id.as_deref()) {
                        continue;
                    }
                    if let Some(receipt) = m.receipt_handle {
                        let _ = sqs.delete_message().queue_url(&queue_url).receipt_handle(receipt).send().await;
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Stops polling (a batch in progress finishes first).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn route_patterns() {
        assert!(matches("/companies/{companyId}", "/companies/abc"));
        assert!(!matches("/companies/{companyId}", "/companies/abc/connections"));
        assert!(matches("/link/{proxy+}", "/link/token/connections"));
        assert!(!matches("/link/{proxy+}", "/link"));
        assert!(matches("/integrations", "/integrations/"));
    }
}
