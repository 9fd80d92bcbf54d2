//! [`WebhookDispatcher`]: one task per webhook, reading the webhook's
//! consumer group, delivering, retrying, dead-lettering.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::request::Delivery;
use super::settings::DispatcherSettings;
use super::{Webhook, WebhookError};
use tokengate::api::ApiConfig;
use tokengate::events::Event;
use tokengate::StoreError;

use crate::log::{EventLog, LoggedEvent};

/// Delivers the events of an [`EventLog`] to webhooks. See the
/// [module](super) for what it sends and what order holds.
///
/// ```no_run
/// # async fn run(log: std::sync::Arc<dyn tokengate_events::EventLog>) {
/// use tokengate_events::webhooks::{Webhook, WebhookDispatcher};
/// let hook = Webhook::builder("audit", "https://hooks.example.com/tokengate")
///     .signature_key("a-signature-key-of-some-length")
///     .events(["users.*"])
///     .build()
///     .unwrap();
/// let handle = WebhookDispatcher::new(log, "default", vec![hook]).unwrap().spawn();
/// // … serve …
/// handle.shutdown().await;
/// # }
/// ```
#[derive(Debug)]
pub struct WebhookDispatcher {
    log: Arc<dyn EventLog>,
    project: HeaderValue,
    webhooks: Vec<Webhook>,
    settings: DispatcherSettings,
    config: Arc<ApiConfig>,
    consumer: String,
    client: reqwest::Client,
}

impl WebhookDispatcher {
    /// A dispatcher of `log`'s events to `webhooks`, for project `project`
    /// (`X-Appwrite-Webhook-Project-Id`). Refuses duplicate webhook ids.
    pub fn new(log: Arc<dyn EventLog>, project: &str, webhooks: Vec<Webhook>) -> Result<Self, WebhookError> {
        let project = HeaderValue::from_str(project)
            .ok()
            .filter(|_| !project.is_empty())
            .ok_or_else(|| WebhookError::new("", "the project id must be printable ASCII"))?;
        for (i, hook) in webhooks.iter().enumerate() {
            if webhooks[..i].iter().any(|other| other.id() == hook.id()) {
                return Err(WebhookError::new(hook.id(), "two webhooks with the same id"));
            }
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebhookError::new("", format!("cannot build the HTTP client: {e}")))?;
        Ok(WebhookDispatcher {
            log,
            project,
            webhooks,
            settings: DispatcherSettings::default(),
            config: Arc::new(ApiConfig::default()),
            consumer: default_consumer_name(),
            client,
        })
    }

