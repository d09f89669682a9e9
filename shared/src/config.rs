//! Typed configuration from the environment, read once at cold start; a missing or invalid
//! value stops the function before it serves anything.

use url::Url;

use crate::bigcommerce::BigCommerceClient;
use crate::domain::consumer_url::Transport;
use crate::http::{ApiKeys, Edge};
use crate::keyring::LinkKeySource;
use crate::link::LinkSettings;
use crate::sweep::SweepPolicy;
use crate::sync::RetryPolicy;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is absent.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A variable has an invalid value.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub(crate) fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

/// Parses an absolute http(s) URL without credentials, query or fragment.
pub fn parse_base_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { name, reason: reason.to_string() };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("must be an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry credentials, a query or a fragment"));
    }
    Ok(url)
}

/// Configuration of the Platform API (fn companies).
#[derive(Debug, Clone)]
pub struct CompaniesConfig {
    /// DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// API keys, public base URL and link key.
    pub edge: Edge,
    /// The sync queue (`SYNC_QUEUE_URL`).
    pub queue_url: String,
    /// Prefix of the credential secrets it deletes (`SECRET_PREFIX`, default `commerce-link/`).
    pub secret_prefix: String,
    /// Prefix of webhook consumers' secrets (`WEBHOOK_SECRET_PREFIX`, default
    /// `commerce-link-webhooks/`).
    pub webhook_secret_prefix: String,
    /// Where consumers may be ([`WEBHOOKS_LOOPBACK_FLAG`]).
    pub webhook_transport: Transport,
    /// The webhook retry queue (`WEBHOOK_RETRY_QUEUE_URL`): replays are sent through it.
    pub webhook_retry_queue_url: String,
    /// The fresh queue (`FRESH_QUEUE_URL`): the removal of an unlinked or deleted connection's
    /// store hooks.
    pub fresh_queue_url: String,
}

/// Reads `API_KEY_SHA256` (comma-separated hex SHA-256 digests of the API keys),
/// `PUBLIC_BASE_URL` (optional; the request's API Gateway domain when unset) and
/// `LINK_KEY_SECRET` (the name or ARN of the Secrets Manager secret holding the link keys, read
/// on first use: see [`crate::keyring`]).
pub fn edge_from_env() -> Result<Edge, ConfigError> {
    let keys = api_keys()?;
    let link_keys = LinkKeySource::secret(required("LINK_KEY_SECRET")?);
    let public_base_url = var("PUBLIC_BASE_URL").map(|raw| parse_base_url("PUBLIC_BASE_URL", &raw)).transpose()?;
    Ok(Edge { keys, public_base_url, link_keys })
}

impl CompaniesConfig {
    /// Reads `TABLE_NAME`, `SYNC_QUEUE_URL`, `SECRET_PREFIX` and the [`edge_from_env`] variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            edge: edge_from_env()?,
            queue_url: required("SYNC_QUEUE_URL")?,
            secret_prefix: secret_prefix()?,
            webhook_secret_prefix: webhook_secret_prefix()?,
            webhook_transport: webhook_transport(),
            webhook_retry_queue_url: required("WEBHOOK_RETRY_QUEUE_URL")?,
            fresh_queue_url: required("FRESH_QUEUE_URL")?,
        })
    }
}

/// The local-development switch that lets webhook consumers be plain `http` on `127.0.0.1`
/// (the dev stack's receiver). Never set in `template.yaml`.
pub const WEBHOOKS_LOOPBACK_FLAG: &str = "WEBHOOKS_ALLOW_LOOPBACK_HTTP";

/// Public https consumers only, unless [`WEBHOOKS_LOOPBACK_FLAG`] is `true`.
fn webhook_transport() -> Transport {
    if var(WEBHOOKS_LOOPBACK_FLAG).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        Transport::LoopbackHttp
    } else {
        Transport::PublicHttps
    }
}

