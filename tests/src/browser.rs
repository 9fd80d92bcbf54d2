//! A headless Chromium driven through chromedriver's W3C WebDriver API:
//! navigate, type, click, read text, take screenshots. Each browser runs
//! in a temporary directory of its own (profile, config, crash database),
//! and ends with its [`Browser`]: its WebDriver session, chromedriver's
//! process group, and every process that names that directory (Chromium's
//! crash handlers leave the group), also when a test panics.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
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

/// A chromedriver process and one browser session; both end on drop,
/// with every process of the browser.
pub struct Browser {
    driver: Child,
    /// chromedriver's port, and the session's path once there is one.
    port: u16,
    session: Option<String>,
    base: String,
    http: reqwest::Client,
    home: tempfile::TempDir,
    screenshots: PathBuf,
    shots: usize,
}

/// The processes whose command line or environment names `marker` (the
/// browser's temporary directory: every process of it does).
pub fn processes_naming(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|part| {
                std::fs::read(format!("/proc/{pid}/{part}"))
                    .is_ok_and(|bytes| bytes.windows(marker.len()).any(|w| w == marker.as_bytes()))
            })
        })
        .collect()
}

/// Sends `SIGKILL` to `targets` (`-<pgid>` for a process group).
fn kill(targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .args(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
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
        // The browser's own directory: its profile, and (XDG_CONFIG_HOME)
        // its config and crash database, so that every process it starts
        // names it.
        let home = tempfile::Builder::new()
            .prefix("tokengate-browser-")
            .tempdir()
            .expect("browser dir");
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .env("XDG_CONFIG_HOME", home.path())
            // A process group of its own: chromedriver and the browser end together.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        std::fs::create_dir_all(screenshots).expect("screenshot dir");
        let mut browser = Browser {
            driver,
            port,
            session: None,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            home,
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
                    format!("--user-data-dir={}", browser.home.path().join("profile").display()),
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
        browser.session = Some(session);
        browser
    }

    /// The browser's temporary directory, which every process of it names.
    pub fn marker(&self) -> String {
        self.home.path().display().to_string()
    }

    /// chromedriver's process id.
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// Ends the WebDriver session (chromedriver closes the browser): a
    /// blocking `DELETE /session/{id}`, for `Drop`.
    fn end_session(&self) {
        let Some(session) = &self.session else { return };
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
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
    /// Runs on a panic too: the session, chromedriver's group, then whatever
    /// still names the browser's directory, until nothing does.
    fn drop(&mut self) {
        self.end_session();
        kill(&[format!("-{}", self.driver.id())]);
        let _ = self.driver.wait();
        let marker = self.marker();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left: Vec<String> = processes_naming(&marker).iter().map(u32::to_string).collect();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            kill(&left);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
