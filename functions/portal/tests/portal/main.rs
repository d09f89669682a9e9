//! The portal against the local stack (moto with IAM enforced; the portal under its own
//! template policy): sessions, forms, sign-in limits, and the pages' labels.

mod browser;
mod helpers;

use std::time::{Duration, Instant};

use helpers::Portal;
use serde_json::json;

/// Every page a signed-in operator can reach, and a form of each kind.
const GETS: &[&str] = &[
    "/portal",
    "/portal/companies",
    "/portal/companies/new",
    "/portal/integrations",
    "/portal/integrations/vqzp",
    "/portal/api-keys",
    "/portal/companies/00000000-0000-4000-8000-000000000000",
    "/portal/companies/00000000-0000-4000-8000-000000000000/status",
    "/portal/companies/00000000-0000-4000-8000-000000000000/delete",
    "/portal/companies/00000000-0000-4000-8000-000000000000/connections/00000000-0000-4000-8000-000000000000",
    "/portal/nothing-here",
];

#[tokio::test]
async fn every_route_redirects_to_sign_in_without_a_session_and_posts_change_nothing() {
    let p = Portal::new().await;
    for path in GETS {
        let page = p.get(path, None).await;
        assert!(page.to_sign_in(), "GET {path}: {page:?}");
    }
    let company = p.api.expect("POST", "/companies", Some(&json!({"name": "Kept Co"})), 200).await.expect("company");
    let id = company["id"].as_str().expect("id");
    let posts = [
        ("/portal/integrations/vqzp", vec![("enabled", "false")]),
        ("/portal/companies", vec![("name", "Sneaky")]),
        (&format!("/portal/companies/{id}/delete") as &str, vec![]),
        ("/portal/api-keys", vec![("name", "sneaky")]),
        ("/portal/sign-out", vec![]),
    ];
    for (path, fields) in &posts {
        let page = p.post(path, None, fields, &[]).await;
        assert!(page.to_sign_in(), "POST {path}: {page:?}");
    }
    assert!(p.integration_enabled().await, "nothing changed");
    let list = p.api.expect("GET", "/companies", None, 200).await.expect("list");
    assert_eq!(list["totalResults"], 1, "no company created, none deleted: {list}");
    let keys = p.api.expect("GET", "/apiKeys", None, 200).await.expect("keys");
    assert_eq!(keys["results"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_tampered_cookie_is_refused_and_the_session_never_holds_the_key() {
    let p = Portal::new().await;
    let signed = p.sign_in_with(&p.stack.api_key).await;
    assert_eq!(
        (signed.status, signed.location.as_deref().map(|l| l.ends_with("/portal/companies"))),
        (303, Some(true))
    );
    let set = signed.cookies.iter().find(|c| c.starts_with("cl_portal=")).expect("cookie").clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/portal", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback only: {set}");
    let cookie = signed.session().expect("session");
    assert!(!cookie.contains(&p.stack.api_key), "the key is not in the cookie");
    assert_eq!(p.get("/portal/companies", Some(&cookie)).await.status, 200);
    // Flip one character of the signature, then of the key id.
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("utf8");
    assert!(p.get("/portal/companies", Some(&tampered)).await.to_sign_in());
    let other_id = cookie.replacen("v1.", "v1.0", 1);
    assert!(p.get("/portal/companies", Some(&other_id)).await.to_sign_in());
    assert!(p.get("/portal/companies", Some("cl_portal=v1.garbage")).await.to_sign_in());
    // Signing out ends the cookie.
    let csrf = p.get("/portal/companies", Some(&cookie)).await.hidden("csrf").expect("csrf");
    let out = p.post("/portal/sign-out", Some(&cookie), &[("csrf", &csrf)], &[]).await;
    assert!(out.to_sign_in());
    assert!(out.cookies.iter().any(|c| c.starts_with("cl_portal=;") && c.contains("Max-Age=0")), "{out:?}");
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_origin_get_403_and_change_nothing() {
    let p = Portal::new().await;
    let (cookie, csrf) = p.session().await;
    let path = "/portal/integrations/vqzp";
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Pairs, Pairs); 5] = [
        (&[("enabled", "false")], &[]),
        (&[("enabled", "false"), ("csrf", "forged")], &[]),
        (&[("enabled", "false"), ("csrf", &csrf)], &[("origin", "https://evil.example")]),
        (&[("enabled", "false"), ("csrf", &csrf)], &[("sec-fetch-site", "cross-site")]),
        (&[("enabled", "false"), ("csrf", &csrf)], &[("origin", "http://127.0.0.2:1")]),
    ];
    for (fields, headers) in cases {
        let page = p.post(path, Some(&cookie), fields, headers).await;
        assert_eq!(page.status, 403, "{fields:?} {headers:?}: {}", page.body);
        assert!(p.integration_enabled().await, "nothing changed");
    }
    let ok = p.post(path, Some(&cookie), &[("enabled", "false"), ("csrf", &csrf), ("back", "manage")], &[]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(!p.integration_enabled().await, "the same form with its token, from the portal, works");
    let new_company = p.post("/portal/companies", Some(&cookie), &[("name", "Forged Co")], &[]).await;
    assert_eq!(new_company.status, 403);
    assert_eq!(p.api.expect("GET", "/companies", None, 200).await.expect("list")["totalResults"], 0);
}

#[tokio::test]
async fn wrong_keys_are_slowed_then_refused_for_the_minute() {
    let p = Portal::new().await;
    // The counts are per minute: start early in one, so the eight tries (about 4 s) share it.
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(p.sign_in_with("not-a-key").await.status);
    }
    assert!(started.elapsed() >= Duration::from_millis(7 * 400), "each failure waits");
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let page = p.sign_in_with("not-a-key").await;
    assert!(page.body.contains("Too many failed sign-ins"), "{}", page.body);
    assert!(page.session().is_none());
    let expired = p.post("/portal/sign-in", None, &[("token", "1.x"), ("api_key", &p.stack.api_key)], &[]).await;
    assert_eq!(expired.status, 403, "a sign-in form without its token");
    assert!(expired.session().is_none());
}

#[tokio::test]
async fn a_session_ends_within_a_minute_of_its_keys_deletion() {
    let p = Portal::new().await;
    let created = p.api.expect("POST", "/apiKeys", Some(&json!({"name": "operator"})), 201).await.expect("key");
    let key = created["apiKey"].as_str().expect("key");
    let signed = p.sign_in_with(key).await;
    let cookie = signed.session().expect("signed in with a key created through the API");
    assert_eq!(p.get("/portal/api-keys", Some(&cookie)).await.status, 200);
    let id = created["id"].as_str().expect("id");
    p.api.expect("DELETE", &format!("/apiKeys/{id}"), None, 204).await.expect("deleted");
    let deleted = Instant::now();
    loop {
        let page = p.get("/portal/companies", Some(&cookie)).await;
        if page.to_sign_in() {
            break;
        }
        assert_eq!(page.status, 200);
        assert!(deleted.elapsed() < Duration::from_secs(60), "the session outlived its key by a minute");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("session ended {:.1} s after its key was deleted", deleted.elapsed().as_secs_f64());
    assert!(p.sign_in_with(key).await.status == 401, "the deleted key no longer signs in");
}

#[tokio::test]
async fn pages_use_the_platform_documentation_labels() {
    let p = Portal::new().await;
    let (cookie, _) = p.session().await;
    let companies = p.get("/portal/companies", Some(&cookie)).await.body;
    for label in ["Companies", "Commerce integrations", "New company", "Add new company", ">Name<", ">Add<"] {
        assert!(companies.contains(label), "{label} on Companies");
    }
    let integrations = p.get("/portal/integrations", Some(&cookie)).await.body;
    for label in ["BigCommerce", ">Manage<", "role=\"switch\"", "aria-labelledby=\"bigcommerce-name\""] {
        assert!(integrations.contains(label), "{label} on Commerce integrations");
    }
    let headers = p.http.get(p.url("/portal/companies")).header("cookie", &cookie).send().await.expect("get");
    let csp = headers.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers.headers().get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
}

#[test]
fn the_portal_function_has_its_routes_and_a_least_privilege_policy() {
    let text = std::fs::read_to_string(devstack::repo_root().join("template.yaml")).expect("template");
    let t: serde_norway::Value = serde_norway::from_str(&text).expect("yaml");
    let f = &t["Resources"]["PortalFunction"]["Properties"];
    let mut routes: Vec<(String, String)> = f["Events"]
        .as_mapping()
        .expect("events")
        .values()
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap_or("").into(),
                e["Properties"]["Path"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    routes.sort();
    assert_eq!(routes, [("ANY".to_string(), "/portal".to_string()), ("ANY".into(), "/portal/{proxy+}".into())]);
    let statements = f["Policies"][0]["Statement"].as_sequence().expect("statements");
    let policy = serde_norway::to_string(&f["Policies"]).expect("policy");
    for forbidden in ["PutSecretValue", "CreateSecret", "dynamodb:Scan", "dynamodb:*", "sqs:ReceiveMessage", "'*'"] {
        assert!(!policy.contains(forbidden), "the portal must not have {forbidden}");
    }
    // It reads the link keys (its sessions are signed with them), never a store's credentials.
    for statement in statements {
        let text = serde_norway::to_string(statement).expect("statement");
        if text.contains("GetSecretValue") {
            assert!(text.contains("LinkSigningKeySecret") && !text.contains("SecretPrefix"), "{text}");
        }
    }
    let data = statements
        .iter()
        .find(|s| format!("{:?}", s["Resource"]).contains("DataTable"))
        .expect("a statement on the data table");
    let actions: Vec<&str> = data["Action"].as_sequence().expect("actions").iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(actions, ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], "the data table is read only");
}

#[tokio::test]
async fn replacing_a_companys_link_url_stops_the_old_one() {
    let p = Portal::new().await;
    let (cookie, csrf) = p.session().await;
    let company = p.api.expect("POST", "/companies", Some(&json!({"name": "Leaky Co"})), 200).await.expect("company");
    let (id, old) = (company["id"].as_str().expect("id"), company["redirect"].as_str().expect("redirect"));
    let page = p.get(&format!("/portal/companies/{id}"), Some(&cookie)).await;
    assert!(page.body.contains(old) && page.body.contains("Replace Link URL"), "{}", page.body);
    let forged = p.post(&format!("/portal/companies/{id}/rotate-link"), Some(&cookie), &[], &[]).await;
    assert_eq!(forged.status, 403, "no CSRF token, no rotation");
    let done = p.post(&format!("/portal/companies/{id}/rotate-link"), Some(&cookie), &[("csrf", &csrf)], &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.clone().expect("location");
    assert!(location.ends_with(&format!("/portal/companies/{id}?done=rotated")), "{location}");
    let after = p.get(&format!("/portal/companies/{id}?done=rotated"), Some(&cookie)).await;
    let new = p.api.expect("GET", &format!("/companies/{id}"), None, 200).await.expect("company")["redirect"]
        .as_str()
        .expect("redirect")
        .to_string();
    assert_ne!(new, old);
    assert!(after.body.contains(&new) && after.body.contains("the old one no longer works"), "{}", after.body);
    let http = reqwest::Client::new();
    assert_eq!(http.get(old).send().await.expect("old").status(), 404, "the old Link URL stopped");
    assert_eq!(http.get(&new).send().await.expect("new").status(), 200);
}
