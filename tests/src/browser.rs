//! A headless Chromium driven through chromedriver's W3C WebDriver API:
//! navigate, type, click, read text, take screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Settings of the browser profile, for [`Browser::start_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserOptions {
    /// Chrome's "Block third-party cookies" setting: on, cookies of a site
    /// other than the page's are neither stored nor sent. Off (the default
    /// here, whatever the browser's own default), they are.
    pub block_third_party_cookies: bool,
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
    shots: usize,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Panics, saying what to
    /// install, when either is missing.
    pub async fn start(screenshots: &Path) -> Browser {
        Browser::start_with(screenshots, BrowserOptions::default()).await
    }

    /// [`Browser::start`] with these profile settings.
    pub async fn start_with(screenshots: &Path, options: BrowserOptions) -> Browser {
        let chromium = find_binary(&["/usr/bin/chromium", "/usr/bin/chromium-browser"])
            .expect("Chromium is missing: apt-get install chromium chromium-driver (scripts/test.sh does this)");
        let chromedriver = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver is missing: apt-get install chromium-driver (scripts/test.sh does this)");
        let port = crate::app::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        std::fs::create_dir_all(screenshots).expect("screenshot dir");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _profile: profile,
            screenshots: screenshots.to_owned(),
            shots: 0,
        };
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1000,900",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
                "prefs": {
                    "profile.cookie_controls_mode": if options.block_third_party_cookies { 1 } else { 0 },
                    "profile.block_third_party_cookies": options.block_third_party_cookies,
                }
            }
        }}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let session = loop {
            match browser
                .http
                .post(format!("{}/session", browser.base))
                .json(&capabilities)
                .send()
                .await
            {
                Ok(response) => {
                    let body: Value = response.json().await.expect("session reply");
                    let id = body["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no browser session: {body}"));
                    break id.to_owned();
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(error) => panic!("chromedriver did not answer: {error}"),
            }
        };
        browser.base = format!("{}/session/{session}", browser.base);
        browser
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let request = self.http.request(method, format!("{}{}", self.base, path));
        let request = if body.is_null() { request } else { request.json(&body) };
        let reply: Value = request
            .send()
            .await
            .expect("webdriver command")
            .json()
            .await
            .expect("webdriver reply");
        if let Some(error) = reply["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), json!({}))
            .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// The value of the cookie `name` the browser holds for the current
    /// page, HttpOnly ones included (WebDriver sees what scripts cannot).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let all = self.command(reqwest::Method::GET, "/cookie", Value::Null).await;
        all.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str().map(str::to_owned))
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Waits (at most 10 s) until `script` returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let status = self.eval("return document.getElementById('status').textContent").await;
                panic!("timed out waiting for {what}; page status: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Text content of the element with this id.
    pub async fn text(&self, id: &str) -> String {
        let script = format!("return document.getElementById('{id}').textContent");
        self.eval(&script).await.as_str().unwrap_or_default().to_owned()
    }

    /// Saves a PNG screenshot as `NN-<name>.png`; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let data = self.command(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("screenshot data"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        self.shots += 1;
        let path = self.screenshots.join(format!("{:02}-{name}.png", self.shots));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        let found = self
            .command(
                reqwest::Method::POST,
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found.as_array().map_or(0, Vec::len)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