/// `WEBHOOK_SECRET_PREFIX` (default `commerce-link-webhooks/`): as [`secret_prefix`], and not
/// under the credentials' prefix.
fn webhook_secret_prefix() -> Result<String, ConfigError> {
    let prefix = var("WEBHOOK_SECRET_PREFIX").unwrap_or_else(|| "commerce-link-webhooks/".into());
    let invalid = |reason: &str| ConfigError::Invalid { name: "WEBHOOK_SECRET_PREFIX", reason: reason.into() };
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)) {
        return Err(invalid("only letters, digits and /_+=.@- are allowed"));
    }
    if prefix.starts_with(&secret_prefix()?) {
        return Err(invalid("must not start with SECRET_PREFIX (whoever reads credentials would read these too)"));
    }
    Ok(prefix)
}

/// `SECRET_PREFIX` (default `commerce-link/`): letters, digits and `/_+=.@-` only.
fn secret_prefix() -> Result<String, ConfigError> {
    let prefix = var("SECRET_PREFIX").unwrap_or_else(|| "commerce-link/".into());
    if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)) {
        return Err(ConfigError::Invalid {
            name: "SECRET_PREFIX",
            reason: "only letters, digits and /_+=.@- are allowed".into(),
        });
    }
    Ok(prefix)
}

/// The local-development switch that lets `BIGCOMMERCE_API_BASE` be plain `http` (the
/// sandbox on loopback). Never set in `template.yaml`.
pub const ALLOW_HTTP_FLAG: &str = "BIGCOMMERCE_ALLOW_HTTP";

/// `BIGCOMMERCE_API_BASE` (default `https://api.bigcommerce.com`): https, unless
/// [`ALLOW_HTTP_FLAG`] is `true` (the access token must never cross a network in clear).
fn bigcommerce_base() -> Result<Url, ConfigError> {
    let base = var("BIGCOMMERCE_API_BASE").unwrap_or_else(|| crate::bigcommerce::client::PRODUCTION_BASE.to_string());
    let allow_http = var(ALLOW_HTTP_FLAG).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    bigcommerce_base_url(&base, allow_http)
}

/// Parses a BigCommerce base URL: https only, unless `allow_http` (local development).
pub fn bigcommerce_base_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = parse_base_url("BIGCOMMERCE_API_BASE", raw)?;
    if url.scheme() != "https" && !allow_http {
        return Err(ConfigError::Invalid {
            name: "BIGCOMMERCE_API_BASE",
            reason: format!(
                "must be an https URL (plain http only with {ALLOW_HTTP_FLAG}=true, for local development)"
            ),
        });
    }
    Ok(url)
}

/// The BigCommerce client of `base` with the given timeouts (seconds).
fn bigcommerce_client(base: Url, connect_secs: u64, timeout_secs: u64) -> Result<BigCommerceClient, ConfigError> {
    BigCommerceClient::new(
        base,
        std::time::Duration::from_secs(connect_secs),
        std::time::Duration::from_secs(timeout_secs),
    )
    .map_err(|e| ConfigError::Invalid { name: "BIGCOMMERCE_API_BASE", reason: e.to_string() })
}

/// `API_KEY_SHA256`: comma-separated hex SHA-256 digests of the accepted API keys.
fn api_keys() -> Result<ApiKeys, ConfigError> {
    ApiKeys::from_digests(&required("API_KEY_SHA256")?)
        .map_err(|e| ConfigError::Invalid { name: "API_KEY_SHA256", reason: e.to_string() })
}

/// Configuration of the Commerce API (fn data): read-only.
#[derive(Debug, Clone)]
pub struct DataConfig {
    /// The platform table (`TABLE_NAME`): companies, connections, data statuses.
    pub table_name: String,
    /// The data table (`DATA_TABLE_NAME`).
    pub data_table_name: String,
    /// Accepted API keys (`API_KEY_SHA256`).
    pub keys: ApiKeys,
}

