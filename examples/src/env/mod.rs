//! Configuration from the environment: the variables of the example-server
//! contract, parsed and validated up front; every error names its variable.
//!
//! | variable | meaning | unset |
//! |---|---|---|
//! | `TOKENGATE_LISTEN` | address to bind | `127.0.0.1:8080` |
//! | `REDIS_URL` | `redis://` or `rediss://` (feature `redis-tls`) | embedded in-memory store |
//! | `REDIS_CLUSTER_NODES` | comma-separated `redis://host:port` seeds | no cluster |
//! | `TOKENGATE_PREFIX` | key namespace | `tg` |
//! | `TOKENGATE_SECRET` | server secret, hex, ≥ 64 hex chars | random per process, with a warning |
//! | `TOKENGATE_PROJECT` | project id (cookie name, `X-Appwrite-Project`) | `default` |
//! | `TOKENGATE_API_KEY` | API key for `X-Appwrite-Key` (≥ 16 chars) | random ([`EnvConfig::api_key_generated`]) |
//! | `TOKENGATE_PUBLIC_URL` | origin used in links (never the Host header) | `http://127.0.0.1:8080` |
//! | `TOKENGATE_REDIRECT_HOSTS` | comma-separated origins (or bare hosts: the public URL's scheme, default port) allowed for magic-URL `url`; `http://localhost:<port>` and `http://127.0.0.1:<port>` also beside an `https` public URL | origin of the public URL |
//! | `TOKENGATE_REDIRECT_SCHEMES` | comma-separated custom schemes of mobile apps allowed for magic-URL `url` (`myapp` allows `myapp://auth/callback`) | none |
//! | `TOKENGATE_SMTP_URL` | e.g. `smtp://127.0.0.1:2525` (feature `smtp`) | emails written to the log |
//! | `TOKENGATE_SMTP_CA_FILE` | PEM file of the CA to trust for SMTP over TLS instead of the web PKI roots (needs `smtps://` or `?tls=required` in `TOKENGATE_SMTP_URL`) | web PKI roots |
//! | `TOKENGATE_MAIL_FROM` | sender of the emails | `tokengate <no-reply@tokengate.local>` |
//! | `TOKENGATE_SMS_WEBHOOK` | URL receiving `POST {"to","body"}` (feature `sms-webhook`) | SMS written to the log |
//! | `TOKENGATE_INSECURE_COOKIES` | `1` drops `Secure` for plain-http local use | secure cookies |
//! | `TOKENGATE_SESSION_CACHE_MS` | local session cache TTL in ms (1..=60000), revocations over Redis pub/sub | no cache |
//! | `TOKENGATE_REDIS_TIMEOUT_MS` | Redis response timeout in ms (1..=60000), then 503 | 500 |
//! | `TOKENGATE_DEV` | `1`: development mode (codes and links may go to the log) | off; on by itself only on the embedded store, said loudly at start |
//! | `TOKENGATE_ALLOWED_ORIGINS` | comma-separated web origins allowed to create sessions cross-origin | the request's own and the public URL's origin only |
//! | `TOKENGATE_TRUSTED_PROXIES` | comma-separated CIDRs whose `X-Forwarded-For` / `Forwarded` is believed | none: the peer is the client |
//! | `TOKENGATE_FORWARDED_HEADER` | which header the trusted proxies write: `x-forwarded-for` or `forwarded` | `x-forwarded-for` |
//! | `TOKENGATE_CLIENT_CHOSEN_IDS` | `1` lets anonymous callers name a new user's id (Appwrite's behaviour; see [`tokengate::GateBuilder::client_chosen_ids`]) | new users get generated ids |
//! | `TOKENGATE_COOKIE_SAMESITE` | `Lax`, `Strict` or `None` (`None` needs secure cookies) | `Lax` |
//! | `TOKENGATE_COOKIE_DOMAIN` | the cookie's `Domain` | none (host-only) |
//! | `TOKENGATE_COOKIE_HOST_PREFIX` | `1` names the cookie `__Host-a_session_<project>` | plain name |
//! | `TOKENGATE_WEBHOOK_URL` | one webhook (feature `webhooks`): where events are POSTed with Appwrite's request shape; `https`, or `http` to loopback | no webhook, no event log |
//! | `TOKENGATE_WEBHOOK_KEY` | its signature key (≥ 16 chars; `X-Appwrite-Webhook-Signature`) | required with the URL |
//! | `TOKENGATE_WEBHOOK_EVENTS` | comma-separated event patterns (`users.*.sessions.*.delete`, …) | `users.*` |
//! | `TOKENGATE_EVENTS` | `1` keeps an event log (on the configured Redis, else in process) without a webhook, for services that follow it (`live-sessions`) | only with a webhook |
//! | `TOKENGATE_WEBHOOK_MAX_ATTEMPTS` | attempts per event (1..=1000) before it moves to the dead-letter stream | 10 |
//! | `TOKENGATE_WEBHOOK_MAX_BACKOFF_MS` | longest wait between two attempts (100..=3600000 ms; full jitter below it) | 300000 |
//! | `TOKENGATE_WEBHOOK_ALLOW_HTTP` | `1` allows a plain-http URL to another host (payloads carry token secrets) | refused |
//! | `TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS` | how long (1000..=3600000 ms) entries taken by a dispatcher that died wait before another claims them | 60000 |
//! | `TOKENGATE_LIMIT_<FLOW>_<SCOPE>` | issuance limit per window: `<FLOW>` `EMAIL`, `MAGIC_URL` or `PHONE`; `<SCOPE>` `PER_ADDRESS`, `PER_CLIENT` (an IPv4 address, an IPv6 /64), `PER_IPV4_24`, `PER_IPV6_56`, `PER_IPV6_48`, `NEW_ADDRESSES` or `KNOWN_ADDRESSES` (deployment-wide); 0 turns one off | [`tokengate::policy::FlowLimits`]' defaults |
//! | `TOKENGATE_LIMIT_MIN_INTERVAL_S`, `TOKENGATE_LIMIT_WINDOW_S` | shortest gap between two sends to one address; the counting window | 60 s; 3600 s |
//! | `TOKENGATE_GEOIP_DB` | path of a MaxMind-format database (GeoLite2 / GeoIP2 Country or City `.mmdb`), read at start, for the sessions' `countryCode` / `countryName` | country `--` / `Unknown` |
//!
//! ```
//! use tokengate_examples::env::EnvConfig;
//! let vars = [("TOKENGATE_PROJECT", "shop"), ("TOKENGATE_LISTEN", "0.0.0.0:9000")];
//! let config = EnvConfig::from_lookup(|name| {
//!     vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
//! }).unwrap();
//! assert_eq!(config.project, "shop");
//! assert_eq!(config.listen.port(), 9000);
//!
//! let bad = EnvConfig::from_lookup(|name| (name == "TOKENGATE_SECRET").then(|| "abc".to_string()));
//! assert_eq!(bad.unwrap_err().variable, "TOKENGATE_SECRET");
//! ```

