//! Webhook subscriptions: an organization's receiver of the event log,
//! delivered as the Standard Webhooks spec describes. The rules live here:
//! what a subscription accepts (URL, event types, secret), its status
//! machine, and when a failed delivery is tried again.

use crate::events::EventType;
use crate::ids::OrganizationId;
use crate::validation::Errors;
use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::ids::WebhookId;

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Deliveries run.
    Active,
    /// Deliveries stopped: the receiver answered 410 Gone, or every attempt of the retry schedule
    /// failed. A replay makes it active again.
    Disabled,
    /// Deleted by an admin: no deliveries, and the API no longer shows it.
    Deleted,
}

impl WebhookStatus {
    pub const ALL: [WebhookStatus; 3] = [Self::Active, Self::Disabled, Self::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// The statuses a subscription may move to from this one.
    pub fn allowed_next(self) -> &'static [WebhookStatus] {
        match self {
            Self::Active => &[Self::Disabled, Self::Deleted],
            Self::Disabled => &[Self::Active, Self::Deleted],
            Self::Deleted => &[],
        }
    }

    /// Refuses a move the status machine does not allow.
    pub fn check_transition(self, to: WebhookStatus) -> Result<(), DomainError> {
        if self.allowed_next().contains(&to) {
            Ok(())
        } else {
            Err(DomainError::InvalidTransition {
                from: self.as_str().to_owned(),
                to: to.as_str().to_owned(),
                allowed: self.allowed_next().iter().map(|s| s.as_str().to_owned()).collect(),
            })
        }
    }
}

/// A webhook subscription as the API shows it. Its secret is shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: WebhookId,
    /// Events of this organization's read scope are delivered: its own, its descendants', and
    /// those of networks it or a descendant is a member of — what a reader token of the
    /// organization sees in `GET /v1/events`.
    pub organization_id: OrganizationId,
    #[cfg_attr(feature = "openapi", schema(example = "https://kommun.example.se/planledger-hook"))]
    pub url: String,
    /// The event types delivered; empty: all.
    #[cfg_attr(feature = "openapi", schema(example = json!(["plan.status_changed"])))]
    pub types: Vec<String>,
    pub status: WebhookStatus,
    /// Why the subscription was disabled; null while it is active.
    pub disabled_reason: Option<String>,
    /// The cursor: the seq of the last event delivered (or passed over as not matching). The next
    /// delivery is the first matching event after it.
    pub last_delivered_seq: i64,
    /// Failed attempts at delivering the next event; 0 when the last attempt succeeded.
    pub failed_attempts: i32,
    /// When the next attempt is due after a failure; null when it is made as soon as an event arrives.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Counts every change an admin or the delivery worker's disabling made; part of the `ETag`.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// Moves to `to`, counting the change.
    pub fn change_status(
        &mut self,
        to: WebhookStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        self.status.check_transition(to)?;
        self.status = to;
        self.disabled_reason = if to == WebhookStatus::Disabled { reason } else { None };
        self.next_attempt_at = None;
        self.revision += 1;
        self.updated_at = now;
        Ok(())
    }

    /// Sets the cursor back (or forward) so that the events after `after` are delivered again,
    /// and makes a disabled subscription active. Answers the status it had.
    pub fn replay(&mut self, after: i64, now: DateTime<Utc>) -> Result<WebhookStatus, DomainError> {
        let before = self.status;
        if before != WebhookStatus::Active {
            self.change_status(WebhookStatus::Active, None, now)?;
        } else {
            self.revision += 1;
            self.updated_at = now;
        }
        self.last_delivered_seq = after;
        self.failed_attempts = 0;
        self.next_attempt_at = None;
        Ok(before)
    }
}

/// The answer of `POST /v1/webhooks`: the subscription and its secret, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`). Store it now: no answer shows it again.
    pub secret: String,
}

/// Body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub organization_id: OrganizationId,
    /// An `http` or `https` URL that takes the deliveries as `POST`.
    #[cfg_attr(feature = "openapi", schema(example = "https://kommun.example.se/planledger-hook"))]
    pub url: String,
    /// Event types to deliver (`plan.status_changed`, …); empty or absent: all.
    #[serde(default)]
    pub types: Vec<String>,
    /// The signing secret, `whsec_` and the base64 of 24 to 64 random bytes; absent: one is made.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Longest URL accepted.
pub const MAX_URL: usize = 2000;
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

