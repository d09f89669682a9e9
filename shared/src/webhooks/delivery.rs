//! One delivery attempt. The consumer's host is resolved once through a [`Resolver`], every
//! address is checked ([`address::check_addresses`]), and the request may connect only to
//! those addresses: the HTTP client is pinned to them and refuses any other lookup, so a DNS
//! answer that changes between the check and the connection (rebinding) reaches nothing. No
//! proxy, no redirect (a 3xx is a failure), 15 s for the whole attempt.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::address::{self, ConsumerUrl, Refused, Target, Transport};
use super::signing::SigningSecret;

/// An attempt's time limit, Codat's.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Most of a consumer's answer kept for the delivery log.
const ANSWER_BYTES: usize = 1024;

/// Resolves a host name to its addresses: the system's resolver deployed, a scripted one in
/// tests (a name that answers a public address and then a private one).
#[async_trait]
pub trait Resolver: Send + Sync {
    /// The addresses of `host`.
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The consumer answered 2xx.
    Delivered {
        /// Its status code.
        status: u16,
    },
    /// The consumer answered, but not 2xx (a redirect included).
    Rejected {
        /// Its status code.
        status: u16,
        /// The start of its answer, for the log.
        answer: String,
    },
    /// No answer: a connection or TLS failure, or the 15 s limit.
    Failed {
        /// What happened, without any header or body of the request.
        reason: String,
    },
    /// The host's addresses were refused; nothing was sent.
    Refused(Refused),
}

impl Outcome {
    /// Whether the message is delivered.
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// The status code the consumer answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Delivered { status } | Self::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One message to attempt.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The consumer's URL.
    pub url: &'a ConsumerUrl,
    /// The message id (`webhook-id`): the event's, the same on every attempt.
    pub id: &'a str,
    /// The JSON body, byte for byte what was signed.
    pub body: &'a [u8],
    /// The consumer's secret.
    pub secret: &'a SigningSecret,
    /// This attempt's Unix time (`webhook-timestamp`).
    pub timestamp: i64,
}

/// Sends attempts.
pub struct Deliverer {
    resolver: Arc<dyn Resolver>,
    transport: Transport,
    timeout: Duration,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("transport", &self.transport).field("timeout", &self.timeout).finish()
    }
}

impl Deliverer {
    /// A deliverer resolving through `resolver`, under `transport`, with Codat's 15 s limit.
    pub fn new(resolver: Arc<dyn Resolver>, transport: Transport) -> Self {
        Self { resolver, transport, timeout: TIMEOUT }
    }

    /// The same with another time limit (tests).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Makes one attempt.
    pub async fn deliver(&self, attempt: &Attempt<'_>) -> Outcome {
        let port = attempt.url.port();
        let (host, addresses) = match attempt.url.target() {
            Target::Address(ip) => (None, vec![ip]),
            Target::Name(name) => match self.resolver.resolve(&name).await {
                Ok(addresses) => (Some(name), addresses),
                Err(e) => return Outcome::Failed { reason: format!("the host did not resolve ({})", e.kind()) },
            },
        };
        if let Err(refused) = address::check_addresses(&addresses, self.transport) {
            return Outcome::Refused(refused);
        }
        let pinned: Vec<SocketAddr> = addresses.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(0)
            .https_only(self.transport == Transport::PublicHttps)
            .dns_resolver(Arc::new(NoLookups))
            .user_agent(concat!("commerce-link-webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(host) = &host {
            builder = builder.resolve_to_addrs(host, &pinned);
        }
        let client = match builder.build() {
            Ok(client) => client,
            Err(e) => return Outcome::Failed { reason: format!("no HTTP client ({e})") },
        };
        let mut request = client
            .post(attempt.url.as_url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(attempt.body.to_vec());
        for (name, value) in attempt.secret.headers(attempt.id, attempt.timestamp, attempt.body) {
            request = request.header(name, value);
        }
        let started = Instant::now();
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                if response.status().is_success() {
                    return Outcome::Delivered { status };
                }
                let answer = read_start(response, self.timeout.saturating_sub(started.elapsed())).await;
                Outcome::Rejected { status, answer }
            }
            Err(e) => Outcome::Failed { reason: failure(&e) },
        }
    }
}

/// The first [`ANSWER_BYTES`] of an answer's body, as text, within `left`.
async fn read_start(mut response: reqwest::Response, left: Duration) -> String {
    let mut kept = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            kept.extend_from_slice(&chunk[..chunk.len().min(ANSWER_BYTES - kept.len())]);
            if kept.len() >= ANSWER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(left, read).await;
    String::from_utf8_lossy(&kept).into_owned()
}

/// What a transport error was, in words that carry no part of the request.
fn failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "the connection failed".to_string()
    } else {
        "the request failed before an answer".to_string()
    }
}

/// Refuses every lookup the client would make itself: the only names it may reach are the
/// ones pinned to checked addresses.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            Err(Box::new(std::io::Error::other(format!("no lookup of {name}: only checked addresses")))
                as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}
