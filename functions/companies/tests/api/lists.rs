use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};
use crate::spec::assert_valid;

fn names(page: &Value) -> Vec<String> {
    page["results"].as_array().expect("results").iter().map(|c| c["name"].as_str().expect("name").to_string()).collect()
}

async fn seed(app: &TestApp) -> Vec<Value> {
    let mut companies = Vec::new();
    for (name, region) in [
        ("Alpha", "uk"),
        ("Bravo", "us"),
        ("Charlie", "uk"),
        ("Delta", "eu"),
        ("Echo", "uk"),
        ("Foxtrot", "us"),
        ("Golf", "uk"),
    ] {
        let reply = app.call("POST", "/companies", Some(json!({"name": name, "tags": {"region": region}}))).await;
        companies.push(reply.body);
    }
    companies
}

#[tokio::test]
async fn paging_walks_every_record_once_with_links() {
    let app = TestApp::new().await;
    let created = seed(&app).await;
    let mut seen = Vec::new();
    let mut href = Some("/companies?page=1&pageSize=3".to_string());
    let mut pages = 0;
    while let Some(path) = href {
        let page = app.call("GET", &path, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_valid("Companies", &page.body);
        assert_eq!(page.body["totalResults"], 7);
        assert_eq!(page.body["pageSize"], 3);
        assert_eq!(page.body["_links"]["self"]["href"], "/companies");
        assert_eq!(page.body["_links"]["current"]["href"], path.as_str());
        pages += 1;
        assert_eq!(page.body["pageNumber"], pages);
        if pages > 1 {
            assert_eq!(page.body["_links"]["previous"]["href"], format!("/companies?page={}&pageSize=3", pages - 1));
        } else {
            assert!(page.body["_links"].get("previous").is_none());
        }
        seen.extend(names(&page.body));
        href = page.body["_links"]["next"]["href"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = created.iter().map(|c| c["name"].as_str().expect("name").to_string()).collect();
    assert_eq!(seen, expected, "default order is creation order");
    seen.sort();
    expected.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let beyond = app.call("GET", "/companies?page=4&pageSize=3", None).await;
    assert_eq!(beyond.body["results"], json!([]));
    assert_eq!(beyond.body["totalResults"], 7);
    assert_eq!(app.call("GET", "/companies", None).await.body["pageSize"], 100);
    assert_eq!(app.call("GET", "/companies?pageSize=5000", None).await.status, 200);
}

#[tokio::test]
async fn query_and_order_by() {
    let app = TestApp::new().await;
    seed(&app).await;
    let uk = app.call("GET", "/companies?query=tags.region%3Duk&orderBy=-name", None).await;
    assert_eq!(names(&uk.body), ["Golf", "Echo", "Charlie", "Alpha"]);
    assert_eq!(uk.body["totalResults"], 4);
    assert_eq!(
        uk.body["_links"]["current"]["href"],
        "/companies?page=1&pageSize=100&query=tags.region%3Duk&orderBy=-name"
    );

    let grouped =
        app.call("GET", "/companies?query=%7Bname~al%7C%7Cname~ra%7D%26%26tags.region!%3Duk&orderBy=name", None).await;
    assert_eq!(names(&grouped.body), ["Bravo"]);
    let or = app.call("GET", "/companies?query=name%3Ddelta%7C%7Cname%3DEcho&orderBy=name", None).await;
    assert_eq!(names(&or.body), ["Delta", "Echo"]);
    let by_tags_param = app.call("GET", "/companies?tags=region%3Dus&orderBy=-name", None).await;
    assert_eq!(names(&by_tags_param.body), ["Foxtrot", "Bravo"]);
    let recent = app.call("GET", "/companies?query=created%3E2020-01-01", None).await;
    assert_eq!(recent.body["totalResults"], 7);
    let future = app.call("GET", "/companies?query=created%3E2999-01-01T00:00:00Z", None).await;
    assert_eq!(future.body["totalResults"], 0);
    let pending = app.call("GET", "/companies?query=dataConnections.status%3DPendingAuth", None).await;
    assert_eq!(pending.body["totalResults"], 0);
    let id = app.call("GET", "/companies?query=name%3DAlpha", None).await.body["results"][0]["id"].clone();
    app.connection(id.as_str().expect("id")).await;
    let pending = app.call("GET", "/companies?query=dataConnections.status%3DPendingAuth", None).await;
    assert_eq!(names(&pending.body), ["Alpha"]);
}

#[tokio::test]
async fn bad_list_parameters_answer_400() {
    let app = TestApp::new().await;
    for (path, needle) in [
        ("/companies?query=bogus%3D1", "Error parsing query - Could not resolve property bogus on Company"),
        ("/companies?query=name%3D", "Error parsing query - Malformed query"),
        ("/companies?query=%7Bname%3Dx", "Error parsing query - Malformed query"),
        ("/companies?query=created%3Eyesterday", "Error parsing query - 'yesterday' is not a valid date"),
        ("/companies?orderBy=-bogus", "Could not resolve property bogus"),
        ("/companies?page=0", "'page' must be a whole number"),
        ("/companies?pageSize=0", "'pageSize' must be a whole number from 1 to 5000"),
        ("/companies?pageSize=5001", "'pageSize' must be a whole number from 1 to 5000"),
        ("/companies?pageSize=ten", "'pageSize'"),
        ("/companies?page=1&page=2", "more than once"),
        ("/companies?tags=team", "Error parsing query"),
    ] {
        assert_error(&app.call("GET", path, None).await, 400, needle);
    }
    let company = app.company("Q Co").await;
    let path = format!("/companies/{}/connections?query=platform%3Dx", company["id"].as_str().expect("id"));
    assert_error(&app.call("GET", &path, None).await, 400, "Could not resolve property platform on DataConnection");
    assert_error(&app.call("GET", "/integrations?query=enabled%3Dmaybe", None).await, 400, "not a valid boolean");
}
