//! A change made in the sandbox store, followed until the read API shows it: what
//! `make dev-change` shows against a running `make dev` (whose scheduler syncs every data type
//! again at each tick), and what the scheduler's tests check.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::client::ApiClient;

/// What was changed in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The order added.
    pub added: u64,
    /// The order updated (its status moved on).
    pub updated: u64,
    /// When, in whole seconds (the store's `date_modified` of both is at or after it).
    pub at: DateTime<Utc>,
}

/// Adds one order and updates another through the sandbox's admin API (`admin`:
/// `…/admin/stores/{hash}`).
pub async fn make_change(admin: &str) -> Result<Change, String> {
    let at = Utc::now().trunc_subsecs(0);
    let response = reqwest::Client::new()
        .post(format!("{admin}/mutate"))
        .json(&json!({"inserts": 1, "updates": 1}))
        .send()
        .await
        .map_err(|e| format!("the sandbox admin API did not answer: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("the sandbox answered {status}: {e}"))?;
    match body["touched"].as_array().map(|t| t.iter().filter_map(Value::as_u64).collect::<Vec<_>>()).as_deref() {
        Some(&[added, updated]) => Ok(Change { added, updated, at }),
        _ => Err(format!("the sandbox answered {status}: {body}")),
    }
}

/// How far the read API shows a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// Neither order shows it yet.
    Nothing,
    /// One of the two does.
    Partly,
    /// The added order is there and the updated one carries its new modification time.
    Fully,
}

/// Where the read API stands on `change`, for `connection` of `company`.
pub async fn seen(client: &ApiClient, company: &str, connection: &str, change: &Change) -> Result<Seen, String> {
    let mut shown = 0;
    for id in [change.added, change.updated] {
        let path = format!("/companies/{company}/connections/{connection}/data/commerce-orders/{id}");
        let (status, order) = client.send("GET", &path, None).await.map_err(|e| e.to_string())?;
        let modified = order["sourceModifiedDate"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc));
        match status {
            200 if modified.is_some_and(|m| m >= change.at) => shown += 1,
            200 | 404 | 409 => {}
            other => return Err(format!("GET {path} answered {other}: {order}")),
        }
    }
    Ok(match shown {
        0 => Seen::Nothing,
        1 => Seen::Partly,
        _ => Seen::Fully,
    })
}

/// Polls the read API until it shows all of `change`; returns how long that took, or an error
/// once `limit` has passed. `progress` hears each new state.
pub async fn until_seen(
    client: &ApiClient,
    company: &str,
    connection: &str,
    change: &Change,
    limit: Duration,
    mut progress: impl FnMut(Seen, Duration),
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = None;
    loop {
        let now = seen(client, company, connection, change).await?;
        if last != Some(now) {
            progress(now, started.elapsed());
            last = Some(now);
        }
        if now == Seen::Fully {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("the change was not in the read API after {} s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The company's Linked connection, as `GET /companies/{id}/connections` lists it.
pub async fn linked_connection(client: &ApiClient, company: &str) -> Result<Option<String>, String> {
    let path = format!("/companies/{company}/connections?pageSize=100");
    let page = client.expect("GET", &path, None, 200).await.map_err(|e| e.to_string())?;
    Ok(page["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["status"] == "Linked")
        .and_then(|c| c["id"].as_str())
        .map(str::to_string))
}