mod build;
pub mod limits;
mod webhook;

pub use build::Built;

use std::net::SocketAddr;

use tokengate::api::{ApiConfig, SameSite};
use tokengate::{Secret, ServerSecret, UserId};

pub use webhook::{EnvWebhook, ENV_WEBHOOK_ID};

/// A configuration error, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
#[non_exhaustive]
pub struct EnvError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn error(variable: &'static str, message: impl Into<String>) -> EnvError {
    EnvError {
        variable,
        message: message.into(),
    }
}

/// The parsed environment. `Debug` shows no secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `TOKENGATE_LISTEN`.
    pub listen: SocketAddr,
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// `REDIS_CLUSTER_NODES` (takes precedence over `REDIS_URL`).
    pub cluster_nodes: Vec<String>,
    /// `TOKENGATE_PREFIX`.
    pub prefix: String,
    /// `TOKENGATE_SECRET`; `None` means a random one per process.
    pub secret: Option<ServerSecret>,
    /// `TOKENGATE_PROJECT`.
    pub project: String,
    /// `TOKENGATE_API_KEY`, or a generated one.
    pub api_key: Secret,
    /// Whether [`EnvConfig::api_key`] was generated (print it once).
    pub api_key_generated: bool,
    /// `TOKENGATE_PUBLIC_URL`.
    pub public_url: String,
    /// `TOKENGATE_REDIRECT_HOSTS`.
    pub redirect_hosts: Vec<String>,
    /// `TOKENGATE_REDIRECT_SCHEMES`.
    pub redirect_schemes: Vec<String>,
    /// `TOKENGATE_SMTP_URL`.
    pub smtp_url: Option<String>,
    /// The PEM read from `TOKENGATE_SMTP_CA_FILE`.
    pub smtp_root_ca: Option<String>,
    /// `TOKENGATE_MAIL_FROM`.
    pub mail_from: String,
    /// `TOKENGATE_SMS_WEBHOOK`.
    pub sms_webhook: Option<String>,
    /// `TOKENGATE_INSECURE_COOKIES=1`.
    pub insecure_cookies: bool,
    /// `TOKENGATE_SESSION_CACHE_MS`.
    pub session_cache: Option<std::time::Duration>,
    /// `TOKENGATE_DEV=1`, or on by itself on the embedded store.
    pub development: bool,
    /// `TOKENGATE_ALLOWED_ORIGINS`.
    pub allowed_origins: Vec<String>,
    /// `TOKENGATE_TRUSTED_PROXIES`: CIDRs.
    pub trusted_proxies: Vec<String>,
    /// `TOKENGATE_FORWARDED_HEADER=forwarded`: the proxies write RFC 7239
    /// `Forwarded` rather than `X-Forwarded-For`.
    pub forwarded_rfc7239: bool,
    /// `TOKENGATE_COOKIE_SAMESITE`.
    pub same_site: SameSite,
    /// `TOKENGATE_COOKIE_DOMAIN`.
    pub cookie_domain: Option<String>,
    /// `TOKENGATE_COOKIE_HOST_PREFIX=1`.
    pub cookie_host_prefix: bool,
    /// `TOKENGATE_CLIENT_CHOSEN_IDS=1`.
    pub client_chosen_ids: bool,
    /// `TOKENGATE_REDIS_TIMEOUT_MS`.
    pub redis_timeout: Option<std::time::Duration>,
    /// `TOKENGATE_GEOIP_DB` (checked readable as a database at start).
    pub geoip_database: Option<std::path::PathBuf>,
    /// `TOKENGATE_WEBHOOK_URL`, `_KEY`, `_EVENTS`, `_ALLOW_HTTP`,
    /// `_CLAIM_TIMEOUT_MS`.
    pub webhook: Option<EnvWebhook>,
    /// `TOKENGATE_EVENTS=1`: an event log even without a webhook.
    pub events: bool,
    /// `TOKENGATE_LIMIT_*`: the issuance limits.
    pub limits: limits::Limits,
}

