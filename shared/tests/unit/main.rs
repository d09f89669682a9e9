//! Fast tests that need no AWS emulator (`make test-unit`): the ports' contract against the
//! in-memory twins, the sync worker's run logic over the twins against the in-process sandbox
//! store, and webhook delivery attempts to a receiver on loopback.

#[path = "../contract/mod.rs"]
mod contract;
mod reads;
mod relay;
mod retries;
mod sweep;
mod webhooks;
mod worker;

use shared::adapters::memory::{MemoryRecords, MemorySecrets, MemoryStore};

#[tokio::test]
async fn memory_store_honours_the_contract() {
    contract::platform::platform_store(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_keeps_store_hooks_changes() {
    contract::platform::store_hooks(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_writes_read_events_with_their_change() {
    contract::platform::read_events(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_keeps_keys_and_profile_settings() {
    contract::platform::keys_and_profile(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_records_honour_the_contract() {
    contract::records::records(&MemoryRecords::new()).await;
    contract::records::aggregates(&MemoryRecords::new()).await;
    contract::records::erasure(&MemoryRecords::new()).await;
}

#[tokio::test]
async fn memory_secrets_honour_the_contract() {
    contract::secrets::secrets(&MemorySecrets::default(), "commerce-link/contract").await;
}

#[tokio::test]
async fn memory_store_keeps_a_bounded_expiring_history() {
    let history = shared::domain::History { retention: chrono::Duration::zero(), per_data_type: 500 };
    contract::platform::history(&MemoryStore::new().with_history(history)).await;
}

#[tokio::test]
async fn memory_store_keeps_the_sweep_marks() {
    contract::platform::sweep_marks(&MemoryStore::new()).await;
}
