//! The Commerce API against moto and the sandbox store: a store is linked through the API, its
//! first sync runs through the real queue and worker, and everything is read back over HTTP
//! through the local runner, as a platform would with Codat's SDKs.

mod events;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::{Sizes, StoreConfig};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::domain::{ConnectionStatus, DataType};
use shared::ports::{ConnectionStore, RecordReader, RecordSet};
use testkit::{Draft, Spec};
use uuid::Uuid;

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::named("codat/Codat-Commerce").with_draft(Draft::Draft7))
}

/// Asserts `instance` is valid against Codat Commerce's `components/schemas/<name>`.
fn assert_valid(name: &str, instance: &Value) {
    spec().assert_valid(&format!("#/components/schemas/{name}"), instance);
}

fn endpoint() -> String {
    devstack::emulator_endpoint()
}

/// A running stack with one company per sandbox store, each linked and (unless told otherwise)
/// synced.
struct World {
    stack: DevStack,
    api: ApiClient,
    /// (company id, connection id) per store.
    links: Vec<(String, String)>,
    records: Arc<DynamoRecords>,
    store: DynamoStore,
}

fn small(seed: u64, orders: u32) -> StoreConfig {
    let mut store = StoreConfig::from_seed(seed, Sizes { orders, products: 25, customers: 120, categories: 4 });
    store.quota = 1_000;
    store.window = Duration::from_millis(500);
    store
}

impl World {
    async fn start(stores: Vec<StoreConfig>, run_worker: bool) -> Self {
        let prefix = format!("data-{}-", Uuid::new_v4().simple());
        let mut options = StackOptions {
            port: 0,
            aws_endpoint: Some(endpoint()),
            name_prefix: prefix,
            run_worker,
            ..StackOptions::default()
        };
        options.sandbox.stores = stores;
        let stack = DevStack::start(options).await.expect("stack");
        let api = ApiClient::new(&stack.api_url, &stack.api_key);
        let sdk = stack.admin_sdk();
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let records = Arc::new(DynamoRecords::new(dynamo.clone(), stack.tables["DataTable"].clone()));
        let store = DynamoStore::new(dynamo, stack.tables["PlatformTable"].clone());
        let mut world = Self { stack, api, links: Vec::new(), records, store };
        let configs: Vec<StoreConfig> = world.stack.sandbox.stores().iter().map(|s| s.config().clone()).collect();
        for config in configs {
            let company = world.api.expect("POST", "/companies", Some(&json!({"name": config.name})), 200).await;
            let company = company.expect("company")["id"].as_str().expect("id").to_string();
            let connection = world
                .api
                .expect(
                    "POST",
                    &format!("/companies/{company}/connections"),
                    Some(&json!({"platformKey": "vqzp"})),
                    200,
                )
                .await
                .expect("connection")["id"]
                .as_str()
                .expect("id")
                .to_string();
            let account = &config.accounts[0];
            let body = json!({
                "clientId": account.client_id,
                "clientSecret": account.client_secret,
                "accessToken": account.access_token,
                "apiPath": config.api_path(),
            });
            let path = format!("/companies/{company}/connections/{connection}/authorization");
            world.api.expect("PUT", &path, Some(&body), 200).await.expect("linked");
            if run_worker {
                let statuses = world
                    .api
                    .wait_for_syncs(&company, Duration::from_secs(120), |_, _, _| {})
                    .await
                    .expect("history")
                    .expect("first sync finished");
                assert_eq!(statuses["commerce-orders"], "Complete", "{statuses:?}");
            }
            world.links.push((company, connection));
        }
        world
    }

    fn data(&self, link: usize, rest: &str) -> String {
        let (company, connection) = &self.links[link];
        format!("/companies/{company}/connections/{connection}/data/{rest}")
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.api.send("GET", path, None).await.expect("request")
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Every result of a list, following `_links.next`.
    async fn walk(&self, first: &str) -> Vec<Value> {
        let mut results = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(path) = next {
            let page = self.ok(&path).await;
            results.extend(page["results"].as_array().expect("results").iter().cloned());
            next = page["_links"]["next"]["href"].as_str().map(str::to_string);
        }
        results
    }

    async fn stop(self) {
        self.stack.stop().await;
    }
}

fn ids(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["id"].as_str().expect("id").to_string()).collect()
}

fn error(status: u16, body: &Value, code: u16, needle: &str) {
    assert_eq!(status, code, "{body}");
    assert_valid("ErrorMessage", body);
    assert_eq!(body["statusCode"], code);
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} should mention {needle:?}");
}

