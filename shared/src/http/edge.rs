//! How the HTTP functions present themselves: the API keys they accept, the public base URL of
//! Link URLs, and the key that derives Link and form tokens.

use url::Url;

use super::auth::ApiKeys;
use super::error::ApiError;
use super::request::RequestInfo;
use crate::codat::PublicUrls;
use crate::domain::LinkKey;

/// Accepted API keys, public base URL, link key.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Accepted API keys.
    pub keys: ApiKeys,
    /// Public base URL of Link URLs (`None`: the API Gateway domain of the request).
    pub public_base_url: Option<Url>,
    /// Derives Link tokens and form tokens.
    pub link_key: LinkKey,
}

impl Edge {
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
        Ok(PublicUrls::new(base, self.link_key.clone()))
    }
}
