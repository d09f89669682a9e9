//! Inferred deletes: a full sync removes what the store no longer has, and only that, and
//! never on the word of a listing that ended early (docs/mapping.md §11).

use std::collections::BTreeSet;
use std::time::Duration;

use sandbox::{Faults, Mutations, Sizes};
use shared::domain::DataType;

use super::{Setup, World};

/// A world whose every sync is full (the last full sync is always old enough to renew).
async fn always_full(sizes: Sizes) -> World {
    World::with(Setup { sizes, full_sync_every: Some(Duration::ZERO), ..Setup::default() }).await
}

async fn stored_ids(w: &World, data_type: DataType) -> BTreeSet<String> {
    w.stored(data_type).await.into_iter().map(|r| r.id).collect()
}

fn live_products(w: &World) -> BTreeSet<String> {
    w.sandbox().data().products.iter().filter(|p| !p.deleted).map(|p| p.id.to_string()).collect()
}

fn live_customers(w: &World) -> BTreeSet<String> {
    w.sandbox().data().customers.iter().filter(|c| !c.deleted).map(|c| c.id.to_string()).collect()
}

fn live_orders(w: &World) -> BTreeSet<String> {
    w.sandbox().data().orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect()
}

async fn sync(w: &World, data_types: &[DataType]) {
    for data_type in data_types {
        w.queue(*data_type).await;
    }
    w.drain(5).await;
    let status = w.data_status().await;
    for data_type in data_types {
        assert_eq!(status[data_type.key()]["currentStatus"], "Complete", "{}: {status}", data_type.key());
    }
}

async fn total_results(w: &World, data_type: DataType) -> u64 {
    let path = format!("/companies/{}/connections/{}/data/{}?pageSize=1", w.company, w.connection, data_type.key());
    let page = w.api.expect("GET", &path, None, 200).await.expect("list");
    page["totalResults"].as_u64().expect("totalResults")
}

#[tokio::test]
async fn deleted_products_and_customers_leave_at_a_full_sync_but_never_on_a_partial_listing() {
    let w = always_full(Sizes { orders: 10, products: 300, customers: 600, categories: 3 }).await;
    w.drain(5).await;
    let (products, customers) = (stored_ids(&w, DataType::Products).await, stored_ids(&w, DataType::Customers).await);
    assert_eq!((products.len(), customers.len()), (300, 600));
    let touched = w.sandbox().mutate(Mutations { product_deletes: 3, customer_deletes: 4, ..Default::default() });
    assert_eq!((touched.products.len(), touched.customers.len()), (3, 4));

    // Every listing now ends after its first page (250 of 300 products, 250 of 600 customers):
    // the syncs complete, and the 50 + 350 records they did not see stay, the deleted included.
    w.sandbox().set_faults(Faults { short_listing: true, ..Faults::default() }).expect("faults");
    sync(&w, &[DataType::Products, DataType::Customers]).await;
    assert_eq!(stored_ids(&w, DataType::Products).await, products, "a partial listing removed products");
    assert_eq!(stored_ids(&w, DataType::Customers).await, customers, "a partial listing removed customers");

    // A complete listing: exactly the deleted records go, from the data and from the read API.
    w.sandbox().set_faults(Faults::default()).expect("faults");
    sync(&w, &[DataType::Products, DataType::Customers]).await;
    assert_eq!(stored_ids(&w, DataType::Products).await, live_products(&w));
    assert_eq!(stored_ids(&w, DataType::Customers).await, live_customers(&w));
    assert_eq!(total_results(&w, DataType::Products).await, 297);
    assert_eq!(total_results(&w, DataType::Customers).await, 596);
    let path =
        format!("/companies/{}/connections/{}/data/commerce-products/{}", w.company, w.connection, touched.products[0]);
    w.api.expect("GET", &path, None, 404).await.expect("a deleted product is not found");
}

