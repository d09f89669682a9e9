//! A change made in the sandbox store, followed until the read API shows it: what
//! `make dev-change` shows against a running `make dev` (the store's webhooks announce it in
//! seconds; the scheduler syncs every data type again at each tick), and what the scheduler's
//! tests check. The sandbox's admin API tells which way it came: the callbacks it delivered for
//! the change's orders, and the store calls made meanwhile (a scheduled sync lists the orders,
//! a targeted one fetches them by id).

use std::collections::BTreeMap;
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

/// How often [`until_seen`] asks the read API (the latency it reports is this fine).
pub const POLL_EVERY: Duration = Duration::from_millis(200);

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
        tokio::time::sleep(POLL_EVERY).await;
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

/// The sandbox store's API calls so far, by endpoint (`GET v2/orders`, `GET v2/orders/{id}`, ...).
pub async fn store_calls(admin: &str) -> Result<BTreeMap<String, u64>, String> {
    let metrics = admin_get(admin, "metrics").await?;
    let requests = metrics["requests"].as_object().ok_or_else(|| format!("the sandbox's metrics: {metrics}"))?;
    Ok(requests.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
}

/// The webhook callbacks about `change`'s orders the stack answered with 2xx.
pub async fn delivered(admin: &str, change: &Change) -> Result<usize, String> {
    let deliveries = admin_get(admin, "hooks/deliveries").await?;
    let list = deliveries.as_array().ok_or_else(|| format!("the sandbox's deliveries: {deliveries}"))?;
    Ok(list
        .iter()
        .filter(|d| d["scope"].as_str().is_some_and(|s| s.starts_with("store/order/")))
        .filter(|d| d["data_id"].as_u64().is_some_and(|id| id == change.added || id == change.updated))
        .filter(|d| d["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
        .count())
}

async fn admin_get(admin: &str, path: &str) -> Result<Value, String> {
    let response = reqwest::get(format!("{admin}/{path}"))
        .await
        .map_err(|e| format!("the sandbox admin API did not answer: {e}"))?;
    let status = response.status();
    response.json().await.map_err(|e| format!("the sandbox answered {status} to {path}: {e}"))
}

/// How a change reached the read API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The store's webhooks: callbacks delivered, the orders fetched by id, no listing.
    Webhooks,
    /// A scheduled sync's listing, with no callback delivered.
    Schedule,
    /// Callbacks were delivered and a scheduled sync listed the orders too.
    Both,
}

/// What the sandbox saw while a change travelled to the read API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trail {
    /// Callbacks about its orders answered 2xx.
    pub delivered: usize,
    /// Store API calls made meanwhile, by endpoint.
    pub calls: BTreeMap<String, u64>,
}

impl Trail {
    /// The calls made between two readings of [`store_calls`], and the callbacks delivered.
    pub fn between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, delivered: usize) -> Self {
        let calls = after
            .iter()
            .map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0))))
            .filter(|(_, v)| *v > 0)
            .collect();
        Self { delivered, calls }
    }

    /// Store calls made meanwhile.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    /// How the change came: a listing of orders is a scheduled (or requested) sync's.
    pub fn route(&self) -> Route {
        let listed = self.calls.get("GET v2/orders").is_some_and(|n| *n > 0);
        match (self.delivered > 0, listed) {
            (true, false) => Route::Webhooks,
            (true, true) => Route::Both,
            (false, _) => Route::Schedule,
        }
    }
}

/// The `p`-th percentile (0..=100) of `samples` by the nearest-rank rule; zero when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        let samples = ms(&[900, 100, 500, 300, 700]);
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(500));
        assert_eq!(percentile(&samples, 95.0), Duration::from_millis(900));
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(100));
        assert_eq!(percentile(&ms(&(1..=20).collect::<Vec<_>>()), 95.0), Duration::from_millis(19));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn a_trail_tells_webhooks_from_the_schedule() {
        let before = BTreeMap::from([("GET v2/orders".to_string(), 4), ("GET v2/orders/{id}".to_string(), 1)]);
        let by_id = BTreeMap::from([("GET v2/orders".to_string(), 4), ("GET v2/orders/{id}".to_string(), 3)]);
        let trail = Trail::between(&before, &by_id, 2);
        assert_eq!(trail.calls, BTreeMap::from([("GET v2/orders/{id}".to_string(), 2)]));
        assert_eq!((trail.route(), trail.total_calls()), (Route::Webhooks, 2));
        let listed = BTreeMap::from([("GET v2/orders".to_string(), 5), ("GET v2/orders/{id}".to_string(), 1)]);
        assert_eq!(Trail::between(&before, &listed, 0).route(), Route::Schedule);
        assert_eq!(Trail::between(&before, &listed, 1).route(), Route::Both);
    }
}
