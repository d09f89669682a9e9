//! A BigCommerce client written to the real API's conventions works unchanged here.

use serde_json::Value;

use crate::helpers::Env;

#[tokio::test]
async fn a_conventional_client_pages_until_204_or_a_short_page_and_follows_refs() {
    let env = Env::new(21, sandbox::Sizes { orders: 600, products: 20, customers: 40, categories: 5 }).await;
    let base = env.sandbox.store_url(&env.hash);
    let mut orders: Vec<Value> = Vec::new();
    let mut page = 1;
    loop {
        let r = env
            .http
            .get(format!("{base}/v2/orders?limit=250&page={page}"))
            .header("x-auth-token", &env.token)
            .send()
            .await
            .expect("page");
        if r.status() == 204 {
            break;
        }
        assert_eq!(r.status(), 200);
        let batch: Vec<Value> = r.json().await.expect("array");
        let short = batch.len() < 250;
        orders.extend(batch);
        if short {
            break;
        }
        page += 1;
    }
    let live = env.store.data().orders.iter().filter(|o| !o.is_deleted).count();
    assert_eq!(orders.len(), live);
    let order = &orders[0];
    let url = order["products"]["url"].as_str().expect("products.url");
    assert!(url.starts_with(&base), "refs point at the sandbox's own base: {url}");
    let products: Vec<Value> =
        env.http.get(url).header("x-auth-token", &env.token).send().await.expect("ref").json().await.expect("array");
    assert!(!products.is_empty() && products.iter().all(|p| p["order_id"] == order["id"]));
    let coupons = env
        .http
        .get(order["coupons"]["url"].as_str().expect("coupons.url"))
        .header("x-auth-token", &env.token)
        .send()
        .await
        .expect("ref");
    assert!(coupons.status() == 200 || coupons.status() == 204);
    let shipping = env
        .http
        .get(order["shipping_addresses"]["url"].as_str().expect("url"))
        .header("x-auth-token", &env.token)
        .send()
        .await
        .expect("ref");
    assert_eq!(shipping.status(), 200);
}

#[tokio::test]
async fn the_ground_truth_export_matches_what_the_api_serves() {
    let env = Env::small().await;
    let admin = format!("{}/admin/stores/{}/export", env.sandbox.base_url(), env.hash);
    let text = env.http.get(admin).send().await.expect("export").text().await.expect("text");
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let of = |kind: &str| records.iter().filter(|r| r["type"] == kind).map(|r| r["record"].clone()).collect::<Vec<_>>();
    let exported_orders = of("order");
    assert_eq!(exported_orders.len(), env.store.data().orders.len(), "archived orders included");
    let served = env.items("v2/orders?limit=250").await;
    for order in &served {
        assert!(exported_orders.contains(order), "order {} differs from the export", order["id"]);
    }
    let products = env.items("v3/catalog/products?limit=250&include=variants,images").await;
    assert_eq!(of("product"), products);
    let customers = env.items("v3/customers?limit=250&include=addresses").await;
    assert_eq!(of("customer"), customers);
    let lines = of("order_product");
    let first = served[0]["id"].clone();
    let api_lines = env.items(&format!("v2/orders/{first}/products?limit=250")).await;
    assert_eq!(lines.iter().filter(|l| l["order_id"] == first).cloned().collect::<Vec<_>>(), api_lines);
    assert!(!of("transaction").is_empty() && !of("refund").is_empty() && of("category").len() == 14);
}
