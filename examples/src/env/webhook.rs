//! One webhook from the environment (`TOKENGATE_WEBHOOK_URL`, `_KEY`,
//! `_EVENTS`, `_ALLOW_HTTP`, `_CLAIM_TIMEOUT_MS`), the event log it needs,
//! and its dispatcher.

use std::sync::Arc;
use std::time::Duration;

use tokengate::ServerSecret;
use tokengate_events::webhooks::{
    DispatcherHandle, DispatcherSettings, Webhook, WebhookDispatcher, MIN_SIGNATURE_KEY_LEN,
};
use tokengate_events::{EventLog, EventLogConfig, EventPattern, MemoryEventLog, RedisEventLog};

use super::{error, flag, list, EnvConfig, EnvError};

/// The id (and name) of the webhook configured from the environment; its
/// consumer group is `webhook:env`.
pub const ENV_WEBHOOK_ID: &str = "env";

/// The webhook configured from the environment and how it is delivered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvWebhook {
    /// `TOKENGATE_WEBHOOK_URL`, `_KEY`, `_EVENTS`, `_ALLOW_HTTP`.
    pub webhook: Webhook,
    /// The defaults, with `TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS`.
    pub settings: DispatcherSettings,
}

/// Reads the webhook variables: none set, no webhook; `_KEY`, `_EVENTS`
/// and the others without `_URL` are an error, as is a URL without a key.
pub(super) fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<EnvWebhook>, EnvError> {
    let url = get("TOKENGATE_WEBHOOK_URL");
    let key = get("TOKENGATE_WEBHOOK_KEY");
    let events = list(get("TOKENGATE_WEBHOOK_EVENTS"));
    let allow_http = flag("TOKENGATE_WEBHOOK_ALLOW_HTTP", get("TOKENGATE_WEBHOOK_ALLOW_HTTP"))?;
    let millis = |name: &'static str, range: std::ops::RangeInclusive<u64>| -> Result<Option<Duration>, EnvError> {
        get(name)
            .map(|text| {
                text.parse::<u64>()
                    .ok()
                    .filter(|ms| range.contains(ms))
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        error(
                            name,
                            format!("must be a whole number of ms, {}..={}", range.start(), range.end()),
                        )
                    })
            })
            .transpose()
    };
    let claim_timeout = millis("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS", 1_000..=3_600_000)?;
    let max_backoff = millis("TOKENGATE_WEBHOOK_MAX_BACKOFF_MS", 100..=3_600_000)?;
    let max_attempts = get("TOKENGATE_WEBHOOK_MAX_ATTEMPTS")
        .map(|text| {
            text.parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000).contains(n))
                .ok_or_else(|| error("TOKENGATE_WEBHOOK_MAX_ATTEMPTS", "must be a whole number, 1..=1000"))
        })
        .transpose()?;
    let Some(url) = url else {
        for (name, set) in [
            ("TOKENGATE_WEBHOOK_KEY", key.is_some()),
            ("TOKENGATE_WEBHOOK_EVENTS", !events.is_empty()),
            ("TOKENGATE_WEBHOOK_ALLOW_HTTP", allow_http),
            ("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS", claim_timeout.is_some()),
            ("TOKENGATE_WEBHOOK_MAX_BACKOFF_MS", max_backoff.is_some()),
            ("TOKENGATE_WEBHOOK_MAX_ATTEMPTS", max_attempts.is_some()),
        ] {
            if set {
                return Err(error(name, "needs TOKENGATE_WEBHOOK_URL"));
            }
        }
        return Ok(None);
    };
    let key = match key {
        Some(key) if key.chars().count() >= MIN_SIGNATURE_KEY_LEN => key,
        Some(_) => {
            return Err(error(
                "TOKENGATE_WEBHOOK_KEY",
                format!("must be at least {MIN_SIGNATURE_KEY_LEN} characters"),
            ))
        }
        None => {
            return Err(error(
                "TOKENGATE_WEBHOOK_KEY",
                "required with TOKENGATE_WEBHOOK_URL (the signature key)",
            ))
        }
    };
    let events = if events.is_empty() {
        vec!["users.*".to_owned()]
    } else {
        events
    };
    if let Some(Err(e)) = events.iter().map(|e| EventPattern::parse(e)).find(Result::is_err) {
        return Err(error("TOKENGATE_WEBHOOK_EVENTS", e));
    }
    let webhook = Webhook::builder(ENV_WEBHOOK_ID, url)
        .signature_key(key)
        .events(events)
        .allow_insecure(allow_http)
        .build()
        .map_err(|e| error("TOKENGATE_WEBHOOK_URL", e.reason))?;
    let settings = DispatcherSettings::default();
    let settings = match claim_timeout {
        Some(timeout) => settings.claim_timeout(timeout),
        None => settings,
    };
    // The first retry waits up to 1 s, or the cap if that is shorter.
    let settings = match max_backoff {
        Some(cap) => settings.backoff(cap.min(Duration::from_secs(1)), cap),
        None => settings,
    };
    let settings = match max_attempts {
        Some(attempts) => settings.max_attempts(attempts),
        None => settings,
    };
    Ok(Some(EnvWebhook { webhook, settings }))
}

