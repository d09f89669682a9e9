//! In-memory twin of Secrets Manager.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::error::StoreError;
use crate::ports::{SecretReader, SecretStore};

/// A secret's versions (oldest first) and tags.
type StoredSecret = (Vec<String>, Vec<(String, String)>);

/// Secrets held in memory, with every version kept (tests check updates happen in place).
#[derive(Default)]
pub struct MemorySecrets {
    secrets: Mutex<BTreeMap<String, StoredSecret>>,
}

impl MemorySecrets {
    /// The versions of a secret, oldest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).get(name).map(|s| s.0.clone()).unwrap_or_default()
    }

    /// Names of the stored secrets.
    pub fn names(&self) -> Vec<String> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn put_secret(&self, name: &str, value: &SecretString, tags: &[(&str, String)]) -> Result<(), StoreError> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        let entry = secrets
            .entry(name.to_string())
            .or_insert_with(|| (Vec::new(), tags.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()));
        entry.0.push(value.expose_secret().to_string());
        Ok(())
    }

    async fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        Ok(())
    }
}

#[async_trait]
impl SecretReader for MemorySecrets {
    async fn read_secret(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        Ok(secrets.get(name).and_then(|(versions, _)| versions.last()).map(|v| SecretString::from(v.clone())))
    }
}
