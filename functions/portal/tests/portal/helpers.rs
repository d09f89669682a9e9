//! A private local stack (moto with IAM enforced, the sandbox, every function under its own
//! policy) and an HTTP client that keeps the portal's cookie by hand.

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use reqwest::redirect::Policy;
use sandbox::{Sizes, StoreConfig};

/// One test's stack and portal client.
pub struct Portal {
    pub stack: DevStack,
    pub api: ApiClient,
    pub http: reqwest::Client,
    pub store: StoreConfig,
}

/// An answer: status, `Location`, `Set-Cookie` values and body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The value of the hidden input `name` (the first), if any.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].split('"').next()?.to_string())
    }

    /// The session cookie this answer sets (`name=value`), if any.
    pub fn session(&self) -> Option<String> {
        self.cookies
            .iter()
            .find_map(|c| c.split(';').next().filter(|v| v.starts_with("cl_portal=")).map(str::to_string))
    }

    /// Whether this is a redirect to the sign-in page.
    pub fn to_sign_in(&self) -> bool {
        self.status == 303 && self.location.as_deref().is_some_and(|l| l.ends_with("/portal/sign-in"))
    }
}

impl Portal {
    pub async fn new() -> Self {
        let mut config = StoreConfig::from_seed(47, Sizes { orders: 40, products: 6, customers: 8, categories: 3 });
        config.quota = 10_000;
        let mut options = StackOptions {
            port: 0,
            aws_endpoint: Some(devstack::emulator_endpoint()),
            run_worker: true,
            name_prefix: format!("p{}-", uuid::Uuid::new_v4().simple()),
            ..StackOptions::default()
        };
        options.sandbox.stores = vec![config.clone()];
        let stack = DevStack::start(options).await.expect("stack");
        let api = ApiClient::new(&stack.api_url, &stack.api_key);
        let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
        Self { stack, api, http, store: config }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url)
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        Page { status, location, cookies, body: response.text().await.expect("body") }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Self::read(request.send().await.expect("get")).await
    }

    /// Posts a form as a browser on the portal's own page would (same origin).
    pub async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Self::read(request.send().await.expect("post")).await
    }

    /// Signs in with `key`; the session cookie (`name=value`) and the CSRF token of its forms.
    pub async fn sign_in_with(&self, key: &str) -> Page {
        let page = self.get("/portal/sign-in", None).await;
        let token = page.hidden("token").expect("sign-in token");
        self.post("/portal/sign-in", None, &[("token", &token), ("api_key", key)], &[]).await
    }

    pub async fn session(&self) -> (String, String) {
        let signed = self.sign_in_with(&self.stack.api_key).await;
        assert_eq!(signed.status, 303, "{signed:?}");
        let cookie = signed.session().expect("a session cookie");
        let page = self.get("/portal/companies", Some(&cookie)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        (cookie, page.hidden("csrf").expect("csrf token"))
    }

    pub async fn integration_enabled(&self) -> bool {
        let integration = self.api.expect("GET", "/integrations/vqzp", None, 200).await.expect("integration");
        integration["enabled"].as_bool().expect("enabled")
    }
}
