//! The official Appwrite JS SDKs (npm `node-appwrite` and the Web SDK
//! `appwrite`), installed on first use from the npm registry with `npm ci`
//! into `tests/sdk/js/node_modules` (ignored by git), at the exact versions
//! of `tests/sdk/js/package-lock.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `tests/sdk/js`: package.json, the lockfile, the scripts and the page.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk").join("js")
}

fn version_of(program: &str) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `tests/sdk/js/node_modules`, installed from the lockfile when it is
/// missing or was installed from another lockfile (a marker inside holds
/// the lockfile it came from). Once per test process. Needs `node` (18 or
/// later) and `npm` on the PATH and the npm registry reachable; panics
/// saying which is missing.
pub fn node_modules() -> &'static Path {
    static MODULES: OnceLock<PathBuf> = OnceLock::new();
    MODULES.get_or_init(|| {
        let dir = js_dir();
        let modules = dir.join("node_modules");
        let marker = modules.join(".tokengate-installed-lockfile");
        let lockfile = std::fs::read(dir.join("package-lock.json")).expect("read tests/sdk/js/package-lock.json");
        if std::fs::read(&marker).ok().as_deref() == Some(lockfile.as_slice()) {
            return modules;
        }
        let node = version_of("node")
            .unwrap_or_else(|| panic!("node is missing: apt-get install nodejs npm (scripts/test.sh does this)"));
        let npm = version_of("npm")
            .unwrap_or_else(|| panic!("npm is missing: apt-get install npm (scripts/test.sh does this)"));
        eprintln!(
            "installing the Appwrite JS SDKs (npm ci in {}; node {node}, npm {npm})",
            dir.display()
        );
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("npm ci: cannot run ({e})"));
        assert!(
            output.status.success(),
            "npm ci in {} failed with {} (is the npm registry reachable?)\n{}\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for package in ["node-appwrite", "appwrite"] {
            assert!(
                modules.join(package).join("package.json").exists(),
                "npm ci did not install {package} into {}",
                modules.display()
            );
        }
        std::fs::write(&marker, &lockfile).expect("write the node_modules marker");
        modules
    })
}

/// The Web SDK's browser bundle (an IIFE defining `window.Appwrite`).
pub fn web_sdk_bundle() -> PathBuf {
    node_modules().join("appwrite").join("dist").join("iife").join("sdk.js")
}
