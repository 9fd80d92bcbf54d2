//! The browser tests leave nothing running: a [`Browser`] ends its
//! WebDriver session, chromedriver and every Chromium process (crash
//! handlers included) when dropped, also when the test using it panics
//! after the browser started.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokengate_tests::browser::{processes_naming, Browser};

/// Waits (at most 10 s) until no process names `marker` and `driver` is
/// gone, then checks the browser's directory is removed.
async fn assert_nothing_left(marker: &str, driver: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_naming(marker);
        let driver_alive = std::fs::read_to_string(format!("/proc/{driver}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"));
        if left.is_empty() && !driver_alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left running: chromedriver {driver} alive: {driver_alive}; processes naming {marker}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!PathBuf::from(marker).exists(), "{marker} was not removed");
}

fn screenshots() -> PathBuf {
    std::env::temp_dir().join("tokengate-browser-cleanup-shots")
}

#[tokio::test]
async fn a_browser_test_that_panics_leaves_nothing() {
    let (tell, told) = tokio::sync::oneshot::channel();
    let test = tokio::spawn(async move {
        let browser = Browser::start(&screenshots()).await;
        browser.goto("about:blank").await;
        let running = processes_naming(&browser.marker()).len();
        tell.send((browser.marker(), browser.driver_pid(), running)).unwrap();
        panic!("a test failing mid-way, its browser running");
    });
    let failure = test.await.expect_err("the test panicked");
    assert!(failure.is_panic());
    let (marker, driver, running) = told.await.expect("the browser had started");
    assert!(running >= 3, "the browser ran as {running} processes naming {marker}");
    assert_nothing_left(&marker, driver).await;
}

#[tokio::test]
async fn a_finished_browser_test_leaves_nothing() {
    let browser = Browser::start(&screenshots()).await;
    browser.goto("about:blank").await;
    let (marker, driver) = (browser.marker(), browser.driver_pid());
    drop(browser);
    assert_nothing_left(&marker, driver).await;
}