impl DataConfig {
    /// Reads `TABLE_NAME`, `DATA_TABLE_NAME` and `API_KEY_SHA256`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let keys = api_keys()?;
        Ok(Self { table_name: required("TABLE_NAME")?, data_table_name: required("DATA_TABLE_NAME")?, keys })
    }
}

/// Configuration of the operators' portal (fn portal).
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The platform table (`TABLE_NAME`).
    pub table_name: String,
    /// The data table (`DATA_TABLE_NAME`), read for the data pages and the sales chart.
    pub data_table_name: String,
    /// API keys (sign-in), public base URL and the key sessions are signed with.
    pub edge: Edge,
    /// The sync queue (`SYNC_QUEUE_URL`), for Refresh data.
    pub queue_url: String,
    /// Prefix of the credential secrets a company's delete removes (`SECRET_PREFIX`).
    pub secret_prefix: String,
}

impl PortalConfig {
    /// Reads `TABLE_NAME`, `DATA_TABLE_NAME`, `SYNC_QUEUE_URL`, `SECRET_PREFIX` and the
    /// [`edge_from_env`] variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            data_table_name: required("DATA_TABLE_NAME")?,
            edge: edge_from_env()?,
            queue_url: required("SYNC_QUEUE_URL")?,
            secret_prefix: secret_prefix()?,
        })
    }
}

/// Configuration of the scheduler (fn scheduler).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The platform table (`TABLE_NAME`).
    pub table_name: String,
    /// The sync queue (`SYNC_QUEUE_URL`).
    pub queue_url: String,
    /// The fresh queue (`FRESH_QUEUE_URL`): each scheduled connection's hooks check.
    pub fresh_queue_url: String,
    /// When the sweep takes a dataset for stuck: `UNSENT_AFTER_SECS` (default 120) and
    /// `JOB_DEAD_AFTER_SECS` (default 1200: the worker's 900 s timeout and a margin).
    pub sweep: SweepPolicy,
    /// The history kept (datasets the sweep ends get their expiry): see [`history`].
    pub history: crate::domain::History,
}

impl SchedulerConfig {
    /// Reads `TABLE_NAME`, `SYNC_QUEUE_URL` and the sweep's settings.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = SweepPolicy::default();
        let seconds = |name, default: chrono::Duration| -> Result<chrono::Duration, ConfigError> {
            Ok(positive(name, "seconds")?
                .and_then(|s| i64::try_from(s).ok())
                .map_or(default, chrono::Duration::seconds))
        };
        let sweep = SweepPolicy {
            unsent_after: seconds("UNSENT_AFTER_SECS", defaults.unsent_after)?,
            dead_after: seconds("JOB_DEAD_AFTER_SECS", defaults.dead_after)?,
            ..defaults
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            queue_url: required("SYNC_QUEUE_URL")?,
            fresh_queue_url: required("FRESH_QUEUE_URL")?,
            sweep,
            history: history()?,
        })
    }
}

/// Configuration of the webhooks function (fn webhooks).
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// The platform table (`TABLE_NAME`): consumers, the outbox, the delivery log.
    pub table_name: String,
    /// The retry queue (`WEBHOOK_RETRY_QUEUE_URL`).
    pub retry_queue_url: String,
    /// Prefix of consumers' secrets (`WEBHOOK_SECRET_PREFIX`).
    pub webhook_secret_prefix: String,
    /// Where consumers may be ([`WEBHOOKS_LOOPBACK_FLAG`]).
    pub transport: Transport,
    /// `PUBLIC_BASE_URL` (optional): the portal's links in events.
    pub public_base_url: Option<url::Url>,
}

impl WebhooksConfig {
    /// Reads `TABLE_NAME`, `WEBHOOK_RETRY_QUEUE_URL`, `WEBHOOK_SECRET_PREFIX`,
    /// `WEBHOOKS_ALLOW_LOOPBACK_HTTP` and `PUBLIC_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            retry_queue_url: required("WEBHOOK_RETRY_QUEUE_URL")?,
            webhook_secret_prefix: webhook_secret_prefix()?,
            transport: webhook_transport(),
            public_base_url: var("PUBLIC_BASE_URL").map(|raw| parse_base_url("PUBLIC_BASE_URL", &raw)).transpose()?,
        })
    }
}

