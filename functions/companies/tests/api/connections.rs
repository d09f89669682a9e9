use serde_json::json;
use shared::domain::ConnectionStatus;
use shared::ports::ConnectionStore;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, invalid_fields};
use crate::spec::assert_valid;

fn ids(company: &serde_json::Value, connection: &serde_json::Value) -> (Uuid, Uuid) {
    let parse = |v: &serde_json::Value| Uuid::parse_str(v["id"].as_str().expect("id")).expect("uuid");
    (parse(company), parse(connection))
}

#[tokio::test]
async fn create_list_get_delete() {
    let app = TestApp::new().await;
    let company = app.company("Conn Co").await;
    let id = company["id"].as_str().expect("id");
    let created = app.call("POST", &format!("/companies/{id}/connections"), Some(json!({"platformKey": "vqzp"}))).await;
    assert_eq!(created.status, 200);
    assert_valid("Connection", &created.body);
    let conn = &created.body;
    assert_eq!(conn["status"], "PendingAuth");
    assert_eq!(conn["platformName"], "BigCommerce");
    assert_eq!(conn["sourceType"], "Commerce");
    assert_eq!(conn["integrationKey"], "vqzp");
    let conn_id = conn["id"].as_str().expect("id");
    let link = conn["linkUrl"].as_str().expect("linkUrl");
    assert!(link.starts_with(company["redirect"].as_str().expect("redirect")), "{link}");
    assert!(link.ends_with(&format!("/connections/{conn_id}")));

    let list = app.call("GET", &format!("/companies/{id}/connections"), None).await;
    assert_eq!(list.status, 200);
    assert_valid("Connections", &list.body);
    assert_eq!(list.body["totalResults"], 1);
    assert_eq!(&list.body["results"][0], conn);

    let got = app.call("GET", &format!("/companies/{id}/connections/{conn_id}"), None).await;
    assert_eq!(got.body, *conn);
    let company_view = app.call("GET", &format!("/companies/{id}"), None).await;
    assert_eq!(company_view.body["dataConnections"][0], *conn);
    assert_valid("Company", &company_view.body);

    let deleted = app.call("DELETE", &format!("/companies/{id}/connections/{conn_id}"), None).await;
    assert_eq!(deleted.status, 200);
    assert_error(&app.call("GET", &format!("/companies/{id}/connections/{conn_id}"), None).await, 404, conn_id);
    assert_error(&app.call("DELETE", &format!("/companies/{id}/connections/{conn_id}"), None).await, 404, conn_id);
    assert_eq!(app.call("GET", &format!("/companies/{id}/connections"), None).await.body["totalResults"], 0);
}

