//! The whole Link flow in a real browser: headless Chromium driven over WebDriver, against the
//! local stack (moto + sandbox). Screenshots of each step go to `target/screenshots/`.
//! Needs Debian's `chromium` and `chromium-driver` (`make browser-deps`; `.ci/run` installs them).

use std::path::PathBuf;
use std::time::Duration;

use devstack::browser::ChromeDriver;
use fantoccini::{Client, Locator};

use crate::helpers::Stack;

struct Flow {
    client: Client,
    shots: PathBuf,
}

impl Flow {
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("link-{name}.png")), png).expect("write screenshot");
    }

    /// The page's main text, once the page after a navigation has loaded.
    async fn text(&self) -> String {
        for _ in 0..100 {
            let main = self.client.wait().at_most(Duration::from_secs(5)).for_element(Locator::Css("main")).await;
            if let Ok(text) = match main {
                Ok(main) => main.text().await,
                Err(e) => Err(e),
            } {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no page loaded: {:?}", self.client.source().await)
    }

    async fn fill(&self, id: &str, value: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    /// Submits the form and waits for the next page (the old button goes stale).
    async fn submit(&self) {
        let button = self.client.find(Locator::Css("button[type=submit]")).await.expect("button");
        button.click().await.expect("click");
        for _ in 0..100 {
            if button.text().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page did not change after submitting");
    }

    async fn fill_all(&self, account: &sandbox::Account, token: &str, api_path: &str) {
        self.fill("client_id", &account.client_id).await;
        self.fill("client_secret", &account.client_secret).await;
        self.fill("access_token", token).await;
        self.fill("api_path", api_path).await;
        self.submit().await;
    }
}

#[tokio::test]
async fn a_merchant_completes_link_in_a_real_browser() {
    let s = Stack::new().await;
    let (_, connection, company) = s.company().await;
    let driver = ChromeDriver::start().await;
    let profile = std::env::temp_dir().join(format!("cl-chromium-{}", uuid::Uuid::new_v4().simple()));
    let shots = devstack::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    let flow = Flow { client: driver.browser(&profile, 1000, 1100).await, shots };

    flow.client.goto(company["redirect"].as_str().expect("redirect")).await.expect("open Link URL");
    assert!(flow.text().await.contains("Connect your commerce platform"));
    flow.shot("1-choose").await;
    flow.submit().await;

    let permissions = flow.text().await;
    assert!(
        permissions.contains("Information & Settings") && permissions.contains("store_v2_customers_read_only"),
        "{permissions}"
    );
    flow.shot("2-permissions").await;
    flow.client.find(Locator::LinkText("Next")).await.expect("Next").click().await.expect("click");
    assert!(flow.text().await.contains("Your BigCommerce credentials"));
    flow.shot("3-credentials").await;

    let full = s.full().clone();
    flow.fill_all(&full, &full.access_token, "https://example.com/stores/abc/v3/").await;
    let page = flow.text().await;
    assert!(page.contains("https://api.bigcommerce.com/stores/<store hash>/v3/"), "bad API Path explained: {page}");
    let active = flow.client.active_element().await.expect("focus").attr("id").await.expect("id");
    assert_eq!(active.as_deref(), Some("error-summary"), "the error summary takes focus so it is announced");
    flow.shot("4-bad-api-path").await;

    flow.fill_all(&full, "0000000000000000000000000000000", &s.store.api_path()).await;
    assert!(flow.text().await.contains("rejected this Access Token"));
    assert_eq!(
        flow.client
            .find(Locator::Id("access_token"))
            .await
            .expect("field")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some(""),
        "secrets are not refilled"
    );
    flow.shot("5-wrong-token").await;

    let limited = s.no_customers().clone();
    flow.fill_all(&limited, &limited.access_token, &s.store.api_path()).await;
    let page = flow.text().await;
    assert!(page.contains("missing the Customers (read-only) permission"), "{page}");
    flow.shot("6-missing-scope").await;

    // The downloaded credentials file fills the form (JavaScript reads it locally).
    let file = std::env::temp_dir().join(format!("bigcommerce-credentials-{}.txt", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, s.store.credentials_file(&full)).expect("file");
    for id in ["client_id", "client_secret", "access_token", "api_path"] {
        flow.fill(id, "").await;
    }
    flow.client.find(Locator::Css("details.file summary")).await.expect("details").click().await.ok();
    let input = flow.client.find(Locator::Id("credentials_file")).await.expect("file input");
    input.send_keys(&file.display().to_string()).await.expect("choose file");
    let mut filled = None;
    for _ in 0..50 {
        filled =
            flow.client.find(Locator::Id("access_token")).await.expect("field").prop("value").await.expect("value");
        if filled.as_deref().is_some_and(|v| !v.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(filled.as_deref(), Some(full.access_token.as_str()), "the file filled the form");
    flow.shot("7-file-loaded").await;
    flow.submit().await;
    let done = flow.text().await;
    assert!(done.contains("Connected") && done.contains(&s.store.name), "{done}");
    flow.shot("8-connected").await;
    assert!(s.secret(&connection).await.is_some());

    flow.client.close().await.expect("close");
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_dir_all(profile);
}
