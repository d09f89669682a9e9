//! The operator's walk in headless Chromium, against the local stack under IAM: sign in, toggle
//! BigCommerce off (Link then offers nothing) and on from Manage, Companies > New company >
//! Add new company > Name > Add (the Link URL in the dialog), link the sandbox store through
//! the Link pages, watch the data types complete, read the history and the sales chart, create
//! and delete an API key, delete the company. axe-core must report no violation on any page.
//! Run at 1000×1100 (screenshots in `target/screenshots/portal-*.png`), at 360×740, and by
//! keyboard alone.

use std::time::Duration;

use devstack::browser::{ChromeDriver, axe_script, axe_violations};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::helpers::Portal;

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

struct Walk {
    client: Client,
    keyboard: bool,
    name: &'static str,
    axe: String,
    pages_checked: usize,
}

impl Walk {
    async fn text(&self) -> String {
        for _ in 0..100 {
            if let Ok(main) = self.client.find(Locator::Css("main")).await
                && let Ok(text) = main.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no page: {:?}", self.client.source().await)
    }

    async fn shot(&self, step: &str) {
        let dir = devstack::repo_root().join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("dir");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("portal-{}-{step}.png", self.name)), png).expect("write");
    }

    /// axe-core on the page as it is: no violations.
    async fn accessible(&mut self, what: &str) {
        let violations = axe_violations(&self.client, &self.axe).await;
        assert!(violations.is_empty(), "{} walk, {what}: {violations:#?}", self.name);
        self.pages_checked += 1;
    }

    /// Activates `css`: a click, or by keyboard Tab until it has focus, then Enter.
    async fn press(&self, css: &str) {
        let target = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        if !self.keyboard {
            target.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
            return;
        }
        self.focus_by_tab(css, &target).await;
        self.client.active_element().await.expect("focus").send_keys(ENTER).await.expect("enter");
    }

    async fn focus_by_tab(&self, css: &str, target: &Element) {
        let wanted = target.element_id();
        for _ in 0..120 {
            let active = self.client.active_element().await.expect("active");
            if active.element_id() == wanted {
                let outline = self
                    .client
                    .execute("return getComputedStyle(document.activeElement).outlineStyle", vec![])
                    .await
                    .expect("style");
                assert_ne!(outline, json!("none"), "{css} shows where the focus is");
                return;
            }
            active.send_keys(TAB).await.expect("tab");
        }
        panic!("{} walk: {css} cannot be reached with Tab", self.name);
    }

    /// Types into the field `css` (reached by Tab in the keyboard walk).
    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        if self.keyboard {
            self.focus_by_tab(css, &field).await;
            self.client.active_element().await.expect("focus").send_keys(value).await.expect("type");
        } else {
            field.clear().await.expect("clear");
            field.send_keys(value).await.expect("type");
        }
    }

    async fn value(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        element.prop("value").await.expect("value").unwrap_or_default()
    }

    async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{} walk: {css} did not appear: {e}", self.name))
    }
}

