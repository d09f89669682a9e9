//! Rotating the link keys (`LinkSigningKeySecret`): a new current key, the old one accepted for
//! a window (hours; at least [`shared::keyring::MIN_ROTATION_WINDOW`], so every function
//! instance has read the new keys before the old one stops). Stored Link lookups are keyed by
//! each company's nonce, so nothing stored changes.

use aws_sdk_secretsmanager::Client;
use shared::domain::StoredLinkKeys;

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The window is too short for every cache to have read the new key.
    #[error("the rotation window must be at least {0} s")]
    WindowTooShort(u64),
    /// Secrets Manager failed, or the secret does not hold link keys.
    #[error("{0}")]
    Secret(String),
}

/// Rotates the link keys in `secret`: a fresh key, accepted at once and signing after
/// `sign_after` (deployed: [`shared::keyring::SIGN_AFTER`], when every instance has read it), the
/// previous accepted until `window` from now. Returns when the previous key stops.
pub async fn rotate_link_key(
    client: &Client,
    secret: &str,
    window: chrono::Duration,
    sign_after: std::time::Duration,
) -> Result<chrono::DateTime<chrono::Utc>, RotateError> {
    let min = shared::keyring::MIN_ROTATION_WINDOW.max(sign_after);
    if window.to_std().map_or(true, |w| w < min) {
        return Err(RotateError::WindowTooShort(min.as_secs()));
    }
    let out = client.get_secret_value().secret_id(secret).send().await.map_err(|e| {
        RotateError::Secret(format!("GetSecretValue: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)))
    })?;
    let stored: StoredLinkKeys = serde_json::from_str(out.secret_string().unwrap_or_default())
        .map_err(|_| RotateError::Secret("the secret does not hold link keys ({\"current\": ...})".into()))?;
    let now = chrono::Utc::now();
    let sign_after = chrono::Duration::from_std(sign_after).unwrap_or_default();
    let rotated = stored.rotated(shared::domain::link::new_key_text(), now, window, sign_after);
    let text = serde_json::to_string(&rotated).map_err(|e| RotateError::Secret(e.to_string()))?;
    client.put_secret_value().secret_id(secret).secret_string(text).send().await.map_err(|e| {
        RotateError::Secret(format!("PutSecretValue: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)))
    })?;
    Ok(now + window)
}