/// Collections and their item schemas.
const TYPES: &[(&str, &str, &str)] = &[
    ("commerce-customers", "Customers", "Customer"),
    ("commerce-orders", "Orders", "Order"),
    ("commerce-products", "Products", "Product"),
    ("commerce-productCategories", "ProductCategories", "ProductCategory"),
    ("commerce-payments", "Payments", "Payment"),
    ("commerce-paymentMethods", "PaymentMethods", "PaymentMethod"),
    ("commerce-transactions", "Transactions", "Transaction"),
];

#[tokio::test]
async fn every_endpoint_answers_schema_valid_codat_json_matching_what_was_synced() {
    let w = World::start(vec![small(11, 130)], true).await;
    let info = w.ok(&w.data(0, "commerce-info")).await;
    assert_valid("CompanyInfo", &info);
    let name = &w.stack.sandbox.stores()[0].config().name;
    assert_eq!(info["companyName"].as_str(), Some(name.as_str()), "{info}");
    let connection = Uuid::parse_str(&w.links[0].1).expect("uuid");
    for (resource, list_schema, item_schema) in TYPES {
        // (Codat's list schemas cap pageSize at 2000 although its parameter allows 5000.)
        let page = w.ok(&w.data(0, &format!("{resource}?pageSize=2000"))).await;
        assert_valid(list_schema, &page);
        let data_type = DataType::parse(resource).expect("type");
        let stored = w.records.every_record(RecordSet::new(connection, data_type)).await.expect("stored");
        assert!(!stored.is_empty(), "{resource} synced nothing");
        assert_eq!(page["totalResults"], stored.len(), "{resource}");
        let listed: Vec<Value> = page["results"].as_array().expect("results").clone();
        assert_eq!(listed, stored.iter().map(|r| r.record.clone()).collect::<Vec<_>>(), "{resource}");
        for record in listed.iter().take(3) {
            let id = record["id"].as_str().expect("id");
            let one = w.ok(&w.data(0, &format!("{resource}/{}", urlencode(id)))).await;
            assert_valid(item_schema, &one);
            assert_eq!(&one, record, "{resource}/{id}");
        }
        let (status, body) = w.get(&w.data(0, &format!("{resource}/no-such-record"))).await;
        error(status, &body, 404, "no-such-record");
    }
    for resource in ["commerce-locations", "commerce-taxComponents", "commerce-disputes"] {
        let (status, body) = w.get(&w.data(0, resource)).await;
        error(status, &body, 409, "not supported by the BigCommerce integration");
        let (status, body) = w.get(&w.data(0, &format!("{resource}/1"))).await;
        error(status, &body, 409, "not supported by the BigCommerce integration");
    }
    w.stop().await;
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test]
async fn pages_cover_every_record_once_in_a_stable_order_and_jump_without_reading_what_comes_before() {
    let w = World::start(vec![small(12, 330)], true).await;
    let orders = w.data(0, "commerce-orders");
    let all = w.walk(&format!("{orders}?pageSize=37")).await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), live_orders(&w, 0));
    assert_eq!(all_ids.iter().collect::<BTreeSet<_>>().len(), all_ids.len(), "no duplicates");
    let numbers: Vec<u64> = all_ids.iter().map(|id| id.parse().expect("numeric id")).collect();
    assert!(numbers.windows(2).all(|p| p[0] < p[1]), "source id order");
    let again = w.walk(&format!("{orders}?pageSize=100")).await;
    assert_eq!(ids(&again), all_ids, "the same order whatever the page size");

    // Any page is the same slice of that order, and its links lead on.
    let page3 = w.ok(&format!("{orders}?page=3&pageSize=100")).await;
    assert_eq!(ids(page3["results"].as_array().expect("results")), all_ids[200..300]);
    assert_eq!(page3["pageNumber"], 3);
    assert_eq!(page3["pageSize"], 100);
    assert_eq!(page3["totalResults"], all_ids.len());
    assert!(page3["_links"]["next"]["href"].as_str().expect("next").contains("page=4&pageSize=100"));
    assert!(page3["_links"]["previous"]["href"].as_str().expect("previous").contains("page=2&pageSize=100"));
    let odd = w.ok(&format!("{orders}?page=4&pageSize=23")).await;
    assert_eq!(ids(odd["results"].as_array().expect("results")), all_ids[69..92]);
    let beyond = w.ok(&format!("{orders}?page=40&pageSize=100")).await;
    assert_eq!(beyond["results"], json!([]));
    assert!(beyond["_links"].get("next").is_none());

    // The cost of a page does not grow with its position.
    let connection = Uuid::parse_str(&w.links[0].1).expect("uuid");
    let cost = |offset: u64| {
        let records = w.records.clone();
        async move {
            let before = records.stats();
            let page = records
                .page(RecordSet::new(connection, DataType::Orders), offset, 50)
                .await
                .expect("page")
                .expect("sealed");
            assert_eq!(page.records.len(), 50);
            records.stats().since(&before)
        }
    };
    let (first, late, unaligned) = (cost(0).await, cost(200).await, cost(150).await);
    // Directory (2 items), the page's summaries, the page's records.
    assert_eq!(first.items, 2 + 50 + 50, "{first:?}");
    assert_eq!(late.items, first.items, "page 1 {first:?} vs page 5 {late:?}");
    // Between two directory entries, up to STRIDE - 1 summaries more.
    assert!(unaligned.items < first.items + 100, "{unaligned:?}");

    for bad in ["page=0", "pageSize=0", "pageSize=5001", "page=x", "page=1&page=2"] {
        let (status, body) = w.get(&format!("{orders}?{bad}")).await;
        error(status, &body, 400, "");
    }
    w.stop().await;
}