#[tokio::test]
async fn creation_rules() {
    let app = TestApp::new().await;
    let company = app.company("Rules Co").await;
    let id = company["id"].as_str().expect("id");
    let path = format!("/companies/{id}/connections");
    let other = app.call("POST", &path, Some(json!({"platformKey": "gbol"}))).await;
    assert_error(&other, 400, "the supported platformKey is 'vqzp'");
    assert_eq!(invalid_fields(&other), ["platformKey"]);
    assert_eq!(invalid_fields(&app.call("POST", &path, Some(json!({}))).await), ["platformKey"]);
    assert_eq!(invalid_fields(&app.call("POST", &path, Some(json!({"platformKey": 1}))).await), ["platformKey"]);
    assert_eq!(invalid_fields(&app.call("POST", &path, Some(json!({"platformKey": "vqzp", "x": 1}))).await), ["x"]);
    let missing = Uuid::new_v4();
    assert_error(
        &app.call("POST", &format!("/companies/{missing}/connections"), Some(json!({"platformKey": "vqzp"}))).await,
        404,
        &missing.to_string(),
    );
    assert_error(&app.call("GET", &format!("/companies/{missing}/connections"), None).await, 404, "No company");
    // A connection id from another company is not found under this one.
    let other_company = app.company("Other Co").await;
    let foreign = app.connection(other_company["id"].as_str().expect("id")).await;
    let foreign_id = foreign["id"].as_str().expect("id");
    assert_eq!(app.call("GET", &format!("{path}/{foreign_id}"), None).await.status, 404);
    assert_eq!(app.call("DELETE", &format!("{path}/{foreign_id}"), None).await.status, 404);
    assert_eq!(
        app.call(
            "GET",
            &format!("/companies/{}/connections/{foreign_id}", other_company["id"].as_str().expect("id")),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn unlink_only_from_linked() {
    let app = TestApp::new().await;
    let company = app.company("Unlink Co").await;
    let conn = app.connection(company["id"].as_str().expect("id")).await;
    let (company_id, conn_id) = ids(&company, &conn);
    let path = format!("/companies/{company_id}/connections/{conn_id}");

    assert_error(
        &app.call("PATCH", &path, Some(json!({"status": "Unlinked"}))).await,
        400,
        "this connection is PendingAuth",
    );
    let linked = app.call("PATCH", &path, Some(json!({"status": "Linked"}))).await;
    assert_error(&linked, 400, "may only be set to 'Unlinked'");
    assert_eq!(invalid_fields(&linked), ["status"]);
    assert_eq!(invalid_fields(&app.call("PATCH", &path, Some(json!({"status": "linked"}))).await), ["status"]);
    assert_eq!(invalid_fields(&app.call("PATCH", &path, Some(json!({}))).await), ["status"]);
    assert_eq!(invalid_fields(&app.call("PATCH", &path, Some(json!({"status": "Unlinked", "x": 1}))).await), ["x"]);

    app.store
        .set_connection_status(company_id, conn_id, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
        .await
        .expect("link");
    let unlinked = app.call("PATCH", &path, Some(json!({"status": "Unlinked"}))).await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.body);
    assert_valid("Connection", &unlinked.body);
    assert_eq!(unlinked.body["status"], "Unlinked");
    assert_eq!(app.call("GET", &path, None).await.body["status"], "Unlinked");
    assert_error(
        &app.call("PATCH", &path, Some(json!({"status": "Unlinked"}))).await,
        400,
        "this connection is Unlinked",
    );
    assert_error(
        &app.call(
            "PATCH",
            &format!("/companies/{company_id}/connections/{}", Uuid::new_v4()),
            Some(json!({"status": "Unlinked"})),
        )
        .await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn concurrent_unlinks_change_status_exactly_once() {
    let app = TestApp::new().await;
    let company = app.company("Race Co").await;
    let conn = app.connection(company["id"].as_str().expect("id")).await;
    let (company_id, conn_id) = ids(&company, &conn);
    app.store
        .set_connection_status(company_id, conn_id, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
        .await
        .expect("link");
    let path = format!("/companies/{company_id}/connections/{conn_id}");
    let replies = futures_join(&app, &path, 8).await;
    let ok = replies.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "exactly one unlink may succeed: {replies:?}");
    assert!(replies.iter().all(|s| *s == 200 || *s == 400), "{replies:?}");
    // The store's conditional write is what decides, not the handler's pre-check.
    let direct = app
        .store
        .set_connection_status(company_id, conn_id, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
        .await;
    assert!(matches!(direct, Err(shared::error::StoreError::ConditionFailed(_))), "{direct:?}");
}

async fn futures_join(app: &TestApp, path: &str, n: usize) -> Vec<u16> {
    let calls = (0..n).map(|_| app.call("PATCH", path, Some(json!({"status": "Unlinked"}))));
    futures::future::join_all(calls).await.into_iter().map(|reply| reply.status).collect()
}

async fn secret_exists(app: &TestApp, name: &str) -> bool {
    app.secrets.describe_secret().secret_id(name).send().await.is_ok()
}

/// Links a connection as fn link would: secret written, connection Linked with its name.
async fn link_with_secret(app: &TestApp, company: Uuid, connection: Uuid) -> String {
    use shared::ports::{LinkStore, SecretStore};
    let name = format!("{}/{connection}", app.table);
    let secrets = shared::adapters::secrets_manager::SecretsManagerStore::new(app.secrets.clone());
    let value = secrecy::SecretString::from(r#"{"accessToken":"t"}"#.to_string());
    secrets.put_secret(&name, &value, &[("connection_id", connection.to_string())]).await.expect("secret");
    let lease = Uuid::new_v4();
    app.store.begin_link(company, connection, lease, chrono::Utc::now(), 30).await.expect("lease");
    let linked =
        shared::ports::LinkedStore { store_hash: "abc123".into(), secret_name: name.clone(), info: Default::default() };
    app.store.complete_link(company, connection, lease, &linked).await.expect("link");
    name
}

#[tokio::test]
async fn deleting_connections_and_companies_deletes_their_secrets() {
    let app = TestApp::new().await;
    let company = app.company("Secret Co").await;
    let (company_id, one) = ids(&company, &app.connection(company["id"].as_str().expect("id")).await);
    let (_, two) = ids(&company, &app.connection(company["id"].as_str().expect("id")).await);
    let first = link_with_secret(&app, company_id, one).await;
    let second = link_with_secret(&app, company_id, two).await;
    assert!(secret_exists(&app, &first).await && secret_exists(&app, &second).await);
    let linked = app.call("GET", &format!("/companies/{company_id}/connections/{one}"), None).await;
    assert_eq!(linked.body["status"], "Linked");
    assert!(!linked.body.to_string().contains(&first), "the secret's name is not shown");

    assert_eq!(app.call("DELETE", &format!("/companies/{company_id}/connections/{one}"), None).await.status, 200);
    assert!(!secret_exists(&app, &first).await, "the connection's secret is deleted");
    assert!(secret_exists(&app, &second).await);
    assert_eq!(app.call("DELETE", &format!("/companies/{company_id}"), None).await.status, 204);
    assert!(!secret_exists(&app, &second).await, "the company's connections' secrets are deleted");
    let token = company["redirect"].as_str().expect("redirect").rsplit('/').next().expect("token").to_string();
    let token = shared::domain::LinkToken::parse(&token).expect("token");
    let nonce = token.nonce().expect("nonce");
    assert_eq!(token, app.link_key.token_for(company_id, &nonce), "the Link URL is derived from the link key");
}

#[tokio::test]
async fn a_rotated_link_url_replaces_the_old_one_for_the_company_and_its_connections() {
    let app = TestApp::new().await;
    let company = app.company("Rotate Co").await;
    let id = company["id"].as_str().expect("id");
    let connection = app.connection(id).await;
    let old = company["redirect"].as_str().expect("redirect").to_string();
    let rotated = app.call("POST", &format!("/companies/{id}/redirect/rotate"), None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_valid("Company", &rotated.body);
    let new = rotated.body["redirect"].as_str().expect("redirect").to_string();
    assert_ne!(new, old);
    assert_eq!(app.call("GET", &format!("/companies/{id}"), None).await.body["redirect"], new.as_str());
    let link =
        app.call("GET", &format!("/companies/{id}/connections/{}", connection["id"].as_str().expect("id")), None).await;
    assert!(link.body["linkUrl"].as_str().expect("linkUrl").starts_with(&new), "connections follow");
    let token_of = |url: &str| shared::domain::LinkToken::parse(url.rsplit('/').next().expect("token")).expect("token");
    let store = &app.store;
    let found = |url: String| async move {
        shared::ports::CompanyStore::company_by_link_hash(store, &token_of(&url).hash()).await.expect("lookup")
    };
    assert!(found(old).await.is_none(), "the old token's lookup is gone at once");
    assert!(found(new).await.is_some());
    let missing = uuid::Uuid::new_v4();
    assert_error(&app.call("POST", &format!("/companies/{missing}/redirect/rotate"), None).await, 404, "No company");
    assert_error(&app.call("GET", &format!("/companies/{id}/redirect/rotate"), None).await, 405, "GET");
}
