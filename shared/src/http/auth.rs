//! API keys: bootstrap keys configured as SHA-256 digests (the deploy parameter), and keys
//! created through `POST /apiKeys` stored as digests in the platform table. A key is presented as
//! `Authorization: Basic <base64(key)>` and compared in constant time. Every failure looks the
//! same to the caller.
//!
//! Stored keys are cached for [`CACHE_SECS`] per function instance, so a deleted key stops
//! working within that time everywhere; a key not in the cache re-reads the list at most once a
//! second, so a key just created works at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::domain::api_key::bootstrap_id;
use crate::error::StoreError;
use crate::ports::ApiKeyStore;

/// Longest `Authorization` header considered.
const MAX_HEADER_LEN: usize = 1024;
/// Longest key considered.
pub const MAX_KEY_LEN: usize = 256;
/// How long the stored keys are trusted before they are read again.
pub const CACHE_SECS: u64 = 30;
/// Least time between two reads forced by an unknown key.
const MISS_REFRESH: Duration = Duration::from_secs(1);

/// Who a request authenticated as: the id of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The key's id (`apiKeyId`); bootstrap keys have ids derived from their digests.
    pub key_id: Uuid,
    /// A key of the deploy parameter (not deletable).
    pub bootstrap: bool,
}

#[derive(Default)]
struct Cache {
    keys: Vec<([u8; 32], Uuid)>,
    fetched: Option<Instant>,
}

struct StoredKeys {
    store: Arc<dyn ApiKeyStore>,
    cache: Mutex<Cache>,
}

/// The accepted API keys: bootstrap digests, and the stored keys when a store is attached.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    stored: Option<Arc<StoredKeys>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} bootstrap keys, stored: {})", self.digests.len(), self.stored.is_some())
    }
}

/// Why the key configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("API_KEY_SHA256 must hold one or more comma-separated 64-character hex SHA-256 digests")]
pub struct BadKeyConfig;

fn parse_digest(hex_digest: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).ok()?;
    Some(digest)
}

impl ApiKeys {
    /// Parses comma-separated hex SHA-256 digests (the deployment configuration).
    pub fn from_digests(config: &str) -> Result<Self, BadKeyConfig> {
        let digests = config
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| parse_digest(d).ok_or(BadKeyConfig))
            .collect::<Result<Vec<_>, _>>()?;
        if digests.is_empty() {
            return Err(BadKeyConfig);
        }
        Ok(Self { digests, stored: None })
    }

    /// These keys, and those `store` holds.
    pub fn with_store(mut self, store: Arc<dyn ApiKeyStore>) -> Self {
        self.stored = Some(Arc::new(StoredKeys { store, cache: Mutex::new(Cache::default()) }));
        self
    }

    /// The hex SHA-256 digest of a key, as the configuration holds it.
    pub fn digest_hex(key: &str) -> String {
        crate::domain::api_key::digest_hex(key)
    }

    /// The ids of the bootstrap keys, in configuration order.
    pub fn bootstrap_ids(&self) -> Vec<Uuid> {
        self.digests.iter().map(bootstrap_id).collect()
    }

    /// The key a request presents in its one `Authorization: Basic` header, if well formed.
    pub fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        value
            .to_str()
            .ok()
            .filter(|v| v.len() <= MAX_HEADER_LEN)
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
            .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
            .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LEN)
    }

    /// Who the request's `Authorization` header authenticates, if anyone.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<Option<Principal>, StoreError> {
        match Self::presented(headers) {
            Some(key) => self.check(&key).await,
            None => Ok(None),
        }
    }

    /// Who `key` authenticates, if anyone.
    pub async fn check(&self, key: &[u8]) -> Result<Option<Principal>, StoreError> {
        let presented: [u8; 32] = Sha256::digest(key).into();
        if let Some((digest, ())) = find(self.digests.iter().map(|d| (d, ())), &presented) {
            return Ok(Some(Principal { key_id: bootstrap_id(digest), bootstrap: true }));
        }
        let Some(stored) = &self.stored else { return Ok(None) };
        // A hit in a fresh cache is trusted; a miss is trusted only if the cache was read less
        // than a second ago (a key just created elsewhere is found by the next read).
        let (hit, fresh_enough) = {
            let cache = stored.cache.lock().unwrap_or_else(|e| e.into_inner());
            let hit = find(cache.keys.iter().map(|(d, id)| (d, *id)), &presented);
            let age = cache.fetched.map(|at| at.elapsed());
            let fresh = age.is_some_and(|a| a < Duration::from_secs(CACHE_SECS));
            let recent = age.is_some_and(|a| a < MISS_REFRESH);
            (hit.map(|(_, id)| id).filter(|_| fresh), fresh && (hit.is_some() || recent))
        };
        if let Some(id) = hit {
            return Ok(Some(Principal { key_id: id, bootstrap: false }));
        }
        if fresh_enough {
            return Ok(None);
        }
        let keys = stored.refresh().await?;
        Ok(find(keys.iter().map(|(d, id)| (d, *id)), &presented)
            .map(|(_, id)| Principal { key_id: id, bootstrap: false }))
    }

    /// Whether the key with `id` still works (a session checks this): bootstrap keys always do,
    /// stored keys until deleted (seen within [`CACHE_SECS`]).
    pub async fn still_valid(&self, id: Uuid) -> Result<bool, StoreError> {
        if self.bootstrap_ids().contains(&id) {
            return Ok(true);
        }
        let Some(stored) = &self.stored else { return Ok(false) };
        let cached = {
            let cache = stored.cache.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < Duration::from_secs(CACHE_SECS));
            fresh.then(|| cache.keys.iter().any(|(_, k)| *k == id))
        };
        match cached {
            Some(valid) => Ok(valid),
            None => Ok(stored.refresh().await?.iter().any(|(_, k)| *k == id)),
        }
    }

    /// Drops this instance's cached keys (after it created or deleted one).
    pub fn forget_cache(&self) {
        if let Some(stored) = &self.stored {
            *stored.cache.lock().unwrap_or_else(|e| e.into_inner()) = Cache::default();
        }
    }
}

