//! Webhook subscriptions: create, list, read, delete and replay by an admin —
//! each write with its event — and what the delivery worker needs: the
//! subscriptions that are due, a lease on one while an attempt runs, the next
//! event it is to get, and the attempt's outcome.
//!
//! The event log is the outbox. A subscription's cursor (`last_delivered_seq`)
//! moves only when the receiver answered 2xx (or past events it does not take),
//! so every matching event is delivered at least once and in seq order. The
//! delivery bookkeeping (cursor, attempt count, attempts) is not a change of
//! the resource and appends no event: an event per delivery would itself be
//! delivered, without end. Disabling the subscription is a status change and
//! appends `webhook.status_changed`.

use crate::access::{self, Caller, ListScope};
use crate::db::{DbConnection, Store};
use crate::error::StoreError;
use crate::events::EventFilter;
use crate::organizations::{self, check_revision};
use crate::pagination::{Page, PageRequest};
use crate::rows::utc;
use crate::schema::{webhook_deliveries, webhooks};
use crate::work::{About, Work};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use planledger_domain::events::{EntityType, Event, EventAction};
use planledger_domain::ids::OrganizationId;
use planledger_domain::permissions::{Action, Denial, Principal, Role, Visibility};
use planledger_domain::webhook::{
    IssuedWebhook, NewWebhook, Webhook, WebhookDelivery, WebhookId, WebhookStatus, SECRET_PREFIX,
};
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: String,
    organization_id: String,
    url: String,
    event_types: String,
    secret: String,
    status: String,
    disabled_reason: Option<String>,
    last_delivered_seq: i64,
    failed_attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    leased_until: Option<NaiveDateTime>,
    lease_owner: Option<String>,
    revision: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl WebhookRow {
    fn new(webhook: &Webhook, secret: String) -> Result<Self, StoreError> {
        Ok(Self {
            id: webhook.id.to_string(),
            organization_id: webhook.organization_id.to_string(),
            url: webhook.url.clone(),
            event_types: serde_json::to_string(&webhook.types)?,
            secret,
            status: webhook.status.as_str().to_owned(),
            disabled_reason: webhook.disabled_reason.clone(),
            last_delivered_seq: webhook.last_delivered_seq,
            failed_attempts: webhook.failed_attempts,
            next_attempt_at: webhook.next_attempt_at.map(|at| at.naive_utc()),
            leased_until: None,
            lease_owner: None,
            revision: webhook.revision,
            created_at: webhook.created_at.naive_utc(),
            updated_at: webhook.updated_at.naive_utc(),
        })
    }

    fn into_domain(self) -> Result<Webhook, StoreError> {
        Ok(Webhook {
            status: WebhookStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown webhook status {:?}", self.status)))?,
            id: WebhookId::from_stored(self.id),
            organization_id: OrganizationId::from_stored(self.organization_id),
            url: self.url,
            types: serde_json::from_str(&self.event_types)?,
            disabled_reason: self.disabled_reason,
            last_delivered_seq: self.last_delivered_seq,
            failed_attempts: self.failed_attempts,
            next_attempt_at: self.next_attempt_at.map(utc),
            revision: self.revision,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

/// What an admin's change or the worker's disabling writes; never the lease, which belongs to
/// the worker holding it.
#[derive(AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true)]
struct WebhookChanges {
    status: String,
    disabled_reason: Option<String>,
    last_delivered_seq: i64,
    failed_attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    revision: i64,
    updated_at: NaiveDateTime,
}

impl WebhookChanges {
    fn of(webhook: &Webhook) -> Self {
        Self {
            status: webhook.status.as_str().to_owned(),
            disabled_reason: webhook.disabled_reason.clone(),
            last_delivered_seq: webhook.last_delivered_seq,
            failed_attempts: webhook.failed_attempts,
            next_attempt_at: webhook.next_attempt_at.map(|at| at.naive_utc()),
            revision: webhook.revision,
            updated_at: webhook.updated_at.naive_utc(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: String,
    webhook_id: String,
    seq: i64,
    event_id: String,
    attempt: i32,
    started_at: NaiveDateTime,
    duration_ms: i64,
    outcome: String,
    response_status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<NaiveDateTime>,
}

impl DeliveryRow {
    fn into_domain(self) -> WebhookDelivery {
        WebhookDelivery {
            id: self.id,
            seq: self.seq,
            event_id: self.event_id,
            attempt: self.attempt,
            started_at: utc(self.started_at),
            duration_ms: self.duration_ms,
            outcome: self.outcome,
            response_status: self.response_status,
            error: self.error,
            next_attempt_at: self.next_attempt_at.map(utc),
        }
    }
}

/// A delivery the worker is to attempt, under the lease it took: the event, and where and how
/// to send it.
#[derive(Clone)]
pub struct PendingDelivery {
    pub webhook_id: WebhookId,
    pub url: String,
    /// The signing secret, `whsec_…`.
    pub secret: String,
    /// Which attempt at this event this is: 1 for the first.
    pub attempt: i32,
    pub event: Event,
    /// The subscription's revision and cursor when the lease was taken: when they or the attempt
    /// count changed since (an admin's replay or delete, or another worker's attempt after this
    /// one's lease was lost), this attempt's outcome changes nothing but the attempts' record.
    revision: i64,
    cursor: i64,
}

impl std::fmt::Debug for PendingDelivery {
    /// Everything but the secret, which must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("webhook_id", &self.webhook_id)
            .field("url", &self.url)
            .field("attempt", &self.attempt)
            .field("seq", &self.event.seq)
            .finish_non_exhaustive()
    }
}

/// What follows an attempt, as the worker decided it from the answer and the retry schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterAttempt {
    /// A 2xx answer: the cursor moves past the event.
    Delivered,
    /// A failure with attempts left: try again at this time.
    RetryAt(DateTime<Utc>),
    /// A 410 Gone, or the last attempt of the schedule failed: stop, for this reason.
    Disable(String),
}

/// One attempt, as it went.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// The receiver's HTTP status, when it answered.
    pub response_status: Option<i32>,
    /// What went wrong, when the attempt failed.
    pub error: Option<String>,
    pub next: AfterAttempt,
}

/// A new secret: `whsec_` and the base64 of 32 bytes, 244 of them random bits from two version-4 UUIDs.
fn new_secret() -> String {
    let mut key = uuid::Uuid::new_v4().into_bytes().to_vec();
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn about(webhook: &Webhook) -> About<'_> {
    About {
        entity: EntityType::Webhook,
        id: webhook.id.as_str(),
        organization_id: Some(&webhook.organization_id),
        plan_id: None,
    }
}

fn head_seq(conn: &mut DbConnection) -> Result<i64, StoreError> {
    crate::events::current_head_seq(conn)
}

fn load_row(conn: &mut DbConnection, id: &str) -> Result<Option<WebhookRow>, StoreError> {
    Ok(webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?)
}

/// A subscription the caller administers; deleted ones and those outside its scope do not exist.
fn load_administered(conn: &mut DbConnection, caller: &Caller, id: &WebhookId) -> Result<WebhookRow, StoreError> {
    let row = load_row(conn, id.as_str())?
        .filter(|row| row.status != WebhookStatus::Deleted.as_str())
        .ok_or(StoreError::NotFound("webhook"))?;
    let target = access::administered_target(conn, &OrganizationId::from_stored(row.organization_id.clone()))?;
    caller.authorize(Action::Administer, &target, "webhook")?;
    Ok(row)
}

/// Lists of webhooks are for admins only.
fn require_admin(caller: &Caller) -> Result<(), StoreError> {
    if let Caller::Request { principal, .. } = caller {
        match principal {
            None => return Err(StoreError::Denied(Denial::Unauthenticated)),
            Some(principal) if !principal.has(Role::Admin) => return Err(StoreError::Denied(Denial::Forbidden)),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The conditions under which a worker may take a subscription: active, its next attempt due,
/// and no other worker's lease running.
macro_rules! takeable {
    ($query:expr, $now:expr) => {
        $query
            .filter(webhooks::status.eq(WebhookStatus::Active.as_str()))
            .filter(
                webhooks::next_attempt_at
                    .is_null()
                    .or(webhooks::next_attempt_at.le($now)),
            )
            .filter(webhooks::leased_until.is_null().or(webhooks::leased_until.lt($now)))
    };
}

impl Store {
    /// Creates a subscription (admin in the organization's scope) and answers its secret, this
    /// once. Deliveries start with the first event after the subscription's own `webhook.created`.
    pub fn create_webhook(&self, caller: &Caller, new: NewWebhook) -> Result<IssuedWebhook, StoreError> {
        self.write(|conn| {
            let (mut webhook, secret) = new.into_webhook(crate::now(), new_secret)?;
            if organizations::load(conn, &webhook.organization_id)?.is_none() {
                return Err(StoreError::invalid("organization_id", "is not a known organization"));
            }
            let target = access::target(conn, &webhook.organization_id, Visibility::Directory)?;
            caller.authorize(Action::Administer, &target, "organization")?;
            // Writers are serialized, so the created event is the one after the head.
            webhook.last_delivered_seq = head_seq(conn)? + 1;
            diesel::insert_into(webhooks::table)
                .values(WebhookRow::new(&webhook, secret.clone())?)
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now: webhook.created_at,
            };
            let event = work.record(about(&webhook), EventAction::Created, json!({ "snapshot": webhook }))?;
            if event.seq != webhook.last_delivered_seq {
                return Err(StoreError::Corrupt(format!(
                    "the log head moved during a write: expected seq {}, got {}",
                    webhook.last_delivered_seq, event.seq
                )));
            }
            Ok(IssuedWebhook { webhook, secret })
        })
    }

    /// The subscriptions of the organizations the admin administers (never their secrets).
    pub fn webhooks(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Webhook>, StoreError> {
        require_admin(caller)?;
        self.read(|conn| {
            let mut query = webhooks::table
                .filter(webhooks::status.ne(WebhookStatus::Deleted.as_str()))
                .order(webhooks::id.asc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let ListScope::Limited { organizations, .. } = access::administered_list_scope(conn, caller)? {
                query = query.filter(webhooks::organization_id.eq_any(organizations));
            }
            if let Some(after) = page.after_key()? {
                query = query.filter(webhooks::id.gt(after));
            }
            let rows: Vec<WebhookRow> = query.select(WebhookRow::as_select()).load(conn)?;
            let items = rows
                .into_iter()
                .map(WebhookRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(items, |webhook| webhook.id.to_string()))
        })
    }

    /// One subscription (admin in its organization's scope).
    pub fn webhook(&self, caller: &Caller, id: &WebhookId) -> Result<Webhook, StoreError> {
        self.read(|conn| load_administered(conn, caller, id)?.into_domain())
    }

    /// Deletes a subscription: its deliveries stop, and the API no longer shows it. The row and
    /// its delivery attempts stay as history; the secret is wiped.
    pub fn delete_webhook(
        &self,
        caller: &Caller,
        id: &WebhookId,
        expected_revision: Option<i64>,
    ) -> Result<Webhook, StoreError> {
        self.write(|conn| {
            let mut webhook = load_administered(conn, caller, id)?.into_domain()?;
            check_revision(webhook.revision, expected_revision)?;
            let now = crate::now();
            let from = webhook.status;
            webhook.change_status(WebhookStatus::Deleted, None, now)?;
            diesel::update(webhooks::table.find(id.as_str()))
                .set((WebhookChanges::of(&webhook), webhooks::secret.eq("")))
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            let data = json!({ "from": from, "to": webhook.status, "reason": null, "snapshot": webhook });
            work.record(about(&webhook), EventAction::StatusChanged, data)?;
            Ok(webhook)
        })
    }

    /// Sets the cursor to `after`, so that every matching event after it is delivered again, and
    /// makes a disabled subscription active.
    pub fn replay_webhook(
        &self,
        caller: &Caller,
        id: &WebhookId,
        after: i64,
        expected_revision: Option<i64>,
    ) -> Result<Webhook, StoreError> {
        self.write(|conn| {
            let mut webhook = load_administered(conn, caller, id)?.into_domain()?;
            check_revision(webhook.revision, expected_revision)?;
            let head = head_seq(conn)?;
            if !(0..=head).contains(&after) {
                return Err(StoreError::invalid(
                    "after",
                    &format!("must be a seq from 0 to the log's head, {head}"),
                ));
            }
            let now = crate::now();
            let before = webhook.replay(after, now)?;
            diesel::update(webhooks::table.find(id.as_str()))
                .set(WebhookChanges::of(&webhook))
                .execute(conn)?;
            let mut work = Work {
                conn,
                actor: caller.actor(),
                now,
            };
            if before == WebhookStatus::Active {
                let data = json!({
                    "changes": ["last_delivered_seq", "failed_attempts", "next_attempt_at"],
                    "snapshot": webhook,
                });
                work.record(about(&webhook), EventAction::Updated, data)?;
            } else {
                let reason = format!("replay after seq {after}");
                let data = json!({ "from": before, "to": webhook.status, "reason": reason, "snapshot": webhook });
                work.record(about(&webhook), EventAction::StatusChanged, data)?;
            }
            Ok(webhook)
        })
    }

    /// The delivery attempts of a subscription, newest first.
    pub fn webhook_deliveries(
        &self,
        caller: &Caller,
        id: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        self.read(|conn| {
            load_administered(conn, caller, id)?;
            let mut query = webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(id.as_str()))
                .order(webhook_deliveries::id.desc())
                .limit(page.fetch_limit())
                .into_boxed();
            if let Some(before) = page.after_key()? {
                query = query.filter(webhook_deliveries::id.lt(before));
            }
            let rows: Vec<DeliveryRow> = query.select(DeliveryRow::as_select()).load(conn)?;
            let items = rows.into_iter().map(DeliveryRow::into_domain).collect();
            Ok(page.finish(items, |delivery: &WebhookDelivery| delivery.id.clone()))
        })
    }

    // ------------------------------------------------------------ for the delivery worker

    /// Subscriptions with an attempt due at `now`: active, behind the log's head, not waiting
    /// for a retry, and not leased by a worker.
    pub fn due_webhooks(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<WebhookId>, StoreError> {
        let mut conn = self.connection()?;
        let conn = &mut *conn;
        let head = head_seq(conn)?;
        let now = now.naive_utc();
        let ids: Vec<String> = takeable!(webhooks::table.into_boxed(), now)
            .filter(webhooks::last_delivered_seq.lt(head))
            .order(webhooks::id.asc())
            .limit(limit)
            .select(webhooks::id)
            .load(conn)?;
        Ok(ids.into_iter().map(WebhookId::from_stored).collect())
    }

    /// Takes the subscription's lease for `lease` and answers the next event it is to get; `None`
    /// when another worker holds it, nothing is due, or no event after the cursor matches (the
    /// cursor then moves past the events looked at, and the lease is let go).
    pub fn next_delivery(
        &self,
        id: &WebhookId,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<PendingDelivery>, StoreError> {
        let leased_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
        // One conditional UPDATE: of workers racing for the lease, exactly one changes the row.
        let taken = diesel::update(takeable!(
            webhooks::table.filter(webhooks::id.eq(id.as_str())),
            now.naive_utc()
        ))
        .set((
            webhooks::leased_until.eq(leased_until.naive_utc()),
            webhooks::lease_owner.eq(owner),
        ))
        .execute(&mut *self.connection()?)?;
        if taken == 0 {
            return Ok(None);
        }
        let found = self.next_event(id, owner);
        if !matches!(found, Ok(Some(_))) {
            self.release_webhook(id, owner)?;
        }
        found
    }

    fn next_event(&self, id: &WebhookId, owner: &str) -> Result<Option<PendingDelivery>, StoreError> {
        let (row, scope) = {
            let mut conn = self.connection()?;
            let Some(row) = load_row(&mut conn, id.as_str())? else {
                return Ok(None);
            };
            let organization = OrganizationId::from_stored(row.organization_id.clone());
            (row, delivery_scope(&mut conn, &organization)?)
        };
        let revision = row.revision;
        let secret = row.secret.clone();
        let webhook = row.into_domain()?;
        let scope = match scope {
            ListScope::Everything => None,
            ListScope::Limited { organizations, .. } => {
                Some(organizations.into_iter().map(OrganizationId::from_stored).collect())
            }
        };
        let page = self.events(&EventFilter {
            after: webhook.last_delivered_seq,
            limit: 1,
            types: webhook.types.clone(),
            scope,
            ..EventFilter::default()
        })?;
        match page.events.into_iter().next() {
            Some(event) => Ok(Some(PendingDelivery {
                webhook_id: webhook.id,
                url: webhook.url,
                secret,
                attempt: webhook.failed_attempts + 1,
                event,
                revision,
                cursor: webhook.last_delivered_seq,
            })),
            None => {
                // Nothing after the cursor is for this subscription: skip what was looked at.
                if page.next_after > webhook.last_delivered_seq {
                    diesel::update(
                        webhooks::table
                            .filter(webhooks::id.eq(id.as_str()))
                            .filter(webhooks::lease_owner.eq(owner))
                            .filter(webhooks::revision.eq(revision)),
                    )
                    .set(webhooks::last_delivered_seq.eq(page.next_after))
                    .execute(&mut *self.connection()?)?;
                }
                Ok(None)
            }
        }
    }

    /// Records an attempt and what follows it, and lets the lease go (also when recording
    /// fails). The cursor moves only on `Delivered`, in the same transaction as the attempt's
    /// record. When the subscription changed since the lease was taken (see [`PendingDelivery`]),
    /// only the attempt is recorded.
    pub fn finish_delivery(
        &self,
        pending: &PendingDelivery,
        owner: &str,
        report: &AttemptReport,
    ) -> Result<(), StoreError> {
        let recorded = self.record_attempt(pending, report);
        let released = self.release_webhook(&pending.webhook_id, owner);
        recorded.and(released)
    }

    fn record_attempt(&self, pending: &PendingDelivery, report: &AttemptReport) -> Result<(), StoreError> {
        let id = pending.webhook_id.as_str();
        let next_attempt_at = match &report.next {
            AfterAttempt::RetryAt(at) => Some(at.naive_utc()),
            _ => None,
        };
        let record = DeliveryRow {
            id: uuid::Uuid::now_v7().to_string(),
            webhook_id: id.to_owned(),
            seq: pending.event.seq,
            event_id: pending.event.id.to_string(),
            attempt: pending.attempt,
            started_at: report.started_at.naive_utc(),
            duration_ms: report.duration_ms,
            outcome: if report.next == AfterAttempt::Delivered {
                "delivered"
            } else {
                "failed"
            }
            .to_owned(),
            response_status: report.response_status,
            error: report.error.clone(),
            next_attempt_at,
        };
        // Compared with the state the attempt was based on, not with the lease: a lease let go
        // early (by a stop) must not lose the outcome, and one taken over must not apply it twice.
        let unchanged = webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::revision.eq(pending.revision))
            .filter(webhooks::last_delivered_seq.eq(pending.cursor))
            .filter(webhooks::failed_attempts.eq(pending.attempt - 1));
        match &report.next {
            AfterAttempt::Delivered | AfterAttempt::RetryAt(_) => {
                let mut conn = self.connection()?;
                // Writes only, the insert first: on SQLite the transaction takes the write lock at
                // once (waiting out busy_timeout) instead of failing to upgrade a read.
                conn.transaction::<_, StoreError, _>(|conn| {
                    diesel::insert_into(webhook_deliveries::table)
                        .values(&record)
                        .execute(conn)?;
                    if report.next == AfterAttempt::Delivered {
                        diesel::update(unchanged)
                            .set((
                                webhooks::last_delivered_seq.eq(pending.event.seq),
                                webhooks::failed_attempts.eq(0),
                                webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
                            ))
                            .execute(conn)?;
                    } else {
                        diesel::update(unchanged)
                            .set((
                                webhooks::failed_attempts.eq(pending.attempt),
                                webhooks::next_attempt_at.eq(next_attempt_at),
                            ))
                            .execute(conn)?;
                    }
                    Ok(())
                })
            }
            AfterAttempt::Disable(reason) => self.write(|conn| {
                diesel::insert_into(webhook_deliveries::table)
                    .values(&record)
                    .execute(conn)?;
                let row = unchanged.select(WebhookRow::as_select()).first(conn).optional()?;
                let Some(row) = row else { return Ok(()) };
                let mut webhook = row.into_domain()?;
                let now = crate::now();
                let from = webhook.status;
                webhook.failed_attempts = pending.attempt;
                webhook.change_status(WebhookStatus::Disabled, Some(reason.clone()), now)?;
                diesel::update(webhooks::table.find(id))
                    .set(WebhookChanges::of(&webhook))
                    .execute(conn)?;
                let mut work = Work {
                    conn,
                    actor: Caller::System.actor(),
                    now,
                };
                let data = json!({ "from": from, "to": webhook.status, "reason": reason, "snapshot": webhook });
                work.record(about(&webhook), EventAction::StatusChanged, data)?;
                Ok(())
            }),
        }
    }

    /// Lets go of a lease this worker holds (after an attempt it gave up, or at shutdown).
    pub fn release_webhook(&self, id: &WebhookId, owner: &str) -> Result<(), StoreError> {
        let mut conn = self.connection()?;
        diesel::update(
            webhooks::table
                .filter(webhooks::id.eq(id.as_str()))
                .filter(webhooks::lease_owner.eq(owner)),
        )
        .set((
            webhooks::leased_until.eq(None::<NaiveDateTime>),
            webhooks::lease_owner.eq(None::<String>),
        ))
        .execute(&mut *conn)?;
        Ok(())
    }
}

/// The organizations whose events a subscription gets: what a reader token of its organization
/// reads in `GET /v1/events` (its own, its descendants', and networks with a member among those),
/// computed at each delivery so that later changes to the tree count.
fn delivery_scope(conn: &mut DbConnection, organization: &OrganizationId) -> Result<ListScope, StoreError> {
    let reader = Caller::request(
        Some(Principal {
            subject: "webhook".into(),
            organization_id: organization.clone(),
            roles: vec![Role::Reader],
        }),
        false,
    );
    access::list_scope(conn, &reader)
}
