//! The fixed records the `events/` files refer to, so each event can be replayed against a
//! fresh local table (by the tests and by `make invoke`).

use chrono::{TimeZone, Utc};
use serde_json::json;
use shared::domain::{Company, CompanyName, Connection, ConnectionStatus, DataType, Dataset, LinkKey, Tags};
use shared::error::StoreError;
use shared::ports::{PlatformStore, RecordSet, RecordStore, StoredRecord};
use uuid::{Uuid, uuid};

/// The API key the events' `Authorization` headers carry (`Basic <base64 of this>`).
pub const EXAMPLE_API_KEY: &str = "commerce-link-example-key";
/// The example company of the events.
pub const COMPANY_ID: Uuid = uuid!("8a210b68-6988-11ed-a1eb-0242ac120002");
/// Its Linked BigCommerce connection.
pub const CONNECTION_ID: Uuid = uuid!("51baa045-4836-4317-a42e-3542e991e581");
/// A Queued company-info dataset of the Linked connection (the `events/sync-worker` job).
pub const DATASET_ID: Uuid = uuid!("2f1d9c3e-7b6a-4e5d-9c8b-1a2b3c4d5e6f");
/// A Complete orders dataset of the Linked connection (the `events/data` reads).
pub const ORDERS_DATASET_ID: Uuid = uuid!("6c0e8f1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b");
/// Its connection waiting for credentials (the `events/link` authorization case).
pub const PENDING_CONNECTION_ID: Uuid = uuid!("0f3c1e2d-4b5a-4c6d-8e7f-9a0b1c2d3e4f");

/// The link key the event replays are configured with (fixed, so Link URLs are repeatable).
pub fn example_link_key() -> LinkKey {
    LinkKey::from_bytes(b"commerce-link example link key, for events/ replays only".to_vec())
        .unwrap_or_else(|_| unreachable!("longer than 32 bytes"))
}

/// The example company's Link nonce (base64url of `example-nonce-01`).
pub const EXAMPLE_LINK_NONCE: &str = "ZXhhbXBsZS1ub25jZS0wMQ";

/// The example company's Link token, as the `events/link` files carry it.
pub fn example_link_token() -> shared::domain::LinkToken {
    let nonce = shared::domain::LinkNonce::parse(EXAMPLE_LINK_NONCE).unwrap_or_else(|| unreachable!("16 bytes"));
    example_link_key().token_for(COMPANY_ID, &nonce)
}

/// Stores the example company and its Linked connection.
pub async fn seed(store: &impl PlatformStore) -> Result<(), StoreError> {
    let created = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).single().unwrap_or_else(Utc::now);
    let company = Company {
        id: COMPANY_ID,
        name: CompanyName::parse("Example Store Ltd").map_err(StoreError::Backend)?,
        description: Some("Outdoor gear sold on BigCommerce".into()),
        tags: Tags::parse(&serde_json::json!({"region": "uk"})).map_err(StoreError::Backend)?,
        link_token_hash: example_link_token().hash(),
        link_nonce: EXAMPLE_LINK_NONCE.to_string(),
        created,
        last_sync: None,
    };
    store.create_company(&company).await?;
    let mut connection = Connection::create(COMPANY_ID, created);
    connection.id = CONNECTION_ID;
    store.create_connection(&connection).await?;
    store
        .set_connection_status(COMPANY_ID, CONNECTION_ID, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
        .await?;
    let mut pending = Connection::create(COMPANY_ID, created + chrono::Duration::days(30));
    pending.id = PENDING_CONNECTION_ID;
    store.create_connection(&pending).await?;
    let dataset = Dataset::queued(
        DATASET_ID,
        COMPANY_ID,
        CONNECTION_ID,
        DataType::CompanyInfo,
        created + chrono::Duration::days(31),
    );
    store.queue_datasets(&[dataset]).await?;
    Ok(())
}

/// The example orders the `events/data` files read (ids 101 to 103).
pub fn example_orders() -> Vec<serde_json::Value> {
    [(101, "44.50", "7"), (102, "129.00", "8"), (103, "75.25", "7")]
        .into_iter()
        .map(|(id, total, customer)| {
            json!({
                "id": id.to_string(),
                "orderNumber": id.to_string(),
                "country": "GB",
                "currency": "GBP",
                "createdDate": format!("2026-01-{:02}T10:00:00Z", id - 90),
                "modifiedDate": "2026-02-01T00:00:00Z",
                "sourceModifiedDate": format!("2026-01-{:02}T12:00:00Z", id - 90),
                "totalAmount": total.parse::<f64>().unwrap_or_default(),
                "totalTaxAmount": 0.0,
                "totalDiscount": 0.0,
                "totalRefund": 0.0,
                "totalGratuity": 0.0,
                "customerRef": {"id": customer, "name": format!("Customer {customer}")},
                "orderLineItems": [],
                "payments": [],
                "serviceCharges": [],
            })
        })
        .collect()
}

/// Stores the example store's company info and orders as a completed sync of the Linked
/// connection: datasets Complete, records stored and sealed. Products are never requested.
pub async fn seed_records(store: &impl PlatformStore, records: &dyn RecordStore) -> Result<(), StoreError> {
    let synced = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let info = shared::bigcommerce::mapping::company_info(
        &json!({"id": "ex4mple", "name": "Example Store Ltd", "domain": "example.store", "secure_url":
            "https://example.store", "currency": "GBP", "country_code": "GB", "address": "1 Market St, London"}),
        synced,
    );
    records
        .put_records(
            RecordSet::new(CONNECTION_ID, DataType::CompanyInfo),
            &[StoredRecord { id: "ex4mple".into(), modified: Some(synced), record: info }],
            None,
        )
        .await?;
    let orders: Vec<StoredRecord> = example_orders()
        .into_iter()
        .map(|record| StoredRecord {
            id: record["id"].as_str().unwrap_or_default().into(),
            modified: Some(synced),
            record,
        })
        .collect();
    records.put_records(RecordSet::new(CONNECTION_ID, DataType::Orders), &orders, None).await?;
    store
        .queue_datasets(&[Dataset::queued(ORDERS_DATASET_ID, COMPANY_ID, CONNECTION_ID, DataType::Orders, synced)])
        .await?;
    for (dataset, data_type) in [(DATASET_ID, DataType::CompanyInfo), (ORDERS_DATASET_ID, DataType::Orders)] {
        records.seal(RecordSet::new(CONNECTION_ID, data_type)).await?;
        store.advance_dataset(COMPANY_ID, dataset, shared::domain::PullStatus::Complete, 100, None, synced).await?;
    }
    Ok(())
}
