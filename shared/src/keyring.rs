//! Where the HTTP functions get their link keys ([`LinkKeys`]): a Secrets Manager secret
//! (`LINK_KEY_SECRET`, JSON [`StoredLinkKeys`]) loaded on first use, cached and read again every
//! [`REFRESH`], so a rotation reaches every function instance within minutes while the
//! rotation's window (hours) keeps the previous key accepted. Tests and the events replay use
//! fixed keys.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::time::Instant;
use uuid::Uuid;

use crate::domain::{LinkKeys, StoredLinkKeys};
use crate::error::StoreError;
use crate::ports::SecretReader;

/// How long loaded keys are used before the secret is read again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// How long after a rotation the new key starts signing: by then every instance has read it.
pub const SIGN_AFTER: Duration = Duration::from_secs(300 + 60);

/// The shortest rotation window: it outlasts every instance's cache and [`SIGN_AFTER`].
pub const MIN_ROTATION_WINDOW: Duration = Duration::from_secs(2 * 300);

enum Origin {
    Fixed,
    Secret { name: String, reader: Option<Arc<dyn SecretReader>> },
}

struct Inner {
    origin: Origin,
    loaded: RwLock<Option<(Instant, Arc<LinkKeys>)>>,
    reload: tokio::sync::Mutex<()>,
    refresh: Duration,
}

/// The link keys of a function: fixed, or from a secret (cached).
#[derive(Clone)]
pub struct LinkKeySource(Arc<Inner>);

impl std::fmt::Debug for LinkKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.origin {
            Origin::Fixed => f.write_str("LinkKeySource(fixed)"),
            Origin::Secret { name, .. } => write!(f, "LinkKeySource(secret {name})"),
        }
    }
}

impl LinkKeySource {
    /// Always `keys`.
    pub fn fixed(keys: LinkKeys) -> Self {
        Self(Arc::new(Inner {
            origin: Origin::Fixed,
            loaded: RwLock::new(Some((Instant::now(), Arc::new(keys)))),
            reload: tokio::sync::Mutex::new(()),
            refresh: REFRESH,
        }))
    }

    /// Fresh random keys (local stacks and tests).
    pub fn generate() -> Self {
        Self::fixed(LinkKeys::generate())
    }

    /// The secret `name`, to be read once [`LinkKeySource::connect`]ed to a reader.
    pub fn secret(name: impl Into<String>) -> Self {
        Self::secret_refreshed(name, REFRESH)
    }

    /// The secret `name`, read again every `refresh` (tests; deployed: [`REFRESH`]).
    pub fn secret_refreshed(name: impl Into<String>, refresh: Duration) -> Self {
        Self(Arc::new(Inner {
            origin: Origin::Secret { name: name.into(), reader: None },
            loaded: RwLock::new(None),
            reload: tokio::sync::Mutex::new(()),
            refresh,
        }))
    }

    /// The same source, reading its secret through `reader` (fixed keys stay as they are).
    pub fn connect(&self, reader: Arc<dyn SecretReader>) -> Self {
        match &self.0.origin {
            Origin::Fixed => self.clone(),
            Origin::Secret { name, .. } => Self(Arc::new(Inner {
                origin: Origin::Secret { name: name.clone(), reader: Some(reader) },
                loaded: RwLock::new(None),
                reload: tokio::sync::Mutex::new(()),
                refresh: self.0.refresh,
            })),
        }
    }

