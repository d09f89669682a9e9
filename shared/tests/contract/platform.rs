//! The platform table's contract: every port of [`PlatformStore`] and [`LinkStore`].

use chrono::Utc;
use serde_json::json;
use shared::domain::{Company, Connection, ConnectionStatus, DataType, SyncSetting, SyncSettings};
use shared::domain::{Dataset, ErasurePhase, ErasureProgress, ErasureReceipt, ErasureSubject, PullStatus};
use shared::error::StoreError;
use shared::ports::{LinkStore, LinkedStore, PlatformStore};
use uuid::Uuid;

fn company(name: &str) -> Company {
    let draft = shared::codat::bodies::company_draft(&json!({"name": name, "tags": {"k": "v"}})).expect("draft");
    Company::create(draft, Utc::now())
}

fn condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::ConditionFailed(_)))
}

/// Integration toggle, companies, connections, settings, leases, attempts, datasets and deletes.
pub async fn platform_store<S: PlatformStore + LinkStore>(store: &S) {
    // Integration toggle
    assert!(store.integration_state().await.expect("state").enabled, "enabled until set");
    store.set_integration_enabled(false, Utc::now()).await.expect("disable");
    assert!(!store.integration_state().await.expect("state").enabled);

    // Companies
    let a = company("Alpha");
    store.create_company(&a).await.expect("create");
    assert!(condition_failed(store.create_company(&a).await), "no overwrite");
    let record = store.get_company(a.id).await.expect("get").expect("present");
    assert_eq!(record.company, a);
    assert!(record.connections.is_empty());
    let mut renamed = a.clone();
    renamed.name = shared::domain::CompanyName::parse("Alpha Two").expect("name");
    store.update_company_details(&renamed).await.expect("update");
    assert_eq!(store.get_company(a.id).await.expect("get").expect("present").company, renamed);
    assert!(condition_failed(store.update_company_details(&company("Ghost")).await));
    assert!(store.get_company(Uuid::new_v4()).await.expect("get").is_none());

    // Connections
    let first = Connection::create(a.id, Utc::now());
    let second = Connection::create(a.id, Utc::now() + chrono::Duration::seconds(1));
    store.create_connection(&second).await.expect("second");
    store.create_connection(&first).await.expect("first");
    assert!(condition_failed(store.create_connection(&first).await), "no overwrite");
    assert!(condition_failed(store.create_connection(&Connection::create(Uuid::new_v4(), Utc::now())).await));
    let ids: Vec<Uuid> =
        store.get_company(a.id).await.expect("get").expect("present").connections.iter().map(|c| c.id).collect();
    assert_eq!(ids, [first.id, second.id], "oldest first");
    assert_eq!(store.get_connection(a.id, first.id).await.expect("get"), Some(first.clone()));
    assert_eq!(store.get_connection(Uuid::new_v4(), first.id).await.expect("get"), None, "scoped by company");
    assert!(condition_failed(
        store.set_connection_status(a.id, first.id, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked).await
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
    assert_eq!((linked.id, linked.status), (first.id, ConnectionStatus::Linked));
    assert!(condition_failed(
        store
            .set_connection_status(a.id, Uuid::new_v4(), &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
            .await
    ));
    // A tombstone hides the connection from reads and refuses status changes; removing it
    // leaves nothing (the company is not being deleted: no purge due).
    let progress = ErasureProgress::queued(Utc::now());
    let marked = store.mark_connection_erasing(a.id, second.id, &progress).await.expect("mark").expect("present");
    assert_eq!(marked.erasure, Some(progress.clone()));
    let later = ErasureProgress::queued(Utc::now() + chrono::Duration::seconds(5));
    let again = store.mark_connection_erasing(a.id, second.id, &later).await.expect("mark again").expect("present");
    assert_eq!(again.erasure, Some(progress.clone()), "the first mark stands");
    assert!(store.mark_connection_erasing(a.id, Uuid::new_v4(), &progress).await.expect("mark").is_none());
    let ids: Vec<Uuid> =
        store.get_company(a.id).await.expect("get").expect("present").connections.iter().map(|c| c.id).collect();
    assert_eq!(ids, [first.id], "tombstones are hidden");
    assert!(condition_failed(
        store.set_connection_status(a.id, second.id, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked).await
    ));
    let moved = ErasureProgress { phase: ErasurePhase::Erasing, items_deleted: 7, ..progress.clone() };
    assert!(store.record_erasure(a.id, second.id, &moved).await.expect("record"));
    assert_eq!(store.get_connection(a.id, second.id).await.expect("get").and_then(|c| c.erasure), Some(moved.clone()));
    assert!(!store.remove_connection(a.id, second.id).await.expect("remove"), "the company stays");
    assert!(!store.record_erasure(a.id, second.id, &moved).await.expect("record"), "gone");
    assert_eq!(store.get_connection(a.id, second.id).await.expect("get"), None);

    // Sync settings
    assert_eq!(store.sync_settings(a.id).await.expect("settings"), None);
    let settings =
        SyncSettings { settings: vec![SyncSetting::default_for(DataType::Orders)], overrides_defaults: true };
    store.put_sync_settings(a.id, &settings).await.expect("put");
    assert_eq!(store.sync_settings(a.id).await.expect("settings"), Some(settings.clone()));
    assert!(condition_failed(store.put_sync_settings(Uuid::new_v4(), &settings).await));

    // Listing and deleting
    let b = company("Bravo");
    store.create_company(&b).await.expect("create b");
    let mut listed: Vec<(Uuid, usize)> =
        store.list_companies().await.expect("list").iter().map(|r| (r.company.id, r.connections.len())).collect();
    listed.sort();
    let mut expected = vec![(a.id, 1), (b.id, 0)];
    expected.sort();
    assert_eq!(listed, expected);
    // Link leases: one holder at a time, only from a linkable status, released on completion.
    let pending = Connection::create(a.id, Utc::now());
    store.create_connection(&pending).await.expect("pending");
    let (l1, l2) = (Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    store.begin_link(a.id, pending.id, l1, now, 30).await.expect("lease");
    assert!(condition_failed(store.begin_link(a.id, pending.id, l2, now, 30).await), "one lease at a time");
    store
        .begin_link(a.id, pending.id, l2, now + chrono::Duration::seconds(31), 30)
        .await
        .expect("an expired lease is taken over");
    let linked = LinkedStore {
        store_hash: "abc123".into(),
        secret_name: "cl/x".into(),
        info: [("storeName".to_string(), "Shop".to_string())].into(),
    };
    assert!(
        condition_failed(store.complete_link(a.id, pending.id, l1, &linked).await),
        "the old holder lost the lease"
    );
    let done = store.complete_link(a.id, pending.id, l2, &linked).await.expect("complete");
    assert_eq!(
        (done.status, done.store_hash.as_deref(), done.secret_name.as_deref()),
        (ConnectionStatus::Linked, Some("abc123"), Some("cl/x"))
    );
    assert_eq!(store.get_connection(a.id, pending.id).await.expect("get"), Some(done));
    assert!(
        condition_failed(store.begin_link(a.id, pending.id, l1, now + chrono::Duration::seconds(100), 30).await),
        "Linked is not linkable"
    );
    store.release_link(a.id, pending.id, l1).await.expect("release of a lease not held is harmless");
    // A connection linked once stays with its store.
    store
        .set_connection_status(a.id, pending.id, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
        .await
        .expect("unlink");
    let l3 = Uuid::new_v4();
    store.begin_link(a.id, pending.id, l3, now + chrono::Duration::seconds(200), 30).await.expect("lease");
    let other = LinkedStore { store_hash: "zzz999".into(), ..linked.clone() };
    assert!(condition_failed(store.complete_link(a.id, pending.id, l3, &other).await), "another store");
    let relinked = store.complete_link(a.id, pending.id, l3, &linked).await.expect("the same store");
    assert_eq!(relinked.status, ConnectionStatus::Linked);
    assert_eq!(store.count_attempt("k", 60, 120).await.expect("1"), 1);
    assert_eq!(store.count_attempt("k", 60, 120).await.expect("2"), 2);
    assert_eq!(store.count_attempt("k", 120, 180).await.expect("new window"), 1);
    // Lockouts: counted, dated by the last, gone once expired.
    let lockout = format!("lockout-{}", Uuid::new_v4());
    assert_eq!(store.strikes(&lockout, 1_000).await.expect("none"), None);
    assert_eq!(store.strike(&lockout, 1_000, 60, 90_000).await.expect("1"), 1);
    assert_eq!(store.strike(&lockout, 1_030, 60, 90_000).await.expect("same burst"), 1, "one lockout per burst");
    assert_eq!(store.strike(&lockout, 1_300, 60, 90_000).await.expect("2"), 2);
    assert_eq!(store.strikes(&lockout, 1_301).await.expect("read"), Some((2, 1_300)));
    assert_eq!(store.strikes(&lockout, 90_000).await.expect("expired"), None);
    assert_eq!(store.strike(&lockout, 90_001, 60, 180_000).await.expect("anew"), 1, "an expired record starts again");

    // Datasets: queued, advanced while running, final once; the data type's status follows.
    let now = Utc::now();
    let first_sync = Dataset::queued(Uuid::new_v4(), a.id, pending.id, DataType::Orders, now);
    let second_sync =
        Dataset::queued(Uuid::new_v4(), a.id, pending.id, DataType::Orders, now + chrono::Duration::seconds(1));
    store.queue_datasets(std::slice::from_ref(&first_sync)).await.expect("queue");
    let fetching = store
        .advance_dataset(a.id, first_sync.id, PullStatus::Fetching, 10, None, now)
        .await
        .expect("fetch")
        .expect("exists");
    assert_eq!((fetching.status, fetching.progress), (PullStatus::Fetching, 10));
    let done = store
        .advance_dataset(a.id, first_sync.id, PullStatus::Complete, 100, None, now)
        .await
        .expect("done")
        .expect("exists");
    assert_eq!((done.status, done.completed.is_some()), (PullStatus::Complete, true));
    let synced = store.get_company(a.id).await.expect("get").expect("present");
    let close = |at: Option<chrono::DateTime<Utc>>| at.is_some_and(|at| (at - now).num_milliseconds().abs() < 5);
    assert!(
        close(synced.company.last_sync),
        "the company's lastSync is the completion: {:?}",
        synced.company.last_sync
    );
    let connection_sync = synced.connections.iter().find(|c| c.id == pending.id).and_then(|c| c.last_sync);
    assert!(close(connection_sync), "and the connection's");
    let again = store
        .advance_dataset(a.id, first_sync.id, PullStatus::FetchError, 0, Some("late".into()), now)
        .await
        .expect("again");
    assert_eq!(again.map(|d| d.status), Some(PullStatus::Complete), "a final dataset stays final");
    store.queue_datasets(std::slice::from_ref(&second_sync)).await.expect("queue");
    let failed = store
        .advance_dataset(a.id, second_sync.id, PullStatus::AuthError, 0, Some("token revoked".into()), now)
        .await
        .expect("fail")
        .expect("exists");
    assert_eq!(failed.error_message.as_deref(), Some("token revoked"));
    let statuses = store.data_statuses(a.id).await.expect("statuses");
    assert_eq!(statuses.len(), 1);
    assert_eq!((statuses[0].current_status, statuses[0].latest_sync_id), (PullStatus::AuthError, second_sync.id));
    assert_eq!(statuses[0].latest_successful_sync_id, Some(first_sync.id), "the last success survives a later failure");
    assert_eq!(store.datasets(a.id).await.expect("history").len(), 2);
    assert!(
        store
            .advance_dataset(a.id, Uuid::new_v4(), PullStatus::Fetching, 0, None, now)
            .await
            .expect("missing")
            .is_none()
    );

    // Lookup by Link token hash, then deletion in two steps.
    let by_link = store.company_by_link_hash(&a.link_token_hash).await.expect("lookup").expect("found");
    assert_eq!(by_link.company.id, a.id);
    assert!(store.company_by_link_hash("0000").await.expect("lookup").is_none());
    assert!(store.erasing_company(a.id).await.expect("erasing").is_none(), "not being deleted");
    let marked = store.mark_company_deleting(a.id).await.expect("mark").expect("present");
    assert_eq!(marked.connections.len(), 2, "marking returns the connections to erase");
    assert!(store.get_company(a.id).await.expect("get").is_none(), "a company being deleted is invisible");
    assert!(condition_failed(store.begin_link(a.id, first.id, l1, Utc::now(), 30).await));
    assert!(store.mark_company_deleting(a.id).await.expect("mark again").is_some(), "repeatable");
    assert_eq!(store.erasing_company(a.id).await.expect("erasing").map(|r| r.connections.len()), Some(2));
    store.count_attempt(&a.link_token_hash, 60, 120).await.expect("an attempt on its Link URL");
    assert!(store.erase_connection_history(a.id, pending.id).await.expect("history") >= 2, "datasets and statuses");
    assert_eq!(store.data_statuses(a.id).await.expect("statuses"), Vec::new());
    assert!(!store.remove_connection(a.id, first.id).await.expect("remove"), "one connection is left");
    assert!(store.remove_connection(a.id, pending.id).await.expect("remove"), "the last one: the company is due");
    assert!(store.purge_company(a.id).await.expect("purge") >= 2, "settings, attempts, the company");
    store.purge_company(a.id).await.expect("purge again");
    assert_eq!(store.count_attempt(&a.link_token_hash, 60, 120).await.expect("counted anew"), 1, "the counter went");
    let receipt = ErasureReceipt {
        subject: ErasureSubject::Company,
        requested: Utc::now(),
        completed: Utc::now(),
        items_deleted: 9,
    };
    let key = shared::domain::erasure::erasure_receipt_key(a.id);
    assert_eq!(store.erasure_receipt(&key).await.expect("receipt"), None);
    store.put_erasure_receipt(&key, &receipt).await.expect("put receipt");
    let back = store.erasure_receipt(&key).await.expect("receipt").expect("present");
    assert_eq!((back.subject, back.items_deleted), (ErasureSubject::Company, 9));
    assert!(store.mark_company_deleting(a.id).await.expect("gone").is_none());
    assert!(store.get_company(a.id).await.expect("get").is_none());
    assert_eq!(store.get_connection(a.id, first.id).await.expect("get"), None);
    assert_eq!(store.sync_settings(a.id).await.expect("settings"), None);
    assert!(condition_failed(store.create_connection(&Connection::create(a.id, Utc::now())).await));
    let listed: Vec<Uuid> = store.list_companies().await.expect("list").iter().map(|r| r.company.id).collect();
    assert_eq!(listed, [b.id]);
}

/// The sweep marks: a queued dataset is Unsent until its job is sent; a running one is Live as of
/// its last sign of life (start, checkpoint), pushed ahead while a continuation waits; a final
/// one is in neither. Claims are exclusive.
pub async fn sweep_marks<S: PlatformStore>(store: &S) {
    use shared::ports::Staleness::{Live, Unsent};
    let company = Uuid::new_v4();
    let connection = Uuid::new_v4();
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
    let queued =
        |m: i64, data_type: DataType| Dataset::queued(Uuid::new_v4(), company, connection, data_type, minutes(m));
    let (orders, products, customers) =
        (queued(0, DataType::Orders), queued(1, DataType::Products), queued(2, DataType::Customers));
    store.queue_datasets(&[orders.clone(), products.clone(), customers.clone()]).await.expect("queue");
    let ids = |found: Vec<shared::ports::StaleDataset>| found.into_iter().map(|f| f.dataset).collect::<Vec<_>>();
    assert_eq!(ids(store.stale_datasets(Unsent, minutes(0), 10).await.expect("none")), Vec::<Uuid>::new());
    assert_eq!(
        ids(store.stale_datasets(Unsent, minutes(5), 10).await.expect("all")),
        [orders.id, products.id, customers.id],
        "oldest first"
    );
    assert_eq!(ids(store.stale_datasets(Unsent, minutes(5), 2).await.expect("limit")), [orders.id, products.id]);
    store.mark_sent(company, &[orders.id, products.id]).await.expect("sent");
    store.mark_sent(company, &[orders.id]).await.expect("sent again is harmless");
    assert_eq!(ids(store.stale_datasets(Unsent, minutes(5), 10).await.expect("rest")), [customers.id]);

    // A run starts: Live as of then; a checkpoint is a sign of life now.
    store.advance_dataset(company, orders.id, PullStatus::Fetching, 0, None, minutes(3)).await.expect("fetching");
    store.advance_dataset(company, products.id, PullStatus::Fetching, 0, None, minutes(4)).await.expect("fetching");
    let live = store.stale_datasets(Live, minutes(10), 10).await.expect("live");
    assert_eq!(ids(live.clone()), [orders.id, products.id]);
    assert!(store.checkpoint_dataset(company, products.id, 5, "{}").await.expect("checkpoint"));
    assert_eq!(ids(store.stale_datasets(Live, minutes(10), 10).await.expect("live")), [orders.id]);
    store.advance_dataset(company, products.id, PullStatus::Complete, 100, None, minutes(5)).await.expect("done");
    assert_eq!(ids(store.stale_datasets(Live, minutes(10_000), 10).await.expect("final")), [orders.id]);

    // Exactly one claim of a find wins; the winner's mark moves to its time.
    assert!(store.claim_stale(Live, &live[0], minutes(30)).await.expect("claim"));
    assert!(!store.claim_stale(Live, &live[0], minutes(31)).await.expect("claimed already"));
    assert!(!store.claim_stale(Unsent, &live[0], minutes(31)).await.expect("other kind"));
    assert_eq!(ids(store.stale_datasets(Live, minutes(29), 10).await.expect("moved")), Vec::<Uuid>::new());
    assert_eq!(ids(store.stale_datasets(Live, minutes(31), 10).await.expect("moved")), [orders.id]);

    // A continuation waits: no sign of life is due before `until`.
    store.pause_dataset(company, orders.id, minutes(600)).await.expect("pause");
    assert_eq!(ids(store.stale_datasets(Live, minutes(599), 10).await.expect("paused")), Vec::<Uuid>::new());
    assert_eq!(ids(store.stale_datasets(Live, minutes(601), 10).await.expect("paused")), [orders.id]);
    store.pause_dataset(company, customers.id, minutes(600)).await.expect("pausing a queued one is harmless");
    assert_eq!(ids(store.stale_datasets(Unsent, minutes(5), 10).await.expect("still unsent")), [customers.id]);

    // Final: in neither.
    for d in [&orders, &products, &customers] {
        store.advance_dataset(company, d.id, PullStatus::Complete, 100, None, minutes(40)).await.expect("done");
    }
    assert!(store.stale_datasets(Live, minutes(10_000), 10).await.expect("live").is_empty());
    assert!(store.stale_datasets(Unsent, minutes(10_000), 10).await.expect("unsent").is_empty());
}

/// API keys (a bounded count, digests only), webhook consumers and the deployment's default sync
/// settings.
pub async fn keys_and_profile<S: PlatformStore>(store: &S) {
    use shared::domain::NewApiKey;
    assert!(store.api_keys().await.expect("list").is_empty());
    let first = NewApiKey::generate(Some("one".into()), Utc::now());
    let second = NewApiKey::generate(None, Utc::now() + chrono::Duration::seconds(1));
    store.create_api_key(&second.stored, 2).await.expect("second");
    store.create_api_key(&first.stored, 2).await.expect("first");
    let third = NewApiKey::generate(None, Utc::now());
    assert!(condition_failed(store.create_api_key(&third.stored, 2).await), "at the limit");
    let listed = store.api_keys().await.expect("list");
    assert_eq!(listed, [first.stored.clone(), second.stored.clone()], "oldest first, as stored");
    assert!(store.delete_api_key(first.stored.id).await.expect("delete"));
    assert!(!store.delete_api_key(first.stored.id).await.expect("delete again"), "gone");
    store.create_api_key(&third.stored, 2).await.expect("room again after a delete");
    assert_eq!(store.api_keys().await.expect("list").len(), 2);

    webhook_consumers(store).await;
    outbox(store).await;

    assert_eq!(store.profile_sync_settings().await.expect("profile"), None);
    let company = company("Profiled");
    store.create_company(&company).await.expect("create");
    let hours = |settings: &SyncSettings, data_type: DataType| {
        settings.effective().iter().find(|s| s.data_type == data_type).map(|s| s.sync_schedule)
    };
    let profile = SyncSettings {
        settings: vec![SyncSetting { sync_schedule: 6, ..SyncSetting::default_for(DataType::Orders) }],
        overrides_defaults: true,
    };
    store.put_profile_sync_settings(&profile).await.expect("put profile");
    assert_eq!(store.profile_sync_settings().await.expect("profile"), Some(profile));
    let in_force = store.settings_in_force(company.id).await.expect("in force");
    assert_eq!(hours(&in_force, DataType::Orders), Some(6), "the company follows the profile");
    let own = SyncSettings {
        settings: vec![SyncSetting { sync_schedule: 2, ..SyncSetting::default_for(DataType::Orders) }],
        overrides_defaults: true,
    };
    store.put_sync_settings(company.id, &own).await.expect("own");
    assert_eq!(hours(&store.settings_in_force(company.id).await.expect("in force"), DataType::Orders), Some(2));
}

/// Webhook consumers: bounded, listed oldest first, disabled and re-enabled (forgetting their
/// failures), deleted.
async fn webhook_consumers<S: PlatformStore>(store: &S) {
    use shared::domain::{EventType, Subscription, WebhookConsumer};
    let consumer = |offset: i64, tags: &[&str]| WebhookConsumer {
        id: Uuid::new_v4(),
        url: "https://hooks.example.com/codat".into(),
        subscription: Subscription {
            event_types: vec![EventType::ReadCompleted, EventType::ConnectionFailed],
            company_tags: tags.iter().map(|t| t.to_string()).collect(),
        },
        disabled: false,
        created: Utc::now() + chrono::Duration::seconds(offset),
        failing_since: Some(Utc::now()),
    };
    assert!(store.webhook_consumers().await.expect("list").is_empty());
    let (first, second) = (consumer(0, &["region:us"]), consumer(1, &[]));
    store.create_webhook_consumer(&second, 2).await.expect("second");
    store.create_webhook_consumer(&first, 2).await.expect("first");
    assert!(condition_failed(store.create_webhook_consumer(&consumer(2, &[]), 2).await), "at the limit");
    assert_eq!(store.webhook_consumers().await.expect("list"), [first.clone(), second.clone()], "oldest first");
    assert_eq!(store.webhook_consumer(first.id).await.expect("get"), Some(first.clone()));

    let disabled = store.set_webhook_consumer_disabled(first.id, true).await.expect("disable").expect("present");
    assert!(disabled.disabled);
    assert_eq!(disabled.failing_since, first.failing_since, "disabling keeps the failures");
    let enabled = store.set_webhook_consumer_disabled(first.id, false).await.expect("enable").expect("present");
    assert_eq!(enabled, WebhookConsumer { failing_since: None, ..first.clone() });
    assert_eq!(store.webhook_consumer(first.id).await.expect("get"), Some(enabled));
    assert_eq!(store.set_webhook_consumer_disabled(Uuid::new_v4(), true).await.expect("none"), None);

    assert!(store.delete_webhook_consumer(first.id).await.expect("delete"));
    assert!(!store.delete_webhook_consumer(first.id).await.expect("delete again"), "gone");
    assert_eq!(store.webhook_consumer(first.id).await.expect("get"), None);
    store.create_webhook_consumer(&consumer(3, &[]), 2).await.expect("room again after a delete");
    assert_eq!(store.webhook_consumers().await.expect("list").len(), 2);
}

/// The outbox: an event is written with its change or not at all; a repeated mark writes none;
/// events are read back oldest first from a time on.
async fn outbox<S: PlatformStore>(store: &S) {
    use shared::domain::{Event, EventType};
    let since = Utc::now() - chrono::Duration::milliseconds(1);
    let a = company("Outbox");
    let created = Event::about_company(EventType::CompanyCreated, &a, Utc::now());
    store.create_company_reporting(&a, std::slice::from_ref(&created)).await.expect("create");
    // A change refused writes no event.
    let refused = Event::about_company(EventType::CompanyCreated, &a, Utc::now());
    assert!(condition_failed(store.create_company_reporting(&a, std::slice::from_ref(&refused)).await));
    let connection = Connection::create(a.id, Utc::now());
    let opened = Event::about_connection(EventType::ConnectionCreated, &a, &connection, Utc::now());
    store.create_connection_reporting(&connection, std::slice::from_ref(&opened)).await.expect("connection");
    let failed = Event::about_connection(EventType::ConnectionFailed, &a, &connection, Utc::now());
    store.record_events(std::slice::from_ref(&failed)).await.expect("failed");
    assert!(condition_failed(store.record_events(std::slice::from_ref(&failed)).await), "an id is written once");
    let deleted = Event::about_connection(EventType::ConnectionDeleted, &a, &connection, Utc::now());
    let progress = ErasureProgress::queued(Utc::now());
    let again = Event::about_connection(EventType::ConnectionDeleted, &a, &connection, Utc::now());
    store
        .mark_connection_erasing_reporting(a.id, connection.id, &progress, std::slice::from_ref(&deleted))
        .await
        .expect("erase");
    store
        .mark_connection_erasing_reporting(a.id, connection.id, &progress, std::slice::from_ref(&again))
        .await
        .expect("again");
    let gone = Event::about_company(EventType::CompanyDeleted, &a, Utc::now());
    let gone_again = Event::about_company(EventType::CompanyDeleted, &a, Utc::now());
    assert!(store.mark_company_deleting_reporting(a.id, std::slice::from_ref(&gone)).await.expect("delete").is_some());
    assert!(
        store.mark_company_deleting_reporting(a.id, std::slice::from_ref(&gone_again)).await.expect("again").is_some()
    );
    let ids: Vec<Uuid> = store.events_since(since, 100).await.expect("events").iter().map(|e| e.id).collect();
    assert_eq!(ids, [created.id, opened.id, failed.id, deleted.id, gone.id], "each change once, oldest first");
    let read = store.events_since(since, 2).await.expect("events");
    assert_eq!(read, [created.clone(), opened.clone()], "bounded, and as written");
    let later: Vec<Uuid> =
        store.events_since(failed.generated, 100).await.expect("events").iter().map(|e| e.id).collect();
    assert_eq!(later, [failed.id, deleted.id, gone.id], "from a time on");
}

/// The history: superseded datasets expire (the store keeps history with a retention of zero:
/// they expire at once), the latest and the latest successful never; pages come newest first;
/// trimming keeps a bound per data type and never the latest or the latest successful.
pub async fn history<S: PlatformStore>(store: &S) {
    let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let queue = |data_type: DataType| {
        let d = Dataset::queued(Uuid::now_v7(), company, connection, data_type, Utc::now());
        async move {
            store.queue_datasets(std::slice::from_ref(&d)).await.expect("queue");
            d.id
        }
    };
    let end = |id: Uuid, status: PullStatus| async move {
        store.advance_dataset(company, id, status, 100, None, Utc::now()).await.expect("advance");
    };
    let visible = || async {
        let mut ids: Vec<Uuid> = store.datasets(company).await.expect("datasets").iter().map(|d| d.id).collect();
        ids.sort();
        ids
    };
    let d1 = queue(DataType::Orders).await;
    end(d1, PullStatus::Complete).await;
    let d2 = queue(DataType::Orders).await;
    end(d2, PullStatus::FetchError).await;
    assert_eq!(visible().await, [d1, d2], "the latest (d2) and the latest successful (d1) stay");
    let d3 = queue(DataType::Orders).await;
    assert_eq!(visible().await, [d1, d2, d3], "nothing expires before the superseding dataset ends");
    end(d3, PullStatus::Complete).await;
    assert_eq!(visible().await, [d3], "d3 supersedes both: they expired");
    assert!(store.dataset(company, d1).await.expect("read").is_none(), "expired datasets are not served");
    let statuses = store.data_statuses(company).await.expect("statuses");
    assert_eq!(
        (statuses[0].latest_sync_id, statuses[0].latest_successful_sync_id),
        (d3, Some(d3)),
        "the status is untouched"
    );
    // A follow-up queued while one runs: the running one, once ended, is superseded.
    let d4 = queue(DataType::Orders).await;
    end(d4, PullStatus::Fetching).await;
    let d5 = queue(DataType::Orders).await;
    end(d4, PullStatus::FetchError).await;
    assert_eq!(visible().await, [d3, d5], "d4 ended superseded (expired); d3 stays the latest successful");
    end(d5, PullStatus::Complete).await;
    assert_eq!(visible().await, [d5]);
    // Pages, newest first.
    let c1 = queue(DataType::Customers).await;
    let c2 = queue(DataType::Customers).await;
    let (page, total) = store.history_page(company, 0, 2, now + chrono::Duration::seconds(1)).await.expect("page");
    assert_eq!((page.iter().map(|d| d.id).collect::<Vec<_>>(), total), (vec![c2, c1], 3));
    let (page, _) = store.history_page(company, 2, 2, Utc::now()).await.expect("page 2");
    assert_eq!(page.iter().map(|d| d.id).collect::<Vec<_>>(), [d5]);
    // Trimming: at most `keep`, the latest kept whatever its age.
    assert_eq!(store.trim_history(company, connection, DataType::Customers, 1).await.expect("trim"), 1);
    assert_eq!(store.dataset(company, c1).await.expect("read"), None, "the older one went");
    assert!(store.dataset(company, c2).await.expect("read").is_some());
    assert_eq!(store.trim_history(company, connection, DataType::Orders, 0).await.expect("trim"), 4, "d1..d4");
    assert!(store.dataset(company, d5).await.expect("read").is_some(), "the latest stays");
}

/// Read events: a dataset's final status is written with its event, once; `records_modified`
/// sticks; a link's initial read is due from the link until settled, once.
pub async fn read_events<S: PlatformStore + LinkStore>(store: &S) {
    use shared::domain::event::{ReadOutcome, ReadReport};
    use shared::domain::{Event, EventType};
    let since = Utc::now() - chrono::Duration::milliseconds(1);
    let a = company("Reads");
    store.create_company(&a).await.expect("company");
    let connection = Connection::create(a.id, Utc::now());
    store.create_connection(&connection).await.expect("connection");
    assert_eq!(store.get_connection(a.id, connection.id).await.expect("get").expect("present").initial_read, None);
    let lease = Uuid::new_v4();
    store.begin_link(a.id, connection.id, lease, Utc::now(), 60).await.expect("lease");
    let linked = LinkedStore { store_hash: "abc123".into(), secret_name: "s".into(), info: Default::default() };
    store.complete_link(a.id, connection.id, lease, &linked).await.expect("linked");
    let due = store.get_connection(a.id, connection.id).await.expect("get").expect("present").initial_read;
    let due = due.expect("an initial read is due from the link");

    let dataset = Dataset::queued(Uuid::now_v7(), a.id, connection.id, DataType::Orders, Utc::now());
    store.queue_datasets(std::slice::from_ref(&dataset)).await.expect("queue");
    store.advance_dataset(a.id, dataset.id, PullStatus::Fetching, 10, None, Utc::now()).await.expect("fetching");
    store.record_count(a.id, dataset.id, 5, true).await.expect("count");
    store.record_count(a.id, dataset.id, 5, false).await.expect("count again");
    let read = |status| ReadReport {
        modified_from: None,
        data_types: vec![ReadOutcome { status, records_modified: true, ..ReadOutcome::of(&dataset) }],
    };
    let ended = Event::about_read(EventType::ReadCompleted, &a, read(PullStatus::Complete), Utc::now());
    let stored = store
        .advance_dataset_reporting(
            a.id,
            dataset.id,
            PullStatus::Complete,
            100,
            None,
            Utc::now(),
            std::slice::from_ref(&ended),
        )
        .await
        .expect("end")
        .expect("dataset");
    assert_eq!((stored.status, stored.records, stored.records_modified), (PullStatus::Complete, Some(5), true));
    let status = store.data_statuses(a.id).await.expect("statuses");
    assert_eq!(status[0].current_status, PullStatus::Complete);
    let repeat = Event::about_read(EventType::ReadCompleted, &a, read(PullStatus::FetchError), Utc::now());
    let again = store
        .advance_dataset_reporting(a.id, dataset.id, PullStatus::FetchError, 0, None, Utc::now(), &[repeat])
        .await
        .expect("repeat")
        .expect("dataset");
    assert_eq!(again.status, PullStatus::Complete, "a final dataset stays as it ended");

    let initial = Event::about_read(EventType::ReadCompletedInitial, &a, read(PullStatus::Complete), Utc::now());
    let other_link = due - chrono::Duration::seconds(1);
    assert!(
        !store
            .settle_initial_read(a.id, connection.id, other_link, std::slice::from_ref(&initial))
            .await
            .expect("other")
    );
    assert!(store.settle_initial_read(a.id, connection.id, due, std::slice::from_ref(&initial)).await.expect("settle"));
    let twice = Event::about_read(EventType::ReadCompletedInitial, &a, read(PullStatus::Complete), Utc::now());
    assert!(!store.settle_initial_read(a.id, connection.id, due, &[twice]).await.expect("twice"), "once per link");
    assert_eq!(store.get_connection(a.id, connection.id).await.expect("get").expect("present").initial_read, None);

    let ids: Vec<Uuid> = store.events_since(since, 100).await.expect("events").iter().map(|e| e.id).collect();
    assert_eq!(ids, [ended.id, initial.id], "each read once");
}

/// Store hooks: callbacks remembered per connection, pending changes kept one per (resource,
/// id), cleared only by the callback that last left them, and erased with the connection.
pub async fn store_hooks<S: PlatformStore>(store: &S) {
    use shared::domain::hook::{Change, Resource};
    let (company, connection, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert!(!store.callback_seen(connection, "h1").await.expect("seen"));
    store.mark_callback_seen(connection, "h1", Utc::now().timestamp() + 600).await.expect("mark");
    assert!(store.callback_seen(connection, "h1").await.expect("seen"));
    assert!(!store.callback_seen(other, "h1").await.expect("seen"), "remembered per connection");

    let change = |resource, id| Change { company, connection, resource, id, token: Uuid::new_v4(), at: Utc::now() };
    let first = change(Resource::Order, 101);
    store.record_change(&first).await.expect("record");
    store.record_change(&change(Resource::Product, 7)).await.expect("record");
    let later = change(Resource::Order, 101);
    store.record_change(&later).await.expect("the same order again");
    let pending = store.pending_changes(connection, 10).await.expect("pending");
    assert_eq!(pending.len(), 2, "one per (resource, id): {pending:?}");
    assert!(pending.iter().any(|c| c.resource == Resource::Order && c.id == 101 && c.token == later.token));
    assert_eq!(store.pending_changes(connection, 1).await.expect("limited").len(), 1, "the limit holds");
    assert!(store.pending_changes(other, 10).await.expect("pending").is_empty(), "per connection");

    // A sync that read the first callback's change must not clear what a later one left.
    store.clear_changes(std::slice::from_ref(&first)).await.expect("clear");
    assert_eq!(store.pending_changes(connection, 10).await.expect("pending").len(), 2);
    store.clear_changes(&pending).await.expect("clear");
    assert!(store.pending_changes(connection, 10).await.expect("pending").is_empty());
    store.clear_changes(&pending).await.expect("clearing again is harmless");

    // Erasing the connection's history takes its changes and remembered callbacks too.
    store.record_change(&change(Resource::Customer, 5)).await.expect("record");
    assert!(store.erase_connection_history(company, connection).await.expect("erase") >= 2);
    assert!(store.pending_changes(connection, 10).await.expect("pending").is_empty());
    assert!(!store.callback_seen(connection, "h1").await.expect("seen"), "the callbacks went");
}
