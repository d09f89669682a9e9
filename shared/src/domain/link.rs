//! Link tokens and form tokens. A company's Link token is an HMAC of its id under the
//! deployment's link key: unguessable without the key, recomputable for `redirect`, and stored
//! only as a SHA-256 hash (the lookup key of the Link pages). Form tokens (anti-CSRF) are HMACs
//! of the Link token hash and an issue time.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The deployment's link key (`LINK_SIGNING_KEY`).
#[derive(Clone)]
pub struct LinkKey(Arc<SecretBox<Vec<u8>>>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
#[error("LINK_SIGNING_KEY must be at least {MIN_KEY_BYTES} bytes, hex or base64 encoded")]
pub struct BadLinkKey;

impl LinkKey {
    /// From raw bytes (at least 32).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BadLinkKey> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(BadLinkKey);
        }
        Ok(Self(Arc::new(SecretBox::new(Box::new(bytes)))))
    }

    /// From configuration text: hex, or base64 (standard or URL-safe).
    pub fn parse(text: &str) -> Result<Self, BadLinkKey> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
            .ok_or(BadLinkKey)?;
        Self::from_bytes(bytes)
    }

    /// A fresh random key (local stacks and tests).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(Arc::new(SecretBox::new(Box::new(bytes))))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac =
            HmacSha256::new_from_slice(self.0.expose_secret()).unwrap_or_else(|_| unreachable!("any key length"));
        for part in parts {
            mac.update(part);
            mac.update(b"\x1f");
        }
        mac.finalize().into_bytes().into()
    }

    /// A MAC of `parts` under this key for the purpose `label` (sessions, CSRF tokens, ids).
    pub fn sign(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut all: Vec<&[u8]> = vec![label.as_bytes()];
        all.extend_from_slice(parts);
        self.mac(&all)
    }

    /// This deployment's Codat `clientId`: stable for as long as the key is.
    pub fn client_id(&self) -> Uuid {
        let mac = self.sign("client-id/v1", &[]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The Link token of a company.
    pub fn token_for(&self, company: Uuid) -> LinkToken {
        LinkToken(URL_SAFE_NO_PAD.encode(self.mac(&[b"link-token/v1", company.as_bytes()])))
    }

    /// A form token for the Link page of `token_hash`, issued at `issued` (Unix seconds).
    pub fn form_token(&self, token_hash: &str, issued: i64) -> String {
        let mac = self.mac(&[b"form-token/v1", token_hash.as_bytes(), &issued.to_be_bytes()]);
        format!("{issued}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// Whether `value` is a form token of `token_hash` issued within `max_age_secs` of `now`.
    pub fn check_form_token(&self, token_hash: &str, value: &str, now: i64, max_age_secs: i64) -> bool {
        let Some((issued, _)) = value.split_once('.') else { return false };
        let Ok(issued) = issued.parse::<i64>() else { return false };
        if issued > now + 60 || now - issued > max_age_secs {
            return false;
        }
        let expected = self.form_token(token_hash, issued);
        expected.as_bytes().ct_eq(value.as_bytes()).into()
    }
}

/// The secret part of a company's Link URL.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

impl LinkToken {
    /// Accepts a token read from a URL if it has the issued shape (43 base64url characters).
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(raw.to_string()))
    }

    /// The token text, for URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 (hex): what storage keeps.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_keyed_per_company_and_deployment() {
        let key = LinkKey::generate();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(key.token_for(a), key.token_for(a));
        assert_ne!(key.token_for(a), key.token_for(b));
        assert_ne!(key.token_for(a), LinkKey::generate().token_for(a));
        let token = key.token_for(a);
        assert_eq!(LinkToken::parse(token.as_str()), Some(token.clone()));
        assert!(!token.as_str().contains(&a.to_string()));
        assert_eq!(token.hash().len(), 64);
        assert!(!format!("{token:?}{key:?}").contains(token.as_str()));
        assert!(LinkToken::parse("short").is_none() && LinkToken::parse(&"a".repeat(42)).is_none());
    }

    #[test]
    fn form_tokens_expire_and_bind_to_the_link() {
        let key = LinkKey::generate();
        let value = key.form_token("hash-a", 1_000);
        assert!(key.check_form_token("hash-a", &value, 1_500, 3600));
        assert!(!key.check_form_token("hash-b", &value, 1_500, 3600), "bound to one link");
        assert!(!key.check_form_token("hash-a", &value, 10_000, 3600), "expired");
        assert!(!key.check_form_token("hash-a", "1000.forged", 1_500, 3600));
        assert!(!key.check_form_token("hash-a", "", 1_500, 3600));
        assert!(!LinkKey::generate().check_form_token("hash-a", &value, 1_500, 3600), "bound to the key");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_must_be_long() {
        assert!(LinkKey::parse(&"ab".repeat(32)).is_ok());
        assert!(LinkKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_ok());
        assert!(LinkKey::parse("abcd").is_err());
        assert!(LinkKey::parse("not a key").is_err());
    }
}