    /// The keys last loaded, if any ([`LinkKeySource::ready`] loads them).
    pub fn snapshot(&self) -> Option<Arc<LinkKeys>> {
        self.0.loaded.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, keys)| keys.clone())
    }

    /// The keys, read from the secret when never loaded or older than [`REFRESH`]. A failed
    /// refresh keeps the keys loaded before (and says so); a failed first load is an error.
    pub async fn ready(&self) -> Result<Arc<LinkKeys>, StoreError> {
        let Origin::Secret { name, reader } = &self.0.origin else {
            return self.snapshot().ok_or_else(|| StoreError::Backend("no link keys".into()));
        };
        if let Some((at, keys)) = self.0.loaded.read().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < self.0.refresh
        {
            return Ok(keys.clone());
        }
        let _one_reader = self.0.reload.lock().await;
        if let Some((at, keys)) = self.0.loaded.read().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < self.0.refresh
        {
            return Ok(keys.clone());
        }
        let reader =
            reader.as_ref().ok_or_else(|| StoreError::Backend("the link key source is not connected".into()))?;
        match load(reader.as_ref(), name).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.0.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), keys.clone()));
                Ok(keys)
            }
            Err(e) => match self.snapshot() {
                Some(keys) => {
                    tracing::warn!(error = %e, "link keys not refreshed; using the ones loaded before");
                    Ok(keys)
                }
                None => Err(e),
            },
        }
    }
}

/// The deployment's stable Codat `clientId`: derived from the key secret's name (its ARN when
/// deployed), which rotations keep.
pub fn client_id_of(secret: &str) -> Uuid {
    let digest = Sha256::digest(format!("client-id/v2/{secret}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn load(reader: &dyn SecretReader, name: &str) -> Result<LinkKeys, StoreError> {
    let text = reader
        .read_secret(name)
        .await?
        .ok_or_else(|| StoreError::Backend("the link key secret does not exist".into()))?;
    let stored: StoredLinkKeys = serde_json::from_str(text.expose_secret())
        .map_err(|_| StoreError::Backend("the link key secret is not {\"current\": <key>, ...}".into()))?;
    stored
        .keys(chrono::Utc::now(), client_id_of(name))
        .map_err(|e| StoreError::Backend(format!("link key secret: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemorySecrets;
    use crate::domain::link::new_key_text;
    use crate::ports::SecretStore;
    use secrecy::SecretString;

    #[tokio::test]
    async fn keys_load_once_then_refresh_after_the_cache_and_survive_a_failed_refresh() {
        let secrets = Arc::new(MemorySecrets::default());
        let stored = StoredLinkKeys { current: new_key_text(), previous: None, previous_until: None, sign_from: None };
        let json = |s: &StoredLinkKeys| SecretString::from(serde_json::to_string(s).expect("json"));
        secrets.put_secret("keys", &json(&stored), &[]).await.expect("put");
        let refresh = Duration::from_millis(100);
        let source = LinkKeySource::secret_refreshed("keys", refresh).connect(secrets.clone());
        assert!(source.snapshot().is_none(), "loaded on first use");
        let first = source.ready().await.expect("keys");
        assert_eq!(first.client_id(), client_id_of("keys"));
        let rotated =
            stored.rotated(new_key_text(), chrono::Utc::now(), chrono::Duration::hours(1), chrono::Duration::zero());
        secrets.put_secret("keys", &json(&rotated), &[]).await.expect("rotate");
        assert!(Arc::ptr_eq(&first, &source.ready().await.expect("cached")), "cached within the refresh time");
        tokio::time::sleep(refresh + Duration::from_millis(20)).await;
        let second = source.ready().await.expect("refreshed");
        assert_eq!(second.accepted().count(), 2, "the rotation arrived: old and new accepted");
        assert_eq!(second.client_id(), first.client_id(), "clientId unchanged");
        secrets.delete_secret("keys").await.expect("delete");
        tokio::time::sleep(refresh + Duration::from_millis(20)).await;
        assert!(Arc::ptr_eq(&second, &source.ready().await.expect("kept")), "a failed refresh keeps the keys");
        assert!(LinkKeySource::secret("missing").connect(secrets).ready().await.is_err());
        assert!(MIN_ROTATION_WINDOW > REFRESH && SIGN_AFTER > REFRESH && MIN_ROTATION_WINDOW > SIGN_AFTER);
    }
}
