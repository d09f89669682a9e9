//! Secrets Manager adapter: one secret per connection, updated in place on re-link.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::Tag;
use secrecy::{ExposeSecret, SecretString};

use crate::error::StoreError;
use crate::ports::{SecretReader, SecretStore};

/// Secrets in AWS Secrets Manager.
#[derive(Clone, Debug)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    /// Uses `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Attempts at creating a secret whose name's previous secret is still being deleted (waits of
/// 0.5, 1 and 2 s between them: inside the Link function's 20 s).
const DELETION_WAITS: u32 = 4;

fn failure<E: ProvideErrorMetadata>(operation: &str, e: &E) -> StoreError {
    // Codes and messages only: the SDK error's Debug could include the request.
    let code = e.code().unwrap_or("unknown");
    let detail = format!("{operation}: {code}");
    match code {
        "ThrottlingException" | "InternalServiceError" | "LimitExceededException" => StoreError::Unavailable(detail),
        _ => StoreError::Backend(detail),
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn put_secret(&self, name: &str, value: &SecretString, tags: &[(&str, String)]) -> Result<(), StoreError> {
        for attempt in 0..DELETION_WAITS {
            let created = self
                .client
                .create_secret()
                .name(name)
                .secret_string(value.expose_secret())
                .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(*k).value(v).build()).collect()))
                .send()
                .await;
            match created {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("ResourceExistsException") => {
                    self.client
                        .put_secret_value()
                        .secret_id(name)
                        .secret_string(value.expose_secret())
                        .send()
                        .await
                        .map_err(|e| failure("PutSecretValue", &e))?;
                    return Ok(());
                }
                // The name's previous secret (deleted at unlink, without recovery) is still
                // being removed: that takes seconds.
                Err(e) if e.code() == Some("InvalidRequestException") && attempt + 1 < DELETION_WAITS => {
                    tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
                }
                Err(e) if e.code() == Some("InvalidRequestException") => {
                    return Err(StoreError::Unavailable(
                        "CreateSecret: the connection's previous secret is still being deleted".into(),
                    ));
                }
                Err(e) => return Err(failure("CreateSecret", &e)),
            }
        }
        Err(StoreError::Unavailable("CreateSecret: no attempt left".into()))
    }

    async fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        match self.client.delete_secret().secret_id(name).force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(failure("DeleteSecret", &e)),
        }
    }
}

#[async_trait]
impl SecretReader for SecretsManagerStore {
    async fn read_secret(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(failure("GetSecretValue", &e)),
        }
    }
}