impl NewWebhook {
    /// Checks the request and makes the subscription; the secret comes back separately, as the
    /// subscription never shows it. `make_secret` is called when none was given.
    pub fn into_webhook(
        self,
        now: DateTime<Utc>,
        make_secret: impl FnOnce() -> String,
    ) -> Result<(Webhook, String), DomainError> {
        let mut errors = Errors::new();
        let url = self.url.trim().to_owned();
        if let Err(message) = check_url(&url) {
            errors.add("url", message);
        }
        let mut types: Vec<String> = Vec::new();
        for (index, text) in self.types.iter().enumerate() {
            match EventType::parse(text.trim()) {
                Some(event_type) => {
                    let name = event_type.to_string();
                    if !types.contains(&name) {
                        types.push(name);
                    }
                }
                None => errors.add(format!("types[{index}]"), "is not a known event type"),
            }
        }
        if let Some(secret) = &self.secret {
            if signing_key(secret).is_none() {
                errors.add(
                    "secret",
                    "must be whsec_ followed by the base64 of 24 to 64 bytes (or left out to have one made)",
                );
            }
        }
        errors.finish()?;
        let secret = self.secret.unwrap_or_else(make_secret);
        let webhook = Webhook {
            id: WebhookId::generate(),
            organization_id: self.organization_id,
            url,
            types,
            status: WebhookStatus::Active,
            disabled_reason: None,
            last_delivered_seq: 0,
            failed_attempts: 0,
            next_attempt_at: None,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        Ok((webhook, secret))
    }
}

/// An `http` or `https` URL with a host: no credentials in it, no white space or control characters.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    if url.is_empty() {
        return Err("must not be empty");
    }
    if url.chars().count() > MAX_URL {
        return Err("must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters");
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url["https://".len()..]
    } else if lower.starts_with("http://") {
        &url["http://".len()..]
    } else {
        return Err("must be an http or https URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not carry credentials; the signature authenticates deliveries");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:8080`.
        match bracketed.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err("has an unclosed IPv6 address"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("must name a host");
    }
    if let Some(port) = port {
        if !port.is_empty() && !port.parse::<u16>().is_ok_and(|port| port > 0) {
            return Err("has a port that is not a number from 1 to 65535");
        }
    }
    Ok(())
}

/// The HMAC key of a Standard Webhooks secret: the base64-decoded part after `whsec_`, 24 to 64
/// bytes. `None` for anything else.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let key = decode_base64(secret.strip_prefix(SECRET_PREFIX)?)?;
    (24..=64).contains(&key.len()).then_some(key)
}

/// Decodes standard base64 (RFC 4648 §4), padded or not; `None` for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(byte: u8) -> Option<u32> {
        match byte {
            b'A'..=b'Z' => Some(u32::from(byte - b'A')),
            b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let trimmed = text.trim_end_matches('=');
    let padding = text.len() - trimmed.len();
    if padding > 2 || (padding > 0 && !text.len().is_multiple_of(4)) || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut bits = 0u32;
        for (index, &byte) in chunk.iter().enumerate() {
            bits |= value(byte)? << (18 - 6 * index);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Body of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliver again every matching event after this seq (0: the whole log); at most the log's head.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub after: i64,
}

/// One delivery attempt, as `GET /v1/webhooks/{id}/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    /// The event's seq.
    pub seq: i64,
    /// The event's id, sent as `webhook-id`.
    pub event_id: String,
    /// 1 for the first attempt at this event, counting up while attempts fail.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// `delivered` (a 2xx answer) or `failed`.
    #[cfg_attr(feature = "openapi", schema(example = "delivered"))]
    pub outcome: String,
    /// The receiver's HTTP status, when it answered.
    pub response_status: Option<i32>,
    /// What went wrong, when the attempt failed.
    pub error: Option<String>,
    /// When the next attempt at this event is due, after a failure that will be retried.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The Standard Webhooks retry schedule: the delays before attempts 1 to 8 (the first is made as
/// soon as the event is seen).
pub fn standard_retry_schedule() -> Vec<Duration> {
    [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// The most a receiver's `Retry-After` may hold deliveries back.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// When to try again after `failed` attempts at one event failed, or `None` when the schedule is
/// used up and the subscription is to be disabled. The schedule's delay is moved by up to ±20 %
/// (`jitter` from -1 to 1 picks where), so receivers that failed together are not hit together
/// again; a `Retry-After` the receiver sent wins when it is longer (up to a day).
pub fn retry_delay(schedule: &[Duration], failed: u32, jitter: f64, retry_after: Option<Duration>) -> Option<Duration> {
    let base = *schedule.get(usize::try_from(failed).ok()?)?;
    let delay = base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    Some(match retry_after {
        Some(asked) if asked > delay => asked.min(MAX_RETRY_AFTER),
        _ => delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn new(url: &str, types: &[&str], secret: Option<&str>) -> NewWebhook {
        NewWebhook {
            organization_id: OrganizationId::root(),
            url: url.into(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            secret: secret.map(str::to_owned),
        }
    }

    fn fields(error: DomainError) -> Vec<String> {
        match error {
            DomainError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        for good in [
            "https://kommun.example.se/hook",
            "http://127.0.0.1:8080/hook?x=1",
            "HTTPS://[::1]:443/",
            "https://hook.example",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "ftp://example.se/",
            "https://",
            "https:///path",
            "https://user:pw@example.se/",
            "https://example.se:99999/",
            "https://exa mple.se/",
            "javascript:alert(1)",
            "example.se/hook",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn types_must_be_known_and_are_kept_once() {
        let error = new("https://a.example/", &["plan.created", "plan.deleted"], None)
            .into_webhook(Utc::now(), || SECRET.into())
            .expect_err("unknown type");
        assert_eq!(fields(error), ["types[1]"]);
        let (webhook, _) = new(
            "https://a.example/",
            &["plan.created", "plan.created", "webhook.updated"],
            None,
        )
        .into_webhook(Utc::now(), || SECRET.into())
        .expect("valid");
        assert_eq!(webhook.types, ["plan.created", "webhook.updated"]);
    }

    #[test]
    fn a_secret_is_whsec_and_24_to_64_base64_bytes_or_made() {
        assert_eq!(signing_key(SECRET).map(|key| key.len()), Some(24));
        assert!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none(), "no prefix");
        assert!(signing_key("whsec_c2hvcnQ=").is_none(), "too short");
        assert!(signing_key("whsec_not base64 at all, not at all!!").is_none());
        let (_, made) = new("https://a.example/", &[], None)
            .into_webhook(Utc::now(), || SECRET.into())
            .expect("valid");
        assert_eq!(made, SECRET);
        let error = new("https://a.example/", &[], Some("whsec_x"))
            .into_webhook(Utc::now(), || SECRET.into())
            .expect_err("bad secret");
        assert_eq!(fields(error), ["secret"]);
    }

    #[test]
    fn base64_decodes_padded_and_unpadded() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("aGk===").is_none());
        assert!(decode_base64("aG=k").is_none());
    }

    #[test]
    fn the_status_machine_disables_reenables_and_deletes() {
        use WebhookStatus::*;
        assert!(Active.check_transition(Disabled).is_ok());
        assert!(Disabled.check_transition(Active).is_ok());
        assert!(Disabled.check_transition(Deleted).is_ok());
        assert!(Deleted.check_transition(Active).is_err());
        assert!(Active.check_transition(Active).is_err());
    }

    #[test]
    fn a_replay_sets_the_cursor_and_reenables() {
        let (mut webhook, _) = new("https://a.example/", &[], None)
            .into_webhook(Utc::now(), || SECRET.into())
            .expect("valid");
        webhook.last_delivered_seq = 40;
        webhook.failed_attempts = 8;
        webhook
            .change_status(WebhookStatus::Disabled, Some("410 Gone".into()), Utc::now())
            .expect("disable");
        assert_eq!(webhook.replay(12, Utc::now()).expect("replay"), WebhookStatus::Disabled);
        assert_eq!(webhook.status, WebhookStatus::Active);
        assert_eq!((webhook.last_delivered_seq, webhook.failed_attempts), (12, 0));
        assert_eq!(webhook.disabled_reason, None);
        assert_eq!(webhook.revision, 3);
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_retry_after() {
        let schedule = standard_retry_schedule();
        assert_eq!(schedule.len(), 8);
        assert_eq!(retry_delay(&schedule, 1, 0.0, None), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&schedule, 2, 1.0, None), Some(Duration::from_secs(360)));
        assert_eq!(retry_delay(&schedule, 2, -1.0, None), Some(Duration::from_secs(240)));
        assert_eq!(
            retry_delay(&schedule, 8, 0.0, None),
            None,
            "eight attempts, then disabled"
        );
        let asked = Some(Duration::from_secs(60));
        assert_eq!(retry_delay(&schedule, 1, 0.0, asked), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(&schedule, 2, 0.0, asked), Some(Duration::from_secs(300)));
        let forever = Some(Duration::from_secs(10 * 86_400));
        assert_eq!(retry_delay(&schedule, 1, 0.0, forever), Some(MAX_RETRY_AFTER));
    }
}
