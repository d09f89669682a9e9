//! Data connections: one BigCommerce store of one company, and its status machine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Codat's connection status. `PendingAuth -> Linked -> (Deauthorized | Unlinked)`, and a
/// Deauthorized or Unlinked connection may be linked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// Created, waiting for the merchant's credentials.
    PendingAuth,
    /// Credentials verified; syncs run.
    Linked,
    /// Unlinked by the platform.
    Unlinked,
    /// The store rejected the stored credentials.
    Deauthorized,
}

impl ConnectionStatus {
    /// Codat's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAuth => "PendingAuth",
            Self::Linked => "Linked",
            Self::Unlinked => "Unlinked",
            Self::Deauthorized => "Deauthorized",
        }
    }

    /// Parses Codat's spelling (exact case).
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::PendingAuth, Self::Linked, Self::Unlinked, Self::Deauthorized].into_iter().find(|s| s.as_str() == raw)
    }

    /// Statuses from which a connection may be linked.
    pub const LINKABLE: [ConnectionStatus; 3] = [Self::PendingAuth, Self::Deauthorized, Self::Unlinked];

    /// Whether the status machine allows `self -> to`.
    pub fn can_become(self, to: Self) -> bool {
        use ConnectionStatus::*;
        matches!((self, to), (PendingAuth | Unlinked | Deauthorized, Linked) | (Linked, Unlinked | Deauthorized))
    }
}

/// A stored connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Connection id.
    pub id: Uuid,
    /// Owning company.
    pub company_id: Uuid,
    /// Current status.
    pub status: ConnectionStatus,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Last successful sync.
    #[serde(default)]
    pub last_sync: Option<DateTime<Utc>>,
    /// Non-secret facts about the linked store (store hash, name, granted scopes), shown as
    /// Codat's `connectionInfo`.
    #[serde(default)]
    pub info: BTreeMap<String, String>,
    /// The linked store's hash.
    #[serde(default)]
    pub store_hash: Option<String>,
    /// Name of the secret holding the store credentials (never the credentials).
    #[serde(default)]
    pub secret_name: Option<String>,
    /// Set once the connection (or its company) is deleted: its tombstone, until the erasure
    /// job removes it with everything else (see [`super::erasure`]). Hidden from reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<super::ErasureProgress>,
    /// When it was last linked, while that link's `read.completed.initial` is still due (every
    /// data type fetched on first link final): cleared when the event is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_read: Option<DateTime<Utc>>,
    /// The store's hooks calling back for this connection, once registered at link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<super::hook::StoreHooks>,
}

impl Connection {
    /// Whether syncs may run: Linked, and not deleted (no tombstone).
    pub fn syncable(&self) -> bool {
        self.status == ConnectionStatus::Linked && self.erasure.is_none()
    }

    /// A new connection waiting for credentials.
    pub fn create(company_id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            company_id,
            status: ConnectionStatus::PendingAuth,
            created: now,
            last_sync: None,
            info: BTreeMap::new(),
            store_hash: None,
            secret_name: None,
            erasure: None,
            initial_read: None,
            hooks: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionStatus::*;
    use super::*;

    #[test]
    fn status_machine() {
        let all = [PendingAuth, Linked, Unlinked, Deauthorized];
        let allowed: Vec<_> =
            all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).filter(|(a, b)| a.can_become(*b)).collect();
        assert_eq!(
            allowed,
            [
                (PendingAuth, Linked),
                (Linked, Unlinked),
                (Linked, Deauthorized),
                (Unlinked, Linked),
                (Deauthorized, Linked)
            ]
        );
        for s in all {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectionStatus::parse("linked"), None);
    }
}