async fn walk(name: &'static str, width: u32, height: u32, keyboard: bool) {
    let p = Portal::new().await;
    let driver = ChromeDriver::start().await;
    let profile = std::env::temp_dir().join(format!("cl-portal-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile, width, height).await;
    let mut w = Walk { client, keyboard, name, axe: axe_script(), pages_checked: 0 };
    let portal = format!("{}/portal", p.stack.api_url);

    // Sign in.
    w.client.goto(&portal).await.expect("open the portal");
    assert!(w.text().await.contains("Sign in"), "the portal starts at sign-in");
    w.accessible("sign in").await;
    w.fill("#api_key", "wrong-key").await;
    w.press("#sign-in").await;
    w.wait_for("#error-summary").await;
    assert!(w.text().await.contains("not accepted"));
    w.accessible("sign in, refused").await;
    w.fill("#api_key", &p.stack.api_key).await;
    w.press("#sign-in").await;
    w.wait_for("#new-company").await;
    w.shot("1-companies-empty").await;
    w.accessible("companies, empty").await;

    // Commerce integrations: off, then on again from Manage.
    let early = p.api.expect("POST", "/companies", Some(&json!({"name": "Toggle Check"})), 200).await.expect("company");
    w.press("nav a[href$='/portal/integrations']").await;
    w.wait_for("#toggle[aria-checked=true]").await;
    w.accessible("commerce integrations").await;
    w.shot("2-integrations").await;
    w.press("#toggle").await;
    w.wait_for("#toggle[aria-checked=false]").await;
    assert!(!p.integration_enabled().await, "the toggle turned BigCommerce off");
    w.accessible("commerce integrations, off").await;
    w.client.goto(early["redirect"].as_str().expect("link url")).await.expect("Link");
    assert!(w.text().await.contains("No commerce platform can be connected"), "Link offers nothing");
    w.client.goto(&format!("{portal}/integrations")).await.expect("back");
    w.press("#manage").await;
    w.wait_for("#save-settings").await;
    w.accessible("manage BigCommerce").await;
    w.shot("3-manage").await;
    w.press("#toggle").await;
    w.wait_for("#toggle[aria-checked=true]").await;
    assert!(p.integration_enabled().await, "enabled again from Manage");
    p.api.expect("DELETE", &format!("/companies/{}", early["id"].as_str().expect("id")), None, 204).await.expect("rm");

    // Companies > New company > Add new company > Name > Add: the Link URL is in the dialog.
    w.press("nav a[href$='/portal/companies']").await;
    w.wait_for("#new-company").await;
    w.press("#new-company").await;
    w.wait_for("dialog[open] #name-dialog").await;
    let dialog_title = w.client.find(Locator::Css("dialog[open] h2")).await.expect("title").text().await.expect("t");
    assert_eq!(dialog_title, "Add new company");
    w.accessible("add new company dialog").await;
    w.fill("#name-dialog", "Acme Outdoor").await;
    w.press("#add-dialog").await;
    w.wait_for("dialog[open] #link-url").await;
    let link_url = w.value("dialog[open] #link-url").await;
    assert!(link_url.contains("/link/"), "the Link URL is in the dialog: {link_url}");
    w.shot("4-add-new-company").await;
    w.accessible("add new company dialog, added").await;
    let company_href =
        w.client.find(Locator::Css("#open-company")).await.expect("open").attr("href").await.expect("href").expect("h");

    // The merchant links the sandbox store through the Link pages.
    w.client.goto(&link_url).await.expect("open the Link URL");
    assert!(w.text().await.contains("Connect your commerce platform"));
    w.client.find(Locator::Css("button[type=submit]")).await.expect("continue").click().await.expect("click");
    w.wait_for("a.button").await;
    w.client.find(Locator::LinkText("Next")).await.expect("Next").click().await.expect("click");
    w.wait_for("#client_id").await;
    let account = p.store.accounts[0].clone();
    for (id, value) in [
        ("#client_id", account.client_id.as_str()),
        ("#client_secret", account.client_secret.as_str()),
        ("#access_token", account.access_token.as_str()),
        ("#api_path", &p.store.api_path()),
    ] {
        let field = w.client.find(Locator::Css(id)).await.expect("field");
        field.send_keys(value).await.expect("type");
    }
    w.client.find(Locator::Css("button[type=submit]")).await.expect("submit").click().await.expect("click");
    for _ in 0..100 {
        if w.text().await.contains("Connected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w.text().await.contains("Connected"), "the store linked");

    // Back in the portal: Linked, the data types go Complete with the progress moving.
    w.client.goto(&company_href).await.expect("company page");
    w.wait_for("#data-status").await;
    assert!(w.text().await.contains("Linked"));
    w.accessible("company, syncing").await;
    w.shot("5-company-syncing").await;
    let mut seen_progress = std::collections::BTreeSet::new();
    let mut complete = false;
    for _ in 0..300 {
        let values = w
            .client
            .execute(
                "return Array.from(document.querySelectorAll('progress')).map(p => [p.id, p.value, document.getElementById(p.id.replace('progress-','state-')).textContent])",
                vec![],
            )
            .await
            .unwrap_or(json!([]));
        for row in values.as_array().into_iter().flatten() {
            seen_progress.insert(row[1].as_f64().unwrap_or_default() as u64);
        }
        let rows = values.as_array().map(Vec::len).unwrap_or_default();
        if rows >= 8 && values.as_array().into_iter().flatten().all(|r| r[2] == "Complete" || r[2] == "NotSupported") {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(complete, "every data type completed");
    assert!(seen_progress.len() >= 2, "the progress bars moved: {seen_progress:?}");
    // The script reloads the page when the syncs end; read the final page.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.client.refresh().await.expect("reload");
    w.wait_for("#history").await;
    let history = w.client.find_all(Locator::Css("#history tbody tr")).await.expect("rows");
    assert!(history.len() >= 8, "the history lists the runs: {}", history.len());
    let last_sync = w.text().await;
    assert!(!last_sync.contains("Last sync\n—"), "lastSync is set once a dataset completes");
    w.accessible("company, synced").await;
    w.shot("6-company-synced").await;

    // A connection's data: the sales chart and the first pages.
    w.press("a[href*='/connections/']").await;
    w.wait_for("#sales-chart").await;
    let bars = w.client.find_all(Locator::Css("#sales-chart rect.bar")).await.expect("bars");
    assert!(!bars.is_empty(), "the sales chart shows");
    let months = w.client.find_all(Locator::Css("#sales-table tbody tr")).await.expect("months");
    assert_eq!(months.len(), bars.len(), "the text table beside the chart");
    assert!(w.text().await.contains("Orders"));
    w.accessible("connection data").await;
    w.shot("7-connection-data").await;

    // API keys: create one (shown once), then delete it.
    w.press("nav a[href$='/portal/api-keys']").await;
    w.wait_for("#create-key").await;
    w.accessible("api keys").await;
    w.fill("#key-name", "walk").await;
    w.press("#create-key").await;
    w.wait_for("#new-key-value").await;
    let key = w.value("#new-key-value").await;
    assert_eq!(key.len(), 40);
    w.accessible("api keys, created").await;
    w.shot("8-api-keys").await;
    w.press("form[action$='/delete'] button").await;
    w.wait_for("#create-key").await;
    assert!(!w.text().await.contains("walk"), "the key is deleted");

    // The pages without script: Add new company as a page, and a page that does not exist.
    w.client.goto(&format!("{portal}/companies/new")).await.expect("new company page");
    w.wait_for("#add-page").await;
    w.accessible("add new company page").await;
    w.client.goto(&format!("{portal}/no-such-page")).await.expect("missing page");
    assert!(w.text().await.contains("Page not found"));
    w.accessible("page not found").await;

    // Delete the company, after a confirmation naming it.
    w.client.goto(&company_href).await.expect("company");
    w.press("#delete-company").await;
    w.wait_for("#confirm-delete").await;
    let confirm = w.text().await;
    assert!(confirm.contains("Delete Acme Outdoor?"), "{confirm}");
    w.accessible("delete confirmation").await;
    w.press("#confirm-delete").await;
    w.wait_for("#new-company").await;
    assert!(w.text().await.contains("The company was deleted"));
    assert_eq!(p.api.expect("GET", "/companies", None, 200).await.expect("list")["totalResults"], 0);
    println!("{name} walk: axe-core found no violations on {} page states", w.pages_checked);

    w.client.close().await.expect("close");
    let _ = std::fs::remove_dir_all(profile);
}

#[tokio::test]
async fn an_operator_walks_the_portal_in_a_real_browser() {
    walk("desktop", 1000, 1100, false).await;
}

#[tokio::test]
async fn the_walk_works_at_360_pixels_wide() {
    walk("narrow", 360, 740, false).await;
}

#[tokio::test]
async fn the_walk_works_by_keyboard_alone() {
    walk("keyboard", 1000, 1100, true).await;
}
