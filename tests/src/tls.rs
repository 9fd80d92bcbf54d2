//! TLS for the Redis tests: one throwaway CA per test process (generated
//! with `rcgen`), a server certificate for `127.0.0.1`/`localhost` signed by
//! it, and `redis-server`s that speak only TLS.
//!
//! - [`test_ca`]: the CA and the files a `redis-server` needs.
//! - [`tls_server_args`]: the `redis-server` arguments for a TLS-only port.
//! - [`shared_tls_redis`]: one TLS-only standalone server per test process.
//! - [`client`] / [`store_config`]: clients that trust the test CA.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::redis_harness::{start_server, unique_prefix, Probe, RedisProcess};

/// The test CA and the server certificate it signed, as PEM and as files.
#[derive(Debug)]
pub struct TestCa {
    /// The CA certificate (PEM): what clients trust.
    pub ca_pem: String,
    /// Where the CA certificate is (`--tls-ca-cert-file`).
    pub ca_file: PathBuf,
    /// The server certificate (`--tls-cert-file`), for `127.0.0.1` and `localhost`.
    pub cert_file: PathBuf,
    /// The server key (`--tls-key-file`).
    pub key_file: PathBuf,
    /// A certificate from the same CA for another name (`wrong.example.test`)
    /// and its key: trusted, but not for `127.0.0.1`.
    pub wrong_name_files: (PathBuf, PathBuf),
    /// The directory holding the files (removed when the process is gone).
    pub dir: PathBuf,
}

/// The CA of this test process (generated on first use).
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(generate_ca)
}

fn generate_ca() -> TestCa {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tokengate test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server params");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "tokengate test redis");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let wrong_key = KeyPair::generate().expect("second server key");
    let wrong_cert = CertificateParams::new(vec!["wrong.example.test".to_owned()])
        .expect("second server params")
        .signed_by(&wrong_key, &issuer)
        .expect("second server certificate");

    let dir = std::env::temp_dir().join(format!("tokengate-tls-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).expect("create the TLS directory");
    let ca_file = dir.join("ca.pem");
    let cert_file = dir.join("redis.pem");
    let key_file = dir.join("redis.key");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(&cert_file, server_cert.pem()).expect("write redis.pem");
    std::fs::write(&key_file, server_key.serialize_pem()).expect("write redis.key");
    let wrong_name_files = (dir.join("wrong.pem"), dir.join("wrong.key"));
    std::fs::write(&wrong_name_files.0, wrong_cert.pem()).expect("write wrong.pem");
    std::fs::write(&wrong_name_files.1, wrong_key.serialize_pem()).expect("write wrong.key");
    crate::redis_harness::remove_when_gone(&dir);
    TestCa {
        ca_pem: ca_cert.pem(),
        ca_file,
        cert_file,
        key_file,
        wrong_name_files,
        dir,
    }
}

/// `redis-server` arguments for TLS only on `port` (plain port off), with
/// the test certificate; clients need no certificate of their own.
pub fn tls_server_args(port: u16) -> Vec<String> {
    let ca = test_ca();
    tls_server_args_with(port, &ca.cert_file, &ca.key_file)
}

/// [`tls_server_args`] with another certificate and key.
pub fn tls_server_args_with(port: u16, cert_file: &PathBuf, key_file: &PathBuf) -> Vec<String> {
    let ca = test_ca();
    let path = |p: &PathBuf| p.display().to_string();
    vec![
        "--port".into(),
        "0".into(),
        "--tls-port".into(),
        port.to_string(),
        "--tls-cert-file".into(),
        path(cert_file),
        "--tls-key-file".into(),
        path(key_file),
        "--tls-ca-cert-file".into(),
        path(&ca.ca_file),
        "--tls-auth-clients".into(),
        "no".into(),
    ]
}

/// Whether this `redis-server` was built with TLS: with TLS it rejects a
/// missing certificate and exits; without, `--tls-port` is a bad directive.
pub fn redis_supports_tls() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let output = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", "1"])
            .args(["--tls-cert-file", "/nonexistent", "--tls-key-file", "/nonexistent"])
            .args(["--save", ""])
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(output) => {
                let text =
                    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
                text.contains("TLS") && !text.contains("Bad directive")
            }
            Err(_) => false,
        }
    })
}

/// A TLS-only `redis-server` shared by this test process:
/// `rediss://127.0.0.1:<port>`.
pub fn shared_tls_redis() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        static SERVER: OnceLock<RedisProcess> = OnceLock::new();
        let (process, port) = spawn_tls_server();
        let _ = SERVER.set(process);
        format!("rediss://127.0.0.1:{port}")
    })
    .clone()
}

/// Starts a TLS-only `redis-server` on a free port; the caller owns it.
pub fn spawn_tls_server() -> (RedisProcess, u16) {
    let ca = test_ca();
    spawn_tls_server_with(&ca.cert_file, &ca.key_file)
}

/// [`spawn_tls_server`] presenting another certificate.
pub fn spawn_tls_server_with(cert_file: &PathBuf, key_file: &PathBuf) -> (RedisProcess, u16) {
    assert!(
        redis_supports_tls(),
        "this redis-server was built without TLS (`--tls-port` unknown)"
    );
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = crate::app::free_port();
        match start_server(port, &tls_server_args_with(port, cert_file, key_file), Probe::Listen) {
            Ok(process) => return (process, port),
            Err(err) => last_error = err,
        }
    }
    panic!("could not start a TLS redis-server: {last_error}");
}

/// A redis-rs client for a `rediss://` URL that trusts the test CA.
pub fn client(url: &str) -> redis::Client {
    install_crypto_provider();
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(test_ca().ca_pem.clone().into_bytes()),
        },
    )
    .expect("a valid rediss url")
}

/// The store configuration trusting the test CA, under a fresh prefix.
pub fn store_config() -> (tokengate::store::RedisStoreConfig, String) {
    let prefix = unique_prefix();
    let config = tokengate::store::RedisStoreConfig::default()
        .prefix(prefix.clone())
        .tls_root_ca(test_ca().ca_pem.clone().into_bytes());
    (config, prefix)
}

/// redis-rs builds rustls configurations with the process-wide default
/// crypto provider (the store installs `ring` too; the first one wins).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
