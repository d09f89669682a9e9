//! Typed configuration from the environment, read once at cold start; a missing or invalid
//! value stops the function before it serves anything.

use url::Url;

use crate::domain::LinkKey;
use crate::http::ApiKeys;
use crate::platform::Edge;

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
pub struct PlatformConfig {
    /// DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// API keys, public base URL and link key.
    pub edge: Edge,
}

/// Reads `API_KEY_SHA256` (comma-separated hex SHA-256 digests of the API keys),
/// `PUBLIC_BASE_URL` (optional; the request's API Gateway domain when unset) and
/// `LINK_SIGNING_KEY` (hex or base64, at least 32 bytes).
pub fn edge_from_env() -> Result<Edge, ConfigError> {
    let keys = ApiKeys::from_digests(&required("API_KEY_SHA256")?)
        .map_err(|e| ConfigError::Invalid { name: "API_KEY_SHA256", reason: e.to_string() })?;
    let link_key = LinkKey::parse(&required("LINK_SIGNING_KEY")?)
        .map_err(|e| ConfigError::Invalid { name: "LINK_SIGNING_KEY", reason: e.to_string() })?;
    let public_base_url = var("PUBLIC_BASE_URL").map(|raw| parse_base_url("PUBLIC_BASE_URL", &raw)).transpose()?;
    Ok(Edge { keys, public_base_url, link_key })
}

impl PlatformConfig {
    /// Reads `TABLE_NAME` and the [`edge_from_env`] variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self { table_name: required("TABLE_NAME")?, edge: edge_from_env()? })
    }
}

/// Initialises logging: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), text
/// otherwise; level from `RUST_LOG`, else `default_level`.
pub fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result =
        if json { builder.json().flatten_event(true).without_time().try_init() } else { builder.compact().try_init() };
    if let Err(e) = result {
        eprintln!("tracing already initialised: {e}");
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
}
