use serde_json::json;

use crate::helpers::Env;

#[tokio::test]
async fn tokens_scopes_and_stores() {
    let env = Env::small().await;
    let missing = env.get_as("v2/orders", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body[0]["status"], 401, "v2 errors are arrays: {}", missing.body);
    let wrong = env.get_as("v3/catalog/products", Some("not-a-token")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["status"], 401, "v3 errors are objects: {}", wrong.body);

    let forbidden = env.get_as("v3/customers", Some(&env.no_customers)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.body,
        json!({"status":403,"title":"You don't have a required scope to access the endpoint","type":"https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes","errors":{}})
    );
    assert_eq!(env.get_as("v2/orders?limit=1", Some(&env.no_customers)).await.status, 200, "other scopes still work");

    let url = format!("{}/stores/nosuchstore/v2/orders", env.sandbox.base_url());
    let unknown = env.http.get(url).header("x-auth-token", &env.token).send().await.expect("request");
    assert_eq!(unknown.status(), 404);
    assert_eq!(env.get("v2/nowhere").await.status, 404);
}

#[tokio::test]
async fn revoking_and_removing_scopes_take_effect_immediately() {
    let env = Env::small().await;
    let client_id = env.store.accounts()[0].client_id.clone();
    assert_eq!(env.get("v3/catalog/products?limit=1").await.status, 200);
    assert!(env.store.set_scopes(&client_id, [sandbox::Scope::Orders]));
    assert_eq!(env.get("v3/catalog/products?limit=1").await.status, 403);
    assert!(env.store.set_revoked(&client_id, true));
    assert_eq!(env.get("v2/orders?limit=1").await.status, 401);
    // Over the admin API too.
    let admin = format!("{}/admin/stores/{}/accounts/{client_id}", env.sandbox.base_url(), env.hash);
    let restored = env
        .http
        .patch(&admin)
        .json(&json!({"revoked": false, "scopes": ["store_v2_products_read_only"]}))
        .send()
        .await
        .expect("admin");
    assert_eq!(restored.status(), 200);
    assert_eq!(env.get("v3/catalog/products?limit=1").await.status, 200);
    let file = env.http.get(format!("{admin}/credentials.txt")).send().await.expect("file").text().await.expect("text");
    assert!(file.contains(&format!("ACCESS TOKEN: {}", env.token)));
    assert!(file.contains(&format!("API PATH: https://api.bigcommerce.com/stores/{}/v3/", env.hash)));
    assert!(file.contains(&format!("CLIENT ID: {client_id}")));
}

#[tokio::test]
async fn tokens_do_not_cross_stores() {
    let a = sandbox::StoreConfig::from_seed(1, sandbox::Sizes { orders: 5, products: 2, customers: 2, categories: 2 });
    let b = sandbox::StoreConfig::from_seed(2, sandbox::Sizes { orders: 5, products: 2, customers: 2, categories: 2 });
    let (a_hash, b_hash, a_token) = (a.hash.clone(), b.hash.clone(), a.accounts[0].access_token.clone());
    let sandbox = sandbox::Sandbox::start(sandbox::SandboxOptions { stores: vec![a, b], ..Default::default() })
        .await
        .expect("sandbox");
    let http = reqwest::Client::new();
    let get =
        |hash: &str| http.get(format!("{}/v2/time", sandbox.store_url(hash))).header("x-auth-token", &a_token).send();
    assert_eq!(get(&a_hash).await.expect("a").status(), 200);
    assert_eq!(get(&b_hash).await.expect("b").status(), 401);
    let stores: serde_json::Value = http
        .get(format!("{}/admin/stores", sandbox.base_url()))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    assert_eq!(stores.as_array().map(Vec::len), Some(2));
    sandbox.stop().await;
}
