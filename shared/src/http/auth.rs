//! API keys: configured as SHA-256 digests, presented as `Authorization: Basic <base64(key)>`,
//! compared in constant time. Every failure looks the same to the caller.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest `Authorization` header considered.
const MAX_HEADER_LEN: usize = 1024;

/// The accepted API keys, as SHA-256 digests.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

/// Why the key configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("API_KEY_SHA256 must hold one or more comma-separated 64-character hex SHA-256 digests")]
pub struct BadKeyConfig;

impl ApiKeys {
    /// Parses comma-separated hex SHA-256 digests (the deployment configuration).
    pub fn from_digests(config: &str) -> Result<Self, BadKeyConfig> {
        let digests = config
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(d, &mut digest).map_err(|_| BadKeyConfig)?;
                Ok(digest)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if digests.is_empty() {
            return Err(BadKeyConfig);
        }
        Ok(Self { digests })
    }

    /// The hex SHA-256 digest of a key, as the configuration holds it.
    pub fn digest_hex(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    /// Whether the request carries an accepted key in its `Authorization` header.
    pub fn authorize(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let Some(key) = value
            .to_str()
            .ok()
            .filter(|v| v.len() <= MAX_HEADER_LEN)
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
            .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(&key).into();
        // Check every configured digest so timing does not reveal which one matched.
        self.digests.iter().fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&presented)).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn accepts_only_configured_keys_in_basic_form() {
        let keys = ApiKeys::from_digests(&format!("{},{}", ApiKeys::digest_hex("one"), ApiKeys::digest_hex("two")))
            .expect("valid config");
        assert!(keys.authorize(&headers(&format!("Basic {}", STANDARD.encode("one")))));
        assert!(keys.authorize(&headers(&format!("Basic {}", STANDARD.encode("two")))));
        assert!(!keys.authorize(&headers(&format!("Basic {}", STANDARD.encode("three")))));
        assert!(!keys.authorize(&headers(&format!("Bearer {}", STANDARD.encode("one")))));
        assert!(!keys.authorize(&headers("Basic one")));
        assert!(!keys.authorize(&headers("Basic !!!")));
        assert!(!keys.authorize(&HeaderMap::new()));
        let mut twice = headers(&format!("Basic {}", STANDARD.encode("one")));
        twice.append(http::header::AUTHORIZATION, HeaderValue::from_static("Basic dHdv"));
        assert!(!keys.authorize(&twice));
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(ApiKeys::from_digests("").is_err());
        assert!(ApiKeys::from_digests("abc").is_err());
        assert!(ApiKeys::from_digests(&"z".repeat(64)).is_err());
        assert!(!format!("{:?}", ApiKeys::from_digests(&ApiKeys::digest_hex("k")).expect("ok")).contains("6"));
    }
}