impl StoredKeys {
    async fn refresh(&self) -> Result<Vec<([u8; 32], Uuid)>, StoreError> {
        let keys: Vec<([u8; 32], Uuid)> = self
            .store
            .api_keys()
            .await?
            .into_iter()
            .filter_map(|k| parse_digest(&k.digest).map(|d| (d, k.id)))
            .collect();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        *cache = Cache { keys: keys.clone(), fetched: Some(Instant::now()) };
        Ok(keys)
    }
}

/// The entry whose digest equals `presented`, comparing every entry so timing does not reveal
/// which one matched.
fn find<'a, T: Copy>(
    entries: impl Iterator<Item = (&'a [u8; 32], T)>,
    presented: &[u8; 32],
) -> Option<(&'a [u8; 32], T)> {
    let mut found = None;
    for (digest, value) in entries {
        if bool::from(digest.ct_eq(presented)) && found.is_none() {
            found = Some((digest, value));
        }
    }
    found
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

    async fn ok(keys: &ApiKeys, headers: &HeaderMap) -> bool {
        keys.authorize(headers).await.expect("no store").is_some()
    }

    #[tokio::test]
    async fn stored_keys_work_at_once_and_stop_when_deleted() {
        use crate::adapters::memory::MemoryStore;
        use crate::domain::NewApiKey;
        let store = MemoryStore::new();
        let keys =
            ApiKeys::from_digests(&ApiKeys::digest_hex("boot")).expect("config").with_store(Arc::new(store.clone()));
        assert!(!ok(&keys, &headers(&format!("Basic {}", STANDARD.encode("unknown")))).await);
        let created = NewApiKey::generate(None, chrono::Utc::now());
        store.create_api_key(&created.stored, 10).await.expect("create");
        // Another instance created it: a miss re-reads (the last read is over a second old).
        tokio::time::sleep(MISS_REFRESH).await;
        let presented = headers(&format!("Basic {}", STANDARD.encode(&created.key)));
        let principal = keys.authorize(&presented).await.expect("auth").expect("the new key works");
        assert_eq!(principal, Principal { key_id: created.stored.id, bootstrap: false });
        assert!(keys.still_valid(created.stored.id).await.expect("valid"));
        store.delete_api_key(created.stored.id).await.expect("delete");
        keys.forget_cache();
        assert!(!ok(&keys, &presented).await, "a deleted key stops working once the cache is re-read");
        assert!(!keys.still_valid(created.stored.id).await.expect("valid"));
        let boot = keys.authorize(&headers(&format!("Basic {}", STANDARD.encode("boot")))).await.expect("auth");
        assert_eq!(boot.map(|p| p.bootstrap), Some(true));
        assert!(keys.still_valid(keys.bootstrap_ids()[0]).await.expect("valid"));
    }

    #[tokio::test]
    async fn accepts_only_configured_keys_in_basic_form() {
        let keys = ApiKeys::from_digests(&format!("{},{}", ApiKeys::digest_hex("one"), ApiKeys::digest_hex("two")))
            .expect("valid config");
        assert!(ok(&keys, &headers(&format!("Basic {}", STANDARD.encode("one")))).await);
        assert!(ok(&keys, &headers(&format!("Basic {}", STANDARD.encode("two")))).await);
        assert!(!ok(&keys, &headers(&format!("Basic {}", STANDARD.encode("three")))).await);
        assert!(!ok(&keys, &headers(&format!("Bearer {}", STANDARD.encode("one")))).await);
        assert!(!ok(&keys, &headers("Basic one")).await);
        assert!(!ok(&keys, &headers("Basic !!!")).await);
        assert!(!ok(&keys, &HeaderMap::new()).await);
        let mut twice = headers(&format!("Basic {}", STANDARD.encode("one")));
        twice.append(http::header::AUTHORIZATION, HeaderValue::from_static("Basic dHdv"));
        assert!(!ok(&keys, &twice).await);
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(ApiKeys::from_digests("").is_err());
        assert!(ApiKeys::from_digests("abc").is_err());
        assert!(ApiKeys::from_digests(&"z".repeat(64)).is_err());
        assert!(!format!("{:?}", ApiKeys::from_digests(&ApiKeys::digest_hex("k")).expect("ok")).contains("6"));
    }
}
