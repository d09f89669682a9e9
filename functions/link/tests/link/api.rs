//! `PUT /companies/{id}/connections/{id}/authorization`.

use serde_json::json;

use crate::helpers::Stack;

fn fields(body: &serde_json::Value) -> Vec<String> {
    body["validation"]["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|i| i["itemId"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn good_credentials_link_store_the_secret_and_queue_first_syncs() {
    let s = Stack::new().await;
    let (company, connection, _) = s.company().await;
    let (status, linked) = s.authorize(&company, &connection, &s.body(s.full())).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["status"], "Linked");
    assert_eq!(linked["connectionInfo"]["storeHash"], s.store.hash);
    assert_eq!(linked["connectionInfo"]["storeName"], s.store.name);
    assert_eq!(linked["connectionInfo"]["grantedScopes"].as_str().map(|g| g.split(',').count()), Some(5));
    let text = linked.to_string();
    for secret in [&s.full().access_token, &s.full().client_secret, &s.full().client_id] {
        assert!(!text.contains(secret.as_str()), "a credential leaked into the response");
    }
    let (value, versions) = s.secret(&connection).await.expect("secret stored");
    assert_eq!(
        (value["accessToken"].as_str(), value["storeHash"].as_str(), versions),
        (Some(s.full().access_token.as_str()), Some(s.store.hash.as_str()), 1)
    );
    assert!(value.get("clientSecret").is_none(), "the Client Secret is checked, never kept");
    assert!(!value.to_string().contains(s.full().client_secret.as_str()));
    let jobs = s.queued_jobs().await;
    let mut types: Vec<&str> = jobs.iter().filter_map(|j| j["dataType"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "commerce-companyInfo",
            "commerce-customers",
            "commerce-orders",
            "commerce-paymentMethods",
            "commerce-payments",
            "commerce-productCategories",
            "commerce-products",
            "commerce-transactions"
        ],
        "every fetchOnFirstLink type, once"
    );
    assert!(jobs.iter().all(|j| j["connectionId"] == connection.as_str() && j["reason"] == "firstLink"));
    assert!(
        !serde_json::to_string(&jobs).expect("json").contains(&s.full().access_token),
        "no credential in job messages"
    );
    let again = s.authorize(&company, &connection, &s.body(s.full())).await;
    assert_eq!(again.0, 400, "a Linked connection is not re-linked: {}", again.1);
    // The stored record holds the secret's name and the store hash, never a credential.
    let items = s.stack_items().await;
    assert!(items.contains(&s.secret_name(&connection)) && !items.contains(&s.full().access_token));
}

#[tokio::test]
async fn each_refusal_is_named_and_nothing_is_stored() {
    let s = Stack::new().await;
    let (company, connection, _) = s.company().await;
    let mut wrong_token = s.body(s.full());
    wrong_token["accessToken"] = json!("0000000000000000000000000000000");
    let (status, body) = s.authorize(&company, &connection, &wrong_token).await;
    assert_eq!((status, fields(&body)), (400, vec!["accessToken".to_string()]), "{body}");
    assert!(body["validation"]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("rejected")));

    let (status, body) = s.authorize(&company, &connection, &s.body(s.no_customers())).await;
    assert_eq!((status, fields(&body)), (400, vec!["store_v2_customers_read_only".to_string()]), "{body}");
    assert!(body.to_string().contains("Customers"), "the missing scope is named by its UI name");

    let mut unknown_store = s.body(s.full());
    unknown_store["apiPath"] = json!("https://api.bigcommerce.com/stores/nosuchstore/v3/");
    let (status, body) = s.authorize(&company, &connection, &unknown_store).await;
    assert_eq!((status, fields(&body)), (400, vec!["apiPath".to_string()]), "{body}");

    let before = s.sandbox_requests();
    for api_path in [
        "https://evil.example.com/stores/abc/v3/",
        "https://api.bigcommerce.com@127.0.0.1/stores/abc/v3/",
        "http://api.bigcommerce.com/stores/abc/v3/",
        "",
    ] {
        let mut bad = s.body(s.full());
        bad["apiPath"] = json!(api_path);
        let (status, body) = s.authorize(&company, &connection, &bad).await;
        assert_eq!((status, fields(&body)), (400, vec!["apiPath".to_string()]), "{api_path}: {body}");
    }
    let (status, body) = s.authorize(&company, &connection, &json!({"clientId": "x"})).await;
    assert_eq!(
        (status, fields(&body)),
        (400, vec!["clientSecret".to_string(), "accessToken".to_string(), "apiPath".to_string()])
    );
    let (status, _) = s.authorize(&company, &connection, &json!({"clientId": "x", "password": "y"})).await;
    assert_eq!(status, 400);
    assert_eq!(s.sandbox_requests(), before, "refused before any request to the store");

    s.stack.sandbox.store(&s.store.hash).expect("store").exhaust();
    let (status, body) = s.authorize(&company, &connection, &s.body(s.full())).await;
    assert_eq!(status, 503, "a busy store means try again: {body}");

    assert!(s.secret(&connection).await.is_none(), "nothing stored after refusals");
    assert!(s.queued_jobs().await.is_empty());
    let conn =
        s.api.expect("GET", &format!("/companies/{company}/connections/{connection}"), None, 200).await.expect("get");
    assert_eq!(conn["status"], "PendingAuth");
    let response_texts = format!("{body}");
    assert!(!response_texts.contains(&s.full().access_token));
}

