//! The webhook delivery worker: a background task on the server's runtime
//! that delivers the event log to each subscription, per the Standard
//! Webhooks spec.
//!
//! The log is the outbox and every piece of delivery state is in the
//! database (see `planledger_persistence`'s webhooks): each poll asks which
//! subscriptions have an attempt due, takes a lease on each (so that no two
//! workers, in this process or another on the same PostgreSQL, deliver one
//! subscription at once), sends the next matching event after its cursor,
//! and records the outcome — the cursor moves on a 2xx only. A restart
//! resumes where the database says delivery stopped. Deliveries are at least
//! once: an attempt cut off by a stop is made again.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use planledger_domain::webhook::{retry_delay, signing_key, standard_retry_schedule, WebhookId};
use planledger_persistence::{AfterAttempt, AttemptReport, PendingDelivery, Store, StoreError};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How many subscriptions one worker delivers to at once (each in seq order, one attempt at a time).
const MAX_CONCURRENT: usize = 32;
/// How much of a failed answer's body is kept in the attempt's `error`.
const ERROR_BODY_CHARS: usize = 200;

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The delays before attempts 1, 2, … at one event; the first is made as soon as the event
    /// is seen, whatever its entry says. When the last attempt fails the subscription is disabled.
    pub retry_schedule: Vec<Duration>,
    /// How often the worker looks for events to deliver and retries that are due.
    pub poll_interval: Duration,
    /// How long one attempt may take, connecting and answering included.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    /// The Standard Webhooks schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), a
    /// poll every second, and 10 s per attempt.
    fn default() -> Self {
        Self {
            retry_schedule: standard_retry_schedule(),
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// How long a worker holds a subscription for one attempt (30 s for the default timeout):
    /// well past the attempt's own limit, so that a lease runs out only when its worker died.
    fn lease(&self) -> Duration {
        self.timeout.saturating_mul(3)
    }
}

/// Parses a duration: a whole number with a unit, `ms`, `s`, `m`, `h` or `d` (`0s`, `100ms`,
/// `5m`, `10h`); a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 0s, 100ms, 5m or 2h"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "d" => Duration::from_secs(number.saturating_mul(86_400)),
        _ => return Err(format!("{text:?} has an unknown unit; use ms, s, m, h or d")),
    };
    Ok(duration)
}

/// Parses a retry schedule: comma-separated durations, `0s,5s,5m,30m,2h,5h,10h,10h`.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let schedule = text
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if schedule.is_empty() {
        return Err("the retry schedule needs at least one entry, e.g. 0s,5s,5m,30m,2h,5h,10h,10h".into());
    }
    Ok(schedule)
}

/// The running worker. It stops when this is dropped — with the server, whose apps hold it.
pub struct WebhookWorker {
    _stop: watch::Sender<()>,
}

/// Starts the worker on the current Tokio runtime.
pub fn spawn(store: Store, settings: WebhookSettings) -> std::io::Result<WebhookWorker> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| std::io::Error::other("the webhook worker needs a Tokio runtime: start the server inside one"))?;
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect is an answer like any other that is not 2xx: it fails the attempt.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("planledger-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(std::io::Error::other)?;
    let worker = Arc::new(Worker {
        store,
        settings,
        client,
        owner: uuid::Uuid::new_v4().to_string(),
    });
    let (stop, stopped) = watch::channel(());
    runtime.spawn(run(worker, stopped));
    Ok(WebhookWorker { _stop: stop })
}

struct Worker {
    store: Store,
    settings: WebhookSettings,
    client: reqwest::Client,
    /// Names this worker's leases.
    owner: String,
}

/// Runs blocking store work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("the blocking pool failed: {e}")))?
}

async fn run(worker: Arc<Worker>, mut stopped: watch::Receiver<()>) {
    tracing::info!(owner = %worker.owner, "webhook worker started");
    let mut tasks = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, WebhookId> = HashMap::new();
    loop {
        let room = MAX_CONCURRENT.saturating_sub(in_flight.len());
        if room > 0 {
            let store = worker.store.clone();
            let limit = i64::try_from(MAX_CONCURRENT).unwrap_or(32);
            match blocking(move || store.due_webhooks(planledger_persistence::now(), limit)).await {
                Ok(due) => {
                    let busy: HashSet<&WebhookId> = in_flight.values().collect();
                    let fresh: Vec<WebhookId> = due.into_iter().filter(|id| !busy.contains(id)).take(room).collect();
                    for id in fresh {
                        let task = tasks.spawn(deliver(worker.clone(), id.clone()));
                        in_flight.insert(task.id(), id);
                    }
                }
                Err(error) => tracing::warn!(%error, "webhook worker: cannot read due subscriptions"),
            }
        }
        tokio::select! {
            _ = stopped.changed() => break,
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(error) => {
                        tracing::error!(%error, "webhook delivery task failed");
                        error.id()
                    }
                };
                in_flight.remove(&id);
            }
            () = tokio::time::sleep(worker.settings.poll_interval) => {}
        }
    }
    // Attempts under way are cut off; their leases are let go, and they are made again.
    tasks.shutdown().await;
    tracing::info!(owner = %worker.owner, "webhook worker stopped");
}

/// Lets go of a lease when an attempt is cut off before its outcome was recorded.
struct LeaseGuard {
    store: Store,
    id: WebhookId,
    owner: String,
    held: bool,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.held {
            // Blocking, but one short UPDATE, and only when an attempt is abandoned (at shutdown).
            if let Err(error) = self.store.release_webhook(&self.id, &self.owner) {
                tracing::warn!(%error, webhook = %self.id, "cannot let go of a webhook lease; it runs out by itself");
            }
        }
    }
}

