//! How the HTTP functions present themselves: the API keys they accept, the public base URL of
//! Link URLs, and the link keys that sign Link, form and session tokens.

use std::sync::Arc;

use url::Url;

use super::auth::ApiKeys;
use super::error::ApiError;
use super::request::RequestInfo;
use crate::codat::PublicUrls;
use crate::domain::LinkKeys;
use crate::keyring::LinkKeySource;

/// Accepted API keys, public base URL, link keys.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Accepted API keys.
    pub keys: ApiKeys,
    /// Public base URL of Link URLs (`None`: the API Gateway domain of the request).
    pub public_base_url: Option<Url>,
    /// Signs and checks Link tokens, form tokens and sessions.
    pub link_keys: LinkKeySource,
}

impl Edge {
    /// Loads the link keys if due (first use, or older than [`crate::keyring::REFRESH`]): every
    /// request that renders or checks a token calls it first.
    pub async fn ready(&self) -> Result<Arc<LinkKeys>, ApiError> {
        self.link_keys.ready().await.map_err(|e| {
            tracing::error!(error = %e, "the link keys could not be loaded");
            ApiError::from(e)
        })
    }

    /// The link keys loaded by [`Edge::ready`].
    pub fn link_keys(&self) -> Result<Arc<LinkKeys>, ApiError> {
        self.link_keys.snapshot().ok_or_else(|| {
            tracing::error!("the link keys were used before they were loaded");
            ApiError::internal()
        })
    }

    /// Public URLs for a request.
    pub fn urls(&self, info: &RequestInfo) -> Result<PublicUrls, ApiError> {
        let base = match (&self.public_base_url, &info.domain) {
            (Some(base), _) => base.clone(),
            (None, Some(domain)) => Url::parse(&format!("https://{domain}")).map_err(|_| ApiError::internal())?,
            (None, None) => {
                tracing::error!("PUBLIC_BASE_URL is unset and the request has no API Gateway domain");
                return Err(ApiError::internal());
            }
        };
        Ok(PublicUrls::new(base, self.link_keys()?))
    }
}