#[tokio::test]
async fn unlink_deletes_the_secret_a_relink_resumes_only_with_the_same_store_and_delete_removes_it() {
    let s = Stack::unhooking().await;
    let (company, connection, _) = s.company().await;
    assert_eq!(s.authorize(&company, &connection, &s.body(s.full())).await.0, 200);
    let path = format!("/companies/{company}/connections/{connection}");
    let (_, versions) = s.secret(&connection).await.expect("secret");
    assert_eq!(versions, 1);
    assert!(!s.store_hooks().is_empty(), "the link registered the store's hooks");
    s.api.expect("PATCH", &path, Some(&json!({"status": "Unlinked"})), 200).await.expect("unlink");
    assert!(s.secret_gone(&connection).await, "unlinking deletes the credentials (the data stays)");
    assert_eq!(s.store_hooks(), Vec::new(), "the hooks went from the store before the secret");
    let (status, relinked) = s.authorize(&company, &connection, &s.body(s.full())).await;
    assert_eq!((status, relinked["status"].as_str()), (200, Some("Linked")), "a re-link to the same store resumes");
    assert!(s.secret(&connection).await.is_some(), "stored again");
    assert!(!s.store_hooks().is_empty(), "and the hooks registered again");
    // Another store is refused, with nothing stored or changed.
    let mut other = s.body(s.full());
    other["apiPath"] = json!("https://api.bigcommerce.com/stores/zz9other/v3/");
    s.api.expect("PATCH", &path, Some(&json!({"status": "Unlinked"})), 200).await.expect("unlink");
    assert!(s.secret_gone(&connection).await, "unlinked again: the secret goes");
    let before = s.sandbox_requests();
    let (status, refused) = s.authorize(&company, &connection, &other).await;
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"].as_str().unwrap_or_default();
    assert!(message.contains("create a new connection") && message.contains("zz9other"), "{message}");
    assert_eq!(s.sandbox_requests(), before, "nothing sent to either store");
    assert!(s.secret(&connection).await.is_none(), "nothing stored");
    let conn = s.api.expect("GET", &path, None, 200).await.expect("get");
    assert_eq!(conn["status"], "Unlinked", "nothing changed");
    assert_ne!(conn["connectionInfo"]["storeHash"], "zz9other");
    let (status, _) = s.authorize(&company, &connection, &s.body(s.full())).await;
    assert_eq!(status, 200, "the connection's own store still links");
    let (_, versions) = s.secret(&connection).await.expect("secret");
    assert!(versions >= 1);
    s.api.expect("DELETE", &path, None, 200).await.expect("delete");
    assert!(s.secret_gone(&connection).await, "deleting the connection deletes its secret");
    assert_eq!(s.store_hooks(), Vec::new(), "and its hooks");
}

#[tokio::test]
async fn concurrent_submissions_leave_one_consistent_result() {
    let s = Stack::new().await;
    let (company, connection, _) = s.company().await;
    let body = s.body(s.full());
    let attempts = (0..4).map(|_| s.authorize(&company, &connection, &body));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ok, 1, "exactly one submission links: {:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|(status, _)| [200, 400, 409].contains(status)));
    let conn =
        s.api.expect("GET", &format!("/companies/{company}/connections/{connection}"), None, 200).await.expect("get");
    assert_eq!(conn["status"], "Linked");
    assert_eq!(s.queued_jobs().await.len(), 8, "first syncs queued once");
}

#[tokio::test]
async fn authorization_needs_the_api_key_and_real_ids() {
    let s = Stack::new().await;
    let (company, connection, _) = s.company().await;
    let stranger = devstack::client::ApiClient::new(&s.stack.api_url, "wrong");
    let (status, _) = stranger
        .send("PUT", &format!("/companies/{company}/connections/{connection}/authorization"), Some(&s.body(s.full())))
        .await
        .expect("send");
    assert_eq!(status, 401);
    let (status, _) = s.authorize(&company, &uuid::Uuid::new_v4().to_string(), &s.body(s.full())).await;
    assert_eq!(status, 404);
    let (status, _) = s.authorize(&uuid::Uuid::new_v4().to_string(), &connection, &s.body(s.full())).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .api
        .send("POST", &format!("/companies/{company}/connections/{connection}/authorization"), Some(&s.body(s.full())))
        .await
        .expect("send");
    assert_eq!(status, 405);
}
