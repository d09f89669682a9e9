//! Headless Chromium over WebDriver for the browser tests (Link, portal), and axe-core's
//! accessibility check of a page. Needs Debian's `chromium` and `chromium-driver`
//! (`make browser-deps`) and axe-core (`make axe`, found through `AXE_CORE`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A running ChromeDriver.
pub struct ChromeDriver {
    _child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts `CHROMEDRIVER` (default `/usr/bin/chromedriver`) on a free port.
    pub async fn start() -> Self {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            Path::new(&binary).exists(),
            "{binary} not found: install Debian's chromium and chromium-driver (make browser-deps)"
        );
        let port = crate::moto::free_port().expect("port");
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { _child: child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A headless browser with its own profile and a `width`×`height` window.
    pub async fn browser(&self, profile: &Path, width: u32, height: u32) -> Client {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("object") };
        ClientBuilder::rustls()
            .expect("tls")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("browser session")
    }
}

/// axe-core's script: `AXE_CORE`, else the copy `make axe` fetches into `target/axe/`.
pub fn axe_script() -> String {
    let path = std::env::var("AXE_CORE").map(PathBuf::from).unwrap_or_else(|_| {
        let dir = crate::repo_root().join("target/axe");
        std::fs::read_dir(&dir)
            .ok()
            .and_then(|entries| {
                entries.filter_map(|e| e.ok().map(|e| e.path())).find(|p| p.extension().is_some_and(|x| x == "js"))
            })
            .unwrap_or_else(|| dir.join("axe.min.js"))
    });
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core not found at {}: {e} (run `make axe`)", path.display()))
}

/// Runs axe-core on the current page (WCAG 2.0/2.1 A and AA and best practices); returns its
/// violations as `rule: nodes` lines (empty when it found none).
pub async fn axe_violations(client: &Client, script: &str) -> Vec<String> {
    client.execute(script, vec![]).await.expect("inject axe-core");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ["violations"] })
          .then(r => done(r.violations.map(v => v.id + ": " + v.help + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")")))
          .catch(e => done(["axe failed: " + e]));
    "#;
    let result = client.execute_async(run, vec![]).await.expect("axe.run");
    result.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
}