impl EnvConfig {
    /// The event log of the gate: only when a webhook is configured or
    /// `TOKENGATE_EVENTS=1`; on the configured Redis (shared by every app
    /// on it), else in process. On a standalone Redis the log is also
    /// answered as such (the second value): the store then writes each
    /// change's events itself, in the same script as the change
    /// (`RedisStore::with_events`).
    pub(super) async fn event_log(
        &self,
        secret: &ServerSecret,
    ) -> Result<Option<(Arc<dyn EventLog>, Option<RedisEventLog>)>, EnvError> {
        if self.webhook.is_none() && !self.events {
            return Ok(None);
        }
        let config = self.redis_config();
        let log: Arc<dyn EventLog> = if !self.cluster_nodes.is_empty() {
            let log =
                RedisEventLog::connect_cluster(&self.cluster_nodes, &config, secret.clone(), EventLogConfig::default())
                    .await
                    .map_err(|e| error("REDIS_CLUSTER_NODES", e.to_string()))?;
            Arc::new(log)
        } else if let Some(url) = &self.redis_url {
            let log = RedisEventLog::connect(url, &config, secret.clone(), EventLogConfig::default())
                .await
                .map_err(|e| error("REDIS_URL", e.to_string()))?;
            return Ok(Some((Arc::new(log.clone()), Some(log))));
        } else {
            Arc::new(MemoryEventLog::new(secret.clone()))
        };
        Ok(Some((log, None)))
    }

    /// Starts delivering to the configured webhook (none configured: `None`).
    /// Call inside the tokio runtime that will serve; the dispatcher stops
    /// when the handle is dropped.
    pub fn start_webhooks(&self, events: Option<&Arc<dyn EventLog>>) -> Result<Option<DispatcherHandle>, EnvError> {
        let Some(EnvWebhook {
            webhook: hook,
            settings,
        }) = &self.webhook
        else {
            return Ok(None);
        };
        let Some(log) = events else {
            return Err(error(
                "TOKENGATE_WEBHOOK_URL",
                "the gate was built without an event log",
            ));
        };
        let dispatcher = WebhookDispatcher::new(Arc::clone(log), &self.project, vec![hook.clone()])
            .map_err(|e| error("TOKENGATE_WEBHOOK_URL", e.reason))?
            .settings(settings.clone())
            .api_config(self.api_config()?);
        tracing::info!(
            url = %hook.redacted_url(),
            events = %hook.events().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            consumer = %dispatcher.consumer(),
            "webhook configured"
        );
        Ok(Some(dispatcher.spawn()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_vars(vars: &[(&str, &str)]) -> Result<Option<Webhook>, EnvError> {
        parse_all(vars).map(|parsed| parsed.map(|p| p.webhook))
    }

    fn parse_all(vars: &[(&str, &str)]) -> Result<Option<EnvWebhook>, EnvError> {
        parse(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    const KEY: (&str, &str) = ("TOKENGATE_WEBHOOK_KEY", "0123456789abcdef");

    #[test]
    fn one_webhook_from_the_environment() {
        assert!(parse_vars(&[]).unwrap().is_none());
        let hook = parse_vars(&[("TOKENGATE_WEBHOOK_URL", "https://h.example/x"), KEY])
            .unwrap()
            .unwrap();
        assert_eq!(hook.id(), ENV_WEBHOOK_ID);
        assert_eq!(hook.events()[0].as_str(), "users.*");
        let hook = parse_vars(&[
            ("TOKENGATE_WEBHOOK_URL", "http://127.0.0.1:9/x"),
            KEY,
            ("TOKENGATE_WEBHOOK_EVENTS", "users.*.sessions.*.delete, users.*.delete"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(hook.events().len(), 2);
        let lan = [("TOKENGATE_WEBHOOK_URL", "http://10.0.0.2/x"), KEY];
        assert!(parse_vars(&lan).is_err());
        let allowed = [lan[0], lan[1], ("TOKENGATE_WEBHOOK_ALLOW_HTTP", "1")];
        assert!(parse_vars(&allowed).unwrap().is_some());
        let url = ("TOKENGATE_WEBHOOK_URL", "https://h.example/x");
        let parsed = parse_all(&[url, KEY]).unwrap().unwrap();
        assert_eq!(parsed.settings, DispatcherSettings::default());
        let parsed = parse_all(&[url, KEY, ("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS", "5000")])
            .unwrap()
            .unwrap();
        assert_eq!(parsed.settings.claim_timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_variable() {
        let url = ("TOKENGATE_WEBHOOK_URL", "https://h.example/x");
        for (vars, variable) in [
            (vec![KEY], "TOKENGATE_WEBHOOK_KEY"),
            (
                vec![("TOKENGATE_WEBHOOK_EVENTS", "users.*")],
                "TOKENGATE_WEBHOOK_EVENTS",
            ),
            (vec![url], "TOKENGATE_WEBHOOK_KEY"),
            (vec![url, ("TOKENGATE_WEBHOOK_KEY", "short")], "TOKENGATE_WEBHOOK_KEY"),
            (
                vec![url, KEY, ("TOKENGATE_WEBHOOK_EVENTS", "teams.*")],
                "TOKENGATE_WEBHOOK_EVENTS",
            ),
            (
                vec![("TOKENGATE_WEBHOOK_URL", "http://h.example/x"), KEY],
                "TOKENGATE_WEBHOOK_URL",
            ),
            (
                vec![("TOKENGATE_WEBHOOK_URL", "ftp://h.example/x"), KEY],
                "TOKENGATE_WEBHOOK_URL",
            ),
            (
                vec![url, KEY, ("TOKENGATE_WEBHOOK_ALLOW_HTTP", "yes")],
                "TOKENGATE_WEBHOOK_ALLOW_HTTP",
            ),
            (
                vec![url, KEY, ("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS", "10")],
                "TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS",
            ),
            (
                vec![("TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS", "5000")],
                "TOKENGATE_WEBHOOK_CLAIM_TIMEOUT_MS",
            ),
        ] {
            let err = parse_vars(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}: {err}");
        }
    }
}