/// The public URL, redirect hosts and schemes as the gate builder checks
/// them, a refusal named by its variable.
fn check_links(public_url: &str, hosts: &[String], schemes: &[String]) -> Result<(), EnvError> {
    let built = tokengate::Gate::builder()
        .server_secret([0u8; 32])
        .store(tokengate::store::MemoryStore::new())
        .public_url(public_url)
        .redirect_hosts(hosts.to_vec())
        .redirect_schemes(schemes.to_vec())
        .build();
    match built {
        Ok(_) => Ok(()),
        Err(tokengate::Error::Config { setting, reason, .. }) => Err(error(
            match setting {
                "redirect_hosts" => "TOKENGATE_REDIRECT_HOSTS",
                "redirect_schemes" => "TOKENGATE_REDIRECT_SCHEMES",
                _ => "TOKENGATE_PUBLIC_URL",
            },
            reason,
        )),
        Err(other) => Err(error("TOKENGATE_PUBLIC_URL", other.to_string())),
    }
}

fn flag(name: &'static str, value: Option<String>) -> Result<bool, EnvError> {
    match value.as_deref() {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(error(name, format!("must be 1 or 0, got {other:?}"))),
    }
}

fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (blank values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let listen_text = get("TOKENGATE_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen_text
            .parse()
            .map_err(|_| error("TOKENGATE_LISTEN", format!("not a socket address: {listen_text:?}")))?;

        let secret = match get("TOKENGATE_SECRET") {
            Some(hex) if hex.len() < 64 => return Err(error("TOKENGATE_SECRET", "must be at least 64 hex characters")),
            Some(hex) => Some(ServerSecret::from_hex(&hex).map_err(|_| error("TOKENGATE_SECRET", "must be hex"))?),
            None => None,
        };

        let project = get("TOKENGATE_PROJECT").unwrap_or_else(|| "default".to_owned());
        if !UserId::is_valid(&project) {
            return Err(error(
                "TOKENGATE_PROJECT",
                "1-36 chars of a-zA-Z0-9._-, not starting with . - _",
            ));
        }

        let (api_key, api_key_generated) = match get("TOKENGATE_API_KEY") {
            Some(key) if key.len() < 16 => return Err(error("TOKENGATE_API_KEY", "must be at least 16 characters")),
            Some(key) if !key.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(error(
                    "TOKENGATE_API_KEY",
                    "must be visible ASCII (it travels in a header)",
                ))
            }
            Some(key) => (Secret::new(key), false),
            None => (Secret::random_hex(48), true),
        };

        let prefix = get("TOKENGATE_PREFIX").unwrap_or_else(|| "tg".to_owned());
        if prefix.contains(['{', '}']) || prefix.chars().any(char::is_whitespace) {
            return Err(error("TOKENGATE_PREFIX", "must not contain braces or whitespace"));
        }

        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(error("REDIS_URL", "must start with redis:// or rediss://"));
        }
        let cluster_nodes = list(get("REDIS_CLUSTER_NODES"));
        if let Some(bad) = cluster_nodes
            .iter()
            .find(|n| !(n.starts_with("redis://") || n.starts_with("rediss://")))
        {
            return Err(error("REDIS_CLUSTER_NODES", format!("not a redis:// URL: {bad:?}")));
        }

        let public_url = get("TOKENGATE_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
        let redirect_hosts = list(get("TOKENGATE_REDIRECT_HOSTS"));
        let redirect_schemes = list(get("TOKENGATE_REDIRECT_SCHEMES"));
        check_links(&public_url, &redirect_hosts, &redirect_schemes)?;

        let smtp_url = get("TOKENGATE_SMTP_URL");
        let smtp_root_ca = match get("TOKENGATE_SMTP_CA_FILE") {
            None => None,
            Some(_) if smtp_url.is_none() => return Err(error("TOKENGATE_SMTP_CA_FILE", "needs TOKENGATE_SMTP_URL")),
            Some(path) => {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| error("TOKENGATE_SMTP_CA_FILE", format!("cannot read {path:?}: {e}")))?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(error(
                        "TOKENGATE_SMTP_CA_FILE",
                        format!("{path:?} holds no PEM certificate"),
                    ));
                }
                Some(pem)
            }
        };
        let mail_from = get("TOKENGATE_MAIL_FROM").unwrap_or_else(|| "tokengate <no-reply@tokengate.local>".to_owned());
        let sms_webhook = get("TOKENGATE_SMS_WEBHOOK");
        let insecure_cookies = flag("TOKENGATE_INSECURE_COOKIES", get("TOKENGATE_INSECURE_COOKIES"))?;
        let embedded = redis_url.is_none() && cluster_nodes.is_empty();
        let development = flag("TOKENGATE_DEV", get("TOKENGATE_DEV"))? || embedded;
        let allowed_origins = list(get("TOKENGATE_ALLOWED_ORIGINS"));
        let forwarded_rfc7239 = match get("TOKENGATE_FORWARDED_HEADER")
            .map(|h| h.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("x-forwarded-for") => false,
            Some("forwarded") => true,
            Some(other) => {
                return Err(error(
                    "TOKENGATE_FORWARDED_HEADER",
                    format!("must be x-forwarded-for or forwarded, got {other:?}"),
                ))
            }
        };
        let trusted_proxies = list(get("TOKENGATE_TRUSTED_PROXIES"));
        ApiConfig::default()
            .allowed_origins(allowed_origins.clone())
            .trusted_proxies(trusted_proxies.clone())
            .check()
            .map_err(|e| match e {
                tokengate::Error::Config {
                    setting: "allowed_origins",
                    reason,
                    ..
                } => error("TOKENGATE_ALLOWED_ORIGINS", reason),
                other => error("TOKENGATE_TRUSTED_PROXIES", other.to_string()),
            })?;
        let client_chosen_ids = flag("TOKENGATE_CLIENT_CHOSEN_IDS", get("TOKENGATE_CLIENT_CHOSEN_IDS"))?;
        let redis_timeout = match get("TOKENGATE_REDIS_TIMEOUT_MS") {
            None => None,
            Some(text) => Some(std::time::Duration::from_millis(
                text.parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=60_000).contains(ms))
                    .ok_or_else(|| error("TOKENGATE_REDIS_TIMEOUT_MS", "must be a whole number of ms, 1..=60000"))?,
            )),
        };
        let same_site = match get("TOKENGATE_COOKIE_SAMESITE")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("lax") => SameSite::Lax,
            Some("strict") => SameSite::Strict,
            Some("none") if !insecure_cookies => SameSite::None,
            Some("none") => {
                return Err(error(
                    "TOKENGATE_COOKIE_SAMESITE",
                    "None needs secure cookies (unset TOKENGATE_INSECURE_COOKIES)",
                ))
            }
            Some(other) => {
                return Err(error(
                    "TOKENGATE_COOKIE_SAMESITE",
                    format!("must be Lax, Strict or None, got {other:?}"),
                ))
            }
        };
        let cookie_domain = get("TOKENGATE_COOKIE_DOMAIN");
        let geoip_database = match get("TOKENGATE_GEOIP_DB") {
            None => None,
            Some(path) => {
                ApiConfig::default()
                    .geoip_database(&path)
                    .map_err(|e| error("TOKENGATE_GEOIP_DB", e.to_string()))?;
                Some(std::path::PathBuf::from(path))
            }
        };
        let cookie_host_prefix = flag("TOKENGATE_COOKIE_HOST_PREFIX", get("TOKENGATE_COOKIE_HOST_PREFIX"))?;
        let webhook = webhook::parse(&get)?;
        let events = flag("TOKENGATE_EVENTS", get("TOKENGATE_EVENTS"))?;
        let limits = limits::parse(&get)?;

        let session_cache = match get("TOKENGATE_SESSION_CACHE_MS") {
            None => None,
            Some(text) => {
                let ms: u64 = text
                    .parse()
                    .ok()
                    .filter(|ms| (1..=60_000).contains(ms))
                    .ok_or_else(|| error("TOKENGATE_SESSION_CACHE_MS", "must be a whole number of ms, 1..=60000"))?;
                if redis_url.is_none() && cluster_nodes.is_empty() {
                    return Err(error(
                        "TOKENGATE_SESSION_CACHE_MS",
                        "needs REDIS_URL or REDIS_CLUSTER_NODES",
                    ));
                }
                Some(std::time::Duration::from_millis(ms))
            }
        };

        Ok(EnvConfig {
            listen,
            redis_url,
            cluster_nodes,
            prefix,
            secret,
            project,
            api_key,
            api_key_generated,
            public_url,
            redirect_hosts,
            redirect_schemes,
            smtp_url,
            smtp_root_ca,
            mail_from,
            sms_webhook,
            insecure_cookies,
            session_cache,
            development,
            allowed_origins,
            trusted_proxies,
            forwarded_rfc7239,
            same_site,
            cookie_domain,
            cookie_host_prefix,
            client_chosen_ids,
            redis_timeout,
            geoip_database,
            webhook,
            events,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<EnvConfig, EnvError> {
        EnvConfig::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.prefix, "tg");
        assert_eq!(config.project, "default");
        assert!(config.api_key_generated);
        assert!(config.secret.is_none());
        assert!(!config.insecure_cookies);
        assert!(!format!("{config:?}").contains(config.api_key.expose()));
        // The embedded store is a development setup by itself; Redis is not.
        assert!(config.development);
        assert!(!parse(&[("REDIS_URL", "redis://127.0.0.1:6379")]).unwrap().development);
        assert!(
            parse(&[("REDIS_URL", "redis://127.0.0.1:6379"), ("TOKENGATE_DEV", "1")])
                .unwrap()
                .development
        );
    }

    #[test]
    fn smtp_ca_file_is_read_up_front() {
        let url = ("TOKENGATE_SMTP_URL", "smtps://127.0.0.1:465");
        let missing = parse(&[url, ("TOKENGATE_SMTP_CA_FILE", "/nonexistent/ca.pem")]).unwrap_err();
        assert_eq!(missing.variable, "TOKENGATE_SMTP_CA_FILE");
        assert!(missing.message.contains("cannot read"), "{missing}");

        let dir = std::env::temp_dir();
        let path = dir.join(format!("tokengate-env-test-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate").unwrap();
        let path_text = path.display().to_string();
        let empty = parse(&[url, ("TOKENGATE_SMTP_CA_FILE", &path_text)]).unwrap_err();
        assert!(empty.message.contains("no PEM certificate"), "{empty}");

        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(&path, pem).unwrap();
        let config = parse(&[url, ("TOKENGATE_SMTP_CA_FILE", &path_text)]).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config.smtp_root_ca.as_deref(), Some(pem));
        assert!(parse(&[]).unwrap().smtp_root_ca.is_none());
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("TOKENGATE_LISTEN", "nope"),
            ("TOKENGATE_SECRET", "zz"),
            ("TOKENGATE_SECRET", &"zz".repeat(40)),
            ("TOKENGATE_PROJECT", "_x"),
            ("TOKENGATE_API_KEY", "short"),
            ("TOKENGATE_PREFIX", "a{b}"),
            ("REDIS_URL", "http://x"),
            ("REDIS_CLUSTER_NODES", "redis://a:1,b:2"),
            ("TOKENGATE_PUBLIC_URL", "ftp://x"),
            ("TOKENGATE_REDIRECT_HOSTS", "Evil.com"),
            ("TOKENGATE_INSECURE_COOKIES", "yes"),
            ("TOKENGATE_DEV", "true"),
            ("TOKENGATE_ALLOWED_ORIGINS", "https://a.example.com/path"),
            ("TOKENGATE_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TOKENGATE_COOKIE_SAMESITE", "sometimes"),
            ("TOKENGATE_COOKIE_HOST_PREFIX", "yes"),
            ("TOKENGATE_FORWARDED_HEADER", "x-real-ip"),
            ("TOKENGATE_CLIENT_CHOSEN_IDS", "yes"),
            ("TOKENGATE_REDIS_TIMEOUT_MS", "0"),
            ("TOKENGATE_SMTP_CA_FILE", "/nonexistent/ca.pem"),
            ("TOKENGATE_GEOIP_DB", "/nonexistent/GeoLite2-Country.mmdb"),
        ] {
            let err = parse(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(err.to_string().starts_with(name));
        }
    }
}
