//! One contract, two adapters: the in-memory twin used by unit tests must behave like DynamoDB.

use chrono::Utc;
use serde_json::json;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::memory::MemoryStore;
use shared::domain::{
    Company, CompanyDraft, Connection, ConnectionStatus, DataType, SyncSetting, SyncSettings,
};
use shared::error::StoreError;
use shared::ports::PlatformStore;
use uuid::Uuid;

use crate::helpers::TestApp;

fn company(name: &str) -> Company {
    Company::create(
        CompanyDraft::from_json(&json!({"name": name, "tags": {"k": "v"}})).expect("draft"),
        Utc::now(),
    )
}

fn condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::ConditionFailed(_)))
}

async fn contract<S: PlatformStore>(store: &S) {
    // Integration toggle
    assert!(
        store.integration_state().await.expect("state").enabled,
        "enabled until set"
    );
    store
        .set_integration_enabled(false, Utc::now())
        .await
        .expect("disable");
    assert!(!store.integration_state().await.expect("state").enabled);

    // Companies
    let a = company("Alpha");
    store.create_company(&a).await.expect("create");
    assert!(
        condition_failed(store.create_company(&a).await),
        "no overwrite"
    );
    let record = store
        .get_company(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(record.company, a);
    assert!(record.connections.is_empty());
    let mut renamed = a.clone();
    renamed.name = shared::domain::CompanyName::parse("Alpha Two").expect("name");
    store
        .update_company_details(&renamed)
        .await
        .expect("update");
    assert_eq!(
        store
            .get_company(a.id)
            .await
            .expect("get")
            .expect("present")
            .company,
        renamed
    );
    assert!(condition_failed(
        store.update_company_details(&company("Ghost")).await
    ));
    assert!(
        store
            .get_company(Uuid::new_v4())
            .await
            .expect("get")
            .is_none()
    );

    // Connections
    let first = Connection::create(a.id, Utc::now());
    let second = Connection::create(a.id, Utc::now() + chrono::Duration::seconds(1));
    store.create_connection(&second).await.expect("second");
    store.create_connection(&first).await.expect("first");
    assert!(
        condition_failed(store.create_connection(&first).await),
        "no overwrite"
    );
    assert!(condition_failed(
        store
            .create_connection(&Connection::create(Uuid::new_v4(), Utc::now()))
            .await
    ));
    let ids: Vec<Uuid> = store
        .get_company(a.id)
        .await
        .expect("get")
        .expect("present")
        .connections
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [first.id, second.id], "oldest first");
    assert_eq!(
        store.get_connection(a.id, first.id).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .get_connection(Uuid::new_v4(), first.id)
            .await
            .expect("get"),
        None,
        "scoped by company"
    );
    assert!(condition_failed(
        store
            .set_connection_status(
                a.id,
                first.id,
                &[ConnectionStatus::Linked],
                ConnectionStatus::Unlinked
            )
            .await
    ));
    let linked = store
        .set_connection_status(
            a.id,
            first.id,
            &[ConnectionStatus::PendingAuth, ConnectionStatus::Unlinked],
            ConnectionStatus::Linked,
        )
        .await
        .expect("link");
    assert_eq!(
        (linked.id, linked.status),
        (first.id, ConnectionStatus::Linked)
    );
    assert!(condition_failed(
        store
            .set_connection_status(
                a.id,
                Uuid::new_v4(),
                &[ConnectionStatus::PendingAuth],
                ConnectionStatus::Linked
            )
            .await
    ));
    assert!(
        store
            .delete_connection(a.id, second.id)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_connection(a.id, second.id)
            .await
            .expect("delete again")
    );

    // Sync settings
    assert_eq!(store.sync_settings(a.id).await.expect("settings"), None);
    let settings = SyncSettings {
        settings: vec![SyncSetting::default_for(DataType::Orders)],
        overrides_defaults: true,
    };
    store.put_sync_settings(a.id, &settings).await.expect("put");
    assert_eq!(
        store.sync_settings(a.id).await.expect("settings"),
        Some(settings.clone())
    );
    assert!(condition_failed(
        store.put_sync_settings(Uuid::new_v4(), &settings).await
    ));

    // Listing and deleting
    let b = company("Bravo");
    store.create_company(&b).await.expect("create b");
    let mut listed: Vec<(Uuid, usize)> = store
        .list_companies()
        .await
        .expect("list")
        .iter()
        .map(|r| (r.company.id, r.connections.len()))
        .collect();
    listed.sort();
    let mut expected = vec![(a.id, 1), (b.id, 0)];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(store.delete_company(a.id).await.expect("delete"));
    assert!(!store.delete_company(a.id).await.expect("delete again"));
    assert!(store.get_company(a.id).await.expect("get").is_none());
    assert_eq!(
        store.get_connection(a.id, first.id).await.expect("get"),
        None
    );
    assert_eq!(store.sync_settings(a.id).await.expect("settings"), None);
    assert!(condition_failed(
        store
            .create_connection(&Connection::create(a.id, Utc::now()))
            .await
    ));
    let listed: Vec<Uuid> = store
        .list_companies()
        .await
        .expect("list")
        .iter()
        .map(|r| r.company.id)
        .collect();
    assert_eq!(listed, [b.id]);
}

#[tokio::test]
async fn memory_store_honours_the_contract() {
    contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dynamodb_store_honours_the_contract() {
    let app = TestApp::new().await;
    contract::<DynamoStore>(&app.store).await;
}
