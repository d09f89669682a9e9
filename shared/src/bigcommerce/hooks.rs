//! The store's webhooks (`/v3/hooks`): registered at link, checked by every scheduled sync,
//! removed before a connection's secret goes. Each hook calls the stack's endpoint for its
//! connection with the connection's hook secret in a custom header
//! (README, "Freshness"; BigCommerce documents no payload signature).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::client::Write;
use super::endpoints::v3_data;
use super::paced::{FetchError, PacedClient, Page};

/// The events we register: what changes orders (with their payments and transactions),
/// products and customers.
pub const SCOPES: &[&str] = &[
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/order/transaction/updated",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
];

/// The custom header each callback carries the connection's hook secret in.
pub const SECRET_HEADER: &str = "x-commerce-link-hook";

/// One of the store's hooks, as far as we read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Its id.
    pub id: u64,
    /// Its event.
    pub scope: String,
    /// Where it calls.
    pub destination: String,
    /// Whether BigCommerce calls it (false once deactivated after failing deliveries).
    pub is_active: bool,
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repair {
    /// Hooks created (missing ones).
    pub created: u32,
    /// Hooks found deactivated and turned back on.
    pub reactivated: u32,
    /// Hooks found as they should be.
    pub healthy: u32,
}

/// The token's hooks (only those its API account created are visible to it).
pub async fn list(client: &PacedClient, deadline: Instant) -> Result<Vec<Hook>, FetchError> {
    let mut hooks = Vec::new();
    for page in 1..=20u32 {
        let Page::Json(body) = client.get(&format!("v3/hooks?limit=250&page={page}"), deadline).await? else {
            break;
        };
        let data = v3_data(&body, "the store's hooks")?;
        hooks.extend(data.iter().filter_map(hook));
        let pages = body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1);
        if data.is_empty() || u64::from(page) >= pages {
            break;
        }
    }
    Ok(hooks)
}

fn hook(value: &Value) -> Option<Hook> {
    Some(Hook {
        id: value["id"].as_u64()?,
        scope: value["scope"].as_str()?.to_string(),
        destination: value["destination"].as_str()?.to_string(),
        is_active: value["is_active"].as_bool().unwrap_or(false),
    })
}

fn headers(secret: &SecretString) -> Value {
    json!({ SECRET_HEADER: secret.expose_secret() })
}

/// Makes every scope of [`SCOPES`] call `destination` with `secret`: creates what is missing,
/// turns deactivated hooks back on (with the secret again), and with `fresh_secret` (a link,
/// which makes a new secret) gives every existing hook the secret too. One list call when all
/// is well.
pub async fn ensure(
    client: &PacedClient,
    destination: &str,
    secret: &SecretString,
    fresh_secret: bool,
    deadline: Instant,
) -> Result<Repair, FetchError> {
    let hooks = list(client, deadline).await?;
    let mut repair = Repair::default();
    for scope in SCOPES {
        let ours = hooks.iter().find(|h| h.scope == *scope && h.destination == destination);
        match ours {
            Some(h) if h.is_active && !fresh_secret => repair.healthy += 1,
            Some(h) => {
                let body = json!({"is_active": true, "headers": headers(secret)}).to_string();
                client.send(&format!("v3/hooks/{}", h.id), Write::Put(body.as_bytes()), deadline).await?;
                repair.reactivated += 1;
            }
            None => {
                let body = json!({"scope": scope, "destination": destination, "is_active": true,
                                  "headers": headers(secret)})
                .to_string();
                match client.send("v3/hooks", Write::Post(body.as_bytes()), deadline).await {
                    Ok(_) => {}
                    // A retried POST that had landed: the hook is there.
                    Err(FetchError::Unexpected(409 | 422, _))
                        if list(client, deadline)
                            .await?
                            .iter()
                            .any(|h| h.scope == *scope && h.destination == destination) => {}
                    Err(e) => return Err(e),
                }
                repair.created += 1;
            }
        }
    }
    Ok(repair)
}

/// Deletes the hooks that call `destination`; returns how many went.
pub async fn remove(client: &PacedClient, destination: &str, deadline: Instant) -> Result<u32, FetchError> {
    let mut removed = 0;
    for hook in list(client, deadline).await?.into_iter().filter(|h| h.destination == destination) {
        match client.send(&format!("v3/hooks/{}", hook.id), Write::Delete, deadline).await {
            Ok(_) | Err(FetchError::NotFound(_)) => removed += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}
