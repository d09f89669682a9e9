//! API keys the platform creates through the API (`POST /apiKeys`) or the portal. Only a key's
//! SHA-256 digest is stored; the key itself is shown once, in the creation answer. Keys set by
//! the deploy parameter (`ApiKeySha256`) are bootstrap keys: listed, never stored nor deletable.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Most API keys a deployment holds, bootstrap keys included (Codat's limit).
pub const MAX_API_KEYS: usize = 10;
/// Longest key name (Codat's limit).
pub const MAX_KEY_NAME_CHARS: usize = 50;
/// Characters of a generated key.
pub const KEY_CHARS: usize = 40;

/// A stored API key: its digest, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredApiKey {
    /// Id (`apiKeyId`).
    pub id: Uuid,
    /// Optional name, at most [`MAX_KEY_NAME_CHARS`] characters.
    pub name: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Hex SHA-256 of the key.
    pub digest: String,
}

/// A key just created: the stored form, and the key itself (to show once).
pub struct NewApiKey {
    /// What is stored.
    pub stored: StoredApiKey,
    /// The key, for the creation answer only.
    pub key: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("stored", &self.stored).finish_non_exhaustive()
    }
}

impl NewApiKey {
    /// A fresh random key (alphanumeric, [`KEY_CHARS`] long, ~238 bits) named `name`.
    pub fn generate(name: Option<String>, now: DateTime<Utc>) -> Self {
        let key: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(KEY_CHARS).map(char::from).collect();
        let stored = StoredApiKey { id: Uuid::new_v4(), name, created: now, digest: digest_hex(&key) };
        Self { stored, key }
    }
}

/// The hex SHA-256 digest of a key.
pub fn digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The stable id of a bootstrap key, derived from its digest (so it lists the same every time).
pub fn bootstrap_id(digest: &[u8; 32]) -> Uuid {
    let hash = Sha256::digest([b"bootstrap-key/v1\x1f".as_slice(), digest].concat());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Checks a key name: trimmed, at most [`MAX_KEY_NAME_CHARS`], no control characters; empty
/// means unnamed.
pub fn parse_key_name(raw: &str) -> Result<Option<String>, String> {
    let name = raw.trim();
    if name.chars().count() > MAX_KEY_NAME_CHARS {
        return Err(format!("Max string length ({MAX_KEY_NAME_CHARS}) for `name` reached."));
    }
    if name.chars().any(char::is_control) {
        return Err("'name' must not contain control characters".into());
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_random_and_stored_as_digests() {
        let a = NewApiKey::generate(None, Utc::now());
        let b = NewApiKey::generate(Some("ci".into()), Utc::now());
        assert_eq!(a.key.len(), KEY_CHARS);
        assert!(a.key.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.key, b.key);
        assert_eq!(a.stored.digest, digest_hex(&a.key));
        assert!(!format!("{a:?}").contains(&a.key), "Debug never shows the key");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(parse_key_name("  ci  "), Ok(Some("ci".into())));
        assert_eq!(parse_key_name(""), Ok(None));
        assert!(parse_key_name(&"x".repeat(51)).is_err());
        assert!(parse_key_name(&"é".repeat(50)).is_ok());
        assert!(parse_key_name("a\u{7}b").is_err());
    }

    #[test]
    fn bootstrap_ids_are_stable_and_distinct() {
        assert_eq!(bootstrap_id(&[1; 32]), bootstrap_id(&[1; 32]));
        assert_ne!(bootstrap_id(&[1; 32]), bootstrap_id(&[2; 32]));
    }
}