/// Orders the store lists (archived ones are not), per the sandbox's ground truth.
fn live_orders(w: &World, store: usize) -> usize {
    devstack::truth::of_store(&w.stack.sandbox.stores()[store]).counts[&DataType::Orders]
}

#[tokio::test]
async fn query_and_order_by_filter_and_sort_like_codat_over_light_and_heavy_properties() {
    let w = World::start(vec![small(13, 260)], true).await;
    let orders = w.data(0, "commerce-orders");
    let all = w.walk(&format!("{orders}?pageSize=5000")).await;

    // A customer with more than one order, filtered through a dot path.
    let customer = all
        .iter()
        .filter_map(|o| o["customerRef"]["id"].as_str())
        .find(|id| all.iter().filter(|o| o["customerRef"]["id"].as_str() == Some(id)).count() > 1)
        .expect("a repeat customer")
        .to_string();
    let expected: Vec<&Value> = all.iter().filter(|o| o["customerRef"]["id"].as_str() == Some(&customer)).collect();
    let page = w.ok(&format!("{orders}?query={}", urlencode(&format!("customerRef.id={customer}")))).await;
    assert_valid("Orders", &page);
    assert_eq!(page["totalResults"], expected.len());
    assert_eq!(page["results"].as_array().expect("results").iter().collect::<Vec<_>>(), expected);

    // Decimals compare as numbers, dates as instants, combined with && and ||.
    let amount = |o: &Value| o["totalAmount"].as_f64().expect("totalAmount");
    let big: Vec<String> = ids(&all.iter().filter(|o| amount(o) > 100.0).cloned().collect::<Vec<_>>());
    let got = w.walk(&format!("{orders}?pageSize=40&query={}", urlencode("totalAmount>100"))).await;
    assert_eq!(ids(&got), big);
    let mut dates: Vec<&str> = all.iter().filter_map(|o| o["sourceModifiedDate"].as_str()).collect();
    dates.sort();
    let cut = dates[dates.len() / 2];
    let recent = all.iter().filter(|o| o["sourceModifiedDate"].as_str().is_some_and(|d| d >= cut)).count();
    let query = format!("sourceModifiedDate>={cut}");
    let page = w.ok(&format!("{orders}?pageSize=5000&query={}", urlencode(&query))).await;
    assert_eq!(page["totalResults"], recent);
    assert!(recent > 0 && recent < all.len(), "{recent} of {}", all.len());
    // modifiedDate is when the data last changed here: a platform's incremental pull.
    let since = |instant: &str| format!("{orders}?pageSize=1&query={}", urlencode(&format!("modifiedDate>={instant}")));
    assert_eq!(w.ok(&since("2000-01-01T00:00:00Z")).await["totalResults"], all.len());
    assert_eq!(w.ok(&since("2999-01-01")).await["totalResults"], 0);

    // Descending sort on a decimal, stable across pages.
    let sorted = w.walk(&format!("{orders}?pageSize=50&orderBy=-totalAmount")).await;
    assert_eq!(sorted.len(), all.len());
    assert!(sorted.windows(2).all(|p| amount(&p[0]) >= amount(&p[1])), "descending totalAmount");
    assert_eq!(ids(&sorted).into_iter().collect::<BTreeSet<_>>(), ids(&all).into_iter().collect::<BTreeSet<_>>());

    // A heavy property (line items) is searched through the whole records.
    let product = all[0]["orderLineItems"][0]["productRef"]["id"].as_str().expect("a product line").to_string();
    let with_product: Vec<String> = ids(&all
        .iter()
        .filter(|o| {
            o["orderLineItems"].as_array().into_iter().flatten().any(|l| l["productRef"]["id"] == product.as_str())
        })
        .cloned()
        .collect::<Vec<_>>());
    let got = w
        .ok(&format!("{orders}?pageSize=5000&query={}", urlencode(&format!("orderLineItems.productRef.id={product}"))))
        .await;
    assert_eq!(ids(got["results"].as_array().expect("results")), with_product);

    // Mistakes are 400s naming the problem, and the links carry the query on.
    let (status, body) = w.get(&format!("{orders}?query={}", urlencode("colour=red"))).await;
    error(status, &body, 400, "Could not resolve property colour on Order");
    let (status, body) = w.get(&format!("{orders}?query={}", urlencode("totalAmount>lots"))).await;
    error(status, &body, 400, "Error parsing query");
    let (status, body) = w.get(&format!("{orders}?orderBy=-nope")).await;
    error(status, &body, 400, "nope");
    let page = w.ok(&format!("{orders}?pageSize=1&query={}", urlencode("totalAmount>100"))).await;
    assert!(page["_links"]["next"]["href"].as_str().expect("next").contains("query=totalAmount%3E100"));
    w.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_404_unsynced_data_is_409_and_data_outlives_the_connection_link() {
    let w = World::start(vec![small(14, 40)], true).await;
    let (company, connection) = w.links[0].clone();
    let orders = w.data(0, "commerce-orders");

    let unknown = Uuid::new_v4();
    let (status, body) = w.get(&format!("/companies/{unknown}/connections/{connection}/data/commerce-orders")).await;
    error(status, &body, 404, "No company was found");
    let (status, body) = w.get(&format!("/companies/{company}/connections/{unknown}/data/commerce-orders")).await;
    error(status, &body, 404, "Data connection");
    let (status, body) = w.get(&format!("/companies/not-a-uuid/connections/{connection}/data/commerce-orders")).await;
    error(status, &body, 404, "No company was found");
    let (status, body) = w.get(&w.data(0, "commerce-bills")).await;
    error(status, &body, 404, "commerce-bills");
    let (status, body) = w.api.send("POST", &orders, Some(&json!({}))).await.expect("post");
    error(status, &body, 405, "POST");
    let (status, body) = ApiClient::new(&w.stack.api_url, "wrong-key").send("GET", &orders, None).await.expect("get");
    error(status, &body, 401, "Unauthorized");

    // A second connection of the company, never linked: nothing was ever requested.
    let pending = w
        .api
        .expect("POST", &format!("/companies/{company}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
        .await
        .expect("connection")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = w.get(&format!("/companies/{company}/connections/{pending}/data/commerce-orders")).await;
    error(status, &body, 409, "The data set has not been requested.");

    // Unlinked, then Deauthorized: the synced data stays readable.
    let before = w.ok(&orders).await;
    w.api
        .expect(
            "PATCH",
            &format!("/companies/{company}/connections/{connection}"),
            Some(&json!({"status": "Unlinked"})),
            200,
        )
        .await
        .expect("unlinked");
    assert_eq!(w.ok(&orders).await, before);
    let company_id = Uuid::parse_str(&company).expect("uuid");
    let connection_id = Uuid::parse_str(&connection).expect("uuid");
    w.store
        .set_connection_status(company_id, connection_id, &[ConnectionStatus::Unlinked], ConnectionStatus::Deauthorized)
        .await
        .expect("deauthorized");
    assert_eq!(w.ok(&orders).await, before);
    assert_valid("CompanyInfo", &w.ok(&w.data(0, "commerce-info")).await);
    w.stop().await;
}

#[tokio::test]
async fn a_data_type_still_in_its_first_sync_answers_409() {
    let w = World::start(vec![small(15, 10)], false).await;
    let (status, body) = w.get(&w.data(0, "commerce-orders")).await;
    error(status, &body, 409, "still in progress");
    let (status, body) = w.get(&w.data(0, "commerce-info")).await;
    error(status, &body, 409, "still in progress");
    // Bad parameters are refused before the data's state is looked at.
    let (status, body) = w.get(&w.data(0, "commerce-orders?pageSize=9000")).await;
    error(status, &body, 400, "pageSize");
    w.stop().await;
}

#[tokio::test]
async fn one_connection_never_sees_another_connections_data() {
    let w = World::start(vec![small(16, 60), small(17, 45)], true).await;
    let (a, b) = (
        w.walk(&w.data(0, "commerce-orders?pageSize=5000")).await,
        w.walk(&w.data(1, "commerce-orders?pageSize=5000")).await,
    );
    assert_eq!(a.len(), live_orders(&w, 0));
    assert_eq!(b.len(), live_orders(&w, 1));
    assert_ne!(a, b);
    let (info_a, info_b) = (w.ok(&w.data(0, "commerce-info")).await, w.ok(&w.data(1, "commerce-info")).await);
    assert_ne!(info_a["companyName"], info_b["companyName"]);
    // Company A with company B's connection: not found, whatever B holds.
    let (company_a, _) = &w.links[0];
    let (_, connection_b) = &w.links[1];
    let (status, body) =
        w.get(&format!("/companies/{company_a}/connections/{connection_b}/data/commerce-orders")).await;
    error(status, &body, 404, "Data connection");
    let id_only_in_b = ids(&b).into_iter().find(|id| !ids(&a).contains(id));
    if let Some(id) = id_only_in_b {
        let (status, _) = w.get(&w.data(0, &format!("commerce-orders/{id}"))).await;
        assert_eq!(status, 404);
    }
    for (resource, _, _) in TYPES {
        let (one, two) = (w.ok(&w.data(0, resource)).await, w.ok(&w.data(1, resource)).await);
        if resource != &"commerce-paymentMethods" {
            assert_ne!(one["results"], two["results"], "{resource}");
        }
    }
    w.stop().await;
}

#[test]
fn the_data_function_may_only_read() {
    let template: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(devstack::repo_root().join("template.yaml")).expect("template.yaml"),
    )
    .expect("yaml");
    let function = &template["Resources"]["DataFunction"]["Properties"];
    let statements = function["Policies"][0]["Statement"].as_sequence().expect("statements");
    let actions: BTreeSet<&str> = statements
        .iter()
        .flat_map(|s| s["Action"].as_sequence().expect("actions").iter().filter_map(|a| a.as_str()))
        .collect();
    assert_eq!(actions, BTreeSet::from(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]));
    assert!(function["Environment"]["Variables"].get("SECRET_PREFIX").is_none());
    assert!(function["Environment"]["Variables"].get("SYNC_QUEUE_URL").is_none());
}

#[tokio::test]
async fn a_page_too_large_for_one_lambda_response_is_refused_with_the_page_size_that_fits() {
    let sdk = devstack::emulator_sdk_config();
    let prefix = format!("limit-{}-", Uuid::new_v4().simple());
    let full = devstack::invoke::data_handler(&sdk, &prefix).await.expect("handler");
    let get = |query: &str| {
        let path = format!(
            "/companies/{}/connections/{}/data/commerce-orders",
            devstack::fixtures::COMPANY_ID,
            devstack::fixtures::CONNECTION_ID
        );
        let auth = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, devstack::fixtures::EXAMPLE_API_KEY)
        );
        let event = devstack::event::api_gateway_event(&devstack::event::HttpRequest {
            method: "GET",
            path: &path,
            query,
            headers: vec![("authorization".into(), auth)],
            body: b"",
            source_ip: "203.0.113.10",
        });
        devstack::event::to_lambda_request(&event).expect("request")
    };
    let text = |response: lambda_http::Response<lambda_http::Body>| match response.body() {
        lambda_http::Body::Text(text) => (response.status().as_u16(), text.clone()),
        other => panic!("unexpected body {other:?}"),
    };
    let (status, whole) = text(full.handle(get("pageSize=3")).await);
    assert_eq!(status, 200);
    // A limit below the three orders' page, above one order's.
    let limited = devstack::invoke::data_handler(&sdk, &format!("{prefix}b-"))
        .await
        .expect("handler")
        .with_response_limit(whole.len() * 2 / 3);
    let (status, refused) = text(limited.handle(get("pageSize=3")).await);
    let refused: Value = serde_json::from_str(&refused).expect("JSON");
    error(status, &refused, 400, "ask for pageSize=");
    let message = refused["error"].as_str().expect("message");
    let fits: u32 = message.rsplit("pageSize=").next().and_then(|s| s.split(' ').next()?.parse().ok()).expect("n");
    assert!((1..3).contains(&fits), "{message}");
    let (status, page) = text(limited.handle(get(&format!("pageSize={fits}"))).await);
    assert_eq!(status, 200, "{page}");
}
