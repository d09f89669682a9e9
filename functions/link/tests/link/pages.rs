//! The Link pages over HTTP, as a browser without JavaScript uses them.

use reqwest::redirect::Policy;

use crate::helpers::Stack;

struct Browser {
    http: reqwest::Client,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    html: String,
}

impl Page {
    fn csrf(&self) -> String {
        let at = self.html.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
        self.html[at..].split('"').next().expect("value").to_string()
    }

    fn action(&self) -> String {
        let at = self.html.find("action=\"").expect("form") + "action=\"".len();
        decode(self.html[at..].split('"').next().expect("action"))
    }
}

impl Browser {
    fn new() -> Self {
        Self { http: reqwest::Client::builder().redirect(Policy::none()).build().expect("client") }
    }

    async fn get(&self, url: &str) -> Page {
        let r = self.http.get(url).send().await.expect("get");
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        Page { status, headers, html: r.text().await.expect("html") }
    }

    async fn post(&self, url: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = self.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let r = request.send().await.expect("post");
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        Page { status, headers, html: r.text().await.expect("html") }
    }
}

/// Undoes HTML escaping (named and numeric entities) for text assertions.
fn decode(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').filter(|e| *e <= 8);
        let decoded = end.and_then(|e| match &tail[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &tail[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn a_merchant_connects_a_store_without_javascript() {
    let s = Stack::new().await;
    let (_, _, company) = s.company().await;
    let b = Browser::new();
    let link = company["redirect"].as_str().expect("redirect");

    let choose = b.get(link).await;
    assert_eq!(choose.status, 200, "{link}: {}", choose.html);
    let csp = choose.headers["content-security-policy"].to_str().expect("csp");
    for directive in
        ["default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "object-src 'none'"]
    {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(choose.headers["x-content-type-options"], "nosniff");
    assert_eq!(choose.headers["referrer-policy"], "no-referrer");
    assert_eq!(choose.headers["cache-control"], "no-store");
    assert!(choose.headers.contains_key("strict-transport-security"));
    assert!(choose.html.contains("BigCommerce") && choose.html.contains("Link Test Co"));
    let origin = s.stack.api_url.clone();

    // Cross-site and token-less posts are refused.
    assert_eq!(b.post(&choose.action(), &[("csrf", &choose.csrf())], Some("https://evil.example")).await.status, 403);
    assert_eq!(b.post(&choose.action(), &[("platform", "vqzp")], Some(&origin)).await.status, 403);
    let next = b.post(&choose.action(), &[("csrf", &choose.csrf()), ("platform", "vqzp")], Some(&origin)).await;
    assert_eq!(next.status, 303);
    let permissions_url = next.headers["location"].to_str().expect("location").to_string();

    let permissions = b.get(&permissions_url).await;
    assert_eq!(permissions.status, 200);
    let text = decode(&permissions.html);
    for (ui, param) in [
        ("Orders", "store_v2_orders_read_only"),
        ("Order Transactions", "store_v2_transactions_read_only"),
        ("Products", "store_v2_products_read_only"),
        ("Information & Settings", "store_v2_information_read_only"),
        ("Customers", "store_v2_customers_read_only"),
    ] {
        assert!(text.contains(ui) && text.contains(param), "{ui} / {param} missing");
    }
    assert!(text.contains("Settings → API accounts → Create API account"));
    assert!(
        text.contains("registers webhooks on your store")
            && text.contains("removed from your store when you disconnect"),
        "the merchant is told about the hooks"
    );

    let form = b.get(&format!("{permissions_url}/credentials")).await;
    assert_eq!(form.status, 200);
    for id in ["client_id", "client_secret", "access_token", "api_path", "credentials_text"] {
        assert!(form.html.contains(&format!("<label for=\"{id}\"")), "{id} has a label");
    }
    let acct = s.full();
    let fields = |token: &str, path: &str| {
        vec![
            ("csrf".to_string(), form.csrf()),
            ("client_id".to_string(), acct.client_id.clone()),
            ("client_secret".to_string(), acct.client_secret.clone()),
            ("access_token".to_string(), token.to_string()),
            ("api_path".to_string(), path.to_string()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let action = format!("{permissions_url}/credentials");
        let origin = origin.clone();
        let b = &b;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.post(&action, &pairs, Some(&origin)).await
        }
    };

    let wrong = post(fields("0000000000000000000000000000000", &s.store.api_path())).await;
    assert_eq!(wrong.status, 422);
    let wrong_text = decode(&wrong.html);
    assert!(wrong_text.contains("rejected this Access Token"), "{wrong_text}");
    assert!(wrong.html.contains(&acct.client_id), "non-secret values are kept");
    assert!(
        !wrong.html.contains(&acct.client_secret) && !wrong.html.contains("0000000000000000000000000000000"),
        "secrets are never echoed"
    );
    assert!(wrong.html.contains("role=\"alert\"") && wrong.html.contains("aria-invalid=\"true\""));

    let bad_path = post(fields(&acct.access_token, "https://api.bigcommerce.com.evil.example/stores/x/v3/")).await;
    assert_eq!(bad_path.status, 422);
    assert!(
        decode(&bad_path.html).contains("https://api.bigcommerce.com/stores/<store hash>/v3/"),
        "says what is expected"
    );

    let missing = {
        let other = s.no_customers();
        let mut f = fields(&other.access_token, &s.store.api_path());
        f[1].1 = other.client_id.clone();
        f[2].1 = other.client_secret.clone();
        post(f).await
    };
    assert_eq!(missing.status, 422);
    let missing_text = decode(&missing.html);
    assert!(
        missing_text.contains("missing the Customers (read-only) permission")
            && missing_text.contains("create a new API account"),
        "{missing_text}"
    );

    // The credentials file's contents alone fill all four fields.
    let file = s.store.credentials_file(acct).replace('\n', "\r\n");
    let done = post(vec![("csrf".to_string(), form.csrf()), ("credentials_text".to_string(), file)]).await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.html.contains("Connected") && decode(&done.html).contains(&s.store.name));
    assert!(decode(&done.html).contains("The first sync has started"));
    assert_eq!(done.headers["x-commerce-link-first-sync"], "queued");
    let again = b.get(&permissions_url).await;
    assert!(again.html.contains("already connected"));
    assert!(s.secret(permissions_url.rsplit('/').next().expect("id")).await.is_some());
}

#[tokio::test]
async fn bad_links_limits_and_oversized_forms() {
    let s = Stack::new().await;
    let (_, connection, company) = s.company().await;
    let b = Browser::new();
    let link = company["redirect"].as_str().expect("redirect");
    let bogus = format!("{}/link/{}", s.stack.api_url, "A".repeat(43));
    assert_eq!(b.get(&bogus).await.status, 404);
    assert_eq!(b.get(&format!("{}/link/short", s.stack.api_url)).await.status, 404);
    assert_eq!(b.get(&format!("{link}/connections/{}", uuid::Uuid::new_v4())).await.status, 404);
    let form = b.get(&format!("{link}/connections/{connection}/credentials")).await;
    let action = format!("{link}/connections/{connection}/credentials");
    let huge = "x".repeat(20_000);
    assert_eq!(b.post(&action, &[("csrf", &form.csrf()), ("credentials_text", &huge)], None).await.status, 413);
    // Attempts are counted per minute: start early in one, so the twelve land in the same.
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let second = epoch.as_secs() % 60;
    if second > 40 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - second)).await;
    }
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(b.post(&action, &[("csrf", &form.csrf()), ("client_id", "x")], None).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
    let limited = b.post(&action, &[("csrf", &form.csrf())], None).await;
    assert!(limited.headers.contains_key("retry-after"));
    let css = b.get(&format!("{}/link/assets/link.css", s.stack.api_url)).await;
    assert_eq!(css.status, 200);
}

/// Through the Link page to the credentials form of a fresh company: (form page, its URL).
async fn credentials_form(s: &Stack, b: &Browser) -> (Page, String) {
    let (_, _, company) = s.company().await;
    let origin = s.stack.api_url.clone();
    let choose = b.get(company["redirect"].as_str().expect("redirect")).await;
    let next = b.post(&choose.action(), &[("csrf", &choose.csrf()), ("platform", "vqzp")], Some(&origin)).await;
    let url = format!("{}/credentials", next.headers["location"].to_str().expect("location"));
    (b.get(&url).await, url)
}

#[tokio::test]
async fn a_link_whose_first_syncs_cannot_be_queued_says_so_and_the_sweep_sends_them() {
    use shared::ports::DatasetStore;
    // The Link function's policy lacks sqs:SendMessage: its datasets are recorded, never sent.
    let s = Stack::withholding(&[("LinkFunction", "sqs:SendMessage")]).await;
    let b = Browser::new();
    let (form, url) = credentials_form(&s, &b).await;
    let acct = s.full();
    let fields = [
        ("csrf", form.csrf()),
        ("client_id", acct.client_id.clone()),
        ("client_secret", acct.client_secret.clone()),
        ("access_token", acct.access_token.clone()),
        ("api_path", s.store.api_path()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = b.post(&url, &pairs, Some(&s.stack.api_url)).await;
    assert_eq!(done.status, 200, "the link stands: {}", done.html);
    let text = decode(&done.html);
    assert!(text.contains("is now connected") && !text.contains("has started"), "{text}");
    assert!(text.contains("The first sync is about to start"), "{text}");
    assert_eq!(done.headers["x-commerce-link-first-sync"], "waiting");
    // The platform's API call is told the same.
    let (company, connection, _) = s.company().await;
    let (status, headers, _) = s
        .api
        .send_full("PUT", &format!("/companies/{company}/connections/{connection}/authorization"), Some(&s.body(acct)))
        .await
        .expect("put");
    assert_eq!((status, headers.get("x-commerce-link-first-sync").map(String::as_str)), (200, Some("waiting")));
    assert!(s.queued_jobs().await.is_empty(), "nothing reached the queue");

    // The scheduler's sweep (its own principal) sends them once they are unsent for 2 minutes.
    let sdk = s.stack.function_sdk("SchedulerFunction").expect("scheduler principal");
    let store = shared::adapters::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        s.stack.tables["PlatformTable"].clone(),
    );
    let queue = shared::adapters::sqs::SqsJobQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        s.stack.resources.queues["SyncJobsQueue"].clone(),
    );
    let policy = shared::sweep::SweepPolicy::default();
    let later = chrono::Utc::now() + chrono::Duration::minutes(3);
    let report = shared::sweep::sweep(&store, &queue, later, &policy).await.expect("sweep");
    assert_eq!(report.resent, 16, "8 first syncs of each of the two links: {report:?}");
    let jobs = s.queued_jobs().await;
    assert_eq!(jobs.len(), 16);
    let id: uuid::Uuid = company.parse().expect("uuid");
    let queued = store.datasets(id).await.expect("datasets");
    assert!(queued.iter().all(|d| jobs.iter().any(|j| j["datasetId"] == d.id.to_string())), "the same datasets");
}

/// Link URLs: a rotated one stops at once; during a key rotation old and new keys both open the
/// page (nothing stored changes), and the old key stops when the window ends.
#[tokio::test]
async fn rotated_link_urls_stop_at_once_and_key_rotations_keep_both_keys_for_their_window() {
    let s = Stack::new().await;
    let browser = Browser::new();
    let (company, _, created) = s.company().await;
    let first = created["redirect"].as_str().expect("redirect").to_string();
    assert_eq!(browser.get(&first).await.status, 200);
    let rotated =
        s.api.expect("POST", &format!("/companies/{company}/redirect/rotate"), None, 200).await.expect("rotate");
    let second = rotated["redirect"].as_str().expect("redirect").to_string();
    assert_ne!(second, first);
    let old = browser.get(&first).await;
    assert!((old.status, old.html.contains("This link is not valid")) == (404, true), "{}", old.html);
    assert_eq!(browser.get(&second).await.status, 200);

    // A key rotation: the functions read the new keys within their refresh (2 s locally).
    let secrets = aws_sdk_secretsmanager::Client::new(&s.stack.admin_sdk());
    let secret = s.stack.resources.link_key_secret.clone();
    // The new key signs after the functions' refresh (2 s locally; deployed, SIGN_AFTER).
    let sign_after = std::time::Duration::from_secs(3);
    devstack::keys::rotate_link_key(&secrets, &secret, chrono::Duration::hours(1), sign_after)
        .await
        .expect("rotate key");
    let mut third = second.clone();
    for _ in 0..40 {
        let company_now = s.api.expect("GET", &format!("/companies/{company}"), None, 200).await.expect("company");
        third = company_now["redirect"].as_str().expect("redirect").to_string();
        if third != second {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_ne!(third, second, "URLs are rendered with the new key");
    assert_eq!(browser.get(&second).await.status, 200, "the old key's URL works during the window");
    let page = browser.get(&third).await;
    assert_eq!(page.status, 200);
    // A form issued under the new key posts; so does one issued before the rotation.
    assert!(page.html.contains("name=\"csrf\""));
    let too_short = devstack::keys::rotate_link_key(&secrets, &secret, chrono::Duration::seconds(30), sign_after).await;
    assert!(too_short.is_err(), "a window shorter than the caches is refused");

    // The window ends: only the new key's URL opens the page.
    let value = secrets.get_secret_value().secret_id(&secret).send().await.expect("read");
    let mut stored: serde_json::Value = serde_json::from_str(value.secret_string().expect("text")).expect("json");
    stored["previousUntil"] = serde_json::json!((chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339());
    secrets.put_secret_value().secret_id(&secret).secret_string(stored.to_string()).send().await.expect("end window");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(browser.get(&second).await.status, 404, "the previous key stopped with its window");
    assert_eq!(browser.get(&third).await.status, 200);
}

#[tokio::test]
async fn link_answers_carry_the_security_headers_when_storage_fails_too() {
    // The Link function cannot read the table: its pages answer with the shared JSON error.
    let s = Stack::withholding(&[("LinkFunction", "dynamodb:GetItem"), ("LinkFunction", "dynamodb:Query")]).await;
    let company = s
        .api
        .expect("POST", "/companies", Some(&serde_json::json!({"name": "Failing Co"})), 200)
        .await
        .expect("company");
    let link = company["redirect"].as_str().expect("redirect");
    let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
    let failed = http.get(link).send().await.expect("get");
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let unknown = http.get(format!("{}/link/not-a-token/x", s.stack.api_url)).send().await.expect("get");
    let asset = http.get(format!("{}/link/assets/link.css", s.stack.api_url)).send().await.expect("get");
    assert_eq!(asset.status(), 200);
    for response in [&failed, &unknown, &asset] {
        let headers = response.headers();
        for header in ["content-security-policy", "strict-transport-security", "x-frame-options", "cache-control"] {
            assert!(headers.contains_key(header), "{} answered without {header}", response.status());
        }
    }
    assert_eq!(failed.headers()["cache-control"], "no-store");
    // Assets stay cacheable: every Link page would cost three more invocations otherwise.
    assert_eq!(asset.headers()["cache-control"], "public, max-age=3600");
}