/// Configuration of the Link function (fn link).
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// API keys, public base URL and link key.
    pub edge: Edge,
    /// Prefix of secret names (`SECRET_PREFIX`, default `commerce-link/`).
    pub secret_prefix: String,
    /// The sync queue (`SYNC_QUEUE_URL`).
    pub queue_url: String,
    /// BigCommerce client of `BIGCOMMERCE_API_BASE` (default `https://api.bigcommerce.com`).
    pub bigcommerce: BigCommerceClient,
    /// `LINK_FINISH_URL` (optional) and `LINK_ATTEMPTS_PER_MINUTE` (default 10).
    pub settings: LinkSettings,
}

impl LinkConfig {
    /// Reads the Link function's environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = bigcommerce_base()?;
        let attempts = var("LINK_ATTEMPTS_PER_MINUTE")
            .map(|raw| {
                raw.parse::<u32>().ok().filter(|n| *n > 0).ok_or(ConfigError::Invalid {
                    name: "LINK_ATTEMPTS_PER_MINUTE",
                    reason: "must be a positive whole number".into(),
                })
            })
            .transpose()?
            .unwrap_or(10);
        let prefix = secret_prefix()?;
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            edge: edge_from_env()?,
            secret_prefix: prefix,
            queue_url: required("SYNC_QUEUE_URL")?,
            bigcommerce: bigcommerce_client(base, 3, 10)?,
            settings: LinkSettings {
                finish_url: var("LINK_FINISH_URL").map(|raw| parse_base_url("LINK_FINISH_URL", &raw)).transpose()?,
                attempts_per_minute: attempts,
                attempts_per_address_per_minute: positive("LINK_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "submissions")?
                    .map_or(LinkSettings::default().attempts_per_address_per_minute, |n| {
                        u32::try_from(n).unwrap_or(u32::MAX)
                    }),
            },
        })
    }
}

/// Configuration of the store hooks' endpoint (fn store-hooks).
#[derive(Debug, Clone)]
pub struct StoreHooksConfig {
    /// The platform table (`TABLE_NAME`).
    pub table_name: String,
    /// The fresh queue (`FRESH_QUEUE_URL`): targeted syncs.
    pub fresh_queue_url: String,
}

impl StoreHooksConfig {
    /// Reads `TABLE_NAME` and `FRESH_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self { table_name: required("TABLE_NAME")?, fresh_queue_url: required("FRESH_QUEUE_URL")? })
    }
}

/// Configuration of the sync worker (fn sync-worker).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The platform table (`TABLE_NAME`).
    pub table_name: String,
    /// The data table (`DATA_TABLE_NAME`).
    pub data_table_name: String,
    /// BigCommerce client of `BIGCOMMERCE_API_BASE` (default `https://api.bigcommerce.com`).
    pub bigcommerce: BigCommerceClient,
    /// Time one job may spend before it checkpoints (`JOB_BUDGET_SECS`, default 600).
    pub job_budget: std::time::Duration,
    /// The sync queue, for continuations (`SYNC_QUEUE_URL`).
    pub queue_url: String,
    /// The fresh queue (`FRESH_QUEUE_URL`): targeted syncs that leave changes for a next job,
    /// and redeliveries of its messages.
    pub fresh_queue_url: String,
    /// How old a data type's last full sync may get before its next sync is full (and infers
    /// deletes) instead of incremental (`FULL_SYNC_EVERY_HOURS`, default 168).
    pub full_sync_every: std::time::Duration,
    /// How failed jobs are retried: `MAX_RECEIVE_COUNT` (the queue's `maxReceiveCount`, default
    /// 5), `RETRY_FIRST_BACKOFF_SECS` (default 10), `RETRY_MAX_BACKOFF_SECS` (default 300) and
    /// `CONTINUATION_WAIT_SECS` (default 21600).
    pub retries: RetryPolicy,
    /// Name prefix of the credential secrets, which erasures delete (`SECRET_PREFIX`).
    pub secret_prefix: String,
    /// How long an erasure waits between its two passes (`ERASURE_SETTLE_SECS`, default 360).
    pub erasure_settle: std::time::Duration,
    /// The history kept: `HISTORY_RETENTION_DAYS` (default 90) and `HISTORY_PER_DATA_TYPE`
    /// (default 500).
    pub history: crate::domain::History,
}

