//! fn store-hooks' use case: a callback from a store's hook becomes a pending change and a
//! targeted sync on the fresh queue. Checked before anything is written: the connection exists
//! and has hooks, and the callback carries their secret (compared in constant time); a
//! duplicate (its `hash` seen before) and a connection that is not Linked cost no work.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::hook::{Callback, CallbackError, Change, FreshJob, FreshKind, secret_matches};
use crate::error::StoreError;
use crate::ports::{ConnectionStore, FreshQueue, HookStore};

/// How long a callback's `hash` is remembered: BigCommerce retries for about 48 hours.
pub const SEEN_FOR_SECS: i64 = 3 * 86_400;

/// What became of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Its change waits for the targeted sync queued for the window.
    Queued(Change),
    /// Seen before (same `hash`): dropped.
    Duplicate,
    /// The connection is not Linked (or its event names nothing we keep): dropped.
    Ignored,
}

/// Why a callback is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No such connection, no hooks, or not their secret: 401, no work.
    #[error("unauthorized")]
    Unauthorized,
    /// The body is not BigCommerce's envelope: 400.
    #[error(transparent)]
    Body(#[from] CallbackError),
    /// Storage or the queue failed: 5xx, and BigCommerce retries.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Receives store callbacks.
pub struct Receiver<S> {
    store: S,
    queue: Arc<dyn FreshQueue>,
}

impl<S: ConnectionStore + HookStore> Receiver<S> {
    /// Writes changes to `store` and targeted syncs to `queue`.
    pub fn new(store: S, queue: Arc<dyn FreshQueue>) -> Self {
        Self { store, queue }
    }

    /// Handles a callback for `connection` of `company` carrying `secret` (the hook's custom
    /// header) and `body`, at `now`. The change is written before its job is queued and the
    /// `hash` marked seen last: a run killed at any point leaves the callback unanswered, and
    /// BigCommerce's retry finds it undone (or finishes it: each step is idempotent).
    pub async fn receive(
        &self,
        company: Uuid,
        connection: Uuid,
        secret: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Received, Refused> {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else { return Err(Refused::Unauthorized) };
        let found = self.store.get_connection(company, connection).await?;
        let Some(linked) = found else { return Err(Refused::Unauthorized) };
        let Some(hooks) = &linked.hooks else { return Err(Refused::Unauthorized) };
        if !secret_matches(secret, &hooks.secret_sha256) {
            return Err(Refused::Unauthorized);
        }
        let callback = Callback::parse(body)?;
        if !linked.syncable() {
            tracing::info!(connection_id = %connection, scope = %callback.scope, "callback for a connection that is not linked: dropped");
            return Ok(Received::Ignored);
        }
        let Some((resource, id)) = callback.changed else {
            return Ok(Received::Ignored);
        };
        if self.store.callback_seen(connection, &callback.hash).await? {
            tracing::info!(connection_id = %connection, scope = %callback.scope, "duplicate callback: dropped");
            return Ok(Received::Duplicate);
        }
        let change = Change { company, connection, resource, id, token: Uuid::new_v4(), at: now };
        self.store.record_change(&change).await?;
        self.queue.enqueue_fresh(&[FreshJob::new(FreshKind::Changes, company, connection, Utc::now())]).await?;
        self.store.mark_callback_seen(connection, &callback.hash, now.timestamp() + SEEN_FOR_SECS).await?;
        tracing::info!(connection_id = %connection, scope = %callback.scope, "change queued");
        Ok(Received::Queued(change))
    }
}
