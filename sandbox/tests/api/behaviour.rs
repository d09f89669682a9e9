use chrono::{DateTime, Utc};
use sandbox::data::{at, rfc2822};
use serde_json::Value;

use crate::helpers::{Env, ids};

fn v2_date(order: &Value, key: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc2822(order[key].as_str().expect("date")).expect("RFC 2822").with_timezone(&Utc)
}

#[tokio::test]
async fn v2_orders_page_until_204_with_bare_arrays() {
    let env = Env::small().await;
    let live = env.store.data().orders.iter().filter(|o| !o.is_deleted).count();
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let r = env.get(&format!("v2/orders?limit=50&page={page}")).await;
        if r.status == 204 {
            assert_eq!(r.bytes, 0, "204 has an empty body");
            break;
        }
        assert_eq!(r.status, 200);
        let items = r.body.as_array().expect("v2 lists are bare arrays").clone();
        assert!(!items.is_empty() && items.len() <= 50);
        all.extend(items);
        page += 1;
    }
    assert_eq!(all.len(), live);
    let got = ids(&all, "id");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "default order is id ascending");
    assert_eq!(env.get("v2/orders").await.body.as_array().map(Vec::len), Some(50), "default limit 50");
    assert_eq!(env.get("v2/orders?limit=251").await.status, 413);
    assert_eq!(env.get("v2/orders?limit=0").await.status, 400);
    assert_eq!(env.get("v2/orders?page=abc").await.status, 400);
    assert_eq!(env.get("v2/orders?unknown_param=1&limit=2").await.status, 200, "unknown parameters are ignored");
    let count = env.get("v2/orders/count").await;
    assert_eq!(count.body["count"].as_u64(), Some(live as u64));
    assert_eq!(count.body["statuses"].as_array().map(Vec::len), Some(15));
}

#[tokio::test]
async fn v2_date_filters_take_rfc2822_and_iso8601() {
    let env = Env::small().await;
    let heads = env.store.data().orders.clone();
    let pivot = heads[heads.len() / 2];
    let rfc = rfc2822(at(pivot.modified));
    let iso = at(pivot.modified).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let expected = heads.iter().filter(|o| !o.is_deleted && o.modified >= pivot.modified).count();
    for value in [rfc.clone(), iso] {
        let query: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let items = env.items(&format!("v2/orders?limit=250&min_date_modified={query}")).await;
        assert_eq!(items.len(), expected, "{value}");
        assert!(items.iter().all(|o| v2_date(o, "date_modified") >= at(pivot.modified)));
    }
    let created: String = url::form_urlencoded::byte_serialize(rfc2822(at(pivot.created)).as_bytes()).collect();
    let before = env.items(&format!("v2/orders?limit=250&max_date_created={created}")).await;
    assert!(before.iter().all(|o| v2_date(o, "date_created") <= at(pivot.created)));
    assert_eq!(env.get("v2/orders?min_date_created=last-tuesday").await.status, 400);
    let window = env.items(&format!("v2/orders?limit=250&min_id={}&max_id={}", pivot.id, pivot.id + 4)).await;
    assert!(ids(&window, "id").iter().all(|id| (u64::from(pivot.id)..=u64::from(pivot.id) + 4).contains(id)));
}

