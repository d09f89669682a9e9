//! Where a connection's credentials are kept: one secret per connection in Secrets Manager,
//! named `<prefix><connection id>`, tagged with its company and connection ids, holding the four
//! values as JSON. Written and deleted through [`CredentialVault`] (fn link writes, fn companies
//! deletes), read through [`CredentialReader`] (fn sync-worker only). DynamoDB keeps only the
//! secret's name.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::bigcommerce::{Credentials, StoreHash};
use crate::error::StoreError;
use crate::ports::{SecretReader, SecretStore};

/// Writes and deletes credential secrets.
#[derive(Clone)]
pub struct CredentialVault {
    secrets: Arc<dyn SecretStore>,
    prefix: String,
}

impl CredentialVault {
    /// Secrets named `<prefix><connection id>` in `secrets`.
    pub fn new(secrets: Arc<dyn SecretStore>, prefix: impl Into<String>) -> Self {
        Self { secrets, prefix: prefix.into() }
    }

    /// The secret name of a connection.
    pub fn secret_name(&self, connection: Uuid) -> String {
        format!("{}{connection}", self.prefix)
    }

    /// Keeps `credentials` for `connection` of `company`: creates the secret, or updates it in
    /// place on a re-link (a deleted name stays blocked for days). Returns its name.
    pub async fn keep(&self, company: Uuid, connection: Uuid, credentials: &Credentials) -> Result<String, StoreError> {
        self.keep_with_hook(company, connection, credentials, None).await
    }

    /// [`keep`](Self::keep), with the secret the store's hooks carry (`hookSecret`), which
    /// the sync worker needs again to repair them.
    pub async fn keep_with_hook(
        &self,
        company: Uuid,
        connection: Uuid,
        credentials: &Credentials,
        hook_secret: Option<&SecretString>,
    ) -> Result<String, StoreError> {
        let name = self.secret_name(connection);
        let tags = [("company_id", company.to_string()), ("connection_id", connection.to_string())];
        self.secrets.put_secret(&name, &secret_json(credentials, hook_secret), &tags).await?;
        Ok(name)
    }

    /// Deletes the secret `name` at once (no recovery window); a missing one is fine.
    pub async fn forget(&self, name: &str) -> Result<(), StoreError> {
        self.secrets.delete_secret(name).await
    }
}

/// Reads credential secrets back.
#[derive(Clone)]
pub struct CredentialReader {
    secrets: Arc<dyn SecretReader>,
}

impl CredentialReader {
    /// Reads from `secrets`.
    pub fn new(secrets: Arc<dyn SecretReader>) -> Self {
        Self { secrets }
    }

    /// The credentials in secret `name`; `None` when it is missing or does not hold them.
    pub async fn read(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self.secrets.read_secret(name).await?.and_then(|secret| from_secret_json(secret.expose_secret())))
    }

    /// The credentials in secret `name` with the store hooks' secret, when it holds one.
    pub async fn read_with_hook(&self, name: &str) -> Result<Option<(Credentials, Option<SecretString>)>, StoreError> {
        let Some(secret) = self.secrets.read_secret(name).await? else { return Ok(None) };
        let hook = serde_json::from_str::<Value>(secret.expose_secret())
            .ok()
            .and_then(|v| v["hookSecret"].as_str().map(|s| SecretString::from(s.to_string())));
        Ok(from_secret_json(secret.expose_secret()).map(|c| (c, hook)))
    }
}

/// The secret's JSON value: the Client ID, access token and store hash (never the Client
/// Secret, see [`Credentials`]).
fn secret_json(credentials: &Credentials, hook_secret: Option<&SecretString>) -> SecretString {
    let mut value = json!({
        "clientId": credentials.client_id.expose_secret(),
        "accessToken": credentials.access_token.expose_secret(),
        "storeHash": credentials.store_hash.as_str(),
    });
    if let Some(hook) = hook_secret {
        value["hookSecret"] = json!(hook.expose_secret());
    }
    SecretString::from(value.to_string())
}

/// Reads credentials back from a secret's JSON value (a `clientSecret` that secrets written
/// before it was dropped still hold is ignored; it goes with the secret).
fn from_secret_json(text: &str) -> Option<Credentials> {
    let value: Value = serde_json::from_str(text).ok()?;
    let field = |key: &str| value[key].as_str().map(|s| SecretString::from(s.to_string()));
    Some(Credentials {
        client_id: field("clientId")?,
        access_token: field("accessToken")?,
        store_hash: StoreHash::parse(value["storeHash"].as_str()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemorySecrets;

    fn credentials() -> Credentials {
        Credentials {
            client_id: SecretString::from("cid-1".to_string()),
            access_token: SecretString::from("tok-abc".to_string()),
            store_hash: StoreHash::parse("abc123").expect("hash"),
        }
    }

    #[tokio::test]
    async fn credentials_round_trip_through_one_named_tagged_secret() {
        let secrets = Arc::new(MemorySecrets::default());
        let vault = CredentialVault::new(secrets.clone(), "test/");
        let reader = CredentialReader::new(secrets.clone());
        let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
        let name = vault.keep(company, connection, &credentials()).await.expect("kept");
        assert_eq!(name, format!("test/{connection}"));
        vault.keep(company, connection, &credentials()).await.expect("kept again");
        assert_eq!(secrets.versions(&name).len(), 2, "a re-link updates the secret in place");
        let back = reader.read(&name).await.expect("read").expect("present");
        assert_eq!(back.access_token.expose_secret(), "tok-abc");
        assert_eq!(back.store_hash.as_str(), "abc123");
        let stored = secrets.read_secret(&name).await.expect("read").expect("present");
        let stored: Value = serde_json::from_str(stored.expose_secret()).expect("json");
        assert_eq!(
            stored.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(["accessToken", "clientId", "storeHash"].map(String::from).to_vec()),
            "no Client Secret is kept"
        );
        // A secret written while the Client Secret was still kept reads as before.
        let old = r#"{"clientId":"a","clientSecret":"b","accessToken":"c","storeHash":"abc123"}"#;
        assert_eq!(from_secret_json(old).map(|c| c.access_token.expose_secret().to_string()), Some("c".into()));
        vault.forget(&name).await.expect("deleted");
        assert!(reader.read(&name).await.expect("read").is_none());
        vault.forget(&name).await.expect("deleting a missing secret succeeds");
    }

    #[test]
    fn a_secret_that_is_not_ours_reads_as_none() {
        assert!(from_secret_json("{}").is_none());
        assert!(from_secret_json("not json").is_none());
        assert!(
            from_secret_json(r#"{"clientId":"a","clientSecret":"b","accessToken":"c","storeHash":"BAD HASH"}"#)
                .is_none()
        );
    }
}
