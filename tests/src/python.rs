//! A virtualenv with the official Appwrite Python SDK, made on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); is python3 installed?"));
    assert!(status.success(), "{what} failed with {status}");
}

/// The virtualenv's python, with the pinned SDK installed
/// (`tests/sdk/requirements.txt`). Needs `python3` with `venv` and PyPI.
pub fn sdk_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = std::env::var_os("TOKENGATE_TEST_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| tests_dir().join(".venv"));
        let python = venv.join("bin").join("python");
        let marker = venv.join(".appwrite-27.0.0");
        if !marker.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            );
            run(
                Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                    .arg(tests_dir().join("sdk").join("requirements.txt")),
                "pip install appwrite",
            );
            std::fs::write(&marker, b"").expect("write venv marker");
        }
        python
    })
}

/// The SDK scripts folder.
pub fn sdk_dir() -> PathBuf {
    tests_dir().join("sdk")
}