impl WorkerConfig {
    /// Reads the worker's environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = bigcommerce_base()?;
        let budget = positive("JOB_BUDGET_SECS", "seconds")?.unwrap_or(600);
        let full_sync_hours = positive("FULL_SYNC_EVERY_HOURS", "hours")?.unwrap_or(168);
        let defaults = RetryPolicy::default();
        let seconds = |name, default: std::time::Duration| -> Result<std::time::Duration, ConfigError> {
            Ok(positive(name, "seconds")?.map_or(default, std::time::Duration::from_secs))
        };
        let retries = RetryPolicy {
            max_receives: positive("MAX_RECEIVE_COUNT", "receives")?
                .map_or(defaults.max_receives, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            first_backoff: seconds("RETRY_FIRST_BACKOFF_SECS", defaults.first_backoff)?,
            max_backoff: seconds("RETRY_MAX_BACKOFF_SECS", defaults.max_backoff)?,
            continuation_wait: seconds("CONTINUATION_WAIT_SECS", defaults.continuation_wait)?,
            ..defaults
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            data_table_name: required("DATA_TABLE_NAME")?,
            bigcommerce: bigcommerce_client(base, 5, 30)?,
            job_budget: std::time::Duration::from_secs(budget),
            queue_url: required("SYNC_QUEUE_URL")?,
            fresh_queue_url: required("FRESH_QUEUE_URL")?,
            full_sync_every: std::time::Duration::from_secs(full_sync_hours.saturating_mul(3600)),
            retries,
            secret_prefix: secret_prefix()?,
            erasure_settle: seconds("ERASURE_SETTLE_SECS", crate::sync::ERASURE_SETTLE)?,
            history: history()?,
        })
    }
}

/// The history kept: `HISTORY_RETENTION_DAYS` (default 90) and `HISTORY_PER_DATA_TYPE`
/// (default 500).
pub fn history() -> Result<crate::domain::History, ConfigError> {
    let defaults = crate::domain::History::default();
    let days = positive("HISTORY_RETENTION_DAYS", "days")?;
    let per_type = positive("HISTORY_PER_DATA_TYPE", "datasets")?;
    Ok(crate::domain::History {
        retention: days.map_or(defaults.retention, |d| chrono::Duration::days(d.min(36_500) as i64)),
        per_data_type: per_type.map_or(defaults.per_data_type, |n| n as usize),
    })
}

/// An optional variable holding a positive whole number of `unit`.
fn positive(name: &'static str, unit: &str) -> Result<Option<u64>, ConfigError> {
    var(name)
        .map(|raw| {
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid { name, reason: format!("must be a positive whole number of {unit}") })
        })
        .transpose()
}

/// Crates whose debug and trace output carries what they handle, capped at INFO whatever
/// `RUST_LOG` says: `lambda_runtime` logs each raw event at TRACE (the Link form, with its
/// access token), the AWS SDK's runtime logs whole requests and responses (`CreateSecret`,
/// `GetSecretValue`), the HTTP stacks log headers (`X-Auth-Token`). Prefixes: `aws_sdk` covers
/// every `aws_sdk_*` crate.
pub const LOG_CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_http",
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "aws_sigv4",
    "aws_runtime",
    "aws_credential_types",
    "hyper",
    "reqwest",
    "h2",
    "rustls",
    "tower",
    "http_body",
];