    /// Replaces the settings.
    #[must_use]
    pub fn settings(mut self, settings: DispatcherSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The endpoints' settings, for the Session model's derived fields (the
    /// GeoIP database behind `countryCode`); default: none.
    #[must_use]
    pub fn api_config(mut self, config: ApiConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// Names this dispatcher in the consumer groups (default
    /// `<hostname>/<pid>/<random>`, unique per process). Two running
    /// dispatchers must not share a name.
    #[must_use]
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// The name this dispatcher reads under.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The webhooks it delivers to.
    pub fn webhooks(&self) -> &[Webhook] {
        &self.webhooks
    }

    /// Starts one task per webhook on the current tokio runtime. The
    /// returned handle stops them when dropped or
    /// [shut down](DispatcherHandle::shutdown).
    pub fn spawn(self) -> DispatcherHandle {
        let (stop, stopped) = watch::channel(false);
        let tasks = self
            .webhooks
            .iter()
            .map(|hook| {
                let worker = Worker {
                    log: Arc::clone(&self.log),
                    group: hook.group(),
                    hook: hook.clone(),
                    consumer: self.consumer.clone(),
                    settings: self.settings.clone(),
                    project: self.project.clone(),
                    config: Arc::clone(&self.config),
                    client: self.client.clone(),
                    stop: stopped.clone(),
                    tries: HashMap::new(),
                    stats_at: None,
                };
                tokio::spawn(worker.run())
            })
            .collect();
        tracing::info!(consumer = %self.consumer, webhooks = self.webhooks.len(), "webhook dispatcher started");
        DispatcherHandle { stop, tasks }
    }
}

/// `<hostname>/<pid>/<8 hex>`.
fn default_consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random: [u8; 4] = rand::random();
    format!("{host}/{}/{}", std::process::id(), hex::encode(random))
}

/// Stops the dispatcher's tasks: at once when dropped (an attempt in
/// flight is abandoned; its event is delivered again later), or after the
/// attempt in flight with [`shutdown`](DispatcherHandle::shutdown).
#[derive(Debug)]
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DispatcherHandle {
    /// Stops the tasks and waits for them (at most the HTTP timeout, for an
    /// attempt in flight).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// An entry this worker holds, and since when (the log's idle clock for
/// it started then).
struct Held {
    entry: LoggedEvent,
    since: Instant,
}

/// The attempts made here on one event and the last error.
struct Tries {
    attempts: u32,
    error: String,
}

/// One webhook's loop.
struct Worker {
    log: Arc<dyn EventLog>,
    hook: Webhook,
    group: String,
    consumer: String,
    settings: DispatcherSettings,
    project: HeaderValue,
    config: Arc<ApiConfig>,
    client: reqwest::Client,
    stop: watch::Receiver<bool>,
    tries: HashMap<String, Tries>,
    stats_at: Option<Instant>,
}

/// Bound of the per-event attempt memory (entries taken over by another
/// dispatcher are never removed otherwise).
const MAX_REMEMBERED: usize = 10_000;

impl Worker {
    async fn run(mut self) {
        let mut held: VecDeque<Held> = VecDeque::new();
        while !self.stopped() {
            self.report_stats().await;
            let Some(head) = held.front() else {
                match self.fetch().await {
                    Ok(entries) => {
                        let since = Instant::now();
                        held.extend(entries.into_iter().map(|entry| Held { entry, since }));
                    }
                    Err(error) => {
                        tracing::warn!(webhook = %self.hook.id(), %error, "cannot read the event log");
                        self.pause(self.settings.backoff_base.max(Duration::from_millis(100)))
                            .await;
                    }
                }
                continue;
            };
            // Held close to the claim timeout, an entry may be taken over by
            // another dispatcher: let everything go, wait until the log hands
            // it out again (to whoever claims first), in order.
            if head.since.elapsed() >= self.ownership() {
                let claimable = head.since + self.settings.claim_timeout + Duration::from_millis(50);
                held.clear();
                self.pause(claimable.saturating_duration_since(Instant::now())).await;
                continue;
            }
            let entry = head.entry.clone();
            let id = entry.event.id.clone();
            if !self.hook.matches(&entry.event) {
                self.ack(&id).await;
                held.pop_front();
                continue;
            }
            let before = self.attempts(&entry);
            if before >= self.settings.max_attempts {
                if self.dead_letter(&entry, before).await {
                    held.pop_front();
                } else {
                    self.pause(self.settings.backoff_base).await;
                }
                continue;
            }
            match self.deliver(&entry.event).await {
                Ok(()) => {
                    self.ack(&id).await;
                    self.tries.remove(&id);
                    held.pop_front();
                    self.count("delivered");
                }
                Err(error) => {
                    let attempts = before + 1;
                    tracing::warn!(
                        webhook = %self.hook.id(),
                        event = %id,
                        attempt = attempts,
                        %error,
                        "webhook delivery failed"
                    );
                    if self.tries.len() >= MAX_REMEMBERED {
                        self.tries.clear();
                    }
                    self.tries.insert(id, Tries { attempts, error });
                    if attempts < self.settings.max_attempts {
                        self.count("retried");
                        let mut wait = self.settings.backoff_after(attempts);
                        let since = held.front().map_or_else(Instant::now, |h| h.since);
                        if Instant::now() + wait >= since + self.ownership() {
                            // Past our ownership: let go, and take nothing
                            // new before the log hands these out again.
                            held.clear();
                            let claimable = since + self.settings.claim_timeout + Duration::from_millis(50);
                            wait = wait.max(claimable.saturating_duration_since(Instant::now()));
                        }
                        self.pause(wait).await;
                    }
                }
            }
        }
    }

    /// How long this worker acts on an entry it holds: three quarters of
    /// the claim timeout, so that it never races a dispatcher claiming it.
    fn ownership(&self) -> Duration {
        self.settings.claim_timeout.mul_f64(0.75)
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits `duration`, or less if stopped.
    async fn pause(&mut self, duration: Duration) {
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            _ = self.stop.changed() => {}
        }
    }

    /// Attempts already made on `entry`: those made here, or at least one
    /// per earlier hand-over by the log (attempts at a dispatcher that died
    /// count once each).
    fn attempts(&self, entry: &LoggedEvent) -> u32 {
        let here = self.tries.get(&entry.event.id).map_or(0, |t| t.attempts);
        let elsewhere = u32::try_from(entry.deliveries.saturating_sub(1)).unwrap_or(u32::MAX);
        here.max(elsewhere)
    }

    /// Stale entries of the group first (a dead dispatcher's, or ours let
    /// go), then new ones.
    async fn fetch(&mut self) -> Result<Vec<LoggedEvent>, StoreError> {
        let (group, consumer, batch) = (&self.group, &self.consumer, self.settings.batch);
        let stale = self
            .log
            .claim_stale(group, consumer, self.settings.claim_timeout, batch)
            .await?;
        if !stale.is_empty() {
            return Ok(stale);
        }
        let read = self.log.read_group(group, consumer, batch, self.settings.poll_interval);
        tokio::select! {
            result = read => result,
            _ = self.stop.changed() => Ok(Vec::new()),
        }
    }

    /// Acknowledges `id`, trying three times (an entry left pending is
    /// delivered again after the claim timeout).
    async fn ack(&self, id: &str) {
        let ids = [id.to_owned()];
        for attempt in 1..=3u64 {
            match self.log.ack(&self.group, &ids).await {
                Ok(()) => return,
                Err(error) if attempt == 3 => {
                    tracing::warn!(webhook = %self.hook.id(), event = %id, %error, "cannot acknowledge a delivered event; it will be delivered again");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * attempt)).await,
            }
        }
    }

    /// Moves `entry` to the dead-letter log; false if the log failed.
    async fn dead_letter(&mut self, entry: &LoggedEvent, attempts: u32) -> bool {
        let id = &entry.event.id;
        let last = self
            .tries
            .get(id)
            .map_or_else(|| "failed at another dispatcher".to_owned(), |t| t.error.clone());
        let reason = format!("{attempts} attempts; last error: {last}");
        if let Err(error) = self.log.dead_letter(&self.group, entry, &reason).await {
            tracing::warn!(webhook = %self.hook.id(), event = %id, %error, "cannot dead-letter an event");
            return false;
        }
        tracing::error!(
            webhook = %self.hook.id(),
            url = %self.hook.redacted_url(),
            event = %id,
            name = %entry.event.name(),
            attempts,
            error = %last,
            "webhook delivery gave up: event moved to the dead-letter log"
        );
        self.tries.remove(id);
        self.count("dead_lettered");
        true
    }

    /// One POST; a 2xx is success, anything else (another status, a
    /// timeout, a refused connection) an error.
    async fn deliver(&self, event: &Event) -> Result<(), String> {
        let delivery = Delivery::new(&self.hook, &self.project, event, &self.config);
        let mut request = self
            .client
            .post(self.hook.parsed_url().clone())
            .timeout(self.settings.http_timeout)
            .body(delivery.body);
        for (name, value) in delivery.headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(error) => Err(error.without_url().to_string()),
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(
            "tokengate_webhook_deliveries_total",
            "outcome" => outcome,
            "webhook" => self.hook.id().to_owned()
        )
        .increment(1);
    }

    /// The oldest undelivered event's age, at most once a second.
    async fn report_stats(&mut self) {
        if self.stats_at.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.stats_at = Some(Instant::now());
        match self.log.stats(&self.group).await {
            Ok(stats) => metrics::gauge!(
                "tokengate_webhook_oldest_undelivered_seconds",
                "webhook" => self.hook.id().to_owned()
            )
            .set(stats.oldest_unacknowledged.as_secs_f64()),
            Err(error) => tracing::debug!(webhook = %self.hook.id(), %error, "cannot read the event log's stats"),
        }
    }
}