#[tokio::test]
async fn orders_archived_before_a_full_sync_leave_with_their_payments_and_transactions() {
    let w = always_full(Sizes { orders: 300, products: 20, customers: 30, categories: 3 }).await;
    w.drain(5).await;
    let archived: Vec<String> = w
        .sandbox()
        .mutate(Mutations { archives: 4, ..Default::default() })
        .orders
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    // Orders whose status moves on are mapped again: some payments they had no longer apply.
    w.sandbox().mutate(Mutations { updates: 30, ..Default::default() });
    let pass = [DataType::Orders, DataType::Payments, DataType::Transactions];
    sync(&w, &pass).await;
    assert_eq!(stored_ids(&w, DataType::Orders).await, live_orders(&w));
    for data_type in [DataType::Payments, DataType::Transactions] {
        let left: Vec<String> = stored_ids(&w, data_type)
            .await
            .into_iter()
            .filter(|id| archived.iter().any(|o| id.starts_with(&format!("{o}_"))))
            .collect();
        assert!(left.is_empty(), "{} of archived orders remain: {left:?}", data_type.key());
    }
    assert_eq!(total_results(&w, DataType::Orders).await, live_orders(&w).len() as u64);
    // What is left is exactly the store's, to the cent.
    w.assert_money_is_the_stores().await;
}

#[tokio::test]
async fn a_full_sync_under_churn_removes_no_live_order_and_the_next_converges() {
    let w = always_full(Sizes { orders: 600, products: 20, customers: 30, categories: 3 }).await;
    w.drain(5).await;
    // While the next full sync lists, every page sees 2 orders added, 1 updated and 1 archived:
    // pages shift, so some live orders are not listed in this pass.
    let churn = Mutations { inserts: 2, updates: 1, archives: 1, ..Default::default() };
    w.sandbox().set_faults(Faults { mutate_per_page: churn, ..Faults::default() }).expect("faults");
    let pass = [DataType::Orders, DataType::Payments, DataType::Transactions];
    sync(&w, &pass).await;
    w.sandbox().set_faults(Faults::default()).expect("faults");
    let stored = stored_ids(&w, DataType::Orders).await;
    let lost: Vec<String> = live_orders(&w).into_iter().filter(|id| !stored.contains(id)).collect();
    // Orders added after the listing passed the end (by the churn of the pass's last calls, the
    // last page's refunds among them) are the next sync's; any other live order missing was
    // removed or skipped.
    let last_stored = stored.iter().filter_map(|id| id.parse::<u64>().ok()).max().unwrap_or_default();
    let missed: Vec<&String> = lost.iter().filter(|id| id.parse::<u64>().unwrap_or_default() < last_stored).collect();
    assert!(missed.is_empty(), "live orders removed or never stored: {missed:?} (all missing: {lost:?})");
    sync(&w, &pass).await;
    assert_eq!(stored_ids(&w, DataType::Orders).await, live_orders(&w), "the next full sync converges");
}

#[tokio::test]
async fn a_full_sync_that_loses_the_transactions_scope_keeps_the_payments_it_could_not_refresh() {
    let w = always_full(Sizes { orders: 300, products: 20, customers: 30, categories: 3 }).await;
    w.drain(5).await;
    let (payments, transactions) =
        (stored_ids(&w, DataType::Payments).await, stored_ids(&w, DataType::Transactions).await);
    assert!(!payments.is_empty() && !transactions.is_empty());
    // The account keeps the orders scope only: the next pass stores orders, and payments and
    // transactions end PermissionsError after its first page. Their records stay as they were.
    let client_id = w.store.accounts[0].client_id.clone();
    w.sandbox().set_scopes(&client_id, [sandbox::Scope::Orders]);
    for data_type in [DataType::Orders, DataType::Payments, DataType::Transactions] {
        w.queue(data_type).await;
    }
    w.drain(5).await;
    let status = w.data_status().await;
    assert_eq!(status["commerce-orders"]["currentStatus"], "Complete", "{status}");
    assert_eq!(status["commerce-payments"]["currentStatus"], "PermissionsError", "{status}");
    assert_eq!(stored_ids(&w, DataType::Payments).await, payments, "payments removed by a pass that gave them up");
    assert_eq!(stored_ids(&w, DataType::Transactions).await, transactions);
}