/// Delivers one subscription's events in seq order until one fails or none is left.
async fn deliver(worker: Arc<Worker>, id: WebhookId) {
    loop {
        let (store, lease_id, owner, lease) = (
            worker.store.clone(),
            id.clone(),
            worker.owner.clone(),
            worker.settings.lease(),
        );
        let pending = blocking(move || store.next_delivery(&lease_id, &owner, planledger_persistence::now(), lease));
        let pending = match pending.await {
            Ok(Some(pending)) => pending,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, webhook = %id, "webhook worker: cannot take the next delivery");
                return;
            }
        };
        let mut guard = LeaseGuard {
            store: worker.store.clone(),
            id: id.clone(),
            owner: worker.owner.clone(),
            held: true,
        };
        let report = attempt(&worker, &pending).await;
        log_attempt(&pending, &report);
        let delivered = report.next == AfterAttempt::Delivered;
        let (store, owner) = (worker.store.clone(), worker.owner.clone());
        // From here the blocking pool records the outcome and lets the lease go, even if this
        // task is cut off while it waits; letting go here too would race that record.
        guard.held = false;
        match blocking(move || store.finish_delivery(&pending, &owner, &report)).await {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, webhook = %id, "webhook worker: cannot record an attempt; it will be made again");
                return;
            }
        }
        if !delivered {
            return;
        }
    }
}

fn log_attempt(pending: &PendingDelivery, report: &AttemptReport) {
    let (webhook, seq, attempt) = (&pending.webhook_id, pending.event.seq, pending.attempt);
    match &report.next {
        AfterAttempt::Delivered => tracing::debug!(%webhook, seq, attempt, "webhook delivered"),
        AfterAttempt::RetryAt(at) => {
            tracing::info!(%webhook, seq, attempt, error = ?report.error, retry_at = %at, "webhook delivery failed")
        }
        AfterAttempt::Disable(reason) => tracing::warn!(%webhook, seq, attempt, %reason, "webhook disabled"),
    }
}

/// Makes one attempt and decides what follows it.
async fn attempt(worker: &Worker, pending: &PendingDelivery) -> AttemptReport {
    let started_at = planledger_persistence::now();
    let clock = Instant::now();
    let report = |response_status: Option<u16>, error: Option<String>, next: AfterAttempt| AttemptReport {
        started_at,
        duration_ms: i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX),
        response_status: response_status.map(i32::from),
        error,
        next,
    };
    let (body, signature) = match signed(pending, started_at.timestamp()) {
        Ok(signed) => signed,
        Err(problem) => {
            return report(None, Some(problem.clone()), AfterAttempt::Disable(problem));
        }
    };
    let sent = worker
        .client
        .post(&pending.url)
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", pending.event.id.as_str())
        .header("webhook-timestamp", started_at.timestamp().to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let (status, error, retry_after) = match sent {
        Ok(response) if response.status().is_success() => {
            return report(Some(response.status().as_u16()), None, AfterAttempt::Delivered);
        }
        Ok(response) if response.status() == StatusCode::GONE => {
            let reason = "the receiver answered 410 Gone".to_owned();
            return report(Some(410), Some(reason.clone()), AfterAttempt::Disable(reason));
        }
        Ok(response) => {
            let status = response.status();
            let retry_after = match status {
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => retry_after(response.headers()),
                _ => None,
            };
            let error = match body_start(response).await {
                text if text.is_empty() => format!("HTTP {status}"),
                text => format!("HTTP {status}: {text}"),
            };
            (Some(status.as_u16()), error, retry_after)
        }
        Err(error) => (None, describe(&error, worker.settings.timeout), None),
    };
    let failed = u32::try_from(pending.attempt).unwrap_or(u32::MAX);
    let next = match retry_delay(&worker.settings.retry_schedule, failed, jitter(), retry_after) {
        Some(delay) => AfterAttempt::RetryAt(
            planledger_persistence::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)),
        ),
        None => AfterAttempt::Disable(format!(
            "all {failed} attempts to deliver event seq {} failed; the last: {error}",
            pending.event.seq
        )),
    };
    report(status, Some(error), next)
}

/// The body (the event as `GET /v1/events` shows it) and its `webhook-signature`.
fn signed(pending: &PendingDelivery, timestamp: i64) -> Result<(Vec<u8>, String), String> {
    let body = serde_json::to_vec(&pending.event).map_err(|e| format!("the event does not serialize: {e}"))?;
    let key = signing_key(&pending.secret).ok_or_else(|| "the stored signing secret is unusable".to_owned())?;
    let signature = sign(&key, pending.event.id.as_str(), timestamp, &body)?;
    Ok((body, signature))
}

/// `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, as Standard Webhooks signs.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| format!("bad HMAC key: {e}"))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

/// A `Retry-After` in seconds or as an HTTP date, from now.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok()
}

/// The start of a failed answer's body, for the attempt's record.
async fn body_start(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(ERROR_BODY_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A failed request in a line: what failed and why, down to the root cause.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A number from -1 to 1, to spread retries.
fn jitter() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let random = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(random) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_schedules_parse() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(
            parse_schedule("0s,5s,5m,30m,2h,5h,10h,10h"),
            Ok(standard_retry_schedule())
        );
        assert!(parse_schedule(" , ").is_err());
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks reference libraries.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let signature = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("signed");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "120".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(600)).to_rfc2822();
        headers.insert(RETRY_AFTER, later.parse().expect("header"));
        let parsed = retry_after(&headers).expect("a date");
        assert!(parsed > Duration::from_secs(590) && parsed <= Duration::from_secs(600));
    }
}