/// The log filter: `rust_log` (else `default_level`), and above it the [`LOG_CAPPED`] crates
/// held at INFO. Two filters that must both pass: no directive in `rust_log`, however specific
/// (`lambda_runtime::layers=trace`), lowers the cap.
pub fn log_filter<S>(rust_log: Option<&str>, default_level: &str) -> impl tracing_subscriber::layer::Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
    let chosen = rust_log
        .and_then(|directives| tracing_subscriber::EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default_level));
    let caps = LOG_CAPPED.iter().fold(Targets::new().with_default(LevelFilter::TRACE), |caps, target| {
        caps.with_target(*target, LevelFilter::INFO)
    });
    chosen.and(caps)
}

/// Initialises logging: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), text
/// otherwise; level from `RUST_LOG`, else `default_level`, with [`LOG_CAPPED`] crates never
/// below INFO.
pub fn init_tracing(default_level: &str) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let rust_log = std::env::var("RUST_LOG").ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = if json {
        tracing_subscriber::fmt::layer().json().flatten_event(true).without_time().with_target(false).boxed()
    } else {
        tracing_subscriber::fmt::layer().compact().with_target(false).boxed()
    };
    let filter = log_filter(rust_log.as_deref(), default_level);
    match tracing_subscriber::registry().with(layer.with_filter(filter)).try_init() {
        Ok(()) => tracing::info!(
            rust_log = rust_log.as_deref().unwrap_or(default_level),
            capped_at_info = LOG_CAPPED.join(","),
            "logging"
        ),
        Err(e) => eprintln!("tracing already initialised: {e}"),
    }
}

/// AWS SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`).
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_strict() {
        assert!(parse_base_url("X", "https://api.example.com").is_ok());
        assert!(parse_base_url("X", "http://127.0.0.1:3000/prefix").is_ok());
        for bad in ["ftp://x", "https://user:pw@x.com", "https://x.com/?a=1", "not a url", "https://x.com/#f"] {
            assert!(parse_base_url("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_rust_log_lowers_the_cap_on_crates_that_log_what_they_carry() {
        use std::io::Write;
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for rust_log in
            ["trace", "trace,lambda_runtime=trace,aws_smithy_runtime=trace", "lambda_runtime::layers=trace,trace"]
        {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            let layer = tracing_subscriber::fmt::layer().with_writer(move || writer.clone()).with_ansi(false);
            let subscriber = tracing_subscriber::registry().with(layer.with_filter(log_filter(Some(rust_log), "info")));
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "lambda_runtime::layers::api_response", "raw event access-token-1");
                tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "body secret-2");
                tracing::trace!(target: "aws_sdk_secretsmanager::operation", "body secret-3");
                tracing::debug!(target: "hyper_util::client", "header token-4");
                tracing::info!(target: "lambda_runtime", "runtime ready");
                tracing::trace!(target: "shared::sync", "our own trace");
            });
            let text = String::from_utf8(buffer.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).expect("utf-8");
            for secret in ["access-token-1", "secret-2", "secret-3", "token-4"] {
                assert!(!text.contains(secret), "{rust_log}: {secret} logged: {text}");
            }
            assert!(text.contains("runtime ready") && text.contains("our own trace"), "{rust_log}: {text}");
        }
    }

    #[test]
    fn the_bigcommerce_base_is_https_unless_local_development_says_otherwise() {
        assert!(bigcommerce_base_url("https://api.bigcommerce.com", false).is_ok());
        let refused = bigcommerce_base_url("http://api.bigcommerce.com", false).expect_err("http");
        assert!(refused.to_string().contains("must be an https URL"), "{refused}");
        assert!(refused.to_string().contains(ALLOW_HTTP_FLAG), "{refused}");
        assert!(bigcommerce_base_url("http://127.0.0.1:4000", true).is_ok());
        assert!(bigcommerce_base_url("ftp://127.0.0.1", true).is_err());
    }
}
