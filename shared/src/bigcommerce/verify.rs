//! Verifying a store API account before linking: one cheap request per scope, concurrently.

use serde_json::Value;

use super::client::{BigCommerceClient, Transport};
use super::credentials::Credentials;
use super::scopes::Scope;

/// What the store said about the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// 401: the access token is wrong or revoked.
    #[error("BigCommerce rejected the access token")]
    TokenRejected,
    /// 404 on the store itself: the store hash names no store.
    #[error("no BigCommerce store was found for this API Path")]
    StoreNotFound,
    /// 403 on some scopes.
    #[error("the API account lacks scopes")]
    MissingScopes(Vec<Scope>),
    /// 429: the store's rate limit is exhausted right now.
    #[error("the store is busy")]
    Busy,
    /// 5xx, timeouts, broken bodies.
    #[error("the store could not be reached")]
    Unreachable,
}

impl VerifyError {
    /// The message a merchant reads, saying what to do.
    pub fn merchant_message(&self) -> String {
        match self {
            Self::TokenRejected => {
                "BigCommerce rejected this Access Token. Check you pasted the Access Token of the API account (not the Client ID or Secret), and that the account was not deleted.".into()
            }
            Self::StoreNotFound => {
                "No BigCommerce store was found at this API Path. Copy the API Path again from the API account's credentials.".into()
            }
            Self::MissingScopes(missing) => {
                let names: Vec<_> = missing.iter().map(|s| format!("{} (read-only)", s.ui_name())).collect();
                format!(
                    "This API account is missing the {} permission{}. BigCommerce does not let you change an account's scopes: create a new API account (Settings → API accounts → Create API account) with all five read-only scopes, and paste its credentials here.",
                    names.join(", "),
                    if missing.len() == 1 { "" } else { "s" }
                )
            }
            Self::Busy => "Your store is busy right now (its API rate limit is used up). Wait a minute and press Continue again.".into(),
            Self::Unreachable => "BigCommerce could not be reached just now. Please try again in a minute.".into(),
        }
    }
}

/// The verified store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStore {
    /// Store name from `v2/store`.
    pub name: String,
    /// Store domain from `v2/store`.
    pub domain: String,
    /// Granted scopes (all five).
    pub scopes: Vec<Scope>,
}

/// Probes the token and each scope. Links only when all five are granted.
pub async fn verify(client: &BigCommerceClient, credentials: &Credentials) -> Result<VerifiedStore, VerifyError> {
    let probes = Scope::ALL.map(|scope| async move {
        let (path, granted) = scope.probe();
        (scope, granted, client.get(&credentials.store_hash, &credentials.access_token, path).await)
    });
    let results = futures::future::join_all(probes).await;
    let mut missing = Vec::new();
    let mut store = None;
    let mut worst: Option<VerifyError> = None;
    let rank = |e: &VerifyError| match e {
        VerifyError::TokenRejected => 0,
        VerifyError::StoreNotFound => 1,
        VerifyError::Busy => 2,
        VerifyError::Unreachable => 3,
        VerifyError::MissingScopes(_) => 4,
    };
    let mut note = |e: VerifyError| {
        if worst.as_ref().is_none_or(|w| rank(&e) < rank(w)) {
            worst = Some(e);
        }
    };
    for (scope, granted, result) in results {
        match result {
            Err(_) => note(VerifyError::Unreachable),
            Ok(r) if granted.contains(&r.status) => {
                if scope == Scope::Information {
                    store = serde_json::from_slice::<Value>(&r.body).ok();
                    if store.is_none() {
                        note(VerifyError::Unreachable);
                    }
                }
            }
            Ok(r) => match r.status {
                401 => note(VerifyError::TokenRejected),
                403 => missing.push(scope),
                404 => note(VerifyError::StoreNotFound),
                429 => note(VerifyError::Busy),
                _ => note(VerifyError::Unreachable),
            },
        }
    }
    if let Some(error) = worst {
        return Err(error);
    }
    if !missing.is_empty() {
        return Err(VerifyError::MissingScopes(missing));
    }
    let store = store.unwrap_or_default();
    let text = |key: &str| store[key].as_str().unwrap_or_default().to_string();
    Ok(VerifiedStore { name: text("name"), domain: text("domain"), scopes: Scope::ALL.to_vec() })
}