#[tokio::test]
async fn v2_sorting_includes_and_archived_orders() {
    let env = Env::small().await;
    let desc = env.items("v2/orders?limit=250&sort=date_modified:desc").await;
    let dates: Vec<_> = desc.iter().map(|o| v2_date(o, "date_modified")).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    let by_id_desc = ids(&env.items("v2/orders?limit=5&sort=id:desc").await, "id");
    assert!(by_id_desc.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(env.get("v2/orders?sort=colour").await.status, 400);

    let plain = env.items("v2/orders?limit=5").await;
    assert!(plain.iter().all(|o| o.get("consignments").is_none()));
    let embedded = env.items("v2/orders?limit=250&include=consignments.line_items&consignment_structure=object").await;
    for order in &embedded {
        let lines = order["consignments"]["shipping"][0]["line_items"].as_array().expect("lines");
        let id = order["id"].as_u64().expect("id");
        let mut separate = Vec::new();
        let mut page = 1;
        loop {
            let r = env.get(&format!("v2/orders/{id}/products?limit=250&page={page}")).await;
            if r.status == 204 {
                break;
            }
            separate.extend(r.body.as_array().expect("array").clone());
            page += 1;
        }
        assert_eq!(lines, &separate, "embedded line items equal the products sub-resource for order {id}");
        assert!(lines.iter().all(|l| l["order_id"] == order["id"]));
    }
    let refs = env.items("v2/orders?limit=1&include=consignments&consignment_structure=object").await;
    let line_ref = &refs[0]["consignments"]["shipping"][0]["line_items"][0];
    assert!(line_ref["url"].as_str().expect("url").starts_with(&env.sandbox.store_url(&env.hash)));

    let archived = env.items("v2/orders?limit=250&is_deleted=true").await;
    assert!(!archived.is_empty() && archived.iter().all(|o| o["is_deleted"] == true));
    let live = env.items("v2/orders?limit=250").await;
    assert!(live.iter().all(|o| o["is_deleted"] == false));
    let archived_id = archived[0]["id"].as_u64().expect("id");
    assert_eq!(
        env.get(&format!("v2/orders/{archived_id}")).await.body["is_deleted"],
        true,
        "archived orders stay readable by id"
    );
}

#[tokio::test]
async fn large_orders_page_their_line_items() {
    let env = Env::new(11, sandbox::Sizes { orders: 3000, products: 40, customers: 50, categories: 5 }).await;
    let big = env
        .store
        .data()
        .orders
        .iter()
        .map(|h| (h.id, sandbox::data::orders::OrderBody::generate(&env.store.data(), h).items.len()))
        .max_by_key(|(_, n)| *n)
        .expect("orders");
    assert!(big.1 > 250, "an order with more than 250 lines exists ({} lines)", big.1);
    let first = env.get(&format!("v2/orders/{}/products", big.0)).await;
    assert_eq!(first.body.as_array().map(Vec::len), Some(50), "default page of 50 line items");
    let mut total = 0;
    let mut page = 1;
    loop {
        let r = env.get(&format!("v2/orders/{}/products?limit=250&page={page}", big.0)).await;
        if r.status == 204 {
            break;
        }
        total += r.body.as_array().expect("array").len();
        page += 1;
    }
    assert_eq!(total, big.1);
}

#[tokio::test]
async fn v3_products_filters_sorting_and_the_bare_date_rule() {
    let env = Env::small().await;
    let all = env.items("v3/catalog/products?limit=250").await;
    assert_eq!(all.len(), 40);
    let page = env.get("v3/catalog/products?limit=15&page=2").await;
    let p = &page.body["meta"]["pagination"];
    assert_eq!(
        (p["total"].as_u64(), p["count"].as_u64(), p["current_page"].as_u64(), p["total_pages"].as_u64()),
        (Some(40), Some(15), Some(2), Some(3))
    );
    assert_eq!(p["links"]["next"], "?page=3&limit=15");
    assert_eq!(p["links"]["previous"], "?page=1&limit=15");
    let last = env.get("v3/catalog/products?limit=15&page=3").await;
    assert!(last.body["meta"]["pagination"]["links"].get("next").is_none());
    let beyond = env.get("v3/catalog/products?limit=15&page=9").await;
    assert_eq!(
        (beyond.status, beyond.body["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "v3 answers empty data past the end"
    );

    let picked = env.items("v3/catalog/products?id:in=3,5,7").await;
    assert_eq!(ids(&picked, "id"), [3, 5, 7]);
    let by_price = env.items("v3/catalog/products?limit=250&sort=price&direction=desc").await;
    let prices: Vec<f64> = by_price.iter().map(|p| p["price"].as_f64().expect("price")).collect();
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));
    assert!(env.items("v3/catalog/products?limit=5").await.iter().all(|p| p.get("variants").is_none()));

    // Full timestamps filter exactly; a bare date means that day at the current time of day.
    let heads = env.store.data().products.clone();
    let pivot = heads.iter().map(|p| p.modified).max().expect("products");
    let day = at(pivot).date_naive();
    let stamp = at(pivot).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let exact = env.items(&format!("v3/catalog/products?limit=250&date_modified:min={stamp}")).await;
    assert_eq!(exact.len(), heads.iter().filter(|p| p.modified >= pivot).count());
    let now_time = Utc::now().time();
    let bare_cut = day.and_time(now_time).and_utc().timestamp();
    let bare = env.items(&format!("v3/catalog/products?limit=250&date_modified:min={day}")).await;
    assert_eq!(bare.len(), heads.iter().filter(|p| p.modified >= bare_cut).count(), "bare date + current time");
    assert_eq!(env.get("v3/catalog/products?date_modified:min=soon").await.status, 422);
}

#[tokio::test]
async fn v3_customers_cursor_and_page_paging() {
    let env = Env::small().await;
    let mut seen = Vec::new();
    let first = env.get("v3/customers?limit=7").await;
    assert!(first.body["meta"]["pagination"].is_object() && first.body["meta"]["cursor_pagination"].is_object());
    seen.extend(ids(first.body["data"].as_array().expect("data"), "id"));
    let mut cursor = first.body["meta"]["cursor_pagination"]["end_cursor"].as_str().map(str::to_string);
    while let Some(after) = cursor {
        let r = env.get(&format!("v3/customers?limit=7&after={after}")).await;
        assert!(r.body["meta"].get("pagination").is_none(), "cursor pages carry cursor_pagination only");
        let data = r.body["data"].as_array().expect("data");
        if data.is_empty() {
            break;
        }
        seen.extend(ids(data, "id"));
        cursor = r.body["meta"]["cursor_pagination"]["end_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, (1..=30).collect::<Vec<u64>>());
    let page2 = env.get("v3/customers?limit=7&page=2").await;
    assert!(page2.body["meta"].get("cursor_pagination").is_none());
    assert_eq!(ids(page2.body["data"].as_array().expect("data"), "id"), (8..=14).collect::<Vec<u64>>());
    let back = env.get(&format!("v3/customers?limit=3&before={}", sandbox::api::encode_cursor(10))).await;
    assert_eq!(ids(back.body["data"].as_array().expect("data"), "id"), [7, 8, 9]);
    let with = env.items("v3/customers?limit=30&include=addresses").await;
    assert!(with.iter().any(|c| c["addresses"].as_array().is_some_and(|a| a.len() > 1)));
    assert!(env.items("v3/customers?limit=3").await.iter().all(|c| c.get("addresses").is_none()));
    let sorted = env.items("v3/customers?limit=30&sort=date_modified:desc").await;
    let dates: Vec<_> = sorted.iter().map(|c| c["date_modified"].as_str().expect("date").to_string()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(env.get("v3/customers?after=%%%").await.status, 422);
}

#[tokio::test]
async fn refunds_filters_and_categories() {
    let env = Env::small().await;
    let all = env.items("v3/orders/payment_actions/refunds?limit=250").await;
    assert!(!all.is_empty());
    let some: Vec<u64> = ids(&all, "order_id").into_iter().take(2).collect();
    let filtered = env.items(&format!("v3/orders/payment_actions/refunds?order_id:in={},{}", some[0], some[1])).await;
    assert_eq!(ids(&filtered, "order_id"), some);
    let created = all[all.len() / 2]["created"].as_str().expect("created").to_string();
    let after: String = url::form_urlencoded::byte_serialize(created.as_bytes()).collect();
    let later = env.items(&format!("v3/orders/payment_actions/refunds?limit=250&created:min={after}")).await;
    assert!(later.iter().all(|r| r["created"].as_str().expect("created") >= created.as_str()));
    assert!(later.len() < all.len());
    let categories = env.items("v3/catalog/trees/categories?limit=250").await;
    assert_eq!(categories.len(), 14);
    assert!(categories.iter().any(|c| c["parent_id"] != 0), "a tree, not a flat list");
    let children = env.items("v3/catalog/trees/categories?parent_id:in=1").await;
    assert!(!children.is_empty() && children.iter().all(|c| c["parent_id"] == 1));
    assert_eq!(env.get("v3/orders/999999/transactions").await.status, 404);
    assert_eq!(
        env.get("v2/orders/999999").await.body,
        serde_json::json!([{"status": 404, "message": "The requested resource was not found."}])
    );
}
