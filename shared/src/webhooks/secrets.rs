//! Where consumers' signing secrets are kept: one secret per consumer in Secrets Manager, named
//! `<prefix><consumer id>` under a prefix of their own (apart from the store credentials', so
//! that no function that reads one kind can read the other). fn companies creates and deletes
//! them; the deliverer alone reads them.

use std::sync::Arc;

use secrecy::ExposeSecret;
use uuid::Uuid;

use super::signing::SigningSecret;
use crate::error::StoreError;
use crate::ports::{SecretReader, SecretStore};

/// Creates and deletes consumer secrets.
#[derive(Clone)]
pub struct ConsumerSecrets {
    secrets: Arc<dyn SecretStore>,
    prefix: String,
}

impl ConsumerSecrets {
    /// Secrets named `<prefix><consumer id>` in `secrets`.
    pub fn new(secrets: Arc<dyn SecretStore>, prefix: impl Into<String>) -> Self {
        Self { secrets, prefix: prefix.into() }
    }

    /// Keeps `secret` for consumer `id`.
    pub async fn keep(&self, id: Uuid, secret: &SigningSecret) -> Result<(), StoreError> {
        self.secrets.put_secret(&secret_name(&self.prefix, id), &secret.text(), &[("webhook_id", id.to_string())]).await
    }

    /// Deletes consumer `id`'s secret at once; a missing one is fine.
    pub async fn forget(&self, id: Uuid) -> Result<(), StoreError> {
        self.secrets.delete_secret(&secret_name(&self.prefix, id)).await
    }
}

/// Reads consumer secrets (the deliverer).
#[derive(Clone)]
pub struct ConsumerSecretReader {
    secrets: Arc<dyn SecretReader>,
    prefix: String,
}

impl ConsumerSecretReader {
    /// Reads `<prefix><consumer id>` from `secrets`.
    pub fn new(secrets: Arc<dyn SecretReader>, prefix: impl Into<String>) -> Self {
        Self { secrets, prefix: prefix.into() }
    }

    /// Consumer `id`'s secret; `None` when it is missing or not a signing secret.
    pub async fn read(&self, id: Uuid) -> Result<Option<SigningSecret>, StoreError> {
        let stored = self.secrets.read_secret(&secret_name(&self.prefix, id)).await?;
        Ok(stored.and_then(|text| SigningSecret::parse(text.expose_secret()).ok()))
    }
}

fn secret_name(prefix: &str, id: Uuid) -> String {
    format!("{prefix}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemorySecrets;

    #[tokio::test]
    async fn a_secret_round_trips_under_its_prefix_and_goes() {
        let store = Arc::new(MemorySecrets::default());
        let (writer, reader) =
            (ConsumerSecrets::new(store.clone(), "hooks/"), ConsumerSecretReader::new(store.clone(), "hooks/"));
        let (id, secret) = (Uuid::new_v4(), SigningSecret::generate());
        writer.keep(id, &secret).await.expect("kept");
        assert_eq!(store.names(), [format!("hooks/{id}")]);
        let back = reader.read(id).await.expect("read").expect("present");
        assert_eq!(back.signature("m", 1, b"{}"), secret.signature("m", 1, b"{}"));
        writer.forget(id).await.expect("forgotten");
        assert!(reader.read(id).await.expect("read").is_none());
        writer.forget(id).await.expect("a missing secret is fine");
    }
}
